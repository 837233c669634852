"""EM for a mixture of multivariate Gaussians, as maximum likelihood or MAP.

Row ``i`` of ``x`` (n_samples, n_features) comes from one of K Gaussians;
which one is hidden. Parameters (the PyMC model's names): ``weights``
(n_components,), ``means`` (n_components, n_features) and ``covariances``,
shaped as in scikit-learn's ``GaussianMixture`` by covariance type:

- "full": one matrix per component, (n_components, n_features, n_features);
- "tied": one matrix shared by all components, (n_features, n_features);
- "diag": one variance per component and feature, (n_components, n_features);
- "spherical": one variance per component, (n_components,).

The E-step returns the expected complete-data sufficient statistics (counts,
first and second moments), which are all the M-step needs: one pass over the
rows per iteration, in blocks that stay in cache, and the (n_samples,
n_components) responsibilities are formed once, for the result. Log densities
go through Cholesky factors of the covariances. The M-step adds ``reg_covar``
to every variance exactly as scikit-learn does, so that the two agree
iterate for iterate from the same start.
"""

from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import cache, partial
import numbers
import warnings

import numpy as np
from scipy import special
from scipy.linalg import blas, lapack
from scipy.cluster import vq

from . import kernels
from .checks import (
    _REMEDY,
    _as_float_array,
    check_init_mapping,
    check_n_components,
    check_n_init,
    check_random_state,
    check_simplex,
    check_tolerances,
    described,
)
from .loop import fit_em
from .priors import GaussianMixturePrior, ResolvedGaussianPrior
from .result import EMResult

__all__ = [
    "COVARIANCE_TYPES",
    "MISSING",
    "GaussianMixtureResult",
    "SufficientStatistics",
    "e_step",
    "fit_gaussian_mixture",
    "log_joint",
    "log_responsibilities",
    "m_step",
    "sufficient_statistics",
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

_COLLAPSE_SLACK = 0.01
"""Expected rows a component may lack of what its covariance needs before it counts as collapsed.

Responsibilities of rows held by other components add up to tiny amounts; a
component on exactly d + 1 rows holds d + 1 - 1e-12 of them.
"""

# A term this far (in log) below its row's largest gets responsibility 0, as
# it would by underflow below -745. Without the cut, exponentials that underflow
# took ~20 ns each (the slow path of exp), and the subnormal numbers they give
# made the matrix products up to 8 times slower.
_NEGLIGIBLE_LOG_RATIO = -700.0
_NEGLIGIBLE_RATIO = np.exp(_NEGLIGIBLE_LOG_RATIO)


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

    ``width`` is the number of floats per row in the block's widest temporary,
    the whitened rows excepted (see :attr:`_Whitened.width`).
    """
    step = max(1, _BLOCK_FLOATS // max(width, 1))
    return [slice(start, min(start + step, n_rows)) for start in range(0, n_rows, step)]


@dataclass(frozen=True)
class SufficientStatistics:
    """The complete data's expected sufficient statistics, all the M-step reads of the data.

    Sums over rows weighted by the responsibilities ``r`` (n_samples,
    n_components), about a ``shift`` s, one for all components (n_features,)
    or one per component (n_components, n_features): ``counts``
    ``n_k = sum_i r_ik`` (n_components,), ``first``
    ``f_k = sum_i r_ik (x_i - s_k)`` (n_components, n_features) and ``second``
    ``sum_i r_ik (x_i - s_k)(x_i - s_k)^T``, (n_components, n_features,
    n_features) for full and tied covariances and its diagonal
    (n_components, n_features) for diag and spherical ones.
    """

    shift: np.ndarray
    counts: np.ndarray
    first: np.ndarray
    second: np.ndarray

    def scatter(self, centres: np.ndarray) -> np.ndarray:
        """``S_k = sum_i r_ik (x_i - c_k)(x_i - c_k)^T`` about ``centres`` c (n_components, n_features), shaped as ``second``.

        Moved exactly from the shift: with ``delta_k = c_k - s_k``,
        ``S_k = second_k - f_k delta_k^T - delta_k f_k^T + n_k delta_k delta_k^T``.
        """
        delta = centres - self.shift
        if self.second.ndim == 2:
            return self.second - 2 * delta * self.first + np.square(delta) * self.counts[:, None]
        cross = self.first[:, :, None] * delta[:, None, :]
        outer = delta[:, :, None] * delta[:, None, :]
        return self.second - cross - np.swapaxes(cross, 1, 2) + self.counts[:, None, None] * outer


###############################################################################
# Blocks of rows as features
#
# log N(x | mu_k, Sigma_k) is linear in (1, x, x x^T), the Gaussian's sufficient
# statistics. Each block of rows is centred on one shift s (the mixture's mean)
# and laid out as "features", rows of (1, y, second-moment terms) with
# y = x - s and the rows of the block as columns. The joint log terms of all
# components come from the features, and the responsibilities' weighted sums
# of the features (one matrix product) are the sufficient statistics.

# Up to this many features the second moments are the rows' products y_j y_l
# (j <= l, d (d + 1) / 2 per row), summed for all components by the one matrix
# product; with more, a matrix product per component is faster. Measured one
# thread: at d = 10, K = 8 the products were 2x faster, at d = 50, K = 5 the
# per-component products 2x.
_PRODUCT_FEATURES = 16

# The expanded joint terms (linear in the features) subtract quantities of the
# size of D_k, the squared Mahalanobis distance of the shift from mean k, to get
# distances of order d, and so do second moments about the shift moved to the
# component's centre: about log10(D_k) digits are lost. Above this D_k the
# whitened form (no cancellation) gives the joint terms, and component k's
# moments are summed about its own mean.
_EXPANSION_LIMIT = 1e6


@cache
def _second_moment_kind(n_features: int, covariance_type: str) -> int:
    """What :func:`_features` writes after (1, y): ``kernels.SQUARES`` for diag and spherical covariances, ``kernels.PRODUCTS`` for full and tied ones up to :data:`_PRODUCT_FEATURES` features, ``kernels.NO_SECOND`` above."""
    if covariance_type in ("diag", "spherical"):
        return kernels.SQUARES
    return kernels.PRODUCTS if n_features <= _PRODUCT_FEATURES else kernels.NO_SECOND


def _second_moments_as_features(n_features: int, covariance_type: str) -> bool:
    """Whether the second moments are feature rows (diagonal, or products up to :data:`_PRODUCT_FEATURES`)."""
    return _second_moment_kind(n_features, covariance_type) != kernels.NO_SECOND


@cache
def _n_feature_rows(n_features: int, covariance_type: str) -> int:
    """Rows of :func:`_features`: 1, y, and the second-moment rows when they are features."""
    second = {
        kernels.SQUARES: n_features,
        kernels.PRODUCTS: n_features * (n_features + 1) // 2,
        kernels.NO_SECOND: 0,
    }[_second_moment_kind(n_features, covariance_type)]
    return 1 + n_features + second


def _features(x: np.ndarray, rows: slice, shift: np.ndarray, covariance_type: str) -> np.ndarray:
    """The features (n_feature_rows, n_rows) of ``x[rows]`` about ``shift`` (n_features,); ``x`` (n_samples, n_features).

    Rows: 1; ``y = x - shift``; then ``y_j^2`` for diag and spherical
    covariances, ``y_j y_l`` for ``j <= l`` (in ``np.triu_indices`` order) for
    full and tied ones up to :data:`_PRODUCT_FEATURES` features, nothing above.
    """
    n_features = x.shape[1]
    features = np.empty((_n_feature_rows(n_features, covariance_type), rows.stop - rows.start))
    return kernels.features_into(x, rows.start, shift, _second_moment_kind(n_features, covariance_type), features)


@cache
def _upper_triangle(n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.triu_indices(n_features)``, the order of the products among the features; computed once per size."""
    return np.triu_indices(n_features)


@dataclass(frozen=True)
class _Expanded:
    """Joint log terms linear in the features: ``joint = coefficients @ features``.

    ``coefficients`` (n_components, n_feature_rows): with ``m_k = mu_k - s``
    and precision ``P_k``, ``log w_k - (d log(2 pi) + log |Sigma_k| + m_k^T P_k m_k) / 2``
    for the 1, ``P_k m_k`` for y, and ``-P_kjj / 2`` and ``-P_kjl`` (j < l)
    for the second-moment rows.
    """

    coefficients: np.ndarray

    @property
    def width(self) -> int:
        return self.coefficients.shape[0]

    def joint(self, features: np.ndarray) -> np.ndarray:
        """Joint log terms (n_components, n_rows) from :func:`_features` (n_feature_rows, n_rows)."""
        return self.coefficients @ features


@dataclass(frozen=True)
class _Whitened:
    """Joint log terms by whitening: ``constant_k - |L_k^-1 y - c_k|^2 / 2``, exact at any distance.

    ``factors`` (n_factors * n_features, n_features) stacks the lower
    triangular ``L_k^-1``, ``L_k`` being the lower Cholesky factor of
    ``Sigma_k``: one per component, or one shared by all (tied
    covariances); ``centres`` (n_components, n_features) holds the whitened
    ``c_k = L_k^-1 (mu_k - s)``; ``constant`` (n_components,)
    ``log w_k - (d log(2 pi) + log |Sigma_k|) / 2``. The rows of a block are
    whitened by every factor in one matrix product: a general product of the
    stacked factors ran 1.4 times as fast as a triangular one (BLAS
    ``dtrmm``, half the arithmetic) per component.
    """

    factors: np.ndarray
    centres: np.ndarray
    constant: np.ndarray

    @property
    def width(self) -> int:
        """Floats per row that size the blocks: n_features or n_components.

        The whitened rows take n_factors * n_features per row, more than this;
        at (n = 1e5, d = 50, K = 5, full) blocks sized for them (5 times
        shorter) took 1.15 times as long per iteration.
        """
        return max(self.centres.shape)

    def joint(self, features: np.ndarray) -> np.ndarray:
        """Joint log terms (n_components, n_rows) from :func:`_features` (n_feature_rows, n_rows)."""
        n_components, n_features = self.centres.shape
        whitened = self.factors @ features[1 : n_features + 1]
        joint = np.empty((n_components, features.shape[1]))
        return kernels.half_squared_distances_into(whitened, self.centres, self.constant, joint)


def _scorer(
    params: Mapping[str, np.ndarray], covariance_type: str, shift: np.ndarray
) -> tuple[_Expanded | _Whitened, np.ndarray]:
    """The joint log terms of ``params`` for features about ``shift`` (n_features,), and each mean's reach.

    The reach (n_components,) is the squared Mahalanobis distance of the shift
    from each mean. Expanded when the second moments are features and no reach
    exceeds :data:`_EXPANSION_LIMIT`; whitened otherwise. Raises ValueError
    naming ``covariances`` if one is not positive definite.
    """
    weights, means = params["weights"], params["means"]
    n_components, n_features = means.shape
    inverse, log_det = _INVERSE_FACTORS[covariance_type](params["covariances"], n_components, n_features)
    with np.errstate(divide="ignore"):
        constant = np.log(weights) - 0.5 * (n_features * np.log(2 * np.pi) + log_det)
    offsets = np.einsum("kde,ke->kd", inverse, means - shift)
    reach = np.square(offsets).sum(axis=1)
    if _second_moments_as_features(n_features, covariance_type) and reach.max() <= _EXPANSION_LIMIT:
        precisions = np.swapaxes(inverse, 1, 2) @ inverse
        linear = np.einsum("kde,ke->kd", np.swapaxes(inverse, 1, 2), offsets)
        if covariance_type in ("diag", "spherical"):
            quadratic = -0.5 * np.diagonal(precisions, axis1=1, axis2=2)
        else:
            rows, columns = _upper_triangle(n_features)
            quadratic = -np.where(rows == columns, 0.5, 1.0) * precisions[:, rows, columns]
        return _Expanded(np.concatenate([(constant - 0.5 * reach)[:, None], linear, quadratic], axis=1)), reach
    factors = inverse[:1] if covariance_type == "tied" else inverse
    return _Whitened(factors.reshape(-1, n_features), offsets, constant), reach


def _mixture_centre(weights: np.ndarray, means: np.ndarray) -> np.ndarray:
    """The weighted mean of ``means`` (n_components, n_features), or their plain mean if ``weights`` are unusable."""
    total = weights.sum()
    if np.isfinite(total) and total > 0:
        return weights @ means / total
    return means.mean(axis=0)


def _responsibilities_in_place(joint: np.ndarray) -> float:
    """Turn joint log terms (n_components, n_rows) into responsibilities, in place; return the rows' summed log-likelihood.

    Normalised in log space: the largest term of each row is subtracted before
    exponentiating, and terms more than :data:`_NEGLIGIBLE_LOG_RATIO` below it
    get responsibility 0, as they would by underflow a little further down. A
    row whose terms are all -inf has NaN responsibilities and makes the sum -inf.
    """
    top = kernels.subtract_top(joint, _NEGLIGIBLE_LOG_RATIO)
    np.exp(joint, out=joint)
    return kernels.normalise_ratios(joint, _NEGLIGIBLE_RATIO) + top.sum()


class _Moments:
    """Running sums of the responsibilities' weighted features, block by block.

    ``features`` (n_components, n_feature_rows) sums ``resp @ features.T``;
    ``per_component`` (n_components, n_features, n_features) the lower
    triangles of the second moments when they are not features (full and
    tied above :data:`_PRODUCT_FEATURES`), else None. ``own`` maps the components whose
    moments are summed about their own centre to that centre's offset from
    the shift (n_features,), and ``own_sums`` to their first and second
    moments about it.
    """

    def __init__(self, n_components: int, n_features: int, covariance_type: str, own: Mapping[int, np.ndarray]):
        self.covariance_type = covariance_type
        self.features = np.zeros((n_components, _n_feature_rows(n_features, covariance_type)))
        as_features = _second_moments_as_features(n_features, covariance_type)
        self.per_component = None if as_features else np.zeros((n_components, n_features, n_features))
        diagonal = covariance_type in ("diag", "spherical")
        self.own = dict(own)
        self.own_sums = {
            k: (np.zeros(n_features), np.zeros(n_features if diagonal else (n_features, n_features))) for k in own
        }

    def add(self, resp: np.ndarray, features: np.ndarray) -> None:
        """Add one block: ``resp`` (n_components, n_rows), ``features`` (n_feature_rows, n_rows)."""
        # In place (BLAS dgemm, beta = 1), seen column-major: self.features^T += features @ resp^T.
        blas.dgemm(1.0, features.T, resp.T, beta=1.0, c=self.features.T, trans_a=1, overwrite_c=1)
        if self.per_component is not None:
            n_features = self.per_component.shape[1]
            y = features[1 : n_features + 1]
            scaled = np.empty_like(y)
            for k, roots in enumerate(np.sqrt(resp)):
                kernels.scaled_columns_into(y, roots, scaled)
                # A symmetric rank-n_rows update (BLAS dsyrk), half the arithmetic of a general
                # product: seen column-major, per_component[k]^T's upper triangle, its lower one.
                blas.dsyrk(1.0, scaled.T, beta=1.0, c=self.per_component[k].T, trans=1, overwrite_c=1)
        for k, offset in self.own.items():
            first, second = self.own_sums[k]
            centred = features[1 : offset.shape[0] + 1] - offset[:, None]
            weighted = centred * resp[k]
            first += weighted.sum(axis=1)
            second += (weighted * centred).sum(axis=1) if second.ndim == 1 else weighted @ centred.T

    def statistics(self, shift: np.ndarray) -> SufficientStatistics:
        """The sums as :class:`SufficientStatistics` about ``shift`` (n_features,), or the own centres."""
        n_features = shift.shape[0]
        counts, first, rest = np.split(self.features.copy(), [1, 1 + n_features], axis=1)
        if self.covariance_type in ("diag", "spherical"):
            second = rest
        elif self.per_component is not None:
            second = np.tril(self.per_component) + np.swapaxes(np.tril(self.per_component, -1), 1, 2)
        else:
            rows, columns = _upper_triangle(n_features)
            second = np.empty((rest.shape[0], n_features, n_features))
            second[:, rows, columns] = rest
            second[:, columns, rows] = rest
        for k in self.own:
            first[k], second[k] = self.own_sums[k]
        shift = _moment_shifts(shift, self.own, counts.shape[0])
        return SufficientStatistics(shift=shift, counts=counts[:, 0], first=first, second=second)


def _moment_plan(
    params: Mapping[str, np.ndarray], covariance_type: str
) -> tuple[np.ndarray, _Expanded | _Whitened, dict[int, np.ndarray]]:
    """The E-step's shift (n_features,), scorer, and the components whose moments are summed about their own mean.

    The last maps each such component (one whose reach exceeds
    :data:`_EXPANSION_LIMIT`) to its mean's offset from the shift (n_features,).
    """
    means = params["means"]
    shift = _mixture_centre(params["weights"], means)
    scorer, reach = _scorer(params, covariance_type, shift)
    return shift, scorer, {int(k): means[k] - shift for k in np.flatnonzero(reach > _EXPANSION_LIMIT)}


def _moment_shifts(shift: np.ndarray, own: Mapping[int, np.ndarray], n_components: int) -> np.ndarray:
    """``shift`` (n_features,) if ``own`` is empty, else one shift per component (n_components, n_features)."""
    if not own:
        return shift
    shifts = np.repeat(shift[None], n_components, axis=0)
    for k, offset in own.items():
        shifts[k] += offset
    return shifts


###############################################################################
# Full covariance: (n_components, n_features, n_features)


def _cholesky(matrices: np.ndarray) -> np.ndarray | None:
    """Lower Cholesky factors of ``matrices`` (..., n_features, n_features), or None if one is not positive definite."""
    try:
        factors = np.linalg.cholesky(matrices)
    except np.linalg.LinAlgError:
        return None
    return factors if np.isfinite(factors).all() else None


def _cholesky_full(covariances: np.ndarray, name: str) -> np.ndarray:
    """Lower Cholesky factors (n_components, n_features, n_features) of ``covariances``, all in one call."""
    factors = _cholesky(covariances)
    if factors is None:
        component = next((k for k, covariance in enumerate(covariances) if _cholesky(covariance) is None), None)
        raise _not_positive_definite(name, component)
    return factors


def _triangular_inverse(factor: np.ndarray) -> np.ndarray:
    """``L^-1`` of a lower triangular ``factor`` (n_features, n_features) with a positive diagonal."""
    inverse, _ = lapack.dtrtri(factor, lower=1)
    return inverse


def _inverse_factors_full(
    covariances: np.ndarray, n_components: int, n_features: int
) -> tuple[np.ndarray, np.ndarray]:
    """Inverse lower Cholesky factors ``L_k^-1`` (n_components, n_features, n_features) and ``log |Sigma_k|`` (n_components,)."""
    factors = _cholesky_full(covariances, "covariances")
    inverse = np.stack([_triangular_inverse(factor) for factor in factors])
    return inverse, 2 * np.log(np.diagonal(factors, axis1=1, axis2=2)).sum(axis=1)


def _covariances_full(
    scatter: np.ndarray, nk: np.ndarray, deviation: np.ndarray, prior: ResolvedGaussianPrior | None
) -> np.ndarray:
    """Covariances (n_components, n_features, n_features), before ``reg_covar``.

    MLE: ``S_k / n_k``. MAP: ``(Psi + S_k + c_k (xbar_k - m)(xbar_k - m)^T) / (nu + n_k + d + 2)``
    with ``c_k = kappa n_k / (kappa + n_k)``. ``scatter`` holds ``S_k``, the
    responsibility-weighted scatter about ``xbar_k`` (n_components,
    n_features, n_features; see :meth:`SufficientStatistics.scatter`), ``nk``
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
    factor = _cholesky(covariance)
    if factor is None:
        raise _not_positive_definite(name, None)
    return factor


def _inverse_factors_tied(
    covariance: np.ndarray, n_components: int, n_features: int
) -> tuple[np.ndarray, np.ndarray]:
    """The shared ``L^-1`` and ``log |Sigma|``, repeated for every component; see :func:`_inverse_factors_full`."""
    factor = _cholesky_tied(covariance, "covariances")
    inverse = _triangular_inverse(factor)
    log_det = 2 * np.log(np.diag(factor)).sum()
    return np.broadcast_to(inverse, (n_components, n_features, n_features)), np.full(n_components, log_det)

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


def _inverse_factors_diag(
    variances: np.ndarray, n_components: int, n_features: int
) -> tuple[np.ndarray, np.ndarray]:
    """Diagonal ``L_k^-1`` (n_components, n_features, n_features) and ``log |Sigma_k|`` for ``variances`` (n_components, n_features)."""
    variances = _check_variances(variances, "covariances")
    return np.eye(n_features) / np.sqrt(variances)[:, None, :], np.log(variances).sum(axis=1)

def _covariances_diag(
    scatter: np.ndarray, nk: np.ndarray, deviation: np.ndarray, prior: ResolvedGaussianPrior | None
) -> np.ndarray:
    """Variances (n_components, n_features), before ``reg_covar``.

    MLE: ``S_kjj / n_k``. MAP, each variance with an InvGamma(nu / 2, Psi_jj / 2)
    prior and ``mu_kj ~ N(m_j, sigma2_kj / kappa)``:
    ``(Psi_jj + S_kjj + c_k (xbar_kj - m_j)^2) / (nu + n_k + 3)`` with
    ``c_k = kappa n_k / (kappa + n_k)``. ``scatter`` holds the diagonals
    ``S_kjj`` (n_components, n_features; see :meth:`SufficientStatistics.scatter`), the
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


def _inverse_factors_spherical(
    variances: np.ndarray, n_components: int, n_features: int
) -> tuple[np.ndarray, np.ndarray]:
    """As :func:`_inverse_factors_diag`, for one variance per component (n_components,)."""
    return _inverse_factors_diag(np.broadcast_to(variances[:, None], (n_components, n_features)), n_components, n_features)

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
# Dispatch on the covariance type

_CHECK_COVARIANCES = {
    "full": _cholesky_full,
    "tied": _cholesky_tied,
    "diag": _check_variances,
    "spherical": _check_variances,
}
_INVERSE_FACTORS = {
    "full": _inverse_factors_full,
    "tied": _inverse_factors_tied,
    "diag": _inverse_factors_diag,
    "spherical": _inverse_factors_spherical,
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


def _joint_blocks(x: np.ndarray, shift: np.ndarray, scorer: _Expanded | _Whitened, covariance_type: str):
    """For each block of rows of ``x`` (n_samples, n_features): its slice, its joint log terms (n_components, n_rows) and its features."""
    width = max(scorer.width, _n_feature_rows(x.shape[1], covariance_type))
    for rows in _row_blocks(x.shape[0], width):
        features = _features(x, rows, shift, covariance_type)
        yield rows, scorer.joint(features), features


def log_joint(
    x: np.ndarray, weights: np.ndarray, means: np.ndarray, covariances: np.ndarray, covariance_type: str
) -> np.ndarray:
    """``log weights[k] + log N(x[i] | means[k], Sigma_k)``, shape (n_samples, n_components).

    ``x`` (n_samples, n_features), ``weights`` (n_components,), ``means``
    (n_components, n_features); ``covariances`` shaped by ``covariance_type``.
    """
    params = {"weights": weights, "means": means, "covariances": covariances}
    shift, scorer, _ = _moment_plan(params, covariance_type)
    joint = np.empty((x.shape[0], weights.shape[0]), order="F")
    for rows, block, _ in _joint_blocks(x, shift, scorer, covariance_type):
        joint[rows] = block.T
    return joint


def log_responsibilities(params: Mapping[str, np.ndarray], *, x: np.ndarray, covariance_type: str) -> np.ndarray:
    """Log responsibilities ``log p(z_i = k | x_i, params)``, shape (n_samples, n_components), in Fortran order.

    ``x`` (n_samples, n_features). Rows go in blocks, as in :func:`e_step`.
    """
    shift, scorer, _ = _moment_plan(params, covariance_type)
    log_resp = np.empty((x.shape[0], params["weights"].shape[0]), order="F")
    for rows, joint, _ in _joint_blocks(x, shift, scorer, covariance_type):
        with np.errstate(under="ignore", invalid="ignore"):
            joint -= special.logsumexp(joint, axis=0)
        log_resp[rows] = joint.T
    return log_resp


def e_step(
    params: dict[str, np.ndarray],
    *,
    x: np.ndarray,
    covariance_type: str,
    prior: ResolvedGaussianPrior | None,
) -> tuple[SufficientStatistics, float]:
    """The expected sufficient statistics and the objective at ``params``, in one pass over ``x``.

    ``x`` (n_samples, n_features) goes in blocks of rows (see
    :data:`_BLOCK_FLOATS`): each block's responsibilities are computed in log
    space, summed into the statistics and dropped, so memory is one block's
    temporaries whatever n_samples. The moments are summed about the mixture's mean, and those of
    a component whose mean is far from it (see :data:`_EXPANSION_LIMIT`) about
    that mean. The objective is the log-likelihood of all rows, plus the log
    prior density when ``prior`` is given.
    """
    shift, scorer, own = _moment_plan(params, covariance_type)
    moments = _Moments(*params["means"].shape, covariance_type, own)
    log_likelihood = 0.0
    for _, joint, features in _joint_blocks(x, shift, scorer, covariance_type):
        log_likelihood += _responsibilities_in_place(joint)
        moments.add(joint, features)
    objective = float(log_likelihood)
    if prior is not None:
        objective += prior.log_density(params, covariance_type)
    return moments.statistics(shift), objective


def sufficient_statistics(resp: np.ndarray, *, x: np.ndarray, covariance_type: str) -> SufficientStatistics:
    """The statistics of given responsibilities ``resp`` (n_samples, n_components) on ``x`` (n_samples, n_features).

    About the mean of ``x``; rows go in blocks, as in :func:`e_step`.
    """
    shift = x.mean(axis=0)
    moments = _Moments(resp.shape[1], x.shape[1], covariance_type, {})
    for rows in _row_blocks(x.shape[0], _n_feature_rows(x.shape[1], covariance_type)):
        moments.add(resp[rows].T, _features(x, rows, shift, covariance_type))
    return moments.statistics(shift)


def m_step(
    statistics: SufficientStatistics,
    *,
    covariance_type: str,
    prior: ResolvedGaussianPrior | None,
    reg_covar: float,
) -> dict[str, np.ndarray]:
    """Parameters maximising the expected complete-data objective, plus ``reg_covar``.

    With expected counts ``n_k`` and weighted means ``xbar_k`` from
    ``statistics``, the MLE is ``weights = n_k / n``, ``means = xbar_k``; with a
    prior the update is the exact posterior mode:
    ``weights = (n_k + alpha - 1) / (n + K (alpha - 1))``,
    ``means = (n_k xbar_k + kappa m) / (n_k + kappa)``; the covariances are
    given per type (``_covariances_full`` and siblings) from the scatter about
    ``xbar_k``.
    """
    nk = statistics.counts + _EMPTY
    centres = statistics.shift + statistics.first / nk[:, None]
    scatter = statistics.scatter(centres)
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


@dataclass(frozen=True, repr=False)
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

    def _described(self) -> str:
        """What was fitted, for the repr: the number of components, the covariance type and the data's shape."""
        n_samples, n_features = self.responsibilities.shape[0], self.params["means"].shape[1]
        shape = f"{n_samples} rows x {n_features} features"
        return f"{super()._described()}, covariance_type={self.covariance_type!r}, {shape}"

    def _checked(self, x) -> np.ndarray:
        """New data ``x`` as (n_samples, n_features), with this fit's number of features."""
        x = _check_x(x, nan_remedy="scoring and prediction take complete rows only")
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
        return np.exp(log_responsibilities(self.params, x=self._checked(x), covariance_type=self.covariance_type))

    def predict(self, x) -> np.ndarray:
        """The most probable component of every row of ``x`` (n_samples, n_features), shape (n_samples,)."""
        return np.argmax(self.predict_proba(x), axis=1)

    @property
    def collapsed_components(self) -> tuple[int, ...]:
        """Components of an MLE whose covariance rests on too few rows to be the data's, shape-aware.

        A component's own covariance needs more expected rows than it has
        free dimensions: d + 1 for full, 2 for diag and spherical (a variance
        from one row is 0, and ``reg_covar`` is then all there is). A tied
        covariance is pooled over every row, so only an empty component
        collapses. A MAP's covariances rest on the prior too, so it has none.
        """
        if self.objective_name != "log_likelihood":
            return ()
        n_features = self.params["means"].shape[1]
        needed = {"full": n_features + 1, "tied": 1, "diag": 2, "spherical": 2}[self.covariance_type]
        expected_rows = self.responsibilities.sum(axis=0)
        return tuple(int(k) for k in np.flatnonzero(expected_rows < needed - _COLLAPSE_SLACK))

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


# What the NaN error of :func:`_check_x` advises when fitting.
_FIT_NAN_REMEDY = 'pass missing="em" to fit them as missing values by EM'


def _missing_as_nan(x) -> np.ndarray:
    """``x`` as an array in which every missing cell is NaN: a masked cell, or pandas' ``pd.NA``.

    ``np.asarray`` would drop a mask and keep the masked values (an outlier
    hidden by its mask would be fitted), and turn ``pd.NA`` into objects.
    """
    if np.ma.isMaskedArray(x):
        return np.ma.filled(x.astype(float), np.nan)
    if hasattr(x, "to_numpy") and hasattr(x, "dtypes" if hasattr(x, "columns") else "dtype"):
        try:
            return x.to_numpy(dtype=float, na_value=np.nan)
        except (TypeError, ValueError):
            return np.asarray(x)
    return np.asarray(x)


def _check_x(x, missing: str = "error", nan_remedy: str = _FIT_NAN_REMEDY) -> np.ndarray:
    """A copy of ``x`` as a float array of shape (n_samples, n_features); 1-D means one feature.

    Every value must be finite, except that NaN marks a missing value when
    ``missing`` is "em"; the error for a NaN ends with ``nan_remedy``. The
    copy is column-major (Fortran order): the E-step reads each feature's
    values of a block of rows contiguously, which made an E-step at d = 2
    about a quarter faster than on row-major rows.
    """
    try:
        array = _missing_as_nan(x)
    except ValueError:
        raise ValueError("x: expected a rectangular array of numbers") from None
    if array.dtype.kind not in "biuf":
        raise ValueError(f"x: expected numbers, got an array of dtype {array.dtype}")
    if array.ndim not in (1, 2):
        raise ValueError(f"x: expected a 1-D or 2-D array, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"x: no data given (shape {array.shape})")
    array = np.array(array.reshape(array.shape[0], -1), dtype=float, order="F")
    nan = np.isnan(array)
    if missing == "error" and nan.any():
        row, column = np.argwhere(nan)[0]
        raise ValueError(
            f"x: contains NaN at row {row}, column {column} ({nan.sum()} NaN cells, in rows "
            f"{_listed(np.flatnonzero(nan.any(axis=1)))} and columns {_listed(np.flatnonzero(nan.any(axis=0)))}); "
            f"{nan_remedy}"
        )
    if np.isinf(array).any():
        row, column = np.argwhere(np.isinf(array))[0]
        raise ValueError(f"x: contains inf at row {row}, column {column}")
    return array


def _spread_limits(n_samples: int, n_features: int) -> tuple[float, float]:
    """The range a non-constant column of x may span (largest minus smallest value).

    EM squares the rows' deviations and sums them over all n_samples *
    n_features cells: a spread s gives variances near s^2 and sums up to
    n_samples n_features s^2, which must stay 100 times below float64's
    largest number, and s^2 must stay 1e8 above its smallest normal number,
    below which precision is lost. Beyond them, k-means seeding crashed
    (spread 1e155) and EM returned NaN (1e200, and 1e-160 without
    ``reg_covar``).
    """
    info = np.finfo(float)
    return float(np.sqrt(info.tiny) * 1e4), float(np.sqrt(info.max / (n_samples * n_features)) / 10)


def _scale_error(spread: np.ndarray, n_samples: int) -> ValueError | None:
    """The ValueError for the first column whose ``spread`` (n_features,) is outside :func:`_spread_limits`, or None.

    ``n_samples`` is the number of rows the spreads are over.
    """
    lowest, highest = _spread_limits(n_samples, spread.shape[0])
    outside = (spread > 0) & ((spread < lowest) | (spread > highest))
    if not outside.any():
        return None
    column = int(np.flatnonzero(outside)[0])
    return ValueError(
        f"x: column {column} spans {spread[column]:.3g}, outside [{lowest:.3g}, {highest:.3g}] for "
        f"{n_samples} rows: EM's variances, squares of such spreads, and their sums over the rows would "
        "overflow or lose their precision; rescale x (divide each column by its standard deviation, say)"
    )


def _check_rows(n_samples: int) -> None:
    """One row gives no covariance at all."""
    if n_samples < 2:
        raise ValueError(f"x: a covariance needs at least 2 rows, got {n_samples}")


def _constant_column(spread: np.ndarray, values: np.ndarray) -> str | None:
    """What to say of x's first constant column, or None if there is none.

    ``spread`` (n_features,) is each column's largest minus smallest value,
    ``values`` (n_features,) any one row of x.
    """
    constant = np.flatnonzero(spread == 0)
    if not constant.size:
        return None
    column = int(constant[0])
    if spread.shape[0] == 1:
        return f"every value is {values[column]:g}"
    return f"column {column} is constant ({values[column]:g})"


def _constant_column_error(what: str, n_features: int, *, prior_allowed: bool) -> ValueError:
    """The ValueError for a constant column (``what``, from :func:`_constant_column`) with nothing to regularise it."""
    remedy = "use reg_covar > 0"
    if prior_allowed:
        remedy += " or a prior with a scale you give (the default scale, from x's covariance, is singular too)"
    return ValueError(
        f"x: {what}, so no covariance is positive definite with reg_covar=0{' and no prior' if prior_allowed else ''}; "
        f"{'drop the column, or ' if n_features > 1 else ''}{remedy}"
    )


def _check_scale(x: np.ndarray, *, reg_covar: float, regularised: bool) -> None:
    """Check ``x`` (n_samples, n_features) can give covariances; warn where they rest on regularisation alone.

    One row gives no covariance at all, and a column whose spread is outside
    :func:`_spread_limits` gives variances that float64 cannot hold. A
    constant column has zero variance in every component, so only
    ``reg_covar`` or the prior (``regularised``) keeps the covariances
    positive definite. A ``reg_covar`` above a thousandth of a column's
    variance outweighs the data in that column.
    """
    _check_rows(x.shape[0])
    with np.errstate(over="ignore"):
        spread = np.ptp(x, axis=0)
    error = _scale_error(spread, x.shape[0])
    if error is not None:
        raise error
    constant = _constant_column(spread, x[0])
    if constant is not None:
        if not regularised:
            raise _constant_column_error(constant, x.shape[1], prior_allowed=True)
        warnings.warn(
            f"x: {constant}; its variance in every component is the regularisation's alone"
            + (" and it says nothing about the components: drop it if that is not intended" if x.shape[1] > 1 else ""),
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


# A start's mean may lie at most this many times the data's largest column spread
# outside the range of the data. The E-step takes the rows' deviations from a point
# between the means; a mean far away drags that point away from the rows, and
# rounding swamps them: the first objective was off by 1e-10 (relative) with a mean
# 1e8 spreads away, 3e-6 at 1e13 and 0.4 at 1e20, yet the fit reported convergence.
_INIT_REACH = 1e6


def _check_init(
    init, x: np.ndarray, n_components: int | None, covariance_type: str
) -> dict[str, np.ndarray]:
    """The user's start: ``means`` and ``covariances`` required, ``weights`` equal unless given.

    ``x`` (n_samples, n_features) may have no rows, and then the means are not
    checked against it (see :data:`_INIT_REACH`); ``n_components`` None takes
    as many components as ``init`` has means.
    """
    init = check_init_mapping(init, ("means", "covariances"), ("weights",))
    n_features = x.shape[1]
    means = _as_float_array(init["means"], "init['means']")
    if n_components is None and means.ndim == 2 and means.shape[0] > 0:
        n_components = means.shape[0]
    if means.shape != (n_components, n_features):
        expected = ("n_components", n_features) if n_components is None else (n_components, n_features)
        raise ValueError(f"init['means']: expected shape {expected}, got {means.shape}")
    weights = init.get("weights")
    weights = (
        np.full(n_components, 1.0 / n_components)
        if weights is None
        else check_simplex(weights, "init['weights']", (n_components,))
    )
    lowest, highest = (x.min(axis=0), x.max(axis=0)) if x.shape[0] else (0.0, 0.0)
    spread = np.max(highest - lowest)
    if spread > 0:
        outside = np.maximum(lowest - means, means - highest).max(axis=1)
        far = np.flatnonzero(outside > _INIT_REACH * spread)
        if far.size:
            raise ValueError(
                f"init['means']: component {far[0]}'s mean lies {outside[far[0]]:.3g} outside the range of x, "
                f"more than {_INIT_REACH:g} times x's largest column spread ({spread:.3g}), where rounding "
                "swamps the data; start nearer the data"
            )
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
    start_from,
    rng: np.random.Generator,
) -> list[dict[str, np.ndarray]]:
    """``n_init`` starts: K distinct rows of ``x`` (n_samples, n_features) as centres, rows to the nearest, one M-step.

    "kmeans++" picks the centres by k-means++ seeding (SciPy's ``kmeans2``
    labels every row by its nearest seed before its first update), anything
    else uniformly among the distinct rows. ``start_from`` maps one-hot
    responsibilities (n_samples, n_components) to parameters.
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
        starts.append(start_from(np.eye(n_components)[labels]))
    return starts


def _warn_collapsed_components(result) -> None:
    """Warn about every component of ``result`` whose covariance rests on too few rows to be the data's."""
    expected_rows = result.responsibilities.sum(axis=0)
    n_features = result.params["means"].shape[1]
    for component in result.collapsed_components:
        warnings.warn(
            f"component {component} has collapsed: it rests on {expected_rows[component]:.3g} expected rows, too "
            f"few for its own {result.covariance_type} covariance in {n_features} dimension(s), which is then "
            f"reg_covar's, not the data's (and its likelihood unbounded); decrease the number of components, "
            "use a simpler covariance_type, or give a prior",
            UserWarning,
            stacklevel=3,
        )


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
    n_init = check_n_init(n_init, n_components * (1 + n_features + n_features**2))
    reg_covar = _check_reg_covar(reg_covar)
    tol, max_iter = check_tolerances(tol, max_iter)
    if prior is not None and not isinstance(prior, GaussianMixturePrior):
        raise ValueError(f"prior: expected a GaussianMixturePrior or None, got {prior!r}")
    _check_scale(filled, reg_covar=reg_covar, regularised=reg_covar > 0 or prior is not None)
    resolved = None if prior is None else prior.resolve(filled, n_components)
    rng = check_random_state(random_state)

    bound_m_step = partial(m_step, covariance_type=covariance_type, prior=resolved, reg_covar=reg_covar)
    if isinstance(init, Mapping):
        starts = [_check_init(init, filled, n_components, covariance_type)]
    elif isinstance(init, str) and init in ("kmeans++", "random_from_data"):

        def start_from(resp):
            return bound_m_step(sufficient_statistics(resp, x=filled, covariance_type=covariance_type))

        starts = _random_starts(init, filled, n_components, n_init, start_from, rng)
    else:
        raise ValueError(
            f"init: expected 'kmeans++', 'random_from_data' or a mapping of parameters, got {described(init)}"
        )

    if np.isnan(x).any():
        patterns = missing_data.missingness_patterns(x)
        bound_e_step = partial(
            missing_data.e_step, x=x, patterns=patterns, covariance_type=covariance_type, prior=resolved
        )
        responsibilities_of = partial(
            missing_data.log_responsibilities, x=x, patterns=patterns, covariance_type=covariance_type
        )
    else:
        bound_e_step = partial(e_step, x=x, covariance_type=covariance_type, prior=resolved)
        responsibilities_of = partial(log_responsibilities, x=x, covariance_type=covariance_type)
    best, runs = fit_em(
        bound_e_step,
        bound_m_step,
        starts,
        tol=tol,
        max_iter=max_iter,
        order_key=lambda params: params["means"][:, 0],
        component_axes={"weights": 0, "means": 0, "covariances": None if covariance_type == "tied" else 0},
        accelerate=accelerate,
    )
    responsibilities = np.exp(responsibilities_of(best.params))
    _warn_empty_components(responsibilities)
    if missing == "error":
        build = GaussianMixtureResult.from_run
    else:
        build = partial(missing_data.ImputedGaussianMixtureResult.from_run, x=x)
    result = build(
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
    _warn_collapsed_components(result)
    return result
