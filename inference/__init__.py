"""em-bayes inference: hand-written EM, PyMC runners, their comparison, and scikit-learn estimators.

The EM core (:mod:`inference.em`) needs only NumPy and SciPy and is imported
eagerly; the PyMC side is imported on first use, so EM alone starts fast.
"""

import importlib

# EM
from .em import (
    BetaDirichletPrior,
    ConvergenceWarning,
    EMResult,
    GaussianMixturePrior,
    GaussianMixtureResult,
    fit_binomial_mixture,
    fit_gaussian_mixture,
)

_LAZY = {
    "BinomialMixtureEM": "estimators",
    "Comparison": "compare",
    "GaussianMixtureEM": "estimators",
    "compare_fits": "compare",
    "compare_gaussian_mixture": "compare",
    "compare_two_coins": "compare",
    "coverage_study": "coverage",
}

__all__ = [
    "BetaDirichletPrior",
    "ConvergenceWarning",
    "EMResult",
    "GaussianMixturePrior",
    "GaussianMixtureResult",
    "fit_binomial_mixture",
    "fit_gaussian_mixture",
    *_LAZY,
]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
