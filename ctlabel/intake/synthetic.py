"""Deterministic synthetic CT: a body phantom with known organ masks, and a DICOM series writer.

Used by the sample data, the tests and the benchmarks, so that data beyond the
shared real series can be generated instead of stored.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from ctlabel.geometry import LPS_TO_RAS
from ctlabel.io.labels import Label, LabelTable
from ctlabel.volume import Volume

PHANTOM_LABELS = LabelTable((
    Label(1, "liver", "LIV", "#b4643c", "soft_tissue"),
    Label(2, "kidney_left", "KIDL", "#dc8c3c", "soft_tissue"),
    Label(3, "kidney_right", "KIDR", "#e6a050", "soft_tissue"),
    Label(4, "spine", "SPN", "#f0f0dc", "bone"),
    Label(5, "lesion", "LES", "#e6dc32", "lesion"),
))


def _ellipsoid(shape, spacing, centre_mm, radii_mm):
    z, y, x = (np.arange(n, dtype=np.float32) * s for n, s in zip(shape, spacing))
    return (
        ((z[:, None, None] - centre_mm[0]) / radii_mm[0]) ** 2
        + ((y[None, :, None] - centre_mm[1]) / radii_mm[1]) ** 2
        + ((x[None, None, :] - centre_mm[2]) / radii_mm[2]) ** 2
    ) <= 1.0


def make_phantom(
    shape: tuple[int, int, int] = (60, 160, 160),
    spacing: tuple[float, float, float] = (2.5, 2.0, 2.0),
    noise_hu: float = 12.0,
    seed: int = 0,
) -> tuple[Volume, np.ndarray, LabelTable]:
    """An abdominal CT phantom with organ masks, the same for the same arguments.

    Parameters
    ----------
    shape : (int, int, int)
        (slices, rows, columns).
    spacing : (float, float, float)
        Voxel size in mm, (slice, row, column).
    noise_hu : float
        Standard deviation of Gaussian noise added to the HU values.
    seed : int
        Seed of the noise.

    Returns
    -------
    volume : Volume
        int16 HU on an axial, LPS-aligned grid centred on the origin.
    mask : numpy.ndarray
        uint8 labels of :data:`PHANTOM_LABELS`, same shape.
    labels : LabelTable
    """
    ext = np.array(shape) * np.array(spacing)
    c = ext / 2
    hu = np.full(shape, -1000.0, dtype=np.float32)
    body = _ellipsoid(shape, spacing, c, (ext[0] * 0.7, ext[1] * 0.33, ext[2] * 0.45))
    hu[body] = -90.0  # fat
    muscle = _ellipsoid(shape, spacing, c, (ext[0] * 0.7, ext[1] * 0.29, ext[2] * 0.41))
    hu[muscle] = 40.0
    mask = np.zeros(shape, dtype=np.uint8)
    # (label, centre and semi-axes as fractions of the extent, HU)
    organs = [
        (1, (0.58, 0.44, 0.33), (0.3, 0.14, 0.16), 60.0),
        (2, (0.5, 0.6, 0.67), (0.13, 0.06, 0.05), 30.0),
        (3, (0.46, 0.6, 0.33), (0.13, 0.06, 0.05), 30.0),
        (4, (0.5, 0.7, 0.5), (0.9, 0.05, 0.05), 700.0),
    ]
    for label, centre, radii, value in organs:
        m = _ellipsoid(shape, spacing, np.array(centre) * ext, np.array(radii) * ext) & muscle
        hu[m] = value
        mask[m] = label
    lesion = _ellipsoid(shape, spacing, (c[0] + ext[0] * 0.1, c[1] - ext[1] * 0.06, c[2] - ext[2] * 0.2),
                        (ext[0] * 0.06, ext[1] * 0.03, ext[2] * 0.03))
    hu[lesion] = 110.0
    mask[lesion] = 5
    rng = np.random.default_rng(seed)
    hu += rng.normal(0.0, noise_hu, size=shape).astype(np.float32)
    arr = np.clip(np.round(hu), -1024, 3071).astype(np.int16)
    lps = np.eye(4)
    lps[:3, 0] = [spacing[2], 0, 0]
    lps[:3, 1] = [0, spacing[1], 0]
    lps[:3, 2] = [0, 0, spacing[0]]
    lps[:3, 3] = -c[::-1]
    return Volume(arr, LPS_TO_RAS @ lps), mask, PHANTOM_LABELS


@dataclass
class SeriesSpec:
    """How :func:`write_dicom_series` writes a series: its geometry, identity and file names.

    Attributes
    ----------
    spacing : tuple of float
        (slice, row, column) mm.
    origin : tuple of float
        Position (LPS mm) of the first slice.
    orientation : tuple of float
        ImageOrientationPatient (row and column direction cosines).
    positions : numpy.ndarray, optional
        (n, 3) ImagePositionPatient of each slice, instead of ``origin`` and ``spacing[0]``.
    description : str
        SeriesDescription.
    series_number : int
        SeriesNumber.
    study_uid, series_uid : str, optional
        The UIDs (default: new ones).
    patient : dict, optional
        Patient attributes over the synthetic defaults.
    shuffle_names : bool
        Shuffle the file names, so that readers cannot rely on them.
    seed : int
        Seed of the shuffle.
    """

    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    orientation: tuple[float, ...] = (1, 0, 0, 0, 1, 0)
    positions: np.ndarray | None = None
    description: str = "synthetic"
    series_number: int = 1
    study_uid: str | None = None
    series_uid: str | None = None
    patient: dict | None = None
    shuffle_names: bool = True
    seed: int = 0


def write_dicom_series(folder: str | os.PathLike, hu: np.ndarray, spec: SeriesSpec | None = None) -> list[Path]:
    """Write a (slice, row, column) HU array as a CT Image Storage series.

    Stored values are HU + 1024 (uint16, intercept -1024). Slice ``k`` lies at
    ``origin + k * spacing[0] * normal`` unless ``positions`` (n, 3) is given.
    File names are shuffled (when ``shuffle_names``) so that readers cannot
    rely on them, and InstanceNumber runs backwards for the same reason.

    Parameters
    ----------
    folder : path
        Where the files go (made when missing).
    hu : numpy.ndarray
        (slice, row, column) HU.
    spec : SeriesSpec, optional
        Geometry, identity and file names (default: ``SeriesSpec()``).

    Returns
    -------
    list of pathlib.Path
        The files, in slice order.
    """
    spec = spec if spec is not None else SeriesSpec()
    spacing, positions, description, series_number = spec.spacing, spec.positions, spec.description, spec.series_number
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    n = hu.shape[0]
    iop = np.asarray(spec.orientation, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    if positions is None:
        positions = np.asarray(spec.origin, float)[None] + np.arange(n)[:, None] * spacing[0] * normal[None]
    study_uid = spec.study_uid or generate_uid()
    series_uid = spec.series_uid or generate_uid()
    frame_uid = generate_uid()
    patient = {"PatientName": "SYNTHETIC^PHANTOM", "PatientID": "SYNTH0001", **(spec.patient or {})}
    order = np.random.default_rng(spec.seed).permutation(n) if spec.shuffle_names else np.arange(n)
    paths = []
    for k in range(n):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        sop = generate_uid()
        meta.MediaStorageSOPInstanceUID = sop
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        path = folder / f"IM{order[k]:05d}.dcm"
        ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = sop
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = frame_uid
        ds.Modality = "CT"
        ds.SeriesDescription = description
        ds.SeriesNumber = series_number
        ds.InstanceNumber = n - k
        for key, value in patient.items():
            setattr(ds, key, value)
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.ImagePositionPatient = [f"{v:.6f}" for v in positions[k]]
        ds.ImageOrientationPatient = [f"{v:.6f}" for v in iop]
        ds.PixelSpacing = [f"{spacing[1]:.6f}", f"{spacing[2]:.6f}"]
        ds.SliceThickness = f"{spacing[0]:.6f}"
        ds.Rows, ds.Columns = int(hu.shape[1]), int(hu.shape[2])
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
        ds.PixelRepresentation = 0
        ds.RescaleIntercept = "-1024"
        ds.RescaleSlope = "1"
        ds.PixelData = (np.clip(hu[k].astype(np.int32) + 1024, 0, 4095)).astype("<u2").tobytes()
        pydicom.dcmwrite(path, ds, enforce_file_format=True)
        paths.append(path)
    return paths


def write_phantom_sample(out: str | os.PathLike) -> Path:
    """Write the phantom as a DICOM series (``out/dicom``), its ground-truth mask and label table."""
    from ctlabel.io.labels import write_label_table
    from ctlabel.io.mask import save_mask

    out = Path(out)
    volume, mask, labels = make_phantom()
    origin_lps = (LPS_TO_RAS @ volume.affine)[:3, 3]
    write_dicom_series(out / "dicom", volume.array, SeriesSpec(spacing=volume.spacing, origin=tuple(origin_lps),
                                                               description="synthetic phantom", series_number=1))
    save_mask(out / "ground_truth_dseg.nii.gz", mask, volume.grid, label_table=labels, annotator="synthetic")
    write_label_table(out / "labels.tsv", labels)
    return out
