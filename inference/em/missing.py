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

The M-step is the complete-data M-step of :mod:`inference.em.gaussian` on the
completed sufficient statistics: each row completed by its conditional mean,
and the conditional covariance added to the scatter, since
``E[x x^T | x_o, k] = E[x | x_o, k] E[x | x_o, k]^T + Cov[x | x_o, k]``. Every
covariance type works the same way: a diagonal or spherical covariance is
conditioned as the diagonal matrix it is (its ``Sigma_mo`` is zero, so the
conditional mean of a missing cell is the component mean).
"""

from collections import deque
from dataclasses import dataclass, fields

import numpy as np

from .gaussian import (
    _EMPTY,
    _SCATTER,
    GaussianMixtureResult,
    _listed,
    _maximise,
    _normalise,
    log_joint,
)
from .priors import ResolvedGaussianPrior
from .result import _frozen

__all__ = [
    "ImputedGaussianMixtureResult",
    "bind_steps",
    "check_observed",
    "conditional_moments",
    "e_step",
    "impute",
    "m_step",
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
    itself uses the conditional expectations. Without NaN this is a copy of ``x``.
    """
    return np.where(np.isnan(x), np.nanmean(x, axis=0), x)


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


def e_step(
    params: dict[str, np.ndarray],
    *,
    x: np.ndarray,
    patterns: tuple[Pattern, ...],
    covariance_type: str,
    prior: ResolvedGaussianPrior | None,
) -> tuple[np.ndarray, float]:
    """Log responsibilities (n_samples, n_components) and the observed-data objective at ``params``.

    Each row of ``x`` (n_samples, n_features) is scored by the marginal
    density of its observed coordinates; ``patterns`` is
    :func:`missingness_patterns` of ``x``. The objective is the observed-data
    log-likelihood, plus the log prior density when ``prior`` is given.
    """
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
    return _normalise(joint, params, covariance_type, prior)


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


def m_step(
    resp: np.ndarray,
    completed: np.ndarray,
    covariances: np.ndarray,
    *,
    covariance_type: str,
    prior: ResolvedGaussianPrior | None,
    reg_covar: float,
) -> dict[str, np.ndarray]:
    """Parameters maximising the expected complete-data objective, plus ``reg_covar``.

    ``resp`` (n_samples, n_components); ``completed`` (n_samples,
    n_components, n_features) and ``covariances`` (n_samples, n_components,
    n_features, n_features) are :func:`conditional_moments` at the parameters
    that gave ``resp``. The update is the complete-data one with
    ``xbar_k = sum_i resp[i, k] completed[i, k] / n_k`` and the scatter of the
    completed rows about ``xbar_k`` plus ``sum_i resp[i, k] covariances[i, k]``.
    """
    nk = resp.sum(axis=0) + _EMPTY
    centres = np.einsum("nk,nkd->kd", resp, completed) / nk[:, None]
    conditional = np.einsum("nk,nkde->kde", resp, covariances)
    if covariance_type in ("diag", "spherical"):
        conditional = np.diagonal(conditional, axis1=1, axis2=2)
    scatter = _SCATTER[covariance_type](resp, completed - centres[None, :, :]) + conditional
    return _maximise(nk, centres, scatter, covariance_type=covariance_type, prior=prior, reg_covar=reg_covar)


def bind_steps(x: np.ndarray, *, covariance_type: str, prior: ResolvedGaussianPrior | None, reg_covar: float):
    """The ``(e_step, m_step)`` pair that :func:`~inference.em.loop.fit_em` iterates on incomplete ``x``.

    ``x`` (n_samples, n_features) has NaN at the missing cells. The loop hands
    the M-step only the responsibilities, but the completed statistics also
    need the conditional moments at the parameters of the E-step that gave
    them. So the bound E-step keeps the parameters and log responsibilities
    of its last three calls (an accelerated loop evaluates an extrapolated point
    and one EM step from it between an E-step and the M-step that uses it) and the bound M-step reads
    the one whose responsibilities it was given; it refuses any others.
    """
    patterns = missingness_patterns(x)
    recent = deque(maxlen=3)

    def bound_e_step(params):
        log_resp, objective = e_step(params, x=x, patterns=patterns, covariance_type=covariance_type, prior=prior)
        recent.append((params, log_resp))
        return log_resp, objective

    def bound_m_step(resp):
        for params, log_resp in reversed(recent):
            if np.array_equal(resp, np.exp(log_resp)):
                break
        else:
            raise RuntimeError("resp: not the responsibilities of the last E-step of this pair")
        moments = conditional_moments(params, x=x, patterns=patterns, covariance_type=covariance_type)
        return m_step(resp, *moments, covariance_type=covariance_type, prior=prior, reg_covar=reg_covar)

    return bound_e_step, bound_m_step


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


@dataclass(frozen=True)
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
