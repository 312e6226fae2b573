"""Low-level NIfTI-1 reading and writing on ctlabel's axis convention.

The in-memory array is (slice, row, column) in C order. Its bytes are exactly the
NIfTI on-disk voxel order (i = column fastest, then row, then slice), so writing
streams the array as it is, without a transposed copy. Gzip compression uses
ISA-L (``isal``) on two threads when the file name ends in ``.gz``.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import numpy as np
from isal import igzip, igzip_threaded

from ctlabel.errors import InputError
from ctlabel.geometry import is_sheared, orthonormal_affine
from ctlabel.io.atomic import atomic_path

if TYPE_CHECKING:
    import nibabel as nib

#: NIfTI extension code used for the JSON provenance copy (NIFTI_ECODE_COMMENT).
JSON_EXTENSION_CODE = 6
#: NIFTI_INTENT_LABEL
INTENT_LABEL = 1002
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


#: The NIfTI-1 header (348 bytes, little endian), field by field as nibabel's ``header_dtype``.
_HEADER_DTYPE = np.dtype([
    ("sizeof_hdr", "<i4"), ("data_type", "S10"), ("db_name", "S18"), ("extents", "<i4"),
    ("session_error", "<i2"), ("regular", "S1"), ("dim_info", "u1"), ("dim", "<i2", (8,)),
    ("intent_p1", "<f4"), ("intent_p2", "<f4"), ("intent_p3", "<f4"), ("intent_code", "<i2"),
    ("datatype", "<i2"), ("bitpix", "<i2"), ("slice_start", "<i2"), ("pixdim", "<f4", (8,)),
    ("vox_offset", "<f4"), ("scl_slope", "<f4"), ("scl_inter", "<f4"), ("slice_end", "<i2"),
    ("slice_code", "u1"), ("xyzt_units", "u1"), ("cal_max", "<f4"), ("cal_min", "<f4"),
    ("slice_duration", "<f4"), ("toffset", "<f4"), ("glmax", "<i4"), ("glmin", "<i4"),
    ("descrip", "S80"), ("aux_file", "S24"), ("qform_code", "<i2"), ("sform_code", "<i2"),
    ("quatern_b", "<f4"), ("quatern_c", "<f4"), ("quatern_d", "<f4"),
    ("qoffset_x", "<f4"), ("qoffset_y", "<f4"), ("qoffset_z", "<f4"),
    ("srow_x", "<f4", (4,)), ("srow_y", "<f4", (4,)), ("srow_z", "<f4", (4,)),
    ("intent_name", "S16"), ("magic", "S4"),
])
#: NIfTI-1 datatype codes of the voxel types ctlabel writes (others go through nibabel).
_DATATYPE_CODES = {
    "u1": 2, "i2": 4, "i4": 8, "f4": 16, "f8": 64, "i1": 256, "u2": 512, "u4": 768, "i8": 1024, "u8": 1280,
}
_XFORM_SCANNER = 1  # NIFTI_XFORM_SCANNER_ANAT
_UNITS_MM_SEC = 2 | 8  # NIFTI_UNITS_MM | NIFTI_UNITS_SEC


def _quaternion(rotation: np.ndarray) -> np.ndarray:
    """Unit quaternion (w, x, y, z), w >= 0, nearest to a 3x3 rotation matrix.

    The eigenvector method of Bar-Itzhack (2000), as ``nibabel.quaternions.mat2quat``,
    so the qform written is the one nibabel would write.
    """
    qxx, qyx, qzx, qxy, qyy, qzy, qxz, qyz, qzz = rotation.flat
    k = np.array([
        [qxx - qyy - qzz, 0, 0, 0],
        [qyx + qxy, qyy - qxx - qzz, 0, 0],
        [qzx + qxz, qzy + qyz, qzz - qxx - qyy, 0],
        [qyz - qzy, qzx - qxz, qxy - qyx, qxx + qyy + qzz],
    ]) / 3.0
    vals, vecs = np.linalg.eigh(k)
    q = vecs[[3, 0, 1, 2], np.argmax(vals)]
    return -q if q[0] < 0 else q


def _set_qform(hdr: np.ndarray, affine: np.ndarray) -> None:
    """Quaternion, offsets, ``qfac`` and voxel sizes of ``affine``, as nibabel's ``set_qform``."""
    rzs = affine[:3, :3]
    zooms = np.sqrt(np.sum(rzs * rzs, axis=0))
    rot = rzs / zooms
    qfac = 1.0
    if np.linalg.det(rot) <= 0:
        qfac = -1.0
        rot[:, -1] *= -1
    p, _, qs = np.linalg.svd(rot)
    quat = _quaternion(p @ qs)
    hdr["qoffset_x"], hdr["qoffset_y"], hdr["qoffset_z"] = affine[:3, 3]
    hdr["pixdim"][0] = qfac
    hdr["pixdim"][1:4] = zooms
    hdr["quatern_b"], hdr["quatern_c"], hdr["quatern_d"] = quat[1:]
    hdr["qform_code"] = _XFORM_SCANNER


def _extension_bytes(payload: bytes, code: int) -> bytes:
    """One NIfTI-1 header extension: size, code, payload, zero padding to a multiple of 16."""
    size = -(-(len(payload) + 8) // 16) * 16
    return np.array([size, code], "<i4").tobytes() + payload + b"\0" * (size - 8 - len(payload))


def _header_bytes(
    shape_mem: tuple[int, ...],
    dtype: np.dtype,
    affine: np.ndarray,
    *,
    intent_label: bool,
    extension: dict | None,
    descrip: str,
) -> bytes:
    """The NIfTI-1 single-file header, extensions and padding up to the voxel offset.

    Written with numpy alone (no nibabel import: it costs about 0.2 s of start-up, as it
    imports pydicom); the bytes equal those of nibabel's ``Nifti1Header`` set up with
    ``set_data_shape``, ``set_data_dtype``, ``set_xyzt_units("mm", "sec")``, ``set_sform``
    and ``set_qform`` (code ``"scanner"``), ``set_intent`` and a code-6 extension.

    Parameters
    ----------
    shape_mem : tuple of int
        Array shape in memory order (slice, row, column).
    dtype : numpy.dtype
        Little-endian voxel type, one of :data:`_DATATYPE_CODES`.
    affine : numpy.ndarray
        4x4 float RAS affine of the on-disk index.
    intent_label : bool
        Set NIFTI_INTENT_LABEL.
    extension : dict, optional
        JSON for a code-6 header extension.
    descrip : str
        Header description (truncated to 79 bytes).

    Returns
    -------
    bytes
        ``vox_offset`` bytes: header, extension flag, extensions.
    """
    dims = [int(s) for s in shape_mem[::-1]]
    if len(dims) > 7 or any(not 0 <= d <= 32767 for d in dims):
        raise InputError(f"shape {tuple(shape_mem)} does not fit a NIfTI-1 header")
    hdr = np.zeros((), _HEADER_DTYPE)
    hdr["sizeof_hdr"] = 348
    hdr["dim"] = [len(dims), *dims, *[1] * (7 - len(dims))]
    hdr["datatype"] = _DATATYPE_CODES[dtype.str[1:]]
    hdr["bitpix"] = dtype.itemsize * 8
    hdr["pixdim"] = 1.0
    hdr["scl_slope"] = 1.0
    hdr["xyzt_units"] = _UNITS_MM_SEC
    hdr["srow_x"], hdr["srow_y"], hdr["srow_z"] = affine[0], affine[1], affine[2]
    hdr["sform_code"] = _XFORM_SCANNER
    _set_qform(hdr, orthonormal_affine(affine) if is_sheared(affine) else affine)
    if intent_label:
        hdr["intent_code"] = INTENT_LABEL
    hdr["descrip"] = descrip[:79].encode()
    hdr["magic"] = b"n+1"
    ext = b""
    if extension is not None:
        payload = json.dumps(extension, separators=(",", ":")).encode()
        ext = _extension_bytes(payload, JSON_EXTENSION_CODE)
    hdr["vox_offset"] = 352 + len(ext)
    return hdr.tobytes() + (b"\1\0\0\0" if ext else b"\0\0\0\0") + ext


def _header_nibabel(shape_mem, dtype, affine, *, intent_label: bool, extension: dict | None, descrip: str) -> bytes:
    """The same bytes as :func:`_header_bytes` through nibabel, for voxel types it does not list."""
    import nibabel as nib

    hdr = nib.Nifti1Header()
    hdr.set_data_shape(tuple(int(s) for s in shape_mem[::-1]))
    hdr.set_data_dtype(dtype)
    hdr.set_xyzt_units("mm", "sec")
    hdr.set_sform(affine, code="scanner")
    q = orthonormal_affine(affine) if is_sheared(affine) else affine
    hdr.set_qform(q, code="scanner")
    if intent_label:
        hdr.set_intent("label")
    hdr["descrip"] = descrip[:79].encode()
    if extension is not None:
        payload = json.dumps(extension, separators=(",", ":")).encode()
        hdr.extensions.append(nib.nifti1.Nifti1Extension(JSON_EXTENSION_CODE, payload))
    offset = 352 + sum(e.get_sizeondisk() for e in hdr.extensions)
    hdr.set_data_offset(offset)
    head = io.BytesIO()
    hdr.write_to(head)
    head.write(b"\0" * (int(hdr.get_data_offset()) - head.tell()))
    return head.getvalue()


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
    make_header = _header_bytes if arr.dtype.str[1:] in _DATATYPE_CODES else _header_nibabel
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


def _load(path: str) -> tuple[nib.Nifti1Image, np.ndarray]:
    """A NIfTI image and its voxels, gzipped or not whatever the file is called.

    gzip streams are read with ISA-L (twice as fast as zlib); a file that is neither NIfTI-1
    nor NIfTI-2 is left to nibabel, which says why it cannot read it.
    """
    import nibabel as nib
    from nibabel.fileholders import FileHolder

    with open(path, "rb") as raw:
        gz = raw.read(2) == b"\x1f\x8b"
    with (igzip.open(path, "rb") if gz else open(path, "rb")) as f:
        head = f.read(4)
        kinds = {348: nib.Nifti1Image, 540: nib.Nifti2Image}
        kind = kinds.get(int.from_bytes(head, "little")) or kinds.get(int.from_bytes(head, "big"))
        if kind is not None:
            f.seek(0)
            holder = FileHolder(filename=path, fileobj=f)
            img = kind.from_file_map({"header": holder, "image": holder})
            return img, np.asanyarray(img.dataobj)
    img = cast("nib.Nifti1Image", nib.load(path))
    return img, np.asanyarray(img.dataobj)


def read_nifti(path: str | os.PathLike) -> NiftiData:
    """Read a 3-D NIfTI file into (slice, row, column) order with its affine and JSON extension.

    The affine is the sform when set, else the qform (nibabel's choice).
    """
    try:
        img, data = _load(os.fspath(path))
    except FileNotFoundError:
        raise InputError("no such file", path) from None
    except Exception as exc:  # noqa: BLE001 - nibabel raises many kinds on bad files
        raise InputError(f"cannot read as NIfTI ({type(exc).__name__}: {exc})", path) from None
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise InputError(f"expected a 3-D image, got shape {data.shape}", path)
    ext = None
    for e in img.header.extensions:
        if e.get_code() == JSON_EXTENSION_CODE:
            try:
                ext = json.loads(e.get_content())
            except (ValueError, UnicodeDecodeError):
                continue
    return NiftiData(np.ascontiguousarray(data.T), img.affine.copy(), img.header, ext)
