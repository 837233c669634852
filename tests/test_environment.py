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
