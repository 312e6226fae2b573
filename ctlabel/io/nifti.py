"""Low-level NIfTI-1 reading and writing on ctlabel's axis convention.

The in-memory array is (slice, row, column) in C order. Its bytes are exactly the
NIfTI on-disk voxel order (i = column fastest, then row, then slice), so writing
streams the array as it is, without a transposed copy. Gzip compression uses
ISA-L (``isal``) on two threads when the file name ends in ``.gz``.

Reading is bounded by the header (:func:`read_nifti`): the header is read and checked first
(against a grid when the caller knows one), then exactly the voxel bytes it declares, in
chunks; a file holding more is refused, never decompressed further. Every NIfTI ctlabel reads
goes through it, so a small ``.nii.gz`` declaring a huge volume costs no memory.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import numpy as np
from isal import igzip, igzip_threaded

from ctlabel.errors import CtlabelError, InputError
from ctlabel.io.atomic import atomic_path
from ctlabel.io.nifti_header import (
    DATATYPE_CODES,
    INTENT_LABEL,
    JSON_EXTENSION_CODE,
    header_bytes,
    header_nibabel,
)
from ctlabel.volume import Grid

if TYPE_CHECKING:
    import nibabel as nib

#: ISA-L compression level (0-3): 1 is a good speed/size balance for CT.
GZIP_LEVEL = 1
#: Compression threads per write; batch workers set 1 so that processes, not threads, share the cores.
GZIP_THREADS = 2
_CHUNK = 1 << 24


@dataclass
class NiftiData:
    """A NIfTI file read back into ctlabel's convention."""

    array: np.ndarray
    affine: np.ndarray
    header: nib.Nifti1Header
    extension_json: dict | None


def write_nifti(
    path: str | os.PathLike,
    array: np.ndarray,
    affine: np.ndarray,
    *,
    intent_label: bool = False,
    extension: dict | None = None,
    descrip: str = "ctlabel",
) -> None:
    """Write a (slice, row, column) array as a NIfTI-1 file, atomically.

    Parameters
    ----------
    path : str or PathLike
        Destination; ``.nii.gz`` is gzip-compressed.
    array : numpy.ndarray
        3-D array in memory order (slice, row, column).
    affine : numpy.ndarray
        4x4 RAS affine of the on-disk index (column, row, slice). Set as sform;
        the qform holds it too, or its orthonormal part when it is sheared.
    intent_label : bool
        Mark the image as a label map (NIFTI_INTENT_LABEL).
    extension : dict, optional
        JSON copied into a header extension (code 6).
    descrip : str
        Header description (truncated to 79 bytes).
    """
    if array.ndim != 3:
        raise InputError(f"expected a 3-D array, got shape {array.shape}", path)
    arr = np.ascontiguousarray(array)
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    make_header = header_bytes if arr.dtype.str[1:] in DATATYPE_CODES else header_nibabel
    head = make_header(arr.shape, arr.dtype, np.array(affine, dtype=float), intent_label=intent_label,
                       extension=extension, descrip=descrip)
    flat = arr.reshape(-1).data.cast("B")
    with atomic_path(path) as tmp:
        if not str(path).endswith(".gz"):
            opener = lambda p: open(p, "wb")  # noqa: E731
        elif GZIP_THREADS > 1:
            opener = lambda p: igzip_threaded.open(p, "wb", compresslevel=GZIP_LEVEL, threads=GZIP_THREADS)  # noqa: E731
        else:
            opener = lambda p: igzip.open(p, "wb", compresslevel=GZIP_LEVEL)  # noqa: E731
        with opener(tmp) as f:
            f.write(head)
            for start in range(0, len(flat), _CHUNK):
                f.write(flat[start : start + _CHUNK])


#: The most bytes read before the voxels (header and extensions); a header putting its voxels further is refused.
MAX_HEADER_BYTES = 16 << 20
_READ_CHUNK = 1 << 22


@dataclass(frozen=True)
class NiftiHeader:
    """What a NIfTI file's header declares, read before any voxel (:func:`read_nifti_header`)."""

    header: nib.Nifti1Header
    shape: tuple[int, int, int]
    dtype: np.dtype
    offset: int
    affine: np.ndarray

    @property
    def nbytes(self) -> int:
        """The bytes of voxels the header declares."""
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    @property
    def grid(self) -> Grid:
        """The grid the header declares (shape in memory order, affine)."""
        return Grid(self.shape, self.affine)


def _open(path: str) -> io.BufferedIOBase:
    """The file's bytes, through ISA-L's gzip reader when it is gzipped (whatever it is called)."""
    with open(path, "rb") as raw:
        gz = raw.read(2) == b"\x1f\x8b"
    return cast("io.BufferedIOBase", igzip.open(path, "rb") if gz else open(path, "rb"))


def _header(f: io.BufferedIOBase) -> tuple[NiftiHeader, bytes]:
    """Read a header from the start of ``f``, never past :data:`MAX_HEADER_BYTES`.

    Returns the header and the bytes read beyond its voxel offset (the first voxels).
    """
    import nibabel as nib

    first = f.read(540)
    kinds = {348: nib.Nifti1Image, 540: nib.Nifti2Image}
    kind = kinds.get(int.from_bytes(first[:4], "little")) or kinds.get(int.from_bytes(first[:4], "big"))
    size = 348 if kind is nib.Nifti1Image else 540
    if kind is None or len(first) < size:
        raise InputError("cannot read as NIfTI: not a NIfTI-1 or NIfTI-2 file")
    fixed = kind.header_class(binaryblock=first[:size], check=False)
    if bytes(fixed["magic"]).rstrip(b"\0") not in (b"n+1", b"n+2"):
        raise InputError("a NIfTI header without its voxels (a .hdr/.img pair); save it as one .nii.gz")
    offset = max(int(fixed.get_data_offset()), size + 4)
    if offset > MAX_HEADER_BYTES:
        raise InputError(f"its header puts the voxels at byte {offset}, beyond the {MAX_HEADER_BYTES} bytes a "
                         "header may take: not read")
    head = first + f.read(max(0, offset - len(first)))
    if len(head) < offset:
        raise InputError(f"the file ends inside its header (at byte {len(head)} of {offset})")
    hdr = kind.header_class.from_fileobj(io.BytesIO(head[:offset]))
    shape = tuple(int(d) for d in hdr.get_data_shape())
    if len(shape) == 4 and shape[3] == 1:
        shape = shape[:3]
    if len(shape) != 3:
        raise InputError(f"expected a 3-D image, got shape {shape}")
    dtype = hdr.get_data_dtype()
    if dtype.kind not in "iuf":
        raise InputError(f"voxels of type {dtype} are not an image or a label map")
    affine = np.asarray(hdr.get_best_affine(), dtype=float)
    return NiftiHeader(hdr, shape[::-1], dtype, offset, affine), head[offset:]


def read_nifti_header(path: str | os.PathLike) -> NiftiHeader:
    """What a NIfTI file declares (shape, voxel type, affine), reading its header only.

    Parameters
    ----------
    path : str or PathLike
        A ``.nii`` or ``.nii.gz`` file (gzipped or not, whatever its name).

    Returns
    -------
    NiftiHeader

    Raises
    ------
    InputError
        No such file, not a single-file NIfTI-1/2 of a 3-D image, or a header larger than
        :data:`MAX_HEADER_BYTES`.
    """
    try:
        with _open(os.fspath(path)) as f:
            return _header(f)[0]
    except InputError as exc:
        raise InputError(exc.reason, path) from None
    except FileNotFoundError:
        raise InputError("no such file", path) from None
    except Exception as exc:  # noqa: BLE001 - nibabel and gzip raise many kinds on bad files
        raise InputError(f"cannot read as NIfTI ({type(exc).__name__}: {exc})", path) from None


def _voxels(f: io.BufferedIOBase, head: NiftiHeader, first: bytes) -> np.ndarray:
    """Exactly the voxel bytes the header declares, in chunks; a file holding fewer or more is refused."""
    n = head.nbytes
    buf = bytearray(n)
    view = memoryview(buf)
    got = min(len(first), n)
    view[:got] = first[:got]
    while got < n:
        read = f.readinto(view[got:got + _READ_CHUNK])
        if not read:
            raise InputError(f"the file ends after {got} of the {n} bytes of voxels its header declares")
        got += read
    if len(first) > n or f.read(1):
        raise InputError(f"the file holds more data than the {n} bytes of voxels its header declares: refused "
                         "(read no further than that)")
    return np.frombuffer(buf, head.dtype).reshape(head.shape[::-1], order="F")


def _scaled(raw: np.ndarray, hdr: nib.Nifti1Header) -> np.ndarray:
    """``scl_slope`` and ``scl_inter`` applied as nibabel's ``img.dataobj`` applies them."""
    from nibabel.volumeutils import apply_read_scaling

    slope, inter = hdr.get_slope_inter()
    scl_slope = np.asanyarray(1.0 if slope is None else slope)
    scl_inter = np.asanyarray(0.0 if inter is None else inter)
    if np.can_cast(scl_inter, scl_slope.dtype):
        scl_inter = scl_inter.astype(scl_slope.dtype)
    return apply_read_scaling(raw, cast("np.floating", scl_slope[()]), cast("np.floating", scl_inter[()]))


def read_nifti(path: str | os.PathLike, *, grid: Grid | None = None, what: str = "the file",
               max_voxels: int | None = None) -> NiftiData:
    """Read a 3-D NIfTI file into (slice, row, column) order with its affine and JSON extension.

    The header is read and checked first; the voxels are then read in chunks, exactly as many
    bytes as the header declares (a file ending early, or holding more, is refused without
    decompressing past that). So a small ``.nii.gz`` declaring a huge volume (a decompression
    bomb) costs nothing when ``grid`` or ``max_voxels`` refuses its header, and never more than
    its header declares otherwise. The affine is the sform when set, else the qform (nibabel's
    choice); ``scl_slope``/``scl_inter`` are applied as nibabel applies them.

    Parameters
    ----------
    path : str or PathLike
        A single-file NIfTI-1/2 (``.nii`` or ``.nii.gz``, gzipped or not whatever its name).
    grid : Grid, optional
        The grid the file must lie on (shape and affine, ``Grid.require_match``), checked
        before any voxel is read.
    what : str
        What the file is, for the message of a ``grid`` mismatch (e.g. ``"the uploaded mask"``).
    max_voxels : int, optional
        The most voxels the header may declare.

    Returns
    -------
    NiftiData

    Raises
    ------
    InputError
        Not a NIfTI file of a 3-D image, more voxels than ``max_voxels``, a file shorter or
        longer than its header declares.
    GeometryError
        The header's grid is not ``grid``.
    """
    try:
        with _open(os.fspath(path)) as f:
            head, first = _header(f)
            if grid is not None:
                grid.require_match(head.grid, what, path)
            voxels = int(np.prod(head.shape, dtype=np.int64))
            if max_voxels is not None and voxels > max_voxels:
                raise InputError(f"its header declares {' x '.join(map(str, head.shape[::-1]))} voxels, more than "
                                 f"the {max_voxels} it may hold: not read")
            raw = _voxels(f, head, first)
        data = _scaled(raw, head.header)
    except InputError as exc:
        raise InputError(exc.reason, path) from None
    except CtlabelError:
        raise
    except FileNotFoundError:
        raise InputError("no such file", path) from None
    except Exception as exc:  # noqa: BLE001 - nibabel and gzip raise many kinds on bad files
        raise InputError(f"cannot read as NIfTI ({type(exc).__name__}: {exc})", path) from None
    ext = None
    for e in head.header.extensions:
        if e.get_code() == JSON_EXTENSION_CODE:
            try:
                ext = json.loads(e.get_content())
            except (ValueError, UnicodeDecodeError):
                continue
    return NiftiData(np.ascontiguousarray(data.T), head.affine.copy(), head.header, ext)


__all__ = ["GZIP_LEVEL", "GZIP_THREADS", "INTENT_LABEL", "JSON_EXTENSION_CODE", "MAX_HEADER_BYTES", "NiftiData",
           "NiftiHeader", "read_nifti", "read_nifti_header", "write_nifti"]
