"""The project label table ``labels.tsv``.

BIDS ``_dseg.tsv`` columns (index, name, abbreviation, color) plus ``tissue``,
which QA uses to judge where a label may lie (soft_tissue, bone, air, fluid,
lesion, other). Label values never change on save.
"""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass

from ctlabel.errors import InputError
from ctlabel.io.atomic import atomic_open

COLUMNS = ("index", "name", "abbreviation", "color", "tissue")
TISSUES = ("soft_tissue", "bone", "air", "fluid", "lesion", "fat", "other")
MAX_LABEL = 65535
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True)
class Label:
    """One row of the label table."""

    index: int
    name: str
    abbreviation: str
    color: str
    tissue: str = "other"

    def rgba(self) -> tuple[float, float, float, float]:
        """The colour as RGBA floats in 0..1."""
        c = self.color.lstrip("#")
        return (int(c[0:2], 16) / 255, int(c[2:4], 16) / 255, int(c[4:6], 16) / 255, 1.0)


@dataclass(frozen=True)
class LabelTable:
    """An ordered, validated set of labels (index 0 is background and not listed)."""

    labels: tuple[Label, ...]

    def __post_init__(self) -> None:
        seen: set[int] = set()
        for lab in self.labels:
            if not 1 <= lab.index <= MAX_LABEL:
                raise InputError(f"label index {lab.index} is outside 1..{MAX_LABEL}")
            if lab.index in seen:
                raise InputError(f"label index {lab.index} appears twice")
            if not _COLOR.match(lab.color):
                raise InputError(f"label {lab.index} colour {lab.color!r} is not #RRGGBB")
            if lab.tissue not in TISSUES:
                raise InputError(f"label {lab.index} tissue {lab.tissue!r} is not one of {TISSUES}")
            seen.add(lab.index)

    def __iter__(self):
        return iter(self.labels)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> Label:
        for lab in self.labels:
            if lab.index == index:
                return lab
        raise KeyError(index)

    def __contains__(self, index: object) -> bool:
        return any(lab.index == index for lab in self.labels)

    @property
    def indices(self) -> list[int]:
        return [lab.index for lab in self.labels]

    def with_label(self, label: Label) -> LabelTable:
        """A copy with ``label`` added or replaced (by index)."""
        rest = [lab for lab in self.labels if lab.index != label.index]
        return LabelTable(tuple(sorted([*rest, label], key=lambda x: x.index)))

    def to_tsv(self) -> str:
        out = io.StringIO()
        w = csv.writer(out, delimiter="\t", lineterminator="\n")
        w.writerow(COLUMNS)
        for lab in self.labels:
            w.writerow([lab.index, lab.name, lab.abbreviation, lab.color, lab.tissue])
        return out.getvalue()

    def to_dict(self) -> dict:
        return {str(lab.index): {"Name": lab.name, "Abbreviation": lab.abbreviation,
                                 "Color": lab.color, "Tissue": lab.tissue} for lab in self.labels}


def default_label_table() -> LabelTable:
    """A starting table of abdominal structures for body CT; projects replace it with their own.

    Names follow TotalSegmentator's (``kidney_right``, ``inferior_vena_cava``...), so that its
    masks and the sample CT (``sample_data/totalseg_body_ct``) use the same words. The
    ``tissue`` of each row is what QA judges it by: ``soft_tissue`` and ``fluid`` labels must
    not lie on air; the stomach may hold gas and the lung is air, so they are ``other`` and
    ``air``. The last three take the pre-labels (``ctlabel prelabel``): ``bone`` is every bone
    (ribs, pelvis, vertebrae: the pre-label does not tell them apart, so it never goes into
    ``vertebrae``), ``body`` the rest of the patient outline, ``air`` the gas inside the body;
    the ``lungs`` pre-label goes into ``lung``. A case keeps the table it was made with
    (``labels.tsv``): a change here does not change existing cases.

    Returns
    -------
    LabelTable
        liver (1), spleen, kidney_right, kidney_left, pancreas, aorta, inferior_vena_cava,
        gallbladder, stomach, urinary_bladder, vertebrae, lung, lesion, bone, body, air (16).
    """
    rows = [
        (1, "liver", "LIV", "#dd8265", "soft_tissue"),
        (2, "spleen", "SPL", "#9d6ca2", "soft_tissue"),
        (3, "kidney_right", "KIDR", "#b96653", "soft_tissue"),
        (4, "kidney_left", "KIDL", "#d9a441", "soft_tissue"),
        (5, "pancreas", "PANC", "#f9b46f", "soft_tissue"),
        (6, "aorta", "AO", "#e0404c", "soft_tissue"),
        (7, "inferior_vena_cava", "IVC", "#3c64c8", "soft_tissue"),
        (8, "gallbladder", "GB", "#5aa050", "fluid"),
        (9, "stomach", "STO", "#e6b48c", "other"),
        (10, "urinary_bladder", "UB", "#e6dc8c", "fluid"),
        (11, "vertebrae", "VERT", "#f0f0dc", "bone"),
        (12, "lung", "LUNG", "#c8dcf0", "air"),
        (13, "lesion", "LES", "#32c8c8", "lesion"),
        (14, "bone", "BONE", "#e8dcb4", "bone"),
        (15, "body", "BODY", "#c8a080", "other"),
        (16, "air", "AIR", "#5078c8", "air"),
    ]
    return LabelTable(tuple(Label(*r) for r in rows))


def read_label_table(path: str | os.PathLike) -> LabelTable:
    """Read ``labels.tsv``; raise :class:`InputError` naming the file and the bad row."""
    try:
        text = open(path, encoding="utf-8").read()
    except OSError as exc:
        raise InputError(f"cannot read the label table ({exc.strerror})", path) from None
    rows = list(csv.DictReader(io.StringIO(text), delimiter="\t"))
    if not rows and not text.strip():
        raise InputError("the label table is empty", path)
    missing = {"index", "name"} - set(rows[0].keys() if rows else text.split("\n")[0].split("\t"))
    if missing:
        raise InputError(f"the label table lacks column(s) {sorted(missing)}", path)
    labels = []
    for n, row in enumerate(rows, 2):
        try:
            idx = int(row["index"])
        except (TypeError, ValueError):
            raise InputError(f"line {n}: index {row.get('index')!r} is not an integer", path) from None
        if idx == 0:
            continue
        labels.append(Label(
            idx,
            (row.get("name") or f"label_{idx}").strip(),
            (row.get("abbreviation") or "").strip(),
            (row.get("color") or "#ff0000").strip(),
            (row.get("tissue") or "other").strip() or "other",
        ))
    try:
        return LabelTable(tuple(labels))
    except InputError as exc:
        raise InputError(exc.reason, path) from None


def write_label_table(path: str | os.PathLike, table: LabelTable) -> None:
    """Write ``labels.tsv`` atomically."""
    with atomic_open(path, "w", encoding="utf-8", newline="") as f:
        f.write(table.to_tsv())
