"""N readers per case (SQLite and PostgreSQL): three reads fused by STAPLE and approved through the client,
a reader's read approved instead, adaptive reading (a third read only when the first two disagree), and
slots unique under parallel claims."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from team_helpers import brain_mask_bytes, make_project, read_json

from ctlabel.case.folder import Case
from ctlabel.case.verify import verify_case
from ctlabel.measure.fusion import fuse
from ctlabel.team import admin
from ctlabel.team.client import Client, ClientError
from ctlabel.team.db import CaseRow, Read, User, utcnow
from ctlabel.team.errors import NotFound
from ctlabel.team.service import Service
from ctlabel.team.uploads import save_stream_to, store_upload

SLICES = {"ann1": (10, 11, 12, 13, 14), "ann2": (11, 12, 13, 14, 15), "ann3": (10, 11, 12, 13, 14, 15)}


def _read_and_submit(c: Client, tmp_path, folder, name: str, who: str, slices) -> dict:
    d = c.download(name, tmp_path / f"{who}-{name}")
    mask = tmp_path / f"{who}-{name}.nii.gz"
    mask.write_bytes(brain_mask_bytes(folder, slices=slices))
    c.upload_draft(d, mask)
    return c.submit(name)


def test_three_readers_fused_then_approved(tmp_path, db_url, serve, philips_template):
    svc = make_project(tmp_path / "p", db_url, philips_template, n_cases=2, readers=3)
    tok = {n: admin.add_user(svc, n, r) for n, r in (("ann1", "annotator"), ("ann2", "annotator"),
                                                      ("ann3", "annotator"), ("rev", "reviewer"))}
    server = serve(svc.root)
    c = {n: Client(server.url, t) for n, t in tok.items()}
    for case_no in range(2):
        got = {who: c[who].next_case() for who in ("ann1", "ann2", "ann3")}
        name = got["ann1"]["case"]
        assert {g["case"] for g in got.values()} == {name} and [g["read"] for g in got.values()] == [1, 2, 3]
        assert got["ann1"]["readers"] == 3
        folder = svc.cases_dir / name
        states = [_read_and_submit(c[w], tmp_path, folder, name, w, SLICES[w])["state"] for w in SLICES]
        assert states == ["in_progress", "in_progress", "submitted"]  # the third read submits the case

        # the fusion is the version under review: STAPLE of the three reads, as SimpleITK makes it
        case = Case.open(folder)
        info = c["rev"].reads(name)
        versions = [r["version"] for r in info["reads"]]
        assert [r["slot"] for r in info["reads"]] == [1, 2, 3] and versions == ["v001", "v002", "v003"]
        fused = info["fusion"]
        assert fused["method"] == "staple" and fused["version"] == "v004" and fused["reads"] == versions
        direct = fuse([case.load_version(n).array for n in (1, 2, 3)], "staple", readers=list(SLICES))
        assert np.array_equal(case.load_version(4).array, direct.labels)
        assert fused["disagreement_voxels"] == direct.disagreement_voxels > 0
        for got_r, want in zip(fused["readers"], direct.readers, strict=True):
            assert got_r["reader"] == want.reader
            assert got_r["mean_dice"] == pytest.approx(want.mean_dice, abs=1e-4)
            assert got_r["sensitivity"]["1"] == pytest.approx(want.sensitivity[1], abs=1e-4)
        # ann3 painted the union of the other two: the fusion agrees with ann3 at least as much as with the others
        dice = [r["dice"]["1"] for r in fused["readers"]]
        assert dice[2] >= max(dice[0], dice[1])
        rec = read_json(case.record_path)
        last = rec["Events"][-1]
        assert last["Action"] == "submitted" and last["Version"] == "v004" and last["Fusion"]["Method"] == "staple"

        # the reviewer approves the fusion (first case) or reader 2's read (second case)
        assert c["rev"].review_next()["case"] == name
        with pytest.raises(ClientError) as e:
            c["rev"].reject(name, "no")
        assert e.value.status == 409
        which = "fusion" if case_no == 0 else "2"
        assert c["rev"].approve(name, version=which)["state"] == "approved"
        rec = read_json(case.record_path)
        assert rec["ApprovedVersion"] == ("v004" if case_no == 0 else "v002") and verify_case(case).ok
    for client in c.values():
        client.close()


def _users(svc: Service) -> dict[str, User]:
    with svc.read() as db:
        return {u.name: u for u in db.scalars(select(User))}


def _upload_and_submit(svc: Service, user: User, name: str, slices) -> dict:
    spool = save_stream_to(svc, [brain_mask_bytes(svc.cases_dir / name, slices=slices)])
    try:
        store_upload(svc, user, name, spool.path, svc.claims.info(user, name)["etag"])
    finally:
        spool.close()
    return svc.claims.submit(user, name)


def test_a_third_read_only_when_the_first_two_disagree(tmp_path, db_url, philips_template):
    svc = make_project(tmp_path / "p", db_url, philips_template, n_cases=2, readers=3, more_reads_below=0.9)
    for n in ("ann1", "ann2", "ann3"):
        admin.add_user(svc, n, "annotator")
    svc = Service(svc.root)
    u = _users(svc)
    # the first case: two reads agreeing at Dice 1.0 (>= 0.9), submitted with two
    agree = svc.claims.claim_next(u["ann1"])["case"]
    assert svc.claims.claim_next(u["ann2"])["case"] == agree
    assert _upload_and_submit(svc, u["ann1"], agree, (10, 11, 12))["state"] == "in_progress"
    assert _upload_and_submit(svc, u["ann2"], agree, (10, 11, 12))["state"] == "submitted"
    # the second case: the first two reads share 1 of 5 slices (Dice well below 0.9): a third read is offered
    other = svc.claims.claim_next(u["ann3"])["case"]
    assert other != agree  # the agreeing case has no third slot
    assert svc.claims.claim_next(u["ann1"])["case"] == other
    assert _upload_and_submit(svc, u["ann3"], other, (8, 9, 10, 11, 12))["state"] == "in_progress"
    assert _upload_and_submit(svc, u["ann1"], other, (12, 13, 14, 15, 16))["state"] == "in_progress"
    third = svc.claims.claim_next(u["ann2"])
    assert third["case"] == other and third["read"] == 3 and third["readers"] == 3
    with pytest.raises(NotFound):  # nothing else to read: ann3 and ann1 read both cases already
        svc.claims.claim_next(u["ann3"])
    assert _upload_and_submit(svc, u["ann2"], other, (10, 11, 12, 13, 14))["state"] == "submitted"
    rec = read_json(svc.cases_dir / other / "case.json")
    assert len(rec["Events"][-1]["Reads"]) == 3 and len(rec["Events"][-1]["Fusion"]["Readers"]) == 3
    first = read_json(svc.cases_dir / agree / "case.json")["Events"][-1]
    assert first["Action"] == "submitted" and len(first["Reads"]) == 2
    with svc.read() as db:
        rows = {r.name: r for r in db.scalars(select(CaseRow))}
        assert (rows[agree].readers, rows[other].readers) == (2, 3)


def test_slots_unique_under_parallel_claims(tmp_path, db_url, philips_template):
    """Annotators claim one 3-reader case at once, round after round: every slot goes to one reader only.

    A claim that finds the case locked by another claim skips it (PostgreSQL: SKIP LOCKED) and is told
    that nothing waits; the next round's claims take the free slots.
    """
    svc = make_project(tmp_path / "p", db_url, philips_template, n_cases=1, readers=3)
    names = [f"ann{i}" for i in range(6)]
    for n in names:
        admin.add_user(svc, n, "annotator")
    svc = Service(svc.root)
    u = _users(svc)
    got: dict[str, int] = {}
    errors: list[Exception] = []

    def claim(who: str, start: threading.Barrier) -> None:
        start.wait()
        try:
            got[who] = svc.claims.claim_next(u[who])["read"]
        except NotFound:
            pass  # the case was locked by another claim, or full
        except Exception as exc:  # noqa: BLE001 - any other failure (a slot taken twice) fails the test
            errors.append(exc)

    for _ in range(6):
        waiting = [n for n in names if n not in got]
        start = threading.Barrier(len(waiting))
        threads = [threading.Thread(target=claim, args=(n, start)) for n in waiting]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors and len(set(got.values())) == len(got)  # never one slot twice
        if len(got) == 3:
            break
    assert sorted(got.values()) == [1, 2, 3]
    with svc.read() as db:
        slots = [r.slot for r in db.scalars(select(Read).where(Read.status == "open"))]
    assert sorted(slots) == [1, 2, 3]
    with pytest.raises(NotFound):  # the case is full
        svc.claims.claim_next(u[next(n for n in names if n not in got)])
    # the database itself refuses a second standing read of a slot
    with pytest.raises(IntegrityError), svc.tx() as db:
        case_id = db.scalar(select(CaseRow.id))
        db.add(Read(case_id=case_id, user_id=u["ann0"].id, slot=2, status="submitted", claimed=utcnow()))
        db.flush()


def test_readers_checked(tmp_path, philips_template):
    from ctlabel.team.errors import Invalid

    with pytest.raises(Invalid, match="1 to 16"):
        make_project(tmp_path / "p", None, philips_template, readers=0)
    svc = make_project(tmp_path / "q", None, philips_template, readers=3, more_reads_below=0.8, fusion="vote")
    with svc.read() as db:
        s = svc.settings(db)
        assert (s.readers, s.more_reads_below, s.fusion) == (3, 0.8, "vote")
