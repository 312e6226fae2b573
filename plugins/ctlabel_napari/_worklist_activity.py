"""The Worklist's time: activity in the viewer becomes heartbeats for the case being worked on.

A paint, a slice change or a window/level change is activity; the :class:`._team_sync.Heartbeats`
gate of the context lets a heartbeat through only with focus, at most one per 15 s, and
:class:`WorkTimer` sends it in a worker thread (``POST /heartbeat``). An unreachable server sets
the link offline; an answer while offline with nothing waiting sets it online again.
"""

from __future__ import annotations

from collections.abc import Callable

from ._team_sync import UNAVAILABLE
from ._worklist_context import WorklistContext


class WorkTimer:
    """Heartbeats for the active case.

    Parameters
    ----------
    ctx : WorklistContext
        The viewer (its events are the activity), the login, ``run`` and ``set_link``.
    active_case : callable
        The case heartbeats are for (the one being labelled, else the one being reviewed), or None.
    synced : callable
        Whether the local draft has nothing the server lacks (an answer then means online again).
    """

    def __init__(self, ctx: WorklistContext, active_case: Callable[[], str | None],
                 synced: Callable[[], bool]) -> None:
        self.ctx = ctx
        self.active_case = active_case
        self.synced = synced
        viewer = ctx.viewer
        viewer.dims.events.current_step.connect(self.activity)
        viewer.layers.events.inserted.connect(lambda e: self.watch_layer(e.value))
        for layer in viewer.layers:
            self.watch_layer(layer)

    def watch_layer(self, layer) -> None:
        """Count the layer's paint and contrast-limit changes as activity."""
        for name in ("paint", "contrast_limits"):
            emitter = getattr(layer.events, name, None)
            if emitter is not None:
                emitter.connect(self.activity)

    def activity(self, _event=None) -> None:
        if self.ctx.client is not None and self.active_case() is not None:
            self.ctx.heartbeats.activity()

    def send(self) -> None:
        """One heartbeat for the active case, in a worker thread (the gate calls this)."""
        ctx = self.ctx
        client, name = ctx.require_client(), self.active_case()

        def failed(exc: BaseException) -> None:
            if getattr(exc, "status", None) in UNAVAILABLE:
                ctx.set_link("offline", "the server cannot be reached")

        def done(_result) -> None:
            if ctx.link_state == "offline" and self.synced():
                ctx.set_link("online")

        ctx.run(client.heartbeat, name, done=done, failed=failed, busy=False)


__all__ = ["WorkTimer"]
