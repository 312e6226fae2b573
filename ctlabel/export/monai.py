"""MONAI datalist: ``imagesTr/CASE.nii.gz``, ``labelsTr/CASE.nii.gz`` and ``datalist.json``.

``datalist.json`` is what ``monai.data.load_decathlon_datalist`` reads: ``training`` and
``validation`` lists of ``{"image": ..., "label": ...}`` with paths relative to the file
(MONAI's default ``base_dir``), plus the Decathlon keys ``labels`` (value -> name) and
``numTraining``. The validation cases are the first ``round(fraction x n)`` case ids in
the order of their SHA-256 (at least one when the fraction is above 0 and there are two
cases or more; at least one case always trains): deterministic by case name.
"""

from __future__ import annotations

from pathlib import Path

from ctlabel.export.dataset import hash_order
from ctlabel.export.manifest import write_index_json

NAME = "monai"
CONSECUTIVE = False
INDEX_FILES = ("datalist.json",)


def case_files(cid: str) -> dict[str, str]:
    """The files of one case, relative to OUT.

    Parameters
    ----------
    cid : str
        The case's export id.

    Returns
    -------
    dict of str to str
        Role (``image``, ``label``...) -> relative path.
    """
    return {"image": f"imagesTr/{cid}.nii.gz", "label": f"labelsTr/{cid}.nii.gz"}


def write_case_extra(out: Path, cid: str, files: dict, manifest: dict, entry: dict) -> None:
    """MONAI needs nothing beside the image and the label map."""


def validation_ids(ids: list[str], fraction: float) -> list[str]:
    """The case ids held out for validation (see the module docstring)."""
    n = len(ids)
    if fraction <= 0 or n < 2:
        return []
    n_val = min(max(1, round(fraction * n)), n - 1)
    return sorted(hash_order(ids)[:n_val])


def write_index(out: Path, manifest: dict, options: dict) -> tuple[list[str], list[str]]:
    """Write the MONAI datalist ``datalist.json`` (training and validation lists).

    Parameters
    ----------
    out : pathlib.Path
        The export folder.
    manifest : dict
        The export manifest.
    options : dict
        The export options, as recorded in the manifest (``ValidationFraction``).

    Returns
    -------
    written : list of str
        The index files written, relative to OUT.
    problems : list of str
        What could not be honoured (empty for MONAI).
    """
    entries = {e["Id"]: {"image": e["Files"]["image"], "label": e["Files"]["label"]} for e in manifest["Cases"]}
    val = set(validation_ids(list(entries), float(options.get("ValidationFraction") or 0.0)))
    training = [entries[i] for i in sorted(entries) if i not in val]
    validation = [entries[i] for i in sorted(entries) if i in val]
    datalist = {
        "name": out.name,
        "description": "CT label masks exported by ctlabel export-dataset; provenance per case in "
                       "ctlabel_manifest.json",
        "modality": {"0": "CT"},
        "labels": {v: d["Name"] for v, d in sorted(manifest["Labels"].items(), key=lambda x: int(x[0]))},
        "numTraining": len(training),
        "numValidation": len(validation),
        "training": training,
        "validation": validation,
    }
    written: list[str] = []
    write_index_json(out, "datalist.json", datalist, written)
    return written, []
