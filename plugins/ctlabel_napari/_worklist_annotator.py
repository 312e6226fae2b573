"""The Worklist's annotator side: Next case, background uploads, Submit, Flag, Withdraw.

:class:`AnnotatorFlow` owns the *Annotate* box and the open team case; it receives a
:class:`~._worklist_context.WorklistContext` (viewer, login, the widget's services) and the
banner it writes a rejection's comment into, nothing else.

The case is downloaded into the local cache and opened with the ctlabel reader, so the labeling
widget edits it on its ``LabelSession`` (the core ``EditingSession``: lock, saves, journal). Every
save writes the local draft; a timer (``watch``) notices the new draft and uploads it in a worker
thread (If-Match: the draft it started from). Unreachable server: the draft stays local and the
link says "offline, changes waiting" and the upload is retried. 409: the local draft is kept as a
version of its own in the local copy, the server's case is downloaded again and opened, and the
annotator is told.
"""

from __future__ import annotations

import time
from pathlib import Path

from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QGridLayout, QGroupBox, QLabel, QListWidget, QPushButton

from ctlabel import CtlabelError, submission_qa

from ._layers import KEY
from ._team_sync import cache_root, draft_signature, keep_local_version, push_draft
from ._worklist_context import WorklistContext, esc


class AnnotatorFlow:
    """Next case, uploads, Submit, Flag, Withdraw, the rejected case's comment and marks.

    Parameters
    ----------
    ctx : WorklistContext
        What the flow may use of the Worklist.
    banner : QLabel
        Where a rejected case's comment is shown (on top of the dock).
    """

    #: How often the local draft is checked for a new save (ms) and an offline upload retried (s).
    WATCH_MS = 1000
    RETRY_S = 5.0

    def __init__(self, ctx: WorklistContext, banner: QLabel) -> None:
        self.ctx = ctx
        self.banner = banner
        self.case_info: dict | None = None
        self.case_dir: Path | None = None
        self.marks: list[dict] = []
        self.uploaded_sig: tuple[int, int] | None = None
        self.retry_s = self.RETRY_S
        self._pushing = False
        self._last_try = 0.0
        self.box = box = QGroupBox("Annotate")
        g = QGridLayout(box)
        self.case_label = QLabel("no case open")
        self.case_label.setWordWrap(True)
        g.addWidget(self.case_label, 0, 0, 1, 2)
        self.next_button = QPushButton("Next case")
        self.next_button.setToolTip("Claim the next case (your rejected case first), download it and open it")
        self.submit_button = QPushButton("Submit")
        self.submit_button.setToolTip("Save, run QA, upload the final draft and submit it for review")
        self.flag_button = QPushButton("Flag case…")
        self.flag_button.setToolTip("Mark the case unusable, with a reason: nobody is given it again")
        self.withdraw_button = QPushButton("Withdraw")
        self.withdraw_button.setToolTip("Give the case back before submitting it (your saves are uploaded first; "
                                        "the server draft stays)")
        self.next_button.clicked.connect(lambda: ctx.guarded(self.next_case))
        self.submit_button.clicked.connect(lambda: ctx.guarded(self.submit))
        self.flag_button.clicked.connect(lambda: ctx.guarded(self.flag))
        self.withdraw_button.clicked.connect(lambda: ctx.guarded(self.withdraw))
        self.buttons = [self.next_button, self.submit_button, self.flag_button, self.withdraw_button]
        for i, b in enumerate(self.buttons):
            g.addWidget(b, 1 + i // 2, i % 2)
        self.marks_list = QListWidget()
        self.marks_list.setToolTip("The reviewer's marks: click one to go to its slice and label")
        self.marks_list.itemClicked.connect(lambda it: self.jump_to_mark(self.marks_list.row(it)))
        self.marks_list.setVisible(False)
        self.marks_list.setMaximumHeight(110)
        g.addWidget(self.marks_list, 3, 0, 1, 2)
        self.watch = QTimer(box)
        self.watch.setInterval(self.WATCH_MS)
        self.watch.timeout.connect(self.tick)
        self.watch.start()

    def enable(self) -> None:
        """Enable the buttons that apply: Next case when logged in, the rest with a case open; none while busy."""
        busy = self.ctx.busy
        self.next_button.setEnabled(self.ctx.client is not None and not busy)
        for b in (self.submit_button, self.flag_button, self.withdraw_button):
            b.setEnabled(self.case_dir is not None and not busy)

    @property
    def case_name(self) -> str | None:
        return self.case_info["case"] if self.case_info else None

    def synced(self) -> bool:
        """No case open, or its local draft is the one last uploaded."""
        return self.case_dir is None or draft_signature(self.case_dir) == self.uploaded_sig

    # --- the labeling widget and the case's session --------------------------------------------
    def case_session(self):
        """The labeling widget's session of the open team case, or None."""
        if self.case_dir is None:
            return None
        root = self.case_dir.resolve()
        for s in self.ctx.labeling().sessions.values():
            if s.case is not None and s.case.root.resolve() == root:
                return s
        return None

    def _case_layers(self, root: Path) -> list:
        root = root.resolve()
        return [ly for ly in self.ctx.viewer.layers
                if (ly.metadata.get(KEY) or {}).get("case") and Path(ly.metadata[KEY]["case"]).resolve() == root]

    # --- next case --------------------------------------------------------------------------------
    def next_case(self):
        """Claim the next case and download it (worker, progress bar), then open it for labeling."""
        client = self.ctx.require_client()
        folder = cache_root(client.url, self.ctx.user)
        previous = self._close_for_next()

        def work():
            if previous is not None and draft_signature(previous[0]) != previous[1]:
                push_draft(client, previous[0])  # best effort: the last saves of the case left
            info = client.next_case()
            return info, client.download(info["case"], folder)

        self.ctx.say("claiming the next case…", notify=False)
        return self.ctx.run(work, done=lambda r: self._open_case(*r), failed=self.ctx.network_failed)

    def _close_for_next(self):
        if self.case_dir is None:
            return None
        s = self.case_session()
        if s is not None and s.dirty and not s.read_only:
            s.save()
        previous = (self.case_dir, self.uploaded_sig)
        self.close_case()
        return previous

    def _open_case(self, info: dict, case_dir: Path) -> None:
        self.case_info, self.case_dir = info, Path(case_dir)
        self.uploaded_sig = draft_signature(case_dir)
        self.ctx.heartbeats.reset()
        lw = self.ctx.labeling()
        self.ctx.viewer.open(str(case_dir), plugin="ctlabel")
        lw.submit_button.setVisible(False)  # a team case is submitted through the server (Worklist)
        self._show_case(info)
        self.ctx.set_link("online")
        self.ctx.say(f"opened {info['case']}" + (" — rejected: fix it and submit again"
                                                if info.get("reason") == "rework" else ""), notify=False)
        self.ctx.changed()
        self.ctx.refresh()

    def _show_case(self, info: dict) -> None:
        self.case_label.setText(f"<b>{info['case']}</b>: {str(info.get('state', '')).replace('_', ' ')}")
        comment = info.get("comment") if info.get("state") == "rejected" or info.get("reason") == "rework" else None
        marks = info.get("marks") or []
        self.marks = marks
        self.marks_list.clear()
        for m in marks:
            self.marks_list.addItem(f"slice {m.get('slice')}, label {m.get('label', 0)}: {m.get('note') or ''}")
        self.marks_list.setVisible(bool(marks))
        if comment:
            who = info.get("rejected_by") or info.get("reviewer") or "the reviewer"
            self.banner.setText(f"<b>Rejected by {who}</b>: {esc(comment)}"
                                + (f"<br>{len(marks)} mark(s) below: click to go there" if marks else ""))
        self.banner.setVisible(bool(comment))

    def jump_to_mark(self, index: int) -> dict | None:
        """Show the slice (and select the label) of the reviewer's ``index``-th mark."""
        marks = self.marks
        s = self.case_session()
        if s is None or not 0 <= index < len(marks):
            return None
        m = marks[index]
        if m.get("label"):
            s.layer.selected_label = int(m["label"])
        s.goto(s.tracker.axis, int(m["slice"]))
        return m

    def close_case(self) -> None:
        """Remove the open team case's layers (the session closes: unsaved edits go to its journal)."""
        root, self.case_dir, self.case_info = self.case_dir, None, None
        if root is not None:
            for layer in self._case_layers(root):
                self.ctx.viewer.layers.remove(layer)
        lw = self.ctx.labeling()
        lw.submit_button.setVisible(True)
        self.banner.setVisible(False)
        self.marks_list.setVisible(False)
        self.case_label.setText("no case open")
        self.ctx.changed()

    # --- uploads ----------------------------------------------------------------------------------
    def tick(self) -> None:
        """Every WATCH_MS: a new local save is uploaded; offline, retried every RETRY_S."""
        if self.ctx.client is None or self.case_dir is None or self._pushing or self.ctx.busy:
            return
        sig = draft_signature(self.case_dir)
        if sig is None or sig == self.uploaded_sig:
            return
        if self.ctx.link_state == "offline" and time.monotonic() - self._last_try < self.retry_s:
            return
        self.push()

    def push(self):
        """Upload the local draft now (in a worker); the link label says how it went."""
        client, case_dir = self.ctx.require_client(), self.case_dir
        self._pushing = True
        if self.ctx.link_state != "offline":
            self.ctx.set_link("uploading")

        def done(out: dict) -> None:
            self._pushing = False
            self._last_try = time.monotonic()
            if case_dir != self.case_dir:
                return
            if out["status"] == "uploaded":
                self.uploaded_sig = out["signature"]
                self.ctx.set_link("online", f"draft uploaded {time.strftime('%H:%M:%S')}")
            elif out["status"] == "offline":
                self.ctx.set_link("offline", "saves are kept locally and uploaded when the server is back")
            elif out["status"] == "conflict":
                self._on_conflict(out["reason"])

        def failed(exc: BaseException) -> None:
            self._pushing = False
            self._last_try = time.monotonic()
            self.ctx.say(f"the upload was refused: {exc}", error=True)

        return self.ctx.run(push_draft, client, case_dir, done=done, failed=failed, busy=False)

    def _on_conflict(self, reason: str) -> None:
        """409: keep the local draft as a version of its own, then open the server's case again."""
        client, case_dir, info = self.ctx.require_client(), self.case_dir, self.case_info
        s = self.case_session()
        if s is not None and s.dirty and not s.read_only:
            s.save()
        try:
            kept = keep_local_version(case_dir, self.ctx.user or "annotator", reason,
                                      lock=None if s is None else s.lock)
        except CtlabelError as exc:  # the draft stays where it is, open; nothing is downloaded over it
            self.ctx.set_link("conflict", "your draft stays local")
            self.ctx.say(f"The case changed on the server ({reason}); your draft stays in {case_dir} and is not "
                         f"uploaded (it could not be kept as a version: {exc})", error=True)
            return None
        self.close_case()
        message = (f"The case {info['case']} changed on the server since your draft started. Nothing was "
                   f"overwritten: your draft is kept as {kept} in {case_dir / 'masks'}; the server's version "
                   "is open now.")
        self.ctx.set_link("conflict", f"yours kept as {kept}")
        self.ctx.say(message, error=True)

        def work() -> tuple:
            return client.case(info["case"]), client.download(info["case"], case_dir.parent)

        def reopen(result: tuple) -> None:
            self._open_case(*result)
            self.ctx.set_link("conflict", f"yours kept as {kept}")
            self.ctx.say(message, error=True, notify=False)

        return self.ctx.run(work, done=reopen, failed=self.ctx.network_failed)

    # --- submit, flag, withdraw --------------------------------------------------------------------
    def submit(self):
        """Save, run QA (errors need a confirmation), upload the final draft, submit it on the server."""
        s = self.case_session()
        if s is None:
            raise CtlabelError("no team case is open: press Next case")
        if s.dirty or not s.case.draft_path.exists():
            self.ctx.labeling().save()
        findings = submission_qa(s.case)
        errors = sum(1 for f in findings if f.level == "error")
        if errors and not self.ctx.ask_force(self.ctx.parent, findings, self.ctx.labeling().jump_to_finding):
            self.ctx.say(f"Not submitted: QA found {errors} error(s) (the draft is saved)", error=True)
            return None
        name = self.case_info["case"]
        return self._push_then("submit", lambda client: client.submit(name, force=bool(errors)),
                               f"submitted {name} for review" + (f" (with {errors} QA error(s), recorded)"
                                                                  if errors else ""))

    def _push_then(self, verb: str, action, said: str):
        """Upload the draft if it has changes the server lacks, then ``action(client)``; then close the case.

        Offline: nothing is done, the draft stays local. A conflict: handled as for any upload.
        """
        client, case_dir, uploaded = self.ctx.require_client(), self.case_dir, self.uploaded_sig

        def work() -> dict:
            if case_dir is not None and draft_signature(case_dir) != uploaded:
                out = push_draft(client, case_dir)
                if out["status"] in ("offline", "conflict"):
                    return out
            return {"status": "done", **action(client)}

        def done(out: dict) -> None:
            if out["status"] == "offline":
                self.ctx.set_link("offline", "the draft is kept locally")
                self.ctx.say(f"The server cannot be reached: the draft is kept locally; {verb} again when it is "
                             "back.", error=True)
            elif out["status"] == "conflict":
                self._on_conflict(out["reason"])
            else:
                self._ended(said)

        return self.ctx.run(work, done=done, failed=self.ctx.network_failed)

    def flag(self, reason: str | None = None):
        """Mark the open case unusable (a reason is asked for); nobody is given it again."""
        if self.case_info is None:
            raise CtlabelError("no team case is open")
        reason = reason or self.ctx.ask_text(self.ctx.parent, "Flag case", "Why can this case not be labelled?")
        if not reason:
            return None
        client, name = self.ctx.require_client(), self.case_info["case"]
        return self.ctx.run(client.flag, name, reason, done=lambda _r: self._ended(f"flagged {name}: {reason}"),
                            failed=self.ctx.network_failed)

    def withdraw(self):
        """Give the open case back before submitting it; saved changes go up first (the server draft is the work)."""
        if self.case_info is None:
            raise CtlabelError("no team case is open")
        s = self.case_session()
        if s is not None and s.dirty:
            self.ctx.labeling().save()
        name = self.case_info["case"]
        return self._push_then("withdraw", lambda client: client.withdraw(name), f"withdrew {name}")

    def _ended(self, text: str) -> None:
        self.close_case()
        self.ctx.say(text)
        self.ctx.refresh()


__all__ = ["AnnotatorFlow"]
