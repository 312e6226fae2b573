"""The bytes of a NIfTI-1 single-file header as ctlabel writes it (numpy alone, or nibabel for other types).

:func:`ctlabel.io.nifti.write_nifti` writes these bytes, then the voxels.
"""

from __future__ import annotations

import io
import json

import numpy as np

from ctlabel.errors import InputError
from ctlabel.geometry import is_sheared, orthonormal_affine

#: NIfTI extension code used for the JSON provenance copy (NIFTI_ECODE_COMMENT).
JSON_EXTENSION_CODE = 6
#: NIFTI_INTENT_LABEL
INTENT_LABEL = 1002

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
DATATYPE_CODES = {
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


def header_bytes(
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
        Little-endian voxel type, one of :data:`DATATYPE_CODES`.
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
    hdr["datatype"] = DATATYPE_CODES[dtype.str[1:]]
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


def header_nibabel(shape_mem, dtype, affine, *, intent_label: bool, extension: dict | None, descrip: str) -> bytes:
    """The same bytes as :func:`header_bytes` through nibabel, for voxel types it does not list."""
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


__all__ = ["DATATYPE_CODES", "INTENT_LABEL", "JSON_EXTENSION_CODE", "header_bytes", "header_nibabel"]
