"""A served team project for the Worklist GUI tests (tests/team's helpers: ``make_project``, ``Server``).

Two small phantom cases, an annotator, a second annotator, a reviewer, rates and guidelines;
the server runs as ``ctlabel team serve`` in a subprocess on a loopback port (stopped by its
process id). ``Team.restart()`` starts it again on the same port and project folder.
"""

from __future__ import annotations

import gzip
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "team"))
from team_helpers import Server, make_project

from ctlabel.case.folder import Case
from ctlabel.intake.synthetic import make_phantom

SHAPE = (20, 48, 48)
GUIDELINES = "# Liver project\n\nPaint the **liver** (label 1) on every slice it shows.\n"


@dataclass
class Team:
    project: Path
    server: Server
    tokens: dict[str, str]
    liver: np.ndarray
    svc: object = field(repr=False, default=None)

    @property
    def url(self) -> str:
        return self.server.url

    def restart(self) -> None:
        """Start the server again on the same port and project folder (after ``server.stop()``)."""
        self.server.start()

    def count_events(self, kind: str) -> int:
        from sqlalchemy import func, select

        from ctlabel.team.db import Event

        with self.svc.tx() as db:
            return int(db.scalar(select(func.count(Event.id)).where(Event.kind == kind)))


def make_team(tmp_path: Path) -> Team:
    from ctlabel.team import admin

    volume, mask, table = make_phantom(shape=SHAPE)
    template = Case.create(tmp_path / "template" / "phantom", volume, label_table=table).root
    svc = make_project(tmp_path / "proj", None, template, n_cases=2)
    tokens = {name: admin.add_user(svc, name, role) for name, role in
              (("ann", "annotator"), ("ann_laptop", "annotator"), ("rev", "reviewer"))}
    admin.set_rates(svc, {"annotation": 500, "review": 100, "rework": 150})
    admin.set_guidelines(svc, GUIDELINES)
    server = Server(svc.root).start()
    return Team(svc.root, server, tokens, mask == 1, svc)


def write_draft(case_dir: Path, k: int = 5) -> Path:
    """A draft NIfTI on the case grid written by another tool (another client's copy): a block on slice ``k``."""
    import nibabel as nib

    img = nib.load(case_dir / "ct.nii.gz")
    data = np.zeros(img.shape, np.uint8)
    data[18:30, 18:30, k] = 1
    out = case_dir / "masks" / "draft_dseg.nii.gz"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(gzip.compress(nib.Nifti1Image(data, img.affine).to_bytes(), compresslevel=1))
    return out
