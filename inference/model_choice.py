"""How many components? EM's BIC and AIC beside PSIS-LOO of the NUTS posterior.

For every K, EM's maximum-likelihood fit gives BIC and AIC; NUTS on the
marginalized model (every chain started at EM's MAP) gives the pointwise
log-likelihood, and ArviZ's PSIS-LOO its expected log predictive density.
Lower BIC and AIC are better; higher ``elpd_loo`` is better.
"""

import numpy as np
import pandas as pd
import pymc as pm
import arviz_stats
import xarray as xr

from models.gaussian_mixture import gaussian_mixture_model
from models.two_coins import two_coins_model

from .bayes import sample_posterior
from .em import BetaDirichletPrior, EMResult, GaussianMixturePrior, fit_binomial_mixture, fit_gaussian_mixture
from .em.checks import check_positive_int

__all__ = [
    "binomial_n_parameters",
    "choose_gaussian_components",
    "choose_n_coins",
    "information_criteria",
    "loo_summary",
]

EM_TOL = 1e-10
"""EM's tolerance: the same as the comparison's."""


def information_criteria(log_likelihood: float, n_parameters: int, n_samples: int) -> tuple[float, float]:
    """``(bic, aic)``: ``-2 log L + p log n`` and ``-2 log L + 2 p``; lower is better."""
    return (
        float(-2 * log_likelihood + n_parameters * np.log(n_samples)),
        float(-2 * log_likelihood + 2 * n_parameters),
    )


def binomial_n_parameters(n_components: int, *, fix_weights: bool = False) -> int:
    """Free parameters of a binomial mixture: K biases and, unless fixed, K - 1 weights."""
    return n_components if fix_weights else 2 * n_components - 1


def loo_summary(model: pm.Model, tree: xr.DataTree) -> dict[str, float | bool]:
    """PSIS-LOO of ``tree``'s posterior under the marginalized ``model``.

    Adds the pointwise log-likelihood group to ``tree`` (one value per
    observation: the mixture density with the assignment summed out) and
    returns ``elpd_loo``, its ``se``, the effective number of parameters
    ``p_loo``, the largest Pareto k ``max_pareto_k`` and ``pareto_k_warning``
    (some k above ArviZ's threshold ``min(1 - 1 / log10(S), 0.7)`` for S
    draws: the estimate is then unreliable).
    """
    pm.compute_log_likelihood(tree, model=model, progressbar=False)
    loo = arviz_stats.loo(tree, pointwise=True)
    return {
        "elpd_loo": float(loo.elpd),
        "se": float(loo.se),
        "p_loo": float(loo.p),
        "max_pareto_k": float(loo.pareto_k.max()),
        "pareto_k_warning": bool(loo.warning),
    }


def _posterior_row(model: pm.Model, em_map: EMResult, sampling: dict) -> dict[str, float | bool]:
    start = {rv.name: np.array(em_map.params[rv.name]) for rv in model.free_RVs}
    tree = sample_posterior(model, initvals=start, **sampling)
    return loo_summary(model, tree)


def _mark_best(rows: dict[int, dict]) -> pd.DataFrame:
    """The table of ``rows``, with the best K by BIC (among fits with no collapsed component) and by LOO."""
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("components")
    eligible = table["bic"][table["collapsed"] == 0] if "collapsed" in table else table["bic"]
    table["best_by_bic"] = table.index == (eligible.idxmin() if len(eligible) else None)
    table["best_by_loo"] = table.index == table["elpd_loo"].idxmax()
    return table


def _component_counts(max_components: int) -> range:
    return range(1, check_positive_int(max_components, "max_components") + 1)


def choose_n_coins(
    heads,
    flips,
    *,
    max_coins: int = 4,
    prior: BetaDirichletPrior = BetaDirichletPrior(),
    fix_weights: bool = False,
    n_init: int = 10,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    random_seed: int | None = 0,
    progressbar: bool = False,
    nuts_sampler: str | None = None,
) -> pd.DataFrame:
    """BIC, AIC and PSIS-LOO of binomial mixtures with 1 to ``max_coins`` coins.

    ``heads`` and ``flips`` have shape (n_experiments,) (``flips`` may be a
    scalar). BIC and AIC come from EM's MLE, with n = n_experiments; LOO from
    NUTS under ``prior``, started at EM's MAP. Every EM fit runs before any
    sampling, so that bad input fails at once.

    Returns
    -------
    pandas.DataFrame
        One row per K (index ``components``): ``log_likelihood``,
        ``n_parameters``, ``bic``, ``aic``, ``elpd_loo``, ``se``, ``p_loo``,
        ``max_pareto_k``, ``pareto_k_warning``, and the booleans
        ``best_by_bic`` (lowest BIC) and ``best_by_loo`` (highest elpd).
    """
    fit = dict(fix_weights=fix_weights, n_init=n_init, random_state=random_seed, tol=EM_TOL)
    sampling = dict(
        draws=draws,
        tune=tune,
        chains=chains,
        random_seed=random_seed,
        progressbar=progressbar,
        nuts_sampler=nuts_sampler,
    )
    fits = {
        n_coins: (
            fit_binomial_mixture(heads, flips, n_coins, **fit),
            fit_binomial_mixture(heads, flips, n_coins, prior=prior, **fit),
        )
        for n_coins in _component_counts(max_coins)
    }
    rows = {}
    for n_coins, (em_mle, em_map) in fits.items():
        n_parameters = binomial_n_parameters(n_coins, fix_weights=fix_weights)
        bic, aic = information_criteria(em_mle.objective, n_parameters, em_mle.responsibilities.shape[0])
        model = two_coins_model(heads, flips, n_coins=n_coins, prior=prior, fix_weights=fix_weights, marginalized=True)
        rows[n_coins] = {
            "log_likelihood": em_mle.objective,
            "n_parameters": n_parameters,
            "bic": bic,
            "aic": aic,
            **_posterior_row(model, em_map, sampling),
        }
    return _mark_best(rows)


def choose_gaussian_components(
    x,
    *,
    max_components: int = 4,
    covariance_type: str = "full",
    prior: GaussianMixturePrior = GaussianMixturePrior(),
    n_init: int = 10,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    random_seed: int | None = 0,
    progressbar: bool = False,
    nuts_sampler: str | None = None,
) -> pd.DataFrame:
    """BIC, AIC and PSIS-LOO of Gaussian mixtures with 1 to ``max_components`` components.

    ``x`` has shape (n_samples, n_features), or (n_samples,) for one feature.
    BIC and AIC come from EM's MLE (:meth:`GaussianMixtureResult.bic`); LOO
    from NUTS under ``prior`` (resolved against ``x`` for each K, as EM's MAP
    resolves it), started at EM's MAP. Every EM fit runs before any sampling,
    as in :func:`choose_n_coins`, whose table this returns.
    """
    fit = dict(covariance_type=covariance_type, n_init=n_init, random_state=random_seed, tol=EM_TOL)
    sampling = dict(
        draws=draws,
        tune=tune,
        chains=chains,
        random_seed=random_seed,
        progressbar=progressbar,
        nuts_sampler=nuts_sampler,
    )
    fits = {
        n_components: (
            fit_gaussian_mixture(x, n_components, **fit),
            fit_gaussian_mixture(x, n_components, prior=prior, reg_covar=0.0, **fit),
        )
        for n_components in _component_counts(max_components)
    }
    rows = {}
    for n_components, (em_mle, em_map) in fits.items():
        model = gaussian_mixture_model(
            x,
            n_components,
            covariance_type=covariance_type,
            prior=prior.resolve(x, n_components),
            marginalized=True,
        )
        rows[n_components] = {
            "log_likelihood": float(em_mle.score_samples(x).sum()),
            "n_parameters": em_mle.n_parameters,
            "bic": em_mle.bic(x),
            "aic": em_mle.aic(x),
            "collapsed": len(em_mle.collapsed_components),
            **_posterior_row(model, em_map, sampling),
        }
    return _mark_best(rows)
