"""Gold-standard cases (docs/quality.md): served at the gold rate, indistinguishable, never twice, never to
their author, scored against the reference on submit, kept out of review and export, paid. SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from team_helpers import brain_mask_bytes, make_project

from ctlabel.case.naming import case_folder_name
from ctlabel.team import admin, uploads
from ctlabel.team import report as reporting
from ctlabel.team.db import User
from ctlabel.team.gold_scores import gold_scores, gold_summary
from ctlabel.team.service import NotFound


def _user(svc, name: str) -> User:
    with svc.read() as db:
        from sqlalchemy import select

        u = db.scalar(select(User).where(User.name == name))
        db.expunge(u)
        return u


def _annotate(svc, tmp: Path, ann: User, slices=(10, 11, 12, 13, 14)) -> str:
    """``ann`` claims a case, uploads a brain mask of ``slices`` and submits it; the case id."""
    info = svc.claims.claim_next(ann)
    name = info["case"]
    body = tmp / f"{name}-{ann.name}.nii.gz"
    body.write_bytes(brain_mask_bytes(svc.cases_dir / name, slices=slices))
    uploads.store_upload(svc, ann, name, body, info["etag"])
    svc.claims.submit(ann, name)
    return name


def _approved(svc, tmp: Path, ann: User, rev: User) -> str:
    name = _annotate(svc, tmp, ann)
    assert svc.reviews.review_next(rev)["case"] == name
    svc.reviews.approve(rev, name)
    return name


def _project(tmp_path, db_url, philips_template, n_cases: int, annotators: int):
    svc = make_project(tmp_path / "p", db_url, philips_template, n_cases=n_cases)
    for i in range(annotators):
        admin.add_user(svc, f"ann{i}", "annotator")
    admin.add_user(svc, "rev", "reviewer")
    return svc


def test_a_gold_case_is_served_unrecognisably_scored_paid_and_kept_out(tmp_path, db_url, philips_template):
    svc = _project(tmp_path, db_url, philips_template, n_cases=3, annotators=3)
    svc.gold.rng = random.Random(5)
    ann0, ann1, ann2, rev = (_user(svc, n) for n in ("ann0", "ann1", "ann2", "rev"))
    gold = _approved(svc, tmp_path, ann0, rev)
    with pytest.raises(Exception, match="only an approved case"):
        svc.gold.add(["philips_template"[:0] + sorted(p.name for p in svc.cases_dir.iterdir() if p.name != gold
                                                     and not p.name.startswith("."))[0]])
    assert svc.gold.add([gold], by="lead")[0]["author"] == "ann0"
    svc.gold.set_rate(1.0)
    admin.set_rates(svc, {"annotation": 500})

    # the author is never served it: ann0 gets a normal case at rate 1
    mine = svc.claims.claim_next(ann0)
    assert mine["case"] != gold and not (svc.cases_dir / mine["case"] / "case.json").read_text().count("GoldServing")
    # ann1 is served the gold case under a fresh id, with a normal case's answer
    served = svc.claims.claim_next(ann1)
    name = served["case"]
    assert name not in (gold, mine["case"]) and set(served) == set(mine)
    assert {k: served[k] for k in ("state", "etag", "versions", "readers", "reason", "priority", "flagged")} == \
        {k: mine[k] for k in ("state", "etag", "versions", "readers", "reason", "priority", "flagged")}
    src, dst = svc.cases_dir / gold, svc.cases_dir / name
    assert sorted(p.name for p in dst.iterdir()) == sorted(p.name for p in (svc.cases_dir / mine["case"]).iterdir())
    assert list((dst / "masks").iterdir()) == []
    assert (dst / "ct.nii.gz").read_bytes() == (src / "ct.nii.gz").read_bytes()
    assert (dst / "labels.tsv").read_bytes() == (src / "labels.tsv").read_bytes()
    for f in ("ct.nii.gz", "ct.json", "labels.tsv"):  # a download's Last-Modified is the source's
        assert (dst / f).stat().st_mtime_ns == (src / f).stat().st_mtime_ns
    a, b = json.loads((src / "ct.json").read_text()), json.loads((dst / "ct.json").read_text())
    sa, sb = a["Source"], b["Source"]
    pairs = {sa[k]: sb[k] for k in ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID")}
    pairs.update({x["SOPInstanceUID"]: y["SOPInstanceUID"] for x, y in zip(sa["Slices"], sb["Slices"])})
    assert all(old != new and new.rsplit(".", 2)[0] == old.rsplit(".", 2)[0] and len(new) == len(old)
               for old, new in pairs.items())
    text = (src / "ct.json").read_text()
    for old, new in pairs.items():
        text = text.replace(old, new)
    assert text == (dst / "ct.json").read_text()  # byte for byte but the UIDs
    # the id is what conversion would name that ct.json (as it is for the source's converted name)
    for side, folder in ((sa, philips_template.name), (sb, name)):
        inst = [(s["SOPInstanceUID"], s["Frame"], s["ImagePositionPatient"]) for s in side["Slices"]]
        assert case_folder_name(side["StudyInstanceUID"], side["SeriesInstanceUID"], side["SeriesNumber"],
                                inst) == folder
    assert svc.claims.info(ann1, name)["case"] == name
    with pytest.raises(NotFound):  # never listed or shown to a reviewer
        svc.claims.info(rev, name)

    # submitted: scored against the reference (slices 10..14) with slices 12..18 painted
    body = tmp_path / "gold.nii.gz"
    body.write_bytes(brain_mask_bytes(dst, slices=(12, 13, 14, 15, 16, 17, 18)))
    uploads.store_upload(svc, ann1, name, body, served["etag"])
    out = svc.claims.submit(ann1, name)
    assert out["state"] == "submitted" and out["versions"] == ["v001"]
    svc.gold.wait(30)
    ref = np.asanyarray(nib.load(src / "masks" / "v001_dseg.nii.gz").dataobj) == 1
    sub = np.asanyarray(nib.load(dst / "masks" / "v001_dseg.nii.gz").dataobj) == 1
    zooms = nib.load(src / "ct.nii.gz").header.get_zooms()[:3]
    from scipy import ndimage

    def surface(m):
        return m & ~ndimage.binary_erosion(m, ndimage.generate_binary_structure(3, 1), border_value=0)

    d = np.concatenate([ndimage.distance_transform_edt(~surface(sub), sampling=zooms)[surface(ref)],
                        ndimage.distance_transform_edt(~surface(ref), sampling=zooms)[surface(sub)]])
    [row] = gold_scores(svc, user="ann1")
    voxel_ml = float(np.prod(zooms)) / 1000
    assert (row.gold_case, row.serving, row.reference, row.label) == (gold, name, "v001", 1)
    assert row.dice == pytest.approx(2 * (ref & sub).sum() / (ref.sum() + sub.sum()), abs=1e-4) and row.dice < 1
    assert row.hd95_mm == pytest.approx(float(np.percentile(d, 95)), abs=1e-3) and row.hd95_mm > 0
    assert row.volume_ref_ml == pytest.approx(ref.sum() * voxel_ml, abs=1e-4)
    assert row.volume_diff_ml == pytest.approx((sub.sum() - ref.sum()) * voxel_ml, abs=1e-4)
    assert gold_summary(svc)[0]["n"] == 1
    rec = json.loads((dst / "case.json").read_text())
    assert rec["GoldServing"]["Source"] == gold and rec["GoldServing"]["Score"]["Labels"][0]["dice"] == \
        pytest.approx(row.dice, abs=1e-4)

    # never reviewed, never twice to ann1, paid (annotation rate while the gold rate is unset)
    with pytest.raises(NotFound):
        svc.reviews.review_next(rev)
    again = svc.claims.claim_next(ann1)
    assert again["case"] != name and not json.loads((svc.cases_dir / again["case"] / "case.json").read_text()).get(
        "GoldServing")
    people = {p["user"]: p for p in reporting.report(svc)["people"]}
    assert people["ann1"]["items"]["gold"] == 1 and people["ann1"]["owed_cents"] == 500
    admin.set_rates(svc, {"gold": 700})
    assert {p["user"]: p for p in reporting.report(svc)["people"]}["ann1"]["owed_cents"] == 700

    # export: the serving is refused, the gold case exported
    from ctlabel.export.run import ExportOptions, export_dataset

    rep = export_dataset([svc.cases_dir], tmp_path / "out", ExportOptions(fmt="nnunet", include_unapproved=True))
    text = json.dumps(rep.to_dict())
    assert "gold-standard case" in text and name in text
    refused = [r for r in rep.to_dict().get("refused", rep.to_dict().get("skipped", [])) if name in json.dumps(r)]
    assert refused, rep.to_dict()
    shutil.rmtree(tmp_path / "out")


def test_gold_is_served_at_the_rate_never_twice_never_to_those_who_made_it(tmp_path, db_url, philips_template):
    golds, annotators, claims_each, rate = 4, 10, 6, 0.25
    svc = _project(tmp_path, db_url, philips_template, n_cases=golds + 1, annotators=annotators)
    svc.gold.rng = random.Random(2024)
    rev = _user(svc, "rev")
    anns = [_user(svc, f"ann{i}") for i in range(annotators)]
    made = [_approved(svc, tmp_path, anns[i % 2], rev) for i in range(golds)]  # by ann0 and ann1
    svc.gold.add(made)
    svc.gold.set_rate(rate)
    served: list[tuple[str, str]] = []
    for _ in range(claims_each):
        for ann in anns:
            info = svc.claims.claim_next(ann)
            rec = json.loads((svc.cases_dir / info["case"] / "case.json").read_text())
            if rec.get("GoldServing"):
                served.append((ann.name, rec["GoldServing"]["Source"]))
            svc.claims.withdraw(ann, info["case"])
    n = claims_each * annotators
    assert len(set(served)) == len(served)  # nobody got the same gold twice
    author = {g: f"ann{i % 2}" for i, g in enumerate(made)}
    assert not [s for s in served if author[s[1]] == s[0]]  # never to the annotator of the reference
    # ann2..ann9: 8 x 6 claims at 0.25, each with 4 golds to get: binomial, mean 12, sd 3.0 (seeded)
    others = (annotators - 2) * claims_each
    got = len([s for s in served if s[0] not in ("ann0", "ann1")])
    assert abs(got - rate * others) <= 3 * (others * rate * (1 - rate)) ** 0.5, (got, others, n)
    assert len(served) > 0


def test_the_gold_commands_and_user_with_project_first(tmp_path, philips_template, capsys):
    from ctlabel.cli.main import main

    svc = make_project(tmp_path / "p", None, philips_template, n_cases=1)
    project = str(svc.root)

    def cli(*argv) -> tuple[int, str]:
        capsys.readouterr()
        rc = main(list(argv))
        got = capsys.readouterr()
        return rc, got.out if rc == 0 else got.out + got.err

    assert cli("team", "user", "add", project, "bob", "--role", "annotator")[0] == 0  # PROJECT first
    assert cli("team", "user", "add", "eve", project, "--role", "annotator")[0] == 0  # PROJECT last
    assert sorted(_user(svc, n).name for n in ("bob", "eve")) == ["bob", "eve"]
    rc, text = cli("team", "gold", "rate", project, "0.05", "--json")
    assert rc == 0 and json.loads(text) == {"rate": 0.05} and svc.gold.rate() == 0.05
    case = next(p.name for p in svc.cases_dir.iterdir() if not p.name.startswith("."))
    rc, text = cli("team", "gold", "add", project, case)
    assert rc == 1 and "only an approved case can be gold" in text
    rc, text = cli("team", "gold", "list", project, "--json")
    assert rc == 0 and json.loads(text) == {"gold": [], "rate": 0.05}
    rc, text = cli("team", "rates", project, "--annotation", "400", "--json")
    assert json.loads(text)["gold"] == 400  # never set: the annotation rate
    rc, text = cli("team", "rates", project, "--gold", "900", "--json")
    assert json.loads(text) == {"annotation": 400, "review": 0, "rework": 0, "gold": 900}
