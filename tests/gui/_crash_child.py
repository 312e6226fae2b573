"""Child process for the crash test: edit a case in a real napari viewer until killed.

    python _crash_child.py CASE_ROOT LOG

Paints one brush stroke every 0.25 s through the Labels layer (so napari's paint
events fire and the autosave timer runs exactly as for a person) and appends
``index time z y x`` to LOG (flushed and fsynced) after each stroke.
"""

import os
import sys
import time


def stroke_position(i: int) -> tuple[int, int, int]:
    return (5 + i % 50, 20 + (i // 50) * 12, 20 + (i % 11) * 11)


def main(case_root: str, log_path: str) -> None:
    from qtpy.QtCore import QTimer
    from qtpy.QtWidgets import QApplication

    from ctlabel_napari.launch import make_viewer

    viewer, widget = make_viewer(case_root, show=False)
    layer = widget.session.layer
    layer.brush_size = 5
    layer.selected_label = 1
    layer.mode = "paint"
    log = open(log_path, "a", encoding="utf-8")
    state = {"i": 0}

    def stroke():
        i = state["i"]
        z, y, x = stroke_position(i)
        viewer.dims.set_current_step(0, z)
        layer.paint((z, y, x), 1)
        log.write(f"{i} {time.time():.3f} {z} {y} {x}\n")
        log.flush()
        os.fsync(log.fileno())
        state["i"] = i + 1

    timer = QTimer()
    timer.timeout.connect(stroke)
    timer.start(250)
    log.write(f"ready {time.time():.3f} {os.getpid()}\n")
    log.flush()
    QApplication.instance().exec()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
