"""Review where it is needed: when a trusted annotator's submission may skip review.

A project's :class:`ReviewPolicy` says when an annotator is trusted: at least ``min_gold`` gold
scores since their last failure (a gold below ``fail_below`` or a rejection), and a combined
accuracy whose 95% interval lies at or above ``min_accuracy`` on every label of the submission
(the lower bound, not the mean: an annotator with few or scattered scores is not trusted yet).
A trusted annotator's submission goes to review with probability ``review_rate`` (a random
sample, so that trust keeps being checked); otherwise the policy accepts it. Everything that
allowed an acceptance is kept in the :class:`PolicyDecision` and recorded with the case.

The policy cannot promise that no accepted case is wrong: it bounds the risk by the accuracy
measured on gold cases, which are a sample; ``docs/quality.md`` says what it guarantees.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ctlabel.errors import InputError
from ctlabel.measure.accuracy import Accuracy


@dataclass(frozen=True)
class ReviewPolicy:
    """A project's review policy.

    Attributes
    ----------
    min_gold : int
        Gold scores needed since the last failure before an annotator can be trusted.
    min_accuracy : float
        The lower bound of the combined accuracy's 95% interval must reach this, on every label.
    review_rate : float
        The share of a trusted annotator's submissions still sent to review, in [0, 1].
    fail_below : float
        A gold scored below this on any label is a failure (it takes the trust away).
    """

    min_gold: int = 5
    min_accuracy: float = 0.85
    review_rate: float = 0.1
    fail_below: float = 0.8

    def __post_init__(self) -> None:
        if self.min_gold < 1:
            raise InputError(f"min_gold must be at least 1, got {self.min_gold}", options=("min_gold",))
        for name in ("min_accuracy", "review_rate", "fail_below"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise InputError(f"{name} must be in [0, 1], got {value}", options=(name,))

    def as_json(self) -> dict:
        """The policy's settings."""
        return {"min_gold": self.min_gold, "min_accuracy": self.min_accuracy,
                "review_rate": self.review_rate, "fail_below": self.fail_below}


@dataclass(frozen=True)
class PolicyDecision:
    """What the policy decided for one submission, and the figures that decided it.

    Attributes
    ----------
    accepted : bool
        True when the policy accepts the submission without review.
    trusted : bool
        Whether the annotator was trusted at that moment.
    reason : str
        Why, in words.
    gold_since_failure : int
        The annotator's gold scores since their last failure.
    accuracy : Mapping[int, dict]
        Per label, the combined estimate (mean, low, high, n) used.
    draw : float
        The random draw compared with ``review_rate`` (a trusted annotator only).
    """

    accepted: bool
    trusted: bool
    reason: str
    gold_since_failure: int
    accuracy: Mapping[int, dict]
    draw: float | None = None

    def as_json(self) -> dict:
        """The decision as recorded with the case."""
        return {"accepted": self.accepted, "trusted": self.trusted, "reason": self.reason,
                "gold_since_failure": self.gold_since_failure,
                "accuracy": {str(k): v for k, v in sorted(self.accuracy.items())},
                "draw": None if self.draw is None else round(self.draw, 6)}


def trusted(policy: ReviewPolicy, accuracies: Mapping[int, Accuracy], gold_since_failure: int,
            labels: set[int]) -> tuple[bool, str]:
    """Whether an annotator is trusted for a submission with these labels, and why (not).

    Parameters
    ----------
    policy : ReviewPolicy
    accuracies : mapping of int to Accuracy
        The annotator's accuracy per label.
    gold_since_failure : int
        Their gold scores since the last failure.
    labels : set of int
        The labels of the submission (a label they were never measured on is not trusted).

    Returns
    -------
    (bool, str)
    """
    if gold_since_failure < policy.min_gold:
        return False, f"{gold_since_failure} of {policy.min_gold} gold cases since the last failure"
    if not labels:
        return False, "the submission has no label"
    for label in sorted(labels):
        acc = accuracies.get(label)
        low = None if acc is None else acc.estimate.low
        if low is None:
            return False, f"no accuracy measured on label {label}"
        if low < policy.min_accuracy:
            return False, f"label {label}: accuracy lower bound {low:.3f} < {policy.min_accuracy}"
    return True, f"trusted: {gold_since_failure} gold cases, every label's lower bound >= {policy.min_accuracy}"


def decide(policy: ReviewPolicy, accuracies: Mapping[int, Accuracy], gold_since_failure: int,
           labels: set[int], draw: float) -> PolicyDecision:
    """Decide whether a submission goes to review.

    Parameters
    ----------
    policy : ReviewPolicy
    accuracies : mapping of int to Accuracy
        The annotator's accuracy per label at this moment.
    gold_since_failure : int
        Their gold scores since the last failure.
    labels : set of int
        The labels in the submission.
    draw : float
        A uniform random number in [0, 1) (the caller's generator, so a run can be replayed).

    Returns
    -------
    PolicyDecision

    Examples
    --------
    >>> from ctlabel.measure.accuracy import Score, accuracy
    >>> acc = {1: accuracy("ann", 1, [Score(0.95, f"t{i}") for i in range(5)], [])}
    >>> decide(ReviewPolicy(min_gold=5, review_rate=0.1), acc, 5, {1}, draw=0.5).accepted
    True
    >>> decide(ReviewPolicy(min_gold=5, review_rate=0.1), acc, 5, {1}, draw=0.05).accepted
    False
    """
    ok, why = trusted(policy, accuracies, gold_since_failure, labels)
    figures = {label: accuracies[label].estimate.as_json() for label in labels if label in accuracies}
    if not ok:
        return PolicyDecision(False, False, why, gold_since_failure, figures)
    if draw < policy.review_rate:
        return PolicyDecision(False, True, f"{why}; sampled for review ({draw:.3f} < {policy.review_rate})",
                              gold_since_failure, figures, draw)
    return PolicyDecision(True, True, why, gold_since_failure, figures, draw)


def gold_failed(policy: ReviewPolicy, dice_per_label: Mapping[int, float]) -> bool:
    """Whether a gold score is a failure: any label's Dice below ``fail_below``."""
    return any(d < policy.fail_below for d in dice_per_label.values())
