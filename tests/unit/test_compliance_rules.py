"""Each compliance rule type at, just below and just above its limit; bad rule definitions and
sanctions lists refused naming the field (domain only: pure functions, no database)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from cio_desktop.domain import compliance as dc
from cio_desktop.domain.compliance import Instrument, Outcome, PaymentFacts, PortfolioFacts, SameDayPayment
from cio_desktop.errors import ComplianceViolation, ValidationError

DAY = date(2026, 11, 2)


def rule(rule_type: str, severity: str = "block", **params):  # noqa: ANN003, ANN201
    spec = dc.validate_rule(name=f"r {rule_type}", rule_type=rule_type, parameters=params, severity=severity)
    return dc.RuleSpec(**{**spec.__dict__, "rule_id": 1, "version": 3})


def pay(amount: str, currency: str = "EUR", **kw) -> PaymentFacts:  # noqa: ANN003
    base = dict(amount=Decimal(amount), currency=currency, account_id=1, counterparty="ACME GmbH",
                countries=("DE",), execution_date=DAY)
    base.update(kw)
    return PaymentFacts(**base)


def no_rate(frm: str, to: str) -> None:
    return None


def one(r, facts, rate=no_rate) -> dc.RuleResult:  # noqa: ANN001
    return dc.evaluate_payment([r], facts, rate)[0]


# -- payment rules at / below / above ------------------------------------------------------------------
@pytest.mark.parametrize("amount, outcome", [("999.99", Outcome.PASS), ("1000.00", Outcome.PASS),
                                             ("1000.01", Outcome.BLOCK)])
def test_max_single_payment_at_below_above(amount, outcome):
    r = one(rule("max_single_payment", amount="1000", currency="EUR"), pay(amount))
    assert r.outcome is outcome
    assert r.rule_id == 1 and r.version == 3
    if outcome is Outcome.BLOCK:
        assert "1,000.01 EUR" in r.actual and "1,000.00 EUR" in r.message and r.headroom.startswith("-0.01")


def test_max_single_payment_converts_and_fails_closed_without_a_rate():
    r = rule("max_single_payment", amount="1000", currency="EUR")
    assert one(r, pay("1000", "USD"), lambda f, t: Decimal("0.9")).outcome is Outcome.PASS
    assert one(r, pay("1111.11", "USD"), lambda f, t: Decimal("0.9")).outcome is Outcome.PASS   # 999.999 EUR
    assert one(r, pay("1112", "USD"), lambda f, t: Decimal("0.9")).outcome is Outcome.BLOCK     # 1000.80 EUR
    missing = one(r, pay("1", "USD"))
    assert missing.outcome is Outcome.BLOCK and "no USD/EUR FX rate" in missing.message


def test_max_single_payment_conversion_boundary():
    r = rule("max_single_payment", amount="900", currency="EUR")
    rate = lambda f, t: Decimal("0.9")  # noqa: E731
    assert one(r, pay("1000", "USD"), rate).outcome is Outcome.PASS      # exactly 900 EUR
    assert one(r, pay("1000.01", "USD"), rate).outcome is Outcome.BLOCK  # 900.009 EUR


@pytest.mark.parametrize("amount, outcome", [("399.99", Outcome.PASS), ("400.00", Outcome.PASS),
                                             ("400.01", Outcome.WARN)])
def test_daily_limit_per_account_at_below_above(amount, outcome):
    same = (SameDayPayment(1, Decimal("600"), "EUR"), SameDayPayment(2, Decimal("5000"), "EUR"))
    r = one(rule("daily_outgoing_limit", "warn", amount="1000", currency="EUR", per="account"),
            pay(amount, same_day=same))
    assert r.outcome is outcome


@pytest.mark.parametrize("amount, outcome", [("3999.99", Outcome.PASS), ("4000", Outcome.PASS),
                                             ("4000.01", Outcome.BLOCK)])
def test_daily_limit_per_entity_counts_every_account_but_not_internal_transfers(amount, outcome):
    same = (SameDayPayment(1, Decimal("600"), "EUR"), SameDayPayment(2, Decimal("5400"), "EUR"),
            SameDayPayment(3, Decimal("99999"), "EUR", internal=True))
    r = one(rule("daily_outgoing_limit", amount="10000", currency="EUR", per="entity"),
            pay(amount, same_day=same))
    assert r.outcome is outcome


def test_counterparty_block_matches_names_loosely_and_the_sanctions_list():
    r = rule("counterparty_block", names=["Blocked Trading Ltd."])
    assert one(r, pay("1", counterparty="BLOCKED   trading, ltd")).outcome is Outcome.BLOCK
    assert one(r, pay("1", counterparty="Blocked Trading Ltd 2")).outcome is Outcome.PASS
    s = rule("counterparty_block", names=[], sanctions_list=True)
    key = dc.name_key("Société Générale Noire")
    assert one(s, pay("1", counterparty="societe generale noire", sanctioned=frozenset({key}))).outcome is Outcome.BLOCK
    assert one(s, pay("1", counterparty="societe generale noire")).outcome is Outcome.PASS


def test_country_block_checks_every_country_of_the_payment():
    r = rule("country_block", countries=["ir", "KP"])
    assert one(r, pay("1", countries=("DE",))).outcome is Outcome.PASS
    hit = one(r, pay("1", countries=("DE", "IR")))
    assert hit.outcome is Outcome.BLOCK and "IR" in hit.message


@pytest.mark.parametrize("amount, outcome", [("4000", Outcome.PASS), ("5000", Outcome.PASS),
                                             ("5000.01", Outcome.BLOCK)])
def test_min_liquidity_at_below_above(amount, outcome):
    r = rule("min_liquidity", amount="10000", currency="EUR")
    res = one(r, pay(amount, liquidity={"EUR": Decimal("15000")}))
    assert res.outcome is outcome
    assert one(r, pay("99999", "USD", liquidity={"EUR": Decimal(0)})).outcome is Outcome.NOT_APPLICABLE
    assert one(r, pay("99999", internal=True, liquidity={"EUR": Decimal(0)})).outcome is Outcome.NOT_APPLICABLE


def test_scope_and_validity_make_a_rule_not_applicable():
    spec = dc.validate_rule(name="x", rule_type="max_single_payment", parameters={"amount": "1", "currency": "EUR"},
                            scope={"account_ids": [7]}, valid_from="2026-12-01")
    assert one(spec, pay("5")).outcome is Outcome.NOT_APPLICABLE
    assert dc.evaluate_payment([spec], pay("5", account_id=7), no_rate, day=DAY)[0].outcome is Outcome.NOT_APPLICABLE
    assert dc.evaluate_payment([spec], pay("5", account_id=7), no_rate, day=date(2026, 12, 1))[0].outcome \
        is Outcome.BLOCK


# -- portfolio rules ------------------------------------------------------------------------------------
INS = {"A": Instrument("A", "equity", "Issuer1", "DE", "EUR", ""),
       "B": Instrument("B", "bond", "Issuer1", "FR", "EUR", "BBB-"),
       "C": Instrument("C", "bond", "Issuer2", "US", "USD", "BB+"),
       "D": Instrument("D", "crypto", "Issuer3", "US", "USD", "")}


def pf(values: dict[str, str], trades: dict[str, str] | None = None) -> PortfolioFacts:
    return PortfolioFacts(1, "EUR", {k: Decimal(v) for k, v in values.items()},
                          {k: Decimal(v) for k, v in (trades or {}).items()}, INS)


@pytest.mark.parametrize("buy, outcome", [("24.99", Outcome.PASS), ("25", Outcome.PASS), ("25.01", Outcome.BLOCK)])
def test_max_asset_weight_at_below_above(buy, outcome):
    # A 0 → buy; B 75: after the trade A weighs buy / (75 + buy); the limit 25 % is hit at 25
    r = dc.evaluate_portfolio([rule("max_weight", dimension="asset", max="0.25")], pf({"B": "75"}, {"A": buy}))[0]
    assert r.outcome is outcome


def test_max_weight_does_not_block_a_trade_that_reduces_an_existing_breach():
    r = rule("max_weight", dimension="asset", max="0.25")
    assert dc.evaluate_portfolio([r], pf({"A": "80", "B": "20"}, {"A": "-10"}))[0].outcome is Outcome.PASS
    assert dc.evaluate_portfolio([r], pf({"A": "80", "B": "20"}, {"A": "10"}))[0].outcome is Outcome.BLOCK


@pytest.mark.parametrize("dimension, value, limit, outcome", [
    ("issuer", None, "0.60", Outcome.PASS),        # Issuer1 = A + B = 60 %
    ("issuer", None, "0.5999", Outcome.BLOCK),
    ("asset_class", "bond", "0.70", Outcome.PASS),  # bonds = 70 %
    ("asset_class", "bond", "0.6999", Outcome.BLOCK),
    ("country", None, "0.40", Outcome.PASS),       # US = C = 40 %
    ("country", None, "0.3999", Outcome.BLOCK),
    ("currency", "USD", "0.40", Outcome.PASS),
    ("currency", "USD", "0.3999", Outcome.BLOCK),
])
def test_max_weight_per_dimension(dimension, value, limit, outcome):
    params = {"dimension": dimension, "max": limit} | ({"value": value} if value else {})
    r = dc.evaluate_portfolio([rule("max_weight", **params)], pf({}, {"A": "30", "B": "30", "C": "40"}))[0]
    assert r.outcome is outcome


@pytest.mark.parametrize("limit, outcome", [("0.40", Outcome.PASS), ("0.41", Outcome.PASS), ("0.39", Outcome.BLOCK)])
def test_fx_exposure_at_below_above(limit, outcome):
    r = dc.evaluate_portfolio([rule("fx_exposure_limit", max=limit)], pf({"A": "60"}, {"C": "40"}))[0]
    assert r.outcome is outcome


def test_allowed_instruments_judges_purchases_only():
    r = rule("allowed_instruments", asset_classes=["equity", "bond"])
    assert dc.evaluate_portfolio([r], pf({"D": "10"}, {"D": "-5"}))[0].outcome is Outcome.PASS
    hit = dc.evaluate_portfolio([r], pf({"A": "10"}, {"D": "5"}))[0]
    assert hit.outcome is Outcome.BLOCK and "crypto" in hit.message


@pytest.mark.parametrize("minimum, outcome", [("BBB-", Outcome.PASS), ("Baa3", Outcome.PASS), ("BBB", Outcome.BLOCK)])
def test_min_credit_rating_at_below_above(minimum, outcome):
    r = rule("min_credit_rating", rating=minimum)
    assert dc.evaluate_portfolio([r], pf({}, {"B": "10", "A": "5"}))[0].outcome is outcome  # B is BBB-
    assert dc.evaluate_portfolio([r], pf({}, {"C": "10"}))[0].outcome is Outcome.BLOCK      # BB+: junk


def test_payment_rules_do_not_apply_to_portfolios_and_vice_versa():
    p = rule("max_single_payment", amount="1", currency="EUR")
    w = rule("max_weight", dimension="asset", max="0.1")
    assert dc.evaluate_portfolio([p], pf({}, {"A": "1"}))[0].outcome is Outcome.NOT_APPLICABLE
    assert one(w, pay("1")).outcome is Outcome.NOT_APPLICABLE


def test_overrides_turn_a_block_into_overridden_and_worst_orders_outcomes():
    r = one(rule("max_single_payment", amount="1", currency="EUR"), pay("2"))
    (o,) = dc.apply_overrides([r], {1})
    assert o.outcome is Outcome.OVERRIDDEN and dc.worst([o]) is Outcome.OVERRIDDEN
    assert dc.worst([]) is Outcome.PASS


def test_evaluation_is_deterministic():
    rules = [rule("max_single_payment", amount="100", currency="EUR"),
             rule("daily_outgoing_limit", amount="150", currency="EUR", per="entity")]
    f = pay("120", same_day=(SameDayPayment(2, Decimal("40"), "EUR"),))
    assert dc.evaluate_payment(rules, f, no_rate) == dc.evaluate_payment(rules, f, no_rate)


def test_violation_message_names_rule_limit_and_actual():
    exc = ComplianceViolation("Single payment cap", "too much", limit="at most 1,000.00 EUR per payment",
                              actual="1,000.01 EUR")
    assert "Single payment cap" in str(exc) and "1,000.00 EUR" in str(exc) and "1,000.01 EUR" in str(exc)


# -- bad rules ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rule_type, params, fieldname", [
    ("max_single_payment", {"amount": "-1", "currency": "EUR"}, "parameters.amount"),
    ("max_single_payment", {"amount": "0", "currency": "EUR"}, "parameters.amount"),
    ("max_single_payment", {"currency": "EUR"}, "parameters.amount"),
    ("max_single_payment", {"amount": "10", "currency": "EURO"}, "parameters.currency"),
    ("max_single_payment", {"amount": 1.5, "currency": "EUR"}, "parameters.amount"),
    ("max_single_payment", {"amount": "abc", "currency": "EUR"}, "parameters.amount"),
    ("max_single_payment", {"amount": "1", "currency": "EUR", "colour": "red"}, "parameters.colour"),
    ("daily_outgoing_limit", {"amount": "10", "currency": "EUR", "per": "user"}, "parameters.per"),
    ("country_block", {"countries": ["DEU"]}, "parameters.countries"),
    ("country_block", {"countries": []}, "parameters.countries"),
    ("counterparty_block", {"names": []}, "parameters.names"),
    ("min_liquidity", {"amount": "-5", "currency": "EUR"}, "parameters.amount"),
    ("min_liquidity", {"amount": "5", "currency": "XXQ"}, "parameters.currency"),
    ("max_weight", {"dimension": "sector", "max": "0.2"}, "parameters.dimension"),
    ("max_weight", {"dimension": "asset", "max": "1.2"}, "parameters.max"),
    ("max_weight", {"dimension": "asset", "max": "0.2", "min": "0.3"}, "parameters.min"),
    ("min_credit_rating", {"rating": "Q+"}, "parameters.rating"),
    ("fx_exposure_limit", {"max": "-0.1"}, "parameters.max"),
    ("allowed_instruments", {"asset_classes": []}, "parameters.asset_classes"),
    ("no_such_type", {}, "type"),
])
def test_bad_rules_are_refused_naming_the_field(rule_type, params, fieldname):
    with pytest.raises(ValidationError) as err:
        dc.validate_rule(name="bad", rule_type=rule_type, parameters=params)
    assert err.value.field == fieldname


def test_bad_validity_scope_name_and_severity():
    ok = {"amount": "1", "currency": "EUR"}
    for kw, fieldname in ((dict(valid_from="2026-02-01", valid_to="2026-01-01"), "valid_to"),
                          (dict(scope={"currencies": ["ZZZ"]}), "scope.currencies"),
                          (dict(scope={"accounts": [1]}), "scope.accounts"),
                          (dict(severity="maybe"), "severity")):
        with pytest.raises(ValidationError) as err:
            dc.validate_rule(name="x", rule_type="max_single_payment", parameters=ok, **kw)
        assert err.value.field == fieldname
    with pytest.raises(ValidationError) as err:
        dc.validate_rule(name="  ", rule_type="max_single_payment", parameters=ok)
    assert err.value.field == "name"


# -- sanctions lists ------------------------------------------------------------------------------------
def test_sanctions_csv_parses_and_deduplicates():
    entries = dc.parse_sanctions_csv("name,country,list\nEvil Corp,KP,UN\n\"evil  corp.\",KP,EU\nBad Bank,,OFAC\n")
    assert [e.name for e in entries] == ["Evil Corp", "Bad Bank"]
    assert entries[0].key == "evil corp" and entries[0].country == "KP"


@pytest.mark.parametrize("text, line, fieldname", [
    ("", None, None),
    ("country\nKP\n", 1, "name"),
    ("name,colour\nX,red\n", 1, "colour"),
    ("name,country\nEvil Corp,KPX\n", 2, "country"),
    ("name,country\nEvil Corp,KP\n,KP\n", 3, "name"),
    ("name,country\nEvil Corp\n", 2, None),
    ("name\n", 2, None),
])
def test_malformed_sanctions_csv_is_refused_with_line_and_field(text, line, fieldname):
    with pytest.raises(ValidationError) as err:
        dc.parse_sanctions_csv(text, "list.csv")
    assert err.value.line == line and err.value.field == fieldname and err.value.source == "list.csv"
