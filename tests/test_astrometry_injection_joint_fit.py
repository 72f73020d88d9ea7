"""Issue #13, method 5 and the joint fit on the exposures: stars injected into the *product* and extracted from it
measure the product-only estimators (windowed, PSF fit), so their pulls must not calibrate positions notebook 02
replaced by the joint fit on the exposures (``method = "exposures"``), whose errors they never tested (on the demo
a product pull of ~1.9 applied to right joint-fit errors put the verdict at 1.43 mas against a truth of 0.91)."""

from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table
from astropy.wcs import WCS

from helpers import astrometry as ast
from helpers.errors import WorkbookError

PRODUCT_PULL = 1.9  # the demo's product-only extraction on its injected stars


def _sources(methods, err_mas):
    t = Table({"ra_err": np.asarray(err_mas, float), "dec_err": np.asarray(err_mas, float), "method": methods,
               "snr": np.full(len(methods), 100.0)})
    t["ra_err"].unit = t["dec_err"].unit = "mas"
    return t


def _inj(pull=PRODUCT_PULL, estimators=("psf", "windowed")):
    boot = np.full(50, pull)
    return {"pull": (pull, pull), "pull_boot": (boot, boot), "n_recovered": 300,
            "estimators": list(estimators) if estimators is not None else None}


def test_joint_fit_errors_are_not_inflated_by_a_product_injection():
    """A catalog whose positions all come from the joint fit, with right 1 mas errors: the product's pull says
    nothing about them, so method 5 measures none of them and neither enters nor moves the verdict."""
    cat = _sources(["exposures"] * 400, np.full(400, 1.0))
    est = ast.pull_estimate(_inj(), cat)
    assert est["sigma"] is None and est["n_covered"] == 0 and est["n_sources"] == 400
    line = ast.method_line("5 injection-recovery", est)
    assert "joint fit" in line and "not entered" in line
    others = {"1 error budget": ast.as_estimate(ast.error_budget(cat, n_boot=50)),
              "3 Gaia DR3": {"sigma": 1.0, "ci": (0.9, 1.1), "n": 200},
              "4 HSC v3": {"sigma": 1.05, "ci": (0.95, 1.15), "n": 300}}
    alone = ast.combine_methods(others)
    both = ast.combine_methods(dict(others, **{"5 injection-recovery": est}))
    assert both["sigma"] == pytest.approx(alone["sigma"]) and both["sigma"] < 1.2
    record = ast.summary_record("f814w", both, dict(others, **{"5 injection-recovery": est}))
    assert record["methods"]["5 injection-recovery"]["sigma_mas"] is None


def test_mixed_catalog_scales_only_the_product_sources():
    """300 joint-fit sources at 1 mas (right) and 100 windowed ones at 3 mas (off by the pull): only the latter are
    scaled, and with a quarter of the sources measured the number is mostly a prediction, checked, not counted."""
    methods = ["exposures"] * 300 + ["windowed"] * 100
    err = np.r_[np.full(300, 1.0), np.full(100, 3.0)]
    est = ast.pull_estimate(_inj(2.0), _sources(methods, err))
    expected = float(ast._mixture_sigma(np.r_[np.full(300, 1.0), np.full(100, 6.0)]))
    assert est["sigma"] == pytest.approx(expected, rel=1e-3)
    assert (est["n_covered"], est["n_sources"]) == (100, 400)
    assert est["pairs"] is False
    assert "100 of the 400 sources" in ast.method_line("5", est) and "checked, not counted" in ast.method_line("5", est)
    # with the joint fit's own injection (stars added to the exposures, pull 1.1), every source is measured by
    # the injection of its own estimator: counted
    both = ast.pull_estimate([_inj(2.0), _inj(1.1, estimators=["exposures"])], _sources(methods, err))
    expected = float(ast._mixture_sigma(np.r_[np.full(300, 1.1), np.full(100, 6.0)]))
    assert both["sigma"] == pytest.approx(expected, rel=1e-3) and both.get("pairs", True)
    assert both["n_covered"] == 400 and "into the exposures (exposures: 300 of the 400 sources)" in both["measured"]
    # a product-only catalog: the whole budget times the pull, counted as before
    est = ast.pull_estimate(_inj(2.0), _sources(["windowed"] * 400, np.full(400, 3.0)))
    assert est["sigma"] == pytest.approx(6.0, rel=1e-3) and est.get("pairs", True) and est["n_covered"] == 400


def test_only_the_estimators_the_injected_stars_measured_are_covered():
    cat = _sources(["psf", "windowed", "exposures", "windowed"], np.ones(4))
    assert ast.injection_coverage(_inj(estimators=["windowed"]), cat).tolist() == [False, True, False, True]
    assert ast.injection_coverage(_inj(estimators=None), cat).tolist() == [True, True, False, True]
    assert ast.injection_coverage(_inj(estimators=["exposures"]), cat).tolist() == [False, False, True, False]
    cat.remove_column("method")  # an outside catalog: one estimator, the extraction's
    assert ast.injection_coverage(_inj(), cat).all()


def test_injection_recovery_records_the_estimators_it_measured():
    from photutils.psf import CircularGaussianPRF
    from scipy.ndimage import maximum_filter

    rng = np.random.default_rng(3)
    image = rng.normal(0.0, 1.0, (400, 400))
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [53.16, -27.79]
    wcs.wcs.crpix = [200, 200]
    wcs.wcs.cdelt = [-0.05 / 3600.0, 0.05 / 3600.0]

    def extract(img, w, error=None, **kwargs):
        peaks = (img == maximum_filter(img, size=7)) & (img > 10.0)
        ys, xs = np.nonzero(peaks)
        keep = (xs > 2) & (ys > 2) & (xs < img.shape[1] - 3) & (ys < img.shape[0] - 3)
        xs, ys = xs[keep], ys[keep]
        cx, cy = [], []
        for x, y in zip(xs, ys):
            s = img[y - 1:y + 2, x - 1:x + 2]
            cx.append(x + np.sum(s * [-1, 0, 1]) / s.sum())
            cy.append(y + np.sum(s.T * [-1, 0, 1]) / s.sum())
        bright = img[ys, xs] > 40.0
        return Table({"x": cx, "y": cy, "x_err": np.full(xs.size, 0.1), "y_err": np.full(xs.size, 0.1),
                      "method": np.where(bright, "psf", "windowed")})

    out = ast.injection_recovery(image, wcs, CircularGaussianPRF(fwhm=3.0), extract=extract,
                                 error=np.ones_like(image), n_inject=100, snr_range=(50.0, 2000.0), seed=1, n_boot=20)
    assert out["estimators"] == ["psf", "windowed"]
    assert set(out["stars"]["method"][out["stars"]["recovered"]]) == {"psf", "windowed"}


def test_stars_injected_into_the_exposures_measure_the_joint_fit(tmp_path):
    """The bed's flc files (a product, its 4 exposures, the catalog refined on them as notebook 02 does): stars are
    added to the exposures' own pixels through each exposure's WCS, with their photon noise, and the joint fit is
    run again; its errors are right on the bed (tests/test_sources_exposures.py), so the pulls are ~1."""
    import warnings

    from helpers.sources import refine_on_exposures

    from .test_sources_exposures import _bed

    product, path, paths, catalog = _bed(tmp_path, "xinj", size=384, side=17.0, n_stars=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refined = refine_on_exposures(catalog, paths, path)
        before = [Path(p).read_bytes() for p in paths]
        out = ast.injection_on_exposures(refined, paths, path, n_inject=150, snr_range=(10.0, 300.0), n_boot=100)
    assert out["estimators"] == ["exposures"] and out["n_recovered"] >= 60, out["n_recovered"]
    assert all(0.8 <= k <= 1.25 for k in out["pull"]), out["pull"]
    assert np.all(np.asarray(out["stars"]["n_exposures"])[out["stars"]["recovered"]] >= 2)
    assert [Path(p).read_bytes() for p in paths] == before  # the stars went into copies, not the member files
    # it calibrates the joint fit's sources, and only them
    est = ast.pull_estimate(out, refined[ast.usable_sources(refined)])
    method = np.asarray(refined[ast.usable_sources(refined)]["method"]).astype(str)
    assert est["n_covered"] == int(np.sum(method == "exposures")) > 0
    with pytest.raises(WorkbookError, match="2 or more"):
        ast.injection_on_exposures(refined, paths[:1], path)


def test_notebook_says_when_the_joint_fit_cannot_be_injected(tmp_path):
    from helpers import config

    cfg = config.create_field("inj", ra=53.16, dec=-27.78, workspace_root=tmp_path, live=False)
    info = {"path": str(tmp_path / "p_drc.fits")}
    res, msg = ast.exposure_injection(cfg, "p", _sources(["windowed"] * 3, np.ones(3)), info)
    assert res is None and "no position from the joint fit" in msg
    cat = _sources(["exposures"] * 3, np.ones(3))
    res, msg = ast.exposure_injection(cfg, "p", cat, info)
    assert res is None and "none recorded by notebook 01" in msg and "keep their own errors" in msg
    cfg.update(extra={"exposure_files": {"p": [str(tmp_path / "gone_flc.fits"), str(tmp_path / "gone2_flc.fits")]}})
    res, msg = ast.exposure_injection(cfg, "p", cat, info)
    assert res is None and "0 of 2 recorded still on disk" in msg
    res, msg = ast.exposure_injection(cfg, "p", cat, info, run=False)
    assert res is None and "disabled" in msg
    # an injection that could not run is skipped: the product's alone, as without it
    assert ast.pull_estimate([_inj(), None], cat)["sigma"] is None
