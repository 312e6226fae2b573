"""Decide, before any work, what a conversion batch does with each stack.

A stack is converted into a new case, skipped because its case already exists (found
by its source identity in ``ct.json``, not by folder name), or reported: single
images split off a larger series, series that cannot form one volume, and names
that are taken by something else. No two stacks of a batch ever get one folder.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np

from ctlabel.case.naming import slice_line, stack_case_name
from ctlabel.deid import DescribedSource, burned_in_reason, clean_description
from ctlabel.dicom.stacks import Stack
from ctlabel.intake.convert_report import ConvertOptions, ConvertReport
from ctlabel.io.provenance import pseudonymize_uid
from ctlabel.model import StackKind, WarningCode, as_warnings
from ctlabel.volume import SourceIdentity

#: ImagePositionPatient agrees with ct.json within this (mm; ct.json rounds to 1e-6).
POSITION_TOLERANCE_MM = 1e-3


class ExistingCase:
    """What convert needs of a case already in the output folder: its source slices."""

    def __init__(self, root: Path, source: dict):
        self.root = root
        slices = [s for s in source.get("Slices") or [] if s]
        self.lines = {slice_line(s["SOPInstanceUID"], s.get("Frame", 1), s["ImagePositionPatient"]):
                      s["ImagePositionPatient"] for s in slices}

    def same_source(self, stack: Stack, salt: str | None) -> bool:
        """True when the case holds this stack's slices at the same positions.

        Slices of the stack missing from the case must be identical duplicates that
        loading dropped: they lie at a position the case has.
        """
        if not self.lines:
            return False
        by_line = {slice_line(h.sop_instance_uid, h.frame, h.position, salt): h for h in stack.slices}
        if not set(self.lines) <= set(by_line):
            return False
        case_positions = np.array(list(self.lines.values()), dtype=float).reshape(-1, 3)
        for line, h in by_line.items():
            if h.position is None:
                return False
            pos = np.asarray(h.position, dtype=float)
            if line in self.lines:
                if np.max(np.abs(pos - np.asarray(self.lines[line], dtype=float))) > POSITION_TOLERANCE_MM:
                    return False
            elif np.min(np.max(np.abs(case_positions - pos), axis=1)) > POSITION_TOLERANCE_MM:
                return False
        return True


def existing_cases(out: Path) -> dict[str, list[ExistingCase]]:
    """Cases directly below ``out``, by the SeriesInstanceUID recorded in their ``ct.json``."""
    index: dict[str, list[ExistingCase]] = defaultdict(list)
    if not out.is_dir():
        return index
    for child in sorted(out.iterdir()):
        side = child / "ct.json"
        if child.name.startswith(".") or not side.is_file():
            continue
        try:
            source = json.loads(side.read_text(encoding="utf-8")).get("Source") or {}
            index[str(source.get("SeriesInstanceUID", ""))].append(ExistingCase(child, source))
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            continue  # an unreadable ct.json is not this stack's case; its name check still protects it
    return index


def remove_stale_partials(out: Path, name: str) -> None:
    """Temporary folders of an interrupted earlier run for this name (they hold no annotation)."""
    for p in out.glob(f".{name}.*partial"):
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)


def _not_converted(s: Stack) -> dict | None:
    """The skipped/failed entry of a stack that is not converted, or None."""
    first = s.files[0] if s.files else ""
    if s.kind == StackKind.AMBIGUOUS:
        return {"status": "failed", "path": first, "series": s.description,
                "reason": "; ".join(w.detail for w in as_warnings(s.warnings)
                                     if w.code is WarningCode.CONFLICTING_DUPLICATES)}
    if s.kind == StackKind.SINGLE and s.split_off:
        return {"status": "skipped", "path": first, "series": s.description, "reason": s.split_off}
    if s.kind not in (StackKind.VOLUME, StackKind.SINGLE):
        return {"status": "skipped", "path": first, "series": s.description,
                "reason": f"{s.kind} (only image series are converted)"}
    return None


def with_description_policy(stack: Stack, options: ConvertOptions) -> Stack:
    """The stack with the description the batch may write.

    Cleaned by the Clean Descriptors Option against the stack's own identifying values, or as
    it is under ``--keep-descriptions``.
    """
    if options.keep_descriptions:
        return stack
    return dataclasses.replace(stack, description=clean_description(stack.description, stack.identifying))


def described(source: SourceIdentity | None, stack: Stack, options: ConvertOptions) -> DescribedSource | None:
    """The volume's source with the batch's description policy and burned-in flag, for ``ct.json``."""
    if source is None:
        return None
    values = {f.name: getattr(source, f.name) for f in dataclasses.fields(SourceIdentity)}
    return DescribedSource(**values, descriptions_cleaned=not options.keep_descriptions,
                           burned_in=burned_in_reason(stack.burned_in_annotation))


def plan_batch(stacks: list[Stack], out: Path, options: ConvertOptions,
               report: ConvertReport) -> list[tuple[Stack, str, str]]:
    """What to convert: ``(stack, folder name, "create" | "replace")`` per stack.

    Entries for stacks that are skipped or refused go straight into ``report``.
    """
    salt = options.pseudonymize_salt
    if options.irregular == "split":
        from ctlabel.dicom.stack_runs import split_uniform_runs

        stacks = [part for s in stacks for part in split_uniform_runs(s)]
    stacks = [with_description_policy(s, options) for s in stacks]
    index = existing_cases(out)
    todo: list[tuple[Stack, str, str]] = []
    taken: dict[str, Stack] = {}
    explained: set[tuple[str, str]] = set()
    for s in stacks:
        refused = _not_converted(s)
        if refused is not None:
            status = refused.pop("status")
            burned_in = burned_in_reason(s.burned_in_annotation, s.kind == StackKind.SECONDARY and s.rows > 0)
            if burned_in:
                refused["burned_in_text"] = burned_in
            if s.split_off:  # one line for a group of images split off one series
                if (s.series_uid, s.split_off) in explained:
                    continue
                explained.add((s.series_uid, s.split_off))
            getattr(report, status).append(refused)
            continue
        series = pseudonymize_uid(s.series_uid, salt) if salt else s.series_uid
        match = next((c for c in index.get(series, []) if c.same_source(s, salt)), None)
        if match is not None:
            if options.overwrite_image:
                todo.append((s, match.root.name, "replace"))
            elif not all(h.sop_instance_uid for h in s.slices):
                todo.append((s, match.root.name, "verify"))  # no UIDs: positions alone do not prove it
            else:
                report.skipped.append({"path": s.files[0], "series": s.description, "case": str(match.root),
                                       "reason": "case exists (same source): left as it is"})
            continue
        name = stack_case_name(s, salt)
        target = out / name
        if name in taken:
            report.failed.append({"path": s.files[0], "series": s.description, "case_name": name,
                                  "reason": f"two stacks would share the case folder {name}; neither is"
                                            " overwritten (report this: names should be unique)"})
            continue
        if target.exists():
            what = "a case of a different source" if (target / "ct.nii.gz").exists() else "something else"
            report.failed.append({"path": s.files[0], "series": s.description, "case": str(target),
                                  "reason": f"the case folder {target} exists and holds {what}; left as it is"})
            continue
        taken[name] = s
        remove_stale_partials(out, name)
        todo.append((s, name, "create"))
    return todo


__all__ = ["ExistingCase", "described", "existing_cases", "plan_batch", "with_description_policy"]
