"""Downloads: one network call (:func:`_fetch`, which the tests monkeypatch) and a
checksum-verified, atomic download into the data folder (:func:`download_verified`)."""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from pathlib import Path

from .validation import DataError

__all__ = ["download_verified"]


def _fetch(url: str, dest: Path, timeout: float = 60.0) -> None:
    """Download ``url`` to ``dest`` (the single network call; tests monkeypatch it)."""
    with urllib.request.urlopen(url, timeout=timeout) as response, dest.open("wb") as fh:
        while chunk := response.read(1 << 20):
            fh.write(chunk)


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def download_verified(name: str, url: str, dest: Path, md5: str) -> None:
    """Fetch ``url`` into a temp file next to ``dest``, check its MD5, then rename it."""
    fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        try:
            _fetch(url, tmp)
        except OSError as exc:  # URLError, HTTPError and timeouts are OSErrors
            raise DataError(
                f"{name}: download of {url} failed ({exc}); put the four IDX files in "
                f"{dest.parent} by hand"
            ) from None
        actual = _md5(tmp)
        if actual != md5:
            raise DataError(
                f"{name}: checksum mismatch for {url} (MD5 {actual}, expected {md5}); "
                "the download is corrupt, try again"
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
