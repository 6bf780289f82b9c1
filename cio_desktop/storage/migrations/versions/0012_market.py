"""market-data cache, criteria, recommendations

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27 12:00:00

Seeds the three providers with their published URLs (the ECB and Stooq enabled; Alpha Vantage
disabled until someone stores an API key) and one default set of investment criteria.
"""
import datetime as _dt

from alembic import op
import sqlalchemy as sa
import cio_desktop.storage.types

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

TS = cio_desktop.storage.types.UTCDateTime(timezone=True)
BIGID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')

PROVIDERS = [  # name, kind, base_url, ttl seconds, enabled
    ("ECB", "ecb", "https://www.ecb.europa.eu/stats/eurofxref", 6 * 3600, True),
    ("Stooq", "stooq", "https://stooq.com", 6 * 3600, True),
    ("Alpha Vantage", "alphavantage", "https://www.alphavantage.co", 12 * 3600, False),
]
DEFAULT_CRITERIA = ('{"name": "default", "asset_classes": ["equity"], "max_volatility": 0.35, '
                    '"min_liquidity": 1000000}')


def upgrade() -> None:
    providers = op.create_table(
        'market_providers',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('base_url', sa.String(length=500), nullable=False),
        sa.Column('api_key_enc', sa.Text(), nullable=True),
        sa.Column('ttl_seconds', sa.Integer(), nullable=False),
        sa.Column('settings_json', sa.Text(), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('last_success_at', TS, nullable=True),
        sa.Column('last_error', sa.Text(), nullable=False),
        sa.Column('created_at', TS, nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_market_providers')),
        sa.UniqueConstraint('name', name=op.f('uq_market_providers_name')),
    )
    op.create_table(
        'market_cache',
        sa.Column('id', BIGID, nullable=False),
        sa.Column('provider', sa.String(length=64), nullable=False),
        sa.Column('what', sa.String(length=16), nullable=False),
        sa.Column('symbol', sa.String(length=64), nullable=False),
        sa.Column('fetched_at', TS, nullable=False),
        sa.Column('expires_at', TS, nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('records', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_market_cache')),
        sa.UniqueConstraint('provider', 'what', 'symbol', name='uq_market_cache_request'),
    )
    op.create_table(
        'market_watchlist',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('symbol', sa.String(length=64), nullable=False),
        sa.Column('provider', sa.String(length=64), nullable=False),
        sa.Column('asset_id', sa.Integer(), nullable=True),
        sa.Column('added_by', sa.String(length=64), nullable=False),
        sa.Column('created_at', TS, nullable=False),
        sa.ForeignKeyConstraint(['asset_id'], ['assets.id'], name=op.f('fk_market_watchlist_asset_id_assets')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_market_watchlist')),
        sa.UniqueConstraint('provider', 'symbol', name='uq_market_watchlist_symbol'),
    )
    criteria = op.create_table(
        'investment_criteria',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('criteria_json', sa.Text(), nullable=False),
        sa.Column('updated_by', sa.String(length=64), nullable=False),
        sa.Column('updated_at', TS, nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_investment_criteria')),
        sa.UniqueConstraint('name', name=op.f('uq_investment_criteria_name')),
    )
    op.create_table(
        'advisory_reports',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('generated_at', TS, nullable=False),
        sa.Column('generated_by', sa.String(length=64), nullable=False),
        sa.Column('portfolio_id', sa.Integer(), nullable=True),
        sa.Column('summary_json', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['portfolio_id'], ['portfolios.id'],
                                name=op.f('fk_advisory_reports_portfolio_id_portfolios')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_advisory_reports')),
    )
    op.create_table(
        'recommendations',
        sa.Column('id', BIGID, nullable=False),
        sa.Column('report_id', sa.Integer(), nullable=True),
        sa.Column('created_at', TS, nullable=False),
        sa.Column('key', sa.String(length=128), nullable=False),
        sa.Column('category', sa.String(length=32), nullable=False),
        sa.Column('subject', sa.String(length=128), nullable=False),
        sa.Column('action', sa.String(length=16), nullable=False),
        sa.Column('rationale', sa.Text(), nullable=False),
        sa.Column('data_json', sa.Text(), nullable=False),
        sa.Column('expected_impact', sa.Float(), nullable=False),
        sa.Column('impact_text', sa.Text(), nullable=False),
        sa.Column('urgency', sa.String(length=16), nullable=False),
        sa.Column('confidence', sa.Float(), nullable=False),
        sa.Column('confidence_source', sa.String(length=200), nullable=False),
        sa.Column('portfolio_id', sa.Integer(), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('decided_by', sa.String(length=64), nullable=False),
        sa.Column('decided_at', TS, nullable=True),
        sa.Column('feedback', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['report_id'], ['advisory_reports.id'],
                                name=op.f('fk_recommendations_report_id_advisory_reports')),
        sa.ForeignKeyConstraint(['portfolio_id'], ['portfolios.id'],
                                name=op.f('fk_recommendations_portfolio_id_portfolios')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_recommendations')),
    )
    op.create_index('ix_recommendations_status', 'recommendations', ['status', 'created_at'])
    seeded_at = _dt.datetime(2026, 11, 27, 12, 0, tzinfo=_dt.timezone.utc)
    op.bulk_insert(providers, [{"name": n, "kind": k, "base_url": u, "api_key_enc": None, "ttl_seconds": ttl,
                                "settings_json": "{}", "enabled": on, "last_success_at": None, "last_error": "",
                                "created_at": seeded_at} for n, k, u, ttl, on in PROVIDERS])
    op.bulk_insert(criteria, [{"name": "default", "criteria_json": DEFAULT_CRITERIA, "updated_by": "migration",
                               "updated_at": seeded_at}])


def downgrade() -> None:
    op.drop_index('ix_recommendations_status', table_name='recommendations')
    for table in ('recommendations', 'advisory_reports', 'investment_criteria', 'market_watchlist',
                  'market_cache', 'market_providers'):
        op.drop_table(table)
