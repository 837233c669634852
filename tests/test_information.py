"""Standard errors of EM estimates: Louis' information against finite differences, coverage, bootstrap."""

import numpy as np
import pytest
from scipy import special, stats

from inference.em import (
    BetaDirichletPrior,
    ConvergenceWarning,
    GaussianMixturePrior,
    fit_binomial_mixture,
    fit_gaussian_mixture,
)
from inference.em.information import (
    bootstrap_standard_errors_binomial,
    bootstrap_standard_errors_gaussian,
    observed_information_binomial,
    observed_information_gaussian,
    standard_errors_binomial,
    standard_errors_gaussian,
    wald_interval,
)
from models.datasets import simulate_coins

# Louis' identity is exact, so the only error against central differences is
# theirs: truncation ~ (1e-4)^2 relative and round-off ~ eps |objective| / h^2,
# about 1e-7 of the largest entry here. 1e-3 (the brief's bar) leaves a wide margin.
RTOL = 1e-3


def finite_difference_hessian(objective, point: np.ndarray) -> np.ndarray:
    """Central-difference Hessian of ``objective`` at ``point`` (n,), steps 1e-4 of each entry's scale."""
    steps = 1e-4 * np.maximum(np.abs(point), 0.1)
    hessian = np.empty((point.size, point.size))
    for i in range(point.size):
        for j in range(i + 1):
            values = []
            for sign_i, sign_j in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                shifted = point.copy()
                shifted[i] += sign_i * steps[i]
                shifted[j] += sign_j * steps[j]
                values.append(objective(shifted))
            hessian[i, j] = hessian[j, i] = (values[0] - values[1] - values[2] + values[3]) / (4 * steps[i] * steps[j])
    return hessian


def assert_information_matches(information, fd_information):
    # Off-diagonal entries can be near 0, so the absolute floor is the
    # round-off of the differences (~1e-7 of the largest entry), times 100.
    np.testing.assert_allclose(information, fd_information, rtol=RTOL, atol=1e-5 * np.abs(fd_information).max())


def delta_standard_errors(covariance: np.ndarray, weight_positions: np.ndarray) -> tuple[np.ndarray, float]:
    """SEs of the free entries, and the last weight's ``sqrt(1^T Sigma_w 1)``."""
    last = np.sqrt(covariance[np.ix_(weight_positions, weight_positions)].sum()) if weight_positions.size else 0.0
    return np.sqrt(np.diag(covariance)), last


# --- binomial mixture -----------------------------------------------------------


def binomial_objective(heads, flips, n_components, *, fixed_weights=None, prior=None):
    """Log-likelihood (plus log prior) in ``[theta, weights[:K-1]]``, or ``theta`` with fixed weights."""

    def objective(point):
        theta = point[:n_components]
        free = point[n_components:]
        weights = fixed_weights if fixed_weights is not None else np.r_[free, 1 - free.sum()]
        joint = np.log(weights) + stats.binom.logpmf(heads[:, None], flips[:, None], theta)
        total = special.logsumexp(joint, axis=1).sum()
        if prior is not None:
            total += stats.beta.logpdf(theta, prior.a, prior.b).sum()
            if fixed_weights is None:
                total += stats.dirichlet.logpdf(weights, np.full(n_components, prior.alpha))
        return total

    return objective


BINOMIAL_CASES = {
    "K2": dict(theta=[0.3, 0.75], weights=[0.4, 0.6], fix_weights=False, prior=None),
    "K2_fixed_weights": dict(theta=[0.3, 0.75], weights=[0.5, 0.5], fix_weights=True, prior=None),
    "K3": dict(theta=[0.15, 0.5, 0.85], weights=[0.3, 0.3, 0.4], fix_weights=False, prior=None),
    "K2_map": dict(theta=[0.3, 0.75], weights=[0.4, 0.6], fix_weights=False, prior=BetaDirichletPrior(3, 2, 2)),
    "K3_map_fixed_weights": dict(
        theta=[0.15, 0.5, 0.85], weights=[1 / 3] * 3, fix_weights=True, prior=BetaDirichletPrior(2, 2, 1)
    ),
}


@pytest.mark.parametrize("case", list(BINOMIAL_CASES))
def test_binomial_information_matches_finite_differences(case):
    spec = BINOMIAL_CASES[case]
    data = simulate_coins(300, 20, spec["theta"], spec["weights"], random_state=1)
    n_components = len(spec["theta"])
    init = {"theta": spec["theta"], "weights": spec["weights"]}
    fit = fit_binomial_mixture(
        data.heads, data.flips, n_components, init=init, prior=spec["prior"], fix_weights=spec["fix_weights"]
    )
    information, labels = observed_information_binomial(
        fit, data.heads, data.flips, prior=spec["prior"], fix_weights=spec["fix_weights"]
    )
    ses = standard_errors_binomial(fit, data.heads, data.flips, prior=spec["prior"], fix_weights=spec["fix_weights"])

    theta, weights = fit.params["theta"], fit.params["weights"]
    fixed = weights if spec["fix_weights"] else None
    point = theta if spec["fix_weights"] else np.r_[theta, weights[:-1]]
    objective = binomial_objective(data.heads, data.flips, n_components, fixed_weights=fixed, prior=spec["prior"])
    fd_information = -finite_difference_hessian(objective, point)
    assert len(labels) == point.size
    assert_information_matches(information, fd_information)

    weight_positions = np.arange(n_components, point.size)
    free, last_weight = delta_standard_errors(np.linalg.inv(fd_information), weight_positions)
    np.testing.assert_allclose(ses["theta"], free[:n_components], rtol=RTOL)
    if spec["fix_weights"]:
        np.testing.assert_array_equal(ses["weights"], 0.0)
    else:
        np.testing.assert_allclose(ses["weights"], np.r_[free[n_components:], last_weight], rtol=RTOL)


def test_binomial_one_component_is_the_binomial_standard_error():
    data = simulate_coins(50, 10, [0.3], random_state=2)
    fit = fit_binomial_mixture(data.heads, data.flips, 1, init=[0.5])
    theta = data.heads.sum() / data.flips.sum()
    ses = standard_errors_binomial(fit, data.heads, data.flips)
    # Closed form sqrt(theta (1 - theta) / total flips); EM stops within tol=1e-8 of it.
    np.testing.assert_allclose(ses["theta"], np.sqrt(theta * (1 - theta) / data.flips.sum()), rtol=1e-6)
    np.testing.assert_array_equal(ses["weights"], 0.0)


def test_wald_intervals_cover_the_truth_at_their_nominal_rate():
    truth = {"theta": np.array([0.3, 0.75]), "weights": np.array([0.4, 0.6])}
    n_replicates = 200
    covered = {"theta": np.zeros(2), "weights": np.zeros(2)}
    rng = np.random.default_rng(2024)
    for _ in range(n_replicates):
        data = simulate_coins(300, 20, truth["theta"], truth["weights"], random_state=rng)
        fit = fit_binomial_mixture(data.heads, data.flips, 2, init=truth)
        ses = standard_errors_binomial(fit, data.heads, data.flips)
        for name in covered:
            lower, upper = wald_interval(fit.params[name], ses[name], prob=0.94)
            covered[name] += (lower <= truth[name]) & (truth[name] <= upper)
    # The coverage of 200 replicates is a proportion with SE sqrt(0.94 * 0.06 / 200) = 0.0168;
    # 3 SE (0.050) either side of 0.94 is the acceptance band.
    band = 3 * np.sqrt(0.94 * 0.06 / n_replicates)
    for name, hits in covered.items():
        np.testing.assert_allclose(hits / n_replicates, 0.94, atol=band, err_msg=name)


def test_binomial_bootstrap_agrees_with_louis():
    data = simulate_coins(300, 20, [0.3, 0.75], [0.4, 0.6], random_state=3)
    fit = fit_binomial_mixture(data.heads, data.flips, 2, init=[0.3, 0.75])
    louis = standard_errors_binomial(fit, data.heads, data.flips)
    bootstrap = bootstrap_standard_errors_binomial(fit, data.flips, n_boot=200, random_state=4)
    # An SD from 200 draws has relative SE ~ 1/sqrt(2 * 200) = 0.05; allow 4 of them.
    for name in louis:
        np.testing.assert_allclose(bootstrap[name], louis[name], rtol=0.2, err_msg=name)


def test_binomial_bootstrap_keeps_fixed_weights_fixed():
    data = simulate_coins(100, 10, [0.2, 0.8], random_state=5)
    fit = fit_binomial_mixture(data.heads, data.flips, 2, init=[0.2, 0.8], fix_weights=True)
    bootstrap = bootstrap_standard_errors_binomial(fit, 10, fix_weights=True, n_boot=5, random_state=6)
    np.testing.assert_array_equal(bootstrap["weights"], 0.0)
    assert (bootstrap["theta"] > 0).all()


# --- Gaussian mixture -----------------------------------------------------------


def gaussian_objective(x, n_components, covariance_type, *, prior=None):
    """Log-likelihood (plus log prior) in ``[weights[:K-1], means, covariance parameters]``.

    Covariance parameters: "full" each component's lower triangle (np.tril_indices
    order), "tied" one lower triangle, "diag" every variance, "spherical" one
    variance per component.
    """
    n_features = x.shape[1]
    rows, columns = np.tril_indices(n_features)

    def symmetric(lower):
        matrix = np.zeros((n_features, n_features))
        matrix[rows, columns] = lower
        matrix[columns, rows] = lower
        return matrix

    def unpack(point):
        weights = np.r_[point[: n_components - 1], 1 - point[: n_components - 1].sum()]
        start = n_components - 1 + n_components * n_features
        means = point[n_components - 1 : start].reshape(n_components, n_features)
        rest = point[start:]
        covariances = {
            "full": lambda: np.stack([symmetric(block) for block in rest.reshape(n_components, -1)]),
            "tied": lambda: symmetric(rest),
            "diag": lambda: rest.reshape(n_components, n_features),
            "spherical": lambda: rest,
        }[covariance_type]()
        return {"weights": weights, "means": means, "covariances": covariances}

    def objective(point):
        params = unpack(point)
        full = {
            "full": lambda c: c,
            "tied": lambda c: np.broadcast_to(c, (n_components, n_features, n_features)),
            "diag": lambda c: np.stack([np.diag(v) for v in c]),
            "spherical": lambda c: np.stack([v * np.eye(n_features) for v in c]),
        }[covariance_type](params["covariances"])
        joint = np.log(params["weights"]) + np.stack(
            [stats.multivariate_normal.logpdf(x, mean, covariance) for mean, covariance in zip(params["means"], full)],
            axis=1,
        )
        total = special.logsumexp(joint, axis=1).sum()
        if prior is not None:
            total += prior.log_density(params, covariance_type)
        return total

    return objective


def gaussian_point(params, covariance_type):
    """The free vector of ``params``, in the order ``gaussian_objective`` reads it."""
    covariances = params["covariances"]
    n_features = params["means"].shape[1]
    rows, columns = np.tril_indices(n_features)
    covariance_part = {
        "full": lambda: covariances[:, rows, columns].ravel(),
        "tied": lambda: covariances[rows, columns],
        "diag": lambda: covariances.ravel(),
        "spherical": lambda: covariances,
    }[covariance_type]()
    return np.r_[params["weights"][:-1], params["means"].ravel(), covariance_part]


def gaussian_data(n_features: int) -> np.ndarray:
    rng = np.random.default_rng(7)
    if n_features == 1:
        return np.r_[rng.normal(-2.0, 1.0, 160), rng.normal(2.0, 0.7, 240)]
    first = rng.multivariate_normal([-2.0, 0.0], [[1.0, 0.4], [0.4, 0.8]], size=160)
    second = rng.multivariate_normal([2.0, 1.0], [[0.6, -0.2], [-0.2, 1.2]], size=240)
    return np.vstack([first, second])


@pytest.mark.parametrize("use_prior", [False, True], ids=["mle", "map"])
@pytest.mark.parametrize(
    "n_features, covariance_type",
    [(1, "full"), (2, "full"), (2, "tied"), (2, "diag"), (2, "spherical")],
)
def test_gaussian_information_matches_finite_differences(n_features, covariance_type, use_prior):
    x = gaussian_data(n_features)
    prior = GaussianMixturePrior() if use_prior else None
    fit = fit_gaussian_mixture(x, 2, covariance_type=covariance_type, prior=prior, reg_covar=0.0, random_state=0)
    information, labels = observed_information_gaussian(fit, x, prior=prior)
    ses = standard_errors_gaussian(fit, x, prior=prior)

    x2 = x.reshape(x.shape[0], -1)
    resolved = None if prior is None else prior.resolve(x2, 2)
    point = gaussian_point(fit.params, covariance_type)
    fd_information = -finite_difference_hessian(gaussian_objective(x2, 2, covariance_type, prior=resolved), point)
    assert len(labels) == point.size
    assert_information_matches(information, fd_information)

    free, last_weight = delta_standard_errors(np.linalg.inv(fd_information), np.arange(1))
    np.testing.assert_allclose(ses["weights"], [free[0], last_weight], rtol=RTOL)
    np.testing.assert_allclose(ses["means"].ravel(), free[1 : 1 + 2 * n_features], rtol=RTOL)
    se_point = gaussian_point(ses, covariance_type)
    np.testing.assert_allclose(se_point[1 + 2 * n_features :], free[1 + 2 * n_features :], rtol=RTOL)
    if covariance_type in ("full", "tied"):
        np.testing.assert_array_equal(ses["covariances"], np.swapaxes(ses["covariances"], -1, -2))


def test_gaussian_types_coincide_in_one_dimension():
    x = gaussian_data(1)
    informations = []
    for covariance_type in ("full", "diag", "spherical"):
        fit = fit_gaussian_mixture(x, 2, covariance_type=covariance_type, reg_covar=0.0, random_state=0)
        informations.append(observed_information_gaussian(fit, x)[0])
    # Same model, same start, same arithmetic up to round-off of the EM iterates.
    np.testing.assert_allclose(informations[1], informations[0], rtol=1e-8)
    np.testing.assert_allclose(informations[2], informations[0], rtol=1e-8)


def test_gaussian_one_component_is_the_normal_standard_error():
    x = np.random.default_rng(8).normal(1.0, 2.0, 100)
    fit = fit_gaussian_mixture(x, 1, covariance_type="diag", reg_covar=0.0)
    variance = x.var()
    ses = standard_errors_gaussian(fit, x)
    # Closed forms of the normal MLE: sqrt(v / n) and v sqrt(2 / n); one M-step is exact.
    np.testing.assert_allclose(ses["means"], [[np.sqrt(variance / x.size)]], rtol=1e-10)
    np.testing.assert_allclose(ses["covariances"], [[variance * np.sqrt(2 / x.size)]], rtol=1e-10)
    np.testing.assert_array_equal(ses["weights"], [0.0])


def test_gaussian_bootstrap_agrees_with_louis():
    x = gaussian_data(1)
    fit = fit_gaussian_mixture(x, 2, covariance_type="diag", reg_covar=0.0, random_state=0)
    louis = standard_errors_gaussian(fit, x)
    bootstrap = bootstrap_standard_errors_gaussian(fit, reg_covar=0.0, n_boot=100, random_state=9)
    # An SD from 100 draws has relative SE ~ 1/sqrt(2 * 100) = 0.071; allow 4 of them.
    for name in louis:
        np.testing.assert_allclose(bootstrap[name], louis[name], rtol=0.28, err_msg=name)


# --- Wald intervals and bad input --------------------------------------------


def test_wald_interval_uses_the_normal_quantile():
    lower, upper = wald_interval([0.5, 1.0], [0.1, 0.2], prob=0.94)
    # norm.ppf(0.97) = 1.880794 to 7 digits.
    np.testing.assert_allclose(lower, [0.5 - 0.1880794, 1.0 - 0.3761588], atol=1e-7)
    np.testing.assert_allclose(upper, [0.5 + 0.1880794, 1.0 + 0.3761588], atol=1e-7)


@pytest.mark.parametrize("prob", [0, 1, 1.5, True, "0.9"])
def test_wald_interval_rejects_bad_prob(prob):
    with pytest.raises(ValueError, match="^prob:"):
        wald_interval(0.0, 1.0, prob=prob)


def test_prior_must_match_the_fit():
    data = simulate_coins(50, 10, [0.2, 0.8], random_state=10)
    mle = fit_binomial_mixture(data.heads, data.flips, 2, init=[0.2, 0.8])
    map_fit = fit_binomial_mixture(data.heads, data.flips, 2, init=[0.2, 0.8], prior=BetaDirichletPrior())
    with pytest.raises(ValueError, match="^prior: the result is a MAP"):
        standard_errors_binomial(map_fit, data.heads, data.flips)
    with pytest.raises(ValueError, match="^prior: the result is a maximum-likelihood"):
        standard_errors_binomial(mle, data.heads, data.flips, prior=BetaDirichletPrior())
    with pytest.raises(ValueError, match="^prior: expected a BetaDirichletPrior"):
        standard_errors_binomial(map_fit, data.heads, data.flips, prior=GaussianMixturePrior())


def test_bad_result_data_and_n_boot():
    data = simulate_coins(50, 10, [0.2, 0.8], random_state=11)
    fit = fit_binomial_mixture(data.heads, data.flips, 2, init=[0.2, 0.8])
    x = gaussian_data(1)
    gaussian = fit_gaussian_mixture(x, 2, reg_covar=0.0, random_state=0)
    with pytest.raises(ValueError, match="^result: expected the EMResult of fit_binomial_mixture"):
        standard_errors_binomial(gaussian, data.heads, data.flips)
    with pytest.raises(ValueError, match="^result: expected the GaussianMixtureResult"):
        standard_errors_gaussian(fit, x)
    with pytest.raises(ValueError, match="^heads: expected the 50 experiments"):
        standard_errors_binomial(fit, data.heads[:-1], data.flips[:-1])
    with pytest.raises(ValueError, match="^x: expected the shape"):
        standard_errors_gaussian(gaussian, x[:-1])
    with pytest.raises(ValueError, match="^flips: expected a scalar or the 50 experiments"):
        bootstrap_standard_errors_binomial(fit, data.flips[:-1])
    with pytest.raises(ValueError, match="^n_boot:"):
        bootstrap_standard_errors_binomial(fit, data.flips, n_boot=1)


def test_singular_information_is_reported():
    # Two identical components: the weights are not identified.
    data = simulate_coins(50, 10, [0.5], random_state=12)
    with pytest.warns(ConvergenceWarning):
        fit = fit_binomial_mixture(data.heads, data.flips, 2, init=[0.4, 0.4], max_iter=0)
    with pytest.raises(ValueError, match="^result: the observed information is not positive definite"):
        standard_errors_binomial(fit, data.heads, data.flips)
