"""``ctlabel export-seg``: a case version back to the archive as a DICOM SEG referencing its source.

Cases from real data: the Philips 5 mm head CT (28 slices), the dcmqi 3-slice CT converted
with pseudonymized UIDs, pydicom's CT2 (a padded case: 165 slices, 4 acquired) and the GE
gantry-tilted series. Each is painted (one label painted and interpolated, one painted only),
submitted and approved, then exported; the SEG is read back by ``ctlabel import`` and by
highdicom and compared with the version's voxels and the source files.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from data_paths import CT2, CT3, GE_TILT, PHILIPS_5MM, ROOT

import ctlabel
from ctlabel.case import record as case_record
from ctlabel.case import review
from ctlabel.case.folder import Case
from ctlabel.errors import InputError
from ctlabel.export.seg import algorithm_type, export_seg, segment_codes, segment_descriptions
from ctlabel.io.labels import Label, LabelTable

TABLE = LabelTable((Label(1, "liver", "LIV", "#dd8265", "soft_tissue"),
                    Label(4, "kidney_left", "KIDL", "#d9a441", "soft_tissue"),
                    Label(5, "lesion", "LES", "#32c8c8", "lesion"),
                    Label(7, "csf", "CSF", "#3c64c8", "fluid")))
CT3_DICOM = CT3 / "dicom" / "ct-3slice"
CT2_DICOM = CT2 / "dicom"


def run_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ctlabel", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def _source_files(folder: Path) -> dict[str, Path]:
    """SOPInstanceUID -> file of every DICOM image under ``folder``."""
    out = {}
    for f in sorted(folder.rglob("*")):
        if f.is_file() and f.name not in ("DIRFILE", "DICOMDIR"):
            try:
                ds = pydicom.dcmread(f, stop_before_pixels=True)
            except pydicom.errors.InvalidDicomError:
                continue
            out[str(ds.SOPInstanceUID)] = f
    return out


def _approved_case(src: Path, work: Path, salt: str | None = None) -> Case:
    """Convert ``src``, paint labels 1 (painted ends, interpolated between) and 5 (painted), approve."""
    rep = ctlabel.convert([src], work, jobs=1, progress=False,
                          options=ctlabel.ConvertOptions(pseudonymize_salt=salt, label_table=TABLE))
    assert rep.ok and len(rep.converted) == 1, rep.to_dict()
    case = Case.open(rep.converted[0]["case"])
    grid = case.image_grid()
    _, rows, cols = grid.shape
    real = [k for k, s in enumerate(case.image_record()["Source"]["Slices"]) if s]
    first, last = real[0], real[-1]
    labels = np.zeros(grid.shape, np.uint8)
    r, c = rows // 4, cols // 4
    labels[real, r:3 * r, c:3 * c] = 1
    labels[last, 2 * r:3 * r, 2 * c:3 * c] = 5
    case.save_draft(labels, grid, annotator="ann", painted={1: [first, last], 5: [last]},
                    interpolated={1: [k for k in real if first < k < last]})
    review.submit(case, "ann", force=True)
    review.approve(case, "rev1")
    return case


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    base = tmp_path_factory.mktemp("export_seg")
    out = {"base": base}
    out["philips"] = _approved_case(PHILIPS_5MM, base / "philips")
    out["ct3"] = _approved_case(CT3_DICOM, base / "ct3", salt="s3")
    out["ct2"] = _approved_case(CT2_DICOM, base / "ct2")
    return out


def _import_round_trip(case: Case, seg_path: Path, tmp: Path, number: int) -> np.ndarray:
    """``ctlabel import`` of the SEG into a copy of the case; the imported version's voxels."""
    copy = tmp / f"copy_{case.root.name}"
    shutil.copytree(case.root, copy)
    r = run_cli("import", seg_path, "--case", copy, "--user", "rev2")
    assert r.returncode == 0, r.stderr
    imported = Case.open(copy)
    v = imported.versions()[-1]
    info = imported.load_version(v).provenance.imported_from
    assert info["FramesMatchedByUID"] >= 1 and info["FramesMatchedByPosition"] == 0
    return imported.load_version(v).array


def _highdicom_labels(seg_path: Path, case: Case) -> np.ndarray:
    """The SEG read by highdicom on the case's source instances, as label values on the case grid."""
    seg = hd.seg.segread(seg_path)
    slices = case.image_record()["Source"]["Slices"]
    real = [k for k, s in enumerate(slices) if s]
    by_name = {lab.name: lab.index for lab in case.load_labels()}
    pix = seg.get_pixels_by_source_instance([slices[k]["SOPInstanceUID"] for k in real], combine_segments=True,
                                            assert_missing_frames_are_empty=True)
    out = np.zeros(case.image_grid().shape, np.uint8)
    for n in seg.get_segment_numbers():
        out[real] = np.where(pix == n, by_name[seg.get_segment_description(n).segment_label], out[real])
    return out


def test_philips_round_trip_references_and_patient_module(cases, tmp_path):
    case = cases["philips"]
    out = tmp_path / "philips_seg.dcm"
    r = run_cli("export-seg", case.root, out, "--dicom", PHILIPS_5MM, "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    record = case_record.load_record(case)
    assert rep["version"] == record["ApprovedVersion"] and rep["approved"] is True
    assert (rep["annotator"], rep["reviewer"]) == ("ann", "rev1") and rep["matched_by"] == "SOPInstanceUID"
    mask = case.load_version(int(rep["version"][1:]))
    # round trip: ctlabel import and highdicom give the version's voxels
    assert np.array_equal(_import_round_trip(case, out, tmp_path, 1), mask.array)
    assert np.array_equal(_highdicom_labels(out, case), mask.array)
    seg = hd.seg.segread(out)
    vol = seg.get_volume(combine_segments=True)
    assert vol.spatial_shape[1:] == mask.array.shape[1:] and int(np.count_nonzero(vol.array)) == int(
        np.count_nonzero(mask.array))
    # referenced instances are exactly the source files; the patient and study modules are copied
    files = _source_files(PHILIPS_5MM)
    assert {uid for _, _, uid in seg.get_source_image_uids()} == set(files) == set(rep["referenced_instances"])
    src = pydicom.dcmread(next(iter(files.values())), stop_before_pixels=True)
    for kw in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyDate",
               "StudyTime", "AccessionNumber", "StudyID", "FrameOfReferenceUID"):
        assert str(seg.get(kw, "")) == str(src.get(kw, "")), kw
    assert "PatientIdentityRemoved" not in seg or seg.PatientIdentityRemoved != "YES"
    # who and which version; no patient identifier added
    assert seg.SeriesDescription == f"ctlabel {rep['version']} approved by rev1"
    assert seg.ContentCreatorName.family_name == "ann"  # a PN: "ann^", the family-name component


def test_segments_named_coloured_coded_and_typed(cases, tmp_path):
    case = cases["philips"]
    out = tmp_path / "seg.dcm"
    rep = export_seg(str(case.root), out, dicom=PHILIPS_5MM)
    seg = hd.seg.segread(out)
    mask = case.load_version(int(rep.version[1:]))
    entries = mask.provenance.labels
    present = sorted(int(v) for v in np.unique(mask.array) if v)
    assert [s["Label"] for s in rep.segments] == present
    for row in rep.segments:
        desc = seg.get_segment_description(row["SegmentNumber"])
        lab = TABLE[row["Label"]]
        assert desc.segment_label == lab.name
        rgb = tuple(int(lab.color[i:i + 2], 16) for i in (1, 3, 5))
        lab_color = hd.color.CIELabColor.from_dicom_value(desc.RecommendedDisplayCIELabValue)
        assert np.allclose(lab_color.to_rgb(), rgb, atol=1)
        expected = "SEMIAUTOMATIC" if entries[str(lab.index)].get("InterpolatedSlices") else "MANUAL"
        assert desc.algorithm_type.value == expected
        if expected != "MANUAL":
            assert desc.algorithm_identification
        category, prop = segment_codes(lab)
        assert (desc.segmented_property_category.value, desc.segmented_property_type.value) == (
            category.value, prop.value)
    kinds = {row["Name"]: row["AlgorithmType"] for row in rep.segments}
    assert kinds == {"liver": "SEMIAUTOMATIC", "lesion": "MANUAL"}


def test_codes_and_algorithm_types_from_the_table_and_sidecar():
    liver, kidney, lesion, csf = (TABLE[i] for i in (1, 4, 5, 7))
    assert [c.meaning for c in segment_codes(liver)] == ["Anatomical Structure", "Liver"]
    assert [c.meaning for c in segment_codes(kidney)] == ["Anatomical Structure", "Kidney"]
    assert segment_codes(lesion)[0].meaning == "Morphologically Abnormal Structure"
    assert [c.meaning for c in segment_codes(csf)] == ["Body Substance", "Body fluid"]
    assert segment_codes(Label(9, "thing", "", "#ffffff", "other"))[1].meaning == "Tissue"
    assert algorithm_type({"PaintedSlices": [1]}) == "MANUAL"
    assert algorithm_type({"PaintedSlices": [1, 4], "InterpolatedSlices": [2, 3]}) == "SEMIAUTOMATIC"
    assert algorithm_type({"Method": {"Kind": "automatic", "Name": "x"}}) == "AUTOMATIC"
    assert algorithm_type({"Method": {"Kind": "automatic"}, "PaintedSlices": [3]}) == "SEMIAUTOMATIC"
    descriptions, rows = segment_descriptions([liver, csf], {
        "1": {"Method": {"Kind": "automatic", "Name": "TotalSegmentator", "Version": "2.4"}},
        "7": {"PaintedSlices": [2, 6], "InterpolatedSlices": [3, 4, 5]}}, "v002")
    auto, interp = (d.SegmentationAlgorithmIdentificationSequence[0] for d in descriptions)
    assert [r["AlgorithmType"] for r in rows] == ["AUTOMATIC", "SEMIAUTOMATIC"]
    assert (auto.AlgorithmName, auto.AlgorithmVersion) == ("TotalSegmentator", "2.4")
    assert interp.AlgorithmFamilyCodeSequence[0].CodeMeaning == "Morphological Operations"
    assert descriptions[0].TrackingID == "liver v002"


def test_deidentify_writes_no_source_identifier(cases, tmp_path):
    case = cases["philips"]
    out = tmp_path / "deid.dcm"
    rep = export_seg(str(case.root), out, dicom=PHILIPS_5MM, deidentify=True, uid_salt="pepper")
    seg = hd.seg.segread(out)
    files = _source_files(PHILIPS_5MM)
    src = pydicom.dcmread(next(iter(files.values())), stop_before_pixels=True)
    assert seg.PatientIdentityRemoved == "YES" and str(seg.PatientName) == "ANONYMOUS^"
    assert seg.PatientBirthDate == "" and seg.get("InstitutionName") is None
    raw = out.read_bytes()
    secrets = [str(src.PatientName), str(src.PatientID), src.StudyInstanceUID, src.SeriesInstanceUID,
               *files, *(str(src.get(k, "")) for k in ("InstitutionName", "StudyDate", "AccessionNumber",
                                                      "ReferringPhysicianName", "StationName"))]
    leaked = [s for s in secrets if len(s) >= 4 and s.encode() in raw]
    assert not leaked
    # the pseudonymized references still put every frame on its slice
    assert rep.deidentified and len(rep.referenced_instances) == len(files)
    assert not set(rep.referenced_instances) & set(files)


def test_pseudonymized_case_matched_by_pixel_hash(cases, tmp_path):
    case = cases["ct3"]
    assert case.image_record()["Source"]["UIDsPseudonymized"]
    out = tmp_path / "ct3.dcm"
    r = run_cli("export-seg", case.root, out, "--json")
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "pseudonymized" in r.stderr
    assert not out.exists()
    rep = export_seg(str(case.root), out, dicom=CT3_DICOM)
    assert rep.matched_by == "PixelSHA256"
    seg = hd.seg.segread(out)
    files = _source_files(CT3_DICOM)
    assert {uid for _, _, uid in seg.get_source_image_uids()} == set(files)
    # the SEG names the real instances, so it is read onto a case converted without pseudonyms
    plain = Case.open(ctlabel.convert([CT3_DICOM], tmp_path / "plain", jobs=1, progress=False,
                                      options=ctlabel.ConvertOptions(label_table=TABLE)).converted[0]["case"])
    mask = case.load_version(int(rep.version[1:])).array
    assert np.array_equal(_highdicom_labels(out, plain), mask)
    # under --deidentify the case's own pseudonyms are referenced
    deid = export_seg(str(case.root), tmp_path / "ct3_deid.dcm", dicom=CT3_DICOM, deidentify=True)
    pseudo = [s["SOPInstanceUID"] for s in case.image_record()["Source"]["Slices"]]
    assert set(deid.referenced_instances) == set(pseudo)
    assert np.array_equal(_import_round_trip(case, tmp_path / "ct3_deid.dcm", tmp_path, 2), mask)


def test_padded_case_frames_left_out_and_paint_there_refused(cases, tmp_path):
    case = cases["ct2"]
    geometry = case.image_record()["Geometry"]
    assert geometry["Shape"][2] == 165 and len(geometry["MissingSlices"]) == 161
    out = tmp_path / "ct2.dcm"
    rep = export_seg(str(case.root), out, dicom=CT2_DICOM)
    assert rep.padded_slices == geometry["MissingSlices"]
    seg = hd.seg.segread(out)
    files = _source_files(CT2_DICOM)
    assert {uid for _, _, uid in seg.get_source_image_uids()} == set(files) and len(files) == 4
    mask = case.load_version(int(rep.version[1:])).array
    # one frame per (segment, acquired slice) holding it; each frame names the instance of its slice
    real = [k for k, s in enumerate(case.image_record()["Source"]["Slices"]) if s]
    expected = sum(int(np.any(mask[k] == v)) for v in np.unique(mask) if v for k in real)
    assert rep.frames == int(seg.NumberOfFrames) == expected
    for item in seg.PerFrameFunctionalGroupsSequence:
        assert item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID in files
    assert np.array_equal(_import_round_trip(case, out, tmp_path, 1), mask)
    # a later version painted on a padded slice cannot be written; the approved one still is the default
    review.start_new_draft(case, "ann")
    draft = case.load_draft()
    labels = draft.array.copy()
    labels[geometry["MissingSlices"][10], :4, :4] = 5
    case.save_draft(labels, draft.grid, annotator="ann", painted={5: [geometry["MissingSlices"][10]]})
    review.submit(case, "ann", force=True)
    latest = f"v{case.versions()[-1]:03d}"
    with pytest.raises(InputError, match="padded slice"):
        export_seg(f"{case.root}@{latest}", tmp_path / "bad.dcm", dicom=CT2_DICOM)
    r = run_cli("export-seg", f"{case.root}@{latest}", tmp_path / "bad.dcm", "--dicom", CT2_DICOM)
    assert r.returncode == 2 and "padded slice" in r.stderr and not (tmp_path / "bad.dcm").exists()
    again = export_seg(str(case.root), tmp_path / "still.dcm", dicom=CT2_DICOM)
    assert again.version == rep.version and again.approved


def test_refusals_and_exit_codes(cases, tmp_path):
    tilted = _approved_case(GE_TILT, tmp_path / "tilt")
    r = run_cli("export-seg", tilted.root, tmp_path / "t.dcm", "--dicom", GE_TILT)
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "tilted" in r.stderr
    case = cases["philips"]
    with pytest.raises(InputError, match="give the folder holding the series") as exc:
        export_seg(str(case.root), tmp_path / "x.dcm")
    assert exc.value.options == ("dicom",) and "--" not in str(exc.value)  # the command adds its flag:
    r = run_cli("export-seg", case.root, tmp_path / "x.dcm")
    assert r.returncode == 2 and r.stderr.rstrip().endswith("(--dicom DIR)"), r.stderr
    with pytest.raises(InputError, match="not found"):
        export_seg(str(case.root), tmp_path / "x.dcm", dicom=CT3_DICOM)
    r = run_cli("export-seg", f"{case.root}@v9", tmp_path / "x.dcm", "--dicom", PHILIPS_5MM)
    assert r.returncode == 2 and "v009 does not exist" in r.stderr
    r = run_cli("export-seg", tmp_path / "nocase", tmp_path / "x.dcm", "--dicom", PHILIPS_5MM)
    assert r.returncode == 2 and "not a ctlabel case folder" in r.stderr
    assert not (tmp_path / "x.dcm").exists()


def test_retrieve_block_without_dicomweb_client_is_a_clear_error(cases, tmp_path, monkeypatch):
    """A case pulled by ``ctlabel pull`` names its DICOMweb source; without dicomweb-client: one clear error."""
    copy = tmp_path / "pulled"
    shutil.copytree(cases["philips"].root, copy)
    source = Case.open(copy).image_record()["Source"]
    (copy / "retrieve.json").write_text(json.dumps({"Retrieve": {
        "URL": "http://127.0.0.1:9/dicom-web", "StudyInstanceUID": source["StudyInstanceUID"],
        "SeriesInstanceUID": source["SeriesInstanceUID"]}}))
    monkeypatch.setitem(sys.modules, "dicomweb_client", None)
    monkeypatch.setitem(sys.modules, "dicomweb_client.api", None)
    with pytest.raises(InputError, match="dicomweb-client is not installed"):
        export_seg(str(copy), tmp_path / "x.dcm")
    assert not (tmp_path / "x.dcm").exists()


def test_push_stores_the_seg_on_a_real_orthanc_and_a_refusal_is_clear(cases, tmp_path):
    """export-seg --push: STOW-RS to Orthanc; the stored SEG is the file written, found by QIDO-RS."""
    from orthanc import http_status_server, running_orthanc

    case = cases["philips"]
    out = tmp_path / "pushed_seg.dcm"
    with running_orthanc(tmp_path / "orthanc") as server:
        server.upload(PHILIPS_5MM)
        r = run_cli("export-seg", case.root, out, "--dicom", PHILIPS_5MM, "--push", server.dicomweb, "--json")
        assert r.returncode == 0, r.stderr
        rep = json.loads(r.stdout)
        sop = str(pydicom.dcmread(out, stop_before_pixels=True).SOPInstanceUID)
        assert rep["pushed"] == {"url": server.dicomweb, "stored": [sop]}
        found = server.get(f"/dicom-web/instances?SOPInstanceUID={sop}")
        assert [i["00080016"]["Value"][0] for i in found] == ["1.2.840.10008.5.1.4.1.1.66.4"]
        stored = server.get("/instances")
        assert len(stored) == 29  # the 28 source slices and the SEG
    with http_status_server(500) as (url, _seen):
        r = run_cli("export-seg", case.root, tmp_path / "again.dcm", "--dicom", PHILIPS_5MM, "--push", url,
                    "--timeout", "5")
        assert r.returncode == 2 and "HTTP 500" in r.stderr and "Traceback" not in r.stderr


def _dciodvfy(path: Path) -> list[str]:
    """dciodvfy's errors and warnings for ``path`` (Debian's dicom3tools, as users run it)."""
    exe = shutil.which("dciodvfy")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("dciodvfy (Debian dicom3tools) is not installed: scripts/setup.sh --test installs it")
        pytest.skip("dciodvfy (Debian dicom3tools) is not installed")
    r = subprocess.run([exe, str(path)], capture_output=True, text=True, timeout=120)
    return [line for line in (r.stdout + r.stderr).splitlines() if line.startswith(("Error", "Warning"))]


@pytest.mark.parametrize("which, extra", [("philips", ()), ("philips", ("--deidentify",)), ("ct3", ()),
                                          ("ct2", ())])
def test_seg_passes_dciodvfy(cases, tmp_path, which, extra):
    case = cases[which]
    source = {"philips": PHILIPS_5MM, "ct3": CT3_DICOM, "ct2": CT2_DICOM}[which]
    out = tmp_path / "seg.dcm"
    r = run_cli("export-seg", case.root, out, "--dicom", source, *extra)
    assert r.returncode == 0, r.stderr
    findings = _dciodvfy(out)
    assert not [f for f in findings if f.startswith("Error")], findings
    # the only warning allowed is a source's own patient name, which the SEG must copy as it is
    src_name = str(pydicom.dcmread(next(iter(_source_files(source).values())), stop_before_pixels=True).PatientName)
    allowed = f"(0x0010,0x0010) PN Patient's Name  PN [1] = <{src_name}> - Retired Person Name form"
    # de-identified: the study date, time and ID are emptied (PS3.15), which only a DICOMDIR would want
    dicomdir = "Warning - Missing attribute or value that would be needed to build DICOMDIR"
    assert [f for f in findings if not f.endswith(allowed) and not (extra and f.startswith(dicomdir))] == [], findings


def test_source_files_without_uids_are_named(cases, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(PHILIPS_5MM, src)
    stripped = sorted(f for f in _source_files(src).values())[:2]
    for f in stripped:
        ds = pydicom.dcmread(f)
        uid = str(ds.SOPInstanceUID)
        del ds.SOPInstanceUID
        ds.save_as(f)
    r = run_cli("export-seg", cases["philips"].root, tmp_path / "seg.dcm", "--dicom", src)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "2 of 28 source instances not found by SOPInstanceUID" in r.stderr and uid in r.stderr
    assert all(f.name in r.stderr for f in stripped) and "have no SOPInstanceUID" in r.stderr
    assert not (tmp_path / "seg.dcm").exists()
