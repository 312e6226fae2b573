"""The team rules, without HTTP: claims, leases, submit, review, flag, withdraw, heartbeats.

Every change of a case folder goes through :mod:`ctlabel.case.review` (the case lock, the
events, the hash chain); the database holds who works on what, the state mirror and time.
Errors are :class:`TeamError` subclasses carrying the HTTP status the API answers with.

Claiming is atomic: on PostgreSQL the candidate row is locked ``FOR UPDATE SKIP LOCKED``
(concurrent claims skip each other's rows) and the claimant's row ``FOR UPDATE`` (one claim of a
person at a time, so the open-case limit counts the claim before); on SQLite every transaction
is ``BEGIN IMMEDIATE`` (:func:`ctlabel.team.db.make_engine`), so claims run one at a time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from ctlabel.case import reads as case_reads
from ctlabel.case import record as case_record
from ctlabel.case import review, workflow
from ctlabel.case.folder import Case
from ctlabel.errors import LockError, StateError
from ctlabel.team import project as layout
from ctlabel.team.db import (
    Assignment,
    CaseRow,
    Event,
    Project,
    Read,
    User,
    make_engine,
    make_sessionmaker,
    read_only_engine,
    utcnow,
)
from ctlabel.team.double_read import DoubleReadRules
from ctlabel.team.errors import Conflict, Forbidden, Invalid, NotFound, TeamError, TooLarge, Unauthorized, as_utc
from ctlabel.team.etags import current_etag
from ctlabel.team.qa_note import submit_note
from ctlabel.team.review_rules import ReviewRules


class Service(ReviewRules, DoubleReadRules):
    """The rules of one served project.

    Parameters
    ----------
    root : path
        The project folder.
    url : str, optional
        Database URL; default: ``team.json``'s, else SQLite ``team.db`` in the project.
    """

    def __init__(self, root: str | Path, url: str | None = None) -> None:
        from ctlabel.team.db import default_url

        self.root = Path(root).resolve()
        cfg = layout.read_config(self.root)
        self.url = url or cfg.get("Database") or default_url(self.root)
        self.engine = make_engine(self.url)
        self.sessions = make_sessionmaker(self.engine)
        self.readers = make_sessionmaker(read_only_engine(self.engine))
        self._case_locks: dict[int, threading.Lock] = {}
        self._guard = threading.Lock()
        with self.tx() as db:
            p = db.scalar(select(Project))
            if p is None:
                raise TeamError("the database has no project; run 'ctlabel team init'", self.url)
            self.project_id = p.id

    # --- plumbing -------------------------------------------------------------------
    @contextlib.contextmanager
    def tx(self) -> Iterator[Session]:
        """One transaction (immediate on SQLite), committed on success."""
        with self.sessions() as db, db.begin():
            yield db

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading only; never write in it.

        :func:`~ctlabel.team.db.read_only_engine`: no ``BEGIN``/``COMMIT`` round trips on
        PostgreSQL, no write lock on SQLite.
        """
        with self.readers() as db:
            yield db

    def settings(self, db: Session) -> Project:
        """The project's row, read once per session (the session's identity map alone holds it weakly)."""
        project = db.info.get("project")
        if project is None:
            project = db.info["project"] = db.get_one(Project, self.project_id)
        return project

    @property
    def cases_dir(self) -> Path:
        return self.root / layout.CASES

    @contextlib.contextmanager
    def case_lock(self, case_id: int) -> Iterator[None]:
        """One request at a time on a case folder of this server, in any of its processes.

        A thread lock, then an exclusive ``flock`` of ``PROJECT/tmp/locks/case-<id>.lock`` (held by the
        open file; released when it closes, also when the process dies). The server's volume workers
        (:mod:`ctlabel.team.volume_work`) share it; the core's case lock still guards other programs.
        """
        with self._guard:
            lock = self._case_locks.setdefault(case_id, threading.Lock())
        with lock:
            locks = self.root / layout.TMP / "locks"
            locks.mkdir(parents=True, exist_ok=True)
            fd = os.open(locks / f"case-{int(case_id)}.lock", os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)

    def folder(self, row: CaseRow) -> Case:
        return Case.open(layout.case_folder(self.root, row.path))

    def core(self, fn, *args, **kwargs):
        """Run a :mod:`ctlabel.case.review` change; wait a little for a lock held elsewhere; map refusals."""
        deadline = time.monotonic() + 10
        while True:
            try:
                return fn(*args, **kwargs)
            except LockError as exc:
                if time.monotonic() > deadline:
                    raise Conflict(exc.reason) from None
                time.sleep(0.1)
            except StateError as exc:
                raise Conflict(exc.reason) from None

    def sync(self, db: Session, row: CaseRow) -> str:
        """Refresh the state mirror and chain head of a case row from its ``case.json``."""
        case = self.folder(row)
        rec = case_record.load_record(case)
        row.state = rec["State"]
        row.head_sha256 = rec.get("HeadEventSHA256")
        row.updated = utcnow()
        return row.state

    def log(self, db: Session, user: User | None, row: CaseRow | None, kind: str, at: dt.datetime | None = None,
            **detail) -> None:
        db.add(Event(user_id=user.id if user else None, case_id=row.id if row else None, kind=kind,
                     at=at or utcnow(), detail=detail or None))

    def get_case(self, db: Session, name: str, *, lock: bool = False) -> CaseRow:
        layout.check_case_name(name)
        q = select(CaseRow).where(CaseRow.name == name)
        if lock and self.engine.dialect.name == "postgresql":
            q = q.with_for_update()
        row = db.scalar(q)
        if row is None:
            raise NotFound(f"no case {name!r} in this project")
        return row

    def user(self, db: Session, user_id: int) -> User:
        return db.get_one(User, user_id)

    # --- roles ------------------------------------------------------------------------
    @staticmethod
    def require_role(user: User, *roles: str) -> None:
        if user.role not in roles and user.role != "lead":
            raise Forbidden(f"{user.name} is {user.role}; this needs {' or '.join(roles)}")

    def require_annotator_of(self, db: Session, user: User, row: CaseRow) -> None:
        """The caller holds this case for annotation (a lead may act on any case)."""
        if user.role == "lead":
            return
        if row.readers == 2:
            self.require_reader_of(db, user, row)
            return
        self.require_role(user, "annotator")
        if row.annotator_id != user.id:
            raise Forbidden(f"case {row.name} is not yours")
        if row.state == workflow.IN_PROGRESS and row.lease_until is not None and as_utc(row.lease_until) < utcnow():
            other = db.scalar(select(Assignment).where(Assignment.case_id == row.id, Assignment.status == "open",
                                                       Assignment.user_id != user.id))
            if other is not None:
                raise Forbidden(f"your claim of case {row.name} expired and it went to somebody else")

    def renew(self, db: Session, row: CaseRow) -> None:
        row.lease_until = utcnow() + dt.timedelta(seconds=self.settings(db).lease_s)

    # --- annotators -------------------------------------------------------------------
    def open_cases(self, db: Session, user: User) -> list[CaseRow]:
        now = utcnow()
        return list(db.scalars(select(CaseRow).where(
            CaseRow.annotator_id == user.id, CaseRow.flagged.is_(None),
            or_(CaseRow.state == workflow.REJECTED,
                and_(CaseRow.state == workflow.IN_PROGRESS, CaseRow.lease_until >= now))).order_by(CaseRow.id)))

    def claim_next(self, user: User) -> dict:
        """Give the annotator a case: their rejected case first, else a free one (atomically).

        Raises Conflict at the open-case limit, NotFound when nothing is left.
        """
        self.require_role(user, "annotator")
        with self.tx() as db:
            if self.engine.dialect.name == "postgresql":  # this person's claims one at a time (the open limit)
                db.execute(select(User.id).where(User.id == user.id).with_for_update())
            mine = self.open_cases(db, user)
            for held in mine:
                if held.state == workflow.REJECTED:
                    return self.case_summary(db, held, reason="rework")
            limit = self.settings(db).open_limit
            mine += self.open_reads(db, user)
            if len(mine) >= limit:
                raise Conflict(f"{user.name} has {len(mine)} open case(s) ({', '.join(r.name for r in mine)}), the "
                               f"limit is {limit}: submit or withdraw one first")
            now = utcnow()
            q = (select(CaseRow).where(
                CaseRow.flagged.is_(None), func.coalesce(CaseRow.readers, self.settings(db).readers or 1) == 1,
                or_(and_(CaseRow.state == workflow.IN_PROGRESS,
                         or_(CaseRow.annotator_id.is_(None), CaseRow.lease_until < now)),
                    and_(CaseRow.state == workflow.REJECTED, CaseRow.annotator_id.is_(None))))
                 .order_by(CaseRow.priority.desc(), CaseRow.id).limit(1))
            if self.engine.dialect.name == "postgresql":
                q = q.with_for_update(skip_locked=True)
            row = db.scalar(q)
            double = self.double_candidate(db, user, now)
            if double is not None and (row is None or (double.priority, -double.id) > (row.priority, -row.id)):
                return self.claim_read(db, user, double, now)
            if row is None:
                raise NotFound("no case is waiting for annotation")
            for old in db.scalars(select(Assignment).where(Assignment.case_id == row.id, Assignment.status == "open",
                                                           Assignment.kind == "annotate")):
                old.status, old.ended = "expired", now
            row.readers = 1
            row.annotator_id = user.id
            self.renew(db, row)
            db.add(Assignment(case_id=row.id, user_id=user.id, kind="annotate", status="open", claimed=now))
            self.log(db, user, row, "claim")
            return self.case_summary(db, row, reason="new")

    def case_summary(self, db: Session, row: CaseRow, reason: str | None = None, reader: str | None = None) -> dict:
        """What a client is told about a case (``reader``: the calling reader of a double-read case)."""
        case = self.folder(row)
        rec = case_record.load_record(case)
        ids = {i for i in (row.annotator_id, row.reviewer_id) if i}
        names = {i: n for i, n in db.execute(select(User.id, User.name).where(User.id.in_(ids)))} if ids else {}
        out = {"case": row.name, "state": rec["State"], "priority": row.priority, "flagged": row.flagged,
               "annotator": names.get(row.annotator_id or 0), "reviewer": names.get(row.reviewer_id or 0),
               "comment": rec.get("Comment"), "etag": current_etag(case, reader), "readers": row.readers or 1,
               "versions": [case_record.version_name(n) for n in case.versions()],
               "lease_until": as_utc(row.lease_until).isoformat() if row.lease_until else None}
        if rec["State"] == workflow.REJECTED:
            marks = db.scalar(select(Event).where(Event.case_id == row.id, Event.kind == "reject")
                              .order_by(Event.id.desc()).limit(1))
            if marks is not None:
                out["marks"] = (marks.detail or {}).get("marks", [])
                out["rejected_by"] = db.scalar(select(User.name).where(User.id == marks.user_id))
        if reason:
            out["reason"] = reason
        return out

    def info(self, user: User, name: str) -> dict:
        with self.read() as db:
            row = self.get_case(db, name)
            self.require_access(db, user, row)
            return self.case_summary(db, row, reader=self.reader_name(db, user, row))

    def my_cases(self, user: User, limit: int = 50) -> list[dict]:
        """The cases the person annotates (or reads) or reviews, most recently changed first (a worklist)."""
        with self.tx() as db:
            reading = select(Read.case_id).where(Read.user_id == user.id, Read.status.in_(("open", "submitted")))
            rows = db.scalars(select(CaseRow).where(or_(CaseRow.annotator_id == user.id,
                                                        CaseRow.reviewer_id == user.id, CaseRow.id.in_(reading)))
                              .order_by(CaseRow.updated.desc(), CaseRow.id.desc()).limit(limit))
            out = []
            for row in rows:
                reader = self.reader_name(db, user, row)
                role = "annotator" if row.annotator_id == user.id or reader else "reviewer"
                out.append({**self.case_summary(db, row, reader=reader), "role": role})
            return out

    def require_access(self, db: Session, user: User, row: CaseRow) -> None:
        """Reading a case: its annotator, any reviewer or lead."""
        if user.role in ("reviewer", "lead"):
            return
        self.require_annotator_of(db, user, row)

    def submit(self, user: User, name: str, force: bool = False) -> dict:
        with self.tx() as db:
            row = self.get_case(db, name)
            self.require_annotator_of(db, user, row)
            case_id, double = row.id, row.readers == 2
        if double:
            return self.submit_read(user, name, force)
        with self.case_lock(case_id):
            case = self.folder(row)
            n = self.core(review.submit, case, user.name, force=force)
            with self.tx() as db:
                row = db.get_one(CaseRow, case_id)
                since = db.scalar(select(func.max(Event.id)).where(Event.case_id == case_id,
                                                                   Event.kind.in_(("approve", "reopen"))))
                # a resubmission follows a rejection (a withdrawn submission is no rework)
                before = db.scalar(select(func.count(Event.id)).where(Event.case_id == case_id,
                                                                      Event.kind == "reject",
                                                                      Event.id > (since or 0)))
                self.sync(db, row)
                row.lease_until, row.reviewer_id, row.review_lease_until = None, None, None
                for a in db.scalars(select(Assignment).where(Assignment.case_id == case_id,
                                                             Assignment.status == "open")):
                    a.status, a.ended = "done", utcnow()
                self.log(db, user, row, "submit", version=case_record.version_name(n),
                         resubmission=bool(before), **submit_note(case_record.load_record(case)["Events"]))
                return self.case_summary(db, row)

    def withdraw(self, user: User, name: str) -> dict:
        """Give a case back, or take a submission back while no reviewer holds it.

        Not yet submitted: the case returns to the pool (its draft stays). Submitted: the
        annotator keeps the case and a draft is made from the version
        (:func:`ctlabel.case.reads.withdraw`). A reader of a double-read case: their read.
        """
        with self.tx() as db:
            row = self.get_case(db, name, lock=True)
            self.require_annotator_of(db, user, row)
            later = "read" if row.readers == 2 else "submission" if row.state == workflow.SUBMITTED else None
            if later == "submission":
                self._no_reviewer(row)
            elif later is None:
                return self._give_back(db, user, row)
        return self.withdraw_read(user, name) if later == "read" else self.withdraw_submission(user, row)

    def _give_back(self, db: Session, user: User, row: CaseRow) -> dict:
        """Give back a case not yet submitted: it returns to the pool (its draft stays)."""
        if row.state not in (workflow.IN_PROGRESS, workflow.REJECTED):
            raise Conflict(f"case {row.name} is {row.state}; only a case not yet submitted can be withdrawn")
        row.annotator_id, row.lease_until = None, None
        for a in db.scalars(select(Assignment).where(Assignment.case_id == row.id, Assignment.status == "open")):
            a.status, a.ended = "withdrawn", utcnow()
        self.log(db, user, row, "withdraw")
        return {"case": row.name, "withdrawn": True}

    def withdraw_submission(self, user: User, row: CaseRow) -> dict:
        """Take the submitted version back (action ``withdrawn``); refused once a reviewer holds the case."""
        case_id = row.id
        with self.case_lock(case_id):
            n = self.core(case_reads.withdraw, self.folder(row), user.name)
            with self.tx() as db:
                row = db.get_one(CaseRow, case_id)
                self.sync(db, row)
                row.reviewer_id, row.review_lease_until = None, None
                self.renew(db, row)
                db.add(Assignment(case_id=case_id, user_id=user.id, kind="annotate", status="open", claimed=utcnow()))
                last = db.scalar(select(Event).where(Event.case_id == case_id, Event.kind == "submit")
                                  .order_by(Event.id.desc()).limit(1))
                self.log(db, user, row, "withdraw_submit", version=case_record.version_name(n),
                         resubmission=bool(last is not None and (last.detail or {}).get("resubmission")))
                return {**self.case_summary(db, row), "withdrawn": True}

    def flag(self, user: User, name: str, reason: str) -> dict:
        """Mark a case unusable (annotator holding it, or lead): nobody is given it again."""
        reason = (reason or "").strip()
        if not reason:
            raise Invalid("flagging a case needs a reason")
        with self.tx() as db:
            row = self.get_case(db, name, lock=True)
            self.require_annotator_of(db, user, row)
            row.flagged = reason[:2000]
            row.annotator_id, row.lease_until = None, None
            for a in db.scalars(select(Assignment).where(Assignment.case_id == row.id, Assignment.status == "open")):
                a.status, a.ended = "flagged", utcnow()
            self.log(db, user, row, "flag", reason=reason[:2000])
            return {"case": row.name, "flagged": row.flagged}

    def heartbeat(self, user: User, name: str, at: dt.datetime | None = None) -> dict:
        """Record that the person is working on the case now (extends the annotator's or reviewer's lease)."""
        with self.tx() as db:
            row = self.get_case(db, name)
            self.require_access(db, user, row)
            if row.annotator_id == user.id and row.state == workflow.IN_PROGRESS:
                self.renew(db, row)
            elif row.reviewer_id == user.id and row.state == workflow.SUBMITTED:  # a reviewer at work keeps the case
                row.review_lease_until = utcnow() + dt.timedelta(seconds=self.settings(db).lease_s)
            elif row.readers == 2:
                self.renew_read(db, user, row)
            self.log(db, user, row, "heartbeat", at=at)
            return {"case": row.name, "ok": True}


__all__ = ["Conflict", "Forbidden", "Invalid", "NotFound", "Service", "TeamError", "TooLarge", "Unauthorized"]
