"""The submit question with 500 QA findings, and every dock open, on a 1280x800 screen: PNGs for docs/plugin.md.

    xvfb-run -a -s "-screen 0 1280x800x24" python scripts/screenshots_qa.py [--out docs/screenshots]

``ctlabel view`` of a phantom case, the Review dock on it (500 QA findings) and the Worklist (its
server unreachable) docked too (``docks_1280x800.png``); then a case whose draft has 3 label values
the table lacks (QA errors) and 497 single-voxel islands (QA warnings) is opened, *Submit for
review* asks, and the question is grabbed while open (``submit_qa_dialog.png``, one group
unfolded), then answered No.
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


def _settle(seconds: float = 0.5) -> None:
    from qtpy.QtWidgets import QApplication

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.01)


def _case(root: Path, islands: int, unknown: tuple[int, ...]):
    from ctlabel import Case, make_phantom, save_draft

    volume, _, table = make_phantom(shape=(16, 64, 64))
    case = Case.create(root, volume, label_table=table)
    arr = np.zeros(volume.shape, np.uint8)
    arr[4:12, 20:40, 20:40] = 1
    spots = [(z, r, c) for z in range(0, 16, 2) for r in range(0, 64, 2) for c in range(44, 64, 2)]
    for z, r, c in spots[:islands]:
        arr[z, r, c] = 1
    for i, value in enumerate(unknown):
        arr[2 + 4 * i: 4 + 4 * i, 2:6, 2:6] = value
    save_draft(case, arr, case.image_grid(), "demo-annotator")
    return case


def _grab(path: Path, widget) -> None:
    """``widget`` as Qt renders it (a window: the canvas's GL framebuffer included)."""
    _settle(0.5)
    widget.grab().save(str(path))
    print(path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("CTLABEL_ANNOTATOR", "demo-annotator")
    from qtpy.QtCore import QTimer
    from qtpy.QtWidgets import QApplication

    from ctlabel import Client
    from ctlabel_napari._qa_view import SubmitQADialog
    from ctlabel_napari.launch import make_viewer

    tmp = Path(tempfile.mkdtemp(prefix="ctlabel-shots-"))
    case = _case(tmp / "liver_0042", 497, (200, 201, 202))
    review_case = _case(tmp / "liver_0043", 500, ())
    viewer, widget = make_viewer(review_case.root, show=True)
    _settle(1.0)
    _, review = viewer.window.add_plugin_dock_widget("ctlabel", "Review")
    review.open_case(review_case.root)
    _, worklist = viewer.window.add_plugin_dock_widget("ctlabel", "Worklist")
    worklist.client = Client("http://127.0.0.1:9", "t" * 20, timeout=3.0)
    worklist.refresh()  # the server cannot be reached: offline
    end = time.monotonic() + 10
    while not worklist.idle and time.monotonic() < end:
        _settle(0.1)
    _grab(out / "docks_1280x800.png", viewer.window._qt_window)

    widget.close_sessions()
    for layer in list(viewer.layers):  # the submit question over the case it is about
        viewer.layers.remove(layer)
    viewer.open(str(case.root), plugin="ctlabel")
    viewer.reset_view()
    _settle(1.0)

    def answer() -> None:
        dialog = next((w for w in QApplication.topLevelWidgets() if isinstance(w, SubmitQADialog) and w.isVisible()),
                      None)
        if dialog is None:
            QTimer.singleShot(100, answer)
            return
        dialog.tree.topLevelItem(dialog.tree.topLevelItemCount() - 1).setExpanded(True)
        _grab(out / "submit_qa_dialog.png", dialog)  # the dialog alone: the canvas is not redrawn behind it
        dialog.reject()

    QTimer.singleShot(100, answer)
    widget.submit()
    widget.close_sessions()
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
