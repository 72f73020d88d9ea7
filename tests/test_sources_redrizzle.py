"""The drizzle's own position error (helpers.sources.redrizzle): drizzle parameters read from real and
simulated headers, the floor measured by re-drizzling the instrument's PSF with STScI's engine, and
what it explains on the drizzled test bed (whose truth is never seen by the module)."""

import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from .conftest import package_file
from helpers.errors import WorkbookError
from helpers.simulate import make_truth
from helpers.simulate.drizzled import isolated, make_drizzled
from helpers.sources.library import library_psf
from helpers.sources.redrizzle import detector_pixel_matrix, drizzle_parameters, drizzle_position_floor

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
    assert p["scale_ratio"] == pytest.approx(0.06 / 0.05)
    # the first input's PA_APER (kept in SCI) against the North-up output: aligned
    assert p["orientation_deg"] == pytest.approx(0.0, abs=1e-6) and p["orientation_source"].startswith("PA_APER")
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
    assert "pixfrac 0.8" in row["drizzle_floor"] and "PA_APER" in row["drizzle_floor"]
    assert "ACS/WFC SIAF shape" in row["drizzle_floor"] and floor["pixel_matrix"][1][0] > 0.08
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


def _header_file(name):
    return fits.Header.fromtextfile(Path(__file__).parent / "data" / "headers" / name)


def test_the_input_grids_angle_is_pa_aper_less_the_outputs():
    """AstroDrizzle keeps the first input's PA_APER in the drc's SCI header; less the output's position
    angle (from its WCS) it is the input grids' angle, folded to +-45 degrees (a square output grid is the
    same turned by 90). The output angle is checked on the real ACS/WFC flt j94f05bgq, whose pipeline
    ORIENTAT (154.789 deg) it must reproduce from the CD matrix; a North-up drc of that pointing has its
    input grids at 154.533 - 180 = -25.467 deg."""
    from helpers.sources.redrizzle import _aperture_orientation

    sci = _header_file("j94f05bgq_flt_sci1.hdr")
    own = _aperture_orientation({}, fits.Header(), sci)
    assert float(sci["PA_APER"]) - own["orientation_deg"] == pytest.approx(float(sci["ORIENTAT"]), abs=1e-3)
    north_up = fits.Header({"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRVAL1": sci["CRVAL1"],
                            "CRVAL2": sci["CRVAL2"], "CRPIX1": 100.0, "CRPIX2": 100.0, "CD1_1": -0.05 / 3600,
                            "CD1_2": 0.0, "CD2_1": 0.0, "CD2_2": 0.05 / 3600, "PA_APER": sci["PA_APER"]})
    assert _aperture_orientation({}, fits.Header(), north_up)["orientation_deg"] == pytest.approx(-25.467, abs=1e-3)
    assert _aperture_orientation({}, fits.Header(), fits.Header({"PA_APER": "n/a"})) == {}  # unreadable: unknown
    # the test bed at two rolls, through its written files
    for roll, expected in ((30.0, 30.0), (100.0, 10.0)):
        product = _tiny("ACS/WFC", "F814W", 0.05, 0.8, roll=roll)
        hdr = product.header.copy()
        hdr.update(product.sci_header)
        hdr.update(product.wcs.to_header())
        assert drizzle_parameters(hdr)["orientation_deg"] == pytest.approx(expected, abs=0.05)


def test_the_detector_pixel_shape_is_pysiafs_linear_distortion():
    """The pixel shape the floor re-drizzles with is the SIAF distortion's linear part over the nominal
    scale, checked against pysiaf's own sci_to_idl one pixel apart at the reference pixel: ACS/WFC's x
    axis is 5.1 degrees off perpendicular and its pixels 1.9 / 2.7 % smaller than 0.05"."""
    import pysiaf

    for instrument, scale, observatory, aperture in (("ACS/WFC", 0.05, "HST", "JWFC1FIX"),
                                                     ("NIRCAM", 0.031, "NIRCam", "NRCA1_FULL"),
                                                     ("WFC3/UVIS", 0.04, "HST", "IUVIS1FIX")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ap = pysiaf.Siaf(observatory)[aperture]
        x0, y0 = ap.XSciRef, ap.YSciRef
        X, Y = ap.sci_to_idl(np.array([x0, x0 + 1, x0]), np.array([y0, y0, y0 + 1]))
        expected = np.array([[X[1] - X[0], X[2] - X[0]], [Y[1] - Y[0], Y[2] - Y[0]]]) / scale
        np.testing.assert_allclose(detector_pixel_matrix(instrument, scale), expected, atol=2e-5)
    acs = detector_pixel_matrix("ACS/WFC")
    assert np.degrees(np.arctan2(acs[1, 0], acs[0, 0])) == pytest.approx(5.15, abs=0.05)
    assert detector_pixel_matrix("WFPC2") is None and detector_pixel_matrix("NIRCAM") is None


def test_the_floor_follows_the_detector_pixel_shape(acs_library):
    """Re-drizzled with ACS/WFC's skewed pixels, the pixfrac-0.6 floor is 0.015 px, not the square
    pixels' 0.0175: the drizzled test bed's bright stars (its exposures carry the SIAF distortion) scatter
    by 0.015 px beyond their bound (bench_drizzled.py acs --pixfrac 0.6: PSF pulls at SNR 100-300 went from
    0.87 to 0.95 and windowed from 0.82 to 0.91 with it). A bad matrix is refused in one line."""
    params = dict(kernel="square", scale_ratio=1.0, n_inputs=4, pixfrac=0.6)
    square = drizzle_position_floor(acs_library, params, 2.2)
    skewed = drizzle_position_floor(acs_library, params, 2.2, pixel_matrix=detector_pixel_matrix("ACS/WFC"))
    assert skewed["psf_pix"] < 0.92 * square["psf_pix"]
    assert 0.012 < skewed["psf_pix"] < 0.017
    for bad in ([[1.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]], [[np.nan, 0], [0, 1]]):
        with pytest.raises(WorkbookError, match="pixel_matrix") as info:
            drizzle_position_floor(acs_library, params, 2.2, pixel_matrix=bad)
        assert "\n" not in str(info.value)
