"""nnU-Net v2 raw dataset: ``imagesTr/CASE_0000.nii.gz``, ``labelsTr/CASE.nii.gz``, ``dataset.json``.

``dataset.json`` holds ``channel_names`` (``{"0": "CT"}``, which selects nnU-Net's CT
normalisation), ``labels`` (name -> value, ``background`` 0, values consecutive),
``numTraining`` and ``file_ending`` ``.nii.gz``. ``--split K`` adds ``splits_final.json``:
K folds, each ``{"train": [...], "val": [...]}``, case ids dealt round-robin in the order
of their SHA-256 (deterministic, whatever order the cases were found in).
"""

from __future__ import annotations

from pathlib import Path

from ctlabel.export.dataset import hash_order
from ctlabel.export.manifest import write_index_json

NAME = "nnunet"
#: nnU-Net requires the label values 0..n without gaps.
CONSECUTIVE = True
INDEX_FILES = ("dataset.json", "splits_final.json")
FILE_ENDING = ".nii.gz"


def case_files(cid: str) -> dict[str, str]:
    """The files of one case, relative to OUT."""
    return {"image": f"imagesTr/{cid}_0000{FILE_ENDING}", "label": f"labelsTr/{cid}{FILE_ENDING}"}


def write_case_extra(out: Path, cid: str, files: dict, manifest: dict, entry: dict) -> None:
    """nnU-Net needs nothing beside the image and the label map."""


def splits(ids: list[str], k: int) -> list[dict]:
    """K folds over ``ids``: fold i validates on every K-th id (from i) in SHA-256 order."""
    ordered = hash_order(ids)
    folds = []
    for i in range(k):
        val = sorted(ordered[i::k])
        folds.append({"train": sorted(set(ids) - set(val)), "val": val})
    return folds


def write_index(out: Path, manifest: dict, options: dict) -> tuple[list[str], list[str]]:
    """Write ``dataset.json`` (and ``splits_final.json`` with a split); return (written, problems)."""
    ids = [e["Id"] for e in manifest["Cases"]]
    labels = {"background": 0}
    labels.update({d["Name"]: int(v) for v, d in sorted(manifest["Labels"].items(), key=lambda x: int(x[0]))
                   if int(v) != 0})
    dataset = {
        "channel_names": {"0": "CT"},
        "labels": labels,
        "numTraining": len(ids),
        "file_ending": FILE_ENDING,
        "name": out.name,
        "description": "CT label masks exported by ctlabel export-dataset; provenance per case in "
                       "ctlabel_manifest.json",
    }
    written: list[str] = []
    problems: list[str] = []
    write_index_json(out, "dataset.json", dataset, written)
    k = options.get("Split")
    if k:
        if len(ids) < k:
            problems.append(f"{out / 'splits_final.json'}: cannot make {k} folds from {len(ids)} case(s); "
                            "not written")
        else:
            write_index_json(out, "splits_final.json", splits(ids, k), written)
    return written, problems
