"""Evaluating a PyMC model's density at parameter values given in their natural space."""

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt

from models.datasets import simulate_coins

COIN_TRUTH = simulate_coins(300, 20, [0.3, 0.7], [0.4, 0.6], random_state=5)
"""Simulated two-coin data with known truth, shared by the comparison tests."""


def python_backend():
    """Compile with PyTensor's Python backend and no C compiler.

    The same graphs as numba's, without a cold numba compile (a minute or more
    per model on a fresh machine) or g++ builds of C thunks. Right for tests
    that evaluate a density or optimise it a few hundred times; sampling
    stays on the default backend.
    """
    return pytensor.config.change_flags(mode="FAST_COMPILE", cxx="")


def logp_at(model: pm.Model, point: dict[str, np.ndarray], vars=None) -> float:
    """``model``'s log density, without Jacobian terms, at constrained values ``point``.

    ``vars`` restricts the sum to some variables (for instance the observed one,
    which gives the log-likelihood).
    """
    with python_backend():
        values = {}
        for rv in model.free_RVs:
            value = np.asarray(point[rv.name])
            transform = model.rvs_to_transforms[rv]
            if transform is not None:
                value = transform.forward(pt.as_tensor(value), *rv.owner.inputs).eval()
            values[model.rvs_to_values[rv].name] = value
        return float(model.compile_logp(vars=vars, jacobian=False)(values))
