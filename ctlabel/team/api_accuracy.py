"""``GET /api/v1/me/accuracy``: the caller's own measured accuracy per label, and its answer's models.

Only the caller's figures (:func:`ctlabel.team.accuracy.own_accuracy`): as of the start of today
(the project's time zone), the trend one point per day, no case named; so a figure never moves
right after a submit and never tells which case was gold. Nobody, the lead included, gets another
person's figures here (the lead has ``/accuracy`` and ``ctlabel team accuracy``).
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import Field

from ctlabel.team.accuracy import own_accuracy
from ctlabel.team.api_deps import Me, Svc
from ctlabel.team.api_models import Answer

router = APIRouter()


class SourceFigure(Answer):
    """One source's estimate (:class:`ctlabel.measure.accuracy.SourceEstimate`)."""

    source: str = Field(description="combined, gold, agreement or review")
    n: int = Field(description="scores (gold, agreement) or reviewed submissions (review)")
    mean: float | None = Field(description="mean Dice (review: the share approved as submitted); null with n 0")
    low: float | None = Field(description="the 95% interval's lower end")
    high: float | None = Field(description="the 95% interval's upper end")


class LabelAccuracy(Answer):
    """The caller's accuracy on one label."""

    label: int
    name: str = Field(description="the label's name in the project's label table")
    measured: bool = Field(description="measured on the Dice scale (gold or agreement), not only by reviews")
    estimate: SourceFigure = Field(description="gold and agreement combined (Dice)")
    gold: SourceFigure
    agreement: SourceFigure
    review: SourceFigure
    trend: list[tuple[str, float]] = Field(description="[date, running mean Dice], one point per day")


class MyAccuracy(Answer):
    """The caller's own accuracy per label, as of the start of ``as_of``."""

    user: str
    as_of: str = Field(description="ISO date: the figures count what was measured before this day began")
    threshold: float | None = Field(description="the project's accuracy threshold; null when not set")
    labels: list[LabelAccuracy]


@router.get("/me/accuracy", response_model=MyAccuracy)
def my_accuracy(user: Me, svc: Svc) -> dict:
    """My measured accuracy per label: estimate and 95% interval, each source, the trend (no case named)."""
    return own_accuracy(svc, user.name)


__all__ = ["LabelAccuracy", "MyAccuracy", "SourceFigure", "router"]
