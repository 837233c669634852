"""EM for a Gaussian mixture when some cells of ``x`` are missing (NaN).

Cells are assumed missing at random, so the objective is the observed-data
log-likelihood (plus the log prior density for a MAP fit): row ``i`` with
observed coordinates ``o`` and missing coordinates ``m`` contributes
``log sum_k weights[k] N(x_io | mu_ko, Sigma_k,oo)``, the marginal of its
observed coordinates. Rows are grouped by their NaN mask (their missingness
pattern), so each pattern's sub-matrices are factorised once per component.

Given its observed coordinates and its component ``k``, the missing part of a
row is Gaussian:

- ``E[x_m | x_o, k] = mu_km + Sigma_k,mo Sigma_k,oo^-1 (x_o - mu_ko)``,
- ``Cov[x_m | x_o, k] = Sigma_k,mm - Sigma_k,mo Sigma_k,oo^-1 Sigma_k,om``.

The E-step returns the completed sufficient statistics, on which the
complete-data M-step of :mod:`inference.em.gaussian` runs unchanged: each row
completed by its conditional mean, and the conditional covariance added to the
second moments, since
``E[x x^T | x_o, k] = E[x | x_o, k] E[x | x_o, k]^T + Cov[x | x_o, k]``. Every
covariance type works the same way: a diagonal or spherical covariance is
conditioned as the diagonal matrix it is (its ``Sigma_mo`` is zero, so the
conditional mean of a missing cell is the component mean).
"""

from dataclasses import dataclass, fields

import numpy as np
from scipy import special

from .gaussian import (
    GaussianMixtureResult,
    SufficientStatistics,
    _listed,
    _mixture_centre,
    log_joint,
)
from .priors import ResolvedGaussianPrior
from .result import _frozen

__all__ = [
    "ImputedGaussianMixtureResult",
    "check_observed",
    "conditional_moments",
    "e_step",
    "impute",
    "log_likelihoods",
    "log_responsibilities",
    "mean_imputed",
    "missingness_patterns",
]

Pattern = tuple[np.ndarray, np.ndarray]


###############################################################################
# Checks and the start


def check_observed(x: np.ndarray) -> None:
    """Raise if a row of ``x`` (n_samples, n_features) is entirely NaN, or a column has fewer than 2 values."""
    missing = np.isnan(x)
    empty_rows = np.flatnonzero(missing.all(axis=1))
    if empty_rows.size:
        raise ValueError(
            f"x: rows {_listed(empty_rows)} are entirely NaN ({empty_rows.size} in all); "
            "a row needs at least one observed value, so drop them"
        )
    empty_columns = np.flatnonzero(missing.all(axis=0))
    if empty_columns.size:
        raise ValueError(
            f"x: columns {_listed(empty_columns)} are entirely NaN; nothing is observed to estimate "
            "their means and variances from, so drop them"
        )
    lonely = np.flatnonzero((~missing).sum(axis=0) == 1)
    if x.shape[0] > 1 and lonely.size:
        raise ValueError(
            f"x: columns {_listed(lonely)} have a single observed value; a variance needs at least two, "
            "so drop them"
        )


def mean_imputed(x: np.ndarray) -> np.ndarray:
    """``x`` (n_samples, n_features) with every NaN replaced by its column's observed mean.

    Only for the starts (k-means needs complete rows) and a default prior; EM
    itself uses the conditional expectations. Without NaN this is ``x`` itself,
    not a copy.
    """
    missing = np.isnan(x)
    if not missing.any():
        return x
    return np.where(missing, np.nanmean(x, axis=0), x)


def missingness_patterns(x: np.ndarray) -> tuple[Pattern, ...]:
    """Rows of ``x`` (n_samples, n_features) grouped by their NaN mask.

    One ``(observed, rows)`` pair per distinct mask: ``observed`` (n_features,)
    is True at the observed coordinates, ``rows`` (n_rows,) the indices of
    the rows with that mask.
    """
    masks, inverse = np.unique(np.isnan(x), axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    return tuple((~mask, np.flatnonzero(inverse == pattern)) for pattern, mask in enumerate(masks))


###############################################################################
# Sub-matrices of the covariances


def _observed_covariances(covariances: np.ndarray, covariance_type: str, observed: np.ndarray) -> np.ndarray:
    """The covariances of the ``observed`` coordinates (n_features,) bool, shaped by ``covariance_type``."""
    if covariance_type == "full":
        return covariances[:, observed][:, :, observed]
    if covariance_type == "tied":
        return covariances[observed][:, observed]
    if covariance_type == "diag":
        return covariances[:, observed]
    return covariances


def _full_matrices(covariances: np.ndarray, covariance_type: str, shape: tuple[int, int]) -> np.ndarray:
    """``covariances`` of ``covariance_type`` as matrices (n_components, n_features, n_features).

    ``shape`` is (n_components, n_features).
    """
    n_components, n_features = shape
    if covariance_type == "full":
        return covariances
    if covariance_type == "tied":
        return np.broadcast_to(covariances, (n_components, n_features, n_features))
    variances = np.broadcast_to(covariances.reshape(n_components, -1), shape)
    return variances[:, :, None] * np.eye(n_features)


###############################################################################
# E- and M-steps


def _observed_log_norm(
    params: dict[str, np.ndarray], x: np.ndarray, patterns: tuple[Pattern, ...], covariance_type: str
) -> tuple[np.ndarray, np.ndarray]:
    """The joint log terms of the observed cells (n_samples, n_components) and their logsumexp (n_samples,)."""
    weights, means, covariances = params["weights"], params["means"], params["covariances"]
    joint = np.empty((x.shape[0], weights.shape[0]))
    for observed, rows in patterns:
        joint[rows] = log_joint(
            x[np.ix_(rows, observed)],
            weights,
            means[:, observed],
            _observed_covariances(covariances, covariance_type, observed),
            covariance_type,
        )
    return joint, special.logsumexp(joint, axis=1)


def log_likelihoods(
    params: dict[str, np.ndarray], *, x: np.ndarray, patterns: tuple[Pattern, ...], covariance_type: str
) -> np.ndarray:
    """Each row's log-likelihood (n_samples,) given its observed cells.

    ``x`` (n_samples, n_features) has NaN at the missing cells and
    ``patterns`` is :func:`missingness_patterns` of ``x``.
    """
    return _observed_log_norm(params, x, patterns, covariance_type)[1]


def log_responsibilities(
    params: dict[str, np.ndarray], *, x: np.ndarray, patterns: tuple[Pattern, ...], covariance_type: str
) -> np.ndarray:
    """Log responsibilities (n_samples, n_components) given each row's observed cells.

    ``x`` (n_samples, n_features) has NaN at the missing cells and
    ``patterns`` is :func:`missingness_patterns` of ``x``.
    """
    joint, log_norm = _observed_log_norm(params, x, patterns, covariance_type)
    with np.errstate(under="ignore", invalid="ignore"):
        return joint - log_norm[:, None]


def e_step(
    params: dict[str, np.ndarray],
    *,
    x: np.ndarray,
    patterns: tuple[Pattern, ...],
    covariance_type: str,
    prior: ResolvedGaussianPrior | None,
) -> tuple[SufficientStatistics, float]:
    """The completed sufficient statistics and the observed-data objective at ``params``.

    Each row of ``x`` (n_samples, n_features) is scored by the marginal
    density of its observed coordinates; ``patterns`` is
    :func:`missingness_patterns` of ``x``. The statistics are those of the
    rows completed by :func:`conditional_moments`, with the conditional
    covariances added to the second moments, about the mixture's mean. The
    objective is the observed-data log-likelihood, plus the log prior density
    when ``prior`` is given.
    """
    joint, log_norm = _observed_log_norm(params, x, patterns, covariance_type)
    with np.errstate(under="ignore"):
        resp = np.exp(joint - log_norm[:, None])
    completed, covariances = conditional_moments(params, x=x, patterns=patterns, covariance_type=covariance_type)
    shift = _mixture_centre(params["weights"], params["means"])
    centred = completed - shift
    second = np.einsum("nk,nkd,nke->kde", resp, centred, centred) + np.einsum("nk,nkde->kde", resp, covariances)
    if covariance_type in ("diag", "spherical"):
        second = np.diagonal(second, axis1=1, axis2=2).copy()
    statistics = SufficientStatistics(
        shift=shift, counts=resp.sum(axis=0), first=np.einsum("nk,nkd->kd", resp, centred), second=second
    )
    objective = float(log_norm.sum())
    if prior is not None:
        objective += prior.log_density(params, covariance_type)
    return statistics, objective


def conditional_moments(
    params: dict[str, np.ndarray],
    *,
    x: np.ndarray,
    patterns: tuple[Pattern, ...],
    covariance_type: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Every row's conditional mean and covariance given its observed cells, per component.

    ``x`` (n_samples, n_features) has NaN at the missing cells and
    ``patterns`` is :func:`missingness_patterns` of ``x``. Returns

    - ``completed`` (n_samples, n_components, n_features): ``x`` with the
      missing cells of row ``i`` replaced by ``E[x_im | x_io, k]``;
    - ``covariances`` (n_samples, n_components, n_features, n_features):
      ``Cov[x_i | x_io, k]``, which is ``Cov[x_im | x_io, k]`` in the missing
      rows and columns and zero elsewhere.

    The covariances of ``params`` must be positive definite (as the E-step checks).
    """
    means = params["means"]
    matrices = _full_matrices(params["covariances"], covariance_type, means.shape)
    n_components, n_features = means.shape
    components = np.arange(n_components)
    completed = np.repeat(x[:, None, :], n_components, axis=1)
    covariances = np.zeros((x.shape[0], n_components, n_features, n_features))
    for observed, rows in patterns:
        missing = np.flatnonzero(~observed)
        if missing.size == 0:
            continue
        observed = np.flatnonzero(observed)
        # gain[k] = Sigma_k,oo^-1 Sigma_k,om, shape (n_components, n_observed, n_missing).
        gain = np.linalg.solve(matrices[:, observed][:, :, observed], matrices[:, observed][:, :, missing])
        residuals = x[np.ix_(rows, observed)][None] - means[:, None, observed]
        conditional_means = means[:, None, missing] + residuals @ gain
        conditional_covariances = matrices[:, missing][:, :, missing] - matrices[:, missing][:, :, observed] @ gain
        completed[np.ix_(rows, components, missing)] = np.swapaxes(conditional_means, 0, 1)
        covariances[np.ix_(rows, components, missing, missing)] = conditional_covariances[None]
    return completed, covariances


###############################################################################
# Imputation and the result


def impute(
    params: dict[str, np.ndarray], resp: np.ndarray, *, x: np.ndarray, covariance_type: str
) -> tuple[np.ndarray, np.ndarray]:
    """Conditional means and variances of the missing cells of ``x`` (n_samples, n_features) under the mixture.

    ``resp`` (n_samples, n_components) are the responsibilities at
    ``params``. The mean is ``sum_k resp[i, k] E[x_ij | x_io, k]``; the
    variance, by the law of total variance,
    ``sum_k resp[i, k] (Var_k + mean_k^2) - (sum_k resp[i, k] mean_k)^2``,
    computed as ``sum_k resp[i, k] (Var_k + (mean_k - mean)^2)`` to avoid
    cancellation. Returns ``(imputed, variance)``, both (n_samples,
    n_features): ``x`` with every NaN replaced by its conditional mean, and
    the conditional variances, 0 at the observed cells.
    """
    completed, covariances = conditional_moments(
        params, x=x, patterns=missingness_patterns(x), covariance_type=covariance_type
    )
    mean = np.einsum("nk,nkd->nd", resp, completed)
    within = np.einsum("nk,nkdd->nd", resp, covariances)
    between = np.einsum("nk,nkd->nd", resp, np.square(completed - mean[:, None, :]))
    missing = np.isnan(x)
    return np.where(missing, mean, x), np.where(missing, within + between, 0.0)


@dataclass(frozen=True, repr=False)
class ImputedGaussianMixtureResult(GaussianMixtureResult):
    """A Gaussian mixture fitted to incomplete data; see :class:`GaussianMixtureResult`.

    Attributes
    ----------
    imputed : ndarray of shape (n_samples, n_features)
        The data with every NaN replaced by its conditional mean
        ``E[x_m | x_o]`` under the fitted mixture; observed cells as given.
    imputed_variance : ndarray of shape (n_samples, n_features)
        ``Var[x_m | x_o]`` under the fitted mixture at the missing cells, 0 at
        the observed ones.
    """

    imputed: np.ndarray
    imputed_variance: np.ndarray

    @classmethod
    def from_run(cls, best, runs, *, x, **kwargs):
        """Build the result, imputing the NaN cells of ``x`` at its parameters.

        See :meth:`GaussianMixtureResult.from_run`; ``x`` (n_samples,
        n_features) is the data as fitted, NaN at the missing cells.
        """
        base = GaussianMixtureResult.from_run(best, runs, **kwargs)
        imputed, variance = impute(base.params, base.responsibilities, x=x, covariance_type=base.covariance_type)
        return cls(
            **{field.name: getattr(base, field.name) for field in fields(base)},
            imputed=_frozen(imputed),
            imputed_variance=_frozen(variance),
        )

    def to_dataset(self):
        """As :meth:`EMResult.to_dataset`, plus ``imputed`` and ``imputed_variance`` along ("obs", "dim")."""
        return super().to_dataset().assign(
            imputed=(("obs", "dim"), self.imputed),
            imputed_variance=(("obs", "dim"), self.imputed_variance),
        )
