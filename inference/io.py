"""Reading data files with a real parser, and checking output paths before long runs."""

import csv
import os
import warnings
from pathlib import Path
import tempfile

import numpy as np
import pandas as pd

from .em.checks import physical_memory

__all__ = [
    "MISSING_MARKERS",
    "check_output_directory",
    "check_output_path",
    "read_coin_csv",
    "read_numeric_csv",
    "write_atomically",
    "write_netcdf",
]

MAX_COUNT = 2**53
"""The largest count read: float64, which the fits compute in, holds every whole number up to it."""

MISSING_MARKERS = frozenset({"", "na", "nan", "n/a"})
"""Cells (after stripping, in any case) that mean a missing value."""


MAX_LINE_CHARACTERS = 2**20
"""The longest CSV line read: a million characters (tens of thousands of columns)."""


def _bounded_lines(handle, path):
    """The lines of ``handle``, refusing a line over :data:`MAX_LINE_CHARACTERS` or a file over a quarter of memory.

    A stream (``/dev/zero``, a pipe) has no size to check up front; without
    these bounds reading it grew memory without end.
    """
    limit = physical_memory() // 4
    read = 0
    while line := handle.readline(MAX_LINE_CHARACTERS + 1):
        if len(line) > MAX_LINE_CHARACTERS:
            raise ValueError(f"--data: {path} has a line longer than {MAX_LINE_CHARACTERS} characters; is it a CSV file?")
        read += len(line)
        if read > limit:
            raise ValueError(
                f"--data: {path} holds more than {limit / 2**30:.3g} GiB, a quarter of this machine's memory; "
                "fit a sample of its rows, or use the Dask fit"
            )
        yield line


def _read_csv(path: str | os.PathLike) -> pd.DataFrame:
    """The file's rows under its header, as strings; every row must have the header's length.

    A byte-order mark before the header is ignored; a column name may appear only once.
    """
    path = Path(path)
    try:
        if not path.exists():
            raise ValueError(f"--data: no such file: {path}")
        if path.is_dir():
            raise ValueError(f"--data: {path} is a directory, not a CSV file")
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(_bounded_lines(handle, path), skipinitialspace=True, strict=True)
            rows = [(reader.line_num, row) for row in reader if row]
    except (csv.Error, UnicodeDecodeError) as error:
        raise ValueError(f"--data: {path} does not parse as CSV ({error})") from None
    except OSError as error:
        # Unreadable file or folder, a name longer than the file system allows, ...
        raise ValueError(f"--data: cannot read {path} ({error.strerror})") from None
    if not rows:
        raise ValueError(f"--data: {path} is empty")
    (_, header), *body = rows
    if not body:
        raise ValueError(f"--data: {path} has a header but no rows (empty data)")
    names = [name.strip() for name in header]
    repeated = next((name for position, name in enumerate(names) if name in names[:position]), None)
    if repeated is not None:
        raise ValueError(f"--data: {path} has a duplicate column {repeated!r} in its header {names}")
    for line, row in body:
        if len(row) != len(header):
            raise ValueError(f"--data: {path} line {line} has {len(row)} fields, the header has {len(header)}")
    return pd.DataFrame([row for _, row in body], columns=names)


def _numeric_columns(table: pd.DataFrame, path, columns: list[str]) -> np.ndarray:
    """``columns`` of ``table`` as floats (n_rows, n_columns); a missing-value cell is NaN.

    A cell that is not a number, or is an infinite one, is an error naming its
    column and its row (1 for the first row under the header).
    """
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
        numbers = column.to_numpy(dtype=float)
        infinite = np.isinf(numbers)
        if infinite.any():
            row = int(np.flatnonzero(infinite)[0])
            raise ValueError(
                f"--data: column {name!r} in {path} holds an infinite value (row {row + 1}: {table[name].iloc[row]!r})"
            )
        values.append(numbers)
    return np.column_stack(values)


def _check_complete(table: pd.DataFrame, path, columns: list[str], values: np.ndarray, remedy: str) -> None:
    """Raise, naming the first missing cell of ``values`` (n_rows, n_columns) and ending with ``remedy``."""
    cells = np.argwhere(np.isnan(values))
    if cells.size:
        row, column = cells[0]
        name = columns[column]
        raise ValueError(
            f"--data: {len(cells)} missing cell(s) in {path}, the first in column {name!r} "
            f"(row {row + 1}: {table[name].iloc[row]!r}); {remedy}"
        )


def read_coin_csv(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Heads and flips, each of shape (n_experiments,), from a CSV with columns ``heads`` and ``flips``.

    Values are checked later by the fit (counts, heads <= flips); here only the
    file's structure: it parses, has both columns, and holds a number in every cell.
    """
    table = _read_csv(path)
    missing = {"heads", "flips"} - set(table.columns)
    if missing:
        raise ValueError(f"--data: {path} lacks column(s) {sorted(missing)}; found {list(table.columns)}")
    values = _numeric_columns(table, path, ["heads", "flips"])
    _check_complete(table, path, ["heads", "flips"], values, "every experiment needs its heads and flips")
    # Beyond 2**53 float64 rounds whole numbers (2**53 + 1 reads as 2**53), so those cells are judged by their text.
    for position, name in enumerate(["heads", "flips"]):
        for row in np.flatnonzero(values[:, position] >= MAX_COUNT):
            cell = table[name].iloc[row].strip()
            if not cell.isdigit() or int(cell) > MAX_COUNT:
                raise ValueError(
                    f"--data: column {name!r} in {path} holds {cell} (row {row + 1}), beyond 2**53 = {MAX_COUNT}, "
                    "the largest count float64 holds exactly"
                )
    return values[:, 0], values[:, 1]


def _is_row_label_column(table: pd.DataFrame, name: str) -> bool:
    """Whether column ``name`` is an unnamed row counter: header empty or ``Unnamed: 0``, cells 1..n or 0..n-1."""
    if name not in ("", "Unnamed: 0") or table.shape[1] < 2:
        return False
    cells = table[name].str.strip()
    if not cells.str.fullmatch(r"\d+").all():
        return False
    counts = cells.astype(np.int64).to_numpy()
    return any(np.array_equal(counts, np.arange(first, first + len(counts))) for first in (0, 1))


def read_numeric_csv(
    path: str | os.PathLike, columns: list[str] | None = None, *, missing: str = "error"
) -> tuple[np.ndarray, list[str]]:
    """The chosen columns (all by default) as floats of shape (n_rows, n_columns), and their names.

    An empty, NA or NaN cell is a missing value: an error naming its column and
    row when ``missing`` is "error", NaN when it is "em". Any other cell that is
    not a finite number is an error naming its column and row.
    """
    table = _read_csv(path)
    if columns is None:
        columns = list(table.columns)
        if _is_row_label_column(table, columns[0]):
            warnings.warn(
                f"--data: the first column of {path} ({columns[0]!r}) numbers the rows, as R's write.csv and "
                "pandas' to_csv write them, and is left out; choose columns with --columns",
                UserWarning,
                stacklevel=2,
            )
            columns = columns[1:]
    repeated = next((name for position, name in enumerate(columns) if name in columns[:position]), None)
    if repeated is not None:
        raise ValueError(f"--columns: {repeated!r} is named twice in {columns}; name each column once")
    unknown = [name for name in columns if name not in table.columns]
    if unknown:
        raise ValueError(f"--columns: {unknown} not in {path}, whose columns are {list(table.columns)}")
    values = _numeric_columns(table, path, columns)
    empty = [name for name, column in zip(columns, values.T) if np.isnan(column).all()]
    if empty:
        raise ValueError(
            f"--data: column {empty[0]!r} in {path} has no values, every cell is missing; leave it out with --columns"
        )
    if missing == "error":
        _check_complete(table, path, columns, values, "pass --missing em to fit them as missing values by EM")
    return values, columns


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


_TEMPORARY_NAME_EXTRA = len("..") + 8 + len(".tmp")
"""What :func:`write_atomically`'s temporary name adds to the target's: dots, tempfile's 8 random characters, suffix."""


def check_output_path(path: str | os.PathLike, *, inputs: tuple = ()) -> Path:
    """``path`` as a Path to a file that can be created, in a folder that exists, checked before any work.

    An existing target must be a regular file, which the result then replaces,
    and none of ``inputs`` (the files the command reads). The temporary name
    the result is first written to must fit the file system too.
    """
    if str(path).endswith(("/", os.sep)):
        raise ValueError(f"--output: {path} ends with a separator; name a file")
    path = Path(path)
    try:
        if path.is_dir():
            raise ValueError(f"--output: {path} is a directory")
        if path.exists() and not path.is_file():
            raise ValueError(f"--output: {path} exists and is not a regular file (a device, pipe or socket)")
        if any(path.exists() and Path(source).exists() and path.samefile(source) for source in inputs):
            raise ValueError(f"--output: {path} is the input file; choose another name")
        if not path.parent.is_dir():
            raise ValueError(f"--output: folder {path.parent} does not exist")
        longest = os.pathconf(path.parent, "PC_NAME_MAX")
    except OSError as error:
        raise ValueError(f"--output: cannot use {path} ({error.strerror})") from None
    if len(os.fsencode(path.name)) + _TEMPORARY_NAME_EXTRA > longest:
        raise ValueError(
            f"--output: the name {path.name[:40]}... is too long: at most {longest - _TEMPORARY_NAME_EXTRA} bytes here"
        )
    check_output_directory(path.parent, "--output")
    return path


def write_atomically(path: str | os.PathLike, content: bytes) -> None:
    """Write ``content`` to a new file at ``path`` atomically: it is there whole, or not at all.

    The bytes go to a temporary name in the same folder with plain file I/O,
    then the file is moved into place, readable by all (0644) like any saved
    result. Whatever stops the write (a full disk, an interrupt, a signal that
    the command line turns into an exit), the temporary is removed. A library
    that writes the file itself (HDF5 for netCDF) was seen to crash the
    process on a full disk, so callers serialise to memory first.
    """
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(content)
        # mkstemp makes the file private (0600); a result is meant to be shared.
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)


def write_netcdf(tree, path: str | os.PathLike) -> None:
    """Write the DataTree ``tree`` to ``path`` as netCDF, atomically (see :func:`write_atomically`)."""
    write_atomically(path, bytes(tree.to_netcdf(engine="h5netcdf")))
