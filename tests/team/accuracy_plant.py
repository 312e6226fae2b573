"""Planting an accuracy history straight into a team database: gold scores, reader agreements, reviews.

``plant(svc, seed)`` writes rows as the server would have (gold servings and their per-label scores,
two-reader cases with their ``agreements`` rows, submit/approve/reject/correct events) and returns
what it planted as plain lists, so that a test computes the expected figures with
``ctlabel.measure.accuracy.accuracy`` from the plan, not from the database.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from ctlabel.measure.accuracy import Score
from ctlabel.team import admin
from ctlabel.team.db import Agreement, CaseRow, Event, Read, User
from ctlabel.team.db_gold import GoldCase, GoldScore, GoldServing

T0 = dt.datetime(2025, 3, 1, 8, 0, tzinfo=dt.UTC)


@dataclass
class Plan:
    """What was planted: per (annotator, label) the gold and agreement scores; per annotator (approved, reviewed)."""

    gold: dict[tuple[str, int], list[Score]] = field(default_factory=dict)
    agreement: dict[tuple[str, int], list[Score]] = field(default_factory=dict)
    reviews: dict[str, tuple[int, int]] = field(default_factory=dict)
    gold_cases: list[str] = field(default_factory=list)
    servings: list[str] = field(default_factory=list)


def _case(db, name: str, state: str = "approved") -> CaseRow:
    row = CaseRow(name=name, path=name, state=state)
    db.add(row)
    db.flush()
    return row


def plant(svc, seed: int = 0, annotators: tuple[str, ...] = ("ann0", "ann1", "ann2"), n_gold: int = 4) -> Plan:
    """Users ``annotators`` + ``rev``; gold, agreement and review history for them (see the module)."""
    rng = random.Random(seed)
    plan = Plan()
    for name in (*annotators, "rev"):
        admin.add_user(svc, name, "reviewer" if name == "rev" else "annotator")
    minute = iter(range(10_000))

    def at() -> dt.datetime:
        return T0 + dt.timedelta(minutes=next(minute))

    with svc.tx() as db:
        ids = {u.name: u.id for u in db.query(User)}
        # gold: n_gold gold cases, each served once to every annotator and scored on labels 1 and 2
        for g in range(n_gold):
            gold_row = _case(db, f"gold{seed}_{g}")
            plan.gold_cases.append(gold_row.name)
            gc = GoldCase(case_id=gold_row.id, version="v001", author="x", approver="rev")
            db.add(gc)
            db.flush()
            for who in annotators:
                served = _case(db, f"serv{seed}_{g}_{who}", "submitted")
                plan.servings.append(served.name)
                sv = GoldServing(gold_id=gc.id, case_id=served.id, user_id=ids[who], version="v001")
                db.add(sv)
                db.flush()
                base = 0.9 if who == annotators[0] else 0.6 if who == annotators[-1] else 0.8
                for label in (1, 2):
                    when = at()
                    dice = round(min(1.0, max(0.0, base + rng.uniform(-0.08, 0.08))), 4)
                    db.add(GoldScore(serving_id=sv.id, user_id=ids[who], label=label, name=f"l{label}", dice=dice,
                                     hd95_mm=1.0, volume_ref_ml=10.0, volume_ml=11.0, at=when))
                    plan.gold.setdefault((who, label), []).append(Score(dice, when.isoformat()))
        # agreement: two-reader cases of the first two annotators, label 1 only
        a, b = annotators[0], annotators[1]
        for k in range(3):
            row = _case(db, f"double{seed}_{k}", "approved")
            db.add(Read(case_id=row.id, user_id=ids[a], slot=1, status="done", version="v001"))
            db.add(Read(case_id=row.id, user_id=ids[b], slot=2, status="done", version="v002"))
            when, dice = at(), round(rng.uniform(0.7, 0.95), 4)
            db.add(Agreement(case_id=row.id, version_a="v001", version_b="v002", label=1, name="l1", dice=dice,
                             volume_a_ml=1.0, volume_b_ml=1.0, at=when))
            for who in (a, b):
                plan.agreement.setdefault((who, 1), []).append(Score(dice, when.isoformat()))
            # a decision on a case read by several people is not a review of one annotator
            for who in (a, b):
                db.add(Event(case_id=row.id, user_id=ids[who], kind="submit", at=at(), detail={"read": 1}))
            db.add(Event(case_id=row.id, user_id=ids["rev"], kind="approve", at=at(), detail={"readers": []}))

        # reviews of single-read submissions
        def story(who: str, kinds: list[str]) -> None:
            row = _case(db, f"single{seed}_{who}_{len(db.new)}_{rng.random():.6f}", "approved")
            for kind in kinds:
                actor = who if kind in ("submit", "withdraw_submit") else "rev"
                db.add(Event(case_id=row.id, user_id=ids[actor], kind=kind, at=at(),
                             detail={"annotator_id": ids[who]} if kind in ("approve", "reject") else None))

        story(a, ["submit", "approve"])                                  # approved
        story(a, ["submit", "reject", "submit", "approve"])              # rejected, then approved
        story(a, ["submit", "withdraw_submit", "submit", "approve"])     # withdrawn is no decision
        story(b, ["submit", "correct", "approve"])                       # corrected: not approved as submitted
        story(b, ["submit", "approve"])
        plan.reviews = {a: (3, 4), b: (1, 2)}
    return plan


__all__ = ["T0", "Plan", "plant"]
