"""Prelabeler: the viewer's pre-label rules without a screen (offered structures, targets, refusal, merge)."""

from __future__ import annotations

import numpy as np
import pytest

from ctlabel import Prelabeler
from ctlabel.errors import InputError
from ctlabel.intake.synthetic import make_phantom
from ctlabel.io.labels import Label, LabelTable
from ctlabel.prelabel.run import PARAMETERS


@pytest.fixture(scope="module")
def phantom():
    """The phantom CT (a body of soft tissue, a 700 HU spine, air around) with body and bone labels added."""
    vol, mask, table = make_phantom(shape=(20, 64, 64))
    table = LabelTable((*table, Label(6, "body", "BODY", "#c8a080"), Label(7, "bone", "BONE", "#f0f0d0", "bone")))
    return vol, mask, table


def test_offered_are_the_structures_with_a_label(phantom):
    _, _, table = phantom
    assert Prelabeler.offered(table) == ("body", "bone")
    assert Prelabeler.offered(None) == Prelabeler.STRUCTURES == ("body", "lungs", "bone", "air")
    assert Prelabeler(table, ["bone", "body"]).targets == {"bone": (7,), "body": (6,)}
    with pytest.raises(InputError, match="no 'lung' label for structure 'lungs'.*offers: body, bone"):
        Prelabeler(table, ["lungs"])


def test_a_target_holding_voxels_is_refused(phantom):
    vol, _, table = phantom
    labeler = Prelabeler(table, ["bone"])
    labels = np.zeros(vol.shape, np.uint8)
    labeler.require_empty(labels)  # empty: allowed
    labels[5, 10, 10] = 7
    with pytest.raises(InputError, match=r"bone \(7\) already hold"):
        labeler.require_empty(labels)


def test_run_merge_and_methods(phantom):
    vol, mask, table = phantom
    labeler = Prelabeler(table, ["bone"])
    labels = np.where(mask == 1, 1, 0).astype(np.uint8)  # the annotator's liver
    before = labels.copy()
    steps = []
    out, written = labeler.run(vol.array, vol.spacing, labels, progress=lambda f, step: steps.append(step))
    assert np.array_equal(labels, before)  # the run works on a copy
    assert written == {7: "bone"} and steps[-1] == "done"
    spine = mask == 4
    bone = out == 7
    assert (bone & spine).sum() / spine.sum() > 0.9 and not (bone & (mask == 1)).any()  # the liver kept
    # the annotator paints on while it runs: a voxel of another label, where the pre-label wrote bone
    current = labels.copy()
    k, r, c = np.argwhere(bone)[0]
    current[k, r, c] = 2
    indices, values = labeler.changes(out, current)
    assert set(values.tolist()) == {7} and values.size == bone.sum() - 1  # only background voxels
    assert not any((idx == (k, r, c)).all() for idx in np.stack(indices, axis=1))
    assert labeler.methods(written) == {7: {"Kind": "automatic", "Name": "ctlabel.prelabel.bone",
                                            "Parameters": PARAMETERS["bone"]}}
    text = labeler.describe(written, int(values.size))
    assert text == f"Pre-labelled bone (bone): {values.size} voxel(s) — Ctrl+Z undoes it"
    assert labeler.describe({}, 0) == "Pre-label found nothing to write"
    current[k, r, c + 1] = 7  # the annotator painted the target label meanwhile: refused before writing
    with pytest.raises(InputError, match="already hold"):
        labeler.changes(out, current)
