"""Reading data files with a real parser, and checking output paths before long runs."""

import csv
import os
from pathlib import Path
import tempfile

import numpy as np
import pandas as pd

__all__ = ["MISSING_MARKERS", "check_output_directory", "check_output_path", "read_coin_csv", "read_numeric_csv"]

MISSING_MARKERS = frozenset({"", "na", "nan", "n/a"})
"""Cells (after stripping, in any case) that mean a missing value."""


def _read_csv(path: str | os.PathLike) -> pd.DataFrame:
    """The file's rows under its header, as strings; every row must have the header's length."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"--data: no such file: {path}")
    if path.is_dir():
        raise ValueError(f"--data: {path} is a directory, not a CSV file")
    try:
        with path.open(newline="") as handle:
            rows = [row for row in csv.reader(handle, skipinitialspace=True, strict=True) if row]
    except (csv.Error, UnicodeDecodeError) as error:
        raise ValueError(f"--data: {path} does not parse as CSV ({error})") from None
    if not rows:
        raise ValueError(f"--data: {path} is empty")
    header, *body = rows
    if not body:
        raise ValueError(f"--data: {path} has a header but no rows (empty data)")
    for line, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise ValueError(f"--data: {path} line {line} has {len(row)} fields, the header has {len(header)}")
    return pd.DataFrame(body, columns=[name.strip() for name in header])


def _numeric_columns(table: pd.DataFrame, path, columns: list[str]) -> np.ndarray:
    """``columns`` of ``table`` as floats (n_rows, n_columns); a missing-value cell is NaN."""
    values = []
    for name in columns:
        missing = table[name].str.strip().str.lower().isin(MISSING_MARKERS)
        column = pd.to_numeric(table[name].mask(missing), errors="coerce")
        bad = column.isna() & ~missing
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"--data: column {name!r} in {path} is not numeric (row {row + 1}: {table[name].iloc[row]!r}); "
                "choose numeric columns with --columns"
            )
        values.append(column.to_numpy(dtype=float))
    return np.column_stack(values)


def read_coin_csv(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Heads and flips, each of shape (n_experiments,), from a CSV with columns ``heads`` and ``flips``.

    Values are checked later by the fit (counts, heads <= flips); here only the
    file's structure: it parses, has both columns, and holds numbers.
    """
    table = _read_csv(path)
    missing = {"heads", "flips"} - set(table.columns)
    if missing:
        raise ValueError(f"--data: {path} lacks column(s) {sorted(missing)}; found {list(table.columns)}")
    values = _numeric_columns(table, path, ["heads", "flips"])
    return values[:, 0], values[:, 1]


def read_numeric_csv(path: str | os.PathLike, columns: list[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """The chosen columns (all by default) as floats of shape (n_rows, n_columns), and their names.

    An empty, NA or NaN cell becomes NaN (a missing value); any other cell that
    is not a number is an error naming its column and row.
    """
    table = _read_csv(path)
    columns = list(table.columns) if columns is None else columns
    unknown = [name for name in columns if name not in table.columns]
    if unknown:
        raise ValueError(f"--columns: {unknown} not in {path}, whose columns are {list(table.columns)}")
    return _numeric_columns(table, path, columns), columns


def check_output_directory(path: str | os.PathLike, option: str) -> Path:
    """``path`` as a Path to an existing directory where a file can be created, checked before any work.

    ``option`` names the command-line option in the error (for instance ``--plots``).
    Writability is tried, not inferred from permissions, which a superuser ignores.
    """
    path = Path(path)
    if not path.is_dir():
        raise ValueError(f"{option}: {path} is not an existing directory")
    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise ValueError(f"{option}: directory {path} is not writable ({error.strerror})") from None
    return path


def check_output_path(path: str | os.PathLike) -> Path:
    """``path`` as a Path to a file that can be created, in a folder that exists, checked before any work."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"--output: {path} is a directory")
    if not path.parent.is_dir():
        raise ValueError(f"--output: folder {path.parent} does not exist")
    check_output_directory(path.parent, "--output")
    return path


def write_netcdf(tree, path: str | os.PathLike) -> None:
    """Write the DataTree ``tree`` to ``path`` atomically: a failed write leaves no file behind.

    The file is written under a temporary name in the same folder and moved
    into place only when complete.
    """
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        tree.to_netcdf(temporary, engine="h5netcdf")
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)
