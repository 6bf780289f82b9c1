"""Pure building blocks for the demo company: identifiers with real check digits, a business-day
calendar, fictitious names, and seeded market paths (FX random walks, correlated GBM prices).

Nothing here touches the database; every random draw comes from a ``numpy.random.Generator``
the caller seeds, so the same seed always gives the same company.
"""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal

import numpy as np

TRADING_DAYS = 252  # annualisation for the price and FX paths


# -- identifiers -----------------------------------------------------------------------------
def _alnum_to_digits(text: str) -> str:
    """ISO 13616 / ISO 6166 letter expansion: A=10 … Z=35, digits unchanged."""
    return "".join(str(int(ch, 36)) for ch in text.upper())


def iban(country: str, bban: str) -> str:
    """A complete IBAN with ISO 13616 mod-97 check digits computed for ``country`` + ``bban``."""
    country, bban = country.upper(), bban.upper().replace(" ", "")
    if len(country) != 2 or not country.isalpha() or not bban.isalnum():
        raise ValueError("an IBAN needs a two-letter country and an alphanumeric BBAN")
    check = 98 - int(_alnum_to_digits(bban + country + "00")) % 97
    return f"{country}{check:02d}{bban}"


def isin_check_digit(body: str) -> int:
    """The ISO 6166 (Luhn over the letter-expanded 11 characters) check digit."""
    body = body.upper()
    if len(body) != 11 or not body.isalnum() or not body[:2].isalpha():
        raise ValueError("an ISIN body is a two-letter country and 9 alphanumeric characters")
    total = 0
    for i, ch in enumerate(reversed(_alnum_to_digits(body))):
        d = int(ch)
        if i % 2 == 0:  # the digit next to the (future) check digit is doubled
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10


def isin(country: str, nsin: str) -> str:
    body = f"{country.upper()}{nsin.upper():0>9}"
    return body + str(isin_check_digit(body))


def isin_ok(code: str) -> bool:
    code = code.strip().upper()
    return len(code) == 12 and code[-1].isdigit() and isin_check_digit(code[:11]) == int(code[-1])


# -- calendar --------------------------------------------------------------------------------
def easter_sunday(year: int) -> date:
    """Gregorian Easter (anonymous Gregorian algorithm, Meeus/Jones/Butcher)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month = (h + l_ - 7 * m + 114) // 31
    day = (h + l_ - 7 * m + 114) % 31 + 1
    return date(year, month, day)


def target_holidays(year: int) -> set[date]:
    """TARGET2 closing days: New Year, Good Friday, Easter Monday, 1 May, 25 and 26 December."""
    easter = easter_sunday(year)
    return {date(year, 1, 1), easter - timedelta(days=2), easter + timedelta(days=1),
            date(year, 5, 1), date(year, 12, 25), date(year, 12, 26)}


def business_days(start: date, end: date) -> list[date]:
    """Weekdays in ``[start, end)`` that are not TARGET2 closing days."""
    holidays: set[date] = set()
    for year in range(start.year, end.year + 1):
        holidays |= target_holidays(year)
    out, day = [], start
    while day < end:
        if day.weekday() < 5 and day not in holidays:
            out.append(day)
        day += timedelta(days=1)
    return out


def years_before(anchor: date, years: int) -> date:
    try:
        return anchor.replace(year=anchor.year - years)
    except ValueError:  # 29 February
        return anchor.replace(year=anchor.year - years, day=28)


# -- names -------------------------------------------------------------------------------------
COMPANY_NAME = "Northwind Industrial Holdings"
COMPANY_SHORT = "NW"

_NAME_STEMS = (
    "Alder", "Birchwood", "Calder", "Dornbach", "Elbtal", "Fjordline", "Granite", "Harbourside",
    "Isarwerk", "Juniper", "Kestrel", "Lindqvist", "Moselle", "Northgate", "Oakridge", "Pennine",
    "Quayside", "Rheinau", "Saxony", "Thornbury", "Ulmer", "Vantage", "Westbrook", "Yellowfield",
    "Zeeland", "Amberley", "Bergmann", "Castellan", "Delta Rhein", "Eastfield", "Fairhaven",
    "Glenmoor", "Hollandia", "Ironbridge", "Kingsmere", "Lakeshore", "Marlow", "Norrland",
    "Orchard", "Pinnacle", "Redcliffe", "Silverdale", "Tamar", "Upland", "Valdor", "Wexford",
)
_NAME_TRADES = (
    "Logistics", "Manufacturing", "Components", "Retail", "Systems", "Engineering", "Packaging",
    "Chemicals", "Automotive", "Foods", "Electronics", "Distribution", "Metals", "Plastics",
    "Technologies", "Construction", "Textiles", "Energy", "Industrial Supply", "Tooling",
    "Hydraulics", "Freight", "Optics", "Polymers", "Fasteners", "Machinery",
)
_LEGAL_FORMS = {"DE": ("GmbH", "AG", "GmbH & Co. KG"), "NL": ("B.V.", "N.V."), "GB": ("Ltd", "plc"),
                "US": ("Inc.", "LLC", "Corp."), "FR": ("S.A.S.", "S.A."), "IT": ("S.p.A.", "S.r.l.")}
_FIRST_NAMES = (
    "Anna", "Ben", "Clara", "David", "Eva", "Felix", "Greta", "Hannah", "Ivan", "Julia", "Karl",
    "Lena", "Max", "Nina", "Oskar", "Paula", "Quentin", "Rosa", "Simon", "Tara", "Uwe", "Vera",
    "Walter", "Xenia", "Yusuf", "Zoe", "Amelia", "Oliver", "Isla", "George", "Emily", "Harry",
    "Sophie", "Jack", "Grace", "Noah", "Lucas", "Mia", "Leon", "Emma", "Finn", "Lea", "Jonas",
    "Marie", "Elias", "Sofia", "Paul", "Lina", "Tom", "Ella", "Sam", "Chloe", "Daniel", "Laura",
    "Martin", "Sarah", "Tobias", "Katrin", "Stefan", "Petra",
)
_LAST_NAMES = (
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz",
    "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Schwarz", "Zimmermann",
    "Braun", "Krüger", "Hofmann", "Hartmann", "Lange", "Schmitt", "Werner", "Krause", "Meier",
    "Lehmann", "Schmid", "Schulze", "Maier", "Köhler", "Herrmann", "König", "Walter", "Mayer",
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson",
    "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood", "Jackson",
    "de Vries", "van Dijk", "Bakker", "Janssen", "Visser", "Smit", "Meijer", "de Boer", "Mulder",
    "Bos", "Vos", "Peters", "Hendriks", "van Leeuwen", "Dekker", "Brouwer", "de Wit", "Dijkstra",
    "Rossi", "Russo", "Bianchi", "Dubois", "Moreau", "Laurent", "Garcia", "Martinez", "Novak",
)
_INITIALS = "ABCDEFGHIJKLMNOPRSTW"


def company_names(rng: np.random.Generator, n: int, countries: tuple[str, ...]) -> list[str]:
    """``n`` distinct fictitious company names with a legal form of one of ``countries``."""
    combos = [(s, t, c, f) for s, t in itertools.product(_NAME_STEMS, _NAME_TRADES)
              for c in countries for f in _LEGAL_FORMS[c]]
    if n > len(combos):
        combos = [(f"{s} {k}", t, c, f) for k in ("Nord", "Süd", "West", "Ost", "International")
                  for s, t, c, f in combos] + combos
    if n > len(combos):
        raise ValueError(f"cannot make {n} distinct company names")
    # draw n distinct combinations without shuffling the whole (possibly large) list
    picks = rng.choice(len(combos), size=n, replace=False)
    return [f"{combos[i][0]} {combos[i][1]} {combos[i][3]}" for i in picks]


def person_names(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` distinct fictitious person names (with a middle initial once plain names run out)."""
    plain = [f"{f} {l}" for f, l in itertools.product(_FIRST_NAMES, _LAST_NAMES)]
    pool = plain if n <= len(plain) else plain + [
        f"{f} {i}. {l}" for f, i, l in itertools.product(_FIRST_NAMES, _INITIALS, _LAST_NAMES)]
    if n > len(pool):
        raise ValueError(f"cannot make {n} distinct person names")
    return [pool[i] for i in rng.choice(len(pool), size=n, replace=False)]


def zipf_weights(n: int, exponent: float = 1.1) -> np.ndarray:
    """Probabilities ∝ 1/rank^exponent: a few big customers, a long tail of small ones."""
    w = 1.0 / np.arange(1, n + 1, dtype=float) ** exponent
    return w / w.sum()


# -- market paths ------------------------------------------------------------------------------
def fx_path(rng: np.random.Generator, n: int, level: float, vol: float, *, mean_reversion: float = 1.5,
            start: float | None = None) -> np.ndarray:
    """Daily rates: a mean-reverting (Ornstein–Uhlenbeck) walk in log space around ``level``
    with annual volatility ``vol``; ``mean_reversion`` is the annual pull-back speed."""
    dt = 1.0 / TRADING_DAYS
    shocks = rng.standard_normal(n) * vol * np.sqrt(dt)
    target = np.log(level)
    x = np.empty(n)
    x_prev = np.log(start if start is not None else level)
    for i in range(n):
        x_prev = x_prev + mean_reversion * (target - x_prev) * dt + shocks[i]
        x[i] = x_prev
    return np.exp(x)


def correlated_gbm(rng: np.random.Generator, n_days: int, start: np.ndarray, drift: np.ndarray,
                   vol: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Geometric Brownian motion for several assets driven partly by one common market factor.

    Each asset's daily shock is ``beta·Z_market + sqrt(1-beta²)·Z_own`` (so ``beta`` is its
    correlation with the market), scaled by its annual ``vol``; ``drift`` is the annual expected
    log-return before the Itô correction. Returns an array of shape (n_days, n_assets) whose
    first row is ``start``.
    """
    dt = 1.0 / TRADING_DAYS
    k = len(start)
    market = rng.standard_normal((n_days - 1, 1))
    own = rng.standard_normal((n_days - 1, k))
    beta = np.clip(beta, -0.99, 0.99)
    z = beta * market + np.sqrt(1.0 - beta ** 2) * own
    log_steps = (drift - 0.5 * vol ** 2) * dt + vol * np.sqrt(dt) * z
    paths = np.empty((n_days, k))
    paths[0] = np.log(start)
    paths[1:] = np.log(start) + np.cumsum(log_steps, axis=0)
    return np.exp(paths)


def float_to_decimal(value: float, places: int) -> Decimal:
    """A generated float as an exact Decimal with ``places`` decimals (the storage edge)."""
    return Decimal(f"{value:.{places}f}")
