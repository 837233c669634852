"""EM for a mixture of multivariate Gaussians, as maximum likelihood or MAP.

Row ``i`` of ``x`` (n_samples, n_features) comes from one of K Gaussians;
which one is hidden. Parameters (the PyMC model's names): ``weights``
(n_components,), ``means`` (n_components, n_features) and ``covariances``,
shaped as in scikit-learn's ``GaussianMixture`` by covariance type:

- "full": one matrix per component, (n_components, n_features, n_features);
- "tied": one matrix shared by all components, (n_features, n_features);
- "diag": one variance per component and feature, (n_components, n_features);
- "spherical": one variance per component, (n_components,).

Log densities go through Cholesky factors of the covariances. The M-step adds
``reg_covar`` to every variance exactly as scikit-learn does, so that the two
agree iterate for iterate from the same start.
"""

from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import partial
import numbers
import warnings

import numpy as np
from scipy import linalg, special
from scipy.cluster import vq

from .checks import (
    _as_float_array,
    check_init_mapping,
    check_n_components,
    check_positive_int,
    check_simplex,
    check_tolerances,
)
from .loop import fit_em
from .priors import GaussianMixturePrior, ResolvedGaussianPrior
from .result import EMResult

__all__ = [
    "COVARIANCE_TYPES",
    "MISSING",
    "GaussianMixtureResult",
    "e_step",
    "fit_gaussian_mixture",
    "log_joint",
    "m_step",
]

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")

# What a NaN in x means: an input error, or a value missing at random that EM fills in.
MISSING = ("error", "em")

# Added to the expected counts so that an emptied component gives 0, not 0/0
# (scikit-learn's guard).
_EMPTY = 10 * np.finfo(float).eps

# A component with fewer expected rows than this is fitted to less than one
# observation: its mean sits on (a fraction of) a single row and its covariance
# is whatever reg_covar or the prior makes it, not an estimate.
_EMPTY_COMPONENT_ROWS = 1.0

_REMEDY = "decrease the number of components, increase reg_covar, or scale the input data"


def _not_positive_definite(name: str, component: int | None) -> ValueError:
    which = "the tied covariance" if component is None else f"component {component}'s covariance"
    return ValueError(
        f"{name}: {which} is not positive definite (for instance a singleton or collapsed "
        f"component); {_REMEDY}"
    )


###############################################################################
# Rows in blocks: every temporary of a block stays in cache

# A block's widest temporary holds about this many floats: 2**16 (512 KiB) is half
# of one core's 1 MiB L2 cache on our machine (Xeon @ 2.50GHz, 35.8 MiB shared L3).
# Chosen by timing one E-step plus M-step at (n=1e6, d=2, K=3) and (1e6, 10, 8),
# full and diag: 2**14 to 2**17 were within 10% of each other, 2**12 paid NumPy's
# per-call overhead (+30% at d=2) and 2**20 (8 MiB, out of L2) was 15-40% slower.
_BLOCK_FLOATS = 2**16


def _row_blocks(n_rows: int, width: int) -> list[slice]:
    """Consecutive row slices covering ``range(n_rows)``, each about ``_BLOCK_FLOATS // width`` rows.

    ``width`` is the number of floats per row in the block's widest temporary.
    """
    step = max(1, _BLOCK_FLOATS // max(width, 1))
    return [slice(start, min(start + step, n_rows)) for start in range(0, n_rows, step)]


@dataclass(frozen=True)
class _Whitened:
    """Squared Mahalanobis distances of every component by one matrix product (full and tied).

    With the lower Cholesky factor ``L_k`` of ``Sigma_k``,
    ``(x - mu_k)^T Sigma_k^-1 (x - mu_k) = |L_k^-1 (x - c) - L_k^-1 (mu_k - c)|^2``.
    ``centre`` c (n_features,) is the mixture's mean, subtracted first so that
    rows far from the origin do not lose digits. ``whitening`` (n_components *
    n_features, n_features) stacks the ``L_k^-1``, ``offset`` (n_components *
    n_features, 1) the ``L_k^-1 (mu_k - c)``, ``summing`` (n_components,
    n_components * n_features) adds each component's squares, ``log_det``
    (n_components,) is ``log |Sigma_k|``.
    """

    centre: np.ndarray
    whitening: np.ndarray
    offset: np.ndarray
    summing: np.ndarray
    log_det: np.ndarray

    @classmethod
    def from_factors(cls, means: np.ndarray, factors: np.ndarray, weights: np.ndarray) -> "_Whitened":
        """From ``means`` (n_components, n_features), lower Cholesky ``factors`` (n_components, n_features, n_features)
        and the ``weights`` (n_components,) that place the centre."""
        n_components, n_features = means.shape
        centre = _mixture_centre(weights, means)
        identity = np.eye(n_features)
        inverses = np.stack([linalg.solve_triangular(factor, identity, lower=True) for factor in factors])
        offset = np.einsum("kde,ke->kd", inverses, means - centre)
        return cls(
            centre=centre,
            whitening=inverses.reshape(n_components * n_features, n_features),
            offset=offset.reshape(-1, 1),
            summing=np.repeat(np.eye(n_components), n_features, axis=1),
            log_det=2 * np.log(np.diagonal(factors, axis1=1, axis2=2)).sum(axis=1),
        )

    @property
    def width(self) -> int:
        return self.whitening.shape[0]

    def distances(self, x: np.ndarray) -> np.ndarray:
        """Squared distances (n_components, n_rows) of the rows ``x`` (n_rows, n_features).

        Components run along the first axis so that every broadcast runs along
        the long, contiguous row axis (NumPy is slow along a short last axis).
        """
        whitened = self.whitening @ (x.T - self.centre[:, None])
        whitened -= self.offset
        np.square(whitened, out=whitened)
        return self.summing @ whitened


@dataclass(frozen=True)
class _Diagonal:
    """Squared Mahalanobis distances for diagonal covariances, by two matrix products (diag and spherical).

    With precisions ``P_kj = 1 / sigma2_kj`` and ``m_k = mu_k - c``,
    ``sum_j P_kj (x_j - mu_kj)^2 = P_k . (x - c)^2 - 2 (m_k P_k) . (x - c) + sum_j m_kj^2 P_kj``.
    ``centre`` c (n_features,) is the mixture's mean; ``quadratic`` and
    ``linear`` (n_components, n_features) are ``P`` and ``-2 m P``, ``offset``
    (n_components, 1) the last sum, ``log_det`` (n_components,)
    ``sum_j log sigma2_kj``.
    """

    centre: np.ndarray
    quadratic: np.ndarray
    linear: np.ndarray
    offset: np.ndarray
    log_det: np.ndarray

    @classmethod
    def from_variances(cls, means: np.ndarray, variances: np.ndarray, weights: np.ndarray) -> "_Diagonal":
        """From ``means`` and positive ``variances`` (n_components, n_features) and ``weights`` (n_components,)."""
        centre = _mixture_centre(weights, means)
        precisions = 1.0 / variances
        shifted = means - centre
        return cls(
            centre=centre,
            quadratic=precisions,
            linear=-2 * shifted * precisions,
            offset=(np.square(shifted) * precisions).sum(axis=1)[:, None],
            log_det=np.log(variances).sum(axis=1),
        )

    @property
    def width(self) -> int:
        return max(self.quadratic.shape)

    def distances(self, x: np.ndarray) -> np.ndarray:
        """Squared distances (n_components, n_rows) of the rows ``x`` (n_rows, n_features); see :class:`_Whitened`."""
        centred = x.T - self.centre[:, None]
        result = self.linear @ centred
        np.square(centred, out=centred)
        result += self.quadratic @ centred
        result += self.offset
        return result


def _mixture_centre(weights: np.ndarray, means: np.ndarray) -> np.ndarray:
    """The weighted mean of ``means`` (n_components, n_features), or their plain mean if ``weights`` are unusable."""
    total = weights.sum()
    if np.isfinite(total) and total > 0:
        return weights @ means / total
    return means.mean(axis=0)


###############################################################################
# Full covariance: (n_components, n_features, n_features)


def _cholesky_full(covariances: np.ndarray, name: str) -> np.ndarray:
    """Lower Cholesky factors (n_components, n_features, n_features) of ``covariances``."""
    factors = np.empty_like(covariances)
    for k, covariance in enumerate(covariances):
        try:
            factors[k] = linalg.cholesky(covariance, lower=True)
        except linalg.LinAlgError:
            raise _not_positive_definite(name, k) from None
    return factors


def _quadratic_full(weights: np.ndarray, means: np.ndarray, covariances: np.ndarray, name: str) -> _Whitened:
    """Distances for ``means`` (n_components, n_features), ``covariances`` (n_components, n_features, n_features)."""
    return _Whitened.from_factors(means, _cholesky_full(covariances, name), weights)


def _covariances_full(
    scatter: np.ndarray, nk: np.ndarray, deviation: np.ndarray, prior: ResolvedGaussianPrior | None
) -> np.ndarray:
    """Covariances (n_components, n_features, n_features), before ``reg_covar``.

    MLE: ``S_k / n_k``. MAP: ``(Psi + S_k + c_k (xbar_k - m)(xbar_k - m)^T) / (nu + n_k + d + 2)``
    with ``c_k = kappa n_k / (kappa + n_k)``. ``scatter`` holds ``S_k``, the
    responsibility-weighted scatter about ``xbar_k`` (n_components,
    n_features, n_features; see :func:`_scatter_matrices`), ``nk``
    (n_components,), ``deviation = xbar - m`` (n_components, n_features).
    """
    if prior is None:
        return scatter / nk[:, None, None]
    shrunk = prior.shrinkage * nk / (prior.shrinkage + nk)
    between = shrunk[:, None, None] * deviation[:, :, None] * deviation[:, None, :]
    n_features = scatter.shape[2]
    return (prior.scale + scatter + between) / (prior.dof + nk + n_features + 2)[:, None, None]


def _n_covariance_parameters_full(n_components: int, n_features: int) -> int:
    return n_components * n_features * (n_features + 1) // 2


###############################################################################
# Tied covariance: (n_features, n_features), shared by every component


def _cholesky_tied(covariance: np.ndarray, name: str) -> np.ndarray:
    """Lower Cholesky factor (n_features, n_features) of ``covariance``."""
    try:
        return linalg.cholesky(covariance, lower=True)
    except linalg.LinAlgError:
        raise _not_positive_definite(name, None) from None


def _quadratic_tied(weights: np.ndarray, means: np.ndarray, covariance: np.ndarray, name: str) -> _Whitened:
    """Distances for ``means`` (n_components, n_features) and one ``covariance`` (n_features, n_features)."""
    factor = _cholesky_tied(covariance, name)
    return _Whitened.from_factors(means, np.broadcast_to(factor, (means.shape[0], *factor.shape)), weights)


def _covariances_tied(
    scatter: np.ndarray, nk: np.ndarray, deviation: np.ndarray, prior: ResolvedGaussianPrior | None
) -> np.ndarray:
    """The shared covariance (n_features, n_features), before ``reg_covar``.

    MLE: ``sum_k S_k / n``. MAP: ``(Psi + sum_k [S_k + c_k (xbar_k - m)(xbar_k - m)^T]) / (nu + n + K + d + 1)``
    with ``c_k = kappa n_k / (kappa + n_k)``: one inverse Wishart and K mean
    priors ``N(m, Sigma / kappa)`` share Sigma. Arguments as for
    :func:`_covariances_full`; the per-component scatters are summed here.
    """
    scatter = scatter.sum(axis=0)
    if prior is None:
        return scatter / nk.sum()
    shrunk = prior.shrinkage * nk / (prior.shrinkage + nk)
    between = np.einsum("k,kd,ke->de", shrunk, deviation, deviation)
    n_components, n_features = deviation.shape
    return (prior.scale + scatter + between) / (prior.dof + nk.sum() + n_components + n_features + 1)


def _n_covariance_parameters_tied(n_components: int, n_features: int) -> int:
    return n_features * (n_features + 1) // 2


###############################################################################
# Diagonal covariance: variances (n_components, n_features)


def _check_variances(variances: np.ndarray, name: str) -> np.ndarray:
    """``variances`` (n_components, n_features) or (n_components,), which must be positive."""
    if (variances <= 0).any():
        raise _not_positive_definite(name, int(np.argwhere(variances <= 0)[0, 0]))
    return variances


def _quadratic_diag(weights: np.ndarray, means: np.ndarray, variances: np.ndarray, name: str) -> _Diagonal:
    """Distances for ``means`` and ``variances`` (n_components, n_features)."""
    return _Diagonal.from_variances(means, _check_variances(variances, name), weights)


def _covariances_diag(
    scatter: np.ndarray, nk: np.ndarray, deviation: np.ndarray, prior: ResolvedGaussianPrior | None
) -> np.ndarray:
    """Variances (n_components, n_features), before ``reg_covar``.

    MLE: ``S_kjj / n_k``. MAP, each variance with an InvGamma(nu / 2, Psi_jj / 2)
    prior and ``mu_kj ~ N(m_j, sigma2_kj / kappa)``:
    ``(Psi_jj + S_kjj + c_k (xbar_kj - m_j)^2) / (nu + n_k + 3)`` with
    ``c_k = kappa n_k / (kappa + n_k)``. ``scatter`` holds the diagonals
    ``S_kjj`` (n_components, n_features; see :func:`_scatter_diagonals`), the
    other arguments are as for :func:`_covariances_full`.
    """
    if prior is None:
        return scatter / nk[:, None]
    shrunk = prior.shrinkage * nk / (prior.shrinkage + nk)
    between = shrunk[:, None] * np.square(deviation)
    return (np.diag(prior.scale) + scatter + between) / (prior.dof + nk + 3)[:, None]


def _n_covariance_parameters_diag(n_components: int, n_features: int) -> int:
    return n_components * n_features


###############################################################################
# Spherical covariance: one variance per component, (n_components,)


def _quadratic_spherical(weights: np.ndarray, means: np.ndarray, variances: np.ndarray, name: str) -> _Diagonal:
    """Distances for ``means`` (n_components, n_features) and ``variances`` (n_components,)."""
    return _quadratic_diag(weights, means, np.broadcast_to(variances[:, None], means.shape), name)


def _covariances_spherical(
    scatter: np.ndarray, nk: np.ndarray, deviation: np.ndarray, prior: ResolvedGaussianPrior | None
) -> np.ndarray:
    """Variances (n_components,), before ``reg_covar``.

    MLE: ``trace(S_k) / (d n_k)``. MAP, with an InvGamma(nu / 2, trace(Psi) / (2 d))
    prior and ``mu_k ~ N(m, sigma2_k I / kappa)``:
    ``(trace(Psi) / d + trace(S_k) + c_k |xbar_k - m|^2) / (d (n_k + 1) + nu + 2)``
    with ``c_k = kappa n_k / (kappa + n_k)``. Arguments as for
    :func:`_covariances_diag`; the diagonals are summed here.
    """
    if prior is None:
        return _covariances_diag(scatter, nk, deviation, prior).mean(axis=1)
    n_features = scatter.shape[1]
    scatter = scatter.sum(axis=1)
    shrunk = prior.shrinkage * nk / (prior.shrinkage + nk)
    between = shrunk * np.square(deviation).sum(axis=1)
    return (np.trace(prior.scale) / n_features + scatter + between) / (n_features * (nk + 1) + prior.dof + 2)


def _n_covariance_parameters_spherical(n_components: int, n_features: int) -> int:
    return n_components


###############################################################################
# Weighted scatter about the component centres


def _scatter_matrices(resp: np.ndarray, diff: np.ndarray) -> np.ndarray:
    """``S_k = sum_i resp[i, k] diff[i, k] diff[i, k]^T``, shape (n_components, n_features, n_features).

    ``resp`` (n_samples, n_components), ``diff = x - xbar`` (n_samples,
    n_components, n_features).
    """
    return np.einsum("nk,nkd,nke->kde", resp, diff, diff)


def _scatter_diagonals(resp: np.ndarray, diff: np.ndarray) -> np.ndarray:
    """The diagonals ``S_kjj`` of :func:`_scatter_matrices`, shape (n_components, n_features)."""
    return np.einsum("nk,nkd->kd", resp, np.square(diff))


# Up to this many features a block's scatter is summed from the rows' outer products
# (d (d + 1) / 2 per row, then one matrix product for all components); with more,
# one matrix product per component is faster. Measured one thread: at d = 10, K = 8
# the outer products were 2x faster, at d = 50, K = 5 the per-component products 2x.
_OUTER_PRODUCT_FEATURES = 16


def _blocked_scatter_matrices(resp: np.ndarray, x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """``S_k = sum_i resp[i, k] (x_i - centres[k]) (x_i - centres[k])^T``, shape (n_components, n_features, n_features).

    ``resp`` (n_samples, n_components), ``x`` (n_samples, n_features),
    ``centres`` (n_components, n_features). Rows go in blocks, without the
    (n_samples, n_components, n_features) differences of
    :func:`_scatter_matrices`. Moments are summed about one shift ``s`` (the
    centres' mean weighted by the counts) and moved to each centre exactly:
    with ``y = x - s``, ``f_k = sum_i r_ik y_i`` and ``delta_k = centres[k] - s``,
    ``S_k = sum_i r_ik y_i y_i^T - f_k delta_k^T - delta_k f_k^T + n_k delta_k delta_k^T``.
    """
    n_components, n_features = centres.shape
    counts = np.ones(x.shape[0]) @ resp
    shift = _mixture_centre(counts, centres)
    first = np.zeros((n_components, n_features))
    if n_features <= _OUTER_PRODUCT_FEATURES:
        rows_of, columns_of = np.triu_indices(n_features)
        products_sum = np.zeros((n_components, rows_of.size))
        for rows in _row_blocks(x.shape[0], rows_of.size + n_features):
            shifted = x[rows].T - shift[:, None]
            weights = resp[rows]
            first += (shifted @ weights).T
            products_sum += ((shifted[rows_of] * shifted[columns_of]) @ weights).T
        second = np.empty((n_components, n_features, n_features))
        second[:, rows_of, columns_of] = products_sum
        second[:, columns_of, rows_of] = products_sum
    else:
        second = np.zeros((n_components, n_features, n_features))
        for rows in _row_blocks(x.shape[0], 2 * n_features):
            shifted = x[rows].T - shift[:, None]
            weights = resp[rows]
            first += (shifted @ weights).T
            for k in range(n_components):
                second[k] += (shifted * weights[:, k]) @ shifted.T
    delta = centres - shift
    cross = first[:, :, None] * delta[:, None, :]
    return second - cross - np.swapaxes(cross, 1, 2) + counts[:, None, None] * delta[:, :, None] * delta[:, None, :]


def _blocked_scatter_diagonals(resp: np.ndarray, x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """The diagonals ``S_kjj`` of :func:`_blocked_scatter_matrices`, shape (n_components, n_features).

    About the same shift ``s``:
    ``S_kjj = sum_i r_ik y_ij^2 - 2 delta_kj sum_i r_ik y_ij + delta_kj^2 n_k``
    with ``y = x - s`` and ``delta = centres - s``: two matrix products per
    block for all components at once.
    """
    counts = np.ones(x.shape[0]) @ resp
    shift = _mixture_centre(counts, centres)
    first = np.zeros_like(centres)
    second = np.zeros_like(centres)
    for rows in _row_blocks(x.shape[0], x.shape[1]):
        shifted = x[rows].T - shift[:, None]
        weights = resp[rows]
        first += (shifted @ weights).T
        np.square(shifted, out=shifted)
        second += (shifted @ weights).T
    delta = centres - shift
    return second - 2 * delta * first + np.square(delta) * counts[:, None]


###############################################################################
# Dispatch on the covariance type

_CHECK_COVARIANCES = {
    "full": _cholesky_full,
    "tied": _cholesky_tied,
    "diag": _check_variances,
    "spherical": _check_variances,
}
_QUADRATIC = {
    "full": _quadratic_full,
    "tied": _quadratic_tied,
    "diag": _quadratic_diag,
    "spherical": _quadratic_spherical,
}
_BLOCKED_SCATTER = {
    "full": _blocked_scatter_matrices,
    "tied": _blocked_scatter_matrices,
    "diag": _blocked_scatter_diagonals,
    "spherical": _blocked_scatter_diagonals,
}
_SCATTER = {
    "full": _scatter_matrices,
    "tied": _scatter_matrices,
    "diag": _scatter_diagonals,
    "spherical": _scatter_diagonals,
}
_COVARIANCES = {
    "full": _covariances_full,
    "tied": _covariances_tied,
    "diag": _covariances_diag,
    "spherical": _covariances_spherical,
}
_N_COVARIANCE_PARAMETERS = {
    "full": _n_covariance_parameters_full,
    "tied": _n_covariance_parameters_tied,
    "diag": _n_covariance_parameters_diag,
    "spherical": _n_covariance_parameters_spherical,
}


def _covariance_shape(covariance_type: str, n_components: int, n_features: int) -> tuple[int, ...]:
    return {
        "full": (n_components, n_features, n_features),
        "tied": (n_features, n_features),
        "diag": (n_components, n_features),
        "spherical": (n_components,),
    }[covariance_type]


def _add_reg_covar(covariances: np.ndarray, reg_covar: float, covariance_type: str) -> np.ndarray:
    """``covariances`` with ``reg_covar`` added to every variance (the diagonal)."""
    if covariance_type in ("full", "tied"):
        return covariances + reg_covar * np.eye(covariances.shape[-1])
    return covariances + reg_covar


###############################################################################
# E- and M-steps


def log_joint(
    x: np.ndarray, weights: np.ndarray, means: np.ndarray, covariances: np.ndarray, covariance_type: str
) -> np.ndarray:
    """``log weights[k] + log N(x[i] | means[k], Sigma_k)``, shape (n_samples, n_components).

    ``x`` (n_samples, n_features), ``weights`` (n_components,), ``means``
    (n_components, n_features); ``covariances`` shaped by ``covariance_type``.
    """
    quadratic, constant = _joint_terms(weights, means, covariances, covariance_type)
    joint = np.empty((x.shape[0], weights.shape[0]), order="F")
    for rows in _row_blocks(x.shape[0], quadratic.width):
        block = quadratic.distances(x[rows])
        block *= -0.5
        block += constant[:, None]
        joint[rows] = block.T
    return joint


def _joint_terms(
    weights: np.ndarray, means: np.ndarray, covariances: np.ndarray, covariance_type: str
) -> tuple[_Whitened | _Diagonal, np.ndarray]:
    """The distances of every component and the constant (n_components,) of :func:`log_joint`.

    ``log_joint = constant - distances / 2`` with
    ``constant = log weights - (d log(2 pi) + log |Sigma_k|) / 2``.
    """
    quadratic = _QUADRATIC[covariance_type](weights, means, covariances, "covariances")
    with np.errstate(divide="ignore", invalid="ignore"):
        log_weights = np.log(weights)
    return quadratic, log_weights - 0.5 * (means.shape[1] * np.log(2 * np.pi) + quadratic.log_det)


def _log_sum_exp_columns(joint: np.ndarray) -> np.ndarray:
    """``log sum_k exp(joint[k, i])``, shape (n_rows,), for ``joint`` (n_components, n_rows).

    A column of -inf gives -inf, as in ``scipy.special.logsumexp``.
    """
    top = joint.max(axis=0)
    top[~np.isfinite(top)] = 0.0
    with np.errstate(under="ignore", divide="ignore"):
        return np.log(np.exp(joint - top).sum(axis=0)) + top


def e_step(
    params: dict[str, np.ndarray],
    *,
    x: np.ndarray,
    covariance_type: str,
    prior: ResolvedGaussianPrior | None,
) -> tuple[np.ndarray, float]:
    """Log responsibilities (n_samples, n_components) and the objective at ``params``.

    The objective is the log-likelihood of all rows of ``x`` (n_samples,
    n_features), plus the log prior density when ``prior`` is given. Rows go
    in blocks (see :data:`_BLOCK_FLOATS`): memory is the (n_samples,
    n_components) result plus one block's temporaries. The result is in
    Fortran order, and ``x`` is best given so (as :func:`fit_gaussian_mixture`
    does): every block then reads and writes each column contiguously.
    """
    weights = params["weights"]
    quadratic, constant = _joint_terms(weights, params["means"], params["covariances"], covariance_type)
    log_resp = np.empty((x.shape[0], weights.shape[0]), order="F")
    log_likelihood = 0.0
    for rows in _row_blocks(x.shape[0], quadratic.width):
        joint = quadratic.distances(x[rows])
        joint *= -0.5
        joint += constant[:, None]
        log_norm = _log_sum_exp_columns(joint)
        with np.errstate(under="ignore", invalid="ignore"):
            joint -= log_norm
        log_resp[rows] = joint.T
        log_likelihood += log_norm.sum()
    objective = float(log_likelihood)
    if prior is not None:
        objective += prior.log_density(params, covariance_type)
    return log_resp, objective


def _normalise(
    joint: np.ndarray, params: dict[str, np.ndarray], covariance_type: str, prior: ResolvedGaussianPrior | None
) -> tuple[np.ndarray, float]:
    """Log responsibilities (n_samples, n_components) and the objective from ``joint`` of the same shape.

    ``joint[i, k]`` is ``log weights[k]`` plus row ``i``'s log density under
    component ``k``; the objective is the sum of the rows' log-likelihoods,
    plus the log prior density of ``params`` when ``prior`` is given.
    """
    log_norm = special.logsumexp(joint, axis=1)
    with np.errstate(under="ignore"):
        log_resp = joint - log_norm[:, None]
    objective = float(log_norm.sum())
    if prior is not None:
        objective += prior.log_density(params, covariance_type)
    return log_resp, objective


def m_step(
    resp: np.ndarray,
    *,
    x: np.ndarray,
    covariance_type: str,
    prior: ResolvedGaussianPrior | None,
    reg_covar: float,
) -> dict[str, np.ndarray]:
    """Parameters maximising the expected complete-data objective, plus ``reg_covar``.

    ``resp`` has shape (n_samples, n_components), ``x`` (n_samples,
    n_features). With expected counts ``n_k`` and weighted means ``xbar_k``,
    the MLE is ``weights = n_k / n``, ``means = xbar_k``; with a prior the
    update is the exact posterior mode: ``weights = (n_k + alpha - 1) / (n + K (alpha - 1))``,
    ``means = (n_k xbar_k + kappa m) / (n_k + kappa)``; the covariances are
    given per type (``_covariances_full`` and siblings).
    """
    nk = np.ones(x.shape[0]) @ resp + _EMPTY
    centres = (resp.T @ x) / nk[:, None]
    scatter = _BLOCKED_SCATTER[covariance_type](resp, x, centres)
    return _maximise(nk, centres, scatter, covariance_type=covariance_type, prior=prior, reg_covar=reg_covar)


def _maximise(
    nk: np.ndarray,
    centres: np.ndarray,
    scatter: np.ndarray,
    *,
    covariance_type: str,
    prior: ResolvedGaussianPrior | None,
    reg_covar: float,
) -> dict[str, np.ndarray]:
    """The M-step's parameters from expected counts, weighted means and scatter.

    ``nk`` (n_components,) are the expected counts (plus ``_EMPTY``),
    ``centres`` (n_components, n_features) the responsibility-weighted means
    ``xbar_k`` and ``scatter`` the weighted scatter about them, as
    :data:`_SCATTER` gives it for ``covariance_type``.
    """
    if prior is None:
        weights = nk / nk.sum()
        means = centres
        deviation = None
    else:
        n_components = nk.shape[0]
        weights = (nk + prior.alpha - 1) / (nk.sum() + n_components * (prior.alpha - 1))
        means = (nk[:, None] * centres + prior.shrinkage * prior.mean) / (nk + prior.shrinkage)[:, None]
        deviation = centres - prior.mean
    covariances = _COVARIANCES[covariance_type](scatter, nk, deviation, prior)
    return {
        "weights": weights,
        "means": means,
        "covariances": _add_reg_covar(covariances, reg_covar, covariance_type),
    }


###############################################################################
# The result


@dataclass(frozen=True)
class GaussianMixtureResult(EMResult):
    """An EM estimate of a Gaussian mixture; see :class:`EMResult`.

    Attributes
    ----------
    covariance_type : str
        "full", "tied", "diag" or "spherical"; fixes the shape of
        ``params["covariances"]``.
    """

    covariance_type: str

    @classmethod
    def from_run(cls, best, runs, *, covariance_type, **kwargs):
        """Build the result from the loop's best run and all runs; see :meth:`EMResult.from_run`."""
        base = EMResult.from_run(best, runs, **kwargs)
        return cls(**{field.name: getattr(base, field.name) for field in fields(base)}, covariance_type=covariance_type)

    def _checked(self, x) -> np.ndarray:
        """New data ``x`` as (n_samples, n_features), with this fit's number of features."""
        x = _check_x(x)
        n_features = self.params["means"].shape[1]
        if x.shape[1] != n_features:
            raise ValueError(f"x: expected {n_features} columns, got {x.shape[1]}")
        return x

    def score_samples(self, x) -> np.ndarray:
        """Log-likelihood of every row of ``x`` (n_samples, n_features), shape (n_samples,)."""
        weights, means, covariances = self.params["weights"], self.params["means"], self.params["covariances"]
        return special.logsumexp(log_joint(self._checked(x), weights, means, covariances, self.covariance_type), axis=1)

    def predict_proba(self, x) -> np.ndarray:
        """Responsibilities of ``x`` (n_samples, n_features), shape (n_samples, n_components)."""
        log_resp, _ = e_step(self.params, x=self._checked(x), covariance_type=self.covariance_type, prior=None)
        return np.exp(log_resp)

    def predict(self, x) -> np.ndarray:
        """The most probable component of every row of ``x`` (n_samples, n_features), shape (n_samples,)."""
        return np.argmax(self.predict_proba(x), axis=1)

    @property
    def n_parameters(self) -> int:
        """Free parameters: weights (K - 1), means (K d) and covariances (per type), as scikit-learn counts."""
        n_components, n_features = self.params["means"].shape
        n_covariance = _N_COVARIANCE_PARAMETERS[self.covariance_type](n_components, n_features)
        return n_covariance + n_components * n_features + n_components - 1

    def bic(self, x) -> float:
        """Bayesian information criterion on ``x`` (n_samples, n_features); lower is better."""
        log_likelihood = self.score_samples(x)
        return float(-2 * log_likelihood.sum() + self.n_parameters * np.log(log_likelihood.size))

    def aic(self, x) -> float:
        """Akaike information criterion on ``x`` (n_samples, n_features); lower is better."""
        return float(-2 * self.score_samples(x).sum() + 2 * self.n_parameters)


###############################################################################
# Checks and starts


def _listed(indices: np.ndarray, limit: int = 5) -> str:
    """The first ``limit`` of ``indices`` (1-D ints) as ``[2, 5, 7, ...]``."""
    shown = ", ".join(str(index) for index in indices[:limit])
    return f"[{shown}, ...]" if indices.size > limit else f"[{shown}]"


def _check_x(x, missing: str = "error") -> np.ndarray:
    """``x`` as a float array of shape (n_samples, n_features); 1-D means one feature.

    Every value must be finite, except that NaN marks a missing value when
    ``missing`` is "em".
    """
    try:
        array = np.asarray(x)
    except ValueError:
        raise ValueError("x: expected a rectangular array of numbers") from None
    if array.dtype.kind not in "biuf":
        raise ValueError(f"x: expected numbers, got an array of dtype {array.dtype}")
    if array.ndim not in (1, 2):
        raise ValueError(f"x: expected a 1-D or 2-D array, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"x: no data given (shape {array.shape})")
    array = array.astype(float).reshape(array.shape[0], -1)
    nan = np.isnan(array)
    if missing == "error" and nan.any():
        row, column = np.argwhere(nan)[0]
        raise ValueError(
            f"x: contains NaN at row {row}, column {column} ({nan.sum()} NaN cells, in rows "
            f"{_listed(np.flatnonzero(nan.any(axis=1)))} and columns {_listed(np.flatnonzero(nan.any(axis=0)))}); "
            'pass missing="em" to fit them as missing values by EM'
        )
    if np.isinf(array).any():
        row, column = np.argwhere(np.isinf(array))[0]
        raise ValueError(f"x: contains inf at row {row}, column {column}")
    return array


def _check_scale(x: np.ndarray, *, reg_covar: float, regularised: bool) -> None:
    """Check ``x`` (n_samples, n_features) can give covariances; warn where they rest on regularisation alone.

    One row gives no covariance at all. A constant column (with more than one
    feature) has zero variance in every component, so only ``reg_covar`` or
    the prior (``regularised``) keeps the covariances positive definite. A
    ``reg_covar`` above a thousandth of a column's variance outweighs the data
    in that column.
    """
    if x.shape[0] < 2:
        raise ValueError(f"x: a covariance needs at least 2 rows, got {x.shape[0]}")
    spread = np.ptp(x, axis=0)
    if x.shape[1] > 1 and (spread == 0).any():
        column = int(np.flatnonzero(spread == 0)[0])
        if not regularised:
            raise ValueError(
                f"x: column {column} is constant ({x[0, column]:g}), so no covariance is positive definite "
                "with reg_covar=0 and no prior; drop the column, or use reg_covar > 0 or a prior"
            )
        warnings.warn(
            f"x: column {column} is constant ({x[0, column]:g}); its variance in every component is the "
            "regularisation's alone and it says nothing about the components: drop it if that is not intended",
            UserWarning,
            stacklevel=3,
        )
    variances = x.var(axis=0)
    smallest = variances[variances > 0].min(initial=np.inf)
    if reg_covar > 1e-3 * smallest:
        warnings.warn(
            f"reg_covar: {reg_covar:g} outweighs the data's smallest column variance {smallest:.3g}, so the "
            "fit reflects reg_covar more than the data; scale the data or lower reg_covar (0 is exact)",
            UserWarning,
            stacklevel=3,
        )


def _check_covariance_type(covariance_type) -> str:
    if not isinstance(covariance_type, str) or covariance_type not in COVARIANCE_TYPES:
        expected = ", ".join(map(repr, COVARIANCE_TYPES))
        raise ValueError(f"covariance_type: expected one of {expected}, got {covariance_type!r}")
    return covariance_type


def _check_missing(missing) -> str:
    if not isinstance(missing, str) or missing not in MISSING:
        raise ValueError(f"missing: expected one of {', '.join(map(repr, MISSING))}, got {missing!r}")
    return missing


def _check_reg_covar(reg_covar) -> float:
    if isinstance(reg_covar, bool) or not isinstance(reg_covar, numbers.Real) or not 0 <= reg_covar < np.inf:
        raise ValueError(f"reg_covar: expected a finite number >= 0, got {reg_covar!r}")
    return float(reg_covar)


def _check_init(init: Mapping, x: np.ndarray, n_components: int, covariance_type: str) -> dict[str, np.ndarray]:
    """The user's start: ``means`` and ``covariances`` required, ``weights`` equal unless given."""
    init = check_init_mapping(init, ("weights", "means", "covariances"))
    for name in ("means", "covariances"):
        if name not in init:
            raise ValueError(f"init: missing {name!r}; give 'means' and 'covariances' (and optionally 'weights')")
    n_features = x.shape[1]
    weights = init.get("weights")
    weights = (
        np.full(n_components, 1.0 / n_components)
        if weights is None
        else check_simplex(weights, "init['weights']", (n_components,))
    )
    means = _as_float_array(init["means"], "init['means']")
    if means.shape != (n_components, n_features):
        raise ValueError(f"init['means']: expected shape {(n_components, n_features)}, got {means.shape}")
    shape = _covariance_shape(covariance_type, n_components, n_features)
    covariances = _as_float_array(init["covariances"], "init['covariances']")
    if covariances.shape != shape:
        raise ValueError(
            f"init['covariances']: expected shape {shape} for {covariance_type!r}, got {covariances.shape}"
        )
    if covariance_type in ("full", "tied") and not np.allclose(covariances, np.swapaxes(covariances, -1, -2)):
        raise ValueError("init['covariances']: expected symmetric matrices")
    _CHECK_COVARIANCES[covariance_type](covariances, "init['covariances']")
    return {"weights": weights, "means": means, "covariances": covariances}


def _random_starts(
    init: str,
    x: np.ndarray,
    n_components: int,
    n_init: int,
    bound_m_step,
    rng: np.random.Generator,
) -> list[dict[str, np.ndarray]]:
    """``n_init`` starts: K distinct rows of ``x`` (n_samples, n_features) as centres, rows to the nearest, one M-step.

    "kmeans++" picks the centres by k-means++ seeding (SciPy's ``kmeans2``
    labels every row by its nearest seed before its first update), anything
    else uniformly among the distinct rows.
    """
    distinct = np.unique(x, axis=0)
    too_few = distinct.shape[0] < n_components
    if too_few:
        warnings.warn(
            f"n_components: {n_components} components but only {distinct.shape[0]} distinct rows, so some "
            "components come back empty or duplicated; decrease the number of components",
            UserWarning,
            stacklevel=3,
        )
    starts = []
    for _ in range(n_init):
        if too_few:
            # Every distinct row is a centre; the extra components start on duplicates.
            extra = rng.choice(distinct.shape[0], size=n_components - distinct.shape[0])
            labels, _ = vq.vq(x, distinct[np.concatenate([rng.permutation(distinct.shape[0]), extra])])
        elif init == "kmeans++":
            _, labels = vq.kmeans2(x, n_components, iter=1, minit="++", seed=rng)
        else:
            centres = distinct[rng.choice(distinct.shape[0], size=n_components, replace=False)]
            labels, _ = vq.vq(x, centres)
        starts.append(bound_m_step(np.eye(n_components)[labels]))
    return starts


def _warn_empty_components(responsibilities: np.ndarray) -> None:
    """Warn about every component with fewer than one expected row; ``responsibilities`` (n_samples, n_components)."""
    expected_rows = responsibilities.sum(axis=0)
    for component in np.flatnonzero(expected_rows < _EMPTY_COMPONENT_ROWS):
        warnings.warn(
            f"component {component} is (nearly) empty: it explains {expected_rows[component]:.3g} expected rows; "
            f"{_REMEDY}",
            UserWarning,
            stacklevel=3,
        )


###############################################################################
# The front end


def fit_gaussian_mixture(
    x,
    n_components: int,
    *,
    covariance_type: str = "full",
    init="kmeans++",
    n_init: int = 1,
    prior: GaussianMixturePrior | None = None,
    reg_covar: float = 1e-6,
    tol: float = 1e-8,
    max_iter: int = 1000,
    random_state=None,
    missing: str = "error",
    accelerate: bool = False,
) -> GaussianMixtureResult:
    """Fit a K-component Gaussian mixture by EM.

    Parameters
    ----------
    x : array-like of shape (n_samples, n_features) or (n_samples,)
        Finite numbers, or NaN for a missing value with ``missing="em"``; a
        1-D array is one feature. With more than one feature, no column may
        be constant.
    n_components : int
        Number of Gaussians K, between 1 and n_samples.
    covariance_type : {"full", "tied", "diag", "spherical"}
        Shape of the covariances, as in scikit-learn (see the module docstring).
    init : "kmeans++", "random_from_data" or mapping
        "kmeans++" seeds K centres with SciPy's k-means++, "random_from_data"
        picks K distinct rows; either way every row goes to its nearest centre
        and one M-step gives the start. A mapping ``{"weights", "means",
        "covariances"}`` is the start itself (``weights`` default to equal).
    n_init : int
        Number of random starts (ignored for a mapping ``init``); the run with
        the highest objective is returned.
    prior : GaussianMixturePrior, optional
        None gives the maximum-likelihood estimate; a prior gives the MAP.
    reg_covar : float
        Added to every variance after each M-step (scikit-learn's
        regularisation); 0 gives the exact MLE or MAP.
    tol, max_iter : float, int
        Stop when one iteration raises the objective by at most ``tol``, or
        after ``max_iter`` iterations (then a ConvergenceWarning is raised).
    random_state : int, numpy Generator or None
        Seed for the starts.
    missing : {"error", "em"}
        "error": a NaN in ``x`` is a ValueError. "em": NaN cells are values
        missing at random; EM maximises the observed-data objective and fills
        them in (see :mod:`inference.em.missing`). The random starts are then
        computed from ``x`` with every NaN replaced by its column's mean (k-means
        needs complete rows), and so is a default ``prior``'s ``mean`` and
        ``scale``. No row and no column may be entirely NaN. Without NaN the
        fit is the complete-data fit.
    accelerate : bool
        Extrapolate by SQUAREM (see :mod:`inference.em.loop`): the same
        optimum in fewer iterations when the components overlap and plain EM
        crawls; the objective still never decreases. An extrapolated point
        whose covariances are not positive definite, or whose weights leave
        the simplex, is discarded for the plain EM step.

    Returns
    -------
    GaussianMixtureResult
        Components ordered by increasing ``means[:, 0]``, as in the PyMC
        model. ``responsibilities`` has shape (n_samples, n_components). With
        ``missing="em"`` an :class:`~inference.em.missing.ImputedGaussianMixtureResult`,
        which adds ``imputed`` and ``imputed_variance`` (n_samples, n_features).

    Warns
    -----
    UserWarning
        If a component ends with fewer than one expected row.
    """
    # Imported here because missing.py builds on this module's helpers.
    from . import missing as missing_data

    missing = _check_missing(missing)
    x = _check_x(x, missing)
    missing_data.check_observed(x)
    filled = missing_data.mean_imputed(x)
    n_samples, n_features = x.shape
    n_components = check_n_components(n_components, n_samples, "rows")
    covariance_type = _check_covariance_type(covariance_type)
    n_init = check_positive_int(n_init, "n_init")
    reg_covar = _check_reg_covar(reg_covar)
    tol, max_iter = check_tolerances(tol, max_iter)
    if prior is not None and not isinstance(prior, GaussianMixturePrior):
        raise ValueError(f"prior: expected a GaussianMixturePrior or None, got {prior!r}")
    _check_scale(filled, reg_covar=reg_covar, regularised=reg_covar > 0 or prior is not None)
    resolved = None if prior is None else prior.resolve(filled, n_components)
    rng = np.random.default_rng(random_state)

    bound_m_step = partial(m_step, x=filled, covariance_type=covariance_type, prior=resolved, reg_covar=reg_covar)
    if isinstance(init, Mapping):
        starts = [_check_init(init, filled, n_components, covariance_type)]
    elif isinstance(init, str) and init in ("kmeans++", "random_from_data"):
        starts = _random_starts(init, filled, n_components, n_init, bound_m_step, rng)
    else:
        raise ValueError(f"init: expected 'kmeans++', 'random_from_data' or a mapping of parameters, got {init!r}")

    if np.isnan(x).any():
        steps = missing_data.bind_steps(x, covariance_type=covariance_type, prior=resolved, reg_covar=reg_covar)
    else:
        # Column by column, the blocked steps read every block of rows contiguously.
        columns = np.asfortranarray(x)
        steps = (
            partial(e_step, x=columns, covariance_type=covariance_type, prior=resolved),
            partial(m_step, x=columns, covariance_type=covariance_type, prior=resolved, reg_covar=reg_covar),
        )
    best, runs = fit_em(
        *steps,
        starts,
        tol=tol,
        max_iter=max_iter,
        order_key=lambda params: params["means"][:, 0],
        component_axes={"weights": 0, "means": 0, "covariances": None if covariance_type == "tied" else 0},
        accelerate=accelerate,
    )
    responsibilities = np.exp(best.log_resp)
    _warn_empty_components(responsibilities)
    if missing == "error":
        build = GaussianMixtureResult.from_run
    else:
        build = partial(missing_data.ImputedGaussianMixtureResult.from_run, x=x)
    return build(
        best,
        runs,
        covariance_type=covariance_type,
        responsibilities=responsibilities,
        objective_name="log_likelihood" if prior is None else "log_posterior",
        dims={
            "weights": ("component",),
            "means": ("component", "dim"),
            "covariances": {
                "full": ("component", "dim", "dim2"),
                "tied": ("dim", "dim2"),
                "diag": ("component", "dim"),
                "spherical": ("component",),
            }[covariance_type],
            "responsibilities": ("obs", "component"),
        },
        coords={
            "component": np.arange(n_components),
            "obs": np.arange(n_samples),
            "dim": np.arange(n_features),
            "dim2": np.arange(n_features),
        },
    )
