"""Benchmark of DICOM loading and conversion: ctlabel against dcm2niix, SimpleITK and naive pydicom.

Run from the repository root::

    python benchmarks/convert.py            # full run (about 5-10 minutes on 2 cores)
    python benchmarks/convert.py --quick    # smaller synthetic series, one repeat
    python benchmarks/convert.py --check    # exit 1 when a target fails
    python benchmarks/convert.py --profile  # add cProfile top entries of ctlabel load/convert
    python benchmarks/convert.py --processes-only  # only the whole-process timings
    python benchmarks/convert.py --processes-only --inputs clean,philips --repeats 7  # item 16 of issue 22

Inputs

* ``synthetic``: a generated 512 x 512 x 300 CT series (``ctlabel.intake.synthetic.make_phantom``:
  air, a body ellipse of fat and muscle, liver, kidneys, spine and a lesion, plus Gaussian
  noise of sd 15 HU, int16 HU, 0.7 x 0.7 x 1.0 mm), written with ``write_dicom_series``
  (uncompressed explicit VR little endian, shuffled file names). Without the noise the
  images compress several times faster, so the noise is part of the benchmark.
* ``clean``: the same phantom without noise (``noise_hu=0``). dcm2niix compresses it fast, so
  ctlabel's fixed costs (start-up imports, header scan, hashing) decide its ratio.
* ``philips``: the real 140-slice Philips head CT ``dcmqa_ct_philips_brain/dicom/S21570/S2020``
  (github.com/neurolabusc/dcm_qa_ct, ``In/Philips/S21570/S2020``), uncompressed as published: from
  ``../shared/data/ct`` when it is there, else the repository's copy (``tests/data/ct``, stored
  JPEG-LS lossless) decompressed once into ``benchmarks/.cache/philips_1mm`` (the same headers
  and pixels).
* for ``--jobs`` scaling: four synthetic 512 x 512 x 150 series (different seeds and series
  numbers) and four copies of the Philips series with new UIDs, one folder each.

Generated data is cached in ``benchmarks/.cache/`` (gitignored; delete it to regenerate).

Methods

* ``ctlabel``: load = ``ctlabel.load_series(folder)`` (scan + read, int16 HU); convert =
  ``ctlabel.convert.convert([folder], out, jobs=1)`` (case folder with ``ct.nii.gz``,
  sidecar, label table).
* ``sitk``: SimpleITK ``ImageSeriesReader`` (GDCM file ordering) then
  ``GetArrayViewFromImage`` (no copy); convert = the same plus ``WriteImage(.nii.gz)``.
* ``pydicom``: naive: ``dcmread`` every file, sort by ImagePositionPatient z, stack
  ``pixel_array * slope + intercept`` as int16; convert = the same plus ``nibabel`` save.
* ``dcm2niix``: ``dcm2niix -z y`` (convert only; it has no load-to-array mode). Without
  ``pigz`` on the PATH it compresses with its internal zlib.

Measurement

Every measurement runs in a fresh subprocess, so its memory peak is clean. The child
imports its libraries, then records its resident set size (RSS) as the baseline and resets
the kernel's peak RSS counter (``/proc/self/clear_refs``; when that is not allowed, a
thread samples RSS every 2 ms), runs the task, and reports wall time and the peak RSS
increase over the baseline. dcm2niix is timed around the whole process (start-up included, a few ms); its peak is the
whole process's peak RSS (VmHWM polled every 2 ms; a few MiB of it are the binary itself). All
input files are read once before the measurements of an input so every method sees a warm
page cache. Each measurement is repeated (``--repeats``, default 3; round robin over the
methods) and the median is shown.

Whole processes (issue "Start-up time"): ``python -c pass``, ``python -c "import ctlabel"``
and ``ctlabel --help`` (median of at least 7 runs), and ``ctlabel convert -q -o OUT SRC`` as a
user runs it (default ``--jobs``) and with ``-j 1``, round robin with ``dcm2niix -z y`` on every
input, wall time with start-up included; ratios are against dcm2niix in the same run.

Targets (every input; issue "Benchmarks: benchmarks/convert.py")

* load to array: ctlabel <= 0.5 x SimpleITK's time;
* convert: ctlabel <= 1.5 x dcm2niix's wall time;
* ``--jobs 2`` on four series >= 1.6 x faster than ``--jobs 1``;
* peak memory increase of ctlabel load and convert <= 1.5 x the int16 volume size.

Targets (issue "Start-up time"): ``ctlabel --help`` <= 0.2 s; ``ctlabel convert`` of the
noise-free series and of the Philips series <= 1.0 x dcm2niix's wall time, whole processes
(issue 22, item 16). The whole-process table also shows CPU time (user + system, from
``RUSAGE_CHILDREN`` deltas) and its ratio, which other load on the machine disturbs less.
The timed Python processes cache their bytecode in ``benchmarks/.cache/pycache`` even when
``PYTHONDONTWRITEBYTECODE`` is set, as an installed package has its ``.pyc`` files.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / ".cache"
SERIES_1MM = Path("dcmqa_ct_philips_brain") / "dicom" / "S21570" / "S2020"
#: The 1 mm Philips series as published (uncompressed), when the maintainers' data is beside the clone.
SHARED_PHILIPS = ROOT / ".." / "shared" / "data" / "ct" / SERIES_1MM
#: The same series in the repository, stored JPEG-LS lossless (tests/data/README.md).
REPO_PHILIPS = ROOT / "tests" / "data" / "ct" / SERIES_1MM
PHILIPS = SHARED_PHILIPS if SHARED_PHILIPS.is_dir() else CACHE / "philips_1mm" / "dicom"
NOISE_HU = 15.0
SPACING = (1.0, 0.7, 0.7)
MIB = 1 << 20

TARGET_LOAD = 0.5
TARGET_CONVERT = 1.5
TARGET_JOBS = 1.6
TARGET_MEMORY = 1.5
TARGET_HELP_S = 0.2
TARGET_CLI_CLEAN = 1.0


# ----------------------------------------------------------------------------
# child side: one measurement in a fresh process
# ----------------------------------------------------------------------------


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


class PeakMeter:
    """Peak RSS increase of this process over its RSS at :meth:`start`."""

    def start(self) -> None:
        self.baseline = _status_kib("VmRSS")
        self.kernel = False
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # reset VmHWM to the current RSS (Linux >= 4.0)
            self.kernel = _status_kib("VmHWM") <= _status_kib("VmRSS") + 1024
        except OSError:
            pass
        self.sampled = self.baseline
        self._stop = threading.Event()
        if not self.kernel:
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            self.sampled = max(self.sampled, _status_kib("VmRSS"))

    def stop(self) -> dict:
        if self.kernel:
            peak = _status_kib("VmHWM")
        else:
            self._stop.set()
            self._thread.join()
            peak = max(self.sampled, _status_kib("VmRSS"))
        return {
            "peak_increase": (peak - self.baseline) * 1024,
            "baseline_rss": self.baseline * 1024,
            "peak_source": "VmHWM" if self.kernel else "sampled",
        }


def _dicom_files(src: str) -> list[str]:
    return sorted(str(p) for p in Path(src).rglob("*") if p.is_file())


def _naive_pydicom(src: str, pydicom, np):
    slices = []
    for path in _dicom_files(src):
        try:
            ds = pydicom.dcmread(path)
        except Exception:  # noqa: BLE001 - DIRFILE and other non-images
            continue
        if "PixelData" in ds:
            slices.append(ds)
    slices.sort(key=lambda ds: float(ds.ImagePositionPatient[2]))
    vol = np.stack([ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept) for ds in slices])
    return slices, vol.astype(np.int16)


def _naive_affine(slices, np):
    """LPS->RAS affine of the NIfTI index (column, row, slice) from the first two slices."""
    first = slices[0]
    iop = np.array([float(v) for v in first.ImageOrientationPatient])
    ps = [float(v) for v in first.PixelSpacing]
    p0 = np.array([float(v) for v in first.ImagePositionPatient])
    p1 = np.array([float(v) for v in slices[1].ImagePositionPatient]) if len(slices) > 1 else p0
    aff = np.eye(4)
    aff[:3, 0] = iop[:3] * ps[1]
    aff[:3, 1] = iop[3:] * ps[0]
    aff[:3, 2] = p1 - p0
    aff[:3, 3] = p0
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ aff


def child(spec: dict) -> dict:
    """Run one measurement described by ``spec`` and return its result."""
    method, task, src, out = spec["method"], spec["task"], spec["src"], spec.get("out")
    if method == "ctlabel":
        import ctlabel
        from ctlabel.intake.convert import convert

        if task == "load":

            def run():
                return {"shape": list(ctlabel.load_series(src).array.shape)}
        else:

            def run():
                report = convert(
                    spec["srcs"] if "srcs" in spec else [src], out, jobs=spec.get("jobs", 1), progress=False
                )
                if not report.ok:
                    raise RuntimeError(report.summary_text())
                return {"cases": len(report.converted)}
    elif method == "sitk":
        import SimpleITK as sitk

        def run():
            reader = sitk.ImageSeriesReader()
            reader.SetFileNames(reader.GetGDCMSeriesFileNames(src))
            img = reader.Execute()
            if task == "load":
                return {"shape": list(sitk.GetArrayViewFromImage(img).shape)}
            sitk.WriteImage(img, str(Path(out) / "ct.nii.gz"), useCompression=True)
            return {"shape": list(img.GetSize()[::-1])}
    elif method == "pydicom":
        import nibabel as nib
        import numpy as np
        import pydicom

        def run():
            slices, vol = _naive_pydicom(src, pydicom, np)
            if task == "convert":
                Path(out).mkdir(parents=True, exist_ok=True)
                nib.save(nib.Nifti1Image(vol.T, _naive_affine(slices, np)), str(Path(out) / "ct.nii.gz"))
            return {"shape": list(vol.shape)}
    else:
        raise ValueError(method)
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
    import resource

    def cpu() -> float:
        me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

    meter = PeakMeter()
    meter.start()
    c0 = cpu()
    t0 = time.perf_counter()
    info = run()
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "cpu_seconds": cpu() - c0, **meter.stop(), **info}


def profile_child(spec: dict) -> str:
    """cProfile top entries (by cumulative time) of a ctlabel load or convert."""
    import cProfile
    import io
    import pstats
    import tracemalloc

    import ctlabel
    from ctlabel.intake.convert import convert

    src, out = spec["src"], spec.get("out")
    if spec["task"] == "load":

        def call():
            ctlabel.load_series(src)
    else:
        Path(out).mkdir(parents=True, exist_ok=True)

        def call():
            convert([src], out, jobs=1, progress=False)

    prof = cProfile.Profile()
    prof.enable()
    call()
    prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf).strip_dirs().sort_stats("cumulative")
    stats.print_stats(22)
    text = buf.getvalue()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).strip_dirs().sort_stats("tottime").print_stats(12)
    text += "\n--- by own time ---\n" + buf.getvalue()
    # Where the memory peak is allocated (numpy reports its buffers to tracemalloc).
    if out:
        shutil.rmtree(out, ignore_errors=True)
        Path(out).mkdir(parents=True, exist_ok=True)
    tracemalloc.start(12)
    call()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    text += f"\n--- tracemalloc: peak traced {peak / MIB:.1f} MiB (Python + numpy buffers) ---\n"
    return text


# ----------------------------------------------------------------------------
# parent side
# ----------------------------------------------------------------------------


def run_child(spec: dict) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=python_env())
    if proc.returncode != 0:
        raise RuntimeError(f"child {spec['method']} {spec['task']} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def dcm2niix_binary() -> str | None:
    try:
        import dcm2niix

        if Path(dcm2niix.bin).is_file():
            return dcm2niix.bin
    except ImportError:
        pass
    return shutil.which("dcm2niix")


def _hwm_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def run_dcm2niix(src: str, out: str) -> dict:
    """Wall time and peak RSS of one ``dcm2niix -z y`` process.

    The peak is the process's own VmHWM, polled every 2 ms until it exits (VmHWM only
    grows, so polling misses at most the last 2 ms). ``ru_maxrss`` cannot be used: after
    fork+exec it also counts the launching Python process.
    """
    exe = dcm2niix_binary()
    Path(out).mkdir(parents=True, exist_ok=True)
    real = os.path.realpath(exe)
    c0 = children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [exe, "-z", "y", "-f", "ct", "-o", out, src], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    peak = 0
    launched = False
    while proc.poll() is None:
        if not launched:
            try:  # before the exec, the child's memory is a copy of this Python process
                launched = os.path.realpath(f"/proc/{proc.pid}/exe") == real
            except OSError:
                pass
        hwm = _hwm_kib(proc.pid) if launched else None
        if hwm is not None:
            peak = max(peak, hwm)
        time.sleep(0.002)
    seconds = time.perf_counter() - t0
    cpu = children_cpu() - c0  # proc.poll() reaped it: its CPU time is in RUSAGE_CHILDREN now
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if proc.returncode != 0:
        raise RuntimeError(f"dcm2niix failed ({proc.returncode}): {err[-2000:]}")
    if not list(Path(out).glob("*.nii.gz")):
        raise RuntimeError("dcm2niix wrote no .nii.gz")
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_increase": peak * 1024,
        "baseline_rss": 0,
        "peak_source": "polled VmHWM, whole process",
    }


def warm(folder: Path) -> int:
    """Read every file once so all methods start with the same (warm) page cache."""
    total = 0
    for p in folder.rglob("*"):
        if p.is_file():
            with open(p, "rb") as f:
                while chunk := f.read(1 << 22):
                    total += len(chunk)
    return total


def _done(folder: Path, params: dict) -> bool:
    marker = folder / "complete.json"  # compared as JSON: a tuple in params reads back as a list
    return marker.is_file() and json.loads(marker.read_text()) == json.loads(json.dumps(params))


def _mark(folder: Path, params: dict) -> None:
    (folder / "complete.json").write_text(json.dumps(params))


def make_synthetic(folder: Path, slices: int, seed: int, series_number: int, noise_hu: float = NOISE_HU) -> None:
    """Write (once; cached) a 512 x 512 phantom series of ``slices`` slices with Gaussian noise of ``noise_hu``."""
    params = {"slices": slices, "seed": seed, "noise_hu": noise_hu, "spacing": SPACING, "series": series_number}
    if _done(folder, params):
        return
    from ctlabel.intake.synthetic import SeriesSpec, make_phantom, write_dicom_series

    shutil.rmtree(folder, ignore_errors=True)
    print(f"  generating {folder.relative_to(ROOT)} ({slices} x 512 x 512) ...", file=sys.stderr, flush=True)
    vol, _, _ = make_phantom(shape=(slices, 512, 512), spacing=SPACING, noise_hu=noise_hu, seed=seed)
    write_dicom_series(
        folder / "dicom",
        vol.array,
        SeriesSpec(
            spacing=SPACING,
            series_number=series_number,
            description=f"bench phantom {slices} noise {noise_hu:g}HU",
            seed=seed,
        ),
    )
    _mark(folder, params)


def philips_source() -> Path:
    """The uncompressed 1 mm Philips series: ``../shared``'s, else the repository's decompressed (cached)."""
    if PHILIPS == SHARED_PHILIPS:
        return PHILIPS
    params = {"source": str(REPO_PHILIPS.resolve()), "decompressed": True}
    if _done(PHILIPS.parent, params):
        return PHILIPS
    import pydicom

    print(f"  {SHARED_PHILIPS} not found: decompressing the repository's copy {REPO_PHILIPS.relative_to(ROOT)}"
          f" into {PHILIPS.relative_to(ROOT)} ...", file=sys.stderr, flush=True)
    shutil.rmtree(PHILIPS.parent, ignore_errors=True)
    PHILIPS.mkdir(parents=True)
    for path in sorted(REPO_PHILIPS.iterdir()):
        if path.name == "DIRFILE":
            continue
        ds = pydicom.dcmread(path)
        ds.decompress(generate_instance_uid=False)
        ds.save_as(PHILIPS / path.name)
    _mark(PHILIPS.parent, params)
    return PHILIPS


def copy_philips(folder: Path, copy: int) -> None:
    """The Philips series written again with new study/series/instance UIDs."""
    philips_source()
    params = {"copy": copy, "source": str(PHILIPS.resolve())}
    if _done(folder, params):
        return
    import pydicom
    from pydicom.uid import generate_uid

    shutil.rmtree(folder, ignore_errors=True)
    (folder / "dicom").mkdir(parents=True)
    print(f"  copying the Philips series to {folder.relative_to(ROOT)} ...", file=sys.stderr, flush=True)
    study, series = generate_uid(), generate_uid()
    for path in sorted(PHILIPS.iterdir()):
        try:
            ds = pydicom.dcmread(path)
        except Exception:  # noqa: BLE001 - DIRFILE
            continue
        if "PixelData" not in ds:
            continue
        ds.StudyInstanceUID = study
        ds.SeriesInstanceUID = series
        ds.SeriesNumber = 100 + copy
        sop = generate_uid()
        ds.SOPInstanceUID = sop
        ds.file_meta.MediaStorageSOPInstanceUID = sop
        ds.save_as(folder / "dicom" / path.name)
    _mark(folder, params)


def median(values: list[float]) -> float:
    return statistics.median(values)


def measure_input(name: str, src: Path, repeats: int, verbose: bool) -> dict:
    """All methods on one input; returns medians."""
    print(f"[{name}] warming the page cache ({warm(src) / MIB:.0f} MiB)", file=sys.stderr, flush=True)
    out_root = CACHE / "out"
    jobs = [
        ("ctlabel", "load"),
        ("ctlabel", "convert"),
        ("sitk", "load"),
        ("sitk", "convert"),
        ("pydicom", "load"),
        ("pydicom", "convert"),
        ("dcm2niix", "convert"),
    ]
    raw: dict[tuple[str, str], list[dict]] = {j: [] for j in jobs}
    for rep in range(repeats):
        for method, task in jobs:
            out = out_root / f"{method}_{task}"
            shutil.rmtree(out, ignore_errors=True)
            if method == "dcm2niix":
                res = run_dcm2niix(str(src), str(out))
            else:
                res = run_child(
                    {"method": method, "task": task, "src": str(src), "out": str(out) if task == "convert" else None}
                )
            shutil.rmtree(out, ignore_errors=True)
            raw[(method, task)].append(res)
            if verbose:
                print(
                    f"  rep {rep + 1}: {method:8s} {task:8s} {res['seconds']:7.2f} s "
                    f"{res['peak_increase'] / MIB:8.1f} MiB ({res['peak_source']})",
                    file=sys.stderr,
                    flush=True,
                )
    shape = raw[("ctlabel", "load")][0]["shape"]
    result = {"shape": shape, "volume_bytes": shape[0] * shape[1] * shape[2] * 2, "methods": {}}
    for (method, task), runs in raw.items():
        result["methods"].setdefault(method, {})[task] = {
            "seconds": median([r["seconds"] for r in runs]),
            "seconds_all": [round(r["seconds"], 3) for r in runs],
            "peak_increase": median([r["peak_increase"] for r in runs]),
            "cpu_seconds": None if runs[0]["cpu_seconds"] is None else median([r["cpu_seconds"] for r in runs]),
        }
    return result


def measure_jobs(name: str, folders: list[Path], repeats: int, verbose: bool) -> dict:
    for f in folders:
        warm(f)
    out = CACHE / "out" / "jobs"
    times: dict[int, list[float]] = {1: [], 2: []}
    cpus: dict[int, list[float]] = {1: [], 2: []}
    for rep in range(repeats):
        for n in (1, 2):
            shutil.rmtree(out, ignore_errors=True)
            res = run_child(
                {
                    "method": "ctlabel",
                    "task": "convert",
                    "src": str(folders[0]),
                    "srcs": [str(f) for f in folders],
                    "out": str(out),
                    "jobs": n,
                }
            )
            shutil.rmtree(out, ignore_errors=True)
            if res["cases"] != len(folders):
                raise RuntimeError(f"jobs={n}: {res['cases']} cases converted, expected {len(folders)}")
            times[n].append(res["seconds"])
            cpus[n].append(res["cpu_seconds"])
            if verbose:
                print(
                    f"  rep {rep + 1}: {name} jobs={n} {res['seconds']:.2f} s (cpu {res['cpu_seconds']:.2f} s)",
                    file=sys.stderr,
                    flush=True,
                )
    return {
        "jobs1": median(times[1]),
        "jobs2": median(times[2]),
        "cpu1": median(cpus[1]),
        "cpu2": median(cpus[2]),
        "jobs1_all": [round(t, 3) for t in times[1]],
        "jobs2_all": [round(t, 3) for t in times[2]],
    }


def ctlabel_command() -> list[str]:
    """The ``ctlabel`` console script of this Python, else ``python -m ctlabel``."""
    exe = Path(sys.executable).with_name("ctlabel")
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "ctlabel"]


def children_cpu() -> float:
    """User + system CPU seconds of this process's children that have ended (and were waited for)."""
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def python_env() -> dict[str, str]:
    """The environment of the timed Python processes: bytecode cached as in an installed package.

    An installed ctlabel has its ``.pyc`` files (pip compiles them); a shell with
    ``PYTHONDONTWRITEBYTECODE`` set would make every timed run compile ctlabel's sources
    again (about 0.05 s of CPU per process), which no user pays. The cache goes to
    ``benchmarks/.cache/pycache``, not beside the sources; the untimed first runs fill it.
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(CACHE / "pycache")
    return env


def time_process(cmd: list[str]) -> float:
    """Wall time of one whole process (start-up included); raises when it fails."""
    return time_process_cpu(cmd)[0]


def time_process_cpu(cmd: list[str]) -> tuple[float, float]:
    """Wall and CPU time (user + system, its children included) of one whole process; raises when it fails."""
    c0 = children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=CACHE, env=python_env())
    seconds = time.perf_counter() - t0
    cpu = children_cpu() - c0
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace")[-2000:]
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {err}")
    return seconds, cpu


def measure_startup(runs: int, verbose: bool) -> dict:
    """Median wall time of small whole processes: bare Python, ``import ctlabel``, ``ctlabel --help``."""
    cmds = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "python -c 'import ctlabel'": [sys.executable, "-c", "import ctlabel"],
        "ctlabel --help": [*ctlabel_command(), "--help"],
    }
    for cmd in cmds.values():  # once untimed: bytecode caches, page cache
        time_process(cmd)
    times: dict[str, list[float]] = {k: [] for k in cmds}
    for _ in range(runs):
        for name, cmd in cmds.items():
            times[name].append(time_process(cmd))
    if verbose:
        for name, ts in times.items():
            print(f"  {name}: {' '.join(f'{t:.3f}' for t in ts)}", file=sys.stderr, flush=True)
    return {name: {"seconds": median(ts), "seconds_all": [round(t, 3) for t in ts]} for name, ts in times.items()}


def measure_cli_convert(name: str, src: Path, repeats: int, verbose: bool) -> dict:
    """``ctlabel convert`` as a whole process against ``dcm2niix -z y``, round robin, medians.

    ``ctlabel`` runs as a user would: ``ctlabel convert -q -o OUT SRC`` (default ``--jobs``:
    all cores), and with ``--jobs 1``; dcm2niix is single-threaded without pigz.
    """
    warm(src)
    out = CACHE / "out" / "cli"
    runs: dict[str, list[float]] = {"dcm2niix": [], "ctlabel": [], "ctlabel -j1": []}
    cpus: dict[str, list[float]] = {m: [] for m in runs}
    cmds = {
        "ctlabel": [*ctlabel_command(), "convert", "-q", "-o", str(out), str(src)],
        "ctlabel -j1": [*ctlabel_command(), "convert", "-q", "-j", "1", "-o", str(out), str(src)],
    }
    for method in cmds.values():  # once untimed: bytecode cache, page cache
        shutil.rmtree(out, ignore_errors=True)
        time_process(method)
    for rep in range(repeats):
        for method in runs:
            shutil.rmtree(out, ignore_errors=True)
            if method == "dcm2niix":
                res = run_dcm2niix(str(src), str(out))
                seconds, cpu = res["seconds"], res["cpu_seconds"]
            else:
                seconds, cpu = time_process_cpu(cmds[method])
            shutil.rmtree(out, ignore_errors=True)
            runs[method].append(seconds)
            cpus[method].append(cpu)
            if verbose:
                print(f"  rep {rep + 1}: {name} {method:12s} {seconds:6.2f} s, cpu {cpu:5.2f} s (whole process)",
                      file=sys.stderr, flush=True)
    return {m: {"seconds": median(ts), "seconds_all": [round(t, 3) for t in ts], "cpu_seconds": median(cpus[m]),
                "cpu_all": [round(c, 3) for c in cpus[m]]} for m, ts in runs.items()}


def importtime_top(statement: str, count: int = 15) -> str:
    """The ``count`` slowest imports (cumulative, microseconds) of ``statement`` in a fresh Python."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement], capture_output=True, text=True, cwd=CACHE, check=True,
        env=python_env(),
    )
    rows = []
    for line in proc.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((int(parts[1]), parts[2].rstrip()))
    rows.sort(reverse=True)
    return "\n".join(f"{us / 1000:8.1f} ms  {name}" for us, name in rows[:count])


def report_processes(startup: dict, cli: dict) -> list[tuple[str, str, float, str, bool]]:
    """Print the whole-process table; return its target checks (input, target, value, limit, ok)."""
    checks = []
    print()
    print("Whole processes (wall time, start-up included, median):")
    for name, res in startup.items():
        print(f"  {name:28s} {res['seconds']:6.3f} s")
    helps = startup["ctlabel --help"]["seconds"]
    checks.append(("startup", f"ctlabel --help <= {TARGET_HELP_S} s", helps, f"<= {TARGET_HELP_S}",
                   helps <= TARGET_HELP_S))
    if cli:
        print()
        print("wall: elapsed time; cpu: user + system time of the process and its children (less"
              " disturbed by other load)")
        head = (f"{'input':9s} {'dcm2niix s':>10s} {'ctlabel s':>9s} {'-j1 s':>7s} {'ctlabel/d2n':>11s}"
                f" {'-j1/d2n':>8s} {'d2n cpu s':>9s} {'ctl cpu s':>9s} {'-j1 cpu s':>9s} {'cpu ctl/d2n':>11s}"
                f" {'cpu -j1/d2n':>11s}")
        print(head)
        print("-" * len(head))
    for name, res in cli.items():
        d2n = res["dcm2niix"]["seconds"]
        ratio, ratio1 = res["ctlabel"]["seconds"] / d2n, res["ctlabel -j1"]["seconds"] / d2n
        cpu = {m: res[m]["cpu_seconds"] for m in ("dcm2niix", "ctlabel", "ctlabel -j1")}
        print(f"{name:9s} {d2n:10.2f} {res['ctlabel']['seconds']:9.2f} {res['ctlabel -j1']['seconds']:7.2f}"
              f" {ratio:11.2f} {ratio1:8.2f} {cpu['dcm2niix']:9.2f} {cpu['ctlabel']:9.2f} {cpu['ctlabel -j1']:9.2f}"
              f" {cpu['ctlabel'] / cpu['dcm2niix']:11.2f} {cpu['ctlabel -j1'] / cpu['dcm2niix']:11.2f}")
        if name in ("clean", "philips"):
            checks.append((name, f"CLI convert <= {TARGET_CLI_CLEAN} x dcm2niix", ratio, f"<= {TARGET_CLI_CLEAN}",
                           ratio <= TARGET_CLI_CLEAN))
    return checks


def _fmt(v: float | None, spec: str = ".2f") -> str:
    return "-" if v is None else format(v, spec)


def report(inputs: dict, jobs: dict, descriptions: dict) -> list[tuple[str, str, float, str, bool]]:
    """Print the tables; return the target checks (input, target, value, limit, ok)."""
    print()
    print("Inputs:")
    for name, text in descriptions.items():
        print(f"  {name:9s} {text}")
    checks: list[tuple[str, str, float, str, bool]] = []
    if not inputs:
        return checks
    print()
    print("In-process timings (libraries imported before the clock starts; conv/d2n: dcm2niix whole process):")
    head = (
        f"{'input':9s} {'method':8s} {'load s':>7s} {'conv s':>7s} {'load MiB':>8s} {'conv MiB':>8s}"
        f" {'load/sitk':>9s} {'conv/d2n':>8s} {'loadMem/vol':>11s} {'convMem/vol':>11s} {'conv cpu s':>10s}"
    )
    print(head)
    print("-" * len(head))
    for name, res in inputs.items():
        m = res["methods"]
        vol = res["volume_bytes"]
        sitk_load = m["sitk"]["load"]["seconds"]
        d2n = m["dcm2niix"]["convert"]["seconds"]
        for method in ("ctlabel", "sitk", "pydicom", "dcm2niix"):
            load = m[method].get("load")
            conv = m[method].get("convert")
            print(
                f"{name:9s} {method:8s} {_fmt(load and load['seconds']):>7s} {_fmt(conv['seconds']):>7s}"
                f" {_fmt(load and load['peak_increase'] / MIB, '.0f'):>8s} {conv['peak_increase'] / MIB:8.0f}"
                f" {_fmt(load and load['seconds'] / sitk_load):>9s} {conv['seconds'] / d2n:8.2f}"
                f" {_fmt(load and load['peak_increase'] / vol):>11s} {conv['peak_increase'] / vol:11.2f}"
                f" {_fmt(conv['cpu_seconds']):>10s}"
            )
        c = m["ctlabel"]
        for label, value, limit, op in (
            ("load <= 0.5 x SimpleITK", c["load"]["seconds"] / sitk_load, TARGET_LOAD, "<="),
            ("convert <= 1.5 x dcm2niix", c["convert"]["seconds"] / d2n, TARGET_CONVERT, "<="),
            ("load peak <= 1.5 x volume", c["load"]["peak_increase"] / vol, TARGET_MEMORY, "<="),
            ("convert peak <= 1.5 x volume", c["convert"]["peak_increase"] / vol, TARGET_MEMORY, "<="),
        ):
            checks.append((name, label, value, f"{op} {limit}", value <= limit))
    if not jobs:
        return checks
    print()
    print(
        f"{'ctlabel convert, 4 series':28s} {'jobs=1 s':>8s} {'jobs=2 s':>8s} {'speedup':>8s}"
        f" {'cpu j=1 s':>9s} {'cpu j=2 s':>9s}"
    )
    for name, res in jobs.items():
        speed = res["jobs1"] / res["jobs2"]
        print(f"{name:28s} {res['jobs1']:8.2f} {res['jobs2']:8.2f} {speed:8.2f} {res['cpu1']:9.2f} {res['cpu2']:9.2f}")
        checks.append((name.split()[0], "--jobs 2 >= 1.6 x --jobs 1", speed, f">= {TARGET_JOBS}", speed >= TARGET_JOBS))
    return checks


def prepare_inputs(big: int, small: int, names: set[str] | None = None, jobs: bool = True,
                   ) -> tuple[dict, dict, dict]:
    """The synthetic (and, when present, Philips) inputs: (descriptions, series per name, --jobs sets).

    ``names`` limits the inputs (all when None); ``jobs=False`` makes no ``--jobs`` sets.
    """
    CACHE.mkdir(parents=True, exist_ok=True)
    synth = CACHE / f"synthetic_{big}"
    if names is None or "synthetic" in names:
        make_synthetic(synth, big, seed=0, series_number=1)
    clean = CACHE / f"clean_{big}"
    if names is None or "clean" in names:
        make_synthetic(clean, big, seed=0, series_number=2, noise_hu=0.0)
    synth_jobs = [CACHE / f"jobs_synthetic_{small}_{i}" for i in range(4)] if jobs else []
    for i, f in enumerate(synth_jobs):
        make_synthetic(f, small, seed=10 + i, series_number=11 + i)
    descriptions = {
        "synthetic": f"{big} x 512 x 512 phantom (air, fat/muscle body ellipse, liver, kidneys, spine, lesion)"
        f" + Gaussian noise sd {NOISE_HU:g} HU, int16 HU, spacing {SPACING} mm, uncompressed DICOM",
        "clean": f"the same {big}-slice phantom without noise (compresses several times faster)",
    }
    inputs_src = {"synthetic": synth / "dicom", "clean": clean / "dicom"}
    jobs_sets = {f"synthetic (4 x {small} slices)": [f / "dicom" for f in synth_jobs]} if jobs else {}
    if (names is None or "philips" in names) and philips_source().is_dir():
        descriptions["philips"] = f"real Philips head CT, 140 x 512 x 512, {PHILIPS.relative_to(ROOT.parent)}"
        inputs_src["philips"] = PHILIPS
        copies = [CACHE / f"jobs_philips_{i}" for i in range(4)] if jobs else []
        for i, f in enumerate(copies):
            copy_philips(f, i)
        if jobs:
            jobs_sets["philips (4 x 140 slices)"] = [f / "dicom" for f in copies]
    elif names is None or "philips" in names:
        print(f"warning: {PHILIPS} not found; the real-series rows are skipped", file=sys.stderr)
    if names is not None:
        inputs_src = {k: v for k, v in inputs_src.items() if k in names}
        descriptions = {k: v for k, v in descriptions.items() if k in names}
    return descriptions, inputs_src, jobs_sets


def print_profiles(inputs_src: dict, processes_only: bool) -> None:
    """Print the import times and (unless ``processes_only``) cProfile top entries of load and convert."""
    for statement in ("import ctlabel", "import ctlabel.cli.main", "import ctlabel.intake.convert"):
        print(f"\n===== -X importtime: {statement} (cumulative) =====")
        print(importtime_top(statement))
    if not processes_only:
        for name, src in inputs_src.items():
            for task in ("load", "convert"):
                out = CACHE / "out" / "profile"
                shutil.rmtree(out, ignore_errors=True)
                cmd = [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "--profile-child",
                    json.dumps({"task": task, "src": str(src), "out": str(out) if task == "convert" else None}),
                ]
                print(f"\n===== cProfile: ctlabel {task}, {name} =====")
                print(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
                shutil.rmtree(out, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller synthetic series, one repeat")
    ap.add_argument("--check", action="store_true", help="exit 1 when a target fails")
    ap.add_argument("--repeats", type=int, help="repeats per measurement (default 3, 1 with --quick)")
    ap.add_argument("--profile", action="store_true", help="print cProfile top entries of ctlabel load/convert")
    ap.add_argument("--json", help="also write the raw results to this file")
    ap.add_argument("--verbose", "-v", action="store_true", help="print every measurement on stderr")
    ap.add_argument(
        "--processes-only",
        action="store_true",
        help="only the whole-process timings (start-up, --help, CLI convert against dcm2niix)",
    )
    ap.add_argument("--inputs", help="comma-separated inputs to measure (synthetic, clean, philips; default all)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--profile-child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return 0
    if args.profile_child:
        print(profile_child(json.loads(args.profile_child)))
        return 0

    repeats = args.repeats or (1 if args.quick else 3)
    big, small = (100, 60) if args.quick else (300, 150)
    names = set(args.inputs.split(",")) if args.inputs else None
    descriptions, inputs_src, jobs_sets = prepare_inputs(big, small, names, jobs=not args.processes_only)

    exe = dcm2niix_binary()
    if exe is None:
        print("error: dcm2niix not found (pip install dcm2niix)", file=sys.stderr)
        return 2
    ver = subprocess.run([exe, "-v"], capture_output=True, text=True).stdout.strip().splitlines()
    pigz = shutil.which("pigz")
    descriptions["dcm2niix"] = f"{exe} ({ver[-1] if ver else '?'}), -z y, " + (
        f"pigz {pigz}" if pigz else "no pigz: internal zlib"
    )
    descriptions["machine"] = f"{os.cpu_count()} CPUs, repeats {repeats} (median shown)"

    load_before = os.getloadavg()[0]
    print("[whole processes] start-up", file=sys.stderr, flush=True)
    startup = measure_startup(max(5, 2 * repeats + 1), args.verbose)
    cli = {}
    for name, src in inputs_src.items():
        print(f"[{name}] ctlabel convert and dcm2niix as whole processes", file=sys.stderr, flush=True)
        cli[name] = measure_cli_convert(name, src, max(3, repeats), args.verbose)
    inputs, jobs = {}, {}
    if not args.processes_only:
        inputs = {name: measure_input(name, src, repeats, args.verbose) for name, src in inputs_src.items()}
        for name, folders in jobs_sets.items():
            print(f"[{name}] --jobs scaling", file=sys.stderr, flush=True)
            jobs[name] = measure_jobs(name, folders, repeats, args.verbose)
    load_after = os.getloadavg()[0]
    descriptions["machine"] += f"; 1-min load average {load_before:.2f} before, {load_after:.2f} after" + (
        " (other processes were running: wall times are noisy)" if max(load_before, load_after) > 0.5 else ""
    )
    checks = report(inputs, jobs, descriptions)
    checks += report_processes(startup, cli)
    print()
    print("Targets (ctlabel):")
    for name, target, value, limit, ok in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {name:9s} {target:30s} {value:6.2f}  ({limit})")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "inputs": inputs,
                    "jobs": jobs,
                    "startup": startup,
                    "cli_convert": cli,
                    "descriptions": descriptions,
                    "checks": checks,
                },
                indent=1,
                default=str,
            )
        )
    if args.profile:
        print_profiles(inputs_src, args.processes_only)
    failed = [c for c in checks if not c[4]]
    print(f"\n{len(checks) - len(failed)}/{len(checks)} targets met")
    return 1 if (args.check and failed) else 0


if __name__ == "__main__":
    sys.exit(main())
