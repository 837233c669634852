"""The Gaussian mixture PyMC model: its density against SciPy, its transforms, its MAP."""

from functools import partial

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest
from pymc.model.transform.conditioning import remove_value_transforms
from pymc_extras.marginal import marginalize
from pytensor.gradient import jacobian
from scipy import stats
from scipy.special import logsumexp
import xarray as xr

from inference import GaussianMixturePrior, fit_gaussian_mixture
from inference.bayes import assignment_probabilities
from inference.em import gaussian
from models.datasets import simulate_gaussian_mixture
from models.gaussian_mixture import gaussian_mixture_model, log_joint
from models.transforms import CholeskyCovariance, OrderedFirstCoordinate

from .pymc_helpers import python_backend

PARAMETERS = ("weights", "means", "covariances")
# Float64 throughout: a float32 constant anywhere in a density shows up at ~1e-10.
RTOL = 1e-11


def data_prior(x, n_components=2):
    """The project's data-centred prior, a little firmer than its defaults."""
    return GaussianMixturePrior(alpha=1.5, shrinkage=0.05).resolve(x, n_components)


def component_covariances(covariances, covariance_type, n_components, d):
    """Every component's (d, d) covariance from the model's ``covariances`` value."""
    if covariance_type == "full":
        return covariances
    if covariance_type == "tied":
        return np.broadcast_to(covariances, (n_components, d, d))
    if covariance_type == "diag":
        return np.stack([np.diag(c) for c in covariances])
    return covariances[:, None, None] * np.eye(d)


def scipy_log_likelihood(x, weights, means, covariances, covariance_type):
    """Mixture log-likelihood: sum_i logsumexp_k (log w_k + log N(x_i | mu_k, Sigma_k))."""
    x = np.asarray(x, dtype=float).reshape(len(x), -1)
    sigmas = component_covariances(covariances, covariance_type, len(weights), x.shape[1])
    per_component = [
        np.log(w) + stats.multivariate_normal.logpdf(x, mu, s)
        for w, mu, s in zip(weights, means, sigmas)
    ]
    return float(logsumexp(per_component, axis=0).sum())


def scipy_log_prior(prior, weights, means, covariances, covariance_type):
    """Log prior density, written independently of the PyMC model."""
    n_components, d = means.shape
    nu, psi = prior.dof, np.atleast_2d(prior.scale)
    total = stats.dirichlet.logpdf(weights, np.full(n_components, prior.alpha))
    if covariance_type == "full":
        total += sum(stats.invwishart.logpdf(c, df=nu, scale=psi) for c in covariances)
    elif covariance_type == "tied":
        total += stats.invwishart.logpdf(covariances, df=nu, scale=psi)
    elif covariance_type == "diag":
        total += stats.invgamma.logpdf(covariances, a=nu / 2, scale=np.diag(psi) / 2).sum()
    else:
        total += stats.invgamma.logpdf(covariances, a=nu / 2, scale=np.trace(psi) / (2 * d)).sum()
    sigmas = component_covariances(covariances, covariance_type, n_components, d)
    total += sum(
        stats.multivariate_normal.logpdf(mu, prior.mean, s / prior.shrinkage)
        for mu, s in zip(means, sigmas)
    )
    return float(total)


def scipy_log_posterior(x, prior, point, covariance_type):
    """Unnormalized log posterior of ``point`` (a dict of the three parameters)."""
    weights, means, covariances = (np.asarray(point[name], dtype=float) for name in PARAMETERS)
    log_prior = scipy_log_prior(prior, weights, means, covariances, covariance_type)
    return log_prior + scipy_log_likelihood(x, weights, means, covariances, covariance_type)


def log_density_terms(model, point):
    """``{variable name: log density}`` at ``point`` (natural-space values).

    Removing the value transforms makes the value variables the parameters
    themselves, so no Jacobian and no forward transform is involved.
    """
    plain = remove_value_transforms(model)
    with python_backend():
        terms = plain.compile_logp(jacobian=False, sum=False)(point)
    return {rv.name: float(np.sum(term)) for rv, term in zip(plain.basic_RVs, terms)}


def model_log_density(model, point):
    """The model's own ``compile_logp(jacobian=False)`` (what ``find_MAP`` maximizes) at ``point``.

    ``point`` holds natural-space values; each is mapped to its value
    variable through the variable's transform.
    """
    with python_backend():
        values = {}
        for rv in model.free_RVs:
            transform, value = model.rvs_to_transforms[rv], point[rv.name]
            if transform is not None:
                value = transform.forward(pt.as_tensor(value)).eval()
            values[model.rvs_to_values[rv].name] = value
        return float(model.compile_logp(jacobian=False)(values))


def simulate(rng, n, d, n_components=2):
    """Well-separated clusters along the first coordinate, and the generating parameters."""
    means = np.zeros((n_components, d))
    means[:, 0] = 4.0 * np.arange(n_components) - 2.0 * (n_components - 1)
    labels = np.arange(n) % n_components
    x = means[labels] + rng.normal(scale=0.8, size=(n, d))
    return x, means


def random_point(rng, prior, covariance_type, n_components, d):
    """Parameters drawn away from the prior mode, with means ordered by their first coordinate."""
    weights = rng.dirichlet(np.full(n_components, 3.0))
    means = rng.normal(size=(n_components, d))
    means = means[np.argsort(means[:, 0])]
    psi = np.atleast_2d(prior.scale)
    if covariance_type == "full":
        covariances = stats.invwishart.rvs(df=d + 4, scale=psi, size=n_components, random_state=rng)
        covariances = np.reshape(covariances, (n_components, d, d))
    elif covariance_type == "tied":
        covariances = stats.invwishart.rvs(df=d + 4, scale=psi, random_state=rng)
        covariances = np.reshape(covariances, (d, d))
    elif covariance_type == "diag":
        covariances = rng.gamma(3.0, size=(n_components, d))
    else:
        covariances = rng.gamma(3.0, size=n_components)
    return {"weights": weights, "means": means, "covariances": covariances}


CASES = {"diag": 1, "full": 2, "tied": 2, "spherical": 2}


@pytest.fixture(scope="session")
def mixtures():
    """Per covariance type: data (n=20), prior and marginalized K=2 model (1-D for diag)."""
    rng = np.random.default_rng(7)
    built = {}
    for covariance_type, d in CASES.items():
        x, _ = simulate(rng, 20, d)
        if d == 1:
            x = x[:, 0]
        prior = data_prior(x)
        model = gaussian_mixture_model(
            x, 2, covariance_type=covariance_type, prior=prior, marginalized=True
        )
        built[covariance_type] = (x, prior, model)
    return built


@pytest.mark.slow
@pytest.mark.parametrize("covariance_type", list(CASES))
def test_log_density_matches_scipy(mixtures, covariance_type):
    x, prior, model = mixtures[covariance_type]
    d = CASES[covariance_type]
    point = random_point(np.random.default_rng(3), prior, covariance_type, 2, d)
    terms = log_density_terms(model, point)
    weights, means, covariances = (point[name] for name in PARAMETERS)
    expected_likelihood = scipy_log_likelihood(x, weights, means, covariances, covariance_type)
    np.testing.assert_allclose(terms["x"], expected_likelihood, rtol=RTOL)
    expected = scipy_log_posterior(x, prior, point, covariance_type)
    np.testing.assert_allclose(
        prior.log_density(point, covariance_type),
        scipy_log_prior(prior, weights, means, covariances, covariance_type),
        rtol=RTOL,
    )
    np.testing.assert_allclose(sum(terms.values()), expected, rtol=RTOL)
    np.testing.assert_allclose(model_log_density(model, point), expected, rtol=RTOL)


@pytest.mark.slow
def test_cholesky_covariance_transform_round_trips_with_exact_jacobian():
    sigma = stats.invwishart.rvs(df=6, scale=np.eye(3), random_state=1)
    rows, cols = np.tril_indices(3)
    transform = CholeskyCovariance(n=3)
    y = pt.vector("y")
    back = transform.backward(y)
    with python_backend():
        fn = pytensor.function([y], [back, transform.log_jac_det(y), jacobian(back[rows, cols], y)])
        y_value = transform.forward(pt.as_tensor(sigma)).eval()
        back_value, log_jac, jac = fn(y_value)
    np.testing.assert_allclose(back_value, sigma, rtol=1e-12)
    np.testing.assert_allclose(log_jac, np.linalg.slogdet(jac)[1], rtol=1e-12)


@pytest.mark.slow
def test_ordered_first_coordinate_round_trips_with_exact_jacobian():
    means = np.array([[-1.0, 2.0], [0.5, -3.0], [2.5, 0.1]])
    transform = OrderedFirstCoordinate()
    y = pt.vector("y")
    back = transform.backward(y.reshape(means.shape))
    log_jac = transform.log_jac_det(y.reshape(means.shape))
    with python_backend():
        fn = pytensor.function([y], [back, log_jac, jacobian(back.ravel(), y)])
        y_value = transform.forward(pt.as_tensor(means)).eval().ravel()
        back_value, log_jac_value, jac = fn(y_value)
    np.testing.assert_allclose(back_value, means, rtol=1e-12)
    np.testing.assert_allclose(log_jac_value, np.linalg.slogdet(jac)[1], rtol=1e-12)
    np.testing.assert_array_equal(y_value.reshape(means.shape)[:, 1], means[:, 1])


def map_estimate(model, start):
    """``pm.find_MAP`` from ``start`` (natural-space values), only the three parameters."""
    with python_backend():
        estimate = pm.find_MAP(start=start, model=model, progressbar=False, options={"gtol": 1e-10})
    return {name: estimate[name] for name in PARAMETERS}


def _perturbations(point, covariance_type, step=1e-3):
    """Small moves of each parameter coordinate that stay in the parameter space."""
    for k in range(len(point["weights"])):
        for j in range(len(point["weights"])):
            if j != k:
                weights = point["weights"].copy()
                moved = step * weights[k]
                weights[k] += moved
                weights[j] -= moved
                yield {**point, "weights": weights / weights.sum()}
    for index in np.ndindex(point["means"].shape):
        for sign in (-1, 1):
            means = point["means"].copy()
            means[index] += sign * step
            yield {**point, "means": means}
    covariances = point["covariances"]
    for index in np.ndindex(covariances.shape):
        if covariance_type in ("full", "tied") and index[-1] > index[-2]:
            continue
        for sign in (-1, 1):
            moved = covariances.copy()
            moved[index] += sign * step * abs(covariances[index])
            if covariance_type in ("full", "tied"):
                moved[(*index[:-2], index[-1], index[-2])] = moved[index]
            yield {**point, "covariances": moved}


@pytest.mark.slow
@pytest.mark.parametrize("covariance_type, d", [("diag", 1), ("full", 2)])
def test_find_map_is_an_ordered_local_maximum(covariance_type, d):
    rng = np.random.default_rng(11)
    x, true_means = simulate(rng, 40, d)
    prior = data_prior(x)
    model = gaussian_mixture_model(
        x, 2, covariance_type=covariance_type, prior=prior, marginalized=True
    )
    if covariance_type == "diag":
        covariances = np.full((2, d), 0.64)
    else:
        covariances = np.stack([0.64 * np.eye(d)] * 2)
    start = {"weights": np.full(2, 0.5), "means": true_means + 0.1, "covariances": covariances}
    estimate = map_estimate(model, start)
    for value in estimate.values():
        assert np.all(np.isfinite(value))
    assert np.all(np.diff(estimate["means"][:, 0]) > 0)
    best = scipy_log_posterior(x, prior, estimate, covariance_type)
    assert best > scipy_log_posterior(x, prior, start, covariance_type)
    for moved in _perturbations(estimate, covariance_type):
        assert scipy_log_posterior(x, prior, moved, covariance_type) <= best + 1e-9


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_latent_model_names_and_dims(covariance_type):
    x, _ = simulate(np.random.default_rng(0), 12, 2)
    model = gaussian_mixture_model(x, 3, covariance_type=covariance_type, prior=data_prior(x, 3))
    covariance_dims = {
        "full": ("component", "dim", "dim2"),
        "tied": ("dim", "dim2"),
        "diag": ("component", "dim"),
        "spherical": ("component",),
    }[covariance_type]
    assert dict(model.named_vars_to_dims) == {
        "weights": ("component",),
        "means": ("component", "dim"),
        "covariances": covariance_dims,
        "assignment": ("obs",),
        "x": ("obs", "dim"),
    }
    assert {rv.name for rv in model.free_RVs} == {*PARAMETERS, "assignment"}
    assert [rv.name for rv in model.observed_RVs] == ["x"]
    assert len(model.coords["obs"]) == 12 and len(model.coords["component"]) == 3


# --- EM against PyMC -------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("covariance_type", list(CASES))
def test_em_log_likelihood_equals_the_model_likelihood(mixtures, covariance_type):
    x, prior, model = mixtures[covariance_type]
    point = random_point(np.random.default_rng(3), prior, covariance_type, 2, np.atleast_2d(x.T).shape[0])
    _, em_log_likelihood = gaussian.e_step(point, x=x.reshape(len(x), -1), covariance_type=covariance_type, prior=None)
    _, em_log_posterior = gaussian.e_step(point, x=x.reshape(len(x), -1), covariance_type=covariance_type, prior=prior)
    assert em_log_likelihood == pytest.approx(log_density_terms(model, point)["x"], rel=RTOL)
    assert em_log_posterior == pytest.approx(model_log_density(model, point), rel=RTOL)


def _three_components_1d():
    data = simulate_gaussian_mixture(
        150, [0.3, 0.4, 0.3], [[-3.0], [0.0], [3.5]], np.array([0.7, 1.0, 0.8]).reshape(3, 1, 1) ** 2, random_state=4
    )
    return data.x[:, 0], 3, "diag"


def _two_components_2d_full():
    data = simulate_gaussian_mixture(
        120,
        [0.45, 0.55],
        [[-2.0, 0.0], [2.0, 1.0]],
        [[[1.0, 0.5], [0.5, 1.0]], [[0.6, -0.2], [-0.2, 0.9]]],
        random_state=5,
    )
    return data.x, 2, "full"


@pytest.mark.slow
@pytest.mark.parametrize("make_data", [_three_components_1d, _two_components_2d_full], ids=["1d-K3", "2d-full-K2"])
def test_em_map_equals_pymc_map(make_data):
    x, n_components, covariance_type = make_data()
    prior = GaussianMixturePrior()
    fit = dict(covariance_type=covariance_type, n_init=5, random_state=0)
    em_map = fit_gaussian_mixture(x, n_components, prior=prior, reg_covar=0.0, tol=1e-12, **fit)
    em_mle = fit_gaussian_mixture(x, n_components, **fit)
    model = gaussian_mixture_model(
        x, n_components, covariance_type=covariance_type, prior=prior.resolve(x, n_components), marginalized=True
    )
    # PyMC starts at EM's MLE, a different point from the MAP it must find.
    pymc_map = map_estimate(model, {name: np.array(em_mle.params[name]) for name in PARAMETERS})
    for name in PARAMETERS:
        np.testing.assert_allclose(pymc_map[name], em_map.params[name], atol=1e-4, err_msg=name)


@pytest.mark.parametrize("covariance_type, d", [("full", 2), ("tied", 3), ("diag", 2), ("spherical", 2), ("full", 1)])
def test_marginal_density_equals_the_latent_model_summed_over_assignments(covariance_type, d):
    # The model NUTS and MAP run on writes the mixture density directly; pymc-extras
    # sums the explicit-assignment model over each row's assignment. At random
    # unconstrained points, with priors and Jacobians, the two are the same number.
    rng = np.random.default_rng(7)
    x, _ = simulate(rng, 25, d, n_components=3)
    prior = data_prior(x, 3)
    fast = gaussian_mixture_model(x, 3, covariance_type=covariance_type, prior=prior, marginalized=True)
    summed = marginalize(gaussian_mixture_model(x, 3, covariance_type=covariance_type, prior=prior), ["assignment"])
    with python_backend():
        fast_logp, summed_logp = fast.compile_logp(), summed.compile_logp()
        fast_rows = fast.compile_logp(vars=[fast["x"]], sum=False)
        shapes = fast.eval_rv_shapes()
    for _ in range(5):
        point = {value.name: rng.normal(size=shapes[value.name]) for value in fast.value_vars}
        assert fast_logp(point) == pytest.approx(summed_logp(point), rel=1e-10)
    # One log-likelihood term per row, as LOO needs.
    assert fast_rows(point)[0].shape == (25,)


def _point_posterior(params, model):
    """A posterior of 2 chains x 3 draws all at ``params``, dims as the model names them."""
    return xr.Dataset(
        {
            name: (("chain", "draw", *model.named_vars_to_dims[name]), np.broadcast_to(value, (2, 3, *np.shape(value))))
            for name, value in params.items()
        }
    )


@pytest.mark.slow
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_assignment_probabilities_at_a_point_are_ems_responsibilities(covariance_type):
    # With every draw at EM's estimate, the posterior probability of each
    # assignment is the E-step's responsibility there: two independent routes,
    # the model's batched component densities and EM's blocked log-space E-step.
    x, _ = simulate(np.random.default_rng(5), 60, 2, n_components=3)
    fit = fit_gaussian_mixture(x, 3, covariance_type=covariance_type, n_init=3, random_state=0)
    latent = gaussian_mixture_model(x, 3, covariance_type=covariance_type, prior=data_prior(x, 3))
    probability = assignment_probabilities(
        partial(log_joint, x, covariance_type=covariance_type),
        _point_posterior(fit.params, latent),
        dims=("obs", "component"),
        coords=latent.coords,
    )
    assert probability.dims == ("obs", "component")
    np.testing.assert_allclose(probability.values, fit.predict_proba(x), rtol=1e-9, atol=1e-12)
