"""Missing values: EM's conditional means beside PyMC's imputation, on the embedded class marks."""

import numpy as np
import pytest

from inference.imputation import compare_imputation
from models.marks import class_marks

pytestmark = pytest.mark.slow

MARKS = class_marks()


@pytest.fixture(scope="module")
def comparison():
    # The teacher's case: one multivariate normal, 20 of 90 marks missing.
    # Two chains of 300 draws give ESS in the hundreds for these summaries.
    return compare_imputation(
        MARKS.x, 1, draws=300, tune=300, chains=2, random_seed=2, progressbar=False, columns=list(MARKS.columns)
    )


def test_one_row_per_missing_cell(comparison):
    rows, columns = np.nonzero(np.isnan(MARKS.x))
    np.testing.assert_array_equal(comparison.cells["row"], rows)
    assert list(comparison.cells["column"]) == [MARKS.columns[j] for j in columns]


def test_em_imputations_lie_in_the_posterior_of_the_imputed_values(comparison):
    cells = comparison.cells
    assert cells["em_map_in_hdi"].all()
    # EM's conditional mean at the MAP and the posterior mean of the cell differ
    # by the parameters' uncertainty, a fraction of the cell's own sd.
    assert (np.abs(cells["em_map"] - cells["mean"]) < 0.5 * cells["sd"]).all()
    # EM treats the parameters as known, so its sd is the smaller one.
    assert (cells["em_map_sd"] < cells["sd"]).mean() > 0.8


def test_parameters_beside_the_posterior(comparison):
    table = comparison.table
    assert "weights[0]" not in table.index
    assert table["em_map_in_hdi"].all()
    # The means move away from the observed-cell averages only through the
    # correlations that fill the gaps: a few marks for these data, not tens.
    np.testing.assert_allclose(table.loc[[f"means[0, {j}]" for j in range(3)], "em_map"], MARKS.x.mean(0, where=~np.isnan(MARKS.x)), atol=3)


def test_tree_holds_the_imputed_cells_and_em(comparison):
    assert comparison.tree["posterior"]["x_unobserved"].shape[-1] == np.isnan(MARKS.x).sum()
    assert {"em_mle", "em_map"} <= set(comparison.tree.children)
    assert comparison.tree["em_map"]["imputed"].dims == ("obs", "dim")
