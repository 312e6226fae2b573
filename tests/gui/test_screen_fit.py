"""Nothing is taller or wider than the screen (issue 19): submit with 500 QA findings, every dock open.

``ctlabel view``'s window runs in a child process on an X screen of its own, 1280x800 and
1920x1080 (``xvfb-run -s "-screen 0 WxHx24"``; pytest-xvfb's screen is one size for the whole
run), and works as a person would (``_screen_fit_child.py``): submit a draft with 500 QA
warnings (no question), a draft with 3 errors and 497 warnings (the question: its buttons are
clicked, No then Yes) and a draft with one finding; then dock the Review widget on a case with
500 findings and the Worklist, logged in as a lead to a real ``ctlabel team serve`` and then with
the server unreachable, and submit again. Every step's main window, every dialog and its Yes/No
buttons must lie within the screen's available geometry, and no submit may change the window.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ._worklist_team import make_team

CHILD = Path(__file__).with_name("_screen_fit_child.py")


@pytest.fixture(scope="module")
def lead_server(tmp_path_factory):
    from ctlabel.team import admin

    team = make_team(tmp_path_factory.mktemp("team"))
    token = admin.add_user(team.svc, "lead", "lead")
    yield team.url, token
    team.server.stop()


def _inside(rect, area) -> bool:
    x, y, w, h = rect
    ax, ay, aw, ah = area
    return ax <= x and ay <= y and x + w <= ax + aw and y + h <= ay + ah


def _run_child(tmp_path, size: str, url: str, token: str) -> dict:
    out = tmp_path / "fit.json"
    env = dict(os.environ, NAPARI_CONFIG=str(tmp_path / "napari.yaml"), CTLABEL_CONFIG_DIR=str(tmp_path / "cfg"),
               CTLABEL_CACHE_DIR=str(tmp_path / "cache"), CTLABEL_ANNOTATOR="ann")
    env.pop("DISPLAY", None)
    r = subprocess.run(["xvfb-run", "-a", "-s", f"-screen 0 {size}x24", sys.executable, str(CHILD), str(out), url,
                        token], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.skipif(not shutil.which("xvfb-run"), reason="xvfb-run is needed for a screen of its own size")
@pytest.mark.parametrize("size", ["1280x800", "1920x1080"])
def test_submit_and_docks_stay_within_the_screen(size, tmp_path, lead_server, make_napari_viewer):
    # make_napari_viewer only marks this a GUI test; the viewer runs in the child on its own screen
    out = _run_child(tmp_path, size, *lead_server)
    width, height = (int(v) for v in size.split("x"))
    avail = out["available"]
    assert out["screen"][2:] == [width, height]
    steps = {s["name"]: s for s in out["steps"]}
    assert len(steps) == len(out["steps"])

    # the main window never leaves the screen, with one dock or all of them, online and offline
    for s in out["steps"]:
        assert _inside(s["window"], avail), (s["name"], s["window"], avail)
        assert s["window"] == steps["opened"]["window"], (s["name"], s["window"])  # nor changes size
        assert "\n" not in s["status"] and s["status_height"] < 2 * s["line_height"], (s["name"], s["status"])

    # warnings only: no question, submitted; the status says it in one line
    assert steps["submit_warnings"]["submitted"] == [1] and steps["submit_warnings"]["dialogs"] == []
    assert steps["submit_warnings"]["status"] == "Submitted as v001. QA: 500 warnings in 1 group"
    assert steps["docks_submit_warnings"]["submitted"] == [1] and steps["docks_submit_warnings"]["dialogs"] == []

    # errors: the question, within the screen with its buttons, answered No (not submitted) then Yes
    for name, answers in (("submit_errors", [None, 1]), ("docks_submit_errors", [None, 1]), ("submit_one", [1])):
        step = steps[name]
        assert step["submitted"] == answers, name
        assert len(step["dialogs"]) == len(answers), name
        for dialog in step["dialogs"]:
            assert dialog["title"] == "Submit with QA errors?"
            assert _inside(dialog["frame"], avail), (name, dialog["frame"], avail)
            assert {"Yes", "No"} <= set(dialog["buttons"])
            for button, rect in dialog["buttons"].items():
                assert _inside(rect, avail) and _inside(rect, dialog["frame"]), (name, button, rect)
    assert steps["submit_errors"]["status"].startswith("Submitted as v001. QA: 3 errors, 497 warnings in ")

    # the Review list shows the 500 findings as their groups; the Worklist's offline message keeps its dock's width
    assert steps["review_docked"]["review_findings"] == 500 and steps["review_docked"]["review_groups"] == 1
    assert steps["worklist_online"]["role"] == "lead" and steps["worklist_online"]["link"] == "online"
    assert steps["worklist_offline"]["link"].startswith("offline")
    online, offline = steps["worklist_online"]["docks"], steps["worklist_offline"]["docks"]
    assert {k: v[0] for k, v in offline.items()} == {k: v[0] for k, v in online.items()}
    assert all(d[1] >= 100 for d in offline.values()), offline  # every dock keeps a usable height

    # the label table's Name column shows a 20-character name whole
    table = steps["label_table"]
    assert table["name_rect"] >= table["name_advance"] + 8, table


def _islands_case(tmp_path, n: int, unknown: tuple[int, ...] = ()):
    sys.path.insert(0, str(Path(__file__).parent))
    from _screen_fit_child import make_case

    return make_case(tmp_path / "case", n, unknown)


def test_review_list_shows_groups_and_a_click_steps_through_one(make_napari_viewer, qtbot, tmp_path):
    """500 findings are one row per (check, label); clicking a row goes to its worst finding's slice,
    clicking it again to the next finding of the group."""
    from qtpy.QtCore import Qt

    case = _islands_case(tmp_path, 40, unknown=(200,))
    viewer = make_napari_viewer(show=True)
    _, review = viewer.window.add_plugin_dock_widget("ctlabel", "Review")
    review.open_case(case.root)
    assert len(review.findings) == 41 and review.qa_list.count() == 2
    first, second = review.qa_list.item(0).text(), review.qa_list.item(1).text()
    assert first.startswith("error: unknown_label, label 200: 1 finding")
    assert second.startswith("warning: small_island, label 1: 40 findings; e.g. slice 0: ")
    islands = [f for f in review.findings if f.check == "small_island"]

    def click(row: int) -> None:
        item = review.qa_list.item(row)
        review.qa_list.scrollToItem(item)
        qtbot.mouseClick(review.qa_list.viewport(), Qt.MouseButton.LeftButton,
                         pos=review.qa_list.visualItemRect(item).center())

    def shown(f) -> bool:  # the finding's slice, the camera on its voxel
        centre = review.image_layer.data_to_world(np.asarray(f.voxel, float))
        return viewer.dims.current_step[0] == f.slice and np.allclose(viewer.camera.center[-2:], centre[1:])

    click(1)
    assert shown(islands[0])
    click(1)
    assert shown(islands[1]) and not shown(islands[0])
    click(0)
    assert shown(next(f for f in review.findings if f.check == "unknown_label"))


def test_submit_dialog_double_click_jumps_and_fits_a_small_screen(make_napari_viewer, qtbot, tmp_path):
    """The dialog on its own: groups on top, every finding under its group; a double click on a finding
    calls the jump; its frame is within the available geometry of the screen it is on."""
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QDialogButtonBox

    from ctlabel import submission_qa
    from ctlabel_napari._qa_view import SubmitQADialog

    case = _islands_case(tmp_path, 497, unknown=(200, 201, 202))
    findings = submission_qa(case)
    viewer = make_napari_viewer(show=True)
    jumped = []
    dialog = SubmitQADialog(viewer.window._qt_window, findings, jumped.append)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    avail = dialog.screen().availableGeometry()
    assert avail.contains(dialog.frameGeometry()), (dialog.frameGeometry(), avail)
    yes = dialog.buttons.button(QDialogButtonBox.StandardButton.Yes)
    assert yes.isVisible() and avail.contains(yes.mapToGlobal(yes.rect().bottomRight()))
    tree = dialog.tree
    assert tree.topLevelItemCount() == len(dialog.groups) == 4
    islands = tree.topLevelItem(3)
    assert islands.childCount() == 497
    islands.setExpanded(True)
    child = islands.child(5)
    tree.scrollToItem(child)
    qtbot.wait(50)
    rect = tree.visualItemRect(child)
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert jumped and jumped[-1] is dialog.groups[3].findings[5]
    dialog.reject()
