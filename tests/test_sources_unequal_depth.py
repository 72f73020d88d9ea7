"""A drizzled product of exposures of unequal depth (a multi-visit mosaic, issue #13): the drizzle's
own position error is larger than for equal depths, because the deepest inputs dominate each output
pixel and fewer phases fill it. The floor (helpers.sources.redrizzle) reads each input's exposure
time from the D00nDEXP keywords and re-drizzles with those weights; it is checked here against the
drizzled test bed's truth (never seen by the module).

Measured on the fields of ``benchmarks/bench_exposures.py acs --pixfrac 0.8 --exptimes
150,450,900,1500`` (the product's own PSF path, isolated point stars seen by all four exposures):
before the weights were read, 12 fields, pull std 1.10 / 1.38 / 1.65 at SNR 10-30 / 30-100 / 100-300,
the floor 0.018 px against a true 0.037 px (the bright-star robust scatter of a noise-suppressed
bed); with them, 24 fields (691 / 570 / 258 stars), 0.99 / 0.93 / 0.87 (robust 1.02 / 0.98 / 0.94),
the floor 0.036 px. The Poisson gain (header EXPTIME = the sum of the inputs' times) is not the
cause: at those stars WHT / EXPTIME is 1.04 (median; the drizzle's area factor), the same as for
equal depths.
"""

import warnings

import numpy as np
import pytest
from astropy.io import fits
from scipy.spatial import cKDTree

from helpers.simulate import make_truth
from helpers.simulate.drizzled import isolated, make_drizzled
from helpers.sources import extract_sources_fits
from helpers.sources.library import library_psf
from helpers.sources.redrizzle import drizzle_parameters, drizzle_position_floor

CENTER = (53.1625, -27.791417)
UNEQUAL = [150.0, 450.0, 900.0, 1500.0]


def _product(exptime, shape=(512, 512), n_stars=180, boost=1.0, **kw):
    truth = isolated(make_truth(center=CENTER, size_arcsec=shape[0] * 0.05 * 0.9, n_stars=n_stars, n_galaxies=0,
                                n_pairs=0, n_saturated=0, star_snr=(10, 300), seed=4), 12 * 0.05)
    truth["snr_target"] = truth["snr_target"] * boost
    return make_drizzled(truth, "ACS/WFC", "F814W", shape=shape, out_scale=0.05, pixfrac=0.8, exptime=exptime,
                         sky=0.08, seed=2, **kw)


def test_the_input_weights_are_read_from_the_drizzle_keywords(tmp_path):
    """Each input's share of the weight is its D00nDEXP (times D00nWTSC); equal times give none, and
    unreadable ones are said, not replaced silently."""
    small = dict(shape=(64, 64), n_stars=4)
    with fits.open(_product(UNEQUAL, **small).writeto(tmp_path / "u_drc.fits")) as hdul:
        header = hdul[0].header
        p = drizzle_parameters(header, hdul["SCI"].header)
    assert p["input_weights"] == pytest.approx(np.array(UNEQUAL) / sum(UNEQUAL), rel=1e-5)
    with fits.open(_product(750.0, **small).writeto(tmp_path / "e_drc.fits")) as hdul:
        assert "input_weights" not in drizzle_parameters(hdul[0].header, hdul["SCI"].header)
    broken = header.copy()
    broken["D003DEXP"] = "n/a"
    q = drizzle_parameters(broken)
    assert "input_weights" not in q and "equal" in q["input_weights_note"] and "\n" not in q["input_weights_note"]


def test_the_floor_of_unequal_depths_meets_the_bed_truth(tmp_path):
    """Stars 10x brighter than the benchmark's (SNR 100-3000; no cosmic rays, hot pixels or saturation),
    so that the PSF fit's error on the bright ones is mostly the drizzle's: the floor the extraction
    adds matches the truth's robust scatter, and the equal-weight floor is about half of it."""
    product = _product(UNEQUAL, boost=10.0, cosmic_rays=False, hot_pixels=False, saturation=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cat = extract_sources_fits(product.writeto(tmp_path / "b_drc.fits"))
    floor = cat.meta["drizzle_floor"]
    t, (ny, nx) = product.truth, product.sci.shape
    t = t[(t["x"] > 15) & (t["y"] > 15) & (t["x"] < nx - 16) & (t["y"] < ny - 16)]
    dist, idx = cKDTree(np.c_[cat["x"], cat["y"]]).query(np.c_[t["x"], t["y"]])
    c, t = cat[idx[dist < 1.0]], t[dist < 1.0]
    bright = (np.asarray(t["snr"]) >= 300) & (np.asarray(t["snr"]) < 3000)
    e = np.c_[c["x"] - t["x"], c["y"] - t["y"]][bright]
    e = e[np.all(np.isfinite(e), axis=1)]
    assert len(e) >= 50
    true_floor = 1.4826 * np.median(np.abs(e - np.median(e, axis=0)))
    assert floor["psf_pix"] == pytest.approx(true_floor, rel=0.25)
    assert "weighted by their exposure times (2.7 effective of 4)" in floor["note"]
    equal = dict(floor["params"])
    equal.pop("input_weights")
    psf = library_psf("ACS/WFC", "F814W", 0.05, drizzled=False)
    assert drizzle_position_floor(psf, equal, cat.meta["fwhm_pix"])["psf_pix"] < 0.7 * true_floor
