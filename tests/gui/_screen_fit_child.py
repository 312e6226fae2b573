"""Child process of tests/gui/test_screen_fit.py: ``ctlabel view``'s window on an X screen of its own size.

    xvfb-run -a -s "-screen 0 1280x800x24" python _screen_fit_child.py OUT.json [URL TOKEN]

Builds the viewer as ``ctlabel view`` does (:func:`ctlabel_napari.launch.make_viewer`, shown) on
cases with many QA findings and, as a person would, submits them (a warnings-only draft: no
question; a draft with errors: the question, answered No then Yes by clicking its buttons, found
among the application's top-level widgets while it is open), then docks the Review widget (a case
with 500 findings) and the Worklist (logged in to URL when given, then offline) and submits again.
After each step it writes the main window's geometry, the docks' widths, the dialog's geometry and
its buttons' (global coordinates), the status line, and the screen's available geometry to OUT.json.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

N_FINDINGS = 500
T0 = time.monotonic()


def _settle(seconds: float = 0.3) -> None:
    from qtpy.QtWidgets import QApplication

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.01)


def _rect(r) -> list[int]:
    return [r.x(), r.y(), r.width(), r.height()]


def make_case(root: Path, n_islands: int, unknown: tuple[int, ...] = ()):
    """A phantom case whose draft has label 1, ``n_islands`` single voxels of it apart (one QA
    warning each) and a blob of each ``unknown`` label value (one QA error each)."""
    from ctlabel.case import review
    from ctlabel.case.folder import Case
    from ctlabel.intake.synthetic import make_phantom

    volume, _, table = make_phantom(shape=(16, 64, 64))
    case = Case.create(root, volume, label_table=table)
    arr = np.zeros(volume.shape, np.uint8)
    arr[4:12, 20:40, 20:40] = 1
    spots = [(z, r, c) for z in range(0, 16, 2) for r in range(0, 64, 2) for c in range(44, 64, 2)]
    for z, r, c in spots[:n_islands]:
        arr[z, r, c] = 1
    for i, value in enumerate(unknown):
        arr[2 + 4 * i: 4 + 4 * i, 2:6, 2:6] = value
    review.save_draft(case, arr, case.image_grid(), "ann")
    return case


class Run:
    def __init__(self, out: Path) -> None:
        from qtpy.QtWidgets import QApplication

        from ctlabel_napari.launch import make_viewer

        self.out = out
        self.tmp = Path(tempfile.mkdtemp(prefix="ctlabel-fit-"))
        self.cases = {
            "warnings": make_case(self.tmp / "warnings", N_FINDINGS),
            "errors": make_case(self.tmp / "errors", N_FINDINGS - 3, unknown=(200, 201, 202)),
            "one": make_case(self.tmp / "one", 0, unknown=(200,)),
            "errors_docks": make_case(self.tmp / "errors_docks", N_FINDINGS - 3, unknown=(200, 201, 202)),
            "warnings_docks": make_case(self.tmp / "warnings_docks", N_FINDINGS),
            "review": make_case(self.tmp / "review", N_FINDINGS),
        }
        self.viewer, self.widget = make_viewer(self.cases["warnings"].root, show=True)
        self.window = self.viewer.window._qt_window
        self.app = QApplication.instance()
        _settle(1.0)
        screen = self.window.screen()
        self.result = {"screen": _rect(screen.geometry()), "available": _rect(screen.availableGeometry()),
                       "steps": []}

    def record(self, name: str, **extra) -> None:
        _settle(0.25)
        docks = {k: [d.width(), d.height(), d.isVisible()] for k, d in self.viewer.window._wrapped_dock_widgets.items()}
        status = self.widget.status
        self.result["steps"].append({"name": name, "window": _rect(self.window.frameGeometry()), "docks": docks,
                                     "status": status.text(), "status_height": status.height(),
                                     "line_height": status.fontMetrics().lineSpacing(),
                                     "t": round(time.monotonic() - T0, 2), **extra})
        self.out.write_text(json.dumps(self.result, indent=1))

    def watch_dialog(self, yes: bool, seen: list) -> dict:
        """While the next modal dialog is open: note its geometry and its buttons', then click Yes or No."""
        from qtpy.QtCore import QPoint, Qt, QTimer
        from qtpy.QtTest import QTest
        from qtpy.QtWidgets import QApplication, QDialog, QPushButton

        state = {"active": True}

        def poll() -> None:
            if not state["active"]:
                return
            for w in QApplication.topLevelWidgets():
                if isinstance(w, QDialog) and w.isVisible():
                    _settle(0.3)
                    buttons = {b.text().replace("&", ""): b for b in w.findChildren(QPushButton) if b.isVisible()}
                    seen.append({
                        "title": w.windowTitle(), "frame": _rect(w.frameGeometry()),
                        "buttons": {t: [*(lambda p: [p.x(), p.y()])(b.mapToGlobal(QPoint(0, 0))), b.width(),
                                        b.height()] for t, b in buttons.items()},
                    })
                    state["active"] = False
                    QTest.mouseClick(buttons["Yes" if yes else "No"], Qt.MouseButton.LeftButton)
                    return
            QTimer.singleShot(50, poll)

        QTimer.singleShot(50, poll)
        return state

    def open_case(self, key: str) -> None:
        self.widget.close_sessions()
        for layer in [ly for ly in self.viewer.layers if ly.metadata.get("ctlabel", {}).get("role") in
                      ("image", "labels")]:
            self.viewer.layers.remove(layer)
        self.viewer.open(str(self.cases[key].root), plugin="ctlabel")
        _settle(0.3)

    def submit(self, name: str, answers: tuple[bool, ...] = ()) -> None:
        """Submit; a dialog is expected once per answer (none for a warnings-only draft)."""
        results, dialogs = [], []
        for yes in answers or (False,):
            watch = self.watch_dialog(yes, dialogs)  # a dialog that should not open is noted and answered No
            results.append(self.widget.submit())
            watch["active"] = False
        self.record(name, submitted=results, dialogs=dialogs)

    def all_docks(self, url: str | None, token: str | None) -> None:
        from ctlabel import Client

        _, review = self.viewer.window.add_plugin_dock_widget("ctlabel", "Review")
        review.open_case(self.cases["review"].root)
        self.record("review_docked", review_groups=review.qa_list.count(), review_findings=len(review.findings))
        _, wl = self.viewer.window.add_plugin_dock_widget("ctlabel", "Worklist")
        self.wl = wl
        self.record("worklist_docked")
        if url:
            wl.login(url, token)
            self._wait(lambda: wl.idle and wl.client is not None)
            self._wait(lambda: wl.idle)
            self.record("worklist_online", link=wl.link_label.text(), role=wl.role)
        # the server cannot be reached: the real failure of a real request, shown as the widget shows it
        wl.client = Client("http://127.0.0.1:9", token or "t" * 20, timeout=3.0)
        wl.refresh()
        self._wait(lambda: wl.idle)
        self.record("worklist_offline", link=wl.link_label.text(), wl_status=wl.status.text())

    def _wait(self, cond, timeout: float = 20.0) -> None:
        end = time.monotonic() + timeout
        while not cond() and time.monotonic() < end:
            _settle(0.05)

    def label_table(self) -> None:
        from ctlabel import Label

        name = "inferior_vena_cava_2"
        assert len(name) == 20
        self.widget.add_label(Label(99, name, "IVC2", "#3060c0", "soft_tissue"))
        _settle(0.3)
        table = self.widget.table
        row = next(r for r in range(table.rowCount()) if table.item(r, 1).text() == name)
        self.record("label_table", name_column=table.columnWidth(1),
                    name_advance=table.fontMetrics().horizontalAdvance(name),
                    name_rect=table.visualItemRect(table.item(row, 1)).width())


def main(out: str, url: str | None = None, token: str | None = None) -> None:
    run = Run(Path(out))
    run.record("opened")
    run.label_table()
    run.submit("submit_warnings")
    run.open_case("errors")
    run.record("opened_errors")
    run.submit("submit_errors", answers=(False, True))
    run.open_case("one")
    run.submit("submit_one", answers=(True,))
    run.all_docks(url, token)
    run.open_case("errors_docks")
    run.record("docks_opened_errors")
    run.submit("docks_submit_errors", answers=(False, True))
    run.open_case("warnings_docks")
    run.submit("docks_submit_warnings")
    run.widget.close_sessions()
    run.viewer.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
