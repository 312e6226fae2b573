"""Pay periods: the lead closes the days up to a date, their pay is frozen, later marked paid.

* :func:`close_period` takes the report (:func:`ctlabel.team.report.report_in`) of the days
  after the last closed period up to ``until`` (inclusive, the project's time zone) and stores
  each person's row (:class:`ctlabel.team.db.PayLine`) with the rates of the day, in the same
  transaction. A closed period is never computed again: a later rate change, a late event or
  a reopened case changes the open work, not a closed period.
* Periods never overlap: a period starts the day after the last one ends (the first one: at
  the start of the project), and only days that are over in the project's time zone can be
  closed (work of today would otherwise fall between a closed period and the open work).
* The work after the last closed period is **open**: owed, not yet closed (:func:`summary`).
* :func:`period_report` gives a closed period as a report (same keys), so
  :func:`ctlabel.team.report.to_csv` prints it: byte for byte ``ctlabel team report
  --since FIRST --until LAST --csv`` as it was at the close.

Paid work is what the report counts: annotation items (also each read of a double-read case),
review items, rework items, gold items (a scored gold serving, :mod:`ctlabel.team.gold`;
:data:`ctlabel.team.db.RATE_KINDS`), each a column of ``pay_lines`` (:data:`ITEM_COLUMNS`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ctlabel.errors import InputError
from ctlabel.team.db import PayLine, PayPeriod, Project, User, utcnow
from ctlabel.team.errors import Conflict, NotFound, as_utc
from ctlabel.team.report import report, report_in
from ctlabel.team.service import Service

#: The report's item kinds and the ``pay_lines`` column of each (the hook for new kinds, e.g. gold).
ITEM_COLUMNS = {"annotation": "annotation_items", "review": "review_items", "rework": "rework_items",
                "gold": "gold_items"}
#: The report's counts stored as they are.
COUNT_COLUMNS = ("submitted", "resubmitted", "approved", "rejected", "reviews")


@dataclasses.dataclass(frozen=True)
class PeriodInfo:
    """A closed pay period: its days, status, who closed it and the amount of its lines (cents)."""

    number: int
    first_day: dt.date | None
    last_day: dt.date
    status: str
    closed_at: dt.datetime
    closed_by: str
    paid_at: dt.datetime | None
    currency: str
    owed_cents: int
    people: int

    def as_dict(self) -> dict:
        """JSON-ready (days and times as ISO text)."""
        d = dataclasses.asdict(self)
        for k in ("first_day", "last_day", "closed_at", "paid_at"):
            d[k] = None if d[k] is None else d[k].isoformat()
        return d


@dataclasses.dataclass(frozen=True)
class PaySummary:
    """Paid, closed but unpaid, and open work (cents); ``owed_cents`` is unpaid plus open."""

    currency: str
    paid_cents: int
    unpaid_cents: int
    open_cents: int
    open_since: dt.date | None
    periods: list[PeriodInfo]

    @property
    def owed_cents(self) -> int:
        """What is owed: the closed periods not yet paid and the open work."""
        return self.unpaid_cents + self.open_cents

    def as_dict(self) -> dict:
        """JSON-ready: the amounts, ``owed_cents``, ``open_since`` and ``periods``."""
        return {"currency": self.currency, "paid_cents": self.paid_cents, "unpaid_cents": self.unpaid_cents,
                "open_cents": self.open_cents, "owed_cents": self.owed_cents,
                "open_since": self.open_since.isoformat() if self.open_since else None,
                "periods": [p.as_dict() for p in self.periods]}


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InputError(f"a day is YYYY-MM-DD, not {text!r}") from None


def _info(db: Session, p: PayPeriod) -> PeriodInfo:
    owed, n = db.execute(select(func.coalesce(func.sum(PayLine.owed_cents), 0), func.count(PayLine.id))
                         .where(PayLine.period_id == p.id)).one()
    return PeriodInfo(p.number, p.first_day, p.last_day, p.status, as_utc(p.closed_at), p.closed_by,
                      as_utc(p.paid_at) if p.paid_at else None, p.currency, int(owed), int(n))


def _last(db: Session) -> PayPeriod | None:
    return db.scalar(select(PayPeriod).order_by(PayPeriod.number.desc()).limit(1))


def _get(db: Session, number: int) -> PayPeriod:
    p = db.scalar(select(PayPeriod).where(PayPeriod.number == number))
    if p is None:
        raise NotFound(f"no pay period {number} (ctlabel team pay list shows them)")
    return p


def close_period(svc: Service, until: str, closed_by: str, today: dt.date | None = None) -> PeriodInfo:
    """Close the days after the last closed period up to ``until``: each person's pay is frozen.

    Parameters
    ----------
    svc : Service
        The project.
    until : str
        The last day of the period (YYYY-MM-DD, inclusive, the project's time zone); it must be
        over (before ``today``) and after the last closed period.
    closed_by : str
        Who closes it (recorded).
    today : datetime.date, optional
        Today in the project's time zone (default: now).

    Returns
    -------
    PeriodInfo

    Raises
    ------
    InputError
        ``until`` is not a day.
    Conflict
        ``until`` is not over yet, or not after the last closed period (periods never overlap).
    """
    last_day = _day(until)
    try:
        with svc.tx() as db:
            proj = db.scalar(select(Project).with_for_update())  # PostgreSQL: one close at a time
            assert proj is not None
            tz = ZoneInfo(proj.time_zone)
            today = today or dt.datetime.now(tz).date()
            if last_day >= today:
                raise Conflict(f"{last_day} is not over yet in {tz.key} (today is {today}): only past days are "
                               "closed, or today's work would fall between the period and the open work")
            prev = _last(db)
            if prev is not None and last_day <= prev.last_day:
                raise Conflict(f"pay period {prev.number} already covers the days up to {prev.last_day}: periods "
                               f"never overlap; close a day after it")
            first_day = prev.last_day + dt.timedelta(days=1) if prev is not None else None
            rep = report_in(db, svc, first_day.isoformat() if first_day else None, last_day.isoformat())
            period = PayPeriod(number=(prev.number + 1) if prev is not None else 1, first_day=first_day,
                               last_day=last_day, status="closed", closed_at=utcnow(), closed_by=closed_by[:100],
                               currency=rep["currency"], time_zone=tz.key, idle_limit_s=rep["idle_limit_s"],
                               rates_cents=dict(rep["rates_cents"]))
            db.add(period)
            db.flush()
            ids = {name: uid for uid, name in db.execute(select(User.id, User.name))}
            for p in rep["people"]:
                db.add(PayLine(period_id=period.id, user_id=ids[p["user"]], user_name=p["user"], role=p["role"],
                               **{k: p[k] for k in COUNT_COLUMNS},
                               **{col: p["items"].get(kind, 0) for kind, col in ITEM_COLUMNS.items()},
                               active_seconds=p["active_seconds"], owed_cents=p["owed_cents"]))
            db.flush()
            return _info(db, period)
    except IntegrityError:
        raise Conflict("another pay period was closed at the same time; look at ctlabel team pay list") from None


def periods(svc: Service) -> list[PeriodInfo]:
    """The closed pay periods, oldest first."""
    with svc.read() as db:
        return [_info(db, p) for p in db.scalars(select(PayPeriod).order_by(PayPeriod.number))]


def period_report(svc: Service, number: int) -> dict:
    """A closed period as a report (the keys of :func:`ctlabel.team.report.report`), from its frozen lines.

    Besides the report's keys: ``period`` (:meth:`PeriodInfo.as_dict`).
    """
    with svc.read() as db:
        p = _get(db, number)
        proj = svc.settings(db)
        lines = db.scalars(select(PayLine).where(PayLine.period_id == p.id).order_by(PayLine.user_name)).all()
        people = [{"user": ln.user_name, "role": ln.role, **{k: getattr(ln, k) for k in COUNT_COLUMNS},
                   "items": {kind: getattr(ln, col) for kind, col in ITEM_COLUMNS.items()},
                   "active_seconds": ln.active_seconds, "owed_cents": ln.owed_cents} for ln in lines]
        return {"project": proj.name, "time_zone": p.time_zone,
                "since": p.first_day.isoformat() if p.first_day else None, "until": p.last_day.isoformat(),
                "currency": p.currency, "idle_limit_s": p.idle_limit_s, "rates_cents": dict(p.rates_cents),
                "people": people, "period": _info(db, p).as_dict()}


def mark_paid(svc: Service, number: int) -> PeriodInfo:
    """Record that a closed period was paid (once: paying it again is refused)."""
    with svc.tx() as db:
        p = _get(db, number)
        if p.status == "paid":
            raise Conflict(f"pay period {number} was already marked paid on {p.paid_at}")
        p.status, p.paid_at = "paid", utcnow()
        db.flush()
        return _info(db, p)


def summary(svc: Service) -> PaySummary:
    """Paid, unpaid (closed) and open work in cents, and the periods: the dashboard's pay figures."""
    all_periods = periods(svc)
    last = all_periods[-1] if all_periods else None
    open_since = last.last_day + dt.timedelta(days=1) if last else None
    rep = report(svc, open_since.isoformat() if open_since else None)
    return PaySummary(currency=rep["currency"],
                      paid_cents=sum(p.owed_cents for p in all_periods if p.status == "paid"),
                      unpaid_cents=sum(p.owed_cents for p in all_periods if p.status != "paid"),
                      open_cents=sum(p["owed_cents"] for p in rep["people"]), open_since=open_since,
                      periods=all_periods)


__all__ = ["COUNT_COLUMNS", "ITEM_COLUMNS", "PaySummary", "PeriodInfo", "close_period", "mark_paid", "period_report",
           "periods", "summary"]
