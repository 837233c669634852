"""EM on a dask array over a distributed cluster gives the in-memory fit."""

from functools import partial
import warnings

import dask.array as da
from distributed import Client, LocalCluster
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from inference.dask_em import (
    _chunk_summaries,
    _data_error,
    _e_step,
    chunk_statistics,
    fit_gaussian_mixture_dask,
    log_responsibilities_dask,
)
from inference.em import ConvergenceWarning, fit_gaussian_mixture
from inference.em.gaussian import e_step


@pytest.fixture(scope="module")
def client():
    # One in-process worker with one thread: starts in about a second and needs no pickling
    # of the data; the graph still goes through the scheduler as on a real cluster.
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            yield client


@pytest.fixture(autouse=True, scope="module")
def single_threaded_blas():
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def blobs(rng, n_samples=3000, n_features=2, n_components=3):
    centres = rng.normal(scale=4.0, size=(n_components, n_features))
    return centres[rng.integers(n_components, size=n_samples)] + rng.normal(size=(n_samples, n_features))


def start_for(x, n_components, covariance_type, seed=1):
    """k-means++ seeding and one M-step: the start of an in-memory fit, with no iteration."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = fit_gaussian_mixture(x, n_components, covariance_type=covariance_type, max_iter=0, random_state=seed)
    return {name: np.asarray(value) for name, value in fit.params.items()}


@pytest.mark.filterwarnings("ignore::inference.em.ConvergenceWarning")
@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_dask_fit_equals_in_memory_fit(rng, client, covariance_type):
    x = blobs(rng)
    start = start_for(x, 3, covariance_type)
    memory = fit_gaussian_mixture(x, 3, covariance_type=covariance_type, init=start, tol=1e-8, max_iter=15)
    chunked = da.from_array(x, chunks=(700, 2))
    run = fit_gaussian_mixture_dask(chunked, start, covariance_type=covariance_type, tol=1e-8, max_iter=15)
    assert run.n_iter == memory.n_iter
    # The same E-step on each chunk, about the same shift: only the order of the sums
    # differs, rounding measured ~1e-14 after 15 iterations of a contracting map.
    # 1e-10 is the agreement promised.
    np.testing.assert_allclose(run.objective_trace, memory.objective_trace, rtol=1e-10)
    for name in start:
        np.testing.assert_allclose(run.params[name], memory.params[name], rtol=1e-10, atol=1e-10)
    log_resp = log_responsibilities_dask(chunked, run.params, covariance_type=covariance_type)
    np.testing.assert_allclose(np.exp(log_resp.compute()), memory.responsibilities, rtol=0, atol=1e-10)


def test_chunk_statistics_sum_over_chunks(rng):
    x = blobs(rng, 500)
    params = start_for(x, 3, "full")
    whole = chunk_statistics(x, params, covariance_type="full")
    parts = chunk_statistics(x[:123], params, covariance_type="full") + chunk_statistics(
        x[123:], params, covariance_type="full"
    )
    # Sums of 500 terms split in two: rounding of the summed magnitudes only.
    np.testing.assert_allclose(parts, whole, rtol=1e-12, atol=1e-9)
    assert whole[0, 0] == pytest.approx(e_step(params, x=x, covariance_type="full", prior=None)[1], rel=1e-13)


@pytest.mark.filterwarnings("ignore::inference.em.ConvergenceWarning")
def test_accelerated_dask_fit_climbs(rng, client):
    x = blobs(rng)
    start = start_for(x, 3, "full")
    run = fit_gaussian_mixture_dask(da.from_array(x, chunks=(1000, 2)), start, max_iter=12, accelerate=True)
    # Ascent up to rounding of a sum of 3000 log-sum-exps (< 1e-12 relative).
    assert (np.diff(run.objective_trace) >= -1e-9 * np.abs(run.objective_trace[1:])).all()


def test_rejects_a_numpy_array_and_a_3d_one(rng):
    x = blobs(rng, 50)
    with pytest.raises(ValueError, match=r"^x: expected a dask array, got ndarray \(in memory, use .*fit_gaussian_mixture\)"):
        fit_gaussian_mixture_dask(x, start_for(x, 3, "full"))
    with pytest.raises(ValueError, match=r"^x: expected a 1-D or 2-D dask array, got 3-D$"):
        fit_gaussian_mixture_dask(da.from_array(x[:, :, None]), start_for(x, 3, "full"))


@pytest.mark.filterwarnings("ignore::inference.em.ConvergenceWarning")
def test_a_1d_array_is_one_feature(rng):
    x = blobs(rng, 600, n_features=1)
    start = start_for(x, 2, "full")
    flat = fit_gaussian_mixture_dask(da.from_array(x[:, 0], chunks=200), start, max_iter=5)
    column = fit_gaussian_mixture_dask(da.from_array(x, chunks=(200, 1)), start, max_iter=5)
    # The same arithmetic on the same chunks.
    np.testing.assert_array_equal(flat.objective_trace, column.objective_trace)
    np.testing.assert_array_equal(
        log_responsibilities_dask(da.from_array(x[:, 0], chunks=200), flat.params, covariance_type="full").compute(),
        log_responsibilities_dask(da.from_array(x, chunks=(200, 1)), column.params, covariance_type="full").compute(),
    )


def test_bad_input_names_the_argument(rng):
    x = blobs(rng, 50)
    start = start_for(x, 3, "full")
    with pytest.raises(ValueError, match=r"^x: no data given \(shape \(0, 2\)\)"):
        fit_gaussian_mixture_dask(da.from_array(x[:0]), start)
    with pytest.raises(ValueError, match=r"^init: expected a mapping"):
        fit_gaussian_mixture_dask(da.from_array(x), None)
    with pytest.raises(ValueError, match=r"^init: missing 'means'"):
        fit_gaussian_mixture_dask(da.from_array(x), {"covariances": start["covariances"]})
    with pytest.raises(ValueError, match=r"^init\['means'\]: expected shape \('n_components', 2\), got \(2,\)"):
        fit_gaussian_mixture_dask(da.from_array(x), {**start, "means": start["means"][0]})
    with pytest.raises(ValueError, match=r"^x: a covariance needs at least 2 rows, got 1$"):
        fit_gaussian_mixture_dask(da.from_array(x[:1]), {**start, "means": start["means"][:1]})
    with pytest.raises(ValueError, match=r"^init\['means'\]: 3 components need at least as many rows of x, got 2$"):
        fit_gaussian_mixture_dask(da.from_array(x[:2]), start)


def identity_start(x, n_components=2):
    """Means at the first rows of ``x`` (n_samples, n_features), unit covariances: a start that needs no clean fit."""
    return {"means": x[:n_components], "covariances": np.repeat(np.eye(x.shape[1])[None], n_components, axis=0)}


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize(
    "cells, match",
    [
        # Chunks of 300 rows: row 705 is row 105 of the third chunk; the later NaN is not the one named.
        ({(705, 1): np.nan, (900, 0): np.nan}, r"^x: contains NaN at row 705, column 1; .*missing=\"em\""),
        ({(412, 0): -np.inf, (650, 1): np.nan}, r"^x: contains inf at row 412, column 0; "),
    ],
)
def test_a_non_finite_cell_is_named_by_its_row_and_column(rng, cells, match):
    x = blobs(rng, 1000)
    for cell, value in cells.items():
        x[cell] = value
    with pytest.raises(ValueError, match=match):
        fit_gaussian_mixture_dask(da.from_array(x, chunks=(300, 2)), identity_start(x), max_iter=5)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_column_beyond_float_range_asks_to_rescale(rng):
    x = blobs(rng, 1000)
    x[:, 1] *= 1e200
    with pytest.raises(ValueError, match=r"^x: column 1 spans .* for 1000 rows: .*rescale x"):
        fit_gaussian_mixture_dask(da.from_array(x, chunks=(300, 2)), identity_start(x), max_iter=5)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_non_finite_objective_from_parameters_is_returned_not_raised(rng):
    # SQUAREM's extrapolated point may have a negative weight; with clean data the E-step returns its
    # non-finite objective for the loop to reject, rather than blaming x.
    x = blobs(rng, 1000)
    params = {**start_for(x, 3, "full"), "weights": np.array([1.5, -0.25, -0.25])}
    chunked = da.from_array(x, chunks=(300, 2))
    diagnosis = partial(_data_error, _chunk_summaries(chunked), 1e-6)
    assert diagnosis() is None
    _, objective = _e_step(params, x=chunked, covariance_type="full", diagnosis=diagnosis)
    assert not np.isfinite(objective)


@pytest.mark.parametrize(
    "n_features, match",
    [
        (2, r"^x: column 1 is constant \(5\), so no covariance is positive definite with reg_covar=0; drop the column"),
        (1, r"^x: every value is 5, so no covariance is positive definite with reg_covar=0; use reg_covar > 0$"),
    ],
)
def test_a_constant_column_without_regularisation_is_named(rng, n_features, match):
    # The first M-step gives the column zero variance in every component; the next E-step's
    # covariance error is traced back to the data, as the in-memory fit's check would say.
    x = blobs(rng, 1000, n_features)
    x[:, -1] = 5.0
    with pytest.raises(ValueError, match=match) as caught:
        fit_gaussian_mixture_dask(da.from_array(x, chunks=(300, n_features)), identity_start(x), reg_covar=0.0)
    assert "not positive definite" in str(caught.value.__cause__)


def test_a_collapsed_component_on_clean_data_is_blamed_on_the_covariance(rng):
    # One row far from the rest: its component shrinks onto it, and with reg_covar=0 its
    # covariance is singular; the data are fine, so the covariance error stands.
    x = np.r_[rng.normal(size=(200, 2)), [[50.0, 50.0]]]
    start = {"means": np.array([[0.0, 0.0], [50.0, 50.0]]), "covariances": np.repeat(np.eye(2)[None], 2, axis=0)}
    with pytest.raises(ValueError, match=r"^covariances: component 1's covariance is not positive definite"):
        fit_gaussian_mixture_dask(da.from_array(x, chunks=(100, 2)), start, reg_covar=0.0)
