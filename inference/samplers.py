"""The NUTS implementations a comparison can sample with, checked without importing PyMC."""

import importlib.util

__all__ = ["NUTS_SAMPLERS", "check_nuts_sampler"]

# The NUTS implementations pm.sample can run, PyMC's own first (the default). The
# others are optional packages, not dependencies. On the default Gaussian data and
# on a 2-D full-covariance mixture, nutpie gave about PyMC's ESS per second and
# numpyro 2.2 and 2.6 times as much (benchmarks/RESULTS.md).
NUTS_SAMPLERS = ("pymc", "nutpie", "numpyro", "blackjax")


def check_nuts_sampler(nuts_sampler) -> str:
    """``nuts_sampler`` if it is one of :data:`NUTS_SAMPLERS` and installed; ValueError naming it otherwise."""
    if nuts_sampler not in NUTS_SAMPLERS:
        raise ValueError(f"nuts_sampler: expected one of {list(NUTS_SAMPLERS)}, got {nuts_sampler!r}")
    if nuts_sampler != "pymc" and importlib.util.find_spec(nuts_sampler) is None:
        raise ValueError(f"nuts_sampler: {nuts_sampler!r} is not installed; install it (pip install {nuts_sampler}) or use 'pymc'")
    return nuts_sampler
