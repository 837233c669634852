"""The scikit-learn estimators over our EM: scikit-learn's checks, its tools, and agreement with GaussianMixture."""

import pickle
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
from scipy import special
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator
from threadpoolctl import threadpool_limits

from inference.em import (
    BetaDirichletPrior,
    ConvergenceWarning,
    GaussianMixturePrior,
    GaussianMixtureResult,
    ImputedGaussianMixtureResult,
    fit_binomial_mixture,
    fit_gaussian_mixture,
)
from inference.em.gaussian import COVARIANCE_TYPES
from inference.estimators import BinomialMixtureEM, GaussianMixtureEM

# The attributes scikit-learn fits, which ours must match in name, shape and value.
FITTED = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")


@pytest.fixture(autouse=True, scope="module")
def single_threaded_blas():
    # The matrices are tiny; threads would only contend on the two shared cores.
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def blobs(rng, n_samples=300, distance=6.0):
    """Rows from three unit-variance Gaussians at (0, 0), (distance, 0) and (0, distance)."""
    centres = np.array([[0.0, 0.0], [distance, 0.0], [0.0, distance]])
    return centres[rng.integers(3, size=n_samples)] + rng.normal(size=(n_samples, 2))


def coin_flips(rng, n_experiments=200, n_flips=20, theta=(0.2, 0.8)):
    """One experiment per row, one flip per column (1.0 heads, 0.0 tails), each row with one of the coins."""
    coins = rng.integers(len(theta), size=n_experiments)
    return (rng.uniform(size=(n_experiments, n_flips)) < np.asarray(theta)[coins][:, None]).astype(float)


def start_for(x, covariance_type, rng, n_components=3):
    """Unequal weights, K rows as means (sorted by their first coordinate) and the data's covariance, as precisions."""
    n_features = x.shape[1]
    covariance = np.cov(x, rowvar=False)
    precision = np.linalg.inv(covariance)
    precisions = {
        "full": np.repeat(precision[None], n_components, axis=0),
        "tied": precision,
        "diag": np.repeat(np.diag(precision)[None], n_components, axis=0),
        "spherical": np.full(n_components, n_features / np.trace(covariance)),
    }[covariance_type]
    means = x[rng.choice(x.shape[0], size=n_components, replace=False)]
    weights = np.arange(1.0, n_components + 1) / np.arange(1.0, n_components + 1).sum()
    return {"weights_init": weights, "means_init": means[np.argsort(means[:, 0])], "precisions_init": precisions}


def sorted_like_ours(mixture):
    """A fitted GaussianMixture's attributes, components sorted by ``means_[:, 0]`` as ours are."""
    order = np.argsort(mixture.means_[:, 0])
    # A tied covariance (and its precisions) is shared: nothing to reorder.
    shared = {"covariances_", "precisions_", "precisions_cholesky_"} if mixture.covariance_type == "tied" else set()
    return {name: getattr(mixture, name) if name in shared else getattr(mixture, name)[order] for name in FITTED}


def fit_quietly(estimator, x):
    """Fit, ignoring both ConvergenceWarnings (a fixed number of iterations with tol=0 never converges)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SklearnConvergenceWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(x)


# --- 1. scikit-learn's own checks -----------------------------------------------------------


@pytest.mark.parametrize(
    "estimator",
    [
        GaussianMixtureEM(),
        GaussianMixtureEM(n_components=2, covariance_type="diag", init_params="random"),
        # Any real X is read as flips (above 0 is heads), as BernoulliNB reads it: the checks
        # feed arbitrary real matrices, which counts of heads are not.
        BinomialMixtureEM(binarize=0.0),
    ],
    ids=repr,
)
# Some checks fit two coins to rows that are all alike (every value above 0), which our EM warns about.
@pytest.mark.filterwarnings("ignore:n_components. 2 coins but only 1 distinct:UserWarning")
def test_passes_check_estimator(estimator):
    # No expected failures: every check scikit-learn runs passes.
    check_estimator(estimator)


# --- 2. Agreement with GaussianMixture from the same start ---------------------------------


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_agrees_with_sklearn_from_the_same_start(rng, covariance_type):
    # Overlapping components, so that 25 iterations do not reach a fixed point, where our
    # EM (a change of at most tol) would stop and scikit-learn (less than tol) would not.
    x = blobs(rng, 200, distance=2.0)
    options = dict(covariance_type=covariance_type, **start_for(x, covariance_type, rng), tol=0, max_iter=25)
    # With tol=0 neither stops early: both run 25 iterations from the start.
    ours = fit_quietly(GaussianMixtureEM(3, **options), x)
    theirs = fit_quietly(GaussianMixture(3, **options), x)
    assert ours.n_iter_ == theirs.n_iter_ == 25
    assert ours.converged_ is theirs.converged_ is False
    for name, value in sorted_like_ours(theirs).items():
        assert getattr(ours, name).shape == value.shape
        np.testing.assert_allclose(getattr(ours, name), value, rtol=1e-8, atol=1e-8, err_msg=name)
    # Our lower bound is at the fitted parameters: scikit-learn's score there.
    assert ours.lower_bound_ == pytest.approx(theirs.score(x), rel=1e-8)
    np.testing.assert_allclose(ours.score_samples(x), theirs.score_samples(x), rtol=1e-8)
    assert ours.bic(x) == pytest.approx(theirs.bic(x), rel=1e-8)
    assert ours.aic(x) == pytest.approx(theirs.aic(x), rel=1e-8)
    order = np.argsort(theirs.means_[:, 0])
    np.testing.assert_allclose(ours.predict_proba(x), theirs.predict_proba(x)[:, order], atol=1e-8)
    np.testing.assert_array_equal(ours.predict(x), np.argsort(order)[theirs.predict(x)])


@pytest.mark.parametrize("given", ["weights_init", "means_init", "precisions_init"])
@pytest.mark.parametrize("init_params", ["kmeans", "random"])
def test_each_init_alone_completes_the_start_as_sklearn_does(rng, init_params, given):
    x = blobs(rng, 150, distance=2.0)
    # scikit-learn's own starts, from the same RandomState: a full k-means run, or random responsibilities.
    options = dict(init_params=init_params, random_state=7, tol=0, max_iter=15)
    options[given] = start_for(x, "full", rng)[given]
    ours = fit_quietly(GaussianMixtureEM(3, **options), x)
    theirs = fit_quietly(GaussianMixture(3, **options), x)
    for name, value in sorted_like_ours(theirs).items():
        np.testing.assert_allclose(getattr(ours, name), value, rtol=1e-8, atol=1e-8, err_msg=name)


@pytest.mark.parametrize("init_params", ["kmeans", "random"])
def test_kmeans_and_random_starts_are_sklearns(rng, init_params):
    x = blobs(rng, 150)
    # max_iter=0 returns the start itself, in both, and warns in neither.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = GaussianMixtureEM(3, init_params=init_params, random_state=3, max_iter=0).fit(x)
        theirs = GaussianMixture(3, init_params=init_params, random_state=3, max_iter=0).fit(x)
    assert ours.n_iter_ == theirs.n_iter_ == 0
    order = np.argsort(theirs.means_[:, 0])
    np.testing.assert_allclose(ours.weights_, theirs.weights_[order], rtol=1e-12)
    np.testing.assert_allclose(ours.means_, theirs.means_[order], rtol=1e-12)
    np.testing.assert_allclose(ours.covariances_, theirs.covariances_[order], rtol=1e-10)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_every_init_params_reaches_the_optimum_of_separated_blobs(rng, init_params):
    x = blobs(rng)
    ours = GaussianMixtureEM(3, init_params=init_params, n_init=3, random_state=0, tol=1e-8, max_iter=500).fit(x)
    theirs = GaussianMixture(3, init_params="kmeans", n_init=3, random_state=0, tol=1e-8, max_iter=500).fit(x)
    assert ours.converged_
    assert ours.score(x) == pytest.approx(theirs.score(x), abs=1e-6)
    assert len(ours.to_result().restarts) == 3


def test_float32_stays_float32_as_in_sklearn(rng):
    x = blobs(rng, 200).astype(np.float32)
    ours = GaussianMixtureEM(3, random_state=0).fit(x)
    theirs = GaussianMixture(3, random_state=0).fit(x)
    for name in FITTED:
        assert getattr(ours, name).dtype == getattr(theirs, name).dtype == np.float32, name
    assert ours.predict_proba(x).dtype == theirs.predict_proba(x).dtype == np.float32
    assert ours.score_samples(x).dtype == theirs.score_samples(x).dtype == np.float32
    # The result behind them is float64, as the EM core computes.
    assert ours.to_result().params["means"].dtype == np.float64
    np.testing.assert_array_equal(ours.means_, ours.to_result().params["means"].astype(np.float32))


def test_sample_draws_as_sklearn_does_from_the_same_parameters(rng):
    x = blobs(rng, 200)
    for covariance_type in COVARIANCE_TYPES:
        ours = GaussianMixtureEM(3, covariance_type=covariance_type, random_state=5).fit(x)
        theirs = GaussianMixture(3, covariance_type=covariance_type, random_state=5)
        for name in FITTED:
            setattr(theirs, name, getattr(ours, name))
        drawn, labels = ours.sample(50)
        expected, expected_labels = theirs.sample(50)
        np.testing.assert_array_equal(labels, expected_labels)
        np.testing.assert_array_equal(drawn, expected)


# --- 3. tol, warnings, warm starts, verbose -------------------------------------------------


def test_tol_is_per_sample(rng):
    x = blobs(rng)
    fitted = GaussianMixtureEM(3, init_params="random", random_state=0, tol=1e-4, max_iter=1000).fit(x)
    per_sample = np.diff(fitted.to_result().objective_trace) / x.shape[0]
    assert fitted.converged_
    assert abs(per_sample[-1]) <= 1e-4 < abs(per_sample[-2])
    assert fitted.lower_bound_ == pytest.approx(fitted.to_result().objective / x.shape[0])


def test_non_convergence_is_sklearns_convergence_warning_only(rng):
    x = blobs(rng, distance=2.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fitted = GaussianMixtureEM(3, n_init=3, random_state=0, tol=1e-10, max_iter=2).fit(x)
    categories = [warning.category for warning in caught]
    assert categories == [SklearnConvergenceWarning]
    assert "increase max_iter" in str(caught[0].message)
    assert not fitted.converged_ and fitted.n_iter_ == 2


def test_warnings_of_the_kept_start_are_issued_once(rng):
    x = blobs(rng, 60)
    x[:, 1] = 1e-5 * x[:, 1]
    with pytest.warns(UserWarning, match="reg_covar") as caught:
        GaussianMixtureEM(3, n_init=4, random_state=0).fit(x)
    assert sum("reg_covar" in str(warning.message) for warning in caught) == 1


def test_warm_start_continues_from_the_fitted_parameters(rng):
    x = blobs(rng)
    mixture = GaussianMixtureEM(3, init_params="random", random_state=0, max_iter=3, warm_start=True, n_init=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SklearnConvergenceWarning)
        mixture.fit(x)
        first = mixture.to_result()
        mixture.fit(x)
    second = mixture.to_result()
    # One start, n_init ignored, from where the first fit ended.
    assert len(first.restarts) == 2 and len(second.restarts) == 1
    for name, value in first.params.items():
        np.testing.assert_array_equal(second.history[name][0], value)
    assert second.objective_trace[0] == pytest.approx(first.objective, rel=1e-12)


def test_verbose_prints_as_sklearn_does(rng, capsys):
    x = blobs(rng)
    options = dict(init_params="random", random_state=0, tol=1e-8, max_iter=500)
    GaussianMixtureEM(3, **options, verbose=1, verbose_interval=5).fit(x)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Initialization 0" and lines[1] == "  Iteration 5" and lines[-1] == "Initialization converged."
    GaussianMixtureEM(3, random_state=0, verbose=2, n_init=2).fit(x)
    lines = capsys.readouterr().out.splitlines()
    assert lines.count("Initialization 1") == 1
    assert lines[-1].startswith("Initialization converged. time lapse") and "lower bound" in lines[-1]


# --- 4. scikit-learn's tools: Pipeline, GridSearchCV, clone, joblib -------------------------


def test_works_in_a_pipeline_with_a_scaler(rng):
    x = blobs(rng) * [1.0, 100.0]
    pipeline = Pipeline([("scale", StandardScaler()), ("mixture", GaussianMixtureEM(3, random_state=0))]).fit(x)
    scaled = StandardScaler().fit_transform(x)
    alone = GaussianMixtureEM(3, random_state=0).fit(scaled)
    np.testing.assert_array_equal(pipeline.predict(x), alone.predict(scaled))
    assert pipeline.score(x) == pytest.approx(alone.score(scaled), rel=1e-12)
    coins = Pipeline([("scale", StandardScaler()), ("coins", BinomialMixtureEM(binarize=0.0, random_state=0))])
    flips = coin_flips(rng)
    coins.fit(flips)
    # Scaled flips above 0 are the heads, above each column's mean.
    np.testing.assert_array_equal(coins.predict(flips), BinomialMixtureEM(random_state=0).fit(flips).predict(flips))


def test_grid_search_over_n_components_by_score(rng):
    search = GridSearchCV(GaussianMixtureEM(random_state=0), {"n_components": [1, 2, 3, 4]}, cv=3).fit(blobs(rng))
    assert search.best_params_ == {"n_components": 3}
    flips = coin_flips(rng)
    folds = KFold(3)
    search = GridSearchCV(BinomialMixtureEM(random_state=0), {"n_components": [1, 2]}, cv=folds).fit(flips)
    assert search.best_params_ == {"n_components": 2}
    # Scored by ``score``, the held-out mean log-likelihood per experiment.
    train, test = next(folds.split(flips))
    held_out = BinomialMixtureEM(2, random_state=0).fit(flips[train]).score(flips[test])
    assert search.cv_results_["split0_test_score"][1] == pytest.approx(held_out, rel=1e-12)


def test_clone_keeps_options_and_drops_the_fit(rng):
    prior = GaussianMixturePrior(alpha=2.0)
    fitted = GaussianMixtureEM(3, covariance_type="diag", prior=prior, random_state=0).fit(blobs(rng))
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    assert not hasattr(copy, "means_")
    np.testing.assert_array_equal(copy.fit(blobs(np.random.default_rng(42))).means_, fitted.means_)


def fit_and_return(estimator, x):
    return estimator.fit(x)


def test_joblib_fits_in_two_processes_equal_fits_here(rng):
    x, flips = blobs(rng), coin_flips(rng)
    estimators = [GaussianMixtureEM(3, random_state=0), BinomialMixtureEM(random_state=0)]
    remote = joblib.Parallel(n_jobs=2)(
        joblib.delayed(fit_and_return)(estimator, data) for estimator, data in zip(estimators, (x, flips))
    )
    local = [fit_and_return(clone(estimator), data) for estimator, data in zip(estimators, (x, flips))]
    np.testing.assert_array_equal(remote[0].means_, local[0].means_)
    np.testing.assert_array_equal(remote[1].theta_, local[1].theta_)
    # The results came back through pickle, still frozen.
    assert not remote[0].to_result().params["means"].flags.writeable
    assert not remote[1].to_result().responsibilities.flags.writeable


def test_a_fitted_estimator_pickles(rng):
    x = blobs(rng)
    fitted = GaussianMixtureEM(3, random_state=0).fit(x)
    loaded = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(loaded.predict_proba(x), fitted.predict_proba(x))
    assert repr(loaded.to_result()) == repr(fitted.to_result())


# --- 5. The rest of the interface -----------------------------------------------------------


def test_fit_predict_is_fit_then_predict(rng):
    x = blobs(rng)
    mixture = GaussianMixtureEM(3, random_state=1)
    np.testing.assert_array_equal(mixture.fit_predict(x), mixture.predict(x))


def test_dataframe_gives_feature_names(rng):
    frame = pd.DataFrame(blobs(rng), columns=["a", "b"])
    fitted = GaussianMixtureEM(3, random_state=0).fit(frame)
    np.testing.assert_array_equal(fitted.feature_names_in_, ["a", "b"])
    assert fitted.n_features_in_ == 2
    with pytest.raises(ValueError, match="feature names"):
        fitted.predict(frame.rename(columns={"a": "c"}))


def test_to_result_is_the_fit_behind_the_attributes(rng):
    x = blobs(rng)
    fitted = GaussianMixtureEM(3, covariance_type="tied", n_init=2, random_state=0).fit(x)
    result = fitted.to_result()
    assert isinstance(result, GaussianMixtureResult) and result.covariance_type == "tied"
    np.testing.assert_array_equal(result.params["covariances"], fitted.covariances_)
    np.testing.assert_array_equal(result.responsibilities.argmax(axis=1), fitted.predict(x))
    assert result.objective == max(restart.objective for restart in result.restarts)


def test_prior_gives_the_map_of_fit_gaussian_mixture(rng):
    x = blobs(rng, 100)
    start = start_for(x, "full", rng)
    prior = GaussianMixturePrior()
    fitted = GaussianMixtureEM(3, prior=prior, tol=1e-10, max_iter=1000, **start).fit(x)
    covariances = np.linalg.inv(start["precisions_init"])
    init = {"weights": start["weights_init"], "means": start["means_init"], "covariances": covariances}
    direct = fit_gaussian_mixture(x, 3, prior=prior, init=init, tol=1e-10 * x.shape[0], max_iter=1000)
    assert fitted.to_result().objective_name == "log_posterior"
    np.testing.assert_allclose(fitted.means_, direct.params["means"], rtol=1e-12)
    assert fitted.lower_bound_ == pytest.approx(direct.objective / x.shape[0], rel=1e-12)


def test_missing_em_fits_rows_with_nan(rng):
    x = blobs(rng)
    x[::7, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        GaussianMixtureEM(3).fit(x)
    fitted = GaussianMixtureEM(3, missing="em", random_state=0).fit(x)
    assert isinstance(fitted.to_result(), ImputedGaussianMixtureResult)
    assert np.isfinite(fitted.to_result().imputed).all()
    assert fitted.__sklearn_tags__().input_tags.allow_nan


@pytest.mark.parametrize(
    "options, match",
    [
        ({"init_params": "banana"}, r"^init_params: expected one of 'kmeans', 'random', 'k-means\+\+'"),
        ({"covariance_type": "banana"}, r"^covariance_type: expected one of"),
        ({"n_components": 0}, r"^n_components"),
        ({"n_components": 400}, r"^n_components: 400 components need at least as many rows"),
        ({"tol": -1.0}, r"^tol"),
        ({"n_init": 0}, r"^n_init"),
        ({"warm_start": "yes"}, r"^warm_start: expected True or False"),
        ({"verbose": -1}, r"^verbose: expected a whole number >= 0"),
        ({"prior": "flat"}, r"^prior: expected a GaussianMixturePrior or None"),
        ({"weights_init": [0.5, 0.6, 0.1]}, r"^weights_init: expected positive weights summing to 1"),
        ({"means_init": np.zeros((2, 2))}, r"^means_init: expected shape \(3, 2\), got \(2, 2\)"),
        ({"precisions_init": np.ones((3, 2, 2))}, r"^precisions_init: expected positive definite matrices"),
        ({"precisions_init": np.ones(3), "covariance_type": "diag"}, r"^precisions_init: expected shape \(3, 2\)"),
    ],
)
def test_bad_options_are_clear_errors_at_fit(rng, options, match):
    estimator = GaussianMixtureEM(**{"n_components": 3, **options})
    with pytest.raises(ValueError, match=match):
        estimator.fit(blobs(rng))


# --- 6. Coins ------------------------------------------------------------------------------

CLASSIC_HEADS = np.array([5, 9, 8, 4, 7])


def outcomes(heads, flips):
    """Counts of heads as rows of flips: ``heads[i]`` ones, then zeros, ``flips`` columns."""
    return (np.arange(flips) < np.asarray(heads)[:, None]).astype(float)


def test_coin_counts_fit_as_fit_binomial_mixture():
    start = {"theta_init": [0.6, 0.5], "weights_init": [0.5, 0.5]}
    heads = CLASSIC_HEADS[:, None]
    fitted = BinomialMixtureEM(flips=10, fix_weights=True, tol=1e-10, max_iter=1000, **start).fit(heads)
    # Our EM's tol is on the total: 5 experiments times 1e-10.
    direct = fit_binomial_mixture(CLASSIC_HEADS, 10, init=[0.6, 0.5], fix_weights=True, tol=5e-10, max_iter=1000)
    np.testing.assert_allclose(fitted.theta_, direct.params["theta"], rtol=1e-12)
    np.testing.assert_allclose(fitted.theta_, [0.519583, 0.796789], atol=1e-6)
    assert fitted.lower_bound_ * 5 == pytest.approx(direct.objective, rel=1e-12)
    assert fitted.score(heads) == pytest.approx(direct.objective / 5, rel=1e-9)


def test_rows_of_flips_fit_as_their_counts_with_the_sequence_likelihood():
    counts = BinomialMixtureEM(flips=10, random_state=0).fit(CLASSIC_HEADS[:, None])
    rows = outcomes(CLASSIC_HEADS, 10)
    flips = BinomialMixtureEM(random_state=0).fit(rows)
    np.testing.assert_allclose(flips.theta_, counts.theta_, rtol=1e-12)
    np.testing.assert_allclose(flips.predict_proba(rows), counts.predict_proba(CLASSIC_HEADS[:, None]), rtol=1e-12)
    # A row of flips is one of C(10, heads) orders of its heads.
    orders = special.comb(10, CLASSIC_HEADS)
    np.testing.assert_allclose(flips.score_samples(rows), counts.score_samples(CLASSIC_HEADS[:, None]) - np.log(orders))


def test_ragged_rows_of_flips_are_experiments_of_different_lengths():
    heads, n_flips = np.array([3, 9, 1, 7, 6]), np.array([5, 10, 4, 10, 8])
    rows = outcomes(heads, 10)
    rows[np.arange(10) >= n_flips[:, None]] = np.nan
    fitted = BinomialMixtureEM(theta_init=[0.3, 0.7], tol=1e-12, max_iter=2000).fit(rows)
    direct = fit_binomial_mixture(heads, n_flips, init=[0.3, 0.7], tol=5e-12, max_iter=2000)
    np.testing.assert_allclose(fitted.theta_, direct.params["theta"], rtol=1e-10)


def test_coins_sample_bic_and_aic(rng):
    flips = coin_flips(rng)
    fitted = BinomialMixtureEM(random_state=0).fit(flips)
    np.testing.assert_allclose(fitted.theta_, [0.2, 0.8], atol=0.03)
    drawn, coins = fitted.sample(500)
    assert drawn.shape == (500, 20) and set(np.unique(drawn)) == {0.0, 1.0}
    np.testing.assert_allclose(drawn[coins == 1].mean(), fitted.theta_[1], atol=0.02)
    log_likelihood = fitted.score(flips) * flips.shape[0]
    assert fitted.bic(flips) == pytest.approx(-2 * log_likelihood + 3 * np.log(flips.shape[0]))
    assert fitted.aic(flips) == pytest.approx(-2 * log_likelihood + 6)
    counted = BinomialMixtureEM(flips=20, random_state=0).fit(flips.sum(axis=1, keepdims=True))
    assert counted.sample(4)[0].shape == (4, 1)


def test_coins_map_and_convergence_warning():
    prior = BetaDirichletPrior(a=2, b=2)
    fitted = BinomialMixtureEM(flips=10, prior=prior, random_state=0).fit(CLASSIC_HEADS[:, None])
    assert fitted.to_result().objective_name == "log_posterior"
    with pytest.warns(SklearnConvergenceWarning):
        BinomialMixtureEM(flips=10, random_state=0, tol=0, max_iter=3).fit(CLASSIC_HEADS[:, None])


@pytest.mark.parametrize(
    "options, x, match",
    [
        ({}, CLASSIC_HEADS[:, None], r"^X: with flips=None every cell is one flip.*got 5 at row 0.*pass flips="),
        ({"flips": 10}, outcomes(CLASSIC_HEADS, 10), r"^X: with flips=10, X holds each experiment's heads in one"),
        ({"flips": 8}, CLASSIC_HEADS[:, None], r"^heads: 9 heads exceed 8 flips at index 1"),
        ({"flips": 0}, CLASSIC_HEADS[:, None], r"^flips: expected a whole number >= 1"),
        ({"binarize": "half"}, outcomes(CLASSIC_HEADS, 10), r"^binarize: expected None or a finite number"),
        ({}, np.full((2, 3), np.nan), r"^X: row 0 has no flip"),
        ({"n_components": 6, "flips": 10}, CLASSIC_HEADS[:, None], r"^n_components: 6 components need"),
        ({"theta_init": [0.5, 1.5], "flips": 10}, CLASSIC_HEADS[:, None], r"^theta_init: every value must lie in"),
    ],
)
def test_bad_coin_input_is_a_clear_error(options, x, match):
    with pytest.raises(ValueError, match=match):
        BinomialMixtureEM(**options).fit(x)
