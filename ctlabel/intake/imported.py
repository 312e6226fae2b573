"""What an importer read from a mask made elsewhere: its segments on the case grid.

Shared by the label-map importers (``ctlabel.intake.importers``) and the DICOM SEG reader
(``ctlabel.intake.seg_import``), which therefore need not import each other's module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: Position tolerance (mm) when matching SEG frames to slices; DS values carry ~7 digits.
POSITION_TOLERANCE_MM = 1e-3


@dataclass
class Segment:
    """One segment of an imported mask, on the case grid.

    Attributes
    ----------
    number : int
        The segment number (a DICOM SEG segment, or the label value of a label map).
    name : str
        Its name in the file (may be empty).
    mask : numpy.ndarray of bool
        (slice, row, column) on the case grid.
    """

    number: int
    name: str
    mask: np.ndarray  # bool, case grid (slice, row, column)


@dataclass
class Imported:
    """What was read: segments on the case grid and where they came from."""

    fmt: str
    path: Path
    segments: list[Segment]
    info: dict = field(default_factory=dict)


__all__ = ["POSITION_TOLERANCE_MM", "Imported", "Segment"]
