"""STOW-RS: store DICOM files (a SEG written by ``ctlabel export-seg``) on a DICOMweb server.

The same client, authentication and error handling as ``ctlabel pull`` (dicomweb-client over a
``requests`` session): a server that does not answer within the timeout, refuses the
credentials or fails is a :class:`~ctlabel.dicomweb.client.ServerError` naming the URL and the reason.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ctlabel.errors import InputError


@dataclass
class PushReport:
    """What a push stored: the server (without credentials) and the SOP Instance UIDs."""

    url: str
    stored: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"url": self.url, "stored": list(self.stored)}


def push(url: str, paths: list[str | os.PathLike], *, timeout: float = 60.0, user: str | None = None,
         password: str | None = None, token: str | None = None) -> PushReport:
    """Store DICOM files on a DICOMweb server (STOW-RS).

    Parameters
    ----------
    url : str
        The DICOMweb root (e.g. ``http://127.0.0.1:8042/dicom-web`` for Orthanc).
    paths : list of path
        DICOM files to store.
    timeout : float
        Seconds to wait for an answer before giving up.
    user, password, token : str, optional
        HTTP basic authentication, or a bearer token.

    Returns
    -------
    PushReport

    Raises
    ------
    ServerError
        The server cannot be reached, times out, refuses the credentials or the instances.
    """
    import pydicom

    from ctlabel.dicomweb.client import Server, ServerError

    datasets = []
    for p in paths:
        try:
            datasets.append(pydicom.dcmread(os.fspath(p)))
        except Exception as exc:  # noqa: BLE001 - pydicom raises many kinds on a bad file
            raise InputError(f"cannot read the DICOM file to store ({type(exc).__name__}: {exc})", p) from None
    server = Server(url, timeout=timeout, user=user, password=password, token=token)
    answer = server.call("storing instances (STOW-RS)", server.client.store_instances, datasets)
    failed = answer.get("00081198", {}).get("Value", []) if hasattr(answer, "get") else []
    if failed:
        raise ServerError(f"the server refused {len(failed)} of {len(datasets)} instance(s) (STOW-RS "
                          "FailedSOPSequence)", server.url)
    return PushReport(server.url, [str(ds.SOPInstanceUID) for ds in datasets])


__all__ = ["PushReport", "push"]
