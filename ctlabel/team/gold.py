"""Gold-standard cases: approved cases whose approved version is the reference, mixed into claims and scored.

:class:`Gold`, a collaborator of :class:`ctlabel.team.service.Service` (given the core). The lead
marks approved cases as gold (:meth:`Gold.add`, :meth:`Gold.remove`, :meth:`Gold.cases`) and sets
the share of claims that get one (:meth:`Gold.set_rate`). When an annotator claims a case that
would be a single-read case, a gold case is served instead with that probability
(:meth:`Gold.maybe_serve`): a fresh case folder (:mod:`ctlabel.team.gold_folder`) registered as a
case row of its own, never twice to one person and never to anybody who worked on the gold case
(its reference's annotator and approver, anybody who claimed, read or reviewed it). Its submit
(:meth:`Gold.submit`) freezes the draft as any submit does and answers at once; the scoring
against the reference (:func:`ctlabel.measure.gold_score.score_mask`) runs right after, in a
thread (:meth:`Gold.score`): per label rows in ``gold_scores``, a ``gold_score`` event with the
figures (the report pays it as a ``gold`` item) and the figures in the serving's ``case.json``.
Servings never enter the review queue (:meth:`Gold.not_serving`) and the exports refuse them.
Reading the scores: :mod:`ctlabel.team.gold_scores`. The rules: ``docs/quality.md``.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
from collections.abc import Iterable
from dataclasses import replace

from sqlalchemy import ColumnElement, exists, func, or_, select
from sqlalchemy.orm import Session

from ctlabel.case import record as case_record
from ctlabel.case import review, workflow
from ctlabel.io.atomic import write_json
from ctlabel.measure.gold_score import score_mask
from ctlabel.model import Action
from ctlabel.team.core import ProjectCore
from ctlabel.team.db import Assignment, CaseRow, Read, User, utcnow
from ctlabel.team.db_gold import GoldCase, GoldScore, GoldServing
from ctlabel.team.errors import Conflict, Invalid, NotFound
from ctlabel.team.gold_folder import MARKER, make_serving
from ctlabel.team.qa_note import submit_note


class Gold:
    """The gold-standard rules.

    Parameters
    ----------
    core : ProjectCore
        The project's shared plumbing.
    rng : random.Random, optional
        Whether a claim gets a gold case, which one, its UIDs (default: the system's randomness; a
        seeded ``random.Random`` makes a test repeatable).
    """

    def __init__(self, core: ProjectCore, rng: random.Random | None = None) -> None:
        self.core = core
        self.rng = rng or random.SystemRandom()
        self._scoring: list[threading.Thread] = []

    # --- the lead's side ---------------------------------------------------------------------
    def add(self, names: Iterable[str], by: str = "") -> list[dict]:
        """Mark approved cases as gold: their approved version becomes the reference.

        Raises Conflict for a case that is not approved (or has no approved version), NotFound for
        an unknown case, Invalid for a gold serving.
        """
        out = []
        with self.core.tx() as db:
            for name in names:
                row = self.core.get_case(db, name)
                if self.serving_of(db, row) is not None:
                    raise Invalid(f"case {name} is a serving of a gold case, not a case of the project")
                rec = case_record.load_case_record(self.core.folder(row))
                version = rec.approved_version
                if rec.state != workflow.APPROVED or not version:
                    raise Conflict(f"case {name} is {rec.state}; only an approved case can be gold (its approved "
                                   "version is the reference)")
                made = case_record.version_event(rec, version)
                approval = rec.last(Action.APPROVED)
                gold = db.scalar(select(GoldCase).where(GoldCase.case_id == row.id))
                if gold is None:
                    gold = GoldCase(case_id=row.id, added_by=by[:100])
                    db.add(gold)
                gold.version, gold.voxel_sha256, gold.removed = version, made.voxel_sha256 if made else None, None
                gold.author, gold.added = made.who if made else None, utcnow()
                gold.approver = approval.who if approval else None
                self.core.log(db, None, row, "gold_add", version=version, by=by[:100])
                out.append({"case": name, "version": version, "author": gold.author, "approver": gold.approver})
        return out

    def remove(self, names: Iterable[str], by: str = "") -> list[str]:
        """Stop serving these gold cases (their servings and scores stay)."""
        out = []
        with self.core.tx() as db:
            for name in names:
                row = self.core.get_case(db, name)
                gold = db.scalar(select(GoldCase).where(GoldCase.case_id == row.id, GoldCase.removed.is_(None)))
                if gold is None:
                    raise NotFound(f"case {name} is not a gold case")
                gold.removed = utcnow()
                self.core.log(db, None, row, "gold_remove", by=by[:100])
                out.append(name)
        return out

    def cases(self) -> list[dict]:
        """The gold cases in use: reference version, its author and approver, servings, scored, mean Dice."""
        with self.core.read() as db:
            served = (select(GoldServing.gold_id, func.count(GoldServing.id).label("n"),
                             func.count(GoldServing.scored).label("scored")).group_by(GoldServing.gold_id).subquery())
            dice = (select(GoldServing.gold_id, func.avg(GoldScore.dice).label("dice"))
                    .join(GoldScore, GoldScore.serving_id == GoldServing.id).group_by(GoldServing.gold_id).subquery())
            rows = db.execute(select(CaseRow.name, GoldCase, served.c.n, served.c.scored, dice.c.dice)
                              .join(GoldCase, GoldCase.case_id == CaseRow.id)
                              .outerjoin(served, served.c.gold_id == GoldCase.id)
                              .outerjoin(dice, dice.c.gold_id == GoldCase.id)
                              .where(GoldCase.removed.is_(None)).order_by(CaseRow.name)).all()
            return [{"case": name, "version": g.version, "author": g.author, "approver": g.approver,
                     "added": g.added.isoformat(), "servings": n or 0, "scored": scored or 0,
                     "mean_dice": None if d is None else round(float(d), 4)} for name, g, n, scored, d in rows]

    def rate(self) -> float:
        """The share of claims (0..1) that are served a gold case."""
        with self.core.read() as db:
            return float(self.core.settings(db).gold_rate or 0.0)

    def set_rate(self, rate: float) -> float:
        """Set the share of claims (0..1) served a gold case; 0 serves none."""
        if not 0.0 <= float(rate) <= 1.0:
            raise Invalid(f"the gold rate is a share of claims from 0 to 1, not {rate}")
        with self.core.tx() as db:
            self.core.settings(db).gold_rate = float(rate)
            self.core.log(db, None, None, "gold_rate_set", rate=float(rate))
        return float(rate)

    # --- serving -------------------------------------------------------------------------------
    @staticmethod
    def not_serving() -> ColumnElement[bool]:
        """The SQL condition of a case row that is not a gold serving (claims, the review queue)."""
        return CaseRow.id.not_in(select(GoldServing.case_id))

    @staticmethod
    def serving_of(db: Session, row: CaseRow) -> GoldServing | None:
        """The gold serving this case row is, if it is one."""
        return db.scalar(select(GoldServing).where(GoldServing.case_id == row.id))

    def _eligible(self, db: Session, user: User) -> list[GoldCase]:
        """The gold cases this annotator may be served: never twice, never one they worked on."""
        worked = or_(exists().where(Assignment.case_id == GoldCase.case_id, Assignment.user_id == user.id),
                     exists().where(Read.case_id == GoldCase.case_id, Read.user_id == user.id),
                     exists().where(GoldServing.gold_id == GoldCase.id, GoldServing.user_id == user.id),
                     func.coalesce(GoldCase.author, "") == user.name,
                     func.coalesce(GoldCase.approver, "") == user.name)
        return list(db.scalars(select(GoldCase).where(GoldCase.removed.is_(None), ~worked).order_by(GoldCase.id)))

    def maybe_serve(self, db: Session, user: User, priority: int, now: dt.datetime) -> dict | None:
        """Inside a claim's transaction: with the project's gold rate, serve a gold case instead.

        Called when the claim would hand out a single-read case of ``priority`` (the serving shows
        it). Returns the claim's answer for the serving, or None (no draw, or no gold case this
        annotator may get).
        """
        rate = float(self.core.settings(db).gold_rate or 0.0)
        if rate <= 0.0 or self.rng.random() >= rate:
            return None
        golds = self._eligible(db, user)
        if not golds:
            return None
        counts = dict(db.execute(select(GoldServing.gold_id, func.count(GoldServing.id))
                                 .where(GoldServing.gold_id.in_([g.id for g in golds])).group_by(GoldServing.gold_id))
                      .tuples().all())
        least = min(counts.get(g.id, 0) for g in golds)
        gold = self.rng.choice([g for g in golds if counts.get(g.id, 0) == least])
        source = db.get_one(CaseRow, gold.case_id)
        folder = make_serving(self.core.folder(source), self.core.cases_dir, self.rng,
                              {"Source": source.name, "ReferenceVersion": gold.version,
                               "ReferenceVoxelSHA256": gold.voxel_sha256})
        row = CaseRow(name=folder.name, path=folder.name, state=workflow.IN_PROGRESS, priority=priority,
                      annotator_id=user.id, readers=1, created=now, updated=now)
        db.add(row)
        db.flush()
        db.add(GoldServing(gold_id=gold.id, case_id=row.id, user_id=user.id, served=now))
        self.core.renew(db, row)
        db.add(Assignment(case_id=row.id, user_id=user.id, kind="annotate", status="open", claimed=now))
        self.core.log(db, user, row, "claim")
        self.core.log(db, None, row, "gold_serve", gold=source.name, annotator=user.name)
        return self.core.case_summary(db, row, reason="new")

    # --- submitting and scoring ------------------------------------------------------------------
    def submit(self, user: User, name: str, force: bool = False, *, wait: bool = False) -> dict:
        """Submit a serving (as any submit: QA first, the draft frozen); it is scored right after.

        The answer does not wait for the scoring (a submit of a gold case takes as long as any),
        unless ``wait``. The caller checked that ``user`` holds the case.
        """
        with self.core.tx() as db:
            row = self.core.get_case(db, name)
            case_id = row.id
        with self.core.case_lock(case_id):
            case = self.core.folder(row)
            n = self.core.change(review.submit, case, user.name, force=force)
            with self.core.tx() as db:
                row = db.get_one(CaseRow, case_id)
                serving = self.serving_of(db, row)
                assert serving is not None
                self.core.sync(db, row)
                row.lease_until, row.reviewer_id, row.review_lease_until = None, None, None
                for a in db.scalars(select(Assignment).where(Assignment.case_id == case_id,
                                                             Assignment.status == "open")):
                    a.status, a.ended = "done", utcnow()
                serving.version, serving.submitted = case_record.version_name(n), utcnow()
                self.core.log(db, user, row, "gold_submit", version=serving.version,
                              **submit_note(case_record.load_case_record(case)))
                summary = self.core.case_summary(db, row)
                serving_id = serving.id
        if wait:
            self.score(serving_id)
        else:
            thread = threading.Thread(target=self.score, args=(serving_id,), name=f"gold-score-{serving_id}")
            self._scoring = [t for t in self._scoring if t.is_alive()] + [thread]
            thread.start()
        return summary

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the scorings started by :meth:`submit` (tests, shutdown)."""
        for t in list(self._scoring):
            t.join(timeout)

    def score(self, serving_id: int) -> list[dict]:
        """Score a submitted serving against its reference, store and log the figures (once).

        Returns the figures per label (:meth:`ctlabel.measure.gold_score.LabelScore.to_dict`).
        """
        with self.core.read() as db:
            serving = db.get_one(GoldServing, serving_id)
            gold = db.get_one(GoldCase, serving.gold_id)
            source, row = db.get_one(CaseRow, gold.case_id), db.get_one(CaseRow, serving.case_id)
            if serving.version is None:
                raise Conflict(f"case {row.name} is not submitted")
        ref_case, case = self.core.folder(source), self.core.folder(row)
        reference = ref_case.load_version(case_record.version_number(gold.version) or 0)
        scored = case.load_version(case_record.version_number(serving.version) or 0)
        scores = [s.to_dict() for s in score_mask(reference, scored, ref_case.load_labels())]
        dice = [s["dice"] for s in scores]
        mean = round(sum(dice) / len(dice), 4) if dice else None
        now = utcnow()
        with self.core.case_lock(row.id):
            with self.core.tx() as db:
                serving = db.get_one(GoldServing, serving_id)
                if serving.scored is not None:
                    return scores
                for s in scores:
                    db.add(GoldScore(serving_id=serving.id, user_id=serving.user_id, label=s["label"],
                                     name=s["name"][:100], dice=s["dice"], hd95_mm=s["hd95_mm"],
                                     volume_ref_ml=s["volume_ref_ml"], volume_ml=s["volume_ml"], at=now))
                serving.scored = now
                self.core.log(db, self.core.user(db, serving.user_id), row, "gold_score", at=now, gold=source.name,
                              reference=gold.version, version=serving.version, labels=scores, mean_dice=mean)
            rec = case_record.load_case_record(case)
            marker = {**(rec.extra.get(MARKER) or {}), "Score": {"Version": serving.version, "Labels": scores,
                                                                  "MeanDice": mean,
                                                                  "When": now.isoformat().replace("+00:00", "Z")}}
            write_json(case.record_path, replace(rec, extra={**rec.extra, MARKER: marker}).to_dict())
        return scores

    def score_pending(self) -> int:
        """Score the servings submitted but not scored (a server stopped meanwhile); how many."""
        with self.core.read() as db:
            ids = list(db.scalars(select(GoldServing.id).where(GoldServing.submitted.is_not(None),
                                                               GoldServing.scored.is_(None))))
        for i in ids:
            self.score(i)
        return len(ids)


__all__ = ["Gold"]
