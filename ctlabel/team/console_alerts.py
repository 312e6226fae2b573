"""What needs the lead's attention, each alert naming its case: the console's alerts list.

* ``flagged``: a case marked unusable, with the reason given;
* ``forced``: a case submitted past QA errors (``force``), waiting for review, with the errors;
* ``lease``: a claim or review whose lease ends within :data:`LEASE_WARN` (the case returns to the pool);
* ``revoked``: a case held by somebody whose token is revoked;
* ``stalled``: a case held, submitted, under review or rejected with nothing done on it for ``stall_hours``;
* ``rejected``: a case rejected twice or more and not approved yet;
* ``accuracy``: an annotator whose measured accuracy on a label is below the project's threshold
  (:mod:`ctlabel.team.accuracy`; linking to the accuracy page, not to a case).

Every query is an aggregate or touches only the cases concerned.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import quote

from sqlalchemy import and_, func, or_, select

from ctlabel.case import workflow
from ctlabel.team import accuracy as team_accuracy
from ctlabel.team.console_data import by_kind, latest_at, reading, stage_expr
from ctlabel.team.db import CaseRow, Event, Read, User, utcnow
from ctlabel.team.errors import as_utc
from ctlabel.team.service import Service

#: A lease ending within this is an alert.
LEASE_WARN = dt.timedelta(minutes=30)
#: A case with nothing done on it for this many hours is stalled (``/alerts?stall_hours=`` changes it).
STALL_HOURS = 48.0
KINDS = ("flagged", "forced", "revoked", "rejected", "accuracy", "stalled", "lease")


@dataclass(frozen=True)
class Alert:
    """One thing to look at: its kind (:data:`KINDS`), the case, what is wrong, since when; or a page to go to."""

    kind: str
    case: str
    text: str
    at: dt.datetime | None = None
    link: str | None = None


def _qa_text(detail: dict) -> str:
    errors = detail.get("qa_errors") or []
    listed = "; ".join(str(e) for e in errors[:3]) + (f"; and {len(errors) - 3} more" if len(errors) > 3 else "")
    return f"submitted past {len(errors) or 'its'} QA error(s)" + (f": {listed}" if listed else "")


def _duration(delta: dt.timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.0f} h" if hours >= 2 else f"{hours * 60:.0f} min"


def alerts(svc: Service, now: dt.datetime | None = None, stall_hours: float = STALL_HOURS) -> list[Alert]:
    """Everything wrong now, most serious kinds first (:data:`KINDS`), then oldest first.

    Parameters
    ----------
    svc : Service
        The project.
    now : datetime, optional
        Default: now (UTC).
    stall_hours : float
        Nothing done on a held, submitted or rejected case for this long makes it stalled.

    Returns
    -------
    list of Alert
    """
    now = now or utcnow()
    out: list[Alert] = []
    stage = stage_expr(now)
    with reading(svc) as db:
        names = dict(db.execute(select(User.id, User.name)).all())
        flag_at = (select(latest_at()).where(Event.case_id == CaseRow.id, by_kind(("flag",)))
                   .scalar_subquery())
        for name, reason, at in db.execute(select(CaseRow.name, CaseRow.flagged, flag_at)
                                           .where(CaseRow.flagged.is_not(None))):
            out.append(Alert("flagged", name, f"flagged unusable: {reason}", as_utc(at) if at else None))
        last: dict[str, tuple] = {}
        for name, detail, at, uid in db.execute(
                select(CaseRow.name, Event.detail, Event.at, Event.user_id).join(Event, Event.case_id == CaseRow.id)
                .where(CaseRow.state == workflow.SUBMITTED, CaseRow.flagged.is_(None), Event.kind == "submit")
                .order_by(Event.id)):
            last[name] = (detail or {}, at, uid)
        for name, (detail, at, uid) in last.items():
            if detail.get("forced"):
                out.append(Alert("forced", name, f"{names.get(uid, '?')} {_qa_text(detail)}", as_utc(at)))
        held = [(CaseRow.name, CaseRow.annotator_id, "annotator", or_(
                    CaseRow.state == workflow.REJECTED,
                    and_(CaseRow.state == workflow.IN_PROGRESS, CaseRow.lease_until >= now))),
                (CaseRow.name, CaseRow.reviewer_id, "reviewer", and_(CaseRow.state == workflow.SUBMITTED,
                                                                     CaseRow.review_lease_until >= now))]
        for name_col, who_col, role, cond in held:
            for name, who in db.execute(select(name_col, User.name).join(User, User.id == who_col)
                                        .where(cond, CaseRow.flagged.is_(None), User.active.is_(False))):
                out.append(Alert("revoked", name, f"held by {who} ({role}), whose token is revoked: release or "
                                                  "reassign it"))
        for name, who in db.execute(select(CaseRow.name, User.name).join(Read, Read.case_id == CaseRow.id)
                                    .join(User, User.id == Read.user_id)
                                    .where(Read.status == "open", User.active.is_(False))):
            out.append(Alert("revoked", name, f"read by {who}, whose token is revoked: release the read"))
        for name, n in db.execute(select(CaseRow.name, func.count(Event.id)).join(Event, Event.case_id == CaseRow.id)
                                  .where(Event.kind == "reject", CaseRow.state != workflow.APPROVED,
                                         CaseRow.flagged.is_(None))
                                  .group_by(CaseRow.name).having(func.count(Event.id) >= 2)):
            out.append(Alert("rejected", name, f"rejected {n} times and not approved yet"))
        last_at = select(latest_at()).where(Event.case_id == CaseRow.id).scalar_subquery()
        cutoff = now - dt.timedelta(hours=stall_hours)
        for name, st, at in db.execute(select(CaseRow.name, stage, last_at).where(  # cheap terms first
                CaseRow.state.in_((workflow.IN_PROGRESS, workflow.SUBMITTED, workflow.REJECTED)),
                CaseRow.flagged.is_(None), last_at < cutoff,
                stage.in_(("claimed", "in_progress", "submitted", "in_review", "rejected")))):
            what = {"submitted": "waiting for a reviewer", "in_review": "under review"}.get(st, st.replace("_", " "))
            out.append(Alert("stalled", name, f"{what}, nothing done for {_duration(now - as_utc(at))}",
                             as_utc(at)))
        soon = now + LEASE_WARN
        leases = {
            "annotation": select(CaseRow.name, CaseRow.annotator_id, CaseRow.lease_until).where(
                CaseRow.state == workflow.IN_PROGRESS, CaseRow.flagged.is_(None), CaseRow.annotator_id.is_not(None),
                CaseRow.lease_until >= now, CaseRow.lease_until < soon),
            "review": select(CaseRow.name, CaseRow.reviewer_id, CaseRow.review_lease_until).where(
                CaseRow.state == workflow.SUBMITTED, CaseRow.reviewer_id.is_not(None),
                CaseRow.review_lease_until >= now, CaseRow.review_lease_until < soon),
            "read": select(CaseRow.name, Read.user_id, Read.lease_until).join(Read, Read.case_id == CaseRow.id)
            .where(Read.status == "open", Read.lease_until >= now, Read.lease_until < soon)}
        for role, query in leases.items():
            for name, holder, until in db.execute(query):
                end = as_utc(until) or now
                out.append(Alert("lease", name, f"{names.get(holder or -1, '?')}'s {role} lease ends in "
                                                f"{(end - now).total_seconds() / 60:.0f} min (then the case goes "
                                                "back to the pool)", end))
    out.extend(accuracy_alerts(svc))
    rank = {k: i for i, k in enumerate(KINDS)}
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    return sorted(out, key=lambda a: (rank[a.kind], a.at or far, a.case))


def accuracy_alerts(svc: Service) -> list[Alert]:
    """One alert per annotator and label whose combined estimate is below the project's threshold (none unset)."""
    limit = team_accuracy.threshold(svc)
    if limit is None:
        return []
    names = team_accuracy.label_names(svc)
    out = []
    for b in team_accuracy.below(team_accuracy.annotator_accuracy(svc), limit):
        e, a = b.accuracy.estimate, b.accuracy
        label = f"label {b.label}" + (f" ({names[b.label]})" if b.label in names else "")
        out.append(Alert("accuracy", "", f"{b.annotator} on {label}: accuracy {e.mean:.3f} [{e.low:.3f}, "
                                         f"{e.high:.3f}] is below the threshold {limit:g} (gold n {a.gold.n}, "
                                         f"agreement n {a.agreement.n})", None,
                         f"/accuracy#acc-{quote(b.annotator)}-{b.label}"))
    return out


__all__ = ["Alert", "KINDS", "LEASE_WARN", "STALL_HOURS", "accuracy_alerts", "alerts"]
