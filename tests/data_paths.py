"""Shared test paths: where the real CT data lives (``../shared/data/ct`` from the repo root)."""

from __future__ import annotations

from pathlib import Path

from ctlabel.io.labels import Label, LabelTable

ROOT = Path(__file__).resolve().parents[1]
CT_DATA = (ROOT / ".." / "shared" / "data" / "ct").resolve()
PHILIPS = CT_DATA / "dcmqa_ct_philips_brain" / "dicom" / "S21570"
PHILIPS_1MM = PHILIPS / "S2020"
PHILIPS_5MM = PHILIPS / "S2010"
GE_TILT = CT_DATA / "dcmqa_ct_ge_tilt_varspacing" / "dicom"
CT3 = CT_DATA / "dcmqi_ct3slice_seg"
CT2 = CT_DATA / "pydicom_ct" / "dicomdir_77654033_CT2"
#: A label table matching the dcmqi ground truth of the 3-slice CT.
CT3_TABLE = LabelTable((
    Label(1, "liver", "LIV", "#b4643c", "soft_tissue"),
    Label(2, "spine", "SPN", "#f0f0dc", "bone"),
    Label(3, "heart", "HRT", "#c03030", "soft_tissue"),
))




def oblique_series(folder: Path) -> Path:
    """rt-utils' synthetic oblique 3-slice CT, with one StudyInstanceUID for its three files.

    As published each file names another study; ctlabel does not stack slices of
    different studies, so the tests that need the oblique volume copy it with one study.
    """
    import pydicom

    folder.mkdir(parents=True, exist_ok=True)
    study = None
    for f in sorted((CT_DATA / "rtutils_ct_rtstruct" / "oriented_data").glob("*.dcm")):
        ds = pydicom.dcmread(f)
        study = study or ds.StudyInstanceUID
        ds.StudyInstanceUID = study
        ds.save_as(folder / f.name)
    return folder
