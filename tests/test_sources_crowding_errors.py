"""Issue #13 item 4: crowding in the reported errors, and injection where a star can be recovered.

Validated against truth: windowed centroids of Gaussian stars at known positions on noise larger than
the claimed ERR (the excess playing the confusion noise of a crowded sky), pulls = (measured - true) /
reported σ; and injected stars placed around a known bright source."""

import numpy as np
import pytest
import sep

from helpers import simulate
from helpers.errors import WorkbookError
from helpers.sources.background import _Noise
from helpers.sources.centroids import _windowed_errors
from helpers.sources.confusion import _add_crowding_errors, _gaussian_psf, _local_confusion_centroid_variance
from helpers.sources.psf import _PRF
from .conftest import flt_47tuc

FWHM = 2.5
SIG = FWHM / 2.3548


def _star_grid(rng, pixel_sigma, confusion_sigma, n_side=16, step=24):
    """Stars (flux 3000) on a grid, white pixel noise (claimed by ERR) plus unclaimed extra noise."""
    n = n_side * step + 2 * step
    yy, xx = np.mgrid[:n, :n]
    image = np.zeros((n, n))
    xs, ys = [], []
    for j in range(n_side):
        for i in range(n_side):
            x, y = step + i * step + rng.uniform(-0.5, 0.5), step + j * step + rng.uniform(-0.5, 0.5)
            image += 3000.0 / (2 * np.pi * SIG**2) * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * SIG**2))
            xs.append(x)
            ys.append(y)
    image += rng.normal(0, pixel_sigma, image.shape) + rng.normal(0, confusion_sigma, image.shape)
    return image.astype(np.float32), np.array(xs), np.array(ys)


def _windowed(image, xs, ys, pixel_sigma, confusion_scale):
    err = np.full(image.shape, pixel_sigma, np.float32)
    prep = {"sub": image, "det": image / err, "bad": np.zeros(image.shape, bool), "noise": _Noise(error=err),
            "sky_noise": {"confusion_scale": confusion_scale}}
    sig = np.full(xs.size, SIG)
    xw, yw, _ = sep.winpos(image, xs + 0.3, ys - 0.2, sig)
    ex, ey, cxy = _windowed_errors(image, prep["noise"], prep["bad"], xw, yw, sig)
    cat = {"x_win": xw, "y_win": yw, "sig_win": sig, "x_win_err": ex.copy(), "y_win_err": ey.copy(),
           "cov_xy_win": cxy.copy()}
    return prep, cat


def _pull_std(cat, xs, ys):
    return float(np.std(np.concatenate([(cat["x_win"] - xs) / cat["x_win_err"], (cat["y_win"] - ys) / cat["y_win_err"]])))


def test_local_confusion_noise_measured_from_the_image():
    rng = np.random.default_rng(1)
    image, xs, ys = _star_grid(rng, pixel_sigma=5.0, confusion_sigma=10.0)
    prep, cat = _windowed(image, xs, ys, 5.0, 2.0)
    wings = _PRF(_gaussian_psf(FWHM))
    extra = _local_confusion_centroid_variance(prep, cat["x_win"], cat["y_win"], cat["sig_win"], FWHM, wings=wings)
    # the unclaimed white noise (σ 10, variance 100) as the window's kernel reads it, per axis; the
    # per-star estimate is a median of 12 kernel samples (~40 % in variance), the median over stars ~5 %
    assert np.median(extra, axis=0) == pytest.approx([100.0, 100.0], rel=0.15)
    clean, xs0, ys0 = _star_grid(rng, pixel_sigma=5.0, confusion_sigma=0.0)
    prep0, cat0 = _windowed(clean, xs0, ys0, 5.0, 2.0)
    assert np.median(_local_confusion_centroid_variance(prep0, cat0["x_win"], cat0["y_win"], cat0["sig_win"], FWHM,
                                                        wings=wings)) < 0.1 * 25.0


def test_a_stars_own_wings_are_not_read_as_confusion():
    """The confusion term used to read the star's own wings in its annulus, so reported errors grew
    with SNR (47 Tuc injection: 0.055 px at SNR > 200 against a 0.032 px scatter). With the star's
    PSF model fitted (amplitude, shift, constant) and removed, a star on a clean sky reads no
    confusion at SNR 80 or 800; without the removal it reads a variance growing as flux²."""
    rng = np.random.default_rng(11)
    wings = _PRF(_gaussian_psf(FWHM))
    reads = {}
    for flux in (3e3, 3e4):  # aperture SNR ~ 80 and ~ 800
        stars, xs, ys = _star_grid(rng, pixel_sigma=0.0, confusion_sigma=0.0, n_side=6)
        image = (stars * (flux / 3000.0) + rng.normal(0, 5.0, stars.shape)).astype(np.float32)
        prep, cat = _windowed(image, xs, ys, 5.0, 2.0)
        with_model = _local_confusion_centroid_variance(prep, xs + 0.04, ys - 0.03, cat["sig_win"], FWHM, wings=wings)
        without = _local_confusion_centroid_variance(prep, xs + 0.04, ys - 0.03, cat["sig_win"], FWHM, wings=None)
        reads[flux] = (float(np.median(with_model)), float(np.median(without)))
    for flux in reads:
        assert reads[flux][0] < 0.2 * 25.0, reads  # below a fifth of the pixel variance
        assert reads[flux][1] > 100 * 25.0, reads  # the same star's wings, left in, swamp the pixel noise
    assert reads[3e4][1] > 50 * reads[3e3][1]  # ... and grow as flux²


def test_crowding_term_calibrates_windowed_pulls():
    rng = np.random.default_rng(2)
    image, xs, ys = _star_grid(rng, pixel_sigma=5.0, confusion_sigma=15.0)
    prep, cat = _windowed(image, xs, ys, 5.0, 3.2)
    before = _pull_std(cat, xs, ys)
    var = _add_crowding_errors(prep, cat, {"fwhm": FWHM})
    after = _pull_std(cat, xs, ys)
    assert before > 2.0  # ERR alone: the unclaimed noise makes the errors ~3x too small
    assert 0.85 <= after <= 1.15, (before, after)
    assert np.all(var > 0)


def test_uncrowded_tile_errors_unchanged():
    rng = np.random.default_rng(3)
    image, xs, ys = _star_grid(rng, pixel_sigma=5.0, confusion_sigma=15.0)
    prep, cat = _windowed(image, xs, ys, 5.0, 1.0)  # not a crowded sky: nothing is added
    ex = cat["x_win_err"].copy()
    assert not np.any(_add_crowding_errors(prep, cat, {"fwhm": FWHM}))
    np.testing.assert_array_equal(cat["x_win_err"], ex)


def test_injection_avoids_known_bright_sources():
    base = np.zeros((400, 400), np.float32)
    everywhere, px, py = simulate.inject_gaussian_stars(base, 5.0, np.random.default_rng(4), spacing=40)
    bright = (np.array([px[7] + 3.0]), np.array([py[7]]), np.array([1e7]))
    _, kx, ky = simulate.inject_gaussian_stars(base, 5.0, np.random.default_rng(4), spacing=40, avoid=bright)
    # the one position 3 px from a 10^7 source is skipped, every other one kept at the same place
    assert len(kx) == len(px) - 1
    assert not np.any(np.hypot(kx - px[7], ky - py[7]) < 1)
    np.testing.assert_allclose(np.delete(px, 7), kx)
    # a faint known source does not block a position
    faint = (bright[0], bright[1], np.array([1.0]))
    _, fx, _ = simulate.inject_gaussian_stars(base, 5.0, np.random.default_rng(4), spacing=40, avoid=faint)
    assert len(fx) == len(px)


def test_injection_avoid_bad_input():
    base = np.zeros((200, 200), np.float32)
    with pytest.raises(WorkbookError, match="one \\(x, y, flux\\) per source"):
        simulate.inject_gaussian_stars(base, 5.0, np.random.default_rng(5), avoid=([1.0, 2.0], [1.0], [1.0]))
    gx = np.arange(0, 200, 4.0)
    gx, gy = np.meshgrid(gx, gx)
    with pytest.raises(WorkbookError, match="no grid position is free"):
        simulate.inject_gaussian_stars(base, 5.0, np.random.default_rng(5),
                                       avoid=(gx.ravel(), gy.ravel(), np.full(gx.size, 1e8)))


def test_correlated_confusion_is_measured_and_calibrates_pulls():
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(6)
    image, xs, ys = _star_grid(rng, pixel_sigma=5.0, confusion_sigma=0.0)
    smooth = gaussian_filter(rng.normal(0, 1, image.shape), 1.2)  # confusion: smooth on the PSF scale
    image = (image + 20.0 * smooth / smooth.std()).astype(np.float32)
    scale = float(np.hypot(5.0, 20.0) / 5.0)
    prep, cat = _windowed(image, xs, ys, 5.0, scale)
    from helpers.sources.confusion import _confusion_autocorrelation

    rho = _confusion_autocorrelation(prep)
    assert rho[8, 9] > 0.5  # a Gaussian of σ 1.2 px smoothing white noise: ρ(1 px) = exp(-1/4σ²) = 0.84
    state = {"fwhm": FWHM}
    _add_crowding_errors(prep, cat, state)
    assert state["crowding_correlation_factor"] != 1.0
    assert 0.85 <= _pull_std(cat, xs, ys) <= 1.15


def test_real_47tuc_fast_path_classes_the_cluster_stars_point_and_reports_crowding():
    import warnings

    from helpers.sources import extract_sources_fits

    path = flt_47tuc()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cat = extract_sources_fits(path, progress=False, use_psf_fit=False)
    bright = np.asarray(cat["snr"]) > 20
    # issue #13: >= 70 % of the SNR > 20 sources of a globular cluster classed point (was 64.5 %)
    assert np.mean(np.asarray(cat["kind"])[bright] == "point") >= 0.70
    # the windowed errors carry the measured confusion (smooth on the PSF scale: factor > 1)
    assert cat.meta["crowding_sigma_median"] > 0
    assert cat.meta["crowding_correlation_factor"] > 1.5


def test_unresolved_pair_is_elongated_and_a_single_star_is_not():
    from helpers.sources.cosmics import _cr_locus, _shape_measures
    from helpers.sources.tiles import _elongated

    rng = np.random.default_rng(8)
    n = 64
    yy, xx = np.mgrid[:n, :n]

    def star(x, y, f):
        return f / (2 * np.pi * SIG**2) * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * SIG**2))

    # the locus from single stars at random pixel phases (noise-free: the phase alone moves the width)
    xs, ys = 32 + rng.uniform(-0.5, 0.5, 40), 32 + rng.uniform(-0.5, 0.5, 40)
    singles = [_shape_measures(star(x, y, 1e4), np.array([x]), np.array([y]), with_major=True) for x, y in zip(xs, ys)]
    sharp, minor, major = (np.array([s[k][0] for s in singles]) for k in range(3))
    locus = _cr_locus(sharp, minor, np.ones(40, bool), major)
    snr = np.full(1, 300.0)
    # a companion of 60 % of the star's light 2 px away (one detection, no neighbour distance)
    pair = star(32.2, 31.9, 1e4) + star(34.2, 31.9, 6e3)
    _, _, major_pair = _shape_measures(pair, np.array([32.6]), np.array([31.9]), with_major=True)
    assert _elongated(major_pair, snr, locus)[0]
    _, _, major_one = _shape_measures(star(32.2, 31.9, 1e4), np.array([32.2]), np.array([31.9]), with_major=True)
    assert not _elongated(major_one, snr, locus)[0]
    # no locus (too few stars): nothing is called elongated
    assert not _elongated(major_pair, snr, _cr_locus(sharp, minor, np.zeros(40, bool), major))[0]


def test_psf_fit_confusion_measured_from_the_residuals():
    """The PSF fit's covariance counts the claimed pixel noise only; unclaimed noise (a crowded sky's
    confusion) is read by the fit's own position estimators on the residual image around each star:
    with unclaimed white noise of 4x the claimed variance it is 4x the pixel-noise covariance, on a
    clean sky nothing, and the pulls with it are calibrated (576 stars: a pull std good to ±3 %;
    without the term the pull std is 2.2)."""
    from helpers.sources.fitting import _fit_psf, _psf_confusion_variance, _psf_position_kernels, _render_models

    prf = _PRF(_gaussian_psf(FWHM))
    radius = 6
    for extra, expect in ((10.0, 4.0), (0.0, 0.0)):
        rng = np.random.default_rng(21)
        image, xs, ys = _star_grid(rng, pixel_sigma=5.0, confusion_sigma=extra, n_side=24)
        noise, bad = _Noise(error=np.full(image.shape, 5.0, np.float32)), np.zeros(image.shape, bool)
        fit = _fit_psf(image, noise, bad, xs + 0.2, ys - 0.1, np.full(xs.size, 2500.0), prf, radius)
        resid = image - _render_models(image.shape, fit["x"], fit["y"], fit["flux"], prf, radius + 2)
        conf = _psf_confusion_variance(noise, bad, resid, fit["x"], fit["y"], fit["flux"], prf, radius, 1.5 * FWHM)
        kern = _psf_position_kernels(noise, bad, fit["x"], fit["y"], fit["flux"], prf, radius)
        # the kernels reproduce the fit's covariance on the claimed noise
        np.testing.assert_allclose(np.sum(kern[:, 0] ** 2, axis=(1, 2)) * 25.0, fit["cov"][:, 0, 0], rtol=1e-6)
        ratio = np.median(conf / np.stack([fit["cov"][:, 0, 0], fit["cov"][:, 1, 1]], axis=1), axis=0)
        if expect:
            assert ratio == pytest.approx([expect, expect], rel=0.15), ratio
            pulls = np.concatenate([(fit["x"] - xs) / np.sqrt(fit["cov"][:, 0, 0] + conf[:, 0]),
                                    (fit["y"] - ys) / np.sqrt(fit["cov"][:, 1, 1] + conf[:, 1])])
            # the bulk calibrated; the tails a little wide from the per-star estimate's own noise (a
            # 12-sample median, ~40 % in variance: std 1.15-1.21 on three seeds; see the docstring)
            assert 0.9 <= 1.4826 * np.median(np.abs(pulls)) <= 1.1, 1.4826 * np.median(np.abs(pulls))
            assert 0.9 <= np.std(pulls) <= 1.25, np.std(pulls)
        else:
            assert np.all(ratio < 0.25), ratio


def test_real_47tuc_injected_stars_recovered_and_their_errors_calibrated():
    """Stars injected into the real 47 Tuc flt (sky not subtracted) where the flt's own sources put
    < 20 % of the injected peak: recovery of every one of them is reported, not only of survivors.
    Windowed centroids used to converge onto bright neighbours (window sized by an r50 holding the
    neighbours' light) and be merged away: 35 % found. Pulls are taken about the stars' common
    offset (a frame offset: the HRC library PSF's asymmetric core puts a windowed centroid's reference
    point ~0.04 px from the model's centre, the same for every star).

    The PSF path: its windowed positions are put on the fits' frame (mixed, the two estimators' stars
    disagreed by that offset), and its errors carry the confusion the fits' own estimators read on the
    residual image (the χ²-inflated covariance and a windowed floor that counted the crowding twice
    gave a robust pull of 0.77)."""
    from ._real_files import Tuc47Injection, injected_pulls, match_injected, robust_std, tuc47_path

    path = tuc47_path() or flt_47tuc()  # flt_47tuc skips the test without the file
    bed = Tuc47Injection(path)
    img, px, py = bed.inject(47)
    assert len(px) > 300
    for use_psf in (False, True):
        cat = bed.extract(img, use_psf_fit=use_psf)
        j, found = match_injected(cat, px, py)
        assert found.mean() >= 0.55, found.mean()  # was 0.35 (171 of 483)
        assert np.sum(found & (np.asarray(cat["flags"])[j] == 0)) >= 100
        pulls, _ = injected_pulls(cat, px, py, flags_off=~0)
        assert 0.85 <= np.std(pulls) <= 1.15, (use_psf, np.std(pulls))
        # most stars' errors neither too large nor too small (the windowed robust pull was 0.75 when the
        # star's own wings were read as confusion; the PSF path's 0.77)
        assert 0.85 <= robust_std(pulls) <= 1.15, (use_psf, robust_std(pulls))
        if use_psf:
            # one frame: the windowed-method stars' offset from the truth is the PSF-fitted ones'
            method = np.asarray(cat["method"])[j]
            assert np.sum(found & (method == "psf")) >= 20
            off = {}
            for m in ("psf", "windowed"):
                s = found & (method == m)
                off[m] = np.median(np.asarray(cat["x"])[j[s]] - px[s]), np.median(np.asarray(cat["y"])[j[s]] - py[s])
            assert np.hypot(*np.subtract(off["psf"], off["windowed"])) < 0.015, off
            assert np.hypot(*cat.meta["windowed_offset_pix"]) > 0.02  # the HRC PSF's asymmetry, measured
            # blends the catalog sees (windowed and PSF-fit positions > 3.5σ apart): a few % of the point
            # sources, counted by flag_summary, their errors at least the disagreement's size
            from helpers.sources import FLAG_BLEND_OFFSET, flag_summary

            point = np.asarray(cat["kind"]) == "point"
            seen = (np.asarray(cat["flags"]) & FLAG_BLEND_OFFSET) > 0
            assert 0.003 <= np.mean(seen[point]) <= 0.10, np.mean(seen[point])
            assert flag_summary({"tuc": cat})["blend offset"][0] == seen.sum()
            x_w = np.asarray(cat["x_win"]) - cat.meta["windowed_offset_pix"][0]
            y_w = np.asarray(cat["y_win"]) - cat.meta["windowed_offset_pix"][1]
            fitted = seen & (np.asarray(cat["method"]) == "psf")
            assert fitted.any()
            assert np.all(np.hypot(np.asarray(cat["x_err"]), np.asarray(cat["y_err"]))[fitted]
                          >= 0.99 * np.hypot(x_w - np.asarray(cat["x"]), y_w - np.asarray(cat["y"]))[fitted])
