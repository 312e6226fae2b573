"""What every rule of a served project shares: its database, settings, case folders, case locks, events.

:class:`ProjectCore` holds no rule of its own. The rules are small collaborators that are given
the core (:class:`~ctlabel.team.claims.Claims`, :class:`~ctlabel.team.review_rules.Reviews`,
:class:`~ctlabel.team.double_read.DoubleReads`, and the functions of :mod:`ctlabel.team.pay`);
:class:`~ctlabel.team.service.Service` is the core with its collaborators wired together.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from ctlabel.case import record as case_record
from ctlabel.case import workflow
from ctlabel.case.folder import Case
from ctlabel.errors import LockError, StateError
from ctlabel.team import project as layout
from ctlabel.team.db import CaseRow, Event, Project, User, make_engine, make_sessionmaker, read_only_engine, utcnow
from ctlabel.team.errors import Conflict, Forbidden, NotFound, TeamError, as_utc
from ctlabel.team.etags import current_etag

P = ParamSpec("P")
T = TypeVar("T")


class ProjectCore:
    """The shared plumbing of one served project.

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
        self.url: str = url or cfg.get("Database") or default_url(self.root)
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

    # --- sessions ---------------------------------------------------------------------
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

    @property
    def postgres(self) -> bool:
        """The database is PostgreSQL (row locks: ``FOR UPDATE``, ``SKIP LOCKED``)."""
        return self.engine.dialect.name == "postgresql"

    def settings(self, db: Session) -> Project:
        """The project's row, read once per session (the session's identity map alone holds it weakly)."""
        project = db.info.get("project")
        if project is None:
            project = db.info["project"] = db.get_one(Project, self.project_id)
        return project

    # --- case folders -----------------------------------------------------------------
    @property
    def cases_dir(self) -> Path:
        """``PROJECT/cases``."""
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
        """The case folder of a case row."""
        return Case.open(layout.case_folder(self.root, row.path))

    @staticmethod
    def change(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
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
                raise Conflict(exc.reason, options=exc.options) from None

    def sync(self, db: Session, row: CaseRow) -> str:
        """Refresh the state mirror and chain head of a case row from its ``case.json``."""
        case = self.folder(row)
        rec = case_record.load_case_record(case)
        row.state = str(rec.state)
        row.head_sha256 = rec.head_event_sha256
        row.updated = utcnow()
        return row.state

    # --- rows -------------------------------------------------------------------------
    def log(self, db: Session, user: User | None, row: CaseRow | None, kind: str, at: dt.datetime | None = None,
            **detail: Any) -> None:
        """Add an event (who, which case, what) to the transaction."""
        db.add(Event(user_id=user.id if user else None, case_id=row.id if row else None, kind=kind,
                     at=at or utcnow(), detail=detail or None))

    def get_case(self, db: Session, name: str, *, lock: bool = False) -> CaseRow:
        """The case row of ``name`` (``lock``: ``FOR UPDATE`` on PostgreSQL); NotFound when there is none."""
        layout.check_case_name(name)
        q = select(CaseRow).where(CaseRow.name == name)
        if lock and self.postgres:
            q = q.with_for_update()
        row = db.scalar(q)
        if row is None:
            raise NotFound(f"no case {name!r} in this project")
        return row

    def user(self, db: Session, user_id: int) -> User:
        """The user with this id."""
        return db.get_one(User, user_id)

    @staticmethod
    def require_role(user: User, *roles: str) -> None:
        """Forbidden unless the user has one of ``roles`` (the lead has every role)."""
        if user.role not in roles and user.role != "lead":
            raise Forbidden(f"{user.name} is {user.role}; this needs {' or '.join(roles)}")

    def renew(self, db: Session, row: CaseRow) -> None:
        """Extend the annotator's lease of a case by the project's lease."""
        row.lease_until = utcnow() + dt.timedelta(seconds=self.settings(db).lease_s)

    def case_summary(self, db: Session, row: CaseRow, reason: str | None = None, reader: str | None = None) -> dict:
        """What a client is told about a case (``reader``: the calling reader of a double-read case)."""
        case = self.folder(row)
        rec = case_record.load_case_record(case)
        ids = {i for i in (row.annotator_id, row.reviewer_id) if i}
        names = {i: n for i, n in db.execute(select(User.id, User.name).where(User.id.in_(ids)))} if ids else {}
        out = {"case": row.name, "state": str(rec.state), "priority": row.priority, "flagged": row.flagged,
               "annotator": names.get(row.annotator_id or 0), "reviewer": names.get(row.reviewer_id or 0),
               "comment": rec.comment, "etag": current_etag(case, reader), "readers": row.readers or 1,
               "versions": [case_record.version_name(n) for n in case.versions()],
               "lease_until": as_utc(row.lease_until).isoformat() if row.lease_until else None}
        if rec.state == workflow.REJECTED:
            marks = db.scalar(select(Event).where(Event.case_id == row.id, Event.kind == "reject")
                              .order_by(Event.id.desc()).limit(1))
            if marks is not None:
                out["marks"] = (marks.detail or {}).get("marks", [])
                out["rejected_by"] = db.scalar(select(User.name).where(User.id == marks.user_id))
        if reason:
            out["reason"] = reason
        return out


__all__ = ["ProjectCore"]
