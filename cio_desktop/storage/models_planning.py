"""Budgets, cash forecasts, categories and stored analytics models (issue 8).

Tables live here (not in models.py) so each domain owns its own module; ``models.py``
imports this module at its end, so ``Base.metadata`` always holds every table."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (BigInteger, Boolean, Date, Index, Integer, LargeBinary, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column

from cio_desktop.storage.models import Base
from cio_desktop.storage.types import UTCDateTime, utcnow

BIGID = BigInteger().with_variant(Integer, "sqlite")


class PlanningCategory(Base):
    """A spending/income category that budgets and the categoriser use."""

    __tablename__ = "planning_categories"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="expense")   # income | expense | transfer
    description: Mapped[str] = mapped_column(Text, default="")


class CategoryRule(Base):
    """``pattern`` (case-insensitive substring of counterparty + description) → category;
    the lowest ``priority`` that matches wins, before the learned classifier."""

    __tablename__ = "category_rules"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pattern: Mapped[str] = mapped_column(String(140))
    category: Mapped[str] = mapped_column(String(64))
    priority: Mapped[int] = mapped_column(Integer, default=100)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CategoryCorrection(Base):
    """A user's recategorisation of one ledger line; ``text_key`` is the categoriser's
    normalised text, so the correction also overrides the prediction for identical lines."""

    __tablename__ = "category_corrections"
    id: Mapped[int] = mapped_column(BIGID, primary_key=True)
    transaction_id: Mapped[int | None] = mapped_column(BIGID, nullable=True)
    text_key: Mapped[str] = mapped_column(String(400))
    old_category: Mapped[str] = mapped_column(String(64), default="")
    category: Mapped[str] = mapped_column(String(64))
    corrected_by: Mapped[str] = mapped_column(String(64))
    corrected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_category_corrections_text_key", "text_key"),)


class BudgetLine(Base):
    __tablename__ = "budget_lines"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    category: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(7))              # YYYY-MM
    amount_minor: Mapped[int] = mapped_column(BigInteger)       # magnitude
    currency: Mapped[str] = mapped_column(String(3))
    note: Mapped[str] = mapped_column(Text, default="")
    updated_by: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("category", "period", name="uq_budget_lines_category_period"),
                      Index("ix_budget_lines_period", "period"))


class AnalyticsModel(Base):
    """One trained model version. ``payload`` holds numpy arrays (``numpy.savez``, loaded with
    ``allow_pickle=False``) and ``sha256`` its digest, checked before every load."""

    __tablename__ = "analytics_models"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))               # categoriser | forecast
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64))
    samples: Mapped[int] = mapped_column(Integer, default=0)
    corrections: Mapped[int] = mapped_column(Integer, default=0)
    metrics_json: Mapped[str] = mapped_column(Text, default="{}")
    params_json: Mapped[str] = mapped_column(Text, default="{}")
    payload: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    sha256: Mapped[str] = mapped_column(String(64), default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (UniqueConstraint("kind", "version", name="uq_analytics_models_kind_version"),)


class ForecastSnapshot(Base):
    """A consolidated forecast as it was made, kept to compare with what happened."""

    __tablename__ = "forecast_snapshots"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    granularity: Mapped[str] = mapped_column(String(8))
    currency: Mapped[str] = mapped_column(String(3))
    model_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rows_json: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_forecast_snapshots_end", "end_date"),)


class AnalyticsFeedback(Base):
    """A user's verdict on something the engine produced (a recommendation, a suggestion)."""

    __tablename__ = "analytics_feedback"
    id: Mapped[int] = mapped_column(BIGID, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    item_id: Mapped[str] = mapped_column(String(64))
    accepted: Mapped[bool] = mapped_column(Boolean)
    comment: Mapped[str] = mapped_column(Text, default="")
    detail_json: Mapped[str] = mapped_column(Text, default="{}")
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_analytics_feedback_kind_item", "kind", "item_id"),)
