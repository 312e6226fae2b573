"""The Worklist's worker threads: a network call runs in one, its result comes back on the GUI thread.

:class:`Tasks` runs ``fn(*args)`` with napari's ``create_worker``; a *blocking* task (a claim, a
download, a decision) makes the widget busy until it ends, a background one (an upload, a
heartbeat, a refresh) does not. Tests wait for :attr:`Tasks.idle`.
"""

from __future__ import annotations

from collections.abc import Callable


class Tasks:
    """Network calls in worker threads.

    Parameters
    ----------
    on_busy : callable(bool)
        A blocking task started (True) or ended (False).
    on_idle : callable
        The last task ended and it was a background one.
    on_error : callable(exception)
        A task without its own ``failed`` raised.
    """

    def __init__(self, on_busy: Callable[[bool], None], on_idle: Callable[[], None],
                 on_error: Callable[[BaseException], None]) -> None:
        self.on_busy = on_busy
        self.on_idle = on_idle
        self.on_error = on_error
        self._workers: list = []

    def run(self, fn: Callable, *args, done: Callable | None = None, failed: Callable | None = None,
            busy: bool = True):
        """Run ``fn(*args)`` in a worker thread; ``done(result)`` / ``failed(exc)`` on the GUI thread."""
        from napari.qt.threading import create_worker

        worker = create_worker(fn, *args, _start_thread=False, _ignore_errors=True)
        if busy:
            self.on_busy(True)

        def finish(*_):
            if worker in self._workers:
                self._workers.remove(worker)
            if busy:
                self.on_busy(False)
            elif not self._workers:
                self.on_idle()

        worker.returned.connect(done or (lambda _r: None))
        worker.errored.connect(failed or self.on_error)
        worker.finished.connect(finish)
        self._workers.append(worker)
        worker.start()
        return worker

    @property
    def idle(self) -> bool:
        """No task is running."""
        return not self._workers


__all__ = ["Tasks"]
