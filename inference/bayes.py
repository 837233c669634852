"""PyMC runners: MAP and NUTS on a marginalized model, and the assignments' posterior.

Every runner takes a model built by a factory in :mod:`models` with
``marginalized=True``: MAP on a model with discrete latent variables would
silently hold them at their start, and NUTS needs a differentiable model.
"""

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
from pytensor.graph.replace import graph_replace
from pymc_extras.marginal import conditional
import xarray as xr

__all__ = ["assignment_probabilities", "find_map", "sample_posterior"]


def find_map(model: pm.Model, start: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """PyMC's MAP of the free variables, in their original (constrained) space.

    ``start`` maps free-variable names to starting values; with an ordering
    constraint they must be increasing. Returns the free variables only.
    """
    point = pm.find_MAP(model=model, start=start, progressbar=False)
    return {rv.name: np.asarray(point[rv.name]) for rv in model.free_RVs}


def sample_posterior(
    model: pm.Model,
    *,
    initvals: dict[str, np.ndarray],
    draws: int,
    tune: int,
    chains: int,
    random_seed: int | None,
    progressbar: bool = True,
) -> xr.DataTree:
    """NUTS (PyMC's sampler) on ``model``, every chain started at ``initvals``.

    Mixture posteriors are multimodal and chains started at random can stick
    in a wrong mode; EM's estimate is the cheapest good start. Chains run one
    after another (``cores=1``): on two cores, parallel chains fight the BLAS
    threads and were measured many times slower.
    """
    return pm.sample(
        model=model,
        draws=draws,
        tune=tune,
        chains=chains,
        cores=1,
        initvals=initvals,
        random_seed=random_seed,
        nuts_sampler="pymc",
        progressbar=progressbar,
        compute_convergence_checks=False,
    )


def assignment_probabilities(model: pm.Model, posterior: xr.Dataset, *, name: str = "assignment") -> xr.DataArray:
    """Posterior probability of every sample's assignment, averaged exactly over the draws.

    For each draw, P(assignment_i = k | parameters, data) is computed from the
    assignment's conditional distribution (``pymc_extras.marginal.conditional``),
    then averaged over chains and draws (Rao-Blackwellized, so no Monte Carlo
    noise from sampling the assignments themselves).

    Parameters
    ----------
    model : pm.Model
        The marginalized model.
    posterior : xr.Dataset
        Posterior draws of the model's free variables, dims (chain, draw, ...).

    Returns
    -------
    xr.DataArray of shape (n_samples, n_components)
        Dims (the assignment's dim, the component dim of the model).
    """
    conditional_model = conditional(model, name)
    assignment = conditional_model[name]
    (sample_dim,) = conditional_model.named_vars_to_dims[name]
    free = [rv for rv in conditional_model.free_RVs if rv.name != name]
    component_dim = next(d for d in conditional_model.named_vars_to_dims[free[0].name] if d != sample_dim)
    n_components = len(conditional_model.coords[component_dim])
    n_samples = len(conditional_model.coords[sample_dim])

    inputs = [rv.type() for rv in free]
    log_probs = pt.stack(
        [pm.logp(assignment, pt.full((n_samples,), k, dtype=assignment.dtype)) for k in range(n_components)],
        axis=-1,
    )
    log_probs = graph_replace(log_probs, dict(zip(free, inputs, strict=True)), strict=False)
    log_prob_fn = pytensor.function(inputs, log_probs)

    draws = [posterior[rv.name].stack(sample=("chain", "draw")).transpose("sample", ...).values for rv in free]
    total = np.zeros((n_samples, n_components))
    for values in zip(*draws, strict=True):
        total += np.exp(log_prob_fn(*values))
    return xr.DataArray(
        total / draws[0].shape[0],
        dims=(sample_dim, component_dim),
        coords={dim: np.asarray(conditional_model.coords[dim]) for dim in (sample_dim, component_dim)},
        name=f"{name}_probability",
    )
