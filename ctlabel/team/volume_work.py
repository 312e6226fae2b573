"""Work on whole volumes, away from the requests that must stay quick.

Checking and storing an upload (:func:`ctlabel.team.uploads.store_upload`) and a submit (its QA and
the frozen version, :meth:`ctlabel.team.claims.Claims.submit`) take a fraction of a second of CPU
each; heartbeats, claims and small downloads take a few milliseconds. When both share one process
the short requests wait for the interpreter lock and the CPU behind every volume job
(``benchmarks/team.py``). So ``ctlabel team serve`` runs volume jobs in worker processes at a lower
scheduling priority (``nice`` + :data:`NICE`): the operating system serves the short requests
first and gives the rest of the CPU to the volume jobs.

Each worker opens its own :class:`~ctlabel.team.service.Service` on the same project and database;
the per-case lock (:meth:`~ctlabel.team.core.ProjectCore.case_lock`) holds across processes. Jobs
carry a user's id, a case name and file paths, never arrays; a refusal raised in a worker
(:class:`~ctlabel.team.errors.TeamError`) reaches the client with its status. On Linux a worker
is killed when the server process dies (``PR_SET_PDEATHSIG``), so stopping the server by its
process id stops its workers too. A worker that dies (killed, out of memory) is replaced: a job
that had not started runs in the new pool, one that was running is answered with 503.

Submits never take every worker (:class:`VolumeWorkers`): a queue of submits waiting for QA
never holds up an annotator's upload.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import multiprocessing
import os
import signal
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from fastapi.concurrency import run_in_threadpool

from ctlabel.team.db import User
from ctlabel.team.errors import Unavailable
from ctlabel.team.service import Service

#: How much lower the workers' scheduling priority is than the server's (``nice`` increment).
NICE = 10
#: Volume jobs at a time when they run in the server's own threads (``workers=0``).
THREAD_JOBS_AT_ONCE = 2

_SERVICE: Service | None = None  # the worker process's own service (set by _start_worker)


def _die_with_parent() -> None:
    """Linux: this process gets SIGKILL when its parent dies (a no-op elsewhere)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG = 1


def _start_worker(root: str, url: str, parent: int) -> None:
    """Initialise a worker process: die with the server, lower priority, open the project."""
    global _SERVICE
    _die_with_parent()
    if os.getppid() != parent:  # the server died before the prctl
        os._exit(1)
    with contextlib.suppress(OSError):
        os.nice(NICE)
    _SERVICE = Service(root, url)


def _user(svc: Service, user_id: int) -> User:
    with svc.read() as db:
        user = svc.user(db, user_id)
        db.expunge(user)
    return user


def store_upload_job(user_id: int, name: str, path: str, if_match: str | None, kind: str,
                     comment: str | None) -> dict:
    """In a worker: :func:`ctlabel.team.uploads.store_upload` for the user with this id."""
    from ctlabel.team import uploads

    assert _SERVICE is not None, "not a volume worker"
    return uploads.store_upload(_SERVICE, _user(_SERVICE, user_id), name, Path(path), if_match, kind=kind,
                                comment=comment)


def submit_job(user_id: int, name: str, force: bool) -> dict:
    """In a worker: :meth:`ctlabel.team.claims.Claims.submit` for the user with this id."""
    assert _SERVICE is not None, "not a volume worker"
    return _SERVICE.claims.submit(_user(_SERVICE, user_id), name, force=force)


def _ready() -> int:
    return os.getpid()


class VolumeWorkers:
    """The server's volume jobs: in ``workers`` processes, or (``workers=0``) in its own threads.

    Parameters
    ----------
    svc : Service
        The served project (its root and database URL are handed to the workers).
    workers : int
        Worker processes; 0 runs the jobs in the server's thread pool, at most
        :data:`THREAD_JOBS_AT_ONCE` at a time.

    Notes
    -----
    With ``n`` workers, submits use at most ``n - 1`` of them at a time (one, when ``n`` is 1 or 2)
    and uploads any: a queue of submits never holds up an upload.
    """

    def __init__(self, svc: Service, workers: int) -> None:
        self.svc = svc
        self.workers = max(0, int(workers))
        self.pool = self._new_pool() if self.workers else None
        self._any = asyncio.Semaphore(self.workers or THREAD_JOBS_AT_ONCE)
        self._submits = asyncio.Semaphore(max(1, self.workers - 1))

    def _new_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        return concurrent.futures.ProcessPoolExecutor(
            self.workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker,
            initargs=(str(self.svc.root), self.svc.url, os.getpid()))

    def _replace(self, broken: concurrent.futures.ProcessPoolExecutor) -> None:
        """A new pool for one whose worker died (the executor refuses every job after that)."""
        if self.pool is broken:
            broken.shutdown(wait=False, cancel_futures=True)
            self.pool = self._new_pool()

    async def _in_worker(self, job, *args: Any) -> Any:
        pool = self.pool
        assert pool is not None
        try:
            future = pool.submit(job, *args)
        except BrokenProcessPool:  # a worker died while idle (killed, out of memory): this job never started
            self._replace(pool)
            assert self.pool is not None
            pool = self.pool
            future = pool.submit(job, *args)
        try:
            return await asyncio.wrap_future(future)
        except BrokenProcessPool:
            self._replace(pool)
            raise Unavailable("the worker process doing this request died (killed, or out of memory); it may not "
                              "have finished: download the case to see what the server holds, then try again") from None

    def start(self) -> None:
        """Start every worker now (each imports numpy, scipy, SQLAlchemy: about a second)."""
        if self.pool is not None:
            for f in [self.pool.submit(_ready) for _ in range(self.workers)]:
                f.result()

    async def _run(self, lane: str, job, local, *args: Any) -> Any:
        async with contextlib.AsyncExitStack() as slots:
            if lane == "submit" and self.pool is not None:
                await slots.enter_async_context(self._submits)
            await slots.enter_async_context(self._any)
            if self.pool is None:
                return await run_in_threadpool(local, *args)
            return await self._in_worker(job, *args)

    async def store_upload(self, user: User, name: str, path: Path, if_match: str | None, *, kind: str = "draft",
                           comment: str | None = None) -> dict:
        """Check and store an uploaded mask (:func:`ctlabel.team.uploads.store_upload`)."""
        from ctlabel.team import uploads

        if self.pool is None:
            return await self._run("upload", None, lambda: uploads.store_upload(
                self.svc, user, name, path, if_match, kind=kind, comment=comment))
        return await self._run("upload", store_upload_job, None, user.id, name, str(path), if_match, kind, comment)

    async def submit(self, user: User, name: str, force: bool = False) -> dict:
        """Submit a case (QA, then the frozen version: :meth:`Claims.submit <ctlabel.team.claims.Claims.submit>`)."""
        if self.pool is None:
            return await self._run("submit", None, lambda: self.svc.claims.submit(user, name, force=force))
        return await self._run("submit", submit_job, None, user.id, name, force)

    def close(self) -> None:
        """Stop the workers (a running job finishes first)."""
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None


__all__ = ["NICE", "THREAD_JOBS_AT_ONCE", "VolumeWorkers", "store_upload_job", "submit_job"]
