"""The conda route (environment.yml) and the pip route (pyproject.toml) install the same things."""

from pathlib import Path
import tomllib

from packaging.requirements import Requirement
import yaml

ROOT = Path(__file__).parents[1]

# Present only on the conda side: the interpreter and pip itself.
CONDA_ONLY = {"python", "pip"}


def _pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    listed = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    return {Requirement(r).name.lower(): str(Requirement(r).specifier) for r in listed}


def _conda_requirements() -> tuple[dict[str, str], list]:
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in environment["dependencies"] if isinstance(d, str)]
    pip = [d for d in environment["dependencies"] if isinstance(d, dict)]
    requirements = {Requirement(r).name.lower(): str(Requirement(r).specifier) for r in conda}
    return {name: spec for name, spec in requirements.items() if name not in CONDA_ONLY}, pip


def test_environment_lists_the_same_dependencies_and_ranges():
    conda, _ = _conda_requirements()
    assert conda == _pyproject_requirements()


def test_environment_uses_conda_forge_and_installs_the_project():
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert environment["name"] == "em-bayes"
    assert environment["channels"] == ["conda-forge"]
    _, pip = _conda_requirements()
    assert pip == [{"pip": ["--editable ."]}]


def test_same_python_floor():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert f"python{project['requires-python']}" in environment["dependencies"]


def test_setup_refuses_a_chosen_python_that_is_missing_or_too_old(tmp_path):
    import subprocess

    old = tmp_path / "python3.11"
    old.write_text("#!/bin/sh\necho 'Python 3.11.7'\nexit 1\n")
    old.chmod(0o755)
    for python, message in [
        ("/no/such/python", "setup: PYTHON=/no/such/python: no such interpreter"),
        (str(old), f"setup: PYTHON={old} is Python 3.11.7; em-bayes needs Python 3.12 or newer"),
    ]:
        done = subprocess.run(
            ["bash", str(ROOT / ".ci" / "setup")], env={"PATH": "/usr/bin:/bin", "PYTHON": python}, capture_output=True, text=True
        )
        assert done.returncode == 2 and done.stderr.strip() == message
