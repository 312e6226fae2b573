"""Drive the viewer through an annotator's steps and write PNG screenshots to docs/screenshots/.

    xvfb-run -a python scripts/screenshots.py [--out docs/screenshots]

Steps: open the Philips head CT folder (several series: the series browser
opens), pick the 28 x 5 mm series, brain window, paint the brain on two slices,
interpolate, save as a case. The Philips session is the test data's
(``tests/data/ct/dcmqa_ct_philips_brain``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PHILIPS = ROOT / "tests" / "data" / "ct" / "dcmqa_ct_philips_brain" / "dicom"


def _ellipse(z: int, cy: float, cx: float, ry: float, rx: float, n: int = 48) -> list:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return [(z, cy + ry * np.sin(a), cx + rx * np.cos(a)) for a in t]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("CTLABEL_ANNOTATOR", "demo-annotator")

    import napari
    from qtpy.QtWidgets import QApplication

    viewer = napari.Viewer(title="ctlabel", show=True)
    viewer.window._qt_window.resize(1600, 1000)
    _, widget = viewer.window.add_plugin_dock_widget("ctlabel", "Labeling")
    _, browser = viewer.window.add_plugin_dock_widget("ctlabel", "Series browser")
    widget.confirm_restore = lambda record: False

    def shot(name: str) -> None:
        for _ in range(5):
            QApplication.processEvents()
        viewer.screenshot(str(out / name), canvas_only=False, flash=False)
        print(out / name)

    try:
        if PHILIPS.is_dir():
            viewer.open(str(PHILIPS.resolve()), plugin="ctlabel")
            shot("01_series_browser.png")
            browser.open_stack(next(s for s in browser.rows if s.n_slices == 28))
        else:
            from ctlabel_napari._sample_data import sample_ct_path

            viewer.open(str(sample_ct_path()), plugin="ctlabel")
        widget.apply_window("soft tissue")
        layer = widget.session.layer
        layer.selected_label = 1
        layer.mode = "paint"
        n = layer.data.shape[0]
        a, b = n // 2 - 5, n // 2 + 3
        for z, (cy, cx, ry, rx) in ((a, (330, 240, 70, 95)), (b, (300, 270, 45, 60))):
            viewer.dims.set_current_step(0, z)
            layer.paint_polygon(_ellipse(z, cy, cx, ry, rx), 1)
        viewer.dims.set_current_step(0, b)
        shot("02_painted.png")
        widget.interpolate(all_labels=False)
        viewer.dims.set_current_step(0, (a + b) // 2)
        widget.refresh()
        shot("03_interpolated.png")
        with tempfile.TemporaryDirectory() as tmp:
            widget.save_as_case(Path(tmp) / "case")
            shot("04_saved.png")
            viewer.dims.ndisplay = 3
            widget.image_layer().visible = False
            viewer.camera.angles = (0, -60, 60)
            shot("05_3d.png")
            widget.close_sessions()
    finally:
        viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
