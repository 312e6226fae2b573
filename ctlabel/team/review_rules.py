"""The reviewer's rules of the team server: review-next, approve, reject with marks, reopen, self-review.

:class:`Reviews`, a collaborator of :class:`ctlabel.team.service.Service`; every case-folder
change goes through :mod:`ctlabel.case.review` under the case lock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from ctlabel.case import record as case_record
from ctlabel.case import review, workflow
from ctlabel.case.folder import Case
from ctlabel.team.core import ProjectCore
from ctlabel.team.credit import credit
from ctlabel.team.db import Assignment, CaseRow, Read, User, utcnow
from ctlabel.team.double_read import DoubleReads
from ctlabel.team.errors import Conflict, Forbidden, Invalid, NotFound, as_utc
from ctlabel.team.gold import Gold


class Reviews:
    """The reviewer's rules.

    Parameters
    ----------
    core : ProjectCore
        The project's shared plumbing.
    double_reads : DoubleReads
        The double-reading rules (which read is approved, what approving one pays).
    """

    def __init__(self, core: ProjectCore, double_reads: DoubleReads) -> None:
        self.core = core
        self.double_reads = double_reads

    def review_next(self, user: User, accepted: bool = False) -> dict:
        """Give the reviewer a submitted case nobody reviews (never one they annotated, never a gold serving).

        ``accepted``: a case the review policy accepted without review instead (a reviewer may pull any).
        """
        self.core.require_role(user, "reviewer")
        state = workflow.ACCEPTED if accepted else workflow.SUBMITTED
        with self.core.tx() as db:
            now = utcnow()
            held = db.scalar(select(CaseRow).where(CaseRow.reviewer_id == user.id,
                                                   CaseRow.state.in_((workflow.SUBMITTED, workflow.ACCEPTED)),
                                                   CaseRow.review_lease_until >= now).limit(1))
            if held is not None:
                return self.core.case_summary(db, held, reason="held")
            q = (select(CaseRow).where(
                CaseRow.state == state, CaseRow.flagged.is_(None), Gold.not_serving(),
                or_(CaseRow.annotator_id.is_(None), CaseRow.annotator_id != user.id),
                ~exists().where(Read.case_id == CaseRow.id, Read.user_id == user.id),  # never a case they read
                or_(CaseRow.reviewer_id.is_(None), CaseRow.review_lease_until < now))
                 .order_by(CaseRow.priority.desc(), CaseRow.updated, CaseRow.id).limit(1))
            if self.core.postgres:
                q = q.with_for_update(skip_locked=True)
            row = db.scalar(q)
            if row is None:
                raise NotFound("no case accepted by the review policy is left to pull" if accepted
                               else "no submitted case awaits review")
            row.reviewer_id = user.id
            row.review_lease_until = now + dt.timedelta(seconds=self.core.settings(db).lease_s)
            db.add(Assignment(case_id=row.id, user_id=user.id, kind="review", status="open", claimed=now))
            if accepted:  # pulled from the cases the review policy accepted
                self.core.log(db, user, row, "review_claim", accepted=True)
            else:
                self.core.log(db, user, row, "review_claim")
            return self.core.case_summary(db, row, reason="new")

    def require_reviewer_of(self, db: Session, user: User, row: CaseRow) -> None:
        """The caller may decide this submitted case: no other reviewer holds it."""
        self.core.require_role(user, "reviewer")
        if row.state not in (workflow.SUBMITTED, workflow.ACCEPTED):  # accepted: by the policy, pulled by a reviewer
            raise Conflict(f"case {row.name} is {row.state}, not submitted")
        if (row.reviewer_id not in (None, user.id) and user.role != "lead"
                and row.review_lease_until is not None and as_utc(row.review_lease_until) >= utcnow()):
            raise Forbidden(f"case {row.name} is being reviewed by somebody else")

    @staticmethod
    def author(case: Case, version: str | None = None) -> tuple[str | None, str | None]:
        """Who made the latest version (or ``version``), and in which role."""
        rec = case_record.load_case_record(case)
        versions = case.versions()
        if not versions:
            return None, None
        made = case_record.version_event(rec, version or case_record.version_name(versions[-1]))
        return (made.who, str(made.role)) if made else (None, None)

    def _decide(self, user: User, name: str, kind: str, fn: Callable[[Case], int], version: str | None = None,
                **detail: Any) -> dict:
        with self.core.tx() as db:
            row = self.core.get_case(db, name)
            self.require_reviewer_of(db, user, row)
            if kind == "reject" and (row.readers or 1) >= 2:
                raise Conflict(f"case {name} is read by several annotators: approve the fusion or one read, or correct "
                               "it and approve that")
            case_id = row.id
        with self.core.case_lock(case_id):
            case = self.core.folder(row)
            who, role = self.author(case, version)
            if kind == "approve" and who == user.name and role == "annotator":
                raise Forbidden(f"{user.name} annotated the version under review and cannot approve it "
                                "(self-review)")
            n = self.core.change(fn, case)
            with self.core.tx() as db:
                row = db.get_one(CaseRow, case_id)
                self.core.sync(db, row)
                row.reviewer_id, row.review_lease_until = None, None
                if kind == "reject" and row.annotator_id is not None:
                    row.lease_until = None
                for a in db.scalars(select(Assignment).where(Assignment.case_id == case_id,
                                                             Assignment.status == "open", Assignment.kind == "review")):
                    a.status, a.ended = "done", utcnow()
                detail = {"annotator_id": row.annotator_id, **detail}
                if kind == "approve":
                    detail.update(credit(db, row.id))
                    if (row.readers or 1) >= 2:
                        detail.update(self.double_reads.double_credit(db, row))
                self.core.log(db, user, row, kind, version=case_record.version_name(n), **detail)
                return self.core.case_summary(db, row)

    def approve(self, user: User, name: str, comment: str | None = None, version: str | None = None) -> dict:
        """Approve the version under review (``version``: one of a double read's, or its merge)."""
        number = case_record.version_number(version) if version else None
        return self._decide(user, name, "approve",
                            lambda case: review.approve(case, user.name, version=number, comment=comment or None),
                            version=version, comment=comment or None)

    def approve_read(self, user: User, name: str, which: str, comment: str | None = None) -> dict:
        """Approve read A or B (or the version ``which`` names: a corrected merge) of a double-read case."""
        with self.core.tx() as db:
            row = self.core.get_case(db, name)
            version = self.double_reads.resolve(db, row, which)
        return self.approve(user, name, comment, version=version)

    def reject(self, user: User, name: str, comment: str, marks: list[dict] | None = None) -> dict:
        """Send the version under review back to its annotator, with what to fix (``marks``: slice, label, note)."""
        comment = (comment or "").strip()
        if not comment:
            raise Invalid("a rejection needs a comment saying what to fix")
        clean = []
        for m in marks or []:
            try:
                clean.append({"slice": int(m["slice"]), "label": int(m.get("label") or 0),
                              "note": str(m.get("note") or "")[:500]})
            except (KeyError, TypeError, ValueError):
                raise Invalid(f"a mark is {{slice, label, note}}, not {m!r}") from None
        text = comment
        if clean:
            text += " | marks: " + "; ".join(f"slice {m['slice']} label {m['label']}: {m['note']}" for m in clean)
        return self._decide(user, name, "reject", lambda case: review.reject(case, user.name, text),
                            comment=comment, marks=clean)

    def reopen(self, user: User, name: str, reason: str) -> dict:
        """Lead: make an approved case editable again (a new draft; the reason is logged)."""
        if user.role != "lead":
            raise Forbidden("only the lead reopens an approved case")
        reason = (reason or "").strip()
        if not reason:
            raise Invalid("reopening needs a reason")
        with self.core.tx() as db:
            row = self.core.get_case(db, name)
            if row.state != workflow.APPROVED:
                raise Conflict(f"case {name} is {row.state}, not approved")
            case_id = row.id
        with self.core.case_lock(case_id):
            self.core.change(review.start_new_draft, self.core.folder(row), user.name, role="reviewer")
            with self.core.tx() as db:
                row = db.get_one(CaseRow, case_id)
                self.core.sync(db, row)
                self.core.renew(db, row)
                self.core.log(db, user, row, "reopen", reason=reason)
                return self.core.case_summary(db, row)


__all__ = ["Reviews"]
