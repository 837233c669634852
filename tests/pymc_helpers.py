"""Evaluating a PyMC model's density at parameter values given in their natural space."""

import numpy as np
import pymc as pm
import pytensor.tensor as pt


def logp_at(model: pm.Model, point: dict[str, np.ndarray], vars=None) -> float:
    """``model``'s log density, without Jacobian terms, at constrained values ``point``.

    ``vars`` restricts the sum to some variables (for instance the observed one,
    which gives the log-likelihood).
    """
    values = {}
    for rv in model.free_RVs:
        value = np.asarray(point[rv.name])
        transform = model.rvs_to_transforms[rv]
        if transform is not None:
            value = transform.forward(pt.as_tensor(value), *rv.owner.inputs).eval()
        values[model.rvs_to_values[rv].name] = value
    return float(model.compile_logp(vars=vars, jacobian=False)(values))
