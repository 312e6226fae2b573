"""Quality checks of a mask against its image and label table.

Each :class:`Finding` has a check name, a level (``error`` or ``warning``), the
label, a message, and a location: the slice index ``k`` (array axis 0 unless the
mask's provenance says another ``SliceAxis``) and one voxel ``(slice, row, column)``
on which a viewer can centre. ``ctlabel qa`` exits 1 when any finding is an error.

Checks (see ``docs/review.md``):

geometry            error    the mask grid is not the image grid (nothing else is checked)
unknown_label       error    a label value that the label table does not list
empty_label         warning  a label the provenance lists (painted / interpolated) that has no voxels
soft_tissue_on_air  error    a soft-tissue or fluid label with more than half its voxels below -500 HU
small_island        warning  a connected piece smaller than ``min_island_mm3`` apart from the label's largest
hole                warning  background enclosed by a label within a slice, of at least ``min_hole_mm2``
interpolated_outside_painted  error  an interpolated slice beyond the label's first or last painted slice
far_from_painted    warning  an interpolated slice with no painted slice within ``max_gap`` slices
on_padded_slice     warning  label voxels on a slice padded where the acquisition skipped a position
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ctlabel.errors import GeometryError
from ctlabel.io.labels import Label, LabelTable
from ctlabel.io.mask import Mask
from ctlabel.qa.checks import CHECKS, ERROR, NOT_ON_AIR, REGISTRY, WARNING, Context, QAOptions
from ctlabel.volume import Volume


@dataclass
class Finding:
    """One QA finding about a mask.

    Attributes
    ----------
    check : str
        The check that found it (a name of the registry).
    level : str
        ``error`` (blocks a submit unless forced) or ``warning``.
    message : str
        What is wrong, in words.
    label : int, optional
        The label concerned.
    slice : int, optional
        The slice concerned, along ``axis``.
    voxel : tuple of int, optional
        A voxel (slice, row, column) to look at.
    axis : int
        The slice axis of ``slice``.
    source : str
        The mask checked (a path or ``CASE@vN``).
    """

    check: str
    level: str
    message: str
    label: int | None = None
    slice: int | None = None
    voxel: tuple[int, int, int] | None = None
    axis: int = 0
    source: str = ""

    def to_dict(self) -> dict:
        return {"check": self.check, "level": self.level, "label": self.label, "slice": self.slice,
                "voxel": None if self.voxel is None else [int(v) for v in self.voxel], "axis": self.axis,
                "message": self.message, "source": self.source}


@dataclass
class QAReport:
    """The QA findings of one target.

    Attributes
    ----------
    source : str
        What was checked.
    findings : list of Finding
        In the order found.
    error : str, optional
        Why the target could not be checked at all.
    """

    source: str
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None  # the input could not be checked at all

    @property
    def ok(self) -> bool:
        return self.error is None and not any(f.level == ERROR for f in self.findings)

    def to_dict(self) -> dict:
        return {"source": self.source, "ok": self.ok, "error": self.error,
                "findings": [f.to_dict() for f in self.findings]}


def table_from_provenance(mask: Mask) -> LabelTable | None:
    """The label table recorded in a mask's provenance sidecar (names, colours), or None.

    Parameters
    ----------
    mask : Mask
        The mask.

    Returns
    -------
    LabelTable or None
        None when the sidecar names no label.
    """
    labels = []
    for k, v in (mask.provenance.labels if mask.provenance is not None else {}).items():
        if v.get("Name"):
            labels.append(Label(int(k), v["Name"], v.get("Abbreviation", ""), v.get("Color") or "#ff0000",
                                v.get("Tissue") or "other"))
    return LabelTable(tuple(sorted(labels, key=lambda x: x.index))) if labels else None


def check_mask(mask: Mask, image: Volume | None, table: LabelTable | None, options: QAOptions | None = None,
               source: str = "") -> list[Finding]:
    """Run the QA checks of one mask against its image (HU) and label table.

    ``geometry`` runs first: a mask on another grid than the image is reported and nothing
    else is checked. Then every check of :data:`ctlabel.qa.checks.REGISTRY` that
    ``options.checks`` names, in registry order.
    """
    o = options or QAOptions()
    out: list[Finding] = []
    axis = mask.axis

    def add(check, level, msg, label=None, voxel=None, slice_=None):
        if slice_ is None and voxel is not None:
            slice_ = int(voxel[axis])
        out.append(Finding(check, level, msg, label, slice_, voxel, axis, source))

    if image is not None:
        try:
            image.grid.require_match(mask.grid, "the mask", mask.path)
        except GeometryError as exc:
            if "geometry" in o.checks:
                add("geometry", ERROR, exc.reason)
            return out
    ctx = Context(mask, image, table, o, add)
    for name, run in REGISTRY.items():
        if name in o.checks:
            run(ctx)
    return out


__all__ = ["CHECKS", "ERROR", "NOT_ON_AIR", "WARNING", "Finding", "QAOptions", "QAReport", "check_mask",
           "table_from_provenance"]
