"""Reading the gold scores: per annotator, gold case and label, with the time of scoring.

What an accuracy figure of an annotator is built from: each scored gold serving
(:mod:`ctlabel.team.gold`) left one row per label (Dice, HD95, volumes) in ``gold_scores``.
:func:`gold_scores` lists them (filtered by annotator, label and time), :func:`gold_summary`
summarises them per annotator and label (counts, mean and lowest Dice, HD95, volumes). The
annotator's *accuracy* (gold with reader agreement and reviews, with intervals) is
:func:`ctlabel.team.accuracy.annotator_accuracy`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict

from sqlalchemy import select

from ctlabel.team.core import ProjectCore
from ctlabel.team.db import CaseRow, User
from ctlabel.team.db_gold import GoldCase, GoldScore, GoldServing
from ctlabel.team.errors import as_utc


@dataclasses.dataclass(frozen=True)
class GoldResult:
    """One label of one scored gold serving.

    Attributes
    ----------
    user : str
        The annotator.
    gold_case : str
        The gold case (its reference is its approved version ``reference``).
    serving : str
        The case id the annotator was given.
    reference : str
        The reference version (``vNNN``).
    label, name : int, str
        The label and its name.
    dice : float
    hd95_mm : float or None
        None when one side lacks the label.
    volume_ref_ml, volume_ml : float
        The reference's and the annotator's volume of the label.
    at : datetime.datetime
        When it was scored (UTC; right after the submit).
    """

    user: str
    gold_case: str
    serving: str
    reference: str
    label: int
    name: str
    dice: float
    hd95_mm: float | None
    volume_ref_ml: float
    volume_ml: float
    at: dt.datetime

    @property
    def volume_diff_ml(self) -> float:
        """The annotator's minus the reference's volume, ml."""
        return self.volume_ml - self.volume_ref_ml

    def as_dict(self) -> dict:
        """JSON-ready (``at`` as ISO text, ``volume_diff_ml`` added)."""
        return {**dataclasses.asdict(self), "at": self.at.isoformat(), "volume_diff_ml": round(self.volume_diff_ml, 4)}


def gold_scores(core: ProjectCore, *, user: str | None = None, label: int | None = None,
                since: dt.datetime | None = None, until: dt.datetime | None = None) -> list[GoldResult]:
    """Every scored label of every gold serving, oldest first.

    Parameters
    ----------
    core : ProjectCore
        The project (a :class:`~ctlabel.team.service.Service`).
    user : str, optional
        Only this annotator.
    label : int, optional
        Only this label.
    since, until : datetime, optional
        Scored at or after ``since``, before ``until`` (timezone-aware).

    Returns
    -------
    list of GoldResult
    """
    serving_case = select(CaseRow.id, CaseRow.name).subquery()
    q = (select(User.name, CaseRow.name, serving_case.c.name, GoldCase.version, GoldScore)
         .join(GoldServing, GoldServing.id == GoldScore.serving_id)
         .join(GoldCase, GoldCase.id == GoldServing.gold_id)
         .join(CaseRow, CaseRow.id == GoldCase.case_id)
         .join(serving_case, serving_case.c.id == GoldServing.case_id)
         .join(User, User.id == GoldScore.user_id))
    if user is not None:
        q = q.where(User.name == user)
    if label is not None:
        q = q.where(GoldScore.label == int(label))
    if since is not None:
        q = q.where(GoldScore.at >= since)
    if until is not None:
        q = q.where(GoldScore.at < until)
    with core.read() as db:
        rows = db.execute(q.order_by(GoldScore.at, GoldScore.id)).all()
    return [GoldResult(who, gold, serving, ref, s.label, s.name, s.dice, s.hd95_mm, s.volume_ref_ml, s.volume_ml,
                       as_utc(s.at) or s.at) for who, gold, serving, ref, s in rows]


def gold_summary(core: ProjectCore, **filters) -> list[dict]:
    """Per annotator and label: servings scored, mean and lowest Dice, mean HD95, mean |volume difference|.

    Parameters
    ----------
    core : ProjectCore
        The project.
    **filters
        Those of :func:`gold_scores` (``user``, ``label``, ``since``, ``until``).

    Returns
    -------
    list of dict
        ``user``, ``label``, ``name``, ``n``, ``mean_dice``, ``min_dice``, ``mean_hd95_mm`` (None
        when no serving had one), ``mean_abs_volume_diff_ml``, ``first``, ``last`` (ISO times).
    """
    groups: dict[tuple[str, int], list[GoldResult]] = defaultdict(list)
    for r in gold_scores(core, **filters):
        groups[(r.user, r.label)].append(r)
    out = []
    for (who, lab), rs in sorted(groups.items()):
        hd = [r.hd95_mm for r in rs if r.hd95_mm is not None]
        out.append({"user": who, "label": lab, "name": rs[-1].name, "n": len(rs),
                    "mean_dice": round(sum(r.dice for r in rs) / len(rs), 4),
                    "min_dice": round(min(r.dice for r in rs), 4),
                    "mean_hd95_mm": round(sum(hd) / len(hd), 3) if hd else None,
                    "mean_abs_volume_diff_ml": round(sum(abs(r.volume_diff_ml) for r in rs) / len(rs), 4),
                    "first": rs[0].at.isoformat(), "last": rs[-1].at.isoformat()})
    return out


__all__ = ["GoldResult", "gold_scores", "gold_summary"]
