"""What the lead's dashboard shows and does, without HTTP: counts, throughput, the case table, actions.

Every query is an aggregate or one page of rows (``LIMIT``/``OFFSET``), so pages stay fast
with tens of thousands of cases. The actions (reassign a case, release a lease) change only
the database (who holds a case), never a case folder; reopening goes through
:meth:`ctlabel.team.service.Service.reopen` (``ctlabel.case.review``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from sqlalchemy import ColumnElement, func, select

from ctlabel.case import record as case_record
from ctlabel.case import workflow
from ctlabel.model import Event as RecordEvent
from ctlabel.team import case_labels
from ctlabel.team import report as reporting
from ctlabel.team.console_data import stage_expr
from ctlabel.team.db import Assignment, CaseRow, Event, Read, User, utcnow
from ctlabel.team.double_read import agreement_summary
from ctlabel.team.errors import Conflict, Invalid, NotFound
from ctlabel.team.service import Service

STATES = (workflow.IN_PROGRESS, workflow.SUBMITTED, workflow.REJECTED, workflow.APPROVED)
PAGE_SIZE = 50


def figures(svc: Service) -> dict:
    """The figures of :func:`ctlabel.team.report.report` over all days (its plain-column read).

    Same rules and the same ``people`` rows as the report, without ``since``/``until``.
    """
    rep = reporting.report(svc)
    return {k: v for k, v in rep.items() if k not in ("since", "until")}


def agreement(svc: Service) -> dict:
    """The project's double-read agreement (:func:`ctlabel.team.double_read.agreement_summary`)."""
    with svc.tx() as db:
        return agreement_summary(svc, db)


def people(rep: dict) -> tuple[list[dict], list[dict]]:
    """Annotator and reviewer rows from :func:`figures` (or :func:`ctlabel.team.report.report`)."""
    annotators, reviewers = [], []
    for p in rep["people"]:
        items = p["submitted"] - p["resubmitted"]
        decided = p["approved"] + p["rejected"]
        row = {"user": p["user"], "items": items, "resubmitted": p["resubmitted"], "approved": p["approved"],
               "rejected": p["rejected"], "approval_rate": (p["approved"] / decided) if decided else None,
               "active_min_per_item": (p["active_seconds"] / 60 / items) if items else None,
               "owed": p["owed_cents"] / 100, "reviews": p["reviews"]}
        if p["role"] == "annotator" or (p["role"] == "lead" and p["submitted"]):
            annotators.append(row)
        if p["role"] == "reviewer" or (p["role"] == "lead" and p["reviews"]):
            reviewers.append(row)
    return annotators, reviewers


def case_page(svc: Service, state: str | None = None, annotator: str | None = None, q: str | None = None,
              page: int = 1, size: int = PAGE_SIZE, stage: str | None = None) -> dict:
    """One page of the case table, filtered by state, stage and annotator, searched by case id or label.

    The label (:mod:`ctlabel.team.case_labels`) of every case is read once (cached) for a search.
    """
    now = utcnow()
    stage_col = stage_expr(now)
    with svc.read() as db:
        users: dict[int | None, str] = {u.id: u.name for u in db.scalars(select(User))}
        cond: list[ColumnElement[bool]] = []
        if state == "flagged":
            cond.append(CaseRow.flagged.is_not(None))
        elif state:
            cond.append(CaseRow.state == state)
        if stage:
            cond.append(stage_col == stage)
        if annotator:
            uid = next((i for i, n in users.items() if n == annotator), -1)
            cond.append(CaseRow.annotator_id == uid)
        if q and q.strip():
            text = q.strip()[:200].lower()
            every = dict(db.execute(select(CaseRow.name, CaseRow.path)).all())
            found = [n for n, label in case_labels.labels(svc.root, every).items()
                     if text in n.lower() or text in label.lower()]
            cond.append(CaseRow.name.in_(found) if found else CaseRow.id < 0)
        total = db.scalar(select(func.count()).select_from(CaseRow).where(*cond)) or 0
        pages = max(1, math.ceil(total / size))
        page = min(max(1, page), pages)
        rows = db.execute(select(CaseRow, stage_col.label("stage")).where(*cond).order_by(CaseRow.name)
                          .offset((page - 1) * size).limit(size)).all()
        names = case_labels.labels(svc.root, {r.name: r.path for r, _ in rows})
        out = [{"case": r.name, "label": names[r.name], "stage": st, "state": r.state, "flagged": r.flagged,
                "priority": r.priority, "annotator": users.get(r.annotator_id), "reviewer": users.get(r.reviewer_id),
                "lease_until": r.lease_until, "updated": r.updated} for r, st in rows]
    return {"rows": out, "total": total, "page": page, "pages": pages}


def case_history(svc: Service, name: str) -> dict:
    """A case's row, its server events (heartbeats summed up per person) and its ``case.json`` events."""
    with svc.tx() as db:
        row = svc.get_case(db, name)
        users: dict[int | None, str] = {u.id: u.name for u in db.scalars(select(User))}
        events = [{"at": e.at, "who": users.get(e.user_id), "kind": e.kind, "detail": e.detail}
                  for e in db.scalars(select(Event).where(Event.case_id == row.id, Event.kind != "heartbeat")
                                      .order_by(Event.id))]
        beats = [{"who": users.get(uid), "n": n, "first": lo, "last": hi} for uid, n, lo, hi in db.execute(
            select(Event.user_id, func.count(), func.min(Event.at), func.max(Event.at))
            .where(Event.case_id == row.id, Event.kind == "heartbeat").group_by(Event.user_id))]
        info = {"case": row.name, "state": row.state, "flagged": row.flagged, "priority": row.priority,
                "annotator": users.get(row.annotator_id), "reviewer": users.get(row.reviewer_id),
                "lease_until": row.lease_until, "review_lease_until": row.review_lease_until}
        annotators = sorted(u.name for u in db.scalars(select(User).where(User.role == "annotator",
                                                                         User.active.is_(True))))
    try:
        record: Sequence[RecordEvent] = case_record.load_case_record(svc.folder(row)).events
    except Exception:  # noqa: BLE001 - a broken folder still shows the server's side
        record = ()
    return {**info, "events": events, "heartbeats": beats, "record": record, "annotators": annotators}


def _close_open(db, case_id: int, kind: str, status: str) -> None:
    for a in db.scalars(select(Assignment).where(Assignment.case_id == case_id, Assignment.status == "open",
                                                 Assignment.kind == kind)):
        a.status, a.ended = status, utcnow()


def reassign(svc: Service, lead: User, name: str, to: str) -> dict:
    """Give a case that is not submitted yet to another annotator (a new lease; the old claim ends)."""
    with svc.tx() as db:
        row = svc.get_case(db, name, lock=True)
        user = db.scalar(select(User).where(User.name == to))
        if user is None or not user.active or user.role != "annotator":
            raise Invalid(f"{to!r} is not an active annotator")
        if (row.readers or 1) >= 2:
            raise Conflict(f"case {name} is read by several annotators, each with their own "
                           "draft: release its reads instead, and the next claims take the slots")
        if row.flagged is not None or row.state not in (workflow.IN_PROGRESS, workflow.REJECTED):
            raise Conflict(f"case {name} is {row.flagged and 'flagged' or row.state}; only a case in progress "
                           "or rejected can be reassigned")
        before = row.annotator_id
        _close_open(db, row.id, "annotate", "reassigned")
        row.annotator_id = user.id
        svc.renew(db, row)
        db.add(Assignment(case_id=row.id, user_id=user.id, kind="annotate", status="open", claimed=utcnow()))
        svc.log(db, lead, row, "reassign", to=user.name, from_user_id=before)
        return {"case": name, "annotator": user.name}


def release(svc: Service, lead: User, name: str) -> dict:
    """End the lease on a case: the annotator's or the open reads (not yet submitted), or the reviewer's."""
    with svc.tx() as db:
        row = svc.get_case(db, name, lock=True)
        reads = [] if (row.readers or 1) < 2 else list(db.scalars(select(Read).where(
            Read.case_id == row.id, Read.status == "open")))
        if row.state == workflow.IN_PROGRESS and reads:
            names = [svc.user(db, r.user_id).name for r in reads]
            for r in reads:  # their drafts stay in the case (a reader who claims it again gets theirs back)
                r.status = "released"
            svc.log(db, lead, row, "release", lease="read", readers=names)
            return {"case": name, "released": "read", "readers": names}
        if row.state in (workflow.IN_PROGRESS, workflow.REJECTED) and row.annotator_id is not None:
            released = "annotate"
            row.annotator_id, row.lease_until = None, None
        elif row.state == workflow.SUBMITTED and row.reviewer_id is not None:
            released = "review"
            row.reviewer_id, row.review_lease_until = None, None
        else:
            raise NotFound(f"case {name} has no lease to release")
        _close_open(db, row.id, released, "released")
        svc.log(db, lead, row, "release", lease=released)
        return {"case": name, "released": released}


__all__ = ["PAGE_SIZE", "agreement", "STATES", "case_history", "case_page", "figures", "people", "reassign",
           "release"]
