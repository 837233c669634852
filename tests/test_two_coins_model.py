"""The two-coin PyMC model: its structure, its density against EM's, and its MAP against EM's."""

from functools import partial
import itertools

import numpy as np
import pytest
import xarray as xr
from pymc_extras.marginal import marginalize
from scipy import special

from inference import BetaDirichletPrior, fit_binomial_mixture
from inference.bayes import assignment_probabilities, find_map
from inference.em import binomial
from models.datasets import SEED_COINS, simulate_coins
from models.two_coins import log_joint, two_coins_model

from .pymc_helpers import logp_at, python_backend

pytestmark = pytest.mark.slow

POINT = {"theta": np.array([0.3, 0.7]), "weights": np.array([0.4, 0.6])}


@pytest.fixture(scope="module")
def latent():
    return two_coins_model(SEED_COINS.heads, SEED_COINS.flips)


@pytest.fixture(scope="module")
def marginal():
    return two_coins_model(SEED_COINS.heads, SEED_COINS.flips, marginalized=True)


def test_latent_model_has_an_assignment_per_experiment(latent):
    assert [rv.name for rv in latent.free_RVs] == ["theta", "weights", "assignment"]
    assert latent.named_vars_to_dims["assignment"] == ("experiment",)
    assert latent.named_vars_to_dims["theta"] == ("coin",)
    assert list(latent.coords["experiment"]) == list(range(5))


def test_marginalized_model_has_no_discrete_variable(marginal):
    assert [rv.name for rv in marginal.free_RVs] == ["theta", "weights"]


def test_fixed_weights_leave_only_theta():
    model = two_coins_model(SEED_COINS.heads, 10, fix_weights=True, marginalized=True)
    assert [rv.name for rv in model.free_RVs] == ["theta"]


def test_marginalized_model_sums_the_latent_one_over_assignments(latent, marginal):
    # Exact identity: p(theta, w, heads) = sum over all 2^5 assignments of p(theta, w, z, heads).
    joint = [
        logp_at(latent, {**POINT, "assignment": np.array(z)})
        for z in itertools.product(range(2), repeat=SEED_COINS.heads.size)
    ]
    assert special.logsumexp(joint) == pytest.approx(logp_at(marginal, POINT), rel=1e-12)


@pytest.mark.parametrize("fix_weights", [False, True])
def test_marginal_density_equals_pymc_extras_marginalization(fix_weights):
    # The marginalized model writes the mixture density directly; pymc-extras sums the
    # latent model over each experiment's coin. At random unconstrained points, priors
    # and Jacobians included, they are the same number.
    rng = np.random.default_rng(3)
    data = simulate_coins(40, 12, [0.2, 0.5, 0.8], [0.3, 0.3, 0.4], random_state=2)
    options = dict(n_coins=3, prior=BetaDirichletPrior(2, 3, 1.5), fix_weights=fix_weights)
    fast = two_coins_model(data.heads, data.flips, marginalized=True, **options)
    summed = marginalize(two_coins_model(data.heads, data.flips, **options), ["assignment"])
    with python_backend():
        fast_logp, summed_logp = fast.compile_logp(), summed.compile_logp()
        shapes = fast.eval_rv_shapes()
    for _ in range(5):
        point = {value.name: rng.normal(size=shapes[value.name]) for value in fast.value_vars}
        assert fast_logp(point) == pytest.approx(summed_logp(point), rel=1e-10)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_em_log_likelihood_equals_the_model_likelihood(marginal, seed):
    rng = np.random.default_rng(seed)
    point = {"theta": np.sort(rng.uniform(0.01, 0.99, 2)), "weights": rng.dirichlet([1, 1])}
    _, em_log_likelihood = binomial.e_step(
        point, heads=SEED_COINS.heads, flips=SEED_COINS.flips, counts=np.ones(5), prior=None, fix_weights=False
    )
    # Both are sums of five logsumexp terms: agreement to rounding.
    assert em_log_likelihood == pytest.approx(logp_at(marginal, point, vars=[marginal["heads"]]), rel=1e-12)


@pytest.mark.parametrize("fix_weights", [True, False])
def test_em_map_equals_pymc_map_on_the_seed(fix_weights):
    prior = BetaDirichletPrior(2, 2)
    em = fit_binomial_mixture(SEED_COINS.heads, 10, prior=prior, fix_weights=fix_weights, n_init=5, random_state=0, tol=1e-12)
    model = two_coins_model(SEED_COINS.heads, 10, prior=prior, fix_weights=fix_weights, marginalized=True)
    # PyMC starts from a neutral point, not from EM's answer.
    start = {"theta": np.array([0.3, 0.7])} | ({} if fix_weights else {"weights": np.array([0.5, 0.5])})
    with python_backend():
        pymc = find_map(model, start)
    np.testing.assert_allclose(pymc["theta"], em.params["theta"], atol=1e-4)
    if fix_weights:
        # The value measured with PyMC alone for this prior and data.
        np.testing.assert_allclose(em.params["theta"], [0.5199, 0.7632], atol=1e-4)
    else:
        np.testing.assert_allclose(pymc["weights"], em.params["weights"], atol=1e-4)


def test_em_map_equals_pymc_map_on_simulated_data():
    data = simulate_coins(300, 20, [0.35, 0.7], [0.3, 0.7], random_state=11)
    prior = BetaDirichletPrior(2, 3, 2)
    em = fit_binomial_mixture(data.heads, data.flips, prior=prior, n_init=5, random_state=0, tol=1e-12)
    model = two_coins_model(data.heads, data.flips, prior=prior, marginalized=True)
    with python_backend():
        pymc = find_map(model, {"theta": np.array([0.2, 0.8]), "weights": np.array([0.5, 0.5])})
    np.testing.assert_allclose(pymc["theta"], em.params["theta"], atol=1e-4)
    np.testing.assert_allclose(pymc["weights"], em.params["weights"], atol=1e-4)


def test_assignment_probabilities_at_a_point_are_ems_responsibilities(latent):
    # Every draw at EM's MLE: the posterior probability of each coin is EM's responsibility there.
    fit = fit_binomial_mixture(SEED_COINS.heads, SEED_COINS.flips, n_init=3, random_state=0)
    posterior = xr.Dataset(
        {name: (("chain", "draw", "coin"), np.broadcast_to(fit.params[name], (2, 3, 2))) for name in ("theta", "weights")}
    )
    probability = assignment_probabilities(
        partial(log_joint, SEED_COINS.heads, SEED_COINS.flips), posterior, dims=("experiment", "coin"), coords=latent.coords
    )
    assert probability.dims == ("experiment", "coin")
    np.testing.assert_allclose(probability.values, fit.responsibilities, rtol=1e-9, atol=1e-12)


def test_jax_gradient_under_jit_is_pytensors_gradient():
    # NUTS by numpyro differentiates the model with JAX under jit. A logsumexp
    # shifted by max had a 0/0 gradient there at 2000 experiments; PyTensor's
    # own symbolic gradient is the reference.
    import jax
    from pymc.sampling.jax import get_jaxified_logp

    data = simulate_coins(2000, 10, [0.35, 0.65], [0.5, 0.5], random_state=1)
    model = two_coins_model(data.heads, data.flips, prior=BetaDirichletPrior(2, 2, 1), marginalized=True)
    point = {"theta_chain__": np.array([-0.5, -0.3]), "weights_simplex__": np.array([0.2])}
    logp = get_jaxified_logp(model)
    gradient = jax.jit(jax.grad(lambda *values: logp(values), argnums=(0, 1)))(*point.values())
    with python_backend():
        reference = model.compile_dlogp()(point)
    np.testing.assert_allclose(np.concatenate(gradient), reference, rtol=1e-9)


def test_models_exports_its_factories_without_importing_pymc_for_the_data():
    import subprocess
    import sys

    import models

    assert models.two_coins_model is two_coins_model
    assert {"two_coins_model", "gaussian_mixture_model"} <= set(models.__all__)
    code = "import sys, models.datasets, models.marks; print('pymc' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
