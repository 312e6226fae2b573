"""An annotator's accuracy from what the project has measured: gold scores, reviews, other readers.

Three sources, each kept and shown on its own (:class:`SourceEstimate`):

``gold``
    Dice of the annotator's submissions of gold cases against the reference (the closest the
    project has to truth). The estimate is the mean Dice with a Student-t 95% interval, clipped
    to [0, 1].
``agreement``
    Dice of the annotator's read against the fusion of the other readers of the same case (or the
    other reader when there are two). Readers who all err alike agree, so this source says less
    than gold; it is a mean Dice with a t interval, like gold.
``review``
    The share of the annotator's reviewed submissions that a reviewer approved, with a Wilson
    95% interval. It is a rate, not a Dice, so it is shown but never mixed into the Dice estimate.

The combined estimate (:attr:`Accuracy.estimate`) is on the Dice scale: the inverse-variance
weighted mean of the gold and agreement means, where the agreement source's variance is inflated
by :data:`AGREEMENT_DISCOUNT` so that gold dominates as soon as there are a few gold scores. With
no Dice source there is no estimate (``None``), never a guess.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from scipy import stats

#: How much less an agreement Dice counts than a gold Dice (its variance is multiplied by this).
AGREEMENT_DISCOUNT = 4.0
#: The variance assumed for a source of a single score (no spread to measure): a Dice anywhere in [0, 1].
_ONE_SCORE_VAR = 1.0 / 12.0


@dataclass(frozen=True)
class Score:
    """One measured Dice of one annotator on one label.

    Attributes
    ----------
    value : float
        The Dice, in [0, 1].
    when : str
        ISO 8601 time it was measured (orders the trend).
    case : str
        The case (or gold serving) it was measured on.
    """

    value: float
    when: str
    case: str = ""

    def __post_init__(self) -> None:
        if not (0.0 <= self.value <= 1.0) or math.isnan(self.value):
            raise ValueError(f"a Dice must be in [0, 1], got {self.value!r}")


@dataclass(frozen=True)
class SourceEstimate:
    """The estimate of one source: its mean, 95% interval and number of observations.

    Attributes
    ----------
    source : str
        ``gold``, ``agreement`` or ``review``.
    n : int
        Observations (scores, or reviewed submissions).
    mean : float or None
        Mean Dice (gold, agreement) or approval rate (review); None with no observation.
    low, high : float or None
        The 95% interval.
    """

    source: str
    n: int
    mean: float | None
    low: float | None
    high: float | None

    def as_json(self) -> dict:
        """The estimate as JSON-ready values (rounded to 4 decimals)."""
        return {"source": self.source, "n": self.n, "mean": _rounded(self.mean), "low": _rounded(self.low),
                "high": _rounded(self.high)}


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


@dataclass(frozen=True)
class Accuracy:
    """An annotator's measured accuracy on one label.

    Attributes
    ----------
    annotator : str
        The annotator's name.
    label : int
        The label value.
    gold, agreement, review : SourceEstimate
        Each source on its own.
    estimate : SourceEstimate
        The combined Dice estimate (source ``combined``); ``mean`` None with no Dice source.
    trend : tuple of (str, float)
        The running mean of the Dice scores (gold and agreement, in time order) after each one.
    """

    annotator: str
    label: int
    gold: SourceEstimate
    agreement: SourceEstimate
    review: SourceEstimate
    estimate: SourceEstimate
    trend: tuple[tuple[str, float], ...] = field(default=())

    def as_json(self) -> dict:
        """The accuracy as JSON-ready values."""
        return {"annotator": self.annotator, "label": self.label, "estimate": self.estimate.as_json(),
                "gold": self.gold.as_json(), "agreement": self.agreement.as_json(),
                "review": self.review.as_json(), "trend": [[w, round(v, 4)] for w, v in self.trend]}


@functools.lru_cache(maxsize=512)
def _t975(df: int) -> float:
    """The 97.5% quantile of Student's t with ``df`` degrees of freedom (cached: scipy takes ~0.3 ms a call)."""
    return float(stats.t.ppf(0.975, df))


def mean_interval(values: Sequence[float], source: str) -> SourceEstimate:
    """The mean of Dice values with a Student-t 95% interval, clipped to [0, 1].

    Parameters
    ----------
    values : sequence of float
        Dice values in [0, 1].
    source : str
        The source's name, kept in the result.

    Returns
    -------
    SourceEstimate
        With one value the interval is [0, 1] (one score says nothing about the spread).

    Examples
    --------
    >>> e = mean_interval([0.9, 0.92, 0.88], "gold")
    >>> round(e.mean, 2), e.low < 0.9 < e.high
    (0.9, True)
    """
    n = len(values)
    if n == 0:
        return SourceEstimate(source, 0, None, None, None)
    mean = sum(values) / n
    if n == 1:
        return SourceEstimate(source, 1, mean, 0.0, 1.0)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = _t975(n - 1) * sd / math.sqrt(n)
    return SourceEstimate(source, n, mean, max(0.0, mean - half), min(1.0, mean + half))


def rate_interval(successes: int, n: int, source: str = "review") -> SourceEstimate:
    """A rate with its Wilson score 95% interval.

    Parameters
    ----------
    successes, n : int
        Approved submissions out of reviewed ones.
    source : str
        The source's name.

    Returns
    -------
    SourceEstimate

    Examples
    --------
    >>> e = rate_interval(9, 10)
    >>> e.mean, round(e.low, 3), round(e.high, 3)
    (0.9, 0.596, 0.982)
    """
    if n == 0:
        return SourceEstimate(source, 0, None, None, None)
    if not 0 <= successes <= n:
        raise ValueError(f"{successes} approvals out of {n} reviews")
    z = 1.959963984540054
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return SourceEstimate(source, n, p, max(0.0, centre - half), min(1.0, centre + half))


def _variance(values: Sequence[float]) -> float:
    """The variance of a source's mean (at least a small floor, so one perfect score is not certainty)."""
    n = len(values)
    if n < 2:
        return _ONE_SCORE_VAR
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return max(var, 1e-4) / n


def combine(gold: Sequence[float], agreement: Sequence[float]) -> SourceEstimate:
    """The combined Dice estimate: inverse-variance weighted mean of the gold and agreement means.

    Parameters
    ----------
    gold, agreement : sequence of float
        The Dice scores of each source.

    Returns
    -------
    SourceEstimate
        Source ``combined``; the interval is the normal 95% interval of the weighted mean, clipped.
    """
    parts = []
    for values, factor in ((gold, 1.0), (agreement, AGREEMENT_DISCOUNT)):
        if values:
            parts.append((sum(values) / len(values), _variance(values) * factor))
    if not parts:
        return SourceEstimate("combined", 0, None, None, None)
    weights = [1.0 / v for _, v in parts]
    mean = sum(w * m for w, (m, _) in zip(weights, parts, strict=True)) / sum(weights)
    half = 1.959963984540054 * math.sqrt(1.0 / sum(weights))
    return SourceEstimate("combined", len(gold) + len(agreement), mean, max(0.0, mean - half), min(1.0, mean + half))


def accuracy(annotator: str, label: int, gold: Iterable[Score], agreement: Iterable[Score],
             approved: int = 0, reviewed: int = 0) -> Accuracy:
    """An annotator's accuracy on one label from every source.

    Parameters
    ----------
    annotator : str
        Their name.
    label : int
        The label.
    gold, agreement : iterable of Score
        Their gold scores and their agreement with the other readers.
    approved, reviewed : int
        Reviewer decisions on their submissions (approvals out of decisions).

    Returns
    -------
    Accuracy
    """
    g = sorted(gold, key=lambda s: s.when)
    a = sorted(agreement, key=lambda s: s.when)
    gv = [s.value for s in g]
    av = [s.value for s in a]
    trend: list[tuple[str, float]] = []
    seen: list[float] = []
    for s in sorted([*g, *a], key=lambda s: s.when):
        seen.append(s.value)
        trend.append((s.when, sum(seen) / len(seen)))
    return Accuracy(annotator, label, mean_interval(gv, "gold"), mean_interval(av, "agreement"),
                    rate_interval(approved, reviewed), combine(gv, av), tuple(trend))
