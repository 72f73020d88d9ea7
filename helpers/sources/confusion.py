"""Confusion: what a crowded sky's light does to a windowed centroid, measured from the image.

On a crowded sky (a globular cluster: more than half the pixels in sources,
:func:`~helpers.sources.background._crowded_sky`) a windowed centroid sees its neighbours' light and the
unresolved stars under it as well as the pixel noise. This module measures that confusion around each
source (its own PSF model removed) as the window's first-moment kernels feel it, and folds it into the
windowed errors (:func:`_add_crowding_errors`, the one hook :func:`helpers.sources.tiles._process_tile`
calls; an uncrowded tile is left unchanged)."""

import math
import warnings

import numpy as np

from .background import _crowded_sky, _Noise
from .centroids import _windowed_errors
from .fitting import CHI2_1_MEDIAN
from .psf import _PRF
from .stamps import _prf_on_stamps, _stamp_index

#: Where the confusion's pull on a windowed centroid is sampled: the window's first-moment kernels
#: (reach 4 σ_w ≈ 1.7 FWHM) centred on :data:`CONFUSION_RING_POINTS` points of a ring of this radius
#: (FWHM) around the source, so that each kernel covers the pixels the source's own window covers.
#: On the 47 Tuc ACS/HRC flt a ring of 3 FWHM (kernels reaching 1.3-4.7 FWHM, where bright
#: neighbours sit but do not reach the source's window) made the errors 2-5x too large.
CONFUSION_RING_FWHM = 1.5
CONFUSION_RING_POINTS = 12
#: Radius (FWHM) of the core over which a source's own PSF model is fitted before it is removed.
OWN_LIGHT_CORE_FWHM = 1.5


def _local_confusion_centroid_variance(prep, x, y, sig_win, fwhm, wings=None, models=None):
    """Per-source confusion variance (image units², per axis, shape (N, 2)) as a windowed centroid of
    window σ ``sig_win`` (pixels) feels it.

    The window's first-moment kernel along each axis, g = w·d (w = exp(−r²/2σ_w²) within 4 σ_w, d the
    offset along the axis), is applied to the pixels around the source with its own light removed, at
    :data:`CONFUSION_RING_POINTS` points of a ring of :data:`CONFUSION_RING_FWHM`; the variance is
    median((Σ g·c)²) / (:data:`CHI2_1_MEDIAN` · Σ g²) minus the pixel-noise variance (median ERR²,
    1/WHT), never below 0. On white noise of variance σ² this is σ², so times the unit-noise windowed
    error it is the centroid's error from that noise; on the light of neighbours and unresolved stars
    it holds what a per-pixel ring variance misses (their correlation over the window, their gradients
    across it), and the median keeps a bright neighbour that only one or two ring points' kernels reach
    (not the source's window) from setting it.

    The source's own light is the least-squares fit of ``wings`` (a :class:`~helpers.sources.psf._PRF`),
    its two gradients and a constant over the pixels within :data:`OWN_LIGHT_CORE_FWHM` (see
    :func:`_own_light_model`). Left in, a source's wings read as confusion growing with its flux: on the
    47 Tuc ACS/HRC flt the annulus-variance term gave injected stars errors of 0.055 px at SNR > 200
    against a scatter of 0.032 px (``benchmarks/bench_sources.py real``); a MAD of the annulus with the
    wings removed instead made them 1.3-1.6x too small.

    Parameters
    ----------
    prep : dict
        The tile (``sub`` background-subtracted image, ``bad`` mask, ``noise`` per-pixel noise model).
    x, y : array
        Windowed positions (0-based pixels).
    sig_win : array
        Window σ per source (pixels).
    fwhm : float
        Image FWHM (pixels).
    wings : _PRF or None
        The PSF model of the sources' own light (None: nothing removed).
    models : (ndarray, array, int) or None
        ``(image, flux, radius)``: the models of every detected source (:func:`_detected_models`), removed
        first, each source's own model put back (then fitted and removed as above); the term is then
        the light no detected source explains (unresolved stars, the models' residuals). The detected
        neighbours' light is :func:`_neighbour_shift`'s, so it is not counted twice.
    """
    n = len(x)
    out = np.zeros((n, 2))
    if n == 0:
        return out
    x, y, sig_win = np.asarray(x, float), np.asarray(y, float), np.asarray(sig_win, float)
    ring = CONFUSION_RING_FWHM * fwhm
    ang = 2 * np.pi * np.arange(CONFUSION_RING_POINTS) / CONFUSION_RING_POINTS
    offs = np.stack([np.rint(ring * np.cos(ang)), np.rint(ring * np.sin(ang))], axis=1).astype(int)
    for sw in np.unique(np.round(sig_win, 1)):
        sel = np.nonzero(np.round(sig_win, 1) == sw)[0]
        rk = int(np.clip(np.ceil(4 * sw), 2, 40))
        radius = int(np.ceil(ring)) + rk + 1
        px, py, inside = _stamp_index(x[sel], y[sel], radius, prep["sub"].shape)
        good = inside & ~prep["bad"][py, px]
        data = prep["sub"][py, px].astype(float)
        if wings is not None:
            k = np.arange(-radius, radius + 1, dtype=float)
            r = np.hypot(k[None, None, :] + (np.rint(x[sel]) - x[sel])[:, None, None],
                         k[None, :, None] + (np.rint(y[sel]) - y[sel])[:, None, None])
            planes = _prf_on_stamps(wings, x[sel], y[sel], radius, grad=True)
            if models is not None:
                image, flux, r_model = models
                box = (np.abs(k)[None, :, None] <= r_model) & (np.abs(k)[None, None, :] <= r_model)
                data = data - image[py, px] + np.where(box, planes[0] * flux[sel, None, None], 0.0)
            data = data - _own_light_model(data, planes, good & (r < OWN_LIGHT_CORE_FWHM * fwhm))
        data = np.where(good, data, 0.0)
        kk = np.arange(-rk, rk + 1, dtype=float)
        dxk, dyk = np.meshgrid(kk, kk)
        w = np.where(dxk**2 + dyk**2 <= 16 * sw * sw, np.exp(-(dxk**2 + dyk**2) / (2 * sw * sw)), 0.0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a stamp all masked: NaN, then 0 below
            pix_var = np.nanmedian(np.where(good, prep["noise"].var(py, px), np.nan).reshape(sel.size, -1), axis=1)
        for axis, d in enumerate((dxk, dyk)):
            g = w * d
            samples = np.full((sel.size, len(offs)), np.nan)
            for j, (ox, oy) in enumerate(offs):
                cy, cx = radius + oy, radius + ox
                patch = data[:, cy - rk:cy + rk + 1, cx - rk:cx + rk + 1]
                # a kernel that falls off the image or on masked pixels says nothing
                ok = np.all(good[:, cy - rk:cy + rk + 1, cx - rk:cx + rk + 1] | (g == 0), axis=(1, 2))
                samples[ok, j] = (patch[ok] * g).sum(axis=(1, 2)) ** 2
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # no usable ring point: NaN, then 0
                v = np.nanmedian(samples, axis=1) / (CHI2_1_MEDIAN * np.sum(g * g)) - pix_var
            out[sel, axis] = np.where(np.isfinite(v) & (v > 0), v, 0.0)
    return out


def _own_light_coefficients(data, planes, core):
    """The one-step linearised PSF fit of each source over its ``core`` pixels: coefficients (N, 4) of
    its PSF model, the model's x and y gradients (``planes``, from ``_prf_on_stamps(..., grad=True)``)
    and a constant (the crowded sky's local level), with ``basis`` (N, 4, m, m); a coefficient that is
    not finite is 0 and the amplitude is never negative."""
    basis = np.stack(list(planes) + [np.ones_like(planes[0])], axis=1)  # (N, 4, m, m)
    wb = basis * core[:, None]
    a = np.einsum("nimk,njmk->nij", wb, basis)
    b = np.einsum("nimk,nmk->ni", wb, np.where(core, data, 0.0))
    coef = np.einsum("nij,nj->ni", np.linalg.pinv(a), b)  # pinv: a core all masked is singular
    coef = np.where(np.isfinite(coef), coef, 0.0)
    coef[:, 0] = np.clip(coef[:, 0], 0.0, None)
    return coef, basis


def _own_light_model(data, planes, core):
    """Each source's own light in its stamp (N, m, m): :func:`_own_light_coefficients`' PSF model and
    gradients, without the constant."""
    coef, basis = _own_light_coefficients(data, planes, core)
    return np.einsum("ni,nimk->nmk", coef[:, :3], basis[:, :3])


def _wings_model(state, opts, fwhm):
    """The PSF model of a source's own light, removed before its confusion is measured: the supplied
    PSF, else the image's library PSF / instrument model (`fallback_psf`), else a Gaussian of the image
    FWHM (``fwhm``, pixels). Cached in ``state`` (``wings_source`` says which)."""
    if state.get("wings_prf") is None:
        from .epsf import fallback_psf

        supplied = (opts or {}).get("psf")
        psf = supplied if supplied is not None else fallback_psf(state.get("image_meta"))
        if psf is None:
            psf, state["wings_source"] = _gaussian_psf(fwhm), "gaussian"
        else:
            state["wings_source"] = "supplied" if supplied is not None else psf.meta.get("psf_source", "library")
        state["wings_prf"] = _PRF(psf)
    return state["wings_prf"]


def _gaussian_psf(fwhm, oversampling=4):
    """A circular Gaussian of FWHM ``fwhm`` (pixels) as an oversampled array model (``data``,
    ``oversampling``) that :class:`~helpers.sources.psf._PRF` takes."""
    from types import SimpleNamespace

    half = int(math.ceil(4 * fwhm)) * oversampling
    k = np.arange(-half, half + 1) / oversampling
    sig = fwhm / 2.3548
    return SimpleNamespace(data=np.exp(-0.5 * (k[None, :] ** 2 + k[:, None] ** 2) / sig**2), oversampling=oversampling)


def _add_crowding_errors(prep, cat, state, opts=None):
    """Fold a crowded sky's confusion into the windowed errors (``x_win_err``, ``y_win_err``,
    ``cov_xy_win`` of ``cat``, in place) on a crowded tile; return the per-source confusion variance
    (image units², the mean of the two axes'; zeros elsewhere).

    On a crowded sky (more than half the pixels in sources: the tile's ``confusion_scale`` > 1) a
    windowed centroid sees more than the pixel noise (injected stars in the 47 Tuc flt read pulls of
    5.8 with the pixel noise alone). Three terms, each measured here, are added in quadrature:

    1. the light no detected source explains (unresolved stars, the models' residuals): the ring
       variance of :func:`_local_confusion_centroid_variance` on the image minus every detected
       source's PSF model (:func:`_detected_models`), times the squared error of the same windowed
       centroid on unit white noise;
    2. the detected neighbours' drag, :func:`_neighbour_shift` (their models' first moment in the
       window): the blends of the injected-star tail;
    3. the window's pixel-phase bias on the PSF, :func:`_window_phase_variance`: a crowded sky shrinks
       some stars' windows below a star's, where the bias is 0.02-0.06 px (most of the tail).

    On the 47 Tuc flt injection (windowed path, unflagged stars, seeds 47, 1-4) the pull std went
    from 0.95-1.83 to 0.88-1.03 (robust 0.92-0.96); without term 3 it is 1.02-1.43, without term 2
    1.20-1.87, and with term 1 read on the image itself (the detected neighbours counted there and in
    term 2) 0.77-0.88. An uncrowded tile is left unchanged. The confusion's autocorrelation
    (:func:`_confusion_autocorrelation`) is measured for the catalog meta
    (``crowding_correlation_factor``: how much a windowed centroid's variance grows from its
    correlation); term 1 measures the correlation through the window's kernel.
    """
    n = len(cat["x_win"])
    if not _crowded_sky(prep) or n == 0:
        return np.zeros(n)
    fwhm = state.get("fwhm") or state["size_ref"] / 1.35
    if state.get("crowding_autocorrelation") is None:
        state["crowding_autocorrelation"] = _confusion_autocorrelation(prep)
    wings = _wings_model(state, opts, fwhm)
    models = _detected_models(prep, cat["x_win"], cat["y_win"], wings, fwhm)
    conf = _local_confusion_centroid_variance(prep, cat["x_win"], cat["y_win"], cat["sig_win"], fwhm, wings=wings,
                                              models=models)
    vx, vy = conf[:, 0], conf[:, 1]
    ex1, ey1, cxy1 = _windowed_errors(prep["sub"], _Noise(scalar_rms=1.0), prep["bad"], cat["x_win"], cat["y_win"],
                                      cat["sig_win"])
    ratio = _correlated_centroid_factor(state["crowding_autocorrelation"], np.asarray(cat["sig_win"], float))
    ok = np.isfinite(ex1) & np.isfinite(ey1)
    cat["x_win_err"] = np.where(ok, np.sqrt(cat["x_win_err"] ** 2 + vx * ex1**2), cat["x_win_err"])
    cat["y_win_err"] = np.where(ok, np.sqrt(cat["y_win_err"] ** 2 + vy * ey1**2), cat["y_win_err"])
    cat["cov_xy_win"] = np.where(ok & np.isfinite(cxy1), cat["cov_xy_win"] + np.sqrt(vx * vy) * cxy1, cat["cov_xy_win"])
    phase = _window_phase_variance(wings, cat["sig_win"], state.setdefault("window_phase_cache", {}))
    cat["x_win_err"] = np.sqrt(cat["x_win_err"] ** 2 + phase[:, 0])
    cat["y_win_err"] = np.sqrt(cat["y_win_err"] ** 2 + phase[:, 1])
    shift = _neighbour_shift(prep, cat["x_win"], cat["y_win"], cat["sig_win"], models, wings)
    cat["x_win_err"] = np.sqrt(cat["x_win_err"] ** 2 + shift[:, 0] ** 2)
    cat["y_win_err"] = np.sqrt(cat["y_win_err"] ** 2 + shift[:, 1] ** 2)
    var = 0.5 * (vx + vy)
    state["crowding_sigma_median"] = float(np.median(np.sqrt(var)))
    state["crowding_correlation_factor"] = float(np.sqrt(np.median(ratio)))
    # what the other two terms amount to (pixels, median over the tile's sources; catalog meta)
    state["crowding_drag_median_pix"] = float(np.median(np.hypot(shift[:, 0], shift[:, 1])))
    state["crowding_phase_median_pix"] = float(np.median(np.sqrt(phase.sum(axis=1))))
    return var


def _confusion_autocorrelation(prep, window=512, max_lag=8):
    """Normalised autocorrelation ρ(Δy, Δx) of the confusion noise alone, lags up to ``max_lag`` px,
    from the tile's central window (a (2L+1)² array, 1 at zero lag).

    The confusion (unresolved stars, neighbours' wings) is smooth on the PSF scale, so it moves a
    centroid as correlated noise does. The autocorrelation of the whole "sky" (detection image,
    pixels within 3 robust σ: pixel noise, white on a detector-frame exposure, plus confusion) is
    split with the measured confusion scale ``s`` (sky σ / pixel σ): ρ_conf = (ρ s² − δ) / (s² − 1).
    """
    from scipy.signal import fftconvolve

    s = float(prep["sky_noise"].get("confusion_scale", 1.0))
    size = 2 * max_lag + 1
    delta = np.zeros((size, size))
    delta[max_lag, max_lag] = 1.0
    if s <= 1.0:
        return delta
    det = prep["det"]
    ny, nx = det.shape
    y0, x0 = max(0, (ny - window) // 2), max(0, (nx - window) // 2)
    img = np.asarray(det[y0:y0 + window, x0:x0 + window], float)
    good = np.isfinite(img) & ~prep["bad"][y0:y0 + window, x0:x0 + window]
    med = np.median(img[good])
    sig = 1.4826 * np.median(np.abs(img[good] - med))
    good &= np.abs(img - med) < 3 * sig
    v = np.where(good, img - np.mean(img[good]), 0.0)
    m = good.astype(float)
    num = fftconvolve(v, v[::-1, ::-1], mode="full")
    den = fftconvolve(m, m[::-1, ::-1], mode="full")
    cy, cx = v.shape[0] - 1, v.shape[1] - 1
    sl = (slice(cy - max_lag, cy + max_lag + 1), slice(cx - max_lag, cx + max_lag + 1))
    acov = num[sl] / np.maximum(den[sl], 1.0)
    rho = acov / acov[max_lag, max_lag]
    return (rho * s * s - delta) / (s * s - 1.0)


def _correlated_centroid_factor(rho, sig_win):
    """Variance ratio (x, y) of a windowed centroid on noise of autocorrelation ``rho`` vs white
    noise of the same per-pixel σ: Σ_ij g_i g_j ρ(i−j) / Σ_i g_i² with g = w·d, the window's
    first-moment weights (d = offset along the axis, w = exp(−r²/2σ_w²) within 4 σ_w)."""
    from scipy.signal import fftconvolve

    out = np.ones((len(sig_win), 2))
    lag = rho.shape[0] // 2
    for sw in np.unique(np.round(sig_win, 2)):
        r = int(np.clip(np.ceil(4 * sw), 2, 40))
        k = np.arange(-r, r + 1, dtype=float)
        dx, dy = np.meshgrid(k, k)
        w = np.where(dx**2 + dy**2 <= 16 * sw * sw, np.exp(-(dx**2 + dy**2) / (2 * sw * sw)), 0.0)
        sel = np.round(sig_win, 2) == sw
        for axis, d in enumerate((dx, dy)):
            g = w * d
            kernel = rho if r >= lag else rho[lag - r:lag + r + 1, lag - r:lag + r + 1]
            conv = fftconvolve(g, kernel[::-1, ::-1], mode="same")
            out[sel, axis] = max(float(np.sum(g * conv) / np.sum(g * g)), 0.0)
    return out


#: Pixel phases per axis at which the window-phase bias is sampled (n² noise-free stars per window σ).
PHASE_SAMPLES = 8


def _window_phase_variance(prf, sig_win, cache=None):
    """Variance (pix², per axis, shape (N, 2)) of a windowed centroid's pixel-phase bias for window
    σ ``sig_win`` (pixels) on the PSF model ``prf`` (a :class:`~helpers.sources.psf._PRF`).

    A Gaussian window on an undersampled PSF measures a reference point that moves with the star's
    sub-pixel phase; the more so the smaller the window against the PSF. Noise-free stars of the model
    at :data:`PHASE_SAMPLES`² phases are centroided (``sep.winpos`` from the true position, as the
    extraction does) and the variance of the offsets about their mean (a frame offset, common to every
    star and removed by any comparison) is the term. On the 47 Tuc ACS/HRC flt with the drizzlepac HRC
    F606W PSF (FWHM 2.15 px) it is 0.006 px rms at σ_w = 1.0 px (a star's window) but 0.03 px at 0.7 and
    0.06 px at 0.6: a crowded sky shrinks some stars' r50, hence their windows (10 % of the injected
    stars below 0.79 px), and their centroids were the tail of the windowed pulls (pulls of 4-10 at
    SNR 50-180 with no neighbour within 8 px). Sampled on :data:`PHASE_WINDOWS` (geometric) and
    interpolated in log σ_w, log variance; ``cache`` (a dict) keeps the table for the next tiles.
    """
    sig_win = np.asarray(sig_win, float)
    cache = {} if cache is None else cache
    if "table" not in cache:
        cache["table"] = np.array([_phase_bias_variance(prf, sw) for sw in PHASE_WINDOWS])
    logv = np.log(cache["table"] + 1e-12)
    ls = np.log(np.clip(np.nan_to_num(sig_win, nan=PHASE_WINDOWS[-1]), PHASE_WINDOWS[0], PHASE_WINDOWS[-1]))
    lw = np.log(PHASE_WINDOWS)
    out = np.stack([np.exp(np.interp(ls, lw, logv[:, a])) - 1e-12 for a in (0, 1)], axis=1)
    return np.clip(out, 0.0, None)


#: Window σ (pixels) at which :func:`_window_phase_variance` samples the bias: 5 % apart from the
#: smallest window the detection gives (2/2.35 · 0.5 px) to the largest (MAX_WINDOW_SIGMA, 4 px).
PHASE_WINDOWS = np.geomspace(0.4, 4.0, 48)


def _phase_bias_variance(prf, sw):
    """(var_x, var_y), pix²: the phase bias of a window σ ``sw`` on ``prf`` over the phase grid."""
    import sep

    half = int(np.clip(np.ceil(4 * sw) + 3, 5, 45))
    step = 2 * half + 1
    ph = (np.arange(PHASE_SAMPLES) + 0.5) / PHASE_SAMPLES - 0.5
    gx, gy = np.meshgrid(ph, ph)
    cx = half + step * np.arange(PHASE_SAMPLES)
    tx, ty = (cx[None, :] + gx).ravel(), (cx[:, None] + gy).ravel()
    canvas = np.zeros((step * PHASE_SAMPLES, step * PHASE_SAMPLES))
    for s, x0, y0 in zip(_prf_on_stamps(prf, tx, ty, half), np.rint(tx).astype(int) - half,
                         np.rint(ty).astype(int) - half):
        canvas[y0:y0 + step, x0:x0 + step] += s
    wx, wy, _ = sep.winpos(canvas, tx, ty, np.full(tx.size, sw), subpix=1)
    bx, by = wx - tx, wy - ty
    ok = np.isfinite(bx) & np.isfinite(by)
    return (float(np.var(bx[ok])), float(np.var(by[ok]))) if ok.sum() > 3 else (0.0, 0.0)


#: Radius (pixels) out to which each detected source's PSF model is rendered for the others: the
#: HRC/WFC3 library PSFs hold ~2 % of their light beyond 14 px; at most the model's own half-size.
MODEL_RADIUS_PIX = 14


def _detected_models(prep, x, y, prf, fwhm):
    """Every detected source as its PSF model: the flux of each (image units, ≥ 0; the one-step
    linearised PSF fit of :func:`_own_light_model` over its core, :data:`OWN_LIGHT_CORE_FWHM`) and
    the image of all of them (flux · P within :data:`MODEL_RADIUS_PIX`); returns
    ``(image, flux, radius)``. A galaxy or a saturated star is modelled by its core's PSF amplitude
    only: what its extended light does to a neighbour stays in the residual."""
    from .fitting import _render_models

    x, y = np.asarray(x, float), np.asarray(y, float)
    radius = int(np.clip(min(MODEL_RADIUS_PIX, prf.half_pix - 2), 3, None))
    rc = int(np.ceil(OWN_LIGHT_CORE_FWHM * fwhm)) + 1
    k = np.arange(-rc, rc + 1, dtype=float)
    flux = np.zeros(x.size)
    image = np.zeros(prep["sub"].shape)
    # a few thousand sources at a time: the stamp stacks of a 50,000-source tile would hold ~1 GB
    for c in np.array_split(np.arange(x.size), max(1, x.size // 4000)):
        px, py, inside = _stamp_index(x[c], y[c], rc, prep["sub"].shape)
        good = inside & ~prep["bad"][py, px]
        data = prep["sub"][py, px].astype(float)
        r = np.hypot(k[None, None, :] + (np.rint(x[c]) - x[c])[:, None, None],
                     k[None, :, None] + (np.rint(y[c]) - y[c])[:, None, None])
        planes = _prf_on_stamps(prf, x[c], y[c], rc, grad=True)
        core = good & (r < OWN_LIGHT_CORE_FWHM * fwhm)
        flux[c] = _own_light_coefficients(data, planes, core)[0][:, 0]
        image += _render_models(prep["sub"].shape, x[c], y[c], flux[c], prf, radius)
    return image, flux, radius


def _neighbour_shift(prep, x, y, sig_win, models, prf):
    """Shift (pixels, per axis, (N, 2)) of each windowed centroid by its detected neighbours' light:
    the first moment of the neighbours' models (``models`` of :func:`_detected_models` minus the
    source's own) in the source's window, over the window's Jacobian on the source's own model,
    δ = Σ w·d·N / Σ w·F·P·(1 − d²/σ_w²) (the linear response of SExtractor's windowed iteration).

    A neighbour whose wings cross the window (or a window widened by them: a crowded star's r50 holds
    its neighbours' light) drags the centroid toward it by δ; no per-pixel noise term sees that. It
    enters the error in quadrature rather than being subtracted: the library PSF's far wings are a few
    % off real stars, so δ is a size, not a correction."""
    x, y, sig_win = np.asarray(x, float), np.asarray(y, float), np.asarray(sig_win, float)
    out = np.zeros((x.size, 2))
    image, flux, r_model = models
    for sw in np.unique(np.round(sig_win, 2)):
        sel = np.nonzero(np.round(sig_win, 2) == sw)[0]
        sw = max(float(sw), 0.05)
        rk = int(np.clip(np.ceil(4 * sw), 2, 40))
        px, py, inside = _stamp_index(x[sel], y[sel], rk, prep["sub"].shape)
        use = inside & ~prep["bad"][py, px]
        k = np.arange(-rk, rk + 1, dtype=float)
        box = (np.abs(k)[None, :, None] <= r_model) & (np.abs(k)[None, None, :] <= r_model)
        own = np.where(box & use, _prf_on_stamps(prf, x[sel], y[sel], rk) * flux[sel, None, None], 0.0)
        nb = np.where(use, image[py, px], 0.0) - own
        dx, dy = px - x[sel, None, None], py - y[sel, None, None]
        w = np.where(use & (dx**2 + dy**2 <= 16 * sw * sw), np.exp(-(dx**2 + dy**2) / (2 * sw * sw)), 0.0)
        tot = np.sum(w * own, axis=(1, 2))
        for axis, d in enumerate((dx, dy)):
            jac = np.maximum(tot - np.sum(w * own * d**2, axis=(1, 2)) / sw**2, 0.25 * tot)  # as _windowed_errors
            with np.errstate(invalid="ignore", divide="ignore"):
                out[sel, axis] = np.where(jac > 0, np.sum(w * d * nb, axis=(1, 2)) / jac, 0.0)
    return out
