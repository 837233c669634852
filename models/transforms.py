"""Building blocks PyMC lacks for the Gaussian mixture: an ordering on the
first coordinate of component means, and the inverse-Wishart distribution.

Both are correct for NUTS (the log-Jacobians are exact) and for
``pm.find_MAP``, which drops every transform's Jacobian and so optimizes the
density of the variables themselves (means, covariance matrices).
"""

import numpy as np
import pytensor.tensor as pt
from pymc.distributions import CustomDist
from pymc.distributions.dist_math import multigammaln
from pymc.distributions.transforms import CholeskyCovTransform
from pymc.logprob.transforms import Transform
from pytensor.tensor.linalg import solve_triangular
from scipy import stats

__all__ = [
    "CholeskyCovariance",
    "OrderedFirstCoordinate",
    "inverse_wishart",
    "inverse_wishart_logp",
]


class OrderedFirstCoordinate(Transform):
    """Order the rows of a (..., K, d) matrix increasingly by their first column.

    Column 0 gets PyMC's ordered transform (first value free, then log
    increments); columns 1.. are left unchanged. The log-Jacobian of the
    backward map is the sum of the log increments, a scalar per batch entry
    (PyMC sums the variable's logp over the trailing axes to match).
    """

    name = "ordered-first"
    ndim_supp = 2

    def backward(self, value, *inputs):
        column = value[..., :, 0]
        steps = pt.concatenate([column[..., :1], pt.exp(column[..., 1:])], axis=-1)
        return pt.set_subtensor(value[..., :, 0], pt.cumsum(steps, axis=-1))

    def forward(self, value, *inputs):
        column = value[..., :, 0]
        free = pt.concatenate([column[..., :1], pt.log(pt.diff(column, axis=-1))], axis=-1)
        return pt.set_subtensor(value[..., :, 0], free)

    def log_jac_det(self, value, *inputs):
        return pt.sum(value[..., 1:, 0], axis=-1)


class CholeskyCovariance(CholeskyCovTransform):
    """PyMC's ``CholeskyCovTransform`` with its log-Jacobian constant in float64.

    SPD (..., n, n) <-> packed lower Cholesky factor (..., n (n + 1) / 2) with
    log diagonal; ``log|J| = n log 2 + sum_k (n - k + 2) log L_kk``. PyMC
    writes ``pt.log(2.0)``, which PyTensor evaluates in float32 (5.7e-9 off at
    n = 3); the constant is irrelevant to NUTS and MAP, but this one is exact.
    """

    def log_jac_det(self, value, *inputs):
        coefficients = pt.arange(self.n + 1, 1, -1).astype(value.dtype)
        return self.n * np.log(2.0) + pt.sum(coefficients * value[..., self.diag_idxs], axis=-1)


def inverse_wishart_logp(value, nu, scale):
    """Log density of InvWishart(df=nu, scale) at SPD ``value`` (..., d, d).

    Same parametrization as ``scipy.stats.invwishart``:
    ``log p = nu/2 log|scale| - nu d/2 log 2 - log Gamma_d(nu/2)
    - (nu + d + 1)/2 log|value| - tr(scale value^-1)/2``.
    Returns shape (...,).
    """
    d = value.shape[-1]
    chol_value = pt.linalg.cholesky(value)
    chol_scale = pt.linalg.cholesky(scale)
    log_det_value = 2 * pt.sum(pt.log(pt.diagonal(chol_value, axis1=-2, axis2=-1)), axis=-1)
    log_det_scale = 2 * pt.sum(pt.log(pt.diagonal(chol_scale, axis1=-2, axis2=-1)), axis=-1)
    # tr(scale value^-1) = ||chol_value^-1 chol_scale||_F^2
    whitened = solve_triangular(chol_value, pt.broadcast_to(chol_scale, value.shape), lower=True)
    trace = pt.sum(whitened**2, axis=(-2, -1))
    return (
        nu * log_det_scale
        - nu * d * np.log(2.0)
        - 2 * multigammaln(nu / 2.0, d)
        - (nu + d + 1) * log_det_value
        - trace
    ) / 2


def _inverse_wishart_random(nu, scale, rng=None, size=None):
    d = np.shape(scale)[-1]
    batch = np.broadcast_shapes(np.shape(nu), np.shape(scale)[:-2]) if size is None else tuple(size)
    nus = np.broadcast_to(nu, batch).ravel()
    scales = np.broadcast_to(scale, (*batch, d, d)).reshape(-1, d, d)
    draws = [stats.invwishart.rvs(df=n, scale=s, random_state=rng) for n, s in zip(nus, scales)]
    return np.reshape(draws, (*batch, d, d))


def _inverse_wishart_mode(rv, size, nu, scale):
    d = scale.shape[-1]
    return pt.broadcast_to(scale / (nu + d + 1), rv.shape)


def inverse_wishart(name, nu, scale, **kwargs):
    """An inverse-Wishart random variable whose value is the covariance matrix itself.

    Parameters
    ----------
    name : str
        Variable name.
    nu : float
        Degrees of freedom, > d - 1 (a scalar; may be non-integer; kept in
        float64, since PyTensor would make a Python float such as 4.0 float32).
    scale : array of shape (d, d)
        SPD scale matrix (not batched; batch through ``dims``/``shape``).
    **kwargs
        Passed to ``pm.CustomDist`` (``dims``, ``shape``, ...).

    The value has shape (..., d, d). Its unconstraining transform is
    ``CholeskyCovariance`` (PyMC's packed lower Cholesky factor with log
    diagonal, exact log-Jacobian); the default initial value is the mode
    ``scale / (nu + d + 1)``; prior draws come from ``scipy.stats.invwishart``.
    """
    scale = np.asarray(scale, dtype=float)
    d = scale.shape[-1]
    return CustomDist(
        name,
        np.float64(nu),
        scale,
        logp=inverse_wishart_logp,
        random=_inverse_wishart_random,
        support_point=_inverse_wishart_mode,
        signature="(),(d,d)->(d,d)",
        transform=CholeskyCovariance(n=d),
        **kwargs,
    )
