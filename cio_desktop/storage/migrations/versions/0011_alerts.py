"""alerts, notifications, escalation, job store

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27 12:00:00

Seeds the default threshold rules (editable as data): portfolio drawdown, loss over 5 days and
position weight; any risk-limit breach and VaR; budget variance; balance below the account's
minimum and forecast below buffer; sync, job and notification-channel failures. Critical rules
escalate every 30 minutes along treasurer -> approver (head of treasury) -> admin (CFO role in
the demo). ``apscheduler_jobs`` is APScheduler's job-store table.
"""
from alembic import op
import sqlalchemy as sa
import cio_desktop.storage.types

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

TS = cio_desktop.storage.types.UTCDateTime(timezone=True)
BIGID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')

PATH = '["role:treasurer", "role:approver", "role:admin"]'
# name, source, metric, comparison, threshold, params, severity, escalation minutes
RULES = [
    ("Portfolio drawdown", "portfolio", "drawdown", "above", "0.05", "{}", "warning", None),
    ("Portfolio loss over 5 days", "portfolio", "loss_n_days", "above", "0.03", '{"days": 5}', "warning", None),
    ("Position weight", "portfolio", "weight", "above", "0.10", "{}", "warning", None),
    ("Risk limit breach", "risk", "limit_breach", "above", "0", "{}", "critical", 30),
    ("Value at risk", "risk", "var", "above", "0.005", '{"confidence": 0.95}', "warning", None),
    ("Budget variance", "budget", "variance", "above", "0.10", "{}", "warning", None),
    ("Balance below minimum", "liquidity", "balance_below_min", "below", "0", "{}", "critical", 30),
    ("Forecast below buffer", "liquidity", "forecast_below_buffer", "below", "0", "{}", "warning", None),
    ("Connection sync failed", "sync", "failure", "above", "0", "{}", "warning", None),
    ("Job failed", "job", "failure", "above", "0", "{}", "warning", None),
    ("Notification channel failing", "notify", "channel_failure", "above", "0", "{}", "warning", None),
]


def upgrade() -> None:
    op.create_table(
        'alert_rules',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=128), nullable=False),
        sa.Column('source', sa.String(length=32), nullable=False),
        sa.Column('metric', sa.String(length=64), nullable=False),
        sa.Column('subject', sa.String(length=128), nullable=False),
        sa.Column('comparison', sa.String(length=8), nullable=False),
        sa.Column('threshold', sa.String(length=64), nullable=False),
        sa.Column('params', sa.Text(), nullable=False),
        sa.Column('severity', sa.String(length=16), nullable=False),
        sa.Column('escalation_minutes', sa.Integer(), nullable=True),
        sa.Column('escalation_path', sa.Text(), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('updated_by', sa.String(length=64), nullable=False),
        sa.Column('updated_at', TS, nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_rules')),
        sa.UniqueConstraint('name', name=op.f('uq_alert_rules_name')),
    )
    op.create_table(
        'alerts',
        sa.Column('id', BIGID, nullable=False),
        sa.Column('rule_id', sa.Integer(), nullable=True),
        sa.Column('rule', sa.String(length=128), nullable=False),
        sa.Column('source', sa.String(length=32), nullable=False),
        sa.Column('subject', sa.String(length=128), nullable=False),
        sa.Column('open_key', sa.String(length=200), nullable=True),
        sa.Column('severity', sa.String(length=16), nullable=False),
        sa.Column('title', sa.String(length=255), nullable=False),
        sa.Column('message', sa.Text(), nullable=False),
        sa.Column('measured', sa.String(length=64), nullable=False),
        sa.Column('threshold', sa.String(length=64), nullable=False),
        sa.Column('unit', sa.String(length=16), nullable=False),
        sa.Column('panel', sa.String(length=32), nullable=False),
        sa.Column('ref', sa.String(length=128), nullable=False),
        sa.Column('action_due_at', TS, nullable=True),
        sa.Column('created_at', TS, nullable=False),
        sa.Column('last_seen_at', TS, nullable=False),
        sa.Column('acknowledged_by', sa.String(length=64), nullable=True),
        sa.Column('acknowledged_at', TS, nullable=True),
        sa.Column('resolved_at', TS, nullable=True),
        sa.Column('escalation_level', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['rule_id'], ['alert_rules.id'], name=op.f('fk_alerts_rule_id_alert_rules')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_alerts')),
        sa.UniqueConstraint('open_key', name=op.f('uq_alerts_open_key')),
    )
    op.create_index(op.f('ix_alerts_rule_id'), 'alerts', ['rule_id'], unique=False)
    op.create_index(op.f('ix_alerts_created_at'), 'alerts', ['created_at'], unique=False)
    op.create_index(op.f('ix_alerts_resolved_at'), 'alerts', ['resolved_at'], unique=False)
    op.create_table(
        'alert_escalations',
        sa.Column('id', BIGID, nullable=False),
        sa.Column('alert_id', BIGID, nullable=False),
        sa.Column('level', sa.Integer(), nullable=False),
        sa.Column('recipient', sa.String(length=64), nullable=False),
        sa.Column('due_at', TS, nullable=False),
        sa.Column('escalated_at', TS, nullable=False),
        sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], name=op.f('fk_alert_escalations_alert_id_alerts')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_escalations')),
    )
    op.create_index(op.f('ix_alert_escalations_alert_id'), 'alert_escalations', ['alert_id'], unique=False)
    op.create_table(
        'notifications',
        sa.Column('id', BIGID, nullable=False),
        sa.Column('alert_id', BIGID, nullable=True),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('username', sa.String(length=64), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('severity', sa.String(length=16), nullable=False),
        sa.Column('title', sa.String(length=255), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('panel', sa.String(length=32), nullable=False),
        sa.Column('ref', sa.String(length=128), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=False),
        sa.Column('next_attempt_at', TS, nullable=True),
        sa.Column('created_at', TS, nullable=False),
        sa.Column('delivered_at', TS, nullable=True),
        sa.Column('read_at', TS, nullable=True),
        sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], name=op.f('fk_notifications_alert_id_alerts')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications')),
    )
    op.create_index(op.f('ix_notifications_alert_id'), 'notifications', ['alert_id'], unique=False)
    op.create_index(op.f('ix_notifications_username'), 'notifications', ['username'], unique=False)
    op.create_table(
        'notification_prefs',
        sa.Column('username', sa.String(length=64), nullable=False),
        sa.Column('channels_info', sa.String(length=64), nullable=False),
        sa.Column('channels_warning', sa.String(length=64), nullable=False),
        sa.Column('channels_critical', sa.String(length=64), nullable=False),
        sa.Column('quiet_start', sa.String(length=5), nullable=False),
        sa.Column('quiet_end', sa.String(length=5), nullable=False),
        sa.Column('timezone', sa.String(length=64), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=False),
        sa.Column('phone', sa.String(length=20), nullable=False),
        sa.Column('daily_summary', sa.Boolean(), nullable=False),
        sa.Column('updated_at', TS, nullable=False),
        sa.PrimaryKeyConstraint('username', name=op.f('pk_notification_prefs')),
    )
    op.create_table(
        'job_states',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('last_run_at', TS, nullable=True),
        sa.Column('last_result', sa.Text(), nullable=False),
        sa.Column('last_ok', sa.Boolean(), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('next_retry_at', TS, nullable=True),
        sa.Column('cron', sa.String(length=64), nullable=False),
        sa.Column('claimed_at', TS, nullable=True),
        sa.Column('claimed_by', sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_job_states')),
    )
    op.create_table(
        'apscheduler_jobs',
        sa.Column('id', sa.String(length=191), nullable=False),
        sa.Column('next_run_time', sa.Float(precision=25), nullable=True),
        sa.Column('job_state', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_apscheduler_jobs')),
    )
    op.create_index(op.f('ix_apscheduler_jobs_next_run_time'), 'apscheduler_jobs', ['next_run_time'], unique=False)

    import datetime as _dt

    seeded_at = _dt.datetime(2026, 11, 27, 12, 0, tzinfo=_dt.timezone.utc)
    rules = sa.table('alert_rules', *(sa.column(c) for c in (
        'name', 'source', 'metric', 'subject', 'comparison', 'threshold', 'params', 'severity',
        'escalation_minutes', 'escalation_path', 'enabled', 'updated_by')), sa.column('updated_at', TS))
    op.bulk_insert(rules, [{"name": n, "source": src, "metric": m, "subject": "*", "comparison": cmp,
                            "threshold": t, "params": p, "severity": sev, "escalation_minutes": esc,
                            "escalation_path": PATH, "enabled": True, "updated_by": "migration 0011",
                            "updated_at": seeded_at}
                           for n, src, m, cmp, t, p, sev, esc in RULES])


def downgrade() -> None:
    op.drop_index(op.f('ix_apscheduler_jobs_next_run_time'), table_name='apscheduler_jobs')
    op.drop_table('apscheduler_jobs')
    op.drop_table('job_states')
    op.drop_table('notification_prefs')
    op.drop_index(op.f('ix_notifications_username'), table_name='notifications')
    op.drop_index(op.f('ix_notifications_alert_id'), table_name='notifications')
    op.drop_table('notifications')
    op.drop_index(op.f('ix_alert_escalations_alert_id'), table_name='alert_escalations')
    op.drop_table('alert_escalations')
    op.drop_index(op.f('ix_alerts_resolved_at'), table_name='alerts')
    op.drop_index(op.f('ix_alerts_created_at'), table_name='alerts')
    op.drop_index(op.f('ix_alerts_rule_id'), table_name='alerts')
    op.drop_table('alerts')
    op.drop_table('alert_rules')
