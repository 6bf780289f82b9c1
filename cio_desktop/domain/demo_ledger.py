"""The demo company's banks, accounts and two years of bank-statement lines, simulated day by day.

Flows: customer receipts (seasonal: weak August, strong Q4, quarter- and month-end peaks) and
daily card settlements with acquiring fees; weekly supplier payment runs plus urgent payments;
salaries per employee (end of month in the euro area, the 25th in the UK, a bonus in November);
payroll tax, social security, quarterly VAT and corporate-tax prepayments; rent, utilities,
bank fees and interest; a monthly intercompany management fee; and an end-of-day treasury
routine that keeps every account inside its band — cash-pool sweeps, payroll and tax funding,
deposit placements and FX conversions (both legs, at the day's generated rate plus a spread).

Everything is drawn from the caller's seeded generator, amounts become integer minor units as
soon as they are drawn, and balances are tracked in minor units, so the same seed gives the same
ledger to the cent. The simulator yields plain tuples per business day; it knows nothing about
the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Iterator, NamedTuple

import numpy as np

from cio_desktop.domain.demo_data import (COMPANY_NAME, COMPANY_SHORT, company_names, person_names,
                                          zipf_weights)


@dataclass(frozen=True)
class DemoBank:
    key: str
    name: str
    country: str
    bic: str
    bank_code: str  # the national bank identifier inside the BBAN


@dataclass(frozen=True)
class DemoAccount:
    """Balances in major units at scale 1; the builder multiplies them by the scale."""

    key: str
    name: str
    bank: str
    currency: str
    account_type: str
    minimum: int
    opening: int
    target: int
    high: int


BANKS: tuple[DemoBank, ...] = (
    DemoBank("rhb", "Rheinische Handelsbank AG", "DE", "RHHBDEF1XXX", "37161289"),
    DemoBank("amstel", "Amstel Commerciële Bank N.V.", "NL", "AMCBNL2A", "AMCB"),
    DemoBank("thames", "Thames & Mercer Bank plc", "GB", "TMBKGB2L", "TMBK"),
)

ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount("eur_main", "EUR Operating", "rhb", "EUR", "current",
                600_000, 3_500_000, 2_500_000, 5_000_000),
    DemoAccount("eur_payroll", "EUR Payroll", "rhb", "EUR", "payroll",
                50_000, 250_000, 250_000, 1_500_000),
    DemoAccount("eur_tax", "EUR Tax Reserve", "rhb", "EUR", "tax",
                250_000, 1_400_000, 1_400_000, 4_000_000),
    DemoAccount("eur_collect", "EUR Collections", "amstel", "EUR", "collection",
                100_000, 450_000, 300_000, 900_000),
    DemoAccount("eur_deposit", "EUR Liquidity Deposit", "amstel", "EUR", "deposit",
                1_000_000, 12_000_000, 12_000_000, 10**12),
    DemoAccount("usd_main", "USD Operating", "amstel", "USD", "current",
                300_000, 1_600_000, 1_500_000, 3_500_000),
    DemoAccount("gbp_main", "UK GBP Operating", "thames", "GBP", "current",
                200_000, 950_000, 900_000, 2_000_000),
    DemoAccount("gbp_payroll", "UK GBP Payroll", "thames", "GBP", "payroll",
                20_000, 110_000, 110_000, 600_000),
)

UK_ENTITY = "Northwind Industrial Ltd"
BANK_OF = {a.key: next(b for b in BANKS if b.key == a.bank) for a in ACCOUNTS}

# Month-of-year demand (January … December): a summer dip and a strong fourth quarter.
SEASON = np.array([0.90, 0.95, 1.05, 0.97, 1.00, 1.04, 0.93, 0.72, 1.02, 1.10, 1.22, 1.30])


class Line(NamedTuple):
    account: str
    booking_date: date
    value_date: date
    amount_minor: int
    counterparty: str
    bank_reference: str
    description: str
    category: str
    bank_code: str


@dataclass
class _Employees:
    names: list[str]
    ids: np.ndarray
    net: np.ndarray  # monthly net salary, major units

    def payroll(self, raise_factor: float) -> np.ndarray:
        return np.rint(self.net * raise_factor * 100).astype(np.int64)


@dataclass
class LedgerSimulator:
    """Two years of statement lines for ``ACCOUNTS``.

    ``days`` are the business days of the ledger (plus a few after it for value dates),
    ``ledger_end`` the first day not booked, ``fx`` the EURUSD/EURGBP rate of each day
    (units of quote per EUR), ``scale`` multiplies volumes and balances.
    """

    rng: np.random.Generator
    days: list[date]
    ledger_end: date
    fx: dict[date, dict[str, float]]
    scale: int = 1
    balances: dict[str, int] = field(default_factory=dict)
    _seq: int = 0

    def __post_init__(self) -> None:
        s, rng = self.scale, self.rng
        self.accounts = {a.key: a for a in ACCOUNTS}
        self.balances = {a.key: a.opening * 100 * s for a in ACCOUNTS}
        self.opening_minor = dict(self.balances)
        self.customers = {
            "EUR": company_names(rng, 90 * s, ("DE", "NL", "FR", "IT")),
            "USD": company_names(rng, 30 * s, ("US",)),
            "GBP": company_names(rng, 25 * s, ("GB",)),
        }
        self.suppliers = {
            "EUR": company_names(rng, 70 * s, ("DE", "NL", "FR", "IT")),
            "USD": company_names(rng, 20 * s, ("US",)),
            "GBP": company_names(rng, 18 * s, ("GB",)),
        }
        self.weights = {k: {c: zipf_weights(len(v)) for c, v in d.items()}
                        for k, d in (("customers", self.customers), ("suppliers", self.suppliers))}
        self.cust_no = {c: rng.permutation(90000)[:len(v)] + 10000 for c, v in self.customers.items()}
        self.supp_no = {c: rng.permutation(90000)[:len(v)] + 70000 for c, v in self.suppliers.items()}
        names = person_names(rng, 138 * s)
        self.staff = {
            "EUR": _Employees(names[:110 * s], rng.permutation(9000)[:110 * s] + 1000,
                              rng.lognormal(np.log(3600), 0.3, 110 * s)),
            "GBP": _Employees(names[110 * s:], rng.permutation(9000)[:28 * s] + 1000,
                              rng.lognormal(np.log(3100), 0.3, 28 * s)),
        }
        self.index = {d: i for i, d in enumerate(self.days)}
        self.ledger_days = [d for d in self.days if d < self.ledger_end]
        self.start = self.ledger_days[0]
        self.invoice_seq = int(rng.integers(10000, 40000))
        self.po_seq = int(rng.integers(100000, 900000))
        self.vat_base = {"EUR": 0, "GBP": 0}   # receipts − supplier payments this quarter (minor)
        self.payroll_paid = {"EUR": 0, "GBP": 0}  # last month's net payroll (minor)
        self.month_debits = {a.key: 0 for a in ACCOUNTS}
        self.deal_seq = 0

    # -- calendar helpers ---------------------------------------------------------------
    def _shift(self, day: date, n: int) -> date:
        return self.days[max(0, min(self.index[day] + n, len(self.days) - 1))]

    def _first_on_or_after(self, year: int, month: int, dom: int) -> date | None:
        for d in self.days:
            if d >= date(year, month, dom):
                return d
        return None

    def _last_on_or_before(self, year: int, month: int, dom: int) -> date | None:
        best = None
        for d in self.days:
            if d > date(year, month, dom):
                break
            best = d
        return best

    def _month_schedule(self) -> dict[date, list[str]]:
        """Which monthly events fall on which business day."""
        events: dict[date, list[str]] = {}

        def put(day: date | None, name: str) -> None:
            if day is not None and self.start <= day < self.ledger_end:
                events.setdefault(day, []).append(name)

        months = sorted({(d.year, d.month) for d in self.ledger_days})
        for y, m in months:
            in_month = [d for d in self.days if (d.year, d.month) == (y, m)]
            if not in_month:
                continue
            put(in_month[0], "rent")
            put(in_month[-1], "salaries_eur")
            put(self._shift(in_month[-1], -2), "fund_payroll_eur")
            put(self._last_on_or_before(y, m, 25), "salaries_gbp")
            gbp_pay = self._last_on_or_before(y, m, 25)
            if gbp_pay is not None:
                put(self._shift(gbp_pay, -2), "fund_payroll_gbp")
            put(self._first_on_or_after(y, m, 10), "payroll_tax_eur")
            put(self._first_on_or_after(y, m, 22), "paye_gbp")
            put(in_month[-3] if len(in_month) >= 3 else in_month[0], "social_security_eur")
            put(self._first_on_or_after(y, m, 15), "management_fee")
            put(self._first_on_or_after(y, m, 5), "utilities")
            put(in_month[-1], "month_end")
            put(in_month[-1], "payroll_usd")
            if m in (1, 4, 7, 10):
                put(self._first_on_or_after(y, m, 10), "vat_eur")
            if m in (2, 5, 8, 11):
                put(self._first_on_or_after(y, m, 7), "vat_gbp")
            if m in (3, 6, 9, 12):
                put(self._first_on_or_after(y, m, 10), "corporate_tax")
        return events

    # -- output -------------------------------------------------------------------------
    def _ref(self, day: date) -> str:
        self._seq += 1
        return f"{COMPANY_SHORT}{day:%Y%m%d}{self._seq:08d}"

    def _line(self, out: list[Line], account: str, day: date, amount: int, counterparty: str,
              description: str, category: str, code: str, value_day: date | None = None) -> None:
        if amount == 0:
            return
        out.append(Line(account, day, value_day or day, amount, counterparty, self._ref(day),
                        description, category, code))
        self.balances[account] += amount
        if amount < 0:
            self.month_debits[account] += 1

    def _lines(self, out: list[Line], account: str, day: date, amounts: np.ndarray,
               counterparties: list[str], descriptions: list[str], category: str, code: str,
               lags: np.ndarray | None = None) -> None:
        """Append many lines of one kind (the hot path at large scales)."""
        n = len(amounts)
        if n == 0:
            return
        first = self._seq + 1
        self._seq += n
        if lags is None:
            values = [day] * n
        else:
            values = [self._shift(day, int(k)) if k else day for k in lags]
        prefix = f"{COMPANY_SHORT}{day:%Y%m%d}"
        out.extend(Line(account, day, values[i], int(amounts[i]), counterparties[i],
                        f"{prefix}{first + i:08d}", descriptions[i], category, code)
                   for i in range(n))
        self.balances[account] += int(amounts.sum())
        self.month_debits[account] += int((amounts < 0).sum())

    # -- draws --------------------------------------------------------------------------
    def _amounts(self, n: int, median: float, sigma: float) -> np.ndarray:
        return np.rint(self.rng.lognormal(np.log(median), sigma, n) * 100).astype(np.int64)

    def _demand(self, day: date, month_days: list[date]) -> float:
        factor = SEASON[day.month - 1]
        pos = month_days.index(day)
        if day.month in (3, 6, 9, 12) and pos >= len(month_days) - 5:
            factor *= 1.6  # quarter-end collection push
        elif pos >= len(month_days) - 3:
            factor *= 1.2
        if day.weekday() == 0:
            factor *= 1.15  # weekend backlog
        years = (day - self.start).days / 365.25
        return float(factor * (1 + 0.06 * years))  # the business grows ~6 % a year

    def _fx(self, day: date, quote: str) -> float:
        return self.fx[day][quote]

    # -- flows --------------------------------------------------------------------------
    def _receipts(self, out: list[Line], day: date, demand: float) -> None:
        rng, s = self.rng, self.scale
        for account, cur, lam, median in (("eur_collect", "EUR", 9.5, 5200.0),
                                          ("usd_main", "USD", 3.5, 7000.0),
                                          ("gbp_main", "GBP", 3.0, 4500.0)):
            n = int(rng.poisson(lam * s * demand))
            if not n:
                continue
            amounts = self._amounts(n, median, 0.9)
            who = rng.choice(len(self.customers[cur]), size=n, p=self.weights["customers"][cur])
            kinds = rng.random(n)
            lags = rng.choice(3, size=n, p=(0.85, 0.12, 0.03))
            names, descs = self.customers[cur], []
            base = self.invoice_seq
            for i in range(n):
                inv = f"{COMPANY_SHORT}-{day:%y}-{base + i:06d}"
                cust = self.cust_no[cur][who[i]]
                if kinds[i] < 0.80:
                    descs.append(f"INVOICE {inv} CUST {cust}")
                elif kinds[i] < 0.95:
                    descs.append(f"INV {inv} {COMPANY_SHORT}-{day:%y}-{base + i - 37:06d} CUST {cust}")
                else:
                    descs.append(f"PART PAYMENT INVOICE {inv} CUST {cust}")
            self.invoice_seq += n
            self._lines(out, account, day, amounts, [names[w] for w in who], descs, "customers",
                        "NTRF", lags)
            if cur in self.vat_base:
                self.vat_base[cur] += int(amounts.sum())
        # card acquiring: one settlement and its fee per day
        settle = int(round(rng.normal(17000, 3500) * s * demand * 100))
        if settle > 0:
            self._line(out, "eur_collect", day, settle, "Payvanta Merchant Services",
                       f"CARD SETTLEMENT {day:%Y-%m-%d} MID 4417{s:04d}", "customers", "NCOL",
                       self._shift(day, 1))
            self._line(out, "eur_collect", day, -int(round(settle * 0.0145)), "Payvanta Merchant Services",
                       f"CARD ACQUIRING FEES {day:%Y-%m-%d}", "fees", "NCHG")
            self.vat_base["EUR"] += settle

    def _suppliers(self, out: list[Line], day: date) -> None:
        rng, s = self.rng, self.scale
        run_day = day.weekday() == 3 or (day.weekday() == 4 and self._shift(day, -1).weekday() != 3)
        plan = [("eur_main", "EUR", 1.4, 4000.0)]
        if run_day:
            plan += [("eur_main", "EUR", 40.0, 4300.0), ("usd_main", "USD", 10.0, 5000.0),
                     ("gbp_main", "GBP", 8.0, 3500.0)]
        for account, cur, lam, median in plan:
            n = int(rng.poisson(lam * s))
            if not n:
                continue
            amounts = -self._amounts(n, median, 1.0)
            who = rng.choice(len(self.suppliers[cur]), size=n, p=self.weights["suppliers"][cur])
            inv = rng.integers(100000, 9999999, size=n)
            names = self.suppliers[cur]
            week = day.isocalendar()
            label = f"PAYMENT RUN {week[0]}-W{week[1]:02d}" if run_day and lam > 2 else "URGENT PAYMENT"
            descs = [f"{label} INV {inv[i]} PO 45{self.po_seq + i:08d} VENDOR {self.supp_no[cur][who[i]]}"
                     for i in range(n)]
            self.po_seq += n
            self._lines(out, account, day, amounts, [names[w] for w in who], descs, "suppliers", "NTRF")
            if cur in self.vat_base:
                self.vat_base[cur] += int(amounts.sum())

    def _salaries(self, out: list[Line], day: date, cur: str) -> None:
        staff = self.staff[cur]
        raise_factor = 1.03 ** (day.year - self.start.year)
        pay = staff.payroll(raise_factor)
        bonus = day.month == 11
        if bonus:
            pay = pay + pay // 2
        label = f"SALARY {day:%Y-%m}" + (" INCL CHRISTMAS BONUS" if bonus else "")
        descs = [f"{label} EMP {e:05d}" for e in staff.ids]
        account = "eur_payroll" if cur == "EUR" else "gbp_payroll"
        self._lines(out, account, day, -pay, staff.names, descs, "salaries", "NSAL")
        self.payroll_paid[cur] = int(pay.sum())

    def _payroll_total(self, day: date, cur: str) -> int:
        pay = self.staff[cur].payroll(1.03 ** (day.year - self.start.year))
        total = int(pay.sum())
        return total + total // 2 if day.month == 11 else total

    def _transfer(self, out: list[Line], day: date, src: str, dst: str, amount: int, description: str,
                  category: str = "intercompany", code: str = "NTRF") -> None:
        """Both legs of a same-currency transfer between two of the company's own accounts."""
        if amount <= 0:
            return
        src_name = self.accounts[src].name
        dst_name = self.accounts[dst].name
        self._line(out, src, day, -amount, f"{self._owner(dst)} {dst_name}", description, category, code)
        self._line(out, dst, day, amount, f"{self._owner(src)} {src_name}", description, category, code)

    def _owner(self, key: str) -> str:
        return UK_ENTITY if key.startswith("gbp") else COMPANY_NAME

    def _fx_deal(self, out: list[Line], day: date, eur_account: str, other: str, other_amount: int,
                 buy_other: bool, description: str | None = None, category: str = "fx",
                 code: str = "NFEX") -> None:
        """Convert between EUR and the currency of ``other``: ``other_amount`` (minor, > 0) of
        the foreign currency is bought (``buy_other``) or sold at the day's rate ± 0.05 %."""
        quote = self.accounts[other].currency
        mid = self._fx(day, quote)
        rate = mid * (0.9995 if buy_other else 1.0005)  # the bank's spread, against us
        eur_amount = int(round(other_amount / rate))
        self.deal_seq += 1
        deal = f"FX{day:%y%m%d}-{self.deal_seq:05d}"
        text = description or (f"FX SPOT {'BUY' if buy_other else 'SELL'} {quote} "
                               f"EUR/{quote} {rate:.5f} DEAL {deal}")
        bank = BANK_OF[other].name
        sign = 1 if buy_other else -1
        self._line(out, eur_account, day, -sign * eur_amount, bank if category == "fx" else self._owner(other),
                   text, category, code)
        self._line(out, other, day, sign * other_amount, bank if category == "fx" else self._owner(eur_account),
                   text, category, code)

    def _monthly(self, out: list[Line], day: date, event: str) -> None:
        s, rng = self.scale, self.rng
        ym = f"{day:%Y-%m}"
        prev_month = date(day.year - (day.month == 1), (day.month - 2) % 12 + 1, 1)
        if event == "rent":
            for k in range(s):
                self._line(out, "eur_main", day, -4_200_000, "Westpark Immobilien GmbH",
                           f"RENT {ym} HEAD OFFICE LEASE 2019/{k + 1:03d}", "rent", "NSTO")
                self._line(out, "eur_main", day, -1_850_000, "Rheinau Logistikpark GmbH & Co. KG",
                           f"RENT {ym} WAREHOUSE UNIT {k + 1:03d}", "rent", "NSTO")
                self._line(out, "gbp_main", day, -1_500_000, "Kingsmere Estates Ltd",
                           f"RENT {ym} LONDON OFFICE {k + 1:03d}", "rent", "NSTO")
                self._line(out, "usd_main", day, -2_400_000, "Lakeshore Realty LLC",
                           f"RENT {ym} CHICAGO SALES OFFICE {k + 1:03d}", "rent", "NSTO")
        elif event == "utilities":
            winter = 1.35 if day.month in (11, 12, 1, 2, 3) else 0.85
            for k in range(s):
                for who, what, median, acct in (
                        ("Stadtwerke Neuwerk AG", "ELECTRICITY", 6200 * winter, "eur_main"),
                        ("Stadtwerke Neuwerk AG", "GAS", 2400 * winter, "eur_main"),
                        ("Wasserverband Rheinau", "WATER", 780.0, "eur_main"),
                        ("Telecontor GmbH", "TELECOM AND DATA", 1450.0, "eur_main"),
                        ("Thames Power Ltd", "ELECTRICITY", 1900 * winter, "gbp_main"),
                        ("Mercia Water plc", "WATER", 240.0, "gbp_main")):
                    amount = -int(round(rng.lognormal(np.log(median), 0.12) * 100))
                    self._line(out, acct, day, amount, who,
                               f"DIRECT DEBIT {what} {ym} CONTRACT {41000 + k:06d}", "utilities", "NDDT")
        elif event == "salaries_eur":
            self._salaries(out, day, "EUR")
        elif event == "salaries_gbp":
            self._salaries(out, day, "GBP")
        elif event == "fund_payroll_eur":
            self._transfer(out, day, "eur_main", "eur_payroll", self._payroll_total(self._shift(day, 2), "EUR"),
                           f"PAYROLL FUNDING {day:%Y-%m}")
        elif event == "fund_payroll_gbp":
            self._transfer(out, day, "gbp_main", "gbp_payroll", self._payroll_total(day, "GBP"),
                           f"PAYROLL FUNDING {day:%Y-%m}")
        elif event == "payroll_tax_eur":
            base = self.payroll_paid["EUR"] or self._payroll_total(day, "EUR")
            self._line(out, "eur_tax", day, -int(base * 0.34), "Finanzamt Neuwerk Steuerkasse",
                       f"PAYROLL TAX {prev_month:%Y-%m} STNR 045/815/30712", "taxes", "NTAX")
        elif event == "social_security_eur":
            base = self._payroll_total(day, "EUR") * (2 if day.month == 11 else 3) // 3
            self._line(out, "eur_tax", day, -int(base * 0.39), "Rheinland Sozialversicherungskasse",
                       f"SOCIAL SECURITY CONTRIBUTIONS {ym} BN 37161289", "taxes", "NTAX")
        elif event == "paye_gbp":
            base = self.payroll_paid["GBP"] or self._payroll_total(day, "GBP")
            self._line(out, "gbp_main", day, -int(base * 0.46), "HM Revenue & Customs",
                       f"PAYE NIC {prev_month:%Y-%m} 120PX00412817", "taxes", "NTAX")
        elif event == "vat_eur":
            q = (day.month - 2) // 3 % 4 + 1
            year = day.year - (day.month == 1)
            due = int(self.vat_base["EUR"] * 0.19 * 0.6)
            self.vat_base["EUR"] = 0
            self._line(out, "eur_tax", day, -due, "Finanzamt Neuwerk Steuerkasse",
                       f"VAT Q{q} {year} STNR 045/815/30712", "taxes", "NTAX")
        elif event == "vat_gbp":
            q = (day.month - 2) // 3 % 4 + 1
            year = day.year - (day.month == 2)
            due = int(self.vat_base["GBP"] * 0.20 * 0.6)
            self.vat_base["GBP"] = 0
            self._line(out, "gbp_main", day, -due, "HM Revenue & Customs",
                       f"VAT Q{q} {year} VRN GB 418 2271 36", "taxes", "NTAX")
        elif event == "corporate_tax":
            self._line(out, "eur_tax", day, -14_000_000 * s, "Finanzamt Neuwerk Steuerkasse",
                       f"CORPORATE TAX PREPAYMENT Q{(day.month - 1) // 3 + 1} {day.year} STNR 045/815/30712",
                       "taxes", "NTAX")
        elif event == "payroll_usd":
            amount = -int(round(rng.normal(178_000, 6_000) * s * 100))
            self._line(out, "usd_main", day, amount, "Keystone Payroll Services LLC",
                       f"PAYROLL {ym} US SALES OFFICE BATCH {day:%m}{s:03d}", "salaries", "NSAL")
        elif event == "management_fee":
            self._fx_deal(out, day, "eur_main", "gbp_main", 6_000_000 * s, buy_other=False,
                          description=f"MANAGEMENT FEE {ym} INTERCOMPANY INV IC-{day:%y%m}-UK",
                          category="intercompany", code="NTRF")
        elif event == "month_end":
            self._month_end(out, day)

    def _month_end(self, out: list[Line], day: date) -> None:
        ym = f"{day:%Y-%m}"
        years = (day - self.start).days / 365.25
        deposit_rate = max(0.0325 - 0.006 * years, 0.015)  # falling policy rates
        for key, rate in (("eur_deposit", deposit_rate), ("usd_main", 0.035), ("eur_main", 0.005)):
            interest = int(max(self.balances[key], 0) * rate / 12)
            self._line(out, key, day, interest, BANK_OF[key].name,
                       f"INTEREST {ym} {rate * 100:.2f}% P.A.", "interest", "NINT")
        # month-end repatriation: USD above its target is sold for EUR (the UK pays a fee instead)
        usd_excess = (self.balances["usd_main"] - self.accounts["usd_main"].target * 100 * self.scale)
        if usd_excess >= 10_000_000 * self.scale:
            self._fx_deal(out, day, "eur_main", "usd_main", usd_excess // 1_000_000 * 1_000_000, buy_other=False)
        for a in ACCOUNTS:
            fee = 2500 + 15 * self.month_debits[a.key]
            self._line(out, a.key, day, -fee, BANK_OF[a.key].name,
                       f"ACCOUNT MAINTENANCE FEE {ym} {self.month_debits[a.key]} TXNS", "fees", "NCHG")
            self.month_debits[a.key] = 0

    def _treasury(self, out: list[Line], day: date) -> None:
        """End of day: bring every account back inside its band (minimum … high)."""
        s, bal = self.scale, self.balances
        acc = self.accounts

        def level(key: str, name: str) -> int:
            return getattr(acc[key], name) * 100 * s

        def rounded(amount: int, step: int = 1_000_000) -> int:  # whole 10,000s
            return max(step, (amount + step - 1) // step * step)

        if bal["eur_collect"] > level("eur_collect", "high"):
            self._transfer(out, day, "eur_collect", "eur_main", bal["eur_collect"] - level("eur_collect", "target"),
                           f"CASH POOL SWEEP {day:%Y-%m-%d} ZBA", code="NSWP")
        for key, src in (("eur_payroll", "eur_main"), ("gbp_payroll", "gbp_main"), ("eur_tax", "eur_main")):
            if bal[key] < level(key, "minimum"):
                self._transfer(out, day, src, key, rounded(level(key, "target") - bal[key]),
                               f"INTERNAL TRANSFER TOP-UP {acc[key].name.upper()}")
            elif bal[key] > level(key, "high"):
                self._transfer(out, day, key, src, (bal[key] - level(key, "target")) // 1_000_000 * 1_000_000,
                               f"INTERNAL TRANSFER EXCESS {acc[key].name.upper()}")
        for key in ("usd_main", "gbp_main"):
            if bal[key] < level(key, "minimum") * 3 // 2:
                self._fx_deal(out, day, "eur_main", key, rounded(level(key, "target") - bal[key]), buy_other=True)
            elif bal[key] > level(key, "high"):
                excess = (bal[key] - level(key, "target")) // 1_000_000 * 1_000_000
                if excess > 0:
                    self._fx_deal(out, day, "eur_main", key, excess, buy_other=False)
        if bal["eur_main"] < level("eur_main", "minimum") * 6 // 5:
            need = rounded(level("eur_main", "target") - bal["eur_main"], 10_000_000)
            available = max(bal["eur_deposit"] - level("eur_deposit", "minimum"), 0) // 10_000_000 * 10_000_000
            self._transfer(out, day, "eur_deposit", "eur_main", min(need, available),
                           f"DEPOSIT WITHDRAWAL {day:%Y-%m-%d}", code="NLDP")
        elif bal["eur_main"] > level("eur_main", "high"):
            self._transfer(out, day, "eur_main", "eur_deposit",
                           (bal["eur_main"] - level("eur_main", "target")) // 10_000_000 * 10_000_000,
                           f"DEPOSIT PLACEMENT {day:%Y-%m-%d}", code="NLDP")

    # -- the run ------------------------------------------------------------------------
    def run(self) -> Iterator[tuple[date, list[Line]]]:
        """Yield each business day of the ledger with its statement lines."""
        schedule = self._month_schedule()
        by_month: dict[tuple[int, int], list[date]] = {}
        for d in self.days:
            by_month.setdefault((d.year, d.month), []).append(d)
        for day in self.ledger_days:
            out: list[Line] = []
            demand = self._demand(day, by_month[(day.year, day.month)])
            self._receipts(out, day, demand)
            self._suppliers(out, day)
            for event in schedule.get(day, ()):
                self._monthly(out, day, event)
            self._treasury(out, day)
            yield day, out
