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
    # the windowed errors carry the measured confusion (smooth on the PSF scale: factor > 1; 1.31 since
    # the stars whose window a neighbour had widened are centroided in a star's window, 1.6 before)
    assert cat.meta["crowding_sigma_median"] > 0
    assert cat.meta["crowding_correlation_factor"] > 1.2
    # ... and what the neighbours' drag and the window-phase bias amount to (pixels, medians)
    assert 0 < cat.meta["crowding_drag_median_pix"] < 0.05
    assert 0 < cat.meta["crowding_phase_median_pix"] < 0.05


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


@pytest.fixture(scope="module")
def tuc47_bed():
    """The injection set-up on the real 47 Tuc flt (its own catalog measured once); skips without the file."""
    from ._real_files import Tuc47Injection, tuc47_path

    return Tuc47Injection(tuc47_path() or flt_47tuc())  # flt_47tuc skips the test without the file


def test_real_47tuc_windowed_pulls_calibrated_over_seeds(tuc47_bed):
    """The windowed (fast) path's errors on a crowded sky, over the benchmark's five injection seeds
    (benchmarks/bench_sources.py real): the unflagged injected stars' pull std was 0.95, 1.25, 1.16,
    1.83, 1.33 (a tail of pulls 4-20: windows shrunk below a star's, whose pixel-phase bias is
    0.02-0.06 px, and blends), robust 0.90-1.01. With the window-phase term, the detected neighbours'
    drag and the ring term read on the residual of all detected models (helpers.sources.confusion) it
    is 0.88, 1.03, 1.01, 0.99, 0.92, robust 0.92-0.96; on five fresh seeds (5-9) 0.98, 0.99, 0.98,
    1.16, 0.94 (was 1.20, 1.35, 1.15, 1.39, 1.09), robust 0.88-1.02. ~130 stars a seed: a pull std
    good to ±4-6 %, so the target (0.85-1.15) is asked of 4 seeds of 5, the robust one of all."""
    from ._real_files import injected_pulls, robust_std

    stds, robusts = [], []
    for seed in (47, 1, 2, 3, 4):
        img, px, py = tuc47_bed.inject(seed)
        pulls, _ = injected_pulls(tuc47_bed.extract(img, use_psf_fit=False), px, py, flags_off=~0)
        assert len(pulls) // 2 >= 100
        stds.append(float(np.std(pulls)))
        robusts.append(robust_std(pulls))
    assert sum(0.85 <= s <= 1.15 for s in stds) >= 4, stds
    assert all(0.85 <= r <= 1.15 for r in robusts), robusts
    assert max(stds) < 1.3, stds  # no seed with the old tail (1.83)


def test_real_47tuc_injected_stars_recovered_and_their_errors_calibrated(tuc47_bed):
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
    from ._real_files import injected_pulls, match_injected, robust_std

    bed = tuc47_bed
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


def test_window_phase_term_matches_stars_at_random_phases():
    """The window-phase term (sampled on a regular grid of phases of the PSF model) against noise-free
    stars at random phases centroided as the extraction does: their scatter about the mean is the
    term's square root to 15 % (400 stars: the scatter good to ±4 %), and it falls steeply with the
    window (a crowded sky's shrunken windows, σ_w 0.6-0.8 px, were the 47 Tuc tail)."""
    from helpers.sources.confusion import _window_phase_variance

    prf = _PRF(_gaussian_psf(2.15))
    rng = np.random.default_rng(31)
    n_side, step = 20, 16
    tx = (step // 2 + step * np.arange(n_side))[None, :] + rng.uniform(-0.5, 0.5, (n_side, n_side))
    ty = (step // 2 + step * np.arange(n_side))[:, None] + rng.uniform(-0.5, 0.5, (n_side, n_side))
    tx, ty = tx.ravel(), ty.ravel()
    yy, xx = np.mgrid[:n_side * step, :n_side * step]
    s = 2.15 / 2.3548
    image = np.zeros(xx.shape)
    for x, y in zip(tx, ty):  # pixel-integrated enough: the model is sampled at pixel centres too
        image += np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * s * s))
    terms = []
    for sw in (0.6, 0.8, 1.0):
        wx, wy, _ = sep.winpos(image, tx, ty, np.full(tx.size, sw), subpix=1)
        term = np.sqrt(_window_phase_variance(prf, [sw])[0])
        measured = np.array([np.std(wx - tx), np.std(wy - ty)])
        np.testing.assert_allclose(term, measured, rtol=0.15)
        terms.append(term[0])
    assert terms[0] > 5 * terms[2]
    assert not np.any(_window_phase_variance(prf, [4.0]) > 1e-6)  # a galaxy's wide window: nothing


def _moffat_prf(fwhm=FWHM, beta=2.5, half=20, oversampling=4):
    """A Moffat PSF (wings like a telescope's, unlike a Gaussian's) as a _PRF, 2·half px across."""
    from types import SimpleNamespace

    k = np.arange(-half * oversampling, half * oversampling + 1) / oversampling
    alpha = fwhm / (2 * np.sqrt(2 ** (1 / beta) - 1))
    data = (1 + (k[None, :] ** 2 + k[:, None] ** 2) / alpha**2) ** -beta
    return _PRF(SimpleNamespace(data=data, oversampling=oversampling))


def test_neighbour_shift_predicts_the_drag_of_a_detected_neighbour():
    """A star with a neighbour 5-8 px away (1-4x its flux, random angle; noise-free, Moffat wings): the
    windowed centroid's actual shift (with the neighbour minus without) against the drag predicted
    from the fluxes the models read off the image. Predicted to 25 % and correlated > 0.95; a lone
    star reads no drag."""
    from helpers.sources.confusion import _detected_models, _neighbour_shift
    from helpers.sources.fitting import _render_models

    prf = _moffat_prf()
    rng = np.random.default_rng(32)
    n_side, step = 10, 48
    n = n_side * step
    gx, gy = np.meshgrid(step // 2 + step * np.arange(n_side), step // 2 + step * np.arange(n_side))
    tx, ty = gx.ravel() + rng.uniform(-0.5, 0.5, gx.size), gy.ravel() + rng.uniform(-0.5, 0.5, gx.size)
    ang, dist, ratio = rng.uniform(0, 2 * np.pi, tx.size), rng.uniform(5, 8, tx.size), rng.uniform(1, 4, tx.size)
    nx_, ny_ = tx + dist * np.cos(ang), ty + dist * np.sin(ang)
    alone = _render_models((n, n), tx, ty, np.full(tx.size, 3000.0), prf, 19)
    both = alone + _render_models((n, n), nx_, ny_, 3000.0 * ratio, prf, 19)
    sig = np.full(tx.size, SIG)
    x0, y0, _ = sep.winpos(alone, tx, ty, sig, subpix=1)
    x1, y1, _ = sep.winpos(both, tx, ty, sig, subpix=1)
    actual = np.concatenate([x1 - x0, y1 - y0])
    bad = np.zeros((n, n), bool)
    prep = {"sub": both, "bad": bad}
    xs, ys = np.concatenate([x1, nx_]), np.concatenate([y1, ny_])
    models = _detected_models(prep, xs, ys, prf, FWHM)
    shift = _neighbour_shift(prep, xs, ys, np.full(xs.size, SIG), models, prf)[:tx.size]
    predicted = np.concatenate([shift[:, 0], shift[:, 1]])
    assert np.median(np.abs(actual)) > 0.005, np.median(np.abs(actual))  # a drag worth predicting
    assert np.corrcoef(actual, predicted)[0, 1] > 0.95, np.corrcoef(actual, predicted)[0, 1]
    big = np.abs(actual) > 0.005
    assert np.median(predicted[big] / actual[big]) == pytest.approx(1.0, abs=0.25), np.median(predicted[big] / actual[big])
    lone = {"sub": alone, "bad": bad}
    assert np.max(np.abs(_neighbour_shift(lone, x0, y0, sig, _detected_models(lone, x0, y0, prf, FWHM), prf))) < 1e-3


def test_ring_term_leaves_the_detected_neighbours_to_the_drag_term():
    """With every detected source's model removed first, the ring term reads only what no detected
    source explains: bright detected neighbours 7 px from each star (noise otherwise white and
    claimed) add < 20 % of the pixel variance, where read on the image itself they swamp it."""
    from helpers.sources.confusion import _detected_models

    rng = np.random.default_rng(33)
    image, xs, ys = _star_grid(rng, pixel_sigma=0.0, confusion_sigma=0.0, n_side=10, step=40)
    yy, xx = np.mgrid[:image.shape[0], :image.shape[1]]
    # four neighbours per star, 90 degrees apart (the ring's median is meant to ignore one)
    ang = (rng.uniform(0, 2 * np.pi, xs.size)[:, None] + np.pi / 2 * np.arange(4)).ravel()
    nx_, ny_ = np.repeat(xs, 4) + 7 * np.cos(ang), np.repeat(ys, 4) + 7 * np.sin(ang)
    for x, y in zip(nx_, ny_):
        image = image + 9000.0 / (2 * np.pi * SIG**2) * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * SIG**2))
    image = (image + rng.normal(0, 5.0, image.shape)).astype(np.float32)
    prep, cat = _windowed(image, xs, ys, 5.0, 2.0)
    wings = _PRF(_gaussian_psf(FWHM))
    ax, ay = np.concatenate([xs, nx_]), np.concatenate([ys, ny_])
    models = _detected_models(prep, ax, ay, wings, FWHM)
    sig = np.full(ax.size, SIG)
    resid = _local_confusion_centroid_variance(prep, ax, ay, sig, FWHM, wings=wings, models=models)[:xs.size]
    raw = _local_confusion_centroid_variance(prep, ax, ay, sig, FWHM, wings=wings)[:xs.size]
    assert np.median(resid) < 0.2 * 25.0, np.median(resid)
    assert np.median(raw) > 4 * 25.0, np.median(raw)



def test_a_neighbour_widened_window_is_narrowed_to_a_stars(tmp_path):
    """SExtractor's window (2 r50 / 2.35, r50 within 6 a) of a star near a brighter one holds that
    neighbour's wing, and the wide window pulled the windowed centroid toward it: on the drizzled test
    bed (ACS/WFC F814W drc, pixfrac 1, exposures at roll 37 deg; bench_drizzled.py field 1) a SNR-110
    star 10.6 px from a SNR-250 one was put 0.28 px off, 20x its error (windowed pulls at SNR 100-300
    1.47 instead of 1.05). A compact source with a neighbour is centroided in a star's window."""
    import warnings

    from scipy.spatial import cKDTree

    from helpers.simulate.drizzled import isolated, make_drizzled
    from helpers.sources import extract_sources_fits

    truth = simulate.make_truth(center=(53.1625, -27.791417), size_arcsec=23.0, n_stars=180, n_galaxies=0, n_pairs=0,
                                n_saturated=0, star_snr=(10, 300), seed=104)
    product = make_drizzled(isolated(truth, 0.6), "ACS/WFC", "F814W", shape=(512, 512), out_scale=0.05, pixfrac=1.0,
                            exptime=500.0, sky=0.08, seed=102, name="nb", roll=37.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cat = extract_sources_fits(product.writeto(tmp_path / "nb_drc.fits"), progress=False)
    t = product.truth
    d, i = cKDTree(np.c_[cat["x"], cat["y"]]).query(np.c_[t["x"], t["y"]])
    c, t = cat[i[d < 1.0]], t[d < 1.0]
    point = (np.asarray(c["kind"]).astype(str) == "point") & (np.asarray(c["flags"]) == 0)
    pull = np.hypot((np.asarray(c["x_win"]) - t["x"]) / c["x_win_err"], (np.asarray(c["y_win"]) - t["y"]) / c["y_win_err"])
    assert point.sum() > 80
    assert np.max(pull[point]) < 6.0, np.sort(pull[point])[-3:]
    star = np.argmin(np.hypot(t["x"] - 410.4, t["y"] - 540.8))
    assert np.hypot(c["x_win"][star] - t["x"][star], c["y_win"][star] - t["y"][star]) < 0.05
    assert 1 <= cat.meta["windowed_narrowed"] < 0.1 * len(cat)  # said, and rare on an uncrowded field
