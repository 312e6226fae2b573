"""The voxel hash of a volume, computed while its slices are read.

:func:`~ctlabel.volume.voxel_hash` is one SHA-256 over the whole array, in slice order. Saving
a converted volume needs it, and a second pass over the array's bytes after reading costs as
much CPU as the reading's own per-slice hashes. :class:`SliceOrderHasher` feeds each slice to
the hash as soon as it and every slice before it are in the array, while the slice is still in
the CPU's cache; with several reading threads, whichever thread completes the run of slices
hashes it while the others go on reading (SHA-256 releases the GIL).

The dtype, shape and affine that start the hash are the expected ones; the result is used
only when the volume comes out with exactly these (no slice dropped or padded, no float32
re-read), else the volume is hashed again the usual way.
"""

from __future__ import annotations

import threading

import numpy as np

from ctlabel.volume import little_endian_bytes, voxel_hash_affine, voxel_hash_start


class SliceOrderHasher:
    """:func:`~ctlabel.volume.voxel_hash` of an array being filled slice by slice, in any order.

    Parameters
    ----------
    affine : numpy.ndarray
        The affine the volume is expected to have.
    """

    def __init__(self, affine: np.ndarray):
        self.affine = voxel_hash_affine(affine)
        self._affine_in = np.array(affine, dtype=np.float64)
        self.out: np.ndarray | None = None
        self._lock = threading.Lock()
        self._done: list[bool] = []
        self._next = 0
        self._busy = False
        self._abandoned = False
        self._hash = voxel_hash_start(np.uint8, (), self._affine_in)  # replaced by start()

    def start(self, out: np.ndarray) -> None:
        """Hash ``out``, an empty (slice, row, column) array about to be filled."""
        self.out = out
        self._done = [False] * out.shape[0]
        self._hash = voxel_hash_start(out.dtype, out.shape, self._affine_in)

    def abandon(self) -> None:
        """Stop: the array will not be the volume (e.g. it is read again as float32)."""
        with self._lock:
            self._abandoned = True

    def ready(self, i: int) -> None:
        """Slice ``i`` of the array holds its final values; hash every slice now complete in order."""
        with self._lock:
            if self._abandoned or self.out is None:
                return
            self._done[i] = True
            if self._busy:  # another thread is hashing: it will reach slice i
                return
            self._busy = True
        out = self.out
        while True:
            with self._lock:
                k = self._next
                if self._abandoned or k >= len(self._done) or not self._done[k]:
                    self._busy = False
                    return
            self._hash.update(little_endian_bytes(out[k]))  # only the busy thread moves _next
            self._next = k + 1

    def result(self, array: np.ndarray, affine: np.ndarray) -> str | None:
        """The voxel hash of ``array`` and ``affine`` when they are what was hashed, else None."""
        if (self._abandoned or array is not self.out or self._next != len(self._done)
                or voxel_hash_affine(affine) != self.affine):
            return None
        return self._hash.hexdigest()


__all__ = ["SliceOrderHasher"]
