"""``ctlabel convert`` starts no BLAS threads: they would only spin beside the conversion."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from ctlabel.intake.synthetic import SeriesSpec, write_dicom_series

CHILD = """
import os, sys
from ctlabel.cli.main import main
rc = main(["convert", "-q", "-j", "1", "-o", sys.argv[2], sys.argv[1]])
print(rc, len(os.listdir("/proc/self/task")), os.environ.get("OPENBLAS_NUM_THREADS"))
"""


@pytest.mark.skipif(not os.path.isdir("/proc/self/task") or (os.cpu_count() or 1) < 2,
                    reason="counts the threads of a Linux process on several cores")
def test_convert_runs_on_the_main_thread_alone(tmp_path):
    hu = np.random.default_rng(0).integers(-1000, 1000, size=(6, 16, 16)).astype(np.int16)
    write_dicom_series(tmp_path / "dicom", hu, SeriesSpec())
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "dicom"), str(tmp_path / "out")],
                         capture_output=True, text=True, env=env, check=True).stdout.splitlines()[-1].split()
    assert out == ["0", "1", "1"]  # converted; one thread (no OpenBLAS pool); the setting convert made
