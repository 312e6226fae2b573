"""GET /api/v1/me/accuracy: each annotator sees only their own figures, never a case name, never today's scores
(which would tell which of today's submissions was gold). SQLite and PostgreSQL, over HTTP against the real app.
"""

from __future__ import annotations

import datetime as dt
import json

from accuracy_plant import plant
from fastapi.testclient import TestClient
from team_helpers import make_project

from ctlabel.team import accuracy as team_accuracy
from ctlabel.team import admin
from ctlabel.team.api import PREFIX, create_app
from ctlabel.team.db import CaseRow, User, utcnow
from ctlabel.team.db_gold import GoldCase, GoldScore, GoldServing


def _get(api: TestClient, token: str):
    return api.get("/me/accuracy", headers={"Authorization": f"Bearer {token}"})


def test_my_accuracy_is_mine_only_and_names_no_case(tmp_path, db_url):
    svc = make_project(tmp_path / "p", db_url)
    plan = plant(svc, seed=5)
    tokens = {n: admin.rotate(svc, n) for n in ("ann0", "ann1", "ann2", "rev")}
    tokens["boss"] = admin.add_user(svc, "boss", "lead")
    team_accuracy.set_threshold(svc, 0.75)
    api = TestClient(create_app(svc), base_url=f"http://testserver{PREFIX}")
    assert api.get("/me/accuracy").status_code == 401
    everyone = team_accuracy.annotator_accuracy(svc)
    names = team_accuracy.label_names(svc)
    for who in ("ann0", "ann1", "ann2"):
        r = _get(api, tokens[who])
        assert r.status_code == 200
        got = r.json()
        assert got["user"] == who and got["threshold"] == 0.75 and got["as_of"] == utcnow().date().isoformat()
        assert [x["label"] for x in got["labels"]] == sorted(everyone[who])
        for x in got["labels"]:
            want = everyone[who][x["label"]].as_json()
            assert {k: x[k] for k in ("estimate", "gold", "agreement", "review")} == \
                {k: want[k] for k in ("estimate", "gold", "agreement", "review")}
            assert x["name"] == names.get(x["label"], "")
            days = sorted({w[:10] for w, _ in want["trend"]})
            assert [d for d, _ in x["trend"]] == days  # one point per day
            if want["trend"]:
                assert x["trend"][-1][1] == want["trend"][-1][1]
        text = r.text
        others = {"ann0", "ann1", "ann2"} - {who}
        assert not any(f'"{o}"' in text for o in others)  # nobody else's figures
        assert not any(c in text for c in (*plan.gold_cases, *plan.servings, "double5_", "single5_"))  # no case
    assert _get(api, tokens["rev"]).json()["labels"] == []  # a reviewer who annotated nothing
    assert _get(api, tokens["boss"]).json()["labels"] == []  # the lead gets their own, not the team's

    # a gold case scored today is not shown before tomorrow (it would name one of today's submissions as gold)
    before = _get(api, tokens["ann0"]).json()
    with svc.tx() as db:
        uid = db.query(User.id).filter(User.name == "ann0").scalar()
        case = CaseRow(name="gold_today", path="gold_today", state="approved")
        served = CaseRow(name="served_today", path="served_today", state="submitted")
        db.add_all([case, served])
        db.flush()
        gc = GoldCase(case_id=case.id, version="v001")
        db.add(gc)
        db.flush()
        sv = GoldServing(gold_id=gc.id, case_id=served.id, user_id=uid, version="v001")
        db.add(sv)
        db.flush()
        db.add(GoldScore(serving_id=sv.id, user_id=uid, label=1, name="l1", dice=0.1, volume_ref_ml=1.0,
                         volume_ml=1.0, at=utcnow()))
    assert json.dumps(_get(api, tokens["ann0"]).json()) == json.dumps(before)
    assert team_accuracy.annotator_accuracy(svc, "ann0")["ann0"][1].gold.n == \
        before["labels"][0]["gold"]["n"] + 1  # the lead sees it at once
    tomorrow = team_accuracy.own_accuracy(svc, "ann0", now=utcnow() + dt.timedelta(days=1))
    assert tomorrow["labels"][0]["gold"]["n"] == before["labels"][0]["gold"]["n"] + 1
    assert "gold_today" not in json.dumps(tomorrow) and "served_today" not in json.dumps(tomorrow)
