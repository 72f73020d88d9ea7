"""Notebook 05 runs headless (papermill) on fabricated minimal upstream outputs and writes all its files.

The upstream notebooks are replaced by what they leave in the workspace: ``field.json`` with a
pointing (04), ``extra['images']`` (01) and ``extra['astrometry']`` (03), a source catalog
``catalogs/sources_<image>.ecsv`` (02) and the image's FITS header (for the zeropoint).
"""

import json
import math
from pathlib import Path

import numpy as np
import pytest

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "05_export_for_apt.ipynb"
RA0, DEC0 = 53.1625, -27.791417


def fabricate_workspace(root, with_pointing=True, n_gal=1500, n_star=250, seed=7):
    from astropy.io import fits
    from astropy.table import Table
    from helpers import config

    cfg = config.create_field("nb05-test", ra=RA0, dec=DEC0, workspace_root=root, epoch=2027.5)
    rng = np.random.default_rng(seed)
    n = n_gal + n_star
    cosd = math.cos(math.radians(DEC0))
    half = 100.0 / 3600.0
    t = Table()
    t["id"] = np.arange(1, n + 1)
    t["x"] = rng.uniform(0, 3000, n)
    t["y"] = rng.uniform(0, 3000, n)
    t["x_err"] = rng.uniform(0.01, 0.1, n)
    t["y_err"] = rng.uniform(0.01, 0.1, n)
    t["ra"] = RA0 + rng.uniform(-half, half, n) / cosd
    t["dec"] = DEC0 + rng.uniform(-half, half, n)
    t["ra_err"] = np.where(np.arange(n) < n_star, rng.uniform(0.5, 6, n), rng.uniform(3, 40, n))
    t["dec_err"] = t["ra_err"] * rng.uniform(0.8, 1.2, n)
    zp = 25.94
    mag = np.where(np.arange(n) < n_star, rng.uniform(18.5, 26, n), rng.uniform(21, 29, n))
    t["flux"] = 10 ** (-0.4 * (mag - zp))
    t["flux_err"] = t["flux"] * 0.02
    t["snr"] = 50.0
    t["fwhm"] = 2.0
    t["kind"] = np.where(np.arange(n) < n_star, "point", "extended")
    t["flags"] = np.where((np.arange(n) < n_star) & (mag < 19.0), 1, 0).astype(np.int64)
    t["method"] = "psf"
    t.meta.update(image="hst_demo_acs_wfc_f814w", epoch=2004.8, instrument="ACS/WFC", filter="F814W",
                  pixel_scale=0.06, fwhm_pix=2.0, wcsname="IDC_0461802ej-FIT_SVM_GAIAeDR3")
    t.write(cfg.subdir("catalogs") / "sources_hst_demo_acs_wfc_f814w_drz.ecsv", format="ascii.ecsv")
    # notebook 01's Gaia cache: the stars at 2016.0 with small proper motions (0.3 mas/yr rms), the
    # first five fast (20 mas/yr) so that MSATA must reject them for their motion to 2027.5
    pm = rng.normal(0, 0.3, (2, n_star))
    pm[0, :5] = 20.0
    dt = 2016.0 - 2004.8
    gaia = Table({"source_id": np.arange(n_star) + 10 ** 15, "ra": t["ra"][:n_star] + pm[0] * dt / 3.6e6 / cosd,
                  "dec": t["dec"][:n_star] + pm[1] * dt / 3.6e6, "pmra": pm[0], "pmdec": pm[1],
                  "ref_epoch": np.full(n_star, 2016.0)})
    gaia.meta["source"] = "fabricated for the notebook-05 test"
    gaia.write(cfg.subdir("archive") / "gaia.ecsv", format="ascii.ecsv")
    # the image: only its header matters here (PHOTFLAM/PHOTPLAM of ACS/WFC F814W)
    sci = fits.ImageHDU(np.zeros((4, 4), np.float32), name="SCI")
    sci.header["PHOTFLAM"] = 7.0723e-20
    sci.header["PHOTPLAM"] = 8045.0
    path = cfg.subdir("archive") / "hst_demo_acs_wfc_f814w_drz.fits"
    fits.HDUList([fits.PrimaryHDU(), sci]).writeto(path)
    images = [{"product_id": "hst_demo_acs_wfc_f814w", "path": str(path), "instrument": "ACS/WFC", "filter": "F814W",
               "wcsname": "IDC_0461802ej-FIT_SVM_GAIAeDR3", "provenance": "aligned to Gaia eDR3 (fabricated)"}]
    extra = {"images": images, "astrometry": {"sigma_mas": 6.3, "verdict": "meets the 5-10 mas goal"}}
    cfg.update(extra=extra)
    if with_pointing:
        cfg.update(pointing={"ra": RA0, "dec": DEC0, "apa": 45.0, "filter": "F110W"})
    fig_dir = cfg.subdir("figures")
    (fig_dir / "03_residuals.png").write_bytes(b"\x89PNG\r\n\x1a\n")  # a figure from an earlier notebook
    return cfg


def _run(root, tmp_path, **params):
    import papermill

    out = tmp_path / "05_executed.ipynb"
    papermill.execute_notebook(str(NOTEBOOK), str(out), parameters=dict(field="nb05-test", workspace_root=str(root),
                               **params), kernel_name="python3", cwd=str(NOTEBOOK.parent), progress_bar=False)
    return out


@pytest.mark.notebooks
@pytest.mark.enable_socket  # the Jupyter kernel needs local ports (nothing leaves the machine)
@pytest.mark.allow_hosts(["127.0.0.1", "localhost", "::1"])
def test_notebook05_writes_every_file(tmp_path):
    from helpers import export

    root = tmp_path / "ws"
    cfg = fabricate_workspace(root)
    _run(root, tmp_path)
    out = cfg.path / "export"
    names = {p.name for p in out.iterdir()}
    for expected in ("nb05-test_mpt.cat", "sources.reg", "msata_reference_stars.reg", "msa_outline.reg",
                     "planned_slitlets.reg", "nb05-test_catalog_full.ecsv", "session.json", "summary_card.png"):
        assert expected in names, (expected, names)
    assert not any(n.endswith(".part") for n in names)
    mpt = export.read_mpt_catalog(out / "nb05-test_mpt.cat")
    assert len(mpt) == 1750 and 5 <= int(mpt["Reference"].sum()) <= 8
    session = json.loads((out / "session.json").read_text())
    assert session["pointing"]["apa"] == 45.0 and session["images"][0]["product_id"] == "hst_demo_acs_wfc_f814w"
    assert session["inputs"]["zeropoint_source"].startswith("PHOTFLAM")
    assert "MPT catalog" in session["files"] and session["files"]["MPT catalog"]["bytes"] > 0
    # MSATA got the planned epoch, the Gaia motions, the pointing's shutters and the calibrated sigma (#12)
    msata = session["msata"]
    assert msata["planned_epoch"] == 2027.5 and msata["operability_checked"] and msata["sigma_calibration"] != 1
    assert msata["rejections"]["moves too far by the planned epoch"] >= 1
    assert msata["rejections"]["not in an operable open shutter"] > 0
    full = export.read_mpt_catalog(out / "nb05-test_mpt.cat")
    assert not set(full["ID"][full["Reference"] == 1].tolist()) & {1, 2, 3, 4, 5}  # the fast movers
    # the plan as APT takes it (#16): reference point and APA, planned targets, overlaps, slitlet file
    plan = session["plan"]
    assert plan["mpt_pointing"]["aperture"] == "NRS_FULL_MSA" and plan["mpt_pointing"]["apa_deg"] == 45.0
    assert plan["n_planned"] > 0 and plan["overlaps"]["disperser"] == "PRISM/CLEAR"
    assert plan["slitlet_regions"] == "planned_slitlets.reg" and "planned slitlets (DS9)" in session["files"]
    # figures are listed where they are, with their checksums, not copied into export/ (#18)
    assert "figures" not in names
    assert session["files"]["figure 03_residuals.png"]["sha256"] and session["files"]["figure 03_residuals.png"]["bytes"] == 8
    # re-run with overwrite=True (the demo re-runs) works
    _run(root, tmp_path)


@pytest.mark.notebooks
@pytest.mark.enable_socket  # the Jupyter kernel needs local ports (nothing leaves the machine)
@pytest.mark.allow_hosts(["127.0.0.1", "localhost", "::1"])
def test_notebook05_without_pointing_degrades(tmp_path):
    root = tmp_path / "ws"
    cfg = fabricate_workspace(root, with_pointing=False)
    _run(root, tmp_path)
    names = {p.name for p in (cfg.path / "export").iterdir()}
    assert "msa_outline.reg" not in names and "nb05-test_mpt.cat" in names
