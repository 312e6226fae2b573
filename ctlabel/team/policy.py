"""Review where it is needed: a project's review policy, applied at the submit of a single read.

:class:`Policies`, a collaborator of :class:`ctlabel.team.service.Service` (given the core). The
lead sets the policy (:meth:`Policies.set`; off by default: every submission is reviewed). At the
submit of a single-read, non-gold case by an annotator (:meth:`Policies.decide`), the rule of
:func:`ctlabel.measure.review_policy.decide` is applied to the annotator's accuracy at that moment
(:func:`ctlabel.team.accuracy.annotator_accuracy`), their gold cases since their last failure
(:meth:`Policies.gold_since_failure`: a gold case scored below ``fail_below`` on any label, or a
rejection of their work, takes the trust away) and a draw of the policy's random generator (a
seeded ``random.Random`` given to ``Policies(core, rng=...)`` makes a run repeatable). An accepted
submission is recorded in ``case.json`` by :func:`ctlabel.case.accept.accept_by_policy` (state
``accepted``) and in the team's ``policy_accept`` event; a submission the policy sends to review
carries the reason in its ``submit`` event. ``docs/quality.md``.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select

from ctlabel.case import record as case_record
from ctlabel.case.accept import accept_by_policy
from ctlabel.case.folder import Case
from ctlabel.io.mask import labels_present
from ctlabel.measure.review_policy import PolicyDecision, ReviewPolicy, decide, gold_failed
from ctlabel.team.core import ProjectCore
from ctlabel.team.credit import credit
from ctlabel.team.db import CaseRow, Event, User, utcnow
from ctlabel.team.db_gold import GoldScore
from ctlabel.team.db_policy import ReviewPolicyRow
from ctlabel.team.errors import Invalid, as_utc

_FIELDS = ("min_gold", "min_accuracy", "review_rate", "fail_below")


@dataclass(frozen=True)
class PolicySetting:
    """A project's review policy and whether it is on.

    Attributes
    ----------
    enabled : bool
        Off: every submission is reviewed.
    policy : ReviewPolicy
        The settings (kept while off).
    updated, updated_by : datetime or None, str
        When and by whom it was set last (None: never set).
    """

    enabled: bool
    policy: ReviewPolicy
    updated: dt.datetime | None = None
    updated_by: str = ""

    def as_json(self) -> dict:
        """The setting as JSON-ready values."""
        return {"enabled": self.enabled, **self.policy.as_json(),
                "updated": self.updated.isoformat() if self.updated else None, "updated_by": self.updated_by}


class Policies:
    """The project's review policy: its setting, the trust of an annotator, the decision at submit.

    Parameters
    ----------
    core : ProjectCore
        The project's shared plumbing.
    rng : random.Random, optional
        The draws compared with the review rate (default: the system's randomness).
    """

    def __init__(self, core: ProjectCore, rng: random.Random | None = None) -> None:
        self.core = core
        self.rng = rng or random.SystemRandom()

    # --- the lead's side ---------------------------------------------------------------------
    def setting(self) -> PolicySetting:
        """The project's policy (never set: off, with the defaults of :class:`ReviewPolicy`)."""
        with self.core.read() as db:
            row = db.scalar(select(ReviewPolicyRow).where(ReviewPolicyRow.project_id == self.core.project_id))
            if row is None:
                return PolicySetting(False, ReviewPolicy())
            return PolicySetting(row.enabled, ReviewPolicy(row.min_gold, row.min_accuracy, row.review_rate,
                                                           row.fail_below), as_utc(row.updated), row.updated_by)

    def set(self, *, enabled: bool | None = None, by: str = "", **values: float | int | None) -> PolicySetting:
        """Change the policy's settings given and turn it on or off.

        ``values``: ``min_gold``, ``min_accuracy``, ``review_rate``, ``fail_below`` (the others stay);
        ``enabled`` turns it on or off (settings given alone turn it on). Raises Invalid for a value out
        of range (checked by :class:`ReviewPolicy`).
        """
        unknown = set(values) - set(_FIELDS)
        if unknown:
            raise Invalid(f"a review policy has no setting {sorted(unknown)}")
        given = {k: v for k, v in values.items() if v is not None}
        now = self.setting()
        try:
            policy = ReviewPolicy(**{**now.policy.as_json(), **given})
        except ValueError as exc:  # InputError: a setting out of range
            raise Invalid(str(exc), options=getattr(exc, "options", ())) from None
        on = enabled if enabled is not None else (True if given else now.enabled)
        with self.core.tx() as db:
            row = db.scalar(select(ReviewPolicyRow).where(ReviewPolicyRow.project_id == self.core.project_id))
            if row is None:
                row = ReviewPolicyRow(project_id=self.core.project_id)
                db.add(row)
            row.enabled = on
            for k, v in policy.as_json().items():
                setattr(row, k, v)
            row.updated, row.updated_by = utcnow(), by[:100]
            self.core.log(db, None, None, "review_policy", enabled=on, by=by[:100], **policy.as_json())
        return self.setting()

    # --- trust -------------------------------------------------------------------------------
    def gold_since_failure(self, user: User, policy: ReviewPolicy) -> int:
        """The annotator's scored gold cases since their last failure (a failed gold, or a rejection of their work).

        A gold case fails when any label scored below ``policy.fail_below``
        (:func:`ctlabel.measure.review_policy.gold_failed`).
        """
        with self.core.read() as db:
            per_serving: dict[int, dict[int, float]] = defaultdict(dict)
            scored: dict[int, dt.datetime] = {}
            for serving, label, dice, at in db.execute(
                    select(GoldScore.serving_id, GoldScore.label, GoldScore.dice, GoldScore.at)
                    .where(GoldScore.user_id == user.id)):
                per_serving[serving][label] = dice
                scored[serving] = max(scored.get(serving, as_utc(at)), as_utc(at))
            # rejections of their work: reject events on cases they submitted, naming them as the annotator
            theirs = select(Event.case_id).where(Event.user_id == user.id, Event.kind == "submit")
            failures = [at for at, detail in db.execute(select(Event.at, Event.detail).where(
                Event.kind == "reject", Event.case_id.in_(theirs))) if (detail or {}).get("annotator_id") == user.id]
        failures += [scored[s] for s, dice in per_serving.items() if gold_failed(policy, dice)]
        last = max((as_utc(t) for t in failures), default=None)
        return sum(1 for s, at in scored.items() if last is None or at > last)

    def decide(self, user: User, case: Case, version: int) -> PolicyDecision | None:
        """The policy's decision on an annotator's submitted ``version``; None when the policy is off.

        Called by :meth:`ctlabel.team.claims.Claims.submit` for a single-read, non-gold case only.
        """
        setting = self.setting()
        if not setting.enabled or user.role != "annotator":
            return None
        from ctlabel.team.accuracy import annotator_accuracy

        accuracies = annotator_accuracy(self.core, user.name).get(user.name, {})
        labels = {int(v) for v in labels_present(case.load_version(version).array)}
        draw = self.rng.random()
        return decide(setting.policy, accuracies, self.gold_since_failure(user, setting.policy), labels, draw)

    @staticmethod
    def note(decision: PolicyDecision | None) -> dict:
        """What the ``submit`` event records of the decision (nothing when the policy is off)."""
        return {} if decision is None else {"policy": decision.as_json()}

    def accept(self, user: User, case_id: int, decision: PolicyDecision) -> None:
        """Accept the submission (the caller holds the case lock): ``case.json``, the state mirror, the event."""
        policy = self.setting().policy
        with self.core.read() as db:
            row = db.get_one(CaseRow, case_id)
            case = self.core.folder(row)
        n = self.core.change(accept_by_policy, case, user.name, policy.as_json(), decision.as_json())
        with self.core.tx() as db:
            row = db.get_one(CaseRow, case_id)
            self.core.sync(db, row)
            row.reviewer_id, row.review_lease_until = None, None
            paid = credit(db, case_id)  # the rework before the acceptance is owed to the annotator
            self.core.log(db, None, row, "policy_accept", version=case_record.version_name(n),
                          annotator_id=user.id, resubmissions=paid["resubmissions"], policy=policy.as_json(),
                          decision=decision.as_json())


__all__ = ["PolicySetting", "Policies"]
