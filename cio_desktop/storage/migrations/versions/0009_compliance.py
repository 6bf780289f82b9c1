"""compliance rules, versions, checks

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 12:00:00

Rules (``compliance_rules``) with immutable versions (``compliance_rule_versions``), every check
of an operation (``compliance_checks``) with one verdict per rule version
(``compliance_check_results``), one-off overrides and the imported sanctions list. No rule is
seeded: a new database starts with an empty rule set (the demo company seeds a default set).
"""
from alembic import op
import sqlalchemy as sa
import cio_desktop.storage.types

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

TS = cio_desktop.storage.types.UTCDateTime(timezone=True)
BIGID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'compliance_rules',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('current_version', sa.Integer(), nullable=False),
        sa.Column('is_active', sa.Boolean(), nullable=False),
        sa.Column('created_by', sa.String(length=64), nullable=False),
        sa.Column('created_at', TS, nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_compliance_rules')),
        sa.UniqueConstraint('name', name=op.f('uq_compliance_rules_name')),
    )
    op.create_table(
        'compliance_rule_versions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('rule_id', sa.Integer(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('rule_type', sa.String(length=32), nullable=False),
        sa.Column('parameters_json', sa.Text(), nullable=False),
        sa.Column('severity', sa.String(length=8), nullable=False),
        sa.Column('scope_json', sa.Text(), nullable=False),
        sa.Column('valid_from', sa.Date(), nullable=True),
        sa.Column('valid_to', sa.Date(), nullable=True),
        sa.Column('is_active', sa.Boolean(), nullable=False),
        sa.Column('author', sa.String(length=64), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('created_at', TS, nullable=False),
        sa.ForeignKeyConstraint(['rule_id'], ['compliance_rules.id'],
                                name=op.f('fk_compliance_rule_versions_rule_id_compliance_rules')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_compliance_rule_versions')),
        sa.UniqueConstraint('rule_id', 'version', name='uq_compliance_rule_versions_rule_version'),
    )
    op.create_table(
        'compliance_checks',
        sa.Column('id', BIGID, nullable=False),
        sa.Column('checked_at', TS, nullable=False),
        sa.Column('operation', sa.String(length=32), nullable=False),
        sa.Column('entity', sa.String(length=32), nullable=False),
        sa.Column('entity_id', sa.String(length=64), nullable=False),
        sa.Column('actor', sa.String(length=64), nullable=False),
        sa.Column('outcome', sa.String(length=16), nullable=False),
        sa.Column('subject', sa.Text(), nullable=False),
        sa.Column('ruleset', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_compliance_checks')),
    )
    op.create_index('ix_compliance_checks_checked_at', 'compliance_checks', ['checked_at', 'id'])
    op.create_index('ix_compliance_checks_entity', 'compliance_checks', ['entity', 'entity_id'])
    op.create_table(
        'compliance_check_results',
        sa.Column('id', BIGID, nullable=False),
        sa.Column('check_id', BIGID, nullable=False),
        sa.Column('rule_id', sa.Integer(), nullable=False),
        sa.Column('rule_version', sa.Integer(), nullable=False),
        sa.Column('outcome', sa.String(length=16), nullable=False),
        sa.Column('limit_text', sa.Text(), nullable=False),
        sa.Column('actual_text', sa.Text(), nullable=False),
        sa.Column('message', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['check_id'], ['compliance_checks.id'],
                                name=op.f('fk_compliance_check_results_check_id_compliance_checks')),
        sa.ForeignKeyConstraint(['rule_id'], ['compliance_rules.id'],
                                name=op.f('fk_compliance_check_results_rule_id_compliance_rules')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_compliance_check_results')),
    )
    op.create_index('ix_compliance_check_results_check', 'compliance_check_results', ['check_id'])
    op.create_index('ix_compliance_check_results_rule', 'compliance_check_results', ['rule_id', 'rule_version'])
    op.create_table(
        'compliance_overrides',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('rule_id', sa.Integer(), nullable=False),
        sa.Column('entity', sa.String(length=32), nullable=False),
        sa.Column('entity_id', sa.String(length=64), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('approved_by', sa.String(length=64), nullable=False),
        sa.Column('approved_at', TS, nullable=False),
        sa.Column('expires_at', TS, nullable=False),
        sa.Column('used_check_id', BIGID, nullable=True),
        sa.ForeignKeyConstraint(['rule_id'], ['compliance_rules.id'],
                                name=op.f('fk_compliance_overrides_rule_id_compliance_rules')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_compliance_overrides')),
    )
    op.create_index('ix_compliance_overrides_entity', 'compliance_overrides', ['entity', 'entity_id'])
    op.create_table(
        'sanctions_entries',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('name_key', sa.String(length=200), nullable=False),
        sa.Column('country', sa.String(length=2), nullable=False),
        sa.Column('list_name', sa.String(length=64), nullable=False),
        sa.Column('reference', sa.String(length=64), nullable=False),
        sa.Column('imported_at', TS, nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sanctions_entries')),
        sa.UniqueConstraint('name_key', name=op.f('uq_sanctions_entries_name_key')),
    )


def downgrade() -> None:
    op.drop_table('sanctions_entries')
    op.drop_index('ix_compliance_overrides_entity', table_name='compliance_overrides')
    op.drop_table('compliance_overrides')
    op.drop_index('ix_compliance_check_results_rule', table_name='compliance_check_results')
    op.drop_index('ix_compliance_check_results_check', table_name='compliance_check_results')
    op.drop_table('compliance_check_results')
    op.drop_index('ix_compliance_checks_entity', table_name='compliance_checks')
    op.drop_index('ix_compliance_checks_checked_at', table_name='compliance_checks')
    op.drop_table('compliance_checks')
    op.drop_table('compliance_rule_versions')
    op.drop_table('compliance_rules')
