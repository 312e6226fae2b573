"""Find DICOM image stacks in folders, files and DICOMDIRs, reading headers only.

:func:`find_series` groups files into stacks by SeriesInstanceUID and geometry
(orientation, rows, columns) and classifies each stack (volume, single slice,
localizer, secondary capture or dose report, non-image object).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import warnings
from collections import defaultdict
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from ctlabel.case_naming import case_folder_name
from ctlabel.deid import IDENTIFYING_KEYWORDS
from ctlabel.dicom_fast import read_fast_header
from ctlabel.dicom_headers import (
    BadValue,
    PixelSizeMismatch,
    RawPixels,
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
from ctlabel.errors import CtlabelError, DicomReadError, InputError
from ctlabel.geometry import analyze_stack
from ctlabel.model import IMAGE_KINDS, StackKind

#: Fewer files than this are scanned in-process: starting workers would cost more than it saves.
PARALLEL_SCAN_MIN_FILES = 2000

#: Read every header with pydicom (the tests compare both paths).
_PYDICOM_ONLY = False

#: Kinds of stack, in the order they are listed. ``ambiguous``: images of one series share
#: positions with different pixels (a 4-D or mixed series), so no single volume can be built.
KINDS = tuple(StackKind)

#: File endings that are never DICOM; such files are skipped without a fault.
NON_DICOM_SUFFIXES = {
    ".txt", ".json", ".md", ".rst", ".csv", ".tsv", ".nii", ".gz", ".nrrd", ".py",
    ".png", ".jpg", ".html", ".xml", ".yaml", ".yml", ".zip", ".pdf", ".sh",
}

#: ctlabel's own files, never read as input (a case folder inside the input tree).
OWN_FILES = {"case.lock", "case.json", "ct.json", "labels.tsv", "journal.json"}

SEGMENTATION = "1.2.840.10008.5.1.4.1.1.66.4"
RTSTRUCT = "1.2.840.10008.5.1.4.1.1.481.3"
DIRECTORY = "1.2.840.10008.1.3.10"
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


@dataclass
class FileProblem:
    """A file that was skipped or could not be read, and why."""

    path: str
    reason: str
    fatal: bool = True
    #: The SeriesInstanceUID, when the header got that far.
    series_uid: str = ""

    def to_dict(self) -> dict:
        return {"path": self.path, "reason": self.reason}


@dataclass
class SeriesInfo:
    """Series-level header values shared by the files of a stack."""

    study_uid: str
    series_uid: str
    frame_of_reference_uid: str
    series_number: int | None
    description: str
    modality: str
    sop_class_uid: str
    rows: int
    columns: int
    #: Values of the identifying attributes (:data:`ctlabel.deid.IDENTIFYING_KEYWORDS`) of the stack's
    #: files: only to clean descriptions, never written.
    identifying: tuple[str, ...] = ()
    #: BurnedInAnnotation: ``YES`` when any file of the stack says so, else as the first file says.
    burned_in_annotation: str = ""


@dataclass
class Stack(SeriesInfo):
    """One image stack (or non-image object) found by :func:`find_series`.

    ``slices`` are sorted along the slice normal for image kinds.
    """

    kind: StackKind = StackKind.VOLUME
    slices: list[SliceHeader] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    spacing: tuple[float, float, float] | None = None
    index: int = 0
    #: Why a single image is not converted on its own: it was split off a larger series.
    split_off: str = ""

    @property
    def files(self) -> list[str]:
        return list(dict.fromkeys(s.path for s in self.slices))

    @property
    def n_slices(self) -> int:
        return len(self.slices)

    @property
    def size(self) -> tuple[int, int, int]:
        """(slices, rows, columns)."""
        return (self.n_slices, self.rows, self.columns)

    @property
    def geometry_hash(self) -> str:
        """Short hash of orientation, matrix and slice positions: tells stacks of one series apart."""
        h = hashlib.sha256()
        first = self.slices[0] if self.slices else None
        h.update(repr((self.rows, self.columns)).encode())
        if first is not None and first.orientation is not None:
            h.update(np.round(np.asarray(first.orientation), 4).tobytes())
        for s in self.slices:
            if s.position is not None:
                h.update(np.round(np.asarray(s.position), 3).tobytes())
        return h.hexdigest()[:8]

    def case_name(self, salt: str | None = None) -> str:
        """Deterministic case folder name that holds no patient data and no free text.

        See :func:`ctlabel.case_naming.case_folder_name`; ``salt`` is the
        ``--pseudonymize-uids`` salt.
        """
        return case_folder_name(self.study_uid, self.series_uid, self.series_number,
                                self.instances(), salt)

    def instances(self) -> list[tuple[str, int, tuple[float, float, float] | None]]:
        """``(SOPInstanceUID, frame, ImagePositionPatient)`` of every slice."""
        return [(s.sop_instance_uid, s.frame, s.position) for s in self.slices]

    def summary(self) -> dict:
        """The stack as data: what ``ctlabel scan --json`` prints."""
        return {
            "index": self.index,
            "kind": self.kind,
            "description": self.description,
            "series_number": self.series_number,
            "modality": self.modality,
            "slices": self.n_slices,
            "size": list(self.size),
            "spacing": None if self.spacing is None else [round(v, 4) for v in self.spacing],
            "warnings": list(self.warnings),
            "split_off": self.split_off,
            "references": list(self.references),
            "files": self.files,
            "case_name": self.case_name(),
        }


@dataclass
class ScanResult:
    """Stacks found under some paths, and the files that were skipped or unreadable."""

    stacks: list[Stack]
    problems: list[FileProblem]

    def volumes(self) -> list[Stack]:
        return [s for s in self.stacks if s.kind == StackKind.VOLUME]


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


def _inside(f: Path, root: Path) -> bool:
    try:
        f.resolve().relative_to(root.resolve())
    except (ValueError, OSError, RuntimeError):
        return False
    return True


def _dicomdir_files(path: Path, _depth: int = 0, root: Path | None = None) -> tuple[list[Path], list[FileProblem]]:
    """Files that a DICOMDIR lists (following nested index files), and the listed files that are missing.

    Entries that lead outside the folder of the (top) DICOMDIR, by ``..``, an absolute path
    or a link, are refused with a warning.
    """
    root = root or path.parent
    extra_problems: list[FileProblem] = []
    try:
        import pydicom  # on first need: its import costs ~0.15 s of start-up

        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception as exc:  # noqa: BLE001 - any parse failure is a bad file
        return [], [FileProblem(str(path), f"unreadable DICOMDIR ({exc})")]
    refs = []
    for rec in ds.get("DirectoryRecordSequence", []) or []:
        ref = rec.get("ReferencedFileID")
        if ref is not None:
            refs.append([str(p) for p in ([ref] if isinstance(ref, str) else list(ref))])
    # The file-set root is normally the DICOMDIR's folder; some writers (Philips
    # DIRFILE) place it higher up. Take the nearest ancestor where a listed file exists.
    bases = [path.parent, *list(path.parent.parents)[:3]]
    base = next((b for b in bases if any(b.joinpath(*r).exists() for r in refs)), path.parent)
    files, missing, outside = [], [], []
    for parts in refs:
        f = base.joinpath(*parts)
        if ".." in parts or any(Path(x).is_absolute() for x in parts) or not _inside(f, root):
            outside.append("/".join(parts))
            continue
        (files if f.is_file() else missing).append(f)
    if outside:
        extra_problems.append(FileProblem(str(path), f"DICOMDIR lists {len(outside)} file(s) outside its folder,"
                                          f" e.g. {outside[0]}: refused", fatal=False))
    # A study-level index may list further index files (Philips DIRFILE per series).
    nested = [f for f in files if f.name.upper() in ("DICOMDIR", "DIRFILE") and f != path]
    if nested and _depth < 3:
        files = [f for f in files if f not in nested]
        for sub in nested:
            sub_files, sub_problems = _dicomdir_files(sub, _depth + 1, root)
            files += sub_files
            extra_problems.extend(sub_problems)
    problems = extra_problems
    if missing:
        problems.append(
            FileProblem(
                str(path),
                f"DICOMDIR lists {len(missing)} file(s) that are missing, e.g. {missing[0]}",
                fatal=False,
            )
        )
    return files, problems


def _is_directory_file(path: Path) -> bool:
    if path.name.upper() == "DICOMDIR":
        return True
    try:
        from pydicom.filereader import read_file_meta_info

        meta = read_file_meta_info(path)
    except Exception:  # noqa: BLE001
        return False
    return str(meta.get("MediaStorageSOPClassUID", "")) == DIRECTORY


def _candidate_files(paths) -> tuple[list[Path], list[FileProblem]]:
    files: list[Path] = []
    problems: list[FileProblem] = []
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise InputError("no such file or folder", p)
        if p.is_file():
            if _is_directory_file(p):
                f, pr = _dicomdir_files(p)
                files += f
                problems += pr
            else:
                files.append(p)
            continue
        visited: set[str] = set()
        for root, dirs, names in os.walk(p, followlinks=True):
            real = os.path.realpath(root)
            if real in visited:  # a link back into the tree: walked once only
                problems.append(FileProblem(root, "a linked folder already walked: skipped", fatal=False))
                dirs[:] = []
                continue
            visited.add(real)
            dirs.sort()
            for name in sorted(names):
                f = Path(root) / name
                if name.startswith(".") or name in OWN_FILES or name.startswith("case.lock"):
                    continue
                if f.suffix.lower() in NON_DICOM_SUFFIXES:
                    problems.append(FileProblem(str(f), "not a DICOM file (by name)", fatal=False))
                    continue
                if not f.is_file():
                    problems.append(FileProblem(str(f), "not a regular file (a pipe, device, socket or broken"
                                                        " link): skipped", fatal=False))
                    continue
                files.append(f)
    # A file reached twice (folder walk and DICOMDIR) counts once.
    return list(dict.fromkeys(f.resolve() for f in files)), problems


def read_header(path: str | os.PathLike, seen: dict | None = None) -> tuple:
    """Read a DICOM header with pydicom (no pixel data) and locate native pixel data.

    Returns ``(dataset, RawPixels or None)``; raises :class:`DicomReadError` on failure.
    ``seen["series"]`` gets the SeriesInstanceUID as soon as it is read.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
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
        return None, _dicomdir_files(f)[1]
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
        split_values=tuple(text(ds, k) for k in _SPLIT_KEYS),
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
    return tuple(v for v in (_quiet_text(ds, k).strip() for k in IDENTIFYING_KEYWORDS) if v)


def _read_records(files: list[Path]) -> list[tuple[FileRecord | None, list[FileProblem]]]:
    return [_read_record(f) for f in files]


def find_series(*paths: str | os.PathLike, jobs: int = 1) -> ScanResult:
    """Find image stacks and non-image objects under files, folders or DICOMDIRs.

    Parameters
    ----------
    *paths : str or PathLike
        Folders (walked recursively), DICOM files, or DICOMDIR files.
    jobs : int
        Worker processes that read headers (worth it for hundreds of files).

    Returns
    -------
    ScanResult
        ``stacks`` sorted by kind, study, series number and description;
        ``problems`` lists files that were skipped or could not be read.
    """
    files, problems = _candidate_files(paths)
    if jobs > 1 and len(files) >= PARALLEL_SCAN_MIN_FILES:
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        chunks = [files[i::jobs] for i in range(jobs)]
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("fork")) as pool:
            results = [r for part in pool.map(_read_records, chunks) for r in part]
    else:
        results = _read_records(files)
    groups: dict[tuple, list[FileRecord]] = defaultdict(list)
    for record, pr in results:
        problems += pr
        if record is not None:
            groups[record.key].append(record)

    stacks = []
    for key, members in groups.items():
        members.sort(key=lambda r: r.path)
        for part in _split_duplicates(key[0], members):
            stacks.extend(_make_stacks(key[0], part))
    _mark_split_off(stacks, {p.series_uid for p in problems if p.fatal and p.series_uid})
    order = {k: i for i, k in enumerate(KINDS)}
    stacks.sort(key=lambda s: (order[s.kind], s.study_uid, s.series_number or 0, s.series_uid, s.geometry_hash,
                               s.slices[0].path if s.slices else ""))
    for i, s in enumerate(stacks, 1):
        s.index = i
    return ScanResult(stacks, problems)


#: Attributes that tell apart images of one series that share slice positions.
_SPLIT_KEYS = ("AcquisitionNumber", "ImageType", "TemporalPositionIdentifier")


def _has_duplicates(members: list) -> bool:
    seen = set()
    for m in members:
        for h in m.headers:
            key = (h.frame, tuple(np.round(h.position, 2)) if h.position else None)
            if key[1] is not None and key[1] in seen:
                return True
            seen.add(key[1])
    return False


def _split_duplicates(kind: str, members: list) -> list[list]:
    """Split a group whose slices share positions into stacks that do not.

    Tries AcquisitionNumber, ImageType and TemporalPositionIdentifier in turn. A
    group whose every slice lies at one position (copies of one slice, e.g. in
    several transfer syntaxes) becomes one single-slice stack per file. What is
    left is kept, and :func:`load_series` drops identical duplicates and refuses
    conflicting ones.
    """
    if kind != "image" or len(members) < 2 or not _has_duplicates(members):
        return [members]
    for n in range(1, len(_SPLIT_KEYS) + 1):
        parts: dict[tuple, list] = defaultdict(list)
        for m in members:
            parts[m.split_values[:n]].append(m)
        if len(parts) > 1 and not any(_has_duplicates(p) for p in parts.values()):
            return list(parts.values())
    positions = {tuple(np.round(h.position, 2)) for m in members for h in m.headers}
    if len(positions) == 1:
        return [[m] for m in members]  # explained by _mark_split_off
    return [members]


def _mark_split_off(stacks: list[Stack], failed_series: set[str]) -> None:
    """Explain single images that are part of a larger series; only a series of one image converts.

    Images of one series that all share one position are told apart from a series split
    into a volume and stray slices.
    """
    by_series: dict[str, list[Stack]] = defaultdict(list)
    for s in stacks:
        if s.kind in IMAGE_KINDS and s.series_uid:
            by_series[s.series_uid].append(s)
    for uid, group in by_series.items():
        singles = [s for s in group if s.kind == StackKind.SINGLE]
        if uid in failed_series:
            for s in singles:
                s.split_off = s.split_off or "the other images of this series could not be read: not converted alone"
        if not singles or len(group) < 2:
            continue
        if len(singles) == len(group):
            positions = {tuple(np.round(s.slices[0].position, 2)) for s in singles}
            if len(positions) == 1:
                reason = f"{len(singles)} images of this series share one position: not a volume"
            else:
                reason = f"{len(singles)} single images of one series at different orientations or sizes"
        else:
            images = sum(s.n_slices for s in group)
            reason = (f"a slice split off a series of {images} images (its geometry, frame of reference, study,"
                      " modality or photometric interpretation differs from the others', or it is a duplicate)")
            main = max(group, key=lambda s: s.n_slices)
            stray = [s for s in singles if not s.split_off]
            if stray:
                main.warnings.append(f"split_off_slices: {len(stray)} image(s) of this series are not in this"
                                     f" stack: {', '.join(os.path.basename(s.files[0]) for s in stray[:5])}")
        for s in singles:
            s.split_off = s.split_off or reason


#: A slice may lie this far (mm, or this fraction of the pixel spacing) off its stack's line.
OFF_LINE_TOLERANCE_MM = 0.05
OFF_LINE_TOLERANCE_PIXELS = 0.05


def _off_line(headers: list[SliceHeader]) -> list[int]:
    """Indices of slices whose position lies off the line of the others (robust fit, in-plane)."""
    if len(headers) < 3:
        return []
    pos = np.array([h.position for h in headers], dtype=float)
    iop = np.asarray(headers[0].orientation, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    d = pos @ normal
    order = np.argsort(d, kind="stable")
    d, pos = d[order], pos[order]
    inplane = np.stack([pos @ iop[:3], pos @ iop[3:]], axis=1)
    steps = np.diff(d)
    keep = steps > 1e-6
    if keep.sum() < 2:
        return []
    slopes = np.median(np.diff(inplane, axis=0)[keep] / steps[keep, None], axis=0)
    intercept = np.median(inplane - d[:, None] * slopes[None], axis=0)
    residual = np.linalg.norm(inplane - intercept[None] - d[:, None] * slopes[None], axis=1)
    ps = min(headers[0].pixel_spacing or (1.0, 1.0))
    tol = max(OFF_LINE_TOLERANCE_MM, OFF_LINE_TOLERANCE_PIXELS * ps)
    return sorted(int(order[i]) for i in np.flatnonzero(residual > tol))


def _make_stacks(kind: str, members: list[FileRecord]) -> list[Stack]:
    """One stack from a group of files; slices off the stack's line are split off as singles."""
    if kind == "image":
        headers = [h for m in members for h in m.headers]
        off = set(_off_line(headers))
        if off and len(off) < len(headers):
            stray = [h for i, h in enumerate(headers) if i in off]
            main = _make_stack(kind, members, [h for i, h in enumerate(headers) if i not in off])
            main.warnings.append(
                f"off_line_slices: {len(stray)} slice(s) lie off this stack's line (more than"
                f" {OFF_LINE_TOLERANCE_MM} mm or {OFF_LINE_TOLERANCE_PIXELS:.0%} of a pixel in-plane) and were"
                f" split off: {', '.join(os.path.basename(h.path) for h in stray[:5])}")
            singles = [_make_stack(kind, members, [h]) for h in stray]
            for single in singles:
                single.split_off = "a slice off the line of its series' other slices (shifted in-plane)"
            return [main, *singles]
    return [_make_stack(kind, members)]


def _make_stack(kind: str, members: list[FileRecord], headers: list[SliceHeader] | None = None) -> Stack:
    r0 = members[0]
    headers = [h for m in members for h in m.headers] if headers is None else headers
    series = {f.name: getattr(r0, f.name) for f in fields(SeriesInfo)}
    stack = Stack(kind=StackKind.VOLUME if kind == "image" else StackKind(kind), slices=headers, **series)
    stack.identifying = tuple(dict.fromkeys(v for m in members for v in m.identifying))
    if any(m.burned_in_annotation == "YES" for m in members):
        stack.burned_in_annotation = "YES"
    if kind == StackKind.NONIMAGE:
        stack.references = list(r0.references)
        return stack
    if kind != "image":
        return stack
    spacings = {h.pixel_spacing for h in headers}
    if None in spacings or len({tuple(np.round(s, 4)) for s in spacings if s}) > 1:
        stack.warnings.append("inconsistent_pixel_spacing: slices disagree on PixelSpacing")
    geo = analyze_stack(
        np.array([h.position for h in headers]), headers[0].orientation, headers[0].slice_thickness
    )
    stack.slices = [headers[i] for i in geo.order]
    stack.warnings += geo.warnings
    stack.warnings += list(dict.fromkeys(n for h in headers for n in h.notes))
    ps = headers[0].pixel_spacing or (1.0, 1.0)
    stack.spacing = (geo.spacing_mm, ps[0], ps[1])
    stack.kind = StackKind.VOLUME if len(headers) >= 2 else StackKind.SINGLE
    conflicts = _conflicting_duplicates(stack.slices, geo.duplicates, stack.rows, stack.columns)
    if conflicts:
        stack.kind = StackKind.AMBIGUOUS
        stack.warnings.append(
            f"conflicting_duplicates: {conflicts} position(s) hold two different images (a 4-D or mixed"
            " series that AcquisitionNumber, ImageType and TemporalPositionIdentifier do not split):"
            " not a volume; ctlabel will not guess which images belong together")
    return stack


def _conflicting_duplicates(slices: list[SliceHeader], pairs: list[tuple[int, int]], rows: int, cols: int) -> int:
    """How many duplicated positions hold different pixels (reads only those slices' pixels)."""
    if not pairs:
        return 0
    from ctlabel.dicom_read import slice_pixel_hash

    count = 0
    for a, b in pairs:
        try:
            if slice_pixel_hash(slices[a], rows, cols) != slice_pixel_hash(slices[b], rows, cols):
                count += 1
        except (CtlabelError, ValueError):
            return 0  # unreadable pixels: loading reports the file and the reason
    return count


__all__ = ["KINDS", "FileProblem", "PixelSizeMismatch", "RawPixels", "ScanResult", "SliceHeader", "Stack",
           "find_series", "read_header"]
