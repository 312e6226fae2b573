"""The review widget: open a case, read its QA and provenance, see changes, approve / reject / correct.

A thin view over :class:`ctlabel.ReviewSession` (state, history, versions, QA, the decisions and the
correction's lock) and :class:`ctlabel.VersionDiff` (what changed between two versions).
The mask is read-only until the reviewer presses *Correct*, which takes the case
lock (or says who holds it) and makes the labels layer editable; *Save correction*
stores the edited mask as a reviewer version.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path

import numpy as np
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QWidget,
)

from ctlabel import Case, CtlabelError, Finding, ReviewSession, VersionDiff, version_name

from . import _review_team
from ._fit import scrolled_layout
from ._layers import KEY, image_layer_data, labels_layer_data
from ._loading import Loading
from ._qa_view import GroupStepper, fill_group_list

ENV_REVIEWER = "CTLABEL_REVIEWER"
DIFF_COLORS = {None: (0, 0, 0, 0), VersionDiff.UNCHANGED: (0, 0, 0, 0), VersionDiff.ADDED: (0.1, 0.9, 0.2, 1.0),
               VersionDiff.REMOVED: (1.0, 0.15, 0.15, 1.0), VersionDiff.RELABELLED: (1.0, 0.85, 0.1, 1.0)}


class ReviewWidget(QWidget):
    """Dock widget: review one case."""

    def __init__(self, napari_viewer, parent=None):
        super().__init__(parent)
        self.viewer = napari_viewer
        self.case: Case | None = None
        self.mask = None
        self.version: int | None = None
        self.findings: list[Finding] = []
        self.session: ReviewSession | None = None  # the open case: read-only, with the lock while correcting
        self.image_layer = None
        self.labels_layer = None
        self.diff_layer = None
        self._slices: list[int] = []

        lay = scrolled_layout(self)  # scrolls: with the other docks the window stays within the screen
        row = QHBoxLayout()
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("case folder")
        self.open_button = QPushButton("Open case…")
        self.open_button.clicked.connect(self._browse)
        row.addWidget(self.path_edit)
        row.addWidget(self.open_button)
        lay.addLayout(row)
        form = QFormLayout()
        self.reviewer_edit = QLineEdit(os.environ.get(ENV_REVIEWER) or getpass.getuser())
        form.addRow("Reviewer", self.reviewer_edit)
        self.state_label = QLabel("no case")
        self.state_label.setWordWrap(True)
        form.addRow("State", self.state_label)
        lay.addLayout(form)

        lay.addWidget(QLabel("QA findings by check and label (click to jump)"))
        self.qa_list = QListWidget()  # one row per group of findings (_qa_view.fill_group_list)
        self._qa_steps = GroupStepper([])  # no case yet: an empty list
        self.qa_list.itemClicked.connect(self._qa_clicked)
        lay.addWidget(self.qa_list)

        lay.addWidget(QLabel("Slices: painted (P) / interpolated (I)"))
        self.slice_list = QListWidget()
        self.slice_list.itemClicked.connect(self._slice_clicked)
        lay.addWidget(self.slice_list)

        row = QHBoxLayout()
        self.from_combo = QComboBox()
        self.to_combo = QComboBox()
        self.diff_button = QPushButton("Show changes")
        self.diff_button.clicked.connect(lambda: self.show_changes())
        row.addWidget(self.from_combo)
        row.addWidget(QLabel("→"))
        row.addWidget(self.to_combo)
        row.addWidget(self.diff_button)
        lay.addLayout(row)
        self.diff_label = QLabel("")
        self.diff_label.setWordWrap(True)
        lay.addWidget(self.diff_label)

        lay.addWidget(QLabel("Provenance"))
        self.history = QPlainTextEdit()
        self.history.setReadOnly(True)
        lay.addWidget(self.history)

        self.comment_edit = QLineEdit()
        self.comment_edit.setPlaceholderText("comment (required to reject)")
        lay.addWidget(self.comment_edit)
        row = QHBoxLayout()
        self.approve_button = QPushButton("Approve")
        self.reject_button = QPushButton("Reject")
        self.correct_button = QPushButton("Correct")
        self.save_button = QPushButton("Save correction")
        self.approve_button.clicked.connect(lambda: self.approve())
        self.reject_button.clicked.connect(lambda: self.reject())
        self.correct_button.clicked.connect(lambda: self.start_correction())
        self.save_button.clicked.connect(lambda: self.save_correction())
        for b in (self.approve_button, self.reject_button, self.correct_button, self.save_button):
            row.addWidget(b)
        lay.addLayout(row)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        lay.addWidget(self.message)
        self.path_edit.returnPressed.connect(lambda: self.open_case(self.path_edit.text()))
        self._update_buttons()

    # ------------------------------------------------------------------ helpers
    @property
    def reviewer(self) -> str:
        return self.reviewer_edit.text().strip()

    @property
    def read_only(self) -> bool:
        return self.session is None or self.session.read_only

    def _say(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color: #e05050;" if error else "")
        try:
            from napari.utils.notifications import show_error, show_info

            (show_error if error else show_info)(text)
        except Exception:  # noqa: BLE001 - notifications are a convenience only
            pass

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a ctlabel case folder")
        if path:
            self.open_case(path)

    def _update_buttons(self) -> None:
        s = self.session
        correcting = not self.read_only
        self.approve_button.setEnabled(s is not None and not correcting and s.allows("approved"))
        self.reject_button.setEnabled(s is not None and not correcting and s.allows("rejected"))
        self.correct_button.setEnabled(s is not None and not correcting and s.allows("corrected"))
        self.save_button.setEnabled(correcting)
        self.diff_button.setEnabled(s is not None and self.from_combo.count() > 0)

    # ------------------------------------------------------------------ open
    def open_case(self, path: str | os.PathLike) -> None:
        """Show a case: image, latest version (read-only), QA, slices, provenance."""
        self._end_correction()
        try:
            session = ReviewSession.open(path, self.reviewer or None)
            case = session.case
            with Loading(self.viewer, case.root.name) as loading:
                volume = loading.run(case.load_image, progress=False)
            self.version, mask = session.latest()
        except CtlabelError as exc:
            self._say(str(exc), error=True)
            return
        self.session, self.case, self.mask = session, case, mask
        self.path_edit.setText(str(case.root))
        for ly in (self.image_layer, self.labels_layer, self.diff_layer):
            if ly is not None and ly in self.viewer.layers:
                self.viewer.layers.remove(ly)
        self.diff_layer = None
        data, kw, _ = image_layer_data(volume, case.root.name, case=case.root, source=str(case.image_path))
        kw["metadata"][KEY]["role"] = "review_image"
        self.image_layer = self.viewer.add_image(data, **kw)
        table = case.load_labels()
        arr = mask.array.copy() if mask is not None else np.zeros(volume.shape, np.uint8)
        name = f"{case.root.name} {version_name(self.version) if self.version else 'draft'}"
        data, kw, _ = labels_layer_data(arr, volume.grid, name, table=table, case=case.root, mask=mask)
        kw["metadata"][KEY]["role"] = "review_labels"  # the labeling widget leaves it alone
        self.labels_layer = self.viewer.add_labels(data, **kw)
        self.labels_layer.editable = False
        self.findings = session.findings(mask, volume) if mask is not None else []
        self._qa_steps = fill_group_list(self.qa_list, self.findings)
        self.slice_list.clear()
        rows = session.slice_lines(mask) if mask is not None else []
        self._slices = [k for k, _ in rows]
        self.slice_list.addItems([text for _, text in rows])
        names = session.version_names()
        self.from_combo.clear()
        self.to_combo.clear()
        self.from_combo.addItems(names)
        self.to_combo.addItems(names)
        if len(names) >= 2:
            self.from_combo.setCurrentIndex(len(names) - 2)
            self.to_combo.setCurrentIndex(len(names) - 1)
        self._refresh_state()
        self.team_beats = _review_team.follow_widget(self)  # a case from a team server: the reviewer's time
        holder = session.status().locked_by
        self._say(f"opened {case.root.name} read-only" + (f"; being edited by {holder}" if holder else ""))

    def _refresh_state(self) -> None:
        if self.session is None:
            return
        self.state_label.setText(self.session.summary(self.mask))
        self.history.setPlainText("\n".join(self.session.history_lines(self.mask)) or "no events yet")
        self._update_buttons()

    # ------------------------------------------------------------------ navigation
    def jump_to(self, slice_index: int, voxel=None, axis: int = 0) -> None:
        """Show slice ``slice_index`` (along ``axis``) and centre the camera on ``voxel``."""
        step = list(self.viewer.dims.current_step)
        step[axis] = int(slice_index)
        self.viewer.dims.current_step = tuple(step)
        if voxel is not None:
            layer = self.image_layer or self.labels_layer
            world = np.asarray(layer.data_to_world(np.asarray(voxel, float)) if layer is not None else voxel, float)
            self.viewer.camera.center = tuple(world[[a for a in range(3) if a != axis]]) \
                if self.viewer.dims.ndisplay == 2 else tuple(world)

    def jump_to_finding(self, index: int) -> Finding | None:
        if not 0 <= index < len(self.findings):
            return None
        f = self.findings[index]
        if f.slice is not None:
            self.jump_to(f.slice, f.voxel, f.axis)
        return f

    def _qa_clicked(self, item) -> Finding | None:
        """A group's row: its worst finding first, then the next of the group at each click."""
        f = self._qa_steps.next(self.qa_list.row(item))
        return self.jump_to_finding(self.findings.index(f)) if f is not None else None

    def _slice_clicked(self, item) -> None:
        i = self.slice_list.row(item)
        if 0 <= i < len(self._slices):
            self.jump_to(self._slices[i], axis=self.mask.axis if self.mask is not None else 0)

    # ------------------------------------------------------------------ changes
    def show_changes(self, a: str | None = None, b: str | None = None):
        """Overlay what changed from version ``a`` to ``b``: green added, red removed, yellow relabelled."""
        if self.session is None:
            return None
        a = a or self.from_combo.currentText()
        b = b or self.to_combo.currentText()
        try:
            diff = VersionDiff.between(self.session, a, b)
        except CtlabelError as exc:
            self._say(str(exc), error=True)
            return None
        if self.diff_layer is not None and self.diff_layer in self.viewer.layers:
            self.viewer.layers.remove(self.diff_layer)
        self.diff_layer = self.viewer.add_labels(
            diff.overlay, name=f"changes {a}→{b}", scale=self.labels_layer.scale,
            translate=self.labels_layer.translate, opacity=0.8, colormap=DIFF_COLORS,
            metadata={KEY: {"role": "review_diff", "summary": diff.summary}})
        self.diff_layer.editable = False
        self.diff_label.setText(diff.describe())
        if diff.slices:
            self.jump_to(diff.slices[len(diff.slices) // 2])
        return diff.summary

    # ------------------------------------------------------------------ decisions
    def approve(self) -> bool:
        if self.session is None:
            return False
        try:
            n = self.session.approve(self.comment_edit.text().strip(), who=self.reviewer)
        except CtlabelError as exc:
            self._say(str(exc), error=True)
            return False
        self._say(f"approved {version_name(n)}")
        self._refresh_state()
        return True

    def reject(self, comment: str | None = None) -> bool:
        if self.session is None:
            return False
        if comment is not None:
            self.comment_edit.setText(comment)
        try:
            n = self.session.reject(self.comment_edit.text(), who=self.reviewer)
        except CtlabelError as exc:
            self._say(str(exc), error=True)
            return False
        self._say(f"rejected {version_name(n)}")
        self._refresh_state()
        return True

    def start_correction(self) -> bool:
        """Take the case lock and make the mask editable; read-only with a message if somebody holds it."""
        if self.session is None or self.labels_layer is None:
            return False
        try:
            self.session.start_correction(self.reviewer)
        except CtlabelError as exc:
            self._say(exc.reason, error=True)
            return False
        self.labels_layer.editable = True
        self.labels_layer.mode = "paint"
        self.viewer.layers.selection.active = self.labels_layer
        self._say("correcting: paint, then Save correction")
        self._update_buttons()
        return True

    def save_correction(self) -> int | None:
        if self.session is None or self.session.read_only or self.case is None:
            return None
        try:
            n = self.session.correct(np.asarray(self.labels_layer.data), self.mask.grid,
                                     self.comment_edit.text().strip())
        except CtlabelError as exc:
            self._say(str(exc), error=True)
            return None
        self._end_correction()
        self.open_case(self.case.root)
        self._say(f"saved the correction as {version_name(n)}")
        return n

    def _end_correction(self) -> None:
        if self.session is not None:
            self.session.close()  # the lock is released; the case stays open read-only
        if self.labels_layer is not None:
            self.labels_layer.editable = False

    def closeEvent(self, event) -> None:
        self._end_correction()
        super().closeEvent(event)


def open_review(viewer, path) -> ReviewWidget:
    """Dock a review widget on ``viewer`` and open ``path`` in it."""
    _, widget = viewer.window.add_plugin_dock_widget("ctlabel", "Review")
    widget.open_case(Path(path))
    return widget


__all__ = ["ReviewWidget", "open_review"]
