"""What changed from one version of a case to another: the overlay a reviewer sees and its counts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ctlabel.case.access import ReviewSession
from ctlabel.measure import compare
from ctlabel.volume import spacing_from_affine


@dataclass(frozen=True)
class VersionDiff:
    """The change from version ``a`` to version ``b`` of a case (``v001`` ..., or ``draft``).

    Parameters
    ----------
    a, b : str
        The version names compared, from ``a`` to ``b``.
    overlay : numpy.ndarray
        Per voxel: :attr:`UNCHANGED`, :attr:`ADDED` (background to a label), :attr:`REMOVED`
        (a label to background) or :attr:`RELABELLED` (one label to another).
    summary : dict
        Voxel counts ``added``, ``removed``, ``relabelled`` (and each in ml: ``added_ml`` ...) and the
        ``slices`` (axis 0) where anything changed (:func:`ctlabel.measure.compare.diff_summary`).
    """

    UNCHANGED: ClassVar[int] = compare.UNCHANGED
    ADDED: ClassVar[int] = compare.ADDED
    REMOVED: ClassVar[int] = compare.REMOVED
    RELABELLED: ClassVar[int] = compare.RELABELLED

    a: str
    b: str
    overlay: np.ndarray
    summary: dict

    @classmethod
    def between(cls, session: ReviewSession, a: str, b: str) -> VersionDiff:
        """Compare two versions of the session's case.

        Raises
        ------
        CaseError
            The case has no version (or draft) of that name.
        InputError
            The two masks have different shapes.
        """
        before, after = session.load(a), session.load(b)
        overlay = compare.diff_overlay(before.array, after.array)
        voxel_ml = float(np.prod(spacing_from_affine(after.affine))) / 1000.0
        return cls(a, b, overlay, compare.diff_summary(overlay, voxel_ml))

    @property
    def slices(self) -> list[int]:
        """The slices (axis 0) where anything changed."""
        return list(self.summary["slices"])

    def describe(self) -> str:
        """One line: ``v001→v002: +5 added, -2 removed, 1 relabelled voxels; slices 3-9`` (or no change)."""
        s, ks = self.summary, self.slices
        if not ks:
            return f"{self.a}→{self.b}: no change"
        return (f"{self.a}→{self.b}: +{s['added']} added, -{s['removed']} removed, {s['relabelled']} relabelled "
                f"voxels; slices {ks[0]}-{ks[-1]}")


__all__ = ["VersionDiff"]
