"""The fast paths: the row-blocked E-step and its statistics, SQUAREM acceleration, the benchmark script."""

from functools import partial
import importlib.util
from pathlib import Path
import warnings

from hypothesis import given, settings, strategies as st
import numpy as np
import pytest
from scipy import special, stats
from threadpoolctl import threadpool_limits

from inference.em import ConvergenceWarning, GaussianMixturePrior, fit_binomial_mixture, fit_gaussian_mixture
from inference.em import gaussian
from inference.em.gaussian import (
    COVARIANCE_TYPES,
    e_step,
    log_joint,
    log_responsibilities,
    m_step,
    sufficient_statistics,
)
from inference.em.loop import flatten, unflatten
from tests.test_catalogue import DOCUMENTED_ERROR
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


def scipy_log_joint(x, params, covariance_type):
    """``log weights[k] + log N(x[i] | means[k], Sigma_k)`` by scipy, shape (n_samples, n_components)."""
    n_components, n_features = params["means"].shape
    matrices = as_matrices(params["covariances"], covariance_type, n_components, n_features)
    return np.log(params["weights"]) + np.stack(
        [stats.multivariate_normal(mean, matrix).logpdf(x) for mean, matrix in zip(params["means"], matrices)],
        axis=1,
    )


@pytest.fixture(params=["expanded", "whitened"])
def form(request, monkeypatch):
    """Both forms of the joint log terms: linear in the features, and by whitening."""
    monkeypatch.setattr(gaussian, "_EXPANSION_LIMIT", np.inf if request.param == "expanded" else -1.0)
    return request.param


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("offset", [0.0, 1e3])
def test_log_joint_equals_scipy_densities(rng, form, covariance_type, offset):
    n_features, n_components = 3, 4
    params = random_params(rng, n_features, n_components, covariance_type, offset)
    x = offset + rng.normal(scale=4.0, size=(500, n_features))
    # Both sides are correct to a few eps of the largest term, |log density| < 100 here,
    # plus the rounding of terms of size (4 sigma)^2 ~ 1e2 (both forms) or of the squared
    # Mahalanobis distance of the shift from a mean, at most ~10 here (expanded form):
    # far below 1e-10. The shift is the mixture's centre, so the 1e3 offset costs no digits.
    np.testing.assert_allclose(
        log_joint(x, params["weights"], params["means"], params["covariances"], covariance_type),
        scipy_log_joint(x, params, covariance_type),
        rtol=0,
        atol=1e-10,
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_a_narrow_far_component_is_whitened_and_exact(covariance_type):
    # Component 1 has sd 1e-5 and sits 1 from the mixture's centre: the shift is 1e10
    # squared sds from it, beyond the expansion's limit, so the whitened form is used.
    params = {
        "weights": np.array([0.5, 0.5]),
        "means": np.array([[-1.0, 0.0], [1.0, 0.0]]),
        "covariances": {
            "full": np.array([np.eye(2), 1e-10 * np.eye(2)]),
            "tied": np.eye(2),
            "diag": np.array([[1.0, 1.0], [1e-10, 1e-10]]),
            "spherical": np.array([1.0, 1e-10]),
        }[covariance_type],
    }
    shift = gaussian._mixture_centre(params["weights"], params["means"])
    scorer, _ = gaussian._scorer(params, covariance_type, shift)
    assert isinstance(scorer, gaussian._Expanded if covariance_type == "tied" else gaussian._Whitened)
    x = params["means"][1] + 1e-5 * np.random.default_rng(0).normal(size=(50, 2))
    # Log densities of ~23 near the narrow component: a few eps of that.
    joint = scipy_log_joint(x, params, covariance_type)
    np.testing.assert_allclose(
        log_joint(x, params["weights"], params["means"], params["covariances"], covariance_type), joint, rtol=1e-12
    )
    if covariance_type == "tied":
        return
    # Its moments are summed about its own mean: the scatter of rows 1e-5 apart is
    # exact to rounding, where moments about the shift would have lost all its digits.
    statistics, _ = e_step(params, x=x, covariance_type=covariance_type, prior=None)
    np.testing.assert_array_equal(statistics.shift[1], params["means"][1])
    counts, centres, scatter = direct_moments(x, np.exp(joint - special.logsumexp(joint, axis=1)[:, None]), covariance_type)
    np.testing.assert_allclose(statistics.scatter(centres)[1], scatter[1], rtol=1e-10)


def direct_moments(x, resp, covariance_type):
    """Counts, centres and the scatter about them, by the unblocked formulas."""
    counts = resp.sum(axis=0)
    centres = resp.T @ x / counts[:, None]
    centred = x[:, None, :] - centres
    scatter = np.einsum("nk,nkd,nke->kde", resp, centred, centred)
    if covariance_type in ("diag", "spherical"):
        scatter = np.diagonal(scatter, axis1=1, axis2=2)
    return counts, centres, scatter


@pytest.mark.parametrize("n_features", [3, gaussian._PRODUCT_FEATURES + 1])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_e_step_gives_the_direct_statistics_in_any_blocks(rng, form, monkeypatch, covariance_type, n_features):
    n_components = 4
    params = random_params(rng, n_features, n_components, covariance_type)
    x = rng.normal(scale=4.0, size=(1000, n_features))
    joint = scipy_log_joint(x, params, covariance_type)
    log_norm = special.logsumexp(joint, axis=1)
    counts, centres, scatter = direct_moments(x, np.exp(joint - log_norm[:, None]), covariance_type)
    # The default blocks (one block here), then 37 floats per block: blocks of 1 to 18
    # rows and a ragged last block. The whitened form also sums every component's
    # moments about its own mean.
    for block_floats in (gaussian._BLOCK_FLOATS, 37):
        monkeypatch.setattr(gaussian, "_BLOCK_FLOATS", block_floats)
        statistics, objective = e_step(params, x=x, covariance_type=covariance_type, prior=None)
        # Sums of 1000 terms of size <= (4 sigma)^2 ~ 1e2 (second moments), differing
        # in the order of the additions, in the last bits of resp, and by the move from
        # the shift to the centres (within a few sigma of it): 1e-10 relative. An
        # off-diagonal sum that cancels to near 0 keeps the rounding of its terms, about
        # 1000 eps of them, so it is held to 1e-12 of the largest second moment instead.
        np.testing.assert_allclose(statistics.counts, counts, rtol=1e-12)
        np.testing.assert_allclose(statistics.shift + statistics.first / counts[:, None], centres, rtol=0, atol=1e-10)
        np.testing.assert_allclose(
            statistics.scatter(centres), scatter, rtol=1e-10, atol=1e-12 * np.abs(scatter).max()
        )
        assert objective == pytest.approx(log_norm.sum(), rel=1e-12)
        np.testing.assert_allclose(
            log_responsibilities(params, x=x, covariance_type=covariance_type), joint - log_norm[:, None], atol=1e-10
        )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_scatter_from_the_statistics_equals_the_direct_sum(rng, covariance_type):
    n_features, n_components = 4, 3
    x = 50.0 + rng.normal(size=(700, n_features))
    resp = rng.dirichlet(np.ones(n_components), size=700)
    centres = (resp.T @ x) / resp.sum(axis=0)[:, None]
    direct = np.einsum("nk,nkd,nke->kde", resp, x[:, None, :] - centres, x[:, None, :] - centres)
    if covariance_type in ("diag", "spherical"):
        direct = np.diagonal(direct, axis1=1, axis2=2)
    statistics = sufficient_statistics(resp, x=x, covariance_type=covariance_type)
    # The moments are summed about the data's mean and moved to each centre: the
    # centres lie within ~1 sigma of it, so at most a factor ~1 of eps is lost
    # against the direct centred sum; 1e-11 relative is ample.
    np.testing.assert_allclose(statistics.scatter(centres), direct, rtol=1e-11)
    params = m_step(statistics, covariance_type=covariance_type, prior=None, reg_covar=0.0)
    np.testing.assert_allclose(params["means"], centres, rtol=1e-13)


def test_negligible_responsibilities_are_zero():
    joint = np.array([[0.0, 5.0], [-699.0, -1000.0]])
    log_likelihood = gaussian._responsibilities_in_place(joint)
    # exp(-699) is kept; exp(-1005) would underflow (slowly, through subnormals) and is 0.
    np.testing.assert_allclose(joint[:, 0], [1.0, np.exp(-699.0)], rtol=1e-15)
    np.testing.assert_array_equal(joint[:, 1], [1.0, 0.0])
    assert log_likelihood == 5.0


def test_an_impossible_row_has_nan_responsibilities_and_no_likelihood():
    joint = np.array([[0.0, -np.inf], [1.0, -np.inf]])
    assert gaussian._responsibilities_in_place(joint) == -np.inf
    assert np.isnan(joint[:, 1]).all() and np.isfinite(joint[:, 0]).all()


def test_a_nan_term_makes_its_row_and_the_sum_nan():
    joint = np.array([[0.0, np.nan, 1.0], [np.nan, 0.0, 2.0]])
    assert np.isnan(gaussian._responsibilities_in_place(joint))
    assert np.isnan(joint[:, :2]).all()
    np.testing.assert_allclose(joint[:, 2], special.softmax([1.0, 2.0]), rtol=1e-15)


def test_the_summed_log_likelihood_over_many_rows_is_logsumexps_sum(rng):
    # 20000 rows of 50 components: the row totals' product passes the point where its
    # log is taken about 100 times. Each row's log is exact to a few eps, and so is the
    # product's; summed over 20000 rows of size ~10, 1e-13 relative is ample.
    joint = rng.normal(scale=3.0, size=(50, 20_000))
    expected = special.logsumexp(joint, axis=0).sum()
    assert gaussian._responsibilities_in_place(joint) == pytest.approx(expected, rel=1e-13)
    np.testing.assert_allclose(joint.sum(axis=0), 1.0, rtol=1e-14)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_e_step_reads_x_in_any_memory_layout(rng, covariance_type):
    params = random_params(rng, 3, 2, covariance_type)
    wide = rng.normal(size=(500, 6))
    x = np.ascontiguousarray(wide[:, ::2])
    expected, objective = e_step(params, x=x, covariance_type=covariance_type, prior=None)
    for layout in (np.asfortranarray(x), wide[:, ::2]):
        statistics, other = e_step(params, x=layout, covariance_type=covariance_type, prior=None)
        # The same rows in the same order: the same operations, bit for bit.
        assert other == objective
        np.testing.assert_array_equal(statistics.second, expected.second)


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
    try:
        result = fit_gaussian_mixture(
            x, n_components, covariance_type=covariance_type, init=start, prior=prior, reg_covar=0.0, tol=1e-10,
            max_iter=60, accelerate=True,
        )
    except ValueError as error:
        # With reg_covar=0 the likelihood is unbounded, and an extrapolation that climbs
        # towards a collapsed component may reach it: the documented error, as in plain EM.
        assert DOCUMENTED_ERROR.match(str(error)), str(error)
        return
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
    # Extrapolated points, refused or kept, leave the objective climbing (rounding as above).
    assert (np.diff(fit.objective_trace) >= -1e-9 * np.abs(fit.objective_trace[1:])).all()


# --- 3. The benchmark script ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def benchmark():
    spec = importlib.util.spec_from_file_location("benchmark_run", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_quick_runs_and_prints_ratios(benchmark, capsys):
    benchmark.main(["--quick", "--no-dask"])
    output = capsys.readouterr().out
    assert "sklearn 1t / ours 1t" in output
    assert "dgemm" in output and "GB/s" in output
    assert "SQUAREM" in output
    # Each row is printed as it is measured and again in the final report.
    gaussian_rows = {line for line in output.splitlines() if line.startswith(f"| {benchmark.QUICK_N:.0e} |")}
    assert len(gaussian_rows) == 3 * 2
    for row in gaussian_rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        # At n = 2000 a difference of two wall times is mostly noise: only that it was measured.
        assert np.isfinite([float(cell) for cell in cells[4:13]]).all()
        # Same start, same iterations: the mean log-likelihoods agree to rounding.
        assert float(cells[13]) < 1e-10


@pytest.fixture
def clock(benchmark, monkeypatch):
    """The benchmark's wall clock, made of a list: a fit advances ``clock[0]`` by the seconds it stands for."""
    clock = [0.0]
    monkeypatch.setattr(benchmark.time, "perf_counter", lambda: clock[0])
    return clock


def test_seconds_per_iteration_leaves_out_the_fixed_cost(benchmark, clock):
    def fit(fixed, per_iteration, iterations):
        clock[0] += fixed + per_iteration * iterations

    # 5 s of checks and a final E-step, 2 s per iteration; and another side's 1 s and 3 s.
    fits = {"ours": partial(fit, 5.0, 2.0), "theirs": partial(fit, 1.0, 3.0)}
    assert benchmark.seconds_per_iteration(fits, 4, repeats=2) == pytest.approx({"ours": 2.0, "theirs": 3.0})


def test_seconds_per_iteration_takes_turns_so_a_slow_spell_falls_on_every_side(benchmark, clock):
    calls = []

    def fit(side, iterations):
        calls.append(side)
        # Every run after the fourth is twice as slow, as on a machine that another job takes over.
        clock[0] += (1.0 + iterations) * (2.0 if len(calls) > 4 else 1.0)

    fits = {side: partial(fit, side) for side in ("ours", "theirs")}
    assert benchmark.seconds_per_iteration(fits, 4, repeats=2) == pytest.approx({"ours": 1.0, "theirs": 1.0})
    assert calls == ["ours", "ours", "theirs", "theirs"] * 2


def test_seconds_per_iteration_samples_fast_fits_over_min_seconds(benchmark, clock):
    calls = []

    def fit(iterations):
        calls.append(iterations)
        clock[0] += 1.0 + iterations

    # A round (fits of 4 and of 1 iteration) takes 7 s: 3 rounds reach 20 s, past 2 repeats.
    benchmark.seconds_per_iteration({"ours": fit}, 4, repeats=2, min_seconds=20.0)
    assert calls == [4, 1] * 3
