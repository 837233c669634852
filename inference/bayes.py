"""PyMC runners: MAP and NUTS on a marginalized model, and the assignments' posterior.

Every runner takes a model built by a factory in :mod:`models` with
``marginalized=True``: MAP on a model with discrete latent variables would
silently hold them at their start, and NUTS needs a differentiable model.
"""

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
from pytensor.graph.replace import vectorize_graph
from pymc_extras.marginal import conditional
import xarray as xr

from .samplers import check_nuts_sampler

__all__ = ["assignment_probabilities", "find_map", "sample_posterior"]


def _interpreted():
    """Compile to PyTensor's Python backend, without numba or a C compiler.

    For functions evaluated a few hundred times or once on whole arrays, a
    cold numba compile (a minute or more on two cores) costs far more than it
    saves; NUTS, which evaluates its gradient tens of thousands of times, keeps
    the default backend.
    """
    return pytensor.config.change_flags(mode="FAST_COMPILE", cxx="")


def find_map(model: pm.Model, start: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """PyMC's MAP of the free variables, in their original (constrained) space.

    ``start`` maps free-variable names to starting values; with an ordering
    constraint they must be increasing. Returns the free variables only.
    The optimizer needs a few hundred evaluations, so the model is not compiled
    to machine code.
    """
    with _interpreted():
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
    nuts_sampler: str | None = None,
) -> xr.DataTree:
    """NUTS on ``model`` by ``nuts_sampler``, every chain started at ``initvals``.

    ``nuts_sampler`` is one of :data:`inference.samplers.NUTS_SAMPLERS`, or None
    for the default: numpyro, or PyMC's own where the model has discrete free
    variables (its compound step samples them beside NUTS).

    Mixture posteriors are multimodal and chains started at random can stick
    in a wrong mode; EM's estimate is the cheapest good start. The start is
    not jittered (``init="adapt_diag"`` for PyMC, ``jitter=False`` for the
    JAX samplers): PyMC's default jitter of up to 1 on the unconstrained scale
    (log variances, ordered means) was seen to throw a chain out of EM's mode
    into one where two components merge. Chains run in parallel on the
    machine's cores: PyMC's in processes (its default ``cores``), the JAX
    samplers' each on its own XLA device.
    """
    sampler = check_nuts_sampler(nuts_sampler, discrete=bool(model.discrete_value_vars))
    unjittered = {"init": "adapt_diag"} if sampler == "pymc" else {"nuts": {"jitter": False}}
    return pm.sample(
        model=model,
        draws=draws,
        tune=tune,
        chains=chains,
        initvals=initvals,
        random_seed=random_seed,
        nuts_sampler=sampler,
        progressbar=progressbar,
        compute_convergence_checks=False,
        **unjittered,
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

    log_probs = pt.stack(
        [pm.logp(assignment, pt.full((n_samples,), k, dtype=assignment.dtype)) for k in range(n_components)],
        axis=-1,
    )
    batched = [pt.tensor(dtype=rv.dtype, shape=(None, *rv.type.shape)) for rv in free]
    probability = pt.exp(vectorize_graph(log_probs, replace=dict(zip(free, batched, strict=True)))).mean(axis=0)
    with _interpreted():
        probability_fn = pytensor.function(batched, probability)
    draws = [posterior[rv.name].stack(sample=("chain", "draw")).transpose("sample", ...).values for rv in free]
    return xr.DataArray(
        probability_fn(*draws),
        dims=(sample_dim, component_dim),
        coords={dim: np.asarray(conditional_model.coords[dim]) for dim in (sample_dim, component_dim)},
        name=f"{name}_probability",
    )
