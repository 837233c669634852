"""Choosing the NUTS implementation: checked by name, passed to pm.sample, refused where it cannot run."""

import numpy as np
import pytest

from inference import bayes, samplers
from inference.cli import main
from inference.imputation import compare_imputation
from inference.samplers import NUTS_SAMPLERS, check_nuts_sampler


def test_pymc_is_the_default_and_always_available():
    assert NUTS_SAMPLERS[0] == "pymc"
    assert check_nuts_sampler("pymc") == "pymc"


def test_an_unknown_sampler_is_refused_by_name():
    with pytest.raises(ValueError, match=r"^nuts_sampler: expected one of \['pymc', 'nutpie', 'numpyro', 'blackjax'\], got 'stan'"):
        check_nuts_sampler("stan")


def test_a_sampler_that_is_not_installed_is_refused_with_the_remedy(monkeypatch):
    monkeypatch.setattr(samplers.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ValueError, match=r"^nuts_sampler: 'nutpie' is not installed; install it \(pip install nutpie\)"):
        check_nuts_sampler("nutpie")


def test_the_chosen_sampler_reaches_pm_sample(monkeypatch):
    monkeypatch.setattr(samplers.importlib.util, "find_spec", lambda name: object())
    calls = []
    monkeypatch.setattr(bayes.pm, "sample", lambda **kwargs: calls.append(kwargs))
    bayes.sample_posterior(None, initvals={}, draws=1, tune=1, chains=1, random_seed=0, nuts_sampler="numpyro")
    bayes.sample_posterior(None, initvals={}, draws=1, tune=1, chains=1, random_seed=0)
    assert [call["nuts_sampler"] for call in calls] == ["numpyro", "pymc"]


def test_imputation_with_assignments_needs_pymcs_compound_step(monkeypatch):
    monkeypatch.setattr(samplers.importlib.util, "find_spec", lambda name: object())
    x = np.array([[0.0, 1.0], [np.nan, 2.0], [5.0, 6.0], [5.5, np.nan]])
    with pytest.raises(ValueError, match=r"^nuts_sampler: with 2 components the latent assignments .* use 'pymc'"):
        compare_imputation(x, 2, nuts_sampler="nutpie")


@pytest.mark.parametrize("command", [["compare", "two-coins"], ["compare", "gmm"], ["choose", "gmm"], ["grow", "gmm"]])
def test_the_command_line_offers_every_sampler_and_refuses_others(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--sampler", "stan"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "argument --sampler: invalid choice: 'stan' (choose from" in error
    assert all(name in error.rsplit("choose from", 1)[1] for name in NUTS_SAMPLERS)
