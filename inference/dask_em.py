"""EM for a Gaussian mixture on a dask array chunked over rows: out of core, or on a cluster.

The E-step's log-likelihood and sufficient statistics are sums over rows, so
each chunk of rows is reduced by the NumPy E-step of
:mod:`inference.em.gaussian` to one short vector, and the vectors are summed
(every chunk takes its moments about the same shifts, fixed by the parameters). One
pass over the data per iteration gives both the objective at the current
parameters and the statistics of the next M-step, which is the in-memory one;
the (n_samples, n_components) responsibilities are never held, only described
lazily. The iteration is :func:`inference.em.loop.fit_em`'s, acceleration
included.

Computation runs on dask's current scheduler: a ``distributed.Client`` if one
is active, threads otherwise. Workers started by a ``distributed`` nanny get
``MALLOC_TRIM_THRESHOLD_=65536`` by default, which turns off glibc's adaptive
mmap threshold and makes every large NumPy temporary a fresh mmap; see
``benchmarks/README.md`` for the setting to use.
"""

from collections.abc import Callable, Mapping
from functools import cache, partial

import dask.array as da
import numpy as np

from .em.gaussian import (
    SufficientStatistics,
    _check_covariance_type,
    _check_init,
    _check_reg_covar,
    _check_rows,
    _constant_column,
    _constant_column_error,
    _moment_plan,
    _moment_shifts,
    _scale_error,
    e_step,
    log_responsibilities,
    m_step,
)
from .em.checks import check_n_components, check_tolerances
from .em.loop import EMRun, fit_em

__all__ = ["chunk_statistics", "fit_gaussian_mixture_dask", "log_responsibilities_dask"]


def _statistic_sizes(n_components: int, n_features: int, covariance_type: str) -> tuple[int, ...]:
    """Lengths of the log-likelihood, counts, first moments and second moments in a statistics vector."""
    second = n_features * n_features if covariance_type in ("full", "tied") else n_features
    return 1, n_components, n_components * n_features, n_components * second


def chunk_statistics(x: np.ndarray, params: Mapping[str, np.ndarray], *, covariance_type: str) -> np.ndarray:
    """One chunk's log-likelihood and sufficient statistics at ``params``, as a row of shape (1, n_statistics).

    ``x`` (n_rows, n_features). The row concatenates the log-likelihood of the
    rows and the counts, first moments and second moments of
    :func:`inference.em.gaussian.e_step`, raveled; every chunk takes its
    moments about the same shifts (fixed by ``params``), so rows sum.
    """
    statistics, log_likelihood = e_step(dict(params), x=x, covariance_type=covariance_type, prior=None)
    parts = [[log_likelihood], statistics.counts, statistics.first.ravel(), statistics.second.ravel()]
    return np.concatenate(parts)[None, :]


def _e_step(
    params: dict[str, np.ndarray], *, x: da.Array, covariance_type: str, diagnosis: Callable[[], ValueError | None]
) -> tuple[SufficientStatistics, float]:
    """The statistics and log-likelihood of all chunks of ``x`` at ``params``, in one pass; see :func:`chunk_statistics`.

    A covariance that is not positive definite, or a log-likelihood that is
    not finite, raises ``diagnosis()``, the error in the data, if there is one.
    """
    n_components, n_features = params["means"].shape
    try:
        shift, _, own = _moment_plan(params, covariance_type)
    except ValueError as error:
        _raise_data_error(diagnosis, error)
        raise
    sizes = _statistic_sizes(n_components, n_features, covariance_type)
    rows = x.map_blocks(
        chunk_statistics,
        params=params,
        covariance_type=covariance_type,
        chunks=((1,) * x.numblocks[0], (sum(sizes),)),
        dtype=float,
    )
    log_likelihood, counts, first, second = np.split(rows.sum(axis=0).compute(), np.cumsum(sizes)[:-1])
    if not np.isfinite(log_likelihood[0]):
        # Bad data or bad parameters (an extrapolated point, say): only a pass over x tells which.
        _raise_data_error(diagnosis)
    second_shape = (n_components, n_features, n_features)[: 3 if covariance_type in ("full", "tied") else 2]
    statistics = SufficientStatistics(
        shift=_moment_shifts(shift, own, n_components),
        counts=counts,
        first=first.reshape(n_components, n_features),
        second=second.reshape(second_shape),
    )
    return statistics, float(log_likelihood[0])


###############################################################################
# Diagnosing the data, only when the log-likelihood is not finite or a covariance
# is not positive definite


def _raise_data_error(diagnosis: Callable[[], ValueError | None], symptom: ValueError | None = None) -> None:
    """Raise ``diagnosis()``, the error in the data, from ``symptom`` if there is one; return if the data are fine."""
    error = diagnosis()
    if error is not None:
        raise error from symptom


def _chunk_summary(x: np.ndarray) -> np.ndarray:
    """What :func:`_data_error` needs of one chunk ``x`` (n_rows, n_features): a row of shape (1, 1 + 4 n_features).

    The row concatenates n_rows; per column, the chunk's first row holding
    NaN and the first holding inf (inf where there is none); and each
    column's smallest and largest value.
    """
    nan, infinite = np.isnan(x), np.isinf(x)
    parts = [
        [x.shape[0]],
        np.where(nan.any(axis=0), nan.argmax(axis=0), np.inf),
        np.where(infinite.any(axis=0), infinite.argmax(axis=0), np.inf),
        x.min(axis=0, initial=np.inf),
        x.max(axis=0, initial=-np.inf),
    ]
    return np.concatenate(parts)[None, :]


def _chunk_summaries(x: da.Array) -> np.ndarray:
    """:func:`_chunk_summary` of each chunk of rows of ``x`` (n_samples, n_features), in one pass.

    Shape (n_chunks, 1 + 4 n_features).
    """
    return x.map_blocks(_chunk_summary, chunks=((1,) * x.numblocks[0], (1 + 4 * x.shape[1],)), dtype=float).compute()


def _data_error(summaries: np.ndarray, reg_covar: float) -> ValueError | None:
    """The ValueError for x's first NaN or inf cell, or else for a column spanning too much or too little; or None.

    ``summaries`` (n_chunks, 1 + 4 n_features) are :func:`_chunk_summary`'s
    rows, in the order of the chunks. The first bad cell is the first in
    row-major order, its row counted over the whole array. A constant column
    is an error when ``reg_covar`` is 0, as in the in-memory fit.
    """
    n_features = (summaries.shape[1] - 1) // 4
    parts = np.split(summaries, [1 + n_features * k for k in range(4)], axis=1)
    n_rows, first_nan, first_inf, smallest, largest = parts
    offsets = np.cumsum(n_rows[:, 0]) - n_rows[:, 0]
    first_nan = (offsets[:, None] + first_nan).min(axis=0)
    first_inf = (offsets[:, None] + first_inf).min(axis=0)
    first_bad = np.minimum(first_nan, first_inf)
    if np.isfinite(first_bad).any():
        column = int(np.argmin(first_bad))
        kind = "NaN" if first_nan[column] == first_bad[column] else "inf"
        return ValueError(
            f"x: contains {kind} at row {int(first_bad[column])}, column {column}; the Dask fit takes finite "
            'numbers only (for missing values, use the in-memory fit_gaussian_mixture(..., missing="em"))'
        )
    lowest = smallest.min(axis=0)
    with np.errstate(over="ignore"):
        spread = largest.max(axis=0) - lowest
    error = _scale_error(spread, int(n_rows.sum()))
    constant = _constant_column(spread, lowest)
    if error is None and constant is not None and reg_covar == 0:
        return _constant_column_error(constant, n_features, prior_allowed=False)
    return error


###############################################################################
# Responsibilities and the fit


def _as_rows(x) -> da.Array:
    """``x`` (n_samples, n_features), or (n_samples,) for one feature, as floats chunked over rows only."""
    if not isinstance(x, da.Array):
        raise ValueError(
            f"x: expected a dask array, got {type(x).__name__} (in memory, use inference.em.fit_gaussian_mixture)"
        )
    if x.ndim not in (1, 2):
        raise ValueError(f"x: expected a 1-D or 2-D dask array, got {x.ndim}-D")
    return (x[:, None] if x.ndim == 1 else x).astype(float).rechunk({1: -1})


def log_responsibilities_dask(x: da.Array, params: Mapping[str, np.ndarray], *, covariance_type: str) -> da.Array:
    """Lazy log responsibilities (n_samples, n_components) of ``x`` (n_samples, n_features) at ``params``.

    ``x`` may be 1-D, one feature, as in :func:`fit_gaussian_mixture_dask`.
    Compute it, or a part of it, only if needed.
    """
    x = _as_rows(x)
    n_components = np.shape(params["weights"])[0]
    return x.map_blocks(
        _chunk_log_responsibilities,
        params=params,
        covariance_type=covariance_type,
        chunks=(x.chunks[0], (n_components,)),
        dtype=float,
    )


def _chunk_log_responsibilities(x: np.ndarray, params: Mapping[str, np.ndarray], *, covariance_type: str) -> np.ndarray:
    """Log responsibilities (n_rows, n_components) of one chunk ``x`` (n_rows, n_features)."""
    return log_responsibilities(dict(params), x=x, covariance_type=covariance_type)


def fit_gaussian_mixture_dask(
    x: da.Array,
    init: Mapping[str, np.ndarray],
    *,
    covariance_type: str = "full",
    reg_covar: float = 1e-6,
    tol: float = 1e-8,
    max_iter: int = 1000,
    accelerate: bool = False,
) -> EMRun:
    """Fit a Gaussian mixture by EM (maximum likelihood) to a dask array chunked over rows.

    Parameters
    ----------
    x : dask.array.Array of shape (n_samples, n_features) or (n_samples,)
        Finite numbers; a 1-D array is one feature. Rechunked to whole rows
        if a chunk splits the columns.
        At least 2 rows, and at least as many as components. The values are
        not checked up front (that would cost a pass over the data): only
        when an E-step meets a covariance that is not positive definite or
        a log-likelihood that is not finite, one more pass looks for NaN or inf
        cells, for a column whose spread (max - min) is outside the range the
        in-memory fit accepts, and for a constant column when ``reg_covar``
        is 0; any of them raises a ``ValueError`` naming the first such cell
        or column. Unlike the in-memory fit, a constant column with
        ``reg_covar > 0`` is not warned about.
    init : mapping
        The start ``{"weights", "means", "covariances"}``, shaped as in
        :func:`inference.em.fit_gaussian_mixture` (for instance its fit to a
        sample of the rows); ``weights`` default to equal.
    covariance_type, reg_covar, tol, max_iter, accelerate
        As in :func:`inference.em.fit_gaussian_mixture`.

    Returns
    -------
    EMRun
        Components ordered by increasing ``means[:, 0]``; the responsibilities
        are :func:`log_responsibilities_dask` at its ``params``.
    """
    x = _as_rows(x)
    covariance_type = _check_covariance_type(covariance_type)
    tol, max_iter = check_tolerances(tol, max_iter)
    if x.shape[0] == 0:
        raise ValueError(f"x: no data given (shape {x.shape})")
    _check_rows(x.shape[0])
    start = _check_init(init, np.empty((0, x.shape[1])), None, covariance_type)
    check_n_components(start["means"].shape[0], x.shape[0], "rows of x", name="init['means']")
    reg_covar = _check_reg_covar(reg_covar)
    # The data do not change: one pass at most finds what is wrong with them.
    diagnosis = cache(lambda: _data_error(_chunk_summaries(x), reg_covar))
    best, _ = fit_em(
        partial(_e_step, x=x, covariance_type=covariance_type, diagnosis=diagnosis),
        partial(m_step, covariance_type=covariance_type, prior=None, reg_covar=reg_covar),
        [start],
        tol=tol,
        max_iter=max_iter,
        order_key=lambda params: params["means"][:, 0],
        component_axes={"weights": 0, "means": 0, "covariances": None if covariance_type == "tied" else 0},
        accelerate=accelerate,
    )
    return best
