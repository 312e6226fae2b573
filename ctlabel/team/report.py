"""Time and pay: active time from heartbeats, items owed from approvals.

* **Active time** of a person: per case, the gaps between consecutive heartbeats that are at
  most the project's idle limit (default 60 s), summed; a longer gap counts nothing.
* **Items owed** arise when a case is approved and are dated by the approval: the case's
  annotator is owed one ``annotation`` and one ``rework`` per resubmission (a submit after a
  rejection; a withdrawn submission is neither an item nor rework); each reviewer one
  ``review`` per decision (reject, correction, the approval); each reader of a double-read
  case one ``annotation``. A scored gold serving (:mod:`ctlabel.team.gold`) is owed to its
  annotator as one ``gold`` item when it is scored (the ``gold`` rate; unset, the annotation
  rate). Amounts use the current rates (cents).
* Days (``since``/``until``, inclusive) are counted in the project's time zone (UTC default).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from ctlabel.errors import InputError
from ctlabel.progress import duration_text
from ctlabel.team.db import Event, Rate, User
from ctlabel.team.errors import as_utc
from ctlabel.team.pay_events import COUNTED, PayEvent, PayKind
from ctlabel.team.service import Service


def _window(tz: ZoneInfo, since: str | None, until: str | None) -> tuple[dt.datetime | None, dt.datetime | None]:
    def day(text: str) -> dt.date:
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            raise InputError(f"a day is YYYY-MM-DD, not {text!r}") from None

    lo = dt.datetime.combine(day(since), dt.time(), tz).astimezone(dt.UTC) if since else None
    hi = dt.datetime.combine(day(until) + dt.timedelta(days=1), dt.time(), tz).astimezone(dt.UTC) if until else None
    return lo, hi


def active_seconds(times: list[dt.datetime], idle_limit_s: float) -> float:
    """Sum of the gaps between consecutive heartbeats that are at most ``idle_limit_s``."""
    times = sorted(times)
    total = 0.0
    for a, b in zip(times, times[1:]):
        gap = (b - a).total_seconds()
        if gap <= idle_limit_s:
            total += gap
    return total


def _person() -> dict:
    return {"submitted": 0, "resubmitted": 0, "uploads": 0, "approved": 0, "rejected": 0, "reviews": 0,
            "items": {"annotation": 0, "review": 0, "rework": 0, "gold": 0}}


def _decision(rows: dict, ev: PayEvent) -> None:
    """Count a review decision or the policy's acceptance (what it pays: :mod:`ctlabel.team.credit`)."""
    uid = ev.user_id
    if ev.kind in (PayKind.REJECT, PayKind.CORRECT):
        rows[uid]["reviews"] += 1
        if ev.kind is PayKind.REJECT and ev.annotator_id:
            rows[ev.annotator_id]["rejected"] += 1
    elif ev.kind is PayKind.APPROVE:
        rows[uid]["reviews"] += 1
        rows[uid]["items"]["review"] += 1
        for reviewer, n in ev.reviews.items():
            rows[reviewer]["items"]["review"] += n
        for ann in ev.paid_annotators:
            rows[ann]["approved"] += 1
            rows[ann]["items"]["annotation"] += 1
        if ev.annotator_id and (ev.annotator_id in ev.paid_annotators or ev.annotation_paid):
            rows[ev.annotator_id]["items"]["rework"] += ev.resubmissions
    elif ev.kind is PayKind.POLICY_ACCEPT and ev.annotator_id:  # accepted without review: paid as approved
        rows[ev.annotator_id]["items"]["annotation"] += 1
        rows[ev.annotator_id]["items"]["rework"] += ev.resubmissions


def tally(events, beats, idle_limit_s: float) -> tuple[dict, dict]:
    """Count per person from plain rows; returns the per-person counts and active seconds.

    ``events`` are ``(user_id, kind, detail)`` rows in time order, read as :class:`PayEvent`;
    ``beats`` ``(user_id, case_id, at)`` rows of heartbeats. A withdrawn submission
    (``withdraw_submit``) takes its submit back. An approval pays the case's annotator, or each
    reader of a case read by several people (``readers``), one annotation item; so does the review
    policy's acceptance (``policy_accept``), and a reviewer's later approval of that case then pays
    the review and any rework, not the annotation again (:mod:`ctlabel.team.credit`).
    """
    rows: dict = defaultdict(_person)
    for ev in (PayEvent.from_row(*row) for row in events):
        uid = ev.user_id
        if ev.kind is PayKind.SUBMIT:
            rows[uid]["submitted"] += 1
            rows[uid]["resubmitted"] += ev.resubmission
        elif ev.kind is PayKind.WITHDRAW_SUBMIT:
            rows[uid]["submitted"] -= 1
            rows[uid]["resubmitted"] -= ev.resubmission
        elif ev.kind is PayKind.UPLOAD:
            rows[uid]["uploads"] += 1
        elif ev.kind is PayKind.GOLD_SCORE:
            rows[uid]["items"]["gold"] += 1
        else:
            _decision(rows, ev)
    times: dict[tuple[int, int], list[dt.datetime]] = defaultdict(list)
    for uid, cid, at in beats:
        if uid is not None and cid is not None:
            times[(uid, cid)].append(as_utc(at))
    active: dict[int, float] = defaultdict(float)
    for (uid, _case), ts in times.items():
        active[uid] += active_seconds(ts, idle_limit_s)
        rows[uid]  # a person with only heartbeats still gets a row
    return rows, active


def people(rows: dict, active: dict, users: dict, rates: dict, user_id: int | None = None) -> list[dict]:
    """The report's rows, by user name: counts, active seconds and the amount owed (cents)."""
    out = []
    for uid, r in sorted(rows.items(), key=lambda kv: users[kv[0]][0] if kv[0] in users else ""):
        if uid is None or uid not in users or (user_id is not None and uid != user_id):
            continue
        owed = sum(n * rates.get(k, 0) for k, n in r["items"].items())
        out.append({"user": users[uid][0], "role": users[uid][1], **r, "active_seconds": round(active[uid], 3),
                    "owed_cents": owed})
    return out


def report(svc: Service, since: str | None = None, until: str | None = None, user_id: int | None = None) -> dict:
    """Per person: items done, approved, rejected, active time and the amount owed.

    Only the columns needed are read (no ORM objects; heartbeats without their detail), so a
    report over tens of thousands of events stays quick.

    Parameters
    ----------
    svc : Service
        The project.
    since, until : str, optional
        First and last day (YYYY-MM-DD, inclusive) in the project's time zone.
    user_id : int, optional
        Only this person (an annotator's own stats).

    Returns
    -------
    dict
        ``project``, ``time_zone``, ``since``, ``until``, ``currency``, ``idle_limit_s``,
        ``rates_cents`` and ``people`` (one row per person, by name).
    """
    with svc.tx() as db:
        return report_in(db, svc, since, until, user_id)


def report_in(db: Session, svc: Service, since: str | None = None, until: str | None = None,
              user_id: int | None = None) -> dict:
    """:func:`report` inside the caller's transaction (closing a pay period freezes it there)."""
    proj = svc.settings(db)
    tz = ZoneInfo(proj.time_zone)
    lo, hi = _window(tz, since, until)
    window = ([Event.at >= lo] if lo is not None else []) + ([Event.at < hi] if hi is not None else [])
    rates = {kind: cents for kind, cents in db.execute(select(Rate.kind, Rate.cents))}
    rates.setdefault("gold", rates.get("annotation", 0))  # a gold rate never set: the annotation rate
    users = {uid: (name, role) for uid, name, role in db.execute(select(User.id, User.name, User.role))}
    beats = db.execute(select(Event.user_id, Event.case_id, Event.at).where(Event.kind == "heartbeat", *window))
    events = db.execute(select(Event.user_id, Event.kind, Event.detail).where(Event.kind.in_(COUNTED), *window)
                        .order_by(Event.at, Event.id))
    rows, active = tally(events, beats, proj.idle_limit_s)
    head = {"project": proj.name, "time_zone": tz.key, "since": since, "until": until,
            "currency": proj.currency, "idle_limit_s": proj.idle_limit_s, "rates_cents": rates}
    return {**head, "people": people(rows, active, users, rates, user_id)}


def to_csv(rep: dict) -> str:
    """The report as CSV, one line per person."""
    import csv
    import io

    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["user", "role", "submitted", "resubmitted", "approved", "rejected", "reviews", "annotation_items",
                "review_items", "rework_items", "gold_items", "active_seconds", f"owed_{rep['currency']}"])
    for p in rep["people"]:
        w.writerow([p["user"], p["role"], p["submitted"], p["resubmitted"], p["approved"], p["rejected"],
                    p["reviews"], p["items"]["annotation"], p["items"]["review"], p["items"]["rework"],
                    p["items"].get("gold", 0),
                    p["active_seconds"], f"{p['owed_cents'] / 100:.2f}"])
    return out.getvalue()


__all__ = ["COUNTED", "active_seconds", "duration_text", "people", "report", "report_in", "tally", "to_csv"]
