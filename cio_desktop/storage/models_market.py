"""Market-data cache, watch lists, investment criteria and recommendations (issue 10).

Tables live here (not in models.py) so each domain owns its own module; ``models.py``
imports this module at its end, so ``Base.metadata`` always holds every table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cio_desktop.storage.models import Base
from cio_desktop.storage.types import UTCDateTime, utcnow

BIGID = BigInteger().with_variant(Integer, "sqlite")


class MarketProvider(Base):
    """A configured market-data provider; the API key only encrypted (``api_key_enc``)."""

    __tablename__ = "market_providers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # ecb | stooq | alphavantage
    base_url: Mapped[str] = mapped_column(String(500))
    api_key_enc: Mapped[str | None] = mapped_column(Text, nullable=True)
    ttl_seconds: Mapped[int] = mapped_column(Integer, default=6 * 3600)
    settings_json: Mapped[str] = mapped_column(Text, default="{}")  # ca_bundle_path, timeout
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MarketCache(Base):
    """The last good raw answer per provider request; replaced only by an answer that parsed."""

    __tablename__ = "market_cache"
    id: Mapped[int] = mapped_column(BIGID, primary_key=True)
    provider: Mapped[str] = mapped_column(String(64))
    what: Mapped[str] = mapped_column(String(16))  # prices | fx | fundamentals
    symbol: Mapped[str] = mapped_column(String(64))
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    body: Mapped[str] = mapped_column(Text)
    records: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (UniqueConstraint("provider", "what", "symbol", name="uq_market_cache_request"),)


class WatchItem(Base):
    """A symbol on the watch list: which provider serves it and which asset its prices feed."""

    __tablename__ = "market_watchlist"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    symbol: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(64))
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id"), nullable=True)
    added_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("provider", "symbol", name="uq_market_watchlist_symbol"),)


class InvestmentCriteria(Base):
    __tablename__ = "investment_criteria"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    criteria_json: Mapped[str] = mapped_column(Text, default="{}")
    updated_by: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AdvisoryReport(Base):
    __tablename__ = "advisory_reports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    generated_by: Mapped[str] = mapped_column(String(64))
    portfolio_id: Mapped[int | None] = mapped_column(ForeignKey("portfolios.id"), nullable=True)
    summary_json: Mapped[str] = mapped_column(Text, default="{}")


class RecommendationRow(Base):
    __tablename__ = "recommendations"
    id: Mapped[int] = mapped_column(BIGID, primary_key=True)
    report_id: Mapped[int | None] = mapped_column(ForeignKey("advisory_reports.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    key: Mapped[str] = mapped_column(String(128))
    category: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(16))
    rationale: Mapped[str] = mapped_column(Text)
    data_json: Mapped[str] = mapped_column(Text, default="{}")
    expected_impact: Mapped[float] = mapped_column(Float)
    impact_text: Mapped[str] = mapped_column(Text, default="")
    urgency: Mapped[str] = mapped_column(String(16))
    confidence: Mapped[float] = mapped_column(Float)
    confidence_source: Mapped[str] = mapped_column(String(200))
    portfolio_id: Mapped[int | None] = mapped_column(ForeignKey("portfolios.id"), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | accepted | rejected
    decided_by: Mapped[str] = mapped_column(String(64), default="")
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    feedback: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (Index("ix_recommendations_status", "status", "created_at"),)
