"""Choosing the NUTS implementation: checked by name, passed to pm.sample, refused where it cannot run."""

import numpy as np
import pymc as pm
import pymc.sampling.jax
import pytest

from inference import bayes, samplers
from inference.cli import main
from inference.imputation import compare_imputation
from inference.samplers import DEFAULT_NUTS_SAMPLER, NUTS_SAMPLERS, check_nuts_sampler


def test_numpyro_is_the_default_and_pymc_samples_discrete_variables():
    assert check_nuts_sampler(None) == DEFAULT_NUTS_SAMPLER == "numpyro"
    assert check_nuts_sampler(None, discrete=True) == "pymc"
    assert check_nuts_sampler("pymc", discrete=True) == "pymc"


def test_an_unknown_sampler_is_refused_by_name():
    with pytest.raises(
        ValueError, match=r"^nuts_sampler: expected one of \['numpyro', 'pymc', 'nutpie', 'blackjax'\] or None, got 'stan'"
    ):
        check_nuts_sampler("stan")


def test_a_sampler_that_is_not_installed_is_refused_with_the_remedy(monkeypatch):
    monkeypatch.setattr(samplers.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ValueError, match=r"^nuts_sampler: 'nutpie' is not installed; install it \(pip install nutpie\)"):
        check_nuts_sampler("nutpie")


def _models():
    with pm.Model() as continuous:
        pm.Normal("mu")
    with pm.Model() as discrete:
        pm.Categorical("assignment", p=[0.5, 0.5])
    return continuous, discrete


def test_the_chosen_sampler_runs_with_an_unjittered_start(monkeypatch):
    # The JAX samplers go straight to PyMC's JAX driver; the others through pm.sample.
    import xarray as xr

    calls = []
    one_draw = xr.DataTree.from_dict({"posterior": xr.Dataset({"mu": (("chain", "draw"), np.zeros((1, 1)))})})
    monkeypatch.setattr(bayes.pm, "sample", lambda **kwargs: calls.append(kwargs) or one_draw)
    monkeypatch.setattr(pymc.sampling.jax, "sample_jax_nuts", lambda **kwargs: calls.append(kwargs))
    monkeypatch.setattr(samplers.importlib.util, "find_spec", lambda name: name)
    continuous, discrete = _models()
    for model, nuts_sampler in [(continuous, None), (continuous, "pymc"), (discrete, None), (continuous, "nutpie")]:
        bayes.sample_posterior(model, initvals={}, draws=1, tune=1, chains=1, random_seed=0, nuts_sampler=nuts_sampler)
    assert [call["nuts_sampler"] for call in calls] == ["numpyro", "pymc", "pymc", "nutpie"]
    assert calls[0]["jitter"] is False and "init" not in calls[0]
    assert calls[0]["nuts_kwargs"] == {"dense_mass": True}
    assert calls[1]["init"] == calls[2]["init"] == "adapt_diag" and "nuts" not in calls[1]
    assert calls[3]["nuts"] == {"jitter": False}


def test_discrete_variables_need_pymcs_compound_step():
    x = np.array([[0.0, 1.0], [np.nan, 2.0], [5.0, 6.0], [5.5, np.nan]])
    message = r"^nuts_sampler: 'numpyro' cannot sample the discrete latent assignments, .* use 'pymc'"
    with pytest.raises(ValueError, match=message):
        compare_imputation(x, 2, nuts_sampler="numpyro")
    with pytest.raises(ValueError, match=message):
        bayes.sample_posterior(_models()[1], initvals={}, draws=1, tune=1, chains=1, random_seed=0, nuts_sampler="numpyro")


@pytest.mark.parametrize("command", [["compare", "two-coins"], ["compare", "gmm"], ["choose", "gmm"], ["grow", "gmm"]])
def test_the_command_line_offers_every_sampler_and_refuses_others(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--sampler", "stan"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "argument --sampler: invalid choice: 'stan' (choose from" in error
    assert all(name in error.rsplit("choose from", 1)[1] for name in NUTS_SAMPLERS)


def test_a_posterior_larger_than_the_machine_is_refused_before_sampling(monkeypatch):
    monkeypatch.setattr(bayes.pm, "sample", lambda **kwargs: pytest.fail("sampled"))
    with pytest.raises(ValueError, match=r"^draws: 4 chains of 1000000000 draws of 3 values need about 1\.79e\+03 GiB, more than half this machine.s memory"):
        bayes.sample_posterior(
            _models()[0], initvals={"mu": np.zeros(3)}, draws=10**9, tune=1, chains=4, random_seed=0, nuts_sampler="pymc"
        )


@pytest.mark.parametrize("option, value", [("--draws", "100000000000000000000"), ("--chains", "2147483648")])
def test_draws_and_chains_beyond_32_bits_are_refused_by_the_parser(capsys, option, value):
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "two-coins", option, value])
    assert exit_info.value.code == 2
    assert f"argument {option}: expected at most 2**31 - 1 = 2147483647" in capsys.readouterr().err


def test_a_posterior_cut_short_by_an_interrupt_is_an_interrupt_not_a_result(monkeypatch):
    # PyMC's sampler answers Ctrl-C by returning the draws it has, one chain of two here.
    import xarray as xr

    partial = xr.DataTree.from_dict({"posterior": xr.Dataset({"mu": (("chain", "draw"), np.zeros((1, 50)))})})
    monkeypatch.setattr(bayes.pm, "sample", lambda **kwargs: partial)
    with pytest.raises(KeyboardInterrupt, match="sampling stopped after 50 draws of 1 chains"):
        bayes.sample_posterior(_models()[0], initvals={}, draws=50, tune=1, chains=2, random_seed=0, nuts_sampler="pymc")


def test_numpyro_keeps_a_diagonal_mass_matrix_for_large_models(monkeypatch):
    calls = []
    monkeypatch.setattr(pymc.sampling.jax, "sample_jax_nuts", lambda **kwargs: calls.append(kwargs))
    for size in (bayes.DENSE_MASS_LIMIT, bayes.DENSE_MASS_LIMIT + 1):
        bayes.sample_posterior(
            _models()[0], initvals={"mu": np.zeros(size)}, draws=1, tune=1, chains=1, random_seed=0, nuts_sampler="numpyro"
        )
    assert [call["nuts_kwargs"] for call in calls] == [{"dense_mass": True}, {}]
