"""De-identification by DICOM PS3.15 Annex E: markers planted in 20+ identifying attributes of real
CT files (and in the input folder's path) reach no output of convert, a saved mask or an imported SEG;
descriptions keep only safe words (Clean Descriptors Option) unless ``--keep-descriptions``."""

import gzip
import json
import re
import warnings

import jsonschema
import nibabel as nib
import numpy as np
import pydicom
import pytest
from data_paths import CT_DATA, PHILIPS_5MM

from ctlabel.case.folder import Case
from ctlabel.cli.main import main
from ctlabel.deid import clean_description, profile_attributes
from ctlabel.io.provenance import schema

ENHANCED = CT_DATA / "pydicom_ct" / "enhanced_ct_2frame" / "eCT_Supplemental.dcm"
CT3 = CT_DATA / "dcmqi_ct3slice_seg" / "dicom" / "ct-3slice"

#: One distinct marker per attribute (``MK...``, and a birth date). Safe words planted beside them
#: ("Thorax", "Lung", "Brain") are name parts or free text: a description must not keep them either.
PLANT = {
    "PatientName": "MKPATNAME^Thorax",
    "PatientID": "MKPATID4471",
    "PatientBirthDate": "18770412",
    "AccessionNumber": "MKACCESSION88",
    "InstitutionName": "MKINSTITUTE General",
    "ReferringPhysicianName": "MKREFDOC^Anna",
    "OperatorsName": "MKOPERATOR^Lung",
    "PerformingPhysicianName": "MKPERFDOC^Bo",
    "NameOfPhysiciansReadingStudy": "MKREADER^Di",
    "StationName": "MKSTATION1",
    "InstitutionAddress": "12 MKSTREET Road, MKTOWN",
    "PatientAddress": "MKPATADDR Lane 5",
    "OtherPatientIDs": "MKOTHERID",
    "PatientMotherBirthName": "MKMOTHER^Eve",
    "PatientComments": "lives with MKCOMMENTPERSON",
    "StudyDescription": "HEAD MKSTUDYDESC",
    "SeriesDescription": "BRAIN 5mm MKSERIESDESC Thorax Lung",
    "ProtocolName": "MKPROTOCOL Brain",
    "RequestingPhysician": "MKREQDOC^Cy",
    "DeviceSerialNumber": "MKSERIAL123",
    "StudyID": "MKSTUDYID7",
    "ImageComments": "checked by MKCOMMENTDOC",
}
PRIVATE = ("MKPRIVCREATOR", "MKPRIVATEVALUE")
PATH_MARKER = "MKPATHDOE_JOHN"
MARKERS = sorted({m for v in [*PLANT.values(), *PRIVATE, PATH_MARKER]
                  for m in re.findall(r"MK[A-Z0-9_]+|18770412", v)})


def _plant(ds: pydicom.Dataset) -> pydicom.Dataset:
    for keyword, value in PLANT.items():
        setattr(ds, keyword, value)
    ds.private_block(0x0029, PRIVATE[0], create=True).add_new(0x10, "LO", PRIVATE[1])
    return ds


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """The Philips 5 mm series (28 slices) and the 2-frame enhanced CT, planted, under a path with a marker."""
    src = tmp_path_factory.mktemp("in") / PATH_MARKER / "dicom"
    (src / "philips").mkdir(parents=True)
    for f in sorted(PHILIPS_5MM.iterdir()):
        if f.name != "DIRFILE":
            _plant(pydicom.dcmread(f)).save_as(src / "philips" / f.name)
    (src / "enhanced").mkdir()
    ds = _plant(pydicom.dcmread(ENHANCED))
    ds.BurnedInAnnotation = "YES"
    ds.save_as(src / "enhanced" / "e1.dcm")
    assert len(MARKERS) >= 22
    return src


def _outputs(folder):
    """(what, bytes) of every name, file and decompressed .gz below ``folder``, and every NIfTI extension."""
    for p in sorted(folder.rglob("*")):
        yield f"name {p}", p.name.encode()
        if p.is_file():
            data = p.read_bytes()
            yield f"file {p}", data
            if p.name.endswith(".gz"):
                yield f"gunzipped {p}", gzip.decompress(data)
            if p.name.endswith((".nii", ".nii.gz")):
                for ext in nib.load(p).header.extensions:
                    yield f"NIfTI extension of {p}", ext.get_content()


def _seg_of(case: Case, src) -> "pydicom.Dataset":
    """A highdicom SEG (one 'Liver' segment) on the planted source files, in case slice order."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    by_uid = {}
    for f in (src / "philips").iterdir():
        ds = pydicom.dcmread(f)
        by_uid[ds.SOPInstanceUID] = ds
    sources = [by_uid[s["SOPInstanceUID"]] for s in case.image_record()["Source"]["Slices"]]
    pixels = np.zeros((len(sources), 512, 512), np.uint8)
    pixels[10:14, 200:260, 200:260] = 1
    desc = hd.seg.SegmentDescription(1, "Liver", codes.SCT.Organ, codes.SCT.Liver,
                                     hd.seg.SegmentAlgorithmTypeValues.MANUAL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return hd.seg.Segmentation(sources, pixels, "BINARY", [desc], hd.UID(), 7, hd.UID(), 1,
                                   "ctlabel", "ctlabel-tests", "1", "0")


@pytest.mark.parametrize("salt", [None, "s3cret"])
def test_no_marker_reaches_any_output(planted, tmp_path, salt):
    out = tmp_path / "out"
    args = ["convert", str(planted), "-o", str(out), "-q", "-j", "1", "--report", str(out / "report.json")]
    assert main(args + (["--pseudonymize-uids", salt] if salt else [])) == 0
    cases = sorted(p for p in out.iterdir() if p.is_dir())
    assert len(cases) == 2
    for case_dir in cases:
        assert re.fullmatch(r"[0-9a-f]{8}_\d{4}_[0-9a-f]{8}_[0-9a-f]{8}", case_dir.name)  # no free text in names
        case = Case.open(case_dir)
        jsonschema.validate(case.image_record(), schema())
        source = case.image_record()["Source"]
        # the safe words of the description survive, the marker and the name parts ("Thorax", "Lung") do not
        assert source["SeriesDescription"] == "BRAIN 5mm"
        assert source["DescriptionsCleaned"] is True and source["UIDsPseudonymized"] is bool(salt)
        labels = np.zeros(case.image_grid().shape, np.uint8)
        labels[0, 5:9, 5:9] = 1
        case.save_draft(labels, case.image_grid(), annotator="a1")
    philips = next(c for c in cases if Case(c).image_grid().shape[0] == 28)
    if salt is None:  # import a SEG made on the planted files (it carries every planted attribute)
        seg = _seg_of(Case(philips), planted)
        seg_path = tmp_path / "seg" / "seg.dcm"
        seg_path.parent.mkdir()
        seg.save_as(seg_path)
        assert main(["import", str(seg_path), "--case", str(philips), "--user", "imp"]) == 0
        assert Case(philips).versions()
    enhanced = next(c for c in cases if c != philips)
    assert "BurnedInText" in Case(enhanced).image_record()["Source"]  # BurnedInAnnotation YES: flagged
    report = json.loads((out / "report.json").read_text())
    assert any(w.startswith("burned_in_text") for c in report["converted"] for w in c["warnings"])
    assert report["descriptions"].startswith("cleaned")

    scanned = set()
    for what, data in _outputs(out):
        for marker in MARKERS:
            for variant in (marker, marker.lower(), marker.replace("_", " ")):
                assert variant.encode() not in data, f"{marker} reached {what}"
        scanned.add(what.split(" ", 1)[0])
    assert scanned == {"name", "file", "gunzipped", "NIfTI"}
    if salt:
        uids = {str(pydicom.dcmread(f, stop_before_pixels=True).StudyInstanceUID) for f in planted.rglob("*")
                if f.is_file()}
        assert not any(u.encode() in data for _, data in _outputs(out) for u in uids)


def test_keep_descriptions_and_burned_in_text_are_said(tmp_path, capsys):
    """--keep-descriptions writes the description as it is and says so; a secondary capture is reported
    as possibly carrying burned-in text, and a converted series with BurnedInAnnotation YES is flagged."""
    src = tmp_path / "src"
    src.mkdir()
    for i, f in enumerate(sorted(CT3.glob("*.dcm"))):
        ds = pydicom.dcmread(f)
        ds.SeriesDescription = "Liver MKSERIESDESC"
        ds.BurnedInAnnotation = "YES" if i == 0 else "NO"
        ds.save_as(src / f.name)
    sc = pydicom.dcmread(f)
    sc.SOPClassUID = sc.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    sc.SeriesInstanceUID = sc.SOPInstanceUID = sc.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    sc.save_as(src / "screen_capture.dcm")
    out = tmp_path / "out"
    assert main(["convert", str(src), "-o", str(out), "-j", "1", "-q", "--keep-descriptions",
                 "--report", str(tmp_path / "report.json")]) == 0
    printed = capsys.readouterr().out
    assert "descriptions kept as they are" in printed and "BURNED-IN TEXT" in printed
    case = Case.open(next(p for p in out.iterdir() if p.is_dir()))
    source = case.image_record()["Source"]
    assert source["SeriesDescription"] == "Liver MKSERIESDESC" and source["DescriptionsCleaned"] is False
    assert "BurnedInAnnotation is YES" in source["BurnedInText"]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["descriptions"].startswith("kept as they are")
    flagged = [s for s in report["skipped"] if s.get("burned_in_text")]
    assert [s["path"].rsplit("/", 1)[1] for s in flagged] == ["screen_capture.dcm"]
    assert "secondary capture" in flagged[0]["burned_in_text"]


def test_clean_description_keeps_safe_words_of_real_descriptions():
    # every description of the shared CT data that is made of safe words comes back unchanged
    for text in ("STD BRAIN 5MM", "STD BRAIN 1MM, iDose", "CT Body 3.0", "5/5mm Plain", "Routine Brain",
                 "CT, HEAD/BRAIN WO CONTRAST", "Chest CT routine", "10.2 Daily CT QA", "Scout", "Pancreas"):
        assert clean_description(text) == text
    assert clean_description("BRAIN 5mm MKSERIESDESC") == "BRAIN 5mm"
    assert clean_description("Doe^John CT HEAD 20150206 #12345 B30f") == "CT HEAD B30f"  # name, date, ID
    assert clean_description("Abd 2015-02-06 art 120kV") == "Abd art 120kV"
    assert clean_description("Müller Thorax") == "Thorax"
    # a safe-looking word that is another identifying value of the file is dropped
    assert clean_description("CT Thorax 5mm", ["MKPATNAME^Thorax", "QMC"]) == "CT 5mm"
    assert clean_description("CT HEAD 194", ["194"]) == "CT HEAD"
    for text in ("HEAD/MKX CT", "SmartScore - Gated 0.5 sec", "1A TRAUMA/PLAIN HEAD DM /Head", ""):
        once = clean_description(text)
        assert clean_description(once) == once  # cleaning is idempotent
    assert clean_description("HEAD/MKX CT") == "HEAD CT"


def test_profile_lists_every_dicom_attribute_ct_json_writes(tmp_path):
    assert main(["convert", str(CT3), "-o", str(tmp_path), "-j", "1", "-q"]) == 0
    source = Case.open(next(p for p in tmp_path.iterdir() if p.is_dir())).image_record()["Source"]
    own = {"SeriesPixelSHA256", "UIDsPseudonymized", "DescriptionsCleaned", "Slices", "BurnedInText", "Warnings"}
    profile = profile_attributes()
    assert set(source) - own <= set(profile)
    assert set(source["Slices"][0]) - {"Frame", "PixelSHA256"} <= set(profile)
    assert profile["SeriesDescription"][0] == "X" and profile["StudyInstanceUID"][0] == "U"
