"""The research notebooks: committed clean, thin over the packages, and runnable top to bottom.

The first tests read the notebooks only. The slow ones run each notebook with
nbclient in fast mode (``EM_BAYES_FAST=1``: few draws, small data) on a
``python3`` kernel, which jupyter_client starts with this interpreter, so the
notebooks run against the same environment as the tests.
"""

import ast
from pathlib import Path
import sys

import pytest

nbformat = pytest.importorskip("nbformat")

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))

CELL_TIMEOUT = 1200
"""Seconds per cell: a cell that compiles two or three PyMC models on a cold cache needs minutes."""

MAX_FUNCTION_LINES = 5
"""Logic lives in the packages; a notebook may define a helper of a few lines at most."""


def _read(path: Path):
    return nbformat.read(path, as_version=4)


def _code(cell) -> str:
    """A code cell's source with IPython magics and shell escapes dropped, so ``ast`` can parse it."""
    return "\n".join(
        "" if line.lstrip().startswith(("%", "!")) else line for line in cell.source.splitlines()
    )


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 3, f"expected the research notebooks in {NOTEBOOKS_DIR}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_committed_without_outputs(path):
    nb = _read(path)
    dirty = [
        index
        for index, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, (
        f"{path.name}: cells {dirty} hold outputs or execution counts; clear them before committing "
        "(Jupyter: Edit > Clear All Outputs, or `jupyter nbconvert --clear-output --inplace`)"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_is_thin_over_the_packages(path):
    nb = _read(path)
    trees = [ast.parse(_code(cell)) for cell in nb.cells if cell.cell_type == "code"]
    imported = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported.update(alias.name.partition(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.partition(".")[0])
    assert {"inference", "models"} <= imported, f"{path.name}: should import the project (inference, models)"
    long_functions = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for tree in trees
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long_functions, f"{path.name}: move these functions into a package: {long_functions}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_reads_fast_mode_and_seed(path):
    setup = _code(next(cell for cell in _read(path).cells if cell.cell_type == "code"))
    assert 'os.environ.get("EM_BAYES_FAST") == "1"' in setup
    assert "RANDOM_SEED" in setup and "np.random.default_rng(RANDOM_SEED)" in setup


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_runs_in_fast_mode(path, monkeypatch):
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    # The kernel inherits this environment: fast mode on, and never overwrite the committed figures.
    monkeypatch.setenv("EM_BAYES_FAST", "1")
    monkeypatch.delenv("EM_BAYES_SAVE_FIGURES", raising=False)
    nb = _read(path)
    # One extra cell reports which Python the kernel runs: it must be this environment's.
    nb.cells.append(nbformat.v4.new_code_cell("import sys, os; print(sys.prefix); print(os.environ['EM_BAYES_FAST'])"))
    client = nbclient.NotebookClient(
        nb,
        kernel_name="python3",
        timeout=CELL_TIMEOUT,
        resources={"metadata": {"path": str(NOTEBOOKS_DIR)}},
    )
    client.execute()  # raises CellExecutionError, naming the cell, if any cell fails
    printed = "".join(output.get("text", "") for output in nb.cells[-1].outputs).split()
    assert printed == [sys.prefix, "1"]
