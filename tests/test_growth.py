"""EM's MAP and Louis' standard errors against NUTS as the data grow."""

import numpy as np
import pytest

from inference.growth import convergence_with_data

COLUMNS = ["em_map_error", "posterior_mean_error", "em_map_vs_mean", "se_ratio"]


@pytest.mark.slow
def test_two_coins_growth_table():
    table = convergence_with_data([40, 400], problem="two-coins", n_init=5, draws=300, tune=300, chains=2, random_seed=1)
    assert list(table.index.get_level_values("n").unique()) == [40, 400]
    assert set(COLUMNS) <= set(table.columns)
    assert np.isfinite(table[COLUMNS].to_numpy()).all()
    largest = table.loc[400]
    # At 400 experiments of 20 flips the posterior is nearly normal
    # (Bernstein-von Mises): Louis' SE at the MAP and the posterior sd agree
    # to a few percent (measured 0.97-1.06); the sd from 2 x 300 draws carries
    # about 5% Monte Carlo error, so 25% is a safe band.
    np.testing.assert_allclose(largest["se_ratio"], 1, atol=0.25)
    # The MAP and the posterior mean differ by far less than one posterior sd.
    assert (largest["em_map_vs_mean"] < 0.5 * largest["posterior_sd"]).all()


def test_unknown_problem_is_refused():
    with pytest.raises(ValueError, match="problem: expected one of"):
        convergence_with_data([10], problem="three-coins")


@pytest.mark.parametrize("seed", [-1, "x"])
def test_bad_random_seed_is_named(seed):
    with pytest.raises(ValueError, match=r"^random_seed: expected None, a whole number >= 0"):
        convergence_with_data([40], random_seed=seed)
