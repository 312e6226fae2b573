"""Acceptance by a review policy (``ctlabel.case.accept``): the ``accepted`` state, its transitions, verify, exports.

Cases are the real Philips 5 mm head CT, converted, painted and submitted; one is accepted by the
policy (the figures recorded), which a reviewer may still approve, reject or correct, which is
exported marked as accepted by the policy, and which ``reviewed_only`` leaves out.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from data_paths import ROOT

import ctlabel
from ctlabel.case import reads, review
from ctlabel.case.accept import POLICY_ACTOR, accept_by_policy
from ctlabel.case.folder import Case
from ctlabel.case.record import load_record
from ctlabel.case.verify import verify_case
from ctlabel.errors import StateError
from ctlabel.export.run import ExportOptions, export_dataset
from ctlabel.measure.accuracy import Score, accuracy
from ctlabel.measure.review_policy import ReviewPolicy, decide

PHILIPS = ROOT / "sample_data" / "philips_ct_5mm"


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("accept_tpl")
    rep = ctlabel.convert([PHILIPS], out, jobs=1, progress=False, options=ctlabel.ConvertOptions())
    assert rep.ok
    return Path(rep.converted[0]["case"])


def _submitted(template: Path, root: Path, name: str) -> Case:
    dest = root / name
    shutil.copytree(template, dest)
    case = Case.open(dest)
    grid = case.image_grid()
    labels = np.zeros(grid.shape, np.uint8)
    n = grid.shape[0]
    labels[n // 2 - 2:n // 2 + 2, 100:160, 100:160] = 1
    review.save_draft(case, labels, grid, "ann", annotator="ann", painted={1: list(range(n // 2 - 2, n // 2 + 2))})
    review.submit(case, "ann", force=True)
    return case


def _decision():
    policy = ReviewPolicy(min_gold=3, min_accuracy=0.8, review_rate=0.0, fail_below=0.7)
    acc = {1: accuracy("ann", 1, [Score(d, f"2026-01-0{i + 1}") for i, d in enumerate((0.93, 0.95, 0.94))], [])}
    decision = decide(policy, acc, 3, {1}, draw=0.42)
    assert decision.accepted
    return policy, decision


def test_accepted_case_records_its_figures_verifies_and_a_reviewer_can_still_decide(template, tmp_path):
    policy, decision = _decision()
    case = _submitted(template, tmp_path / "cases", "one")
    with pytest.raises(StateError, match="not a single submission by bob"):
        accept_by_policy(case, "bob", policy.as_json(), decision.as_json())
    assert accept_by_policy(case, "ann", policy.as_json(), decision.as_json()) == 1
    record = load_record(case)
    ev = record["Events"][-1]
    assert record["State"] == "accepted" and record.get("ApprovedVersion") is None
    assert (ev["Who"], ev["Role"], ev["Action"], ev["Version"]) == (POLICY_ACTOR, "system", "accepted", "v001")
    assert ev["Annotator"] == "ann" and ev["Policy"] == policy.as_json()
    assert ev["Decision"]["accuracy"]["1"]["low"] == round(decision.accuracy[1]["low"], 4)
    assert ev["Decision"]["gold_since_failure"] == 3 and ev["Decision"]["draw"] == 0.42
    assert ev["VoxelSHA256"] == case.load_version(1).voxel_hash and "Files" in ev
    assert verify_case(case).ok
    # not editable, not withdrawn, not accepted twice, not resubmitted
    grid = case.image_grid()
    with pytest.raises(StateError, match="accepted and awaits review"):
        review.save_draft(case, np.zeros(grid.shape, np.uint8), grid, "ann")
    with pytest.raises(StateError, match="policy accepted it already"):
        reads.withdraw(case, "ann")
    with pytest.raises(StateError, match="cannot accept"):
        accept_by_policy(case, "ann", policy.as_json(), decision.as_json())
    # a reviewer pulls it and rejects it: back to the annotator, as a reviewed rejection
    review.reject(case, "rev", "the brain leaks into the skull")
    assert load_record(case)["State"] == "rejected" and verify_case(case).ok

    other = _submitted(template, tmp_path / "cases", "two")
    accept_by_policy(other, "ann", policy.as_json(), decision.as_json())
    review.approve(other, "rev")
    assert load_record(other)["State"] == "approved" and verify_case(other).ok


def test_export_marks_an_accepted_case_and_reviewed_only_leaves_it_out(template, tmp_path):
    policy, decision = _decision()
    root = tmp_path / "cases"
    accepted = _submitted(template, root, "accepted")
    accept_by_policy(accepted, "ann", policy.as_json(), decision.as_json())
    approved = _submitted(template, root, "approved")
    review.approve(approved, "rev")
    acc_ev = load_record(accepted)["Events"][-1]
    for fmt in ("nnunet", "monai", "bids"):
        rep = export_dataset([root], tmp_path / fmt, ExportOptions(fmt=fmt))
        assert rep.ok, rep.to_dict()
        by_case = {Path(e["case"]).name: e for e in rep.exported}
        assert by_case["accepted"]["review"] == "accepted-by-policy" and by_case["approved"]["review"] == "reviewer"
        manifest = json.loads((tmp_path / fmt / "ctlabel_manifest.json").read_text())
        entries = {e["Case"]: e for e in manifest["Cases"]}
        a, b = entries["accepted"], entries["approved"]
        assert a["Approved"] is True and a["Review"] == "accepted-by-policy" and a["Reviewer"] is None
        assert a["AcceptedByPolicy"] == {"Annotator": "ann", "Policy": acc_ev["Policy"],
                                         "Decision": acc_ev["Decision"]}
        assert a["ApprovedAt"] == acc_ev["When"] and a["Version"] == "v001"
        assert b["Review"] == "reviewer" and b["Reviewer"] == "rev" and b["AcceptedByPolicy"] is None
        if fmt == "bids":  # the label sidecars say which was seen by a reviewer
            texts = sorted(json.loads(p.read_text())["Description"] for p in (tmp_path / fmt).rglob("*dseg.json"))
            assert len(texts) == 2 and "not seen by a reviewer" in texts[0] and "(approved by a reviewer)" in texts[1]
    rep = export_dataset([root], tmp_path / "reviewed", ExportOptions(fmt="nnunet", reviewed_only=True))
    assert [Path(e["case"]).name for e in rep.exported] == ["approved"]
    assert len(rep.refused) == 1 and "accepted by the review policy" in rep.refused[0]["reason"]
    assert rep.refused[0]["options"] == ["reviewed_only"]
