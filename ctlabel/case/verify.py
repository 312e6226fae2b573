"""``ctlabel verify``: check a case's record chain, versions, image and vouched files."""

from __future__ import annotations

from dataclasses import dataclass, field

from ctlabel.case.folder import Case
from ctlabel.case.integrity import check_integrity, expected_image_hash
from ctlabel.case.record import event_hash, genesis_hash, load_record, version_event, version_name, version_number
from ctlabel.case.workflow import IN_PROGRESS, RESULT
from ctlabel.errors import ProvenanceError
from ctlabel.io.mask import load_mask
from ctlabel.volume import voxel_hash


@dataclass
class Problem:
    level: str  # "error" or "warning"
    what: str  # "record", "event", "version", "image", "draft"
    message: str
    path: str | None = None
    event_index: int | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class VerifyReport:
    case: str
    problems: list[Problem] = field(default_factory=list)
    versions: int = 0
    events: int = 0

    @property
    def ok(self) -> bool:
        return not any(p.level == "error" for p in self.problems)

    def to_dict(self) -> dict:
        return {"case": self.case, "ok": self.ok, "versions": self.versions, "events": self.events,
                "problems": [p.to_dict() for p in self.problems]}


def verify_case(case: Case, *, check_image: bool = True) -> VerifyReport:
    """Check the case record chain, every version and the image against their recorded hashes."""
    rep = VerifyReport(str(case.root))
    add = rep.problems.append
    try:
        record = load_record(case)
    except ProvenanceError as exc:
        add(Problem("error", "record", exc.reason, str(case.record_path)))
        return rep
    if not case.record_path.exists():
        add(Problem("warning", "record", "the case has no case.json yet", str(case.record_path)))
    events = record["Events"]
    rep.events = len(events)
    # 1. the chain
    prev = genesis_hash(record)
    for i, ev in enumerate(events):
        if not isinstance(ev, dict):
            add(Problem("error", "event", f"event {i} is not an object", str(case.record_path), i))
            prev = None
            continue
        if ev.get("PreviousEventSHA256") != prev:
            add(Problem("error", "event", f"event {i} ({ev.get('Action')} {ev.get('Version')} by {ev.get('Who')}) "
                        "does not chain to the event before it: an event was changed, removed or inserted",
                        str(case.record_path), i))
        prev = event_hash(ev)
    if events and record.get("HeadEventSHA256") != prev:
        add(Problem("error", "record", "the last event is not the recorded head of the chain: "
                    "events were removed from or added to the end", str(case.record_path)))
    # 2. the state agrees with the events
    expected = IN_PROGRESS
    for ev in events:
        if isinstance(ev, dict):
            expected = RESULT.get(ev.get("Action"), expected)
    if events and record.get("State") != expected:
        add(Problem("error", "record", f"State is {record.get('State')!r} but the events say {expected!r}",
                    str(case.record_path)))
    # 3. the image
    if check_image and record.get("ImageVoxelSHA256"):
        try:
            vol = case.load_image()
            if voxel_hash(vol.array, vol.affine) != expected_image_hash(record):
                add(Problem("error", "image", "the image voxels no longer match the case record",
                            str(case.image_path)))
        except Exception as exc:  # noqa: BLE001 - report, do not crash a batch verify
            add(Problem("error", "image", f"cannot read the image ({exc})", str(case.image_path)))
    # 4. versions
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
                    if m.provenance and m.provenance.get("VoxelSHA256") != cache[name]:
                        add(Problem("error", "version", f"{name} voxels do not match its provenance sidecar "
                                    "(edited outside ctlabel)", str(p)))
                except Exception as exc:  # noqa: BLE001
                    add(Problem("error", "version", f"{name} cannot be read ({exc})", str(p)))
                    cache[name] = "unreadable"
        return cache[name]

    for i, ev in enumerate(events):
        if not isinstance(ev, dict):
            continue
        name = ev.get("Version")
        if version_number(name or "") is None or not ev.get("VoxelSHA256"):
            continue
        h = current_hash(name)
        if h is None:
            add(Problem("error", "version", f"{name} is missing but event {i} ({ev.get('Action')}) speaks of it",
                        str(case.version_path(version_number(name))), i))
        elif h != ev["VoxelSHA256"] and h != "unreadable":
            add(Problem("error", "version", f"{name} no longer matches event {i} ({ev.get('Action')} by "
                        f"{ev.get('Who')} at {ev.get('When')}): its voxels changed", str(case.version_path(
                            version_number(name))), i))
    for n in case.versions():
        name = version_name(n)
        current_hash(name)
        if version_event(record, name) is None:
            add(Problem("error", "version", f"{name} is not in the case record (added outside ctlabel)",
                        str(case.version_path(n))))
    rep.versions = len(case.versions())
    # 5. every file an event vouched for, the summary fields, the chain head kept outside
    for p in check_integrity(case, record, event_hash):
        add(Problem(p.level, p.what, p.message, p.path))
    # 6. the draft (editable, so only its sidecar agreement)
    if case.draft_path.exists():
        try:
            d = load_mask(case.draft_path)
            if d.provenance and not d.hash_matches:
                add(Problem("warning", "draft", "the draft voxels do not match its provenance sidecar "
                            "(edited outside ctlabel?)", str(case.draft_path)))
        except Exception as exc:  # noqa: BLE001
            add(Problem("warning", "draft", f"the draft cannot be read ({exc})", str(case.draft_path)))
    return rep


__all__ = ["Problem", "VerifyReport", "verify_case"]
