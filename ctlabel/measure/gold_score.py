"""Scoring a mask against a reference (a gold standard), per label: Dice, HD95, volume difference.

The figures are those of :func:`ctlabel.measure.compare.compare_masks` with the reference as
mask A and the scored mask as mask B (nothing is computed twice): the Dice coefficient, the 95th
percentile of the pooled symmetric surface distances in mm (None when one side lacks the label),
the volumes and their difference (scored minus reference, ml and % of the reference). Every
label present in either mask is scored, so a label the reference has and the scored mask lacks
has Dice 0, and a label painted where the reference has none has Dice 0 too.

Used by the team server's gold-standard cases (:mod:`ctlabel.team.gold`) and usable by a
benchmark of annotators or models against reference masks.
"""

from __future__ import annotations

from dataclasses import dataclass

from ctlabel.io.labels import LabelTable
from ctlabel.io.mask import Mask
from ctlabel.measure.compare import LabelAgreement, compare_masks


@dataclass(frozen=True)
class LabelScore:
    """How a mask scores against the reference on one label.

    Attributes
    ----------
    label : int
        The label value.
    name : str
        Its name in the label table.
    dice : float
        Dice coefficient (0..1).
    hd95_mm : float or None
        95th percentile of the symmetric surface distances, mm; None when one side lacks the label.
    volume_ref_ml, volume_ml : float
        The label's volume in the reference and in the scored mask, ml.
    """

    label: int
    name: str
    dice: float
    hd95_mm: float | None
    volume_ref_ml: float
    volume_ml: float

    @property
    def volume_diff_ml(self) -> float:
        """Scored minus reference volume, ml."""
        return self.volume_ml - self.volume_ref_ml

    @property
    def volume_diff_pct(self) -> float | None:
        """The volume difference in % of the reference's volume (None when the reference lacks the label)."""
        return None if self.volume_ref_ml == 0 else 100.0 * self.volume_diff_ml / self.volume_ref_ml

    @classmethod
    def from_agreement(cls, row: LabelAgreement) -> LabelScore:
        """From a row of :func:`~ctlabel.measure.compare.compare_masks` (reference as A)."""
        return cls(row.label, row.name, row.dice, row.hd95_mm, row.volume_a_ml, row.volume_b_ml)

    def to_dict(self) -> dict:
        """JSON-ready, rounded: label, name, dice, hd95_mm, volumes and their difference."""
        def r(v: float | None, n: int = 4) -> float | None:
            return None if v is None else round(float(v), n)

        return {"label": self.label, "name": self.name, "dice": r(self.dice), "hd95_mm": r(self.hd95_mm, 3),
                "volume_ref_ml": r(self.volume_ref_ml), "volume_ml": r(self.volume_ml),
                "volume_diff_ml": r(self.volume_diff_ml), "volume_diff_pct": r(self.volume_diff_pct, 2)}


def score_mask(reference: Mask, scored: Mask, table: LabelTable | None = None) -> list[LabelScore]:
    """Score ``scored`` against ``reference``, label by label.

    Parameters
    ----------
    reference : Mask
        The reference (e.g. a gold case's approved version).
    scored : Mask
        The mask to score, on exactly the reference's grid (nothing is resampled).
    table : LabelTable, optional
        Names of the labels.

    Returns
    -------
    list of LabelScore
        One per label present in either mask, by label value.

    Raises
    ------
    GeometryError
        The masks are not on the same grid.
    """
    return [LabelScore.from_agreement(r) for r in compare_masks(reference, scored, table).rows]


__all__ = ["LabelScore", "score_mask"]
