"""Several optima: EM's restarts grouped by where they ended, and chains matched to them."""

import numpy as np
import pymc as pm
import pytest
import xarray as xr

from inference.em import BetaDirichletPrior, fit_binomial_mixture
from inference.modes import chain_optima, distinct_optima
from models.datasets import simulate_coins
from models.two_coins import two_coins_model

# Three coins 0.1 / 0.5 / 0.9 fitted with two: the middle coin joins either
# neighbour, and both are local maxima of the log posterior (measured: -318.22
# and -320.15, reached by 5 and 15 of 20 seeded restarts).
DATA = simulate_coins(90, 20, [0.1, 0.5, 0.9], random_state=0)
PRIOR = BetaDirichletPrior()


@pytest.fixture(scope="module")
def fit():
    return fit_binomial_mixture(DATA.heads, DATA.flips, 2, prior=PRIOR, n_init=20, random_state=0, tol=1e-10)


@pytest.fixture(scope="module")
def optima(fit):
    return distinct_optima(fit)


def test_two_distinct_optima(fit, optima):
    assert len(optima) == 2
    assert optima["n_restarts"].sum() == len(fit.restarts)
    assert optima["objective"].is_monotonic_decreasing
    assert optima.loc[0, "objective"] == pytest.approx(fit.objective)
    # The best optimum puts the middle coin with the upper one, the other with the lower one.
    assert optima.loc[0, "theta[0]"] < 0.2 < optima.loc[1, "theta[0]"]
    assert list(optima.columns[3:]) == ["theta[0]", "theta[1]", "weights[0]", "weights[1]"]


def test_a_coarse_tolerance_merges_them(fit):
    # The optima differ by about 0.1 in theta[0]: a tolerance of 0.5 merges them.
    assert len(distinct_optima(fit, atol=0.5)) == 1


def test_chains_drawn_around_each_optimum_are_matched_to_it(optima, rng):
    # Draws scattered by 0.01 around each optimum, which lie about 0.1 apart.
    centres = [
        {name: optima.loc[k, [f"{name}[0]", f"{name}[1]"]].to_numpy(dtype=float) for name in ("theta", "weights")}
        for k in (1, 0, 1)
    ]
    posterior = xr.Dataset(
        {
            name: (("chain", "draw", "coin"), np.stack([c[name] + 0.01 * rng.standard_normal((50, 2)) for c in centres]))
            for name in ("theta", "weights")
        }
    )
    matched = chain_optima(posterior, optima)
    assert list(matched["optimum"]) == [1, 0, 1]
    assert (matched["distance"] < matched["distance_to_next"] / 3).all()


@pytest.mark.slow
def test_chains_started_at_the_lesser_optimum_leave_it(optima):
    model = two_coins_model(DATA.heads, DATA.flips, prior=PRIOR, marginalized=True)
    starts = [
        {name: optima.loc[k, [f"{name}[0]", f"{name}[1]"]].to_numpy(dtype=float) for name in ("theta", "weights")}
        for k in (0, 1)
    ]
    tree = pm.sample(
        model=model,
        draws=200,
        tune=200,
        chains=2,
        cores=1,
        initvals=starts,
        random_seed=2,
        nuts_sampler="pymc",
        progressbar=False,
        compute_convergence_checks=False,
    )
    matched = chain_optima(tree["posterior"].dataset, optima)
    # Measured: NUTS does not stay in EM's lesser optimum. It lies about 2 nats
    # below the best one, so it holds roughly e^-2 of the posterior mass, and
    # a chain's mean lies nearest the best optimum whether or not it revisits.
    assert list(matched["optimum"]) == [0, 0]
