"""Measured accuracy per annotator and label, from what the team database holds (issue 21, item 2).

The estimator is :func:`ctlabel.measure.accuracy.accuracy` (the only one); this module reads its
three sources from the database in three queries:

``gold``
    The ``gold_scores`` rows of the annotator's scored gold servings (Dice against the reference).
``agreement``
    The ``agreements`` rows of cases read by several annotators: the Dice between the first two
    reads under review, given to both readers (with two readers: the Dice with the other reader).
    The per-reader Dice with the fusion that the N-reader work records lives in ``case.json``
    only (and includes the reader's own read); reading a case folder per case at every submit
    would not be fast, so with three or more readers only the first two are counted.
``review``
    The reviewer's decision on each of the annotator's single-read submissions: approved as
    submitted counts as approved; a rejection, or an approval after a reviewer's correction,
    counts as not approved. A decision applies to every label of the project's label table.
    Decisions on cases read by several annotators are not counted (their agreement is).

The project's accuracy threshold (the lead's setting; alerts and flags below it) is stored as
``accuracy_threshold`` events, the latest one being the setting: no schema change, and the
history of the setting is kept.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, or_, select

from ctlabel.io.labels import read_label_table
from ctlabel.measure.accuracy import Accuracy, Score, accuracy
from ctlabel.team import project as layout
from ctlabel.team.core import ProjectCore
from ctlabel.team.db import Agreement, Event, Read, User
from ctlabel.team.db_gold import GoldScore
from ctlabel.team.errors import Invalid, as_utc

#: The event kinds that make up a submission's review (``submit`` starts one; the others decide it).
_REVIEW_KINDS = ("submit", "withdraw_submit", "correct", "approve", "reject")
#: The event kind that records the lead's threshold (the latest one is the setting).
THRESHOLD_EVENT = "accuracy_threshold"


@dataclass(frozen=True)
class Below:
    """One annotator-label whose combined estimate is below the project's threshold.

    Attributes
    ----------
    annotator : str
    label : int
    accuracy : Accuracy
    threshold : float
    """

    annotator: str
    label: int
    accuracy: Accuracy
    threshold: float


def _iso(at: dt.datetime) -> str:
    return (as_utc(at) or at).isoformat()


def annotator_accuracy(core: ProjectCore, user: str | None = None, *,
                       until: dt.datetime | None = None) -> dict[str, dict[int, Accuracy]]:
    """Each annotator's accuracy per label, from gold scores, reader agreement and review decisions.

    Parameters
    ----------
    core : ProjectCore
        The project (a :class:`~ctlabel.team.service.Service`).
    user : str, optional
        Only this annotator (what a submit asks: three indexed queries on their rows).
    until : datetime, optional
        Only what was measured or decided before this time (timezone-aware).

    Returns
    -------
    dict
        Annotator name to label to :class:`~ctlabel.measure.accuracy.Accuracy`; an annotator with
        nothing measured is absent. A label appears when a gold score or an agreement measured
        it, and every label of the project's table appears for an annotator with reviewed work.
    """
    gold: dict[tuple[str, int], list[Score]] = defaultdict(list)
    agree: dict[tuple[str, int], list[Score]] = defaultdict(list)
    decided: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # approved, reviewed
    with core.read() as db:
        uid = None
        if user is not None:
            uid = db.scalar(select(User.id).where(User.name == user))
            if uid is None:
                return {}
        names: dict[int, str] = ({i: n for i, n in db.execute(select(User.id, User.name))} if uid is None
                                 else {uid: str(user)})

        q = select(GoldScore.user_id, GoldScore.label, GoldScore.dice, GoldScore.at)
        if uid is not None:
            q = q.where(GoldScore.user_id == uid)
        if until is not None:
            q = q.where(GoldScore.at < until)
        for who, label, dice, at in db.execute(q):
            gold[(names[who], label)].append(Score(min(1.0, max(0.0, dice)), _iso(at)))

        q = (select(Read.user_id, Agreement.label, Agreement.dice, Agreement.at)
             .join(Read, and_(Read.case_id == Agreement.case_id,
                              or_(Read.version == Agreement.version_a, Read.version == Agreement.version_b))))
        if uid is not None:
            q = q.where(Read.user_id == uid)
        if until is not None:
            q = q.where(Agreement.at < until)
        for who, label, dice, at in db.execute(q):
            agree[(names[who], label)].append(Score(min(1.0, max(0.0, dice)), _iso(at)))

        q = select(Event.case_id, Event.user_id, Event.kind, Event.detail).where(
            Event.kind.in_(_REVIEW_KINDS), Event.case_id.is_not(None))
        if uid is not None:
            mine = select(Event.case_id).where(Event.user_id == uid, Event.kind == "submit")
            q = q.where(Event.case_id.in_(mine))
        if until is not None:
            q = q.where(Event.at < until)
        for who, ok in _decisions(db.execute(q.order_by(Event.case_id, Event.id))):
            if uid is None or who == uid:
                counts = decided[names[who]]
                counts[0] += ok
                counts[1] += 1
    labels = project_labels(core) if decided else []
    out: dict[str, dict[int, Accuracy]] = defaultdict(dict)
    keys = set(gold) | set(agree) | {(who, lab) for who in decided for lab in labels}
    for name, lab in sorted(keys):
        approved, reviewed = decided.get(name, [0, 0])
        out[name][lab] = accuracy(name, lab, gold.get((name, lab), ()), agree.get((name, lab), ()),
                                  approved=approved, reviewed=reviewed)
    return dict(out)


def _decisions(rows) -> list[tuple[int, bool]]:
    """(annotator id, approved as submitted) per decided single-read submission, from ordered event rows."""
    out: list[tuple[int, bool]] = []
    case, submitter, corrected = None, None, False
    for case_id, who, kind, detail in rows:
        if case_id != case:
            case, submitter, corrected = case_id, None, False
        if kind == "submit":  # a read of a case read by several annotators is not a single submission
            submitter, corrected = (None if "read" in (detail or {}) else who), False
        elif kind == "withdraw_submit":
            submitter = None
        elif kind == "correct":
            corrected = True
        elif submitter is not None:  # approve or reject
            out.append((submitter, kind == "approve" and not corrected))
            submitter = None
    return out


def project_labels(core: ProjectCore) -> list[int]:
    """The label values of the project's label table (``PROJECT/labels.tsv``)."""
    return list(label_names(core))


def label_names(core: ProjectCore) -> dict[int, str]:
    """The project's labels: value to name (empty when the project has no label table)."""
    path = core.root / layout.LABELS
    if not path.is_file():
        return {}
    return {lab.index: lab.name for lab in read_label_table(path)}


def own_accuracy(core: ProjectCore, user: str, now: dt.datetime | None = None) -> dict:
    """What an annotator is shown of their own accuracy: per label, as of the start of today.

    Only what was measured before today began (the project's time zone), and the trend one point
    per day: a figure never moves right after a submit, so it does not tell which case was gold.
    No case is named.

    Parameters
    ----------
    core : ProjectCore
        The project.
    user : str
        The annotator (the caller).
    now : datetime, optional
        Default: now.

    Returns
    -------
    dict
        ``user``, ``as_of`` (ISO date: figures up to the start of that day), ``threshold`` and
        ``labels``: per label ``label``, ``name``, ``estimate``, ``gold``, ``agreement``, ``review``
        (each ``n``, ``mean``, ``low``, ``high``) and ``trend`` (``[date, running mean]``, one per day).
    """
    with core.read() as db:
        tz_name = core.settings(db).time_zone or "UTC"
    try:
        tz: dt.tzinfo = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        tz = dt.UTC
    today = (now or dt.datetime.now(dt.UTC)).astimezone(tz).date()
    start = dt.datetime.combine(today, dt.time(0), tzinfo=tz)
    names = label_names(core)
    labels = []
    for lab, acc in sorted(annotator_accuracy(core, user, until=start).get(user, {}).items()):
        days: dict[str, float] = {}
        for when, value in acc.trend:
            days[dt.datetime.fromisoformat(when).astimezone(tz).date().isoformat()] = round(value, 4)
        figures = acc.as_json()
        labels.append({"label": lab, "name": names.get(lab, ""), "measured": measured(acc),
                       **{k: figures[k] for k in ("estimate", "gold", "agreement", "review")},
                       "trend": [[d, v] for d, v in days.items()]})
    return {"user": user, "as_of": today.isoformat(), "threshold": threshold(core), "labels": labels}


def threshold(core: ProjectCore) -> float | None:
    """The project's accuracy threshold (None: never set, so nothing is flagged)."""
    with core.read() as db:
        ev = db.scalar(select(Event).where(Event.kind == THRESHOLD_EVENT).order_by(Event.id.desc()).limit(1))
    value = (ev.detail or {}).get("threshold") if ev is not None else None
    return None if value is None else float(value)


def set_threshold(core: ProjectCore, value: float | None, by: str = "") -> float | None:
    """Set (or with None clear) the project's accuracy threshold, a Dice in (0, 1].

    Parameters
    ----------
    core : ProjectCore
        The project.
    value : float or None
        The threshold; None clears it.
    by : str
        Who set it (recorded with the event).

    Returns
    -------
    float or None
        The threshold now.
    """
    if value is not None and not (0.0 < float(value) <= 1.0):
        raise Invalid(f"an accuracy threshold is a Dice in (0, 1], not {value}", options=("threshold",))
    with core.tx() as db:
        core.log(db, None, None, THRESHOLD_EVENT, threshold=None if value is None else float(value), by=by[:100])
    return None if value is None else float(value)


def measured(acc: Accuracy) -> bool:
    """The label was measured on the Dice scale (gold or agreement), not only by review decisions."""
    return bool(acc.gold.n or acc.agreement.n)


def worst_first(accs: dict[str, dict[int, Accuracy]]) -> list[Accuracy]:
    """Every annotator-label, lowest combined estimate first (those without an estimate last)."""
    flat = [a for per in accs.values() for a in per.values()]
    return sorted(flat, key=lambda a: (a.estimate.mean is None, a.estimate.mean or 0.0, a.annotator, a.label))


def below(accs: dict[str, dict[int, Accuracy]], limit: float | None) -> list[Below]:
    """The annotator-labels whose combined estimate is below ``limit``, worst first (none without a limit)."""
    if limit is None:
        return []
    out = [Below(who, lab, a, limit) for who, per in accs.items() for lab, a in per.items()
           if a.estimate.mean is not None and a.estimate.mean < limit]
    return sorted(out, key=lambda b: (b.accuracy.estimate.mean or 0.0, b.annotator, b.label))


__all__ = ["THRESHOLD_EVENT", "Below", "annotator_accuracy", "below", "label_names", "measured", "own_accuracy",
           "project_labels",
           "set_threshold", "threshold", "worst_first"]
