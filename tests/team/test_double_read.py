"""Double reading on a served project (SQLite and PostgreSQL): two readers per case with their own
drafts, the case submitted when both submitted, Dice/HD95 stored, the reviewer approving A or a
corrected merge, a read withdrawn and submitted again, the pay of both readers, the dashboard."""

from __future__ import annotations

import httpx
import pytest
from team_helpers import brain_mask_bytes, make_project, read_json

from ctlabel.case.folder import Case
from ctlabel.case.verify import verify_case
from ctlabel.export.dataset import select_case
from ctlabel.measure.compare import compare_masks
from ctlabel.team import admin, dashboard_data
from ctlabel.team.client import Client, ClientError
from ctlabel.team.report import report


def _reads_of(svc, name: str) -> tuple[Case, dict]:
    case = Case.open(svc.cases_dir / name)
    return case, read_json(case.record_path)


def test_double_read(tmp_path, db_url, serve, philips_template):
    svc = make_project(tmp_path / "p", db_url, philips_template, n_cases=2, readers=2)
    tok = {n: admin.add_user(svc, n, r) for n, r in (("ann1", "annotator"), ("ann2", "annotator"),
                                                      ("ann3", "annotator"), ("rev", "reviewer"))}
    admin.set_rates(svc, {"annotation": 500, "review": 100})
    server = serve(svc.root)
    c = {n: Client(server.url, t) for n, t in tok.items()}

    # the two reads of a case go to two different annotators
    a = c["ann1"].next_case()
    b = c["ann2"].next_case()
    name = a["case"]
    assert b["case"] == name and (a["read"], b["read"]) == (1, 2) and a["readers"] == 2
    other = c["ann1"].next_case()["case"]  # ann1 never reads one case twice: the next case
    assert other != name
    assert c["ann3"].next_case()["read"] == 2
    with pytest.raises(ClientError) as e:
        c["ann2"].next_case()  # every slot is taken
    assert e.value.status == 404
    folder = svc.cases_dir / name
    case = Case.open(folder)

    # each reader edits their own draft, named by the case layout
    dirs = {}
    for who, slices in (("ann1", (10, 11, 12, 13, 14)), ("ann2", (11, 12, 13, 14, 15))):
        dirs[who] = c[who].download(name, tmp_path / who)
        mask = tmp_path / f"{who}.nii.gz"
        mask.write_bytes(brain_mask_bytes(folder, slices=slices))
        c[who].upload_draft(dirs[who], mask)
    assert case.reader_draft_path("ann1").is_file() and case.reader_draft_path("ann2").is_file()
    assert not case.draft_path.exists()
    mine = {r["case"]: r for r in c["ann2"].my_cases()}  # the Worklist's list: the read, with the reader's ETag
    assert mine[name]["role"] == "annotator" and mine[name]["etag"] != "none"
    again = c["ann2"].download(name, tmp_path / "ann2-again")  # ann2 gets their own draft back, not ann1's
    assert (again / "masks" / "draft_dseg.nii.gz").read_bytes() == case.reader_draft_path("ann2").read_bytes()

    # ann1 submits, withdraws (the other read is not in yet) and submits again
    assert c["ann1"].submit(name)["state"] == "in_progress"
    with pytest.raises(ClientError) as e:
        c["rev"].review_next()
    assert e.value.status == 404  # one read is not a submitted case
    out = c["ann1"].withdraw(name)
    assert out["withdrawn"] and case.reader_draft_path("ann1").is_file()
    c["ann1"].submit(name)
    done = c["ann2"].submit(name)
    assert done["state"] == "submitted"

    # the agreement: ctlabel.measure.compare of the two reads, stored and served; their fusion is under review
    info = c["rev"].reads(name)
    va, vb = (r["version"] for r in info["reads"])
    assert [r["slot"] for r in info["reads"]] == [1, 2] and (va, vb) == ("v002", "v003")
    assert info["fusion"]["version"] == "v004" and info["fusion"]["reads"] == ["v002", "v003"]
    assert [r["reader"] for r in info["fusion"]["readers"]] == ["ann1", "ann2"]
    expected = compare_masks(case.load_version(2), case.load_version(3), case.load_labels()).rows
    got = info["agreement"]["labels"]
    assert [g["label"] for g in got] == [r.label for r in expected] == [1]
    assert got[0]["dice"] == pytest.approx(expected[0].dice, abs=1e-4) and 0.6 < got[0]["dice"] < 0.95
    assert got[0]["hd95_mm"] == pytest.approx(expected[0].hd95_mm, abs=1e-3)
    with pytest.raises(ClientError) as e:
        c["ann1"].reads(name)
    assert e.value.status == 403  # a reader never sees the other read
    files = c["rev"].download_reads(name, tmp_path / "rev")
    assert set(files) == {"1", "2", "fusion", "disagreement"}
    assert files["1"].read_bytes() == case.version_path(2).read_bytes()
    assert files["fusion"].read_bytes() == case.version_path(4).read_bytes()

    # the reviewer approves read A (a slot by its old name, as clients sent it before integer slots);
    # a rejection is not how a double read is decided
    assert c["rev"].review_next()["case"] == name
    with pytest.raises(ClientError) as e:
        c["rev"].reject(name, "no")
    assert e.value.status == 409
    assert c["rev"].approve(name, version="A")["state"] == "approved"
    rec = read_json(case.record_path)
    assert rec["ApprovedVersion"] == "v002" and verify_case(case).ok
    assert select_case(case).version == "v002"  # the approved read is the one delivered

    # the second case: the reviewer corrects the two reads into a merge and approves it
    for who in ("ann1", "ann3"):
        d = c[who].download(other, tmp_path / f"{who}-2")
        m = tmp_path / f"{who}-2.nii.gz"
        m.write_bytes(brain_mask_bytes(svc.cases_dir / other, slices=(12, 13) if who == "ann1" else (13, 14)))
        c[who].upload_draft(d, m)
        c[who].submit(other)
    rd = c["rev"].review_next()
    assert rd["case"] == other and rd["state"] == "submitted"
    rdir = c["rev"].download(other, tmp_path / "rev2")
    merged = tmp_path / "merge.nii.gz"
    merged.write_bytes(brain_mask_bytes(svc.cases_dir / other, slices=(12, 13, 14)))
    fixed = c["rev"].correct(rdir, "union of A and B", file=merged)
    assert fixed["state"] == "submitted"
    assert c["rev"].approve(other, version="v004")["state"] == "approved"  # v003 is the fusion
    case2, rec2 = _reads_of(svc, other)
    assert rec2["ApprovedVersion"] == "v004" and verify_case(case2).ok

    # pay: every reader one annotation item; the withdrawn submission is no item
    people = {p["user"]: p for p in report(svc)["people"]}
    assert people["ann1"]["submitted"] == 2 and people["ann1"]["items"]["annotation"] == 2
    assert people["ann2"]["items"]["annotation"] == 1 and people["ann3"]["items"]["annotation"] == 1
    assert people["ann1"]["resubmitted"] == 0 and people["ann1"]["owed_cents"] == 1000
    assert people["rev"]["items"]["review"] == 3  # approve, and correct + approve
    assert dashboard_data.figures(svc)["people"] == report(svc)["people"]

    # the dashboard's agreement: both cases compared
    summary = dashboard_data.agreement(svc)
    assert summary["readers"] == 2 and summary["cases"] == 2 and summary["labels"][0]["label"] == 1
    page = httpx.get(server.url + "/", headers={"Authorization": f"Bearer {admin.add_user(svc, 'boss', 'lead')}"})
    assert page.status_code == 200 and 'id="double-reading"' in page.text and "mean Dice" in page.text
    for client in c.values():
        client.close()


def test_readers_setting_on_the_command_line(tmp_path, capsys):
    import json

    from ctlabel.cli.main import main

    project = tmp_path / "p"
    assert main(["team", "init", str(project), "--readers", "2", "--json"]) == 0
    capsys.readouterr()
    assert main(["team", "readers", str(project), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"readers": 2, "more_reads_below": None, "fusion": "staple"}
    assert main(["team", "readers", str(project), "1"]) == 0
    assert "1 reader(s) per case" in capsys.readouterr().out
    assert main(["team", "readers", str(project), "4", "--more-reads-below", "0.9", "--fusion", "vote"]) == 0
    assert "4 reader(s) per case, fused by vote; two reads first" in capsys.readouterr().out
    assert main(["team", "readers", str(project), "0"]) == 1  # at least one reader: refused
    assert "1 to 16 annotators" in capsys.readouterr().err
    assert main(["team", "readers", str(project), "3", "--more-reads-below", "1.5"]) == 1
    assert "(--more-reads-below" in capsys.readouterr().err


def test_lead_release_and_reassign_of_a_double_read_case(tmp_path, db_url, philips_template):
    """Reassign refuses a case read twice (it has no single annotator); release frees its open reads,
    keeping their drafts, and the slots go to the next claims."""
    from sqlalchemy import select

    from ctlabel.team.db import User
    from ctlabel.team.errors import Conflict, Forbidden
    from ctlabel.team.service import Service
    from ctlabel.team.uploads import save_stream_to, store_upload

    svc = make_project(tmp_path / "p", db_url, philips_template, n_cases=1, readers=2)
    for n in ("ann1", "ann2", "ann3"):
        admin.add_user(svc, n, "annotator")
    admin.add_user(svc, "lead", "lead")
    svc = Service(svc.root)
    with svc.read() as db:
        users = {u.name: u for u in db.scalars(select(User))}
    name = svc.claims.claim_next(users["ann1"])["case"]
    assert svc.claims.claim_next(users["ann2"])["read"] == 2
    folder = svc.cases_dir / name
    spool = save_stream_to(svc, [brain_mask_bytes(folder)])
    store_upload(svc, users["ann1"], name, spool.path, "none")
    spool.close()
    draft = Case.open(folder).reader_draft_path("ann1")
    kept = draft.read_bytes()
    before = read_json(folder / "case.json")

    with pytest.raises(Conflict, match="read by several annotators"):
        dashboard_data.reassign(svc, users["lead"], name, "ann3")
    assert read_json(folder / "case.json") == before
    with pytest.raises(Forbidden):  # nothing was given to ann3
        svc.claims.heartbeat(users["ann3"], name)

    out = dashboard_data.release(svc, users["lead"], name)
    assert out["released"] == "read" and sorted(out["readers"]) == ["ann1", "ann2"]
    for who in ("ann1", "ann2"):
        with pytest.raises(Forbidden):
            svc.claims.heartbeat(users[who], name)
    assert draft.read_bytes() == kept  # the released reader's draft stays in the case
    assert svc.claims.claim_next(users["ann3"])["read"] == 1  # the slots are free again
    assert svc.claims.claim_next(users["ann1"])["case"] == name
