"""A short label a person can recognise a case by, from de-identified facts of its ``ct.json``.

Case ids are hashes of UIDs (``docs/conventions.md``); the label says what the image is:
the body part (``Source.BodyPartExamined`` when recorded, else the series description that
conversion cleaned to safe words), the number of slices, the voxel spacing, the extent in mm
(a head is ~20 cm long, a chest-abdomen-pelvis ~50 cm) and a date offset when one is recorded.
Never a patient identifier, a UID or a date.

Labels are cached in ``PROJECT/cache/case-labels.json`` (a case's ``ct.json`` never
changes), so searching thousands of cases reads each ``ct.json`` once.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from ctlabel.errors import CtlabelError
from ctlabel.io.jsonfile import read_json_object
from ctlabel.team import project as layout

CACHE = Path("cache") / "case-labels.json"
_lock = threading.Lock()
_memory: dict[Path, dict[str, str]] = {}


@dataclass(frozen=True)
class CaseFacts:
    """What a case's ``ct.json`` says of its image, de-identified."""

    body_part: str
    slices: int | None
    spacing: tuple[float, ...]
    extent_mm: tuple[float, ...]
    date_offset_days: int | None
    burned_in: bool

    @property
    def label(self) -> str:
        """One short line: ``BRAIN · 26 slices · 0.45×0.45×5 mm · 230×230×130 mm``."""
        parts = [self.body_part or "CT"]
        if self.slices:
            parts.append(f"{self.slices} slices")
        if self.spacing:
            parts.append("×".join(f"{s:.3g}" for s in self.spacing) + " mm")
        if self.extent_mm:
            parts.append("×".join(f"{e:.0f}" for e in self.extent_mm) + " mm")
        if self.date_offset_days is not None:
            parts.append(f"day {self.date_offset_days:+d}")
        return " · ".join(parts)


def _number(v: object) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def read_facts(case_dir: Path) -> CaseFacts:
    """The facts of one case folder's ``ct.json``.

    Parameters
    ----------
    case_dir : Path
        The case folder.

    Returns
    -------
    CaseFacts

    Raises
    ------
    CtlabelError
        ``ct.json`` is missing or not readable.
    """
    meta = read_json_object(case_dir / "ct.json", "ct.json")
    geo: dict = meta["Geometry"] if isinstance(meta.get("Geometry"), dict) else {}
    src: dict = meta["Source"] if isinstance(meta.get("Source"), dict) else {}
    shape = [int(n) for n in geo.get("Shape") or [] if _number(n) is not None]
    spacing = tuple(s for s in (_number(v) for v in geo.get("Spacing") or []) if s is not None)
    extent = tuple(n * s for n, s in zip(shape, spacing)) if len(shape) == len(spacing) else ()
    part = src.get("BodyPartExamined") or src.get("SeriesDescription") or src.get("Modality") or ""
    offset = _number(src.get("DateOffsetDays", meta.get("DateOffsetDays")))
    return CaseFacts(" ".join(str(part).split())[:40], shape[2] if len(shape) > 2 else None, spacing, extent,
                     None if offset is None else int(offset), bool(src.get("BurnedInText")))


def _load(root: Path) -> dict[str, str]:
    known = _memory.get(root)
    if known is None:
        try:
            known = json.loads((root / CACHE).read_text(encoding="utf-8"))
            known = {str(k): str(v) for k, v in known.items()} if isinstance(known, dict) else {}
        except (OSError, ValueError):
            known = {}
        _memory[root] = known
    return known


def _save(root: Path, known: dict[str, str]) -> None:
    path = root / CACHE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(known, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def labels(root: Path, cases: dict[str, str]) -> dict[str, str]:
    """The label of each case, read from ``ct.json`` once and cached.

    Parameters
    ----------
    root : Path
        The project folder.
    cases : dict
        Case name to its folder relative to ``PROJECT/cases``.

    Returns
    -------
    dict
        Case name to label (an unreadable ``ct.json`` gives ``"(no ct.json)"``, remembered by this process
        only).
    """
    with _lock:
        known = _load(root)
        out, added = {}, False
        for name, rel in cases.items():
            label = known.get(name)
            if label is None:
                try:
                    label = read_facts(layout.case_folder(root, rel)).label
                    known[name], added = label, True
                except (CtlabelError, OSError):
                    label = known[name] = "(no ct.json)"  # kept in memory only: not saved, a restart tries again
            out[name] = label
        if added:
            _save(root, {k: v for k, v in known.items() if v != "(no ct.json)"})
    return out


__all__ = ["CACHE", "CaseFacts", "labels", "read_facts"]
