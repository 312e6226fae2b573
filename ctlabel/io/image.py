"""Save and load CT images (``ct.nii.gz`` + ``ct.json``)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from ctlabel.deid import clean_description
from ctlabel.errors import ProvenanceError
from ctlabel.io.atomic import write_json
from ctlabel.io.nifti import read_nifti, write_nifti
from ctlabel.io.provenance import (
    SCHEMA_VERSION,
    event,
    geometry_record,
    now_utc,
    pseudonymize_source,
    read_sidecar,
    sidecar_path,
    software,
)
from ctlabel.volume import SourceIdentity, Volume


def source_record(source: SourceIdentity | None, *, pseudonymize_salt: str | None = None) -> dict | None:
    """The ``Source`` block of ``ct.json``, de-identified by PS3.15 Annex E (``docs/deidentification.md``).

    UIDs are kept (Retain UIDs Option) unless ``pseudonymize_salt`` is given. The series
    description is cleaned (Clean Descriptors Option, :func:`ctlabel.deid.clean_description`)
    unless a conversion batch already decided it (:class:`ctlabel.deid.DescribedSource`, which
    also carries ``--keep-descriptions`` and a burned-in-text flag).
    """
    if source is None:
        return None
    if pseudonymize_salt:
        source = pseudonymize_source(source, pseudonymize_salt)
    cleaned = getattr(source, "descriptions_cleaned", True)
    burned_in = getattr(source, "burned_in", "")
    src = source.to_dict()
    if cleaned:
        src["SeriesDescription"] = clean_description(src.get("SeriesDescription") or "")
    src["UIDsPseudonymized"] = bool(pseudonymize_salt)
    src["DescriptionsCleaned"] = bool(cleaned)
    if burned_in:
        src["BurnedInText"] = burned_in
        src["Warnings"] = [f"burned_in_text: {burned_in}; check the image before sharing it"]
    return src


def image_provenance(volume: Volume, *, pseudonymize_salt: str | None = None) -> dict:
    """The provenance record of an image converted from DICOM (its ``Source`` by :func:`source_record`)."""
    src = source_record(volume.source, pseudonymize_salt=pseudonymize_salt)
    t = now_utc()
    return {
        "SchemaVersion": SCHEMA_VERSION,
        "Kind": "image",
        "Software": software(),
        "Created": t,
        "Modified": t,
        "Description": "CT volume converted from DICOM by ctlabel, HU, acquisition grid (not reoriented)",
        "Geometry": geometry_record(volume.shape, volume.affine, volume.warnings, volume.slice_positions_mm,
                                    volume.missing_slices),
        "VoxelSHA256": volume.voxel_hash(),
        "DataType": str(volume.array.dtype),
        "Units": "HU",
        "Source": src,
        "Events": [event("ctlabel", "system", "converted")],
    }


def save_image(path: str | os.PathLike, volume: Volume, *, pseudonymize_salt: str | None = None) -> dict:
    """Write a volume as NIfTI (qform and sform set) with its JSON sidecar, atomically.

    Parameters
    ----------
    path : str or PathLike
        ``.nii.gz`` (or ``.nii``) destination; the sidecar goes beside it as ``.json``.
    volume : Volume
        The image to write.
    pseudonymize_salt : str, optional
        Replace every UID in the provenance by a salted hash.

    Returns
    -------
    dict
        The provenance record written.
    """
    record = image_provenance(volume, pseudonymize_salt=pseudonymize_salt)
    write_nifti(path, volume.array, volume.affine, extension=record, descrip="ctlabel CT (HU)")
    write_json(sidecar_path(path), record)
    return record


def load_image(path: str | os.PathLike) -> Volume:
    """Load a NIfTI image (ctlabel's or another tool's) as a :class:`Volume`.

    When a ctlabel sidecar lies beside it, the source identity and warnings come back too.
    """
    data = read_nifti(path)
    side = sidecar_path(path)
    missing: tuple[int, ...]
    source, warnings, positions, missing = None, [], None, ()
    if Path(side).exists():
        record = read_sidecar(side)
        if record.get("Source"):
            try:
                source = SourceIdentity.from_dict(record["Source"])
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise ProvenanceError(f"the image's Source is not valid ({type(exc).__name__}: {exc})",
                                      side) from None
            if len(source.slices) != data.array.shape[0]:
                source = replace(source, slices=())
        warnings = list(record["Geometry"].get("Warnings", []))
        positions = record["Geometry"].get("SlicePositionsMM")
        missing = tuple(int(k) for k in record["Geometry"].get("MissingSlices", []))
    return Volume(data.array, data.affine, source, warnings,
                  None if positions is None else np.asarray(positions), missing)
