"""The NUTS implementations a comparison can sample with, checked without importing PyMC."""

import importlib.util

__all__ = ["DEFAULT_NUTS_SAMPLER", "NUTS_SAMPLERS", "check_nuts_sampler"]

# The NUTS implementations a comparison can run, the default first. On two cores,
# chains started at EM's MAP, counting compilation, numpyro with a dense mass
# matrix gave the most ESS per second on four Gaussian mixtures, every run
# reliable; PyMC's own and nutpie compile with numba, minutes the first time
# (benchmarks/RESULTS.md). nutpie and blackjax are optional packages, not dependencies.
NUTS_SAMPLERS = ("numpyro", "pymc", "nutpie", "blackjax")
DEFAULT_NUTS_SAMPLER = NUTS_SAMPLERS[0]


def check_nuts_sampler(nuts_sampler: str | None, *, discrete: bool = False) -> str:
    """The NUTS implementation to run: ``nuts_sampler``, checked, or the default for the model if None.

    ``discrete`` says the model has discrete free variables (latent
    assignments), which only PyMC's compound step samples: the default is then
    "pymc" and any other choice is refused. Otherwise the default is
    :data:`DEFAULT_NUTS_SAMPLER`. ValueError naming ``nuts_sampler`` if it is
    not one of :data:`NUTS_SAMPLERS`, is not installed, or cannot sample
    discrete variables.
    """
    if nuts_sampler is None:
        return "pymc" if discrete else DEFAULT_NUTS_SAMPLER
    if nuts_sampler not in NUTS_SAMPLERS:
        raise ValueError(f"nuts_sampler: expected one of {list(NUTS_SAMPLERS)} or None, got {nuts_sampler!r}")
    if discrete and nuts_sampler != "pymc":
        raise ValueError(
            f"nuts_sampler: {nuts_sampler!r} cannot sample the discrete latent assignments, which need PyMC's "
            "compound step; use 'pymc' or leave the default (None)"
        )
    if nuts_sampler != "pymc" and importlib.util.find_spec(nuts_sampler) is None:
        raise ValueError(f"nuts_sampler: {nuts_sampler!r} is not installed; install it (pip install {nuts_sampler}) or use 'pymc'")
    return nuts_sampler
