"""Image-aware interpolation in the labeling widget: shape-only at once, the image refinement in a worker.

*Interpolate* (Shift+I) writes the shape-only result at once, as one napari undo step, as it
always did. When *image-aware* is ticked (the default) and the CT of the layer's grid is open,
the same interpolation with ``image=`` (:meth:`ctlabel.case.editing.Edits.interpolation_job`:
the painted slices and a copy of their slab are taken before the shape-only result is written)
runs in a worker thread. When it returns, its result **replaces the shape-only one inside the
same undo item** (:meth:`ctlabel_napari.session.LabelSession.rewrite_top`): one Ctrl+Z still
takes the whole interpolation back, and the slices recorded as filled are the same. If the
person painted, undid or interpolated again meanwhile, the refinement is dropped (the
shape-only result stays) and the status line says so.

The report (:class:`InterpolationReport`, a dict label -> filled slices) gets ``refined``
(label -> the filled slices the image refined) when the worker is done.
"""

from __future__ import annotations

from qtpy.QtWidgets import QCheckBox

from . import _history
from ._actions import ranges


class InterpolationReport(dict):
    """Label -> filled slices; ``refined``: label -> the slices the image refined (``{}`` shape-only).

    ``pending`` is True while the image refinement runs; ``dropped`` says it came too late
    (the labels changed meanwhile) and the shape-only result stayed.
    """

    def __init__(self, filled: dict[int, list[int]], *, pending: bool = False) -> None:
        super().__init__(filled)
        self.refined: dict[int, list[int]] = {}
        self.pending = pending
        self.dropped = False
        self.error: str | None = None

    @property
    def filled(self) -> dict[int, list[int]]:
        return dict(self)


class ImageInterpolationMixin:
    """Interpolate with the image refinement in a worker (a mixin of the labeling widget)."""

    def _build_image_aware_check(self) -> QCheckBox:
        self.image_aware_check = QCheckBox("image-aware")
        self.image_aware_check.setChecked(True)
        self.image_aware_check.setToolTip(
            "Refine the filled slices toward the CT's edges, learnt from the painted slices (shape-only "
            "result first, the refinement replaces it in the same undo step); labels without contrast "
            "keep the shape-only result")
        self.interpolation_worker = None
        self.last_interpolation: InterpolationReport | None = None
        return self.image_aware_check

    def _refine_image(self, session):
        """The HU image to refine with (the CT on the layer's grid), or None."""
        image = self.image_layer()
        if image is None or tuple(image.data.shape) != tuple(session.layer.data.shape):
            return None
        return image.data

    def interpolate(self, all_labels: bool | None = None) -> InterpolationReport:
        """Interpolate the selected label (or all): shape-only now, image-refined in a worker."""
        s = self._require_session()
        all_labels = self.all_labels_check.isChecked() if all_labels is None else all_labels
        image = self._refine_image(s) if self.image_aware_check.isChecked() else None
        labels = None if all_labels else [int(s.layer.selected_label)]
        job = s.core.interpolation_job(labels, image=image) if image is not None else None
        before = _history.top_item(s.layer)
        report = InterpolationReport(s.interpolate(all_labels=all_labels))
        item = _history.top_item(s.layer)
        n = sum(len(v) for v in report.values())
        text = f"Interpolated {n} slice(s) of label(s) {', '.join(map(str, sorted(report)))} — Ctrl+Z undoes it"
        if job is not None and item is not None and item is not before:
            report.pending = True
            self._start_refinement(s, item, report, job)
            text += "; refining with the image…"
        elif self.image_aware_check.isChecked() and image is None:
            text += " (shape only: no CT image of this grid is open)"
        self.last_interpolation = report
        self.status.setText(text)
        self.refresh()
        return report

    def _start_refinement(self, session, item: list, report: InterpolationReport, job) -> None:
        from napari.qt.threading import create_worker

        worker = create_worker(job)
        worker.returned.connect(lambda result: self._refined(session, item, report, result))
        worker.errored.connect(lambda exc: self._refine_failed(report, exc))
        worker.finished.connect(lambda: self._refine_done(worker))
        self.interpolation_worker = worker
        worker.start()

    def _refined(self, session, item: list, report: InterpolationReport, result) -> None:
        report.pending = False
        try:
            if session not in self.sessions.values():
                report.dropped = True
                return
            refined = {k: v for k, v in result.refined.items() if v}
            if refined and not session.rewrite_top(item, result.indices, result.old, result.values):
                report.dropped = True
                self.status.setText("The image refinement came after further edits and was dropped; "
                                    "the shape-only interpolation stays")
                return
            report.refined = refined
            if refined:
                parts = "; ".join(f"label {k}: {ranges(v)}" for k, v in sorted(refined.items()))
                n = sum(len(v) for v in refined.values())
                self.status.setText(f"Image-refined {n} of {sum(len(v) for v in report.values())} filled "
                                    f"slice(s) ({parts}) — still one undo step")
            else:
                self.status.setText("Image refinement: no label showed contrast on its painted slices; "
                                    "the shape-only interpolation stays")
            self.refresh()
        except RuntimeError:  # the widget was deleted while the worker ran
            report.dropped = True

    def _refine_failed(self, report: InterpolationReport, exc: Exception) -> None:
        report.pending = False
        report.dropped = True
        report.error = f"{type(exc).__name__}: {exc}"
        try:
            self.status.setText(f"Image refinement failed ({report.error}); the shape-only interpolation stays")
        except RuntimeError:
            pass

    def _refine_done(self, worker) -> None:
        if getattr(self, "interpolation_worker", None) is worker:
            self.interpolation_worker = None
