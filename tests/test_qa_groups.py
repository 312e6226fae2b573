"""QA findings grouped by check and label (ctlabel.qa.groups): on the real checks of a real mask."""

from __future__ import annotations

import numpy as np

from ctlabel import Finding
from ctlabel.intake.synthetic import make_phantom
from ctlabel.io.mask import Mask
from ctlabel.qa import check_mask
from ctlabel.qa.groups import describe_group, group_findings, summary_line


def _noisy_mask(n_islands: int, unknown: tuple[int, ...] = ()):
    """The phantom's label 1 plus ``n_islands`` single voxels of it, apart; a blob of each ``unknown`` value."""
    volume, mask, table = make_phantom(shape=(16, 64, 64))
    arr = np.zeros(volume.shape, np.uint8)
    arr[4:12, 20:40, 20:40] = 1  # the main part
    spots = [(z, r, c) for z in range(0, 16, 2) for r in range(0, 64, 2) for c in range(44, 64, 2)]
    for z, r, c in spots[:n_islands]:
        arr[z, r, c] = 1
    for i, value in enumerate(unknown):
        arr[2 + 4 * i: 4 + 4 * i, 2:6, 2:6] = value
    return Mask(arr, volume.affine, None), volume, table


def test_500_findings_fold_into_a_few_groups_errors_first():
    mask, volume, table = _noisy_mask(497, unknown=(200, 201, 202))
    findings = check_mask(mask, volume, table)
    islands = [f for f in findings if f.check == "small_island"]
    assert len(islands) == 497 and len([f for f in findings if f.level == "error"]) == 3
    groups = group_findings(findings)
    # one group per (check, label): three unknown labels, one label with its islands
    assert [(g.check, g.label) for g in groups][:3] == [("unknown_label", 200), ("unknown_label", 201),
                                                         ("unknown_label", 202)]
    assert [g.level for g in groups[:3]] == ["error"] * 3
    island_group = next(g for g in groups if g.check == "small_island")
    assert island_group.count == 497 and island_group.label == 1 and island_group.level == "warning"
    assert island_group.worst in island_group.findings and island_group.worst.slice is not None
    assert sorted(id(f) for g in groups for f in g.findings) == sorted(id(f) for f in findings)  # each once
    line = summary_line(groups)
    assert line == f"QA: 3 errors, {len(findings) - 3} warnings in {len(groups)} groups" and "\n" not in line
    text = describe_group(island_group)
    assert text.startswith("warning: small_island, label 1: 497 findings on ") and "e.g. slice" in text
    assert len(text) <= 160


def test_one_finding_and_none():
    mask, volume, table = _noisy_mask(1)
    findings = check_mask(mask, volume, table)
    assert [f.check for f in findings] == ["small_island"]
    (group,) = group_findings(findings)
    assert group.count == 1 and group.worst is findings[0]
    assert summary_line([group]) == "QA: 1 warning in 1 group"
    assert describe_group(group).startswith("warning: small_island, label 1: 1 finding; slice ")
    assert group_findings([]) == [] and summary_line([]) == "QA: no findings"


def test_a_group_takes_its_worst_level_and_an_example_of_it():
    warn = Finding("hole", "warning", "a warning", 3, 5, (5, 1, 1))
    err = Finding("hole", "error", "an error", 3, None, None)
    err_on_slice = Finding("hole", "error", "an error on a slice", 3, 9, (9, 1, 1))
    big = [Finding("small_island", "warning", f"island {i}", 2, i, (i, 0, 0)) for i in range(5)]
    groups = group_findings([warn, *big, err, err_on_slice])
    assert [(g.check, g.level, g.count) for g in groups] == [("hole", "error", 3), ("small_island", "warning", 5)]
    assert groups[0].worst is err_on_slice  # the worst level, and one that can be jumped to
    assert groups[0].findings[-1] is warn
    long = Finding("x", "warning", "y" * 400, None, None, None)
    assert len(describe_group(group_findings([long])[0], width=80)) == 80
