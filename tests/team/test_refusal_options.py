"""A refusal's ``options`` (the parameters its remedy is about) cross HTTP: ``ctlabel team submit`` names --force."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from team_helpers import make_project

from ctlabel.cli.main import main
from ctlabel.team import admin
from ctlabel.team.client import Client, ClientError
from ctlabel.team.login import save_login


def _liver_on_air(case_dir) -> bytes:
    """A draft whose liver (label 1) covers two whole slices, air around the head included: a QA error."""
    img = nib.load(case_dir / "ct.nii.gz")
    mask = np.zeros(img.shape, np.uint8)
    mask[:, :, 10:12] = 1
    return nib.Nifti1Image(mask, img.affine).to_bytes()


def test_a_submit_refused_for_qa_errors_names_force(tmp_path, db_url, serve, philips_template, monkeypatch,
                                                     capsys):
    svc = make_project(tmp_path / "proj", db_url, philips_template, n_cases=1)
    server = serve(tmp_path / "proj")
    token = admin.add_user(svc, "ann", "annotator")
    ann = Client(server.url, token)
    name = ann.next_case()["case"]
    folder = ann.download(name, tmp_path / "work")
    (folder / "masks" / "draft_dseg.nii.gz").write_bytes(_liver_on_air(folder))
    ann.upload_draft(folder)
    with pytest.raises(ClientError) as refused:
        ann.submit(name)
    assert refused.value.status == 409 and refused.value.options == ("force",)
    assert "--" not in str(refused.value)  # the server's words; the command adds its flag
    monkeypatch.setenv("CTLABEL_CONFIG_DIR", str(tmp_path / "cfg"))
    save_login(server.url, token)
    assert main(["team", "submit", str(folder)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("refused: 409: cannot submit the case: QA found") and err.rstrip().endswith("(--force)")
