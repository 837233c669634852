"""EM results travel: pickle and deepcopy give back equal, still frozen results; the repr is short."""

import copy
import dataclasses
import pickle

import numpy as np
import pytest

from inference.em import EMResult, GaussianMixtureResult, Restart, fit_binomial_mixture, fit_gaussian_mixture
from inference.em.result import FrozenMapping


@pytest.fixture(scope="module")
def results():
    """One fit of each kind: coins, a Gaussian mixture with restarts, and one with missing values."""
    rng = np.random.default_rng(42)
    x = rng.normal(size=(120, 2)) + 4 * rng.integers(2, size=(120, 1))
    incomplete = x.copy()
    incomplete[::9, 1] = np.nan
    return {
        "coins": fit_binomial_mixture([5, 9, 8, 4, 7], 10),
        "gaussian": fit_gaussian_mixture(x, 2, covariance_type="diag", n_init=3, random_state=0),
        "imputed": fit_gaussian_mixture(incomplete, 2, missing="em", random_state=0),
    }


def round_trips():
    """Every way a result travels: pickle at each protocol (5 keeps buffers out of band), and deepcopy."""
    trips = {
        f"pickle{protocol}": (lambda value, protocol=protocol: pickle.loads(pickle.dumps(value, protocol=protocol)))
        for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1)
    }
    return {**trips, "deepcopy": copy.deepcopy}


def arrays_of(result):
    """Every array a result holds, by where it sits: fields, mapping values, and the restarts' parameters."""
    found = {}
    for field in dataclasses.fields(result):
        value = getattr(result, field.name)
        if isinstance(value, np.ndarray):
            found[field.name] = value
        elif isinstance(value, FrozenMapping):
            arrays = {name: item for name, item in value.items() if isinstance(item, np.ndarray)}
            found.update({f"{field.name}[{name!r}]": item for name, item in arrays.items()})
        elif field.name == "restarts":
            for index, restart in enumerate(value):
                found.update({f"restarts[{index}].params[{name!r}]": item for name, item in restart.params.items()})
    return found


@pytest.mark.parametrize("trip", sorted(round_trips()))
@pytest.mark.parametrize("kind", ["coins", "gaussian", "imputed"])
def test_round_trip_keeps_values_and_read_only_arrays(results, kind, trip):
    result = results[kind]
    loaded = round_trips()[trip](result)
    assert type(loaded) is type(result) and loaded is not result
    before, after = arrays_of(result), arrays_of(loaded)
    assert before.keys() == after.keys()
    # The arrays we compare include coords (integers), history, restarts and, for missing values, imputed.
    assert len(after) >= 10
    for where, array in after.items():
        assert not array.flags.writeable, where
        np.testing.assert_array_equal(array, before[where], err_msg=where)
        assert array.dtype == before[where].dtype, where
    assert loaded.dims == result.dims
    for name in ("n_iter", "converged", "objective_name", "objective"):
        assert getattr(loaded, name) == getattr(result, name)
    assert len(loaded.restarts) == len(result.restarts)
    assert repr(loaded) == repr(result)


@pytest.mark.parametrize("trip", sorted(round_trips()))
def test_loaded_results_stay_frozen(results, trip):
    loaded = round_trips()[trip](results["gaussian"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        loaded.n_iter = 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        loaded.restarts[0].objective = 0.0
    with pytest.raises(TypeError):
        loaded.params["means"] = np.zeros((2, 2))
    with pytest.raises(TypeError):
        loaded.coords["component"] = np.arange(5)
    with pytest.raises(AttributeError):
        loaded.params._items = {}
    with pytest.raises(TypeError):
        loaded.params._items["means"] = np.zeros((2, 2))
    with pytest.raises(ValueError, match="read-only"):
        loaded.params["means"][0, 0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        loaded.responsibilities[0, 0] = 1.0


def test_loaded_results_still_work(results):
    result = results["gaussian"]
    loaded = pickle.loads(pickle.dumps(result))
    x = np.random.default_rng(0).normal(size=(5, 2))
    np.testing.assert_array_equal(loaded.predict_proba(x), result.predict_proba(x))
    assert loaded.bic(x) == result.bic(x)
    assert loaded.to_dataset().identical(result.to_dataset())
    # A result rebuilt from a loaded one (as an estimator merges its starts' restarts) keeps the type.
    assert isinstance(dataclasses.replace(loaded, restarts=loaded.restarts[:1]), GaussianMixtureResult)


def test_a_frozen_mapping_travels_on_its_own():
    mapping = FrozenMapping({"theta": np.array([0.2, 0.8]), "dims": ("coin",)})
    for trip in round_trips().values():
        loaded = trip(mapping)
        assert isinstance(loaded, FrozenMapping) and list(loaded) == ["theta", "dims"]
        assert not loaded["theta"].flags.writeable and loaded["dims"] == ("coin",)
    assert repr(mapping) == "FrozenMapping({'theta': array([0.2, 0.8]), 'dims': ('coin',)})"


def test_the_fit_does_not_freeze_the_callers_coordinates():
    # Coordinates are copied before they are made read-only; only loaded copies are frozen in place.
    values = np.array([[1.0, 2.0], [1.5, 2.5], [8.0, 9.0], [8.5, 9.5]])
    result = fit_gaussian_mixture(values, 2, random_state=0)
    assert not result.coords["obs"].flags.writeable
    assert values.flags.writeable


# --- The repr ---------------------------------------------------------------------------------


def test_repr_of_a_large_fit_is_short_and_says_what_was_fitted():
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=6.0, size=(8, 10))
    x = centres[rng.integers(8, size=400)] + rng.normal(size=(400, 10))
    result = fit_gaussian_mixture(x, 8, n_init=2, random_state=0, max_iter=200)
    text = repr(result)
    assert len(text.splitlines()) <= 15
    first = text.splitlines()[0]
    assert first.startswith("GaussianMixtureResult(") and "n_components=8" in first and "'full'" in first
    status = "converged" if result.converged else "not converged"
    assert f"log_likelihood = {result.objective:.6f} after {result.n_iter} iterations ({status})" in text
    for name, shape in [("weights", (8,)), ("means", (8, 10)), ("covariances", (8, 10, 10))]:
        assert f"{name}: {shape}" in text
    assert "responsibilities: (400, 8)" in text and "restarts: 2" in text
    # No array values: the repr of a million rows is as long.
    assert "array(" not in text


def test_repr_of_coins_and_restarts(results):
    coins = results["coins"]
    text = repr(coins)
    assert text.splitlines()[0] == "EMResult(n_components=2)"
    assert "theta: (2,)" in text and len(text.splitlines()) <= 15
    restart = coins.restarts[0]
    assert isinstance(restart, Restart) and isinstance(coins, EMResult)
    assert repr(restart) == (
        f"Restart(objective={restart.objective:.6f}, n_iter={restart.n_iter}, converged; theta (2,), weights (2,))"
    )
