"""The simulated people of ``benchmarks/crowd.py`` and what it measures of them (gold, accuracy, scoring time)."""

from __future__ import annotations

import time
from pathlib import Path

import crowd_sim as sim
import numpy as np
from crowd_project import Project, image_key

ACCEPT_DICE = 0.9  # a reviewer approves a mask at least this close to the truth


class Person:
    """A simulated annotator: a name, an error model, a generator, a client and a scratch folder."""

    def __init__(self, name: str, kind: sim.Kind, seed: int, client, work: Path) -> None:
        self.name, self.kind, self.client = name, kind, client
        self.rng = np.random.default_rng(seed)
        self.work = work / name
        self.done = 0

    def work_one(self, project: Project) -> str | None:
        """Claim, download, paint, upload, submit one case; the case id, or None when nothing is left."""
        from ctlabel.case.folder import Case
        from ctlabel.io.image import load_image
        from ctlabel.io.mask import save_mask
        from ctlabel.team.client import ClientError

        try:
            info = self.client.next_case()
        except ClientError as exc:
            if exc.status == 404:
                return None
            raise
        name = info["case"]
        folder = self.client.download(name, self.work)
        case = Case(folder)
        image = load_image(case.image_path)
        key = image_key(image.array)
        project.cases.setdefault(name, key)
        painted = sim.annotate(project.truth[key], self.kind, self.rng, self.done)
        self.done += 1
        save_mask(case.draft_path, painted, image.grid, annotator=self.name)
        self.client.upload_draft(folder)
        try:
            self.client.submit(name)
        except ClientError as exc:
            if exc.status not in (409, 422):
                raise
            self.client.submit(name, force=True)  # QA errors: a hurried annotator forces the submit
        return name


def true_accuracy(kinds: list[sim.Kind], cases: list, seed: int) -> list[float]:
    """Each annotator's true accuracy: mean Dice against the truth of its error model on every case."""
    out = []
    for i, kind in enumerate(kinds):
        rng = np.random.default_rng(10_000 + seed + i)
        out.append(float(np.mean([sim.dice(sim.annotate(t, kind, rng, k), t) for k, (_, t, _) in enumerate(cases)])))
    return out


def spearman(a: list[float], b: list[float]) -> float:
    from scipy import stats

    return float(stats.spearmanr(a, b).statistic)


def gold_references(project: Project, expert, reviewer, n: int) -> list[str]:
    """The expert labels ``n`` cases with the truth, the reviewer approves them, the lead makes them gold."""
    from ctlabel.case.folder import Case
    from ctlabel.io.image import load_image
    from ctlabel.io.mask import save_mask

    names = []
    for _ in range(n):
        name = expert.next_case()["case"]
        folder = expert.download(name, project.root.parent / "expert")
        image = load_image(Case(folder).image_path)
        save_mask(Case(folder).draft_path, project.truth[project.cases[name]], image.grid, annotator="expert")
        expert.upload_draft(folder)
        expert.submit(name, force=True)
        names.append(name)
    for name in names:
        reviewer.approve(name, comment="reference")
    project.svc.gold.add(names, by="lead (crowd benchmark)")
    return names


def wait_scored(project: Project, expected: int, timeout: float = 120.0) -> int:
    from ctlabel.team.gold_scores import gold_scores

    deadline = time.monotonic() + timeout
    while True:
        servings = {r.serving for r in gold_scores(project.svc)}
        if len(servings) >= expected or time.monotonic() > deadline:
            return len(servings)
        time.sleep(0.5)


def estimated_accuracy(project: Project, names: list[str]) -> list[float]:
    """The server's combined estimate per annotator (mean over labels), as the lead sees it."""
    from ctlabel.team.accuracy import annotator_accuracy

    acc = annotator_accuracy(project.svc)
    out = []
    for name in names:
        per_label = acc.get(name, {})
        means = [a.estimate.mean for a in per_label.values() if a.estimate.mean is not None]
        out.append(float(np.mean(means)) if means else float("nan"))
    return out


def gold_score_seconds(work: Path) -> float:
    """Time to score a 512 x 512 x 300 gold submission: load both masks, score every label."""
    from scipy import ndimage as ndi

    from ctlabel.io.mask import load_mask, save_mask
    from ctlabel.measure.gold_score import score_mask
    from ctlabel.volume import Grid

    _, truth, _ = sim._load_truth(sim.ANATOMY)
    zoom = [n / s for n, s in zip((300, 512, 512), truth.shape, strict=True)]
    big = ndi.zoom(truth, zoom, order=0)
    grid = Grid(big.shape, np.diag([0.7, 0.7, 1.0, 1.0])[[2, 1, 0, 3]])
    moved = np.roll(big, 1, axis=2)  # every boundary moved by one voxel
    save_mask(work / "ref_dseg.nii.gz", big, grid, annotator="expert")
    save_mask(work / "sub_dseg.nii.gz", moved, grid, annotator="annotator")
    t = time.perf_counter()
    score_mask(load_mask(work / "ref_dseg.nii.gz"), load_mask(work / "sub_dseg.nii.gz"))
    return time.perf_counter() - t
