"""The hostile input corpus: every way a file handed to CIO Desktop can be wrong, as data.

A *reader* is one entry of ``READERS`` (``corpus_readers.py``): a name, the valid sample it
starts from, and how the application reads a file of that kind. A *case* is one entry of
``CASES`` below: a function from the valid sample to hostile bytes (or a writer for the cases
too big to build in memory), and what the reader must do with it:

- ``refuse``: raise a ``CioError`` whose message names the file (and, where the case is about a
  value, the line and the field), with nothing stored;
- ``refuse_or_accept``: either refuse as above or read it correctly (a byte-order mark, for
  example, is legitimate), never a traceback and never a half-import.

Format-specific value cases (impossible dates, huge and negative amounts) use each reader's
``value_sites``: a regular expression whose group 1 is the first booking date or amount and
the replacement to put there. A reader added later (budgets, sanctions lists, backups) adds
one ``Reader`` entry and inherits every case.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

BIG_LINE_BYTES = 100 * 1024 * 1024
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[["Reader"], bytes | None]  # None: not applicable to this reader
    expect: str = "refuse"                    # refuse | refuse_or_accept
    located: bool = False                     # the error must name line and field
    writer: Callable[["Reader", Path], None] | None = None  # streams huge files to disk


@dataclass(frozen=True)
class Reader:
    name: str
    sample: bytes
    xml: bool = False
    #: site name → (pattern with group 1 = the value, {case name: replacement})
    value_sites: dict | None = None
    #: cases this reader may legitimately accept (an empty settings file means "defaults")
    accepts: frozenset = frozenset()
    #: for readers with no line numbers (settings: tomllib keeps none), the error must name this
    #: field instead
    field_in_text: str = ""
    #: the hostile file's suffix where the reader goes by it (budget: .csv or .xlsx)
    suffix: str = ""
    #: a binary format with no legitimate variant (a backup): every case must be refused
    refuses_all: bool = False
    #: a pytest fixture that makes the real sample at test time (a backup of the corpus
    #: database); ``sample`` is then a stand-in used only to decide which cases apply
    sample_fixture: str = ""
    #: a format built from text (Excel): value cases edit ``text_sample`` and convert it
    text_sample: bytes = b""
    from_text: Callable[[bytes], bytes] | None = None
    #: what a correct read of an accepted file returns (statement readers are checked in the test)
    accepted_ok: Callable[[object], bool] | None = None
    #: case name → the product bug that makes this reader fail it (run as xfail(strict=True), so
    #: the fix turns it into a failure that asks for the entry to be removed)
    known_bugs: dict | None = None


def _sub_first(data: bytes, pattern: str, replacement: str) -> bytes | None:
    m = re.search(pattern.encode(), data, re.S | re.M)
    if not m:
        return None
    return data[:m.start(1)] + replacement.encode() + data[m.end(1):]


def value_case(site: str, variant: str) -> Callable[[Reader], bytes | None]:
    def build(reader: Reader) -> bytes | None:
        if not reader.value_sites or site not in reader.value_sites:
            return None
        pattern, replacements = reader.value_sites[site]
        if variant not in replacements:
            return None
        data = _sub_first(reader.text_sample or reader.sample, pattern, replacements[variant])
        return reader.from_text(data) if data is not None and reader.from_text else data
    return build


def _truncated(reader: Reader) -> bytes:
    return reader.sample[: len(reader.sample) * 2 // 5]


def _noise(reader: Reader) -> bytes:
    import random

    rng = random.Random(4711)
    return bytes(rng.getrandbits(8) for _ in range(4096))


def _noise_after_header(reader: Reader) -> bytes:
    import random

    rng = random.Random(815)
    return reader.sample[:200] + bytes(rng.getrandbits(8) for _ in range(2048))


def _utf16_no_bom(reader: Reader) -> bytes:
    return reader.sample.decode("utf-8", "replace").encode("utf-16-le")


def _utf16_bom(reader: Reader) -> bytes:
    return reader.sample.decode("utf-8", "replace").encode("utf-16")


def _utf8_bom(reader: Reader) -> bytes:
    return b"\xef\xbb\xbf" + reader.sample if not reader.sample.startswith(b"\xef\xbb\xbf") else reader.sample


def _invalid_utf8(reader: Reader) -> bytes:
    # overlong encodings and lone continuation bytes inside otherwise valid text
    cut = len(reader.sample) // 2
    return reader.sample[:cut] + b"\xc0\xaf\x80\xff\xfe" + reader.sample[cut:]


def _nul_bytes(reader: Reader) -> bytes:
    cut = len(reader.sample) // 3
    return reader.sample[:cut] + b"\x00" * 64 + reader.sample[cut:]


def _only_whitespace(reader: Reader) -> bytes:
    return b" \r\n\t\r\n   \n"


def _write_big_line(reader: Reader, path: Path) -> None:
    """The sample's first line, then one 100 MB line, then the rest: written in 1 MB blocks, so
    the test never holds the line in memory."""
    head, _, rest = reader.sample.partition(b"\n")
    block = (b"A" * 63 + b" ") * (CHUNK // 64)
    with path.open("wb") as fh:
        fh.write(head + b"\n")
        if reader.xml:
            fh.write(b"<!-- ")
        for _ in range(BIG_LINE_BYTES // CHUNK):
            fh.write(block)
        if reader.xml:
            fh.write(b" -->")
        fh.write(b"\n" + rest)


def _xml_after_declaration(reader: Reader, insert: bytes) -> bytes | None:
    if not reader.xml:
        return None
    data = reader.sample
    m = re.match(rb"\s*(<\?xml[^>]*\?>)?", data)
    end = m.end() if m else 0
    return data[:end] + b"\n" + insert + data[end:]


def _xxe_file(reader: Reader) -> bytes | None:
    root = _root_name(reader)
    return root and _xml_after_declaration(
        reader, f'<!DOCTYPE {root} [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'.encode())


#: replaced by the test with the address of a listener that counts connections
NETWORK_PLACEHOLDER = "http://127.0.0.1:1/"


def _xxe_network_dtd(reader: Reader) -> bytes | None:
    """An external DTD: harmless only if nothing fetches it (refusing is fine, fetching is not)."""
    root = _root_name(reader)
    return root and _xml_after_declaration(
        reader, f'<!DOCTYPE {root} SYSTEM "{NETWORK_PLACEHOLDER}evil.dtd">'.encode())


def _xxe_network_entity(reader: Reader) -> bytes | None:
    root = _root_name(reader)
    if not root:
        return None
    data = _xml_after_declaration(
        reader, f'<!DOCTYPE {root} [<!ENTITY net SYSTEM "{NETWORK_PLACEHOLDER}entity">]>'.encode())
    return data.replace(b"</" + root.encode() + b">", b"&net;</" + root.encode() + b">", 1) if data else None


def _billion_laughs(reader: Reader) -> bytes | None:
    root = _root_name(reader)
    if not root:
        return None
    ents = ['<!ENTITY lol "lol">'] + [f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
                                      for i in range(1, 10)]
    return _xml_after_declaration(reader, f"<!DOCTYPE {root} [{''.join(ents)}]>".encode())


def _deep_nesting(reader: Reader) -> bytes | None:
    if not reader.xml:
        return None
    m = re.search(rb"<([A-Za-z][\w:.-]*)[^>]*>", reader.sample[reader.sample.find(b"?>") + 2:])
    if not m:
        return None
    deep = b"<x>" * 100_000 + b"</x>" * 100_000
    # inside the first element after the root's start tag
    pos = reader.sample.find(m.group(0)) + len(m.group(0))
    return reader.sample[:pos] + deep + reader.sample[pos:]


def _root_name(reader: Reader) -> str | None:
    if not reader.xml:
        return None
    m = re.search(rb"<([A-Za-z][\w:.-]*)", re.sub(rb"<\?.*?\?>|<!--.*?-->", b"", reader.sample, flags=re.S))
    return m.group(1).decode() if m else None


CASES: list[Case] = [
    Case("empty", lambda r: b""),
    Case("whitespace_only", _only_whitespace),
    Case("truncated", _truncated, expect="refuse_or_accept"),
    Case("binary_noise", _noise),
    Case("noise_after_header", _noise_after_header),
    Case("utf16_without_bom", _utf16_no_bom, expect="refuse_or_accept"),
    Case("utf16_with_bom", _utf16_bom, expect="refuse_or_accept"),
    Case("utf8_bom", _utf8_bom, expect="refuse_or_accept"),
    Case("invalid_utf8", _invalid_utf8, expect="refuse_or_accept"),
    Case("nul_bytes", _nul_bytes, expect="refuse_or_accept"),
    Case("line_100mb", lambda r: None, writer=_write_big_line, expect="refuse_or_accept"),
    Case("xml_deep_nesting", _deep_nesting),
    Case("xml_xxe_local_file", _xxe_file),
    Case("xml_external_dtd_network", _xxe_network_dtd, expect="refuse_or_accept"),
    Case("xml_xxe_network_entity", _xxe_network_entity),
    Case("xml_billion_laughs", _billion_laughs),
    Case("impossible_date", value_case("date", "impossible"), located=True),
    Case("huge_amount", value_case("amount", "huge"), located=True),
    Case("negative_amount", value_case("amount", "negative"), located=True),
    Case("amount_not_a_number", value_case("amount", "nan"), located=True),
]
