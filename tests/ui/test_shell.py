"""The frame: registry panels per role, panel switching, events, theme, lock, crash dialog, app start."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from cio_desktop.errors import ValidationError
from cio_desktop.security.permissions import Role
from cio_desktop.services.auth import WRONG_CREDENTIALS
from cio_desktop.ui.dialogs.errors import ErrorPresenter, ExceptionHook
from cio_desktop.ui.dialogs.lock import IdleWatcher
from cio_desktop.ui.main_window import MainWindow, topic_matches
from cio_desktop.ui.panels.base import Panel
from cio_desktop.ui.panels.registry import PANELS
from cio_desktop.ui.panels.security import SecurityPanel
from cio_desktop.ui.panels.users import UsersPanel
from cio_desktop.ui.theme import THEMES, ThemeManager, load_stylesheet
from tests.conftest import TEST_PASSWORD, login
from tests.ui.shell_helpers import make_prefs, make_ui

REPO = Path(__file__).resolve().parents[2]


class _ProbePanel(Panel):
    NAME = "probe"
    TITLE = "Probe"
    SHORTCUT = "Ctrl+5"
    TOPICS = ("probe.*",)

    def build(self) -> None:
        self.builds = getattr(self, "builds", 0) + 1
        self.seen: list[tuple[str, dict]] = []

    def on_changes(self, topic: str, data: dict) -> None:
        self.seen.append((topic, data))


@pytest.fixture
def window_for(qtbot, ws, tmp_path):  # noqa: ANN001, ANN201
    made = []

    def make(role: str, panels=PANELS, *, mfa: bool = False, theme: bool = False,  # noqa: ANN001
             idle: IdleWatcher | None = None) -> MainWindow:
        login(ws, role, mfa=mfa)
        ui = make_ui(ws)
        prefs = make_prefs(tmp_path)
        manager = ThemeManager(QApplication.instance(), prefs) if theme else None
        if manager:
            manager.apply("light")
        window = MainWindow(ui, panels, theme=manager, idle=idle, prefs=prefs)
        qtbot.addWidget(window)
        made.append(window)
        return window

    yield make
    for w in made:
        w.teardown()


def test_registry_is_one_explicit_list() -> None:
    names = [p.NAME for p in PANELS]
    # a treasurer's day: overview, cash, investments, control, administration (the dashboard is
    # the first screen, issue 11); the registry module's docstring lists the shortcuts
    assert names == ["dashboard", "alerts", "accounts", "ledger", "payments", "forecast", "budget",
                     "portfolio", "risk", "market", "opportunities", "advisory", "compliance",
                     "analytics", "connections", "jobs", "users", "security"]
    assert len(set(names)) == len(names)
    shortcuts = [p.SHORTCUT for p in PANELS if p.SHORTCUT]
    assert len(set(shortcuts)) == len(shortcuts)
    assert all(issubclass(p, Panel) for p in PANELS)


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_window_shows_the_registry_panels_the_role_may_use(window_for, ws, role) -> None:  # noqa: ANN001
    window = window_for(role)
    session = ws.ctx.session
    expected = [p.NAME for p in PANELS if p.PERMISSION is None or session.can(p.PERMISSION)]
    assert window.panel_names == expected
    assert [window.sidebar.item(i).text() for i in range(window.sidebar.count())] == \
        [p.TITLE for p in PANELS if p.NAME in expected]
    assert "security" in expected
    assert ("users" in expected) == (role in ("admin", "auditor"))


def test_viewer_does_not_see_users_and_admin_does(window_for) -> None:  # noqa: ANN001
    viewer = window_for("viewer")
    assert "users" not in viewer.panel_names and viewer.panel("users") is None
    assert not viewer.show_panel("users")
    admin = window_for("admin")
    assert "users" in admin.panel_names


def test_switching_panels_builds_each_once(window_for, ws) -> None:  # noqa: ANN001
    window = window_for("admin")
    first = window.current_panel
    assert first is not None and first.NAME == window.panel_names[0] and first._built
    assert not window.panel("security")._built  # lazy: not opened yet

    window.sidebar.setCurrentRow(window.panel_names.index("security"))
    assert isinstance(window.current_panel, SecurityPanel) and window.current_panel._built

    window.panel_actions["users"].trigger()
    assert isinstance(window.current_panel, UsersPanel)
    assert window.sidebar.currentItem().text() == "Users & Roles"
    assert window.panel_actions["users"].shortcut().toString() == "Ctrl+8"
    assert window.panel_actions["security"].shortcut().toString() == "Ctrl+9"

    assert window.show_panel("security")
    assert window.stack.currentWidget() is window.panel("security")
    assert ws.ctx.session.username == "admin"
    assert window.ui_ctx.extra["errors"] == []


def test_events_reach_built_panels_that_declared_the_topic(window_for, ws) -> None:  # noqa: ANN001
    window = window_for("viewer", [_ProbePanel, SecurityPanel])
    probe = window.panel("probe")
    assert probe._built and probe.builds == 1
    ws.ctx.bus.publish("probe.changed", id=7)
    ws.ctx.bus.publish("other.changed", id=8)
    assert probe.seen == [("probe.changed", {"id": 7})]
    window.show_panel("security")
    window.show_panel("probe")
    assert probe.builds == 1


def test_topic_matching() -> None:
    assert topic_matches(("users.changed",), "users.changed")
    assert topic_matches(("users.*",), "users.changed")
    assert not topic_matches(("users.*",), "usersx.changed")
    assert topic_matches(("*",), "anything")
    assert not topic_matches((), "users.changed")


def test_status_bar_and_title(window_for, ws) -> None:  # noqa: ANN001
    window = window_for("treasurer", [SecurityPanel])
    assert window.windowTitle() == f"CIO Desktop — {ws.db.display_name} — treasurer"
    assert ws.db.display_name in window.db_label.text()
    assert window.user_label.text() == "User: treasurer · treasurer"
    assert window.sync_label.text() == "Last sync: never"
    window.set_note("demo key")
    assert not window.note_label.isHidden() and window.note_label.text() == "demo key"
    window.ui_ctx.status("hello")
    assert window.statusBar().currentMessage() == "hello"


def test_theme_toggle_switches_style_sheet_and_is_remembered(window_for, tmp_path) -> None:  # noqa: ANN001
    window = window_for("viewer", [SecurityPanel], theme=True)
    app = QApplication.instance()
    assert window.theme.current == "light" and not window.theme_action.isChecked()
    window.theme_action.trigger()
    assert window.theme.current == "dark" and window.theme_action.isChecked()
    assert app.styleSheet() == load_stylesheet("dark")
    assert make_prefs(tmp_path).value("theme") == "dark"
    assert window.theme_action.shortcut().toString() == "Ctrl+Shift+T"
    window.toggle_theme()
    assert window.theme.current == "light" and app.styleSheet() == load_stylesheet("light")
    assert make_prefs(tmp_path).value("theme") == "light"


def test_style_sheets_exist_and_package_copy_matches_the_repository() -> None:
    for name in THEMES:
        text = load_stylesheet(name)
        assert "QHeaderView::section" in text and "QListWidget#sidebar" in text
        repo = REPO / "resources" / "styles" / f"{name}.qss"
        package = REPO / "cio_desktop" / "resources" / f"{name}.qss"
        assert repo.read_text(encoding="utf-8") == package.read_text(encoding="utf-8")
        images = re.findall(r'url\("([^"]+)"\)', text)   # e.g. the spin box arrows
        assert images and all(Path(i).is_file() for i in images), images


def test_ctrl_l_locks_and_the_password_unlocks(qtbot, window_for, ws) -> None:  # noqa: ANN001
    window = window_for("treasurer", [_ProbePanel, SecurityPanel])
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    assert window.lock_action.shortcut().toString() == "Ctrl+L"
    window.lock_action.trigger()  # what Ctrl+L does
    assert window.locked and ws.ctx.session.locked
    assert window.overlay.isVisible() and not window.central.isEnabled()
    assert window.overlay.geometry() == window.rect()
    assert not window.show_panel("security")  # nothing opens behind the lock

    window.overlay.password_edit.setText("not my password")
    qtbot.mouseClick(window.overlay.unlock_button, Qt.MouseButton.LeftButton)
    assert window.locked and window.overlay.isVisible()
    assert window.overlay.error_label.text() == WRONG_CREDENTIALS

    window.overlay.password_edit.setText(TEST_PASSWORD)
    qtbot.keyClick(window.overlay.password_edit, Qt.Key.Key_Return)
    assert not window.locked and not ws.ctx.session.locked
    assert not window.overlay.isVisible() and window.central.isEnabled()
    assert window.current_panel.NAME == "probe"  # the work is where it was


def test_ctrl_l_key_press_locks(qtbot, window_for, ws) -> None:  # noqa: ANN001
    window = window_for("treasurer", [_ProbePanel])
    window.show()
    qtbot.waitExposed(window)
    with qtbot.waitActive(window, timeout=2000):
        window.activateWindow()
    qtbot.keyClick(window.sidebar, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.locked, timeout=2000)
    assert ws.ctx.session.locked


def test_idle_timeout_locks_the_window(qtbot, window_for, ws) -> None:  # noqa: ANN001
    idle = IdleWatcher(QApplication.instance(), 60)
    window = window_for("analyst", [_ProbePanel], idle=idle)
    window.show()
    assert idle.active
    qtbot.waitUntil(lambda: window.locked, timeout=3000)
    assert ws.ctx.session.locked and window.overlay.isVisible()
    assert not idle.active  # no second lock while locked
    window.overlay.password_edit.setText(TEST_PASSWORD)
    window.overlay.submit()
    assert not window.locked and idle.active
    idle.close()


def test_idle_minutes_come_from_settings(ws) -> None:  # noqa: ANN001
    watcher = IdleWatcher.from_minutes(QApplication.instance(), ws.ctx.settings.idle_lock_minutes)
    assert watcher.timeout_ms == ws.ctx.settings.idle_lock_minutes * 60_000
    watcher.close()


def test_lockout_while_unlocking_ends_the_session(qtbot, window_for, ws) -> None:  # noqa: ANN001
    window = window_for("treasurer", [_ProbePanel])
    window.lock()
    with qtbot.waitSignal(window.session_ended, timeout=2000) as blocker:
        for _ in range(ws.ctx.settings.lockout_attempts):
            window.overlay.password_edit.setText("wrong password!")
            window.overlay.submit()
    assert "locked" in blocker.args[0]
    assert ws.ctx.session.ended


def test_logout_from_menu_and_lock_screen_is_requested(qtbot, window_for) -> None:  # noqa: ANN001
    window = window_for("viewer", [_ProbePanel])
    with qtbot.waitSignal(window.logout_requested, timeout=1000):
        window.logout_action.trigger()
    window.lock()
    with qtbot.waitSignal(window.logout_requested, timeout=1000):
        window.overlay.logout_button.click()


def test_keyboard_shortcut_list_names_every_panel(window_for) -> None:  # noqa: ANN001
    window = window_for("admin")
    rows = dict(window.shortcut_rows())
    assert rows["Ctrl+L"] == "Lock the workstation"
    for panel in window.panels:
        if panel.SHORTCUT:
            assert rows[panel.SHORTCUT] == f"Open {panel.TITLE}"
    window.show_shortcuts()
    assert window.shortcuts_dialog.isVisible()
    window.shortcuts_dialog.close()


def test_crash_hook_shows_one_dialog_and_counts_repeats(qtbot, tmp_path) -> None:  # noqa: ANN001
    hook = ExceptionHook(tmp_path / "cio-desktop.log")
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        hook.report(exc)
        hook.report(exc)
    qtbot.waitUntil(lambda: hook.count == 2, timeout=2000)
    dialog = hook.dialog
    assert dialog is not None and dialog.isVisible()
    qtbot.addWidget(dialog)
    assert str(tmp_path / "cio-desktop.log") in dialog.log_label.text()
    assert "RuntimeError: boom" in dialog.summary.text()
    assert dialog.repeats == 1
    dialog.close()
    hook.report(RuntimeError("boom"))  # same place again: not shown a second time
    qtbot.waitUntil(lambda: hook.count == 3, timeout=2000)
    assert not dialog.isVisible()


def test_error_presenter_shows_plain_words_for_cio_errors(qtbot) -> None:  # noqa: ANN001
    hook = ExceptionHook(None, show=False)
    presenter = ErrorPresenter(hook)
    presenter(ValidationError("amount must be positive", field="amount"))
    assert presenter.last_message == "field 'amount': amount must be positive"
    assert presenter.box is not None and presenter.box.text() == presenter.last_message
    presenter.box.close()
    presenter(KeyError("x"))
    qtbot.waitUntil(lambda: hook.count == 1, timeout=2000)


def _app_env(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("DATA", "LOG", "CACHE", "CONFIG"):
        env[f"CIO_{name}_DIR"] = str(root / name.lower())
    env.update(CIO_KEYRING="memory", QT_QPA_PLATFORM="offscreen")
    env.pop("CIO_DB_PASSPHRASE", None)
    env.pop("CIO_DB", None)
    return env


def test_demo_start_builds_the_database_and_exits_cleanly(tmp_path) -> None:  # noqa: ANN001
    env = _app_env(tmp_path)
    cmd = [sys.executable, "-m", "cio_desktop", "--demo", "--exit-after-start"]
    first = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "data" / "demo.db").is_file()
    assert "window shown" in first.stdout
    assert "password: Treasury-Demo-2026" in first.stdout
    # the second start opens the existing file with the same (demo) key
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "window shown" in second.stdout
    log = (tmp_path / "log" / "cio-desktop.log").read_text(encoding="utf-8")
    assert "main window shown" in log and "Traceback" not in log


def test_unopenable_database_exits_with_code_2_and_a_message(tmp_path) -> None:  # noqa: ANN001
    env = _app_env(tmp_path)
    missing = tmp_path / "nowhere.db"
    result = subprocess.run([sys.executable, "-m", "cio_desktop", "--db", str(missing),
                             "--exit-after-start"], env=env, capture_output=True, text=True,
                            timeout=120, cwd=tmp_path)
    assert result.returncode == 2
    assert "there is no database at" in result.stderr and "Traceback" not in result.stderr
    not_ours = tmp_path / "junk.db"
    not_ours.write_bytes(b"this is not a database" * 100)
    env["CIO_DB_PASSPHRASE"] = "whatever it is"
    result = subprocess.run([sys.executable, "-m", "cio_desktop", "--db", str(not_ours),
                             "--exit-after-start"], env=env, capture_output=True, text=True,
                            timeout=120, cwd=tmp_path)
    assert result.returncode == 2
    assert "wrong key or not a CIO Desktop database" in result.stderr
    assert "Traceback" not in result.stderr
