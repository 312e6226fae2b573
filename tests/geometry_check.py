"""The geometry proof used by the tests: every DICOM pixel centre lands on its NIfTI voxel.

Independent of ctlabel's reader: positions and values come straight from pydicom,
the NIfTI is read with nibabel.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pydicom

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


def dicom_frames(path):
    """Yield (IPP, IOP, PixelSpacing, HU array) for every frame of a DICOM file."""
    ds = pydicom.dcmread(path)
    arr = ds.pixel_array
    if "PerFrameFunctionalGroupsSequence" in ds:
        shared = ds.SharedFunctionalGroupsSequence[0]
        for f, group in enumerate(ds.PerFrameFunctionalGroupsSequence):
            def pick(seq, key, group=group):
                for g in (group, shared):
                    if seq in g and key in g[seq][0]:
                        return g[seq][0][key].value
                return None
            slope = float(pick("PixelValueTransformationSequence", "RescaleSlope") or 1)
            icpt = float(pick("PixelValueTransformationSequence", "RescaleIntercept") or 0)
            yield (pick("PlanePositionSequence", "ImagePositionPatient"),
                   pick("PlaneOrientationSequence", "ImageOrientationPatient"),
                   pick("PixelMeasuresSequence", "PixelSpacing"), arr[f] * slope + icpt)
    else:
        slope, icpt = float(ds.get("RescaleSlope", 1)), float(ds.get("RescaleIntercept", 0))
        yield ds.ImagePositionPatient, ds.ImageOrientationPatient, ds.PixelSpacing, arr * slope + icpt


def check_pixel_centres(nifti_path, dicom_files, tol_voxel=0.01, tol_hu=1e-3, padded=()) -> int:
    """Assert every pixel centre maps to an integer voxel holding its HU; return pixels checked.

    Every NIfTI slice must come from a DICOM frame, except the ``padded`` ones.
    """
    img = nib.load(str(nifti_path))
    data = np.asanyarray(img.dataobj)
    inv = np.linalg.inv(img.affine)
    checked = 0
    seen_k = set()
    for path in dicom_files:
        for ipp, iop, ps, hu in dicom_frames(path):
            ipp, iop, ps = (np.asarray(v, dtype=float) for v in (ipp, iop, ps))
            rows, cols = hu.shape
            r, c = np.mgrid[0:rows, 0:cols]
            lps = ipp[None, None] + c[..., None] * ps[1] * iop[:3] + r[..., None] * ps[0] * iop[3:]
            ras = lps @ LPS_TO_RAS.T
            ijk = ras @ inv[:3, :3].T + inv[:3, 3]
            idx = np.round(ijk).astype(int)
            err = np.abs(ijk - idx).max()
            assert err < tol_voxel, f"{path}: pixel centres miss the voxel grid by {err:.4f} voxel"
            for ax in range(3):
                assert idx[..., ax].min() >= 0 and idx[..., ax].max() < data.shape[ax], f"{path}: outside the grid"
            ks = set(np.unique(idx[..., 2]).tolist())
            assert len(ks) == 1, f"{path}: one slice spreads over several k"
            seen_k |= ks
            got = data[idx[..., 0], idx[..., 1], idx[..., 2]]
            assert np.allclose(got, hu, atol=tol_hu), f"{path}: voxel values differ from the DICOM pixels"
            checked += hu.size
    assert not seen_k & set(padded), "a DICOM frame landed on a padded slice"
    assert len(seen_k) + len(padded) == data.shape[2], "not every NIfTI slice came from a DICOM frame"
    return checked
