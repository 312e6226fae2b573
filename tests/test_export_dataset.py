"""``ctlabel export-dataset``: approved versions out to nnU-Net v2, MONAI and BIDS, with a manifest.

Cases are built from the real Philips 5 mm head CT (one copy with a slice removed, so it
is padded) and the real GE gantry-tilted series: converted, painted with a label table
whose values have a gap (1 and 5), submitted and approved; one more is submitted only.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from data_paths import GE_TILT, ROOT

import ctlabel
from ctlabel.case import record as case_record
from ctlabel.case import review
from ctlabel.case.folder import Case
from ctlabel.geometry import is_sheared, orthonormal_affine
from ctlabel.io.labels import Label, LabelTable
from ctlabel.volume import voxel_hash

PHILIPS = ROOT / "sample_data" / "philips_ct_5mm"
TABLE = LabelTable((Label(1, "brain", "BRN", "#dd8265", "soft_tissue"),
                    Label(5, "lesion", "LES", "#32c8c8", "lesion")))


def run_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ctlabel", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


def _submit(case: Case, who: str) -> None:
    if "force" in inspect.signature(review.submit).parameters:
        review.submit(case, who, force=True)
    else:
        review.submit(case, who)


def _make_case(src: Path, work: Path, project: Path, salt: str, shift: int, stage: str = "approved") -> Case:
    """Convert ``src`` into ``project``, paint two labels (1 and 5), and take it to ``stage``."""
    rep = ctlabel.convert([src], work / salt, jobs=1, progress=False,
                          options=ctlabel.ConvertOptions(pseudonymize_salt=salt, label_table=TABLE))
    assert rep.ok and len(rep.converted) == 1, rep.to_dict()
    root = project / Path(rep.converted[0]["case"]).name
    shutil.move(rep.converted[0]["case"], root)
    case = Case.open(root)
    grid = case.image_grid()
    n, rows, cols = grid.shape
    labels = np.zeros(grid.shape, np.uint8)
    mid = n // 2
    r0, c0 = rows // 2 - 40 + shift, cols // 2 - 40 + shift
    labels[mid - 3:mid + 2, r0:r0 + 60, c0:c0 + 60] = 1
    labels[mid - 1:mid + 1, r0 + 10:r0 + 30, c0 + 10:c0 + 30] = 5
    painted = {1: [mid - 3, mid + 1], 5: [mid - 1, mid]}
    interpolated = {1: [mid - 2, mid - 1, mid]}
    review.save_draft(case, labels, grid, "ann", annotator="ann", painted=painted, interpolated=interpolated)
    if stage in ("submitted", "approved"):
        _submit(case, "ann")
    if stage == "approved":
        review.approve(case, "rev")
    return case


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """Three approved Philips cases (one padded), one submitted, one draft only; a tilted GE case apart."""
    base = tmp_path_factory.mktemp("export")
    work, proj, tilted = base / "work", base / "project", base / "tilted"
    proj.mkdir()
    tilted.mkdir()
    gap = base / "philips_gap"
    gap.mkdir()
    for f in PHILIPS.iterdir():
        if f.name not in ("I140", "LICENSE_AND_SOURCE.txt"):
            shutil.copy(f, gap / f.name)
    cases = {
        "a": _make_case(PHILIPS, work, proj, "a", 0),
        "b": _make_case(PHILIPS, work, proj, "b", 15),
        "padded": _make_case(gap, work, proj, "padded", -10),
        "unapproved": _make_case(PHILIPS, work, proj, "unapproved", 5, "submitted"),
        "draft": _make_case(PHILIPS, work, proj, "draft", 20, "draft"),
        "tilted": _make_case(GE_TILT, work, tilted, "tilted", 0),
    }
    assert cases["padded"].image_record()["Geometry"]["MissingSlices"]
    assert is_sheared(cases["tilted"].image_grid().affine)
    return {"root": proj, "tilted_root": tilted, "cases": cases}


def _approved(project) -> list[Case]:
    return [project["cases"][k] for k in ("a", "b", "padded")]


def _manifest(out: Path) -> dict:
    return json.loads((out / "ctlabel_manifest.json").read_text())


def _check_entry(entry: dict, case: Case, approved: bool = True) -> None:
    """The manifest traces the exported case to its files and to the decision on it."""
    record = case_record.load_record(case)
    version = record["ApprovedVersion"] if approved else (f"v{case.versions()[-1]:03d}" if case.versions()
                                                          else "draft")
    mask = case.load_draft() if version == "draft" else case.load_version(int(version[1:]))
    img = case.image_record()
    assert entry["Case"] == case.root.name and entry["Version"] == version and entry["Approved"] is approved
    assert entry["MaskVoxelSHA256"] == mask.voxel_hash == mask.provenance.voxel_sha256
    assert entry["ImageVoxelSHA256"] == img["VoxelSHA256"] == record["ImageVoxelSHA256"]
    assert entry["LabelTableSHA256"] == hashlib.sha256(case.labels_path.read_bytes()).hexdigest()
    assert entry["Source"]["SeriesInstanceUID"] == img["Source"]["SeriesInstanceUID"]
    assert entry["Source"]["StudyInstanceUID"] == img["Source"]["StudyInstanceUID"]
    assert entry["Source"]["UIDsPseudonymized"] is True and "SeriesDescription" not in entry["Source"]
    assert entry["Annotator"] == "ann" and entry["CreatedBy"]["Who"] == "ann"
    assert entry["PaddedSlices"] == img["Geometry"].get("MissingSlices", [])
    if approved:
        ev = [e for e in record["Events"] if e["Action"] == "approved" and e["Version"] == version][-1]
        assert entry["Reviewer"] == ev["Who"] == "rev" and entry["ApprovedAt"] == ev["When"]
        assert entry["ApprovalEventSHA256"] == case_record.event_hash(ev)
        assert ev["VoxelSHA256"] == entry["MaskVoxelSHA256"]
    else:
        assert entry["Reviewer"] is None and entry["ApprovalEventSHA256"] is None


def _check_arrays(out: Path, entry: dict, case: Case, label_map: dict) -> None:
    """Exported labels are the approved version after the recorded remap, on the case image's affine."""
    mask = case.load_draft() if entry["Version"] == "draft" else case.load_version(int(entry["Version"][1:]))
    lut = np.zeros(max(int(k) for k in label_map) + 1, np.uint16)
    for k, v in label_map.items():
        lut[int(k)] = v
    img_case = nib.load(case.image_path)
    img_out = nib.load(out / entry["Files"]["image"])
    lab_out = nib.load(out / entry["Files"]["label"])
    assert np.allclose(img_out.affine, img_case.affine, atol=1e-5)
    assert np.allclose(lab_out.affine, img_case.affine, atol=1e-5)
    exported = np.asanyarray(lab_out.dataobj).T
    assert np.array_equal(exported, lut[mask.array])
    assert voxel_hash(exported, lab_out.affine) == entry["ExportedMaskVoxelSHA256"]
    image = np.asanyarray(img_out.dataobj).T
    assert np.array_equal(image, case.load_image().array)
    for k in entry["PaddedSlices"]:
        assert (image[k] == -1024).all()  # a padded slice stays, as air


def test_nnunet_export_refuses_unapproved_then_updates(project, tmp_path):
    out = tmp_path / "Dataset501_Brain"
    r = run_cli("export-dataset", project["root"], out, "--format", "nnunet", "--split", "2", "--json")
    assert r.returncode == 1, r.stderr  # the unapproved case is refused, the others exported
    rep = json.loads(r.stdout)
    unapproved, draft = project["cases"]["unapproved"], project["cases"]["draft"]
    assert sorted(x["case"] for x in rep["refused"]) == sorted([str(unapproved.root), str(draft.root)])
    for x in rep["refused"]:
        assert "not approved" in x["reason"] and "--include-unapproved" in x["reason"]
    approved = _approved(project)
    names = sorted(c.root.name for c in approved)
    assert sorted(e["id"] for e in rep["exported"]) == names
    assert sorted(p.name for p in (out / "imagesTr").iterdir()) == sorted(f"{n}_0000.nii.gz" for n in names)
    assert sorted(p.name for p in (out / "labelsTr").iterdir()) == sorted(f"{n}.nii.gz" for n in names)

    ds = json.loads((out / "dataset.json").read_text())
    assert ds["channel_names"] == {"0": "CT"} and ds["file_ending"] == ".nii.gz"
    assert ds["numTraining"] == len(names)
    assert ds["labels"]["background"] == 0
    values = sorted(ds["labels"].values())
    assert values == list(range(len(values)))  # consecutive, as nnU-Net requires
    assert {n for n in ds["labels"] if n != "background"} == {lab.name for lab in TABLE}

    man = _manifest(out)
    assert man["Format"] == "nnunet" and man["Consecutive"] is True
    assert {int(k): v for k, v in man["LabelMap"].items()} == {0: 0, **{lab.index: i for i, lab in
                                                                        enumerate(sorted(TABLE, key=lambda x: x.index),
                                                                                  1)}}
    for lab in TABLE:
        assert ds["labels"][lab.name] == man["LabelMap"][str(lab.index)]
    by_case = {e["Case"]: e for e in man["Cases"]}
    for case in approved:
        entry = by_case[case.root.name]
        _check_entry(entry, case)
        _check_arrays(out, entry, case, man["LabelMap"])
    padded = by_case[project["cases"]["padded"].root.name]
    missing = project["cases"]["padded"].image_record()["Geometry"]["MissingSlices"]
    assert padded["PaddedSlices"] == missing
    assert padded["LabelVoxelsOnPaddedSlices"] == int(np.count_nonzero(
        project["cases"]["padded"].load_version(1).array[missing]))

    folds = json.loads((out / "splits_final.json").read_text())
    assert len(folds) == 2
    assert sorted(i for f in folds for i in f["val"]) == names
    for f in folds:
        assert not set(f["train"]) & set(f["val"]) and sorted(f["train"] + f["val"]) == names

    # a non-empty OUT is refused without --update
    r = run_cli("export-dataset", project["root"], out, "--format", "nnunet")
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "not empty" in r.stderr
    assert "Traceback" not in r.stderr

    # --update adds the unapproved cases (marked so: the latest version, else the draft), refreshes the
    # others, leaves foreign files alone
    (out / "notes.txt").write_text("mine")
    r = run_cli("export-dataset", project["root"], out, "--format", "nnunet", "--update", "--include-unapproved",
                "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (out / "notes.txt").read_text() == "mine"
    man = _manifest(out)
    assert len(man["Cases"]) == 5 and man["Refused"] == [] and man["Pending"] == {}
    for case, version in ((unapproved, "v001"), (draft, "draft")):
        entry = {e["Case"]: e for e in man["Cases"]}[case.root.name]
        assert entry["Version"] == version
        _check_entry(entry, case, approved=False)
        _check_arrays(out, entry, case, man["LabelMap"])
    assert json.loads((out / "dataset.json").read_text())["numTraining"] == 5
    folds = json.loads((out / "splits_final.json").read_text())  # the earlier --split 2 is kept
    assert len(folds) == 2 and sorted(i for f in folds for i in f["val"]) == sorted(e["Id"] for e in man["Cases"])
    assert "notes.txt" not in json.dumps(man)


def test_monai_datalist_is_deterministic_and_keeps_label_values(project, tmp_path):
    approved = _approved(project)
    out = tmp_path / "monai"
    r = run_cli("export-dataset", *[c.root for c in approved], out, "--format", "monai",
                "--validation-fraction", "0.34", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    dl = json.loads((out / "datalist.json").read_text())
    names = sorted(c.root.name for c in approved)
    ordered = sorted(names, key=lambda n: hashlib.sha256(n.encode()).hexdigest())
    n_val = min(max(1, round(0.34 * len(names))), len(names) - 1)
    expected_val = sorted(ordered[:n_val])
    ids = {Path(d["label"]).name.removesuffix(".nii.gz"): d for d in dl["training"] + dl["validation"]}
    assert sorted(ids) == names
    assert sorted(Path(d["label"]).name.removesuffix(".nii.gz") for d in dl["validation"]) == expected_val
    assert dl["numTraining"] == len(dl["training"]) == len(names) - n_val
    for d in dl["training"] + dl["validation"]:
        assert set(d) == {"image", "label"}
        assert (out / d["image"]).is_file() and (out / d["label"]).is_file()  # relative to the datalist
    man = _manifest(out)
    assert man["LabelMap"] == {"0": 0, **{str(lab.index): lab.index for lab in TABLE}}  # no remap needed
    assert dl["labels"] == {"0": "background", **{str(lab.index): lab.name for lab in TABLE}}
    for case in approved:
        entry = {e["Case"]: e for e in man["Cases"]}[case.root.name]
        _check_entry(entry, case)
        _check_arrays(out, entry, case, man["LabelMap"])
    # the same cases in another order give the same split
    out2 = tmp_path / "monai2"
    r = run_cli("export-dataset", *[c.root for c in reversed(approved)], out2, "--format", "monai",
                "--validation-fraction", "0.34")
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads((out2 / "datalist.json").read_text()) == {**dl, "name": "monai2"}


def test_bids_derivative_layout(project, tmp_path):
    approved = _approved(project)
    out = tmp_path / "derivatives"
    r = run_cli("export-dataset", *[c.root for c in approved], out, "--format", "bids")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "3 case(s) exported, 0 refused" in r.stdout
    desc = json.loads((out / "dataset_description.json").read_text())
    assert desc["DatasetType"] == "derivative" and desc["BIDSVersion"]
    assert desc["GeneratedBy"][0]["Name"] == "ctlabel" and desc["GeneratedBy"][0]["Version"] == ctlabel.__version__
    assert "ctlabel_manifest.json" in (out / ".bidsignore").read_text()
    man = _manifest(out)
    for case in approved:
        sub = "".join(ch for ch in case.root.name if ch.isalnum())
        entry = {e["Case"]: e for e in man["Cases"]}[case.root.name]
        assert entry["Id"] == sub
        anat = out / f"sub-{sub}" / "anat"
        dseg = anat / f"sub-{sub}_desc-manual_dseg.nii.gz"
        assert entry["Files"]["label"] == str(dseg.relative_to(out)) and dseg.is_file()
        rows = [line.split("\t") for line in dseg.with_name(dseg.name.replace(".nii.gz", ".tsv"))
                .read_text().splitlines()]
        assert rows[0][:4] == ["index", "name", "abbreviation", "color"]
        assert {int(r[0]): r[1] for r in rows[1:]} == {lab.index: lab.name for lab in TABLE}
        side = json.loads(dseg.with_name(dseg.name.replace(".nii.gz", ".json")).read_text())
        assert side["Sources"] == [f"bids::{entry['Files']['image']}"] and side["Manual"] is True
        assert side["ctlabel"]["MaskVoxelSHA256"] == entry["MaskVoxelSHA256"]
        _check_entry(entry, case)
        _check_arrays(out, entry, case, man["LabelMap"])


def test_tilted_case_refused_or_resampled(project, tmp_path):
    case = project["cases"]["tilted"]
    r = run_cli("export-dataset", project["tilted_root"], tmp_path / "no", "--format", "nnunet", "--json")
    assert r.returncode == 1
    rep = json.loads(r.stdout)
    assert rep["exported"] == [] and "gantry tilt" in rep["refused"][0]["reason"]
    assert not (tmp_path / "no").exists()  # nothing to write, nothing written

    out = tmp_path / "yes"
    r = run_cli("export-dataset", project["tilted_root"], out, "--format", "nnunet", "--resample-tilted", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    entry = _manifest(out)["Cases"][0]
    src_affine = case.image_grid().affine
    res = entry["Resampled"]
    assert res and "linear" in res["Image"] and "nearest" in res["Mask"]
    lab = nib.load(out / entry["Files"]["label"])
    img = nib.load(out / entry["Files"]["image"])
    assert not is_sheared(lab.affine) and np.allclose(lab.affine, img.affine)
    assert np.allclose(lab.affine[:3, :2], orthonormal_affine(src_affine)[:3, :2], atol=1e-5)
    assert np.allclose(lab.affine, np.array(res["Affine"]), atol=1e-5)
    # each label keeps its place in the patient: centroids in mm agree within a slice gap
    mask = case.load_version(1)
    positions = case.image_record()["Source"]["Slices"]
    out_labels = np.asanyarray(lab.dataobj).T
    for value in (1, 5):
        k, j, i = np.nonzero(mask.array == value)
        origin = np.array([[-positions[z]["ImagePositionPatient"][0], -positions[z]["ImagePositionPatient"][1],
                            positions[z]["ImagePositionPatient"][2]] for z in k])
        before = (origin + np.outer(i, src_affine[:3, 0]) + np.outer(j, src_affine[:3, 1])).mean(axis=0)
        new_value = _manifest(out)["LabelMap"][str(value)]
        k2, j2, i2 = np.nonzero(out_labels == new_value)
        after = (lab.affine @ np.vstack([i2, j2, k2, np.ones_like(k2)]))[:3].mean(axis=1)
        assert np.linalg.norm(before - after) < res["SliceSpacingMM"], (value, before, after)
    assert np.asanyarray(img.dataobj).dtype == np.int16


def test_changed_version_is_refused(project, tmp_path):
    """A version rewritten after approval no longer traces to the decision: refused."""
    src = project["cases"]["a"]
    copy = tmp_path / "cases" / src.root.name
    shutil.copytree(src.root, copy)
    case = Case(copy)
    mask = case.load_version(1)
    arr = mask.array.copy()
    arr[0, 0, 0] = 1
    ctlabel.save_mask(case.version_path(1), arr, mask.grid, label_table=TABLE)  # consistent sidecar, new hash
    r = run_cli("export-dataset", copy, tmp_path / "out", "--format", "monai", "--json")
    assert r.returncode == 1
    assert "changed after it was approved" in json.loads(r.stdout)["refused"][0]["reason"]


def test_bad_usage_exits_2(project, tmp_path):
    r = run_cli("export-dataset", tmp_path / "nowhere", tmp_path / "out", "--format", "bids")
    assert r.returncode == 2 and "no such file or folder" in r.stderr
    r = run_cli("export-dataset", project["root"], tmp_path / "out", "--format", "monai", "--split", "3")
    assert r.returncode == 2 and "--split" in r.stderr
    r = run_cli("export-dataset", project["root"], tmp_path / "out", "--format", "coco")
    assert r.returncode == 2


def test_approved_case_edited_again(project, tmp_path):
    """An approved case whose annotator started a new draft is not finished: refused, or with the
    flag its approved version, still naming the reviewer."""
    src = project["cases"]["b"]
    copy = tmp_path / "cases" / src.root.name
    shutil.copytree(src.root, copy)
    case = Case(copy)
    review.start_new_draft(case, "ann")
    r = run_cli("export-dataset", copy, tmp_path / "out", "--format", "bids", "--json")
    assert r.returncode == 1
    assert "then edited again" in json.loads(r.stdout)["refused"][0]["reason"]
    r = run_cli("export-dataset", copy, tmp_path / "out2", "--format", "bids", "--include-unapproved", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    entry = _manifest(tmp_path / "out2")["Cases"][0]
    assert (entry["Version"], entry["Approved"], entry["State"], entry["Reviewer"]) == ("v001", True, "in_progress",
                                                                                      "rev")


def test_label_table_conflict_refused_and_consecutive_on_request(project, tmp_path):
    """One training set has one label table (the first case by folder name sets it); --consecutive
    renumbers for MONAI too."""
    a, b = project["cases"]["a"], project["cases"]["b"]
    other = tmp_path / "cases" / b.root.name
    shutil.copytree(b.root, other)
    table = LabelTable((Label(1, "brain", "BRN", "#dd8265", "soft_tissue"),
                        Label(5, "tumour", "TUM", "#32c8c8", "lesion")))
    Case(other).save_labels(table)
    r = run_cli("export-dataset", a.root, other, tmp_path / "out", "--format", "monai", "--consecutive", "--json")
    assert r.returncode == 1
    rep = json.loads(r.stdout)
    (first, first_table), (second, _) = sorted([(a.root, TABLE), (other, table)], key=lambda x: x[0].name)
    assert [x["case"] for x in rep["refused"]] == [str(second)]
    assert "'tumour'" in rep["refused"][0]["reason"] and "'lesion'" in rep["refused"][0]["reason"]
    man = _manifest(tmp_path / "out")
    assert man["Consecutive"] is True and [e["CasePath"] for e in man["Cases"]] == [str(first.resolve())]
    assert man["LabelMap"] == {"0": 0, **{str(lab.index): i for i, lab in enumerate(first_table, 1)}}
    dl = json.loads((tmp_path / "out" / "datalist.json").read_text())
    assert dl["labels"] == {"0": "background", **{str(i): lab.name for i, lab in enumerate(first_table, 1)}}
    _check_arrays(tmp_path / "out", man["Cases"][0], Case(first), man["LabelMap"])
