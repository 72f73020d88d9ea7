"""Individual exposures of the drizzled test bed (issue #13 item 1): the SIAF distortion as SIP, cosmic
rays at the handbook rate, bleeding, hot pixels, DQ and the pipelines' units, checked against pysiaf
and against the numbers the exposure was built from."""

import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from helpers.errors import WorkbookError
from helpers.simulate import detectors
from helpers.simulate.exposures import ExposureSpec, make_exposure

CENTER = (53.1625, -27.791417)


def _scene(fluxes, offsets_arcsec=((0.0, 0.0),)):
    ra = [CENTER[0] + dx / 3600.0 / np.cos(np.radians(CENTER[1])) for dx, _ in offsets_arcsec]
    dec = [CENTER[1] + dy / 3600.0 for _, dy in offsets_arcsec]
    return Table({"id": np.arange(1, len(ra) + 1), "kind": ["star"] * len(ra), "ra": ra, "dec": dec,
                  "flux": np.asarray(fluxes, float)})


@pytest.mark.parametrize("name", list(detectors.DETECTORS))
def test_sip_header_reproduces_the_siaf_polynomial(name):
    """The TAN-SIP of the exposure header maps pixels to the sky as pysiaf's sci_to_idl does."""
    import pysiaf

    det = detectors.DETECTORS[name]
    ny, nx = det["chip"]
    roll = 30.0
    w = detectors.exposure_wcs(name, CENTER, roll, (ny, nx), origin=(0, 0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ap = pysiaf.Siaf(det["siaf"][0])[det["siaf"][1]]
    x, y = np.meshgrid(np.linspace(0, nx - 1, 9), np.linspace(0, ny - 1, 9))
    x, y = x.ravel(), y.ravel()
    u, v = x + 1 - w.wcs.crpix[0], y + 1 - w.wcs.crpix[1]
    x_idl, y_idl = ap.sci_to_idl(u + ap.XSciRef, v + ap.YSciRef)
    # the same ideal offsets, rotated to the sky by the roll (East left), on the tangent plane
    pa = np.radians(roll)
    east = -np.cos(pa) * x_idl + np.sin(pa) * y_idl
    north = np.sin(pa) * x_idl + np.cos(pa) * y_idl
    ra, dec = w.all_pix2world(x, y, 0)
    tan = WCS(naxis=2)
    tan.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    tan.wcs.crval = CENTER
    tan.wcs.crpix = [1, 1]
    tan.wcs.cd = np.diag([-1 / 3600.0, 1 / 3600.0])
    xi, eta = tan.wcs_world2pix(ra, dec, 0)
    assert np.max(np.hypot(-xi - east, eta - north)) < 1e-6  # arcsec


def test_distortion_sizes_are_the_instruments():
    """ACS/WFC's distortion departs by tens of pixels from linear over the chip (ACS IHB); NIRCam's by ~10."""
    assert 30 < detectors.max_distortion_pix("ACS/WFC") < 120
    assert 3 < detectors.max_distortion_pix("NIRCAM/SW") < 30


def test_unknown_detector_is_refused():
    with pytest.raises(WorkbookError, match="unknown detector"):
        make_exposure(_scene([100.0]), ExposureSpec(detector="WFPC1"))
    with pytest.raises(WorkbookError, match="exptime"):
        make_exposure(_scene([100.0]), ExposureSpec(exptime=-5.0))


@pytest.fixture(scope="module")
def acs():
    scene = _scene([20000.0, 5.0], ((0.0, 0.0), (5.0, 5.0)))
    return make_exposure(scene, ExposureSpec(shape=(400, 400), exptime=1000.0, sky=0.08, seed=4))


@pytest.mark.parametrize("name", list(detectors.DETECTORS))
def test_cosmic_ray_fraction_is_the_documented_one(name):
    """In 1000 s the pixels a cosmic ray touches above 5x the read noise are the documented fraction
    (detectors.COSMIC_RAYS: ACS IHB 1.5-3 %, taken 2.25 %; WFC3/UVIS as ACS; WFC3/IR 3.1 % and NIRCam
    7.6 % from the on-orbit HgCdTe rates and event sizes), within the Poisson noise of the number of
    events; on IR arrays the up-the-ramp fit's DQ flags the same fraction."""
    from scipy import ndimage

    det = detectors.detector(name)
    cr = det["cr"]
    scene = _scene([5.0], ((30.0, 30.0),))  # off the sub-array: a blank sky
    filters = {"WFC3/IR": "F160W", "NIRCAM/SW": "F200W", "NIRCAM/LW": "F444W"}
    e = make_exposure(scene, ExposureSpec(detector=name, filter=filters.get(name, "F814W"), shape=(400, 400),
                                          exptime=1000.0, sky=0.05, seed=7, hot_pixels=False, saturation=False))
    n_events = cr["rate_cm2_s"] * (cr["pixel_um"] * 1e-4) ** 2 * 400 * 400 * 1000.0
    tolerance = 4.0 / np.sqrt(n_events)  # relative: 4σ of the Poisson count of events
    touched = e.cr_electrons > 5.0 * det["read_noise"]
    assert touched.mean() == pytest.approx(cr["fraction_1000s"], rel=tolerance)
    labels, n = ndimage.label(touched, np.ones((3, 3)))
    sizes = np.bincount(labels.ravel())[1:]
    if det["cr_in_data"]:
        # ACS IHB: pixels per event "strongly peaked at 4 to 5"; "negligible events of less than 500 e-
        # and a median of ~1000 e-"; the charge is in the data (DQ says nothing until a rejection)
        assert 4 <= np.median(sizes) <= 5
        charge = ndimage.sum(e.cr_electrons, labels, np.arange(1, n + 1))
        assert np.median(charge) == pytest.approx(1000.0, rel=0.15) and np.percentile(charge, 2) > 400.0
        assert np.all((e.dq[e.cr_mask] & 4096) == 0)
    else:
        # HgCdTe at 18 µm: ~7.1 pixels per hit (NIRSpec H2RG on orbit); the ramp fit flags what it detects
        assert 6 <= np.median(sizes) <= 8
        flag = det["dq"]["cr_crcorr" if det["telescope"] == "HST" else "jump_det"]
        assert ((e.dq & flag) != 0).mean() == pytest.approx(cr["fraction_1000s"], rel=tolerance)


def test_ramp_fit_leaves_the_residual_of_undetected_jumps():
    """Below the jump threshold (4σ of a read difference) a jump stays in the slope as q·6u(1−u): on
    average the whole charge; detected jumps leave nothing."""
    from helpers.simulate.exposures import _ramp_residual

    det = detectors.detector("NIRCAM/SW")
    rng = np.random.default_rng(3)
    cr = np.where(rng.random((300, 300)) < 0.3, rng.uniform(1.0, 200.0, (300, 300)), 0.0)
    detected, residual = _ramp_residual(cr, det, rng)
    threshold = 4 * np.sqrt(2) * det["read_noise"]
    assert np.array_equal(detected, cr > threshold) and np.all(residual[detected] == 0)
    faint = (cr > 0) & ~detected
    assert residual[faint].sum() / cr[faint].sum() == pytest.approx(1.0, abs=0.03)
    assert residual.max() <= 1.5 * threshold  # 6u(1−u) <= 1.5
    # an exposure with the residual differs from one without only where a jump went undetected
    spec = dict(detector="NIRCAM/SW", filter="F200W", shape=(160, 160), exptime=1000.0, sky=0.2, seed=4,
                hot_pixels=False, saturation=False)
    plain = make_exposure(_scene([5.0], ((30.0, 30.0),)), ExposureSpec(**spec))
    kept = make_exposure(_scene([5.0], ((30.0, 30.0),)), ExposureSpec(**spec, jump_residual=True))
    changed = kept.data != plain.data
    undetected = (plain.cr_electrons > 0) & (plain.cr_electrons <= threshold)
    assert changed.any() and not np.any(changed & ~undetected)
    assert np.all(kept.data[changed] > plain.data[changed])


def test_cosmic_ray_tracks_are_in_ccd_data(acs):
    """CCD: the charge is in the data, well above the sky noise."""
    sky_sigma = np.sqrt(np.median(acs.variance["background"]))
    strong = acs.cr_electrons > 10 * sky_sigma
    assert np.median(acs.data[strong] - np.median(acs.data)) > 5 * sky_sigma


def test_saturated_star_bleeds_along_its_column(acs):
    sat = (acs.dq & 256) != 0
    ys, xs = np.nonzero(sat)
    assert sat.sum() > 20
    assert np.ptp(ys) > 2 * np.ptp(xs)  # bled up and down the column, a few columns wide
    assert bool(acs.truth["saturated"][0]) and not bool(acs.truth["saturated"][1])
    # charge is conserved by the bleed (up to what left the sub-array): the column holds the star
    assert np.all(acs.data[sat] * acs.area[sat] > 0.9 * detectors.DETECTORS["ACS/WFC"]["full_well"] - 100.0)


def test_flc_units_sky_and_hot_pixels(acs, tmp_path):
    """flc in electrons, flat sky at sky·t after dark subtraction, hot pixels flagged 16."""
    clean = acs.good() & (acs.dq == 0)
    assert abs(np.median(acs.data[clean]) - 0.08 * 1000.0) < 2.0
    hot = (acs.dq & 16) != 0
    assert 0.005 < hot.mean() < 0.02
    path = acs.writeto(tmp_path / "sim_flc.fits")
    with fits.open(path) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "SCI", "ERR", "DQ"]
        assert hdul["SCI"].header["BUNIT"] == "ELECTRONS"
        assert hdul["SCI"].header["CTYPE1"] == "RA---TAN-SIP" and hdul["SCI"].header["A_ORDER"] == 4
        assert hdul[0].header["INSTRUME"] == "ACS" and hdul[0].header["FILTER2"] == "F814W"


def test_nircam_cal_layout_and_jumps(tmp_path):
    scene = _scene([50000.0, 3.0], ((0.0, 0.0), (3.0, 3.0)))
    cal = make_exposure(scene, ExposureSpec(detector="NIRCAM/SW", filter="F200W", shape=(300, 300),
                                            exptime=500.0, sky=0.2, seed=2))
    # the ramp fit removes jumps: DQ JUMP_DET (4) marks them, the data do not carry them
    jump = (cal.dq & 4) != 0
    assert jump.mean() > 0.01
    sky_sigma = np.sqrt(np.median(cal.variance["background"]))
    assert abs(np.median(cal.data[jump & (cal.dq == 4)]) - np.median(cal.data[cal.dq == 0])) < sky_sigma
    sat = (cal.dq & 2) != 0
    assert sat.any() and np.all(np.isnan(cal.data[sat])) and np.all(cal.dq[sat] & 1)
    ny, nx = np.nonzero(sat)
    assert np.ptp(ny) < 15 and np.ptp(nx) < 15  # HgCdTe: no bleeding
    path = cal.writeto(tmp_path / "sim_cal.fits")
    with fits.open(path) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "SCI", "ERR", "DQ", "AREA", "VAR_POISSON", "VAR_RNOISE",
                                          "VAR_FLAT"]
        assert hdul["SCI"].header["BUNIT"] == "MJy/sr"
        err2 = hdul["ERR"].data.astype(float) ** 2
        var = sum(hdul[k].data.astype(float) for k in ("VAR_POISSON", "VAR_RNOISE", "VAR_FLAT"))
        assert np.allclose(err2, var, rtol=1e-4)
