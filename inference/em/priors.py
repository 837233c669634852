"""Conjugate priors shared by EM's MAP fits and the PyMC models.

A prior is a small frozen description; EM uses it for its closed-form M-step
and log density, the PyMC model factories build the same distributions from it.
"""

from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["BetaDirichletPrior"]


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
            if not np.isfinite(value) or value <= 0:
                raise ValueError(f"prior: {name} must be a finite number > 0, got {value!r}")
            if value < 1:
                raise ValueError(
                    f"prior: {name}={value!r} < 1 puts infinite density on the boundary, "
                    "so there is no MAP; use values >= 1"
                )

    def log_density(self, theta: np.ndarray, weights: np.ndarray | None) -> float:
        """Log prior density of ``theta`` (n_components,) and, unless None, ``weights`` (n_components,)."""
        total = stats.beta.logpdf(theta, self.a, self.b).sum()
        if weights is not None:
            total += stats.dirichlet.logpdf(weights, np.full(weights.shape, self.alpha))
        return float(total)
