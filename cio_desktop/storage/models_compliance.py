"""Compliance rules, their versions, checks and violations (issue 6).

Tables live here (not in models.py) so each domain owns its own module; ``models.py``
imports this module at its end, so ``Base.metadata`` always holds every table.

A rule (``compliance_rules``) points at its current version; every edit adds a row to
``compliance_rule_versions`` and never changes an old one, so a check (``compliance_checks``
with one ``compliance_check_results`` row per rule) keeps the exact version it was run against.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cio_desktop.storage.models import Base
from cio_desktop.storage.types import UTCDateTime, utcnow

BIGID = BigInteger().with_variant(Integer, "sqlite")


class ComplianceRule(Base):
    """A rule's identity and which version is in force (``is_active`` false: retired)."""

    __tablename__ = "compliance_rules"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ComplianceRuleVersion(Base):
    """One immutable version of a rule (parameters and scope as JSON)."""

    __tablename__ = "compliance_rule_versions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("compliance_rules.id"))
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(120))
    rule_type: Mapped[str] = mapped_column(String(32))
    parameters_json: Mapped[str] = mapped_column(Text, default="{}")
    severity: Mapped[str] = mapped_column(String(8))
    scope_json: Mapped[str] = mapped_column(Text, default="{}")
    valid_from: Mapped[date | None] = mapped_column(Date, nullable=True)
    valid_to: Mapped[date | None] = mapped_column(Date, nullable=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)   # false: this version retires the rule
    author: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("rule_id", "version", name="uq_compliance_rule_versions_rule_version"),)


class ComplianceCheck(Base):
    """One validation of one operation (a payment stage or a portfolio change)."""

    __tablename__ = "compliance_checks"
    id: Mapped[int] = mapped_column(BIGID, primary_key=True)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    operation: Mapped[str] = mapped_column(String(32))      # payment.schedule / .approve / .execute, portfolio.rebalance
    entity: Mapped[str] = mapped_column(String(32))         # payment | portfolio
    entity_id: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))        # pass | warn | overridden | block
    subject: Mapped[str] = mapped_column(Text, default="")  # plain words: what was checked
    ruleset: Mapped[str] = mapped_column(Text, default="")  # "rule_id:version,..." in force at the check

    __table_args__ = (Index("ix_compliance_checks_checked_at", "checked_at", "id"),
                      Index("ix_compliance_checks_entity", "entity", "entity_id"))


class ComplianceCheckResult(Base):
    """One rule's verdict within a check, against the exact rule version."""

    __tablename__ = "compliance_check_results"
    id: Mapped[int] = mapped_column(BIGID, primary_key=True)
    check_id: Mapped[int] = mapped_column(BIGID, ForeignKey("compliance_checks.id"))
    rule_id: Mapped[int] = mapped_column(ForeignKey("compliance_rules.id"))
    rule_version: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16))
    limit_text: Mapped[str] = mapped_column(Text, default="")
    actual_text: Mapped[str] = mapped_column(Text, default="")
    message: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (Index("ix_compliance_check_results_check", "check_id"),
                      Index("ix_compliance_check_results_rule", "rule_id", "rule_version"))


class ComplianceOverride(Base):
    """Permission, given with MFA by a compliance manager, for one operation on one entity to
    pass one blocking rule once (``used_check_id`` set when consumed)."""

    __tablename__ = "compliance_overrides"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("compliance_rules.id"))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    approved_by: Mapped[str] = mapped_column(String(64))
    approved_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_check_id: Mapped[int | None] = mapped_column(BIGID, nullable=True)

    __table_args__ = (Index("ix_compliance_overrides_entity", "entity", "entity_id"),)


class SanctionsEntry(Base):
    """The imported sanctions list (replaced as a whole by each import)."""

    __tablename__ = "sanctions_entries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200), unique=True)
    country: Mapped[str] = mapped_column(String(2), default="")
    list_name: Mapped[str] = mapped_column(String(64), default="")
    reference: Mapped[str] = mapped_column(String(64), default="")
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
