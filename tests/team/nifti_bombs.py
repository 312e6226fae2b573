"""NIfTI decompression bombs for the tests: a header declaring a large volume, then gzip members of zeros.

A gzip member of 64 MiB of zeros is about 65 kB, and a .nii.gz may hold several members one after
the other (every gzip reader reads them as one stream): a header declaring 1024 x 1024 x 2048 uint8
(2 GiB of voxels) followed by 32 such members is a file of about 2.1 MB.
"""

from __future__ import annotations

import functools
import gzip
import io

import numpy as np

MEMBER = 64 * 1024 * 1024


@functools.cache
def _zeros_member(n: int) -> bytes:
    return gzip.compress(bytes(n), compresslevel=9)


def nifti_header(shape_disk: tuple[int, ...], affine: np.ndarray, dtype=np.uint8, offset: int = 352) -> bytes:
    """A NIfTI-1 single-file header (nibabel) declaring ``shape_disk`` voxels of ``dtype`` at ``offset``."""
    import nibabel as nib

    hdr = nib.Nifti1Header()
    hdr.set_data_shape(shape_disk)
    hdr.set_data_dtype(dtype)
    hdr.set_sform(affine, code="scanner")
    hdr.set_qform(affine, code="scanner")
    hdr.set_data_offset(offset)
    buf = io.BytesIO()
    hdr.write_to(buf)
    buf.write(bytes(352 - buf.tell()))
    return buf.getvalue()


def nifti_bomb(shape_disk: tuple[int, ...], affine: np.ndarray, *, data_bytes: int | None = None,
               dtype=np.uint8, offset: int = 352) -> bytes:
    """A small .nii.gz whose header declares ``shape_disk`` and which decompresses to ``data_bytes`` of zeros.

    ``data_bytes`` defaults to what the header declares; more makes a file carrying trailing data.
    """
    head = nifti_header(shape_disk, affine, dtype, offset)
    total = int(np.prod(shape_disk)) * np.dtype(dtype).itemsize if data_bytes is None else data_bytes
    total += offset - len(head)  # the padding up to the voxel offset (an extension area of zeros)
    full, rest = divmod(total, MEMBER)
    parts = [gzip.compress(head, compresslevel=1), *[_zeros_member(MEMBER)] * full]
    if rest:
        parts.append(_zeros_member(rest))
    return b"".join(parts)
