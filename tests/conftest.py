"""Shared test set-up: no network, no display, and every test writes into its own workspace."""

import os

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


def pytest_collection_modifyitems(config, items):
    """Notebook executions talk to their Jupyter kernel over loopback TCP: allow sockets for
    them only (``--allow-hosts`` in pyproject still limits connections to this machine)."""
    for item in items:
        if item.get_closest_marker("notebooks"):
            item.add_marker(pytest.mark.enable_socket)
