"""A case's thumbnail for the lead's console: the middle axial slice of ``ct.nii.gz``, windowed, as PNG.

Made on the server from the image (only the slice is read from the file), shown the way a
reader expects (anterior up, the patient's right on the left of the image), in a brain window
(W 80, L 40) for a head and a soft-tissue window (W 400, L 40) otherwise, with no text drawn
on it. An image whose source may carry burned-in text (``Source.BurnedInText`` in
``ct.json``) gets no thumbnail. Thumbnails are cached in ``PROJECT/cache/thumbs/`` (the image
of a case never changes).
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np

from ctlabel.errors import CaseError
from ctlabel.team.case_labels import read_facts

THUMBS = Path("cache") / "thumbs"
#: The longer side of a thumbnail, in pixels.
SIZE = 160
HEAD_WORDS = ("HEAD", "BRAIN", "SKULL", "CRAN", "NEURO")


def png_gray(pixels: np.ndarray) -> bytes:
    """An 8-bit grayscale PNG of a 2-D uint8 array (no text chunks).

    Parameters
    ----------
    pixels : numpy.ndarray
        2-D, uint8, rows top to bottom.

    Returns
    -------
    bytes
        The PNG file.
    """
    h, w = pixels.shape

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + pixels[r].tobytes() for r in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def window_of(body_part: str, fov_mm: float | None) -> tuple[float, float]:
    """``(width, level)`` in HU: brain for a head (by body part, else a field of view <= 260 mm), else soft tissue."""
    head = any(w in body_part.upper() for w in HEAD_WORDS) or (fov_mm is not None and fov_mm <= 260)
    return (80.0, 40.0) if head else (400.0, 40.0)


def axial_slice(img: nib.Nifti1Image) -> tuple[np.ndarray, tuple[float, float]]:
    """The middle slice across the image axis nearest to head-feet, anterior up, patient's right on the left.

    Returns
    -------
    tuple
        The 2-D slice (rows anterior to posterior, columns right to left) and its pixel size (row, column) in mm.
    """
    ornt = nib.orientations.io_orientation(img.affine)  # per voxel axis: (world axis R/A/S, direction)
    axis_of = {int(w): i for i, (w, _d) in enumerate(ornt)}
    s_axis = axis_of[2]
    index: list[int | slice] = [slice(None)] * 3
    index[s_axis] = img.shape[s_axis] // 2
    plane = np.asanyarray(img.dataobj[tuple(index)], dtype=np.float32)
    rest = [i for i in range(3) if i != s_axis]  # the plane's axes, in voxel order
    row_axis, col_axis = axis_of[1], axis_of[0]  # rows along A/P, columns along R/L
    if rest.index(row_axis) != 0:
        plane = plane.T
    zooms = img.header.get_zooms()
    if ornt[row_axis][1] > 0:  # voxel index grows toward anterior: flip so that anterior is up
        plane = plane[::-1, :]
    if ornt[col_axis][1] > 0:  # grows toward the patient's right: flip so that right is on the left
        plane = plane[:, ::-1]
    return plane, (float(zooms[row_axis]), float(zooms[col_axis]))


def _resize(plane: np.ndarray, pixel_mm: tuple[float, float], size: int) -> np.ndarray:
    h_mm, w_mm = plane.shape[0] * pixel_mm[0], plane.shape[1] * pixel_mm[1]
    scale = size / max(h_mm, w_mm)
    h, w = max(1, round(h_mm * scale)), max(1, round(w_mm * scale))
    rows = np.minimum(((np.arange(h) + 0.5) * plane.shape[0] / h).astype(int), plane.shape[0] - 1)
    cols = np.minimum(((np.arange(w) + 0.5) * plane.shape[1] / w).astype(int), plane.shape[1] - 1)
    return plane[np.ix_(rows, cols)]


def render(case_dir: Path, size: int = SIZE) -> bytes | None:
    """The PNG thumbnail of a case folder's image (None when its source may carry burned-in text).

    Parameters
    ----------
    case_dir : Path
        The case folder (``ct.nii.gz``, ``ct.json``).
    size : int
        The longer side in pixels (the aspect follows the pixel spacing).

    Returns
    -------
    bytes or None
    """
    facts = read_facts(case_dir)
    if facts.burned_in:
        return None
    try:
        img = nib.load(case_dir / "ct.nii.gz")
    except (OSError, ValueError, nib.filebasedimages.ImageFileError) as exc:
        raise CaseError(f"the image cannot be read for a thumbnail ({exc})", case_dir / "ct.nii.gz") from None
    if not isinstance(img, nib.Nifti1Image) or len(img.shape) != 3:  # Nifti2Image is a Nifti1Image
        raise CaseError("the image is not a 3-D NIfTI volume", case_dir / "ct.nii.gz")
    plane, pixel_mm = axial_slice(img)
    fov = max(plane.shape[0] * pixel_mm[0], plane.shape[1] * pixel_mm[1])
    width, level = window_of(facts.body_part, fov)
    small = _resize(plane, pixel_mm, size)
    gray = np.clip((small - (level - width / 2)) / width * 255.0, 0, 255)
    return png_gray(np.nan_to_num(gray).astype(np.uint8))


def thumbnail(root: Path, name: str, case_dir: Path) -> bytes | None:
    """The cached thumbnail of a case, made on first use (``PROJECT/cache/thumbs/<case>.png``).

    Parameters
    ----------
    root : Path
        The project folder.
    name : str
        The case id (a checked plain name).
    case_dir : Path
        Its folder.

    Returns
    -------
    bytes or None
        None for an image that may carry burned-in text (nothing is cached then).
    """
    path = root / THUMBS / f"{name}.png"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    png = render(case_dir)
    if png is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{id(png)}.tmp")
        tmp.write_bytes(png)
        os.replace(tmp, path)
    return png


__all__ = ["SIZE", "THUMBS", "axial_slice", "png_gray", "render", "thumbnail", "window_of"]
