"""Notebook 01 executed headless with papermill on the offline demo field, twice.

The second run must find everything in the cache: no image is fetched again.
"""

import json
from pathlib import Path

import nbformat
import pytest

from helpers import config

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "01_find_imaging.ipynb"


def _run(out, workspace_root):
    import papermill

    papermill.execute_notebook(str(NOTEBOOK), str(out), parameters={"field": "demo-hudf",
                               "workspace_root": str(workspace_root)}, kernel_name="python3",
                               cwd=str(NOTEBOOK.parent), progress_bar=False, log_output=False)
    nb = nbformat.read(out, as_version=4)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors, errors


@pytest.mark.notebooks
def test_notebook01_runs_offline_and_reuses_the_cache(workspace_root, tmp_path):
    cfg = config.create_field("demo-hudf", ra=config.DEMO_FIELD["ra"], dec=config.DEMO_FIELD["dec"],
                              radius_arcmin=2.5, epoch=2027.5, workspace_root=workspace_root, live=False)
    _run(tmp_path / "first.ipynb", workspace_root)
    cfg = config.load_field("demo-hudf", workspace_root)
    images = cfg.extra["images"]
    assert images and [i["rank"] for i in images] == sorted(i["rank"] for i in images)
    for image in images:
        assert Path(image["path"]).is_file() and image["replay"] and image["wcsname"]
        assert {"product_id", "instrument", "filter", "epoch", "pixel_scale", "provenance"} <= set(image)
    archive_dir = cfg.subdir("archive")
    for name in ("imaging_ranked.ecsv", "gaia.ecsv", "hsc.ecsv", "manifest.json"):
        assert (archive_dir / name).is_file(), name
    assert (cfg.subdir("figures") / "01_archive_coverage.png").is_file()
    assert not list((archive_dir / ".partial").iterdir())
    stamps = {p.name: p.stat().st_mtime_ns for p in archive_dir.glob("*.fits")}
    manifest = json.loads((archive_dir / "manifest.json").read_text())

    _run(tmp_path / "second.ipynb", workspace_root)
    assert {p.name: p.stat().st_mtime_ns for p in archive_dir.glob("*.fits")} == stamps
    assert json.loads((archive_dir / "manifest.json").read_text()) == manifest
    text = json.dumps(nbformat.read(tmp_path / "second.ipynb", as_version=4).cells)
    assert "cached" in text and "REPLAY" in text
