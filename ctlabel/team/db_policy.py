"""The team database's table of the review policy (migration 0008; :mod:`ctlabel.team.policy`).

On the same declarative base as :mod:`ctlabel.team.db` (kept apart for the size of the modules).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ctlabel.team.db import Base, utcnow


class ReviewPolicyRow(Base):
    """A project's review policy (:class:`ctlabel.measure.review_policy.ReviewPolicy`), off until the lead sets it.

    No row, or ``enabled`` false: every submission is reviewed. The settings stay when it is turned
    off, so turning it on again keeps them.
    """

    __tablename__ = "review_policies"
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    min_gold: Mapped[int] = mapped_column(Integer)
    min_accuracy: Mapped[float] = mapped_column(Float)
    review_rate: Mapped[float] = mapped_column(Float)
    fail_below: Mapped[float] = mapped_column(Float)
    updated: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(100), default="")


__all__ = ["ReviewPolicyRow"]
