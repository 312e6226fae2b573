"""The phases of ``benchmarks/crowd.py`` (see its docstring): gold references, calibration, production, fusion."""

from __future__ import annotations

import time
from pathlib import Path

import crowd_sim as sim
import numpy as np
from crowd_people import (
    ACCEPT_DICE,
    Person,
    estimated_accuracy,
    gold_references,
    gold_score_seconds,
    spearman,
    true_accuracy,
    wait_scored,
)
from crowd_project import Project, make_project

GOLD_EACH = 5
#: The lead's review policy in the benchmark: trusted after 5 gold cases since the last failure with
#: every label's lower 95% bound >= 0.93; a tenth of a trusted annotator's work still reviewed.
POLICY = {"min_gold": 5, "min_accuracy": 0.93, "review_rate": 0.1, "fail_below": 0.85}


def _people(project: Project, kinds: list[sim.Kind], seed: int, work: Path, prefix: str = "a") -> list[Person]:
    from ctlabel.team import admin
    from ctlabel.team.client import Client

    people = []
    for i, kind in enumerate(kinds):
        name = f"{prefix}{i:02d}-{kind.name}"
        token = admin.add_user(project.svc, name, "annotator")
        people.append(Person(name, kind, seed * 1000 + i, Client(project.url, token), work))
    return people


def _client(project: Project, name: str, role: str):
    from ctlabel.team import admin
    from ctlabel.team.client import Client

    return Client(project.url, admin.add_user(project.svc, name, role))


def review_queue(project: Project, reviewer, work: Path, rejected: dict[str, int]) -> int:
    """The reviewer takes every case waiting: approve at Dice >= ACCEPT_DICE, else reject (third time: correct)."""
    from ctlabel.case.folder import Case
    from ctlabel.io.image import load_image
    from ctlabel.io.mask import load_mask, save_mask
    from ctlabel.team.client import ClientError

    done = 0
    while True:
        try:
            name = reviewer.review_next()["case"]
        except ClientError as exc:
            if exc.status == 404:
                return done
            raise
        folder = reviewer.download(name, work / "reviewer")
        case = Case(folder)
        truth = project.truth[project.cases[name]]
        d = sim.dice(np.asarray(load_mask(case.draft_path).array), truth)
        if d >= ACCEPT_DICE:
            reviewer.approve(name, comment="ok")
        elif rejected.get(name, 0) >= 2:
            save_mask(case.draft_path, truth, load_image(case.image_path).grid, annotator="reviewer")
            reviewer.correct(folder, comment="corrected after two rejections")
            reviewer.approve(name, comment="corrected")
        else:
            rejected[name] = rejected.get(name, 0) + 1
            reviewer.reject(name, comment=f"Dice {d:.2f}: boundaries and missing slices")
        done += 1


def _submitted(project: Project) -> set[str]:
    """The cases submitted so far (gold references and calibration), by name."""
    from sqlalchemy import select

    from ctlabel.team.db import CaseRow

    with project.svc.read() as db:
        return {r.name for r in db.scalars(select(CaseRow).where(CaseRow.state != "in_progress"))}


def production(project: Project, people: list[Person], reviewer, work: Path) -> dict:
    """Everybody labels until no case is left; the reviewer keeps the queue empty."""
    rejected: dict[str, int] = {}
    submitted: list[str] = []
    while True:
        got = [name for person in people if (name := person.work_one(project)) is not None]
        submitted += got
        reviewed = review_queue(project, reviewer, work, rejected)
        if not got and not reviewed:
            break
    return {"submits": len(submitted), "rejections": sum(rejected.values())}


def fusion(work: Path, cases: list, kinds: list[sim.Kind], seed: int) -> dict:
    """A project read three times per case (STAPLE): the fused proposal against the truth, against its readers."""
    from team_helpers import Server

    from ctlabel.case.folder import Case
    from ctlabel.case.record import load_record, version_number

    project = make_project(work, cases, name="fusion", readers=3, fusion="staple")
    server = Server(project.root).start()
    project.url = server.url
    people = _people(project, kinds, seed + 7, work / "fusion-readers", prefix="f")
    try:
        while [name for person in people if (name := person.work_one(project)) is not None]:
            pass
    finally:
        server.stop()
    gain, vs_best, fused_dice, reader_dice = [], [], [], []
    for name, key in project.cases.items():
        case = Case(project.svc.cases_dir / name)
        events = [e for e in load_record(case)["Events"] if e.get("Action") == "submitted" and e.get("Reads")]
        if not events:
            continue
        truth = project.truth[key]
        reads = [sim.dice(np.asarray(case.load_version(version_number(v) or 0).array), truth)
                 for v in events[-1]["Reads"]]
        fused = sim.dice(np.asarray(case.load_version(max(case.versions())).array), truth)
        gain.append(fused - float(np.mean(reads)))
        vs_best.append(fused - max(reads))
        fused_dice.append(fused)
        reader_dice += reads
    return {"cases_read_three_times": len(gain), "fused_mean_dice": float(np.mean(fused_dice)) if gain else None,
            "reader_mean_dice": float(np.mean(reader_dice)) if gain else None,
            "fusion_gain": float(np.mean(gain)) if gain else None,
            "fusion_vs_best": float(np.mean(vs_best)) if gain else None}


def policy_figures(project: Project, names_before: set[str]) -> dict:
    """``review_saved`` and ``escaped_error_rate``, from the server's database and the case records.

    The cases counted are those of production: registered cases (not gold servings, not gold
    references) first submitted after calibration. Accepted: the case record has an ``accepted``
    event; its mask is the version that event names, read from the case folder.
    """
    from sqlalchemy import select

    from ctlabel.case.folder import Case
    from ctlabel.case.record import load_record, version_number
    from ctlabel.team.db import CaseRow
    from ctlabel.team.db_gold import GoldCase, GoldServing

    with project.svc.read() as db:
        gold = set(db.scalars(select(GoldServing.case_id))) | set(db.scalars(select(GoldCase.case_id)))
        rows = [r for r in db.scalars(select(CaseRow)) if r.id not in gold and r.name not in names_before]
    counted, accepted, escaped, by_kind = 0, 0, 0, {}
    for row in rows:
        case = Case(project.svc.cases_dir / row.path)
        events = load_record(case)["Events"]
        submits = [e for e in events if e.get("Action") == "submitted"]
        if not submits:
            continue
        counted += 1
        kind = str(submits[0].get("Who", "")).split("-", 1)[-1]
        stats = by_kind.setdefault(kind, {"cases": 0, "accepted": 0, "escaped": 0})
        stats["cases"] += 1
        acc = [e for e in events if e.get("Action") == "accepted"]
        if not acc:
            continue
        accepted += 1
        stats["accepted"] += 1
        mask = case.load_version(version_number(acc[0]["Version"]) or 0)
        if sim.dice(np.asarray(mask.array), project.truth[project.cases[row.name]]) < ACCEPT_DICE:
            escaped += 1
            stats["escaped"] += 1
    return {"production_cases": counted, "accepted_by_policy": accepted, "escaped": escaped,
            "review_saved": accepted / counted if counted else None,
            "escaped_error_rate": escaped / accepted if accepted else None, "by_kind": by_kind}


def run(work: Path, *, quick: bool, seed: int) -> dict:
    from team_helpers import Server

    n_annot, n_cases, n_gold, n_fusion = (12, 40, 6, 6) if quick else (30, 100, 10, 30)
    kinds = sim.crowd(n_annot)
    t0 = time.perf_counter()
    cases = sim.cut_cases(n_cases + n_gold, seed)
    # the gold references: the cases showing the most organs, so that 5 gold cases measure every label
    cases.sort(key=lambda c: -len(np.unique(c[1])))
    truth_acc = true_accuracy(kinds, cases[-20:], seed)
    project = make_project(work, cases, name="crowd", first=n_gold)
    phases = {"setup": round(time.perf_counter() - t0, 1)}
    server = Server(project.root).start()
    project.url = server.url
    result: dict = {"annotators": n_annot, "cases": n_cases, "gold_cases": n_gold,
                    "kinds": {k.name: sum(1 for x in kinds if x is k) for k in set(kinds)}}
    try:
        expert = _client(project, "expert", "annotator")
        reviewer = _client(project, "reviewer", "reviewer")
        gold_references(project, expert, reviewer, n_gold)
        people = _people(project, kinds, seed, work)
        project.svc.gold.set_rate(1.0)
        for _ in range(GOLD_EACH):
            for person in people:
                person.work_one(project)
        phases["gold references and calibration"] = round(time.perf_counter() - t0 - sum(phases.values()), 1)
        scored = wait_scored(project, GOLD_EACH * n_annot)
        est = estimated_accuracy(project, [p.name for p in people])
        result["gold_scored"] = scored
        result["accuracy"] = {p.name: {"estimated": round(e, 4), "true": round(t, 4)}
                              for p, e, t in zip(people, est, truth_acc, strict=True)}
        result["rank_spearman"] = spearman(est, truth_acc)
        project.svc.gold.set_rate(0.05)
        project.svc.policy.set(enabled=True, by="lead (crowd benchmark)", **POLICY)
        result["policy"] = POLICY
        before = _submitted(project)
        result["production"] = production(project, people, reviewer, work)
        figures = policy_figures(project, before)
        result["policy_figures"] = figures
        result["review_saved"], result["escaped_error_rate"] = figures["review_saved"], figures["escaped_error_rate"]
        phases["production"] = round(time.perf_counter() - t0 - sum(phases.values()), 1)
    finally:
        server.stop()
    t1 = time.perf_counter()
    fused = fusion(work, cases[n_gold:n_gold + n_fusion], kinds, seed)
    result["fusion"] = fused
    result["fusion_gain"], result["fusion_vs_best"] = fused["fusion_gain"], fused["fusion_vs_best"]
    phases["fusion"] = round(time.perf_counter() - t1, 1)
    result["gold_score_seconds"] = gold_score_seconds(work)
    result["phases_seconds"] = phases
    result["seconds"] = round(time.perf_counter() - t0, 1)
    return result
