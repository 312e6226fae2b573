"""The crowd benchmark's project: the cases as DICOM series converted by ``add-cases``, users, a real server.

The cases of :func:`crowd_sim.cut_cases` are written as DICOM series (identity orientation, slices
ascending in z) and converted by the project's own ``add-cases``, so each case is what a real
project holds. A served case is recognised by its pixels (:func:`image_key`), as a person
recognises an image: the benchmark never reads the server's database to learn which truth a case
has, so a gold serving (a fresh case id) is recognised the same way.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "team"))

LABELS_TSV = "\n".join(
    ["index\tname\tcolor\tdescription"]
    + [f"{v}\t{n}\t#{c}\t" for v, n, c in ((1, "liver", "dd8844"), (2, "spleen", "9944dd"),
                                            (3, "kidney_left", "44dd44"), (4, "kidney_right", "44aadd"),
                                            (5, "aorta", "dd2222"))]) + "\n"


def image_key(array: np.ndarray) -> str:
    """The identity of an image by its voxels (what the simulated people 'see')."""
    return hashlib.sha256(np.ascontiguousarray(array, dtype=np.int16).tobytes()).hexdigest()[:16]


@dataclass
class Project:
    """A crowd project and what the benchmark knows of it.

    Attributes
    ----------
    svc : ctlabel.team.service.Service
    truth : dict
        Image key -> the truth labels (slice, row, column, uint8) of that case.
    cases : dict
        Case id -> image key (filled as cases are seen).
    tokens : dict
        User name -> bearer token.
    """

    svc: Any
    root: Path
    url: str = ""
    truth: dict[str, np.ndarray] = field(default_factory=dict)
    cases: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)


def make_project(work: Path, cases: list, *, readers: int = 1, name: str = "project", first: int = 0,
                 **settings) -> Project:
    """Write the cases as DICOM, make the project and convert them into it.

    Parameters
    ----------
    work : Path
        A scratch folder.
    cases : list of (ct, truth, affine)
        From :func:`crowd_sim.cut_cases`.
    readers : int
        Reads per case (1, or 3 for the fusion part).
    first : int
        The first ``first`` cases are registered at a higher priority: handed out first (the gold
        references).

    Returns
    -------
    Project
    """
    from ctlabel.intake.synthetic import SeriesSpec, write_dicom_series
    from ctlabel.io.image import load_image
    from ctlabel.team import admin

    labels = work / f"{name}-labels.tsv"
    labels.write_text(LABELS_TSV)
    svc = admin.init_project(work / name, labels=labels, readers=readers, **settings)
    dicom = work / f"{name}-dicom"
    wanted: dict[str, np.ndarray] = {}
    for i, (ct, truth, affine) in enumerate(cases):
        spacing = (float(np.linalg.norm(affine[:3, 0])), float(np.linalg.norm(affine[:3, 1])),
                   float(np.linalg.norm(affine[:3, 2])))
        origin_lps = (-affine[0, 3], -affine[1, 3], affine[2, 3])
        folder = dicom / ("first" if i < first else "rest") / f"case{i:04d}"
        write_dicom_series(folder, ct, SeriesSpec(spacing=spacing, origin=origin_lps,
                                                                   description=f"crowd {i}", series_number=i + 1))
        wanted[image_key(np.clip(ct, -1024, 3071))] = truth
    if first:
        admin.add_cases(svc, [str(dicom / "first")], progress=False, priority=10)
    admin.add_cases(svc, [str(dicom / "rest")], progress=False)
    project = Project(svc, work / name)
    for folder in sorted(svc.cases_dir.iterdir()):
        if not (folder / "ct.nii.gz").exists():
            continue
        arr = load_image(folder / "ct.nii.gz").array
        key = image_key(arr)
        if key not in wanted:
            raise RuntimeError(f"{folder.name}: its image is none of the crops (orientation changed in conversion?)")
        project.truth[key] = wanted[key]
        project.cases[folder.name] = key
    if len(project.cases) != len(cases):
        raise RuntimeError(f"{len(cases)} series written, {len(project.cases)} cases made")
    return project
