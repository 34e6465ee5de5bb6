"""Tables: a CSV file with a header row (``csv:PATH``, :func:`load_csv`) or a pandas
``DataFrame`` in memory (:func:`frame_arrays`) as a dataset of features and class labels.

The file is parsed by pandas (quoting, encodings and a byte-order mark are its job). Every
column but the target is a feature and must be numeric (booleans count as 0/1): a column of
text is refused with its name, as is a column with a missing value (an empty cell, ``NA``,
``NaN``) or an infinite one, since imputation is a modelling choice left to the user. The
target holds labels of any type (integers, strings, ...): they are encoded as class indices
(the sorted distinct values, :func:`~idmlp.data.validation.encode_labels`) and kept as the
class names. One sample is a row, ``layout="features"``; the column names are kept as
``feature_names``.
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .dataset import Dataset, split_dataset
from .validation import DataError, class_names_of, encode_labels

__all__ = ["frame_arrays", "frame_features", "load_csv"]

_SHOWN = 8  # column names listed in a message


def load_csv(name: str, *, target: str | None = None, test_size: float = 0.2,
             seed: int = 0) -> Dataset:
    """The dataset in the CSV file of ``name = "csv:PATH"``, split into a stratified test
    fraction ``test_size`` (deterministic given ``seed``).

    Args:
        name: ``"csv:PATH"``; the file's first row names the columns.
        target: the column holding the class labels (default: the last column).
        test_size: the test fraction, in (0, 1).
        seed: the seed of the stratified split.

    Raises:
        DataError: a missing or unreadable file, no header row, an unknown target, a
            non-numeric feature column (named), a missing or infinite value (its column
            named), a single class, a class too small to stratify, ...

    Examples:
        >>> _ = (tmp / "iris.csv").write_text("width,length,kind\\n" + "1,2,a\\n3,4,b\\n" * 5)
        >>> ds = load_csv(f"csv:{tmp / 'iris.csv'}", target="kind")
        >>> ds.class_names, ds.feature_names, ds.layout
        (('a', 'b'), ('width', 'length'), 'features')
    """
    path = Path(name[len("csv:"):]).expanduser()
    if not path.is_file():
        raise DataError(f"{name}: file {path} not found; expected csv:PATH to a .csv file")
    frame = _read_csv(path, name)
    X, y, feature_names = frame_arrays(frame, target, name)
    codes, classes = encode_labels(y, f"{name}: target column {_target_name(frame, target)!r}")
    return split_dataset(name, X, codes, (X.shape[1],), class_names_of(classes), test_size,
                         seed, "features", feature_names)


def frame_arrays(frame: Any, target: str | None, where: str
                 ) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """``(X, y, feature_names)`` of a pandas ``DataFrame``: every column but ``target``
    (default: the last column) as features (:func:`frame_features`) and the raw labels of
    ``target``. ``where`` starts every message."""
    columns = _column_names(frame, where)
    label = _target_name(frame, target)
    if label not in columns:
        raise DataError(f"{where}: no column {label!r} for the target (columns: "
                        f"{_names(columns)}); name the label column")
    table = frame.set_axis(columns, axis=1)
    features = [c for c in columns if c != label]
    if not features:
        raise DataError(f"{where}: only the target column {label!r}; a dataset needs at least "
                        "one feature column")
    X, names = frame_features(table[features], where)
    return X, table[label].to_numpy(), names


def frame_features(frame: Any, where: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """The columns of a pandas ``DataFrame`` as one float64 array ``(rows, columns)`` and
    their names; a column of text (named in the message), a missing or infinite value (its
    column named), no rows or duplicate names raise :class:`DataError`."""
    columns = _column_names(frame, where)
    if len(frame) == 0:
        raise DataError(f"{where}: the table has a header but no rows")
    table = frame.set_axis(columns, axis=1)
    numeric = {c: _numeric_column(table.iloc[:, j]) for j, c in enumerate(columns)}
    text = [c for c, values in numeric.items() if values is None]
    if text:
        example = table[text[0]].dropna()
        shown = f" (e.g. {str(example.iloc[0])!r})" if len(example) else ""
        raise DataError(f"{where}: feature column(s) {_names(text)} not numeric{shown}; encode "
                        "them as numbers (e.g. one-hot) or drop them")
    X = np.column_stack([numeric[c] for c in columns])
    bad = ~np.isfinite(X)
    if bad.any():
        counts = bad.sum(axis=0)
        cols = [f"{columns[j]!r} ({int(counts[j])})" for j in np.flatnonzero(counts)[:_SHOWN]]
        raise DataError(f"{where}: missing or infinite values in column(s) {', '.join(cols)}; "
                        "drop those rows or impute the values first")
    return X, tuple(columns)


def _column_names(frame: Any, where: str) -> list[str]:
    columns = [str(c) for c in frame.columns]
    if len(set(columns)) != len(columns):
        dup = sorted({c for c in columns if columns.count(c) > 1})
        raise DataError(f"{where}: duplicate column name(s) {_names(dup)}; give every column "
                        "its own name")
    return columns


def _read_csv(path: Path, name: str) -> Any:
    import pandas as pd

    try:
        with warnings.catch_warnings():
            # rows longer than the header: pandas drops the extra fields with a warning
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(path, index_col=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise DataError(f"{name}: {path} is empty; the first row must name the columns") from None
    except (pd.errors.ParserError, pd.errors.ParserWarning) as exc:
        reason = " ".join(str(exc).split())
        raise DataError(f"{name}: cannot parse {path} as CSV ({reason}); every row needs one "
                        "field per header column") from None
    except UnicodeDecodeError:
        raise DataError(f"{name}: {path} is not a UTF-8 text file; save the table as CSV "
                        "(UTF-8)") from None
    except OSError as exc:
        raise DataError(f"{name}: cannot read {path} ({exc.strerror or exc}); check that the "
                        "file is readable") from None
    with path.open(encoding="utf-8-sig", newline="") as fh:  # pandas renames duplicates
        header = next(csv.reader(fh, skipinitialspace=True), [])
    _column_names(pd.DataFrame(columns=range(len(header))).set_axis(header, axis=1), name)
    if all(_is_number(c) for c in frame.columns):
        raise DataError(f"{name}: the first row of {path} holds numbers, not column names; "
                        "add a header row (the target is named by it)")
    return frame


def _numeric_column(column: Any) -> np.ndarray | None:
    """The column as float64, or ``None`` if it holds text (or dates, ...)."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(column.dtype) or pd.api.types.is_numeric_dtype(column.dtype):
        if pd.api.types.is_complex_dtype(column.dtype):
            return None
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    if column.isna().all():  # an empty column: pandas cannot tell its type
        return np.full(len(column), np.nan)
    return None


def _target_name(frame: Any, target: str | None) -> str:
    return str(frame.columns[-1]) if target is None else target


def _is_number(text: object) -> bool:
    try:
        float(str(text))
    except ValueError:
        return False
    return True


def _names(columns: list[str]) -> str:
    more = f" and {len(columns) - _SHOWN} more" if len(columns) > _SHOWN else ""
    return ", ".join(repr(c) for c in columns[:_SHOWN]) + more
