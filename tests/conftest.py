"""Shared test set-up: no network, no display, and every test writes into its own workspace."""

import importlib.util
import os
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _isolated_workspace(tmp_path, monkeypatch):
    """Point the default workspace root at a per-test temporary directory."""
    root = tmp_path / "workspace"
    monkeypatch.setenv("MSA_WORKBOOK_WORKSPACE", str(root))
    return root


@pytest.fixture
def workspace_root(_isolated_workspace):
    return _isolated_workspace


def leftover_files(directory):
    """Every file below ``directory`` (used to prove that failures leave nothing behind)."""
    return sorted(p for p in directory.rglob("*") if p.is_file()) if directory.exists() else []


def package_file(package, *parts):
    """A data file shipped inside an installed package (real HST files in PyPI wheels), or None."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]).joinpath(*parts)
    return path if path.exists() else None


def flt_47tuc():
    """The real 47 Tuc ACS/HRC flt that spherical-geometry 1.4.0 ships; skips the test without it."""
    path = package_file("spherical_geometry", "tests", "data", "j8bt06nyq_flt.fits")
    if path is None:
        pytest.skip("47 Tuc ACS/HRC flt not found: install spherical-geometry 1.4.0 (ships tests/data/j8bt06nyq_flt.fits)")
    return path


def pytest_collection_modifyitems(config, items):
    """Notebook executions talk to their Jupyter kernel over loopback TCP: allow sockets for
    them only (``--allow-hosts`` in pyproject still limits connections to this machine)."""
    for item in items:
        if item.get_closest_marker("notebooks"):
            item.add_marker(pytest.mark.enable_socket)
