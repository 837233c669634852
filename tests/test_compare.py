"""The EM-against-Bayes comparison, on data with known truth."""

from functools import partial

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from inference import GaussianMixturePrior, fit_gaussian_mixture
from inference.compare import EM_TOL, compare_fits, compare_gaussian_mixture
from inference.em import standard_errors_gaussian
from models.datasets import default_gaussian_data
from models.gaussian_mixture import gaussian_mixture_model, log_joint

from .pymc_helpers import COIN_TRUTH

pytestmark = pytest.mark.slow

TRUTH = COIN_TRUTH

# These tests sample 2 chains of 300 draws: r_hat's own noise is then about
# 0.01, so the table's 1.01 flag can trip on healthy chains. 1.05 still catches
# a chain stuck in another mode of a mixture (measured r_hat about 1.5).
R_HAT_SMALL_RUN = 1.05


@pytest.fixture
def comparison(coin_comparison):
    return coin_comparison


def test_table_has_every_parameter_and_column(comparison):
    assert list(comparison.table.index) == ["theta[0]", "theta[1]", "weights[0]", "weights[1]"]
    for column in ["em_mle", "em_map", "pymc_map", "mean", "sd", "hdi94_lb", "hdi94_ub", "r_hat", "ess_bulk"]:
        assert np.isfinite(comparison.table[column].to_numpy(dtype=float)).all(), column


def test_em_map_equals_pymc_map(comparison):
    # PyMC's optimizer starts at EM's MLE, a different point, and reaches the same mode.
    np.testing.assert_allclose(comparison.table["pymc_map"], comparison.table["em_map"], atol=1e-4)


def test_posterior_covers_the_truth_and_map_is_close(comparison):
    truth = np.concatenate([TRUTH.theta, TRUTH.weights])
    table = comparison.table
    assert ((table["hdi94_lb"] <= truth) & (truth <= table["hdi94_ub"])).all()
    # 300 experiments of 20 flips: posterior sd is about 0.005 for theta and
    # 0.03 for the weights; the MAP lies within 4 sd of the truth.
    assert (np.abs(table["em_map"] - truth) <= 4 * table["sd"]).all()
    assert table["em_map_in_hdi"].all()
    assert (table["r_hat"] < R_HAT_SMALL_RUN).all()


def test_responsibilities_agree_with_posterior_assignment_probabilities(comparison):
    # With well-separated coins the parameters' posterior is narrow, so the
    # posterior probability of each assignment is close to EM's responsibility
    # at the MAP; 0.05 allows for the remaining parameter uncertainty.
    assert comparison.assignments["max_abs_difference"].max() < 0.05
    probability = comparison.tree["assignments"]["posterior_probability"]
    np.testing.assert_allclose(probability.sum("coin"), 1, rtol=1e-10)


def test_tree_holds_every_group(comparison):
    groups = set(comparison.tree.children)
    assert {"posterior", "sample_stats", "observed_data", "em_mle", "em_map", "pymc_map", "assignments"} <= groups
    assert comparison.tree["em_map"]["theta"].dims == comparison.tree["posterior"]["theta"].dims[2:]
    assert comparison.tree["posterior"].attrs["inference_library"] == "numpyro"


def test_netcdf_round_trip(comparison, tmp_path):
    path = tmp_path / "comparison.nc"
    comparison.to_netcdf(path)
    with xr.open_datatree(path, engine="h5netcdf") as saved:
        np.testing.assert_allclose(saved["em_map"]["theta"], comparison.em_map.params["theta"])
    assert [p.name for p in tmp_path.iterdir()] == ["comparison.nc"]


def test_failed_write_leaves_no_file(comparison, tmp_path, monkeypatch):
    from .test_cli import disk_full_after

    disk_full_after(monkeypatch, 1000)
    with pytest.raises(OSError, match="No space left on device"):
        comparison.to_netcdf(tmp_path / "comparison.nc")
    assert list(tmp_path.iterdir()) == []


def test_json_dict_is_plain(comparison):
    import json

    decoded = json.loads(json.dumps(comparison.to_json_dict()))
    assert decoded["parameters"][0]["parameter"] == "theta[0]"
    assert decoded["em"]["map"]["converged"] is True


# --- Gaussian mixtures -------------------------------------------------------------

GAUSSIAN = default_gaussian_data()


@pytest.fixture(scope="module")
def gaussian_comparison():
    return compare_gaussian_mixture(
        GAUSSIAN.x, 3, draws=300, tune=300, chains=2, random_seed=1, progressbar=False
    )


def test_gaussian_em_map_equals_pymc_map(gaussian_comparison):
    table = gaussian_comparison.table
    np.testing.assert_allclose(table["pymc_map"], table["em_map"], atol=1e-4)


def test_gaussian_posterior_covers_the_truth(gaussian_comparison):
    truth = pd.concat(
        [
            pd.Series(GAUSSIAN.covariances.ravel(), index=[f"covariances[{k}, 0, 0]" for k in range(3)]),
            pd.Series(GAUSSIAN.means.ravel(), index=[f"means[{k}, 0]" for k in range(3)]),
            pd.Series(GAUSSIAN.weights, index=[f"weights[{k}]" for k in range(3)]),
        ]
    )
    table = gaussian_comparison.table.loc[truth.index]
    assert ((table["hdi94_lb"] <= truth) & (truth <= table["hdi94_ub"])).all()
    assert (table["r_hat"] < R_HAT_SMALL_RUN).all()


def test_gaussian_responsibilities_agree_with_posterior_assignments(gaussian_comparison):
    # Overlapping components leave real uncertainty in the parameters, which
    # moves some assignment probabilities by several percent; on average the
    # two agree closely.
    difference = gaussian_comparison.assignments["max_abs_difference"]
    assert difference.mean() < 0.03 and difference.max() < 0.15


def test_verdict_on_the_default_data_says_agree(gaussian_comparison):
    verdict = gaussian_comparison.verdict
    assert verdict.maps_agree and verdict.max_map_relative_difference <= 1e-4
    # Distinct, interior estimates: nothing to nudge, and nothing said about it.
    assert not verdict.start_nudged and "nudged" not in "\n".join(verdict.lines())
    assert verdict.lines()[0].startswith("Verdict: EM's MAP and PyMC's MAP agree")
    assert "disagree" not in "\n".join(verdict.lines())
    # Both of PyMC's starts climb to EM's MAP: the same log posterior to the optimizers' tolerance.
    for log_posterior in verdict.pymc_map_log_posteriors.values():
        assert log_posterior == pytest.approx(verdict.em_map_log_posterior, abs=1e-6)
    assert gaussian_comparison.to_json_dict()["verdict"]["maps_agree"] is True


def test_verdict_says_disagree_when_em_stops_at_a_lesser_optimum():
    # From means at -2.6, -2.5 and 0.5, EM's MAP settles with two components on
    # the left cluster and one spread over the other two (log posterior -688.37,
    # against -655.54 at the best optimum, which the MLE's starts find).
    x = GAUSSIAN.x
    prior = GaussianMixturePrior()
    em_mle = fit_gaussian_mixture(x, 3, n_init=5, random_state=0, tol=EM_TOL)
    poor_start = {"weights": np.full(3, 1 / 3), "means": np.array([[-2.6], [-2.5], [0.5]]), "covariances": np.full((3, 1, 1), 0.5)}
    em_map = fit_gaussian_mixture(x, 3, prior=prior, reg_covar=0.0, init=poor_start, tol=EM_TOL)
    model = gaussian_mixture_model(x, 3, prior=prior.resolve(x, 3), marginalized=True)
    comparison = compare_fits(
        em_mle,
        em_map,
        model,
        partial(log_joint, x, covariance_type="full"),
        em_map_se=standard_errors_gaussian(em_map, x, prior=prior),
        draws=100,
        tune=100,
        chains=2,
        random_seed=1,
        progressbar=False,
        nuts_sampler=None,
    )
    verdict = comparison.verdict
    assert not verdict.maps_agree and verdict.max_map_relative_difference > 0.1
    assert verdict.pymc_map_start == "em_mle"
    assert verdict.pymc_map_log_posterior > verdict.em_map_log_posterior + 30
    text = "\n".join(verdict.lines())
    assert text.startswith("Verdict: EM's MAP and PyMC's MAP disagree") and "EM stopped at a lesser optimum" in text
    assert comparison.to_json_dict()["verdict"]["maps_agree"] is False
