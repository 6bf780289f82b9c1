"""Compliance rules as data, and their pure, deterministic evaluation.

A rule is a :class:`RuleSpec` (type + parameters + severity + scope + validity) at a version.
The service loads the rules in force, gathers the facts of one operation (a payment, or a
portfolio change) and calls :func:`evaluate_payment` / :func:`evaluate_portfolio`; both return
one :class:`RuleResult` per rule — pass, warn, block or not applicable — naming the limit, the
actual figure and the headroom. Nothing here reads a database or a clock: the same rules and
facts always give the same results (so a report can be re-derived and a property can check it).

Conventions:

* Money limits are Decimal amounts in the rule's ``currency``. A payment in another currency
  is converted with the rate the service supplies (``rate(from, to)``: units of ``to`` per one
  ``from``); with no rate the rule cannot be evaluated and a blocking rule blocks (fail closed).
* Weights are fractions of the portfolio's value in its base currency (0.25 = 25 %). After a
  change the value is the larger of the value before (sale proceeds stay as cash) and the
  positions after (purchases beyond the proceeds come from cash the plan brings).
* Limits are inclusive: an actual figure equal to the limit complies; one minor unit (or any
  fraction) above it breaches. A minimum (liquidity buffer, credit rating) breaches below it.
* Portfolio rules look at the portfolio after the trades. A weight or FX-exposure breach blocks
  only when the trades make it worse (selling down an existing breach is always allowed);
  allowed-instrument and rating rules judge what the trades buy.
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Callable, Iterable, Mapping, Sequence

from cio_desktop.domain.money import normalise_currency
from cio_desktop.errors import ValidationError


class RuleType(StrEnum):
    MAX_SINGLE_PAYMENT = "max_single_payment"
    DAILY_OUTGOING_LIMIT = "daily_outgoing_limit"
    COUNTERPARTY_BLOCK = "counterparty_block"
    COUNTRY_BLOCK = "country_block"
    MIN_LIQUIDITY = "min_liquidity"
    MAX_WEIGHT = "max_weight"
    ALLOWED_INSTRUMENTS = "allowed_instruments"
    MIN_CREDIT_RATING = "min_credit_rating"
    FX_EXPOSURE_LIMIT = "fx_exposure_limit"


PAYMENT_TYPES = frozenset({RuleType.MAX_SINGLE_PAYMENT, RuleType.DAILY_OUTGOING_LIMIT,
                           RuleType.COUNTERPARTY_BLOCK, RuleType.COUNTRY_BLOCK, RuleType.MIN_LIQUIDITY})
PORTFOLIO_TYPES = frozenset({RuleType.MAX_WEIGHT, RuleType.ALLOWED_INSTRUMENTS, RuleType.MIN_CREDIT_RATING,
                             RuleType.FX_EXPOSURE_LIMIT})

LABELS = {
    RuleType.MAX_SINGLE_PAYMENT: "maximum single payment",
    RuleType.DAILY_OUTGOING_LIMIT: "daily outgoing limit",
    RuleType.COUNTERPARTY_BLOCK: "counterparty block list",
    RuleType.COUNTRY_BLOCK: "country block list",
    RuleType.MIN_LIQUIDITY: "minimum liquidity buffer",
    RuleType.MAX_WEIGHT: "maximum portfolio weight",
    RuleType.ALLOWED_INSTRUMENTS: "allowed instruments",
    RuleType.MIN_CREDIT_RATING: "minimum credit rating",
    RuleType.FX_EXPOSURE_LIMIT: "FX exposure limit",
}


class Severity(StrEnum):
    BLOCK = "block"
    WARN = "warn"


class Outcome(StrEnum):
    PASS = "pass"
    WARN = "warn"
    BLOCK = "block"
    OVERRIDDEN = "overridden"          # a blocking breach let through by a recorded override
    NOT_APPLICABLE = "n/a"


WEIGHT_DIMENSIONS = ("asset", "issuer", "asset_class", "country", "currency")
ACCOUNT_SCOPES = ("account", "entity")

#: S&P / Fitch long-term scale, best first (Moody's equivalents accepted on input).
RATING_SCALE = ("AAA", "AA+", "AA", "AA-", "A+", "A", "A-", "BBB+", "BBB", "BBB-", "BB+", "BB", "BB-",
                "B+", "B", "B-", "CCC+", "CCC", "CCC-", "CC", "C", "D")
_MOODYS = {"AAA": "AAA", "AA1": "AA+", "AA2": "AA", "AA3": "AA-", "A1": "A+", "A2": "A", "A3": "A-",
           "BAA1": "BBB+", "BAA2": "BBB", "BAA3": "BBB-", "BA1": "BB+", "BA2": "BB", "BA3": "BB-",
           "B1": "B+", "B2": "B", "B3": "B-", "CAA1": "CCC+", "CAA2": "CCC", "CAA3": "CCC-", "CA": "CC"}


def normalise_rating(value: str) -> str | None:
    """The S&P-style grade of ``value`` (S&P, Fitch or Moody's notation), None if unknown."""
    v = (value or "").strip().upper().replace(" ", "")
    if v in RATING_SCALE:
        return v
    return _MOODYS.get(v)


def rating_rank(value: str) -> int | None:
    """0 for AAA, larger is worse; None for an unrated or unknown grade."""
    r = normalise_rating(value)
    return RATING_SCALE.index(r) if r else None


_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)


@functools.lru_cache(maxsize=256)
def _name_keys(names: tuple[str, ...]) -> frozenset[str]:
    return frozenset(name_key(n) for n in names)


@functools.lru_cache(maxsize=65536)
def name_key(name: str) -> str:
    """Matching key for counterparty names: accents, case, punctuation and spacing ignored."""
    text = unicodedata.normalize("NFKD", name or "")
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = text.replace(".", "").replace("'", "").replace("\u2019", "")   # B.V. = BV, O'Neil = ONeil
    return " ".join(_PUNCT.sub(" ", text).split())


# -- the rule ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RuleScope:
    """Where a rule applies; empty tuples mean everywhere."""

    account_ids: tuple[int, ...] = ()
    portfolio_ids: tuple[int, ...] = ()
    currencies: tuple[str, ...] = ()       # payment currencies (payment rules) / base currencies

    def to_json(self) -> dict[str, Any]:
        return {k: list(v) for k, v in (("account_ids", self.account_ids), ("portfolio_ids", self.portfolio_ids),
                                        ("currencies", self.currencies)) if v}

    def describe(self) -> str:
        parts = []
        if self.account_ids:
            parts.append("accounts " + ", ".join(map(str, self.account_ids)))
        if self.portfolio_ids:
            parts.append("portfolios " + ", ".join(map(str, self.portfolio_ids)))
        if self.currencies:
            parts.append(", ".join(self.currencies))
        return "; ".join(parts) or "all"


@dataclass(frozen=True)
class RuleSpec:
    """One rule at one version, validated and normalised (see :func:`validate_rule`)."""

    name: str
    rule_type: RuleType
    parameters: Mapping[str, Any]
    severity: Severity = Severity.BLOCK
    scope: RuleScope = field(default_factory=RuleScope)
    valid_from: date | None = None
    valid_to: date | None = None          # inclusive
    rule_id: int = 0
    version: int = 0
    author: str = ""

    def in_force(self, day: date) -> bool:
        return (self.valid_from is None or self.valid_from <= day) and (self.valid_to is None or day <= self.valid_to)

    @property
    def label(self) -> str:
        return LABELS[self.rule_type]

    def parameters_json(self) -> str:
        return json.dumps(_jsonable(self.parameters), sort_keys=True, separators=(",", ":"))

    def describe_limit(self) -> str:
        return describe_limit(self)


def _jsonable(v: Any) -> Any:
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


# -- validation of rule definitions ---------------------------------------------------------------
def _p(name: str) -> str:
    return f"parameters.{name}"


def _amount(params: Mapping[str, Any], key: str, *, positive: bool = False) -> Decimal:
    if key not in params or params[key] in (None, ""):
        raise ValidationError(f"'{key}' is missing", field=_p(key))
    raw = params[key]
    if isinstance(raw, (float, bool)):
        raise ValidationError(f"'{raw}' must be written as a decimal number (text or integer), not a float",
                              field=_p(key))
    try:
        value = Decimal(str(raw).strip().replace(",", "").replace("_", ""))
    except InvalidOperation:
        raise ValidationError(f"'{raw}' is not a number", field=_p(key)) from None
    if not value.is_finite():
        raise ValidationError(f"'{raw}' is not a finite number", field=_p(key))
    if value < 0:
        raise ValidationError(f"a limit cannot be negative ({raw})", field=_p(key))
    if positive and value == 0:
        raise ValidationError("the limit must be above zero", field=_p(key))
    return value


def _fraction(params: Mapping[str, Any], key: str) -> Decimal:
    value = _amount(params, key)
    if value > 1:
        raise ValidationError(f"{value} is above 1: give a fraction (0.25 for 25 %)", field=_p(key))
    return value


def _currency(params: Mapping[str, Any], key: str = "currency") -> str:
    raw = params.get(key)
    if not raw:
        raise ValidationError(f"'{key}' is missing", field=_p(key))
    try:
        return normalise_currency(str(raw))
    except ValueError as exc:
        raise ValidationError(str(exc), field=_p(key)) from None


def _str_list(params: Mapping[str, Any], key: str, *, required: bool = True) -> tuple[str, ...]:
    raw = params.get(key, ())
    if isinstance(raw, str):
        raw = [x for x in re.split(r"[;,\n]", raw)]
    if not isinstance(raw, (list, tuple)):
        raise ValidationError("give a list", field=_p(key))
    items = tuple(dict.fromkeys(" ".join(str(x).split()) for x in raw if str(x).strip()))
    if required and not items:
        raise ValidationError("the list is empty", field=_p(key))
    return items


def _countries(params: Mapping[str, Any], key: str) -> tuple[str, ...]:
    out = []
    for c in _str_list(params, key):
        code = c.strip().upper()
        if len(code) != 2 or not code.isalpha() or not code.isascii():
            raise ValidationError(f"'{c}' is not a two-letter ISO 3166 country code", field=_p(key))
        out.append(code)
    return tuple(sorted(set(out)))


def validate_rule(*, name: str, rule_type: str, parameters: Mapping[str, Any] | None,
                  severity: str = "block", scope: Mapping[str, Any] | RuleScope | None = None,
                  valid_from: date | str | None = None, valid_to: date | str | None = None) -> RuleSpec:
    """A normalised :class:`RuleSpec`, or ValidationError naming the field that is wrong
    (missing, contradictory — minimum above maximum, validity ending before it starts —,
    negative, unknown currency, country or rating)."""
    clean = " ".join((name or "").split())
    if not clean:
        raise ValidationError("a rule needs a name", field="name")
    if len(clean) > 120:
        raise ValidationError("at most 120 characters", field="name")
    try:
        rtype = RuleType(str(rule_type).strip().lower())
    except ValueError:
        raise ValidationError(f"'{rule_type}' is not a rule type; types are "
                              f"{', '.join(t.value for t in RuleType)}", field="type") from None
    try:
        sev = Severity(str(severity).strip().lower())
    except ValueError:
        raise ValidationError(f"severity is 'block' or 'warn', not '{severity}'", field="severity") from None
    params = dict(parameters or {})
    if not isinstance(parameters or {}, Mapping):
        raise ValidationError("parameters must be a mapping", field="parameters")
    p: dict[str, Any]
    if rtype is RuleType.MAX_SINGLE_PAYMENT:
        p = {"amount": _amount(params, "amount", positive=True), "currency": _currency(params)}
    elif rtype is RuleType.DAILY_OUTGOING_LIMIT:
        per = str(params.get("per", "entity")).strip().lower()
        if per not in ACCOUNT_SCOPES:
            raise ValidationError(f"'per' is 'account' or 'entity', not '{per}'", field=_p("per"))
        p = {"amount": _amount(params, "amount", positive=True), "currency": _currency(params), "per": per}
    elif rtype is RuleType.COUNTERPARTY_BLOCK:
        names = _str_list(params, "names", required=False)
        use_list = params.get("sanctions_list", False)
        if not isinstance(use_list, bool):
            raise ValidationError("'sanctions_list' is true or false", field=_p("sanctions_list"))
        if not names and not use_list:
            raise ValidationError("name at least one counterparty, or use the sanctions list", field=_p("names"))
        p = {"names": names, "sanctions_list": use_list}
    elif rtype is RuleType.COUNTRY_BLOCK:
        p = {"countries": _countries(params, "countries")}
    elif rtype is RuleType.MIN_LIQUIDITY:
        p = {"amount": _amount(params, "amount"), "currency": _currency(params)}
    elif rtype is RuleType.MAX_WEIGHT:
        dim = str(params.get("dimension", "")).strip().lower()
        if dim not in WEIGHT_DIMENSIONS:
            raise ValidationError(f"'dimension' is one of {', '.join(WEIGHT_DIMENSIONS)}, not '{dim}'",
                                  field=_p("dimension"))
        p = {"dimension": dim, "max": _fraction(params, "max")}
        if "min" in params and params["min"] not in (None, ""):
            lo = _fraction(params, "min")
            if lo > p["max"]:
                raise ValidationError(f"the minimum {lo} is above the maximum {p['max']}", field=_p("min"))
            p["min"] = lo
        value = str(params.get("value", "") or "").strip()
        if value:
            p["value"] = value.upper() if dim in ("country", "currency") else value
            if dim == "currency":
                p["value"] = _currency(params, "value")
    elif rtype is RuleType.ALLOWED_INSTRUMENTS:
        p = {"asset_classes": tuple(sorted({c.lower() for c in _str_list(params, "asset_classes")}))}
    elif rtype is RuleType.MIN_CREDIT_RATING:
        raw = str(params.get("rating", "") or "")
        grade = normalise_rating(raw)
        if grade is None:
            raise ValidationError(f"'{raw}' is not a credit rating (AAA … D, S&P/Fitch or Moody's notation)",
                                  field=_p("rating"))
        classes = _str_list(params, "asset_classes", required=False) or ("bond", "money_market")
        p = {"rating": grade, "asset_classes": tuple(sorted({c.lower() for c in classes}))}
    else:  # FX_EXPOSURE_LIMIT
        p = {"max": _fraction(params, "max")}
        if params.get("currency"):
            p["currency"] = _currency(params)
    unknown = set(params) - set(p) - {"min", "value", "currency", "per", "sanctions_list", "names",
                                      "asset_classes"}
    if unknown:
        raise ValidationError(f"unknown parameter(s) {', '.join(sorted(unknown))} for a {LABELS[rtype]} rule",
                              field=_p(sorted(unknown)[0]))
    sc = _scope(scope)
    start, end = _day(valid_from, "valid_from"), _day(valid_to, "valid_to")
    if start and end and end < start:
        raise ValidationError(f"the rule would end ({end}) before it starts ({start})", field="valid_to")
    return RuleSpec(clean, rtype, p, sev, sc, start, end)


def _day(v: date | str | None, fieldname: str) -> date | None:
    if v is None or v == "":
        return None
    if isinstance(v, date):
        return v
    try:
        return date.fromisoformat(str(v).strip())
    except ValueError:
        raise ValidationError(f"'{v}' is not a date (YYYY-MM-DD)", field=fieldname) from None


def _scope(scope: Mapping[str, Any] | RuleScope | None) -> RuleScope:
    if scope is None:
        return RuleScope()
    if isinstance(scope, RuleScope):
        return scope
    if not isinstance(scope, Mapping):
        raise ValidationError("scope must be a mapping", field="scope")
    unknown = set(scope) - {"account_ids", "portfolio_ids", "currencies"}
    if unknown:
        raise ValidationError(f"unknown scope key(s) {', '.join(sorted(unknown))}", field=f"scope.{sorted(unknown)[0]}")

    def ids(key: str) -> tuple[int, ...]:
        raw = scope.get(key) or ()
        try:
            out = tuple(sorted({int(x) for x in raw}))
        except (TypeError, ValueError):
            raise ValidationError("give a list of ids", field=f"scope.{key}") from None
        if any(i <= 0 for i in out):
            raise ValidationError("ids are positive", field=f"scope.{key}")
        return out

    curs = []
    for c in scope.get("currencies") or ():
        try:
            curs.append(normalise_currency(str(c)))
        except ValueError as exc:
            raise ValidationError(str(exc), field="scope.currencies") from None
    return RuleScope(ids("account_ids"), ids("portfolio_ids"), tuple(sorted(set(curs))))


def rule_from_stored(*, rule_id: int, version: int, name: str, rule_type: str, parameters_json: str,
                     severity: str, scope_json: str, valid_from: date | None, valid_to: date | None,
                     author: str = "") -> RuleSpec:
    spec = validate_rule(name=name, rule_type=rule_type, parameters=json.loads(parameters_json or "{}"),
                         severity=severity, scope=json.loads(scope_json or "{}"), valid_from=valid_from,
                         valid_to=valid_to)
    return replace(spec, rule_id=rule_id, version=version, author=author)


# -- results ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RuleResult:
    rule_id: int
    version: int
    name: str
    rule_type: str
    severity: str
    outcome: Outcome
    limit: str
    actual: str
    headroom: str
    message: str

    @property
    def breached(self) -> bool:
        return self.outcome in (Outcome.WARN, Outcome.BLOCK, Outcome.OVERRIDDEN)


def _fmt_amount(v: Decimal, currency: str) -> str:
    return f"{v:,.2f} {currency}"


def _fmt_pct(v: Decimal) -> str:
    return f"{(v * 100).quantize(Decimal('0.01'))} %"


def describe_limit(rule: RuleSpec) -> str:
    p, t = rule.parameters, rule.rule_type
    if t is RuleType.MAX_SINGLE_PAYMENT:
        return f"at most {_fmt_amount(p['amount'], p['currency'])} per payment"
    if t is RuleType.DAILY_OUTGOING_LIMIT:
        return f"at most {_fmt_amount(p['amount'], p['currency'])} out per day per {p['per']}"
    if t is RuleType.COUNTERPARTY_BLOCK:
        what = [f"{len(p['names'])} named"] if p["names"] else []
        if p["sanctions_list"]:
            what.append("the sanctions list")
        return "no payment to " + " and ".join(what)
    if t is RuleType.COUNTRY_BLOCK:
        return "no payment to " + ", ".join(p["countries"])
    if t is RuleType.MIN_LIQUIDITY:
        return f"keep at least {_fmt_amount(p['amount'], p['currency'])}"
    if t is RuleType.MAX_WEIGHT:
        what = f"{p['dimension'].replace('_', ' ')} {p['value']}" if p.get("value") else f"any {p['dimension'].replace('_', ' ')}"
        lo = f"at least {_fmt_pct(p['min'])} and " if "min" in p else ""
        return f"{what}: {lo}at most {_fmt_pct(p['max'])}"
    if t is RuleType.ALLOWED_INSTRUMENTS:
        return "only " + ", ".join(p["asset_classes"])
    if t is RuleType.MIN_CREDIT_RATING:
        return f"{', '.join(p['asset_classes'])} rated {p['rating']} or better"
    cur = f"in {p['currency']}" if "currency" in p else "outside the base currency"
    return f"at most {_fmt_pct(p['max'])} {cur}"


def _result(rule: RuleSpec, outcome: Outcome, limit: str, actual: str, headroom: str, message: str) -> RuleResult:
    return RuleResult(rule.rule_id, rule.version, rule.name, rule.rule_type.value, rule.severity.value, outcome,
                      limit, actual, headroom, message)


def _na(rule: RuleSpec, why: str) -> RuleResult:
    return _result(rule, Outcome.NOT_APPLICABLE, describe_limit(rule), "", "", why)


def _breach(rule: RuleSpec) -> Outcome:
    return Outcome.BLOCK if rule.severity is Severity.BLOCK else Outcome.WARN


# -- payments ---------------------------------------------------------------------------------------
RateFn = Callable[[str, str], "Decimal | None"]


@dataclass(frozen=True)
class SameDayPayment:
    account_id: int
    amount: Decimal
    currency: str
    internal: bool = False           # a transfer between own accounts (not an outflow of the company)


@dataclass(frozen=True)
class PaymentFacts:
    """What the service knows about a payment (and its surroundings) at check time."""

    amount: Decimal                      # positive, in ``currency``
    currency: str
    account_id: int
    counterparty: str
    countries: tuple[str, ...]           # stated, IBAN and BIC countries (empty ones dropped)
    execution_date: date
    same_day: tuple[SameDayPayment, ...] = ()   # other live outgoing payments dated the same day
    liquidity: Mapping[str, Decimal] = field(default_factory=dict)  # currency → available, this payment excluded
    sanctioned: frozenset[str] = frozenset()      # name keys of the imported sanctions list
    internal: bool = False                        # a transfer between own accounts


def _convert(amount: Decimal, frm: str, to: str, rate: RateFn) -> Decimal | None:
    if frm == to:
        return amount
    r = rate(frm, to)
    return None if r is None else amount * r


def evaluate_payment(rules: Iterable[RuleSpec], facts: PaymentFacts, rate: RateFn,
                     *, day: date | None = None) -> list[RuleResult]:
    """One result per rule (payment rules apply; portfolio rules are not applicable)."""
    return [_payment_rule(r, facts, rate, day) for r in rules]


def _payment_rule(rule: RuleSpec, f: PaymentFacts, rate: RateFn, day: date | None) -> RuleResult:
    if day is not None and not rule.in_force(day):
        return _na(rule, "not in force on this day")
    if rule.rule_type not in PAYMENT_TYPES:
        return _na(rule, "a portfolio rule")
    sc = rule.scope
    if sc.account_ids and f.account_id not in sc.account_ids:
        return _na(rule, "another account")
    if sc.currencies and f.currency not in sc.currencies:
        return _na(rule, "another currency")
    p, t = rule.parameters, rule.rule_type
    limit = describe_limit(rule)
    if t is RuleType.MAX_SINGLE_PAYMENT:
        amount = _convert(f.amount, f.currency, p["currency"], rate)
        if amount is None:
            return _no_rate(rule, f.currency, p["currency"])
        ok = amount <= p["amount"]
        return _result(rule, Outcome.PASS if ok else _breach(rule), limit, _fmt_amount(amount, p["currency"]),
                       _fmt_amount(p["amount"] - amount, p["currency"]),
                       "within the limit" if ok else
                       f"the payment of {_fmt_amount(amount, p['currency'])} is above the maximum of "
                       f"{_fmt_amount(p['amount'], p['currency'])}")
    if t is RuleType.DAILY_OUTGOING_LIMIT:
        if f.internal and p["per"] == "entity":
            return _na(rule, "a transfer between own accounts does not leave the company")
        rows = [s for s in f.same_day if (p["per"] == "entity" and not s.internal) or
                (p["per"] == "account" and s.account_id == f.account_id)]
        total = _convert(f.amount, f.currency, p["currency"], rate)
        if total is None:
            return _no_rate(rule, f.currency, p["currency"])
        for s in rows:
            v = _convert(s.amount, s.currency, p["currency"], rate)
            if v is None:
                return _no_rate(rule, s.currency, p["currency"])
            total += v
        ok = total <= p["amount"]
        who = "this account" if p["per"] == "account" else "the company"
        return _result(rule, Outcome.PASS if ok else _breach(rule), limit, _fmt_amount(total, p["currency"]),
                       _fmt_amount(p["amount"] - total, p["currency"]),
                       "within the limit" if ok else
                       f"{who} would pay out {_fmt_amount(total, p['currency'])} on "
                       f"{f.execution_date.isoformat()}, above the daily limit of {_fmt_amount(p['amount'], p['currency'])}")
    if t is RuleType.COUNTERPARTY_BLOCK:
        key = name_key(f.counterparty)
        listed = _name_keys(tuple(p["names"]))
        hit = key in listed or (p["sanctions_list"] and key in f.sanctioned)
        src = "the sanctions list" if key not in listed else "the block list"
        return _result(rule, _breach(rule) if hit else Outcome.PASS, limit, f.counterparty, "",
                       f"{f.counterparty} is on {src}" if hit else "counterparty not listed")
    if t is RuleType.COUNTRY_BLOCK:
        hits = [c for c in f.countries if c in p["countries"]]
        actual = ", ".join(dict.fromkeys(f.countries)) or "unknown"
        return _result(rule, _breach(rule) if hits else Outcome.PASS, limit, actual, "",
                       f"the payment goes to {hits[0]}, a blocked country" if hits else "country not blocked")
    # MIN_LIQUIDITY
    cur = p["currency"]
    if f.currency != cur:
        return _na(rule, f"the payment is in {f.currency}, the buffer in {cur}")
    if f.internal:
        return _na(rule, "a transfer between own accounts keeps the money in the company")
    before = Decimal(f.liquidity.get(cur, Decimal(0)))
    after = before - f.amount
    ok = after >= p["amount"]
    return _result(rule, Outcome.PASS if ok else _breach(rule), limit, _fmt_amount(after, cur),
                   _fmt_amount(after - p["amount"], cur),
                   "the buffer holds" if ok else
                   f"{cur} liquidity would fall to {_fmt_amount(after, cur)}, below the buffer of "
                   f"{_fmt_amount(p['amount'], cur)}")


def _no_rate(rule: RuleSpec, frm: str, to: str) -> RuleResult:
    outcome = _breach(rule)
    return _result(rule, outcome, describe_limit(rule), "unknown", "",
                   f"no {frm}/{to} FX rate to check the payment against the {to} limit")


# -- portfolios --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Instrument:
    identifier: str
    asset_class: str
    issuer: str
    country: str
    currency: str
    rating: str


@dataclass(frozen=True)
class PortfolioFacts:
    """A portfolio before a change, the change, and what the assets are (base-currency values)."""

    portfolio_id: int
    base_currency: str
    values: Mapping[str, Decimal]                 # identifier → value before, base currency
    trades: Mapping[str, Decimal]                 # identifier → signed traded value (+ buy), base currency
    instruments: Mapping[str, Instrument]

    def after(self) -> dict[str, Decimal]:
        out = {k: Decimal(v) for k, v in self.values.items()}
        for k, v in self.trades.items():
            out[k] = out.get(k, Decimal(0)) + Decimal(v)
        return {k: v for k, v in out.items() if v > 0}


def _key(ins: Instrument | None, ident: str, dim: str, base: str) -> str:
    if ins is None:
        return ident if dim == "asset" else "unknown"
    if dim == "asset":
        return ident
    if dim == "issuer":
        return ins.issuer or ins.identifier
    if dim == "asset_class":
        return ins.asset_class or "unknown"
    if dim == "country":
        return ins.country or "unknown"
    return ins.currency or base


def group_weights(values: Mapping[str, Decimal], instruments: Mapping[str, Instrument], dim: str,
                  base: str, total: Decimal | None = None) -> dict[str, Decimal]:
    """Share of each group in ``total`` (default: the sum of the positive values)."""
    if total is None:
        total = sum((v for v in values.values() if v > 0), Decimal(0))
    if total <= 0:
        return {}
    groups: dict[str, Decimal] = {}
    for ident, v in values.items():
        if v > 0:
            k = _key(instruments.get(ident), ident, dim, base)
            groups[k] = groups.get(k, Decimal(0)) + v
    return {k: v / total for k, v in groups.items()}


def evaluate_portfolio(rules: Iterable[RuleSpec], facts: PortfolioFacts, *, day: date | None = None) -> list[RuleResult]:
    """One result per rule (portfolio rules apply; payment rules are not applicable)."""
    return [_portfolio_rule(r, facts, day) for r in rules]


def _portfolio_rule(rule: RuleSpec, f: PortfolioFacts, day: date | None) -> RuleResult:
    if day is not None and not rule.in_force(day):
        return _na(rule, "not in force on this day")
    if rule.rule_type not in PORTFOLIO_TYPES:
        return _na(rule, "a payment rule")
    if rule.scope.portfolio_ids and f.portfolio_id not in rule.scope.portfolio_ids:
        return _na(rule, "another portfolio")
    if rule.scope.currencies and f.base_currency not in rule.scope.currencies:
        return _na(rule, "another base currency")
    p, t = rule.parameters, rule.rule_type
    limit = describe_limit(rule)
    before, after = dict(f.values), f.after()
    # sale proceeds stay in the portfolio as cash: the value after is never below the value before
    nav_before = sum((v for v in before.values() if v > 0), Decimal(0))
    nav_after = max(nav_before, sum(after.values(), Decimal(0)))
    if t in (RuleType.MAX_WEIGHT, RuleType.FX_EXPOSURE_LIMIT):
        if t is RuleType.MAX_WEIGHT:
            dim = p["dimension"]
            wb = group_weights(before, f.instruments, dim, f.base_currency, nav_before)
            wa = group_weights(after, f.instruments, dim, f.base_currency, nav_after)
            keys = [p["value"]] if p.get("value") else sorted(set(wa) | set(wb))
            label = dim.replace("_", " ")
        else:
            wb0 = group_weights(before, f.instruments, "currency", f.base_currency, nav_before)
            wa0 = group_weights(after, f.instruments, "currency", f.base_currency, nav_after)
            if "currency" in p:
                wb, wa, keys = wb0, wa0, [p["currency"]]
            else:
                wb = {"foreign": sum((v for k, v in wb0.items() if k != f.base_currency), Decimal(0))}
                wa = {"foreign": sum((v for k, v in wa0.items() if k != f.base_currency), Decimal(0))}
                keys = ["foreign"]
            label = "currency"
        hi, lo = p["max"], p.get("min")
        worst_key, worst_excess, breach_key = None, None, None
        for k in keys:
            a, b = wa.get(k, Decimal(0)), wb.get(k, Decimal(0))
            excess = a - hi
            if worst_excess is None or excess > worst_excess:
                worst_key, worst_excess = k, excess
            over = a > hi and a > b
            under = lo is not None and a < lo and a < b and (k in wa or p.get("value"))
            if (over or under) and breach_key is None:
                breach_key = (k, "over" if over else "under")
        if worst_key is None:
            return _result(rule, Outcome.PASS, limit, "0.00 %", _fmt_pct(hi), "the portfolio is empty")
        if breach_key is not None:
            k, how = breach_key
            a = wa.get(k, Decimal(0))
            bound = hi if how == "over" else lo
            return _result(rule, _breach(rule), limit, f"{k}: {_fmt_pct(a)}", _fmt_pct(hi - a),
                           f"after the trades {label} {k} would weigh {_fmt_pct(a)} "
                           f"(was {_fmt_pct(wb.get(k, Decimal(0)))}), {'above the maximum' if how == 'over' else 'below the minimum'} "
                           f"of {_fmt_pct(bound)}")
        a = wa.get(worst_key, Decimal(0))
        note = "within the limit" if a <= hi else (f"{worst_key} is above the limit but the trades reduce "
                                                    "or keep it (no new breach)")
        return _result(rule, Outcome.PASS, limit, f"{worst_key}: {_fmt_pct(a)}", _fmt_pct(hi - a), note)
    bought = [k for k, v in sorted(f.trades.items()) if v > 0]
    if t is RuleType.ALLOWED_INSTRUMENTS:
        allowed = set(p["asset_classes"])
        bad = [k for k in bought if (f.instruments.get(k).asset_class.lower() if f.instruments.get(k) else "unknown")
               not in allowed]
        if bad:
            cls = f.instruments[bad[0]].asset_class if bad[0] in f.instruments else "unknown"
            return _result(rule, _breach(rule), limit, f"{bad[0]}: {cls}", "",
                           f"the plan buys {bad[0]}, a {cls} instrument, which is not allowed")
        return _result(rule, Outcome.PASS, limit, f"{len(bought)} instrument(s), all allowed", "", "all allowed")
    # MIN_CREDIT_RATING
    need = RATING_SCALE.index(p["rating"])
    classes = set(p["asset_classes"])
    for k in bought:
        ins = f.instruments.get(k)
        if ins is None or ins.asset_class.lower() not in classes:
            continue
        rank = rating_rank(ins.rating)
        if rank is None or rank > need:
            shown = ins.rating or "unrated"
            return _result(rule, _breach(rule), limit, f"{k}: {shown}", "",
                           f"the plan buys {k} rated {shown}, below the minimum of {p['rating']}")
    return _result(rule, Outcome.PASS, limit, f"all rated {p['rating']} or better", "", "ratings hold")


def worst(results: Sequence[RuleResult]) -> Outcome:
    """The operation's overall outcome: block > overridden > warn > pass."""
    order = [Outcome.BLOCK, Outcome.OVERRIDDEN, Outcome.WARN, Outcome.PASS]
    seen = {r.outcome for r in results}
    for o in order:
        if o in seen:
            return o
    return Outcome.PASS


def apply_overrides(results: Sequence[RuleResult], overridden_rule_ids: Iterable[int]) -> list[RuleResult]:
    """Blocking breaches of the given rules become ``overridden`` (recorded, let through)."""
    ids = set(overridden_rule_ids)
    return [replace(r, outcome=Outcome.OVERRIDDEN, message=r.message + " — overridden")
            if r.outcome is Outcome.BLOCK and r.rule_id in ids else r for r in results]


# -- sanctions lists -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SanctionsEntry:
    name: str
    key: str
    country: str
    list_name: str
    reference: str


SANCTIONS_HEADERS = ("name", "country", "list", "reference")


def parse_sanctions_csv(text: str, source: str = "sanctions list") -> list[SanctionsEntry]:
    """A CSV with a header row naming at least ``name`` (optionally ``country``, ``list``,
    ``reference``). Any bad row refuses the whole file with its line and field."""
    import csv
    import io

    if not text.strip():
        raise ValidationError("the file is empty", source=source)
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except (StopIteration, csv.Error) as exc:
        raise ValidationError(f"no header row ({exc})", source=source, line=1) from None
    if "name" not in header:
        raise ValidationError("the header row has no 'name' column", source=source, line=1, field="name")
    unknown = [h for h in header if h not in SANCTIONS_HEADERS]
    if unknown:
        raise ValidationError(f"unknown column '{unknown[0]}' (columns: {', '.join(SANCTIONS_HEADERS)})",
                              source=source, line=1, field=unknown[0])
    if len(set(header)) != len(header):
        raise ValidationError("a column is named twice", source=source, line=1)
    idx = {h: i for i, h in enumerate(header)}
    out: list[SanctionsEntry] = []
    seen: set[str] = set()
    try:
        for row in reader:
            line = reader.line_num
            if not any(c.strip() for c in row):
                continue
            if len(row) != len(header):
                raise ValidationError(f"{len(row)} fields, the header has {len(header)}", source=source, line=line)
            for h, cell in zip(header, row):
                bad = next((c for c in cell if ord(c) < 32 and c not in "\t"), None)
                if bad is not None:
                    raise ValidationError(f"the {h} contains a control character (U+{ord(bad):04X}): "
                                          "binary data or a damaged file", source=source, line=line, field=h)
            get = lambda h: row[idx[h]].strip() if h in idx else ""  # noqa: E731
            for h in ("list", "reference"):
                if len(get(h)) > 64:
                    raise ValidationError(f"a {h} is at most 64 characters", source=source, line=line, field=h)
            name = " ".join(get("name").split())
            if not name:
                raise ValidationError("the name is empty", source=source, line=line, field="name")
            if len(name) > 200:
                raise ValidationError("a name is at most 200 characters", source=source, line=line, field="name")
            country = get("country").upper()
            if country and (len(country) != 2 or not country.isalpha() or not country.isascii()):
                raise ValidationError(f"'{country}' is not a two-letter ISO 3166 country code", source=source,
                                      line=line, field="country")
            key = name_key(name)
            if not key:
                raise ValidationError(f"'{name}' has no letters or digits", source=source, line=line, field="name")
            if key in seen:
                continue
            seen.add(key)
            out.append(SanctionsEntry(name, key, country, get("list"), get("reference")))
    except csv.Error as exc:
        raise ValidationError(f"not a valid CSV file ({exc})", source=source, line=reader.line_num) from None
    if not out:
        raise ValidationError("the file has a header but no entries", source=source, line=2)
    return out
