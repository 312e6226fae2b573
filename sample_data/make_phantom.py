"""Write the synthetic CT phantom as a DICOM series plus its ground-truth mask and label table.

Deterministic: the same voxels on every run (UIDs are new each time).

    python sample_data/make_phantom.py [OUT]   # default: sample_data/phantom
"""

import sys
from pathlib import Path

from ctlabel.synthetic import write_phantom_sample

if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "phantom"
    print(write_phantom_sample(out))
