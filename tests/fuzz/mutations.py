"""Deterministic mutations of real CT DICOM files, for the reader's fuzz test and benchmark.

A case is ``(seed file, its siblings, mutation, rng seed)``; :func:`make_case` writes the
mutated file (and, for series seeds, the good siblings beside it) into a folder, and
:func:`run_case` feeds that folder through ``find_series`` and ``load_series`` and names
the outcome. Only ``ctlabel.errors.CtlabelError`` or success are acceptable.
"""

from __future__ import annotations

import random
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

CT_DATA = Path(__file__).resolve().parents[1] / "data" / "ct"  # tests/data/ct

#: Small seeds (CI): (file, folder of its series or None).
SMALL_SEEDS = [
    ("pydicom_ct/dicomdir_77654033_CT2/dicom/17136", "pydicom_ct/dicomdir_77654033_CT2/dicom"),
    ("pydicom_ct/dicomdir_98892001_scout_plus_axial/CT5N", "pydicom_ct/dicomdir_98892001_scout_plus_axial/CT5N"),
    ("pydicom_ct/ct_small/CT_small.dcm", None),
    ("pydicom_ct/single_slices_compressed/693_J2KI.dcm", None),
    ("rtutils_ct_rtstruct/mock_data/ct_1.dcm", "rtutils_ct_rtstruct/mock_data"),
]
#: Larger seeds as well (benchmark): compressed, enhanced multi-frame, a real head CT series.
ALL_SEEDS = SMALL_SEEDS + [
    ("pydicom_ct/enhanced_ct_2frame/eCT_Supplemental.dcm", None),
    ("pylibjpeg_data_ct/CT1_JLSN/CT1_JLSN.dcm", None),
    ("pylibjpeg_data_ct/TOSHIBA_J2K_SIZ1_PixRep0/TOSHIBA_J2K_SIZ1_PixRep0.dcm", None),
    ("pydicom_ct/single_slices_compressed/bad_sequence.dcm", None),
    ("dcmqi_ct3slice_seg/dicom/ct-3slice/01.dcm", "dcmqi_ct3slice_seg/dicom/ct-3slice"),
]

#: Attributes whose values the value mutations set, by tag, with their usual VR.
TARGETS = {
    "Rows": (0x00280010, "US"), "Columns": (0x00280011, "US"), "BitsAllocated": (0x00280100, "US"),
    "BitsStored": (0x00280101, "US"), "PixelRepresentation": (0x00280103, "US"),
    "SamplesPerPixel": (0x00280002, "US"),
    "RescaleSlope": (0x00281053, "DS"), "RescaleIntercept": (0x00281052, "DS"),
    "ImagePositionPatient": (0x00200032, "DS"), "ImageOrientationPatient": (0x00200037, "DS"),
    "PixelSpacing": (0x00280030, "DS"), "SliceThickness": (0x00180050, "DS"),
    "NumberOfFrames": (0x00280008, "IS"), "SeriesNumber": (0x00200011, "IS"),
    "InstanceNumber": (0x00200013, "IS"), "AcquisitionNumber": (0x00200012, "IS"),
    "TransferSyntaxUID": (0x00020010, "UI"), "SOPClassUID": (0x00080016, "UI"),
    "SeriesInstanceUID": (0x0020000E, "UI"), "FrameOfReferenceUID": (0x00200052, "UI"),
}
#: Odd values: text for string VRs; for US, raw bytes are written.
ODD_TEXT = ["NaN", "Infinity", "-Infinity", "1.5", "1e6", "2e9", "abc", "", "0", "-1", "65535", "1\\2",
            "1\\0\\0\\1\\0\\0", "1\\0\\0\\1\\0", "1\\0\\0\\1\\0\\0\\0", "0\\0\\0\\0\\0\\0", "1\\0\\0\\1\\0\\0",
            "0.5\\0\\0\\0\\0.5\\0", "1\\0\\0\\0.7071\\0.7071\\0", "-0.5\\-0.5", "0\\0", "1e308\\1e308",
            "1\\1\\1", "NaN\\NaN\\NaN", "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.2", "1.2.3", "x" * 70]
ODD_US = [b"\x00\x00", b"\xff\xff", b"\x01\x00", b"\x20\x00", b"\x07\x00", b"\x02\x00", b"\x00\x01",
          b"\x01\x00\x02\x00", b"\x01", b""]
KINDS = ("flip", "truncate", "value", "vr", "insert", "zero")


@dataclass(frozen=True)
class Case:
    """One fuzz input: which seed, which mutation, which random stream."""

    seed_file: str
    series: str | None
    kind: str
    rng_seed: int


def cases(n: int, seeds=SMALL_SEEDS, start: int = 0) -> list[Case]:
    """``n`` deterministic cases cycling through the seeds and mutation kinds."""
    out = []
    for i in range(start, start + n):
        seed_file, series = seeds[i % len(seeds)]
        out.append(Case(seed_file, series, KINDS[(i // len(seeds)) % len(KINDS)], i))
    return out


def _seed_path(case: Case) -> Path:
    p = CT_DATA / case.seed_file
    return sorted(f for f in p.iterdir() if f.is_file())[0] if p.is_dir() else p


def _find_element(b: bytes, tag: int) -> tuple[int, int, int, bool] | None:
    """(element start, value start, value length, explicit long form) of a top-level tag, by byte search."""
    group, elem = tag >> 16, tag & 0xFFFF
    needle = struct.pack("<HH", group, elem)
    pos = b.find(needle, 132)
    while pos >= 0:
        vr = b[pos + 4: pos + 6]
        if vr.isalpha() and vr.isupper():
            if vr in (b"OB", b"OW", b"SQ", b"UN", b"UT", b"OF", b"UC", b"UR"):
                return pos, pos + 12, struct.unpack_from("<I", b, pos + 8)[0], True
            return pos, pos + 8, struct.unpack_from("<H", b, pos + 6)[0], False
        if pos + 8 <= len(b):  # implicit VR
            return pos, pos + 8, struct.unpack_from("<I", b, pos + 4)[0], True
        pos = b.find(needle, pos + 1)
    return None


def _element(tag: int, vr: str, value: bytes, implicit: bool) -> bytes:
    if len(value) % 2:
        value += b" " if vr not in ("UI", "US", "OB") else b"\x00"
    head = struct.pack("<HH", tag >> 16, tag & 0xFFFF)
    if implicit:
        return head + struct.pack("<I", len(value)) + value
    return head + vr.encode() + struct.pack("<H", len(value)) + value


def mutate(data: bytes, case: Case) -> bytes:
    """The mutated bytes of a seed file."""
    rng = random.Random(case.rng_seed)
    b = bytearray(data)
    if case.kind == "flip":
        for _ in range(rng.choice([1, 2, 4, 16])):
            i = rng.randrange(128, len(b))
            b[i] = rng.randrange(256)
        return bytes(b)
    if case.kind == "truncate":
        return bytes(b[: rng.randrange(0, len(b))])
    if case.kind == "zero":
        i = rng.randrange(132, len(b))
        return bytes(b[:i]) + b"\x00" * min(len(b) - i, rng.choice([4, 64, 4096]))  + bytes(b[i + 4096:])
    name = rng.choice(sorted(TARGETS))
    tag, vr = TARGETS[name]
    found = _find_element(bytes(b), tag)
    implicit = b"1.2.840.10008.1.2\x00" in data[:400] and b"1.2.840.10008.1.2.1" not in data[:400]
    if case.kind == "vr":
        vr = rng.choice(["DS", "IS", "US", "SS", "FL", "LO", "UN", "SQ"])
    if vr in ("US", "SS", "FL") and case.kind != "vr":
        value = rng.choice(ODD_US)
    elif vr in ("US", "SS", "FL"):
        value = rng.choice(ODD_US + [b"1.5 ", b"\x00\x00\x80\x7f"])
    else:
        value = rng.choice(ODD_TEXT).encode()
    new = _element(tag, vr, value, implicit and tag >> 16 != 0x0002)
    if found is None or case.kind == "insert":
        # put it right before the first element of a larger tag (or at the end of the meta group)
        at = found[0] if found else _insert_position(bytes(b), tag)
        if at is None:
            return bytes(b)
        return bytes(b[:at]) + new + bytes(b[at:])
    start, value_start, length, _ = found
    if length == 0xFFFFFFFF:
        return bytes(b)
    return bytes(b[:start]) + new + bytes(b[value_start + length:])


def _insert_position(b: bytes, tag: int) -> int | None:
    pos = 132
    while pos + 8 <= len(b):
        group, elem = struct.unpack_from("<HH", b, pos)
        if (group << 16 | elem) > tag:
            return pos
        hit = _find_element(b[:pos + 12], group << 16 | elem)
        if hit is None:
            return None
        _, value, length, _ = hit
        if length == 0xFFFFFFFF:
            return None
        pos = value + length
    return None


def make_case(case: Case, folder: Path) -> Path:
    """Write the case's input folder: the mutated file and the good siblings of its series."""
    folder.mkdir(parents=True, exist_ok=True)
    seed = _seed_path(case)
    if case.series:
        for f in sorted((CT_DATA / case.series).iterdir()):
            if f.is_file() and f != seed and not f.name.startswith(("rt", "invalid", "non_")):
                shutil.copy(f, folder / f.name)
    (folder / f"mutated_{seed.name}").write_bytes(mutate(seed.read_bytes(), case))
    return folder


def run_case(folder: Path) -> str:
    """Feed a folder through the reader; return ``loaded``, ``error`` or ``not_image``.

    Raises whatever escapes the error family.
    """
    import ctlabel
    from ctlabel.errors import CtlabelError

    scan = ctlabel.find_series(folder)
    images = [s for s in scan.stacks if s.kind in ("volume", "single")]
    outcome = "not_image" if not images else "loaded"
    if any(p.fatal for p in scan.problems):
        outcome = "error"
    for s in images:
        try:
            vol = ctlabel.load_series(s)
            _check_volume(vol)
        except CtlabelError:
            outcome = "error"
    return outcome


def _check_volume(vol) -> None:
    """A loaded volume must be writable: finite affine, JSON that is valid (no NaN)."""
    import json

    import numpy as np

    from ctlabel.io.image import image_provenance

    if not np.isfinite(vol.affine).all():
        raise AssertionError("non-finite affine reached a Volume")
    json.dumps(image_provenance(vol), allow_nan=False)
