"""The Worklist widget's annotator side: Next case, background uploads, Submit, Flag, Withdraw.

A mixin of :class:`ctlabel_napari.worklist.WorklistWidget` (which provides ``viewer``, ``run``,
``say``, ``set_link``, ``refresh``, ``_client``, ``me``, ``clock``, ``has_focus``).

The case is downloaded into the local cache and opened with the ctlabel reader, so the labeling
widget edits it on its ``LabelSession`` (the core ``EditingSession``: lock, saves, journal). Every
save writes the local draft; a timer notices the new draft and uploads it in a worker thread
(If-Match: the draft it started from). Unreachable server: the draft stays local and the widget
says "offline, changes waiting" and retries. 409: the local draft is kept as a version of its
own in the local copy, the server's case is downloaded again and opened, and the annotator is told.
"""

from __future__ import annotations

import time
from pathlib import Path

from qtpy.QtWidgets import QGridLayout, QGroupBox, QInputDialog, QLabel, QListWidget, QPushButton

from ctlabel import CtlabelError, submission_qa

from . import _case_ui
from ._layers import KEY
from ._team_sync import UNAVAILABLE, Heartbeats, cache_root, draft_signature, keep_local_version, push_draft


def _ask_text(parent, title: str, prompt: str) -> str | None:
    text, ok = QInputDialog.getText(parent, title, prompt)
    return text.strip() if ok and text.strip() else None


class AnnotatorMixin:
    """Next case, uploads, Submit, Flag, Withdraw, the rejected case's comment and marks."""

    case_info: dict | None = None
    case_dir: Path | None = None
    link_state = "online"

    def _build_annotator_box(self) -> QGroupBox:
        self.ask_text = _ask_text
        self.ask_force = _case_ui.ask_submit_despite_qa
        self._uploaded_sig = None
        self._pushing = False
        self._last_try = 0.0
        self.heartbeats = Heartbeats(self._send_heartbeat, has_focus=lambda: self.has_focus(),
                                     clock=lambda: self.clock())
        box = QGroupBox("Annotate")
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
        self.next_button.clicked.connect(lambda: self._guarded(self.next_case))
        self.submit_button.clicked.connect(lambda: self._guarded(self.submit))
        self.flag_button.clicked.connect(lambda: self._guarded(self.flag))
        self.withdraw_button.clicked.connect(lambda: self._guarded(self.withdraw))
        for i, b in enumerate((self.next_button, self.submit_button, self.flag_button, self.withdraw_button)):
            g.addWidget(b, 1 + i // 2, i % 2)
        self.marks_list = QListWidget()
        self.marks_list.setToolTip("The reviewer's marks: click one to go to its slice and label")
        self.marks_list.itemClicked.connect(lambda it: self.jump_to_mark(self.marks_list.row(it)))
        self.marks_list.setVisible(False)
        self.marks_list.setMaximumHeight(110)
        g.addWidget(self.marks_list, 3, 0, 1, 2)
        self._annotator_buttons = [self.next_button, self.submit_button, self.flag_button, self.withdraw_button]
        return box

    def _guarded(self, fn):
        try:
            return fn()
        except CtlabelError as exc:
            self.say(str(exc), error=True)
            return None

    def _enable_annotator(self) -> None:
        open_ = self.case_dir is not None and not self.busy
        self.next_button.setEnabled(self.client is not None and not self.busy)
        for b in (self.submit_button, self.flag_button, self.withdraw_button):
            b.setEnabled(open_)

    # --- the labeling widget and the case's session --------------------------------------------
    def labeling(self):
        _, widget = self.viewer.window.add_plugin_dock_widget("ctlabel", "Labeling")
        return widget

    def case_session(self):
        """The labeling widget's session of the open team case, or None."""
        if self.case_dir is None:
            return None
        root = self.case_dir.resolve()
        for s in self.labeling().sessions.values():
            if s.case is not None and s.case.root.resolve() == root:
                return s
        return None

    def _case_layers(self, root: Path) -> list:
        root = root.resolve()
        return [ly for ly in self.viewer.layers
                if (ly.metadata.get(KEY) or {}).get("case") and Path(ly.metadata[KEY]["case"]).resolve() == root]

    # --- next case --------------------------------------------------------------------------------
    def next_case(self):
        """Claim the next case and download it (worker, progress bar), then open it for labeling."""
        client = self._client()
        folder = cache_root(client.url, self.me.get("user", ""))
        previous = self._close_for_next()

        def work():
            if previous is not None and draft_signature(previous[0]) != previous[1]:
                push_draft(client, previous[0])  # best effort: the last saves of the case left
            info = client.next_case()
            return info, client.download(info["case"], folder)

        self.say("claiming the next case…", notify=False)
        return self.run(work, done=lambda r: self._open_case(*r), failed=self._network_failed)

    def _close_for_next(self):
        if self.case_dir is None:
            return None
        s = self.case_session()
        if s is not None and s.dirty and not s.read_only:
            s.save()
        previous = (self.case_dir, self._uploaded_sig)
        self.close_case()
        return previous

    def _open_case(self, info: dict, case_dir: Path) -> None:
        self.case_info, self.case_dir = info, Path(case_dir)
        self._uploaded_sig = draft_signature(case_dir)
        self.heartbeats.reset()
        lw = self.labeling()
        self.viewer.open(str(case_dir), plugin="ctlabel")
        lw.submit_button.setVisible(False)  # a team case is submitted through the server (Worklist)
        self._show_case(info)
        self.set_link("online")
        self.say(f"opened {info['case']}" + (" — rejected: fix it and submit again"
                                            if info.get("reason") == "rework" else ""), notify=False)
        self._enable_work()
        self.refresh()

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
            self.banner.setText(f"<b>Rejected by {who}</b>: {_esc(comment)}"
                                + (f"<br>{len(marks)} mark(s) below: click to go there" if marks else ""))
        self.banner.setVisible(bool(comment))

    def jump_to_mark(self, index: int) -> dict | None:
        """Show the slice (and select the label) of the reviewer's ``index``-th mark."""
        marks = getattr(self, "marks", [])
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
                self.viewer.layers.remove(layer)
        lw = self.labeling()
        lw.submit_button.setVisible(True)
        self.banner.setVisible(False)
        self.marks_list.setVisible(False)
        self.case_label.setText("no case open")
        self._enable_work()

    # --- uploads ----------------------------------------------------------------------------------
    def _tick(self) -> None:
        """Every WATCH_MS: a new local save is uploaded; offline, retried every RETRY_S."""
        if self.client is None or self.case_dir is None or self._pushing or self.busy:
            return
        sig = draft_signature(self.case_dir)
        if sig is None or sig == self._uploaded_sig:
            return
        if self.link_state == "offline" and time.monotonic() - self._last_try < self.RETRY_S:
            return
        self.push()

    def push(self):
        """Upload the local draft now (in a worker); the link label says how it went."""
        client, case_dir = self._client(), self.case_dir
        self._pushing = True
        if self.link_state != "offline":
            self.set_link("uploading")

        def done(out: dict) -> None:
            self._pushing = False
            self._last_try = time.monotonic()
            if case_dir != self.case_dir:
                return
            if out["status"] == "uploaded":
                self._uploaded_sig = out["signature"]
                self.set_link("online", f"draft uploaded {time.strftime('%H:%M:%S')}")
            elif out["status"] == "offline":
                self.set_link("offline", "saves are kept locally and uploaded when the server is back")
            elif out["status"] == "conflict":
                self._on_conflict(out["reason"])

        def failed(exc: BaseException) -> None:
            self._pushing = False
            self._last_try = time.monotonic()
            self.say(f"the upload was refused: {exc}", error=True)

        return self.run(push_draft, client, case_dir, done=done, failed=failed, busy=False)

    def _on_conflict(self, reason: str) -> None:
        """409: keep the local draft as a version of its own, then open the server's case again."""
        client, case_dir, info = self._client(), self.case_dir, self.case_info
        s = self.case_session()
        if s is not None and s.dirty and not s.read_only:
            s.save()
        try:
            kept = keep_local_version(case_dir, self.me.get("user") or "annotator", reason,
                                      lock=None if s is None else s.lock)
        except CtlabelError as exc:  # the draft stays where it is, open; nothing is downloaded over it
            self.set_link("conflict", "your draft stays local")
            self.say(f"The case changed on the server ({reason}); your draft stays in {case_dir} and is not "
                     f"uploaded (it could not be kept as a version: {exc})", error=True)
            return None
        self.close_case()
        message = (f"The case {info['case']} changed on the server since your draft started. Nothing was "
                   f"overwritten: your draft is kept as {kept} in {case_dir / 'masks'}; the server's version "
                   "is open now.")
        self.set_link("conflict", f"yours kept as {kept}")
        self.say(message, error=True)

        def work() -> tuple:
            return client.case(info["case"]), client.download(info["case"], case_dir.parent)

        def reopen(result: tuple) -> None:
            self._open_case(*result)
            self.set_link("conflict", f"yours kept as {kept}")
            self.say(message, error=True, notify=False)

        return self.run(work, done=reopen, failed=self._network_failed)

    # --- submit, flag, withdraw --------------------------------------------------------------------
    def submit(self):
        """Save, run QA (errors need a confirmation), upload the final draft, submit it on the server."""
        s = self.case_session()
        if s is None:
            raise CtlabelError("no team case is open: press Next case")
        if s.dirty or not s.case.draft_path.exists():
            self.labeling().save()
        findings = submission_qa(s.case)
        errors = sum(1 for f in findings if f.level == "error")
        if errors and not self.ask_force(self, findings, self.labeling().jump_to_finding):
            self.say(f"Not submitted: QA found {errors} error(s) (the draft is saved)", error=True)
            return None
        name = self.case_info["case"]
        return self._push_then("submit", lambda client: client.submit(name, force=bool(errors)),
                               f"submitted {name} for review" + (f" (with {errors} QA error(s), recorded)"
                                                                  if errors else ""))

    def _push_then(self, verb: str, action, said: str):
        """Upload the draft if it has changes the server lacks, then ``action(client)``; then close the case.

        Offline: nothing is done, the draft stays local. A conflict: handled as for any upload.
        """
        client, case_dir, uploaded = self._client(), self.case_dir, self._uploaded_sig

        def work() -> dict:
            if case_dir is not None and draft_signature(case_dir) != uploaded:
                out = push_draft(client, case_dir)
                if out["status"] in ("offline", "conflict"):
                    return out
            return {"status": "done", **action(client)}

        def done(out: dict) -> None:
            if out["status"] == "offline":
                self.set_link("offline", "the draft is kept locally")
                self.say(f"The server cannot be reached: the draft is kept locally; {verb} again when it is back.",
                         error=True)
            elif out["status"] == "conflict":
                self._on_conflict(out["reason"])
            else:
                self._ended(said)

        return self.run(work, done=done, failed=self._network_failed)

    def flag(self, reason: str | None = None):
        """Mark the open case unusable (a reason is asked for); nobody is given it again."""
        if self.case_info is None:
            raise CtlabelError("no team case is open")
        reason = reason or self.ask_text(self, "Flag case", "Why can this case not be labelled?")
        if not reason:
            return None
        client, name = self._client(), self.case_info["case"]
        return self.run(client.flag, name, reason, done=lambda _r: self._ended(f"flagged {name}: {reason}"),
                        failed=self._network_failed)

    def withdraw(self):
        """Give the open case back before submitting it; saved changes go up first (the server draft is the work)."""
        if self.case_info is None:
            raise CtlabelError("no team case is open")
        s = self.case_session()
        if s is not None and s.dirty:
            self.labeling().save()
        name = self.case_info["case"]
        return self._push_then("withdraw", lambda client: client.withdraw(name), f"withdrew {name}")

    def _ended(self, text: str) -> None:
        self.close_case()
        self.say(text)
        self.refresh()

    # --- time ---------------------------------------------------------------------------------------
    def _connect_activity(self) -> None:
        self.viewer.dims.events.current_step.connect(self._activity)
        self.viewer.layers.events.inserted.connect(lambda e: self._watch_layer(e.value))
        for layer in self.viewer.layers:
            self._watch_layer(layer)

    def _watch_layer(self, layer) -> None:
        for name in ("paint", "contrast_limits"):
            emitter = getattr(layer.events, name, None)
            if emitter is not None:
                emitter.connect(self._activity)

    def _activity(self, _event=None) -> None:
        if self.client is not None and self.active_case() is not None:
            self.heartbeats.activity()

    def active_case(self) -> str | None:
        """The case heartbeats are for: the one being labelled, else the one being reviewed."""
        info = self.case_info or getattr(self, "review_info", None)
        return info["case"] if info else None

    def _send_heartbeat(self) -> None:
        client, name = self._client(), self.active_case()

        def failed(exc: BaseException) -> None:
            if getattr(exc, "status", None) in UNAVAILABLE:
                self.set_link("offline", "the server cannot be reached")

        def done(_result) -> None:
            synced = self.case_dir is None or draft_signature(self.case_dir) == self._uploaded_sig
            if self.link_state == "offline" and synced:
                self.set_link("online")

        self.run(client.heartbeat, name, done=done, failed=failed, busy=False)


def _esc(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
