"""End to end on the real Philips session: add cases, claim, upload, submit, reject, fix, approve, report, verify."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from team_helpers import PHILIPS_SESSION, brain_mask_bytes

from ctlabel.cli.main import main
from ctlabel.team.client import Client, ClientError


def _cli(capsys, *argv) -> tuple[int, str]:
    capsys.readouterr()
    code = main(list(argv))
    return code, capsys.readouterr().out


def _token(capsys, project, name, role) -> str:
    code, out = _cli(capsys, "team", "user", "add", name, str(project), "--role", role, "--json")
    assert code == 0
    return json.loads(out)["token"]


@pytest.mark.slow
def test_team_end_to_end(tmp_path, db_url, serve, capsys, monkeypatch):
    project = tmp_path / "proj"
    argv = ["team", "init", str(project), "--json"] + (["--db", db_url] if db_url else [])
    assert _cli(capsys, *argv)[0] == 0
    # the Philips session (DIRFILE followed; the localizer and secondary objects are not volumes): 2 cases
    code, out = _cli(capsys, "team", "add-cases", str(project), str(PHILIPS_SESSION), "-j", "2", "--json")
    added = json.loads(out)
    assert code == 0 and len(added["added"]) == 2, out
    tok = {n: _token(capsys, project, n, r) for n, r in
           (("ann1", "annotator"), ("ann2", "annotator"), ("rev", "reviewer"), ("boss", "lead"))}
    assert _cli(capsys, "team", "rates", str(project), "--annotation", "1000", "--review", "200", "--rework", "300",
                "--json")[0] == 0
    server = serve(project)

    # ann1 through the CLI: login (token file 0600), next, upload, submit
    monkeypatch.setenv("CTLABEL_CONFIG_DIR", str(tmp_path / "cfg1"))
    assert _cli(capsys, "team", "login", server.url, "--token", tok["ann1"], "--json")[0] == 0
    assert oct((tmp_path / "cfg1" / "team-login.json").stat().st_mode & 0o777) == "0o600"
    code, out = _cli(capsys, "team", "next", "--dir", str(tmp_path / "work1"), "--json")
    assert code == 0, out
    got1 = json.loads(out)
    case1 = got1["case"]
    folder1 = tmp_path / "work1" / case1
    assert (folder1 / "ct.nii.gz").is_file() and (folder1 / "labels.tsv").is_file()

    # ann2 through the Python client gets the other case
    c2 = Client(server.url, tok["ann2"])
    got2 = c2.next_case()
    assert got2["case"] != case1 and {case1, got2["case"]} == set(added["added"])
    c2.download(got2["case"], tmp_path / "work2")
    # nothing is left for a third claim by ann2 (limit 2, no free case)
    with pytest.raises(ClientError) as e:
        c2.next_case()
    assert e.value.status == 404

    # ann1 paints (a mask written into the local draft), uploads and submits
    (folder1 / "masks").mkdir(exist_ok=True)
    (folder1 / "masks" / "draft_dseg.nii.gz").write_bytes(brain_mask_bytes(folder1, slices=(10, 11, 12)))
    assert _cli(capsys, "team", "upload", str(folder1), "--json")[0] == 0
    code, out = _cli(capsys, "team", "submit", str(folder1), "--json")
    assert code == 0, out
    assert json.loads(out)["state"] == "submitted"
    # local submit of the downloaded copy, and of the served case, are refused with a pointer
    code = main(["submit", str(folder1)])
    assert code == 2 and "ctlabel team submit" in capsys.readouterr().err
    code = main(["approve", str(project / "cases" / case1), "--user", "x"])
    assert code == 2 and "ctlabel team approve" in capsys.readouterr().err

    # heartbeats: controlled timestamps through the service (60 s counted), one real one through the API
    from ctlabel.team.db import User
    from ctlabel.team.service import Service

    svc = Service(project, db_url)
    with svc.tx() as db:
        ann1 = db.query(User).filter_by(name="ann1").one()
    t0 = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    for s in (0, 30, 50, 200, 210):  # gaps 30, 20, 150 (idle, not counted), 10
        svc.claims.heartbeat(ann1, case1, at=t0 + dt.timedelta(seconds=s))
    Client(server.url, tok["ann1"]).heartbeat(case1)

    # the reviewer: review-next gives case1, rejects it with a comment and marks
    rc = Client(server.url, tok["rev"])
    assert rc.review_next()["case"] == case1
    out = rc.reject(case1, "the right ventricle is missing", [{"slice": 11, "label": 1, "note": "add it"}])
    assert out["state"] == "rejected"
    # ann1 gets it back (rework first), downloads only the draft again, fixes, uploads, resubmits
    c1 = Client(server.url, tok["ann1"])
    back = c1.next_case()
    assert back["case"] == case1 and back["reason"] == "rework"
    assert back["comment"].startswith("the right ventricle") and back["marks"][0]["slice"] == 11
    assert back["rejected_by"] == "rev"
    image_mtime = (folder1 / "ct.nii.gz").stat().st_mtime_ns
    c1.download(case1, tmp_path / "work1")
    assert (folder1 / "ct.nii.gz").stat().st_mtime_ns == image_mtime  # the image was not fetched again
    (folder1 / "masks" / "draft_dseg.nii.gz").write_bytes(brain_mask_bytes(folder1, slices=(10, 11, 12, 13)))
    c1.upload_draft(folder1)
    assert c1.submit(case1)["state"] == "submitted"
    # the reviewer approves
    assert rc.review_next()["case"] == case1
    assert rc.approve(case1, "good")["state"] == "approved"

    # the report: counts, time, pay
    code, out = _cli(capsys, "team", "report", str(project), "--json")
    rep = {p["user"]: p for p in json.loads(out)["people"]}
    a1, rv = rep["ann1"], rep["rev"]
    assert (a1["submitted"], a1["resubmitted"], a1["approved"], a1["rejected"]) == (2, 1, 1, 1)
    assert a1["active_seconds"] == pytest.approx(60.0, abs=0.01)
    assert a1["items"] == {"annotation": 1, "review": 0, "rework": 1, "gold": 0}
    assert a1["owed_cents"] == 1000 + 300
    assert rv["reviews"] == 2 and rv["owed_cents"] == 2 * 200
    assert rep.get("ann2", {"owed_cents": 0})["owed_cents"] == 0
    today = dt.datetime.now(dt.UTC).date().isoformat()
    code, out = _cli(capsys, "team", "report", str(project), "--csv", "--since", today, "--until", today)
    assert code == 0 and "ann1,annotator,2,1,1,1" in out
    # an annotator sees only their own stats
    mine = c1.my_stats()
    assert mine["me"]["user"] == "ann1" and "people" not in mine
    with pytest.raises(ClientError) as e:
        c1.report()
    assert e.value.status == 403

    # the case folder verifies (hash chain, versions, files)
    assert main(["verify", str(project / "cases" / case1)]) == 0
    record = json.loads((project / "cases" / case1 / "case.json").read_text())
    actions = [ev["Action"] for ev in record["Events"]]
    assert actions.count("saved") == 2 and actions[-1] == "approved" and "rejected" in actions
