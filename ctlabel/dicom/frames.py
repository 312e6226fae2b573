"""A DICOM file's stored pixel frames: decoded by pydicom, or read straight from the file.

Used by :mod:`ctlabel.dicom.read` to build volumes and by :mod:`ctlabel.dicom.grouping` to
tell duplicated slices apart by their pixels.
"""

from __future__ import annotations

import os
import warnings as pywarnings

import numpy as np

from ctlabel.dicom.deflate import inflated_file
from ctlabel.errors import DicomReadError, SeriesError
from ctlabel.volume import pixel_hash


def decode_file(path: str) -> tuple[object, np.ndarray]:
    """Read a file and decode all its frames: returns (dataset, array [frames, rows, cols])."""
    import pydicom  # here, not at module level: its decoders cost start-up time

    source = inflated_file(path) or path  # a deflated file: inflated within what its header declares
    try:
        ds = pydicom.dcmread(source)
    except Exception as exc:  # noqa: BLE001 - truncated or junk bytes
        raise DicomReadError(f"cannot read the file ({type(exc).__name__}: {exc})", path) from None
    if "PixelData" not in ds:
        floats = [k for k in ("FloatPixelData", "DoubleFloatPixelData") if k in ds]
        if floats:
            raise DicomReadError(f"the file holds {floats[0]} and no PixelData: a CT image stores whole"
                                 " numbers, and ctlabel reads only PixelData", path)
        with open(path, "rb") as fh:  # the element's tag is there when the file was cut inside it
            fh.seek(max(0, os.fstat(fh.fileno()).st_size - (1 << 26)))
            tail = fh.read()
        cut = b"\xe0\x7f\x10\x00" in tail
        raise DicomReadError("the pixel data is cut short (the file ends inside it)" if cut
                             else "the file has no pixel data", path)
    try:
        with pywarnings.catch_warnings():
            pywarnings.simplefilter("ignore")
            arr = ds.pixel_array
    except Exception as exc:  # noqa: BLE001 - decoders raise many kinds
        raise DicomReadError(f"cannot decode the pixel data ({type(exc).__name__}: {exc})", path) from None
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    syntax = pydicom.uid.UID(str(ds.file_meta.get("TransferSyntaxUID") or pydicom.uid.ExplicitVRLittleEndian))
    if not syntax.is_compressed:
        need = int(ds.Rows) * int(ds.Columns) * frames * int(ds.BitsAllocated) // 8
        have = len(ds.PixelData)
        if have not in (need, need + 1):
            raise DicomReadError(
                f"pixel data holds {have} bytes but Rows x Columns x frames needs {need}", path)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[0] != frames:
        raise DicomReadError(f"pixel data has shape {arr.shape}, expected {frames} grey frame(s)", path)
    return ds, arr


def read_frames(path: str, header, rows: int, cols: int) -> np.ndarray:
    """All frames of a file as stored values, [frames, rows, cols].

    Native little-endian data located by the header scan is read directly;
    anything else goes through pydicom's decoders.
    """
    raw = header.raw
    if raw is None:
        _, frames = decode_file(path)
    else:
        n = os.path.getsize(path)
        count = (n - raw.offset) // np.dtype(raw.dtype).itemsize
        per_frame = rows * cols
        frames_in_file = max(1, count // per_frame) if count >= per_frame else 0
        if frames_in_file == 0:
            raise DicomReadError("the pixel data is truncated", path)
        try:
            data = np.fromfile(path, dtype=raw.dtype, count=frames_in_file * per_frame, offset=raw.offset)
        except (OSError, ValueError) as exc:
            raise DicomReadError(f"cannot read the pixel data ({exc})", path) from None
        frames = data.reshape(frames_in_file, rows, cols)
    if frames.shape[1:] != (rows, cols):
        raise SeriesError(f"pixel data is {frames.shape[1]}x{frames.shape[2]}, the series is {rows}x{cols}", path)
    if header.frame > frames.shape[0]:
        raise DicomReadError(f"the pixel data holds {frames.shape[0]} frame(s), frame {header.frame} is missing", path)
    return frames


def read_frame_into(path: str, header, dest: np.ndarray) -> np.ndarray | None:
    """The file's first frame read straight into ``dest`` (one slice of a volume), as stored values.

    Only for native 16-bit data located by the header scan, read as it is: no buffer of its own,
    no copy. Returns ``dest`` viewed as the stored type, ``[1, rows, cols]``, or None when the
    file is not such a case (then :func:`read_frames` reads it).
    """
    raw = header.raw
    if raw is None or header.frame != 1 or dest.dtype.itemsize != 2:
        return None
    stored = np.dtype(raw.dtype)
    if stored.itemsize != 2 or not stored.isnative or not dest.flags.c_contiguous:
        return None
    frame = dest.view(stored)
    try:
        with open(path, "rb") as f:
            f.seek(raw.offset)
            got = f.readinto(memoryview(frame).cast("B"))
    except (OSError, ValueError) as exc:
        raise DicomReadError(f"cannot read the pixel data ({exc})", path) from None
    if got != frame.nbytes:
        raise DicomReadError("the pixel data is truncated", path)
    return frame[None]


def slice_pixel_hash(header, rows: int, cols: int) -> str:
    """:func:`~ctlabel.volume.pixel_hash` of one slice's stored values (reads its file)."""
    return pixel_hash(read_frames(header.path, header, rows, cols)[header.frame - 1])


__all__ = ["decode_file", "read_frame_into", "read_frames", "slice_pixel_hash"]
