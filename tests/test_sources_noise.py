"""Issue #13 (B): noise read from the image. Validated against truth: stars injected at known
positions into noise with a known correlation (a 2x2 box kernel, as drizzling with pixfrac ~1
makes) and into noise whose WHT is off by a known factor; pulls = (measured - true) / reported σ."""

import warnings

import numpy as np
import pytest
from astropy.wcs import WCS
from scipy.ndimage import uniform_filter

import helpers.sources.noise as noise_module
from helpers.sources import extract_sources, image_reading_summary
from helpers.sources.noise import correlation_factor, measure_sky_noise
from helpers import simulate

FWHM = 2.5


def _wcs(n):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [10.0, -20.0]
    w.wcs.crpix = [n / 2, n / 2]
    w.wcs.cdelt = [-1e-5, 1e-5]
    return w


def _inject(base, sky_sigma, rng):
    """Gaussian stars (FWHM 2.5 px) on a jittered grid, SNR 15-150; returns image and truth."""
    return simulate.inject_gaussian_stars(base, sky_sigma, rng, fwhm=FWHM)


def _pulls(cat, px, py):
    cx, cy = np.asarray(cat["x"]), np.asarray(cat["y"])
    out = []
    for x, y in zip(px, py):
        d = np.hypot(cx - x, cy - y)
        i = int(np.argmin(d))
        if d[i] < 1.0:
            out += [(cx[i] - x) / cat["x_err"][i], (cy[i] - y) / cat["y_err"][i]]
    out = np.array(out)
    assert out.size >= 120  # most of the 100 stars matched
    return float(np.std(out))


def _extract(img, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return extract_sources(img, _wcs(img.shape[0]), progress=False, use_psf_fit=False, fwhm=FWHM, **kw)


def test_block_sums_measure_known_correlation():
    rng = np.random.default_rng(0)
    white = rng.normal(size=(512, 512))
    boxed = uniform_filter(white, 2)
    white_m = measure_sky_noise(white)
    box_m = measure_sky_noise(boxed / boxed.std())
    assert white_m["correlation"][2] == pytest.approx(1.0, abs=0.05)
    assert correlation_factor(white_m["correlation"], FWHM) == 1.0  # not applied on white noise
    # 2x2 box: pixel variance 1/4 of the input's; a 2x2 block sum sees a 3x3 footprint with weights
    # (1,2,1)x(1,2,1)/4, variance 36/16 -> ratio sqrt(36/16)/(2*sqrt(1/4)) = 1.5
    assert box_m["correlation"][2] == pytest.approx(1.5, abs=0.06)


def test_correlated_noise_pulls_near_one(monkeypatch):
    rng = np.random.default_rng(1)
    base = uniform_filter(rng.normal(size=(500, 500)), 2) * 2.0  # σ_pixel = 1, correlated
    img, px, py = _inject(base, 1.0, rng)
    monkeypatch.setattr(noise_module, "CORRELATION_APPLY_MIN", 1e9)  # what the code did before #13
    before = _pulls(_extract(img), px, py)
    monkeypatch.undo()
    cat = _extract(img)
    after = _pulls(cat, px, py)
    assert before > 1.35  # the correlation was ignored
    assert 0.85 <= after <= 1.15, after
    assert cat.meta["noise_correlation"]["2x2"] == pytest.approx(1.5, abs=0.08)
    assert cat.meta["noise_correlation_factor"] > 1.4
    row = image_reading_summary({"sim": cat})[0]  # what notebook 02 shows
    assert row["error_factor"] == pytest.approx(cat.meta["noise_correlation_factor"])
    assert row["corr_2x2"] == pytest.approx(1.5, abs=0.08) and not row["scale_applied"]


def test_wht_in_exposure_units_is_rescaled_from_the_sky():
    rng = np.random.default_rng(2)
    n = 500
    true_ivm = (1.0 + 0.2 * np.linspace(0, 1, n))[None, :] * np.ones((n, 1))  # inverse variance, 1/e-^2
    base = rng.normal(size=(n, n)) / np.sqrt(true_ivm)
    img, px, py = _inject(base, 1.0, rng)
    wht_exp = (true_ivm * 400.0).astype(np.float32)  # EXP-like weights: 20x too small a claimed σ
    cat = _extract(img, weight=wht_exp)
    assert cat.meta["noise_scale_applied"] is True
    assert cat.meta["noise_pixel_scale"] == pytest.approx(20.0, rel=0.1)
    assert 0.85 <= _pulls(cat, px, py) <= 1.15
    row = image_reading_summary({"sim": cat})[0]  # what notebook 02 says the WHT was
    assert row["noise_from"].startswith("WHT, not inverse variance (sky sigma 20x its claim)"), row["noise_from"]
    assert row["psf_source"] == "none" and row["fwhm_source"] == "given"
