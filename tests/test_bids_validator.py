"""``export-dataset --format bids`` passes the BIDS validator users run (bids-validator-deno, PyPI)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_export_dataset import _approved, project, run_cli  # noqa: F401 - the module's cases, built once

ROOT = Path(__file__).resolve().parents[1]


def _validator() -> str:
    exe = shutil.which("bids-validator-deno") or str(Path(sys.executable).with_name("bids-validator-deno"))
    if not Path(exe).is_file():
        if os.environ.get("CI"):
            pytest.fail("bids-validator-deno is not installed (the test extra installs it)")
        pytest.skip("bids-validator-deno is not installed")
    return exe


def test_bids_export_passes_the_validator(project, tmp_path):  # noqa: F811 - the fixture
    exe = _validator()
    out = tmp_path / "derivatives"
    r = run_cli("export-dataset", *[c.root for c in _approved(project)], out, "--format", "bids")
    assert r.returncode == 0, r.stdout + r.stderr
    v = subprocess.run([exe, "--json", str(out)], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "HOME": str(tmp_path), "DENO_DIR": str(tmp_path / "deno")})
    report = json.loads(v.stdout)
    issues = report["issues"]["issues"]
    errors = [i for i in issues if i.get("severity") == "error"]
    assert errors == [], json.dumps(errors, indent=1)[:4000]
    # warnings too, but for the authors, which only the people making the dataset can name
    others = [i for i in issues if i.get("severity") != "error" and i.get("code") != "TOO_FEW_AUTHORS"]
    assert others == [], json.dumps(others, indent=1)[:4000]
    assert v.returncode == 0, v.stderr[-2000:]
