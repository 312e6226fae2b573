"""The DICOMweb client of ``ctlabel pull`` and ``ctlabel push``: dicomweb-client with our errors.

:class:`Server` wraps ``dicomweb-client`` over a ``requests`` session (basic or bearer
authentication) and turns every failure into a :class:`ServerError` (the server cannot be used)
or a :class:`SeriesFailed` (one series cannot be retrieved; the others go on). No credential is
ever written anywhere. See docs/pull.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ctlabel.errors import CtlabelError, InputError

PAGE = 500  # QIDO-RS results asked for at a time


class ServerError(CtlabelError, OSError):
    """The DICOMweb server cannot be used: unreachable, silent, refusing access or not DICOMweb."""


class SeriesFailed(Exception):
    """One series cannot be retrieved (the others go on)."""


def public_url(url: str) -> str:
    """The URL as recorded: no user, password, query or fragment.

    Parameters
    ----------
    url : str
        A server URL, possibly with credentials, a query or a fragment.

    Returns
    -------
    str
        ``scheme://host[:port]/path`` without a trailing slash.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def value(item: dict, tag: str) -> str | None:
    """The first value of ``tag`` in a DICOM JSON item, as a string (None when absent)."""
    values = (item.get(tag) or {}).get("Value") or [None]
    v = values[0]
    return None if v is None else str(v)


class Server:
    """dicomweb-client with errors turned into :class:`ServerError` / :class:`SeriesFailed`.

    Parameters
    ----------
    url : str
        The DICOMweb root; recorded (``self.url``) without credentials.
    timeout : float
        Seconds to wait for an answer; a request is never retried.
    user, password : str, optional
        HTTP basic authentication (``user`` set).
    token : str, optional
        A bearer token (used when ``user`` is None).

    Raises
    ------
    InputError
        ``url`` is not a usable DICOMweb URL.
    """

    def __init__(self, url: str, *, timeout: float, user: str | None = None, password: str | None = None,
                 token: str | None = None):
        import requests
        from dicomweb_client.api import DICOMwebClient

        self.url = public_url(url)
        self.timeout = float(timeout)
        session = requests.Session()
        if user is not None:
            session.auth = (user, password or "")
        elif token is not None:
            session.headers["Authorization"] = f"Bearer {token}"
        try:
            self.client = DICOMwebClient(url.rstrip("/"), session=session, timeout=(self.timeout, self.timeout))
        except ValueError as exc:
            raise InputError(f"not a usable DICOMweb URL ({exc})", self.url) from None
        # No retries: dicomweb-client's would also repeat a request that timed out, so a silent server
        # would cost several --timeout periods; one period is the promise.
        self.client.set_http_retry_params(retry=False)

    def call(self, what: str, fn: Callable[..., Any], *args: Any, series_level: bool = False, **kwargs: Any) -> Any:
        """Run one request; a connection problem or refused access is a :class:`ServerError`.

        Parameters
        ----------
        what : str
            What the request does, for the error message ("searching series (QIDO-RS)").
        fn : callable
            The dicomweb-client method, called with ``args`` and ``kwargs``.
        series_level : bool
            A request about one series: a missing series or a malformed answer is a
            :class:`SeriesFailed` instead of a :class:`ServerError`.

        Returns
        -------
        object
            What ``fn`` returns.

        Raises
        ------
        ServerError
            The server cannot be reached, times out, refuses access or fails.
        SeriesFailed
            With ``series_level``: the series cannot be retrieved.
        """
        import requests

        try:
            return fn(*args, **kwargs)
        except requests.exceptions.Timeout:
            raise ServerError(f"no answer within {self.timeout:g} s ({what}); gave up", self.url,
                              options=("timeout",)) from None
        except requests.exceptions.ConnectionError as exc:
            raise ServerError(f"cannot reach the server ({what}): {_short(exc)}", self.url) from None
        except requests.exceptions.HTTPError as exc:
            raise self._http_error(what, exc, series_level) from None
        except requests.exceptions.RequestException as exc:
            raise ServerError(f"request failed ({what}): {_short(exc)}", self.url) from None
        except (ValueError, KeyError, IndexError, TypeError) as exc:  # a malformed answer
            if series_level:
                raise SeriesFailed(f"unusable answer while {what}: {exc}") from None
            raise ServerError(f"unusable answer while {what} (not DICOMweb?): {exc}", self.url) from None

    def _http_error(self, what: str, exc: Any, series_level: bool) -> Exception:
        """The error to raise for an HTTP error status."""
        code = exc.response.status_code if exc.response is not None else 0
        reason = (exc.response.reason if exc.response is not None else "") or ""
        if code in (401, 403):
            return ServerError(f"access refused (HTTP {code} {reason}) while {what}: wrong or missing credentials"
                               " (a user with a password, or a token)", self.url,
                               options=("user", "password_env", "token_env"))
        if series_level and code in (404, 410):
            return SeriesFailed(f"HTTP {code} {reason} while {what}")
        if code == 404:
            return ServerError(f"HTTP 404 Not Found while {what}: is this the DICOMweb root of the server "
                               "(e.g. http://host:8042/dicom-web for Orthanc)?", self.url)
        if series_level and 400 <= code < 500:
            return SeriesFailed(f"HTTP {code} {reason} while {what}")
        return ServerError(f"the server failed (HTTP {code} {reason}) while {what}", self.url)

    def _paged(self, what: str, fn: Callable[..., Any], key: str, **kwargs: Any) -> list[dict]:
        """All results of a QIDO-RS search, PAGE at a time (stops if the server ignores offset)."""
        results: list[dict] = []
        seen: set[str | None] = set()
        offset = 0
        while True:
            page = self.call(what, fn, limit=PAGE, offset=offset, **kwargs) or []
            new = [r for r in page if value(r, key) not in seen]
            results += new
            seen |= {value(r, key) for r in new}
            if len(page) < PAGE or not new:
                return results
            offset += len(page)

    def series_of(self, study: str | None, series: str | None,
                  modality: str | None) -> list[tuple[str, str, str | None]]:
        """(study, series, modality) of the matching series.

        Parameters
        ----------
        study, series : str, optional
            The UIDs to search for (None: any).
        modality : str, optional
            Only series of this modality (None: any).

        Returns
        -------
        list of (str, str, str or None)
            The matches, also filtered here for a server that ignores a filter.
        """
        filters = {}
        if series:
            filters["SeriesInstanceUID"] = series
        if modality:
            filters["Modality"] = modality
        found = self._paged("searching series (QIDO-RS)", self.client.search_for_series, "0020000E",
                            study_instance_uid=study or None, search_filters=filters,
                            fields=["StudyInstanceUID", "SeriesInstanceUID", "Modality"])
        out = []
        for r in found:
            st, se, mo = value(r, "0020000D") or study, value(r, "0020000E"), value(r, "00080060")
            if not se or not st:
                continue
            if series and se != series:
                continue  # a server that ignored the filter
            if modality and mo and mo.upper() != modality.upper():
                continue
            out.append((st, se, mo))
        return out

    def studies_by_date(self, study_date: str) -> list[str]:
        """The Study Instance UIDs of the studies in a DICOM date range (``YYYYMMDD-YYYYMMDD``)."""
        found = self._paged("searching studies (QIDO-RS)", self.client.search_for_studies, "0020000D",
                            search_filters={"StudyDate": study_date}, fields=["StudyInstanceUID"])
        return [u for r in found if (u := value(r, "0020000D"))]

    def instances_of(self, study: str, series: str) -> list[str]:
        """The sorted SOP Instance UIDs of a series (a :class:`SeriesFailed` if it cannot be listed)."""
        found = self._paged("listing the instances of a series (QIDO-RS)", self.client.search_for_instances,
                            "00080018", series_level=True, study_instance_uid=study,
                            series_instance_uid=series, fields=["SOPInstanceUID"])
        return sorted({u for r in found if (u := value(r, "00080018"))})

    def retrieve(self, study: str, series: str, sop: str) -> Any:
        """One instance as a pydicom data set (WADO-RS; a :class:`SeriesFailed` if it cannot be had)."""
        return self.call("retrieving an instance (WADO-RS)", self.client.retrieve_instance, study, series,
                         sop, series_level=True)


def _short(exc: Exception) -> str:
    """The telling part of a connection error's long text."""
    text = str(exc)
    m = re.search(r"\[Errno -?\d+\] [^')\]]+|Connection refused|Connection reset[^')\]]*|RemoteDisconnected[^')]*"
                  r"|Connection aborted", text)
    return m.group(0) if m else (text[:200] or type(exc).__name__)


__all__ = ["Server", "SeriesFailed", "ServerError", "public_url"]
