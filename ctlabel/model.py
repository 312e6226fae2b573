"""The domain's names and small values: enums and frozen dataclasses, validated when built.

Each serializes to the documented JSON (``docs/provenance.md``, ``docs/review.md``) and back.
The enums are ``StrEnum``: a member equals its string, so records on disk, older code and
JSON need no change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Generic, TypeVar, cast

T = TypeVar("T")


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
    ACCEPTED = "accepted"  # by the project's review policy, without a reviewer (``docs/review.md``)


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
    READ = "read"
    WITHDRAWN = "withdrawn"
    ACCEPTED = "accepted"


class FusionMethod(StrEnum):
    """How the reads of several readers are fused (``ctlabel.measure.fusion``)."""

    STAPLE = "staple"
    VOTE = "vote"


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
    NEGATIVE_RESCALE_SLOPE = "negative_rescale_slope"
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


def as_warnings(warnings) -> list[GeometryWarning]:
    """Warnings as data, from ``code: detail`` strings (as stored) or :class:`GeometryWarning` values."""
    return [w if isinstance(w, GeometryWarning) else GeometryWarning.parse(w) for w in warnings]


def warning_codes(warnings) -> set[WarningCode]:
    """The codes of ``code: detail`` strings or :class:`GeometryWarning` values."""
    return {w.code for w in as_warnings(warnings)}


def without_code(warnings: list[str], code: WarningCode) -> list[str]:
    """The warnings (as stored) except those of ``code``."""
    return [w for w, g in zip(warnings, as_warnings(warnings), strict=True) if g.code is not code]


def _slice_map(value: Mapping | None, name: str) -> dict[int, tuple[int, ...]]:
    out: dict[int, tuple[int, ...]] = {}
    for label, slices in (value or {}).items():
        lab = int(label)
        if lab <= 0:
            raise ValueError(f"{name}: label {label} is not a positive label value")
        ks = tuple(sorted({int(k) for k in slices}))
        if ks and ks[0] < 0:
            raise ValueError(f"{name}: label {lab} lists a negative slice {ks[0]}")
        out[lab] = ks  # a label with no slices stays listed (erased to nothing: Present false)
    return out


#: Label -> slice indices, sorted and unique (the stored form of :class:`SliceEdits`).
SliceMap = Mapping[int, tuple[int, ...]]


@dataclass(frozen=True, init=False)
class SliceEdits:
    """Which slices of each label were painted or filled by interpolation, along one axis.

    The one form of the edit state: the slice tracker gives it, a save writes it to the
    sidecar (``Labels[k].PaintedSlices`` / ``InterpolatedSlices``, ``SliceAxis``), a read
    gives it back, the server stores an upload's. Slices are sorted and unique; a label may
    be listed with no slices (an editor's label erased to nothing: the sidecar lists it with
    ``Present: false``). Pre-labelled voxels are in neither map (nobody painted them).
    """

    painted: SliceMap
    erased: SliceMap
    interpolated: SliceMap
    axis: int

    def __init__(self, painted: Mapping | None = None, erased: Mapping | None = None,
                 interpolated: Mapping | None = None, axis: int = 0) -> None:
        """Label -> slice indices (any iterable of ints; labels may be strings of ints) per kind, and the axis."""
        if axis not in (0, 1, 2):
            raise ValueError(f"axis must be 0, 1 or 2, not {axis}")
        object.__setattr__(self, "axis", int(axis))
        for name, value in (("painted", painted), ("erased", erased), ("interpolated", interpolated)):
            object.__setattr__(self, name, _slice_map(value, name))

    def for_present(self, present) -> SliceEdits:
        """The edits as a save records them: a label that no longer has voxels keeps no slices.

        Such a label stays listed (the sidecar says ``Present: false``); every editor's save
        (the napari session, its writer, a reviewer's correction) passes through here.
        """
        keep = {int(p) for p in present}
        pick = lambda m: {k: (v if k in keep else ()) for k, v in m.items()}  # noqa: E731
        return SliceEdits(pick(self.painted), pick(self.erased), pick(self.interpolated), self.axis)

    @property
    def slice_axis(self) -> str:
        """The sidecar's name of the axis (``SliceAxis``: ``slice``, ``row`` or ``column``)."""
        return AXIS_NAMES[self.axis]

    @classmethod
    def from_sidecar(cls, labels: Mapping | None, slice_axis: str | None) -> SliceEdits:
        """Read ``Labels[k].PaintedSlices`` / ``InterpolatedSlices`` and ``SliceAxis`` of a sidecar.

        Labels without slices are left out (as read, nothing was painted there). ``ValueError``
        names what is wrong (an unknown axis, a negative slice, a label that is not positive).
        """
        axis = slice_axis or "slice"
        if axis not in AXIS_NAMES:
            raise ValueError(f"unknown SliceAxis {axis!r}")
        entries = {k: v for k, v in (labels or {}).items() if isinstance(v, Mapping)}
        return cls({k: v["PaintedSlices"] for k, v in entries.items() if v.get("PaintedSlices")}, {},
                   {k: v["InterpolatedSlices"] for k, v in entries.items() if v.get("InterpolatedSlices")},
                   AXIS_NAMES.index(axis))


class _Extra(Generic[T]):
    """A read-only field that rides in ``extra`` (untyped on disk): ``extra[key]``, else ``default``."""

    def __init__(self, key: str, default: T | None = None) -> None:  # no default: T includes None
        self.key, self.default = key, default

    def __get__(self, obj, owner=None) -> T:
        value = None if obj is None else obj.extra.get(self.key)  # on the class: the default
        return cast(T, self.default if value is None else value)


def _ordered(values: dict, keys: tuple[str, ...]) -> dict:
    """``values`` with those named in ``keys`` first, in that order (the order a record was read in)."""
    return {k: values[k] for k in (*(k for k in keys if k in values), *(k for k in values if k not in keys))}


@dataclass(frozen=True)
class Event:
    """One event of a provenance sidecar or a case record; ``keys``: its fields' order as read."""

    who: str
    role: Role
    when: str
    action: Action
    version: str | None = None
    extra: Mapping = field(default_factory=dict)
    keys: tuple[str, ...] = field(default=(), compare=False, repr=False)

    voxel_sha256 = _Extra[str | None]("VoxelSHA256")  #: the voxel hash of the version (or draft) it speaks of
    comment = _Extra[str | None]("Comment")  #: what the person wrote
    reader = _Extra[str | None]("Reader")  #: the reader of a read (N readers)
    creates = _Extra[bool]("Creates", True)  #: False: it submitted a version made before (imported)
    files = _Extra[Mapping[str, str | None]]("Files", MappingProxyType({}))  #: the files it vouches for (path: SHA-256)
    reads = _Extra[Sequence[str]]("Reads", ())  #: the versions a submission of N reads fused
    fusion = _Extra[Mapping | None]("Fusion")  #: the fusion of those reads (method, figures per reader)
    forced = _Extra[bool]("Forced", False)  #: submitted although QA found errors
    qa_errors = _Extra[Sequence]("QAErrors", ())  #: the QA errors a forced submit went past
    previous_event_sha256 = _Extra[str | None]("PreviousEventSHA256")  #: the hash of the event before (the chain)
    new_image_voxel_sha256 = _Extra[str | None]("NewImageVoxelSHA256")  #: an image_replaced event's new image hash

    def __post_init__(self) -> None:
        if not str(self.who).strip():
            raise ValueError("an event needs who acted")
        object.__setattr__(self, "role", Role(self.role))
        object.__setattr__(self, "action", Action(self.action))

    def to_dict(self) -> dict:
        """The stored form: the fields as read (a fresh event: ``Who`` ... ``Version``, then the rest)."""
        out = {"Who": self.who, "Role": str(self.role), "When": self.when, "Action": str(self.action),
               "Version": self.version, **dict(self.extra)}
        if self.keys and self.version is None and "Version" not in self.keys:
            del out["Version"]
        return _ordered(out, self.keys)

    @classmethod
    def from_dict(cls, d: Mapping) -> Event:
        core = {"Who", "Role", "When", "Action", "Version"}
        return cls(d["Who"], d["Role"], d["When"], d["Action"], d.get("Version"),
                   {k: v for k, v in d.items() if k not in core}, tuple(d))


def _events(items, what: str) -> tuple[Event, ...]:
    if not isinstance(items, (list, tuple)):
        raise ValueError(f"{what}: Events must be a list")
    return tuple(e if isinstance(e, Event) else Event.from_dict(e) for e in items)


@dataclass(frozen=True)
class CaseRecord:
    """``case.json``: the review state, the events (a hash chain) and the summary fields.

    Fields the model does not name (``HeadEventSHA256``, summary fields, fields of newer
    versions) ride in ``extra`` and are written back unchanged: ``from_dict(d).to_dict() == d``.
    """

    state: CaseState
    events: tuple[Event, ...] = ()
    image_voxel_sha256: str | None = None
    schema_version: str = "1.0"
    extra: Mapping = field(default_factory=dict)
    keys: tuple[str, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", CaseState(self.state))
        object.__setattr__(self, "events", _events(self.events, "case record"))

    approved_version = _Extra[str | None]("ApprovedVersion")  #: the version approved last, if any
    comment = _Extra[str | None]("Comment")  #: the comment of the rejection that stands
    head_event_sha256 = _Extra[str | None]("HeadEventSHA256")  #: the hash of the last event (the head of the chain)

    def last(self, *actions: Action) -> Event | None:
        """The last event of one of ``actions`` (any action when none is given), or None."""
        return next((ev for ev in reversed(self.events) if not actions or ev.action in actions), None)

    def to_dict(self) -> dict:
        """The JSON form of ``docs/review.md``; a field the file did not have is left out (a fresh record has all)."""
        out = _ordered({"SchemaVersion": self.schema_version, "State": str(self.state),
                        "ImageVoxelSHA256": self.image_voxel_sha256, "Events": [e.to_dict() for e in self.events],
                        **dict(self.extra)}, self.keys)
        return {k: v for k, v in out.items() if not self.keys or k in self.keys or k in self.extra or k == "Events"}

    @classmethod
    def from_dict(cls, d: Mapping) -> CaseRecord:
        """Build (and validate) a record from its JSON form; ``ValueError`` names what is wrong."""
        if not isinstance(d, Mapping) or d.get("State") not in set(CaseState):
            raise ValueError(f"unknown case State {d.get('State')!r}")
        core = {"SchemaVersion", "State", "ImageVoxelSHA256", "Events"}
        return cls(CaseState(d["State"]), d.get("Events", []), d.get("ImageVoxelSHA256"),
                   str(d.get("SchemaVersion", "1.0")), {k: v for k, v in d.items() if k not in core}, tuple(d))


#: The sidecar's name of each array axis (``SliceAxis``).
AXIS_NAMES = ("slice", "row", "column")


#: The order of a mask sidecar's fields as written (``docs/provenance.md``); others follow as given.
MASK_KEYS = ("SchemaVersion", "Kind", "Software", "Created", "Modified", "Description", "Sources",
             "SpatialReference", "Geometry", "VoxelSHA256", "Source", "Annotator", "SliceAxis", "Labels",
             "Events", "ImageVoxelSHA256")


@dataclass(frozen=True)
class MaskProvenance:
    """The provenance sidecar of a mask (``docs/provenance.md``): its one reader and writer.

    ``edits`` is read from ``Labels[k].PaintedSlices`` / ``InterpolatedSlices`` and ``SliceAxis``;
    the rest (software, geometry, label names, newer fields) rides in ``extra``, written back
    unchanged. ``keys`` is the fields' order as read (fresh: :data:`MASK_KEYS`); a typed field with
    no value is written (null) only when named there, so ``from_dict(d).to_dict()`` is ``d``, in order.
    """

    voxel_sha256: str
    edits: SliceEdits = field(default_factory=SliceEdits)
    annotator: str | None = None
    version: str | None = None
    events: tuple[Event, ...] = ()
    extra: Mapping = field(default_factory=dict)
    keys: tuple[str, ...] = field(default=MASK_KEYS, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not (isinstance(self.voxel_sha256, str) and len(self.voxel_sha256) == 64):
            raise ValueError("a mask's provenance needs its VoxelSHA256 (64 hex digits)")
        object.__setattr__(self, "events", _events(self.events, "mask provenance"))

    @property
    def labels(self) -> Mapping:
        """``Labels``: label value (a string) -> its entry (name, colour, tissue, slices, ``Present``, ``Method``)."""
        return self.extra.get("Labels") or {}

    @property
    def methods(self) -> dict[int, dict]:
        """Label -> how it was made (``Labels[k].Method``), for the labels that record one."""
        return {int(k): dict(v["Method"]) for k, v in self.labels.items()
                if isinstance(v, Mapping) and isinstance(v.get("Method"), Mapping)}

    created = _Extra[str | None]("Created")  #: when the mask was first saved (UTC)
    source = _Extra[Mapping | None]("Source")  #: the image's DICOM source
    image_voxel_sha256 = _Extra[str | None]("ImageVoxelSHA256")  #: the voxel hash of the image it was painted on
    imported_from = _Extra[Mapping | None]("ImportedFrom")  #: where an imported mask came from
    reader = _Extra[str | None]("Reader")  #: the reader of a read (N readers)

    def to_dict(self) -> dict:
        """The sidecar's JSON form, its fields in the order of ``keys``."""
        labels = {k: dict(v) for k, v in self.labels.items()}
        for lab, entry in labels.items():
            for key, slices in (("PaintedSlices", self.edits.painted), ("InterpolatedSlices", self.edits.interpolated)):
                if key in entry or slices.get(int(lab)):
                    entry[key] = list(slices.get(int(lab), ()))
        typed = {"VoxelSHA256": self.voxel_sha256, "Annotator": self.annotator, "SliceAxis": self.edits.slice_axis,
                 "Labels": labels, "Events": [e.to_dict() for e in self.events], "Version": self.version}
        out = _ordered({**self.extra, **typed}, self.keys)
        return {k: v for k, v in out.items() if v is not None or k in self.keys or k in self.extra}

    @classmethod
    def from_dict(cls, d: Mapping) -> MaskProvenance:
        """Build (and validate) from a sidecar's JSON form; ``ValueError`` names what is wrong."""
        if d.get("Kind", "mask") != "mask":
            raise ValueError(f"not a mask's provenance (Kind {d.get('Kind')!r})")
        edits = SliceEdits.from_sidecar(d.get("Labels"), d.get("SliceAxis"))
        core = {"VoxelSHA256", "Annotator", "Version", "Events", "SliceAxis"}
        return cls(d.get("VoxelSHA256", ""), edits, d.get("Annotator"), d.get("Version"), d.get("Events", []),
                   {k: v for k, v in d.items() if k not in core}, tuple(d))


__all__ = [
    "AXIS_NAMES", "IMAGE_KINDS", "IRREGULAR_CODES", "MASK_KEYS", "Action", "CaseRecord", "CaseState", "Event",
    "FusionMethod", "MaskProvenance", "GeometryWarning", "Role", "SliceEdits", "StackKind", "WarningCode",
    "as_warnings", "without_code", "warning_codes",
]
