"""scikit-learn estimators over the hand-written EM: :class:`GaussianMixtureEM` and :class:`BinomialMixtureEM`.

A thin layer at the edge, as xarray is for the results: the EM core
(:mod:`inference.em`) stays NumPy/SciPy only, and these classes translate
scikit-learn's conventions into its calls. Each fit runs our EM once per
start and keeps the best; ``to_result()`` gives the frozen result behind the
fitted attributes.

Two things differ from scikit-learn by design:

- Components come back ordered by increasing ``means_[:, 0]`` (``theta_``
  for coins), the ordering constraint of the PyMC models, not in the order of
  ``means_init``.
- Our EM tests convergence at the parameters it returns; scikit-learn's
  lower bound is evaluated before its last M-step. With the same ``tol`` ours
  stops one iteration earlier, and ``lower_bound_`` belongs to the fitted
  parameters.
"""

from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import partial
import numbers
import time
import warnings

import numpy as np
from scipy import special
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from .em import ConvergenceWarning as EMConvergenceWarning
from .em import EMResult, GaussianMixturePrior, GaussianMixtureResult, fit_binomial_mixture, fit_gaussian_mixture
# The core's own checks and starts (private ones included), reused so that the
# estimators check, word and start exactly as the functions they wrap.
from .em.binomial import _starts as _binomial_starts
from .em.binomial import log_joint as binomial_log_joint
from .em.checks import (
    _as_float_array,
    check_bool,
    check_counts,
    check_n_components,
    check_positive_int,
    check_simplex,
    check_tolerances,
    check_unit_interval,
)
from .em.gaussian import (
    _check_covariance_type,
    _check_missing,
    _check_reg_covar,
    _covariance_shape,
    _random_starts,
    m_step,
    sufficient_statistics,
)
from .em.missing import check_observed, mean_imputed

__all__ = ["BinomialMixtureEM", "GaussianMixtureEM"]


###############################################################################
# Shared by both estimators: starts, the best of them, warnings, verbose output


def _generator(random_state: np.random.RandomState) -> np.random.Generator:
    """A NumPy Generator for the EM core's seeding, drawn from scikit-learn's ``random_state``.

    An int ``random_state`` gives the same Generator on every fit, a
    RandomState instance a new one each time, as in scikit-learn.
    """
    return np.random.default_rng(random_state.randint(np.iinfo(np.int32).max))


def _check_verbosity(verbose, verbose_interval) -> None:
    if isinstance(verbose, bool) or not isinstance(verbose, numbers.Integral) or verbose < 0:
        raise ValueError(f"verbose: expected a whole number >= 0, got {verbose!r}")
    check_positive_int(verbose_interval, "verbose_interval")


def _report(index: int, result: EMResult, lower_bounds: np.ndarray, seconds: float, *, verbose, verbose_interval):
    """Print one initialization as scikit-learn's mixtures do with ``verbose``.

    ``lower_bounds`` (n_iter + 1,) is the objective per sample at the start
    and after every iteration. The EM core records every iteration instead
    of reporting it, so the lines come when the initialization ends, and the
    time lapse of an interval (``verbose >= 2``) is the initialization's
    average.
    """
    if not verbose:
        return
    print(f"Initialization {index}")
    interval_seconds = seconds / max(result.n_iter, 1) * verbose_interval
    for n_iter in range(verbose_interval, result.n_iter + 1, verbose_interval):
        if verbose == 1:
            print(f"  Iteration {n_iter}")
        else:
            change = lower_bounds[n_iter] - lower_bounds[n_iter - 1]
            print(f"  Iteration {n_iter}\t time lapse {interval_seconds:.5f}s\t ll change {change:.5f}")
    status = "converged" if result.converged else "did not converge"
    if verbose == 1:
        print(f"Initialization {status}.")
    else:
        print(f"Initialization {status}. time lapse {seconds:.5f}s\t lower bound {lower_bounds[-1]:.5f}.")


def _best_fit(
    fit_from: Callable[[Mapping], EMResult],
    starts: list[Mapping],
    *,
    n_samples: int,
    offset: float,
    tol: float,
    max_iter: int,
    verbose,
    verbose_interval,
) -> EMResult:
    """Fit from every start; the fit with the highest objective, every start's end point among its restarts.

    Each fit's warnings are held back and only the kept fit's are issued, so
    that ``n_init`` starts do not repeat them; our ConvergenceWarning is
    issued as scikit-learn's, and not with ``max_iter=0``, which scikit-learn
    reads as asking for the start itself. The per-sample lower bound is
    ``(objective - offset) / n_samples``.
    """
    fits = []
    for index, start in enumerate(starts):
        began = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = fit_from(start)
        lower_bounds = (result.objective_trace - offset) / n_samples
        _report(
            index, result, lower_bounds, time.perf_counter() - began, verbose=verbose, verbose_interval=verbose_interval
        )
        fits.append((result, caught))
    best, caught = max(fits, key=lambda fit: fit[0].objective)
    for warning in caught:
        if not issubclass(warning.category, EMConvergenceWarning):
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    if max_iter > 0 and not best.converged:
        warnings.warn(
            f"Best performing initialization did not converge within max_iter={max_iter} iterations to "
            f"tol={tol:g} (change of the per-sample lower bound); increase max_iter, loosen tol, or try "
            "other starts (n_init, init_params).",
            ConvergenceWarning,
            stacklevel=4,
        )
    return replace(best, restarts=tuple(restart for result, _ in fits for restart in result.restarts))


###############################################################################
# Gaussian mixtures: starts from responsibilities, precisions


def _kmeans_responsibilities(x: np.ndarray, n_components: int, random_state) -> np.ndarray:
    """One-hot responsibilities (n_samples, n_components) of a full k-means run on ``x`` (n_samples, n_features)."""
    labels = KMeans(n_clusters=n_components, n_init=1, random_state=random_state).fit(x).labels_
    return np.eye(n_components)[labels]


def _random_responsibilities(x: np.ndarray, n_components: int, random_state) -> np.ndarray:
    """Uniform random responsibilities (n_samples, n_components), each row normalised to sum to 1."""
    resp = random_state.uniform(size=(x.shape[0], n_components))
    return resp / resp.sum(axis=1, keepdims=True)


# init_params computed here, from responsibilities, as scikit-learn computes them.
_RESPONSIBILITIES = {"kmeans": _kmeans_responsibilities, "random": _random_responsibilities}

# init_params left to the EM core's seeding (SciPy's k-means++ or K distinct
# rows, every row then going to its nearest centre), under the core's names.
_SEEDINGS = {"k-means++": "kmeans++", "random_from_data": "random_from_data"}

_INIT_PARAMS = (*_RESPONSIBILITIES, *_SEEDINGS)


def _check_init_params(init_params) -> str:
    if not isinstance(init_params, str) or init_params not in _INIT_PARAMS:
        raise ValueError(f"init_params: expected one of {', '.join(map(repr, _INIT_PARAMS))}, got {init_params!r}")
    return init_params


def _covariances_from_precisions(precisions, covariance_type: str, shape: tuple[int, ...]) -> np.ndarray:
    """The covariances whose inverses are ``precisions`` (scikit-learn's ``precisions_init``), both of ``shape``.

    Shapes by ``covariance_type`` as in :mod:`inference.em.gaussian`; full and
    tied precisions must be symmetric positive definite, and precisions of
    variances positive.
    """
    precisions = _as_float_array(precisions, "precisions_init")
    if precisions.shape != shape:
        raise ValueError(f"precisions_init: expected shape {shape} for {covariance_type!r}, got {precisions.shape}")
    if covariance_type in ("diag", "spherical"):
        if (precisions <= 0).any():
            raise ValueError("precisions_init: every precision must be positive")
        return 1.0 / precisions
    if not np.allclose(precisions, np.swapaxes(precisions, -1, -2)):
        raise ValueError("precisions_init: expected symmetric matrices")
    try:
        factors = np.linalg.cholesky(precisions)
    except np.linalg.LinAlgError:
        raise ValueError("precisions_init: expected positive definite matrices") from None
    # P = L L^T, so P^-1 = L^-T L^-1.
    inverse = np.linalg.inv(factors)
    return np.swapaxes(inverse, -1, -2) @ inverse


def _precision_factors(covariances: np.ndarray, covariance_type: str) -> np.ndarray:
    """scikit-learn's ``precisions_cholesky_``, shaped as ``covariances``.

    For a matrix, the upper triangular ``U = L^-T`` (``L`` the lower Cholesky
    factor of the covariance), so that ``U U^T`` is the precision; for
    variances, ``1 / sqrt(variance)``.
    """
    if covariance_type in ("diag", "spherical"):
        return 1.0 / np.sqrt(covariances)
    return np.swapaxes(np.linalg.inv(np.linalg.cholesky(covariances)), -1, -2)


def _precisions(factors: np.ndarray, covariance_type: str) -> np.ndarray:
    """The precisions ``U U^T`` (or ``U^2`` for variances) from :func:`_precision_factors`."""
    if covariance_type in ("diag", "spherical"):
        return factors**2
    return factors @ np.swapaxes(factors, -1, -2)


def _gaussian_starts(
    x: np.ndarray,
    given: Mapping[str, np.ndarray],
    *,
    n_components: int,
    covariance_type: str,
    reg_covar: float,
    prior: GaussianMixturePrior | None,
    init_params: str,
    n_init: int,
    random_state: np.random.RandomState,
) -> list[dict[str, np.ndarray]]:
    """``n_init`` starts for ``x`` (n_samples, n_features, column-major float64, NaN where missing).

    Each is one M-step (with the prior, if any) from responsibilities chosen
    by ``init_params``, as scikit-learn starts, with the parameters in
    ``given`` (from ``weights_init``, ``means_init``, ``precisions_init``) in
    place of the computed ones; with all three given, that one start. Missing
    cells are filled with their column's mean for the starts, as the EM core
    does.
    """
    if len(given) == 3:
        return [dict(given)]
    # Column-major, as the EM core keeps x, for its compiled loops.
    filled = np.asfortranarray(mean_imputed(x))
    resolved = None if prior is None else prior.resolve(filled, n_components)

    def start_from(resp):
        statistics = sufficient_statistics(resp, x=filled, covariance_type=covariance_type)
        return {**m_step(statistics, covariance_type=covariance_type, prior=resolved, reg_covar=reg_covar), **given}

    if init_params in _SEEDINGS:
        return _random_starts(
            _SEEDINGS[init_params], filled, n_components, n_init, start_from, _generator(random_state)
        )
    responsibilities = _RESPONSIBILITIES[init_params]
    return [start_from(responsibilities(filled, n_components, random_state)) for _ in range(n_init)]


###############################################################################
# The Gaussian mixture estimator


class _MixtureEstimator(DensityMixin, BaseEstimator):
    """What both estimators share: fitting through ``_fit``, the result behind them, and the mean score.

    A subclass's ``_fit(X)`` fits, sets the fitted attributes and ``_result``,
    and returns each row's most probable component; its ``score_samples(X)``
    gives each row's log-likelihood. Rows are samples, or experiments for coins.
    """

    def fit(self, X, y=None):
        """Fit the mixture to the rows of ``X`` by EM from every start; return self."""
        self._fit(X)
        return self

    def fit_predict(self, X, y=None) -> np.ndarray:
        """Fit to ``X`` and return each row's most probable component, shape (n_rows,)."""
        return self._fit(X)

    def to_result(self) -> EMResult:
        """The frozen EM result behind the fitted attributes, in float64, with every start among its restarts."""
        check_is_fitted(self)
        return self._result

    def score(self, X, y=None) -> float:
        """Average log-likelihood per row of ``X``."""
        return float(np.mean(self.score_samples(X)))


class GaussianMixtureEM(_MixtureEstimator):
    """A Gaussian mixture fitted by our EM, with scikit-learn's ``GaussianMixture`` interface.

    Read more in :func:`inference.em.fit_gaussian_mixture`, which this wraps.
    The options mean what they mean for ``sklearn.mixture.GaussianMixture``;
    where they differ is said below and in the module docstring.

    Parameters
    ----------
    n_components : int, default=1
        Number of Gaussians.
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
        Shape of the covariances, as in scikit-learn.
    tol : float, default=1e-3
        Stop when an iteration changes the per-sample average objective
        (log-likelihood, or log posterior density with ``prior``) by at most
        ``tol``. Our EM's ``tol`` is on the total objective, so it gets
        ``tol * n_samples``. (scikit-learn asks for less than ``tol``: with
        ``tol=0`` ours stops at an exact fixed point, scikit-learn's does not.)
    reg_covar : float, default=1e-6
        Added to every variance after each M-step.
    max_iter : int, default=100
        Iterations per start; 0 returns the start itself, without warning.
    n_init : int, default=1
        Number of starts; the fit with the highest objective is kept.
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
        How starts are made: each is one M-step from responsibilities that
        are, for "kmeans", the labels of a full k-means run (scikit-learn's
        ``KMeans``, ``n_init=1``), and for "random", uniform draws normalised
        per row, both as in scikit-learn. "k-means++" and "random_from_data"
        are the EM core's: K centres by k-means++ seeding or among the
        distinct rows, and every row labelled by its nearest centre
        (scikit-learn labels the K chosen rows only).
    weights_init : array-like of shape (n_components,), default=None
        Starting weights; the others come from ``init_params`` when not given.
    means_init : array-like of shape (n_components, n_features), default=None
        Starting means.
    precisions_init : array-like, default=None
        Starting precisions (inverse covariances), shaped as
        ``precisions_``; they are inverted into the start's covariances.
    random_state : int, RandomState instance or None, default=None
        Seeds the starts and :meth:`sample`.
    warm_start : bool, default=False
        If True, every fit after the first starts from the fitted
        parameters (one start, ``n_init`` ignored).
    verbose : int, default=0
        1 prints each start and every ``verbose_interval``-th iteration, 2
        also the change of the lower bound and times, as scikit-learn does;
        the lines come when each start's fit ends.
    verbose_interval : int, default=10
        Iterations between printed lines.
    prior : GaussianMixturePrior, default=None
        None gives the maximum-likelihood estimate; a prior gives the MAP.
    missing : {"error", "em"}, default="error"
        "em" fits NaN cells as values missing at random (see
        :mod:`inference.em.missing`); scoring and prediction still take
        complete rows only.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    covariances_, precisions_, precisions_cholesky_ : ndarray
        Shaped by ``covariance_type``: (n_components, n_features, n_features)
        for "full", (n_features, n_features) for "tied", (n_components,
        n_features) for "diag", (n_components,) for "spherical".
        ``precisions_cholesky_`` is upper triangular, as scikit-learn's.
        In the input's dtype (float32 or float64), as scikit-learn keeps them.
    converged_ : bool
    n_iter_ : int
        Iterations of the kept start.
    lower_bound_ : float
        The objective at the fitted parameters, per sample.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when fitted on a DataFrame with string column names.
    """

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        prior=None,
        missing="error",
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.prior = prior
        self.missing = missing

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self.missing == "em"
        return tags

    def _given_start(self, n_components: int, n_features: int, covariance_type: str) -> dict[str, np.ndarray]:
        """The start's parameters given by ``weights_init``, ``means_init`` and ``precisions_init``, checked."""
        given = {}
        if self.weights_init is not None:
            given["weights"] = check_simplex(self.weights_init, "weights_init", (n_components,))
        if self.means_init is not None:
            means = _as_float_array(self.means_init, "means_init")
            if means.shape != (n_components, n_features):
                raise ValueError(f"means_init: expected shape {(n_components, n_features)}, got {means.shape}")
            given["means"] = means
        if self.precisions_init is not None:
            shape = _covariance_shape(covariance_type, n_components, n_features)
            given["covariances"] = _covariances_from_precisions(self.precisions_init, covariance_type, shape)
        return given

    def _fit(self, X) -> np.ndarray:
        """Fit to ``X`` (n_samples, n_features); return the fitted rows' labels (n_samples,)."""
        covariance_type = _check_covariance_type(self.covariance_type)
        missing = _check_missing(self.missing)
        reg_covar = _check_reg_covar(self.reg_covar)
        tol, max_iter = check_tolerances(self.tol, self.max_iter)
        n_init = check_positive_int(self.n_init, "n_init")
        init_params = _check_init_params(self.init_params)
        warm_start = check_bool(self.warm_start, "warm_start")
        _check_verbosity(self.verbose, self.verbose_interval)
        if self.prior is not None and not isinstance(self.prior, GaussianMixturePrior):
            raise ValueError(f"prior: expected a GaussianMixturePrior or None, got {self.prior!r}")
        x = validate_data(
            self,
            X,
            dtype=[np.float64, np.float32],
            ensure_min_samples=2,
            ensure_all_finite="allow-nan" if missing == "em" else True,
        )
        # The EM core's layout: float64, column-major.
        data = np.asfortranarray(x, dtype=float)
        n_samples, n_features = data.shape
        n_components = check_n_components(self.n_components, n_samples, "rows")
        if missing == "em":
            check_observed(data)
        random_state = check_random_state(self.random_state)

        if warm_start and hasattr(self, "converged_"):
            starts = [dict(self._result.params)]
        else:
            starts = _gaussian_starts(
                data,
                self._given_start(n_components, n_features, covariance_type),
                n_components=n_components,
                covariance_type=covariance_type,
                reg_covar=reg_covar,
                prior=self.prior,
                init_params=init_params,
                n_init=n_init,
                random_state=random_state,
            )
        fit_from = partial(
            fit_gaussian_mixture,
            data,
            n_components,
            covariance_type=covariance_type,
            prior=self.prior,
            reg_covar=reg_covar,
            tol=tol * n_samples,
            max_iter=max_iter,
            missing=missing,
        )
        result = _best_fit(
            lambda start: fit_from(init=start),
            starts,
            n_samples=n_samples,
            offset=0.0,
            tol=tol,
            max_iter=max_iter,
            verbose=self.verbose,
            verbose_interval=self.verbose_interval,
        )
        self._set_fitted(result, x.dtype)
        return np.argmax(result.responsibilities, axis=1)

    def _set_fitted(self, result: GaussianMixtureResult, dtype: np.dtype) -> None:
        covariances = result.params["covariances"]
        factors = _precision_factors(covariances, result.covariance_type)
        self.weights_ = result.params["weights"].astype(dtype)
        self.means_ = result.params["means"].astype(dtype)
        self.covariances_ = covariances.astype(dtype)
        self.precisions_cholesky_ = factors.astype(dtype)
        self.precisions_ = _precisions(factors, result.covariance_type).astype(dtype)
        self.converged_ = result.converged
        self.n_iter_ = result.n_iter
        self.lower_bound_ = result.objective / result.responsibilities.shape[0]
        self._result = result

    def _validated(self, X) -> np.ndarray:
        check_is_fitted(self)
        return validate_data(self, X, reset=False, dtype=[np.float64, np.float32])

    def score_samples(self, X) -> np.ndarray:
        """Log-likelihood of every row of ``X`` (n_samples, n_features), shape (n_samples,)."""
        x = self._validated(X)
        return self._result.score_samples(x).astype(np.result_type(x.dtype, self.means_.dtype))

    def predict_proba(self, X) -> np.ndarray:
        """Responsibilities of every row of ``X`` (n_samples, n_features), shape (n_samples, n_components)."""
        x = self._validated(X)
        return self._result.predict_proba(x).astype(np.result_type(x.dtype, self.means_.dtype))

    def predict(self, X) -> np.ndarray:
        """The most probable component of every row of ``X`` (n_samples, n_features), shape (n_samples,)."""
        x = self._validated(X)
        return self._result.predict(x)

    def bic(self, X) -> float:
        """Bayesian information criterion on ``X`` (n_samples, n_features), as scikit-learn's; lower is better."""
        x = self._validated(X)
        return self._result.bic(x)

    def aic(self, X) -> float:
        """Akaike information criterion on ``X`` (n_samples, n_features); lower is better."""
        x = self._validated(X)
        return self._result.aic(x)

    def sample(self, n_samples=1) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n_samples`` rows from the fitted mixture, as scikit-learn does with the same ``random_state``.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            The rows, float64, grouped by component.
        y : ndarray of shape (n_samples,)
            Each row's component.
        """
        check_is_fitted(self)
        n_samples = check_positive_int(n_samples, "n_samples")
        params, covariance_type = self._result.params, self._result.covariance_type
        means, covariances = params["means"], params["covariances"]
        rng = check_random_state(self.random_state)
        counts = rng.multinomial(n_samples, params["weights"])
        if covariance_type == "full":
            blocks = [
                rng.multivariate_normal(mean, covariance, count)
                for mean, covariance, count in zip(means, covariances, counts)
            ]
        elif covariance_type == "tied":
            blocks = [rng.multivariate_normal(mean, covariances, count) for mean, count in zip(means, counts)]
        else:
            blocks = [
                mean + rng.standard_normal(size=(count, means.shape[1])) * np.sqrt(variance)
                for mean, variance, count in zip(means, covariances, counts)
            ]
        return np.vstack(blocks), np.repeat(np.arange(means.shape[0]), counts)


###############################################################################
# Coins: what X holds


def _log_orderings(heads: np.ndarray, flips: np.ndarray) -> np.ndarray:
    """``log C(flips, heads)`` (n_experiments,): how many orders of the flips give the heads.

    The binomial probability counts every order; a row of outcomes is one of them.
    """
    return special.gammaln(flips + 1) - special.gammaln(heads + 1) - special.gammaln(flips - heads + 1)


def _counts(x: np.ndarray, *, flips, binarize) -> tuple[np.ndarray, np.ndarray]:
    """Heads and flips per experiment, each (n_experiments,), from ``x`` as :class:`BinomialMixtureEM` reads it.

    With ``flips`` given, ``x`` (n_experiments, 1) holds counts of heads;
    otherwise ``x`` (n_experiments, n_flips) holds one flip per cell, NaN
    where there was none.
    """
    if flips is not None:
        if x.shape[1] != 1:
            raise ValueError(
                f"X: with flips={flips}, X holds each experiment's heads in one column, got {x.shape[1]} columns"
            )
        return check_counts(x[:, 0], flips)
    observed = ~np.isnan(x)
    if binarize is None:
        other = observed & (x != 0) & (x != 1)
        if other.any():
            row, column = np.argwhere(other)[0]
            raise ValueError(
                f"X: with flips=None every cell is one flip, 1 for heads and 0 for tails (NaN for none), got "
                f"{x[row, column]:g} at row {row}, column {column}; pass flips=<flips per experiment> if X holds "
                "counts of heads, or binarize=<threshold> to read values above it as heads"
            )
        heads = x == 1
    else:
        heads = x > binarize
    n_flips = observed.sum(axis=1)
    if (n_flips == 0).any():
        raise ValueError(f"X: row {np.flatnonzero(n_flips == 0)[0]} has no flip (every cell is NaN)")
    return heads.sum(axis=1), n_flips


def _check_data_options(flips, binarize) -> None:
    if flips is not None:
        check_positive_int(flips, "flips")
    if binarize is not None and (
        isinstance(binarize, bool) or not isinstance(binarize, numbers.Real) or not np.isfinite(binarize)
    ):
        raise ValueError(f"binarize: expected None or a finite number, got {binarize!r}")


###############################################################################
# The binomial mixture estimator


class BinomialMixtureEM(_MixtureEstimator):
    """A mixture of K coins fitted by our EM, with the interface of :class:`GaussianMixtureEM`.

    Wraps :func:`inference.em.fit_binomial_mixture`. Each row of ``X`` is one
    experiment, read in one of two ways:

    - ``flips=None``: ``X`` (n_experiments, n_flips) has one flip per cell, 1
      for heads and 0 for tails, NaN where an experiment made fewer flips.
      With ``binarize`` set, any number above it is heads, as in
      scikit-learn's ``BernoulliNB``: so any real data (after a
      ``StandardScaler``, say) can be read as flips. The likelihood is that
      of the sequence of flips, so :meth:`score` is a density of ``X``.
    - ``flips`` an int: ``X`` (n_experiments, 1) holds each experiment's
      heads out of ``flips``; the likelihood is the binomial one.

    Experiments with different numbers of flips, given as counts, are for
    :func:`~inference.em.fit_binomial_mixture` itself.

    Parameters
    ----------
    n_components : int, default=2
        Number of coins.
    flips : int or None, default=None
        Flips per experiment when ``X`` holds counts of heads; see above.
    binarize : float or None, default=None
        With ``flips=None``, cells above it are heads; None requires 0 or 1.
    prior : BetaDirichletPrior, default=None
        None gives the maximum-likelihood estimate; a prior gives the MAP.
    fix_weights : bool, default=False
        Hold the weights at their start (equal unless ``weights_init``).
    tol : float, default=1e-3
        Stop when an iteration changes the per-experiment average objective
        by at most ``tol`` (our EM gets ``tol * n_experiments``).
    max_iter : int, default=100
        Iterations per start; 0 returns the start itself.
    n_init : int, default=1
        Number of starts, each drawing the coins' biases from the observed
        proportions of heads; the fit with the highest objective is kept.
    theta_init, weights_init : array-like of shape (n_components,), default=None
        Starting biases and weights; a missing ``theta_init`` is drawn, a
        missing ``weights_init`` is equal weights.
    random_state : int, RandomState instance or None, default=None
        Seeds the starts and :meth:`sample`.
    warm_start : bool, default=False
        If True, every fit after the first starts from the fitted parameters.
    verbose, verbose_interval : int, default=0, 10
        As for :class:`GaussianMixtureEM`.

    Attributes
    ----------
    theta_ : ndarray of shape (n_components,)
        Each coin's probability of heads, increasing.
    weights_ : ndarray of shape (n_components,)
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        The objective at the fitted parameters, per experiment (with
        ``flips=None``, of the sequences of flips).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when fitted on a DataFrame with string column names.
    """

    def __init__(
        self,
        n_components=2,
        *,
        flips=None,
        binarize=None,
        prior=None,
        fix_weights=False,
        tol=1e-3,
        max_iter=100,
        n_init=1,
        theta_init=None,
        weights_init=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
    ):
        self.n_components = n_components
        self.flips = flips
        self.binarize = binarize
        self.prior = prior
        self.fix_weights = fix_weights
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.theta_init = theta_init
        self.weights_init = weights_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self.flips is None
        return tags

    def _experiments(self, X, *, reset: bool) -> tuple[np.ndarray, np.ndarray]:
        """Heads and flips (n_experiments,) of ``X``, checked against the fit unless ``reset``."""
        x = validate_data(
            self, X, reset=reset, dtype=np.float64, ensure_all_finite="allow-nan" if self.flips is None else True
        )
        return _counts(x, flips=self.flips, binarize=self.binarize)

    def _starts(self, heads, flips, n_components: int, n_init: int, random_state) -> list[dict[str, np.ndarray]]:
        """The starts: ``theta_init`` if given, else ``n_init`` draws from the proportions of heads.

        Weights are ``weights_init`` if given, else equal.
        """
        given = {}
        if self.theta_init is not None:
            given["theta"] = check_unit_interval(self.theta_init, "theta_init", (n_components,))
        if self.weights_init is not None:
            given["weights"] = check_simplex(self.weights_init, "weights_init", (n_components,))
        if "theta" in given:
            return [{"weights": np.full(n_components, 1.0 / n_components), **given}]
        drawn = _binomial_starts(None, heads / flips, n_components, n_init, _generator(random_state))
        return [{**start, **given} for start in drawn]

    def _fit(self, X) -> np.ndarray:
        """Fit to ``X``; return the fitted experiments' labels (n_experiments,)."""
        tol, max_iter = check_tolerances(self.tol, self.max_iter)
        n_init = check_positive_int(self.n_init, "n_init")
        warm_start = check_bool(self.warm_start, "warm_start")
        _check_verbosity(self.verbose, self.verbose_interval)
        _check_data_options(self.flips, self.binarize)
        heads, flips = self._experiments(X, reset=True)
        n_components = check_n_components(self.n_components, heads.size, "experiments")
        random_state = check_random_state(self.random_state)
        if warm_start and hasattr(self, "converged_"):
            starts = [dict(self._result.params)]
        else:
            starts = self._starts(heads, flips, n_components, n_init, random_state)
        fit_from = partial(
            fit_binomial_mixture,
            heads,
            flips,
            n_components,
            prior=self.prior,
            fix_weights=self.fix_weights,
            tol=tol * heads.size,
            max_iter=max_iter,
        )
        offset = float(_log_orderings(heads, flips).sum()) if self.flips is None else 0.0
        result = _best_fit(
            lambda start: fit_from(init=start),
            starts,
            n_samples=heads.size,
            offset=offset,
            tol=tol,
            max_iter=max_iter,
            verbose=self.verbose,
            verbose_interval=self.verbose_interval,
        )
        self.theta_ = np.array(result.params["theta"])
        self.weights_ = np.array(result.params["weights"])
        self.converged_ = result.converged
        self.n_iter_ = result.n_iter
        self.lower_bound_ = (result.objective - offset) / heads.size
        self._result = result
        return np.argmax(result.responsibilities, axis=1)

    def _log_joint(self, X) -> tuple[np.ndarray, np.ndarray]:
        """``log weights[k] + log p(row i | coin k)`` (n_experiments, n_components), and over k its logsumexp.

        The latter, shape (n_experiments,), is each row's log-likelihood.
        """
        check_is_fitted(self)
        heads, flips = self._experiments(X, reset=False)
        joint = binomial_log_joint(heads, flips, self._result.params["theta"], self._result.params["weights"])
        if self.flips is None:
            joint = joint - _log_orderings(heads, flips)[:, None]
        return joint, special.logsumexp(joint, axis=1)

    def score_samples(self, X) -> np.ndarray:
        """Log-likelihood of every experiment in ``X``, shape (n_experiments,)."""
        return self._log_joint(X)[1]

    def predict_proba(self, X) -> np.ndarray:
        """Responsibilities of every experiment in ``X``, shape (n_experiments, n_components)."""
        joint, log_likelihood = self._log_joint(X)
        with np.errstate(under="ignore"):
            return np.exp(joint - log_likelihood[:, None])

    def predict(self, X) -> np.ndarray:
        """The most probable coin of every experiment in ``X``, shape (n_experiments,)."""
        return np.argmax(self._log_joint(X)[0], axis=1)

    @property
    def _n_parameters(self) -> int:
        n_components = self._result.params["theta"].size
        return n_components + (0 if self.fix_weights else n_components - 1)

    def bic(self, X) -> float:
        """Bayesian information criterion on ``X``; lower is better."""
        log_likelihood = self.score_samples(X)
        return float(-2 * log_likelihood.sum() + self._n_parameters * np.log(log_likelihood.size))

    def aic(self, X) -> float:
        """Akaike information criterion on ``X``; lower is better."""
        return float(-2 * self.score_samples(X).sum() + 2 * self._n_parameters)

    def sample(self, n_samples=1) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n_samples`` experiments from the fitted coins, shaped as ``X`` was.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features_in_)
            With ``flips=None``, one flip per cell (1.0 heads, 0.0 tails),
            every experiment making ``n_features_in_`` flips; otherwise the
            heads out of ``flips``. Grouped by coin.
        y : ndarray of shape (n_samples,)
            Each experiment's coin.
        """
        check_is_fitted(self)
        n_samples = check_positive_int(n_samples, "n_samples")
        rng = check_random_state(self.random_state)
        counts = rng.multinomial(n_samples, self._result.params["weights"])
        coins = np.repeat(np.arange(counts.size), counts)
        theta = self._result.params["theta"][coins]
        if self.flips is None:
            return (rng.uniform(size=(n_samples, self.n_features_in_)) < theta[:, None]).astype(float), coins
        return rng.binomial(self.flips, theta)[:, None].astype(float), coins
