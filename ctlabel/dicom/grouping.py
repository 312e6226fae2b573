"""Grouping header records into stacks.

Duplicates are split by acquisition, off-line slices split off, conflicting duplicates
found, stack kinds and warnings settled.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import fields

import numpy as np

from ctlabel.dicom.headers import (
    SliceHeader,
)
from ctlabel.dicom.records import SPLIT_KEYS, FileRecord
from ctlabel.dicom.stacks import SeriesInfo, Stack
from ctlabel.errors import CtlabelError
from ctlabel.geometry import analyze_stack
from ctlabel.model import IMAGE_KINDS, StackKind


def _has_duplicates(members: list) -> bool:
    seen = set()
    for m in members:
        for h in m.headers:
            key = (h.frame, tuple(np.round(h.position, 2)) if h.position else None)
            if key[1] is not None and key[1] in seen:
                return True
            seen.add(key[1])
    return False


def split_duplicates(kind: str, members: list) -> list[list]:
    """Split a group whose slices share positions into stacks that do not.

    Tries AcquisitionNumber, ImageType and TemporalPositionIdentifier in turn. A
    group whose every slice lies at one position (copies of one slice, e.g. in
    several transfer syntaxes) becomes one single-slice stack per file. What is
    left is kept, and :func:`load_series` drops identical duplicates and refuses
    conflicting ones.
    """
    if kind != "image" or len(members) < 2 or not _has_duplicates(members):
        return [members]
    for n in range(1, len(SPLIT_KEYS) + 1):
        parts: dict[tuple, list] = defaultdict(list)
        for m in members:
            parts[m.split_values[:n]].append(m)
        if len(parts) > 1 and not any(_has_duplicates(p) for p in parts.values()):
            return list(parts.values())
    positions = {tuple(np.round(h.position, 2)) for m in members for h in m.headers}
    if len(positions) == 1:
        return [[m] for m in members]  # explained by mark_split_off
    return [members]


def mark_split_off(stacks: list[Stack], failed_series: set[str]) -> None:
    """Explain single images that are part of a larger series; only a series of one image converts.

    Images of one series that all share one position are told apart from a series split
    into a volume and stray slices.
    """
    by_series: dict[str, list[Stack]] = defaultdict(list)
    for s in stacks:
        if s.kind in IMAGE_KINDS and s.series_uid:
            by_series[s.series_uid].append(s)
    for uid, group in by_series.items():
        singles = [s for s in group if s.kind == StackKind.SINGLE]
        if uid in failed_series:
            for s in singles:
                s.split_off = s.split_off or "the other images of this series could not be read: not converted alone"
        if not singles or len(group) < 2:
            continue
        if len(singles) == len(group):
            positions = {tuple(np.round(np.asarray(s.slices[0].position), 2)) for s in singles}
            if len(positions) == 1:
                reason = f"{len(singles)} images of this series share one position: not a volume"
            else:
                reason = f"{len(singles)} single images of one series at different orientations or sizes"
        else:
            images = sum(s.n_slices for s in group)
            reason = (f"a slice split off a series of {images} images (its geometry, frame of reference, study,"
                      " modality or photometric interpretation differs from the others', or it is a duplicate)")
            main = max(group, key=lambda s: s.n_slices)
            stray = [s for s in singles if not s.split_off]
            if stray:
                main.warnings.append(f"split_off_slices: {len(stray)} image(s) of this series are not in this"
                                     f" stack: {', '.join(os.path.basename(s.files[0]) for s in stray[:5])}")
        for s in singles:
            s.split_off = s.split_off or reason


#: A slice may lie this far (mm, or this fraction of the pixel spacing) off its stack's line.
OFF_LINE_TOLERANCE_MM = 0.05
OFF_LINE_TOLERANCE_PIXELS = 0.05


def _off_line(headers: list[SliceHeader]) -> list[int]:
    """Indices of slices whose position lies off the line of the others (robust fit, in-plane)."""
    if len(headers) < 3:
        return []
    pos = np.array([h.position for h in headers], dtype=float)
    iop = np.asarray(headers[0].orientation, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    d = pos @ normal
    order = np.argsort(d, kind="stable")
    d, pos = d[order], pos[order]
    inplane = np.stack([pos @ iop[:3], pos @ iop[3:]], axis=1)
    steps = np.diff(d)
    keep = steps > 1e-6
    if keep.sum() < 2:
        return []
    slopes = np.median(np.diff(inplane, axis=0)[keep] / steps[keep, None], axis=0)
    intercept = np.median(inplane - d[:, None] * slopes[None], axis=0)
    residual = np.linalg.norm(inplane - intercept[None] - d[:, None] * slopes[None], axis=1)
    ps = min(headers[0].pixel_spacing or (1.0, 1.0))
    tol = max(OFF_LINE_TOLERANCE_MM, OFF_LINE_TOLERANCE_PIXELS * ps)
    return sorted(int(order[i]) for i in np.flatnonzero(residual > tol))


def make_stacks(kind: str, members: list[FileRecord]) -> list[Stack]:
    """One stack from a group of files; slices off the stack's line are split off as singles."""
    if kind == "image":
        headers = [h for m in members for h in m.headers]
        off = set(_off_line(headers))
        if off and len(off) < len(headers):
            stray = [h for i, h in enumerate(headers) if i in off]
            main = _make_stack(kind, members, [h for i, h in enumerate(headers) if i not in off])
            main.warnings.append(
                f"off_line_slices: {len(stray)} slice(s) lie off this stack's line (more than"
                f" {OFF_LINE_TOLERANCE_MM} mm or {OFF_LINE_TOLERANCE_PIXELS:.0%} of a pixel in-plane) and were"
                f" split off: {', '.join(os.path.basename(h.path) for h in stray[:5])}")
            singles = [_make_stack(kind, members, [h]) for h in stray]
            for single in singles:
                single.split_off = "a slice off the line of its series' other slices (shifted in-plane)"
            return [main, *singles]
    return [_make_stack(kind, members)]


def _make_stack(kind: str, members: list[FileRecord], headers: list[SliceHeader] | None = None) -> Stack:
    r0 = members[0]
    headers = [h for m in members for h in m.headers] if headers is None else headers
    series = {f.name: getattr(r0, f.name) for f in fields(SeriesInfo)}
    stack = Stack(kind=StackKind.VOLUME if kind == "image" else StackKind(kind), slices=headers, **series)
    stack.identifying = tuple(dict.fromkeys(v for m in members for v in m.identifying))
    if any(m.burned_in_annotation == "YES" for m in members):
        stack.burned_in_annotation = "YES"
    if kind == StackKind.NONIMAGE:
        stack.references = list(r0.references)
        return stack
    if kind != "image":
        return stack
    spacings = {h.pixel_spacing for h in headers}
    if None in spacings or len({tuple(np.round(s, 4)) for s in spacings if s}) > 1:
        stack.warnings.append("inconsistent_pixel_spacing: slices disagree on PixelSpacing")
    assert headers[0].orientation is not None  # the headers of an image have geometry
    geo = analyze_stack(
        np.array([h.position for h in headers]), headers[0].orientation, headers[0].slice_thickness
    )
    stack.slices = [headers[i] for i in geo.order]
    stack.warnings += geo.warnings
    stack.warnings += list(dict.fromkeys(n for h in headers for n in h.notes))
    ps = headers[0].pixel_spacing or (1.0, 1.0)
    stack.spacing = (geo.spacing_mm, ps[0], ps[1])
    stack.kind = StackKind.VOLUME if len(headers) >= 2 else StackKind.SINGLE
    conflicts = _conflicting_duplicates(stack.slices, geo.duplicates, stack.rows, stack.columns)
    if conflicts:
        stack.kind = StackKind.AMBIGUOUS
        stack.warnings.append(
            f"conflicting_duplicates: {conflicts} position(s) hold two different images (a 4-D or mixed"
            " series that AcquisitionNumber, ImageType and TemporalPositionIdentifier do not split):"
            " not a volume; ctlabel will not guess which images belong together")
    return stack


def _conflicting_duplicates(slices: list[SliceHeader], pairs: list[tuple[int, int]], rows: int, cols: int) -> int:
    """How many duplicated positions hold different pixels (reads only those slices' pixels)."""
    if not pairs:
        return 0
    from ctlabel.dicom.frames import slice_pixel_hash

    count = 0
    for a, b in pairs:
        try:
            if slice_pixel_hash(slices[a], rows, cols) != slice_pixel_hash(slices[b], rows, cols):
                count += 1
        except (CtlabelError, ValueError):
            return 0  # unreadable pixels: loading reports the file and the reason
    return count


__all__ = ["make_stacks", "mark_split_off", "split_duplicates"]
