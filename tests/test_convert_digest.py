"""The voxel hash computed while a series is read (``load_series(digest=True)``, used by convert).

It must equal :func:`ctlabel.volume.voxel_hash` of the volume that comes out, whatever the
reading threads' order, and must never be used once it could be stale (the array or affine
replaced or made writable again, a slice dropped or padded, the float32 re-read).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

from ctlabel.dicom import read as dicom_read
from ctlabel.dicom.read import load_series
from ctlabel.errors import DicomReadError
from ctlabel.intake.convert import convert
from ctlabel.intake.synthetic import SeriesSpec, write_dicom_series
from ctlabel.io.nifti import read_nifti
from ctlabel.volume import voxel_hash
from tests.data_paths import PHILIPS_5MM


def _series(folder: Path, n: int = 9, positions=None) -> Path:
    rng = np.random.default_rng(3)
    hu = rng.integers(-1000, 1500, size=(n, 24, 20)).astype(np.int16)
    write_dicom_series(folder, hu, SeriesSpec(spacing=(1.5, 0.8, 0.7), positions=positions))
    return folder


@pytest.mark.parametrize("threads", [1, 3])
def test_hash_kept_while_reading_is_the_volume_hash(tmp_path, monkeypatch, threads):
    monkeypatch.setattr(dicom_read, "LOAD_THREADS", threads)
    for src in (_series(tmp_path / "synthetic", n=12), PHILIPS_5MM):  # native 16 bits; JPEG-LS via pydicom
        plain = load_series(src)
        vol = load_series(src, digest=True)
        assert np.array_equal(vol.array, plain.array) and vol.source == plain.source
        assert vol._digest is not None  # computed while reading, not by a second pass
        assert vol.voxel_hash() == voxel_hash(plain.array, plain.affine)
        assert not vol.array.flags.writeable and not vol.affine.flags.writeable


def test_kept_hash_is_not_used_once_it_could_be_stale(tmp_path):
    vol = load_series(_series(tmp_path / "s"), digest=True)
    kept = vol.voxel_hash()
    other = dataclasses.replace(vol, array=vol.array + np.int16(1))
    assert other.voxel_hash() == voxel_hash(other.array, other.affine) != kept
    moved = dataclasses.replace(vol, affine=vol.affine + np.eye(4))
    assert moved.voxel_hash() == voxel_hash(moved.array, moved.affine) != kept
    vol.array.flags.writeable = True  # the caller took the array back: its hash is computed again
    vol.array[0, 0, 0] += 1
    assert vol.voxel_hash() == voxel_hash(vol.array, vol.affine) != kept


def test_no_hash_kept_when_the_volume_is_not_the_array_read(tmp_path):
    # a missing slice: the volume is padded, so its shape is not the one hashed
    positions = np.array([[0.0, 0.0, 1.5 * k] for k in (0, 1, 2, 4, 5)])
    vol = load_series(_series(tmp_path / "gap", n=5, positions=positions), digest=True)
    assert vol.missing_slices == (3,)
    assert vol._digest is None and vol.array.flags.writeable
    assert vol.voxel_hash() == voxel_hash(vol.array, vol.affine)
    # stored values whose rescale does not fit int16: read again as float32
    folder = _series(tmp_path / "big")
    first = sorted(folder.iterdir())[0]
    ds = pydicom.dcmread(first)
    ds.RescaleIntercept = 40000
    ds.save_as(first)
    vol = load_series(folder, digest=True)
    assert vol.array.dtype == np.float32
    assert vol._digest is None
    assert vol.voxel_hash() == voxel_hash(vol.array, vol.affine)


def test_convert_records_the_hash_of_the_written_voxels(tmp_path):
    report = convert([_series(tmp_path / "s", n=12)], tmp_path / "out", jobs=1, progress=False)
    case = Path(report.converted[0]["case"])
    record = json.loads((case / "ct.json").read_text())
    image = read_nifti(case / "ct.nii.gz")
    assert record["VoxelSHA256"] == voxel_hash(image.array, image.affine)
    assert image.extension_json["VoxelSHA256"] == record["VoxelSHA256"]


def test_a_slice_read_in_place_that_ends_early_is_refused(tmp_path):
    folder = _series(tmp_path / "s")
    victim = sorted(folder.iterdir())[4]
    victim.write_bytes(victim.read_bytes()[:-100])
    with pytest.raises(DicomReadError, match="truncated") as err:
        load_series(folder)
    assert err.value.path == str(victim)
