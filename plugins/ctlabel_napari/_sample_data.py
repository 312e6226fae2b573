"""Sample data: the Philips 28-slice head CT shipped in the repository, and the synthetic phantom."""

from __future__ import annotations

from pathlib import Path

import ctlabel
from ctlabel.dicom_read import load_series
from ctlabel.errors import CaseError
from ctlabel.mask_io import Mask
from ctlabel.synthetic import make_phantom

from ._layers import empty_labels, image_layer_data, labels_layer_data


def sample_ct_path() -> Path:
    """``sample_data/philips_ct_5mm`` beside the ctlabel package (a source checkout or editable install)."""
    p = Path(ctlabel.__file__).resolve().parents[1] / "sample_data" / "philips_ct_5mm"
    if not p.is_dir():
        raise CaseError("the sample CT is not installed (it ships in the source repository)", p)
    return p


def sample_ct() -> list:
    volume = load_series(sample_ct_path())
    return [
        image_layer_data(volume, "sample CT", source=str(sample_ct_path())),
        labels_layer_data(empty_labels(volume.grid), volume.grid, "sample CT labels"),
    ]


def phantom() -> list:
    """The phantom image, its ground-truth masks (with names and colours) and an empty layer to paint."""
    volume, mask, table = make_phantom()
    truth = Mask(mask, volume.affine, {}, None)
    gt = labels_layer_data(mask, volume.grid, "phantom ground truth", table=table, mask=truth)
    gt[1]["visible"] = False
    return [
        image_layer_data(volume, "phantom"),
        gt,
        labels_layer_data(empty_labels(volume.grid), volume.grid, "phantom labels", table=table),
    ]
