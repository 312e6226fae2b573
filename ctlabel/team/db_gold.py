"""The team database's tables of gold-standard cases (migration 0006; :mod:`ctlabel.team.gold`).

On the same declarative base as :mod:`ctlabel.team.db` (kept apart for the size of the modules).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ctlabel.team.db import Base, utcnow


class GoldCase(Base):
    """An approved case the lead marked as gold: its approved version is the reference (:mod:`ctlabel.team.gold`).

    ``author`` and ``approver`` made and approved the reference; neither is ever served it.
    Removing a gold case only ends its use (``removed``): its servings and scores stay.
    """

    __tablename__ = "gold_cases"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    version: Mapped[str] = mapped_column(String(20))
    voxel_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    author: Mapped[str | None] = mapped_column(String(100), nullable=True)
    approver: Mapped[str | None] = mapped_column(String(100), nullable=True)
    added: Mapped[dt.datetime] = mapped_column(default=utcnow)
    added_by: Mapped[str] = mapped_column(String(100), default="")
    removed: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class GoldServing(Base):
    """One serving of a gold case: a fresh case folder (``case_id``) given to one annotator."""

    __tablename__ = "gold_servings"
    __table_args__ = (UniqueConstraint("gold_id", "user_id", name="uq_gold_servings_gold_user"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    gold_id: Mapped[int] = mapped_column(ForeignKey("gold_cases.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    served: Mapped[dt.datetime] = mapped_column(default=utcnow)
    version: Mapped[str | None] = mapped_column(String(20), nullable=True)
    submitted: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    scored: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class GoldScore(Base):
    """How one gold serving scored on one label against the reference (:mod:`ctlabel.measure.gold_score`)."""

    __tablename__ = "gold_scores"
    id: Mapped[int] = mapped_column(primary_key=True)
    serving_id: Mapped[int] = mapped_column(ForeignKey("gold_servings.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    label: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100), default="")
    dice: Mapped[float] = mapped_column(Float)
    hd95_mm: Mapped[float | None] = mapped_column(Float, nullable=True)
    volume_ref_ml: Mapped[float] = mapped_column(Float)
    volume_ml: Mapped[float] = mapped_column(Float)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


__all__ = ["GoldCase", "GoldScore", "GoldServing"]
