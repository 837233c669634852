"""EM for the binomial mixture: the seed's numbers, monotonicity, MAP, edge cases, bad input."""

import dataclasses
import warnings

from hypothesis import given, settings, strategies as st
import numpy as np
import pytest
from scipy import optimize, special, stats

from inference import BetaDirichletPrior, ConvergenceWarning, fit_binomial_mixture
from models.datasets import SEED_COINS, simulate_coins


def seed_fit(**kwargs):
    return fit_binomial_mixture(SEED_COINS.heads, SEED_COINS.flips, init=[0.6, 0.5], fix_weights=True, **kwargs)


# --- the seed's worked example ------------------------------------------------
# Components come back ordered by theta, so coin A (started at 0.6) is column 1.


def test_seed_first_iteration():
    fit = seed_fit()
    np.testing.assert_allclose(fit.history["theta"][0], [0.5, 0.6])
    # The published value is 0.71 / 0.58; these digits are the exact arithmetic.
    np.testing.assert_allclose(fit.history["theta"][1], [0.5813, 0.7130], atol=5e-5)


def test_seed_tenth_iteration():
    np.testing.assert_allclose(seed_fit().history["theta"][10], [0.5197, 0.7967], atol=5e-5)


def test_seed_fixed_point():
    # With tol=1e-12 the remaining error is far below the 6 published digits.
    fit = seed_fit(tol=1e-12)
    assert fit.converged
    np.testing.assert_allclose(fit.params["theta"], [0.519583, 0.796789], atol=5e-7)
    np.testing.assert_array_equal(fit.params["weights"], [0.5, 0.5])


def test_seed_first_e_step_matches_hand_computation():
    # The seed's table: experiment 1 (5 heads) belongs to coin A with probability 0.45.
    with pytest.warns(ConvergenceWarning):
        start = seed_fit(max_iter=0)
    like_a = 0.6**5 * 0.4**5
    like_b = 0.5**10
    assert start.responsibilities[0, 1] == pytest.approx(like_a / (like_a + like_b), rel=1e-12)
    assert start.responsibilities[0, 1] == pytest.approx(0.45, abs=0.005)


# --- the objective never decreases --------------------------------------------

prior_strategy = st.one_of(
    st.none(),
    st.builds(
        BetaDirichletPrior,
        a=st.floats(1, 10),
        b=st.floats(1, 10),
        alpha=st.floats(1, 5),
    ),
)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_experiments=st.integers(1, 40),
    n_components=st.integers(1, 4),
    prior=prior_strategy,
    fix_weights=st.booleans(),
)
def test_objective_never_decreases(seed, n_experiments, n_components, prior, fix_weights):
    rng = np.random.default_rng(seed)
    n_components = min(n_components, n_experiments)
    flips = rng.integers(1, 60, size=n_experiments)
    heads = rng.binomial(flips, rng.uniform(0, 1, size=n_experiments))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = fit_binomial_mixture(
            heads, flips, n_components, prior=prior, fix_weights=fix_weights, max_iter=200, random_state=seed
        )
    trace = fit.objective_trace
    assert np.isfinite(trace).all()
    # EM's ascent is exact in real arithmetic; allow only rounding of a sum of
    # n_experiments log terms (a few ulps of the objective's magnitude).
    assert (np.diff(trace) >= -1e-12 * (1 + np.abs(trace[1:]))).all()
    np.testing.assert_allclose(fit.responsibilities.sum(axis=1), 1, rtol=1e-12)
    assert np.all((fit.params["theta"] >= 0) & (fit.params["theta"] <= 1))
    assert np.all(np.diff(fit.params["theta"]) >= 0)


# --- MAP and MLE against direct optimisation ----------------------------------


def _negative_objective(free, heads, flips, prior):
    """Negative log-likelihood (+ log prior) of a two-coin mixture with free weights."""
    theta = special.expit(free[:2])
    weights = np.array([special.expit(free[2]), 1 - special.expit(free[2])])
    joint = np.log(weights) + stats.binom.logpmf(heads[:, None], flips[:, None], theta)
    value = special.logsumexp(joint, axis=1).sum()
    if prior is not None:
        value += stats.beta.logpdf(theta, prior.a, prior.b).sum()
        value += stats.dirichlet.logpdf(weights, [prior.alpha] * 2)
    return -value


@pytest.mark.parametrize("prior", [None, BetaDirichletPrior(2, 2, 1), BetaDirichletPrior(3, 1.5, 4)])
def test_em_optimum_matches_direct_optimisation(prior):
    data = simulate_coins(200, 20, [0.3, 0.75], [0.4, 0.6], random_state=1)
    fit = fit_binomial_mixture(data.heads, data.flips, prior=prior, n_init=5, random_state=0, tol=1e-12)
    start = np.concatenate([special.logit(fit.params["theta"]) + 0.3, [0.5]])
    direct = optimize.minimize(
        _negative_objective, start, args=(data.heads, data.flips, prior), method="BFGS", options={"gtol": 1e-9}
    )
    # BFGS is accurate to about sqrt(machine eps) in the parameters.
    np.testing.assert_allclose(fit.params["theta"], special.expit(direct.x[:2]), atol=1e-6)
    assert fit.params["weights"][0] == pytest.approx(special.expit(direct.x[2]), abs=1e-6)
    assert fit.objective == pytest.approx(-direct.fun, abs=1e-9)


def test_flat_prior_map_is_the_mle():
    mle = fit_binomial_mixture(SEED_COINS.heads, 10, random_state=0, tol=1e-12)
    flat = fit_binomial_mixture(SEED_COINS.heads, 10, prior=BetaDirichletPrior(1, 1, 1), random_state=0, tol=1e-12)
    np.testing.assert_allclose(flat.params["theta"], mle.params["theta"], atol=1e-12)
    assert flat.objective_name == "log_posterior" and mle.objective_name == "log_likelihood"


def test_one_component_is_the_pooled_proportion():
    fit = fit_binomial_mixture([3, 7, 2], [10, 10, 5], n_components=1)
    # One M-step reaches the optimum; the second iteration sees no change.
    assert fit.history["theta"][1, 0] == pytest.approx(12 / 25, rel=1e-14)
    assert fit.n_iter == 2 and fit.converged


# --- hard but valid data --------------------------------------------------------


def test_huge_flip_counts_do_not_underflow():
    # The seed's products of probabilities underflow at this size; log space does not.
    heads = np.array([30_000, 30_100, 70_000, 69_950])
    fit = fit_binomial_mixture(heads, 100_000, random_state=0)
    assert np.isfinite(fit.objective)
    np.testing.assert_allclose(fit.params["theta"], [0.3005, 0.69975], rtol=1e-12)
    np.testing.assert_array_equal(fit.responsibilities.round(), [[1, 0], [1, 0], [0, 1], [0, 1]])


def test_all_heads_and_all_tails():
    fit = fit_binomial_mixture([0, 0, 10, 10], 10, random_state=0)
    np.testing.assert_allclose(fit.params["theta"], [0, 1], atol=1e-12)
    assert np.isfinite(fit.objective)


def test_duplicate_experiments_are_pooled_without_changing_the_answer():
    data = simulate_coins(1_000, 10, [0.2, 0.7], random_state=3)
    fit = fit_binomial_mixture(data.heads, data.flips, init=[0.3, 0.6], tol=1e-12)
    same_pair = (data.heads == data.heads[0]) & (data.flips == data.flips[0])
    np.testing.assert_array_equal(fit.responsibilities[same_pair], fit.responsibilities[same_pair][:1].repeat(same_pair.sum(), 0))
    order = np.random.default_rng(0).permutation(1_000)
    shuffled = fit_binomial_mixture(data.heads[order], data.flips[order], init=[0.3, 0.6], tol=1e-12)
    np.testing.assert_allclose(shuffled.params["theta"], fit.params["theta"], rtol=1e-12)
    np.testing.assert_allclose(shuffled.responsibilities, fit.responsibilities[order], rtol=1e-12)


def test_recovers_known_truth():
    data = simulate_coins(2_000, 30, [0.25, 0.6, 0.85], [0.3, 0.3, 0.4], random_state=7)
    fit = fit_binomial_mixture(data.heads, data.flips, 3, n_init=5, random_state=0)
    # 2000 experiments of 30 flips: standard errors are about 0.003 for theta
    # and 0.015 for the weights; 4 standard errors is a safe margin.
    np.testing.assert_allclose(fit.params["theta"], data.theta, atol=0.012)
    np.testing.assert_allclose(fit.params["weights"], data.weights, atol=0.06)


# --- the result object ---------------------------------------------------------


def test_result_is_frozen():
    fit = seed_fit()
    with pytest.raises(dataclasses.FrozenInstanceError):
        fit.n_iter = 3
    with pytest.raises(ValueError, match="read-only"):
        fit.params["theta"][0] = 0.1
    with pytest.raises(TypeError):
        fit.params["theta"] = np.zeros(2)


def test_dataset_uses_the_model_names():
    fit = seed_fit()
    data = fit.to_dataset()
    assert data["theta"].dims == ("coin",)
    assert data["responsibilities"].dims == ("experiment", "coin")
    assert data["log_likelihood"].sizes["iteration"] == fit.n_iter + 1
    np.testing.assert_array_equal(data["theta_history"].values, fit.history["theta"])
    assert data.attrs["converged"] == 1


def test_restarts_are_reported_and_the_best_is_kept():
    fit = fit_binomial_mixture(SEED_COINS.heads, 10, n_init=7, random_state=0)
    assert len(fit.restarts) == 7
    assert fit.objective == max(restart.objective for restart in fit.restarts)


def test_non_convergence_warns_and_says_so():
    with pytest.warns(ConvergenceWarning, match="increase max_iter"):
        fit = seed_fit(max_iter=2)
    assert not fit.converged and fit.n_iter == 2


# --- bad input -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("heads", "flips", "kwargs", "message"),
    [
        ([5, 11], 10, {}, "heads: 11 heads exceed 10 flips at index 1$"),
        ([5, -1], 10, {}, "heads: counts must be non-negative, got -1 at index 1$"),
        ([5, 2.5], 10, {}, "heads: counts must be whole numbers"),
        ([5, np.nan], 10, {}, "heads: contains NaN at flat index 1$"),
        ([5, np.inf], 10, {}, "heads: contains inf"),
        ([], 10, {}, "heads: no experiments"),
        ([[1, 2]], 10, {}, "heads: expected a 1-D"),
        ([5, 6], [10, 10, 10], {}, "flips: length 3 does not match"),
        ([5, 6], [10, 0], {}, "flips: every experiment needs at least one flip"),
        ([5, 6], [10, -3], {}, "flips: counts must be non-negative"),
        (["a", 6], 10, {}, "heads: expected real numbers"),
        (["5", "9"], 10, {}, "heads: expected real numbers, got an array of dtype <U1"),
        ([5 + 1j, 6], 10, {}, "heads: expected real numbers, got an array of dtype complex128"),
        ([5, 6], 10 + 0j, {}, "flips: expected real numbers, got an array of dtype complex128"),
        ([1e300, 5], 1e300, {}, r"heads: counts must be at most 2\*\*53 = 9007199254740992.*got 1e\+300 at index 0"),
        ([5, 6], 2**53 + 1, {}, r"flips: counts must be at most 2\*\*53.*got 9007199254740993 at index 0"),
        (
            np.array([2**63 + 2048, 5], dtype=np.uint64),
            np.array([2**64 - 2048, 10], dtype=np.uint64),
            {},
            r"heads: counts must be at most 2\*\*53.*got 9223372036854777856 at index 0",
        ),
        ([10**400, 5], 10, {}, r"heads: counts must be at most 2\*\*53.*beyond float64's range"),
        ([5, 6], 10, {"n_components": 0}, "n_components: expected a whole number >= 1"),
        ([5, 6], 10, {"n_components": 3}, "n_components: 3 components need at least as many experiments"),
        ([5, 6], 10, {"n_components": 1.5}, "n_components: expected a whole number"),
        ([5, 6], 10, {"n_init": 0}, "n_init: expected a whole number >= 1"),
        ([5, 6], 10, {"tol": -1}, "tol: expected a finite number >= 0"),
        ([5, 6], 10, {"max_iter": -1}, "max_iter: expected a whole number >= 0"),
        ([5, 6], 10, {"init": [0.5]}, r"init\['theta'\]: expected shape \(2,\)"),
        ([5, 6], 10, {"init": [0.5, 1.5]}, r"init\['theta'\]: every value must lie in \[0, 1\]"),
        ([5, 6], 10, {"init": {"theta": [0.2, 0.5], "weights": [0.7, 0.7]}}, r"init\['weights'\]: expected positive"),
        ([5, 6], 10, {"init": {"bias": [0.2, 0.5]}}, r"init: unknown parameter"),
        ([5, 6], 10, {"init": {"weights": [0.5, 0.5]}}, r"init: missing 'theta'"),
        ([5, 9, 8], 10, {"init": [0.0, 1.0]}, r"init: experiment 0 \(5 heads in 10 flips\) has probability 0"),
        ([0, 9, 0], 10, {"init": [0.0, 1.0]}, r"init: experiment 1 \(9 heads in 10 flips\) has probability 0"),
        ([5, 9, 8], 10, {"init": [1.0, 1.0], "prior": BetaDirichletPrior()}, r"init: experiment 0 .* probability 0"),
        ([5, 9, 8], 10, {"init": [0.0, 1.0], "fix_weights": True}, r"init: experiment 0 .* probability 0"),
        ([5, 6], 10, {"random_state": "x"}, r"random_state: expected None, a whole number >= 0 or a numpy Generator"),
        ([5, 6], 10, {"random_state": -1}, r"random_state: expected None, a whole number >= 0 .*got -1"),
        ([5, 6], 10, {"prior": (2, 2)}, "prior: expected a BetaDirichletPrior"),
    ],
)
def test_bad_input_is_a_clear_error(heads, flips, kwargs, message):
    with pytest.raises(ValueError, match=message):
        fit_binomial_mixture(heads, flips, **kwargs)


@pytest.mark.parametrize("name", ["fix_weights", "accelerate"])
@pytest.mark.parametrize("value", ["no", 0, None])
def test_flags_must_be_booleans(name, value):
    with pytest.raises(ValueError, match=f"^{name}: expected True or False, got {value!r}"):
        fit_binomial_mixture([5, 6], 10, **{name: value})


def test_largest_exact_count_is_accepted():
    fit = fit_binomial_mixture([2**52, 2**51], 2**53, n_components=1)
    assert fit.params["theta"][0] == pytest.approx(0.375, rel=1e-12)
    assert np.isfinite(fit.objective)


def test_boolean_heads_count_as_zero_and_one():
    fit = fit_binomial_mixture(np.array([True, False, True, True]), 1, n_components=1)
    assert fit.params["theta"][0] == pytest.approx(0.75, rel=1e-12)


def test_boundary_start_that_every_experiment_can_reach_is_kept():
    # All-tails and all-heads experiments only: theta = [0, 1] is the MLE itself.
    fit = fit_binomial_mixture([0, 0, 10, 10], 10, init=[0.0, 1.0])
    np.testing.assert_allclose(fit.params["theta"], [0.0, 1.0], atol=1e-12)
    assert fit.converged and np.isfinite(fit.objective)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"a": 0}, "prior: a must be a finite number > 0"),
        ({"b": -1}, "prior: b must be a finite number > 0"),
        ({"alpha": np.nan}, "prior: alpha must be a finite number > 0"),
        ({"a": 0.5}, "prior: a=0.5 < 1 puts infinite density on the boundary"),
        ({"b": np.inf}, "prior: b must be a finite number > 0"),
    ],
)
def test_bad_prior_is_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BetaDirichletPrior(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"a": "2"}, "prior: a must be a number, got '2'"),
        ({"b": None}, "prior: b must be a number, got None"),
        ({"alpha": True}, "prior: alpha must be a number, got True"),
    ],
)
def test_prior_of_the_wrong_type_is_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BetaDirichletPrior(**kwargs)


@pytest.mark.parametrize("field", ["a", "b", "alpha"])
def test_priors_so_concentrated_they_swamp_the_data_are_refused_by_name(field):
    # At 1e100 the objective reached 1e86 and at 1e308 theta was NaN; 1e12 still fits.
    with pytest.raises(ValueError, match=rf"^prior: {field}=1e\+100 is beyond 1e\+12, where the prior fixes the parameter"):
        BetaDirichletPrior(**{field: 1e100})
    fit = fit_binomial_mixture([5, 9, 8, 4, 7], 10, prior=BetaDirichletPrior(**{field: 1e12}), n_init=2, random_state=0)
    assert np.isfinite(fit.objective) and np.isfinite(fit.params["theta"]).all()


def test_more_starts_than_memory_holds_are_refused_up_front():
    with pytest.raises(ValueError, match=r"^n_init: 1000000000 starts of 4 values need about 119 GiB, more than half"):
        fit_binomial_mixture([5, 9, 8, 4, 7], 10, n_init=10**9)
