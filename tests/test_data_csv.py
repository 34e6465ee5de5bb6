"""``csv:PATH`` (issue 19): a header row, numeric feature columns, labels of any type in the
target column (default: the last), refused in one line naming the column at fault."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from _helpers import assert_one_line
from idmlp.cli import main
from idmlp.data import DataError, load_csv, load_dataset

ROWS = "".join(f"{i % 7 / 2},{i % 5},{['setosa', 'virginica'][i % 2]},{i % 3 == 0}\n"
               for i in range(30))
GOOD = "petal,sepal,species,big\n" + ROWS


def _csv(tmp_path: Path, text: str | bytes, name: str = "t.csv") -> str:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return f"csv:{path}"


def test_last_column_is_the_default_target(tmp_path):
    ds = load_dataset(_csv(tmp_path, GOOD.replace(",species", ",").replace(",setosa", ",1")
                           .replace(",virginica", ",2")))
    assert ds.class_names == ("False", "True")  # 'big' is last


def test_named_target_labels_any_type(tmp_path):
    name = _csv(tmp_path, GOOD)
    ds = load_dataset(name, target="species", seed=2)
    assert ds.class_names == ("setosa", "virginica")
    assert ds.feature_names == ("petal", "sepal", "big")
    assert ds.layout == "features" and ds.image_shape == (3,)
    assert len(ds.y_train) == 24 and np.bincount(ds.y_test).tolist() == [3, 3]
    # booleans are 0/1 features; every row comes back with its own label
    table = np.array([r.split(",") for r in ROWS.splitlines()])
    by_row = {(float(a), float(b), float(c == "True")): s for a, b, s, c in table}
    for x, label in zip(ds.X_train, ds.y_train, strict=True):
        assert by_row[tuple(float(v) for v in x)] == ds.class_names[label]
    assert load_csv(name, target="species", seed=2).class_names == ds.class_names


def test_integer_labels_sorted_as_numbers(tmp_path):
    text = "a,b,label\n" + "".join(f"{i},{i * 2},{[2, 10, 7][i % 3]}\n" for i in range(30))
    assert load_dataset(_csv(tmp_path, text)).class_names == ("2", "7", "10")


def test_spaces_after_commas_and_quotes(tmp_path):
    text = 'x, y, "kind"\n' + "".join(f'{i}, {i % 4}, "a, {i % 2}"\n' for i in range(20))
    ds = load_dataset(_csv(tmp_path, text))
    assert ds.feature_names == ("x", "y") and ds.class_names == ("a, 0", "a, 1")


@pytest.mark.parametrize(("text", "target", "match"), [
    (GOOD, "big", "'species' not numeric \\(e.g. 'setosa'\\)"),
    ("a,b,c\n" + "1,,0\n2,3,1\n" * 10, None, r"missing or infinite values in .* 'b' \(10\)"),
    ("a,b,c\n" + "1,inf,0\n2,3,1\n" * 10, None, "'b' \\(10\\)"),
    ("a,b,c\n" + "1,2,\n2,3,1\n" * 10, None, "target column 'c' has 10 missing"),
    (GOOD, "colour", "no column 'colour' for the target \\(columns: 'petal'"),
    ("label\n" + "a\nb\n" * 10, None, "only the target column 'label'"),
    ("a,b\n", None, "header but no rows"),
    ("", None, "is empty; the first row must name the columns"),
    ("1,2,0\n" + "3,4,1\n" * 10, None, "holds numbers, not column names; add a header row"),
    ("a,b,c\n1,2,0\n3,4,1,5\n", None, "cannot parse .* as CSV"),
    ("a,b,c\n1,2,0,9\n3,4,1\n", None, "cannot parse .* as CSV"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", None, "not a UTF-8 text file"),
    ("a,b,c\n" + "1,2,0\n" * 10, None, "single class"),
    ("a,b,c\n" + "1,2,0\n" * 10 + "3,4,1\n", None, "stratified"),
    ("a,a,c\n" + "1,2,0\n3,4,1\n" * 5, "c", "duplicate column"),
], ids=["text-column", "empty-cell", "inf", "missing-label", "unknown-target",
        "no-features", "no-rows", "empty-file", "no-header", "long-row", "long-first-row",
        "binary", "one-class", "class-of-one", "duplicate-header"])
def test_bad_csv_one_line(tmp_path, text, target, match):
    with pytest.raises(DataError, match=match) as info:
        load_dataset(_csv(tmp_path, text), target=target)
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found; expected csv:PATH"):
        load_dataset(f"csv:{tmp_path / 'none.csv'}")


def test_target_only_for_csv(tmp_path):
    with pytest.raises(ValueError, match="names a column of a csv:PATH dataset"):
        load_dataset("digits", target="label")
    with pytest.raises(ValueError, match="column name or None"):
        load_dataset(_csv(tmp_path, GOOD), target="")


# -- through the command line (target: the last column until DataConfig.target exists) -----


def test_cli_trains_on_a_csv(tmp_path, capsys, one_thread):
    name = _csv(tmp_path, GOOD.replace(",big", "").replace(",True\n", "\n")
                .replace(",False\n", "\n"))
    rc = main(["train", "--dataset", name, "--depth", "2", "--epochs", "1", "--quiet",
               "--out", str(tmp_path / "run")])
    assert rc == 0, capsys.readouterr().err
    assert (tmp_path / "run").is_dir()


def test_cli_bad_csv_is_one_line_and_writes_nothing(tmp_path, capsys):
    name = _csv(tmp_path, GOOD.replace("big\n", "big\n") + "1,2,x,y,z\n")
    capsys.readouterr()
    rc = main(["train", "--dataset", name, "--depth", "2", "--epochs", "1", "--quiet",
               "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert rc == 2
    assert_one_line(err, "cannot parse")
    assert not (tmp_path / "run").exists()
