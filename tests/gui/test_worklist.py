"""The Worklist widget against a real team server (``ctlabel team serve`` started by the test).

Log in; next case; paint and interpolate; every save uploaded in the background; submit; the
reviewer rejects with a mark; the annotator sees the comment and jumps to the mark; fix and
resubmit; approve (by the key binding); my stats. Then: offline and back (the server stopped
mid-session and started again on the same project folder), and a 409 conflict (the case changed
on the server from another client: the local draft kept as a version of its own, the annotator
told). Heartbeats: only with focus and activity, at most one per 15 s of an injected clock.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from ctlabel.case.folder import Case
from ctlabel.team.client import Client
from ctlabel_napari._team_sync import Heartbeats, draft_signature, read_state

from ._worklist_team import GUIDELINES, make_team, write_draft

WAIT = 60_000


@pytest.fixture
def team(tmp_path, monkeypatch):
    monkeypatch.setenv("CTLABEL_CACHE_DIR", str(tmp_path / "cache"))
    t = make_team(tmp_path)
    yield t
    t.server.stop()


def _viewer(make_napari_viewer):
    viewer = make_napari_viewer()
    _, lw = viewer.window.add_plugin_dock_widget("ctlabel", "Labeling")
    lw.image_aware_check.setChecked(False)  # shape-only interpolation: no refinement worker
    lw.confirm_restore = lambda record: False
    _, wl = viewer.window.add_plugin_dock_widget("ctlabel", "Worklist")
    wl.annotator.watch.setInterval(100)
    wl.annotator.retry_s = 0.5
    wl.ask_force = lambda *a: True
    return viewer, lw, wl


def _wait(qtbot, wl):
    qtbot.waitUntil(lambda: wl.idle, timeout=WAIT)


def _login(qtbot, wl, team, who):
    wl.login(team.url, team.tokens[who])
    _wait(qtbot, wl)
    assert wl.me == {"user": who, "role": "reviewer" if who == "rev" else "annotator"}


def _liver_point(team, z):
    ys, xs = np.nonzero(team.liver[z])
    return z, int(np.median(ys)), int(np.median(xs))


def _paint(layer, team, z):
    layer.brush_size = 5
    layer.paint(_liver_point(team, z), 1)


def _synced(wl):
    return wl.idle and wl.case_dir is not None and draft_signature(wl.case_dir) == wl.annotator.uploaded_sig


def _server_etag(team, who, case):
    with Client(team.url, team.tokens[who]) as c:
        return c.case(case)["etag"]


def _key_handler(viewer, name):
    return next(f for f in viewer.keymap.values() if getattr(f, "__name__", "") == name)


def test_worklist_annotate_review_reject_fix_approve(make_napari_viewer, qtbot, team):
    viewer, lw, wl = _viewer(make_napari_viewer)
    _login(qtbot, wl, team, "ann")
    login_file = os.path.join(os.environ["CTLABEL_CONFIG_DIR"], "team-login.json")
    assert oct(os.stat(login_file).st_mode & 0o777) == "0o600"
    assert "ann" in wl.who_label.text() and "annotator" in wl.who_label.text()
    assert "Paint the" in wl.guidelines.toPlainText() and GUIDELINES.startswith("# Liver")
    assert wl.annotator_box.isVisibleTo(wl) and not wl.reviewer_box.isVisibleTo(wl)

    # next case: claimed, downloaded into the cache, opened in the labeling widget on its session
    wl.next_case()
    _wait(qtbot, wl)
    case = wl.case_info["case"]
    session = wl.case_session()
    assert session is not None and session.editing is not None and not session.read_only
    assert str(wl.case_dir).startswith(os.environ["CTLABEL_CACHE_DIR"])
    assert not lw.submit_button.isVisibleTo(lw)  # a team case is submitted through the Worklist
    assert any(case in wl.cases_list.item(i).text() for i in range(wl.cases_list.count()))

    # paint two slices, interpolate, save: the draft goes up in the background
    zs = [z for z in range(team.liver.shape[0]) if team.liver[z].sum() > 40]
    z1, z2 = zs[1], zs[-2]
    _paint(session.layer, team, z1)
    _paint(session.layer, team, z2)
    filled = lw.interpolate(all_labels=False)
    assert filled
    lw.save()
    qtbot.waitUntil(lambda: _synced(wl), timeout=WAIT)
    assert _server_etag(team, "ann", case) == read_state(wl.case_dir)["ETag"] == \
        Case(wl.case_dir).load_draft().voxel_hash
    assert wl.link_state == "online"

    # submit: the final draft is uploaded, then submitted; the case leaves the viewer
    session.layer.paint(_liver_point(team, zs[0]), 1)
    wl.submit()
    _wait(qtbot, wl)
    assert wl.case_dir is None and not any(case in ly.name for ly in viewer.layers)
    with Client(team.url, team.tokens["rev"]) as c:
        info = c.case(case)
    assert info["state"] == "submitted" and info["versions"] == ["v001"]

    # the reviewer: review next opens it read-only in the Review widget with QA; reject with a mark
    _login(qtbot, wl, team, "rev")
    assert wl.reviewer_box.isVisibleTo(wl) and not wl.annotator_box.isVisibleTo(wl)
    _key_handler(viewer, "ctlabel_team_review_next")(viewer)
    _wait(qtbot, wl)
    rw = wl.review_widget
    assert wl.review_info["case"] == case and rw.case is not None
    assert not rw.labels_layer.editable and rw.qa_list.count() >= 1
    assert not rw.approve_button.isVisibleTo(rw)  # decisions go through the server
    step = list(viewer.dims.current_step)
    step[0] = zs[2]
    viewer.dims.current_step = tuple(step)
    mark = wl.add_mark("the liver is missing here")
    assert mark == {"slice": zs[2], "label": int(rw.labels_layer.selected_label), "note": "the liver is missing here"}
    wl.reject("liver incomplete on the upper slices")
    _wait(qtbot, wl)
    assert wl.review_info is None and rw.labels_layer is None

    # the annotator gets it back first, with the comment on top and the mark to jump to
    _login(qtbot, wl, team, "ann")
    assert any("rejected" in wl.cases_list.item(i).text() and "liver incomplete" in wl.cases_list.item(i).text()
               for i in range(wl.cases_list.count()))
    wl.next_case()
    _wait(qtbot, wl)
    assert wl.case_info["case"] == case and wl.case_info["reason"] == "rework"
    assert wl.banner.isVisibleTo(wl) and "liver incomplete on the upper slices" in wl.banner.text()
    assert "Rejected by rev" in wl.banner.text()
    assert wl.marks_list.count() == 1
    viewer.dims.current_step = (0, *viewer.dims.current_step[1:])
    assert wl.jump_to_mark(0)["slice"] == zs[2]
    assert viewer.dims.current_step[0] == zs[2]
    session = wl.case_session()
    assert session.layer.data[zs[0]].any()  # the submitted labels came back to fix

    # fix and resubmit
    _paint(session.layer, team, zs[2])
    lw.save()
    wl.submit()
    _wait(qtbot, wl)
    with Client(team.url, team.tokens["rev"]) as c:
        info = c.case(case)
    assert info["state"] == "submitted" and info["versions"] == ["v001", "v002"]

    # the reviewer approves with the key binding
    _login(qtbot, wl, team, "rev")
    wl.review_next()
    _wait(qtbot, wl)
    assert wl.review_info["case"] == case
    _key_handler(viewer, "ctlabel_team_approve")(viewer)
    _wait(qtbot, wl)
    with Client(team.url, team.tokens["rev"]) as c:
        assert c.case(case)["state"] == "approved"

    # my stats: one approved, money owed (annotation 5.00 + one rework 1.50)
    _login(qtbot, wl, team, "ann")
    assert "approved 1" in wl.stats_label.text() and "owed 6.50" in wl.stats_label.text()
    assert any("approved" in wl.cases_list.item(i).text() for i in range(wl.cases_list.count()))

    # a new Worklist logs in by itself with the kept login
    from ctlabel_napari.worklist import WorklistWidget

    again = WorklistWidget(viewer)
    qtbot.addWidget(again)
    qtbot.waitUntil(lambda: again.idle and again.me.get("user") == "ann", timeout=WAIT)
    assert again.url_edit.text() == team.url


def test_worklist_offline_then_online(make_napari_viewer, qtbot, team):
    viewer, lw, wl = _viewer(make_napari_viewer)
    _login(qtbot, wl, team, "ann")
    wl.next_case()
    _wait(qtbot, wl)
    case, session = wl.case_info["case"], wl.case_session()
    zs = [z for z in range(team.liver.shape[0]) if team.liver[z].sum() > 40]
    _paint(session.layer, team, zs[1])
    lw.save()
    qtbot.waitUntil(lambda: _synced(wl), timeout=WAIT)

    team.server.stop()  # the network drops in the middle of the session
    _paint(session.layer, team, zs[3])
    lw.save()
    qtbot.waitUntil(lambda: wl.link_state == "offline", timeout=WAIT)
    assert "offline, changes waiting" in wl.link_label.text()
    _paint(session.layer, team, zs[4])  # labeling goes on; saves land in the local draft
    lw.save()
    local = Case(wl.case_dir).load_draft()
    assert local.array[zs[4]].any() and not session.dirty
    qtbot.wait(700)  # a retry or two fail while it is down
    assert wl.link_state == "offline"

    team.restart()  # back, on the same project folder and port
    qtbot.waitUntil(lambda: wl.link_state == "online" and _synced(wl), timeout=WAIT)
    assert _server_etag(team, "ann", case) == local.voxel_hash == read_state(wl.case_dir)["ETag"]
    assert (team.project / "cases").is_dir()
    served = Case([p for p in (team.project / "cases").iterdir() if p.name == case][0]).load_draft()
    assert np.array_equal(served.array, local.array)


def test_worklist_conflict_keeps_the_local_version(make_napari_viewer, qtbot, team, tmp_path):
    viewer, lw, wl = _viewer(make_napari_viewer)
    _login(qtbot, wl, team, "ann")
    wl.next_case()
    _wait(qtbot, wl)
    case, session, case_dir = wl.case_info["case"], wl.case_session(), wl.case_dir
    zs = [z for z in range(team.liver.shape[0]) if team.liver[z].sum() > 40]
    _paint(session.layer, team, zs[1])
    lw.save()
    qtbot.waitUntil(lambda: _synced(wl), timeout=WAIT)

    # the case changes on the server from another client (the annotator's laptop, same login)
    with Client(team.url, team.tokens["ann"]) as other:
        other_dir = other.download(case, tmp_path / "laptop")
        write_draft(other_dir)
        theirs = other.upload_draft(other_dir)["etag"]

    # here, more work is saved on top of the old draft: the upload is refused (409), nothing is overwritten
    _paint(session.layer, team, zs[3])
    lw.save()
    mine = Case(case_dir).load_draft().voxel_hash
    qtbot.waitUntil(lambda: wl.link_state == "conflict" and wl.idle and wl.case_dir is not None, timeout=WAIT)
    assert "kept as v001" in wl.status.text() and "changed on the server" in wl.status.text()
    kept = Case(case_dir)
    assert kept.versions() == [1] and kept.load_version(1).voxel_hash == mine
    assert kept.load_version(1).provenance.imported_from.get("StartedFromETag")
    # the server's case is the authority: unchanged there, and what is open now
    assert _server_etag(team, "ann", case) == theirs == read_state(case_dir)["ETag"]
    reopened = wl.case_session()
    assert reopened is not None and reopened is not session
    assert Case(case_dir).load_draft().voxel_hash == theirs
    assert not np.asarray(reopened.layer.data)[zs[3]].any()


def test_heartbeats_only_with_focus_and_activity_at_most_one_per_15_s(make_napari_viewer, qtbot, team):
    sent, now, focus = [], [100.0], [False]
    gate = Heartbeats(lambda: sent.append(now[0]), has_focus=lambda: focus[0], clock=lambda: now[0])
    assert not gate.activity() and sent == []  # no focus: nothing
    focus[0] = True
    assert gate.activity() and sent == [100.0]
    now[0] = 114.9
    assert not gate.activity()
    now[0] = 115.0
    assert gate.activity() and sent == [100.0, 115.0]
    now[0] = 1000.0  # an idle hour: nothing was sent meanwhile (no timer), the next activity sends
    assert len(sent) == 2 and gate.activity() and len(sent) == 3

    # in the widget: paint, navigate and window changes are the activity; the server counts them
    viewer, lw, wl = _viewer(make_napari_viewer)
    wl.clock, wl.has_focus = (lambda: now[0]), (lambda: focus[0])
    _login(qtbot, wl, team, "ann")
    focus[0] = False
    wl.next_case()
    _wait(qtbot, wl)
    session = wl.case_session()
    before = team.count_events("heartbeat")
    _paint(session.layer, team, 8)  # no focus: nothing
    wl.heartbeats.reset()
    focus[0] = True
    now[0] = 2000.0
    _paint(session.layer, team, 9)  # sent
    now[0] = 2010.0
    viewer.dims.current_step = (3, *viewer.dims.current_step[1:])  # within 15 s: not sent
    now[0] = 2016.0
    image = lw.image_layer()
    image.contrast_limits = (-100.0, 200.0)  # windowing, 16 s later: sent
    now[0] = 2030.0
    _wait(qtbot, wl)
    qtbot.wait(300)  # idle: nothing more
    assert wl.heartbeats.sent == 2
    assert team.count_events("heartbeat") - before == 2


def test_worklist_progress_flag_withdraw_and_correct(make_napari_viewer, qtbot, team):
    viewer, lw, wl = _viewer(make_napari_viewer)
    seen = []
    wl.progress_changed.connect(lambda name, done, total: seen.append((name, done, total)))
    _login(qtbot, wl, team, "ann")
    wl.next_case()
    _wait(qtbot, wl)
    first = wl.case_info["case"]
    assert ("ct.nii.gz" in {name for name, _, _ in seen}) and all(d <= t or t == 0 for _, d, t in seen)
    assert not wl.progress.isVisibleTo(wl)  # hidden once the download is done

    # withdraw: the case goes back to the pool (and leaves the viewer); the next claim gets it again
    wl.withdraw()
    _wait(qtbot, wl)
    assert wl.case_dir is None and not viewer.layers
    with Client(team.url, team.tokens["rev"]) as c:
        assert c.case(first)["annotator"] is None
    wl.next_case()
    _wait(qtbot, wl)
    assert wl.case_info["case"] == first
    # flag it (the reason is asked for): nobody is given it again
    wl.ask_text = lambda parent, title, prompt: "the series is cut off at the liver"
    wl.flag()
    _wait(qtbot, wl)
    assert wl.case_dir is None
    with Client(team.url, team.tokens["rev"]) as c:
        assert c.case(first)["flagged"] == "the series is cut off at the liver"

    # the other case: paint, submit; the reviewer corrects it through the server
    wl.next_case()
    _wait(qtbot, wl)
    second = wl.case_info["case"]
    assert second != first
    zs = [z for z in range(team.liver.shape[0]) if team.liver[z].sum() > 40]
    _paint(wl.case_session().layer, team, zs[1])
    wl.submit()
    _wait(qtbot, wl)
    _login(qtbot, wl, team, "rev")
    wl.review_next()
    _wait(qtbot, wl)
    wl.start_correction()
    layer = wl.review_widget.labels_layer
    assert layer.editable and wl.upload_correction_button.isEnabled() and not wl.approve_button.isEnabled()
    layer.brush_size = 5
    layer.paint(_liver_point(team, zs[2]), 1)
    wl.review_comment.setText("added the upper slice")
    wl.upload_correction()
    _wait(qtbot, wl)
    with Client(team.url, team.tokens["rev"]) as c:
        info = c.case(second)
    assert info["state"] == "submitted" and info["versions"] == ["v001", "v002"]
    assert wl.review_info["case"] == second and not wl.review_widget.labels_layer.editable
    assert np.asarray(wl.review_widget.labels_layer.data)[zs[2]].any()  # the corrected version is shown


def test_withdraw_uploads_the_work_first_and_never_while_offline(make_napari_viewer, qtbot, team):
    """Withdraw hands the case back with the annotator's work on the server: unsaved painting is saved
    and uploaded first; offline, nothing is withdrawn and the draft stays local."""
    viewer, lw, wl = _viewer(make_napari_viewer)
    _login(qtbot, wl, team, "ann")
    wl.next_case()
    _wait(qtbot, wl)
    case, session = wl.case_info["case"], wl.case_session()
    zs = [z for z in range(team.liver.shape[0]) if team.liver[z].sum() > 40]

    team.server.stop()
    _paint(session.layer, team, zs[2])  # painted, not saved
    wl.withdraw()
    _wait(qtbot, wl)
    assert wl.case_dir is not None and wl.link_state == "offline"  # still open, still the annotator's
    local = Case(wl.case_dir).load_draft()
    assert local is not None and local.array[zs[2]].any()  # saved locally before anything else

    team.restart()
    wl.withdraw()
    _wait(qtbot, wl)
    assert wl.case_dir is None and not viewer.layers
    served = Case(team.project / "cases" / case).load_draft()
    assert served is not None and np.array_equal(served.array, local.array)  # the next annotator starts here
    with Client(team.url, team.tokens["rev"]) as c:
        assert c.case(case)["annotator"] is None
