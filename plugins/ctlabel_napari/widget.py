"""The labeling dock widget: window presets, label table, interpolate, navigation, save.

Keyboard shortcuts (none clashes with napari's: digits 1-7 and letters E, P, F,
L, Z, M, X, B, C, V switch Labels tools or views):

==================  ==========================================
F1 .. F5            window: soft tissue, lung, bone, brain, liver
Shift+I             interpolate the selected label (Shift+Alt+I: all labels)
PageDown / PageUp   next / previous painted slice of the selected label
G / Shift+G         next / previous stretch of unpainted slices between painted ones
Ctrl+S              save the draft of the open case (Save as case… for a series; never napari's dialog)
==================  ==========================================
"""

from __future__ import annotations

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtGui import QColor
from qtpy.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QPushButton,
    QSizePolicy,
    QTableWidgetItem,
    QTabWidget,
    QWidget,
)

from ctlabel import CtlabelError, labels_present

from . import _case_ui, settings
from ._actions import CaseActionsMixin, ranges
from ._fit import scrolled_layout
from ._hu_range import HURangeBox
from ._interp_worker import ImageInterpolationMixin
from ._label_table import LabelTableMixin
from ._layers import KEY
from ._prelabel_ui import PrelabelBox
from ._region_grow_ui import RegionGrowBox
from .session import LabelSession
from .window_presets import WINDOWS

SHORTCUTS = {
    "interpolate": "Shift-I",
    "interpolate_all": "Shift-Alt-I",
    "next_painted": "PageDown",
    "previous_painted": "PageUp",
    "next_gap": "G",
    "previous_gap": "Shift-G",
}


def _notify(message: str, level: str = "info") -> None:
    from napari.utils import notifications

    getattr(notifications, f"show_{level}")(message)


def _is_ctlabel_labels(layer) -> bool:
    from napari.layers import Labels

    return isinstance(layer, Labels) and layer.metadata.get(KEY, {}).get("role") == "labels"


def _is_ctlabel_image(layer) -> bool:
    from napari.layers import Image

    return isinstance(layer, Image) and layer.metadata.get(KEY, {}).get("role") == "image"


class LabelingWidget(ImageInterpolationMixin, CaseActionsMixin, LabelTableMixin, QWidget):
    """The main ctlabel dock widget."""

    #: Tests replace this to answer the restore question without a dialog.
    confirm_restore = None

    def __init__(self, napari_viewer, parent=None):
        super().__init__(parent)
        self.viewer = napari_viewer
        self.sessions: dict[int, LabelSession] = {}
        self._table_updating = False
        self.setObjectName("ctlabel_labeling")
        layout = scrolled_layout(self, 0.35)  # scrolls instead of growing the window past the screen

        # The open case: its review state and the reviewer's last comment
        self.case_label = QLabel()
        self.case_label.setWordWrap(True)
        self.case_label.setTextFormat(Qt.TextFormat.RichText)
        self.case_label.setVisible(False)
        self._header_shown = False
        layout.addWidget(self.case_label)

        # Annotator
        row = QHBoxLayout()
        self.annotator_label = QLabel()
        self.annotator_button = QPushButton("Set…")
        self.annotator_button.setToolTip("Set the annotator id recorded in provenance (kept in your settings)")
        self.annotator_button.clicked.connect(self._ask_annotator)
        row.addWidget(self.annotator_label, 1)
        row.addWidget(self.annotator_button)
        layout.addLayout(row)

        # Window presets
        box = QGroupBox("Window")
        grid = QGridLayout(box)
        self.window_buttons: dict[str, QPushButton] = {}
        for i, (name, (w, lvl, key)) in enumerate(WINDOWS.items()):
            b = QPushButton(f"{name} ({key})")
            b.setToolTip(f"W {w} / L {lvl} HU  —  {key}")
            b.clicked.connect(lambda _=False, n=name: self.apply_window(n))
            grid.addWidget(b, i // 3, i % 3)
            self.window_buttons[name] = b
        layout.addWidget(box)

        # Label table
        layout.addWidget(self._build_label_table())

        # Interpolate and navigate
        box = QGroupBox("Slices")
        g = QGridLayout(box)
        self.interpolate_button = QPushButton("Interpolate (Shift+I)")
        self.interpolate_button.setToolTip("Fill between the painted slices (one undo step: Ctrl+Z)")
        self.interpolate_button.clicked.connect(self._guard(lambda: self.interpolate()))
        self.all_labels_check = QCheckBox("all labels")
        g.addWidget(self.interpolate_button, 0, 0)
        g.addWidget(self.all_labels_check, 0, 1)
        g.addWidget(self._build_image_aware_check(), 0, 2)
        self.prev_button = QPushButton("◀ painted (PgUp)")
        self.next_button = QPushButton("painted ▶ (PgDn)")
        self.gap_button = QPushButton("next gap (G)")
        self.prev_button.clicked.connect(lambda: self.navigate("previous_painted"))
        self.next_button.clicked.connect(lambda: self.navigate("next_painted"))
        self.gap_button.clicked.connect(lambda: self.navigate("next_gap"))
        g.addWidget(self.prev_button, 1, 0)
        g.addWidget(self.next_button, 1, 1)
        g.addWidget(self.gap_button, 1, 2)
        self.slices_label = QLabel()
        self.slices_label.setWordWrap(True)
        g.addWidget(self.slices_label, 2, 0, 1, 3)
        layout.addWidget(box)

        # HU-aware painting, region grow, pre-labels: a tab each (so the dock fits a 1280x800 screen)
        self.tools = QTabWidget()
        self.hu_range, self.region_grow, self.prelabel = HURangeBox(self), RegionGrowBox(self), PrelabelBox(self)
        for box in (self.hu_range, self.region_grow, self.prelabel):
            self.tools.addTab(box, box.title().split(" (")[0])
            box.setTitle("")
        layout.addWidget(self.tools)

        # Save
        row = QHBoxLayout()
        self.save_button = QPushButton("Save draft")
        self.save_button.setToolTip("Save the draft mask and provenance into the case (atomic) — Ctrl+S")
        self.save_button.clicked.connect(self._guard(lambda: self.save()))
        self.save_as_button = QPushButton("Save as case…")
        self.save_as_button.clicked.connect(self._guard(lambda: self.save_as_case()))
        self.submit_button = QPushButton("Submit for review")
        self.submit_button.setToolTip("Save, run QA, then freeze the draft as a new version (vNNN) for the "
                                      "reviewer; QA errors are shown and need a confirmation")
        self.submit_button.clicked.connect(self._guard(lambda: self.submit()))
        row.addWidget(self.save_button)
        row.addWidget(self.save_as_button)
        row.addWidget(self.submit_button)
        layout.addLayout(row)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # never widens the dock
        layout.addWidget(self.status)
        layout.addStretch(1)

        self._bind_keys()
        self.save_shortcut = _case_ui.SaveShortcut(self.viewer, lambda: True, self._guard(self.ctrl_s))
        self.viewer.layers.events.inserted.connect(lambda e: self._attach(e.value))
        self.viewer.layers.events.removed.connect(self._on_removed)
        self.viewer.layers.selection.events.active.connect(lambda e=None: (self.refresh(), self.update_case_label()))
        self.viewer.dims.events.current_step.connect(lambda e=None: self._update_slices_label())
        for layer in list(self.viewer.layers):
            self._attach(layer)
        self._update_annotator()
        self.refresh()

    # --- helpers -----------------------------------------------------------------
    def _guard(self, fn):
        """Run ``fn`` and show a ctlabel error as a notification instead of a traceback."""

        def run(*_):
            try:
                return fn()
            except CtlabelError as exc:
                self.status.setText(str(exc))
                _notify(str(exc), "error")
            return None

        return run

    @property
    def annotator(self) -> str:
        return settings.get_annotator()

    def _update_annotator(self) -> None:
        a = self.annotator
        self.annotator_label.setText(f"Annotator: <b>{a}</b>" if a else "Annotator: <i>not set</i>")

    def _ask_annotator(self) -> None:
        name, ok = QInputDialog.getText(self, "Annotator", "Your annotator id (kept for next time):",
                                        text=self.annotator)
        if ok and name.strip():
            settings.set_annotator(name)
            self._update_annotator()

    # --- sessions ------------------------------------------------------------------
    def _attach(self, layer) -> None:
        if _is_ctlabel_image(layer):
            info = layer.metadata[KEY]
            msgs = ([f"Orientation: {info['orientation']}"] if info.get("orientation") else []) + [
                f"Geometry: {w}" for w in info.get("warnings", [])]
            if msgs:
                self.status.setText("\n".join(msgs))
                _notify(f"{layer.name}: " + "; ".join(msgs), "warning")
            return
        if not _is_ctlabel_labels(layer) or id(layer) in self.sessions:
            return
        try:
            session = LabelSession(layer, self.viewer, annotator=lambda: self.annotator,
                                   confirm_restore=self.confirm_restore, on_change=self.refresh)
        except CtlabelError as exc:
            _notify(str(exc), "error")
            return
        self.sessions[id(layer)] = session
        present = labels_present(np.asarray(layer.data))
        if present:  # reopening a case: the first label that is really there
            layer.selected_label = present[0]
        elif layer.selected_label == 1 and 1 not in session.table and len(session.table):
            layer.selected_label = session.table.indices[0]
        self.viewer.layers.selection.active = layer
        self.refresh()
        self.update_case_label()

    def _on_removed(self, event) -> None:
        session = self.sessions.pop(id(event.value), None)
        self.hu_range.forget(event.value)
        self.region_grow.forget(event.value)
        if session is not None:
            session.close()
        self.refresh()

    def close_sessions(self) -> None:
        for session in list(self.sessions.values()):
            session.close()
        self.sessions.clear()

    @property
    def session(self) -> LabelSession | None:
        """The session of the selected ctlabel labels layer, else of the last one opened."""
        active = self.viewer.layers.selection.active
        if active is not None and id(active) in self.sessions:
            return self.sessions[id(active)]
        for layer in reversed(list(self.viewer.layers)):
            if id(layer) in self.sessions:
                return self.sessions[id(layer)]
        return None

    def update_case_label(self) -> None:
        """Show the open case's review state and the reviewer's last comment (reads case.json)."""
        s = self.session
        self._header_shown = s is not None and s.case is not None
        self.case_label.setVisible(self._header_shown)
        if self._header_shown:
            try:
                self.case_label.setText(_case_ui.case_header(s.case))
            except CtlabelError as exc:
                self.case_label.setText(f"{s.case.root.name}: {exc}")

    def _has_case(self) -> bool:
        s = self.session
        return s is not None and s.case is not None

    def _require_session(self) -> LabelSession:
        s = self.session
        if s is None:
            raise CtlabelError("open a series or a case first (File > Open, or the series browser)")
        return s

    def image_layer(self):
        s = self.session
        for layer in self.viewer.layers:
            if _is_ctlabel_image(layer) and (s is None or tuple(layer.data.shape) == tuple(s.grid.shape)):
                return layer
        return None

    # --- window --------------------------------------------------------------------
    def apply_window(self, name: str) -> None:
        w, lvl, _ = WINDOWS[name]
        layer = self.image_layer()
        if layer is None:
            return
        lo, hi = lvl - w / 2, lvl + w / 2
        rlo, rhi = layer.contrast_limits_range
        if lo < rlo or hi > rhi:
            layer.contrast_limits_range = (min(lo, rlo), max(hi, rhi))
        layer.contrast_limits = (lo, hi)
        self.status.setText(f"Window {name}: W {w} / L {lvl}")

    # --- label table -----------------------------------------------------------------
    def refresh(self) -> None:
        s = self.session
        self._table_updating = True
        try:
            table = s.table if s else None
            painted = s.tracker.painted() if s else {}
            self.table.setRowCount(0 if table is None else len(table))
            for r, lab in enumerate(table or ()):
                items = [QTableWidgetItem(str(lab.index)), QTableWidgetItem(lab.name),
                         QTableWidgetItem(lab.abbreviation), QTableWidgetItem(lab.color),
                         QTableWidgetItem(str(len(painted.get(lab.index, []))))]
                items[3].setBackground(QColor(lab.color))
                for c, it in enumerate(items):
                    if c in (0, 3, 4):
                        it.setFlags(it.flags() & ~Qt.ItemFlag.ItemIsEditable)
                    self.table.setItem(r, c, it)
                if s is not None and lab.index == s.layer.selected_label:
                    self.table.selectRow(r)
        finally:
            self._table_updating = False
        enabled = s is not None and not s.read_only and not s.awaiting_review
        for b in (self.interpolate_button, self.save_button, self.add_label_button, self.submit_button,
                  self.region_grow, self.prelabel):
            b.setEnabled(enabled)
        self.hu_range.bind()
        self.prelabel.offer(None if s is None else s.table)
        if (s is not None and s.case is not None) != self._header_shown:
            self.update_case_label()
        self.save_as_button.setVisible(s is not None and s.case is None)
        self.save_button.setVisible(s is None or s.case is not None)
        if s is not None and s.read_only:
            self.status.setText("Read-only: " + (s.case.root.name if s.case else ""))
        self._update_slices_label()

    def _update_slices_label(self) -> None:
        s = self.session
        if s is None:
            self.slices_label.setText("")
            return
        lab = int(s.layer.selected_label)
        axis = s.tracker.axis_for(lab)
        painted = s.tracker.painted(axis).get(lab, [])
        filled = s.tracker.interpolated(axis).get(lab, [])
        z = s.current_slice(axis)
        where = "painted" if z in painted else "interpolated" if z in filled else "not painted"
        self.slices_label.setText(
            f"Label {lab}: painted {ranges(painted) or '-'}; filled {ranges(filled) or '-'}. "
            f"Slice {z} is {where}."
        )

    # --- keys ------------------------------------------------------------------------
    def _bind_keys(self) -> None:
        def bind(key, fn):
            def handler(viewer):
                self._guard(fn)()

            handler.__name__ = f"ctlabel_{key}"
            self.viewer.bind_key(key, handler, overwrite=True)

        for name, (_, _, key) in WINDOWS.items():
            bind(key, lambda n=name: self.apply_window(n))
        bind(SHORTCUTS["interpolate"], lambda: self.interpolate(False))
        bind(SHORTCUTS["interpolate_all"], lambda: self.interpolate(True))
        for what in ("next_painted", "previous_painted", "next_gap", "previous_gap"):
            bind(SHORTCUTS[what], lambda w=what: self.navigate(w))
        # Ctrl+S reaches the viewer's keymap only when napari's save action is disabled (no layer
        # selected); otherwise SaveShortcut routes the action's shortcut.
        bind("Control-S", self.ctrl_s)


def ensure_widget():
    """Dock the labeling widget in the current viewer (when there is one); return it."""
    import napari

    viewer = napari.current_viewer()
    if viewer is None or not hasattr(viewer, "window") or viewer.window is None:
        return None
    try:
        _, widget = viewer.window.add_plugin_dock_widget("ctlabel", "Labeling")
    except (KeyError, ValueError, RuntimeError, AttributeError):
        return None
    return widget
