"""Finding the source DICOM of a case (a folder or a DICOMweb server) and de-identified copies for a SEG."""

from __future__ import annotations

import functools
import json
import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ctlabel.case.folder import Case
from ctlabel.errors import DicomReadError, InputError
from ctlabel.volume import pixel_hash

# --- The source DICOM ---


def _read(path: Path, pixels: bool) -> Any:
    import pydicom

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pydicom.dcmread(os.fspath(path), stop_before_pixels=not pixels)
    except Exception as exc:  # noqa: BLE001 - pydicom raises many kinds on bad bytes
        raise DicomReadError(f"cannot read the DICOM file ({type(exc).__name__}: {exc})", path) from None


def _hash(ds: Any, where: Any) -> str:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pixel_hash(ds.pixel_array)
    except Exception as exc:  # noqa: BLE001 - decoders raise many kinds
        raise DicomReadError(f"cannot decode the pixel data ({type(exc).__name__}: {exc})", where) from None


def _folder_items(folder: Path) -> Iterator[tuple[Path, Any, Callable[[], Any]]]:
    """(file, header, read with pixels) for every DICOM file under ``folder`` (index files skipped)."""
    if not folder.is_dir():
        raise InputError("the source DICOM must be a folder holding the series", folder, options=("dicom",))
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(n for n in names if not n.startswith(".") and n.upper() not in ("DICOMDIR", "DIRFILE")):
            path = Path(root) / name
            try:
                head = _read(path, pixels=False)
            except DicomReadError:
                continue  # not DICOM: licence files, notes
            yield path, head, functools.partial(_read, path, pixels=True)


def _retrieved_items(block: dict, where: Path) -> Iterator[tuple[str, Any, Callable[[], Any]]]:
    """The series named by a ``Retrieve`` block, fetched with dicomweb-client (WADO-RS)."""
    try:
        from dicomweb_client.api import DICOMwebClient
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("dicomweb_client"):  # a broken install elsewhere: do not hide it
            raise
        raise InputError("the case names a DICOMweb source (Retrieve) but dicomweb-client is not installed "
                         "(pip install dicomweb-client); or give the source files", where, options=("dicom",)) from None
    url = str(block.get("URL"))
    try:
        datasets = DICOMwebClient(url=url).retrieve_series(study_instance_uid=str(block["StudyInstanceUID"]),
                                                           series_instance_uid=str(block["SeriesInstanceUID"]))
    except Exception as exc:  # noqa: BLE001 - HTTP and parsing errors of many kinds
        raise InputError(f"cannot retrieve the source series from {url} ({type(exc).__name__}: {exc}); "
                         "give the source files", where, options=("dicom",)) from None
    for ds in datasets:
        def loaded(ds: Any = ds) -> Any:
            return ds
        yield url, ds, loaded


def match_sources(items: Iterable[tuple[Any, Any, Callable[[], Any]]], slices: list[dict | None], by_hash: bool,
                  grid_shape: tuple, no_uid: list | None = None) -> dict[int, Any]:
    """Case slice index -> its source data set (pixel data dropped).

    By SOPInstanceUID (the pixel hash is then checked), or, for a pseudonymized case
    (``by_hash``), by ``PixelSHA256`` and the recorded ImagePositionPatient. Images of the grid's
    size that carry no SOPInstanceUID are appended to ``no_uid`` (where they came from).
    """
    want = {s["SOPInstanceUID"]: k for k, s in enumerate(slices) if s}
    found: dict[int, Any] = {}
    for where, head, load in items:
        if (int(head.get("Rows", 0)), int(head.get("Columns", 0))) != tuple(grid_shape[1:]) or \
                int(head.get("NumberOfFrames", 1) or 1) != 1:
            continue
        if not str(head.get("SOPInstanceUID", "") or ""):
            if no_uid is not None:
                no_uid.append(where)
            continue
        k = None if by_hash else want.get(str(head.SOPInstanceUID))
        if not by_hash and (k is None or k in found):
            continue
        ds = load()
        digest = _hash(ds, where)
        if by_hash:
            ipp = np.asarray([float(v) for v in ds.get("ImagePositionPatient", [np.nan] * 3)])
            k = next((j for j, s in enumerate(slices) if s and j not in found and s.get("PixelSHA256") == digest
                      and np.allclose(ipp, s["ImagePositionPatient"], atol=1e-3)), None)
            if k is None:
                continue
        else:
            assert k is not None  # found in want above
            recorded = slices[k]
            assert recorded is not None  # want holds only slices with a record
            if recorded.get("PixelSHA256") not in (None, digest):
                raise InputError(f"this file has the SOPInstanceUID of case slice {k} but other pixels than were "
                                 "converted (PixelSHA256 differs); ctlabel will not reference it", where)
        del ds.PixelData
        found[k] = ds
    return found


def source_datasets(case: Case, source: dict, shape: tuple, dicom: str | os.PathLike | None) -> tuple[dict, str]:
    """The source data set of every acquired slice, and how they were matched.

    From ``dicom``, else from the ``Retrieve`` block of ``ct.json`` (``Source.Retrieve``) or of
    ``retrieve.json`` (written by ``ctlabel pull``). A case with pseudonymized UIDs needs ``dicom``.
    """
    slices = source["Slices"]
    pseudonymized = bool(source.get("UIDsPseudonymized"))
    retrieve = source.get("Retrieve")
    if retrieve is None and (case.root / "retrieve.json").is_file():
        retrieve = json.loads((case.root / "retrieve.json").read_text(encoding="utf-8")).get("Retrieve")
    where: Path = case.image_sidecar
    no_uid: list = []
    if dicom is not None:
        where = Path(dicom)
        files = match_sources(_folder_items(where), slices, pseudonymized, shape, no_uid)
        how = "PixelSHA256" if pseudonymized else "SOPInstanceUID"
    elif pseudonymized:
        raise InputError("the case's UIDs were pseudonymized (Source.UIDsPseudonymized), so they name no archive "
                         "instance; give the source files, which are then matched by pixel hash", where,
                         options=("dicom",))
    elif isinstance(retrieve, dict):
        files, how = match_sources(_retrieved_items(retrieve, where), slices, False, shape), "Retrieve"
    else:
        raise InputError("the SEG must reference the source DICOM: give the folder holding the series (the case "
                         "names no Retrieve source to pull it from)", where, options=("dicom",))
    real = [k for k, s in enumerate(slices) if s]
    missing = [k for k in real if k not in files]
    if missing:
        raise InputError(_missing_message(missing, real, slices, pseudonymized, no_uid), where)
    return files, how


def _missing_message(missing: list[int], real: list[int], slices: list, pseudonymized: bool, no_uid: list) -> str:
    """Which source instances were not found, by which UID, and which files named none."""
    more = " ..." if len(missing) > 10 else ""
    if pseudonymized:
        text = (f"{len(missing)} of {len(real)} source instances not found by pixel hash and position "
                f"(case slices {missing[:10]}{more})")
    else:
        uids = ", ".join(f"slice {k}: {slices[k]['SOPInstanceUID']}" for k in missing[:10])
        text = f"{len(missing)} of {len(real)} source instances not found by SOPInstanceUID ({uids}{more})"
    if no_uid:
        names = ", ".join(Path(str(w)).name for w in no_uid[:10]) + (" ..." if len(no_uid) > 10 else "")
        text += f"; {len(no_uid)} image file(s) of this size have no SOPInstanceUID: {names}"
    return text


# --- De-identification ---

#: Kept from a source image under ``deidentify``: geometry and image description only.
_KEEP = ("SOPClassUID", "Modality", "Rows", "Columns", "PixelSpacing", "ImageOrientationPatient",
         "ImagePositionPatient", "SliceThickness", "SpacingBetweenSlices", "Manufacturer", "SpecificCharacterSet")
#: The patient and study attributes written under ``deidentify`` (PS3.15 Annex E, dummies / empty).
_DUMMIES = {"PatientName": "ANONYMOUS^", "PatientID": "ANONYMOUS", "PatientBirthDate": "", "PatientSex": "",
            "AccessionNumber": "", "StudyID": "", "StudyDate": "", "StudyTime": "", "ReferringPhysicianName": ""}


def deidentified_sources(sources: list[Any], uids: list[dict[str, str]]) -> list[Any]:
    """Minimal copies of the source data sets: geometry, dummy patient/study values, the given UIDs.

    Only the attributes listed in ``_KEEP`` survive, so names, IDs, dates, institution,
    physicians, descriptions and private tags never reach the SEG.
    """
    # TODO: use ctlabel.deid once it de-identifies whole data sets (today it cleans descriptions only).
    from pydicom.dataset import Dataset

    out = []
    for ds, uid in zip(sources, uids, strict=True):
        new = Dataset()
        for kw in _KEEP:
            if kw in ds:
                setattr(new, kw, ds.data_element(kw).value)
        for kw, value in {**_DUMMIES, **uid}.items():
            setattr(new, kw, value)
        out.append(new)
    return out


def _deidentified_uids(source: dict, slices: list, real: list[int], files: dict, salt: str) -> list[dict]:
    """Pseudonymized UIDs per referenced slice: the case's own when it was converted pseudonymized."""
    from ctlabel.io.provenance import pseudonymize_uid

    keys = ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID", "SOPInstanceUID")
    out = [{kw: pseudonymize_uid(str(files[k].get(kw, "")), salt) for kw in keys} for k in real]
    if source.get("UIDsPseudonymized"):  # the case's pseudonyms, so that the SEG fits the de-identified case
        for uid, k in zip(out, real, strict=True):
            uid.update({kw: source[kw] for kw in keys[:3] if source.get(kw)})
            uid["SOPInstanceUID"] = slices[k]["SOPInstanceUID"]
    return out
