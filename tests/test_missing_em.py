"""EM for Gaussian mixtures with missing cells: ascent, closed form, recovery, imputation, input checks."""

import dataclasses

from hypothesis import given, settings, strategies as st
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from inference.em import GaussianMixturePrior, fit_gaussian_mixture
from inference.em.gaussian import COVARIANCE_TYPES, m_step
from inference.em.missing import ImputedGaussianMixtureResult, e_step, mean_imputed, missingness_patterns
from models.marks import class_marks
from tests.test_gaussian_em import blobs, spread_start


@pytest.fixture(autouse=True, scope="module")
def single_threaded_blas():
    # Every matrix here is at most 3 x 3; multithreaded BLAS spends far longer
    # synchronising its threads than solving (x25 measured on these fits).
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def knock_out(x, fraction, rng):
    """``x`` with each cell NaN with probability ``fraction``, but never a whole row or column."""
    missing = rng.random(x.shape) < fraction
    empty = np.flatnonzero(missing.all(axis=1))
    missing[empty, rng.integers(x.shape[1], size=empty.size)] = False
    missing[rng.integers(x.shape[0]), :] = False
    return np.where(missing, np.nan, x)


def anderson_mle(x):
    """The observed-data MLE of a bivariate normal whose second column alone has gaps (Anderson 1957).

    ``x`` has shape (n_samples, 2). Returns ``(mean (2,), covariance (2, 2))``
    from divide-by-n moments: column 1 from all rows, the regression of column
    2 on column 1 from the complete rows.
    """
    first, second = x[:, 0], x[:, 1]
    complete = ~np.isnan(second)
    mean_1 = first.mean()
    var_1 = np.mean(np.square(first - mean_1))
    centred_1 = first[complete] - first[complete].mean()
    centred_2 = second[complete] - second[complete].mean()
    slope = np.mean(centred_1 * centred_2) / np.mean(np.square(centred_1))
    residual_var = np.mean(np.square(centred_2 - slope * centred_1))
    mean_2 = second[complete].mean() + slope * (mean_1 - first[complete].mean())
    covariance = np.array([[var_1, slope * var_1], [slope * var_1, residual_var + slope**2 * var_1]])
    return np.array([mean_1, mean_2]), covariance


# --- 1. EM never lowers the observed-data objective -------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_features=st.integers(2, 3),
    n_components=st.integers(1, 3),
    covariance_type=st.sampled_from(COVARIANCE_TYPES),
    fraction=st.floats(0.05, 0.4),
    with_prior=st.booleans(),
)
@pytest.mark.filterwarnings("ignore::inference.em.ConvergenceWarning")
@pytest.mark.filterwarnings("ignore:component .* empty:UserWarning")
def test_objective_never_decreases(seed, n_features, n_components, covariance_type, fraction, with_prior):
    rng = np.random.default_rng(seed)
    x = knock_out(blobs(rng, 30 * n_components * (n_features + 1), n_features, n_components), fraction, rng)
    prior = GaussianMixturePrior(alpha=2.0, shrinkage=0.5) if with_prior else None
    # reg_covar=0: only the exact M-step is guaranteed to raise the objective. 30 rows
    # per component and feature: with 15, about 1 example in 400 let a full component
    # shrink onto d rows (the likelihood rising without bound), which ends in a
    # not-positive-definite error rather than a decrease.
    result = fit_gaussian_mixture(
        x,
        n_components,
        covariance_type=covariance_type,
        init=spread_start(mean_imputed(x), n_components, covariance_type, rng),
        prior=prior,
        reg_covar=0.0,
        tol=1e-10,
        max_iter=100,
        missing="em",
    )
    trace = result.objective_trace
    assert np.isfinite(trace).all()
    # As for complete data (test_gaussian_em): steps are >= 0 in exact arithmetic and
    # rounding of a sum of <= 360 log-sum-exps is < 1e-13 relative; 1e-9 leaves room
    # for ill-conditioned covariances.
    assert (np.diff(trace) >= -1e-9 * np.abs(trace[1:])).all()
    # Each row is exp(log_resp) of logsumexp-normalised terms: K roundings of eps.
    np.testing.assert_allclose(result.responsibilities.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert np.isfinite(result.imputed).all()


# --- 2. Without NaN, missing="em" is the complete-data fit ------------------------------------


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_no_nan_equals_complete_data_fit(rng, covariance_type):
    x = blobs(rng, 120, 3, 2)
    complete = fit_gaussian_mixture(x, 2, covariance_type=covariance_type, n_init=2, random_state=1)
    em = fit_gaussian_mixture(x, 2, covariance_type=covariance_type, n_init=2, random_state=1, missing="em")
    # The same code path, so the same floating-point operations: exact equality.
    for name, value in complete.params.items():
        np.testing.assert_array_equal(em.params[name], value, err_msg=name)
    np.testing.assert_array_equal(em.objective_trace, complete.objective_trace)
    np.testing.assert_array_equal(em.responsibilities, complete.responsibilities)
    np.testing.assert_array_equal(em.imputed, x)
    np.testing.assert_array_equal(em.imputed_variance, np.zeros_like(x))


# --- 3. A monotone pattern: the closed-form MLE ------------------------------------------------


def test_monotone_bivariate_matches_closed_form(rng):
    x = rng.multivariate_normal([5.0, 10.0], [[4.0, 2.4], [2.4, 9.0]], size=200)
    x[rng.random(200) < 0.3, 1] = np.nan
    mean, covariance = anderson_mle(x)
    result = fit_gaussian_mixture(x, 1, missing="em", reg_covar=0.0, tol=0.0, max_iter=1000)
    # tol=0 stops once the objective no longer changes in floating point. Near the
    # maximum the objective is quadratic in the parameters, so that pins them only to
    # about sqrt(eps) relative (observed 3e-8 in the means, 7e-8 in the covariances).
    np.testing.assert_allclose(result.params["means"][0], mean, rtol=1e-6)
    np.testing.assert_allclose(result.params["covariances"][0], covariance, rtol=1e-6)
    # Each further EM step shrinks the error by the fraction of missing information
    # (at most the 30% of missing cells in column 2), so 40 more steps take it to
    # rounding: observed agreement 2e-15 in the means and the covariances (of size
    # ~10), and 1e-8 is the agreement we promise.
    patterns = missingness_patterns(x)
    params = dict(result.params)
    for _ in range(40):
        statistics, _ = e_step(params, x=x, patterns=patterns, covariance_type="full", prior=None)
        params = m_step(statistics, covariance_type="full", prior=None, reg_covar=0.0)
    np.testing.assert_allclose(params["means"][0], mean, rtol=0, atol=1e-8)
    np.testing.assert_allclose(params["covariances"][0], covariance, rtol=0, atol=1e-8)


# --- 4. EM beats mean imputation on simulated data --------------------------------------------


def test_em_beats_mean_imputation(rng):
    weights = np.array([0.4, 0.6])
    means = np.array([[-3.0, 0.0, 1.0], [3.0, 2.0, -1.0]])
    covariances = np.array(
        [
            [[1.0, 0.7, 0.3], [0.7, 1.5, 0.5], [0.3, 0.5, 1.0]],
            [[1.2, -0.6, 0.0], [-0.6, 1.0, 0.4], [0.0, 0.4, 0.8]],
        ]
    )
    labels = rng.choice(2, size=400, p=weights)
    x = knock_out(np.stack([rng.multivariate_normal(means[k], covariances[k]) for k in labels]), 0.3, rng)
    em = fit_gaussian_mixture(x, 2, n_init=3, random_state=0, missing="em")
    imputed = fit_gaussian_mixture(mean_imputed(x), 2, n_init=3, random_state=0)

    def errors(params):
        """Summed Euclidean error of the means and Frobenius error of the covariances."""
        return (
            np.linalg.norm(params["means"] - means, axis=1).sum(),
            np.linalg.norm(params["covariances"] - covariances, axis=(1, 2)).sum(),
        )

    em_errors, imputed_errors = errors(em.params), errors(imputed.params)
    # Measured on this data (29% of cells missing): means 0.32 (EM) against 1.99 (mean
    # imputation), covariances 0.75 against 3.37, ratios of 6.2 and 4.5; over seeds 0-7
    # the smallest ratio was 3.3. Asking for half the error leaves a safe margin.
    assert em_errors[0] < 0.5 * imputed_errors[0]
    assert em_errors[1] < 0.5 * imputed_errors[1]


# --- 5. Bad input ----------------------------------------------------------------------------

GOOD_X = np.random.default_rng(0).normal(size=(20, 3))


def with_value(rows, columns, value):
    x = GOOD_X.copy()
    x[rows, columns] = value
    return x


@pytest.mark.parametrize(
    "arguments, match",
    [
        ({"x": with_value(4, 2, np.nan)}, r'^x: contains NaN at row 4, column 2 .*missing="em"'),
        ({"x": with_value(4, 2, np.inf), "missing": "em"}, r"^x: contains inf at row 4, column 2"),
        ({"x": with_value([3, 7], slice(None), np.nan), "missing": "em"}, r"^x: rows \[3, 7\] are entirely NaN"),
        ({"x": with_value(slice(None), 1, np.nan), "missing": "em"}, r"^x: columns \[1\] are entirely NaN"),
        ({"x": with_value(slice(1, None), 1, np.nan), "missing": "em"}, r"^x: columns \[1\] have a single observed value"),
        ({"missing": "drop"}, r"^missing: expected one of 'error', 'em', got 'drop'"),
        ({"missing": None}, r"^missing: expected one of 'error', 'em'"),
    ],
)
def test_bad_input_names_the_argument(arguments, match):
    arguments = {"x": GOOD_X, "n_components": 2, **arguments}
    with pytest.raises(ValueError, match=match):
        fit_gaussian_mixture(**arguments)


# --- 6. Imputed values ------------------------------------------------------------------------


def test_imputation_of_class_marks_is_the_conditional_normal():
    marks = class_marks()
    x = marks.x
    missing = np.isnan(x)
    result = fit_gaussian_mixture(x, 1, missing="em", reg_covar=0.0)
    assert result.converged
    assert isinstance(result, ImputedGaussianMixtureResult)
    np.testing.assert_array_equal(result.imputed[~missing], x[~missing])
    assert np.isfinite(result.imputed).all()
    assert (result.imputed_variance[~missing] == 0).all()
    assert (result.imputed_variance[missing] > 0).all()
    mean, covariance = result.params["means"][0], result.params["covariances"][0]
    for row in np.flatnonzero(missing.any(axis=1)):
        gaps, seen = missing[row], ~missing[row]
        gain = np.linalg.solve(covariance[np.ix_(seen, seen)], covariance[np.ix_(seen, gaps)])
        expected_mean = mean[gaps] + (x[row, seen] - mean[seen]) @ gain
        expected_variance = np.diag(covariance[np.ix_(gaps, gaps)] - covariance[np.ix_(gaps, seen)] @ gain)
        # The same formulas solved row by row instead of per pattern: rounding of
        # 3 x 3 solves with condition number ~10 on marks ~60 is ~1e-13 relative.
        np.testing.assert_allclose(result.imputed[row, gaps], expected_mean, rtol=1e-10)
        np.testing.assert_allclose(result.imputed_variance[row, gaps], expected_variance, rtol=1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_imputation_is_finite_and_exact_where_observed(rng, covariance_type):
    x = knock_out(blobs(rng, 150, 3, 2), 0.25, rng)
    missing = np.isnan(x)
    result = fit_gaussian_mixture(x, 2, covariance_type=covariance_type, random_state=0, missing="em")
    np.testing.assert_array_equal(result.imputed[~missing], x[~missing])
    assert np.isfinite(result.imputed).all()
    assert (result.imputed_variance[~missing] == 0).all()
    assert (result.imputed_variance[missing] > 0).all()
    dataset = result.to_dataset()
    assert dataset["imputed"].dims == ("obs", "dim")
    np.testing.assert_array_equal(dataset["imputed_variance"].values, result.imputed_variance)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.imputed = x
    assert not result.imputed.flags.writeable


# --- The embedded data set ---------------------------------------------------------------------


def test_class_marks_are_whole_marks_with_a_fifth_missing():
    marks = class_marks()
    assert marks.columns == ("maths", "physics", "chemistry")
    assert marks.x.shape == (30, 3)
    observed = marks.x[~np.isnan(marks.x)]
    assert ((observed >= 0) & (observed <= 100) & (observed == np.round(observed))).all()
    assert np.isnan(marks.x).sum() == 20
    assert not np.isnan(marks.x).all(axis=1).any()
    np.testing.assert_array_equal(class_marks().x, marks.x)


def test_mean_imputed_fills_each_nan_with_its_columns_mean_and_returns_complete_data_as_is():
    x = np.array([[1.0, np.nan], [3.0, 4.0], [5.0, 6.0]])
    np.testing.assert_array_equal(mean_imputed(x), [[1.0, 5.0], [3.0, 4.0], [5.0, 6.0]])
    assert np.isnan(x[0, 1])
    complete = x[1:]
    assert mean_imputed(complete) is complete
