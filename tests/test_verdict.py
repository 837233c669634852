"""The comparison's verdict: its arithmetic and its words, without sampling."""

import numpy as np
import pytest

from inference.verdict import Verdict, max_relative_difference


def verdict(**changes):
    fields = dict(
        max_map_relative_difference=3e-7,
        em_map_log_posterior=-655.541056,
        pymc_map_log_posteriors={"em_mle": -655.541056, "em_map": -655.541056},
        pymc_map_start="em_mle",
        start_nudged=False,
        n_chains=4,
        divergences=0,
        max_r_hat=1.004,
        min_ess_bulk=1800.0,
        em_map_in_hdi=9,
        n_parameters=9,
        chains_near=("em_map",) * 4,
    )
    return Verdict(**(fields | changes))


def test_relative_difference_is_measured_against_each_variables_scale():
    second = {"means": np.array([-2.0, 4.0]), "covariances": np.array([[1.0, 1e-9], [1e-9, 2.0]])}
    first = {"means": np.array([-2.0, 4.0004]), "covariances": np.array([[1.0, 3e-9], [3e-9, 2.0]])}
    # The mean moved by 4e-4 of its variable's size 4; the off-diagonal 2e-9 of 2 is no disagreement.
    assert max_relative_difference(first, second) == pytest.approx(1e-4)


def test_agreement_is_said_and_the_posterior_judged_acceptable():
    lines = verdict().lines()
    assert lines[0].startswith("Verdict: EM's MAP and PyMC's MAP agree")
    assert "disagree" not in "\n".join(lines)
    assert "Posterior: acceptable" in lines[1]
    assert verdict().posterior_ok and verdict().maps_agree


@pytest.mark.parametrize(
    "pymc_log_posterior, reading",
    [(-650.0, "EM stopped at a lesser optimum"), (-700.0, "PyMC's optimizer stopped at a lesser optimum")],
)
def test_disagreement_says_which_optimum_is_higher(pymc_log_posterior, reading):
    judged = verdict(
        max_map_relative_difference=4.2,
        pymc_map_log_posteriors={"em_mle": pymc_log_posterior, "em_map": -720.0},
        chains_near=("em_map", "pymc_map", "em_map", "em_map"),
    )
    text = "\n".join(judged.lines())
    assert text.startswith("Verdict: EM's MAP and PyMC's MAP disagree (largest relative difference 4.2 > 0.0001)")
    assert reading in text
    assert "Chains: 0, 2, 3 nearest EM's MAP; 1 nearest PyMC's MAP" in text
    assert judged.to_json_dict()["maps_agree"] is False


def test_one_chain_is_no_false_alarm_about_r_hat():
    judged = verdict(n_chains=1, max_r_hat=float("nan"), min_ess_bulk=500.0)
    assert judged.r_hat_ok is None and not judged.posterior_ok
    assert "r_hat needs at least two chains and was not checked" in judged.lines()[1]
    assert judged.to_json_dict()["max_r_hat"] is None


def test_divergences_low_ess_and_r_hat_each_fail_the_posterior():
    assert not verdict(divergences=3).posterior_ok
    assert not verdict(min_ess_bulk=120.0).posterior_ok
    assert not verdict(max_r_hat=1.2).posterior_ok
    line = verdict(divergences=3, min_ess_bulk=120.0, max_r_hat=1.2).lines()[1]
    assert "3 divergent transitions" in line and "bulk ESS 120 < 400" in line and "r_hat 1.200 > 1.01" in line


def test_chains_near_a_lesser_optimum_of_ems_starts_are_named_in_words():
    line = verdict(chains_near=("em_optimum_2",) * 4).lines()[-1]
    assert line == "  Chains: all 4 sit nearest optimum 2 of EM's starts (not its best)."
