"""The project's metadata: environment.yml and pyproject.toml ask for the same packages."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pyproject_requirements() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = set(project["dependencies"])
    for extra in ("lab", "test"):
        wanted |= set(project["optional-dependencies"][extra])
    return wanted


def _environment_requirements() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip) == 1, "environment.yml needs one pip: section"
    return set(pip[0])


def test_environment_yml_matches_pyproject():
    missing = _pyproject_requirements() - _environment_requirements()
    extra = _environment_requirements() - _pyproject_requirements()
    assert not missing and not extra, (
        f"environment.yml lacks {sorted(missing)} and has extra {sorted(extra)}: "
        "copy the specifiers from pyproject.toml"
    )


def test_environment_yml_pins_the_core_dependencies():
    names = {r.split(">")[0].split("=")[0].split("<")[0] for r in _environment_requirements()}
    assert {"replicate", "ipywidgets", "nest-asyncio2", "nbval"} <= names
    assert "nest-asyncio2>=1.7.3" in _environment_requirements()
    assert not any(n == "nest-asyncio" or n == "nest_asyncio" for n in names)


def test_the_replicate_pin_lets_no_incompatible_client_in():
    """`pip install --pre --upgrade` must not reach 1.1.0b3 (a SyntaxError on 3.11) nor 2.x."""
    from packaging.requirements import Requirement

    for source in (_pyproject_requirements(), _environment_requirements()):
        (pin,) = [Requirement(r) for r in source if Requirement(r).name == "replicate"]
        allowed = {
            v
            for v in ("1.0.7", "1.1.0b1", "1.1.0b3", "1.1.0", "2.0.0b4", "2.0.0")
            if pin.specifier.contains(v, prereleases=True)
        }
        assert allowed == {"1.0.7"}, (str(pin), allowed)
