"""The text at the top of the Labeling widget: the case's state and the reviewer's last word, escaped."""

from __future__ import annotations

import numpy as np

from ctlabel.case import review
from ctlabel.case.folder import Case
from ctlabel.intake.synthetic import make_phantom


def test_the_header_shows_the_state_and_the_reviewers_last_comment(tmp_path):
    from ctlabel_napari._case_ui import case_header

    volume, _, table = make_phantom(shape=(8, 32, 32))
    case = Case.create(tmp_path / "case", volume, label_table=table)
    labels = np.zeros(volume.array.shape, np.uint8)
    labels[3, 10:20, 10:20] = 1
    review.save_draft(case, labels, volume.grid, "ann")
    review.submit(case, "ann", force=True)
    text = case_header(case)
    assert "submitted" in text and "awaits review" in text and "Reviewer" not in text
    review.reject(case, "rev", "the <b>edge</b> & the tip")
    text = case_header(case)
    assert "rejected" in text and "Reviewer rev rejected v001" in text
    assert "the &lt;b&gt;edge&lt;/b&gt; &amp; the tip" in text and "<b>edge" not in text
