"""The official ISO 20022 pain.001 schemas and validation of payment files against them.

Every pain.001 file the application writes is validated here before it is returned or saved,
so a file that reaches a bank has at least the structure the bank's own validator expects. A
failure on a file we built means our writer is wrong, not the user's input: the error says so.

Schemas come from ``cio_desktop/resources/xsd/`` (vendored, unmodified: see the README there for
origin, checksums and licence). If a file is missing there, the copy inside an installed
``sepaxml`` package is used instead. Each compiled schema is cached for the process; validation
is serialised per schema with a lock, because libxml2's schema validation contexts are not
documented as safe to share between threads.
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass
from importlib import resources

from lxml import etree

from cio_desktop.errors import ValidationError
from cio_desktop.integrations.statements.xml_safety import local_name, parse_document, safe_parser

__all__ = [
    "SUPPORTED_VERSIONS", "normalise_version", "message_name", "namespace_for", "load_schema",
    "schema_source", "validate_pain001", "validate_tree",
]

SUPPORTED_VERSIONS: tuple[str, ...] = ("03", "09")


def normalise_version(version: str) -> str:
    """``"09"`` for ``"09"``, ``"9"`` or ``"pain.001.001.09"``; ValidationError for others."""
    text = str(version or "").strip()
    if text.startswith("pain.001.001."):
        text = text[len("pain.001.001."):]
    if text.isdigit() and len(text) <= 2:
        text = text.zfill(2)
    if text not in SUPPORTED_VERSIONS:
        raise ValidationError(
            f"pain.001 version '{version}' is not supported; use one of "
            + ", ".join(f"'{v}' (pain.001.001.{v})" for v in SUPPORTED_VERSIONS),
            field="version")
    return text


def message_name(version: str) -> str:
    return f"pain.001.001.{normalise_version(version)}"


def namespace_for(version: str) -> str:
    return f"urn:iso:std:iso:20022:tech:xsd:{message_name(version)}"


def _read_xsd(version: str) -> tuple[bytes, str]:
    name = f"{message_name(version)}.xsd"
    vendored = resources.files("cio_desktop") / "resources" / "xsd" / name
    try:
        return vendored.read_bytes(), f"cio_desktop/resources/xsd/{name}"
    except (FileNotFoundError, NotADirectoryError, OSError):
        pass
    try:  # fall back to the same official file shipped inside the sepaxml wheel
        return (resources.files("sepaxml") / "schemas" / name).read_bytes(), f"sepaxml/schemas/{name}"
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError, OSError):
        raise ValidationError(
            f"the ISO 20022 schema {name} is missing from this installation "
            "(cio_desktop/resources/xsd/); payment files cannot be checked, so none are written",
            source=name) from None


@dataclass
class _Schema:
    schema: etree.XMLSchema
    source: str
    lock: threading.Lock


@functools.lru_cache(maxsize=None)
def _compiled(version: str) -> _Schema:
    data, source = _read_xsd(version)
    doc = etree.fromstring(data, safe_parser(), base_url=source)
    return _Schema(etree.XMLSchema(doc), source, threading.Lock())


def load_schema(version: str) -> etree.XMLSchema:
    """The compiled official schema for ``version`` (``"03"`` or ``"09"``), cached."""
    return _compiled(normalise_version(version)).schema


def schema_source(version: str) -> str:
    """Where the schema for ``version`` was loaded from (for diagnostics)."""
    return _compiled(normalise_version(version)).source


_ELEMENT_IN_MESSAGE = re.compile(r"Element '(?:\{[^}]*\})?([^']+)'")
_NS_IN_MESSAGE = re.compile(r"\{urn:iso:std:iso:20022:tech:xsd:[^}]*\}")
_LOCAL_NAME = re.compile(r"local-name\(\)\s*=\s*'([^']+)'")


def _element_name(path: str | None) -> str | None:
    """The innermost element name of a libxml2 error path (either ``/ns:A/ns:B[2]`` or the
    ``/*[local-name()='A' and namespace-uri()='…']`` form)."""
    if not path:
        return None
    names = _LOCAL_NAME.findall(path)
    if names:
        return names[-1]
    last = path.rstrip("/").rsplit("/", 1)[-1]
    return last.split(":")[-1].split("[")[0] or None


def _schema_error(version: str, log, built_by_us: bool) -> ValidationError:
    errors = [e for e in log if e.level_name in ("ERROR", "FATAL")] or list(log)
    first = errors[0] if errors else None
    msg = first.message if first is not None else "unknown schema error"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    named = _ELEMENT_IN_MESSAGE.search(msg)
    field = named.group(1) if named else (_element_name(first.path) if first is not None else None)
    msg = _NS_IN_MESSAGE.sub("", msg)
    prefix = ("internal error: the payment file we built does not conform to the official "
              f"{message_name(version)} schema, so it was not written (please report this): "
              if built_by_us else
              f"the file does not conform to the official {message_name(version)} schema: ")
    return ValidationError(prefix + msg + more, source=message_name(version),
                           line=(first.line or None) if first is not None else None, field=field)


def validate_tree(root, version: str, *, built_by_us: bool = False) -> None:
    """Validate a parsed document (its root element) against the official schema."""
    version = normalise_version(version)
    expected = f"{{{namespace_for(version)}}}Document"
    if root.tag != expected:
        raise ValidationError(
            f"the root element is '{root.tag}', expected Document in namespace "
            f"{namespace_for(version)}", source=message_name(version),
            line=root.sourceline, field=local_name(root) or None)
    compiled = _compiled(version)
    with compiled.lock:
        ok = compiled.schema.validate(root)
        log = compiled.schema.error_log
    if not ok:
        raise _schema_error(version, log, built_by_us)


def validate_pain001(xml_bytes: bytes, version: str) -> None:
    """Raise ValidationError unless ``xml_bytes`` is a pain.001.001.``version`` document that
    conforms to the official ISO 20022 schema. Parsed with the application's safe-XML rules
    (no DTD, no entities, no network)."""
    version = normalise_version(version)
    # xml_safety tells schema errors from syntax errors by the thread's lxml error log, which
    # still holds the errors of any earlier validation: start from an empty log.
    etree.clear_error_log()
    root = parse_document(bytes(xml_bytes), message_name(version))
    validate_tree(root, version)
