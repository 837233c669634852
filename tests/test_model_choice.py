"""Model choice: EM's BIC and AIC beside PSIS-LOO of the posterior."""

import numpy as np
import pytest

from inference import BetaDirichletPrior, model_choice
from inference.model_choice import (
    binomial_n_parameters,
    choose_gaussian_components,
    choose_n_coins,
    information_criteria,
)
from models.datasets import simulate_coins

# The data of tests/test_compare.py: 300 experiments of 20 flips from coins
# 0.3 / 0.7. Sharing data and prior with that test reuses its compiled K = 2 model.
TRUTH = simulate_coins(300, 20, [0.3, 0.7], [0.4, 0.6], random_state=5)


def test_information_criteria_by_hand():
    bic, aic = information_criteria(-100.0, 3, 50)
    assert bic == pytest.approx(200 + 3 * np.log(50))
    assert aic == pytest.approx(206.0)


def test_binomial_parameter_count():
    assert binomial_n_parameters(1) == 1
    assert binomial_n_parameters(3) == 5
    assert binomial_n_parameters(3, fix_weights=True) == 3


@pytest.mark.filterwarnings(r"ignore:component \d is \(nearly\) empty")
def test_too_many_components_fail_before_any_sampling(monkeypatch):
    def sample(*args, **kwargs):
        raise AssertionError("sampled before every K was fitted")

    monkeypatch.setattr(model_choice, "_posterior_row", sample)
    with pytest.raises(ValueError, match=r"^n_components: 3 components need at least as many"):
        choose_n_coins([5, 9], 10, max_coins=3, n_init=1)
    with pytest.raises(ValueError, match=r"^n_components: 4 components need at least as many rows, got 3"):
        choose_gaussian_components([0.0, 1.0, 2.5], max_components=4, n_init=1)


@pytest.fixture(scope="module")
def coin_choice():
    # 2 chains x 200 draws: enough for PSIS-LOO on a two- or three-parameter
    # posterior (the elpd's Monte Carlo error is far below its gap here).
    return choose_n_coins(
        TRUTH.heads,
        TRUTH.flips,
        max_coins=2,
        prior=BetaDirichletPrior(2, 2, 1),
        n_init=5,
        draws=200,
        tune=200,
        chains=2,
        random_seed=3,
    )


@pytest.mark.slow
def test_table_has_one_row_per_k(coin_choice):
    assert list(coin_choice.index) == [1, 2]
    for column in ["log_likelihood", "n_parameters", "bic", "aic", "elpd_loo", "se", "p_loo", "max_pareto_k"]:
        assert np.isfinite(coin_choice[column].to_numpy(dtype=float)).all(), column
    assert coin_choice["best_by_bic"].sum() == 1 and coin_choice["best_by_loo"].sum() == 1


@pytest.mark.slow
def test_two_coins_preferred_over_one(coin_choice):
    # Coins 0.3 and 0.7 with 20 flips each are 4 binomial sds apart: one coin
    # fits 300 experiments worse by hundreds of nats, so both criteria prefer
    # K = 2 by a margin no seed or Monte Carlo error can close (asserted below:
    # the elpd gap is many times its standard error).
    assert coin_choice.loc[2, "best_by_bic"] and coin_choice.loc[2, "best_by_loo"]
    assert coin_choice.loc[1, "bic"] - coin_choice.loc[2, "bic"] > 100
    gap = coin_choice.loc[2, "elpd_loo"] - coin_choice.loc[1, "elpd_loo"]
    assert gap > 5 * coin_choice.loc[2, "se"]
    # p_loo close to the parameter count: the posterior is well identified.
    assert abs(coin_choice.loc[2, "p_loo"] - 3) < 1.5
    assert not coin_choice["pareto_k_warning"].any()


def test_bic_never_chooses_a_fit_with_collapsed_components():
    from inference.model_choice import _mark_best

    rows = {
        1: {"bic": 30.0, "elpd_loo": -20.0, "collapsed": 0},
        2: {"bic": 25.0, "elpd_loo": -19.0, "collapsed": 0},
        3: {"bic": -40.0, "elpd_loo": -25.0, "collapsed": 2},
    }
    table = _mark_best(rows)
    assert list(table.index[table["best_by_bic"]]) == [2]
    assert list(table.index[table["best_by_loo"]]) == [2]
