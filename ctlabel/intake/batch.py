"""Where the work of a batch runs: this process, local worker processes, or a Dask cluster.

:func:`executor` is the one place that chooses. ``convert``, ``qa``, ``compare --pairs``
and ``export-dataset`` hand it their tasks, one per series or case, and read the
results back in submission order with :func:`results`, so a batch gives the same
cases, names and reports wherever it ran (see ``docs/batch.md``).

A task gets paths and header values, never voxels: each worker reads its own input
from the shared file system and writes its own output there. A task that cannot run
(its worker died more often than the scheduler allows, the local pool broke, the
task could not be unpickled) becomes one failure in the report and the batch goes on.

``dask.distributed`` is optional (``pip install 'ctlabel[cluster]'``) and only
imported when a scheduler address is given.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

from ctlabel.errors import InputError

T = TypeVar("T")
R = TypeVar("R")

#: Seconds to wait for the scheduler to answer before ``--scheduler`` is an error.
CONNECT_TIMEOUT_S = 10


def single_threaded() -> contextlib.AbstractContextManager[None]:
    """One core per task: no DICOM reader or gzip compressor threads.

    ``--jobs`` locally, and ``--nthreads`` of a Dask worker, are then the CPU budget.
    """
    return threads(1)


@contextlib.contextmanager
def threads(cores: int) -> Iterator[None]:
    """DICOM reader and gzip compressor threads for ``cores`` cores (one series using all it was given)."""
    from ctlabel.dicom import read as dicom_read
    from ctlabel.io import nifti as nifti_io

    saved = dicom_read.LOAD_THREADS, nifti_io.GZIP_THREADS
    dicom_read.LOAD_THREADS, nifti_io.GZIP_THREADS = min(4, max(1, cores)), max(1, cores)
    try:
        yield
    finally:
        dicom_read.LOAD_THREADS, nifti_io.GZIP_THREADS = saved


def _single_threaded_call(fn: Callable[..., R], *args: Any) -> R:
    """Run ``fn(*args)`` on a Dask worker with one core (module level: pickled by reference)."""
    with single_threaded():
        return fn(*args)


def _ctlabel_version() -> str:
    from ctlabel._version import __version__

    return __version__


class InlineExecutor(Executor):
    """Runs each task at once in this process (``--jobs 1``); futures are already done."""

    def submit(self, fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - handed to the caller through the future
            future.set_exception(exc)
        return future


class DaskExecutor(Executor):
    """A :class:`concurrent.futures.Executor` over a Dask cluster (``Client.get_executor``).

    Tasks are not pure (``pure=False``: they write files, two equal submissions are two
    tasks) and run single-threaded. ``address`` is the scheduler, e.g. ``tcp://host:8786``.
    """

    def __init__(self, client: Any):
        self.client = client
        self._pool = client.get_executor(pure=False)

    def submit(self, fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> Future:
        if kwargs:
            raise TypeError("DaskExecutor.submit takes positional arguments only")
        return self._pool.submit(_single_threaded_call, fn, *args)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._pool.shutdown(wait=wait)


def connect(address: str) -> Any:
    """A ``distributed.Client`` of the scheduler at ``address``, its workers checked.

    Raises
    ------
    InputError
        ``dask.distributed`` is not installed, the scheduler does not answer, or a worker
        runs another ctlabel version than this one (its results would differ).
    """
    try:
        from distributed import Client
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("distributed"):  # a broken install elsewhere: do not hide it
            raise
        raise InputError("a Dask scheduler needs dask.distributed: pip install 'ctlabel[cluster]'",
                         options=("scheduler",)) from None
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise InputError(f"no Dask scheduler answers at {address} ({type(exc).__name__}: {exc})") from None
    try:
        mine = _ctlabel_version()
        theirs = client.run(_ctlabel_version, on_error="return")
        other = {w: v for w, v in theirs.items() if v != mine}
        if other:
            worker, version = next(iter(other.items()))
            raise InputError(f"the Dask worker {worker} runs ctlabel {version!r}, this is ctlabel {mine}; "
                             "install the same version on every worker", address)
    except BaseException:
        client.close()
        raise
    return client


@contextlib.contextmanager
def executor(jobs: int = 1, scheduler: str | None = None, *, initializer: Callable[..., None] | None = None,
             initargs: tuple = ()) -> Iterator[Executor]:
    """The executor a batch submits its tasks to.

    Parameters
    ----------
    jobs : int
        Local worker processes (fork, each running ``initializer(*initargs)`` once);
        ``1`` runs every task in this process. Ignored with ``scheduler``.
    scheduler : str, optional
        Address of a Dask scheduler: tasks run on its workers, single-threaded.
    initializer, initargs
        Set-up of each local worker process.

    Yields
    ------
    concurrent.futures.Executor
        With ``submit`` and ``map``; shut down (and the Dask client closed) on exit.

    Raises
    ------
    InputError
        ``jobs`` below 1, or see :func:`connect`.
    """
    if scheduler:
        client = connect(scheduler)
        pool: Executor = DaskExecutor(client)
        try:
            yield pool
        finally:
            pool.shutdown(wait=False)
            client.close()
        return
    if int(jobs) < 1:
        raise InputError(f"jobs must be at least 1, not {jobs}")
    if jobs == 1:
        yield InlineExecutor()
        return
    from concurrent.futures import ProcessPoolExecutor  # here: ~20 ms of start-up
    from multiprocessing import get_context

    with ProcessPoolExecutor(max_workers=int(jobs), mp_context=get_context("fork"),
                             initializer=initializer, initargs=initargs) as local:
        yield local


def results(pool: Executor, fn: Callable[[T], R], items: Iterable[T],
            failed: Callable[[T, BaseException], R]) -> Iterator[tuple[T, R]]:
    """``(item, fn(item))`` for every item, in the order given, run on ``pool``.

    Every task is submitted first; a task that raises (or could not run at all: its
    worker died more often than the scheduler allows, the local pool broke) yields
    ``(item, failed(item, exception))`` and the others go on.
    """
    items = list(items)
    if isinstance(pool, InlineExecutor):  # one at a time, so that progress shows as it goes
        for item in items:
            yield item, _value(pool.submit(fn, item), item, failed)
        return
    futures = [pool.submit(fn, item) for item in items]
    try:
        for item, future in zip(items, futures, strict=True):
            yield item, _value(future, item, failed)
    finally:
        for future in futures:
            future.cancel()


def _value(future: Future, item: T, failed: Callable[[T, BaseException], R]) -> R:
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - one task's failure is reported, not raised
        return failed(item, exc)


def task_failure(exc: BaseException) -> str:
    """The report line of a task that could not run: what happened, in one line."""
    name = type(exc).__name__
    if name == "KilledWorker":
        return ("the workers running this task died (killed, out of memory?) more often than the Dask "
                f"scheduler allows (distributed.scheduler.allowed-failures): {exc}")
    if name == "BrokenProcessPool":
        return f"a local worker process died (killed, out of memory?): {exc}"
    return f"the task could not run: {name}: {exc}"


def default_jobs() -> int:
    """Worker processes used when none are asked for: one per core."""
    return max(1, os.cpu_count() or 1)


__all__ = ["DaskExecutor", "InlineExecutor", "connect", "default_jobs", "executor", "results",
           "single_threaded", "task_failure", "threads"]
