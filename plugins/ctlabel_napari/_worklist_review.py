"""The Worklist widget's reviewer side: Review next, Approve, Reject (comment and marks), Correct.

A mixin of :class:`ctlabel_napari.worklist.WorklistWidget`. The server hands out the oldest
submitted case nobody reviews (``review-next``); it is downloaded into the local cache and shown
in the existing Review widget, read-only, with its QA findings and slices. Every decision goes
to the server (its rules: no self-review, the transition table); the Review widget's own local
buttons are hidden meanwhile. A correction is painted on the review layer and uploaded as the
reviewer's version (``PUT /correction``, If-Match as for drafts).

Double reading (:mod:`._worklist_double`): a case the server reads twice comes with its reads A
and B, shown side by side with their agreement, and Approve A / B, Correct from A / B. The
``double_read_hooks`` are called with (widget, case info, case folder) after a case opens for
review (that view is one of them).

Keys (napari's own bindings use none of them): Ctrl+Shift+A approve, Ctrl+Shift+R reject,
Ctrl+Shift+N review next.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from qtpy.QtWidgets import QGridLayout, QGroupBox, QLabel, QLineEdit, QListWidget, QPushButton

from ctlabel import Case, CtlabelError, save_mask

from ._team_sync import cache_root
from ._worklist_double import DoubleReadMixin, fetch_reads

REVIEW_KEYS = {"approve": "Control-Shift-A", "reject": "Control-Shift-R", "review_next": "Control-Shift-N"}
CORRECTION = "correction_dseg.nii.gz"


class ReviewerMixin(DoubleReadMixin):
    """Review next, decisions through the server, marks, corrections."""

    review_info: dict | None = None
    review_dir: Path | None = None
    review_widget = None

    def _build_reviewer_box(self) -> QGroupBox:
        self.double_read_hooks: list = []
        self.review_marks: list[dict] = []
        box = QGroupBox("Review")
        g = QGridLayout(box)
        self.review_label = QLabel("no case under review")
        self.review_label.setWordWrap(True)
        g.addWidget(self.review_label, 0, 0, 1, 3)
        self.review_next_button = QPushButton("Review next (Ctrl+Shift+N)")
        self.approve_button = QPushButton("Approve (Ctrl+Shift+A)")
        self.reject_button = QPushButton("Reject (Ctrl+Shift+R)")
        self.correct_button = QPushButton("Correct")
        self.correct_button.setToolTip("Make the mask editable; paint, then Upload correction")
        self.upload_correction_button = QPushButton("Upload correction")
        self.mark_button = QPushButton("Mark slice")
        self.mark_button.setToolTip("Add the current slice and selected label, with the note, to the rejection")
        self.review_next_button.clicked.connect(lambda: self._guarded(self.review_next))
        self.approve_button.clicked.connect(lambda: self._guarded(self.approve))
        self.reject_button.clicked.connect(lambda: self._guarded(self.reject))
        self.correct_button.clicked.connect(lambda: self._guarded(self.start_correction))
        self.upload_correction_button.clicked.connect(lambda: self._guarded(self.upload_correction))
        self.mark_button.clicked.connect(lambda: self._guarded(self.add_mark))
        buttons = (self.review_next_button, self.approve_button, self.reject_button, self.correct_button,
                   self.upload_correction_button, self.mark_button)
        for i, b in enumerate(buttons):
            g.addWidget(b, 1 + i // 3, i % 3)
        self.review_comment = QLineEdit()
        self.review_comment.setPlaceholderText("comment (needed to reject)")
        g.addWidget(self.review_comment, 3, 0, 1, 2)
        self.mark_note = QLineEdit()
        self.mark_note.setPlaceholderText("note of a mark")
        g.addWidget(self.mark_note, 3, 2)
        self.review_marks_list = QListWidget()
        self.review_marks_list.setMaximumHeight(80)
        self.review_marks_list.setVisible(False)
        g.addWidget(self.review_marks_list, 4, 0, 1, 3)
        g.addWidget(self._build_double_box(), 5, 0, 1, 3)
        self._reviewer_buttons = [*buttons, *self.double_buttons]
        return box

    def _enable_reviewer(self) -> None:
        open_ = self.review_info is not None and not self.busy
        editing = open_ and self.review_widget is not None and self.review_widget.labels_layer is not None \
            and self.review_widget.labels_layer.editable
        self.review_next_button.setEnabled(self.client is not None and not self.busy)
        for b in (self.approve_button, self.reject_button, self.correct_button, self.mark_button):
            b.setEnabled(open_ and not editing)
        self.upload_correction_button.setEnabled(bool(editing))
        self._enable_double(open_, bool(editing))

    def _bind_review_keys(self) -> None:
        for what, key in REVIEW_KEYS.items():
            def handler(viewer, what=what):
                if self.role in ("reviewer", "lead") and not self.busy:
                    self._guarded(getattr(self, what))

            handler.__name__ = f"ctlabel_team_{what}"
            self.viewer.bind_key(key, handler, overwrite=True)

    # --- open ----------------------------------------------------------------------------------
    def review_next(self):
        """Take the oldest submitted case nobody reviews, download it, open it in the Review widget."""
        client = self._client()
        folder = cache_root(client.url, self.me.get("user", "")) / "review"
        self._end_review()

        def work():
            info = client.review_next()
            case_dir = client.download(info["case"], folder)
            return info, case_dir, fetch_reads(client, info, folder.parent / "review-reads")

        self.say("taking the next case to review…", notify=False)
        return self.run(work, done=lambda r: self._open_review(*r), failed=self._network_failed)

    def _open_review(self, info: dict, case_dir: Path, reads: dict | None = None) -> None:
        from .review_widget import open_review

        self.review_info, self.review_dir, self.review_reads = info, Path(case_dir), reads
        self.review_marks = []
        self.review_marks_list.clear()
        self.review_marks_list.setVisible(False)
        self.heartbeats.reset()
        rw = open_review(self.viewer, case_dir)
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
        self.review_label.setText(f"<b>{info['case']}</b>: {versions[-1] if versions else ''} by {by}, "
                                  f"{len(rw.findings)} QA finding(s)")
        for hook in self.double_read_hooks:
            hook(self, info, self.review_dir)
        self._enable_work()
        self.say(f"reviewing {info['case']}", notify=False)

    def _end_review(self) -> None:
        self._end_double(keep_reads=False)
        rw, self.review_widget = self.review_widget, None
        self.review_info, self.review_dir = None, None
        self.review_label.setText("no case under review")
        self.review_marks_list.setVisible(False)
        if rw is not None:
            for ly in (rw.image_layer, rw.labels_layer, rw.diff_layer):
                if ly is not None and ly in self.viewer.layers:
                    self.viewer.layers.remove(ly)
            rw.image_layer = rw.labels_layer = rw.diff_layer = None
            rw.case, rw.mask, rw.findings = None, None, []
            rw.qa_list.clear()
            rw.state_label.setText("no case")
            for b in (rw.approve_button, rw.reject_button, rw.correct_button, rw.save_button, rw.comment_edit):
                b.setVisible(True)
        self._enable_work()

    # --- decisions ----------------------------------------------------------------------------------
    def _require_review(self) -> str:
        if self.review_info is None:
            raise CtlabelError("no case under review: press Review next")
        return self.review_info["case"]

    def approve(self):
        name = self._require_review()
        client, comment = self._client(), self.review_comment.text().strip() or None
        return self.run(client.approve, name, comment, done=lambda _r: self._decided(f"approved {name}"),
                        failed=self._network_failed)

    def reject(self, comment: str | None = None):
        """Reject with a comment (asked for when the comment field is empty) and the marks added."""
        name = self._require_review()
        comment = comment or self.review_comment.text().strip() or \
            self.ask_text(self, "Reject", "What must the annotator fix?")
        if not comment:
            return None
        client, marks = self._client(), list(self.review_marks)
        return self.run(client.reject, name, comment, marks,
                        done=lambda _r: self._decided(f"rejected {name}: {comment}"), failed=self._network_failed)

    def add_mark(self, note: str | None = None) -> dict:
        """Mark the current slice (along the mask's slice axis) and the selected label for the rejection."""
        self._require_review()
        rw = self.review_widget
        axis = rw.mask.axis if rw.mask is not None else 0
        label = int(rw.labels_layer.selected_label) if rw.labels_layer is not None else 0
        mark = {"slice": int(self.viewer.dims.current_step[axis]), "label": label,
                "note": (note if note is not None else self.mark_note.text()).strip()}
        self.review_marks.append(mark)
        self.review_marks_list.addItem(f"slice {mark['slice']}, label {label}: {mark['note']}")
        self.review_marks_list.setVisible(True)
        self.mark_note.clear()
        return mark

    def _decided(self, text: str) -> None:
        self.review_comment.clear()
        self._end_review()
        self.say(text)
        self.refresh()

    # --- correct ---------------------------------------------------------------------------------------
    def start_correction(self) -> None:
        """Make the review layer editable (the server has the case: nobody else edits it meanwhile)."""
        self._require_review()
        self._end_double()  # a double-read case: the reads' grid gives way to the review layer
        layer = self.review_widget.labels_layer
        layer.visible = layer.editable = True
        layer.mode = "paint"
        self.viewer.layers.selection.active = layer
        self.say("correcting: paint, then Upload correction", notify=False)
        self._enable_work()

    def upload_correction(self):
        """Upload the edited mask as the reviewer's corrected version; the case is shown again."""
        name = self._require_review()
        client, root, rw, reads = self._client(), self.review_dir, self.review_widget, self.review_reads
        case = Case.open(root)
        path = case.masks_dir / CORRECTION
        save_mask(path, np.asarray(rw.labels_layer.data), case.image_grid(), label_table=case.load_labels(),
                  annotator=self.me.get("user"))
        rw.labels_layer.editable = False
        comment = self.review_comment.text().strip() or None

        def work():
            out = client.correct(root, comment, file=path)
            return out, client.case(name), client.download(name, root.parent)

        def done(result) -> None:
            out, info, case_dir = result
            self._end_review()
            self._open_review(info, case_dir, reads)
            self.say(f"uploaded the correction of {name} ({info.get('versions', ['?'])[-1]}); approve or "
                     "reject it, or leave it to another reviewer")

        return self.run(work, done=done, failed=self._network_failed)
