"""Notebook 03 runs headless (papermill) on fabricated upstream outputs and records its verdict.

The upstream notebooks are replaced by what they leave in the workspace: ``field.json`` with
``extra['images']`` (01), the image itself (a small simulated ACS/WFC drizzled product),
three source catalogs ``catalogs/sources_<image>.ecsv`` (02: F814W and F606W at 2004.8,
NIRCam F277W at 2023.8) with per-source errors and a known true scatter, and the Gaia/HSC
tables (01). Also checks that a missing reference only skips its section.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from helpers.skyplane import tangent_to_sky

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "03_astrometric_precision.ipynb"
RA0, DEC0 = 53.1625, -27.791417


def _catalog(truth, epoch, name, instrument, filt, seed, err_scale=1.0, wcs=None):
    """A schema-conforming catalog: truth moved to ``epoch`` plus per-source errors ~ FWHM/SNR."""
    from astropy.table import Table
    from helpers import astrometry as ast

    rng = np.random.default_rng(seed)
    n = len(truth)
    dt = epoch - truth.meta["ref_epoch"]
    dec = np.asarray(truth["dec"]) + np.asarray(truth["pmdec"]) * dt / 3.6e6
    ra = np.asarray(truth["ra"]) + np.asarray(truth["pmra"]) * dt / 3.6e6 / np.cos(np.radians(dec))
    mag = np.asarray(truth["mag"])
    snr = np.clip(5 * 10 ** (0.4 * (26.0 - mag)), 3, 3000)
    err = err_scale * np.hypot(0.55 * 120.0 / snr, 0.5)  # mas: background-limited term + floor
    xi, eta = ast.tangent_plane_mas(ra, dec, RA0, DEC0)
    xi, eta = xi + rng.normal(0, 1, n) * err, eta + rng.normal(0, 1, n) * err
    ra, dec = tangent_to_sky(xi, eta, RA0, DEC0, unit="mas")
    t = Table()
    t["id"] = np.arange(1, n + 1)
    t["x"], t["y"] = wcs.all_world2pix(ra, dec, 0) if wcs is not None else (xi / 60.0 + 500.0, eta / 60.0 + 500.0)
    t["x_err"], t["y_err"] = err / 60.0, err / 60.0
    t["ra"], t["dec"] = ra, dec
    t["ra"].unit = t["dec"].unit = "deg"
    t["ra_err"], t["dec_err"] = err, err
    t["ra_err"].unit = t["dec_err"].unit = "mas"
    t["flux"] = 10 ** (-0.4 * (mag - 26.0))
    t["flux_err"] = t["flux"] / snr
    t["snr"] = snr
    t["fwhm"] = 2.0
    t["kind"] = np.where(np.asarray(truth["kind"]) == "galaxy", "extended", "point")
    t["flags"] = np.zeros(n, np.int64)
    t["method"] = "psf"
    t.meta.update(image=name, epoch=epoch, instrument=instrument, filter=filt, pixel_scale=0.06, fwhm_pix=2.0,
                  wcsname="FIT_SVM_GAIAeDR3")
    return t


def fabricate_workspace(root, with_gaia=True, with_hsc=True):
    from astropy.table import Table
    from helpers import config, simulate

    cfg = config.create_field("nb03-test", ra=RA0, dec=DEC0, workspace_root=root, epoch=2027.5)
    truth = simulate.make_truth(center=(RA0, DEC0), size_arcsec=60.0, n_stars=500, n_galaxies=600, n_pairs=0,
                                n_saturated=0, star_mag_range=(18.0, 25.0), galaxy_mag_range=(21.0, 25.0), seed=5)
    spec = simulate.ImageSpec(instrument="ACS/WFC", filter="F814W", shape=(1000, 1000), center=(RA0, DEC0),
                              pixel_scale=0.06, epoch=2004.8, exptime=6000.0, seed=3, name="hst_nb03_f814w",
                              chip_gap=False)
    image = simulate.make_image(truth, spec)
    path = cfg.subdir("archive") / "hst_nb03_f814w_drc.fits"
    image.writeto(path)
    cats = [("hst_nb03_f814w", 2004.8, "ACS/WFC", "F814W", 1.0), ("hst_nb03_f606w", 2004.8, "ACS/WFC", "F606W", 1.2),
            ("jw_nb03_f277w", 2023.8, "NIRCAM", "F277W", 0.9)]
    for k, (name, epoch, inst, filt, scale) in enumerate(cats):
        _catalog(truth, epoch, name, inst, filt, seed=10 + k, err_scale=scale, wcs=image.wcs).write(
            cfg.subdir("catalogs") / f"sources_{name}.ecsv", format="ascii.ecsv")
    if with_gaia:
        simulate.gaia_like_catalog(truth, g_limit=21.0).write(cfg.subdir("archive") / "gaia.ecsv", format="ascii.ecsv")
    if with_hsc:
        rng = np.random.default_rng(4)
        sel = np.asarray(truth["mag"]) < 24.0
        h = truth[sel]
        cosd = np.cos(np.radians(np.asarray(h["dec"])))
        dt = 2004.8 - 2016.0
        hsc = Table({"MatchID": np.arange(len(h)),
                     "MatchRA": np.asarray(h["ra"]) + (np.asarray(h["pmra"]) * dt + rng.normal(0, 3 / np.sqrt(3), len(h))) / 3.6e6 / cosd,
                     "MatchDec": np.asarray(h["dec"]) + (np.asarray(h["pmdec"]) * dt + rng.normal(0, 3 / np.sqrt(3), len(h))) / 3.6e6,
                     # DSigma: scatter of the 4 detections; the mean is off by DSigma/sqrt(4-1), as in HSC
                     "DSigma": np.full(len(h), 3.0), "NumImages": np.full(len(h), 4)})
        hsc.write(cfg.subdir("archive") / "hsc.ecsv", format="ascii.ecsv")
    images = [{"product_id": "hst_nb03_f814w", "path": str(path), "instrument": "ACS/WFC", "filter": "F814W",
               "epoch": 2004.8, "pixel_scale": 0.06, "rank": 1, "wcsname": "FIT_SVM_GAIAeDR3"}]
    cfg.update(extra={"images": images})
    return cfg


def _run(root, tmp_path, **params):
    import papermill

    out = tmp_path / "03_executed.ipynb"
    papermill.execute_notebook(str(NOTEBOOK), str(out), parameters=dict(field="nb03-test", workspace_root=str(root),
                               **params), kernel_name="python3", cwd=str(NOTEBOOK.parent), progress_bar=False)
    return out


def _text(out):
    nb = json.loads(Path(out).read_text())
    return "\n".join("".join(o.get("text", "")) for c in nb["cells"] if c["cell_type"] == "code"
                     for o in c.get("outputs", []))


@pytest.mark.notebooks
def test_notebook03_gives_a_verdict_backed_by_agreeing_methods(tmp_path):
    from helpers import config

    root = tmp_path / "ws"
    fabricate_workspace(root)
    out = _run(root, tmp_path, error_floor_pix=0.0)  # the fabricated errors are exact: no floor
    cfg = config.load_field("nb03-test", root)
    rec = cfg.extra["astrometry"]
    assert rec["verdict"] in ("optimal", "meets 5-10 mas", "marginal")
    assert len(rec["methods"]) >= 3 and rec["backed"] and len(rec["agreeing"]) >= 3
    assert rec["n_pairs"] >= 30 and rec["ci"][0] < rec["sigma_mas"] < rec["ci"][1]
    summary = json.loads((cfg.path / "catalogs" / "astrometry_summary.json").read_text())
    assert summary["record"]["verdict"] == rec["verdict"]
    for fig in ("03_error_budget.png", "03_methods.png", "03_verdict.png", "03_consequence.png", "03_residual_map.png"):
        assert (cfg.path / "figures" / fig).exists(), fig
    text = _text(out)
    assert "Gaia stars in the field" in text and "three-cornered hat" in text
    print(text[-3000:])


@pytest.mark.notebooks
def test_notebook03_skips_missing_references(tmp_path):
    from helpers import config

    root = tmp_path / "ws"
    fabricate_workspace(root, with_gaia=False, with_hsc=False)
    out = _run(root, tmp_path, run_injection=False, n_bootstrap=50)
    text = _text(out)
    assert "Method 3 skipped" in text and "Method 4 skipped" in text
    assert "astrometry" in config.load_field("nb03-test", root).extra
