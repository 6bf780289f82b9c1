"""Settings dialog (issue 12): database location, TLS exceptions, backup and restore — driven
with pytest-qt against the real services (real settings file, real SQLCipher backup, the
throwaway PostgreSQL server for the connection tests)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtGui import QKeySequence
from sqlalchemy import func, select

from cio_desktop.config import load_settings
from cio_desktop.errors import PermissionDenied
from cio_desktop.services.audit import audit_log
from cio_desktop.storage.models import AuditEntry
from cio_desktop.ui.dialogs.settings_dialog import SettingsDialog
from cio_desktop.ui.main_window import MainWindow
from tests.conftest import login
from tests.tls_certs import make_cert_kit
from tests.ui.shell_helpers import make_prefs, make_ui


@pytest.fixture
def dialog_for(qtbot, ws, tmp_path):  # noqa: ANN001, ANN201
    def make(role: str = "admin", *, mfa: bool = False) -> SettingsDialog:
        login(ws, role, mfa=mfa)
        ui = make_ui(ws)
        dialog = SettingsDialog(ui, settings_file=tmp_path / "config.toml")
        qtbot.addWidget(dialog)
        dialog.show()
        return dialog

    return make


def _audit(ws, action: str) -> list[AuditEntry]:  # noqa: ANN001
    with ws.db.unit_of_work(write=False) as uow:
        return list(uow.execute(select(AuditEntry).where(AuditEntry.action == action)
                                .order_by(AuditEntry.id)).scalars())


def _entries(ws) -> int:  # noqa: ANN001
    with ws.db.unit_of_work(write=False) as uow:
        return uow.execute(select(func.count()).select_from(AuditEntry)).scalar_one()


# -- menu and roles ---------------------------------------------------------------------------------

def test_settings_menu_is_for_administrators_and_ctrl_comma_opens_it(qtbot, ws, tmp_path):
    login(ws, "admin")
    ui = make_ui(ws)
    ui.extra["settings_file"] = tmp_path / "config.toml"
    window = MainWindow(ui, [], prefs=make_prefs(tmp_path))
    qtbot.addWidget(window)
    try:
        assert window.settings_action.isVisible() and window.settings_action.isEnabled()
        assert window.settings_action.shortcut() == QKeySequence("Ctrl+,")
        assert ("Ctrl+,", "Settings: database, TLS exceptions, backup") in window.shortcut_rows()
        window.settings_action.trigger()
        dialog = window.settings_dialog
        assert isinstance(dialog, SettingsDialog) and dialog.isVisible()
        assert dialog.settings_file == tmp_path / "config.toml"
        assert window.open_settings() is dialog                      # one dialog, raised again
    finally:
        window.teardown()

    login(ws, "treasurer")
    ui = make_ui(ws)
    window = MainWindow(ui, [], prefs=make_prefs(tmp_path))
    qtbot.addWidget(window)
    try:
        assert not window.settings_action.isVisible() and window.open_settings() is None
    finally:
        window.teardown()


def test_other_roles_get_a_disabled_dialog_and_the_service_refuses(dialog_for, ws, tmp_path):
    dialog = dialog_for("treasurer")
    assert not dialog.tabs.isEnabled() and dialog.denied.isVisible()
    with pytest.raises(PermissionDenied):
        ws.settings_admin.save(db="", pg_ca_file="", allow_insecure_hosts="x.example.org",
                                          path=tmp_path / "config.toml")
    with pytest.raises(PermissionDenied):
        ws.settings_admin.check_database("postgresql://u@localhost:1/x")
    assert not (tmp_path / "config.toml").exists()


# -- saving ---------------------------------------------------------------------------------------------

def test_saved_settings_round_trip_through_the_file_the_app_reads_at_start(dialog_for, ws, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('# written by the operator\ntheme = "dark"\n')
    kit = make_cert_kit(tmp_path / "certs")
    dialog = dialog_for("admin")
    assert dialog.use_file.isChecked() and not dialog.db_url.isEnabled()
    dialog.use_team.setChecked(True)
    assert dialog.db_url.isEnabled() and not dialog.db_file.isEnabled()
    dialog.db_url.setText("postgresql://treasury@db.example.org:5432/cio")
    dialog.ca_file.setText(str(kit.ca))
    dialog.insecure_hosts.setText("Legacy-Bank.example.org,  legacy-bank.example.org relay.example.org")
    dialog.save_button.click()

    assert "Takes effect the next time CIO Desktop starts" in dialog.save_status.text()
    assert dialog.save_status.property("ok") is True
    settings = load_settings(environ={"CIO_CONFIG": str(config)})          # what the next start reads
    assert settings.db == "postgresql://treasury@db.example.org:5432/cio" and settings.is_postgres
    assert settings.pg_ca_file == str(kit.ca.resolve())
    assert settings.insecure_hosts == frozenset({"legacy-bank.example.org", "relay.example.org"})
    assert settings.theme == "dark" and "# written by the operator" in config.read_text()
    assert ws.db.kind == "sqlite"                                          # the running workspace is unchanged
    [entry] = _audit(ws, "settings.changed")
    assert entry.actor == "admin" and "db.example.org" in entry.summary and "relay.example.org" in entry.summary

    again = dialog_for("admin")                                            # a new dialog reads it back
    assert again.use_team.isChecked()
    assert again.db_url.text() == "postgresql://treasury@db.example.org:5432/cio"
    assert again.ca_file.text() == str(kit.ca.resolve())
    assert again.insecure_hosts.text() == "legacy-bank.example.org, relay.example.org"

    again.use_file.setChecked(True)
    again.db_file.setText(ws.db.target)
    again.insecure_hosts.setText("")
    again.save_button.click()
    settings = load_settings(environ={"CIO_CONFIG": str(config)})
    assert settings.db == str(Path(ws.db.target).resolve()) and not settings.is_postgres
    assert settings.insecure_hosts == frozenset()
    assert len(_audit(ws, "settings.changed")) == 2


@pytest.mark.parametrize("field, value, words", [
    ("url", "postgresql://treasury:s3cret-pw@db.example.org/cio", "passwords are never written"),
    ("url", "postgresql://treasury@db.example.org/cio?sslmode=require", "refusing sslmode=require"),
    ("hosts", "*.example.org", "not a host name"),
    ("ca", "/nowhere/ca.pem", "does not exist"),
    ("file", "/nowhere/cio.db", "there is no database file"),
])
def test_bad_settings_are_refused_with_a_clear_message_and_nothing_is_written(dialog_for, ws, tmp_path,
                                                                             field, value, words):
    dialog = dialog_for("admin")
    if field == "file":
        dialog.use_file.setChecked(True)
        dialog.db_file.setText(value)
    else:
        dialog.use_team.setChecked(True)
        dialog.db_url.setText(value if field == "url" else "postgresql://treasury@db.example.org/cio")
        if field == "hosts":
            dialog.insecure_hosts.setText(value)
        if field == "ca":
            dialog.ca_file.setText(value)
    dialog.save_button.click()
    msg = dialog.save_status.text()
    assert words in msg and dialog.save_status.property("error") is True, msg
    assert "s3cret-pw" not in msg
    assert not (tmp_path / "config.toml").exists() and _audit(ws, "settings.changed") == []


# -- test connection --------------------------------------------------------------------------------

def test_connection_test_failures_show_the_reason(dialog_for, pg_cluster):
    dialog = dialog_for("admin")
    dialog.use_team.setChecked(True)
    results = []
    dialog.tested.connect(results.append)
    unreachable = pg_cluster.url("postgres").replace(f":{pg_cluster.port}/", ":1/")
    dialog.db_url.setText(unreachable)
    dialog.test_button.click()
    assert "not reachable" in dialog.test_status.text() and dialog.test_status.property("error") is True
    assert "pg-test-Secret" not in dialog.test_status.text()
    assert dialog.test_button.isEnabled() and not dialog.test_busy.isVisible()

    dialog.db_url.setText(pg_cluster.url("postgres", rootcert=pg_cluster.certs.self_signed_cert))
    dialog.test_button.click()
    assert "certificate could not be verified (it is not signed by a trusted CA)" in dialog.test_status.text()

    dialog.db_url.setText(pg_cluster.url("postgres", sslmode="require"))
    dialog.test_button.click()
    assert "refusing sslmode=require for localhost" in dialog.test_status.text()
    assert [r.ok for r in results] == [False, False, False]


def test_connection_test_success_names_the_tls_version(dialog_for, pg_cluster):
    dialog = dialog_for("admin")
    dialog.use_team.setChecked(True)
    dialog.db_url.setText(pg_cluster.url("postgres"))
    dialog.test_button.click()
    text = dialog.test_status.text()
    assert "Connected to postgresql://cio_admin@localhost" in text and "certificate verified" in text, text
    assert "TLSv1.3" in text or "TLSv1.2" in text
    assert dialog.test_status.property("ok") is True


def test_connection_test_of_a_file(dialog_for, ws, tmp_path):
    dialog = dialog_for("admin")
    dialog.use_file.setChecked(True)
    dialog.db_file.setText(ws.db.target)
    dialog.test_button.click()
    assert "the database in use now" in dialog.test_status.text()
    dialog.db_file.setText(str(tmp_path / "missing.db"))
    dialog.test_button.click()
    assert "there is no database at" in dialog.test_status.text()


# -- backup and restore -----------------------------------------------------------------------------

def test_backup_now_writes_an_encrypted_file_that_restores(dialog_for, ws, tmp_path):
    dialog = dialog_for("admin", mfa=True)
    out = tmp_path / "nightly.cio-backup"
    dialog.choose_backup_file = lambda suggested: str(out)
    done = []
    dialog.backed_up.connect(done.append)
    dialog.backup_button.click()
    assert out.is_file() and done and done[0].path == out
    status = dialog.backup_status.text()
    assert str(out) in status and f"{out.stat().st_size:,} bytes" in status and "encrypted" in status, status
    assert dialog.backup_button.isEnabled() and not dialog.backup_busy.isVisible()
    assert out.read_bytes()[:16] != b"SQLite format 3\x00"
    at_backup = _entries(ws)

    with ws.db.unit_of_work() as uow:                                   # changes the restore must undo
        audit_log(uow, actor="after-backup", action="test.write", entity="test", entity_id=1)

    asked = []
    dialog.choose_restore_file = lambda start: str(out)
    dialog.confirm = lambda parent, title, text, action: asked.append(text) or True
    dialog.restore_button.click()
    assert dialog.last_check is not None and dialog.last_check.audit_entries == at_backup
    assert ws.db.display_name in asked[0] and str(out) in asked[0] and "will be lost" in asked[0]
    assert _entries(ws) == at_backup + 1                                 # the check replaced nothing
    assert not dialog.steps.isHidden() and "runs while CIO Desktop is closed" in dialog.steps_text.text()
    command = dialog.command.text()
    assert command.startswith("cio-desktop restore ") and str(out) in command and "--db" in command
    assert "--user admin" in command and "--otp" in command

    result = ws.backup.restore(out)                                     # what that command runs
    assert result.audit_entries == at_backup + 1
    assert _audit(ws, "test.write") == [] and ws.audit.verify().ok


def test_restore_of_a_damaged_backup_or_a_cancel_changes_nothing(dialog_for, ws, tmp_path):
    dialog = dialog_for("admin")
    out = tmp_path / "b.cio-backup"
    dialog.choose_backup_file = lambda s: str(out)
    dialog.backup_button.click()
    before = _entries(ws)

    dialog.confirm = lambda *a: False
    dialog.choose_restore_file = lambda s: str(out)
    dialog.restore_button.click()
    assert "Restore cancelled; nothing was changed" in dialog.restore_status.text()
    assert dialog.steps.isHidden()

    out.write_bytes(out.read_bytes()[:4096])
    dialog.confirm = lambda *a: pytest.fail("a damaged backup must not reach the confirmation")
    dialog.restore_button.click()
    msg = dialog.restore_status.text()
    assert ("damaged" in msg or "truncated" in msg) and "nothing was changed" in msg, msg
    assert dialog.restore_status.property("error") is True and dialog.steps.isHidden()
    assert _entries(ws) == before


def test_backup_into_an_existing_file_is_refused(dialog_for, tmp_path):
    dialog = dialog_for("admin")
    keep = tmp_path / "keep.cio-backup"
    keep.write_bytes(b"keep me")
    dialog.choose_backup_file = lambda s: str(keep)
    dialog.backup_button.click()
    assert "already exists" in dialog.backup_status.text() and keep.read_bytes() == b"keep me"
