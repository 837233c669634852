"""The fast paths: row-blocked E- and M-steps, SQUAREM acceleration, the benchmark script."""

import importlib.util
from pathlib import Path
import warnings

from hypothesis import given, settings, strategies as st
import numpy as np
import pytest
from scipy import stats
from threadpoolctl import threadpool_limits

from inference.em import ConvergenceWarning, GaussianMixturePrior, fit_binomial_mixture, fit_gaussian_mixture
from inference.em import gaussian
from inference.em.gaussian import COVARIANCE_TYPES, e_step, log_joint, m_step
from inference.em.loop import flatten, unflatten
from tests.test_gaussian_em import spread_start

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"


@pytest.fixture(autouse=True, scope="module")
def single_threaded_blas():
    # Small matrices only: BLAS threads would cost more than they save on a shared machine.
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def random_params(rng, n_features, n_components, covariance_type, offset=0.0):
    """Valid parameters of every shape: means near ``offset``, well-conditioned covariances."""
    factors = rng.normal(size=(n_components, n_features, n_features))
    full = factors @ np.swapaxes(factors, 1, 2) + n_features * np.eye(n_features)
    covariances = {
        "full": full,
        "tied": full[0],
        "diag": np.diagonal(full, axis1=1, axis2=2).copy(),
        "spherical": np.trace(full, axis1=1, axis2=2) / n_features,
    }[covariance_type]
    return {
        "weights": rng.dirichlet(np.ones(n_components)),
        "means": offset + rng.normal(scale=3.0, size=(n_components, n_features)),
        "covariances": covariances,
    }


def as_matrices(covariances, covariance_type, n_components, n_features):
    if covariance_type == "full":
        return covariances
    if covariance_type == "tied":
        return np.repeat(covariances[None], n_components, axis=0)
    variances = np.broadcast_to(covariances.reshape(n_components, -1), (n_components, n_features))
    return variances[:, :, None] * np.eye(n_features)


# --- 1. The blocked steps compute what the unblocked formulas say ------------------------------


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("offset", [0.0, 1e3])
def test_log_joint_equals_scipy_densities(rng, covariance_type, offset):
    n_features, n_components = 3, 4
    params = random_params(rng, n_features, n_components, covariance_type, offset)
    x = offset + rng.normal(scale=4.0, size=(500, n_features))
    matrices = as_matrices(params["covariances"], covariance_type, n_components, n_features)
    expected = np.log(params["weights"]) + np.stack(
        [stats.multivariate_normal(mean, matrix).logpdf(x) for mean, matrix in zip(params["means"], matrices)],
        axis=1,
    )
    # Both sides are correct to a few eps of the largest term, |log density| < 100 here,
    # plus the Mahalanobis form's rounding of (x - c)^2 terms of size (4 sigma)^2 ~ 1e2:
    # far below 1e-10. The E-step subtracts the mixture's centre before squaring, so the
    # 1e3 offset costs no digits.
    np.testing.assert_allclose(
        log_joint(x, params["weights"], params["means"], params["covariances"], covariance_type),
        expected,
        rtol=0,
        atol=1e-10,
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_blocks_do_not_change_the_steps(rng, monkeypatch, covariance_type):
    n_features, n_components = 3, 4
    params = random_params(rng, n_features, n_components, covariance_type)
    x = rng.normal(scale=4.0, size=(1000, n_features))
    whole_log_resp, whole_objective = e_step(params, x=x, covariance_type=covariance_type, prior=None)
    resp = np.exp(whole_log_resp)
    whole_params = m_step(resp, x=x, covariance_type=covariance_type, prior=None, reg_covar=0.0)
    # 37 floats per block: blocks of 1 to 18 rows, and a ragged last block.
    monkeypatch.setattr(gaussian, "_BLOCK_FLOATS", 37)
    log_resp, objective = e_step(params, x=x, covariance_type=covariance_type, prior=None)
    blocked_params = m_step(resp, x=x, covariance_type=covariance_type, prior=None, reg_covar=0.0)
    # Only the order of the additions differs: a few eps of the summed magnitudes.
    np.testing.assert_allclose(log_resp, whole_log_resp, rtol=0, atol=1e-12)
    assert objective == pytest.approx(whole_objective, rel=1e-13)
    for name in whole_params:
        np.testing.assert_allclose(blocked_params[name], whole_params[name], rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_blocked_scatter_equals_the_direct_sum(rng, covariance_type):
    n_features, n_components = 4, 3
    x = 50.0 + rng.normal(size=(700, n_features))
    resp = rng.dirichlet(np.ones(n_components), size=700)
    centres = (resp.T @ x) / resp.sum(axis=0)[:, None]
    direct = gaussian._SCATTER[covariance_type](resp, x[:, None, :] - centres[None])
    blocked = gaussian._BLOCKED_SCATTER[covariance_type](resp, x, centres)
    # The diagonal path sums squares about a common shift (a 50-sigma offset here is
    # removed first), so it loses at most a factor ~ (shift distance / sigma)^2 ~ 1 of
    # eps against the direct centred sum: 1e-11 relative is ample.
    np.testing.assert_allclose(blocked, direct, rtol=1e-11)


# --- 2. SQUAREM ---------------------------------------------------------------------------------


def test_flatten_round_trip(rng):
    params = {"weights": rng.random(3), "means": rng.random((3, 2)), "covariances": rng.random((3, 2, 2))}
    vector = flatten(params)
    assert vector.shape == (3 + 6 + 12,)
    restored = unflatten(vector, params)
    assert list(restored) == list(params)
    for name in params:
        np.testing.assert_array_equal(restored[name], params[name])
    # The order in which a step built the dict does not matter.
    np.testing.assert_array_equal(flatten(dict(reversed(params.items()))), vector)


def crawling_gaussian(rng, n_samples=1000):
    """Two heavily overlapping 2-D components and a start that treats them as well apart."""
    x = np.concatenate(
        [rng.normal(0.0, 1.0, (n_samples // 2, 2)), rng.normal(0.7, 1.2, (n_samples - n_samples // 2, 2))]
    )
    start = {
        "weights": np.array([0.5, 0.5]),
        "means": np.array([[-1.0, 0.0], [1.0, 0.0]]),
        "covariances": np.repeat(np.eye(2)[None], 2, axis=0),
    }
    return x, start


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_features=st.integers(1, 3),
    n_components=st.integers(1, 3),
    covariance_type=st.sampled_from(COVARIANCE_TYPES),
    with_prior=st.booleans(),
)
@pytest.mark.filterwarnings("ignore::inference.em.ConvergenceWarning")
@pytest.mark.filterwarnings("ignore:component .* empty:UserWarning")
def test_accelerated_gaussian_objective_never_decreases(seed, n_features, n_components, covariance_type, with_prior):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=1.5, size=(n_components, n_features))
    x = centres[rng.integers(n_components, size=30 * n_components)] + rng.normal(size=(30 * n_components, n_features))
    prior = GaussianMixturePrior(alpha=2.0, shrinkage=0.5) if with_prior else None
    # As in test_gaussian_em, a start that spreads the components over the data: with
    # reg_covar=0 a k-means start can legitimately collapse a component onto one row.
    start = spread_start(x, n_components, covariance_type, rng)
    result = fit_gaussian_mixture(
        x, n_components, covariance_type=covariance_type, init=start, prior=prior, reg_covar=0.0, tol=1e-10,
        max_iter=60, accelerate=True,
    )
    trace = result.objective_trace
    assert np.isfinite(trace).all()
    # As in test_gaussian_em: ascent is exact in real arithmetic; successive values
    # may differ by rounding of a sum of <= 90 log-sum-exps (< 1e-13 relative).
    assert (np.diff(trace) >= -1e-9 * np.abs(trace[1:])).all()
    np.testing.assert_allclose(result.params["weights"].sum(), 1.0, rtol=1e-12)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_components=st.integers(1, 3), fix_weights=st.booleans())
@pytest.mark.filterwarnings("ignore::inference.em.ConvergenceWarning")
def test_accelerated_binomial_objective_never_decreases(seed, n_components, fix_weights):
    rng = np.random.default_rng(seed)
    flips = rng.integers(1, 30, size=40)
    heads = rng.binomial(flips, rng.uniform(0.2, 0.8, size=40))
    fit = fit_binomial_mixture(
        heads, flips, n_components, fix_weights=fix_weights, max_iter=100, random_state=seed, accelerate=True
    )
    trace = fit.objective_trace
    # As in test_binomial_em: only rounding of a sum of 40 log terms.
    assert (np.diff(trace) >= -1e-12 * (1 + np.abs(trace[1:]))).all()
    assert np.all((fit.params["theta"] >= 0) & (fit.params["theta"] <= 1))


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_squarem_reaches_plain_ems_optimum_in_fewer_iterations(rng, covariance_type):
    x, start = crawling_gaussian(rng)
    if covariance_type == "diag":
        start["covariances"] = np.ones((2, 2))
    fits = {
        accelerate: fit_gaussian_mixture(
            x, 2, covariance_type=covariance_type, init=start, tol=1e-7, max_iter=20_000, accelerate=accelerate
        )
        for accelerate in (False, True)
    }
    plain, fast = fits[False], fits[True]
    assert plain.converged and fast.converged
    # Plain EM needs thousands of iterations here (measured ~4000 for full); SQUAREM < 200.
    assert fast.n_iter < plain.n_iter / 5
    # Plain EM stops when a step gains <= tol while the rate of convergence is ~0.999,
    # so it stops up to ~tol / (1 - rate) = 1e-4 nats short of the optimum (measured
    # 5e-5); 1e-3 bounds that. The ridge is so flat that such a gap leaves the means
    # up to ~sqrt(2 gap / curvature) apart, measured 6e-3; 2e-2 bounds it.
    assert fast.objective == pytest.approx(plain.objective, abs=1e-3)
    for name in plain.params:
        np.testing.assert_allclose(fast.params[name], plain.params[name], atol=2e-2)


def test_squarem_on_a_crawling_binomial_mixture(rng):
    heads = np.where(rng.random(2000) < 0.5, rng.binomial(10, 0.5, 2000), rng.binomial(10, 0.65, 2000))
    fits = {
        accelerate: fit_binomial_mixture(heads, 10, 2, init=[0.3, 0.7], tol=1e-7, max_iter=50_000, accelerate=accelerate)
        for accelerate in (False, True)
    }
    assert fits[False].converged and fits[True].converged
    # Measured 1000 to 4000 plain iterations against 100 to 750 accelerated.
    assert fits[True].n_iter < fits[False].n_iter / 3
    # Same stopping rule on a flat ridge as above.
    assert fits[True].objective == pytest.approx(fits[False].objective, abs=1e-3)
    np.testing.assert_allclose(fits[True].params["theta"], fits[False].params["theta"], atol=2e-2)


def test_squarem_with_missing_values(rng):
    x, start = crawling_gaussian(rng, 600)
    x[::7, 0] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = fit_gaussian_mixture(x, 2, init=start, missing="em", reg_covar=0.0, max_iter=300, accelerate=True)
    # The M-step must find the responsibilities of the E-step it pairs with, even
    # after a refused extrapolation; the objective must still climb (rounding as above).
    assert (np.diff(fit.objective_trace) >= -1e-9 * np.abs(fit.objective_trace[1:])).all()


# --- 3. The benchmark script ----------------------------------------------------------------------


def test_benchmark_quick_runs_and_prints_ratios(capsys):
    spec = importlib.util.spec_from_file_location("benchmark_run", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--quick", "--no-dask"])
    output = capsys.readouterr().out
    assert "sklearn 1t / ours 1t" in output
    assert "dgemm" in output and "GB/s" in output
    assert "SQUAREM" in output
    # Each row is printed as it is measured and again in the final report.
    gaussian_rows = {line for line in output.splitlines() if line.startswith(f"| {module.QUICK_N:.0e} |")}
    assert len(gaussian_rows) == 3 * 2
    for row in gaussian_rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        ratio, loglik_diff = float(cells[8]), float(cells[13])
        assert ratio > 0
        # Same start, same iterations: the mean log-likelihoods agree to rounding.
        assert loglik_diff < 1e-10
