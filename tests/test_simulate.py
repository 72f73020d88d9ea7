"""The test bed must itself be right: positions, fluxes, WCS, noise and the Cramér–Rao bound."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from scipy.optimize import least_squares

from helpers import simulate
from helpers.errors import WorkbookError


@pytest.fixture(scope="module")
def truth():
    return simulate.make_truth(size_arcsec=60.0, n_stars=150, n_galaxies=80, n_pairs=8, n_saturated=3,
                               star_snr=(5, 800), seed=5)


@pytest.fixture(scope="module")
def image(truth):
    spec = simulate.ImageSpec(shape=(1200, 1200), pixel_scale=0.05, seed=1, wcs_shift_mas=(3.0, -2.0))
    return simulate.make_image(truth, spec)


def test_deterministic(truth):
    spec = simulate.ImageSpec(shape=(256, 256), pixel_scale=0.05, seed=9)
    a, b = simulate.make_image(truth, spec), simulate.make_image(truth, spec)
    np.testing.assert_array_equal(a.data, b.data)
    t2 = simulate.make_truth(size_arcsec=60.0, n_stars=150, n_galaxies=80, n_pairs=8, n_saturated=3,
                             star_snr=(5, 800), seed=5)
    np.testing.assert_array_equal(truth["ra"], t2["ra"])


def test_psf_is_normalised_and_realistic():
    psf = simulate.make_psf("ACS/WFC", "F814W", pixel_scale=0.05)
    assert psf.data.sum() == pytest.approx(16.0)  # photutils convention: oversampling**2
    # ACS/WFC F814W drizzled FWHM is about 0.1" (ACS Instrument Handbook); a Gaussian of that
    # FWHM would put ~all light within 0.3", a diffraction PSF leaves a few percent in the wings.
    assert 0.09 < psf.fwhm_pix * 0.05 < 0.11
    n = psf.data.shape[0]
    yy, xx = np.indices(psf.data.shape)
    r_pix = np.hypot(xx - (n - 1) / 2, yy - (n - 1) / 2) / 4
    wings = psf.data[r_pix > 0.3 / 0.05].sum() / psf.data.sum()
    assert 0.02 < wings < 0.2
    # JWST's hexagonal pupil gives a smaller FWHM in arcsec at 2 um than HST at 1.5 um.
    nircam = simulate.make_psf("NIRCAM", "F200W", pixel_scale=0.031)
    assert 0.06 < nircam.fwhm_pix * 0.031 < 0.085


def test_rendered_flux_and_position_match_truth(truth):
    """Noise-free stars equal photutils' own evaluation of the PSF model at the true position
    (an independent interpolation path), and carry the true flux."""
    spec = simulate.ImageSpec(shape=(800, 800), pixel_scale=0.05, seed=2, chip_gap=False, sky_residual=0.0,
                              noise=False)
    img = simulate.make_image(truth, spec)
    t = img.truth
    iso = t[(t["kind"] == "star") & (t["snr"] > 100) & ~t["saturated"]]
    assert len(iso) >= 5
    r = 12
    checked = 0
    for row in iso:
        x0, y0 = int(round(row["x"])), int(round(row["y"]))
        if not (r < x0 < 800 - r and r < y0 < 800 - r):
            continue
        yy, xx = np.mgrid[y0 - r:y0 + r + 1, x0 - r:x0 + r + 1]
        stamp = img.data[y0 - r:y0 + r + 1, x0 - r:x0 + r + 1]
        model = img.psf.evaluate(xx, yy, flux=row["flux"], x_0=row["x"], y_0=row["y"])
        # Neighbouring sources light some stamps; the isolated ones must match exactly.
        if np.max(np.abs(stamp - model)) < 1e-6 * model.max():
            checked += 1
    assert checked >= 5  # equal to F * PSF(x - x_true): flux and position both as in the truth


def test_wcs_truth_and_known_error(image):
    t = image.truth
    # The header WCS carries a known shift: the true pixel positions map to sky positions offset
    # by exactly wcs_shift_mas.
    sky = image.wcs.pixel_to_world(t["x"] - t["dx_sys"], t["y"] - t["dy_sys"])
    dra = (sky.ra.deg - t["ra"]) * np.cos(np.radians(t["dec"])) * 3.6e6
    ddec = (sky.dec.deg - t["dec"]) * 3.6e6
    np.testing.assert_allclose(dra, 3.0, atol=0.05)
    np.testing.assert_allclose(ddec, -2.0, atol=0.05)
    back = image.wcs.world_to_pixel_values(t["ra"], t["dec"])
    np.testing.assert_allclose(back[0], t["x_wcs"], atol=1e-6)


def test_noise_matches_error_map(image):
    t = image.truth
    mask = np.zeros(image.data.shape, bool)
    for row in t:  # mask every source generously
        x0, y0 = int(row["x"]), int(row["y"])
        mask[max(y0 - 25, 0):y0 + 26, max(x0 - 25, 0):x0 + 26] = True
    ok = ~mask & (image.weight > 0)
    pulls = image.data[ok] / image.error[ok]
    pulls -= np.median(pulls)  # the residual sky pedestal is on purpose
    robust_std = 1.4826 * np.median(np.abs(pulls))  # faint galaxy wings inflate the plain std
    assert 0.97 < robust_std < 1.03
    # WHT is the inverse variance of the background.
    np.testing.assert_allclose(np.median(1 / np.sqrt(image.weight[ok])), np.median(image.error[ok]), rtol=0.05)


def test_cramer_rao_bound_is_achieved_by_maximum_likelihood():
    """Independent check of crb_x: fit many noise realisations with the true PRF."""
    truth = simulate.make_truth(size_arcsec=0.5, n_stars=1, n_galaxies=0, n_pairs=0, n_saturated=0,
                                star_snr=(40, 40.0001), seed=3)
    spec0 = simulate.ImageSpec(shape=(41, 41), pixel_scale=0.05, chip_gap=False, sky_residual=0.0, seed=0)
    ref = simulate.make_image(truth, spec0)
    row = ref.truth[0]
    prf = simulate._PRF(ref.psf)
    r = 9
    x0, y0 = int(round(row["x"])), int(round(row["y"]))
    yy, xx = np.mgrid[y0 - r:y0 + r + 1, x0 - r:x0 + r + 1]
    fits_x = []
    for seed in range(150):
        img = simulate.make_image(truth, simulate.ImageSpec(shape=(41, 41), pixel_scale=0.05, chip_gap=False,
                                                            sky_residual=0.0, seed=seed))
        stamp = img.data[y0 - r:y0 + r + 1, x0 - r:x0 + r + 1]
        err = img.error[y0 - r:y0 + r + 1, x0 - r:x0 + r + 1]

        def resid(p):
            return ((p[2] * prf.sample(xx - p[0], yy - p[1]) - stamp) / err).ravel()

        sol = least_squares(resid, [row["x"] + 0.1, row["y"] - 0.1, row["flux"]], x_scale=[0.1, 0.1, row["flux"]])
        fits_x.append(sol.x[0] - row["x"])
    scatter = np.std(fits_x)
    assert scatter == pytest.approx(row["crb_x"], rel=0.15)
    assert abs(np.mean(fits_x)) < 3 * scatter / np.sqrt(150)


def test_scene_contents(image):
    t = image.truth
    kinds = set(np.asarray(t["kind"]).astype(str))
    assert {"star", "galaxy", "pair"} <= kinds
    stars = t[t["kind"] == "star"]
    assert np.nanmin(stars["snr"]) < 10 and np.nanmax(stars["snr"]) > 500
    assert t["saturated"].sum() >= 1


def test_systematic_patterns(truth):
    seam = simulate.make_image(truth, simulate.ImageSpec(shape=(400, 400), systematic="seam", systematic_mas=20.0))
    t = seam.truth
    right = t["x"] > 200
    np.testing.assert_allclose(t["dx_sys"][right], 20.0 / 1000 / 0.05)
    np.testing.assert_allclose(t["dx_sys"][~right], 0.0)
    with pytest.raises(WorkbookError, match="unknown systematic"):
        simulate.make_image(truth, simulate.ImageSpec(shape=(64, 64), systematic="spiral", systematic_mas=1))


def test_fits_products(tmp_path, truth):
    spec = simulate.ImageSpec(instrument="NIRCAM", filter="F277W", shape=(300, 300), sip=True, name="nrc")
    img = simulate.make_image(truth, spec)
    path = tmp_path / "nrc_i2d.fits"
    img.writeto(path)
    with fits.open(path, checksum=True) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "SCI", "ERR", "WHT"]
        assert hdul["SCI"].header["BUNIT"] == "MJy/sr"
        w = WCS(hdul["SCI"].header)
        assert w.has_celestial and w.sip is not None
        assert hdul[0].header["SIMULATE"] is True
    with pytest.raises(WorkbookError, match="already exists"):
        img.writeto(path)


def test_gaia_like_and_perturb(truth):
    gaia = simulate.gaia_like_catalog(truth)
    assert len(gaia) > 0
    assert np.all(gaia["phot_g_mean_mag"] < 21)
    faint = gaia["phot_g_mean_mag"] > 20
    if faint.any():
        assert 0.3 < np.median(gaia["ra_error"][faint]) < 2.0
    pert = simulate.perturb_catalog(truth, 10.0, seed=1)
    d = (pert["dec"] - truth["dec"]) * 3.6e6
    assert np.std(d) == pytest.approx(10.0, rel=0.12)


@pytest.mark.parametrize("instrument, filter, scale", [("ACS/WFC", "F606W", 0.06), ("WFC3/UVIS", "F475W", 0.04),
                                                       ("NIRCAM", "F277W", 0.063)])
def test_psf_is_centred_on_its_reference_sample(instrument, filter, scale):
    """The truth x, y is where the PSF's light is centred: the first moment of the oversampled
    model must fall on its central sample (an even-width smoothing kernel once shifted it)."""
    psf = simulate.make_psf(instrument, filter, pixel_scale=scale)
    data = psf.data
    c = (data.shape[0] - 1) / 2
    yy, xx = np.indices(data.shape)
    assert (data * xx).sum() / data.sum() == pytest.approx(c, abs=1e-6)
    assert (data * yy).sum() / data.sum() == pytest.approx(c, abs=1e-6)
