"""``export_seg``: one case version back to the archive as a DICOM Segmentation (highdicom).

The SEG references the source series and instances: every frame names the
SOPInstanceUID of the case slice it lies on (``Source.Slices[k]`` of ``ct.json``), so
``ctlabel import`` and highdicom's ``get_pixels_by_source_instance`` / ``get_volume``
put it back on the same slices. Padded slices (no source instance) get no frame; a
gantry-tilted (sheared) case is refused. The patient and study modules come from the
source DICOM (highdicom copies them), or, with ``deidentify``, from a minimal data set
written under the de-identification profile. See ``docs/export_seg.md``.
"""

from __future__ import annotations

import os
import re
import secrets
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ctlabel._version import __version__
from ctlabel.case.folder import Case
from ctlabel.errors import CaseError, CtlabelError, InputError, ProvenanceError
from ctlabel.export.seg_sources import _deidentified_uids, deidentified_sources, match_sources, source_datasets
from ctlabel.geometry import is_sheared
from ctlabel.io.labels import Label
from ctlabel.model import Action, CaseRecord

SEG_SERIES_NUMBER_BASE = 9000
#: The Enhanced General Equipment module makes DeviceSerialNumber type 1 (an empty one is an error to
#: dciodvfy); software has no serial number of its own, so the SEG names the program and its version.
DEVICE_SERIAL_NUMBER = f"ctlabel-{__version__}"
#: Name (lower case, ``_``/``-`` as spaces, laterality dropped) -> SNOMED CT structure (code, meaning).
STRUCTURES: dict[str, tuple[str, str]] = {
    "liver": ("10200004", "Liver"), "spleen": ("78961009", "Spleen"), "kidney": ("64033007", "Kidney"),
    "pancreas": ("15776009", "Pancreas"), "aorta": ("15825003", "Aorta"), "lung": ("39607008", "Lung"),
    "vertebra": ("51282000", "Vertebra"), "vertebrae": ("51282000", "Vertebra"),
    "urinary bladder": ("89837001", "Urinary bladder"), "bladder": ("89837001", "Urinary bladder"),
    "gallbladder": ("28231008", "Gallbladder"), "stomach": ("69695003", "Stomach"),
    "inferior vena cava": ("64131007", "Inferior vena cava"), "brain": ("12738006", "Brain"),
    "heart": ("80891009", "Heart"), "spine": ("421060004", "Spine"), "esophagus": ("32849002", "Esophagus"),
    "colon": ("71854001", "Colon"), "prostate": ("41216001", "Prostate"), "trachea": ("44567001", "Trachea"),
    "spinal cord": ("2748008", "Spinal cord"), "adrenal gland": ("23451007", "Adrenal gland"),
}
#: tissue column -> (category (code, meaning), generic type (code, meaning)), SNOMED CT.
TISSUE_CODES: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "soft_tissue": (("85756007", "Tissue"), ("87784001", "Soft tissue")),
    "fat": (("85756007", "Tissue"), ("55603005", "Fat")),
    "bone": (("85756007", "Tissue"), ("272673000", "Bone")),
    "fluid": (("91720002", "Body Substance"), ("32457005", "Body fluid")),
    "air": (("91720002", "Body Substance"), ("15158005", "Air")),
    "lesion": (("49755003", "Morphologically Abnormal Structure"), ("52988006", "Lesion")),
    "other": (("85756007", "Tissue"), ("85756007", "Tissue")),
}
ANATOMICAL_STRUCTURE = ("91723000", "Anatomical Structure")
_LATERALITY = re.compile(r"\b(left|right|l|r)\b")


@dataclass
class SegExport:
    """What :func:`export_seg` wrote (``to_dict`` is the ``--json`` report)."""

    case: str
    version: str
    approved: bool
    out: str
    annotator: str | None
    reviewer: str | None
    series_description: str
    sop_instance_uid: str
    series_instance_uid: str
    matched_by: str
    deidentified: bool
    frames: int
    referenced_instances: list[str]
    segments: list[dict] = field(default_factory=list)
    padded_slices: list[int] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


# --- The case version ---


def parse_spec(spec: str) -> tuple[Case, int | None]:
    """``CASE`` or ``CASE@vN`` -> the case and the version number (None: the default)."""
    root, _, sel = str(spec).partition("@")
    case = Case.open(root)
    if not sel:
        return case, None
    m = re.fullmatch(r"v?(\d+)", sel.strip().lower())
    if not m:
        raise InputError(f"version {sel!r} is not vN; a DICOM SEG is written of a frozen version, never the draft",
                         root)
    return case, int(m.group(1))


def choose_version(case: Case, number: int | None, record: CaseRecord) -> tuple[int, bool]:
    """The version to export and whether a reviewer approved it.

    Default: ``ApprovedVersion``; else the version approved last (the case was edited again
    since); else the latest version.
    """
    from ctlabel.case.record import version_name, version_number
    from ctlabel.export.dataset import refuse_gold_serving

    refuse_gold_serving(case, record)
    approvals = [ev.version for ev in record.events if ev.action is Action.APPROVED]
    approved_name = record.approved_version or (approvals[-1] if approvals else None)
    if number is None:
        n = version_number(approved_name or "")
        if n is None or not case.version_path(n).exists():
            versions = case.versions()
            if not versions:
                raise CaseError("the case has no frozen version (submit the draft first)", case.masks_dir)
            n = versions[-1]
    else:
        n = number
        if not case.version_path(n).exists():
            raise CaseError(f"version {version_name(n)} does not exist (versions: "
                            f"{', '.join(version_name(v) for v in case.versions()) or 'none'})", case.masks_dir)
    name = version_name(n)
    return n, name in approvals


def _person_name(name: str | None) -> str | None:
    """A user name as a DICOM PN: the family-name component (``ann`` -> ``ann^``).

    A PN without a component separator is the retired ACR-NEMA form that dciodvfy warns about.
    """
    if not name:
        return None
    return name if "^" in name else f"{name}^"


def _people(record: CaseRecord, name: str, annotator: str | None) -> tuple[str | None, str | None]:
    """The annotator (sidecar, else the event that created the version) and the approving reviewer."""
    events = [ev for ev in record.events if ev.version == name]
    made = [ev.who for ev in events if ev.action in (Action.SUBMITTED, Action.CORRECTED, Action.IMPORTED, Action.READ)]
    approved = [ev.who for ev in events if ev.action is Action.APPROVED]
    return annotator or (made[0] if made else None), approved[-1] if approved else None


def algorithm_type(entry: dict) -> str:
    """MANUAL, SEMIAUTOMATIC (interpolated slices, or an automatic method then painted) or AUTOMATIC."""
    kind = str((entry.get("Method") or {}).get("Kind", "")).lower()
    if kind == "automatic":
        return "SEMIAUTOMATIC" if entry.get("PaintedSlices") else "AUTOMATIC"
    return "SEMIAUTOMATIC" if entry.get("InterpolatedSlices") else "MANUAL"


def segment_codes(label: Label) -> tuple[Any, Any]:
    """Segmented property category and type codes (SNOMED CT) from the label's tissue and name."""
    from pydicom.sr.coding import Code

    words = _LATERALITY.sub(" ", re.sub(r"[_\-]+", " ", label.name.lower())).split()
    known = STRUCTURES.get(" ".join(words))
    category, generic = TISSUE_CODES.get(label.tissue, TISSUE_CODES["other"])
    if known and label.tissue != "lesion":
        category, generic = ANATOMICAL_STRUCTURE, known
    return Code(category[0], "SCT", category[1]), Code(generic[0], "SCT", generic[1])


def segment_descriptions(labels: list[Label], entries: dict, version: str) -> tuple[list, list[dict]]:
    """The highdicom SegmentDescriptions of ``labels`` (segment numbers 1..n) and their report rows."""
    import highdicom as hd
    from pydicom.sr.codedict import codes


    out, rows = [], []
    for number, lab in enumerate(labels, 1):
        entry = entries.get(str(lab.index), {})
        kind = algorithm_type(entry)
        ident = None
        if kind != "MANUAL":
            method = entry.get("Method") or {}
            automatic = str(method.get("Kind", "")).lower() == "automatic"
            name = str(method.get("Name") or "automatic") if automatic else "ctlabel shape-based interpolation"
            # CID 7162 family: the method's own Family keyword, else region growing for ctlabel's
            # prelabel, a model for anything else automatic
            family = str(method.get("Family") or ("NeighborhoodAnalysis" if name.startswith("ctlabel")
                                                  else "ArtificialIntelligence")) if automatic else \
                "MorphologicalOperations"
            ident = hd.AlgorithmIdentificationSequence(
                name=name[:64], family=getattr(codes.cid7162, family, codes.cid7162.ArtificialIntelligence),
                version=str(method.get("Version") or __version__)[:64])
        category, prop = segment_codes(lab)
        r, g, b = (int(lab.color[i:i + 2], 16) for i in (1, 3, 5))
        out.append(hd.seg.SegmentDescription(
            segment_number=number, segment_label=lab.name[:64], segmented_property_category=category,
            segmented_property_type=prop, algorithm_type=kind, algorithm_identification=ident,
            tracking_id=f"{lab.name} {version}"[:64], tracking_uid=hd.UID(),
            display_color=hd.color.CIELabColor.from_rgb(r, g, b)))
        rows.append({"SegmentNumber": number, "Label": lab.index, "Name": lab.name, "Color": lab.color,
                     "AlgorithmType": kind, "Category": category.meaning, "Type": prop.meaning})
    return out, rows


# --- The export ---


def export_seg(spec: str, out: str | os.PathLike, *, dicom: str | os.PathLike | None = None,
               deidentify: bool = False, uid_salt: str | None = None) -> SegExport:
    """Write a DICOM SEG (BINARY, one segment per label present) of a case version.

    Parameters
    ----------
    spec : str
        ``CASE`` (the approved version, else the latest) or ``CASE@vN``.
    out : path
        The ``.dcm`` file to write (atomically).
    dicom : path, optional
        A folder holding the source series; needed unless the case names a DICOMweb source
        (``Source.Retrieve`` in ``ct.json`` or ``retrieve.json`` of ``ctlabel pull``), and always
        for a case whose UIDs were pseudonymized (files are then matched by pixel hash).
    deidentify : bool
        Write the patient and study modules under the de-identification profile, with
        pseudonymized UIDs (the case's own pseudonyms when it has them, else salted with ``uid_salt``).
    uid_salt : str, optional
        Salt of the UID pseudonyms under ``deidentify`` (default: random, so not linkable).

    Returns
    -------
    SegExport

    Raises
    ------
    InputError
        A tilted (sheared) case, paint on a padded slice, labels missing from ``labels.tsv``,
        an empty version, source files that cannot be found or do not match.
    CaseError, ProvenanceError
        No such version; a version whose voxels do not match its sidecar.
    """
    import highdicom as hd

    from ctlabel.case.record import load_case_record, version_name
    from ctlabel.io.atomic import atomic_path

    case, number = parse_spec(spec)
    record = load_case_record(case)
    n, approved = choose_version(case, number, record)
    name = version_name(n)
    img = case.image_record()
    source, geometry = img.get("Source") or {}, img.get("Geometry") or {}
    grid = case.image_grid()
    if is_sheared(grid.affine):
        raise InputError("the case is gantry-tilted (its slices are stacked off the slice normal, a sheared grid); "
                         "ctlabel does not write a DICOM SEG of a tilted series", case.image_path)
    slices = source.get("Slices") or []
    if len(slices) != grid.shape[0]:
        raise ProvenanceError(f"ct.json lists {len(slices)} source slices for {grid.shape[0]} image slices; "
                              "the frames cannot be referenced", case.image_sidecar)
    if any(s and int(s.get("Frame", 1) or 1) != 1 for s in slices):
        raise InputError("the source is a multi-frame (enhanced) image; export-seg references single-frame "
                         "instances only", case.image_sidecar)
    mask = case.load_version(n)
    if not mask.hash_matches:
        raise ProvenanceError(f"{name} voxels do not match its sidecar (edited outside ctlabel)", mask.path)
    padded = [k for k, s in enumerate(slices) if not s]
    painted_padded = [k for k in padded if mask.array[k].any()]
    if painted_padded:
        raise InputError(f"{name} holds labels on padded slice(s) {painted_padded}, which have no source instance "
                         "to reference; erase them (QA flags them) and submit again", mask.path)
    table = case.load_labels()
    present = [int(v) for v in np.unique(mask.array) if v]
    if not present:
        raise InputError(f"{name} is empty: no segment to write", mask.path)
    unknown = [v for v in present if v not in table]
    if unknown:
        raise InputError(f"label value(s) {unknown} of {name} are not in labels.tsv, so the segments cannot be "
                         "named; add them to the label table first", case.labels_path)

    files, matched_by = source_datasets(case, source, grid.shape, dicom)
    real = [k for k, s in enumerate(slices) if s]

    labels = [table[v] for v in present]
    lut = np.zeros(int(mask.array.max()) + 1, dtype=np.uint16 if len(labels) > 255 else np.uint8)
    for number, lab in enumerate(labels, 1):
        lut[lab.index] = number
    pixels = lut[mask.array[real]]
    entries = {k: dict(v) for k, v in (mask.provenance.labels if mask.provenance is not None else {}).items()}
    descriptions, rows = segment_descriptions(labels, entries, name)
    annotator, reviewer = _people(record, name, mask.provenance.annotator if mask.provenance is not None else None)
    description = f"ctlabel {name} " + (f"approved by {reviewer}" if reviewer else "not approved")
    sources = [files[k] for k in real]
    if deidentify:
        salt = uid_salt or secrets.token_hex(16)
        sources = deidentified_sources(sources, _deidentified_uids(source, slices, real, files, salt))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # highdicom's remarks on the source's person names
            seg = hd.seg.Segmentation(
                source_images=sources, pixel_array=pixels, segmentation_type="BINARY",
                segment_descriptions=descriptions, series_instance_uid=hd.UID(),
                series_number=SEG_SERIES_NUMBER_BASE + n, sop_instance_uid=hd.UID(), instance_number=1,
                manufacturer="ctlabel", manufacturer_model_name="ctlabel", software_versions=str(__version__),
                device_serial_number=DEVICE_SERIAL_NUMBER, series_description=description[:64], content_label="CTLABEL",
                content_description=f"{name} of a ctlabel case"[:64], content_creator_name=_person_name(annotator),
                omit_empty_frames=True, specific_character_set="ISO_IR 192")
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        raise InputError(f"highdicom cannot build the SEG ({type(exc).__name__}: {exc})", mask.path) from None
    # highdicom copies the source's study module whole; Requesting Service (0032,1033) is not part of
    # the SEG IOD (dciodvfy warns) and names a department, so it is left out
    if "RequestingService" in seg:
        del seg.RequestingService
    if deidentify:
        from pydicom.sr.codedict import codes

        seg.PatientIdentityRemoved = "YES"
        seg.DeidentificationMethod = "ctlabel export-seg --deidentify: PS3.15 Annex E basic profile"
        seg.DeidentificationMethodCodeSequence = [hd.sr.CodedConcept.from_code(
            codes.DCM.BasicApplicationConfidentialityProfile)]
    out = Path(out)
    try:
        with atomic_path(out) as tmp:
            seg.save_as(tmp, enforce_file_format=True)
    except CtlabelError:
        raise
    except (ValueError, TypeError) as exc:
        raise InputError(f"cannot write the SEG ({type(exc).__name__}: {exc})", out) from None
    return SegExport(
        case=str(case.root), version=name, approved=approved, out=str(out), annotator=annotator, reviewer=reviewer,
        series_description=description[:64], sop_instance_uid=str(seg.SOPInstanceUID),
        series_instance_uid=str(seg.SeriesInstanceUID), matched_by=matched_by, deidentified=deidentify,
        frames=int(seg.NumberOfFrames), referenced_instances=[str(s.SOPInstanceUID) for s in sources],
        segments=rows, padded_slices=[int(k) for k in geometry.get("MissingSlices", padded)])


__all__ = ["SegExport", "algorithm_type", "export_seg", "match_sources", "parse_spec", "segment_codes"]
