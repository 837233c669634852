"""The catalogue of bad and hard inputs (README, "Bad and hard inputs"): rows not covered elsewhere.

Bad input must be a ValueError (or the command line's one line and exit 2)
naming the argument; hard but valid input must give a right answer, with a
warning where one is due; random input must never give anything else.
"""

import os
import re
import warnings

from hypothesis import HealthCheck, given, settings, strategies as st
import numpy as np
import pytest

from inference import ConvergenceWarning, GaussianMixturePrior, fit_binomial_mixture, fit_gaussian_mixture
from inference.cli import main
from inference.em.gaussian import COVARIANCE_TYPES

from .test_cli import run_error

RNG = np.random.default_rng(12)
TWO_CLUSTERS = np.r_[RNG.normal(0, 1, (100, 2)), RNG.normal(5, 1, (100, 2))]
REFERENCE = fit_gaussian_mixture(TWO_CLUSTERS, 2, random_state=0, reg_covar=0.0)


# --- bad input the other files do not cover --------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha": 0}, "prior: alpha must be a finite number > 0"),
        ({"shrinkage": -1}, "prior: shrinkage must be a finite number > 0"),
        ({"alpha": 0.5}, "prior: alpha=0.5 < 1"),
    ],
)
def test_gaussian_prior_with_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        GaussianMixturePrior(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dof": 0.5}, "prior: dof must be a finite number > d - 1"),
        ({"scale": -np.eye(2)}, "prior: scale must be symmetric positive definite"),
        ({"mean": [1.0]}, "prior: mean must be finite with shape (2,)"),
    ],
)
def test_gaussian_prior_that_does_not_fit_the_data(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        fit_gaussian_mixture(TWO_CLUSTERS, 2, prior=GaussianMixturePrior(**kwargs))


def test_output_folder_that_is_read_only(capsys):
    # /proc refuses new files even to the superuser, for whom permission bits do not count.
    assert "--output: directory /proc is not writable" in run_error(capsys, "compare", "two-coins", "--output", "/proc/out.nc")


def test_output_that_is_a_directory(capsys, tmp_path):
    assert f"--output: {tmp_path} is a directory" in run_error(capsys, "compare", "two-coins", "--output", str(tmp_path))


def test_output_that_is_not_a_regular_file(capsys, tmp_path, monkeypatch):
    # A pipe stands for any target that is not a regular file (/dev/null, a socket).
    import inference.compare

    def sampled(*args, **kwargs):
        raise ValueError("sampled: the --output check let the run start")

    # Were the check to pass, the run stops here, before anything replaces the target.
    monkeypatch.setattr(inference.compare, "sample_posterior", sampled)
    path = tmp_path / "pipe"
    os.mkfifo(path)
    message = run_error(capsys, "compare", "two-coins", "--output", str(path))
    assert f"--output: {path} exists and is not a regular file" in message
    assert path.exists() and not path.is_file()


def test_interrupted_run_writes_no_file(capsys, tmp_path, monkeypatch):
    import inference.compare

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(inference.compare, "sample_posterior", interrupted)
    path = tmp_path / "out.nc"
    assert main(["compare", "two-coins", "--output", str(path)]) == 130
    assert "interrupted; no output was written" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


# --- hard but valid input ----------------------------------------------------------------


def test_one_experiment_is_enough_for_one_coin():
    assert fit_binomial_mixture([3], 10, 1).params["theta"][0] == pytest.approx(0.3, rel=1e-14)


def test_duplicate_points_change_nothing_but_the_weights():
    repeated = np.r_[TWO_CLUSTERS, np.repeat(TWO_CLUSTERS[:1], 20, axis=0)]
    fit = fit_gaussian_mixture(repeated, 2, random_state=0)
    assert fit.converged and np.isfinite(fit.objective)
    np.testing.assert_allclose(fit.params["means"], REFERENCE.params["means"], atol=0.3)


def test_constant_column_is_fitted_with_a_warning():
    x = np.c_[TWO_CLUSTERS, np.full(len(TWO_CLUSTERS), 7.0)]
    with pytest.warns(UserWarning, match="x: column 2 is constant"):
        fit = fit_gaussian_mixture(x, 2, random_state=0)
    np.testing.assert_allclose(fit.params["means"][:, :2], REFERENCE.params["means"], atol=1e-3)
    np.testing.assert_allclose(fit.params["means"][:, 2], 7.0)


def test_constant_single_column_is_fitted_with_a_warning():
    with pytest.warns(UserWarning, match="x: every value is 7; its variance in every component is the regularisation's"):
        fit = fit_gaussian_mixture(np.full(30, 7.0), 1, reg_covar=1e-6)
    assert fit.params["means"][0, 0] == 7.0
    assert fit.params["covariances"][0, 0, 0] == pytest.approx(1e-6, rel=1e-12)


def test_components_a_million_standard_deviations_apart():
    x = np.r_[RNG.normal(0, 1, 100), RNG.normal(1e6, 1, 100)]
    fit = fit_gaussian_mixture(x, 2, random_state=0)
    np.testing.assert_allclose(fit.params["means"][:, 0], [x[:100].mean(), x[100:].mean()], rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(fit.predict(x), np.repeat([0, 1], 100))


@pytest.mark.parametrize("scale", [1e150, 1e-150])
def test_data_at_extreme_scales(scale):
    # With reg_covar=0 the fit is scale-equivariant: the same answer, scaled.
    fit = fit_gaussian_mixture(TWO_CLUSTERS * scale, 2, random_state=0, reg_covar=0.0)
    np.testing.assert_allclose(fit.params["means"] / scale, REFERENCE.params["means"], rtol=1e-6)
    np.testing.assert_allclose(fit.params["covariances"] / scale**2, REFERENCE.params["covariances"], rtol=1e-6)


def test_tiny_data_warn_that_reg_covar_dominates():
    with pytest.warns(UserWarning, match="reg_covar: 1e-06 outweighs the data's smallest column variance"):
        fit_gaussian_mixture(TWO_CLUSTERS * 1e-150, 2, random_state=0)


def test_more_components_than_distinct_values():
    x = np.repeat([0.0, 1.0], 10)
    with pytest.warns(UserWarning, match="n_components: 3 components but only 2 distinct rows"):
        fit = fit_gaussian_mixture(x, 3, random_state=0)
    assert np.isfinite(fit.objective)
    assert set(np.round(fit.params["means"][fit.params["weights"] > 0.01, 0], 6)) == {0.0, 1.0}
    with pytest.warns(UserWarning, match="n_components: 3 coins but only 2 distinct proportions"):
        coins = fit_binomial_mixture([2, 2, 7, 7], 10, 3, random_state=0)
    # The extra coin duplicates one of the two-coin MLE's (which is not exactly
    # 0.2 / 0.7: the binomials overlap); EM's tolerance leaves about 1e-3.
    two = fit_binomial_mixture([2, 2, 7, 7], 10, 2, random_state=0)
    assert set(np.round(coins.params["theta"], 2)) == set(np.round(two.params["theta"], 2))


def test_perfectly_separated_experiments():
    fit = fit_binomial_mixture([0, 0, 0, 50, 50, 50], 50, random_state=0)
    np.testing.assert_allclose(fit.params["theta"], [0, 1], atol=1e-12)
    np.testing.assert_array_equal(fit.responsibilities, np.repeat(np.eye(2), 3, axis=0))


# --- fuzz: anything random gets a documented outcome --------------------------------------

# "covariances: ..." is the collapse of a component during EM, with its remedy.
DOCUMENTED_ERROR = re.compile(r"^(x|n_components|prior|init|reg_covar|heads|flips|covariances): ")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n_samples=st.integers(1, 40),
    n_features=st.integers(1, 3),
    n_components=st.integers(1, 4),
    covariance_type=st.sampled_from(COVARIANCE_TYPES),
    with_prior=st.booleans(),
    scale=st.sampled_from([1e-3, 1.0, 1e3]),
    rounding=st.sampled_from([None, 0]),
)
def test_gaussian_fuzz(seed, n_samples, n_features, n_components, covariance_type, with_prior, scale, rounding):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_samples, n_features)) * scale
    if rounding is not None:
        x = np.round(x / scale) * scale  # many duplicates and possibly constant columns
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        try:
            fit = fit_gaussian_mixture(
                x,
                n_components,
                covariance_type=covariance_type,
                prior=GaussianMixturePrior() if with_prior else None,
                reg_covar=0.0,
                max_iter=100,
                random_state=seed,
            )
        except ValueError as error:
            assert DOCUMENTED_ERROR.match(str(error)), str(error)
            return
    assert np.isfinite(fit.objective_trace).all()
    for value in fit.params.values():
        assert np.isfinite(value).all()
    np.testing.assert_allclose(fit.responsibilities.sum(axis=1), 1, rtol=1e-10)
    # Exact EM (reg_covar=0): the objective rises, up to rounding of its sum.
    trace = fit.objective_trace
    assert (np.diff(trace) >= -1e-9 * (1 + np.abs(trace[1:]))).all()


@settings(max_examples=80, deadline=None)
@given(
    heads=st.lists(st.integers(-2, 60), min_size=0, max_size=30),
    flips=st.integers(-1, 60),
    n_components=st.integers(0, 4),
)
def test_binomial_fuzz(heads, flips, n_components):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            fit = fit_binomial_mixture(heads, flips, n_components, random_state=0, max_iter=200)
        except ValueError as error:
            assert DOCUMENTED_ERROR.match(str(error)), str(error)
            return
    assert np.isfinite(fit.objective_trace).all()
    assert np.all((fit.params["theta"] >= 0) & (fit.params["theta"] <= 1))
    np.testing.assert_allclose(fit.responsibilities.sum(axis=1), 1, rtol=1e-12)
    assert (np.diff(fit.objective_trace) >= -1e-12 * (1 + np.abs(fit.objective_trace[1:]))).all()
