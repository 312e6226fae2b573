"""The Review widget on a case downloaded from a team server: the reviewer's heartbeats.

A reviewer who took a case with ``ctlabel team review-next --dir rev/`` and opens ``rev/CASE``
in the Review widget is timed as the Worklist times people: while the viewer has focus, a slice
change, a paint or a windowing change sends a heartbeat for the case, at most one per
:data:`._team_sync.HEARTBEAT_S` seconds, in a background thread (a failure is ignored: the
server may be away; nothing else depends on it). The case and server come from the folder's
``.team.json``, the token from ``ctlabel team login`` (only when it is the same server).
The Worklist's review mode sends its own heartbeats and stops these (``ReviewWidget.team_beats``).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ctlabel import Client, CtlabelError, load_login

from ._team_sync import STATE_FILE, Heartbeats


def team_case(root: str | Path) -> tuple[str, str] | None:
    """``(server URL, case name)`` of a downloaded team case folder, None for any other folder."""
    try:
        st = json.loads((Path(root) / STATE_FILE).read_text(encoding="utf-8"))
        return str(st["Server"]).rstrip("/"), str(st["Case"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


class ReviewBeats:
    """Heartbeats for one team case under review.

    Parameters
    ----------
    case : str
        The case's name on the server.
    send : callable(case name)
        Sends one heartbeat (runs in a background thread).
    has_focus, clock : callable
        As :class:`._team_sync.Heartbeats`.
    """

    def __init__(self, case: str, send: Callable[[str], object], *, has_focus: Callable[[], bool],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.case = case
        self._send = send
        self._busy = threading.Lock()
        self.beats = Heartbeats(self._start, has_focus=has_focus, clock=clock)
        self._connected: list = []

    def _start(self) -> None:
        if self._busy.acquire(blocking=False):  # one at a time; a slow server skips beats, never queues them
            threading.Thread(target=self._run, daemon=True, name="ctlabel-review-heartbeat").start()

    def _run(self) -> None:
        try:
            self._send(self.case)
        except (CtlabelError, OSError):
            pass
        finally:
            self._busy.release()

    def activity(self, _event=None) -> None:
        """The reviewer did something: maybe a heartbeat."""
        self.beats.activity()

    def watch(self, emitters) -> None:
        """Count these event emitters (a layer's ``paint``, the dims' ``current_step``...) as activity."""
        for em in emitters:
            if em is not None:
                em.connect(self.activity)
                self._connected.append(em)

    def stop(self) -> None:
        """No more heartbeats (another case opened, or the Worklist times the review)."""
        for em in self._connected:
            em.disconnect(self.activity)
        self._connected.clear()


def _focused() -> bool:
    from qtpy.QtWidgets import QApplication

    return QApplication.activeWindow() is not None


def follow(viewer, root: str | Path, layers, previous: ReviewBeats | None = None, *,
           login: Callable[[], tuple[str, str]] = load_login,
           has_focus: Callable[[], bool] = _focused) -> ReviewBeats | None:
    """Start the heartbeats of the case at ``root`` (None when it is not a team case or nobody is logged in there).

    ``previous`` (the last case's) is stopped first; ``login`` and ``has_focus`` are injectable (tests).
    """
    if previous is not None:
        previous.stop()
    where = team_case(root)
    try:
        url, token = login()
    except CtlabelError:
        return None
    if where is None or where[0] != url.rstrip("/"):
        return None
    client = Client(url, token, timeout=10.0)
    beats = ReviewBeats(where[1], client.heartbeat, has_focus=has_focus)
    beats.watch([viewer.dims.events.current_step] + [getattr(ly.events, name, None) for ly in layers
                                                       if ly is not None for name in ("paint", "contrast_limits")])
    return beats


def follow_widget(widget) -> ReviewBeats | None:
    """:func:`follow` for a :class:`.review_widget.ReviewWidget` that just opened its case."""
    return follow(widget.viewer, widget.case.root, (widget.image_layer, widget.labels_layer),
                  getattr(widget, "team_beats", None))


__all__ = ["ReviewBeats", "follow", "follow_widget", "team_case"]
