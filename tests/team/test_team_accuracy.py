"""Annotator accuracy read from the team database (ctlabel.team.accuracy): the three sources as planted,
the estimator of ctlabel.measure.accuracy, the threshold and who falls below it. SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from accuracy_plant import T0, plant
from team_helpers import make_project

from ctlabel.measure.accuracy import accuracy
from ctlabel.team import accuracy as team_accuracy
from ctlabel.team.errors import Invalid


def test_accuracy_from_planted_gold_agreement_and_reviews(tmp_path, db_url):
    svc = make_project(tmp_path / "p", db_url)
    plan = plant(svc, seed=3)
    got = team_accuracy.annotator_accuracy(svc)
    labels = team_accuracy.project_labels(svc)
    assert labels and 1 in labels
    assert set(got) == {"ann0", "ann1", "ann2"}  # the reviewer measured nothing
    for who, per in got.items():
        approved, reviewed = plan.reviews.get(who, (0, 0))
        expected_labels = {lab for (w, lab) in (*plan.gold, *plan.agreement) if w == who}
        if reviewed:
            expected_labels |= set(labels)
        assert set(per) == expected_labels
        for lab, acc in per.items():
            want = accuracy(who, lab, plan.gold.get((who, lab), []), plan.agreement.get((who, lab), []),
                            approved=approved, reviewed=reviewed)
            assert acc == want
    # each source as planted
    assert got["ann0"][1].agreement.n == 3 and got["ann2"][1].agreement.n == 0
    assert got["ann0"][1].review.n == 4 and got["ann0"][1].review.mean == pytest.approx(0.75)
    assert got["ann1"][1].review.n == 2 and got["ann1"][1].review.mean == pytest.approx(0.5)
    assert got["ann2"][1].gold.n == 4 and got["ann2"][1].review.n == 0

    # one annotator: the same figures; an unknown name: nothing
    assert team_accuracy.annotator_accuracy(svc, "ann1") == {"ann1": got["ann1"]}
    assert team_accuracy.annotator_accuracy(svc, "nobody") == {}
    # before a time: only what was measured and decided before it
    early = team_accuracy.annotator_accuracy(svc, "ann0", until=T0 + dt.timedelta(minutes=2))
    assert early["ann0"][1].gold.n == 1 and early["ann0"][1].review.n == 0


def test_threshold_and_who_is_below(tmp_path, db_url):
    svc = make_project(tmp_path / "p", db_url)
    plant(svc, seed=1)
    accs = team_accuracy.annotator_accuracy(svc)
    assert team_accuracy.threshold(svc) is None and team_accuracy.below(accs, None) == []
    assert team_accuracy.set_threshold(svc, 0.7, by="lead") == 0.7
    assert team_accuracy.threshold(svc) == 0.7
    low = team_accuracy.below(accs, team_accuracy.threshold(svc))
    assert {(b.annotator, b.label) for b in low} == {(w, lab) for w, per in accs.items() for lab, a in per.items()
                                                   if a.estimate.mean is not None and a.estimate.mean < 0.7}
    assert {b.annotator for b in low} == {"ann2"}  # planted around 0.6; the others around 0.8 and 0.9
    with pytest.raises(Invalid):
        team_accuracy.set_threshold(svc, 1.5)
    assert team_accuracy.set_threshold(svc, None) is None and team_accuracy.threshold(svc) is None


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_one_annotator_among_300_is_read_fast(tmp_path, db_url):
    svc = make_project(tmp_path / "p", db_url)
    names = tuple(f"a{i:03d}" for i in range(300))
    plant(svc, seed=0, annotators=names, n_gold=10)  # 10 gold cases x 2 labels: 20 scores each
    t = time.perf_counter()
    everyone = team_accuracy.annotator_accuracy(svc)
    t_all = time.perf_counter() - t
    t = time.perf_counter()
    one = team_accuracy.annotator_accuracy(svc, "a150")
    t_one = time.perf_counter() - t
    assert len(everyone) == 300 and one == {"a150": everyone["a150"]}
    assert everyone["a150"][1].gold.n == 10
    print(f"accuracy of 300 annotators x 20 scores: all {t_all * 1000:.1f} ms, one {t_one * 1000:.1f} ms")
    assert t_one < 0.5


def test_the_accuracy_command(tmp_path, capsys):
    from ctlabel.cli.main import main

    svc = make_project(tmp_path / "p", None)
    project = str(svc.root)

    def cli(*argv) -> tuple[int, str]:
        capsys.readouterr()
        rc = main(list(argv))
        got = capsys.readouterr()
        return rc, got.out if rc == 0 else got.out + got.err

    rc, text = cli("team", "accuracy", project)
    assert rc == 0 and "no accuracy measured yet" in text
    plant(svc, seed=2)
    accs = team_accuracy.annotator_accuracy(svc)
    rc, text = cli("team", "accuracy", project, "--threshold", "0.7", "--json")
    data = json.loads(text)
    assert rc == 0 and data["threshold"] == 0.7 and team_accuracy.threshold(svc) == 0.7
    assert [(r["annotator"], r["label"]) for r in data["accuracy"]] == sorted(
        ((w, lab) for w, per in accs.items() for lab in per),
        key=lambda k: (accs[k[0]][k[1]].estimate.mean is None, accs[k[0]][k[1]].estimate.mean or 0, k))
    for r in data["accuracy"]:
        assert {k: r[k] for k in ("estimate", "gold", "agreement", "review", "trend")} == \
            {k: v for k, v in accs[r["annotator"]][r["label"]].as_json().items() if k not in ("annotator", "label")}
    assert {(b["annotator"], b["label"]) for b in data["below"]} == \
        {(b.annotator, b.label) for b in team_accuracy.below(accs, 0.7)} != set()
    rc, text = cli("team", "accuracy", project, "--user", "ann2")
    lines = text.splitlines()
    assert rc == 0 and lines[0] == "threshold: 0.7" and all(" BELOW" in ln for ln in lines[2:] if "ann2" in ln
                                                             and not ln.split()[3].startswith("-"))
    assert not any(ln.startswith("ann0") for ln in lines)
    rc, text = cli("team", "accuracy", project, "--threshold", "2")
    assert rc == 1 and "(0, 1]" in text and "--threshold" in text
    rc, text = cli("team", "accuracy", project, "--threshold", "off", "--json")
    assert rc == 0 and json.loads(text)["threshold"] is None and json.loads(text)["below"] == []
