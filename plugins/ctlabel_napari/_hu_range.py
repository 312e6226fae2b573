"""The editable HU range: napari's brush, fill and polygon change only voxels inside a HU range.

Like 3D Slicer's *editable intensity range*. The range is kept per label (switching labels
brings back each label's own range and whether it is on) and checked when a stroke is applied:
:func:`ctlabel_napari._history.wrap_mask_paint` narrows the stroke's mask with
:func:`ctlabel.hu_range_mask` before napari writes it and records its undo atom, then gives it
back the background it encloses inside the stroke (:func:`ctlabel.painting.hu_stroke.close_stroke_holes`:
no one-voxel holes in bone or noisy tissue). So a stroke stays one undo step, and the paint
tracking reads exactly the voxels that changed. The eraser (label 0) is never limited: taking
paint off must always work.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from qtpy.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QGridLayout, QGroupBox, QLabel

from ctlabel import close_stroke_holes, hu_range_mask

from . import _history
from .window_presets import WINDOWS

#: Tissue ranges (HU, inclusive) offered besides the window presets.
TISSUE_RANGES = {
    "bone (200 … 3071)": (200.0, 3071.0),
    "soft tissue (-100 … 300)": (-100.0, 300.0),
    "contrast lumen (150 … 1000)": (150.0, 1000.0),
    "fat (-190 … -30)": (-190.0, -30.0),
    "lung and air (-1024 … -400)": (-1024.0, -400.0),
}
#: A label's tissue (``labels.tsv``) -> the range suggested when its limit is first switched on.
TISSUE_DEFAULT = {"bone": "bone (200 … 3071)", "soft_tissue": "soft tissue (-100 … 300)",
                  "fluid": "soft tissue (-100 … 300)", "fat": "fat (-190 … -30)",
                  "air": "lung and air (-1024 … -400)"}
CURRENT_WINDOW = "current window"


class HURangeGuard:
    """The per-label HU ranges of one labels layer, applied to its strokes.

    Parameters
    ----------
    layer : napari.layers.Labels
    image : callable returning numpy.ndarray or None
        The HU image the layer is painted on (same shape), looked up at each stroke.
    notify : callable(str), optional
        Told when a limited stroke cannot be checked (no image): it is then not applied.
    """

    def __init__(self, layer, image: Callable[[], np.ndarray | None],
                 notify: Callable[[str], None] | None = None) -> None:
        self.layer = layer
        self.image = image
        self.notify = notify
        self.ranges: dict[int, tuple[float, float]] = {}
        self.on: set[int] = set()
        self.kept = self.dropped = 0  # voxels of the last limited stroke
        self._unwrap = _history.wrap_mask_paint(layer, self._keep)

    @property
    def available(self) -> bool:
        """False when this napari has no hook to limit strokes with."""
        return self._unwrap is not None

    def range_for(self, label: int) -> tuple[float, float] | None:
        """The range limiting ``label``'s strokes, or None when its limit is off."""
        return self.ranges.get(int(label)) if int(label) in self.on else None

    def set(self, label: int, lo: float, hi: float, on: bool) -> None:
        self.ranges[int(label)] = (float(min(lo, hi)), float(max(lo, hi)))
        (self.on.add if on else self.on.discard)(int(label))

    def _keep(self, mask: np.ndarray, new_label: int, key: tuple) -> np.ndarray:
        rng = self.range_for(new_label) if new_label != 0 else None
        if rng is None:
            return mask
        image = self.image()
        if image is None or tuple(image.shape) != tuple(self.layer.data.shape):
            if self.notify is not None:
                self.notify("Stroke not applied: the HU limit is on but no CT image of this grid is open")
            return np.zeros_like(mask)
        kept = hu_range_mask(mask, np.asarray(image[key]), *rng)
        # the background the kept part encloses inside the stroke is painted too: no one-voxel holes
        kept = close_stroke_holes(mask, kept, np.asarray(self.layer.data[key]), new_label)
        self.kept += int(np.count_nonzero(kept))
        self.dropped += int(np.count_nonzero(mask)) - int(np.count_nonzero(kept))
        return kept

    def reset_counts(self) -> None:
        self.kept = self.dropped = 0

    def close(self) -> None:
        if self._unwrap is not None:
            self._unwrap()
            self._unwrap = None


class HURangeBox(QGroupBox):
    """The *Editable HU range* box of the labeling widget (for the selected labels layer)."""

    def __init__(self, widget) -> None:
        super().__init__("HU range (editable, for brush, fill and polygon)")
        self.widget = widget
        self.guards: dict[int, HURangeGuard] = {}
        self._layer = None
        self._loading = False
        g = QGridLayout(self)
        self.check = QCheckBox("limit to")
        self.check.setToolTip("Brush, fill and polygon change only voxels inside this HU range "
                              "(kept per label; the eraser is not limited)")
        self.lo = QDoubleSpinBox()
        self.hi = QDoubleSpinBox()
        for box, v in ((self.lo, 200.0), (self.hi, 3071.0)):
            box.setRange(-2000.0, 10000.0)
            box.setDecimals(0)
            box.setSingleStep(10.0)
            box.setSuffix(" HU")
            box.setValue(v)
        self.preset = QComboBox()
        self.preset.addItem("preset…")
        self.preset.addItems(list(TISSUE_RANGES) + [f"window: {n}" for n in WINDOWS] + [CURRENT_WINDOW])
        self.info = QLabel()
        self.info.setWordWrap(True)
        g.addWidget(self.check, 0, 0)
        g.addWidget(self.lo, 0, 1)
        g.addWidget(self.hi, 0, 2)
        g.addWidget(self.preset, 1, 0, 1, 3)
        g.addWidget(self.info, 2, 0, 1, 3)
        self.check.toggled.connect(self._store)
        self.lo.valueChanged.connect(self._store)
        self.hi.valueChanged.connect(self._store)
        self.preset.activated.connect(self._apply_preset)

    # --- the layer and its guard ------------------------------------------------------
    def guard(self, layer=None) -> HURangeGuard | None:
        """The guard of ``layer`` (default: the selected session's), made on first use."""
        if layer is None:
            s = self.widget.session
            layer = None if s is None else s.layer
        if layer is None:
            return None
        if id(layer) not in self.guards:
            self.guards[id(layer)] = HURangeGuard(layer, lambda: self._image_for(layer),
                                                  self.widget.status.setText)
            layer.events.paint.connect(lambda e=None, ly=layer: self._after_stroke(ly))
        return self.guards[id(layer)]

    def _image_for(self, layer) -> np.ndarray | None:
        image = self.widget.image_layer()
        if image is None or tuple(image.data.shape) != tuple(layer.data.shape):
            return None
        return image.data

    def bind(self) -> None:
        """Follow the selected session's layer and its selected label (called on refresh)."""
        s = self.widget.session
        layer = None if s is None else s.layer
        if layer is not self._layer:
            if self._layer is not None:
                try:
                    self._layer.events.selected_label.disconnect(self._load)
                except (TypeError, ValueError, RuntimeError):
                    pass
            self._layer = layer
            if layer is not None:
                layer.events.selected_label.connect(self._load)
        self.setEnabled(layer is not None)
        self._load()

    def forget(self, layer) -> None:
        """The layer left the viewer: take its guard off."""
        guard = self.guards.pop(id(layer), None)
        if guard is not None:
            guard.close()
        if layer is self._layer:
            self._layer = None

    # --- the controls ------------------------------------------------------------------
    def _label(self) -> int | None:
        return None if self._layer is None else int(self._layer.selected_label)

    def _load(self, event=None) -> None:
        guard, label = self.guard(), self._label()
        if guard is None or label is None:
            self.info.setText("")
            return
        if not guard.available:
            self.setEnabled(False)
            self.info.setText("not available with this napari version")
            return
        self._loading = True
        try:
            if label in guard.ranges:
                lo, hi = guard.ranges[label]
            else:
                lo, hi = TISSUE_RANGES[TISSUE_DEFAULT.get(self._tissue(label), "soft tissue (-100 … 300)")]
            self.lo.setValue(lo)
            self.hi.setValue(hi)
            self.check.setChecked(guard.range_for(label) is not None)
        finally:
            self._loading = False
        self._show()

    def _tissue(self, label: int) -> str:
        s = self.widget.session
        return s.table[label].tissue if s is not None and label in s.table else "other"

    def _store(self, *_) -> None:
        guard, label = self.guard(), self._label()
        if self._loading or guard is None or label is None:
            return
        guard.set(label, self.lo.value(), self.hi.value(), self.check.isChecked())
        self._show()

    def set_range(self, lo: float, hi: float, on: bool = True) -> None:
        """Set the selected label's range (as the controls do)."""
        self._loading = True
        try:
            self.lo.setValue(lo)
            self.hi.setValue(hi)
            self.check.setChecked(on)
        finally:
            self._loading = False
        self._store()

    def _apply_preset(self, index: int) -> None:
        name = self.preset.itemText(index)
        self.preset.setCurrentIndex(0)
        if name in TISSUE_RANGES:
            lo, hi = TISSUE_RANGES[name]
        elif name.startswith("window: "):
            w, lvl, _ = WINDOWS[name.removeprefix("window: ")]
            lo, hi = lvl - w / 2, lvl + w / 2
        elif name == CURRENT_WINDOW and self.widget.image_layer() is not None:
            lo, hi = self.widget.image_layer().contrast_limits
        else:
            return
        self.set_range(lo, hi, True)

    def _show(self) -> None:
        guard, label = self.guard(), self._label()
        rng = None if guard is None or label is None else guard.range_for(label)
        self.info.setText(f"label {label}: brush, fill and polygon paint only {rng[0]:g} … {rng[1]:g} HU" if rng
                          else f"label {label}: no HU limit" if label is not None else "")
        tabs = getattr(self.widget, "tools", None)  # the widget's tab of this box says when a limit is on
        if tabs is not None and tabs.indexOf(self) >= 0:
            tabs.setTabText(tabs.indexOf(self), f"HU range {rng[0]:g} … {rng[1]:g}" if rng else "HU range")

    def _after_stroke(self, layer) -> None:
        guard = self.guards.get(id(layer))
        if guard is None:
            return
        if guard.dropped:
            self.widget.status.setText(f"HU limit: {guard.kept} voxel(s) painted, {guard.dropped} outside "
                                       "the range left unchanged")
        guard.reset_counts()


