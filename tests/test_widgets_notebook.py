"""Notebook 04 inputs (pre-image and catalog discovery) and its headless run with papermill."""

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from helpers import config, msa
from helpers.errors import WorkbookError
from helpers.plotting.msa import synthetic_wcs
from helpers.widgets import load_overlay_inputs, read_image

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "04_msa_overlay.ipynb"
HUDF = (53.1625, -27.791417)


def _populate(cfg, with_sigma=True):
    """A drizzled-like image in archive/ and a notebook-02-like catalog in catalogs/."""
    wcs, shape = synthetic_wcs(*HUDF, scale_arcsec=0.1, size=2600)
    rng = np.random.default_rng(5)
    hdr = wcs.to_header()
    hdul = fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(rng.normal(0, 1, shape).astype(np.float32), hdr, name="SCI")])
    hdul.writeto(cfg.subdir("archive") / "demo_drc.fits")
    p = msa.MSAPointing(*HUDF, 45.0)
    ra, dec = p.shutter_sky(np.repeat([1, 2, 3, 4], 10), rng.integers(20, 340, 40), rng.integers(10, 160, 40))
    t = Table({"id": np.arange(1, 41), "ra": ra, "dec": dec})
    if with_sigma:
        t["ra_err"] = rng.uniform(2, 30, 40)
        t["dec_err"] = rng.uniform(2, 30, 40)
    t.write(cfg.subdir("catalogs") / "sources_demo_drc.ecsv")
    return t


def test_load_overlay_inputs(tmp_path):
    cfg = config.create_field("demo-hudf", ra=HUDF[0], dec=HUDF[1], workspace_root=tmp_path)
    empty = load_overlay_inputs(cfg)
    assert empty["image"] is None and empty["sources"] is None
    assert any("run notebook 01" in m for m in empty["messages"]) and any("run notebook 02" in m for m in empty["messages"])
    _populate(cfg, with_sigma=False)
    found = load_overlay_inputs(cfg)
    assert found["image"].shape == (2600, 2600) and found["wcs"].has_celestial
    assert len(found["sources"]) == 40 and found["catalog_name"] == "demo_drc"
    assert any("0 with a position error" in m for m in found["messages"])


def test_read_image_errors(tmp_path):
    (tmp_path / "bad.fits").write_bytes(b"not a fits file")
    with pytest.raises(WorkbookError, match="cannot read image"):
        read_image(tmp_path / "bad.fits")
    fits.HDUList([fits.PrimaryHDU(np.zeros((10, 10)))]).writeto(tmp_path / "nowcs.fits")
    with pytest.raises(WorkbookError, match="no 2-D image with a celestial WCS"):
        read_image(tmp_path / "nowcs.fits")


@pytest.mark.notebooks
@pytest.mark.parametrize("with_inputs", [False, True])
def test_notebook_04_runs_headless(tmp_path, with_inputs):
    papermill = pytest.importorskip("papermill")
    import nbformat

    cfg = config.create_field("demo-hudf", ra=HUDF[0], dec=HUDF[1], workspace_root=tmp_path)
    if with_inputs:
        _populate(cfg)
    out = tmp_path / "04_out.ipynb"
    papermill.execute_notebook(str(NOTEBOOK), str(out), parameters={"field": "demo-hudf", "workspace_root": str(tmp_path),
                                                                    "apa": 400.0},
                               kernel_name="python3", progress_bar=False, cwd=str(NOTEBOOK.parent))
    cfg = config.load_field("demo-hudf", tmp_path)
    assert cfg.pointing["apa"] == pytest.approx(40.0)  # wrapped, not refused
    assert cfg.pointing["ra"] == pytest.approx(HUDF[0]) and cfg.pointing["filter"] == "CLEAR"
    assert (cfg.path / "figures" / "04_msa_overlay.png").stat().st_size > 10_000
    if with_inputs:
        assert cfg.extra["msa"]["counts"]["in MSA quadrants"] > 0
    # the committed notebook carries no outputs
    nb = nbformat.read(str(NOTEBOOK), as_version=4)
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")
    assert sum("parameters" in c.metadata.get("tags", []) for c in nb.cells) == 1
