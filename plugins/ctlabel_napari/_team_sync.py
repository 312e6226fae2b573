"""The Worklist widget's link to the team server, without Qt: heartbeats, draft uploads, conflicts.

Everything here is an adapter over :class:`ctlabel.Client` (the server has the rules) and the
core review actions; the widget (:mod:`.worklist`) runs the network calls in worker threads.

* :class:`Heartbeats` lets a heartbeat through only while the window has focus, when the person
  paints, navigates or changes the window, at most one per ``interval`` seconds (the clock is
  injectable). An idle window sends nothing: there is no timer.
* :func:`push_draft` uploads the saved local draft with If-Match (the hash of the draft it
  started from, kept in the case's ``.team.json`` by the client) and says what happened:
  ``uploaded``, ``offline`` (the server cannot be reached: the draft stays local, changes
  waiting) or ``conflict`` (409: the case changed on the server; nothing was stored there).
* :func:`keep_local_version` keeps the local draft as a frozen version of its own in the local
  copy (``add_version``), before the server's case is downloaded again: never overwritten.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

from ctlabel import Case, ClientError, add_version, duration_text, version_name

#: At most one heartbeat per this many seconds (docs/team.md: the idle limit is 60 s by default).
HEARTBEAT_S = 15.0
STATE_FILE = ".team.json"


class Heartbeats:
    """Decide when activity becomes a heartbeat.

    Parameters
    ----------
    send : callable
        Sends one heartbeat (should not block: the widget hands it to a worker thread).
    has_focus : callable returning bool
        Whether the viewer window has focus now.
    clock : callable returning float
        Seconds (monotonic); tests inject their own.
    interval : float
        At most one heartbeat per ``interval`` seconds.
    """

    def __init__(self, send: Callable[[], object], *, has_focus: Callable[[], bool],
                 clock: Callable[[], float] = time.monotonic, interval: float = HEARTBEAT_S) -> None:
        self.send = send
        self.has_focus = has_focus
        self.clock = clock
        self.interval = interval
        self.last: float | None = None
        self.sent = 0

    def activity(self) -> bool:
        """The person did something (paint, navigation, windowing): True when a heartbeat went out."""
        if not self.has_focus():
            return False
        now = self.clock()
        if self.last is not None and now - self.last < self.interval:
            return False
        self.last = now
        self.sent += 1
        self.send()
        return True

    def reset(self) -> None:
        """A new case: the next activity sends at once."""
        self.last = None


def draft_path(case_dir: str | os.PathLike) -> Path:
    return Case(Path(case_dir)).draft_path


def draft_signature(case_dir: str | os.PathLike) -> tuple[int, int] | None:
    """(modification time in ns, size) of the local draft, None without one: a save changes it."""
    try:
        st = draft_path(case_dir).stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


#: Answers that say "not now" rather than "no": a reverse proxy whose server is down or restarting
#: (502, 504), the server unable to finish (503). With no answer at all (status 0), the draft stays local.
UNAVAILABLE = (0, 502, 503, 504)


def push_draft(client, case_dir: str | os.PathLike) -> dict:
    """Upload the local draft (run in a worker thread); ``status`` says what happened.

    Returns ``{"status": "uploaded", "etag": ...}``, ``{"status": "offline", "reason": ...}`` (no
    answer, or one of :data:`UNAVAILABLE`),
    ``{"status": "conflict", "reason": ...}`` or ``{"status": "nothing"}`` (no draft yet).
    Other refusals (403: the claim went to somebody else, 422: not a mask of the case) raise
    :class:`ctlabel.ClientError`.
    """
    sig = draft_signature(case_dir)
    if sig is None:
        return {"status": "nothing"}
    try:
        out = client.upload_draft(case_dir)
    except ClientError as exc:
        if exc.status in UNAVAILABLE:
            return {"status": "offline", "reason": str(exc), "signature": sig}
        if exc.status == 409:
            return {"status": "conflict", "reason": str(exc), "signature": sig}
        raise
    return {"status": "uploaded", "signature": sig, **out}


def keep_local_version(case_dir: str | os.PathLike, who: str, reason: str, lock=None) -> str:
    """Freeze the local draft as a version of its own in the local copy; return its name (``vNNN``).

    The server refused the draft (it changed there since): this copy is recorded (``imported``,
    with the reason and the ETag it started from) and never overwritten; the annotator can
    compare or take it up again.
    """
    case = Case.open(case_dir)
    draft = case.load_draft()
    if draft is None:
        raise ClientError(409, f"{reason}; there was no local draft to keep")
    started = read_state(case_dir).get("ETag")
    n = add_version(case, draft.array, draft.grid, who, lock=lock, imported_from={
        "FileName": case.draft_path.name, "Format": "local draft kept after a conflict with the team server",
        "Reason": reason, "StartedFromETag": started, "Kept": dt.datetime.now(dt.UTC).isoformat()})
    return version_name(n)


def read_state(case_dir: str | os.PathLike) -> dict:
    import json

    try:
        return json.loads((Path(case_dir) / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def cache_root(url: str, user: str) -> Path:
    """Where downloaded cases live: ``$CTLABEL_CACHE_DIR`` else ``~/.cache/ctlabel``, then server/user."""
    base = os.environ.get("CTLABEL_CACHE_DIR") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ctlabel"
    server = re.sub(r"[^A-Za-z0-9._-]+", "_", url.split("://", 1)[-1]).strip("_") or "server"
    return Path(base) / "team" / server / re.sub(r"[^A-Za-z0-9._-]+", "_", user or "me")


def describe_stats(stats: dict) -> str:
    """My approved count, active time and amount owed, from ``Client.my_stats``."""
    me = stats.get("me") or {}
    secs = float(me.get("active_seconds") or 0)
    owed = int(me.get("owed_cents") or 0)
    return (f"approved {me.get('approved', 0)} · active {duration_text(secs)} · "
            f"owed {owed / 100:.2f} {stats.get('currency') or ''}").strip()


def describe_case(info: dict) -> str:
    """One line of the "my cases" list: case, state, flag, the reviewer's comment."""
    text = f"{info['case']} — {str(info.get('state', '?')).replace('_', ' ')}"
    if info.get("role") == "reviewer":
        text += " (reviewing)"
    if info.get("flagged"):
        text += f" — flagged: {info['flagged']}"
    if info.get("comment"):
        text += f" — “{info['comment']}”"
    return text


__all__ = ["HEARTBEAT_S", "Heartbeats", "cache_root", "describe_case", "describe_stats", "draft_signature",
           "keep_local_version", "push_draft", "read_state"]
