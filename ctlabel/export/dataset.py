"""What goes into an exported training set: case selection, the label map, ids and splits.

Shared by every format (``nnunet``, ``monai``, ``bids``). A case is exported with the
version its reviewer approved (state ``approved``, ``ApprovedVersion`` in ``case.json``);
with ``include_unapproved`` a case without one gives its latest frozen version, or its
draft when it has none, and is marked unapproved. Nothing here writes voxels; see
:mod:`ctlabel.export.run`. The manifest is :mod:`ctlabel.export.manifest`.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ctlabel.case.folder import Case, find_cases
from ctlabel.case.record import version_event
from ctlabel.errors import CtlabelError, InputError
from ctlabel.io.labels import Label, LabelTable
from ctlabel.model import Action, CaseRecord, Event

_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


class Refused(CtlabelError, ValueError):
    """A case that is not exported, with the reason (the run goes on)."""


@dataclass
class Selected:
    """A case chosen for export, before any voxel is read.

    Attributes
    ----------
    case : Case
    version : str
        ``vNNN`` or ``draft``.
    approved : bool
        True when a reviewer approved ``version`` (the case's ``ApprovedVersion``; with
        ``include_unapproved`` also an approved version whose case is being edited again).
    state : str
        The review state in ``case.json``.
    table : LabelTable
        The case's label table.
    table_sha256 : str
        SHA-256 of the bytes of ``labels.tsv``.
    record : CaseRecord
        The case record.
    image_record : dict
        The image sidecar ``ct.json``.
    """

    case: Case
    version: str
    approved: bool
    state: str
    table: LabelTable
    table_sha256: str
    record: CaseRecord
    image_record: dict
    events: dict[str, Event] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.case.root.name

    @property
    def number(self) -> int | None:
        return int(self.version[1:]) if self.version.startswith("v") else None

    @property
    def decision(self) -> Event | None:
        """The event that let ``version`` out: a reviewer's approval, else the review policy's acceptance."""
        return (self.events.get("approved") or self.events.get("accepted")) if self.approved else None

    @property
    def review(self) -> str | None:
        """``reviewer``, ``accepted-by-policy`` (never seen by a reviewer), or None (not approved)."""
        if not self.approved:
            return None
        return "reviewer" if "approved" in self.events else "accepted-by-policy"


def find_export_cases(paths: list[str | os.PathLike]) -> list[Case]:
    """Case folders named by ``paths`` (cases, or folders holding cases), sorted by name, each once.

    Raises
    ------
    InputError
        A path does not exist, or no case folder is found at all.
    """
    cases: dict[Path, Case] = {}
    for p in paths:
        if not Path(p).exists():
            raise InputError("no such file or folder", p)
        found = find_cases(p)
        if not found:
            raise InputError("not a case folder and no case folder below it", p)
        for c in found:
            cases.setdefault(c.root.resolve(), c)
    return sorted(cases.values(), key=lambda c: (c.root.name, str(c.root)))


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _version_events(record: CaseRecord, name: str) -> dict[str, Event]:
    """The events that speak for version ``name``: who created, submitted and approved it."""
    out: dict[str, Event] = {}
    made = version_event(record, name)
    if made is not None:
        out["created"] = made
    for ev in record.events:
        # accepted: by the review policy (ctlabel.case.accept)
        if ev.version == name and ev.action in (Action.SUBMITTED, Action.APPROVED, Action.ACCEPTED):
            out[str(ev.action)] = ev
    saved = record.last(Action.SAVED) if name == "draft" else None
    if saved is not None:
        out["created"] = saved
    return out


#: The ``case.json`` field of a gold serving (``ctlabel.team.gold_folder``): a copy of a gold case served to
#: measure an annotator, never a case of a dataset.
GOLD_SERVING = "GoldServing"


def refuse_gold_serving(case: Case, record: CaseRecord) -> None:
    """Refuse a gold serving (:data:`GOLD_SERVING`): it is not a case of the dataset, whatever its state."""
    marker = record.extra.get(GOLD_SERVING)
    if marker:
        source = marker.get("Source") if isinstance(marker, dict) else None
        raise Refused(f"a serving of the gold-standard case {source or '?'} (scored against its reference, never "
                      "reviewed): not a case of the dataset", case.record_path)


def select_case(case: Case, *, include_unapproved: bool = False, reviewed_only: bool = False) -> Selected:
    """Choose the version of ``case`` to export.

    Parameters
    ----------
    case : Case
    include_unapproved : bool
        Take a case that has no approved version: its latest frozen version, else its draft.
    reviewed_only : bool
        Refuse a case the review policy accepted without a reviewer (state ``accepted``).

    Raises
    ------
    Refused
        The case is not approved (and ``include_unapproved`` is False), or has no mask.
    """
    from ctlabel.case.accept import accepted_event
    from ctlabel.case.record import load_case_record, version_number

    record = load_case_record(case)
    refuse_gold_serving(case, record)
    state = str(record.state)
    approved_name = record.approved_version
    accepted = accepted_event(record)  # by the review policy: exported as an approved case, marked
    if accepted is not None and reviewed_only:
        raise Refused(f"{accepted.version} was accepted by the review policy, never reviewed by a person; "
                      "left out of an export of reviewed cases only", case.record_path, options=("reviewed_only",))
    if (state == "approved" and approved_name) or accepted is not None:
        name, approved = str(approved_name if accepted is None else accepted.version), True
        number = version_number(name)
        if number is None:
            raise Refused(f"the approved version {name!r} is not a version name (vNNN)", case.record_path)
        if not case.version_path(number).exists():
            raise Refused(f"the approved version {name} is missing", case.version_path(number))
    else:
        why = f"it is {state}" + (f" ({approved_name} was approved, then edited again)" if approved_name else "")
        if not include_unapproved:
            raise Refused(f"not approved: {why}; approve it first, or export it anyway, marked unapproved "
                          "in the manifest", case.record_path, options=("include_unapproved",))
        versions = case.versions()
        if versions:
            name = f"v{versions[-1]:03d}"
        elif case.draft_path.exists():
            name = "draft"
        else:
            raise Refused("the case has no mask (no version and no draft)", case.masks_dir)
        # a version a reviewer approved stays approved while the case is edited again
        approved = "approved" in _version_events(record, name)
    if case.labels_path.exists():
        table, table_sha = case.load_labels(), file_sha256(case.labels_path)
    else:
        raise Refused("the case has no label table (labels.tsv); the labels cannot be named", case.labels_path)
    return Selected(case, name, approved, state, table, table_sha, record, case.image_record(),
                    _version_events(record, name))


# --------------------------------------------------------------------------
# Labels
# --------------------------------------------------------------------------


@dataclass
class LabelMap:
    """Case label value -> exported value, and the exported labels (0 is background).

    Attributes
    ----------
    values : dict of int to int
        Case label value -> exported value.
    labels : dict of int to Label
        Exported value -> the case label (its ``index`` is the case value).
    consecutive : bool
        Whether exported values are renumbered 1..n.
    """

    values: dict[int, int] = field(default_factory=dict)
    labels: dict[int, Label] = field(default_factory=dict)
    consecutive: bool = False

    def conflict(self, table: LabelTable) -> str | None:
        """Why ``table`` cannot join this map (a value or a name meaning another label), or None."""
        by_name = {lab.name.lower(): lab.index for lab in self.labels.values()}
        for lab in table:
            if lab.index in self.values:
                known = self.labels[self.values[lab.index]]
                if known.name != lab.name:
                    return (f"label {lab.index} is {lab.name!r} here but {known.name!r} in the other cases; "
                            "one training set needs one label table")
            elif lab.name.lower() in by_name:
                return (f"label {lab.name!r} is {lab.index} here but {by_name[lab.name.lower()]} in the other "
                        "cases; one training set needs one label table")
        return None

    def add(self, table: LabelTable) -> None:
        """Add the labels of ``table`` not yet mapped (call :meth:`conflict` first)."""
        for lab in sorted(table, key=lambda x: x.index):
            if lab.index in self.values:
                continue
            new = (max(self.values.values(), default=0) + 1) if self.consecutive else lab.index
            self.values[lab.index] = new
            self.labels[new] = lab

    def finish(self) -> None:
        """Renumber consecutively in ascending case value, for a map built from scratch."""
        if self.consecutive:
            ordered = sorted(self.values)
            old = {v: self.labels[self.values[v]] for v in ordered}
            self.values = {v: i for i, v in enumerate(ordered, 1)}
            self.labels = {self.values[v]: old[v] for v in ordered}

    def apply(self, array: np.ndarray, path=None) -> np.ndarray:
        """The array with every case value replaced by its exported value.

        Raises
        ------
        Refused
            A value in the array is not in the map (not in the label table).
        """
        present = [int(v) for v in np.unique(array[array != 0])]
        unknown = [v for v in present if v not in self.values]
        if unknown:
            raise Refused(f"label value(s) {unknown} are not in the label table (labels.tsv)", path)
        top = max([0, *self.values, *present])
        lut = np.zeros(top + 1, dtype=np.uint16)
        for a, b in self.values.items():
            lut[a] = b
        out = lut[array]
        return out.astype(np.uint8) if int(out.max(initial=0)) <= 255 else out

    def to_manifest(self) -> dict:
        return {
            "Consecutive": self.consecutive,
            "LabelMap": {"0": 0, **{str(a): b for a, b in sorted(self.values.items())}},
            "Labels": {"0": {"Name": "background", "CaseValue": 0},
                       **{str(v): {"Name": lab.name, "Abbreviation": lab.abbreviation, "Color": lab.color,
                                   "Tissue": lab.tissue, "CaseValue": lab.index}
                          for v, lab in sorted(self.labels.items())}},
        }

    @classmethod
    def from_manifest(cls, manifest: dict) -> LabelMap:
        m = cls(consecutive=bool(manifest.get("Consecutive")))
        for v, d in manifest.get("Labels", {}).items():
            if int(v) == 0:
                continue
            lab = Label(int(d["CaseValue"]), d["Name"], d.get("Abbreviation", ""), d.get("Color", "#ff0000"),
                        d.get("Tissue", "other"))
            m.values[lab.index] = int(v)
            m.labels[int(v)] = lab
        return m


# --------------------------------------------------------------------------
# Ids and splits
# --------------------------------------------------------------------------


def export_id(name: str, fmt: str) -> str:
    """The identifier of a case in the exported files: its folder name (BIDS: letters and digits only).

    Raises
    ------
    Refused
        The folder name holds characters a training framework may trip on.
    """
    if not _SAFE_ID.match(name):
        raise Refused("the case folder name has characters other than letters, digits, '_' and '-'; "
                      "it cannot name the exported files", name)
    return re.sub(r"[^A-Za-z0-9]", "", name) if fmt == "bids" else name


def hash_order(ids: list[str]) -> list[str]:
    """``ids`` in the order of the SHA-256 of each id: deterministic, independent of the input order."""
    return sorted(ids, key=lambda i: (hashlib.sha256(i.encode()).hexdigest(), i))


__all__ = ["GOLD_SERVING", "LabelMap", "Refused", "Selected", "export_id", "file_sha256", "find_export_cases",
           "hash_order", "refuse_gold_serving", "select_case"]
