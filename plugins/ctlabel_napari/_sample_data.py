"""Sample data: the 20-slice body CT shipped in the repository, and the synthetic phantom."""

from __future__ import annotations

from pathlib import Path

import ctlabel
from ctlabel import CaseError, Mask, load_series, make_phantom

from ._layers import empty_labels, image_layer_data, labels_layer_data


def sample_ct_path() -> Path:
    """``sample_data/totalseg_body_ct/dicom`` beside the ctlabel package (a source checkout or editable install).

    A real abdomen CT (20 axial slices, 512 x 512, TotalSegmentator's example, Apache-2.0):
    liver, spleen, aorta and spine are in view, so the default label table applies.
    """
    p = Path(ctlabel.__file__).resolve().parents[1] / "sample_data" / "totalseg_body_ct" / "dicom"
    if not p.is_dir():
        raise CaseError("the sample CT is not installed (it ships in the source repository)", p)
    return p


def sample_ct() -> list:
    """The sample body CT (HU) and an empty labels layer with the default label table."""
    volume = load_series(sample_ct_path())
    return [
        image_layer_data(volume, "sample body CT", source=str(sample_ct_path())),
        labels_layer_data(empty_labels(volume.grid), volume.grid, "sample body CT labels"),
    ]


def phantom() -> list:
    """The phantom image, its ground-truth masks (with names and colours) and an empty layer to paint."""
    volume, mask, table = make_phantom()
    truth = Mask(mask, volume.affine, None, None)
    gt = labels_layer_data(mask, volume.grid, "phantom ground truth", table=table, mask=truth)
    gt[1]["visible"] = False
    return [
        image_layer_data(volume, "phantom"),
        gt,
        labels_layer_data(empty_labels(volume.grid), volume.grid, "phantom labels", table=table),
    ]
