"""The domain's names and small values: enums and frozen dataclasses, validated when built.

Each serializes to the documented JSON (``docs/provenance.md``, ``docs/review.md``) and back.
The enums are ``StrEnum``: a member equals its string, so records on disk, older code and
JSON need no change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class StackKind(StrEnum):
    """What :func:`ctlabel.find_series` found: only volumes and one-image series are converted."""

    VOLUME = "volume"
    SINGLE = "single"
    AMBIGUOUS = "ambiguous"
    LOCALIZER = "localizer"
    SECONDARY = "secondary"
    NONIMAGE = "nonimage"


#: Kinds whose pixels form an image ctlabel can load.
IMAGE_KINDS = (StackKind.VOLUME, StackKind.SINGLE, StackKind.AMBIGUOUS)


class CaseState(StrEnum):
    """Review states of a case (``docs/review.md``)."""

    IN_PROGRESS = "in_progress"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"


class Role(StrEnum):
    """Who acts on a case."""

    ANNOTATOR = "annotator"
    REVIEWER = "reviewer"
    SYSTEM = "system"


class Action(StrEnum):
    """What an event records."""

    CONVERTED = "converted"
    CREATED = "created"
    PAINTED = "painted"
    INTERPOLATED = "interpolated"
    SAVED = "saved"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    CORRECTED = "corrected"
    IMPORTED = "imported"
    RESTORED = "restored"
    IMAGE_REPLACED = "image_replaced"
    LABELS_CHANGED = "labels_changed"


class WarningCode(StrEnum):
    """Codes of the geometry and series warnings (``code: detail`` in sidecars and reports)."""

    GANTRY_TILT = "gantry_tilt"
    NON_UNIFORM_SPACING = "non_uniform_spacing"
    MISSING_SLICES = "missing_slices"
    DUPLICATE_POSITIONS = "duplicate_positions"
    CONFLICTING_DUPLICATES = "conflicting_duplicates"
    INCONSISTENT_PIXEL_SPACING = "inconsistent_pixel_spacing"
    NO_SLICE_THICKNESS = "no_slice_thickness"
    ORIENTATION_CORRECTED = "orientation_corrected"
    OFF_LINE_SLICES = "off_line_slices"
    SPLIT_OFF_SLICES = "split_off_slices"
    SPLIT_RUN = "split_run"
    OTHER = "other"


#: Warnings that say no single affine places every acquired slice exactly as read.
IRREGULAR_CODES = (WarningCode.GANTRY_TILT, WarningCode.NON_UNIFORM_SPACING, WarningCode.MISSING_SLICES)


@dataclass(frozen=True)
class GeometryWarning:
    """A warning as data: its code and its details. ``str()`` is the ``code: detail`` form on disk."""

    code: WarningCode
    detail: str = ""

    @classmethod
    def parse(cls, text: str) -> GeometryWarning:
        """Read the ``code: detail`` form; an unknown code is kept as ``other`` with the whole text."""
        code, _, detail = str(text).partition(":")
        try:
            return cls(WarningCode(code.strip()), detail.strip())
        except ValueError:
            return cls(WarningCode.OTHER, str(text))

    def __str__(self) -> str:
        if self.code is WarningCode.OTHER:
            return self.detail
        return f"{self.code}: {self.detail}" if self.detail else str(self.code)


def warning_codes(warnings) -> set[WarningCode]:
    """The codes of ``code: detail`` strings or :class:`GeometryWarning` values."""
    return {w.code if isinstance(w, GeometryWarning) else GeometryWarning.parse(w).code for w in warnings}


def _slice_map(value: Mapping | None, name: str) -> dict[int, tuple[int, ...]]:
    out: dict[int, tuple[int, ...]] = {}
    for label, slices in (value or {}).items():
        lab = int(label)
        if lab <= 0:
            raise ValueError(f"{name}: label {label} is not a positive label value")
        ks = tuple(sorted({int(k) for k in slices}))
        if ks and ks[0] < 0:
            raise ValueError(f"{name}: label {lab} lists a negative slice {ks[0]}")
        if ks:
            out[lab] = ks
    return out


@dataclass(frozen=True)
class SliceEdits:
    """Which slices of each label were painted, erased or filled by interpolation, along one axis."""

    painted: Mapping[int, tuple[int, ...]] = field(default_factory=dict)
    erased: Mapping[int, tuple[int, ...]] = field(default_factory=dict)
    interpolated: Mapping[int, tuple[int, ...]] = field(default_factory=dict)
    axis: int = 0

    def __post_init__(self) -> None:
        if self.axis not in (0, 1, 2):
            raise ValueError(f"axis must be 0, 1 or 2, not {self.axis}")
        for name in ("painted", "erased", "interpolated"):
            object.__setattr__(self, name, _slice_map(getattr(self, name), name))

    def for_present(self, present) -> SliceEdits:
        """The edits of the labels that still have voxels (a label erased to nothing drops out)."""
        keep = {int(p) for p in present}
        pick = lambda m: {k: v for k, v in m.items() if k in keep}  # noqa: E731
        return SliceEdits(pick(self.painted), pick(self.erased), pick(self.interpolated), self.axis)

    def to_lists(self) -> dict:
        """``{"painted": {label: [k...]}, "interpolated": ..., "axis": n}`` as save_mask takes them."""
        return {"painted": {k: list(v) for k, v in self.painted.items()},
                "interpolated": {k: list(v) for k, v in self.interpolated.items()}, "axis": self.axis}


@dataclass(frozen=True)
class Event:
    """One event of a provenance sidecar or a case record."""

    who: str
    role: Role
    when: str
    action: Action
    version: str | None = None
    extra: Mapping = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not str(self.who).strip():
            raise ValueError("an event needs who acted")
        object.__setattr__(self, "role", Role(self.role))
        object.__setattr__(self, "action", Action(self.action))

    def to_dict(self) -> dict:
        return {"Who": self.who, "Role": str(self.role), "When": self.when, "Action": str(self.action),
                "Version": self.version, **dict(self.extra)}

    @classmethod
    def from_dict(cls, d: Mapping) -> Event:
        core = {"Who", "Role", "When", "Action", "Version"}
        return cls(d["Who"], d["Role"], d["When"], d["Action"], d.get("Version"),
                   {k: v for k, v in d.items() if k not in core})


__all__ = ["IMAGE_KINDS", "IRREGULAR_CODES", "Action", "CaseState", "Event", "GeometryWarning", "Role",
           "SliceEdits", "StackKind", "WarningCode", "warning_codes"]
