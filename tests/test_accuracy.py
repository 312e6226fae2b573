"""Annotator accuracy estimates and the review policy (ctlabel.measure.accuracy, review_policy)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from ctlabel.errors import InputError
from ctlabel.measure.accuracy import Score, accuracy, combine, mean_interval, rate_interval
from ctlabel.measure.review_policy import ReviewPolicy, decide, gold_failed, trusted


def test_the_gold_interval_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    true_mean, hits, trials = 0.88, 0, 2000
    for _ in range(trials):
        values = np.clip(rng.normal(true_mean, 0.04, size=5), 0, 1)
        e = mean_interval(list(values), "gold")
        hits += e.low <= true_mean <= e.high
    assert 0.93 <= hits / trials <= 0.97


def test_the_review_rate_interval_is_wilsons():
    for k, n in ((0, 4), (3, 10), (10, 10), (47, 50)):
        ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        e = rate_interval(k, n)
        assert e.mean == k / n
        assert e.low == pytest.approx(ci.low, abs=1e-9) and e.high == pytest.approx(ci.high, abs=1e-9)
    assert rate_interval(0, 0).mean is None
    with pytest.raises(ValueError):
        rate_interval(5, 4)


def test_gold_outweighs_agreement_and_one_score_is_not_certainty():
    one = mean_interval([1.0], "gold")
    assert (one.low, one.high) == (0.0, 1.0)
    # readers who agree at 0.99 while gold says 0.80: the combined estimate sides with gold
    c = combine([0.80, 0.81, 0.79, 0.80, 0.82], [0.99] * 5)
    assert abs(c.mean - 0.80) < abs(c.mean - 0.99)
    assert combine([], []).mean is None
    with pytest.raises(ValueError):
        Score(1.2, "t")


def test_each_source_is_shown_and_the_trend_follows_time():
    acc = accuracy("ann", 3, [Score(0.9, "2026-01-02"), Score(0.7, "2026-01-01")], [Score(0.8, "2026-01-03")],
                   approved=4, reviewed=5)
    js = acc.as_json()
    assert js["gold"]["n"] == 2 and js["agreement"]["n"] == 1 and js["review"]["mean"] == 0.8
    assert [round(v, 4) for _, v in acc.trend] == [0.7, 0.8, 0.8]
    assert acc.estimate.low <= acc.estimate.mean <= acc.estimate.high


def _careful(n: int, when: str = "t") -> dict:
    return {1: accuracy("a", 1, [Score(0.95 + 0.002 * (i % 3), f"{when}{i}") for i in range(n)], [])}


def test_trust_needs_enough_gold_since_the_last_failure_and_every_label():
    policy = ReviewPolicy(min_gold=5, min_accuracy=0.9, review_rate=0.1)
    assert trusted(policy, _careful(5), 5, {1})[0]
    ok, why = trusted(policy, _careful(5), 4, {1})
    assert not ok and "4 of 5" in why
    ok, why = trusted(policy, _careful(5), 5, {1, 2})
    assert not ok and "label 2" in why
    sloppy = {1: accuracy("s", 1, [Score(v, f"t{i}") for i, v in enumerate([0.95, 0.7, 0.95, 0.75, 0.95])], [])}
    ok, why = trusted(policy, sloppy, 5, {1})
    assert not ok and "lower bound" in why  # a mean of 0.86 with a wide interval


def test_a_trusted_submission_is_sampled_for_review_at_the_set_rate():
    policy = ReviewPolicy(min_gold=5, min_accuracy=0.9, review_rate=0.2)
    rng = np.random.default_rng(1)
    decisions = [decide(policy, _careful(6), 6, {1}, float(rng.random())) for _ in range(2000)]
    reviewed = sum(not d.accepted for d in decisions) / len(decisions)
    assert 0.17 <= reviewed <= 0.23
    accepted = next(d for d in decisions if d.accepted)
    record = accepted.as_json()
    assert record["trusted"] and record["accuracy"]["1"]["low"] >= 0.9 and record["gold_since_failure"] == 6


def test_a_failed_gold_is_any_label_below_the_floor_and_settings_are_checked():
    policy = ReviewPolicy(fail_below=0.8)
    assert gold_failed(policy, {1: 0.95, 2: 0.79}) and not gold_failed(policy, {1: 0.95, 2: 0.8})
    for bad in ({"min_gold": 0}, {"review_rate": 1.5}, {"min_accuracy": -0.1}):
        with pytest.raises(InputError):
            ReviewPolicy(**bad)
