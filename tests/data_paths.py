"""Test data paths: the real CT and anatomy data in the repository (``tests/data``, see its README.md)."""

from __future__ import annotations

from pathlib import Path

from ctlabel.io.labels import Label, LabelTable

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
#: Real CT in DICOM (public test data of other projects, each folder with its licence).
CT_DATA = DATA / "ct"
#: The Philips head phantom session: localizer, 5 mm and 1 mm series, secondary captures, DIRFILE.
PHILIPS = CT_DATA / "dcmqa_ct_philips_brain" / "dicom" / "S21570"
#: Its 1 mm series: 140 slices of 512 x 512 (stored JPEG-LS lossless).
PHILIPS_1MM = PHILIPS / "S2020"
#: Its 5 mm series, 28 slices (and the series' DIRFILE); ``sample_data/philips_ct_5mm`` holds the same images.
PHILIPS_5MM = PHILIPS / "S2010"
GE_TILT = CT_DATA / "dcmqa_ct_ge_tilt_varspacing" / "dicom"
CT3 = CT_DATA / "dcmqi_ct3slice_seg"
CT2 = CT_DATA / "pydicom_ct" / "dicomdir_77654033_CT2"
#: Real anatomy with masks (NIfTI): ``totalseg_example_ct`` (abdomen) and ``totalseg_cta_aorta`` (CTA).
ANATOMY = DATA / "anatomy"
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
