"""Withdrawing a submission before review (SQLite and PostgreSQL): the core transition, the server's
refusals once a reviewer holds or corrected the case, and the pay (a withdrawn submission is no item)."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select
from team_helpers import brain_mask_bytes, make_project, read_json

from ctlabel.case import reads, review
from ctlabel.case.folder import Case
from ctlabel.case.verify import verify_case
from ctlabel.errors import StateError
from ctlabel.team import admin, uploads
from ctlabel.team.db import Event, User
from ctlabel.team.errors import Conflict, Forbidden
from ctlabel.team.report import report


def _upload(svc, user, name: str, body: bytes) -> dict:
    spool = uploads.save_stream_to(svc, [body])
    try:
        return uploads.store_upload(svc, user, name, spool.path, uploads.current_etag(svc.folder(
            _row(svc, name))))
    finally:
        spool.close()


def _row(svc, name: str):
    with svc.tx() as db:
        return svc.get_case(db, name)


def test_withdraw_after_submit(tmp_path, db_url, philips_template):
    svc = make_project(tmp_path / "p", db_url, philips_template, n_cases=1)
    for n, r in (("ann", "annotator"), ("ann2", "annotator"), ("rev", "reviewer")):
        admin.add_user(svc, n, r)
    admin.set_rates(svc, {"annotation": 500, "rework": 100, "review": 50})
    with svc.tx() as db:
        ann, ann2, rev = (db.scalar(select(User).where(User.name == n)) for n in ("ann", "ann2", "rev"))
    name = svc.claims.claim_next(ann)["case"]
    case = Case.open(svc.cases_dir / name)
    _upload(svc, ann, name, brain_mask_bytes(case.root))
    assert svc.claims.submit(ann, name)["state"] == "submitted"

    # somebody else cannot withdraw it; its annotator can, while no reviewer holds it
    with pytest.raises(Forbidden):
        svc.claims.withdraw(ann2, name)
    out = svc.claims.withdraw(ann, name)
    assert out["withdrawn"] and out["state"] == "in_progress" and out["annotator"] == "ann"
    rec = read_json(case.record_path)
    assert rec["State"] == "in_progress" and rec["Events"][-1]["Action"] == "withdrawn"
    assert rec["Events"][-1]["Version"] == "v001"
    assert np.array_equal(case.load_draft().array, case.load_version(1).array)  # the draft is back
    assert verify_case(case).ok

    # the annotator edits and submits again: a new version, no resubmission (nothing was rejected)
    body = brain_mask_bytes(case.root, slices=(9, 10, 11, 12, 13, 14))
    _upload(svc, ann, name, body)
    svc.claims.submit(ann, name)
    with svc.tx() as db:
        last = db.scalar(select(Event).where(Event.kind == "submit").order_by(Event.id.desc()))
        assert last.detail["version"] == "v002" and last.detail["resubmission"] is False

    # a reviewer's correction ends the right to withdraw (the core refuses), and so does a review claim
    fixed = case.load_version(2)
    labels = fixed.array.copy()
    labels[12, :5, :5] = 1
    review.correct(case, labels, fixed.grid, "rev")
    with pytest.raises(StateError, match="corrected"):
        reads.withdraw(case, "ann")
    with pytest.raises(Conflict, match="corrected"):
        svc.claims.withdraw(ann, name)
    assert svc.reviews.review_next(rev)["case"] == name
    with pytest.raises(Conflict, match="reviewer has claimed"):
        svc.claims.withdraw(ann, name)
    assert svc.reviews.approve(rev, name)["state"] == "approved"
    with pytest.raises(Conflict):
        svc.claims.withdraw(ann, name)  # decided: nothing to withdraw
    assert verify_case(case).ok

    # pay: one annotation item, no rework; the withdrawn submission is not counted as submitted
    me = {p["user"]: p for p in report(svc)["people"]}["ann"]
    assert (me["submitted"], me["resubmitted"], me["items"]["annotation"], me["items"]["rework"]) == (1, 0, 1, 0)
    assert me["owed_cents"] == 500


def test_withdraw_in_the_core(tmp_path, philips_template):
    import shutil

    root = tmp_path / "c"
    shutil.copytree(philips_template, root)
    case = Case.open(root)
    grid = case.image_grid()
    labels = np.zeros(grid.shape, np.uint8)
    labels[5, 10:20, 10:20] = 1
    review.save_draft(case, labels, grid, "anna")
    with pytest.raises(StateError, match="no submission to withdraw"):
        reads.withdraw(case, "anna")
    review.submit(case, "anna", force=True)
    with pytest.raises(StateError, match="did not submit"):
        reads.withdraw(case, "bert")
    assert reads.withdraw(case, "anna") == 1
    review.submit(case, "anna", force=True)
    review.reject(case, "rita", "more")
    with pytest.raises(StateError, match="it is rejected"):
        reads.withdraw(case, "anna")
    assert [e["Action"] for e in read_json(case.record_path)["Events"]][-5:] == [
        "saved", "submitted", "withdrawn", "submitted", "rejected"]
    assert verify_case(case).ok
