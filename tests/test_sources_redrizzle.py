"""The drizzle's own position error (helpers.sources.redrizzle): drizzle parameters read from real and
simulated headers, the floor measured by re-drizzling the instrument's PSF with STScI's engine, and
what it explains on the drizzled test bed (whose truth is never seen by the module)."""

import warnings

import numpy as np
import pytest
from astropy.io import fits

from .conftest import package_file
from helpers.errors import WorkbookError
from helpers.simulate import make_truth
from helpers.simulate.drizzled import isolated, make_drizzled
from helpers.sources.library import library_psf
from helpers.sources.redrizzle import drizzle_parameters, drizzle_position_floor

CENTER = (53.1625, -27.791417)


def _tiny(detector, filt, scale, pixfrac, **kw):
    truth = isolated(make_truth(center=CENTER, size_arcsec=4.0, n_stars=4, n_galaxies=0, n_pairs=0, n_saturated=0,
                                star_snr=(50, 100), seed=3), 0.6)
    return make_drizzled(truth, detector, filt, shape=(64, 64), out_scale=scale, pixfrac=pixfrac, exptime=100.0,
                         seed=1, **kw)


def test_parameters_from_a_drc_and_an_i2d(tmp_path):
    """AstroDrizzle's D00n* keywords (output scale in arcsec over the input's) and jwst's
    PIXFRAC/KERNEL/PXSCLRT, as the test bed writes them."""
    drc = _tiny("ACS/WFC", "F814W", 0.06, 0.8)
    with fits.open(drc.writeto(tmp_path / "a_drc.fits")) as hdul:
        p = drizzle_parameters(hdul[0].header, hdul["SCI"].header)
    assert p["pixfrac"] == 0.8 and p["kernel"] == "square" and p["n_inputs"] == 4
    assert p["scale_ratio"] == pytest.approx(0.06 / 0.05) and "orientation_deg" not in p
    i2d = _tiny("NIRCAM/SW", "F200W", 0.031, 0.6)
    with fits.open(i2d.writeto(tmp_path / "b_i2d.fits")) as hdul:
        p = drizzle_parameters(hdul[0].header, hdul["SCI"].header)
    assert p["pixfrac"] == 0.6 and p["scale_ratio"] == pytest.approx(1.0) and p["n_inputs"] == 4
    assert drizzle_parameters(fits.Header({"NAXIS": 2}), fits.Header()) is None  # not drizzled


def test_parameters_of_the_real_hdfs_wfpc2_mosaic():
    """IRAF drizzle's headers (the mpdaf wheel's HDF-S WFPC2 mosaic): D00nSCAL is the output pixel in
    input pixels (0.4 for the WF chips, 0.8748 for the PC), D00nROT each input's rotation (4-6 degrees
    off the output's axes, modulo 90), 192 inputs, pixfrac 0.5 (WF) and 0.6 (PC)."""
    path = package_file("mpdaf", "data", "obj", "HST-HDFS.fits")
    if path is None:
        pytest.skip("mpdaf 3.6 not installed (ships data/obj/HST-HDFS.fits)")
    p = drizzle_parameters(fits.getheader(path, 0))
    assert p["n_inputs"] == 192 and p["pixfrac"] == 0.5
    assert p["scale_ratio"] == pytest.approx(0.4, abs=1e-3)
    assert 3.0 < p["orientation_deg"] < 7.0


@pytest.fixture(scope="module")
def acs_library():
    return library_psf("ACS/WFC", "F814W", 0.05, drizzled=False)


def test_the_floor_follows_the_drop_and_the_orientation(acs_library):
    """Drops smaller than the pixel on grids aligned with the output leave each output pixel's sample
    off its centre by a moiré of the input phases: a shift of the star's image that both estimators
    see. At pixfrac 1 the floor is a few thousandths of a pixel; at 0.8 it is ~0.02 px; grids rotated
    by 20 degrees average the moiré over a star and the floor falls several-fold."""
    params = dict(kernel="square", scale_ratio=1.0, n_inputs=4)
    full = drizzle_position_floor(acs_library, dict(params, pixfrac=1.0), 2.2)
    small = drizzle_position_floor(acs_library, dict(params, pixfrac=0.8), 2.2)
    turned = drizzle_position_floor(acs_library, dict(params, pixfrac=0.8), 2.2, orientation_deg=20.0)
    assert full["psf_pix"] < 0.006 and 0.012 < small["psf_pix"] < 0.03
    assert small["psf_pix"] > 3 * full["psf_pix"]
    assert turned["psf_pix"] < small["psf_pix"] / 3
    # the shift is common to the estimators: their totals agree
    assert small["windowed_pix"] == pytest.approx(small["psf_total_pix"], rel=0.15)
    # reproducible (a fixed seed) and cached
    assert drizzle_position_floor(acs_library, dict(params, pixfrac=0.8), 2.2) == small


def test_bad_parameters_are_refused_in_one_line(acs_library):
    for bad in ("pixfrac 0.8", {"pixfrac": 0.8}, None):
        with pytest.raises(WorkbookError, match="drizzle_parameters") as info:
            drizzle_position_floor(acs_library, bad, 2.2)
        assert "\n" not in str(info.value)
    with pytest.raises(WorkbookError, match="fwhm"):
        drizzle_position_floor(acs_library, dict(pixfrac=0.8, kernel="square", scale_ratio=1.0, n_inputs=4), -1.0)


def test_the_extraction_records_and_says_the_floor(tmp_path):
    """The floor is in the catalog meta and in the line notebook 02 shows for the image; a product
    that was not drizzled gets none."""
    from helpers.sources import extract_sources_fits, image_reading_summary

    truth = isolated(make_truth(center=CENTER, size_arcsec=10.0, n_stars=40, n_galaxies=0, n_pairs=0,
                                n_saturated=0, star_snr=(30, 300), seed=8), 0.6)
    product = make_drizzled(truth, "ACS/WFC", "F814W", shape=(256, 256), pixfrac=0.8, exptime=500.0, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cat = extract_sources_fits(product.writeto(tmp_path / "c_drc.fits"), use_psf_fit=False)
    floor = cat.meta["drizzle_floor"]
    assert cat.meta["drizzle"]["pixfrac"] == 0.8 and floor["params"]["n_inputs"] == 4
    assert 0.01 < floor["windowed_pix"] < 0.04
    row = image_reading_summary({"c": cat})[0]
    assert "pixfrac 0.8" in row["drizzle_floor"] and "assumed" in row["drizzle_floor"]
    # every windowed error carries it (fast path: the whole re-drizzled error)
    assert np.all(np.asarray(cat["x_err"]) >= floor["windowed_pix"] * 0.999)


def test_an_output_grid_coarser_than_the_input_keeps_the_epsf_phase_error(acs_library):
    """At output/input scale 1.2 (ACS drc 0.06"/px from 0.05") the PSF fit's error on the stars
    rendered straight on the output grid (the ePSF's phase error on an undersampled product, ~0.004 px)
    is 3x the extraction's own ePSF floor: only that floor is taken off the re-drizzled total. Taking
    off the whole direct-field error left 0.004 px, against 0.0075 px measured on the noise-suppressed
    test bed's truth, and PSF pulls of 1.26 (now 1.17 in bench_drizzled.py acs06)."""
    from helpers.sources.epsf import EPSF_FLOOR_FWHM

    fwhm = 1.9
    f = drizzle_position_floor(acs_library, dict(kernel="square", scale_ratio=1.2, n_inputs=4, pixfrac=1.0), fwhm)
    assert f["psf_direct_pix"] > 2 * EPSF_FLOOR_FWHM * fwhm
    expected = np.sqrt(f["psf_total_pix"] ** 2 - (EPSF_FLOOR_FWHM * fwhm) ** 2)
    assert f["psf_pix"] == pytest.approx(expected, rel=1e-9)
    assert f["psf_pix"] > 0.9 * f["psf_total_pix"] and f["psf_pix"] > 0.005


def test_rejection_strength_reads_a_stars_weight_deficit():
    """S is 0 under uniform weight, linear in the deficit (one input of four missing = 1/4 of a hole),
    largest on the PSF's flanks (where the gradient is), and ~0 for a patch a few FWHM away."""
    from helpers.sources.redrizzle import rejection_strength

    w = np.full((64, 64), 400.0)
    x, y, fwhm = np.array([32.2]), np.array([31.7]), 2.2
    assert rejection_strength(w, x, y, fwhm)[0] == 0.0
    strengths = {}
    for label, (dy, dx), depth in (("flank", (0, 2), 0.0), ("flank quarter", (0, 2), 300.0), ("core", (0, 0), 0.0),
                                   ("far", (0, 9), 0.0)):
        hole = w.copy()
        hole[32 + dy - 1:32 + dy + 2, 32 + dx - 1:32 + dx + 2] = depth
        strengths[label] = rejection_strength(hole, x, y, fwhm)[0]
    assert strengths["flank"] > 0.05
    assert strengths["flank quarter"] == pytest.approx(strengths["flank"] / 4, rel=1e-6)
    assert strengths["far"] < 0.01 * strengths["flank"]
    # shapes and NaN positions
    assert rejection_strength(w, np.array([]), np.array([]), fwhm).shape == (0,)
    assert rejection_strength(w, np.array([np.nan]), np.array([3.0]), fwhm)[0] == 0.0


def test_the_rejection_term_predicts_which_stars_the_rejected_pixels_moved(acs_library):
    """Re-drizzled synthetic stars with 2 % of their inputs' pixels rejected (3x3 patches): the stars
    with the strongest deficits moved most, and α · S_eff sizes their shifts (rms of shift / predicted
    0.7-1.4 in the upper half of S); α is the bed's ~0.25 px at pixfrac 1 (ACS/WFC F814W: stars 10x
    brighter than the bench's, cosmic rays rejected vs none, moved 0.006 / 0.011 / 0.019 px at S ~
    0.02 / 0.045 / 0.08)."""
    from helpers.sources import redrizzle as rd
    from helpers.sources.psf import _PRF

    params = {"pixfrac": 1.0, "kernel": "square", "scale_ratio": 1.0, "n_inputs": 4}
    coeff = rd.rejection_coefficients(acs_library, params, 2.2)
    assert 0.15 <= coeff["alpha_windowed_pix"] <= 0.35 and 0.15 <= coeff["alpha_psf_pix"] <= 0.35
    # an independent field (another seed) than the calibration's
    rng = np.random.default_rng(77)
    prf = _PRF(acs_library)
    whole, xo, yo, _, inputs = rd._redrizzled_field(prf, params, 2.2, rng, orientation_deg=20.0)
    cut, _, _, wht, _ = rd._redrizzled_field(prf, params, 2.2, rng, inputs=inputs,
                                             rejected=rd._rejected_pixels(inputs[2], rng))
    import sep

    sig = 2.2 / 2.3548
    xw0, yw0, _ = sep.winpos(np.ascontiguousarray(whole), xo, yo, np.full(xo.size, sig), subpix=1)
    xw1, yw1, _ = sep.winpos(np.ascontiguousarray(cut), xo, yo, np.full(xo.size, sig), subpix=1)
    shift = np.hypot(xw1 - xw0, yw1 - yw0) / np.sqrt(2)
    _, predicted = rd.rejection_error(coeff, wht, xo, yo, 2.2)
    upper = predicted > np.median(predicted)
    assert np.sqrt(np.mean(shift[upper] ** 2)) > 2 * np.sqrt(np.mean(shift[~upper] ** 2))
    assert 0.7 <= np.sqrt(np.mean(shift[upper] ** 2) / np.mean(predicted[upper] ** 2)) <= 1.4
