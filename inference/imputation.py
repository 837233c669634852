"""Missing values: EM's conditional means beside PyMC's imputation, cell by cell.

EM integrates the missing cells out and reports, per cell, the conditional mean
and standard deviation at its estimate. PyMC treats every missing cell as a
parameter (masked observations) and samples it with the rest. There is no
PyMC MAP here: the joint mode over parameters and missing cells is another
quantity than EM's mode with the cells integrated out.
"""

from dataclasses import dataclass

import arviz_stats
import numpy as np
import pandas as pd
import xarray as xr

from models.gaussian_mixture import gaussian_mixture_model

from .bayes import sample_posterior
from .compare import CI_PROB, EM_TOL, HDI_COLUMNS, PosteriorRun, _estimates, posterior_table
from .em import GaussianMixturePrior, ImputedGaussianMixtureResult, fit_gaussian_mixture
from .samplers import check_nuts_sampler

__all__ = ["ImputationComparison", "compare_imputation"]


@dataclass(frozen=True)
class ImputationComparison(PosteriorRun):
    """EM and PyMC on the same incomplete data, model and prior.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per scalar parameter: ``em_mle``, ``em_map``, the posterior
        ``mean``, ``sd``, 94% HDI, ``r_hat``, ``ess_bulk``, ``em_map_in_hdi``.
    cells : pandas.DataFrame
        One row per missing cell (``row``, ``column``): EM's conditional mean
        and sd at the MAP (``em_map``, ``em_map_sd``) beside the posterior
        ``mean``, ``sd`` and 94% HDI of the imputed value, and ``em_map_in_hdi``.
    tree : xarray.DataTree
        PyMC's groups (the imputed cells are ``x_unobserved`` in the
        posterior) plus ``em_mle`` and ``em_map``.
    em_mle, em_map : ImputedGaussianMixtureResult
    """

    table: pd.DataFrame
    cells: pd.DataFrame
    tree: xr.DataTree
    em_mle: ImputedGaussianMixtureResult
    em_map: ImputedGaussianMixtureResult

    def to_json_dict(self) -> dict:
        """Plain, JSON-serialisable results: the parameter and cell tables."""
        return {
            "parameters": self.table.reset_index(names="parameter").to_dict(orient="records"),
            "cells": self.cells.to_dict(orient="records"),
            "divergences": self.divergences,
        }


def compare_imputation(
    x,
    n_components: int = 1,
    *,
    covariance_type: str = "full",
    prior: GaussianMixturePrior = GaussianMixturePrior(),
    n_init: int = 10,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    random_seed: int | None = 0,
    progressbar: bool = True,
    columns: list[str] | None = None,
    nuts_sampler: str | None = None,
) -> ImputationComparison:
    """EM with missing values (MLE and MAP) beside PyMC's posterior, imputed cells included.

    ``x`` (n_samples, n_features) has NaN at the missing cells. The prior is
    resolved against EM's completed data and used by EM's MAP and by PyMC.
    With one component NUTS samples alone; with more, the latent assignments
    need PyMC's compound step (slower), so ``nuts_sampler`` (see
    :func:`inference.bayes.sample_posterior`) must then be "pymc" or None.
    ``columns`` names the features in the cell table.
    """
    nuts_sampler = check_nuts_sampler(nuts_sampler, discrete=n_components != 1)
    fit = dict(covariance_type=covariance_type, n_init=n_init, random_state=random_seed, tol=EM_TOL, missing="em")
    em_mle = fit_gaussian_mixture(x, n_components, **fit)
    em_map = fit_gaussian_mixture(x, n_components, prior=prior, reg_covar=0.0, **fit)
    x = np.asarray(x, dtype=float).reshape(len(em_map.imputed), -1)
    missing = np.isnan(x)
    completed = np.asarray(em_map.imputed)
    model = gaussian_mixture_model(
        x,
        n_components,
        covariance_type=covariance_type,
        prior=prior.resolve(completed, n_components),
    )
    # With one component the weight is the constant 1, not a parameter to summarise.
    names = [name for name in em_map.params if name in model.named_vars and (name != "weights" or n_components > 1)]
    initvals = {name: np.array(em_map.params[name]) for name in names} | {"x_unobserved": completed[missing]}
    if "assignment" in model.named_vars:
        initvals["assignment"] = np.asarray(em_map.responsibilities).argmax(axis=1)
    tree = sample_posterior(
        model,
        initvals=initvals,
        draws=draws,
        tune=tune,
        chains=chains,
        random_seed=random_seed,
        progressbar=progressbar,
        nuts_sampler=nuts_sampler,
    )

    em_mle_data, em_map_data = em_mle.to_dataset(), em_map.to_dataset()
    table = posterior_table(
        tree, names, {"em_mle": _estimates(em_mle_data, names), "em_map": _estimates(em_map_data, names)}
    )
    lower, upper = HDI_COLUMNS

    imputed = tree["posterior"]["x_unobserved"]
    interval = arviz_stats.hdi(imputed.values.reshape(-1, imputed.shape[-1]).T, prob=CI_PROB)
    rows, features = np.nonzero(missing)
    labels = np.asarray(columns if columns is not None else range(x.shape[1]))
    cells = pd.DataFrame(
        {
            "row": rows,
            "column": labels[features],
            "em_map": completed[missing],
            "em_map_sd": np.sqrt(np.asarray(em_map.imputed_variance)[missing]),
            "mean": imputed.mean(("chain", "draw")).values,
            "sd": imputed.std(("chain", "draw")).values,
            lower: interval[:, 0],
            upper: interval[:, 1],
        }
    )
    cells["em_map_in_hdi"] = (cells[lower] <= cells["em_map"]) & (cells["em_map"] <= cells[upper])

    tree["em_mle"] = xr.DataTree(em_mle_data)
    tree["em_map"] = xr.DataTree(em_map_data)
    return ImputationComparison(table=table, cells=cells, tree=tree, em_mle=em_mle, em_map=em_map)
