"""BIDS derivatives: ``sub-<id>/anat/sub-<id>_desc-manual_dseg.nii.gz`` with ``.tsv`` and ``.json``.

One subject per case: ``<id>`` is the case folder name with everything but letters and
digits removed (case folder names are hashes of UIDs, so no patient data). Beside each
segmentation: its CT ``sub-<id>_ct.nii.gz`` (+ ``.json``), the ``_dseg.tsv`` look-up table
(``index``, ``name``, ``abbreviation``, ``color``, ``tissue``) and the ``_dseg.json`` sidecar
(``Description``, ``Sources``, ``Manual``, ``SpatialReference`` and ctlabel's trace). At the
top: ``dataset_description.json`` (``DatasetType`` ``derivative``, ``GeneratedBy`` ctlabel
and its version) and ``.bidsignore`` (for the manifest).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ctlabel.export.manifest import MANIFEST, write_index_json
from ctlabel.io.atomic import atomic_open, write_json
from ctlabel.io.labels import TISSUES
from ctlabel.io.provenance import software

NAME = "bids"
CONSECUTIVE = False
INDEX_FILES = ("dataset_description.json", ".bidsignore", "README.md")
BIDS_VERSION = "1.10.0"
README = """# CT label masks exported by ctlabel

One subject per case: `sub-<id>/anat/sub-<id>_desc-manual_dseg.nii.gz` is the reviewed label mask,
`_dseg.tsv` its look-up table and `_dseg.json` its sidecar; `sub-<id>_ct.nii.gz` is the CT it was
painted on (CT is not a BIDS datatype, so `.bidsignore` lists the CT files). `ctlabel_manifest.json`
traces every file to its case, version, annotator and reviewer.
"""


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
    base = f"sub-{cid}/anat/sub-{cid}"
    return {"image": f"{base}_ct.nii.gz", "image_json": f"{base}_ct.json", "label": f"{base}_desc-manual_dseg.nii.gz",
            "label_tsv": f"{base}_desc-manual_dseg.tsv", "label_json": f"{base}_desc-manual_dseg.json"}


def dseg_tsv(manifest: dict) -> str:
    """The look-up table of the exported values (background is not listed)."""
    out = io.StringIO()
    w = csv.writer(out, delimiter="\t", lineterminator="\n")
    w.writerow(["index", "name", "abbreviation", "color", "tissue"])
    for v, d in sorted(manifest["Labels"].items(), key=lambda x: int(x[0])):
        if int(v):
            w.writerow([int(v), d["Name"], d.get("Abbreviation", ""), d.get("Color", ""), d.get("Tissue", "")])
    return out.getvalue()


def write_case_extra(out: Path, cid: str, files: dict, manifest: dict, entry: dict) -> None:
    """The look-up table and the sidecars of one subject."""
    with atomic_open(out / files["label_tsv"], "w", encoding="utf-8", newline="") as f:
        f.write(dseg_tsv(manifest))
    image = files["image"]
    write_json(out / files["image_json"], {
        "Modality": "CT",
        "Units": "HU",
        "Description": "CT image of the case" + (", resampled onto the orthonormal grid (gantry tilt)"
                                                 if entry.get("Resampled") else ", on its acquisition grid"),
        "PaddedSlices": entry["PaddedSlices"],
    })
    write_json(out / files["label_json"], {
        "Description": "Manual segmentation exported by ctlabel" + {
            "reviewer": " (approved by a reviewer)", "accepted-by-policy": " (accepted by the project's review policy, "
            "not seen by a reviewer)"}.get(entry.get("Review") or ("reviewer" if entry["Approved"] else ""),
                                           " (NOT approved)"),
        "Sources": [f"bids::{image}"],
        "Manual": True,
        "SpatialReference": "orig",
        # the look-up table's extra column, described as BIDS asks of additional TSV columns
        "tissue": {"Description": "ctlabel's tissue class of the label (the HU range its tools expect)",
                   "Levels": {t: t.replace("_", " ") for t in TISSUES}},
        "ctlabel": {k: entry.get(k) for k in ("Case", "Version", "Approved", "Review", "Annotator", "Reviewer",
                                              "MaskVoxelSHA256", "LabelTableSHA256")},
    })


def write_index(out: Path, manifest: dict, options: dict) -> tuple[list[str], list[str]]:
    """Write ``dataset_description.json`` and ``.bidsignore`` (the manifest is no BIDS file).

    Parameters
    ----------
    out : pathlib.Path
        The export folder.
    manifest : dict
        The export manifest.
    options : dict
        The export options, as recorded in the manifest.

    Returns
    -------
    written : list of str
        The index files written, relative to OUT.
    problems : list of str
        None for BIDS (empty).
    """
    written: list[str] = []
    write_index_json(out, "dataset_description.json", {
        "Name": out.name,
        "BIDSVersion": BIDS_VERSION,
        "DatasetType": "derivative",
        "GeneratedBy": [{**software(), "Description": "ctlabel export-dataset: reviewed CT label masks"}],
    }, written)
    with atomic_open(out / "README.md", "w", encoding="utf-8") as f:
        f.write(README)
    written.append("README.md")
    with atomic_open(out / ".bidsignore", "w", encoding="utf-8") as f:
        # CT is not (yet) a BIDS datatype: the validator refuses *_ct files, so the images the
        # segmentations were painted on are kept beside them but listed here (bids::Sources still name them)
        f.write(f"{MANIFEST}\n*_ct.nii.gz\n*_ct.json\n")
    written.append(".bidsignore")
    return written, []
