"""The *Pre-label* action: classical pre-labels (:class:`ctlabel.Prelabeler`) of the open case.

It runs in a worker thread with a progress bar and writes into the layer as one napari undo
step (Ctrl+Z takes it all back). The core's rules hold as in ``ctlabel prelabel``: every
structure needs a label of the table (found by name), a target label that already holds a voxel
is refused (never over an annotator's work; checked before the run and again before writing)
and only background voxels are written. Pre-labelled slices are recorded as neither painted
nor interpolated (nobody painted them); the event says the tool made them, and the next save
records each label's ``Method`` (automatic, with the method's parameters), unless undone.
"""

from __future__ import annotations

import numpy as np
from qtpy.QtCore import QObject, Signal
from qtpy.QtWidgets import QCheckBox, QGridLayout, QGroupBox, QLabel, QProgressBar, QPushButton

from ctlabel import CtlabelError, Prelabeler


class _Signals(QObject):
    progress = Signal(float, str)  # emitted from the worker thread, received in the GUI thread


class PrelabelBox(QGroupBox):
    """The *Pre-label* box of the labeling widget."""

    def __init__(self, widget) -> None:
        super().__init__("Pre-label (classical, no model)")
        self.widget = widget
        self.worker = None
        self.last: dict | None = None  # the last run: {"labels": {value: structure}, "voxels": n} or {"error": ...}
        self._signals = _Signals()
        self._signals.progress.connect(self._on_progress)
        g = QGridLayout(self)
        self.checks: dict[str, QCheckBox] = {}
        for i, name in enumerate(Prelabeler.STRUCTURES):
            box = QCheckBox(name)
            box.setChecked(name in ("lungs", "bone"))
            self.checks[name] = box
            g.addWidget(box, 0, i)
        n = len(self.checks)
        self.run_button = QPushButton("Pre-label")
        self.run_button.setToolTip("Fill the still-empty labels of the structures ticked (found by name in the "
                                   "label table) from HU thresholds and morphology; one undo step")
        self.run_button.clicked.connect(self.widget._guard(lambda: self.run()))
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setVisible(False)
        self.info = QLabel()
        self.info.setWordWrap(True)
        g.addWidget(self.run_button, 1, 0, 1, 2)
        g.addWidget(self.progress, 1, 2, 1, max(1, n - 2))
        g.addWidget(self.info, 2, 0, 1, n)

    def offer(self, table) -> None:
        """Show only the structures that have a label in ``table`` (:meth:`ctlabel.Prelabeler.offered`)."""
        offered = set(Prelabeler.offered(table))
        for name, box in self.checks.items():
            box.setVisible(name in offered)
        if table is not None and not offered:
            self.info.setText("No structure to pre-label: the label table has no body, lung, bone or air label")

    @property
    def offered(self) -> list[str]:
        """The structures shown (those with a label in the open layer's table)."""
        return [n for n, b in self.checks.items() if not b.isHidden()]

    @property
    def running(self) -> bool:
        return self.worker is not None

    def run(self, structures: list[str] | None = None):
        """Start the pre-label of the open labels layer; returns the worker (None if refused)."""
        from napari.qt.threading import create_worker

        if self.running:
            raise CtlabelError("a pre-label is running already")
        s = self.widget._require_session()
        if s.read_only or s.awaiting_review or not s.layer.editable:
            raise CtlabelError("the labels are read-only; nothing can be pre-labelled")
        image = self.widget.image_layer()
        if image is None or tuple(image.data.shape) != tuple(s.layer.data.shape):
            raise CtlabelError("open the CT image of this labels layer to pre-label it")
        self.offer(s.table)
        structures = structures or [n for n, b in self.checks.items() if b.isChecked() and not b.isHidden()]
        if not structures:
            raise CtlabelError("tick at least one structure to pre-label")
        try:
            labeler = Prelabeler(s.table, structures)
            labeler.require_empty(s.layer.data)
        except CtlabelError as exc:
            self._refused(str(exc))
            return None
        # on a copy of the labels: the pre-label fills only its background, and is cleaned (holes, specks)
        # around the labels already there, as in ``ctlabel prelabel``
        self.worker = create_worker(labeler.run, np.asarray(image.data), s.core.spacing, s.layer.data,
                                    left_is_high_column=bool(s.grid.affine[0, 0] < 0),
                                    progress=self._signals.progress.emit)
        self.worker.returned.connect(lambda result: self._finish(s, labeler, *result))
        self.worker.errored.connect(lambda exc: self._failed(exc))
        self.worker.finished.connect(self._done)
        self.run_button.setEnabled(False)
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self.info.setText("Pre-labelling " + ", ".join(structures) + "…")
        self.worker.start()
        return self.worker

    def _on_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(int(round(100 * fraction)))
        if message:
            self.info.setText(f"Pre-labelling: {message}…")

    def _finish(self, session, labeler: Prelabeler, out: np.ndarray, written: dict[int, str]) -> None:
        try:
            if session not in self.widget.sessions.values():
                return  # the layer was closed meanwhile
            # The annotator may have painted a target label while it ran: refused then too.
            indices, values = labeler.changes(out, session.layer.data)
            session.write(indices, values, fill={})  # one undo step; no slice counts as painted
            session.core.mark_prelabelled(labeler.methods(written))
            text = labeler.describe(written, int(values.size))
            self.last = {"labels": dict(written), "voxels": int(values.size)}
            self.info.setText(text)
            self.widget.status.setText(text)
            self.widget.refresh()
        except CtlabelError as exc:
            self._refused(str(exc))
        except RuntimeError:  # the widget was deleted while the worker ran
            pass

    def _refused(self, message: str) -> None:
        from napari.utils import notifications

        self.last = {"error": message}
        self.info.setText(f"Not pre-labelled: {message}")
        self.widget.status.setText(f"Not pre-labelled: {message}")
        notifications.show_warning(f"Not pre-labelled: {message}")

    def _failed(self, exc: Exception) -> None:
        self._refused(f"{type(exc).__name__}: {exc}")

    def _done(self) -> None:
        self.worker = None
        try:
            self.progress.setVisible(False)
            self.run_button.setEnabled(True)
        except RuntimeError:
            pass
