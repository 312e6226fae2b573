"""The lead's console, without HTTP: how far the project is, who works on what now, the review queue.

A case is in exactly one **stage** (:data:`STAGES`), worked out in SQL from the state mirror,
the leases and the events (:func:`stage_expr`), so the counts add up to the cases:

* ``available``: waiting in the pool to be claimed (never claimed, or given back, released,
  its lease expired); ``never_claimed`` counts those nobody ever claimed;
* ``claimed``: held under a valid lease, nothing saved or edited since the claim;
* ``in_progress``: held, with an upload or a heartbeat since the claim;
* ``submitted``: waiting for a reviewer; ``in_review``: a reviewer holds it;
* ``rejected``: sent back for rework; ``approved``; ``flagged``: marked unusable.

A case that is merely registered is ``in_progress`` in its ``case.json`` (the state mirror),
which the old dashboard counted as "in progress"; here it is ``available``.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select, text
from sqlalchemy.orm import Session

from ctlabel.case import workflow
from ctlabel.team.db import Assignment, CaseRow, Event, Read, User, utcnow
from ctlabel.team.errors import as_utc
from ctlabel.team.service import Service

STAGES = ("available", "claimed", "in_progress", "submitted", "in_review", "rejected", "approved", "accepted",
          "flagged")  # accepted: by the review policy, no reviewer has it (a reviewer who pulls it: in_review)
#: Approvals per day are averaged over this many days for the projected finish.
RATE_DAYS = 7
#: Event kinds that show somebody worked on a claimed case.
WORK_KINDS = ("upload", "heartbeat")


def by_kind(kinds: tuple[str, ...]) -> ColumnElement[bool]:
    """``Event.kind IN kinds`` written so that no database uses the index of ``kind`` for it.

    In a subquery per case the case's own events (index of ``case_id``) are few; PostgreSQL,
    its statistics unsure, intersected them with the ``kind`` index, i.e. every heartbeat of the
    project, once per case: ~3 ms a case, seconds for a summary of 10,000 cases.
    """
    return Event.kind.concat("").in_(kinds)


def latest_at() -> ColumnElement:
    """``max(events.at)`` for a subquery per case, written so that no database answers it from the index of ``at``.

    PostgreSQL answers a plain ``max(at) WHERE case_id = ...`` by walking the ``at`` index backwards
    until a row of the case turns up: thousands of rows per case (79 s for the stalled alerts of
    10,000 cases); through ``coalesce`` it reads the case's own rows by the ``case_id`` index.
    """
    return func.max(func.coalesce(Event.at, Event.at))


@contextlib.contextmanager
def reading(svc: Service) -> Iterator[Session]:
    """A read-only session for the console's aggregates; on PostgreSQL without JIT compilation.

    The console's queries are many small correlated subqueries: PostgreSQL's JIT spent ~1 s
    compiling each of them. ``SET jit = off`` stays on the pooled connection (the server's
    queries are all short; JIT never pays for them).
    """
    with svc.read() as db:
        if svc.engine.dialect.name == "postgresql":
            db.execute(text("SET jit = off"))
        yield db


def _claimed_at() -> ColumnElement:
    """When the case's open claim (annotation or a read) was made: a correlated scalar."""
    # correlated to the outer cases row explicitly: nested in EXISTS, it would otherwise get its own FROM cases
    single = (select(func.max(Assignment.claimed)).where(Assignment.case_id == CaseRow.id, Assignment.status == "open",
                                                         Assignment.kind == "annotate")
              .correlate(CaseRow).scalar_subquery())
    read = (select(func.max(Read.claimed)).where(Read.case_id == CaseRow.id, Read.status == "open")
            .correlate(CaseRow).scalar_subquery())
    return func.coalesce(single, read)


def stage_expr(now: dt.datetime) -> ColumnElement[str]:
    """The SQL expression of a case row's stage (one of :data:`STAGES`) at ``now``.

    Parameters
    ----------
    now : datetime
        The moment leases are compared with (UTC).

    Returns
    -------
    sqlalchemy.ColumnElement
        A ``CASE`` usable in ``SELECT``, ``WHERE`` and ``GROUP BY``.
    """
    held = or_(and_(CaseRow.annotator_id.is_not(None), CaseRow.lease_until >= now),
               exists().where(Read.case_id == CaseRow.id, Read.status == "open", Read.lease_until >= now))
    # a scalar subquery per held row (the case's index), not an EXISTS: PostgreSQL made that a semi-join over
    # every heartbeat with the claim time as a subplan per heartbeat (seconds with 10,000 cases)
    last_work = (select(latest_at()).where(Event.case_id == CaseRow.id, by_kind(WORK_KINDS))
                 .correlate(CaseRow).scalar_subquery())
    worked = last_work >= _claimed_at()
    reviewing = and_(CaseRow.reviewer_id.is_not(None), CaseRow.review_lease_until >= now)
    return case(
        (CaseRow.flagged.is_not(None), "flagged"),
        (CaseRow.state == workflow.APPROVED, "approved"),
        (and_(CaseRow.state.in_((workflow.SUBMITTED, workflow.ACCEPTED)), reviewing), "in_review"),
        (CaseRow.state == workflow.ACCEPTED, "accepted"),
        (CaseRow.state == workflow.SUBMITTED, "submitted"),
        (CaseRow.state == workflow.REJECTED, "rejected"),
        (and_(held, worked), "in_progress"),
        (held, "claimed"),
        else_="available")


@dataclass(frozen=True)
class Progress:
    """Cases per stage, how many were never claimed, and the share approved."""

    stages: dict[str, int]
    never_claimed: int
    total: int

    @property
    def approved_fraction(self) -> float:
        """Approved cases over the cases that can be done (all but the flagged ones)."""
        doable = self.total - self.stages["flagged"]
        return self.stages["approved"] / doable if doable else 0.0

    @property
    def remaining(self) -> int:
        """Cases still to approve (flagged ones and those the review policy accepted are not counted)."""
        return self.total - self.stages["flagged"] - self.stages["approved"] - self.stages.get("accepted", 0)


def progress(svc: Service, now: dt.datetime | None = None) -> Progress:
    """Cases per stage (:data:`STAGES`) and the never-claimed ones, in two aggregate queries.

    Parameters
    ----------
    svc : Service
        The project.
    now : datetime, optional
        The moment of the leases (default: now).

    Returns
    -------
    Progress
    """
    now = now or utcnow()
    stage = stage_expr(now).label("stage")
    with reading(svc) as db:
        rows = db.execute(select(stage, func.count()).group_by(stage)).all()
        never = db.scalar(select(func.count()).select_from(CaseRow).where(
            CaseRow.flagged.is_(None), CaseRow.state == workflow.IN_PROGRESS,
            ~exists().where(Assignment.case_id == CaseRow.id), ~exists().where(Read.case_id == CaseRow.id)))
    stages = {s: 0 for s in STAGES}
    stages.update({s: n for s, n in rows})
    return Progress(stages, never or 0, sum(stages.values()))


@dataclass(frozen=True)
class Forecast:
    """The recent rate and when the project ends at it."""

    approved_recent: int
    days: int
    remaining: int
    finish: dt.date | None  # None: nothing approved recently (no projection) or nothing left
    today: dt.date

    @property
    def per_day(self) -> float:
        """Approvals per day over the last :attr:`days` days."""
        return self.approved_recent / self.days


def forecast(svc: Service, prog: Progress, now: dt.datetime | None = None, days: int = RATE_DAYS) -> Forecast:
    """Approvals per day over the last ``days`` days and the projected finish day at that rate.

    Parameters
    ----------
    svc : Service
        The project.
    prog : Progress
        From :func:`progress` (the cases left).
    now : datetime, optional
        Default: now.
    days : int
        The window of the rate.

    Returns
    -------
    Forecast
        ``finish`` is today plus the remaining cases over the rate, rounded up to whole days.
    """
    now = now or utcnow()
    with reading(svc) as db:
        tz = ZoneInfo(svc.settings(db).time_zone)
        n = db.scalar(select(func.count()).select_from(Event).where(
            Event.kind == "approve", Event.at >= now - dt.timedelta(days=days))) or 0
    today = now.astimezone(tz).date()
    finish = None
    if prog.remaining == 0:
        finish = today
    elif n:
        finish = today + dt.timedelta(days=math.ceil(prog.remaining / (n / days)))
    return Forecast(n, days, prog.remaining, finish, today)


@dataclass(frozen=True)
class ReviewQueue:
    """Submitted cases waiting for a reviewer, those under review, the oldest waiting submission."""

    waiting: int
    in_review: int
    oldest_submit: dt.datetime | None
    oldest_case: str | None


def review_queue(svc: Service, now: dt.datetime | None = None) -> ReviewQueue:
    """The review queue: how long it is and since when its oldest submission waits.

    Parameters
    ----------
    svc : Service
        The project.
    now : datetime, optional
        The moment of the review leases.

    Returns
    -------
    ReviewQueue
    """
    now = now or utcnow()
    stage = stage_expr(now)
    submitted_at = (select(latest_at()).where(Event.case_id == CaseRow.id, by_kind(("submit",)))
                    .scalar_subquery())
    with reading(svc) as db:
        counts = dict(db.execute(select(stage.label("s"), func.count()).where(
            CaseRow.state == workflow.SUBMITTED).group_by(stage)).all())
        oldest = db.execute(select(CaseRow.name, submitted_at.label("at")).where(stage == "submitted")
                            .order_by(submitted_at.asc(), CaseRow.id).limit(1)).first()
    return ReviewQueue(counts.get("submitted", 0), counts.get("in_review", 0),
                       as_utc(oldest.at) if oldest is not None and oldest.at else None,
                       oldest.name if oldest is not None else None)


@dataclass
class PersonNow:
    """What one person holds now and when they last did anything on a case (account events do not count)."""

    user: str
    role: str
    active: bool
    last_activity: dt.datetime | None = None
    holds: list[str] = field(default_factory=list)  # cases held for annotation (or a read)
    reviews: list[str] = field(default_factory=list)  # cases held for review
    lease_until: dt.datetime | None = None  # the earliest lease among them


def _earliest(a: dt.datetime | None, b: dt.datetime | None) -> dt.datetime | None:
    return b if a is None else a if b is None else min(a, b)


def people_now(svc: Service, now: dt.datetime | None = None) -> list[PersonNow]:
    """Every annotator and reviewer with their open claims, the earliest lease and their last activity.

    Also those who never did anything, and revoked people who still hold cases.

    Parameters
    ----------
    svc : Service
        The project.
    now : datetime, optional
        The moment of the leases (a claim past its lease is not held).

    Returns
    -------
    list of PersonNow
        By role (annotators first), then name.
    """
    now = now or utcnow()
    with reading(svc) as db:
        users = {u.id: PersonNow(u.name, u.role, bool(u.active))
                 for u in db.execute(select(User.id, User.name, User.role, User.active))}
        for uid, at in db.execute(select(Event.user_id, func.max(Event.at)).where(Event.user_id.is_not(None),
                                                                                   Event.case_id.is_not(None))
                                  .group_by(Event.user_id)):
            if uid in users:
                users[uid].last_activity = as_utc(at)
        for name, uid, until in db.execute(select(CaseRow.name, CaseRow.annotator_id, CaseRow.lease_until).where(
                CaseRow.flagged.is_(None), CaseRow.annotator_id.is_not(None), or_(
                    CaseRow.state == workflow.REJECTED,
                    and_(CaseRow.state == workflow.IN_PROGRESS, CaseRow.lease_until >= now)))
                .order_by(CaseRow.name)):
            p = users[uid]
            p.holds.append(name)
            p.lease_until = _earliest(p.lease_until, as_utc(until) if until else None)
        for name, uid, until in db.execute(select(CaseRow.name, Read.user_id, Read.lease_until).join(
                Read, Read.case_id == CaseRow.id).where(Read.status == "open", Read.lease_until >= now)
                .order_by(CaseRow.name)):
            users[uid].holds.append(name)
            users[uid].lease_until = _earliest(users[uid].lease_until, as_utc(until))
        for name, uid, until in db.execute(select(CaseRow.name, CaseRow.reviewer_id, CaseRow.review_lease_until)
                                           .where(CaseRow.state == workflow.SUBMITTED,
                                                  CaseRow.reviewer_id.is_not(None),
                                                  CaseRow.review_lease_until >= now).order_by(CaseRow.name)):
            users[uid].reviews.append(name)
            users[uid].lease_until = _earliest(users[uid].lease_until, as_utc(until))
    order = {"annotator": 0, "reviewer": 1, "lead": 2}
    out = [p for p in users.values() if p.role != "lead" or p.holds or p.reviews]
    out = [p for p in out if p.active or p.holds or p.reviews or p.last_activity]
    return sorted(out, key=lambda p: (order.get(p.role, 3), p.user))


def throughput(svc: Service, days: int = 14, today: dt.date | None = None) -> tuple[list[dt.date], dict]:
    """Submissions, rejections and approvals per day over the last ``days`` days (project time zone).

    Parameters
    ----------
    svc : Service
        The project.
    days : int
        How many days, ending today.
    today : date, optional
        The last day (default: today in the project's time zone).

    Returns
    -------
    tuple
        The days and ``{"submitted": [...], "rejected": [...], "approved": [...]}``, one count per day.
    """
    kinds = {"submit": "submitted", "reject": "rejected", "approve": "approved"}
    with reading(svc) as db:
        tz = ZoneInfo(svc.settings(db).time_zone)
        today = today or dt.datetime.now(tz).date()
        first = today - dt.timedelta(days=days - 1)
        lo = dt.datetime.combine(first, dt.time(), tz).astimezone(dt.UTC)
        rows = db.execute(select(Event.kind, Event.at).where(Event.kind.in_(tuple(kinds)), Event.at >= lo)).all()
    dates = [first + dt.timedelta(days=i) for i in range(days)]
    # the UTC start of each day after the first (naive too: SQLite hands back naive UTC), found by bisection
    starts = [dt.datetime.combine(d, dt.time(), tz).astimezone(dt.UTC) for d in dates[1:]]
    naive = [t.replace(tzinfo=None) for t in starts]
    series: dict[str, list[int]] = {v: [0] * days for v in kinds.values()}
    for kind, at in rows:
        i = bisect.bisect_right(naive if at.tzinfo is None else starts, at)
        if i < days:
            series[kinds[kind]][i] += 1
    return dates, series


__all__ = ["STAGES", "Forecast", "PersonNow", "Progress", "RATE_DAYS", "ReviewQueue", "by_kind", "forecast",
           "latest_at", "people_now", "progress", "reading", "review_queue", "stage_expr", "throughput"]
