"""Shared pieces of the API adapters: page-by-page reading and strict record field parsing.

Pagination follows the link the server gives for the next page, in any of these places:
``_links.next.href`` (HAL / Berlin Group, top level or next to the item list), ``_links.next``
as a string, or ``Links.Next`` (UK Open Banking). A link is resolved against the page it came
from and must stay on the connection's origin. A link that was already visited ends the run
with ``ConnectionFailed`` rather than looping for ever.

Record errors raise ``ValidationError(source="<connection> <page path>", line=<1-based index
of the record in that page>, field="<dotted JSON path>")``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Iterator, Mapping

import httpx

from cio_desktop.domain.money import normalise_currency, to_decimal
from cio_desktop.errors import ConnectionFailed, ValidationError
from cio_desktop.integrations.http.client import ApiClient

MAX_PAGES = 100_000


@dataclass
class Page:
    number: int             # 1-based
    url: httpx.URL
    shown: str              # path and query, for messages
    source: str             # "<connection> <path and query>": the ValidationError source
    body: Any
    items: list
    next_url: httpx.URL | None

    @property
    def is_last(self) -> bool:
        return self.next_url is None


def _walk(data: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(data, Mapping):
            return None
        data = data.get(part)
    return data


def _next_href(body: Any, items_path: str) -> str | None:
    candidates = [_walk(body, "_links.next")]
    if "." in items_path:
        candidates.append(_walk(body, items_path.rsplit(".", 1)[0] + "._links.next"))
    candidates.append(_walk(body, "Links.Next"))
    for c in candidates:
        if isinstance(c, Mapping):
            c = c.get("href")
        if isinstance(c, str) and c.strip():
            return c.strip()
    return None


def pages(client: ApiClient, path: str, params: Mapping[str, Any] | None, items_path: str, *,
          max_pages: int = MAX_PAGES) -> Iterator[Page]:
    """Each page of a paginated list, lazily; ``items_path`` is the dotted path to the list."""
    url = client.url_for(path)
    if params:
        url = url.copy_merge_params({k: (v.isoformat() if hasattr(v, "isoformat") else str(v))
                                     for k, v in params.items() if v is not None})
    seen: set[str] = set()
    number = 0
    while url is not None:
        number += 1
        if str(url) in seen or number > max_pages:
            raise ConnectionFailed(f"the server's pagination loops (page {client.display(url)} again)",
                                   connection=client.name)
        seen.add(str(url))
        shown = client.display(url)
        source = f"{client.name} {shown}"
        body = client.get_json(url)
        if not isinstance(body, Mapping):
            raise ValidationError("the page is not a JSON object", source=source)
        items: Any = body
        parts = items_path.split(".")
        for i, part in enumerate(parts):
            if not isinstance(items, Mapping):
                raise ValidationError(f"'{'.'.join(parts[:i])}' is not an object", source=source,
                                      field=".".join(parts[:i]))
            if part not in items:
                if i == len(parts) - 1 and i > 0:   # an empty list may be left out next to its links
                    items = []
                    break
                raise ValidationError(f"the page has no '{items_path}'", source=source, field=items_path)
            items = items[part]
        if items is None:
            items = []
        if not isinstance(items, list):
            raise ValidationError(f"'{items_path}' is not a list", source=source, field=items_path)
        href = _next_href(body, items_path)
        next_url = client.resolve_link(href, url) if href else None
        yield Page(number, url, shown, source, body, items, next_url)
        url = next_url


class Record:
    """One JSON object from a page, with strict typed accessors that raise located errors."""

    def __init__(self, data: Any, source: str, line: int | None) -> None:
        self.source, self.line = source, line
        if not isinstance(data, Mapping):
            raise ValidationError("the record is not a JSON object", source=source, line=line)
        self.data = data

    def fail(self, message: str, path: str | None) -> ValidationError:
        return ValidationError(message, source=self.source, line=self.line, field=path)

    def get(self, path: str) -> Any:
        return _walk(self.data, path)

    def text(self, path: str, *, required: bool = False) -> str:
        value = self.get(path)
        if value is None or value == "":
            if required:
                raise self.fail("missing", path)
            return ""
        if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
            raise self.fail(f"expected text, got {type(value).__name__}", path)
        return str(value).strip()

    def first_text(self, *paths: str) -> str:
        for p in paths:
            value = self.text(p)
            if value:
                return value
        return ""

    def decimal(self, path: str, *, required: bool = True) -> Decimal | None:
        """An exact amount: a JSON string ("12.30") or number (kept exact by the client's parser)."""
        value = self.get(path)
        if value is None or value == "":
            if required:
                raise self.fail("missing", path)
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
            raise self.fail(f"'{value}' is not an amount", path)
        try:
            return to_decimal(value)
        except (ValueError, TypeError):
            raise self.fail(f"'{value}' is not a decimal number", path) from None

    def date(self, path: str, *, required: bool = True) -> date | None:
        value = self.get(path)
        if value is None or value == "":
            if required:
                raise self.fail("missing", path)
            return None
        if not isinstance(value, str):
            raise self.fail(f"'{value}' is not a date (YYYY-MM-DD)", path)
        text = value.strip()
        try:
            if len(text) > 10 and "T" in text:
                return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
            return date.fromisoformat(text)
        except ValueError:
            raise self.fail(f"'{value}' is not a date (YYYY-MM-DD)", path) from None

    def currency(self, path: str, *, required: bool = True) -> str:
        value = self.text(path, required=required)
        if not value:
            return ""
        try:
            return normalise_currency(value)
        except ValueError:
            raise self.fail(f"'{value}' is not an ISO 4217 currency code", path) from None


def quote_id(resource_id: str) -> str:
    """A resource id for use in a URL path (no '/', '?' or '..' smuggling)."""
    from urllib.parse import quote

    if not resource_id or resource_id in (".", ".."):
        raise ValidationError("an empty or invalid resource id", field="resource_id")
    return quote(str(resource_id), safe="")
