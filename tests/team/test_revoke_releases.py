"""Revoking a token ends the claims its holder held: the cases are offered again at once, drafts kept.

Found: a revoked annotator kept their cases until the lease ran out (4 h by default); a rejected
case they held was never offered again.
"""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import select
from team_helpers import brain_mask_bytes, make_project

from ctlabel.cli.main import main
from ctlabel.team import admin
from ctlabel.team.api import create_app
from ctlabel.team.db import Assignment, CaseRow, Event, Read
from ctlabel.team.double_read import set_readers


def _h(token: str, **extra) -> dict:
    return {"Authorization": f"Bearer {token}", **extra}


def test_revoke_releases_the_cases_held(tmp_path, db_url, philips_template, capsys):
    svc = make_project(tmp_path / "p", db_url, philips_template, n_cases=4, open_limit=3)
    tok = {n: admin.add_user(svc, n, r) for n, r in (("gone", "annotator"), ("next", "annotator"),
                                                      ("rev", "reviewer"), ("boss", "lead"))}
    api = TestClient(create_app(svc), base_url="http://testserver/api/v1")
    # gone: a case submitted and taken by rev for review, a case with a draft, a read of a double-read case
    c1 = api.post("/cases/next", headers=_h(tok["gone"])).json()["case"]
    assert api.put(f"/cases/{c1}/draft", headers=_h(tok["gone"], **{"If-Match": "none"}),
                   content=brain_mask_bytes(svc.cases_dir / c1)).status_code == 200
    assert api.post(f"/cases/{c1}/submit", headers=_h(tok["gone"]), json={}).status_code == 200
    assert api.post("/review/next", headers=_h(tok["rev"])).json()["case"] == c1
    c2 = api.post("/cases/next", headers=_h(tok["gone"])).json()["case"]
    r = api.put(f"/cases/{c2}/draft", headers=_h(tok["gone"], **{"If-Match": "none"}),
                content=brain_mask_bytes(svc.cases_dir / c2, slices=(12,)))
    draft_etag = r.json()["etag"]
    set_readers(svc, 2)
    c3 = api.post("/cases/next", headers=_h(tok["gone"])).json()
    assert c3["readers"] == 2 and c3["read"] == 1
    set_readers(svc, 1)

    # the lead revokes gone through the API: the answer names the cases released
    r = api.post("/users/gone/revoke", headers=_h(tok["boss"]))
    assert r.status_code == 200, r.text
    assert r.json() == {"user": "gone", "revoked": True,
                        "released": sorted([{"case": c2, "lease": "annotate"}, {"case": c3["case"], "lease": "read"}],
                                           key=lambda x: x["case"])}
    with svc.read() as db:
        row2 = db.scalar(select(CaseRow).where(CaseRow.name == c2))
        assert row2.annotator_id is None and row2.lease_until is None
        assert not list(db.scalars(select(Assignment).where(Assignment.status == "open",
                                                            Assignment.case_id == row2.id)))
        row3 = db.scalar(select(CaseRow).where(CaseRow.name == c3["case"]))
        assert db.scalar(select(Read).where(Read.case_id == row3.id, Read.slot == 1)).status == "released"
        logged = [e.detail for e in db.scalars(select(Event).where(Event.kind == "release"))]
        assert {(d["lease"], d["holder"], d["reason"]) for d in logged} == {("annotate", "gone", "revoked"),
                                                                            ("read", "gone", "revoked")}
    # the case is offered again at once, with gone's draft
    got = api.post("/cases/next", headers=_h(tok["next"])).json()
    assert got["case"] == c2 and got["etag"] == draft_etag
    # the reviewer's token revoked from the command line: the review claim ends, the case awaits review again
    assert main(["team", "user", "revoke", "rev", str(svc.root)]) == 0
    out = capsys.readouterr().out
    assert f"released 1 case(s) they held, drafts kept, offered again: {c1} (review)" in out
    with svc.read() as db:
        assert db.scalar(select(CaseRow).where(CaseRow.name == c1)).reviewer_id is None
    rev2 = admin.add_user(svc, "rev2", "reviewer")
    assert api.post("/review/next", headers=_h(rev2)).json()["case"] == c1
    # --json, and a user holding nothing
    assert main(["team", "user", "revoke", "next", str(svc.root), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["released"] == [{"case": c2, "lease": "annotate"}]
    admin.add_user(svc, "idle", "annotator")
    assert main(["team", "user", "revoke", "idle", str(svc.root)]) == 0
    assert "they held no case" in capsys.readouterr().out
    svc.engine.dispose()
