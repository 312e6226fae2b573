"""DICOM SEG import onto a case's exact grid: BINARY, FRACTIONAL and LABELMAP segmentations.

Frames are mapped to case slices by the referenced source SOPInstanceUID (the
case sidecar's ``Source.Slices[k]``) when the SEG names one, else by
ImagePositionPatient against the case grid; either way the frame's position,
orientation and pixel spacing must be those of slice ``k``. Nothing is resampled.

Pixel values, by SegmentationType:

* ``BINARY``: each frame belongs to the segment of its ReferencedSegmentNumber;
  a pixel is in the segment when its value is 1.
* ``FRACTIONAL``: as BINARY, and a pixel is in the segment when its value is at
  least half of MaximumFractionalValue (the standard's full probability or
  occupancy), whatever the frame's own maximum.
* ``LABELMAP`` (SOP class 1.2.840.10008.5.1.4.1.1.66.7): the pixel value IS the
  segment number. Value 0 and the Pixel Padding Value are background and never a
  label (a segment 0, often called 'Background', is not imported); a value that
  no segment describes is refused.

Pixel data that cannot be decoded (a broken RLE or JPEG stream, a truncated
frame) is a :class:`~ctlabel.errors.DicomReadError` naming the file, the frame
and the decoder's reason.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ctlabel.case.folder import Case
from ctlabel.errors import CtlabelError, DicomReadError, GeometryError, InputError
from ctlabel.geometry import LPS_TO_RAS
from ctlabel.intake.imported import POSITION_TOLERANCE_MM, Imported, Segment
from ctlabel.volume import AFFINE_TOLERANCE_MM, Grid

SEG_TYPES = ("BINARY", "FRACTIONAL", "LABELMAP")


def case_slice_positions(case: Case, grid: Grid) -> np.ndarray:
    """ImagePositionPatient (LPS, mm) of every case slice.

    Parameters
    ----------
    case : Case
        The case whose image sidecar lists the source slices.
    grid : Grid
        The case image grid.

    Returns
    -------
    numpy.ndarray
        ``(n_slices, 3)`` positions: ``Source.Slices[k].ImagePositionPatient`` where the sidecar lists
        slice ``k`` (right for irregular series too), else from the affine (padded or unlisted slices).
    """
    lps = np.linalg.inv(LPS_TO_RAS) @ grid.affine
    k = np.arange(grid.shape[0])
    positions = lps[:3, 3][None] + k[:, None] * lps[:3, 2][None]
    slices = (case.image_record().get("Source") or {}).get("Slices") or []
    if len(slices) == grid.shape[0]:
        for j, s in enumerate(slices):
            if s and s.get("ImagePositionPatient") is not None:
                positions[j] = np.asarray(s["ImagePositionPatient"], dtype=float)
    return positions


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


class _SegFrames:
    """Places the frames of one SEG on the case grid (geometry checks and slice matching)."""

    def __init__(self, seg: Any, path: Path, case: Case, grid: Grid) -> None:
        self.seg, self.path, self.grid = seg, path, grid
        source = case.image_record().get("Source") or {}
        slices = source.get("Slices") or []
        self.uid_to_k = {s["SOPInstanceUID"]: k for k, s in enumerate(slices)
                         if s and s.get("SOPInstanceUID") and s.get("Frame", 1) == 1}
        for_uid = source.get("FrameOfReferenceUID")
        seg_for = getattr(seg, "FrameOfReferenceUID", None)
        if for_uid and seg_for and for_uid != seg_for and not source.get("UIDsPseudonymized"):
            raise GeometryError(f"the SEG's FrameOfReferenceUID {seg_for} is not the case's {for_uid}", path)
        _, nrow, ncol = grid.shape
        if (int(seg.Rows), int(seg.Columns)) != (nrow, ncol):
            raise GeometryError(f"the SEG frames are {seg.Rows}x{seg.Columns} but the case slices are "
                                f"{nrow}x{ncol}; ctlabel never resamples a mask", path)
        lps = np.linalg.inv(LPS_TO_RAS) @ grid.affine
        col_dir, row_dir = lps[:3, 0], lps[:3, 1]
        # in-memory (row, column) spacing: column step is affine column 0, row step column 1
        self.dx, self.dy = float(np.linalg.norm(col_dir)), float(np.linalg.norm(row_dir))
        self.iop_case = np.concatenate([col_dir / self.dx, row_dir / self.dy])
        self.positions = case_slice_positions(case, grid)
        self.shared = seg.SharedFunctionalGroupsSequence[0] if "SharedFunctionalGroupsSequence" in seg else None
        self.per_frame = seg.PerFrameFunctionalGroupsSequence if "PerFrameFunctionalGroupsSequence" in seg else None
        self.by_uid = self.by_pos = 0

    def attr(self, i: int, seq: str) -> Any:
        """Item of functional group ``seq`` for frame index ``i`` (per-frame, else shared)."""
        item = self.per_frame[i] if self.per_frame is not None and i < len(self.per_frame) else None
        if item is not None and seq in item and len(item[seq].value):
            return item[seq].value[0]
        if self.shared is not None and seq in self.shared and len(self.shared[seq].value):
            return self.shared[seq].value[0]
        return None

    def slice_of(self, i: int, what: str) -> int:
        """Case slice index of frame index ``i``, after checking its spacing, orientation and position."""
        path = self.path
        pm = self.attr(i, "PixelMeasuresSequence")
        if pm is not None and "PixelSpacing" in pm:
            sp = [float(v) for v in pm.PixelSpacing]  # (row spacing, column spacing)
            if abs(sp[0] - self.dy) > AFFINE_TOLERANCE_MM * 10 or abs(sp[1] - self.dx) > AFFINE_TOLERANCE_MM * 10:
                raise GeometryError(f"frame {i + 1}: pixel spacing {sp} is not the case's [{self.dy:.6g}, "
                                    f"{self.dx:.6g}]; ctlabel never resamples a mask", path)
        po = self.attr(i, "PlaneOrientationSequence")
        if po is not None and "ImageOrientationPatient" in po:
            iop = np.asarray([float(v) for v in po.ImageOrientationPatient])
            if iop.shape != (6,) or not np.allclose(iop, self.iop_case, atol=1e-4):
                raise GeometryError(f"frame {i + 1}: orientation {iop.round(5).tolist()} is not the case's "
                                    f"{self.iop_case.round(5).tolist()}; ctlabel never resamples a mask", path)
        pp = self.attr(i, "PlanePositionSequence")
        ipp = None
        if pp is not None and "ImagePositionPatient" in pp:
            ipp = np.asarray([float(v) for v in pp.ImagePositionPatient])
            if ipp.shape != (3,) or not np.all(np.isfinite(ipp)):
                raise InputError(f"frame {i + 1}: ImagePositionPatient {pp.ImagePositionPatient} is not 3 numbers",
                                 path)
        k = None
        der = self.attr(i, "DerivationImageSequence")
        if der is not None and "SourceImageSequence" in der:
            for src in der.SourceImageSequence:
                k = self.uid_to_k.get(str(src.get("ReferencedSOPInstanceUID", "")))
                if k is not None:
                    self.by_uid += 1
                    break
        if k is None and ipp is not None:
            d = np.linalg.norm(self.positions - ipp[None], axis=1)
            j = int(np.argmin(d))
            if d[j] <= POSITION_TOLERANCE_MM * max(1.0, float(np.abs(ipp).max()) / 100):
                k = j
                self.by_pos += 1
        if k is None:
            raise GeometryError(f"frame {i + 1} ({what}) matches no case slice by SOPInstanceUID or "
                                "position; ctlabel never resamples a mask", path)
        if ipp is not None and np.linalg.norm(self.positions[k] - ipp) > 0.01:
            raise GeometryError(f"frame {i + 1} refers to slice {k} but lies "
                                f"{np.linalg.norm(self.positions[k] - ipp):.3g} mm from it", path)
        return k

    def pixels(self, i: int) -> np.ndarray:
        """Stored values of frame index ``i``; a decoding failure is a :class:`DicomReadError`."""
        try:
            pix = self.seg.get_stored_frame(i + 1)
        except Exception as exc:  # noqa: BLE001 - pydicom's decoders and plugins raise many kinds
            ts = getattr(getattr(self.seg, "file_meta", None), "TransferSyntaxUID", None)
            syntax = f" ({ts.name})" if ts is not None else ""
            raise DicomReadError(f"frame {i + 1} of the SEG pixel data cannot be decoded{syntax}: "
                                 f"{_one_line(exc)}", self.path) from None
        if pix.shape != self.grid.shape[1:]:
            raise DicomReadError(f"frame {i + 1} decodes to shape {pix.shape}, not {self.grid.shape[1:]}", self.path)
        return pix


def _segment_table(seg: Any, path: Path) -> dict[int, str]:
    """Segment number -> SegmentLabel, from the SegmentSequence."""
    out: dict[int, str] = {}
    for item in seg.get("SegmentSequence") or []:
        if "SegmentNumber" not in item:
            raise InputError("a SegmentSequence item has no SegmentNumber", path)
        out[int(item.SegmentNumber)] = str(item.get("SegmentLabel", ""))
    return out


def read_seg(path: Path, case: Case, grid: Grid) -> Imported:
    """Read a DICOM SEG onto the case grid.

    Parameters
    ----------
    path : Path
        The SEG file.
    case : Case
        The case it is imported into (its sidecar lists the source slices).
    grid : Grid
        The case image grid.

    Returns
    -------
    Imported
        One boolean mask per (non-background) segment on the case grid, and provenance ``info``.

    Raises
    ------
    InputError
        Not a SEG highdicom can read, an unknown SegmentationType, frames naming no
        described segment, LABELMAP pixel values no segment describes.
    DicomReadError
        Pixel data that cannot be decoded.
    GeometryError
        Frames that are not on the case grid.
    """
    import highdicom as hd

    try:
        seg = hd.seg.segread(os.fspath(path))
    except Exception as exc:  # noqa: BLE001 - pydicom/highdicom raise many kinds
        raise InputError(f"cannot read as DICOM SEG ({_one_line(exc)})", path) from None
    try:
        return _read(seg, path, case, grid)
    except CtlabelError:
        raise
    except (ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
        raise InputError(f"malformed DICOM SEG ({_one_line(exc)})", path) from None


def _read(seg: Any, path: Path, case: Case, grid: Grid) -> Imported:
    seg_type = str(seg.get("SegmentationType", "")).upper()
    if seg_type not in SEG_TYPES:
        raise InputError(f"SegmentationType {seg_type!r} is not one of {', '.join(SEG_TYPES)}", path)
    names = _segment_table(seg, path)
    frames = _SegFrames(seg, path, case, grid)
    info: dict[str, Any] = {}
    if seg_type == "LABELMAP":
        background = {0}
        if seg.get("PixelPaddingValue") is not None:
            background.add(int(seg.PixelPaddingValue))
        numbers = [n for n in names if n not in background]
        info["BackgroundPixelValues"] = sorted(background)
    else:
        numbers = list(names)
    if not numbers:
        raise InputError(f"the {seg_type} SEG describes no segment to import", path)
    masks = {n: np.zeros(grid.shape, dtype=bool) for n in numbers}
    max_fraction = None
    if seg_type == "FRACTIONAL":
        max_fraction = int(seg.get("MaximumFractionalValue") or 0)
        if max_fraction <= 0:
            raise InputError("a FRACTIONAL SEG needs a positive MaximumFractionalValue", path)
        info["FractionalThreshold"] = 0.5
        info["MaximumFractionalValue"] = max_fraction

    for i in range(int(seg.get("NumberOfFrames") or 1)):
        if seg_type == "LABELMAP":
            k = frames.slice_of(i, "labelmap")
            pix = frames.pixels(i)
            values = set(np.unique(pix).tolist())
            unknown = sorted(values - set(names) - background)
            if unknown:
                raise InputError(f"frame {i + 1}: pixel value(s) {unknown} of this LABELMAP name no segment "
                                 f"(described: {sorted(names)})", path)
            for n in values & set(numbers):
                masks[n][k] |= pix == n
            continue
        sid = frames.attr(i, "SegmentIdentificationSequence")
        if sid is not None and "ReferencedSegmentNumber" in sid:
            seg_no = int(sid.ReferencedSegmentNumber)
        elif len(numbers) == 1:
            seg_no = numbers[0]
        else:
            raise InputError(f"frame {i + 1} names no ReferencedSegmentNumber and the SEG has "
                             f"{len(numbers)} segments", path)
        if seg_no not in masks:
            raise InputError(f"frame {i + 1} refers to segment {seg_no}, which the SEG does not describe "
                             f"(described: {numbers})", path)
        k = frames.slice_of(i, f"segment {seg_no}")
        pix = frames.pixels(i)
        if max_fraction is not None:
            masks[seg_no][k] |= 2 * pix.astype(np.int64) >= max_fraction  # at least half of the maximum
        else:
            masks[seg_no][k] |= pix > 0
    segs = [Segment(n, names.get(n, ""), masks[n]) for n in numbers]
    info = {"SOPInstanceUID": str(seg.SOPInstanceUID), "SeriesInstanceUID": str(seg.SeriesInstanceUID),
            "SegmentationType": seg_type, "FramesMatchedByUID": frames.by_uid,
            "FramesMatchedByPosition": frames.by_pos, **info}
    return Imported("dicom-seg", path, segs, info)


__all__ = ["case_slice_positions", "read_seg"]
