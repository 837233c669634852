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


def _log_gaussian_full(x: np.ndarray, means: np.ndarray, covariances: np.ndarray, name: str) -> np.ndarray:
    """``log N(x[i] | means[k], covariances[k])``, shape (n_samples, n_components).

    ``x`` (n_samples, n_features), ``means`` (n_components, n_features),
    ``covariances`` (n_components, n_features, n_features).
    """
    factors = _cholesky_full(covariances, name)
    log_prob = np.empty((x.shape[0], means.shape[0]))
    for k, (mean, factor) in enumerate(zip(means, factors)):
        whitened = linalg.solve_triangular(factor, (x - mean).T, lower=True)
        log_det = 2 * np.log(np.diag(factor)).sum()
        log_prob[:, k] = -0.5 * (x.shape[1] * np.log(2 * np.pi) + log_det + np.square(whitened).sum(axis=0))
    return log_prob


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


def _log_gaussian_tied(x: np.ndarray, means: np.ndarray, covariance: np.ndarray, name: str) -> np.ndarray:
    """``log N(x[i] | means[k], covariance)``, shape (n_samples, n_components).

    ``x`` (n_samples, n_features), ``means`` (n_components, n_features),
    ``covariance`` (n_features, n_features).
    """
    factor = _cholesky_tied(covariance, name)
    log_det = 2 * np.log(np.diag(factor)).sum()
    log_prob = np.empty((x.shape[0], means.shape[0]))
    for k, mean in enumerate(means):
        whitened = linalg.solve_triangular(factor, (x - mean).T, lower=True)
        log_prob[:, k] = -0.5 * (x.shape[1] * np.log(2 * np.pi) + log_det + np.square(whitened).sum(axis=0))
    return log_prob


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


def _log_gaussian_diag(x: np.ndarray, means: np.ndarray, variances: np.ndarray, name: str) -> np.ndarray:
    """``log N(x[i] | means[k], diag(variances[k]))``, shape (n_samples, n_components).

    ``x`` (n_samples, n_features), ``means`` and ``variances`` (n_components,
    n_features).
    """
    _check_variances(variances, name)
    whitened = (x[:, None, :] - means[None, :, :]) / np.sqrt(variances)[None, :, :]
    log_det = np.log(variances).sum(axis=1)
    return -0.5 * (x.shape[1] * np.log(2 * np.pi) + log_det + np.square(whitened).sum(axis=2))


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


def _log_gaussian_spherical(x: np.ndarray, means: np.ndarray, variances: np.ndarray, name: str) -> np.ndarray:
    """``log N(x[i] | means[k], variances[k] I)``, shape (n_samples, n_components).

    ``x`` (n_samples, n_features), ``means`` (n_components, n_features),
    ``variances`` (n_components,).
    """
    return _log_gaussian_diag(x, means, np.broadcast_to(variances[:, None], means.shape), name)


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


###############################################################################
# Dispatch on the covariance type

_CHECK_COVARIANCES = {
    "full": _cholesky_full,
    "tied": _cholesky_tied,
    "diag": _check_variances,
    "spherical": _check_variances,
}
_LOG_GAUSSIAN = {
    "full": _log_gaussian_full,
    "tied": _log_gaussian_tied,
    "diag": _log_gaussian_diag,
    "spherical": _log_gaussian_spherical,
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
    with np.errstate(divide="ignore"):
        log_weights = np.log(weights)
    return log_weights + _LOG_GAUSSIAN[covariance_type](x, means, covariances, "covariances")


def e_step(
    params: dict[str, np.ndarray],
    *,
    x: np.ndarray,
    covariance_type: str,
    prior: ResolvedGaussianPrior | None,
) -> tuple[np.ndarray, float]:
    """Log responsibilities (n_samples, n_components) and the objective at ``params``.

    The objective is the log-likelihood of all rows of ``x`` (n_samples,
    n_features), plus the log prior density when ``prior`` is given.
    """
    joint = log_joint(x, params["weights"], params["means"], params["covariances"], covariance_type)
    return _normalise(joint, params, covariance_type, prior)


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
    nk = resp.sum(axis=0) + _EMPTY
    centres = (resp.T @ x) / nk[:, None]
    scatter = _SCATTER[covariance_type](resp, x[:, None, :] - centres[None, :, :])
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


def _check_no_constant_column(x: np.ndarray) -> None:
    """Raise if a column of ``x`` (n_samples, n_features), n_features > 1, is constant."""
    if x.shape[1] > 1 and (np.ptp(x, axis=0) == 0).any():
        column = np.flatnonzero(np.ptp(x, axis=0) == 0)[0]
        raise ValueError(
            f"x: column {column} is constant ({x[0, column]:g}), so no covariance is positive definite; "
            "drop it or add noise"
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
    if distinct.shape[0] < n_components:
        raise ValueError(f"n_components: {n_components} components need as many distinct rows, got {distinct.shape[0]}")
    starts = []
    for _ in range(n_init):
        if init == "kmeans++":
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
    _check_no_constant_column(filled)
    n_samples, n_features = x.shape
    n_components = check_n_components(n_components, n_samples, "rows")
    covariance_type = _check_covariance_type(covariance_type)
    n_init = check_positive_int(n_init, "n_init")
    reg_covar = _check_reg_covar(reg_covar)
    tol, max_iter = check_tolerances(tol, max_iter)
    if prior is not None and not isinstance(prior, GaussianMixturePrior):
        raise ValueError(f"prior: expected a GaussianMixturePrior or None, got {prior!r}")
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
        steps = (partial(e_step, x=x, covariance_type=covariance_type, prior=resolved), bound_m_step)
    best, runs = fit_em(
        *steps,
        starts,
        tol=tol,
        max_iter=max_iter,
        order_key=lambda params: params["means"][:, 0],
        component_axes={"weights": 0, "means": 0, "covariances": None if covariance_type == "tied" else 0},
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
