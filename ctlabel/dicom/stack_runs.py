"""``--irregular split``: cut a stack whose spacing truly varies into uniform runs.

Each run of slices with one spacing becomes a stack of its own (and so a case of its
own); nothing is resampled. A run of one slice is a single image split off the series:
it is reported, not converted.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ctlabel.dicom.stacks import Stack
from ctlabel.geometry import (
    DUPLICATE_TOLERANCE_MM,
    SPACING_TOLERANCE_FRACTION,
    SPACING_TOLERANCE_MM,
    analyze_stack,
    slice_normal,
)
from ctlabel.model import StackKind, WarningCode, as_warnings, warning_codes


def _same_step(gap: float, step: float) -> bool:
    return abs(gap - step) <= max(SPACING_TOLERANCE_MM, SPACING_TOLERANCE_FRACTION * step)


def uniform_runs(positions_mm: np.ndarray) -> list[list[int]]:
    """Group sorted positions along the normal into runs of one spacing.

    Parameters
    ----------
    positions_mm : numpy.ndarray
        Positions along the slice normal, ascending.

    Returns
    -------
    list of list of int
        Indices into ``positions_mm``; slices that share a position stay together.
    """
    runs: list[list[int]] = []
    current: list[int] = [0]
    last, step = float(positions_mm[0]), None
    for i in range(1, len(positions_mm)):
        gap = float(positions_mm[i]) - last
        if gap < DUPLICATE_TOLERANCE_MM:  # a duplicate: loading drops or refuses it
            current.append(i)
            continue
        if step is None or _same_step(gap, step):
            step = gap if step is None else step
        else:
            runs.append(current)
            current, step = [], None
            # the slice that ended a run starts the next one; its gap belongs to neither
        current.append(i)
        last = float(positions_mm[i])
    runs.append(current)
    return runs


def split_uniform_runs(stack: Stack) -> list[Stack]:
    """The stack itself when its spacing is uniform, else one stack per uniform run.

    Parameters
    ----------
    stack : Stack
        A volume from :func:`ctlabel.find_series` (slices sorted along the normal).

    Returns
    -------
    list of Stack
        Runs of two or more slices are volumes; a run of one slice is a single image
        whose ``split_off`` says why it is not converted.
    """
    if stack.kind != StackKind.VOLUME or WarningCode.NON_UNIFORM_SPACING not in warning_codes(stack.warnings):
        return [stack]
    first = stack.slices[0]
    assert first.orientation is not None  # the headers of a volume have geometry
    normal = slice_normal(first.orientation)
    d = np.array([h.position for h in stack.slices]) @ normal
    out = []
    runs = uniform_runs(d)
    for n, idx in enumerate(runs, 1):
        headers = [stack.slices[i] for i in idx]
        geo = analyze_stack(np.array([h.position for h in headers]), first.orientation, first.slice_thickness)
        ps = first.pixel_spacing or (1.0, 1.0)
        part = dataclasses.replace(
            stack,
            slices=headers,
            warnings=[str(w) for w in as_warnings(stack.warnings)
                      if w.code is WarningCode.INCONSISTENT_PIXEL_SPACING] + geo.warnings
            + [f"split_run: run {n} of {len(runs)} uniform runs of a series with varying spacing"],
            spacing=(geo.spacing_mm, ps[0], ps[1]),
            kind=StackKind.VOLUME if len({round(float(p), 2) for p in d[idx]}) >= 2 else StackKind.SINGLE,
        )
        if part.kind == StackKind.SINGLE:
            part.split_off = f"a slice split off by --irregular split (run {n} of {len(runs)})"
        out.append(part)
    return out


__all__ = ["split_uniform_runs", "uniform_runs"]
