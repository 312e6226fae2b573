"""``ctlabel verify``: check a case's record chain, versions, image and vouched files."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ctlabel.case.folder import Case
from ctlabel.case.integrity import check_integrity, expected_image_hash
from ctlabel.case.record import event_hash, genesis_hash, load_case_record, version_event, version_name, version_number
from ctlabel.case.workflow import IN_PROGRESS, RESULT
from ctlabel.errors import ProvenanceError
from ctlabel.io.mask import load_mask
from ctlabel.model import CaseRecord, Event
from ctlabel.volume import voxel_hash


@dataclass
class Problem:
    """One finding of :func:`verify_case`.

    Attributes
    ----------
    level : str
        ``"error"`` (the case fails verification) or ``"warning"``.
    what : str
        What it is about: ``"record"``, ``"event"``, ``"version"``, ``"image"`` or ``"draft"``.
    message : str
        What is wrong, in words.
    path : str, optional
        The file concerned.
    event_index : int, optional
        The index of the event concerned in the case record.
    """

    level: str  # "error" or "warning"
    what: str  # "record", "event", "version", "image", "draft"
    message: str
    path: str | None = None
    event_index: int | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class VerifyReport:
    """What :func:`verify_case` found in one case.

    Attributes
    ----------
    case : str
        The case folder.
    problems : list of Problem
        In the order found: chain, state, image, versions, vouched files, draft.
    versions : int
        The number of frozen versions in the folder.
    events : int
        The number of events in the case record.
    """

    case: str
    problems: list[Problem] = field(default_factory=list)
    versions: int = 0
    events: int = 0

    @property
    def ok(self) -> bool:
        """True when no problem is an error (warnings allowed)."""
        return not any(p.level == "error" for p in self.problems)

    def to_dict(self) -> dict:
        return {"case": self.case, "ok": self.ok, "versions": self.versions, "events": self.events,
                "problems": [p.to_dict() for p in self.problems]}


def verify_case(case: Case, *, check_image: bool = True) -> VerifyReport:
    """Check the case record chain, every version and the image against their recorded hashes.

    Parameters
    ----------
    case : Case
        The case.
    check_image : bool
        Also read the image and compare its voxel hash with the record (the slow part).

    Returns
    -------
    VerifyReport
        Every problem found; a record that cannot be read is the only one then.
    """
    rep = VerifyReport(str(case.root))
    add = rep.problems.append
    try:
        record = load_case_record(case)
    except ProvenanceError as exc:
        add(Problem("error", "record", exc.reason, str(case.record_path)))
        return rep
    if not case.record_path.exists():
        add(Problem("warning", "record", "the case has no case.json yet", str(case.record_path)))
    events = record.events
    rep.events = len(events)
    _check_chain(case, record, events, add)
    _check_state(case, record, events, add)
    if check_image and record.image_voxel_sha256:
        _check_image(case, record, add)
    _check_versions(case, record, events, add)
    rep.versions = len(case.versions())
    # every file an event vouched for, the summary fields, the chain head kept outside
    for p in check_integrity(case, record, event_hash):
        add(Problem(p.level, p.what, p.message, p.path))
    if case.draft_path.exists():
        _check_draft(case, add)
    return rep


def _check_chain(case: Case, record: CaseRecord, events: Sequence[Event], add: Callable[[Problem], None]) -> None:
    """Each event chains to the one before it, and the last is the recorded head."""
    prev: str | None = genesis_hash(record)
    for i, ev in enumerate(events):
        if ev.previous_event_sha256 != prev:
            add(Problem("error", "event", f"event {i} ({ev.action} {ev.version} by {ev.who}) "
                        "does not chain to the event before it: an event was changed, removed or inserted",
                        str(case.record_path), i))
        prev = event_hash(ev.to_dict())
    if events and record.head_event_sha256 != prev:
        add(Problem("error", "record", "the last event is not the recorded head of the chain: "
                    "events were removed from or added to the end", str(case.record_path)))


def _check_state(case: Case, record: CaseRecord, events: Sequence[Event], add: Callable[[Problem], None]) -> None:
    """The recorded state is the one the events lead to."""
    expected = IN_PROGRESS
    for ev in events:
        expected = RESULT.get(ev.action, expected)
    if events and record.state != expected:
        add(Problem("error", "record", f"State is {str(record.state)!r} but the events say {expected!r}",
                    str(case.record_path)))


def _check_image(case: Case, record: CaseRecord, add: Callable[[Problem], None]) -> None:
    """The image voxels still match the case record."""
    try:
        vol = case.load_image()
        if voxel_hash(vol.array, vol.affine) != expected_image_hash(record):
            add(Problem("error", "image", "the image voxels no longer match the case record",
                        str(case.image_path)))
    except Exception as exc:  # noqa: BLE001 - report, do not crash a batch verify
        add(Problem("error", "image", f"cannot read the image ({exc})", str(case.image_path)))


def _check_versions(case: Case, record: CaseRecord, events: Sequence[Event], add: Callable[[Problem], None]) -> None:
    """Every version an event speaks of exists with its voxels, and every version is in the record."""
    cache: dict[str, str | None] = {}

    def current_hash(name: str) -> str | None:
        if name not in cache:
            n = version_number(name)
            p = case.version_path(n) if n is not None else None
            if p is None or not p.exists():
                cache[name] = None
            else:
                try:
                    m = load_mask(p)
                    cache[name] = m.voxel_hash
                    if m.provenance is not None and not m.hash_matches:
                        add(Problem("error", "version", f"{name} voxels do not match its provenance sidecar "
                                    "(edited outside ctlabel)", str(p)))
                except Exception as exc:  # noqa: BLE001
                    add(Problem("error", "version", f"{name} cannot be read ({exc})", str(p)))
                    cache[name] = "unreadable"
        return cache[name]

    for i, ev in enumerate(events):
        name = ev.version or ""
        n = version_number(name)
        if n is None or not ev.voxel_sha256:
            continue
        h = current_hash(name)
        if h is None:
            add(Problem("error", "version", f"{name} is missing but event {i} ({ev.action}) speaks of it",
                        str(case.version_path(n)), i))
        elif h != ev.voxel_sha256 and h != "unreadable":
            add(Problem("error", "version", f"{name} no longer matches event {i} ({ev.action} by "
                        f"{ev.who} at {ev.when}): its voxels changed", str(case.version_path(n)), i))
    for n in case.versions():
        name = version_name(n)
        current_hash(name)
        if version_event(record, name) is None:
            add(Problem("error", "version", f"{name} is not in the case record (added outside ctlabel)",
                        str(case.version_path(n))))


def _check_draft(case: Case, add: Callable[[Problem], None]) -> None:
    """The draft (editable, so only its sidecar agreement)."""
    try:
        d = load_mask(case.draft_path)
        if d.provenance and not d.hash_matches:
            add(Problem("warning", "draft", "the draft voxels do not match its provenance sidecar "
                        "(edited outside ctlabel?)", str(case.draft_path)))
    except Exception as exc:  # noqa: BLE001
        add(Problem("warning", "draft", f"the draft cannot be read ({exc})", str(case.draft_path)))


__all__ = ["Problem", "VerifyReport", "verify_case"]
