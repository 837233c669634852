"""Hand-written EM for mixture models: NumPy and SciPy only."""

# The loop and its result
from .loop import ConvergenceWarning, fit_em, run_em
from .result import EMResult, Restart

# Priors shared with the PyMC models
from .priors import BetaDirichletPrior, GaussianMixturePrior, ResolvedGaussianPrior

# Models
from .binomial import fit_binomial_mixture
from .gaussian import GaussianMixtureResult, fit_gaussian_mixture
from .missing import ImputedGaussianMixtureResult

# Standard errors
from .information import (
    bootstrap_standard_errors_binomial,
    bootstrap_standard_errors_gaussian,
    observed_information_binomial,
    observed_information_gaussian,
    standard_errors_binomial,
    standard_errors_gaussian,
    wald_interval,
)

__all__ = [
    "BetaDirichletPrior",
    "ConvergenceWarning",
    "EMResult",
    "GaussianMixturePrior",
    "GaussianMixtureResult",
    "ImputedGaussianMixtureResult",
    "ResolvedGaussianPrior",
    "Restart",
    "bootstrap_standard_errors_binomial",
    "bootstrap_standard_errors_gaussian",
    "fit_binomial_mixture",
    "fit_gaussian_mixture",
    "fit_em",
    "observed_information_binomial",
    "observed_information_gaussian",
    "run_em",
    "standard_errors_binomial",
    "standard_errors_gaussian",
    "wald_interval",
]
