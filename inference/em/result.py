"""The frozen result of an EM fit, and its conversion to xarray at the edge."""

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from .loop import EMRun

__all__ = ["EMResult", "Restart"]


def _frozen(array) -> np.ndarray:
    array = np.array(array, dtype=float)
    array.flags.writeable = False
    return array


def _frozen_mapping(mapping: Mapping[str, np.ndarray]) -> Mapping[str, np.ndarray]:
    return MappingProxyType({name: _frozen(value) for name, value in mapping.items()})


@dataclass(frozen=True)
class Restart:
    """Where one start of an ``n_init`` fit ended."""

    params: Mapping[str, np.ndarray]
    objective: float
    n_iter: int
    converged: bool


@dataclass(frozen=True)
class EMResult:
    """An EM estimate (MLE or MAP) with what it took to get there.

    Attributes
    ----------
    params : mapping of str to ndarray
        Estimates under the PyMC model's variable names (for instance
        ``theta`` and ``weights`` of shape (n_components,)).
    responsibilities : ndarray of shape (n_samples, n_components)
        Posterior probability of each sample's component at ``params``.
    objective_trace : ndarray of shape (n_iter + 1,)
        The objective at the start and after every iteration.
    history : mapping of str to ndarray
        Every parameter at the start and after every iteration, with a leading
        axis of length n_iter + 1.
    n_iter : int
        Iterations run.
    converged : bool
        Whether the last iteration changed the objective by at most ``tol``.
    objective_name : str
        ``"log_likelihood"`` (MLE) or ``"log_posterior"`` (MAP; the
        log-likelihood plus the log prior density).
    restarts : tuple of Restart
        Every start's end point, the best among them included.
    dims, coords : mapping
        Dimension names of every variable and their coordinate values, the
        PyMC model's.
    """

    params: Mapping[str, np.ndarray]
    responsibilities: np.ndarray
    objective_trace: np.ndarray
    history: Mapping[str, np.ndarray]
    n_iter: int
    converged: bool
    objective_name: str
    restarts: tuple[Restart, ...]
    dims: Mapping[str, tuple[str, ...]]
    coords: Mapping[str, np.ndarray]

    @classmethod
    def from_run(cls, best: EMRun, runs: tuple[EMRun, ...], *, responsibilities, objective_name, dims, coords):
        """Build the result from the loop's best run and all runs."""
        return cls(
            params=_frozen_mapping(best.params),
            responsibilities=_frozen(responsibilities),
            objective_trace=_frozen(best.objective_trace),
            history=_frozen_mapping(best.history),
            n_iter=best.n_iter,
            converged=best.converged,
            objective_name=objective_name,
            restarts=tuple(
                Restart(_frozen_mapping(run.params), run.objective, run.n_iter, run.converged) for run in runs
            ),
            dims=MappingProxyType(dict(dims)),
            coords=MappingProxyType(dict(coords)),
        )

    @property
    def objective(self) -> float:
        """The objective at ``params``."""
        return float(self.objective_trace[-1])

    def to_dataset(self):
        """The estimates as an ``xarray.Dataset`` named and shaped like the PyMC model.

        Holds every parameter and the responsibilities under their model dims,
        the objective trace and parameter history along ``iteration``, and the
        scalars (``objective``, ``n_iter``, ``converged``) as attributes.
        """
        import xarray as xr

        variables = {name: (self.dims[name], value) for name, value in self.params.items()}
        variables["responsibilities"] = (self.dims["responsibilities"], self.responsibilities)
        variables[self.objective_name] = (("iteration",), self.objective_trace)
        for name, value in self.history.items():
            variables[f"{name}_history"] = (("iteration", *self.dims[name]), value)
        return xr.Dataset(
            variables,
            coords={**self.coords, "iteration": np.arange(self.n_iter + 1)},
            attrs={
                "objective_name": self.objective_name,
                "objective": self.objective,
                "n_iter": self.n_iter,
                "converged": int(self.converged),
            },
        )
