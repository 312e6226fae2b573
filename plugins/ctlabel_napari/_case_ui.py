"""Labeling widget helpers: the case header, the submit-despite-QA question, and Ctrl+S.

Ctrl+S is napari's *Save Selected Layers...* menu action (an app-model ``QAction``
whose shortcut Qt dispatches before any ``viewer.bind_key`` binding; napari issue
#6305). :class:`SaveShortcut` filters the shortcut event of that action while the
labeling widget is docked: Ctrl+S is the widget's save (the case's draft; *Save as
case...* for a series not yet a case; a message saying why when nothing can be saved),
never napari's dialog, which would write a file without provenance. The menu entry
itself is left alone.
"""

from __future__ import annotations

from collections.abc import Callable

from qtpy.QtCore import QEvent, QObject
from qtpy.QtWidgets import QAction, QMessageBox

from ctlabel import Case, CaseState, Finding, load_case_record, version_number

#: napari's app-model command bound to Ctrl+S (StandardKeyBinding.Save).
SAVE_SELECTED = "napari.window.file.save_layers_dialog.selected"


def case_header(case: Case) -> str:
    """The case state and the reviewer's last comment, as rich text for the top of the widget."""
    rec = load_case_record(case)
    state = str(rec.state)
    text = f"<b>{case.root.name}</b>: {state.replace('_', ' ')}"
    if rec.state == CaseState.SUBMITTED:
        text += " — awaits review; the labels are read-only"
    reviewer = [e for e in rec.events if e.role == "reviewer"]
    if reviewer:
        ev = reviewer[-1]
        what = f"{ev.action} {ev.version or ''}".strip()
        text += f"<br>Reviewer {_esc(ev.who or '?')} {what} ({_esc(str(ev.when or ''))})"
        if ev.comment:
            text += f": <i>{_esc(ev.comment)}</i>"
    return text


def _esc(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def ask_submit_despite_qa(parent, findings: list[Finding], jump: Callable[[Finding], object] | None = None) -> bool:
    """Show the QA findings grouped by check and label and ask whether to submit anyway. Tests replace this.

    The dialog (:class:`._qa_view.SubmitQADialog`) stays within the screen whatever the number of
    findings; ``jump`` (a double click on a row) shows that finding's slice.
    """
    from ._qa_view import ask_submit

    return ask_submit(parent, findings, jump)


def explain_no_save(parent, reason: str) -> None:
    """Ctrl+S with nothing the plugin can save: say why (a message box). Tests replace this."""
    QMessageBox.information(parent, "Nothing to save", reason)


def _find_action(window, command_id: str) -> QAction | None:
    """The menu action of an app-model command (its object name is the command id), or None."""
    menus = [getattr(window, "file_menu", None)]
    menubar = getattr(window, "main_menu", None)
    if menubar is not None:
        menus += [a.menu() for a in menubar.actions() if a.menu() is not None]
    seen = set()
    while menus:
        menu = menus.pop()
        if menu is None or id(menu) in seen:
            continue
        seen.add(id(menu))
        for action in menu.actions():
            if action.objectName() == command_id:
                return action
            if action.menu() is not None:
                menus.append(action.menu())
    return None


class SaveShortcut(QObject):
    """Route Ctrl+S of napari's *Save Selected Layers* action to ``save`` while ``active()``.

    Parameters
    ----------
    viewer : napari.Viewer
        The viewer whose main window holds the action.
    active : callable returning bool
        True while the labeling widget takes Ctrl+S (it is docked).
    save : callable
        The widget's Ctrl+S: save the draft, save as case, or say why not.
    """

    def __init__(self, viewer, active: Callable[[], bool], save: Callable[[], object]) -> None:
        super().__init__()
        self._active = active
        self._save = save
        self.action = _find_action(getattr(viewer, "window", None), SAVE_SELECTED)
        if self.action is not None:
            self.action.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:
        if obj is self.action and event.type() == QEvent.Type.Shortcut and self._active():
            self._save()
            return True
        return False

    def remove(self) -> None:
        if self.action is not None:
            try:
                self.action.removeEventFilter(self)
            except RuntimeError:  # the window is gone already
                pass
            self.action = None


def version_array(case, name: str):
    """The labels array of the case's ``draft`` or of version ``name`` (``v001`` ...)."""
    return (case.load_draft() if name == "draft" else case.load_version(version_number(name))).array
