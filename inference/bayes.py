"""PyMC runners: MAP and NUTS on a marginalized model, and the assignments' posterior.

Every runner takes a model built by a factory in :mod:`models` with
``marginalized=True``: MAP on a model with discrete latent variables would
silently hold them at their start, and NUTS needs a differentiable model.
"""

from dataclasses import dataclass
import os
import sys
import warnings

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
from pytensor.graph.replace import vectorize_graph
from scipy import optimize
import xarray as xr

from .em.checks import check_fits_in_memory
from .samplers import check_nuts_sampler

__all__ = ["DENSE_MASS_LIMIT", "MapObjective", "MapOptimum", "assignment_probabilities", "find_map", "sample_posterior"]


def _interpreted():
    """Compile to PyTensor's Python backend, without numba or a C compiler.

    For a function evaluated once, a cold numba compile (a minute or more on
    two cores) costs far more than it saves.
    """
    return pytensor.config.change_flags(mode="FAST_COMPILE", cxx="")


def _jax():
    """JAX, with its persistent compilation cache in the user's cache directory.

    A second run of a model of the same shape and data then loads XLA's
    compiled code instead of compiling it again (seconds per function).
    ``EM_BAYES_CACHE`` moves the cache; the default is ``$XDG_CACHE_HOME/em-bayes``
    or ``~/.cache/em-bayes``.
    """
    import jax

    if jax.config.jax_compilation_cache_dir is None:
        root = os.environ.get("EM_BAYES_CACHE") or os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "em-bayes"
        )
        jax.config.update("jax_enable_x64", True)
        jax.config.update("jax_compilation_cache_dir", os.path.join(root, "jax"))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        # PyTensor's JAX backend drops its value checks (a log density's domain
        # checks) and says so once per graph: nothing for a user to act on.
        warnings.filterwarnings("ignore", message=r"Skipping .* as JAX tracing would remove it", category=UserWarning)
    return jax


_EDGE = 10.0
"""Where an infinite unconstrained value is put instead: e^-10 of a scale from a gap of 0 or a boundary."""


def _clamped(values: list[np.ndarray]) -> list[np.ndarray]:
    """Unconstrained ``values`` with infinities brought to +-:data:`_EDGE` (and NaN to 0)."""
    return [np.nan_to_num(value, nan=0.0, posinf=_EDGE, neginf=-_EDGE) for value in values]


@dataclass(frozen=True)
class MapOptimum:
    """One run of the MAP optimizer.

    Attributes
    ----------
    params : dict of str to ndarray
        The free variables at the optimum, in their natural (constrained) space.
    log_posterior : float
        The model's log density there, without Jacobians (the objective EM's
        MAP maximizes, normalising constants included).
    converged : bool
        SciPy's own verdict on the run.
    n_evaluations : int
        Log-density and gradient evaluations it took.
    """

    params: dict[str, np.ndarray]
    log_posterior: float
    converged: bool
    n_evaluations: int


class MapObjective:
    """A marginalized model's log density without Jacobians, and its gradient, compiled once by JAX.

    The optimizer works on the unconstrained values; the density is that of
    the natural-space variables (the Jacobians are dropped, as ``pm.find_MAP``
    drops them), so its maximum is the mode EM's MAP reaches. One PyTensor
    graph gives both the density and the natural-space values, so PyTensor's
    rewrites run once.
    """

    def __init__(self, model: pm.Model):
        from pymc.sampling.jax import get_jaxified_graph

        jax = _jax()
        self.model = model
        outputs = get_jaxified_graph(
            inputs=model.value_vars,
            outputs=[model.logp(jacobian=False), *model.replace_rvs_by_values(model.free_RVs)],
        )
        self._value_and_grad = jax.jit(jax.value_and_grad(lambda values: outputs(*values)[0]))
        self._natural = jax.jit(lambda values: outputs(*values)[1:])

    def _transformed(self, point: dict[str, np.ndarray]) -> list[np.ndarray]:
        """``point``'s values through the model's transforms, in ``model.value_vars`` order; may be infinite."""
        from pymc.initial_point import make_initial_point_fn

        with _interpreted():
            to_values = make_initial_point_fn(
                model=self.model, overrides=point, jitter_rvs=set(), return_transformed=True
            )
        values = to_values(0)
        return [np.asarray(values[v.name], dtype=float) for v in self.model.value_vars]

    def unconstrained(self, point: dict[str, np.ndarray]) -> list[np.ndarray]:
        """The unconstrained values of ``point`` (natural-space values keyed by variable name), in ``model.value_vars`` order.

        Equal components (a merged optimum) or a value on the boundary map to
        infinite unconstrained values, where neither L-BFGS nor NUTS can
        start; they are brought to +-10 (see :meth:`evaluate`).
        """
        return _clamped(self._transformed(point))

    def evaluate(self, point: dict[str, np.ndarray]) -> tuple[float, dict[str, np.ndarray], bool]:
        """The log density at ``point`` (without Jacobians), ``point`` moved into the model's interior, and whether it moved.

        Only a point the unconstrained space cannot hold moves: ordered
        components that are equal get a gap of about e^-10 of their scale,
        and a value on a boundary moves about e^-10 inside it. The density
        is taken there. One pass through the transforms serves all three.
        """
        transformed = self._transformed(point)
        values = _clamped(transformed)
        log_density, _ = self._value_and_grad(values)
        if all(np.isfinite(value).all() for value in transformed):
            return float(log_density), {name: np.asarray(value) for name, value in point.items()}, False
        return float(log_density), self.natural(values), True

    def natural(self, values: list[np.ndarray]) -> dict[str, np.ndarray]:
        """The free variables at unconstrained ``values``, in their natural space."""
        outputs = self._natural(values)
        return {rv.name: np.asarray(value) for rv, value in zip(self.model.free_RVs, outputs, strict=True)}

    def maximize(self, start: dict[str, np.ndarray]) -> MapOptimum:
        """L-BFGS from ``start`` (natural-space values; with an ordering constraint, increasing)."""
        values = self.unconstrained(start)
        shapes = [value.shape for value in values]
        splits = np.cumsum([value.size for value in values])[:-1]

        def unflatten(flat):
            return [part.reshape(shape) for part, shape in zip(np.split(flat, splits), shapes, strict=True)]

        def negative(flat):
            value, gradients = self._value_and_grad(unflatten(flat))
            return -float(value), -np.concatenate([np.ravel(gradient) for gradient in gradients])

        run = optimize.minimize(
            negative,
            np.concatenate([np.ravel(value) for value in values]),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": 10_000, "ftol": 1e-15, "gtol": 1e-9},
        )
        return MapOptimum(
            params=self.natural(unflatten(run.x)),
            log_posterior=float(-run.fun),
            converged=bool(run.success),
            n_evaluations=int(run.nfev),
        )


def find_map(model: pm.Model, start: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """PyMC's MAP of the free variables, in their original (constrained) space.

    ``start`` maps free-variable names to starting values; with an ordering
    constraint they must be increasing. Returns the free variables only.
    """
    return MapObjective(model).maximize(start).params


DENSE_MASS_LIMIT = 100
"""numpyro adapts a dense mass matrix for models of at most this many values, a diagonal one above.

Measured with ``benchmarks/samplers.py`` on four Gaussian mixtures (5 to 17
values), dense gave 1.7 to 5.8 times the ESS per second of diagonal (warm
caches), every run reliable: the components' parameters are correlated. A dense matrix costs p^2
per leapfrog step and needs its p (p + 1) / 2 entries estimated while tuning,
so larger models keep the diagonal one.
"""

_BYTES_PER_VALUE = 8 * 4
"""Bytes a posterior value costs at the peak: float64, in the sampler's arrays, their copy and the DataTree."""

_STATS_PER_DRAW = 12
"""NUTS statistics kept per draw (divergence, tree depth, step size, energy, ...)."""


def _check_memory(*, draws: int, chains: int, n_values: int) -> None:
    """Refuse a run whose draws cannot fit in half the machine's memory, before it starts."""
    check_fits_in_memory(
        chains * draws * (n_values + _STATS_PER_DRAW) * _BYTES_PER_VALUE,
        f"draws: {chains} chains of {draws} draws of {n_values} values",
        "run fewer draws or chains",
    )


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

    The JAX samplers are called through ``pymc.sampling.jax.sample_jax_nuts``:
    ``pm.sample`` would first assign PyMC's own step methods, compiling the
    model for a sampler that does not run (4 s on a 2-D mixture). They run
    without their progress bar, which steps the chains from Python (7 s more
    on the default Gaussian data, whose sampling takes 3 s without it);
    ``progressbar`` then prints one line on standard error instead.
    """
    sampler = check_nuts_sampler(nuts_sampler, discrete=bool(model.discrete_value_vars))
    n_values = sum(np.size(value) for value in initvals.values())
    _check_memory(draws=draws, chains=chains, n_values=n_values)
    options = dict(
        model=model,
        draws=draws,
        tune=tune,
        chains=chains,
        initvals=initvals,
        random_seed=random_seed,
        progressbar=progressbar,
        compute_convergence_checks=False,
    )
    if sampler in ("numpyro", "blackjax"):
        from pymc.sampling.jax import sample_jax_nuts

        _jax()
        if progressbar:
            print(
                f"Sampling {chains} chains of {draws} draws after {tune} tuning steps with {sampler}...",
                file=sys.stderr,
                flush=True,
            )
        dense = {"dense_mass": True} if sampler == "numpyro" and n_values <= DENSE_MASS_LIMIT else {}
        return sample_jax_nuts(nuts_sampler=sampler, jitter=False, nuts_kwargs=dense, **{**options, "progressbar": False})
    unjittered = {"init": "adapt_diag"} if sampler == "pymc" else {"nuts": {"jitter": False}}
    tree = pm.sample(nuts_sampler=sampler, **unjittered, **options)
    # PyMC's own sampler meets Ctrl-C by returning the draws it has (some chains, or
    # part of them), with a warning; a comparison on a partial posterior would mislead.
    sizes = tree["posterior"].sizes
    if sizes["chain"] < chains or sizes["draw"] < draws:
        raise KeyboardInterrupt(f"sampling stopped after {sizes['draw']} draws of {sizes['chain']} chains")
    return tree


def assignment_probabilities(log_joint, posterior: xr.Dataset, *, dims: tuple[str, str], coords: dict) -> xr.DataArray:
    """Posterior probability of every sample's assignment, averaged exactly over the draws.

    For each draw, P(assignment_i = k | parameters, data) is the log joint
    ``log w_k + log p(y_i | component k)`` normalised over k; averaging over
    chains and draws (Rao-Blackwellized) leaves no Monte Carlo noise from
    sampling the assignments themselves. Compiled once by JAX, evaluated on
    blocks of draws.

    Parameters
    ----------
    log_joint : callable
        Keyword arguments named as ``posterior``'s variables (PyTensor tensors
        of one draw's shapes) to the log joint of shape (n_samples, n_components),
        such as :func:`models.two_coins.log_joint` with the data bound.
    posterior : xr.Dataset
        Posterior draws of the parameters ``log_joint`` takes, dims (chain, draw, ...).
    dims : (str, str)
        Names of the sample and component dimensions of the result.
    coords : dict
        Their coordinates.

    Returns
    -------
    xr.DataArray of shape (n_samples, n_components)
    """
    names = list(posterior.data_vars)
    parameters = {name: pt.tensor(dtype="float64", shape=(None,) * (posterior[name].ndim - 2)) for name in names}
    batched = {name: pt.tensor(dtype="float64", shape=(None, *value.type.shape)) for name, value in parameters.items()}
    log_probability = pt.special.log_softmax(log_joint(**parameters), axis=-1)
    probability = pt.exp(vectorize_graph(log_probability, replace={parameters[name]: batched[name] for name in names}))
    _jax()
    probability_fn = pytensor.function([batched[name] for name in names], probability, mode="JAX")

    draws = [posterior[name].stack(sample=("chain", "draw")).transpose("sample", ...).values for name in names]
    n_draws = len(draws[0])
    n_samples, n_components = (len(coords[dim]) for dim in dims)
    block = min(n_draws, max(1, 2**21 // (n_samples * n_components)))
    total = np.zeros((n_samples, n_components))
    for first in range(0, n_draws, block):
        # The last block is padded to the others' size, so JAX compiles one shape.
        rows = np.minimum(np.arange(first, first + block), n_draws - 1)
        probabilities = np.asarray(probability_fn(*(values[rows] for values in draws)))
        total += probabilities[: n_draws - first].sum(axis=0)
    return xr.DataArray(
        total / n_draws, dims=dims, coords={dim: np.asarray(coords[dim]) for dim in dims}, name="assignment_probability"
    )
