"""What a decision pays for: the work on a case since it was last paid.

A case is paid when a reviewer approves it (``approve``) or the review policy accepts it
(``policy_accept``); a lead's ``reopen`` starts a new round. :func:`credit` counts, since the last
of those, the resubmissions (rework owed to the annotator) and the review decisions (each
reviewer's rejections and corrections), and says whether the annotation of the case was already
paid by the policy's acceptance since the last approval, so that a reviewer's later approval of an
accepted case pays the review and any rework, never the annotation twice.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ctlabel.team.db import Event

#: The events that pay a case (and end a round of rework), and the one that starts a new round.
PAID = ("approve", "policy_accept")
NEW_ROUND = "reopen"


def credit(db: Session, case_id: int) -> dict:
    """The pay owed by a decision on the case now.

    Parameters
    ----------
    db : Session
        The caller's transaction.
    case_id : int
        The case row.

    Returns
    -------
    dict
        ``resubmissions`` (int), ``reviews`` (reviewer id as str -> decisions) since the last
        payment, and ``annotation_paid`` (True when the policy accepted the case since its last
        approval or reopening: its annotation is paid already).
    """
    approved = db.scalar(select(func.max(Event.id)).where(Event.case_id == case_id,
                                                          Event.kind.in_(("approve", NEW_ROUND))))
    accepted = db.scalar(select(func.max(Event.id)).where(Event.case_id == case_id, Event.kind == "policy_accept",
                                                          Event.id > (approved or 0)))
    since = max(approved or 0, accepted or 0)
    evs = db.scalars(select(Event).where(Event.case_id == case_id, Event.id > since,
                                         Event.kind.in_(("submit", "reject", "correct"))).order_by(Event.id))
    resub, reviews = 0, dict[str, int]()
    for ev in evs:
        if ev.kind == "submit" and (ev.detail or {}).get("resubmission"):
            resub += 1
        elif ev.kind in ("reject", "correct"):
            reviews[str(ev.user_id)] = reviews.get(str(ev.user_id), 0) + 1
    return {"resubmissions": resub, "reviews": reviews, "annotation_paid": accepted is not None}


__all__ = ["NEW_ROUND", "PAID", "credit"]
