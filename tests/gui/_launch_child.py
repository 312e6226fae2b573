"""Child process for the first-window test: ``ctlabel view [PATH]``'s viewer on its own X screen.

    python _launch_child.py [PATH]

Builds the viewer exactly as ``ctlabel view`` does (:func:`ctlabel_napari.launch.make_viewer`,
shown), lets Qt settle for a moment as the event loop would, and prints the window size, the
canvas size, the camera and the first layer's world extent as JSON.
"""

import json
import sys
import time


def main(path: str | None) -> None:
    from qtpy.QtWidgets import QApplication

    from ctlabel_napari.launch import make_viewer

    viewer, widget = make_viewer(path or None, show=True)
    app = QApplication.instance()
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)
    window = viewer.window._qt_window
    canvas = viewer.window._qt_viewer.canvas.native
    print(json.dumps({
        "window": [window.width(), window.height()],
        "canvas": [canvas.height(), canvas.width()],
        "center": [float(c) for c in viewer.camera.center],
        "zoom": float(viewer.camera.zoom),
        "displayed": [int(d) for d in viewer.dims.displayed],
        "extent": [[float(v) for v in row] for row in viewer.layers[0].extent.world],
        "docks": sorted(viewer.window._wrapped_dock_widgets),
    }), flush=True)
    widget.close_sessions()
    viewer.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
