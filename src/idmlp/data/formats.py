"""File formats: the IDX format of MNIST, Fashion-MNIST and KMNIST (:func:`read_idx`,
:func:`write_idx`) and the ``npz:PATH`` reader of a user's own data (:func:`load_npz`).

IDX is read by hand (a 4-byte header, big-endian sizes, raw data): no well-kept library reads
it without pulling in torchvision, which does not load beside the CPU torch here.
"""

from __future__ import annotations

import gzip
import math
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .dataset import Dataset, split_dataset
from .registry import LAYOUTS
from .validation import (
    DataError,
    check_features,
    check_image_shape,
    check_labels,
    check_layout,
    check_lengths,
)

__all__ = ["load_npz", "read_idx", "read_npz", "write_idx"]


# IDX type code -> big-endian numpy dtype (http://yann.lecun.com/exdb/mnist/, "IDX format").
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_CODES: dict[np.dtype, int] = {dt.newbyteorder("="): code for code, dt in _IDX_DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed) into a native-endian numpy array.

    The header is ``0x00 0x00 <type> <ndim>`` followed by ``ndim`` big-endian uint32
    sizes; the type code is 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32
    or 0x0E float64, and the data follows in big-endian, row-major order. Gzip is detected
    by a ``.gz`` suffix or by the magic bytes ``1f 8b``.

    Raises
    ------
    DataError
        Naming the file, for a corrupt gzip stream, wrong magic number, unknown type code,
        truncated data (fewer bytes than the sizes require) or trailing bytes.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read IDX file {path}: {exc.strerror or exc}") from None
    if path.suffix == ".gz" or raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{path}: corrupt gzip data ({exc}); delete and re-download") from None
    if len(raw) < 4:
        raise DataError(f"{path}: truncated IDX file ({len(raw)} bytes, header needs 4)")
    if raw[0] != 0 or raw[1] != 0:
        raise DataError(
            f"{path}: not an IDX file (magic number {raw[:4].hex(' ')}, expected 00 00 <type> "
            "<ndim>)"
        )
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        valid = ", ".join(f"0x{c:02X}" for c in _IDX_DTYPES)
        raise DataError(f"{path}: unknown IDX data type code 0x{code:02X} (valid: {valid})")
    if ndim == 0:
        raise DataError(f"{path}: IDX header declares 0 dimensions")
    offset = 4 + 4 * ndim
    if len(raw) < offset:
        raise DataError(f"{path}: truncated IDX header ({len(raw)} bytes, needs {offset})")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize
    actual = len(raw) - offset
    if actual < expected:
        raise DataError(
            f"{path}: truncated IDX file: shape {shape} needs {expected} data bytes, found {actual}"
        )
    if actual > expected:
        raise DataError(
            f"{path}: {actual - expected} trailing bytes after the IDX data of shape {shape}"
        )
    data = np.frombuffer(raw, dtype=dtype, count=math.prod(shape), offset=offset)
    return data.reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file (gzip-compressed if ``path`` ends in ``.gz``).

    Supported dtypes: uint8, int8, int16, int32, float32, float64; 1 to 255 dimensions,
    each below 2**32. Returns the path written.
    """
    arr = np.asarray(array)
    code = _IDX_CODES.get(arr.dtype.newbyteorder("="))
    if code is None:
        names = ", ".join(str(dt) for dt in _IDX_CODES)
        raise ValueError(f"array dtype must be one of {names} for IDX, got {arr.dtype}")
    if not 1 <= arr.ndim <= 255 or any(d >= 2**32 for d in arr.shape):
        raise ValueError(
            f"array must have 1..255 dims, each < 2**32, for IDX; got shape {arr.shape}"
        )
    header = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
    payload = header + arr.astype(_IDX_DTYPES[code], copy=False).tobytes(order="C")
    path = Path(path)
    if path.suffix == ".gz":
        payload = gzip.compress(payload, mtime=0)
    path.write_bytes(payload)
    return path


# --------------------------------------------------------------------------------------
# Built-in datasets


def load_npz(name: str, *, test_size: float, seed: int) -> Dataset:
    """The dataset in the file of ``name = "npz:PATH"`` (see :func:`idmlp.data.load_dataset`).

    Keys: ``X`` (n, ...) and ``y`` (n,) (class indices ``0..C-1``); optionally ``X_test`` and
    ``y_test`` (an official test split, else a stratified ``test_size`` one), ``class_names``,
    ``image_shape`` (the shape of one sample, if ``X`` is flat) and ``layout`` (one string of
    :data:`~idmlp.data.registry.LAYOUTS`). Without ``layout``, an ``image_shape`` of one
    element, ``(L,)``, makes a signal; otherwise :class:`~idmlp.data.Dataset` infers it
    (``image`` for two or three dimensions, ``features`` otherwise): a signal of C > 1 channels,
    ``(C, L)``, says ``layout="signal"``.
    """
    path = Path(name[len("npz:") :]).expanduser()
    if not path.is_file():
        raise DataError(f"{name}: file {path} not found; expected npz:PATH to a .npz file")
    arrays = read_npz(path, name)
    missing = [k for k in ("X", "y") if k not in arrays]
    if missing:
        raise DataError(
            f"{name}: missing key(s) {', '.join(missing)} in {path} (found: "
            f"{', '.join(sorted(arrays)) or 'none'}); save with np.savez(path, X=..., y=...)"
        )
    if ("X_test" in arrays) != ("y_test" in arrays):
        raise DataError(f"{name}: give both X_test and y_test in {path}, or neither")

    X_parts = [arrays["X"]] + ([arrays["X_test"]] if "X_test" in arrays else [])
    for key, X in zip(("X", "X_test"), X_parts, strict=False):
        if X.ndim < 2:
            raise DataError(f"{name}: {key} must have shape (n_samples, ...), got {X.shape}")
    image_shape = tuple(arrays["X"].shape[1:])
    if "image_shape" in arrays:
        image_shape = check_image_shape(arrays["image_shape"], math.prod(image_shape), name)
    layout: str | None = "signal" if "image_shape" in arrays and len(image_shape) == 1 else None
    if "layout" in arrays:
        raw = arrays["layout"]
        if raw.dtype.kind not in "US" or raw.size != 1:
            raise DataError(f"{name}: layout in {path} must be one string, one of "
                            f"{', '.join(LAYOUTS)} (e.g. np.savez(..., layout='signal'))")
        layout = check_layout(str(raw.reshape(-1)[0]), image_shape, name)
    X = arrays["X"].reshape(len(arrays["X"]), math.prod(arrays["X"].shape[1:]))
    y = check_labels(arrays["y"], f"{name}: y")
    X = check_features(X, f"{name}: X")
    check_lengths(X, y, name)

    class_names: tuple[str, ...] = ()
    if "class_names" in arrays:
        class_names = tuple(str(c) for c in np.asarray(arrays["class_names"]).reshape(-1))
        if not class_names:
            raise DataError(f"{name}: class_names in {path} is empty")

    if "X_test" in arrays:
        X_te = arrays["X_test"]
        X_te = X_te.reshape(len(X_te), math.prod(X_te.shape[1:]))
        return Dataset(name, X, y, X_te, arrays["y_test"], image_shape, class_names,
                       layout=layout)
    return split_dataset(name, X, y, image_shape, class_names, test_size, seed, layout)


def _check_members(fh: BinaryIO, path: Path, name: str) -> None:
    """Read every member's ``.npy`` header (a few hundred bytes) and refuse, before any
    array is allocated, one whose declared shape needs more bytes than the member holds
    (a forged or truncated header would otherwise allocate e.g. 10^12 elements) or that
    holds Python objects."""
    with zipfile.ZipFile(fh) as zf:
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                continue
            with zf.open(info) as member:
                version = np.lib.format.read_magic(member)
                read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                        else np.lib.format.read_array_header_2_0)
                shape, _, dtype = read(member)
                header = member.tell()
            if dtype.hasobject:
                raise DataError(f"{name}: {info.filename} in {path} holds Python objects: "
                                "save numeric arrays with np.savez(path, X=..., y=...)")
            declared = math.prod(shape) * dtype.itemsize
            if declared > info.file_size - header:
                raise DataError(
                    f"{name}: {path} is corrupt: {info.filename} declares shape {shape} "
                    f"({declared:,} bytes) but holds {max(0, info.file_size - header):,}; "
                    "save it again with np.savez(path, X=..., y=...)")
    fh.seek(0)


def read_npz(path: Path, name: str) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` file ``path`` (no pickles), or one :class:`DataError`
    that says what is wrong with the file and how to write it again. Each member's declared
    size is checked against the file before anything is read (:func:`_check_members`). A
    file that cannot be read at all (permissions) is an environment failure: ``OSError``."""
    unreadable = (ValueError, EOFError, KeyError, zlib.error, zipfile.BadZipFile,
                  OSError)
    save = "save it with np.savez(path, X=..., y=...)"
    # Our own file object: np.load leaks its own when the zip directory is corrupt.
    with path.open("rb") as fh:
        try:
            magic = fh.read(6)
            fh.seek(0)
            if magic == b"\x93NUMPY":  # np.save wrote one array
                raise DataError(f"{name}: {path} holds a single .npy array, not a .npz "
                                f"archive of named arrays; {save}")
            if not zipfile.is_zipfile(fh):
                raise DataError(f"{name}: cannot read {path} as .npz (no readable zip file of "
                                f".npy arrays); the file is truncated or not a .npz: {save}")
            fh.seek(0)
            _check_members(fh, path, name)
            with np.load(fh, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except unreadable as exc:
            if isinstance(exc, DataError):
                raise
            if isinstance(exc, OSError) and exc.errno is not None:  # an I/O error
                raise
            reason = " ".join(str(exc).split()) or type(exc).__name__
            if "pickle" in reason.lower() or "Object arrays" in reason:
                reason = "it holds Python objects"  # never pass on numpy's allow_pickle hint
            raise DataError(f"{name}: cannot read {path} as .npz ({reason[:200]}); the file "
                            f"is truncated or not a .npz: {save}") from None
    return arrays
