"""Reader contributions: DICOM folder, DICOMDIR, DICOM file, case folder, NIfTI image, ctlabel mask.

The readers only decide what a path is and turn ctlabel objects into layer data;
all reading is ctlabel's. A folder with several image series opens the series
browser instead of guessing.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from ctlabel import (
    Case,
    CtlabelError,
    SeriesError,
    Stack,
    find_series,
    load_image,
    load_mask,
    read_label_table,
    read_sidecar,
    sidecar_path,
)

from ._layers import empty_labels, image_layer_data, labels_layer_data
from ._loading import Loading, current_viewer, stack_layers

NULL = [(None,)]
#: True while ``ctlabel view`` opens its first image: it docks the labeling widget itself once the
#: image is drawn (its import and set-up are not waited for before the CT shows).
_WIDGET_LATER = False


@contextlib.contextmanager
def widget_later():
    """Within the block, the readers leave docking the labeling widget to the caller."""
    global _WIDGET_LATER
    _WIDGET_LATER = True
    try:
        yield
    finally:
        _WIDGET_LATER = False


def _ensure_widget() -> None:
    """Dock the labeling widget in the current viewer (unless the caller docks it later)."""
    if _WIDGET_LATER:
        return
    from .widget import ensure_widget

    ensure_widget()


def _is_nifti(p: Path) -> bool:
    return p.name.endswith((".nii", ".nii.gz"))


def _looks_dicom(p: Path) -> bool:
    if p.name.upper() == "DICOMDIR":
        return True
    try:
        with open(p, "rb") as f:
            head = f.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM" or p.suffix.lower() in (".dcm", ".dicom", ".ima")


def is_mask_file(p: Path) -> bool:
    """A ctlabel mask (sidecar Kind "mask"), or a NIfTI named like a BIDS ``_dseg``."""
    side = sidecar_path(p)
    if side.exists():
        try:
            return read_sidecar(side).get("Kind") == "mask"
        except CtlabelError:
            pass
    return p.name.endswith(("_dseg.nii.gz", "_dseg.nii"))


# --- npe2 get_reader commands --------------------------------------------------


def get_dicom_reader(path):
    """DICOM folder, DICOMDIR or single DICOM file."""
    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    p = Path(path)
    if p.is_dir():
        if Case.is_case(p):
            return None
        return read_dicom
    if p.is_file() and not _is_nifti(p) and _looks_dicom(p):
        return read_dicom
    return None


def get_case_reader(path):
    if isinstance(path, list):
        path = path[0] if len(path) == 1 else None
    if path is not None and Case.is_case(path):
        return read_case
    return None


def get_nifti_reader(path):
    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    p = Path(path)
    if p.is_file() and _is_nifti(p):
        return read_nifti
    return None


# --- readers -------------------------------------------------------------------


def _notify_error(exc: Exception) -> list:
    from napari.utils.notifications import show_error

    show_error(str(exc))
    return NULL


def candidate_stacks(stacks: list[Stack]) -> list[Stack]:
    """What can be opened as a volume: volumes, else single slices."""
    vols = [s for s in stacks if s.kind == "volume"]
    return vols or [s for s in stacks if s.kind == "single"]


def read_dicom(path) -> list:
    if isinstance(path, list):
        path = path[0]
    try:
        with Loading(current_viewer(), Path(path).name, unit="files") as loading:
            result = loading.run(find_series, path, progress=False)
        cands = candidate_stacks(result.stacks)
        if not cands:
            reasons = "; ".join(p.reason for p in result.problems if p.fatal)[:300]
            raise SeriesError("no image series found" + (f" ({reasons})" if reasons else ""), path)
        if len(cands) == 1:
            _ensure_widget()
            return stack_layers(cands[0])
    except CtlabelError as exc:
        return _notify_error(exc)
    # Several series: let the person pick one in the series browser.
    from .series_browser import show_series_browser  # the browser loads a stack with _loading.stack_layers

    if show_series_browser(result, path) is None:
        return _notify_error(SeriesError(f"{len(cands)} image series found; open the folder in the viewer "
                                         "to pick one", path))
    return NULL


def case_layers(case: Case, *, use_recovery: bool = False) -> list[tuple]:
    volume = case.load_image()
    grid = volume.grid
    table = case.load_labels()
    record = case.image_record()
    name = case.root.name
    mask = case.latest_mask()
    layers = [image_layer_data(volume, name, case=case.root, source=str(case.image_path))]
    data = mask.array if mask is not None else empty_labels(grid)
    layers.append(labels_layer_data(data, grid, f"{name} labels", table=table, case=case.root, mask=mask,
                                    image_voxel_sha256=record.get("VoxelSHA256")))
    return layers


def read_case(path) -> list:
    if isinstance(path, list):
        path = path[0]
    try:
        case = Case.open(path)
        with Loading(current_viewer(), case.root.name) as loading:
            _ensure_widget()
            return loading.run(case_layers, case, progress=False)
    except CtlabelError as exc:
        return _notify_error(exc)


def read_nifti(path) -> list:
    if isinstance(path, list):
        path = path[0]
    p = Path(path)
    try:
        if is_mask_file(p):
            return [mask_layer(p)]
        volume = load_image(p)
        name = p.name.removesuffix(".gz").removesuffix(".nii")
        return [image_layer_data(volume, name, source=str(p))]
    except CtlabelError as exc:
        return _notify_error(exc)


def mask_layer(p: Path) -> tuple:
    """A mask with its sidecar: label names, colours and painted/interpolated slices come back."""
    mask = load_mask(p)
    case = None
    table = None
    # masks/draft_dseg.nii.gz inside a case: check against the case image.
    root = p.parent.parent
    if p.parent.name == "masks" and Case.is_case(root):
        case = Case(root)
        mask = load_mask(p, case.image_grid())
        table = case.load_labels()
    prov = mask.provenance
    if table is None and prov is not None and prov.labels:
        table = _table_from_provenance(prov.labels)
    if table is None:
        tsv = p.with_name(p.name.split("_dseg")[0] + "_dseg.tsv")
        if tsv.exists():
            table = read_label_table(tsv)
    name = p.name.removesuffix(".gz").removesuffix(".nii")
    return labels_layer_data(mask.array, mask.grid, name, table=table, case=None if case is None else case.root,
                             mask=mask, image_voxel_sha256=prov.image_voxel_sha256 if prov is not None else None)


def _table_from_provenance(labels):
    from ctlabel import Label, LabelTable, default_label_table

    default = default_label_table()
    rows = []
    for k, v in labels.items():
        idx = int(k)
        d = default[idx] if idx in default else None
        rows.append(Label(idx, v.get("Name") or (d.name if d else f"label_{idx}"),
                          v.get("Abbreviation") or (d.abbreviation if d else ""),
                          v.get("Color") or (d.color if d else "#ff0000"),
                          v.get("Tissue") or (d.tissue if d else "other")))
    try:
        return LabelTable(tuple(sorted(rows, key=lambda r: r.index))) if rows else None
    except CtlabelError:
        return None
