"""Property 28: every dashboard metric is present for any data state, including an empty one."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from cio_desktop.security.permissions import Role
from cio_desktop.services.dashboard import METRIC_KEYS, NO_DATA
from tests.conftest import TEST_KEY, FakeClock, make_settings
from tests.property.helpers import make_session
from tests.reports_fixtures import copy_db, data_states, load_state


@pytest.fixture(scope="module")
def state_ws(tmp_path_factory, golden_empty):  # noqa: ANN001, ANN201
    from cio_desktop.services.workspace import open_workspace

    root = tmp_path_factory.mktemp("dashboard_states")
    copy_db(golden_empty, root / "cio.db")
    ws = open_workspace(make_settings(root), key=TEST_KEY, clock=FakeClock())
    yield ws
    ws.close()


def _check(data) -> None:  # noqa: ANN001
    assert list(data.metrics) == list(METRIC_KEYS)
    for key, m in data.metrics.items():
        assert m.key == key and m.title and m.panel
        assert isinstance(m.value, str) and m.value
        if not m.available:
            assert m.value == NO_DATA and m.detail, f"{key}: no reason given"
            assert m.figure is None
        assert m.state in ("normal", "ok", "warning", "danger", "muted")
        assert not m.detail.startswith("could not be computed"), f"{key} crashed: {m.detail}"


@given(state=data_states(), role=st.sampled_from([Role.TREASURER, Role.VIEWER, Role.AUDITOR, Role.ADMIN]))
def test_property_28_dashboard_metrics_complete_for_any_state(state_ws, state, role) -> None:  # noqa: ANN001
    load_state(state_ws, state)
    make_session(state_ws, role.value)
    data = state_ws.dashboard.get_dashboard_data()
    _check(data)
    cash = data.metrics["cash_total"]
    if not state["accounts"]:
        assert not cash.available
    elif all(c == "EUR" or c in state["fx"] for c, _o, _m in state["accounts"]):
        assert cash.available and cash.figure is not None
    if role is Role.VIEWER:   # no payments.read: said so, not a crash or an audited refusal
        assert data.metrics["payments_awaiting_approval"].detail == "not visible to your role"
    budget = data.metrics["budget_variance"]   # no budget lines in these states: the last complete month
    assert budget.detail in ("no budget for October 2026", "not visible to your role")


def test_property_28_empty_database_is_all_no_data_but_complete(ws) -> None:  # noqa: ANN001
    make_session(ws, "treasurer")
    data = ws.dashboard.get_dashboard_data()
    _check(data)
    for key in ("cash_total", "liquidity", "portfolio_value", "risk_headroom", "cash_outlook"):
        assert not data.metrics[key].available, key
