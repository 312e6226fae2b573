"""Long jobs of a served project (adding cases, exporting a dataset), run in a background thread.

A :class:`JobBoard` runs at most one job of each kind at a time; a second of the same kind
while one runs is refused (:class:`~ctlabel.team.errors.Conflict`). A job's progress (n of m,
the current item, the errors so far) is kept in its :class:`Job`, which the lead's console polls.
The board lives in the server's process: a restart forgets finished jobs (their results stay on
disk: the cases registered, the export and its archive).
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from ctlabel.errors import CtlabelError
from ctlabel.progress import Progress
from ctlabel.team.errors import Conflict, NotFound

log = logging.getLogger(__name__)
#: Finished jobs kept (the newest), besides the running ones.
KEPT = 20
#: The niceness a job's thread takes (Linux: per thread), so requests stay quick while it runs.
NICE = 10


@dataclass
class Job:
    """One background job and its progress.

    Attributes
    ----------
    id : int
        Its number on this server (from 1).
    kind : str
        ``add-cases`` or ``export``.
    title : str
        What it does, in a few words (the source, the export's name).
    by : str
        Who started it.
    state : str
        ``running``, ``done`` (finished; ``errors`` may name items that failed) or ``failed``
        (stopped: ``error`` says why).
    done, total : int
        Items finished and to do in the current stage.
    stage : str
        What is being counted (``series``, ``instances``, ``cases``).
    current : str
        The item finished last.
    errors : list of str
        Items that failed, each ``"item: reason"``.
    error : str
        Why the job stopped (``failed``), naming the file and the reason.
    result : dict
        What the job returned, once done.
    """

    id: int
    kind: str
    title: str
    by: str
    state: str = "running"
    done: int = 0
    total: int = 0
    stage: str = ""
    current: str = ""
    errors: list[str] = field(default_factory=list)
    error: str = ""
    result: dict = field(default_factory=dict)
    started: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    finished: dt.datetime | None = None

    @property
    def running(self) -> bool:
        return self.state == "running"


class JobBoard:
    """The jobs of one server: start them in threads, follow them, refuse a second of a kind."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[int, Job] = {}
        self._ids = itertools.count(1)

    def start(self, kind: str, title: str, by: str, work: Callable[[Callable[[Progress, str], None]], dict]) -> Job:
        """Run ``work(listener)`` in a new thread as a job of ``kind``; its copy as started.

        ``work`` gets the listener to hand to the batch (:class:`ctlabel.progress.Progress`) and
        returns the job's result. A :class:`~ctlabel.errors.CtlabelError` it raises makes the job
        ``failed`` with that error's text (file and reason).

        Raises
        ------
        Conflict
            A job of ``kind`` is running already (it is named).
        """
        with self._lock:
            busy = next((j for j in self._jobs.values() if j.kind == kind and j.running), None)
            if busy is not None:
                raise Conflict(f"a {kind} job is running already (job {busy.id}: {busy.title}, started by "
                               f"{busy.by}); wait until it ends")
            job = Job(next(self._ids), kind, title, by)
            self._jobs[job.id] = job
            self._forget_old()
            thread = threading.Thread(target=self._run, args=(job, work), name=f"ctlabel-job-{job.id}", daemon=True)
            thread.start()
            return replace(job, errors=list(job.errors))

    def _listener(self, job: Job) -> Callable[[Progress, str], None]:
        taken: dict[Progress, int] = {}  # errors already copied from each stage's progress (kept alive here)

        def heard(bar: Progress, message: str) -> None:
            with self._lock:
                job.errors += bar.errors[taken.get(bar, 0):]
                taken[bar] = len(bar.errors)
                job.done, job.total, job.stage, job.current = bar.done, bar.total, bar.label, message
        return heard

    def _run(self, job: Job, work: Callable[[Callable[[Progress, str], None]], dict]) -> None:
        if hasattr(os, "setpriority"):
            try:  # Linux: this thread only (its native id); elsewhere the call may touch the process: skipped
                if os.uname().sysname == "Linux":
                    os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)
            except OSError:
                pass
        try:
            result = work(self._listener(job))
            state, error = "done", ""
        except CtlabelError as exc:
            result, state, error = {}, "failed", str(exc)
        except Exception as exc:  # a job's crash is shown on its page, not lost in a thread
            log.exception("job %s (%s) crashed", job.id, job.kind)
            result, state, error = {}, "failed", f"{type(exc).__name__}: {exc}"
        with self._lock:
            job.result, job.state, job.error = result, state, error
            job.finished = dt.datetime.now(dt.UTC)

    def _forget_old(self) -> None:
        ended = sorted((j for j in self._jobs.values() if not j.running), key=lambda j: j.id)
        for j in ended[:-KEPT] if len(ended) > KEPT else []:
            del self._jobs[j.id]

    def get(self, job_id: int) -> Job:
        """A copy of job ``job_id`` as it stands; :class:`~ctlabel.team.errors.NotFound` if unknown."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise NotFound(f"no job {job_id} on this server (a restart forgets finished jobs)")
            return replace(job, errors=list(job.errors), result=dict(job.result))

    def list(self) -> list[Job]:
        """Copies of the jobs, newest first."""
        with self._lock:
            return [replace(j, errors=list(j.errors)) for j in sorted(self._jobs.values(), key=lambda j: -j.id)]

    def wait(self, job_id: int, timeout: float) -> Job:
        """The job once it ended, or as it stands after ``timeout`` seconds (tests, scripts)."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            if not job.running or time.monotonic() > deadline:
                return job
            time.sleep(0.05)


def as_dict(job: Job) -> dict[str, Any]:
    """A job as JSON (the console's ``/manage/jobs/N.json``)."""
    return {"id": job.id, "kind": job.kind, "title": job.title, "by": job.by, "state": job.state,
            "done": job.done, "total": job.total, "stage": job.stage, "current": job.current,
            "errors": job.errors, "error": job.error, "result": job.result,
            "started": job.started.isoformat(), "finished": job.finished.isoformat() if job.finished else None}


__all__ = ["KEPT", "Job", "JobBoard", "as_dict"]
