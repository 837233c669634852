"""Hand-written EM for mixture models: NumPy and SciPy only."""

# The loop and its result
from .loop import ConvergenceWarning, fit_em, run_em
from .result import EMResult, Restart

# Priors shared with the PyMC models
from .priors import BetaDirichletPrior, GaussianMixturePrior, ResolvedGaussianPrior

# Models
from .binomial import fit_binomial_mixture
from .gaussian import GaussianMixtureResult, fit_gaussian_mixture

__all__ = [
    "BetaDirichletPrior",
    "ConvergenceWarning",
    "EMResult",
    "GaussianMixturePrior",
    "GaussianMixtureResult",
    "ResolvedGaussianPrior",
    "Restart",
    "fit_binomial_mixture",
    "fit_gaussian_mixture",
    "fit_em",
    "run_em",
]
