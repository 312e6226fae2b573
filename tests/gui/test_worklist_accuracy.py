"""The Worklist's "My accuracy" tab against a real server (Xvfb): the annotator's own figure per label is shown,
nobody else's, and no case name (gold scores planted in the served project's database, scored yesterday).
"""

from __future__ import annotations

import datetime as dt

import pytest

from ctlabel.measure.accuracy import Score, accuracy
from ctlabel.team.db import CaseRow, User, utcnow
from ctlabel.team.db_gold import GoldCase, GoldScore, GoldServing

from ._worklist_team import make_team

WAIT = 60_000


@pytest.fixture
def team(tmp_path, monkeypatch):
    monkeypatch.setenv("CTLABEL_CACHE_DIR", str(tmp_path / "cache"))
    t = make_team(tmp_path)
    yield t
    t.server.stop()


def _plant_gold(svc, scores: dict[str, list[float]]) -> dict[str, list[Score]]:
    """Scored gold servings of label 1, yesterday and before; returns the scores per annotator."""
    out: dict[str, list[Score]] = {}
    with svc.tx() as db:
        for who, values in scores.items():
            uid = db.query(User.id).filter(User.name == who).scalar()
            for k, dice in enumerate(values):
                gold = CaseRow(name=f"goldcase_{who}_{k}", path=f"goldcase_{who}_{k}", state="approved")
                served = CaseRow(name=f"servedcase_{who}_{k}", path=f"servedcase_{who}_{k}", state="submitted")
                db.add_all([gold, served])
                db.flush()
                gc = GoldCase(case_id=gold.id, version="v001")
                db.add(gc)
                db.flush()
                sv = GoldServing(gold_id=gc.id, case_id=served.id, user_id=uid, version="v001")
                db.add(sv)
                db.flush()
                at = utcnow() - dt.timedelta(days=len(values) - k)
                db.add(GoldScore(serving_id=sv.id, user_id=uid, label=1, name="x", dice=dice, volume_ref_ml=1.0,
                                 volume_ml=1.0, at=at))
                out.setdefault(who, []).append(Score(dice, at.isoformat()))
    return out


def test_the_worklist_shows_my_accuracy(make_napari_viewer, qtbot, team):
    planted = _plant_gold(team.svc, {"ann": [0.91, 0.83, 0.87], "ann_laptop": [0.42, 0.47]})
    viewer = make_napari_viewer()
    _, wl = viewer.window.add_plugin_dock_widget("ctlabel", "Worklist")
    wl.login(team.url, team.tokens["ann"])
    qtbot.waitUntil(lambda: wl.idle and "As of" in wl.accuracy_text.toPlainText(), timeout=WAIT)
    text = wl.accuracy_text.toPlainText()
    want = accuracy("ann", 1, planted["ann"], [])
    assert f"{want.estimate.mean:.2f} [{want.estimate.low:.2f}, {want.estimate.high:.2f}]" in text
    assert "gold cases 3" in text and "trend" in text
    other = accuracy("ann_laptop", 1, planted["ann_laptop"], [])
    assert f"{other.estimate.mean:.2f}" not in text and "ann_laptop" not in text
    assert "goldcase" not in text and "servedcase" not in text
    assert wl.tabs.tabText(wl.tabs.indexOf(wl.accuracy_text)) == "My accuracy"
