"""environment.yml (conda-forge) and pyproject.toml must declare the same dependencies."""

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _normalise(requirement):
    name, spec = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", requirement).groups()
    return re.sub(r"[-_.]+", "-", name).lower(), spec.replace(" ", "")


def pyproject_requirements():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project = data["project"]
    reqs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        reqs += extra
    reqs.append(f"python{project['requires-python']}")
    return dict(_normalise(r) for r in reqs)


def environment_requirements():
    import yaml

    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "conda-forge" in env["channels"]
    return dict(_normalise(r) for r in env["dependencies"] if isinstance(r, str))


def test_same_packages_and_versions():
    pyproject = pyproject_requirements()
    conda = environment_requirements()
    only_pyproject = sorted(set(pyproject) - set(conda))
    only_conda = sorted(set(conda) - set(pyproject))
    assert not only_pyproject, f"in pyproject.toml but not environment.yml: {only_pyproject}"
    assert not only_conda, f"in environment.yml but not pyproject.toml: {only_conda}"
    different = {k: (pyproject[k], conda[k]) for k in pyproject if pyproject[k] != conda[k]}
    assert not different, f"version bounds differ (pyproject, conda): {different}"


def test_makefile_and_ci_use_the_readme_commands():
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M)


@pytest.mark.parametrize("module", ["helpers.config", "helpers.simulate", "helpers.archive", "helpers.sources",
                                    "helpers.astrometry", "helpers.targets", "helpers.msa", "helpers.export"])
def test_computing_modules_do_not_import_matplotlib(module):
    """The shape of the house: computing modules work without matplotlib or a display."""
    import subprocess
    import sys

    code = f"import sys, {module}; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
