"""ECB euro foreign-exchange reference rates (eurofxref-daily.xml / eurofxref-hist.xml).

The published format is a gesmes envelope: ``<gesmes:Envelope>`` holding ``<Cube>`` → one
``<Cube time="YYYY-MM-DD">`` per day → ``<Cube currency="USD" rate="1.0921"/>``, rates being
units of the currency per one euro (namespace ``http://www.ecb.int/vocabulary/2002-08-01/eurofxref``).
``symbol`` selects the file: ``daily`` (default), ``hist-90d`` or ``hist``.
"""

from __future__ import annotations

from datetime import date
from xml.etree import ElementTree as ET

from cio_desktop.integrations.market.base import FX, FxFixing, MarketDataError, MarketProvider, decimal_or_none

NS = "{http://www.ecb.int/vocabulary/2002-08-01/eurofxref}"
FILES = {"daily": "eurofxref-daily.xml", "hist-90d": "eurofxref-hist-90d.xml", "hist": "eurofxref-hist.xml"}


class EcbProvider(MarketProvider):
    kind = "ecb"
    capabilities = frozenset({FX})
    default_url = "https://www.ecb.europa.eu/stats/eurofxref"

    def request(self, what: str, symbol: str) -> tuple[str, dict[str, str]]:
        key = symbol or "daily"
        if key not in FILES:
            raise MarketDataError(self.name, key, "unknown_symbol",
                                  f"the ECB publishes {', '.join(FILES)}; not '{key}'")
        return "/" + FILES[key], {}

    def parse_fx(self, body: str) -> tuple[FxFixing, ...]:
        try:
            root = ET.fromstring(body.encode("utf-8") if isinstance(body, str) else body)
        except ET.ParseError as exc:
            raise MarketDataError(self.name, "", "bad_shape", f"the reference-rate file is not XML ({exc})") from None
        if not root.tag.endswith("Envelope"):
            raise MarketDataError(self.name, "", "bad_shape",
                                  f"expected a gesmes:Envelope, got <{root.tag.split('}')[-1]}>")
        outer = root.find(f"{NS}Cube")
        if outer is None:
            raise MarketDataError(self.name, "", "bad_shape", "no <Cube> element in the reference-rate file")
        out: list[FxFixing] = []
        seen: set[tuple[date, str]] = set()
        for day_cube in outer.findall(f"{NS}Cube"):
            text = day_cube.get("time", "")
            try:
                day = date.fromisoformat(text)
            except ValueError:
                raise MarketDataError(self.name, "", "bad_shape", f"a <Cube> has the date '{text}'") from None
            for cube in day_cube.findall(f"{NS}Cube"):
                cur = (cube.get("currency") or "").strip().upper()
                rate = decimal_or_none(cube.get("rate"))
                if len(cur) != 3 or not cur.isalpha():
                    raise MarketDataError(self.name, cur, "bad_shape", f"{day}: a rate has the currency '{cur}'")
                if rate is None or rate <= 0:
                    raise MarketDataError(self.name, cur, "bad_shape",
                                          f"{day}: the EUR/{cur} rate '{cube.get('rate')}' is not a positive number")
                if (day, cur) in seen:
                    raise MarketDataError(self.name, cur, "bad_shape", f"{day}: EUR/{cur} appears twice")
                seen.add((day, cur))
                out.append(FxFixing(day, "EUR", cur, rate))
        if not out:
            raise MarketDataError(self.name, "", "bad_shape", "the reference-rate file holds no rates")
        return tuple(sorted(out, key=lambda f: (f.day, f.quote)))
