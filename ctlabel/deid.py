"""De-identification by DICOM PS3.15 Annex E (Basic Application Level Confidentiality Profile).

ctlabel writes very few DICOM attributes (see :func:`profile_attributes`); everything else
is never copied. Of what it writes, only descriptions are free text, and they are kept
through the profile's *Clean Descriptors Option* by :func:`clean_description`: a token
survives only when it is a known-safe word (anatomy, kernel, phase, contrast, common CT
terms, small numbers and numbers with units) and does not match a token of the file's
own identifying attributes (:data:`IDENTIFYING_KEYWORDS`). Pure functions, no I/O; the
rule and its reasons are in ``docs/deidentification.md``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ctlabel.volume import SourceIdentity

#: Attributes whose values are collected by the header scan (never written anywhere) so that a
#: description token that repeats one of them is dropped, even if it looks like a safe word.
IDENTIFYING_KEYWORDS: tuple[str, ...] = (
    "PatientName", "PatientID", "OtherPatientIDs", "OtherPatientNames", "PatientBirthName",
    "PatientMotherBirthName", "PatientBirthDate", "PatientAddress", "PatientTelephoneNumbers",
    "AccessionNumber", "StudyID", "InstitutionName", "InstitutionAddress",
    "InstitutionalDepartmentName", "ReferringPhysicianName", "PerformingPhysicianName",
    "NameOfPhysiciansReadingStudy", "PhysiciansOfRecord", "OperatorsName", "RequestingPhysician",
    "StationName", "DeviceSerialNumber",
)

#: The words a cleaned description may keep (compared case-insensitively).
SAFE_WORDS: frozenset[str] = frozenset("""
ct cta ctp ctv cect ncct hrct ldct mdct dect mr pet spect nm xa scan scans scout surview topogram topo
localizer localiser locator scanogram survey recon recons reconstruction reformat reformats mpr mip minip
mips vr vrt 3d 2d 4d axial ax axi coronal cor sagittal sag oblique obl transverse tra thin thick slice slices
std standard routine protocol series study exam examination image images plain native non with without w wo
and or of the a an to in on at for per by from no not only plus minus new pre post contrast iv oral rectal
enhanced unenhanced nonenhanced arterial art venous portal portovenous pv delayed delay late early phase
phases nephrographic excretory urographic equilibrium washout bolus tracking test timing perfusion dual energy
de mono monoenergetic kev spectral iodine water calcium score scoring gated gating ecg ekg cardiac prospective
retrospective helical helix spiral sequential seq volume vol dose report summary info information results
patient primary original derived secondary processed evidence qa daily phantom calibration air quality
segmentation mask label labels
head brain neck face facial sinus sinuses paranasal orbit orbits temporal bone bones iac petrous skull
mandible maxilla dental teeth jaw cervical thoracic lumbar lumbosacral sacrum coccyx spine cspine tspine
lspine vertebra vertebrae chest thorax lung lungs pulmonary abdomen abd abdo abdominal pelvis pelvic liver
hepatic kidney kidneys renal pancreas pancreatic spleen splenic adrenal adrenals bladder prostate uterus
colon colonography colonoscopy bowel stomach gastric heart coronary coronaries cardiac aorta aortic angio
angiography runoff carotid carotids circle willis pe embolism vessel vessels vascular extremity extremities
upper lower arm arms leg legs knee knees hip hips shoulder shoulders elbow wrist hand hands foot feet ankle
femur tibia fibula humerus radius ulna clavicle scapula rib ribs sternum whole body wb trauma polytrauma
stroke soft tissue tissues mediastinum mediastinal window windows kernel filter sharp smooth medium
high resolution low ultra fast detail edge enhance iterative fbp
left right lt rt bilateral bilat ap pa lat lateral supine prone inspiration expiration insp exp breath hold
free full half inner outer single multi
idose idose4 imr asir asirv admire safire irs aidr aidr3d dlir truefidelity aice mar imar omar smar stellar
force flash care caredose dose4d ub boneplus lungplus
kv kvp ma mas mgy mm cm sec ms min hu ml cc deg
cranio cranial schaedel kopf hals thorax becken abdomen torace addome bacino encefalo cerebral cerebro
""".split())

#: Units a number may carry and stay safe ("5mm", "120kV", "0.5s", "75%").
_UNITS = ("mm", "cm", "m", "s", "sec", "ms", "min", "kv", "kvp", "ma", "mas", "mgy", "hu", "kev", "ml", "cc",
          "deg", "%", "x", "mgycm", "")
_NUMBER = r"(?:[1-9]\d{0,2}|0)(?:\.\d{1,3})?"
_SAFE_PATTERNS = (
    re.compile(rf"{_NUMBER}(?:{'|'.join(u for u in _UNITS if u)})?"),  # 3.0, 5mm, 120kv, 0.625mm
    re.compile(r"\d{1,4}(?:mm|cm|ms|ma|mas|kv|kvp|kev|ml|hu)"),  # 1000ma, 1024hu
    re.compile(rf"{_NUMBER}x{_NUMBER}(?:mm)?"),  # 64x0.625, 2x2.5mm, 512x512 is too long: dropped
    re.compile(r"[1-9]\d?(?:st|nd|rd|th)"),  # 1st, 2nd
    re.compile(r"[a-z]{1,2}\d{2}[a-z]?"),  # reconstruction kernels: B30f, Br36, FC03, I26f
)
#: A word: letters and digits of any script (not the underscore), dots inside numbers joined.
_WORD = re.compile(r"[^\W_]+(?:\.[^\W_]+)*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def tokens(text: str) -> list[str]:
    """The words of a text, case-folded (``"Doe^John 5mm"`` -> ``["doe", "john", "5mm"]``)."""
    return [m.group(0).casefold() for m in _WORD.finditer(str(text or ""))]


def identifying_tokens(values: Iterable[str]) -> frozenset[str]:
    """Every word of the identifying values of a file, case-folded."""
    return frozenset(t for v in values for t in tokens(v))


def is_safe_token(word: str) -> bool:
    """True when ``word`` is a known-safe word or a small number, with or without a unit."""
    w = word.casefold()
    return w in SAFE_WORDS or any(p.fullmatch(w) for p in _SAFE_PATTERNS)


def clean_description(text: str, identifying_values: Iterable[str] = ()) -> str:
    """The Clean Descriptors rule: keep safe words, drop everything else.

    Parameters
    ----------
    text : str
        A description (SeriesDescription, StudyDescription, ProtocolName).
    identifying_values : iterable of str
        Values of the same file's identifying attributes (names, IDs, institution,
        station...). A word found among their words is dropped even when it is safe.

    Returns
    -------
    str
        The safe words in their order. The punctuation between two kept words that were
        next to each other is kept (``"HEAD/BRAIN"``); wherever a word was dropped one
        space joins the neighbours. Cleaning a cleaned text changes nothing.
    """
    text = _CONTROL.sub(" ", str(text or ""))
    banned = identifying_tokens(identifying_values)
    words = list(_WORD.finditer(text))
    out: list[str] = []
    previous = -2
    for i, m in enumerate(words):
        w = m.group(0)
        if not is_safe_token(w) or w.casefold() in banned:
            continue
        if out:
            gap = text[words[i - 1].end():m.start()] if previous == i - 1 else " "
            out.append(re.sub(r"\s+", " ", gap) or " ")
        out.append(w)
        previous = i
    return "".join(out).strip()


@dataclass(frozen=True)
class DescribedSource(SourceIdentity):
    """A source identity whose description a conversion batch already decided (in memory only).

    ``descriptions_cleaned`` is False under ``--keep-descriptions``; ``burned_in`` says why the
    pixels may show text (e.g. ``BurnedInAnnotation YES``), or is empty.
    """

    descriptions_cleaned: bool = True
    burned_in: str = ""


def burned_in_reason(burned_in_annotation: str, secondary: bool = False) -> str:
    """Why a series may carry burned-in text, or ``""``."""
    if str(burned_in_annotation).strip().upper() == "YES":
        return "BurnedInAnnotation is YES: the pixels show text that may identify the patient"
    if secondary:
        return "a secondary capture or screen save: its pixels may show text that identifies the patient"
    return ""


#: What ctlabel writes of a DICOM file, by the action of PS3.15 Table E.1-1 and the option applied.
_PROFILE = {
    "StudyInstanceUID": ("U", "Retain UIDs Option: kept; --pseudonymize-uids SALT replaces it by 2.25.<hash>"),
    "SeriesInstanceUID": ("U", "Retain UIDs Option: kept; --pseudonymize-uids SALT replaces it by 2.25.<hash>"),
    "SOPInstanceUID": ("U", "Retain UIDs Option: kept; --pseudonymize-uids SALT replaces it by 2.25.<hash>"),
    "FrameOfReferenceUID": ("U", "Retain UIDs Option: kept; --pseudonymize-uids SALT replaces it by 2.25.<hash>"),
    "SeriesDescription": ("X", "Clean Descriptors Option: safe words only (clean_description);"
                               " --keep-descriptions keeps it as it is and records DescriptionsCleaned: false"),
    "SeriesNumber": ("", "kept: not in the profile's table"),
    "Modality": ("", "kept: not in the profile's table"),
    "ImagePositionPatient": ("", "kept (per slice): geometry, not in the profile's table"),
    "ImageOrientationPatient": ("", "kept as the affine: geometry, not in the profile's table"),
    "PixelSpacing": ("", "kept as the affine: geometry, not in the profile's table"),
    "PixelData": ("", "kept as HU voxels and pixel hashes; the Clean Pixel Data Option is not applied:"
                      " BurnedInAnnotation YES is flagged in the report and in ct.json"),
    "BurnedInAnnotation": ("", "read, written only as the flag Source.BurnedInAnnotation when YES"),
}


def profile_attributes() -> dict[str, tuple[str, str]]:
    """The DICOM attributes ctlabel writes, each with its Table E.1-1 action and what is done.

    Returns
    -------
    dict
        keyword -> (action code of the basic profile, or ``""`` when the attribute is not in
        its table; what ctlabel does). Every attribute not listed is never written: the
        profile's X/Z/D attributes (names, IDs, dates, institution, physicians, station,
        device serial number, comments, private tags, StudyDescription, ProtocolName...)
        are removed by not being copied.
    """
    return dict(_PROFILE)


__all__ = ["IDENTIFYING_KEYWORDS", "SAFE_WORDS", "DescribedSource", "burned_in_reason", "clean_description",
           "identifying_tokens", "is_safe_token", "profile_attributes", "tokens"]
