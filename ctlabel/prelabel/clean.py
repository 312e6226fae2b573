"""Clean a pre-label in the label volume, so that it passes ctlabel's own QA.

A pre-label is decided on a working grid and refined at full resolution by its threshold
(:mod:`ctlabel.prelabel.grid`); the refinement leaves one-pixel holes where a border pixel
fails the threshold and specks where a border pixel passes it away from the rest. Both are
what ``ctlabel qa`` reports (``hole``, ``small_island``), so each written label is cleaned
the way QA judges it: 3D pieces (26-connected) smaller than ``MinIslandMM3`` apart from the
label's largest are dropped, then background enclosed by the label within a slice
(4-connected) is filled. Only the label's own voxels and background voxels change: another
label is never written over. Slab by slab, cropped to where the label is, so the working
memory stays a few slices.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ctlabel.prelabel.grid import _slabs, enclosed

_CUBE = np.ones((3, 3, 3), bool)


def _crop(m: np.ndarray) -> tuple[slice, slice] | None:
    """The (row, column) bounding box of ``m`` (slice, row, column), or None when empty."""
    rows, cols = np.flatnonzero(m.any(axis=(0, 2))), np.flatnonzero(m.any(axis=(0, 1)))
    if not rows.size:
        return None
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)


def _roots(parent: np.ndarray) -> np.ndarray:
    """Every id's root in a union-find forest (pointer jumping, vectorised)."""
    while True:
        up = parent[parent]
        if np.array_equal(up, parent):
            return parent
        parent = up


def _union(parent: np.ndarray, pairs: np.ndarray) -> None:
    """Join the ids of each row of ``pairs`` (few: the pieces crossing a slab boundary)."""
    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    for a, b in pairs:
        ra, rb = find(int(a)), find(int(b))
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)


def _links(prev: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """(id in ``prev``, id in ``cur``) of the pieces touching across two adjacent slices (26-connected).

    The two slices are labelled together; ids that share a piece there are linked to its
    smallest id.
    """
    both, _ = ndi.label(np.stack([prev > 0, cur > 0]), _CUBE)
    ids = np.concatenate([prev[prev > 0], cur[cur > 0]])
    piece = np.concatenate([both[0][prev > 0], both[1][cur > 0]])
    if not ids.size:
        return np.zeros((0, 2), np.int64)
    base = int(ids.max()) + 1
    keys = np.unique(piece.astype(np.int64) * base + ids)  # sorted by piece, then id
    piece, ids = keys // base, keys % base
    first = np.r_[True, piece[1:] != piece[:-1]]
    lowest = np.maximum.accumulate(np.where(first, np.arange(ids.size), 0))  # index of each piece's first id
    return np.stack([ids[lowest], ids], axis=1)[~first]


def drop_specks(labels: np.ndarray, value: int, voxel_mm3: float, min_mm3: float) -> int:
    """Set to 0 the 26-connected pieces of ``value`` smaller than ``min_mm3``, apart from the largest.

    The pieces are those of ``ctlabel qa``'s ``small_island`` check. Pieces are found slab by
    slab and joined across slab boundaries; only the voxels of pieces smaller than the limit
    are kept in memory.

    Parameters
    ----------
    labels : numpy.ndarray
        (slice, row, column) label volume, changed in place.
    value : int
        The label.
    voxel_mm3 : float
        The volume of one voxel.
    min_mm3 : float
        Pieces below this volume are dropped (the label's largest piece is always kept).

    Returns
    -------
    int
        The number of voxels set to 0.
    """
    sizes: list[np.ndarray] = [np.zeros(1, np.int64)]  # id 0: no piece
    small: list[tuple[np.ndarray, tuple[np.ndarray, ...]]] = []  # (ids, voxel indices) of small pieces
    links: list[np.ndarray] = []
    offset, prev = 0, None
    for sl in _slabs(labels.shape[0]):
        m = labels[sl] == value
        box = _crop(m)
        if box is None:
            prev = None
            continue
        cc, n = ndi.label(m[:, box[0], box[1]], _CUBE)
        size = np.bincount(cc.ravel(), minlength=n + 1)[1:]
        sizes.append(size.astype(np.int64))
        first, last = np.zeros(labels.shape[1:], np.int64), np.zeros(labels.shape[1:], np.int64)
        first[box] = np.where(cc[0] > 0, cc[0] + offset, 0)
        last[box] = np.where(cc[-1] > 0, cc[-1] + offset, 0)
        if prev is not None:
            links.append(_links(prev, first))
        prev = last
        ids = np.flatnonzero(size * voxel_mm3 < min_mm3) + 1
        if ids.size:
            lut = np.zeros(n + 1, bool)
            lut[ids] = True
            z, r, c = np.nonzero(lut[cc])
            where = (z + sl.start, r + box[0].start, c + box[1].start)
            small.append((cc[z, r, c].astype(np.int64) + offset, where))
        offset += n
    if not small:
        return 0
    parent = np.arange(offset + 1)
    if links:
        _union(parent, np.concatenate(links))
    root = _roots(parent)
    group = np.bincount(root, weights=np.concatenate(sizes), minlength=offset + 1)
    group[0] = 0
    drop = group * voxel_mm3 < min_mm3
    drop[0] = False
    drop[int(np.argmax(group))] = False  # the largest piece stays, however small
    dropped = 0
    for ids, at in small:
        gone = drop[root[ids]]
        labels[tuple(w[gone] for w in at)] = 0
        dropped += int(gone.sum())
    return dropped


def fill_enclosed(labels: np.ndarray, value: int, max_hole_px: float | None = None) -> int:
    """Give ``value`` to the background voxels it encloses within a slice (``ctlabel qa``'s ``hole``).

    Enclosed: in a 4-connected region of the slice's voxels other than ``value`` that does not
    reach the slice border. Only background (0) voxels of such a region are filled: another
    label inside is not a hole and stays.

    Parameters
    ----------
    labels : numpy.ndarray
        (slice, row, column) label volume, changed in place.
    value : int
        The label.
    max_hole_px : float, optional
        Only regions of at most this many pixels are filled (None: all).

    Returns
    -------
    int
        The number of voxels filled.
    """
    filled = 0
    for sl in _slabs(labels.shape[0]):
        part = labels[sl]
        m = part == value
        box = _crop(m)
        if box is None:
            continue
        sub = part[:, box[0], box[1]]
        hole = enclosed(m[:, box[0], box[1]], max_hole_px)
        hole &= sub == 0
        sub[hole] = value
        filled += int(np.count_nonzero(hole))
    return filled


def clean_label(labels: np.ndarray, value: int, spacing, min_island_mm3: float,
                max_hole_mm2: float | None = None) -> dict[str, int]:
    """Drop the specks of ``value``, then fill its holes (see the module's docstring).

    Parameters
    ----------
    labels : numpy.ndarray
        (slice, row, column) label volume, changed in place.
    value : int
        The label.
    spacing : sequence of float
        (slice, row, column) mm.
    min_island_mm3 : float
        Pieces below this volume, apart from the largest, are dropped.
    max_hole_mm2 : float, optional
        Only holes of at most this area are filled (None: all).

    Returns
    -------
    dict
        ``{"dropped": voxels set to 0, "filled": voxels filled}``.
    """
    voxel = float(np.prod([float(s) for s in spacing]))
    dropped = drop_specks(labels, value, voxel, min_island_mm3)
    px = None if max_hole_mm2 is None else max_hole_mm2 / (float(spacing[1]) * float(spacing[2]))
    return {"dropped": dropped, "filled": fill_enclosed(labels, value, px)}


__all__ = ["clean_label", "drop_specks", "fill_enclosed"]
