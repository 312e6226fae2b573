"""One file's header record: read with the fast element walker (else pydicom), validated, classified."""

from __future__ import annotations

import contextlib
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from ctlabel.deid import IDENTIFYING_KEYWORDS
from ctlabel.dicom.deflate import inflated_file
from ctlabel.dicom.fast import FastHeader, read_fast_header
from ctlabel.dicom.headers import (
    BadValue,
    PixelSizeMismatch,
    SliceHeader,
    counts,
    orientation_key,
    raw_layout,
    raw_pixels_after,
    references,
    slice_headers,
    text,
    whole,
)
from ctlabel.dicom.stacks import FileProblem, SeriesInfo
from ctlabel.dicom.walk import DIRECTORY, dicomdir_files
from ctlabel.errors import DicomReadError

#: Read every header with pydicom (the tests compare both paths).
_PYDICOM_ONLY = False

SEGMENTATION = "1.2.840.10008.5.1.4.1.1.66.4"
RTSTRUCT = "1.2.840.10008.5.1.4.1.1.481.3"
_NONIMAGE_PREFIXES = (
    "1.2.840.10008.5.1.4.1.1.66",  # segmentation, registration, ...
    "1.2.840.10008.5.1.4.1.1.481",  # RT objects except RT image (.481.1, below)
    "1.2.840.10008.5.1.4.1.1.88",  # structured reports
    "1.2.840.10008.5.1.4.1.1.11",  # presentation states
    "1.2.840.10008.5.1.4.1.1.104",  # encapsulated PDF/CDA
)
_DOSE_REPORTS = ("1.2.840.10008.5.1.4.1.1.88.67", "1.2.840.10008.5.1.4.1.1.88.68")
_SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
_ENHANCED = ("1.2.840.10008.5.1.4.1.1.2.1", "1.2.840.10008.5.1.4.1.1.2.2")

#: Attributes that tell apart images of one series that share slice positions.
SPLIT_KEYS = ("AcquisitionNumber", "ImageType", "TemporalPositionIdentifier")


def _is_image_class(sop_class: str) -> bool:
    """True for image storage SOP classes (CT, MR, PET, X-ray ...), which must carry Rows and Columns."""
    if not sop_class.startswith("1.2.840.10008.5.1.4.1.1."):
        return False
    return not sop_class.startswith((*_NONIMAGE_PREFIXES, *_DOSE_REPORTS)) or sop_class.endswith(".481.1")


def _classify(sop_class: str, image_type: list[str], has_geometry: bool, has_rows: bool) -> str:
    if sop_class.startswith(_DOSE_REPORTS) or sop_class.startswith(_SECONDARY_CAPTURE):
        return "secondary"
    if sop_class.startswith(_NONIMAGE_PREFIXES) and not sop_class.endswith(".481.1"):
        return "nonimage"
    if not has_rows:
        return "nonimage"
    if "LOCALIZER" in image_type:
        return "localizer"
    if not has_geometry:
        return "secondary"
    return "image"



def read_header(path: str | os.PathLike, seen: dict | None = None) -> tuple:
    """Read a DICOM header with pydicom (no pixel data) and locate native pixel data.

    Returns ``(dataset, RawPixels or None)``; raises :class:`DicomReadError` on failure.
    ``seen["series"]`` gets the SeriesInstanceUID as soon as it is read.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        inflated = inflated_file(path)  # a deflated file: inflated within what its header declares
        if inflated is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(inflated, stop_before_pixels=True)
            ds.file_meta.TransferSyntaxUID = pydicom.uid.DeflatedExplicitVRLittleEndian
            if seen is not None:
                with contextlib.suppress(BadValue):
                    seen["series"] = text(ds, "SeriesInstanceUID")
            return ds, None
        with warnings.catch_warnings(), open(path, "rb") as fp:
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(fp, stop_before_pixels=True)
            if seen is not None:
                with contextlib.suppress(BadValue):
                    seen["series"] = text(ds, "SeriesInstanceUID")
            try:
                raw = raw_pixels_after(ds, fp, counts(ds, path))
            except BadValue as exc:
                raise DicomReadError(str(exc), path) from None
            except (OSError, ValueError, TypeError):
                raw = None
            return ds, raw
    except DicomReadError:
        raise
    except InvalidDicomError:
        raise DicomReadError("not a DICOM file (no DICM preamble)", path) from None
    except Exception as exc:  # noqa: BLE001 - pydicom raises many kinds on bad bytes
        raise DicomReadError(f"cannot read the DICOM header ({type(exc).__name__}: {exc})", path) from None


@dataclass
class FileRecord(SeriesInfo):
    """What the scan keeps of one file's header: small and picklable."""

    path: str = ""
    kind: str = ""
    key: tuple = ()
    split_values: tuple[str, ...] = ()
    references: list[str] = field(default_factory=list)
    headers: list[SliceHeader] = field(default_factory=list)


def _read_record(f: Path) -> tuple[FileRecord | None, list[FileProblem]]:
    """Read one file's header into a :class:`FileRecord`, or say why not.

    Never raises: a file whose values cannot be used becomes one failed entry with the reason.
    """
    seen: dict[str, str] = {}
    try:
        # Scanner files often carry slightly malformed values (UIDs, decimal strings); they are
        # read as they are, checked by dicom_headers, and pydicom's warnings about them are muted
        # here (no global setting of pydicom is changed).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _parse_record(f, seen)
    except DicomReadError as exc:
        reason = exc.reason
    except PixelSizeMismatch as exc:
        reason = str(exc)
    except BadValue as exc:
        reason = f"bad header value: {exc}"
    except RecursionError:
        reason = "the header nests sequences too deeply"
    except Exception as exc:  # noqa: BLE001 - the last guard: one bad file never stops a batch
        reason = f"malformed header ({type(exc).__name__}: {exc})"
    return None, [FileProblem(str(f), reason, series_uid=seen.get("series", ""))]


def _parse_record(f: Path, seen: dict[str, str]) -> tuple[FileRecord | None, list[FileProblem]]:
    if not f.is_file():
        return None, [FileProblem(str(f), "not a regular file (a pipe, device or socket): skipped", fatal=False)]
    fast = read_fast_header(f) if not _PYDICOM_ONLY else None
    if fast is not None:
        ds = fast
        with contextlib.suppress(BadValue):
            seen["series"] = text(ds, "SeriesInstanceUID")
        c = counts(fast, f)
        raw = raw_layout(fast, c, fast.pixel[1], fast.pixel[2])
    else:
        ds, raw = read_header(f, seen)
        c = counts(ds, f)
    sop_class = text(ds, "SOPClassUID") or str(ds.file_meta.get("MediaStorageSOPClassUID", ""))
    if sop_class == DIRECTORY or "DirectoryRecordSequence" in ds:
        return None, dicomdir_files(f)[1]
    if "SOPClassUID" not in ds and "SeriesInstanceUID" not in ds:
        return None, [FileProblem(str(f), "truncated or empty DICOM data set (no SOP class, no series)")]
    if _is_image_class(sop_class) and not (c.rows and c.columns):
        return None, [FileProblem(str(f), "truncated image header: an image storage object without Rows and"
                                          " Columns (the file ends early or lost its image attributes)")]
    image_type = [v.strip().upper() for v in text(ds, "ImageType").split("\\") if v.strip()]
    headers = slice_headers(ds, str(f), c.frames, raw)
    has_geometry = all(h.position and h.orientation for h in headers)
    kind = _classify(sop_class, image_type, has_geometry, "Rows" in ds)
    series_uid = text(ds, "SeriesInstanceUID")
    key: tuple
    if kind == "image":
        spacing = headers[0].pixel_spacing
        key = (kind, series_uid, text(ds, "StudyInstanceUID"), text(ds, "FrameOfReferenceUID"),
               text(ds, "Modality"), text(ds, "PhotometricInterpretation") or "MONOCHROME2",
               orientation_key(headers[0].orientation), c.rows, c.columns,
               None if spacing is None else tuple(round(v, 4) for v in spacing))
    elif kind == "nonimage":
        key = (kind, series_uid, str(f))
    else:
        key = (kind, series_uid, c.rows, c.columns)
    return FileRecord(
        path=str(f),
        kind=kind,
        key=key,
        study_uid=text(ds, "StudyInstanceUID"),
        series_uid=series_uid,
        frame_of_reference_uid=text(ds, "FrameOfReferenceUID"),
        series_number=whole(ds, "SeriesNumber"),
        description=text(ds, "SeriesDescription"),
        modality=text(ds, "Modality"),
        sop_class_uid=sop_class,
        rows=c.rows,
        columns=c.columns,
        split_values=tuple(text(ds, k) for k in SPLIT_KEYS),
        identifying=_identifying(ds),
        burned_in_annotation=_quiet_text(ds, "BurnedInAnnotation").strip().upper(),
        references=references(ds) if kind == "nonimage" else [],
        headers=headers,
    ), []


def _quiet_text(ds, key: str) -> str:
    """A text value (a person name as written), or ``''`` when it cannot be read: it never fails a file."""
    try:
        value = ds.get(key, "")
    except Exception:  # noqa: BLE001 - pydicom converts raw bytes lazily and raises many kinds
        return ""
    if value is None or isinstance(value, (bytes, bytearray)):
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value)


def _identifying(ds) -> tuple[str, ...]:
    """The non-empty values of the file's identifying attributes (see :mod:`ctlabel.deid`)."""
    if isinstance(ds, FastHeader):  # plain values already: a non-ASCII or multi-valued one went to pydicom
        values = (ds.get(k) for k in IDENTIFYING_KEYWORDS)
        return tuple(t for t in (str(v).strip() for v in values if v is not None) if t)
    return tuple(v for v in (_quiet_text(ds, k).strip() for k in IDENTIFYING_KEYWORDS) if v)


def read_records(files: list[Path]) -> list[tuple[FileRecord | None, list[FileProblem]]]:
    """The header record of each file, or why it has none; never raises for a bad file.

    Parameters
    ----------
    files : list of pathlib.Path
        The files to read.

    Returns
    -------
    list of (FileRecord or None, list of FileProblem)
        Per file, in order: its record (None when unusable) and the problems found.
    """
    return [_read_record(f) for f in files]


__all__ = ["SEGMENTATION", "RTSTRUCT", "FileRecord", "read_header", "read_records"]
