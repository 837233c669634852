"""Input checks shared by the EM front ends.

Every check raises ``ValueError`` whose message starts with the argument's
name and says what was wrong, so that the command line can print it as is.
"""

from collections.abc import Mapping
import numbers
import os

import numpy as np

__all__ = [
    "as_real_array",
    "check_bool",
    "check_counts",
    "check_fits_in_memory",
    "check_init_mapping",
    "check_n_init",
    "check_n_components",
    "check_positive_int",
    "check_random_state",
    "check_simplex",
    "check_tolerances",
    "check_unit_interval",
    "described",
    "physical_memory",
]

# What to do when a Gaussian component collapses or a covariance is singular.
_REMEDY = "decrease the number of components, increase reg_covar, or scale the input data"


# Counts go through float64 arithmetic (the proportions of heads, scipy's
# binomial log pmf, the M-step's expected counts), which holds every whole
# number only up to 2**53; a larger count would be rounded without notice.
_MAX_COUNT = 2**53


def _check_finite(array: np.ndarray, name: str) -> None:
    if np.isnan(array).any():
        raise ValueError(f"{name}: contains NaN at flat index {np.flatnonzero(np.isnan(array))[0]}")
    if np.isinf(array).any():
        raise ValueError(f"{name}: contains inf at flat index {np.flatnonzero(np.isinf(array))[0]}")


def _real(array: np.ndarray, name: str) -> np.ndarray:
    """``array`` of booleans, integers or floats, its dtype kept; an object array of real numbers becomes floats.

    Strings (even "1.5"), complex numbers and other objects are a ValueError;
    a whole number beyond float64's range raises OverflowError, for the
    caller to word.
    """
    if array.dtype == object and all(isinstance(value, numbers.Real) for value in array.flat):
        array = array.astype(float)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name}: expected real numbers, got an array of dtype {array.dtype}")
    return array


_SHORT_REPR = 60
"""A received value longer than this in an error message is named by its type instead."""


def described(value) -> str:
    """``value`` for an error message: its repr when short, else its type (and, for a fit, what to pass instead)."""
    text = repr(value)
    if len(text) <= _SHORT_REPR:
        return text
    if hasattr(value, "params") and hasattr(value, "objective"):
        return f"a fit result ({type(value).__name__}; to start from it, pass its .params)"
    if hasattr(value, "shape"):
        return f"an array ({type(value).__name__}) of shape {value.shape}"
    return f"an object of type {type(value).__name__}"


def as_real_array(values, name: str) -> np.ndarray:
    """``values`` as a float array; strings (even "1.5"), complex numbers and other objects are refused."""
    try:
        array = np.asarray(values)
    except ValueError:
        raise ValueError(f"{name}: expected numbers, got {described(values)}") from None
    try:
        return _real(array, name).astype(float)
    except OverflowError:
        raise ValueError(f"{name}: expected numbers within float64's range, got {described(values)}") from None


def _as_float_array(values, name: str) -> np.ndarray:
    """``values`` as a float array of finite numbers; see :func:`as_real_array`."""
    array = as_real_array(values, name)
    _check_finite(array, name)
    return array


def _as_counts(values, name: str) -> np.ndarray:
    """``values`` as an int64 array of whole numbers in ``[0, 2**53]``, checked before any cast.

    Booleans count as 0 and 1, as they do for the Gaussian fits' ``x``;
    strings and complex numbers are refused.
    """
    try:
        array = np.asarray(values)
    except ValueError:
        raise ValueError(f"{name}: expected a 1-D sequence of counts, got {described(values)}") from None
    try:
        array = _real(array, name)
    except OverflowError:
        raise ValueError(
            f"{name}: counts must be at most 2**53 = {_MAX_COUNT}, got a number beyond float64's range"
        ) from None
    if array.ndim > 1:
        raise ValueError(f"{name}: expected a 1-D sequence of counts, got shape {array.shape}")
    if array.dtype.kind == "f":
        _check_finite(array, name)
    if (array < 0).any():
        position = np.flatnonzero(array < 0)[0]
        raise ValueError(f"{name}: counts must be non-negative, got {array.flat[position]:g} at index {position}")
    if array.dtype.kind == "f" and (array != np.round(array)).any():
        position = np.flatnonzero(array != np.round(array))[0]
        raise ValueError(f"{name}: counts must be whole numbers, got {array.flat[position]:g} at index {position}")
    if (array > _MAX_COUNT).any():
        position = np.flatnonzero(array > _MAX_COUNT)[0]
        raise ValueError(
            f"{name}: counts must be at most 2**53 = {_MAX_COUNT}, beyond which float64 cannot hold every whole "
            f"number; got {array.flat[position].item()} at index {position}"
        )
    return array.astype(np.int64)


def check_counts(heads, flips) -> tuple[np.ndarray, np.ndarray]:
    """Validated ``(heads, flips)`` as int64 arrays of shape (n_experiments,).

    ``flips`` may be a scalar, broadcast to every experiment.
    """
    heads = _as_counts(heads, "heads")
    flips = _as_counts(flips, "flips")
    if heads.ndim == 0:
        heads = heads.reshape(1)
    if heads.size == 0:
        raise ValueError("heads: no experiments given (empty data)")
    if flips.ndim == 0:
        flips = np.full_like(heads, flips)
    if flips.shape != heads.shape:
        raise ValueError(f"flips: length {flips.size} does not match heads' length {heads.size}")
    if (flips == 0).any():
        raise ValueError(f"flips: every experiment needs at least one flip, got 0 at index {np.flatnonzero(flips == 0)[0]}")
    if (heads > flips).any():
        position = np.flatnonzero(heads > flips)[0]
        raise ValueError(
            f"heads: {heads[position]} heads exceed {flips[position]} flips at index {position}"
        )
    return heads, flips


def check_bool(value, name: str) -> bool:
    """``value`` as a bool; only ``bool`` and ``numpy.bool_`` are accepted, so that "no" is not True."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}: expected True or False, got {described(value)}")
    return bool(value)


def check_random_state(random_state, name: str = "random_state") -> np.random.Generator:
    """A Generator from ``random_state``: None, a whole number >= 0 (or a sequence of them) or a numpy Generator.

    ``name`` is the argument's name in the error.
    """
    try:
        return np.random.default_rng(random_state)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected None, a whole number >= 0 or a numpy Generator, got {random_state!r}") from None


def check_positive_int(value, name: str) -> int:
    """``value`` as an int, which must be at least 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name}: expected a whole number >= 1, got {described(value)}")
    return int(value)


def check_n_components(n_components, n_samples: int, sample_name: str, name: str = "n_components") -> int:
    """``n_components`` as an int in ``[1, n_samples]``; ``name`` is the argument that gives it, in the error."""
    n_components = check_positive_int(n_components, name)
    if n_components > n_samples:
        raise ValueError(f"{name}: {n_components} components need at least as many {sample_name}, got {n_samples}")
    return n_components


def physical_memory() -> int:
    """The machine's memory in bytes, the bound every estimate of a run's size is held to."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


_BYTES_PER_START_VALUE = 8 * 4
"""Bytes each value of a start costs: float64, as the start, the run's end point, the restart's copy, and room."""


def check_n_init(n_init, values_per_start: int) -> int:
    """``n_init`` as an int >= 1 whose starts fit in half the machine's memory.

    Every start and its end point are kept (the restarts report them all);
    10**9 starts grew memory until the kernel killed the process.
    """
    n_init = check_positive_int(n_init, "n_init")
    check_fits_in_memory(
        n_init * values_per_start * _BYTES_PER_START_VALUE,
        f"n_init: {n_init} starts of {values_per_start} values",
        "use fewer starts",
    )
    return n_init


def check_fits_in_memory(needed: int, what: str, remedy: str) -> None:
    """Refuse, before it starts, work whose ``needed`` bytes exceed half the machine's memory.

    The message reads "``what`` need about ... GiB, more than half this
    machine's memory (... GiB); ``remedy``".
    """
    limit = physical_memory() // 2
    if needed > limit:
        raise ValueError(
            f"{what} need about {needed / 2**30:.3g} GiB, more than half this machine's memory "
            f"({limit / 2**30:.3g} GiB); {remedy}"
        )


def check_tolerances(tol, max_iter) -> tuple[float, int]:
    """Validated ``(tol, max_iter)``; ``max_iter=0`` evaluates the start only."""
    if not isinstance(tol, numbers.Real) or not np.isfinite(tol) or tol < 0:
        raise ValueError(f"tol: expected a finite number >= 0, got {tol!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, numbers.Integral) or max_iter < 0:
        raise ValueError(f"max_iter: expected a whole number >= 0, got {max_iter!r}")
    return float(tol), int(max_iter)


def check_unit_interval(values, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """``values`` as a float array of ``shape`` with every entry in [0, 1]."""
    array = _as_float_array(values, name)
    if array.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {array.shape}")
    if ((array < 0) | (array > 1)).any():
        raise ValueError(f"{name}: every value must lie in [0, 1], got {array.tolist()}")
    return array


def check_simplex(values, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """``values`` as positive weights of ``shape`` that sum to 1 (to 1e-8)."""
    array = _as_float_array(values, name)
    if array.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {array.shape}")
    if (array <= 0).any() or abs(array.sum() - 1) > 1e-8:
        raise ValueError(f"{name}: expected positive weights summing to 1, got {array.tolist()}")
    return array


def check_init_mapping(init, required: tuple[str, ...], optional: tuple[str, ...]) -> Mapping:
    """``init`` as a mapping that has every key of ``required`` and no key outside ``required`` and ``optional``."""
    expected = f"{' and '.join(map(repr, required))} (and optionally {', '.join(map(repr, optional))})"
    if not isinstance(init, Mapping):
        raise ValueError(f"init: expected a mapping of {expected}, got {described(init)}")
    unknown = set(init) - set(required) - set(optional)
    if unknown:
        raise ValueError(f"init: unknown parameter(s) {sorted(unknown)}; expected some of {[*required, *optional]}")
    missing = [name for name in required if name not in init]
    if missing:
        raise ValueError(f"init: missing {missing[0]!r}; give {expected}")
    return init
