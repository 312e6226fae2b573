"""Ending every claim a person holds: when their token is revoked, their cases go back to the pool.

A revoked annotator could not work on their cases any more, yet held them until the lease ran
out (4 h by default), and a rejected case they held was never offered again. :func:`release_all`
ends their open claims at once: a case being annotated returns to the pool (its draft stays in
the case folder, and whoever claims it next continues from it), an open read of a double-read
case frees its slot (the reader's draft stays), a review claim returns the submitted case to
``review-next``. Only the database changes, never a case folder; each release is logged
(``release``, with ``reason``).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ctlabel.case import workflow
from ctlabel.team.db import Assignment, CaseRow, Read, User, utcnow
from ctlabel.team.service import Service


def _close(db: Session, case_id: int, user_id: int, kind: str) -> None:
    for a in db.scalars(select(Assignment).where(Assignment.case_id == case_id, Assignment.user_id == user_id,
                                                 Assignment.kind == kind, Assignment.status == "open")):
        a.status, a.ended = "released", utcnow()


def release_all(svc: Service, db: Session, user: User, by: User | None = None, reason: str = "revoked") -> list[dict]:
    """End every claim ``user`` holds, inside the caller's transaction.

    Parameters
    ----------
    svc : Service
        The project's service.
    db : sqlalchemy.orm.Session
        The open transaction (the caller commits).
    user : User
        Whose claims end.
    by : User, optional
        Who ends them (the lead), for the log; None from the command line.
    reason : str
        Logged with each release.

    Returns
    -------
    list of dict
        ``{"case": name, "lease": "annotate" | "read" | "review"}`` per claim ended, by case name.
    """
    lock = svc.engine.dialect.name == "postgresql"
    out = []
    q = select(CaseRow).where(CaseRow.annotator_id == user.id,
                              CaseRow.state.in_((workflow.IN_PROGRESS, workflow.REJECTED)))
    for row in db.scalars(q.with_for_update() if lock else q):
        row.annotator_id, row.lease_until = None, None
        _close(db, row.id, user.id, "annotate")
        out.append((row, "annotate"))
    q = select(CaseRow).where(CaseRow.reviewer_id == user.id, CaseRow.state == workflow.SUBMITTED)
    for row in db.scalars(q.with_for_update() if lock else q):
        row.reviewer_id, row.review_lease_until = None, None
        _close(db, row.id, user.id, "review")
        out.append((row, "review"))
    for read in db.scalars(select(Read).where(Read.user_id == user.id, Read.status == "open")):
        read.status = "released"  # the reader's draft stays in the case
        out.append((db.get_one(CaseRow, read.case_id), "read"))
    for row, lease in out:
        svc.log(db, by, row, "release", lease=lease, holder=user.name, reason=reason)
    return sorted(({"case": row.name, "lease": lease} for row, lease in out), key=lambda r: r["case"])


__all__ = ["release_all"]
