"""Batches on a Dask cluster (``--scheduler``) give what the local pool gives; a dead worker loses nothing.

One ``LocalCluster`` of two single-threaded worker processes on 127.0.0.1 serves the module.
Results are compared between the cluster and this machine, never against stored values.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from data_paths import CT2, CT3, GE_TILT, PHILIPS_1MM, PHILIPS_5MM

import ctlabel
from ctlabel.case import review
from ctlabel.case.folder import Case
from ctlabel.cli.main import main
from ctlabel.intake.convert import ConvertOptions, convert
from ctlabel.io.nifti import read_nifti
from ctlabel.volume import voxel_hash

distributed = pytest.importorskip("distributed")

SERIES = [PHILIPS_5MM, PHILIPS_1MM, CT3 / "dicom", CT2 / "dicom"]
#: The cases of the qa, compare and export tests (the 141-slice series only makes them slower).
PROJECT = [s for s in SERIES if s != PHILIPS_1MM]
#: The scheduler's HTTP server runs even with dashboard_address=None (on 8787): keep it on
#: loopback, on a free port, so that parallel runs do not collide.
DASHBOARD = "127.0.0.1:0"
#: Keys of time stamps: the only values allowed to differ between two runs.
TIMES = {"Created", "Modified", "When", "Exported"}


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=DASHBOARD) as c:
        yield c


@pytest.fixture(scope="module")
def address(cluster) -> str:
    return cluster.scheduler_address


def untimed(value):
    """``value`` without its time stamps (at any depth)."""
    if isinstance(value, dict):
        return {k: untimed(v) for k, v in value.items() if k not in TIMES}
    if isinstance(value, list):
        return [untimed(v) for v in value]
    return value


def case_summary(out: Path) -> dict:
    """Per case folder: its files, the sidecars without time stamps, and the voxel hash read back."""
    summary = {}
    for root in sorted(p for p in out.iterdir() if p.is_dir()):
        files = sorted(str(f.relative_to(root)) for f in root.rglob("*") if f.is_file())
        image = read_nifti(root / "ct.nii.gz")
        summary[root.name] = {
            "files": files,
            "ct.json": untimed(json.loads((root / "ct.json").read_text())),
            "case.json": untimed(json.loads((root / "case.json").read_text())),
            "labels.tsv": (root / "labels.tsv").read_text(),
            "voxels": voxel_hash(image.array, image.affine),
        }
    return summary


def report_entries(report, out: Path) -> dict:
    """The report with case paths relative to ``out``."""
    return json.loads(json.dumps({k: report.to_dict()[k] for k in ("converted", "skipped", "failed")})
                      .replace(str(out), "OUT"))


def test_convert_on_the_cluster_equals_the_local_pool(address, tmp_path):
    local, remote = tmp_path / "local", tmp_path / "dask"
    a = convert(SERIES, local, jobs=2, progress=False)
    b = convert(SERIES, remote, progress=False, scheduler=address)
    assert a.ok and b.ok and len(a.converted) == len(SERIES)
    assert report_entries(a, local) == report_entries(b, remote)
    summary = case_summary(local)
    assert summary == case_summary(remote)
    for root in summary:  # the hash read back is the one the sidecar records
        assert summary[root]["voxels"] == summary[root]["ct.json"]["VoxelSHA256"]
    assert not list(remote.glob(".*partial"))
    # existing cases are skipped by source identity, on the cluster as here
    again = convert(SERIES, remote, progress=False, scheduler=address)
    assert again.converted == [] and len(again.skipped) == len(SERIES)
    assert case_summary(remote) == summary


def test_cli_convert_with_scheduler_and_failures_reported_like_local(address, tmp_path, capsys):
    """Failures raised in a worker (irregular geometry under --irregular error) read as they do locally."""
    sources = [GE_TILT, CT2 / "dicom", CT3 / "dicom"]
    outs = {}
    for how, extra in (("local", ["-j", "2"]), ("dask", ["--scheduler", address])):
        out = tmp_path / how
        code = main(["convert", *map(str, sources), "-o", str(out), "-q", "--irregular", "error",
                     "--report", str(tmp_path / f"{how}.json"), *extra])
        assert code == 1
        outs[how] = json.loads((tmp_path / f"{how}.json").read_text().replace(str(out), "OUT"))
        assert len(outs[how]["failed"]) == 2 and len(outs[how]["converted"]) == 1
    assert untimed(outs["local"]) == untimed(outs["dask"])
    assert case_summary(tmp_path / "local") == case_summary(tmp_path / "dask")


def test_only_paths_and_header_values_travel(tmp_path):
    """What a convert task pickles: no pixel array, a few hundred bytes per slice."""
    from ctlabel.intake.convert import ConvertReport
    from ctlabel.intake.convert_plan import plan_batch

    stacks = ctlabel.find_series(PHILIPS_1MM).stacks
    todo = plan_batch(stacks, tmp_path, ConvertOptions(), ConvertReport())
    arrays = []

    class Watch(pickle.Pickler):
        def reducer_override(self, obj):
            if isinstance(obj, np.ndarray):
                arrays.append(obj.size)
            return NotImplemented

    for stack, target, mode in todo:
        import io

        buf = io.BytesIO()
        Watch(buf).dump((stack, tmp_path, ConvertOptions(), target, mode))
        assert buf.tell() < 2000 * len(stack.slices), buf.tell()
    assert not arrays or max(arrays) <= 16  # at most a header vector, never voxels


def _copies(folder: Path, n: int) -> list[Path]:
    """``n`` copies of the 5 mm Philips series, each with new study, series and instance UIDs."""
    import pydicom
    from pydicom.uid import generate_uid

    out = []
    files = [p for p in sorted(PHILIPS_5MM.iterdir()) if p.name != "DIRFILE"]
    for i in range(n):
        dst = folder / f"copy{i}"
        dst.mkdir(parents=True)
        study, series = generate_uid(), generate_uid()
        for path in files:
            ds = pydicom.dcmread(path)
            ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SeriesNumber = study, series, 100 + i
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
            ds.save_as(dst / path.name)
        out.append(dst)
    return out


def _executing(client) -> dict[str, tuple[int, int]]:
    """Per worker: its process id and how many tasks it is running now."""
    return client.run(lambda dask_worker: (os.getpid(), dask_worker.state.executing_count))


def test_a_worker_killed_mid_batch_loses_nothing(address, tmp_path):
    sources = _copies(tmp_path / "src", 8)
    out = tmp_path / "out"
    result: dict = {}
    run = threading.Thread(target=lambda: result.update(report=convert(sources, out, progress=False,
                                                                       scheduler=address)))
    killed = None
    with distributed.Client(address, set_as_default=False) as client:
        run.start()
        deadline = time.monotonic() + 60
        while killed is None and run.is_alive() and time.monotonic() < deadline:
            if any(out.glob(".*partial")):  # a case is being written
                busy = [pid for pid, n in _executing(client).values() if n]
                if busy:
                    os.kill(busy[0], signal.SIGKILL)
                    killed = busy[0]
            time.sleep(0.02)
        run.join(120)
    assert killed is not None, "no worker was caught running a task"
    report = result["report"]
    assert report.ok, report.summary_text()
    assert len(report.converted) == len(sources)
    assert not list(out.glob(".*partial"))  # the dead worker's temporary folder is gone
    hashes = set()
    for entry in report.converted:  # every case complete: image, sidecar and record agree
        case = Case.open(entry["case"])
        image = read_nifti(case.image_path)
        side = json.loads(case.image_sidecar.read_text())
        assert voxel_hash(image.array, image.affine) == side["VoxelSHA256"]
        assert json.loads(case.record_path.read_text())["ImageVoxelSHA256"] == side["VoxelSHA256"]
        hashes.add(side["VoxelSHA256"])
    assert len(hashes) == 1  # the same pixels in every copy
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(
        Path(e["case"]).name for e in report.converted)


def test_a_task_that_cannot_run_is_a_reported_failure(address):
    from ctlabel.intake.batch import executor, results

    with executor(1, address) as pool:
        got = list(results(pool, _fails_on_two, [1, 2, 3], lambda item, exc: f"failed: {exc}"))
    assert got == [(1, 1), (2, "failed: two"), (3, 3)]


def _fails_on_two(x: int) -> int:
    if x == 2:
        raise RuntimeError("two")
    return x


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """Three series converted, each with two labels painted, submitted and approved."""
    root = tmp_path_factory.mktemp("project")
    rep = convert(PROJECT, root, jobs=1, progress=False)
    assert rep.ok
    for entry in rep.converted:
        case = Case.open(entry["case"])
        grid = case.image_grid()
        n, rows, cols = grid.shape
        labels = np.zeros(grid.shape, np.uint8)
        k0, k1 = n // 3, max(n // 3 + 1, 2 * n // 3)
        labels[k0:k1, rows // 4:rows // 2, cols // 4:cols // 2] = 1
        labels[k0:k1, rows // 2:rows // 2 + 8, cols // 2:cols // 2 + 8] = 2
        review.save_draft(case, labels, grid, "ann", annotator="ann", painted={1: [k0, k1 - 1], 2: [k0, k1 - 1]})
        review.submit(case, "ann", force=True)
        review.approve(case, "rev")
    return root


def _json_of(capsys, argv: list[str]) -> tuple[int, dict]:
    code = main(argv)
    return code, json.loads(capsys.readouterr().out)


def test_qa_on_the_cluster_equals_local(project, address, capsys):
    local = _json_of(capsys, ["qa", "--json", str(project)])
    remote = _json_of(capsys, ["qa", "--json", str(project), "--scheduler", address])
    assert local == remote
    assert len(local[1]["reports"]) == len(PROJECT)


def test_compare_pairs_on_the_cluster_equals_local(project, address, tmp_path, capsys):
    cases = sorted(p for p in project.iterdir() if Case.is_case(p))
    pairs = tmp_path / "pairs.csv"
    rows = [f"{c}@v1,{c}@v1" for c in cases] + [f"{cases[0]}@v1,{cases[1]}@v1", f"{cases[0]},{tmp_path}/missing"]
    pairs.write_text("a,b\n" + "\n".join(rows) + "\n")
    local = _json_of(capsys, ["compare", "--json", "--pairs", str(pairs)])
    remote = _json_of(capsys, ["compare", "--json", "--pairs", str(pairs), "--scheduler", address])
    assert local == remote
    assert local[0] == 1 and len(local[1]["pairs"]) == len(cases) and len(local[1]["failures"]) == 2


def test_export_dataset_on_the_cluster_equals_local(project, address, tmp_path, capsys):
    manifests, files = {}, {}
    for how, extra in (("local", []), ("dask", ["--scheduler", address])):
        out = tmp_path / how
        code, report = _json_of(capsys, ["export-dataset", str(project), str(out), "--format", "nnunet", "--json",
                                         *extra])
        assert code == 0 and len(report["exported"]) == len(PROJECT), report
        manifests[how] = untimed(json.loads((out / "ctlabel_manifest.json").read_text()))
        files[how] = sorted(str(f.relative_to(out)) for f in out.rglob("*") if f.is_file())
        for entry in manifests[how]["Cases"]:  # the exported voxels are the ones the manifest names
            label = read_nifti(out / entry["Files"]["label"])
            assert voxel_hash(label.array, label.affine) == entry["ExportedMaskVoxelSHA256"]
    assert files["local"] == files["dask"]
    assert manifests["local"] == manifests["dask"]


def test_a_scheduler_that_does_not_answer_is_an_error_before_any_work(tmp_path, monkeypatch, capsys):
    import ctlabel.intake.batch

    monkeypatch.setattr(ctlabel.intake.batch, "CONNECT_TIMEOUT_S", 1)
    out = tmp_path / "out"
    code = main(["convert", str(CT3 / "dicom"), "-o", str(out), "-q", "--scheduler", "tcp://127.0.0.1:9"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no Dask scheduler answers at tcp://127.0.0.1:9"), err
    assert not out.exists()


def _exit_worker(x: int) -> int:
    if x == 2:
        os._exit(1)  # the worker process dies while running this task
    return x


def test_a_task_whose_worker_keeps_dying_is_a_reported_failure():
    """Past ``allowed_failures`` the scheduler gives up on a task; the batch reports it and goes on.

    A death counts against every task the worker held at the time (Dask cannot tell which one
    killed it), so the task queued beside the killer may fail too; the ones after it run.
    """
    from ctlabel.intake.batch import executor, results, task_failure

    items = [2, *range(10, 20)]
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=DASHBOARD, scheduler_kwargs={"allowed_failures": 0}) as one:
        with executor(1, one.scheduler_address) as pool:
            got = dict(results(pool, _exit_worker, items, lambda item, exc: task_failure(exc)))
    assert sorted(got) == items
    assert "died" in got[2] and "allowed-failures" in got[2], got[2]
    assert all(got[i] == i for i in items[-8:]), got
