"""EM beside PyMC: MLE, MAP, PyMC's MAP and the NUTS posterior, in one table and one DataTree."""

from dataclasses import dataclass
from functools import partial
import os

import arviz_stats
import numpy as np
import pandas as pd
import xarray as xr

from models import gaussian_mixture, two_coins
from models.gaussian_mixture import gaussian_mixture_model
from models.two_coins import two_coins_model

from .bayes import MapObjective, assignment_probabilities, sample_posterior
from .em import (
    BetaDirichletPrior,
    EMResult,
    GaussianMixturePrior,
    fit_binomial_mixture,
    fit_gaussian_mixture,
    standard_errors_binomial,
    standard_errors_gaussian,
    wald_interval,
)
from .io import write_netcdf
from .modes import distinct_optima
from .verdict import MAP_RTOL, R_HAT_LIMIT, Verdict, chains_near, max_relative_difference

__all__ = ["Comparison", "compare_fits", "compare_gaussian_mixture", "compare_two_coins"]

CI_PROB = 0.94
"""Probability of the highest-density intervals in the table."""

HDI_COLUMNS = (f"hdi{round(CI_PROB * 100)}_lb", f"hdi{round(CI_PROB * 100)}_ub")
"""ArviZ's names for the HDI bounds in its summary."""

EM_TOL = 1e-10
"""EM's tolerance here: tight enough that estimates are accurate to about 1e-6."""


class PosteriorRun:
    """What every comparison holding a PyMC ``tree`` offers: its divergences and an atomic save."""

    tree: xr.DataTree

    @property
    def divergences(self) -> int:
        """Divergent NUTS transitions over all chains (0 for a healthy run)."""
        return int(self.tree["sample_stats"]["diverging"].sum())

    def to_netcdf(self, path: str | os.PathLike) -> None:
        """Write ``tree`` to ``path``, atomically: a failed write leaves no file behind."""
        write_netcdf(self.tree, path)


@dataclass(frozen=True)
class Comparison(PosteriorRun):
    """EM and Bayesian inference on the same data, model and prior.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per scalar parameter (labelled as ArviZ labels them, e.g.
        ``theta[0]``): ``em_mle``, ``em_map``, ``pymc_map``, the posterior
        ``mean``, ``sd``, EM's MAP standard error ``em_map_se`` (Louis'
        observed information plus the prior's curvature: the Laplace
        approximation's posterior sd), 94% HDI bounds, EM's 94% Wald interval
        ``em_map -/+ z em_map_se`` (``wald94_lb``, ``wald94_ub``), ``r_hat``,
        ``ess_bulk``, ``em_map_in_hdi`` and ``r_hat_ok``.
    assignments : pandas.DataFrame
        One row per sample: EM's responsibilities at the MAP
        (``em_map[k]``) beside the posterior probability of the assignment
        (``posterior[k]``), and their largest absolute difference.
    tree : xarray.DataTree
        ``posterior``, ``sample_stats`` and ``observed_data`` from PyMC, plus
        ``em_mle``, ``em_map``, ``pymc_map`` and ``assignments`` groups; ArviZ
        reads it as is.
    em_mle, em_map : EMResult
        The two EM fits.
    verdict : Verdict or None
        Whether EM's MAP and PyMC's MAP agree, whether the posterior can be
        trusted, and which optimum each chain explores (None in a comparison
        put together by hand, as for a plot).
    """

    table: pd.DataFrame
    assignments: pd.DataFrame
    tree: xr.DataTree
    em_mle: EMResult
    em_map: EMResult
    verdict: Verdict | None = None

    def to_json_dict(self) -> dict:
        """Plain, JSON-serialisable results: the two tables and EM's convergence."""
        return {
            "verdict": None if self.verdict is None else self.verdict.to_json_dict(),
            "parameters": self.table.reset_index(names="parameter").to_dict(orient="records"),
            "assignments": self.assignments.reset_index().to_dict(orient="records"),
            "divergences": self.divergences,
            "em": {
                name: {
                    "objective_name": fit.objective_name,
                    "objective": fit.objective,
                    "n_iter": fit.n_iter,
                    "converged": fit.converged,
                }
                for name, fit in (("mle", self.em_mle), ("map", self.em_map))
            },
        }

def posterior_table(tree: xr.DataTree, names: list[str], estimates: dict[str, pd.Series]) -> pd.DataFrame:
    """Point estimates beside the posterior, one row per scalar parameter (``theta[0]``, ...).

    ``estimates`` maps a column name to estimates labelled as ArviZ labels
    them, and must hold ``em_map``. Adds the posterior ``mean``, ``sd``, 94%
    HDI, ``r_hat``, ``ess_bulk``, ``em_map_in_hdi`` and ``r_hat_ok``.
    """
    summary = arviz_stats.summary(tree, var_names=names, ci_kind="hdi", ci_prob=CI_PROB, round_to="none")
    lower, upper = HDI_COLUMNS
    table = pd.DataFrame(estimates).join(summary[["mean", "sd", lower, upper, "r_hat", "ess_bulk"]])
    table["em_map_in_hdi"] = (table[lower] <= table["em_map"]) & (table["em_map"] <= table[upper])
    table["r_hat_ok"] = table["r_hat"] <= R_HAT_LIMIT
    return table


def _labelled(values: xr.DataArray) -> pd.Series:
    """Flatten a parameter to one value per element, labelled ``name[i, j]`` as ArviZ does."""
    if not values.dims:
        return pd.Series({values.name: float(values)})
    flat = values.stack(element=values.dims)
    labels = [f"{values.name}[{', '.join(map(str, np.atleast_1d(index)))}]" for index in flat["element"].values]
    return pd.Series(flat.values, index=labels)


def _estimates(dataset: xr.Dataset, names: list[str]) -> pd.Series:
    return pd.concat([_labelled(dataset[name].rename(name)) for name in names])


def compare_fits(
    em_mle: EMResult,
    em_map: EMResult,
    model,
    log_joint,
    *,
    em_map_se: dict[str, np.ndarray],
    draws: int,
    tune: int,
    chains: int,
    random_seed: int | None,
    progressbar: bool,
    nuts_sampler: str | None,
) -> Comparison:
    """Run PyMC's MAP and NUTS on the marginalized ``model`` beside two EM fits, and judge them.

    ``em_mle`` and ``em_map`` are EM fits of the model's family, with the same
    data and prior (``em_map``); ``log_joint`` gives, for parameters named
    as the model's free variables, the log joint of every sample and component
    (see :func:`inference.bayes.assignment_probabilities`), from which the
    assignments' posterior is computed.
    PyMC's optimizer runs from EM's MLE and from EM's MAP and keeps the higher
    log posterior: from the MLE, agreement of the two MAPs is a real check;
    from the MAP, a lesser optimum of EM's shows as PyMC's climbing past it
    or staying. NUTS starts every chain at EM's MAP. ``em_map_se`` holds EM's
    MAP standard errors, shaped like ``em_map.params``.
    """
    names = [rv.name for rv in model.free_RVs]
    objective = MapObjective(model)
    optima = {
        start: objective.maximize({name: np.array(fit.params[name]) for name in names})
        for start, fit in (("em_mle", em_mle), ("em_map", em_map))
    }
    pymc_map_start = max(optima, key=lambda start: optima[start].log_posterior)
    pymc_map = optima[pymc_map_start].params
    em_map_point = {name: np.array(em_map.params[name]) for name in names}
    em_map_log_posterior, start, start_nudged = objective.evaluate(em_map_point)
    tree = sample_posterior(
        model,
        initvals=start,
        draws=draws,
        tune=tune,
        chains=chains,
        random_seed=random_seed,
        progressbar=progressbar,
        nuts_sampler=nuts_sampler,
    )

    em_mle_data, em_map_data = em_mle.to_dataset(), em_map.to_dataset()
    pymc_map_data = xr.Dataset(
        {name: (model.named_vars_to_dims[name], value) for name, value in pymc_map.items()},
        coords={dim: np.asarray(values) for dim, values in model.coords.items()},
    )
    se_data = xr.Dataset(
        {name: (em_map.dims[name], np.asarray(em_map_se[name])) for name in names}, coords=dict(em_map.coords)
    )
    table = posterior_table(
        tree,
        names,
        {
            "em_mle": _estimates(em_mle_data, names),
            "em_map": _estimates(em_map_data, names),
            "pymc_map": _estimates(pymc_map_data, names),
        },
    )
    table.insert(table.columns.get_loc("sd") + 1, "em_map_se", _estimates(se_data, names))
    wald_lower, wald_upper = wald_interval(table["em_map"], table["em_map_se"], prob=CI_PROB)
    after_hdi = table.columns.get_loc(HDI_COLUMNS[1]) + 1
    table.insert(after_hdi, f"wald{round(CI_PROB * 100)}_lb", wald_lower)
    table.insert(after_hdi + 1, f"wald{round(CI_PROB * 100)}_ub", wald_upper)

    sample_dim = model.named_vars_to_dims[model.observed_RVs[0].name][0]
    component_dim = model.named_vars_to_dims[names[0]][0]
    posterior_probability = assignment_probabilities(
        log_joint,
        tree["posterior"].dataset[names],
        dims=(sample_dim, component_dim),
        coords={dim: model.coords[dim] for dim in (sample_dim, component_dim)},
    )
    assignments_data = xr.Dataset(
        {
            "posterior_probability": posterior_probability,
            "em_map_responsibilities": em_map_data["responsibilities"],
            "em_mle_responsibilities": em_mle_data["responsibilities"],
        }
    )
    assignments = pd.concat(
        {
            "em_map": assignments_data["em_map_responsibilities"].to_pandas(),
            "posterior": posterior_probability.to_pandas(),
        },
        axis=1,
    )
    assignments.columns = [f"{source}[{component}]" for source, component in assignments.columns]
    assignments["max_abs_difference"] = np.abs(
        assignments_data["em_map_responsibilities"] - posterior_probability
    ).max(component_dim).values

    tree["em_mle"] = xr.DataTree(em_mle_data)
    tree["em_map"] = xr.DataTree(em_map_data)
    tree["pymc_map"] = xr.DataTree(pymc_map_data)
    tree["assignments"] = xr.DataTree(assignments_data)
    difference = max_relative_difference(em_map_point, pymc_map)
    verdict = Verdict(
        max_map_relative_difference=difference,
        em_map_log_posterior=em_map_log_posterior,
        pymc_map_log_posteriors={start: optimum.log_posterior for start, optimum in optima.items()},
        pymc_map_start=pymc_map_start,
        start_nudged=start_nudged,
        n_chains=tree["posterior"].sizes["chain"],
        divergences=int(tree["sample_stats"]["diverging"].sum()),
        max_r_hat=float(table["r_hat"].max()),
        min_ess_bulk=float(table["ess_bulk"].min()),
        em_map_in_hdi=int(table["em_map_in_hdi"].sum()),
        n_parameters=len(table),
        chains_near=chains_near(
            tree["posterior"].dataset,
            distinct_optima(em_map),
            None if difference <= MAP_RTOL else _estimates(pymc_map_data, names),
        ),
    )
    return Comparison(
        table=table, assignments=assignments, tree=tree, em_mle=em_mle, em_map=em_map, verdict=verdict
    )


def compare_two_coins(
    heads,
    flips,
    *,
    n_coins: int = 2,
    prior: BetaDirichletPrior = BetaDirichletPrior(),
    fix_weights: bool = False,
    n_init: int = 10,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    random_seed: int | None = 0,
    progressbar: bool = True,
    nuts_sampler: str | None = None,
) -> Comparison:
    """EM (MLE and MAP), PyMC's MAP and NUTS for the two-coin problem with ``n_coins`` coins.

    ``heads`` and ``flips`` have shape (n_experiments,) (``flips`` may be a
    scalar). ``prior`` is used by EM's MAP, PyMC's MAP and the posterior alike;
    NUTS (``nuts_sampler``: see :func:`inference.bayes.sample_posterior`)
    starts every chain at EM's MAP. The assignments' posterior comes
    from the marginalized model.
    """
    fit = dict(n_components=n_coins, fix_weights=fix_weights, n_init=n_init, random_state=random_seed, tol=EM_TOL)
    em_mle = fit_binomial_mixture(heads, flips, **fit)
    em_map = fit_binomial_mixture(heads, flips, prior=prior, **fit)
    model = two_coins_model(heads, flips, n_coins=n_coins, prior=prior, fix_weights=fix_weights, marginalized=True)
    equal_weights = {"weights": np.full(n_coins, 1 / n_coins)} if fix_weights else {}
    log_joint = partial(two_coins.log_joint, np.asarray(heads), np.broadcast_to(flips, np.shape(heads)), **equal_weights)
    em_map_se = standard_errors_binomial(em_map, heads, flips, prior=prior, fix_weights=fix_weights)
    return compare_fits(
        em_mle,
        em_map,
        model,
        log_joint,
        em_map_se=em_map_se,
        draws=draws,
        tune=tune,
        chains=chains,
        random_seed=random_seed,
        progressbar=progressbar,
        nuts_sampler=nuts_sampler,
    )


def compare_gaussian_mixture(
    x,
    n_components: int,
    *,
    covariance_type: str = "full",
    prior: GaussianMixturePrior = GaussianMixturePrior(),
    n_init: int = 10,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    random_seed: int | None = 0,
    progressbar: bool = True,
    nuts_sampler: str | None = None,
) -> Comparison:
    """EM (MLE and MAP), PyMC's MAP and NUTS for a Gaussian mixture.

    ``x`` has shape (n_samples, n_features), or (n_samples,) for one feature.
    The prior, resolved against ``x``, is used by EM's MAP, PyMC's MAP and the
    posterior alike. EM's MAP runs without ``reg_covar``: the prior keeps every
    covariance positive definite, and the MAP is then exactly PyMC's.
    """
    fit = dict(covariance_type=covariance_type, n_init=n_init, random_state=random_seed, tol=EM_TOL)
    em_mle = fit_gaussian_mixture(x, n_components, **fit)
    em_map = fit_gaussian_mixture(x, n_components, prior=prior, reg_covar=0.0, **fit)
    model = gaussian_mixture_model(
        x, n_components, covariance_type=covariance_type, prior=prior.resolve(x, n_components), marginalized=True
    )
    log_joint = partial(gaussian_mixture.log_joint, model.rvs_to_values[model["x"]], covariance_type=covariance_type)
    em_map_se = standard_errors_gaussian(em_map, x, prior=prior)
    return compare_fits(
        em_mle,
        em_map,
        model,
        log_joint,
        em_map_se=em_map_se,
        draws=draws,
        tune=tune,
        chains=chains,
        random_seed=random_seed,
        progressbar=progressbar,
        nuts_sampler=nuts_sampler,
    )
