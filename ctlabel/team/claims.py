"""The annotator's rules of the team server: claims and their leases, submit, withdraw, flag, heartbeats.

:class:`Claims`, a collaborator of :class:`ctlabel.team.service.Service`. Every change of a case
folder goes through :mod:`ctlabel.case.review` (the case lock, the events, the hash chain); the
database holds who works on what, the state mirror and time.

Claiming is atomic: on PostgreSQL the candidate row is locked ``FOR UPDATE SKIP LOCKED``
(concurrent claims skip each other's rows) and the claimant's row ``FOR UPDATE`` (one claim of a
person at a time, so the open-case limit counts the claim before); on SQLite every transaction
is ``BEGIN IMMEDIATE`` (:func:`ctlabel.team.db.make_engine`), so claims run one at a time.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from ctlabel.case import reads as case_reads
from ctlabel.case import record as case_record
from ctlabel.case import review, workflow
from ctlabel.team.core import ProjectCore
from ctlabel.team.db import Assignment, CaseRow, Event, Read, User, utcnow
from ctlabel.team.double_read import DoubleReads, require_no_reviewer
from ctlabel.team.errors import Conflict, Forbidden, Invalid, NotFound, as_utc
from ctlabel.team.gold import Gold
from ctlabel.team.policy import Policies
from ctlabel.team.qa_note import submit_note


class Claims:
    """Who annotates which case: claims, leases, submit, withdraw, flag, heartbeats, the worklist.

    Parameters
    ----------
    core : ProjectCore
        The project's shared plumbing.
    double_reads : DoubleReads
        The double-reading rules (a claim may give a reader slot; a reader submits a read).
    gold : Gold, optional
        The gold-standard rules (a claim may serve a gold case; its submit is scored).
    policy : Policies, optional
        The review policy (a trusted annotator's single read may be accepted without review).
    """

    def __init__(self, core: ProjectCore, double_reads: DoubleReads, gold: Gold | None = None,
                 policy: Policies | None = None) -> None:
        self.core = core
        self.double_reads = double_reads
        self.gold = gold or Gold(core)
        self.policy = policy or Policies(core)

    def require_annotator_of(self, db: Session, user: User, row: CaseRow) -> None:
        """The caller holds this case for annotation (a lead may act on any case)."""
        if user.role == "lead":
            return
        if (row.readers or 1) >= 2:
            self.double_reads.require_reader_of(db, user, row)
            return
        self.core.require_role(user, "annotator")
        if row.annotator_id != user.id:
            raise Forbidden(f"case {row.name} is not yours")
        if row.state == workflow.IN_PROGRESS and row.lease_until is not None and as_utc(row.lease_until) < utcnow():
            other = db.scalar(select(Assignment).where(Assignment.case_id == row.id, Assignment.status == "open",
                                                       Assignment.user_id != user.id))
            if other is not None:
                raise Forbidden(f"your claim of case {row.name} expired and it went to somebody else")

    def open_cases(self, db: Session, user: User) -> list[CaseRow]:
        """The cases the annotator holds now: rejected back to them, or in progress with a live lease."""
        now = utcnow()
        return list(db.scalars(select(CaseRow).where(
            CaseRow.annotator_id == user.id, CaseRow.flagged.is_(None),
            or_(CaseRow.state == workflow.REJECTED,
                and_(CaseRow.state == workflow.IN_PROGRESS, CaseRow.lease_until >= now))).order_by(CaseRow.id)))

    def claim_next(self, user: User) -> dict:
        """Give the annotator a case: their rejected case first, else a free one (atomically).

        Raises Conflict at the open-case limit, NotFound when nothing is left.
        """
        self.core.require_role(user, "annotator")
        with self.core.tx() as db:
            if self.core.postgres:  # this person's claims one at a time (the open limit)
                db.execute(select(User.id).where(User.id == user.id).with_for_update())
            mine = self.open_cases(db, user)
            for held in mine:
                if held.state == workflow.REJECTED:
                    return self.core.case_summary(db, held, reason="rework")
            limit = self.core.settings(db).open_limit
            mine += self.double_reads.open_reads(db, user)
            if len(mine) >= limit:
                raise Conflict(f"{user.name} has {len(mine)} open case(s) ({', '.join(r.name for r in mine)}), the "
                               f"limit is {limit}: submit or withdraw one first")
            now = utcnow()
            q = (select(CaseRow).where(
                self.gold.not_serving(),
                CaseRow.flagged.is_(None), func.coalesce(CaseRow.readers, self.core.settings(db).readers or 1) == 1,
                or_(and_(CaseRow.state == workflow.IN_PROGRESS,
                         or_(CaseRow.annotator_id.is_(None), CaseRow.lease_until < now)),
                    and_(CaseRow.state == workflow.REJECTED, CaseRow.annotator_id.is_(None))))
                 .order_by(CaseRow.priority.desc(), CaseRow.id).limit(1))
            if self.core.postgres:
                q = q.with_for_update(skip_locked=True)
            row = db.scalar(q)
            double = self.double_reads.double_candidate(db, user, now)
            if double is not None and (row is None or (double.priority, -double.id) > (row.priority, -row.id)):
                return self.double_reads.claim_read(db, user, double, now)
            if row is None:
                raise NotFound("no case is waiting for annotation")
            served = self.gold.maybe_serve(db, user, row.priority, now)  # a gold case instead, at the gold rate
            if served is not None:
                return served
            for old in db.scalars(select(Assignment).where(Assignment.case_id == row.id, Assignment.status == "open",
                                                           Assignment.kind == "annotate")):
                old.status, old.ended = "expired", now
            row.readers = 1
            row.annotator_id = user.id
            self.core.renew(db, row)
            db.add(Assignment(case_id=row.id, user_id=user.id, kind="annotate", status="open", claimed=now))
            self.core.log(db, user, row, "claim")
            return self.core.case_summary(db, row, reason="new")

    def info(self, user: User, name: str) -> dict:
        """What the caller is told about a case they may read."""
        with self.core.read() as db:
            row = self.core.get_case(db, name)
            self.require_access(db, user, row)
            return self.core.case_summary(db, row, reader=self.double_reads.reader_name(db, user, row))

    def my_cases(self, user: User, limit: int = 50) -> list[dict]:
        """The cases the person annotates (or reads) or reviews, most recently changed first (a worklist)."""
        with self.core.tx() as db:
            reading = select(Read.case_id).where(Read.user_id == user.id, Read.status.in_(("open", "submitted")))
            rows = db.scalars(select(CaseRow).where(or_(CaseRow.annotator_id == user.id,
                                                        CaseRow.reviewer_id == user.id, CaseRow.id.in_(reading)))
                              .order_by(CaseRow.updated.desc(), CaseRow.id.desc()).limit(limit))
            out = []
            for row in rows:
                reader = self.double_reads.reader_name(db, user, row)
                role = "annotator" if row.annotator_id == user.id or reader else "reviewer"
                out.append({**self.core.case_summary(db, row, reader=reader), "role": role})
            return out

    def require_access(self, db: Session, user: User, row: CaseRow) -> None:
        """Reading a case: its annotator, any reviewer or lead (a gold serving: its annotator and the lead)."""
        if user.role == "reviewer" and self.gold.serving_of(db, row) is not None:
            raise NotFound(f"no case {row.name!r} in this project")
        if user.role in ("reviewer", "lead"):
            return
        self.require_annotator_of(db, user, row)

    def submit(self, user: User, name: str, force: bool = False) -> dict:
        """Submit the caller's draft as a version (QA first; ``force`` past QA errors); a reader submits a read."""
        with self.core.tx() as db:
            row = self.core.get_case(db, name)
            self.require_annotator_of(db, user, row)
            gold = self.gold.serving_of(db, row) is not None
            case_id, double = row.id, (row.readers or 1) >= 2
        if gold:
            return self.gold.submit(user, name, force)
        if double:
            return self.double_reads.submit_read(user, name, force)
        with self.core.case_lock(case_id):
            case = self.core.folder(row)
            n = self.core.change(review.submit, case, user.name, force=force)
            decision = self.policy.decide(user, case, n)  # None: the policy is off (every case is reviewed)
            with self.core.tx() as db:
                row = db.get_one(CaseRow, case_id)
                since = db.scalar(select(func.max(Event.id)).where(Event.case_id == case_id,
                                                                   Event.kind.in_(("approve", "reopen"))))
                # a resubmission follows a rejection (a withdrawn submission is no rework)
                before = db.scalar(select(func.count(Event.id)).where(Event.case_id == case_id,
                                                                      Event.kind == "reject",
                                                                      Event.id > (since or 0)))
                self.core.sync(db, row)
                row.lease_until, row.reviewer_id, row.review_lease_until = None, None, None
                for a in db.scalars(select(Assignment).where(Assignment.case_id == case_id,
                                                             Assignment.status == "open")):
                    a.status, a.ended = "done", utcnow()
                self.core.log(db, user, row, "submit", version=case_record.version_name(n),
                         resubmission=bool(before), **submit_note(case_record.load_case_record(case)),
                         **self.policy.note(decision))
            if decision is not None and decision.accepted:
                self.policy.accept(user, case_id, decision)
            with self.core.read() as db:
                return self.core.case_summary(db, db.get_one(CaseRow, case_id))

    def withdraw(self, user: User, name: str) -> dict:
        """Give a case back, or take a submission back while no reviewer holds it.

        Not yet submitted: the case returns to the pool (its draft stays). Submitted: the
        annotator keeps the case and a draft is made from the version
        (:func:`ctlabel.case.reads.withdraw`). A reader of a double-read case: their read.
        """
        with self.core.tx() as db:
            row = self.core.get_case(db, name, lock=True)
            self.require_annotator_of(db, user, row)
            later = "read" if (row.readers or 1) >= 2 else "submission" if row.state == workflow.SUBMITTED else None
            if later == "submission":
                require_no_reviewer(row)
            elif later is None:
                return self._give_back(db, user, row)
        return self.double_reads.withdraw_read(user, name) if later == "read" else self.withdraw_submission(user, row)

    def _give_back(self, db: Session, user: User, row: CaseRow) -> dict:
        """Give back a case not yet submitted: it returns to the pool (its draft stays)."""
        if row.state not in (workflow.IN_PROGRESS, workflow.REJECTED):
            raise Conflict(f"case {row.name} is {row.state}; only a case not yet submitted can be withdrawn")
        row.annotator_id, row.lease_until = None, None
        for a in db.scalars(select(Assignment).where(Assignment.case_id == row.id, Assignment.status == "open")):
            a.status, a.ended = "withdrawn", utcnow()
        self.core.log(db, user, row, "withdraw")
        return {"case": row.name, "withdrawn": True}

    def withdraw_submission(self, user: User, row: CaseRow) -> dict:
        """Take the submitted version back (action ``withdrawn``); refused once a reviewer holds the case."""
        case_id = row.id
        with self.core.case_lock(case_id):
            n = self.core.change(case_reads.withdraw, self.core.folder(row), user.name)
            with self.core.tx() as db:
                row = db.get_one(CaseRow, case_id)
                self.core.sync(db, row)
                row.reviewer_id, row.review_lease_until = None, None
                self.core.renew(db, row)
                db.add(Assignment(case_id=case_id, user_id=user.id, kind="annotate", status="open", claimed=utcnow()))
                last = db.scalar(select(Event).where(Event.case_id == case_id, Event.kind == "submit")
                                  .order_by(Event.id.desc()).limit(1))
                self.core.log(db, user, row, "withdraw_submit", version=case_record.version_name(n),
                         resubmission=bool(last is not None and (last.detail or {}).get("resubmission")))
                return {**self.core.case_summary(db, row), "withdrawn": True}

    def flag(self, user: User, name: str, reason: str) -> dict:
        """Mark a case unusable (annotator holding it, or lead): nobody is given it again."""
        reason = (reason or "").strip()
        if not reason:
            raise Invalid("flagging a case needs a reason")
        with self.core.tx() as db:
            row = self.core.get_case(db, name, lock=True)
            self.require_annotator_of(db, user, row)
            row.flagged = reason[:2000]
            row.annotator_id, row.lease_until = None, None
            for a in db.scalars(select(Assignment).where(Assignment.case_id == row.id, Assignment.status == "open")):
                a.status, a.ended = "flagged", utcnow()
            self.core.log(db, user, row, "flag", reason=reason[:2000])
            return {"case": row.name, "flagged": row.flagged}

    def heartbeat(self, user: User, name: str, at: dt.datetime | None = None) -> dict:
        """Record that the person is working on the case now (extends the annotator's or reviewer's lease)."""
        with self.core.tx() as db:
            row = self.core.get_case(db, name)
            self.require_access(db, user, row)
            if row.annotator_id == user.id and row.state == workflow.IN_PROGRESS:
                self.core.renew(db, row)
            elif row.reviewer_id == user.id and row.state in (workflow.SUBMITTED, workflow.ACCEPTED):  # at work
                row.review_lease_until = utcnow() + dt.timedelta(seconds=self.core.settings(db).lease_s)
            elif (row.readers or 1) >= 2:
                self.double_reads.renew_read(db, user, row)
            self.core.log(db, user, row, "heartbeat", at=at)
            return {"case": row.name, "ok": True}


