"""EM against the posterior as the data grow: both approach the truth, and each other.

By Bernstein-von Mises the posterior of a regular model is asymptotically
normal, centred at the MLE with the inverse observed information as its
covariance; the MAP and the posterior mean then differ by o(1/sqrt(n)) and
Louis' standard errors at the MAP approach the posterior standard deviations.
:func:`convergence_with_data` shows how fast, on data simulated from a known
truth.
"""

import arviz_stats
import numpy as np
import pandas as pd
import xarray as xr

from models.datasets import simulate_coins, simulate_gaussian_mixture
from models.gaussian_mixture import gaussian_mixture_model
from models.two_coins import two_coins_model

from .bayes import sample_posterior
from .compare import EM_TOL, _estimates
from .em import (
    BetaDirichletPrior,
    GaussianMixturePrior,
    fit_binomial_mixture,
    fit_gaussian_mixture,
    standard_errors_binomial,
    standard_errors_gaussian,
)
from .em.checks import check_positive_int, check_random_state

__all__ = ["DEFAULT_TRUTH", "PROBLEMS", "convergence_with_data", "labelled", "simulate_and_fit"]

PROBLEMS = ("two-coins", "gmm")

DEFAULT_TRUTH = {
    "two-coins": {"theta": np.array([0.3, 0.7]), "weights": np.array([0.4, 0.6])},
    "gmm": {
        "weights": np.array([0.4, 0.6]),
        "means": np.array([[-2.0], [2.0]]),
        "covariances": np.array([1.0, 0.5]).reshape(2, 1, 1),
    },
}
"""Truth per problem: two coins of 20 flips; a 1-D two-component Gaussian mixture."""

FLIPS = 20
"""Flips per simulated two-coin experiment."""


def simulate_and_fit(problem: str, n: int, truth: dict, prior, rng: np.random.Generator, n_init: int):
    """Simulate n rows, fit EM's MAP with its standard errors, and build the marginalized model."""
    if problem == "two-coins":
        prior = BetaDirichletPrior() if prior is None else prior
        data = simulate_coins(n, FLIPS, truth["theta"], truth["weights"], random_state=rng)
        fit = fit_binomial_mixture(
            data.heads, data.flips, truth["theta"].size, prior=prior, n_init=n_init, random_state=rng, tol=EM_TOL
        )
        se = standard_errors_binomial(fit, data.heads, data.flips, prior=prior)
        model = two_coins_model(data.heads, data.flips, n_coins=truth["theta"].size, prior=prior, marginalized=True)
        return fit, se, model
    prior = GaussianMixturePrior() if prior is None else prior
    data = simulate_gaussian_mixture(n, truth["weights"], truth["means"], truth["covariances"], random_state=rng)
    n_components = truth["weights"].size
    fit = fit_gaussian_mixture(
        data.x, n_components, prior=prior, reg_covar=0.0, n_init=n_init, random_state=rng, tol=EM_TOL
    )
    se = standard_errors_gaussian(fit, data.x, prior=prior)
    model = gaussian_mixture_model(data.x, n_components, prior=prior.resolve(data.x, n_components), marginalized=True)
    return fit, se, model


def labelled(values, dims, names: list[str]) -> pd.Series:
    """The entries of ``values[name]`` for every name, labelled ``name[i, j]`` as ArviZ labels them."""
    return _estimates(xr.Dataset({name: (dims[name], np.asarray(values[name])) for name in names}), names)


def convergence_with_data(
    n_values,
    *,
    problem: str = "two-coins",
    truth: dict | None = None,
    prior: BetaDirichletPrior | GaussianMixturePrior | None = None,
    n_init: int = 5,
    draws: int = 500,
    tune: int = 500,
    chains: int = 2,
    random_seed: int | None = 0,
    progressbar: bool = False,
    nuts_sampler: str | None = None,
) -> pd.DataFrame:
    """EM's MAP and its standard errors against NUTS, for growing amounts of data.

    Parameters
    ----------
    n_values : sequence of int
        Data sizes: experiments (two-coins, ``FLIPS`` flips each) or
        observations (gmm). Each gets its own simulated data set.
    problem : {"two-coins", "gmm"}
    truth : mapping of str to ndarray, optional
        The generating parameters, under the model's names and shapes:
        two-coins ``theta`` (K,) and ``weights`` (K,); gmm ``weights`` (K,),
        ``means`` (K, 1) and ``covariances`` (K, 1, 1), components in the
        model's order (``theta`` and ``means`` increasing). Default
        :data:`DEFAULT_TRUTH`.
    prior : BetaDirichletPrior or GaussianMixturePrior, optional
        Used by EM's MAP and the posterior alike; default the problem's default prior.
    n_init, draws, tune, chains, random_seed, progressbar, nuts_sampler
        EM starts, and NUTS settings (chains start at EM's MAP; for
        ``nuts_sampler`` see :func:`inference.bayes.sample_posterior`).

    Returns
    -------
    pandas.DataFrame
        Index (``n``, ``parameter``), one row per scalar parameter per n:
        ``truth``, ``em_map``, ``posterior_mean``, ``em_map_se``,
        ``posterior_sd``, ``em_map_error`` = |EM MAP - truth|,
        ``posterior_mean_error`` = |posterior mean - truth|,
        ``em_map_vs_mean`` = |EM MAP - posterior mean| and
        ``se_ratio`` = EM SE / posterior sd.
    """
    if problem not in PROBLEMS:
        raise ValueError(f"problem: expected one of {list(PROBLEMS)}, got {problem!r}")
    n_values = [check_positive_int(n, "n") for n in n_values]
    if not n_values:
        raise ValueError("n_values: expected at least one data size")
    truth = {name: np.asarray(value, dtype=float) for name, value in (truth or DEFAULT_TRUTH[problem]).items()}
    rng = check_random_state(random_seed, "random_seed")
    frames = {}
    for n in n_values:
        fit, se, model = simulate_and_fit(problem, n, truth, prior, rng, n_init)
        names = [rv.name for rv in model.free_RVs]
        tree = sample_posterior(
            model,
            initvals={name: np.array(fit.params[name]) for name in names},
            draws=draws,
            tune=tune,
            chains=chains,
            random_seed=int(rng.integers(2**31)),
            progressbar=progressbar,
            nuts_sampler=nuts_sampler,
        )
        summary = arviz_stats.summary(tree, var_names=names, kind="stats", round_to="none")
        frame = pd.DataFrame(
            {
                "truth": labelled(truth, fit.dims, names),
                "em_map": labelled(fit.params, fit.dims, names),
                "posterior_mean": summary["mean"],
                "em_map_se": labelled(se, fit.dims, names),
                "posterior_sd": summary["sd"],
            }
        )
        frame["em_map_error"] = (frame["em_map"] - frame["truth"]).abs()
        frame["posterior_mean_error"] = (frame["posterior_mean"] - frame["truth"]).abs()
        frame["em_map_vs_mean"] = (frame["em_map"] - frame["posterior_mean"]).abs()
        frame["se_ratio"] = frame["em_map_se"] / frame["posterior_sd"]
        frames[n] = frame
    return pd.concat(frames, names=["n", "parameter"])
