"""The review policy (docs/quality.md): trust from real gold scores, acceptance without review with its figures
in case.json, the sampled review rate, trust taken away by a failed gold and by a rejection, a reviewer pulling
an accepted case, the stage count and the export's mark. SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from team_helpers import brain_mask_bytes, make_project

from ctlabel.case.folder import Case
from ctlabel.case.verify import verify_case
from ctlabel.export.run import ExportOptions, export_dataset
from ctlabel.team import admin, console_data, uploads
from ctlabel.team.db import Event, User
from ctlabel.team.report import report
from ctlabel.team.service import Invalid, NotFound


def _user(svc, name: str) -> User:
    with svc.read() as db:
        u = db.scalar(select(User).where(User.name == name))
        db.expunge(u)
        return u


def _work(svc, tmp: Path, ann: User, slices=(10, 11, 12, 13, 14)) -> dict:
    """``ann`` claims (a case, rework or a gold serving), uploads a brain mask of ``slices`` and submits it."""
    info = svc.claims.claim_next(ann)
    name = info["case"]
    body = tmp / f"{name}-{ann.name}-{len(info['versions'])}.nii.gz"
    body.write_bytes(brain_mask_bytes(svc.cases_dir / name, slices=slices))
    uploads.store_upload(svc, ann, name, body, info["etag"])
    return svc.claims.submit(ann, name)


def _last_submit(svc, name: str) -> dict:
    with svc.read() as db:
        from ctlabel.team.db import CaseRow

        case_id = db.scalar(select(CaseRow.id).where(CaseRow.name == name))
        ev = db.scalar(select(Event).where(Event.case_id == case_id, Event.kind == "submit").order_by(Event.id.desc()))
        return ev.detail


def test_trust_acceptance_sampling_and_losing_trust(tmp_path, db_url, philips_template):
    svc = make_project(tmp_path / "p", db_url, philips_template, n_cases=7)
    for name in ("ann0", "ann1", "ann2"):
        admin.add_user(svc, name, "annotator")
    admin.add_user(svc, "rev", "reviewer")
    ann0, ann1, ann2, rev = (_user(svc, n) for n in ("ann0", "ann1", "ann2", "rev"))
    svc.gold.rng, svc.policy.rng = random.Random(5), random.Random(11)
    assert not svc.policy.setting().enabled  # off by default
    with pytest.raises(Invalid, match="review_rate"):
        svc.policy.set(review_rate=1.5)

    # three approved cases become gold; ann1 and ann2 each score two of them well (the reference's slices)
    golds = []
    for _ in range(3):
        name = _work(svc, tmp_path, ann0)["case"]
        svc.reviews.review_next(rev)
        svc.reviews.approve(rev, name)
        golds.append(name)
    svc.gold.add(golds, by="lead")
    svc.gold.set_rate(1.0)
    for ann in (ann1, ann2, ann1, ann2):
        _work(svc, tmp_path, ann)
    svc.gold.wait(60)
    svc.gold.set_rate(0.0)
    setting = svc.policy.set(min_gold=2, min_accuracy=0.9, review_rate=0.0, fail_below=0.8, by="lead")
    assert setting.enabled and setting.policy.min_gold == 2
    policy = setting.policy
    assert svc.policy.gold_since_failure(ann1, policy) == 2 and svc.policy.gold_since_failure(ann0, policy) == 0

    # untrusted (no gold): reviewed, the reason in the team's submit event
    out = _work(svc, tmp_path, ann0)
    untrusted = out["case"]
    assert out["state"] == "submitted"
    detail = _last_submit(svc, untrusted)["policy"]
    assert detail["accepted"] is False and "0 of 2 gold cases" in detail["reason"]

    # trusted, review rate 0: accepted, with the figures in case.json, and verify passes
    out = _work(svc, tmp_path, ann1)
    accepted = out["case"]
    assert out["state"] == "accepted"
    case = Case.open(svc.cases_dir / accepted)
    rec = json.loads(case.record_path.read_text())
    ev = rec["Events"][-1]
    assert (rec["State"], ev["Action"], ev["Role"], ev["Annotator"]) == ("accepted", "accepted", "system", "ann1")
    assert ev["Policy"] == policy.as_json() and ev["Decision"]["gold_since_failure"] == 2
    low = ev["Decision"]["accuracy"]["1"]["low"]
    assert ev["Decision"]["accepted"] and low >= 0.9 and ev["Decision"]["draw"] is not None
    assert verify_case(case).ok
    cli = subprocess.run([sys.executable, "-m", "ctlabel", "verify", str(case.root)], capture_output=True, text=True)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    with svc.read() as db:
        kinds = [k for (k,) in db.execute(select(Event.kind).where(Event.kind == "policy_accept"))]
    assert kinds == ["policy_accept"]
    assert console_data.progress(svc).stages["accepted"] == 1  # never hidden: counted in the console
    assert svc.reviews.review_next(rev)["case"] == untrusted  # the normal queue: ann0's, not the accepted one
    svc.reviews.approve(rev, untrusted)
    with pytest.raises(NotFound, match="no submitted case"):
        svc.reviews.review_next(rev)
    rep = export_dataset([svc.cases_dir / accepted], tmp_path / "x", ExportOptions(fmt="nnunet"))
    assert [e["review"] for e in rep.exported] == ["accepted-by-policy"]
    rep = export_dataset([svc.cases_dir / accepted], tmp_path / "y", ExportOptions(fmt="nnunet", reviewed_only=True))
    assert not rep.exported and "review policy" in rep.refused[0]["reason"]

    # trusted, review rate 1: sampled for review
    svc.policy.set(review_rate=1.0)
    out = _work(svc, tmp_path, ann2)
    assert out["state"] == "submitted" and "sampled for review" in _last_submit(svc, out["case"])["policy"]["reason"]
    svc.policy.set(review_rate=0.0)

    # a reviewer pulls the accepted case and rejects it: ann1 is no longer trusted
    pulled = svc.reviews.review_next(rev, accepted=True)
    assert pulled["case"] == accepted
    svc.reviews.reject(rev, accepted, "the brain stops short of the top slices")
    assert svc.policy.gold_since_failure(ann1, policy) == 0
    out = _work(svc, tmp_path, ann1)  # the rework, resubmitted
    assert out["case"] == accepted and out["state"] == "submitted"
    assert "0 of 2 gold cases since the last failure" in _last_submit(svc, accepted)["policy"]["reason"]

    # paid once: the acceptance paid ann1's annotation; the approval after the rework pays the rework, not it again
    def items(name: str) -> dict:
        return next(p["items"] for p in report(svc)["people"] if p["user"] == name)

    assert items("ann1") == {"annotation": 1, "review": 0, "rework": 0, "gold": 2}
    while (waiting := svc.reviews.review_next(rev)["case"]) != accepted:
        svc.reviews.approve(rev, waiting)
    reviewed_before = items("rev")["review"]
    svc.reviews.approve(rev, accepted)
    assert items("ann1") == {"annotation": 1, "review": 0, "rework": 1, "gold": 2}
    assert items("rev")["review"] == reviewed_before + 2  # the approval and the rejection before it

    # ann2 fails a gold case (brain on other slices): no longer trusted either
    svc.gold.set_rate(1.0)
    served = _work(svc, tmp_path, ann2, slices=(1, 2, 3))
    assert served["case"] not in golds
    svc.gold.wait(60)
    svc.gold.set_rate(0.0)
    assert svc.policy.gold_since_failure(ann2, policy) == 0
    out = _work(svc, tmp_path, ann2)
    assert out["state"] == "submitted" and "0 of 2 gold" in _last_submit(svc, out["case"])["policy"]["reason"]

    # off again: nothing is decided (no policy note)
    svc.policy.set(enabled=False)
    assert not svc.policy.setting().enabled and svc.policy.setting().policy.min_gold == 2


def test_the_command_shows_sets_and_turns_it_off(tmp_path):
    make_project(tmp_path / "p", None).engine.dispose()

    def run(*args):
        return subprocess.run([sys.executable, "-m", "ctlabel", "team", "review-policy", str(tmp_path / "p"), *args],
                              capture_output=True, text=True, timeout=120)

    shown = run("--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["enabled"] is False
    set_ = run("--min-gold", "3", "--min-accuracy", "0.9", "--review-rate", "0.2", "--json")
    assert set_.returncode == 0
    got = json.loads(set_.stdout)
    assert (got["enabled"], got["min_gold"], got["min_accuracy"], got["review_rate"]) == (True, 3, 0.9, 0.2)
    off = run("--off")
    assert off.returncode == 0 and "off (every submission is reviewed)" in off.stdout
    assert json.loads(run("--json").stdout)["min_gold"] == 3  # the settings stay while off
    bad = run("--review-rate", "2")
    assert bad.returncode == 1 and "review_rate must be in [0, 1]" in bad.stderr + bad.stdout
