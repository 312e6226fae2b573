"""Region grow from a click (:func:`ctlabel.region_grow`): preview first, then apply as one undo step.

*Click to grow* arms a click on the canvas (the labels layer goes to pan/zoom so the click
does not paint). The click's voxel is the seed; the grown region of the seed's slice (2D) or
of a box around it (3D) is shown in a preview layer. Another click replaces the preview;
**Apply** writes it with the selected label into background voxels and the label's own voxels
(other labels are never overwritten) as one napari undo step, whose paint event records the
slices as painted. **Cancel** drops the preview.
"""

from __future__ import annotations

import numpy as np
from qtpy.QtWidgets import QComboBox, QDoubleSpinBox, QGridLayout, QGroupBox, QLabel, QPushButton

import ctlabel
from ctlabel import CtlabelError

from ._actions import ranges

PREVIEW_NAME = "region grow preview"


class RegionGrowBox(QGroupBox):
    """The *Region grow* box of the labeling widget."""

    def __init__(self, widget) -> None:
        super().__init__("Region grow (click)")
        self.widget = widget
        self.preview: np.ndarray | None = None
        self.seed: tuple[int, int, int] | None = None
        self._layer = None  # the labels layer the click is armed on
        self._mode_before: str | None = None
        g = QGridLayout(self)
        self.tolerance = QDoubleSpinBox()
        self.tolerance.setRange(0.0, 2000.0)
        self.tolerance.setDecimals(0)
        self.tolerance.setSingleStep(10.0)
        self.tolerance.setPrefix("± ")
        self.tolerance.setSuffix(" HU")
        self.tolerance.setSpecialValueText("auto")  # 0: the core's default (range from the click)
        self.tolerance.setValue(0.0)
        self.tolerance.setToolTip("auto: the HU range comes from the tissue around the click and the grow stops"
                                  " at thin bridges to other organs; or grow into connected voxels within this"
                                  " HU of the mean around the click")
        self.mode = QComboBox()
        self.mode.addItems(["2D slice", "3D box"])
        self.half_size = QDoubleSpinBox()
        self.half_size.setRange(2.0, 500.0)
        self.half_size.setDecimals(0)
        self.half_size.setValue(30.0)
        self.half_size.setPrefix("box ± ")
        self.half_size.setSuffix(" mm")
        self.half_size.setToolTip("3D: the grow stays inside a box of this half-size around the click")
        self.pick_button = QPushButton("Click to grow")
        self.pick_button.setCheckable(True)
        self.pick_button.setToolTip("Then click on the image: the grown region is previewed, not yet applied")
        self.apply_button = QPushButton("Apply")
        self.cancel_button = QPushButton("Cancel")
        self.info = QLabel()
        self.info.setWordWrap(True)
        g.addWidget(self.tolerance, 0, 0)
        g.addWidget(self.mode, 0, 1)
        g.addWidget(self.half_size, 0, 2)
        g.addWidget(self.pick_button, 1, 0)
        g.addWidget(self.apply_button, 1, 1)
        g.addWidget(self.cancel_button, 1, 2)
        g.addWidget(self.info, 2, 0, 1, 3)
        self.pick_button.toggled.connect(self.arm)
        self.apply_button.clicked.connect(self.widget._guard(self.apply))
        self.cancel_button.clicked.connect(self.cancel)
        self._update_buttons()

    # --- the click ----------------------------------------------------------------------
    def arm(self, on: bool = True) -> None:
        """Take (or stop taking) the next clicks on the selected labels layer as seeds."""
        if self.pick_button.isChecked() != on:
            self.pick_button.setChecked(on)  # comes back here through ``toggled``
            return
        self._disarm()
        s = self.widget.session
        if on and s is not None:
            self._layer = s.layer
            self._mode_before = str(s.layer.mode)
            s.layer.mode = "pan_zoom"
            s.layer.mouse_drag_callbacks.append(self._on_click)
            self.info.setText("Click on the image to grow from that voxel")

    def _disarm(self) -> None:
        layer, self._layer = self._layer, None
        if layer is None:
            return
        if self._on_click in layer.mouse_drag_callbacks:
            layer.mouse_drag_callbacks.remove(self._on_click)
        if self._mode_before is not None and str(layer.mode) == "pan_zoom":
            layer.mode = self._mode_before

    def _on_click(self, layer, event) -> None:
        if getattr(event, "type", "mouse_press") != "mouse_press":
            return
        seed = np.round(np.asarray(layer.world_to_data(event.position), float)).astype(int)
        if seed.size != 3 or np.any(seed < 0) or np.any(seed >= np.asarray(layer.data.shape)):
            return
        self.widget._guard(lambda: self.preview_at(tuple(int(v) for v in seed)))()

    # --- preview, apply, cancel ------------------------------------------------------------
    def preview_at(self, seed: tuple[int, int, int]) -> np.ndarray:
        """Grow from ``seed`` (slice, row, column) and show the preview; returns it (bool)."""
        s = self.widget._require_session()
        image = self.widget.image_layer()
        if image is None or tuple(image.data.shape) != tuple(s.layer.data.shape):
            raise CtlabelError("open the CT image of this labels layer to grow a region")
        three_d = self.mode.currentIndex() == 1
        # ``ctlabel.region_grow``, the function (``from ctlabel import region_grow`` names the module
        # for import-linter)
        tolerance = self.tolerance.value() or None  # "auto" (0): the core's default
        grown = ctlabel.region_grow(np.asarray(image.data), seed, tolerance, spacing=s.core.spacing,
                                    mode="3d" if three_d else "2d",
                                    half_size_mm=self.half_size.value() if three_d else None)
        self.preview, self.seed = grown, tuple(seed)
        self._show_preview(s.layer, grown)
        n = int(np.count_nonzero(grown))
        zs = np.flatnonzero(grown.any(axis=(1, 2))).tolist()
        self.info.setText(f"Preview from {self.seed}: {n} voxel(s) on slice(s) {ranges(zs) or '-'}"
                          + ("" if n else " (the clicked voxel is outside the tolerance)")
                          + (" — Apply writes it" if n else ""))
        self._update_buttons()
        return grown

    def _show_preview(self, layer, grown: np.ndarray) -> None:
        viewer = self.widget.viewer
        data = grown.astype(np.uint8) * np.uint8(max(1, min(255, int(layer.selected_label))))
        if PREVIEW_NAME in viewer.layers:
            viewer.layers[PREVIEW_NAME].data = data
        else:
            preview = viewer.add_labels(data, name=PREVIEW_NAME, scale=layer.scale, translate=layer.translate,
                                        opacity=0.5, blending="translucent")
            preview.editable = False
            preview.metadata["ctlabel_preview"] = True
        viewer.layers.selection.active = layer  # keep painting on the labels layer

    def apply(self) -> int:
        """Write the preview with the selected label (one undo step); the number of voxels written."""
        s = self.widget._require_session()
        if self.preview is None:
            raise CtlabelError("click on the image first: there is no region grow preview")
        label = int(s.layer.selected_label)
        if label == 0:
            raise CtlabelError("select a label to write the grown region with")
        data = np.asarray(s.layer.data)
        indices = np.nonzero(self.preview)
        current = data[indices]
        keep = current == 0  # background only: another label is never overwritten
        indices = tuple(i[keep] for i in indices)
        written = int(indices[0].size)
        s.write(indices, label)
        self.cancel()
        self.widget.status.setText(f"Region grow: {written} voxel(s) of label {label} — Ctrl+Z undoes it")
        self.widget.refresh()
        return written

    def cancel(self) -> None:
        """Drop the preview (the click stays armed)."""
        self.preview = self.seed = None
        viewer = self.widget.viewer
        if PREVIEW_NAME in viewer.layers:
            viewer.layers.remove(PREVIEW_NAME)
        self.info.setText("")
        self._update_buttons()

    def _update_buttons(self) -> None:
        has = self.preview is not None and bool(self.preview.any())
        self.apply_button.setEnabled(has)
        self.cancel_button.setEnabled(self.preview is not None)

    def forget(self, layer) -> None:
        """The layer left the viewer."""
        if layer is self._layer:
            self._layer = None
            self.pick_button.setChecked(False)
