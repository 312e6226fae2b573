"""Screenshots of the napari Worklist widget for the docs, made by the steps of its GUI tests.

Makes the demo team (``ctlabel team demo``'s project: the sample body CT and the 5 mm Philips
head CT, a lead, an annotator, a reviewer) with guidelines, serves it on a free loopback port
(``tests/team/team_helpers.Server``), then drives one viewer as in ``tests/gui/test_worklist.py``:
the annotator logs in, takes the next case, paints the liver on two slices, interpolates and
saves (uploaded in the background): ``worklist.png``; submits; the reviewer rejects it with a
comment and a mark; the annotator takes it again, with the comment on top and the mark jumped
to: ``rejected_case.png``.

Usage: ``xvfb-run -a .venv/bin/python scripts/screenshots_worklist.py [--out docs/screenshots]``
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "team"))
GUIDELINES = """# Abdomen CT: liver

* Paint the **liver** (label 1) on every second or third axial slice, then interpolate (Shift+I)
  and check the filled slices.
* Follow the capsule; leave out the gallbladder and the large vessels at the hilum.
* Press **Save** often: every save goes to the server. Submit when every slice is right.
"""


def _liver(hu: np.ndarray) -> np.ndarray:
    """The largest 70..160 HU blob of each slice (the liver of the sample body CT), opened a little."""
    from scipy import ndimage

    out = np.zeros(hu.shape, bool)
    for z in range(hu.shape[0]):
        m = ndimage.binary_opening((hu[z] > 70) & (hu[z] < 160), iterations=3)
        lab, n = ndimage.label(m)
        if n:
            sizes = ndimage.sum(m, lab, range(1, n + 1))
            out[z] = lab == 1 + int(np.argmax(sizes))
    return out


def main(argv: list[str] | None = None) -> int:
    """Make the screenshots; returns 0."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots"), help="where the PNGs go")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from team_helpers import Server

    from ctlabel.team import admin
    from ctlabel.team.demo import make_demo

    with tempfile.TemporaryDirectory(prefix="ctlabel-shots-") as tmp:
        os.environ["CTLABEL_CONFIG_DIR"] = str(Path(tmp) / "config")
        os.environ["CTLABEL_CACHE_DIR"] = str(Path(tmp) / "cache")
        os.environ["CTLABEL_ANNOTATOR"] = "annotator"
        svc, tokens = make_demo(Path(tmp) / "proj")
        admin.set_guidelines(svc, GUIDELINES)
        server = Server(svc.root).start()
        try:
            drive(server.url, tokens, out)
        finally:
            server.stop()
            svc.engine.dispose()
    print(f"screenshots in {out}: worklist.png, rejected_case.png")
    return 0


def drive(url: str, tokens: dict[str, str], out: Path) -> None:
    import napari
    from qtpy.QtWidgets import QApplication

    viewer = napari.Viewer(title="ctlabel", show=True)
    viewer.window._qt_window.resize(1700, 1050)
    _, lw = viewer.window.add_plugin_dock_widget("ctlabel", "Labeling")
    lw.image_aware_check.setChecked(False)
    lw.confirm_restore = lambda record: False
    from ctlabel_napari.worklist import WorklistWidget

    wl = WorklistWidget(viewer)  # the manifest's widget, docked on the left beside the labeling widget
    viewer.window.add_dock_widget(wl, area="left", name="Worklist")
    wl.ask_force = lambda *a: True

    def settle(seconds: float = 0.3) -> None:
        end = time.monotonic() + seconds
        while not wl.idle or time.monotonic() < end:
            QApplication.processEvents()
            time.sleep(0.02)

    def shot(name: str) -> None:
        settle()
        viewer.screenshot(str(out / name), canvas_only=False, flash=False)
        print(out / name)

    def login(who: str) -> None:
        wl.login(url, tokens[who])
        settle()

    login("annotator")
    wl.next_case()
    settle()
    session = wl.case_session()
    hu = np.asarray(lw.image_layer().data)
    liver = _liver(hu)
    for z in (6, 14):  # two painted slices, as a brush would leave them
        zz, yy, xx = np.nonzero(liver[z:z + 1])
        session.write((zz + z, yy, xx), 1)
    session.layer.selected_label = 1
    lw.interpolate(all_labels=False)
    lw.apply_window("liver")
    lw.save()
    deadline = time.monotonic() + 30
    while "uploaded" not in wl.link_label.text() and time.monotonic() < deadline:
        settle(0.2)
    wl.refresh()
    step = list(viewer.dims.current_step)
    step[0] = 10
    viewer.dims.current_step = tuple(step)
    viewer.reset_view()
    shot("worklist.png")

    wl.submit()
    settle()
    login("reviewer")
    wl.review_next()
    settle()
    step[0] = 3
    viewer.dims.current_step = tuple(step)
    wl.add_mark("the liver goes on below slice 6")
    review = wl.review_widget
    wl.reject("Liver missing on the lowest slices (0-5); follow the capsule at the hilum.")
    settle()
    viewer.window.remove_dock_widget(review)  # the reviewer's dock: not the annotator's view
    login("annotator")
    wl.next_case()
    settle()
    lw.apply_window("liver")
    wl.jump_to_mark(0)
    viewer.reset_view()
    shot("rejected_case.png")
    wl.close_case()
    viewer.close()


if __name__ == "__main__":
    raise SystemExit(main())
