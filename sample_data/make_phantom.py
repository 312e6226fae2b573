"""Write the synthetic CT phantom as a DICOM series plus its ground-truth mask.

Deterministic: the same files (up to generated UIDs) on every run.

    python sample_data/make_phantom.py [OUT]   # default: sample_data/phantom
"""

import sys
from pathlib import Path

from ctlabel.geometry import LPS_TO_RAS
from ctlabel.labels import write_label_table
from ctlabel.mask_io import save_mask
from ctlabel.synthetic import make_phantom, write_dicom_series


def main(out: str | None = None) -> Path:
    out = Path(out) if out else Path(__file__).resolve().parent / "phantom"
    volume, mask, labels = make_phantom()
    origin_lps = (LPS_TO_RAS @ volume.affine)[:3, 3]
    write_dicom_series(out / "dicom", volume.array, spacing=volume.spacing, origin=tuple(origin_lps),
                       description="synthetic phantom", series_number=1)
    save_mask(out / "ground_truth_dseg.nii.gz", mask, volume.grid, label_table=labels, annotator="synthetic")
    write_label_table(out / "labels.tsv", labels)
    return out


if __name__ == "__main__":
    print(main(sys.argv[1] if len(sys.argv) > 1 else None))
