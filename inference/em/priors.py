"""Conjugate priors shared by EM's MAP fits and the PyMC models.

A prior is a small frozen description; EM uses it for its closed-form M-step
and log density, the PyMC model factories build the same distributions from it.
"""

from dataclasses import dataclass
import numbers
import sys

import numpy as np
from scipy import stats

from .checks import _REMEDY, as_real_array, described

__all__ = ["BetaDirichletPrior", "GaussianMixturePrior", "ResolvedGaussianPrior"]


_LARGEST_FIELD = 1e12
"""The largest prior parameter (concentration, pseudo-count, degrees of freedom) accepted.

A Beta(a, a) with a = 1e12 has sd 3.5e-7 around 1/2 and a Dirichlet with that
alpha pins the weights as tightly: the prior has fixed the parameter. Beyond
it the M-steps' sums of data and pseudo-counts lose the data's digits (at
1e16 a count of 1 vanishes), and at 1e100 and above the objectives reached
1e86 to 1e187 and theta NaN.
"""


def _check_positive(value, name: str) -> None:
    """Check that the prior's field ``name`` is a real number in (0, 1e12]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"prior: {name} must be a number, got {described(value)}")
    if not 0 < value <= sys.float_info.max:
        raise ValueError(f"prior: {name} must be a finite number > 0, got {value!r}")
    if value > _LARGEST_FIELD:
        raise ValueError(
            f"prior: {name}={value:g} is beyond {_LARGEST_FIELD:g}, where the prior fixes the parameter and swamps "
            "the data's digits; fix the parameter instead, or use a smaller value"
        )


def _as_float_field(value, name: str) -> np.ndarray:
    """The prior's array field ``name`` as floats; strings, even of numbers, are refused."""
    try:
        return as_real_array(value, name)
    except ValueError:
        raise ValueError(f"prior: {name} must be an array of numbers, got {described(value)}") from None


@dataclass(frozen=True)
class BetaDirichletPrior:
    """Beta(a, b) on each coin's bias ``theta``, symmetric Dirichlet(alpha) on ``weights``.

    The MAP (posterior mode) exists in the interior only when every parameter
    is at least 1; ``a = b = alpha = 1`` is the flat prior, whose MAP is the MLE.
    """

    a: float = 2.0
    b: float = 2.0
    alpha: float = 1.0

    def __post_init__(self):
        for name in ("a", "b", "alpha"):
            value = getattr(self, name)
            _check_positive(value, name)
            if value < 1:
                raise ValueError(
                    f"prior: {name}={value!r} < 1 puts infinite density on the boundary, "
                    "so there is no MAP; use values >= 1"
                )

    def log_density(self, theta: np.ndarray, weights: np.ndarray | None) -> float:
        """Log prior density of ``theta`` (n_components,) and, unless None, ``weights`` (n_components,)."""
        total = stats.beta.logpdf(theta, self.a, self.b).sum()
        # One coin's weight is the constant 1: no density to add.
        if weights is not None and weights.size > 1:
            total += stats.dirichlet.logpdf(weights, np.full(weights.shape, self.alpha))
        return float(total)


@dataclass(frozen=True)
class GaussianMixturePrior:
    """Conjugate prior of a Gaussian mixture, resolved against the data by :meth:`resolve`.

    With ``m = mean``, ``kappa = shrinkage``, ``nu = dof`` and ``Psi = scale``:
    ``weights ~ Dirichlet(alpha)``; each covariance ``Sigma`` (one per
    component, or one shared for "tied") is InvWishart(nu, Psi) for "full" and
    "tied"; each variance is InvGamma(nu / 2, Psi_jj / 2) for "diag" and
    InvGamma(nu / 2, trace(Psi) / (2 d)) for "spherical"; each mean is
    N(m, Sigma / kappa) given its covariance. The MAP is the joint mode over
    weights, means and covariances (or variances) in this parametrisation.

    Defaults follow mclust's ``defaultPrior``: ``mean`` is the column means of
    the data, ``dof = d + 2`` and ``scale`` the sample covariance divided by
    ``n_components ** (2 / d)``.
    """

    alpha: float = 1.0
    shrinkage: float = 0.01
    mean: np.ndarray | None = None
    dof: float | None = None
    scale: np.ndarray | None = None

    def __post_init__(self):
        for name in ("alpha", "shrinkage"):
            _check_positive(getattr(self, name), name)
        if self.dof is not None and (isinstance(self.dof, bool) or not isinstance(self.dof, numbers.Real)):
            raise ValueError(f"prior: dof must be a number or None, got {self.dof!r}")
        if self.alpha < 1:
            raise ValueError(
                f"prior: alpha={self.alpha!r} < 1 puts infinite density on the boundary, "
                "so there is no MAP; use alpha >= 1"
            )

    def resolve(self, x: np.ndarray, n_components: int) -> "ResolvedGaussianPrior":
        """The prior with every default filled in from ``x`` (n_samples, n_features) or (n_samples,)."""
        x = np.asarray(x, dtype=float)
        x = x.reshape(x.shape[0], -1)
        n_samples, n_features = x.shape
        mean = x.mean(axis=0) if self.mean is None else _as_float_field(self.mean, "mean")
        dof = n_features + 2.0 if self.dof is None else float(self.dof)
        if self.scale is None:
            if n_samples < 2:
                raise ValueError("prior: the default scale needs at least 2 rows of x; pass scale")
            scale = np.cov(x, rowvar=False, ddof=1).reshape(n_features, n_features) / n_components ** (2 / n_features)
        else:
            scale = _as_float_field(self.scale, "scale")
        if mean.shape != (n_features,) or not np.isfinite(mean).all():
            raise ValueError(f"prior: mean must be finite with shape ({n_features},), got {mean.tolist()}")
        if not np.isfinite(dof) or dof <= n_features - 1:
            raise ValueError(f"prior: dof must be a finite number > d - 1 = {n_features - 1}, got {dof!r}")
        _check_positive(dof, "dof")
        if scale.shape != (n_features, n_features) or not np.isfinite(scale).all():
            raise ValueError(
                f"prior: scale must be finite with shape ({n_features}, {n_features}), got {scale.tolist()}"
            )
        if not np.allclose(scale, scale.T) or np.linalg.eigvalsh(scale)[0] <= 0:
            if self.scale is None:
                raise ValueError(
                    "prior: the default scale, x's covariance divided by n_components ** (2 / d), is singular "
                    f"(a constant column, or columns that are linear combinations of others), got {scale.tolist()}; "
                    "pass scale"
                )
            raise ValueError(f"prior: scale must be symmetric positive definite, got {scale.tolist()}")
        return ResolvedGaussianPrior(
            alpha=float(self.alpha), shrinkage=float(self.shrinkage), mean=mean, dof=dof, scale=scale
        )


@dataclass(frozen=True)
class ResolvedGaussianPrior:
    """A :class:`GaussianMixturePrior` with concrete values for one data set.

    ``mean`` has shape (n_features,), ``scale`` (n_features, n_features);
    ``alpha``, ``shrinkage`` and ``dof`` are floats.
    """

    alpha: float
    shrinkage: float
    mean: np.ndarray
    dof: float
    scale: np.ndarray

    def log_density(self, params: dict[str, np.ndarray], covariance_type: str) -> float:
        """Log prior density of ``params`` ("weights", "means", "covariances").

        ``weights`` has shape (n_components,), ``means`` (n_components,
        n_features) and ``covariances`` the shape of ``covariance_type``:
        (n_components, n_features, n_features) for "full", (n_features,
        n_features) for "tied", (n_components, n_features) for "diag",
        (n_components,) for "spherical".
        """
        weights, means, covariances = params["weights"], params["means"], params["covariances"]
        log_covariances_and_means = {
            "full": self._log_density_full,
            "tied": self._log_density_tied,
            "diag": self._log_density_diag,
            "spherical": self._log_density_spherical,
        }[covariance_type]
        total = stats.dirichlet.logpdf(weights, np.full(weights.shape, self.alpha))
        try:
            return float(total + log_covariances_and_means(means, covariances))
        except np.linalg.LinAlgError:
            # scipy's normal density refuses a covariance whose condition number
            # exceeds about 5e9, even when its Cholesky factor exists.
            raise ValueError(
                "covariances: a covariance is numerically singular (condition number beyond scipy's limit) for the "
                f"prior's normal density of the means; {_REMEDY}"
            ) from None

    def _log_density_full(self, means: np.ndarray, covariances: np.ndarray) -> float:
        total = np.sum(stats.invwishart.logpdf(np.moveaxis(covariances, 0, -1), df=self.dof, scale=self.scale))
        for mean, covariance in zip(means, covariances):
            total += stats.multivariate_normal.logpdf(mean, self.mean, covariance / self.shrinkage)
        return total

    def _log_density_tied(self, means: np.ndarray, covariance: np.ndarray) -> float:
        total = stats.invwishart.logpdf(covariance, df=self.dof, scale=self.scale)
        return total + np.sum(stats.multivariate_normal.logpdf(means, self.mean, covariance / self.shrinkage))

    def _log_density_diag(self, means: np.ndarray, variances: np.ndarray) -> float:
        total = stats.invgamma.logpdf(variances, self.dof / 2, scale=np.diag(self.scale) / 2).sum()
        return total + stats.norm.logpdf(means, self.mean, np.sqrt(variances / self.shrinkage)).sum()

    def _log_density_spherical(self, means: np.ndarray, variances: np.ndarray) -> float:
        n_features = self.mean.size
        total = stats.invgamma.logpdf(variances, self.dof / 2, scale=np.trace(self.scale) / (2 * n_features)).sum()
        return total + stats.norm.logpdf(means, self.mean, np.sqrt(variances / self.shrinkage)[:, None]).sum()
