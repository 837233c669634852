"""EM for a Gaussian mixture on a dask array chunked over rows: out of core, or on a cluster.

The E-step's log-likelihood and the M-step's sufficient statistics are sums over
rows, so each chunk of rows is reduced by the NumPy functions of
:mod:`inference.em.gaussian` (its blocked E-step and scatter) to one short
vector, and the vectors are summed. One pass over the data per iteration
gives both the objective at the current parameters and the statistics of the
next M-step; the (n_samples, n_components) responsibilities are never held,
only described lazily. The iteration is :func:`inference.em.loop.fit_em`'s,
acceleration included.

The scatter is accumulated about the current means ``mu_k`` (a plain sum over
chunks) and moved to the new centres ``xbar_k`` exactly:
``S_k = sum_i r_ik (x_i - mu_k)(x_i - mu_k)^T - s_k d_k^T - d_k s_k^T + n_k d_k d_k^T``
with ``s_k = sum_i r_ik (x_i - mu_k)`` and ``d_k = xbar_k - mu_k``, small near
convergence, so nothing cancels.

Computation runs on dask's current scheduler: a ``distributed.Client`` if one
is active, threads otherwise. Workers started by a ``distributed`` nanny get
``MALLOC_TRIM_THRESHOLD_=65536`` by default, which turns off glibc's adaptive
mmap threshold and makes every large NumPy temporary a fresh mmap; see
``benchmarks/README.md`` for the setting to use.
"""

from collections import deque
from collections.abc import Mapping

import dask.array as da
import numpy as np

from .em.gaussian import (
    _BLOCKED_SCATTER,
    _EMPTY,
    _check_covariance_type,
    _check_init,
    _check_reg_covar,
    _maximise,
    e_step,
)
from .em.checks import check_tolerances
from .em.loop import EMRun, fit_em

__all__ = ["chunk_statistics", "fit_gaussian_mixture_dask"]


def _statistic_sizes(n_components: int, n_features: int, covariance_type: str) -> tuple[int, ...]:
    """Lengths of the log-likelihood, counts, first moments and scatter in a statistics vector."""
    scatter = n_features * n_features if covariance_type in ("full", "tied") else n_features
    return 1, n_components, n_components * n_features, n_components * scatter


def chunk_statistics(x: np.ndarray, params: Mapping[str, np.ndarray], *, covariance_type: str) -> np.ndarray:
    """One chunk's sufficient statistics at ``params``, as a row of shape (1, n_statistics).

    ``x`` (n_rows, n_features). The row concatenates the log-likelihood of the
    rows, the counts ``n_k = sum_i r_ik`` (n_components,), the first moments
    ``s_k = sum_i r_ik (x_i - mu_k)`` (n_components, n_features) and the scatter
    about ``mu_k`` (n_components, n_features, n_features) for full and tied
    covariances, its diagonal (n_components, n_features) for diag and spherical.
    """
    means = params["means"]
    x = np.asfortranarray(x)
    log_resp, log_likelihood = e_step(dict(params), x=x, covariance_type=covariance_type, prior=None)
    resp = np.exp(log_resp)
    counts = np.ones(x.shape[0]) @ resp
    first = resp.T @ x - counts[:, None] * means
    scatter = _BLOCKED_SCATTER[covariance_type](resp, x, means)
    return np.concatenate([[log_likelihood], counts, first.ravel(), scatter.ravel()])[None, :]


def _chunk_log_resp(x: np.ndarray, params: Mapping[str, np.ndarray], *, covariance_type: str) -> np.ndarray:
    """Log responsibilities (n_rows, n_components) of one chunk ``x`` (n_rows, n_features)."""
    return e_step(dict(params), x=x, covariance_type=covariance_type, prior=None)[0]


def _bind_steps(x: da.Array, *, covariance_type: str, reg_covar: float):
    """The ``(e_step, m_step)`` pair that :func:`~inference.em.loop.fit_em` iterates on ``x``.

    The E-step computes the statistics of all chunks in one pass and returns
    the log responsibilities as a lazy dask array; the M-step reads the
    statistics of the E-step whose responsibilities it is given, recognised by
    the name of the lazy array (dask names are deterministic), among the last
    three E-steps (as the loop's contract allows).
    """
    n_features = x.shape[1]
    recent = deque(maxlen=3)

    def bound_e_step(params):
        n_components = params["weights"].shape[0]
        sizes = _statistic_sizes(n_components, n_features, covariance_type)
        statistics = x.map_blocks(
            chunk_statistics,
            params=params,
            covariance_type=covariance_type,
            chunks=((1,) * x.numblocks[0], (sum(sizes),)),
            dtype=float,
        )
        totals = statistics.sum(axis=0).compute()
        log_resp = x.map_blocks(
            _chunk_log_resp,
            params=params,
            covariance_type=covariance_type,
            chunks=(x.chunks[0], (n_components,)),
            dtype=float,
        )
        recent.append((np.exp(log_resp).name, params, totals))
        return log_resp, float(totals[0])

    def bound_m_step(resp):
        for name, params, totals in reversed(recent):
            if resp.name == name:
                break
        else:
            raise RuntimeError("resp: not the responsibilities of the last E-step of this pair")
        means = params["means"]
        n_components = means.shape[0]
        _, counts, first, scatter = np.split(
            totals, np.cumsum(_statistic_sizes(n_components, n_features, covariance_type))[:-1]
        )
        first = first.reshape(n_components, n_features)
        nk = counts + _EMPTY
        shift = (first - _EMPTY * means) / nk[:, None]
        if covariance_type in ("full", "tied"):
            scatter = scatter.reshape(n_components, n_features, n_features)
            cross = first[:, :, None] * shift[:, None, :]
            scatter = (
                scatter - cross - np.swapaxes(cross, 1, 2) + counts[:, None, None] * shift[:, :, None] * shift[:, None, :]
            )
        else:
            scatter = scatter.reshape(n_components, n_features)
            scatter = scatter - 2 * first * shift + counts[:, None] * np.square(shift)
        return _maximise(
            nk, means + shift, scatter, covariance_type=covariance_type, prior=None, reg_covar=reg_covar
        )

    return bound_e_step, bound_m_step


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
    x : dask.array.Array of shape (n_samples, n_features)
        Finite numbers; rechunked to whole rows if a chunk splits the columns.
        Not checked for NaN (that would cost a pass over the data).
    init : mapping
        The start ``{"weights", "means", "covariances"}``, shaped as in
        :func:`inference.em.fit_gaussian_mixture` (for instance its fit to a
        sample of the rows); ``weights`` default to equal.
    covariance_type, reg_covar, tol, max_iter, accelerate
        As in :func:`inference.em.fit_gaussian_mixture`.

    Returns
    -------
    EMRun
        Components ordered by increasing ``means[:, 0]``. ``log_resp`` is a lazy
        dask array of shape (n_samples, n_components): compute it, or a part
        of it, only if needed.
    """
    if not isinstance(x, da.Array) or x.ndim != 2:
        raise ValueError(f"x: expected a 2-D dask array, got {type(x).__name__}")
    x = x.astype(float).rechunk({1: -1})
    covariance_type = _check_covariance_type(covariance_type)
    tol, max_iter = check_tolerances(tol, max_iter)
    n_components = np.shape(init["means"])[0]
    start = _check_init(init, np.empty((0, x.shape[1])), n_components, covariance_type)
    best, _ = fit_em(
        *_bind_steps(x, covariance_type=covariance_type, reg_covar=_check_reg_covar(reg_covar)),
        [start],
        tol=tol,
        max_iter=max_iter,
        order_key=lambda params: params["means"][:, 0],
        component_axes={"weights": 0, "means": 0, "covariances": None if covariance_type == "tied" else 0},
        accelerate=accelerate,
    )
    return best
