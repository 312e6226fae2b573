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

import nibabel as nib
import numpy as np
from isal import igzip, igzip_threaded

from ctlabel.atomic import atomic_path
from ctlabel.errors import InputError
from ctlabel.geometry import is_sheared, orthonormal_affine

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


def _header(shape_mem, dtype, affine, *, intent_label: bool, extension: dict | None, descrip: str):
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
    return hdr


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
    hdr = _header(arr.shape, arr.dtype, np.asarray(affine, float), intent_label=intent_label,
                  extension=extension, descrip=descrip)
    head = io.BytesIO()
    hdr.write_to(head)
    head.write(b"\0" * (int(hdr.get_data_offset()) - head.tell()))
    flat = memoryview(arr.reshape(-1)).cast("B")
    with atomic_path(path) as tmp:
        if not str(path).endswith(".gz"):
            opener = lambda p: open(p, "wb")  # noqa: E731
        elif GZIP_THREADS > 1:
            opener = lambda p: igzip_threaded.open(p, "wb", compresslevel=GZIP_LEVEL, threads=GZIP_THREADS)  # noqa: E731
        else:
            opener = lambda p: igzip.open(p, "wb", compresslevel=GZIP_LEVEL)  # noqa: E731
        with opener(tmp) as f:
            f.write(head.getvalue())
            for start in range(0, len(flat), _CHUNK):
                f.write(flat[start : start + _CHUNK])


def read_nifti(path: str | os.PathLike) -> NiftiData:
    """Read a 3-D NIfTI file into (slice, row, column) order with its affine and JSON extension.

    The affine is the sform when set, else the qform (nibabel's choice).
    """
    try:
        img = nib.load(os.fspath(path))
        data = np.asanyarray(img.dataobj)
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
