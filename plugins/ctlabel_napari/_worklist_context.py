"""What the Worklist's collaborators share: the login and the widget's services, as one typed object.

:class:`WorklistContext` is all an :class:`~._worklist_annotator.AnnotatorFlow`, a
:class:`~._worklist_review.ReviewFlow` or the :class:`~._worklist_activity.WorkTimer` may use of
the :class:`~.worklist.WorklistWidget` that owns them: the viewer, the login (``client``,
``me``), whether a blocking task runs (``busy``), the link state, and the widget's services
(run a task in a worker thread, say something, set the link line, refresh my cases, update the
buttons), plus the dialogs tests replace (``ask_text``, ``ask_force``). The collaborators never
see the widget nor each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from qtpy.QtWidgets import QInputDialog, QWidget

from ctlabel import Client, CtlabelError

from . import _case_ui
from ._team_sync import Heartbeats


def ask_text(parent, title: str, prompt: str) -> str | None:
    """A line of text from a dialog (a reason, a comment); None when cancelled or empty."""
    text, ok = QInputDialog.getText(parent, title, prompt)
    return text.strip() if ok and text.strip() else None


class RunTask(Protocol):
    """``run(fn, *args, done=, failed=, busy=)``: ``fn(*args)`` in a worker thread; ``done``/``failed`` on the GUI's."""

    def __call__(self, fn: Callable, *args: Any, done: Callable | None = None, failed: Callable | None = None,
                 busy: bool = True) -> object: ...


class Say(Protocol):
    """``say(text, error=False, notify=True)``: the status line (and a napari notification)."""

    def __call__(self, text: str, error: bool = False, notify: bool = True) -> None: ...


@dataclass
class WorklistContext:
    """The viewer, the login and the widget's services, handed to each Worklist collaborator."""

    viewer: Any
    #: The parent of dialogs (the widget).
    parent: QWidget
    run: RunTask
    say: Say
    #: ``set_link(state, detail="")``: ``online``, ``uploading``, ``offline`` or ``conflict``.
    set_link: Callable[..., None]
    #: Fetch my cases, stats and guidelines again (in the background).
    refresh: Callable[[], object]
    #: The state changed: enable the buttons that apply now.
    changed: Callable[[], None]
    #: Activity becomes a heartbeat through this gate (``reset()`` when a case opens).
    heartbeats: Heartbeats
    client: Client | None = None
    me: dict = field(default_factory=dict)
    busy: bool = False
    link_state: str = "online"
    ask_text: Callable[[QWidget, str, str], str | None] = ask_text
    ask_force: Callable[..., bool] = _case_ui.ask_submit_despite_qa

    @property
    def user(self) -> str:
        return self.me.get("user", "")

    @property
    def role(self) -> str:
        return self.me.get("role", "")

    def require_client(self) -> Client:
        if self.client is None:
            raise CtlabelError("log in to the team server first")
        return self.client

    def guarded(self, fn: Callable[[], object]) -> object:
        """``fn()``; a :class:`ctlabel.CtlabelError` is said in the status line instead of raised (buttons)."""
        try:
            return fn()
        except CtlabelError as exc:
            self.say(str(exc), error=True)
            return None

    def network_failed(self, exc: BaseException) -> None:
        """A failed network task: no answer means offline (said without a notification); else the error."""
        if getattr(exc, "status", None) == 0:
            self.set_link("offline", "the server cannot be reached")
            self.say(str(exc), error=True, notify=False)
        else:
            self.say(str(exc), error=True)

    def labeling(self):
        """The labeling dock widget (docked when it is not)."""
        _, widget = self.viewer.window.add_plugin_dock_widget("ctlabel", "Labeling")
        return widget


def esc(text: str) -> str:
    """``text`` safe in rich text."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


__all__ = ["RunTask", "Say", "WorklistContext", "ask_text", "esc"]
