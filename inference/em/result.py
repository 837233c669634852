"""The frozen result of an EM fit, and its conversion to xarray at the edge.

Results travel: they pickle (to disk, to joblib workers and back) and
deep-copy, and come back as frozen as they left, every array read-only.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from .loop import EMRun

__all__ = ["EMResult", "FrozenMapping", "Restart"]


def _frozen(array) -> np.ndarray:
    array = np.array(array, dtype=float)
    array.flags.writeable = False
    return array


def _read_only_copy(array) -> np.ndarray:
    """A read-only copy of ``array``, its dtype kept (coordinates are integers)."""
    array = np.array(array)
    array.flags.writeable = False
    return array


def _refrozen(value):
    """``value``, made read-only in place if it is an array.

    Only for objects just unpickled or deep-copied, which nobody else holds.
    """
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
    return value


class FrozenMapping(Mapping):
    """A read-only mapping of names to values, as ``types.MappingProxyType``, that pickles and deep-copies.

    It has no ``__setitem__``, and its items sit behind a ``MappingProxyType``,
    so neither the mapping nor its attribute can be changed. Pickled and
    deep-copied mappings come back with their arrays read-only.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Mapping):
        object.__setattr__(self, "_items", MappingProxyType(dict(items)))

    def __getitem__(self, name):
        return self._items[name]

    def __iter__(self) -> Iterator:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __delattr__(self, name):
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict(self._items)!r})"

    def __reduce__(self):
        # The proxy itself does not pickle; a plain dict of the items does, and
        # both pickle and deepcopy hand _loaded_mapping fresh copies of them.
        return _loaded_mapping, (dict(self._items),)


def _loaded_mapping(items: dict) -> FrozenMapping:
    """A :class:`FrozenMapping` of freshly unpickled or deep-copied ``items``, arrays made read-only."""
    return FrozenMapping({name: _refrozen(value) for name, value in items.items()})


def _frozen_mapping(mapping: Mapping[str, np.ndarray]) -> FrozenMapping:
    return FrozenMapping({name: _frozen(value) for name, value in mapping.items()})


def _shapes(mapping: Mapping[str, np.ndarray]) -> str:
    """``weights (3,), means (3, 2)``: every array's name and shape."""
    return ", ".join(f"{name} {np.shape(value)}" for name, value in mapping.items())


class _ReadOnlyWhenLoaded:
    """Restores a pickled or deep-copied frozen dataclass with its array fields read-only again.

    Pickle and deepcopy rebuild a dataclass from its ``__dict__`` without
    ``__init__``; the arrays they make are writeable, so they are frozen here.
    Mappings and nested results restore themselves.
    """

    def __setstate__(self, state: dict) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, _refrozen(value))


@dataclass(frozen=True, repr=False)
class Restart(_ReadOnlyWhenLoaded):
    """Where one start of an ``n_init`` fit ended."""

    params: Mapping[str, np.ndarray]
    objective: float
    n_iter: int
    converged: bool

    def __repr__(self) -> str:
        status = "converged" if self.converged else "not converged"
        return f"Restart(objective={self.objective:.6f}, n_iter={self.n_iter}, {status}; {_shapes(self.params)})"


@dataclass(frozen=True, repr=False)
class EMResult(_ReadOnlyWhenLoaded):
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
            dims=FrozenMapping(dims),
            coords=FrozenMapping({name: _read_only_copy(value) for name, value in coords.items()}),
        )

    @property
    def objective(self) -> float:
        """The objective at ``params``."""
        return float(self.objective_trace[-1])

    def _described(self) -> str:
        """What was fitted, for the first line of the repr; subclasses add their options."""
        return f"n_components={self.responsibilities.shape[1]}"

    def _repr_lines(self) -> list[str]:
        """The repr's lines: a dozen whatever the size of the fit, shapes instead of values."""
        status = "converged" if self.converged else "not converged"
        objectives = [restart.objective for restart in self.restarts]
        return [
            f"{type(self).__name__}({self._described()})",
            f"  {self.objective_name} = {self.objective:.6f} after {self.n_iter} iterations ({status})",
            "  params:",
            *(f"    {name}: {np.shape(value)}" for name, value in self.params.items()),
            f"  responsibilities: {self.responsibilities.shape}, dims {tuple(self.dims['responsibilities'])}",
            f"  history: {self.n_iter + 1} states of {', '.join(self.history)}",
            f"  restarts: {len(objectives)}"
            + (f", objectives {min(objectives):.6f} to {max(objectives):.6f}" if len(objectives) > 1 else ""),
        ]

    def __repr__(self) -> str:
        return "\n".join(self._repr_lines())

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
