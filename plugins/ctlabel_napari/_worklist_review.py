"""The Worklist's reviewer side: Review next, Approve, Reject (comment and marks), Correct.

:class:`ReviewFlow` owns the *Review* box and the case under review; it receives a
:class:`~._worklist_context.WorklistContext` and nothing else. The server hands out the oldest
submitted case nobody reviews (``review-next``); it is downloaded into the local cache and shown
in the existing Review widget, read-only, with its QA findings and slices. Every decision goes
to the server (its rules: no self-review, the transition table); the Review widget's own local
buttons are hidden meanwhile. A correction is painted on the review layer and uploaded as the
reviewer's version (``PUT /correction``, If-Match as for drafts).

Several readers: a case the server has read N times comes with its reads, their fusion and where
they differ, shown with each reader's figures by the flow's :class:`~._worklist_double.DoubleReadView`,
and Approve fusion, Approve read, Correct from read. The ``hooks`` are called with (the flow, case
info, case folder) after a case opens for review.

Keys (napari's own bindings use none of them): Ctrl+Shift+A approve, Ctrl+Shift+R reject,
Ctrl+Shift+N review next.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from qtpy.QtWidgets import QGridLayout, QGroupBox, QLabel, QLineEdit, QListWidget, QPushButton

from ctlabel import Case, CtlabelError, save_mask

from ._team_sync import cache_root
from ._worklist_context import WorklistContext
from ._worklist_double import DoubleReadView, fetch_reads

REVIEW_KEYS = {"approve": "Control-Shift-A", "reject": "Control-Shift-R", "review_next": "Control-Shift-N"}
CORRECTION = "correction_dseg.nii.gz"


class ReviewFlow:
    """Review next, decisions through the server, marks, corrections, double reading.

    Parameters
    ----------
    ctx : WorklistContext
        What the flow may use of the Worklist.
    """

    def __init__(self, ctx: WorklistContext) -> None:
        self.ctx = ctx
        self.info: dict | None = None
        self.case_dir: Path | None = None
        self.reads: dict | None = None
        self.review_widget = None
        self.marks: list[dict] = []
        self.hooks: list[Callable] = []
        self.box = box = QGroupBox("Review")
        g = QGridLayout(box)
        self.label = QLabel("no case under review")
        self.label.setWordWrap(True)
        g.addWidget(self.label, 0, 0, 1, 3)
        self.review_next_button = QPushButton("Review next (Ctrl+Shift+N)")
        self.approve_button = QPushButton("Approve (Ctrl+Shift+A)")
        self.reject_button = QPushButton("Reject (Ctrl+Shift+R)")
        self.correct_button = QPushButton("Correct")
        self.correct_button.setToolTip("Make the mask editable; paint, then Upload correction")
        self.upload_correction_button = QPushButton("Upload correction")
        self.mark_button = QPushButton("Mark slice")
        self.mark_button.setToolTip("Add the current slice and selected label, with the note, to the rejection")
        self.review_next_button.clicked.connect(lambda: ctx.guarded(self.review_next))
        self.approve_button.clicked.connect(lambda: ctx.guarded(self.approve))
        self.reject_button.clicked.connect(lambda: ctx.guarded(self.reject))
        self.correct_button.clicked.connect(lambda: ctx.guarded(self.start_correction))
        self.upload_correction_button.clicked.connect(lambda: ctx.guarded(self.upload_correction))
        self.mark_button.clicked.connect(lambda: ctx.guarded(self.add_mark))
        buttons = (self.review_next_button, self.approve_button, self.reject_button, self.correct_button,
                   self.upload_correction_button, self.mark_button)
        for i, b in enumerate(buttons):
            g.addWidget(b, 1 + i // 3, i % 3)
        self.comment = QLineEdit()
        self.comment.setPlaceholderText("comment (needed to reject)")
        g.addWidget(self.comment, 3, 0, 1, 2)
        self.mark_note = QLineEdit()
        self.mark_note.setPlaceholderText("note of a mark")
        g.addWidget(self.mark_note, 3, 2)
        self.marks_list = QListWidget()
        self.marks_list.setMaximumHeight(80)
        self.marks_list.setVisible(False)
        g.addWidget(self.marks_list, 4, 0, 1, 3)
        self.double = DoubleReadView(ctx.viewer, approve=lambda slot: ctx.guarded(lambda: self.approve_read(slot)),
                                     correct=lambda slot: ctx.guarded(lambda: self.correct_from(slot)))
        g.addWidget(self.double.box, 5, 0, 1, 3)
        self.hooks.append(lambda flow, info, case_dir: self.double.show(self.reads, self.review_widget))
        self.buttons = [*buttons, *self.double.buttons]
        self._bind_keys()

    @property
    def case_name(self) -> str | None:
        return self.info["case"] if self.info else None

    def enable(self) -> None:
        """Enable the buttons that apply: decisions with a case open and not being corrected; none while busy."""
        busy = self.ctx.busy
        open_ = self.info is not None and not busy
        rw = self.review_widget
        editing = bool(open_ and rw is not None and rw.labels_layer is not None and rw.labels_layer.editable)
        self.review_next_button.setEnabled(self.ctx.client is not None and not busy)
        for b in (self.approve_button, self.reject_button, self.correct_button, self.mark_button):
            b.setEnabled(open_ and not editing)
        self.upload_correction_button.setEnabled(editing)
        self.double.enable(open_ and not editing and self.reads is not None)

    def _bind_keys(self) -> None:
        ctx = self.ctx
        for what, key in REVIEW_KEYS.items():
            def handler(viewer, what=what):
                if ctx.role in ("reviewer", "lead") and not ctx.busy:
                    ctx.guarded(getattr(self, what))

            handler.__name__ = f"ctlabel_team_{what}"
            ctx.viewer.bind_key(key, handler, overwrite=True)

    # --- open ----------------------------------------------------------------------------------
    def review_next(self):
        """Take the oldest submitted case nobody reviews, download it, open it in the Review widget."""
        client = self.ctx.require_client()
        folder = cache_root(client.url, self.ctx.user) / "review"
        self.end_review()

        def work():
            info = client.review_next()
            case_dir = client.download(info["case"], folder)
            return info, case_dir, fetch_reads(client, info, folder.parent / "review-reads")

        self.ctx.say("taking the next case to review…", notify=False)
        return self.ctx.run(work, done=lambda r: self.open_review(*r), failed=self.ctx.network_failed)

    def open_review(self, info: dict, case_dir: Path, reads: dict | None = None) -> None:
        from .review_widget import open_review

        self.info, self.case_dir, self.reads = info, Path(case_dir), reads
        self.marks = []
        self.marks_list.clear()
        self.marks_list.setVisible(False)
        self.ctx.heartbeats.reset()
        rw = open_review(self.ctx.viewer, case_dir)
        if getattr(rw, "team_beats", None) is not None:  # the Worklist sends the heartbeats of its review itself
            rw.team_beats.stop()
            rw.team_beats = None
        self.review_widget = rw
        for b in (rw.approve_button, rw.reject_button, rw.correct_button, rw.save_button, rw.comment_edit):
            b.setVisible(False)  # decisions go through the server (this widget)
        by = info.get("annotator") or "?"
        versions = info.get("versions") or []
        rw.state_label.setText(f"{info.get('state')} on the team server; {versions[-1] if versions else 'draft'} "
                               f"by {by}")
        self.label.setText(f"<b>{info['case']}</b>: {versions[-1] if versions else ''} by {by}, "
                           f"{len(rw.findings)} QA finding(s)")
        for hook in self.hooks:
            hook(self, info, self.case_dir)
        self.ctx.changed()
        self.ctx.say(f"reviewing {info['case']}", notify=False)

    def end_review(self) -> None:
        self.double.hide()
        self.reads = None
        rw, self.review_widget = self.review_widget, None
        self.info, self.case_dir = None, None
        self.label.setText("no case under review")
        self.marks_list.setVisible(False)
        if rw is not None:
            for ly in (rw.image_layer, rw.labels_layer, rw.diff_layer):
                if ly is not None and ly in self.ctx.viewer.layers:
                    self.ctx.viewer.layers.remove(ly)
            rw.image_layer = rw.labels_layer = rw.diff_layer = None
            rw.case, rw.mask, rw.findings = None, None, []
            rw.qa_list.clear()
            rw.state_label.setText("no case")
            for b in (rw.approve_button, rw.reject_button, rw.correct_button, rw.save_button, rw.comment_edit):
                b.setVisible(True)
        self.ctx.changed()

    # --- decisions ----------------------------------------------------------------------------------
    def _require(self) -> str:
        if self.info is None:
            raise CtlabelError("no case under review: press Review next")
        return self.info["case"]

    def approve(self):
        name = self._require()
        client, comment = self.ctx.require_client(), self.comment.text().strip() or None
        return self.ctx.run(client.approve, name, comment, done=lambda _r: self._decided(f"approved {name}"),
                            failed=self.ctx.network_failed)

    def reject(self, comment: str | None = None):
        """Reject with a comment (asked for when the comment field is empty) and the marks added."""
        name = self._require()
        comment = comment or self.comment.text().strip() or \
            self.ctx.ask_text(self.ctx.parent, "Reject", "What must the annotator fix?")
        if not comment:
            return None
        client, marks = self.ctx.require_client(), list(self.marks)
        return self.ctx.run(client.reject, name, comment, marks,
                            done=lambda _r: self._decided(f"rejected {name}: {comment}"),
                            failed=self.ctx.network_failed)

    def add_mark(self, note: str | None = None) -> dict:
        """Mark the current slice (along the mask's slice axis) and the selected label for the rejection."""
        self._require()
        rw = self.review_widget
        axis = rw.mask.axis if rw.mask is not None else 0
        label = int(rw.labels_layer.selected_label) if rw.labels_layer is not None else 0
        mark = {"slice": int(self.ctx.viewer.dims.current_step[axis]), "label": label,
                "note": (note if note is not None else self.mark_note.text()).strip()}
        self.marks.append(mark)
        self.marks_list.addItem(f"slice {mark['slice']}, label {label}: {mark['note']}")
        self.marks_list.setVisible(True)
        self.mark_note.clear()
        return mark

    def _decided(self, text: str) -> None:
        self.comment.clear()
        self.end_review()
        self.ctx.say(text)
        self.ctx.refresh()

    # --- correct ---------------------------------------------------------------------------------------
    def start_correction(self) -> None:
        """Make the review layer editable (the server has the case: nobody else edits it meanwhile)."""
        self._require()
        self.double.clear()  # a case read several times: the reads give way to the review layer
        layer = self.review_widget.labels_layer
        layer.visible = layer.editable = True
        layer.mode = "paint"
        self.ctx.viewer.layers.selection.active = layer
        self.ctx.say("correcting: paint, then Upload correction", notify=False)
        self.ctx.changed()

    def upload_correction(self):
        """Upload the edited mask as the reviewer's corrected version; the case is shown again."""
        name = self._require()
        client, root, rw, reads = self.ctx.require_client(), self.case_dir, self.review_widget, self.reads
        case = Case.open(root)
        path = case.masks_dir / CORRECTION
        save_mask(path, np.asarray(rw.labels_layer.data), case.image_grid(), label_table=case.load_labels(),
                  annotator=self.ctx.user or None)
        rw.labels_layer.editable = False
        comment = self.comment.text().strip() or None

        def work():
            out = client.correct(root, comment, file=path)
            return out, client.case(name), client.download(name, root.parent)

        def done(result) -> None:
            out, info, case_dir = result
            self.end_review()
            self.open_review(info, case_dir, reads)
            self.ctx.say(f"uploaded the correction of {name} ({info.get('versions', ['?'])[-1]}); approve or "
                         "reject it, or leave it to another reviewer")

        return self.ctx.run(work, done=done, failed=self.ctx.network_failed)

    # --- double reading ----------------------------------------------------------------------------------
    def approve_read(self, slot: str):
        """Approve the ``fusion`` or read ``slot`` (``"2"``) on the server (it decides whether that is allowed)."""
        name = self._require()
        client, comment = self.ctx.require_client(), self.comment.text().strip() or None
        what = "the fusion" if slot == "fusion" else f"read {slot}"
        return self.ctx.run(client.approve, name, comment, slot,
                            done=lambda _r: self._decided(f"approved {what} of {name}"),
                            failed=self.ctx.network_failed)

    def correct_from(self, slot: str) -> None:
        """Start a correction from read ``slot``: its mask in the review layer, editable."""
        self._require()
        data = self.double.read_data(slot)
        if data is None:
            self.ctx.say(f"read {slot} is not there", error=True)
            return
        target = self.review_widget.labels_layer
        self.double.clear()
        target.data = data
        target.visible = True
        self.start_correction()
        self.ctx.say(f"correcting from read {slot}: paint, then Upload correction", notify=False)


__all__ = ["CORRECTION", "REVIEW_KEYS", "ReviewFlow"]
