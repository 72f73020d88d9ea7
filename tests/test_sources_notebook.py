"""Notebook 02 runs headless (papermill) on the demo field in a temporary workspace."""

import pytest

pytestmark = pytest.mark.notebooks


def test_notebook_02_runs_and_writes_catalogs(tmp_path):
    papermill = pytest.importorskip("papermill")
    from pathlib import Path

    from astropy.table import Table

    from helpers import config, sources

    demo = config.DEMO_FIELD
    cfg = config.create_field(demo["name"], ra=demo["ra"], dec=demo["dec"], workspace_root=tmp_path, live=False)
    notebook = Path(__file__).resolve().parents[1] / "notebooks" / "02_extract_sources.ipynb"
    out = tmp_path / "02_executed.ipynb"
    papermill.execute_notebook(str(notebook), str(out), parameters={"field": cfg.name, "workspace_root": str(tmp_path)},
                               kernel_name="python3", cwd=str(notebook.parent), progress_bar=False)
    catalogs = sorted((cfg.path / "catalogs").glob("sources_*.ecsv"))
    assert len(catalogs) == 3
    for path in catalogs:
        cat = Table.read(path)
        assert cat.colnames[: len(sources.SCHEMA)] == list(sources.SCHEMA)
        for key in ("image", "epoch", "instrument", "filter", "pixel_scale", "fwhm_pix", "wcsname"):
            assert cat.meta.get(key) not in (None, ""), key
        assert len(cat) > 100
    assert len(list((cfg.path / "figures").glob("02_*.png"))) >= 4
    assert len(config.load_field(cfg.name, tmp_path).extra["source_catalogs"]) == 3
