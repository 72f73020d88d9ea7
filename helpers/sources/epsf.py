"""Empirical PSF (ePSF) built from the image's own stars, and its position error."""

import math
import warnings

import numpy as np

from ..errors import WorkbookError
from ..validate import require_array, require_number, require_same_length
from .background import _Noise
from .catalog import SourceExtractionWarning
from .centroids import _com_positions
from .fitting import _fit_psf
from .psf import _PRF, psf_fwhm
from .stamps import _stamp_any, _stamp_index


#: Systematic position error of the image-built ePSF, in units of the FWHM, added in quadrature
#: (with the per-image statistical term ``meta['epsf_error_pix']``) to ePSF-fit errors. The ePSF's
#: shape and the stars' sub-pixel positions are degenerate in one image; the construction (anchors
#: on tapered centres of mass, an oversampled grid filled from finitely many phases) leaves a small
#: phase-dependent error that both cross-validation halves share, so no resampling of the image's own
#: noise can reveal it. Measured on undersampled simulations (ACS/WFC F606W and F814W at 0.06"/px,
#: FWHM 1.6-1.7 px, stars at SNR 300-5000): the bright-star scatter exceeds the fit error plus the
#: statistical term by ~0.0010-0.0017 px, i.e. ~0.0007 FWHM, giving pulls 1.15-1.45 without it (with
#: the true positions as anchors the excess is 10-40% smaller: the anchoring is part of it).
EPSF_FLOOR_FWHM = 0.0007
#: No star weighs more in the ePSF than a star of this SNR (each star samples one sub-pixel phase, and
#: a few very bright stars must not decide the whole model). At 100 the model threw away most of its
#: bright stars' information: on the drizzled test bed (pixfrac 1, 40-60 stars, benchmarks/bench_drizzled.py)
#: the ePSF's truth error was 0.013-0.016 px on NIRCam F200W, PSF-fit scatter 1.20 / 2.74x the exposures'
#: bound at SNR 30-100 / 100-300 (NIRCam LW 1.24 / 2.76x); at 300 1.06 / 1.99x (LW 1.13 / 2.02x, ACS/WFC
#: F814W 1.15 / 1.41x -> 1.12 / 1.37x), pulls unchanged within their errors; 1000 gave the same.
EPSF_WEIGHT_CAP_SNR = 300.0


def build_epsf(data, x, y, variance=None, bad=None, fwhm=2.5, oversampling=4, radius=None, n_iter=16,
               smoothing=0.0, _noise=None, initial=None):
    """Empirical PSF (ePSF) from stars of an image, Anderson & King (2000, PASP 112, 1360) style.

    Every pixel of every star is a sample of the pixel-integrated PSF at a known sub-pixel offset
    ((pixel − star centre), value (I − b)/F). The samples are accumulated on a grid oversampled
    ``oversampling`` times (bilinear weights, inverse-variance weighted by the star's SNR), then
    the stars are refitted with the new model (vectorised Gauss–Newton, see `extract_sources`) and
    the *residuals* of the samples against the model are accumulated again as a correction,
    ``n_iter`` times. Iterating on residuals removes the blur the binning would otherwise leave,
    and the model is re-centred on its centroid (a point-symmetric PSF's centre) each time.

    photutils' `~photutils.psf.EPSFBuilder` was measured on the HST-like simulations first: ~10 s
    for 60 stars and 5× the Cramér–Rao bound at SNR 300 (pixel-phase errors of its smoothed
    model); this builder takes ~0.2 s and reaches ~1.0–1.1× (``benchmarks/bench_sources.py``).

    Parameters
    ----------
    data : 2-D array
        Background-subtracted image.
    x, y : arrays
        0-based positions (e.g. windowed centroids) of bright, isolated, unsaturated, point-like
        stars; 20–200 stars spread over sub-pixel phases.
    variance : 2-D array, optional
        Per-pixel variance (ERR²); default uniform.
    bad : 2-D bool array, optional
        Pixels to ignore.
    fwhm : float
        Approximate FWHM (pixels); sets the model radius (default max(6, 4·FWHM) pixels).
    oversampling : int
    radius : int, optional
        Model half-size in pixels.
    n_iter : int
    smoothing : float
        Gaussian σ (grid nodes) of the normalised-convolution smoothing of each correction.
    initial : `photutils.psf.ImagePSF`, optional
        Start from this model (same ``oversampling`` and radius, e.g. an ePSF of the same stars) instead
        of the first stack: the iterations then only correct it.

    Returns
    -------
    epsf : `photutils.psf.ImagePSF`
        Samples sum to ``oversampling**2`` (1 on the pixel grid); ``epsf.fwhm_pix`` and
        ``epsf.meta`` (``n_stars``, ``model``) are set.

    Raises
    ------
    WorkbookError
        With fewer than 5 stars.
    """
    from photutils.psf import ImagePSF
    from scipy import ndimage

    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.dtype.kind not in "iuf":
        raise WorkbookError(f"data = {data!r:.40} is not a 2-D numeric image; give the background-subtracted array")
    x = require_array(x, "x", what="pixel positions", allow_nan=False)
    y = require_array(y, "y", what="pixel positions", allow_nan=False)
    require_same_length(x=x, y=y)
    fwhm = require_number(fwhm, "fwhm", minimum=0.3, maximum=100.0, example=2.5)
    oversampling = require_number(oversampling, "oversampling", minimum=1, maximum=16, integer=True, example=4)
    radius = require_number(radius, "radius", minimum=1, maximum=500, integer=True, allow_none=True, example=10)
    n_iter = require_number(n_iter, "n_iter", minimum=0, maximum=1000, integer=True, example=16)
    smoothing = require_number(smoothing, "smoothing", minimum=0.0, example=0.0)
    if x.size < 5:
        raise WorkbookError(f"only {x.size} bright isolated stars for an empirical PSF (need >= 5); "
                            "supply a PSF model (psf=...) or set use_psf_fit=False")
    data = np.asarray(data)
    os_ = int(oversampling)
    R = int(radius or max(6, math.ceil(4 * fwhm)))
    c = R * os_
    n_nodes = 2 * c + 1
    if bad is None:
        bad = np.zeros(data.shape, bool)
    if _noise is None:
        _noise = _Noise(error=np.sqrt(variance) if variance is not None else None, scalar_rms=1.0)
    px, py, inside = _stamp_index(x, y, R, data.shape)
    img = data[py, px].astype(float)
    var = _noise.var(py, px, img)
    use = inside & ~bad[py, px] & np.isfinite(img) & np.isfinite(var) & (var > 0)
    xs, ys = x.copy(), y.copy()
    rr = np.hypot(px - x[:, None, None], py - y[:, None, None])
    flux = np.sum(np.where(use & (rr <= R), img, 0.0), axis=(1, 2))
    bkg = np.zeros_like(flux)
    keep = flux > 0
    grid = np.zeros((n_nodes, n_nodes))
    prf = None
    if initial is not None and np.shape(initial.data) == grid.shape:
        grid = np.asarray(initial.data, float).copy()
        prf = _PRF(initial)
    fit_radius = int(max(3, min(R - 2, math.ceil(2.5 * fwhm))))
    for _ in range(n_iter):
        if prf is not None:
            # Positions stay at the input centroids: in a single image the PSF shape and the stars'
            # sub-pixel positions are degenerate (a phase-dependent warp of the model can be absorbed
            # by phase-dependent position shifts), so refitting positions would let the model drift.
            # Windowed centroids are unbiased for point-symmetric PSFs; fluxes and local
            # backgrounds are refitted (linear least squares).
            p_model = prf.sample(px - xs[:, None, None], py - ys[:, None, None])
            wt = np.where(use & (rr <= fit_radius + 0.5), 1.0 / np.where(use, var, 1.0), 0.0)
            s_pp = np.sum(wt * p_model**2, axis=(1, 2))
            s_p1 = np.sum(wt * p_model, axis=(1, 2))
            s_11 = np.sum(wt, axis=(1, 2))
            s_pi = np.sum(wt * p_model * img, axis=(1, 2))
            s_1i = np.sum(wt * img, axis=(1, 2))
            det = s_pp * s_11 - s_p1**2
            det = np.where(det > 0, det, np.nan)
            flux = (s_11 * s_pi - s_p1 * s_1i) / det
            bkg = (s_pp * s_1i - s_p1 * s_pi) / det
            chi2 = np.sum(wt * (img - flux[:, None, None] * p_model - bkg[:, None, None]) ** 2, axis=(1, 2))
            chi2nu = chi2 / np.maximum(np.sum(wt > 0, axis=(1, 2)) - 2, 1)
            keep = np.isfinite(flux) & (flux > 0) & (chi2nu < 5 * np.nanmedian(chi2nu))
            flux = np.where(keep, flux, 1.0)
            bkg = np.where(keep, bkg, 0.0)
        dx = px - xs[:, None, None]
        dy = py - ys[:, None, None]
        val = (img - bkg[:, None, None]) / np.where(flux > 0, flux, 1.0)[:, None, None]
        resid = val - (p_model if prf is not None else 0.0)  # the model sampled above, same stamps
        w = np.where(use & keep[:, None, None], flux[:, None, None] ** 2 / np.where(use, var, 1.0), 0.0)
        # Inverse-variance weights, but no star counts more than one at SNR EPSF_WEIGHT_CAP_SNR.
        snr2 = np.sum(w * np.where(use, val, 0.0) ** 2, axis=(1, 2))
        w = w * np.minimum(1.0, EPSF_WEIGHT_CAP_SNR**2 / np.maximum(snr2, 1e-30))[:, None, None]
        gx = c + dx * os_
        gy = c + dy * os_
        ok = (gx >= 0) & (gx < n_nodes - 1) & (gy >= 0) & (gy < n_nodes - 1) & (w > 0)
        gx, gy, w, resid = gx[ok], gy[ok], w[ok], resid[ok]
        ix, iy = np.floor(gx).astype(int), np.floor(gy).astype(int)
        fx, fy = gx - ix, gy - iy
        num = np.zeros(n_nodes * n_nodes)
        den = np.zeros(n_nodes * n_nodes)
        for ddx, ddy, wt in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
            node = (iy + ddy) * n_nodes + ix + ddx
            num += np.bincount(node, weights=w * wt * resid, minlength=n_nodes * n_nodes)
            den += np.bincount(node, weights=w * wt, minlength=n_nodes * n_nodes)
        num = num.reshape(n_nodes, n_nodes)
        den = den.reshape(n_nodes, n_nodes)
        if smoothing > 0:
            num = ndimage.gaussian_filter(num, smoothing)
            den = ndimage.gaussian_filter(den, smoothing)
        corr = np.where(den > 1e-12 * den.max(), num / np.where(den > 0, den, 1.0), 0.0)
        grid = grid + corr
        # Re-centre on the centroid within ~3 FWHM and normalise (1 on the pixel grid).
        nodes = (np.arange(n_nodes) - c) / os_
        gxx, gyy = np.meshgrid(nodes, nodes)
        core = np.hypot(gxx, gyy) <= max(3 * fwhm, 4)
        tot = np.sum(grid[core])
        if tot > 0:
            cx_off = np.sum(grid[core] * gxx[core]) / tot
            cy_off = np.sum(grid[core] * gyy[core]) / tot
            grid = ndimage.shift(grid, (-cy_off * os_, -cx_off * os_), order=3, mode="constant")
        total = grid.sum() / os_**2
        if total > 0:
            grid = grid / total
        model = ImagePSF(grid, oversampling=os_)
        prf = _PRF(model)
    model = ImagePSF(grid * 1.0, oversampling=os_)
    model.meta = {"n_stars": int(np.sum(keep)), "radius_pix": R,
                  "model": f"ePSF from {int(np.sum(keep))} stars of the image (iterative, oversampling {os_})"}
    model.fwhm_pix = psf_fwhm(type("P", (), {"data": grid, "oversampling": os_})())
    return model


#: Fewest bright isolated stars for an image-built ePSF. With fewer the model is noisy and its own
#: error cannot be measured (each cross-validation half needs half as many): on the HDF-S mosaic an ePSF of 16
#: injected stars gave PSF-fit pulls of 6.4 (scatter 0.13 px, errors 0.03 px). Below this a library
#: PSF or the instrument's model is used (`helpers.sources.library`).
EPSF_MIN_STARS = 30
#: Corrections of each half-sample ePSF (cross-validation of the model's error), built from scratch: a
#: start from the full model would carry the other half's stars into it.
HALF_ITERATIONS = 16


#: The ePSF grid is oversampled 4x only when the image is undersampled (FWHM below this, pixels) or
#: has enough stars (`EPSF_FINE_GRID_STARS`) to fill 16 sub-pixel phases; otherwise 2x.
EPSF_COARSE_GRID_FWHM = 2.0
#: Stars from which a 4x grid is used whatever the FWHM (~8 stars per sub-pixel phase).
EPSF_FINE_GRID_STARS = 128


def _epsf_oversampling(fwhm, n_stars, drizzled=False):
    """Oversampling of the ePSF grid for ``n_stars`` stars on an image of FWHM ``fwhm`` pixels.

    Each grid node is estimated from the stars whose sub-pixel phase falls next to it, so a 4x grid
    has 4x the nodes of a 2x grid to fill from the same stars: with 40-55 stars (the drizzled test
    bed, ACS/WFC F814W at 0.05"/px FWHM 2.2 px and NIRCam F200W at 0.031"/px FWHM 2.5 px) the 4x
    model's own position error (bootstrap, ``meta['epsf_error_pix']``) was 0.011 and 0.023 px, 2-5x
    the bound of an SNR-200 star, and PSF-fit scatter 1.7x / 1.8x the exposures' bound at SNR 100-300 /
    30-100; on a 2x grid 0.003 / 0.008 px and 1.56x / 1.24x. A PSF of FWHM >= 2 px is sampled well
    enough at 2x for the cubic spline; more undersampled images (ACS/WFC 0.06"/px, FWHM 1.6-1.7 px)
    keep 4x, as do images with many stars (the 47 Tuc flt, 200). A drizzled product (its headers carry
    drizzle parameters, `helpers.sources.redrizzle`) always gets 2x: its PSF is the optics convolved with
    the drop and the output pixel, smooth enough for 2x at FWHM 1.85 px, and 16 phases filled from ~150
    stars with noisy anchors made a poor model (ACS/WFC F814W drc at 0.06"/px from 0.05" exposures,
    pixfrac 0.8, 155 stars: PSF-fit scatter 4.9x the bound at SNR 100-300 on a 4x grid, 1.66x on 2x;
    NIRCam LW F444W i2d, 174 stars: 2.3x on 4x, the windowed centroid's 1.02x kept on 2x).
    """
    if drizzled:
        return 2
    return 4 if (fwhm is None or fwhm < EPSF_COARSE_GRID_FWHM or n_stars >= EPSF_FINE_GRID_STARS) else 2


def _epsf_candidates(prep, cat, snr_ap, nn, sat, size_ratio, fwhm, opts):
    """Indices (brightest first) of bright, isolated, unsaturated point-like stars, and the model radius."""
    R = int(max(6, math.ceil(4 * fwhm)))
    half = R + 2
    ny, nx = prep["sub"].shape
    x, y = cat["x_win"], cat["y_win"]
    ok = ((snr_ap > opts["epsf_min_snr"]) & ~sat & (cat["sep_flag"] == 0) & ~cat["win_failed"]
          & (nn > 2 * R) & (np.abs(size_ratio - 1) < 0.15)
          & (x > half) & (x < nx - 1 - half) & (y > half) & (y < ny - 1 - half))
    ok &= ~_stamp_any(prep["bad"], x, y, R)
    idx = np.nonzero(ok)[0]
    return idx[np.argsort(-snr_ap[idx])][: opts["epsf_max_stars"]], R


def fallback_psf(meta):
    """The library PSF (or instrument model) for an image described by ``meta``, or None.

    ``meta`` is the catalog meta `extract_sources_fits` reads from the headers (``instrument``,
    ``filter``, ``pixel_scale``, ``image_frame``, ``pixfrac``) or the ``meta`` given to `extract_sources`.
    """
    from .library import library_psf

    meta = meta or {}
    if not meta.get("instrument") or not meta.get("filter"):
        return None
    frame = meta.get("image_frame")
    drizzled = None if frame is None else frame != "detector"
    try:
        return library_psf(meta["instrument"], meta["filter"], meta.get("pixel_scale"), drizzled=drizzled,
                           pixfrac=float(meta.get("pixfrac") or 1.0))
    except WorkbookError:
        return None


def _image_fwhm(prep, cat, snr_ap, nn, sat, size_ratio, fwhm_guess, opts, state):
    """The image FWHM (pixels), measured the same way by the fast and the full path.

    The half-maximum width of a one-pass stack of the bright isolated stars (their pixels on a grid
    oversampled 2x about their tapered centres of mass: `build_epsf` with one iteration), or, with
    fewer than 5 such stars, the library PSF's / instrument model's; None when neither exists.
    Oversampling 2, not the ePSF's 4: with 5-10 stars a 4x grid has empty sub-pixel phases and its
    peak stands alone (FWHM read 1.34 px on the 47 Tuc flt whose stars measure 2.1 px); at 2x the
    stack's FWHM is within 2 % of the truth on simulations (ACS/WFC 0.05"/px and 0.03"/px, 5-70 stars).
    """
    idx, R = _epsf_candidates(prep, cat, snr_ap, nn, sat, size_ratio, fwhm_guess, opts)
    lib = fallback_psf(state.get("image_meta"))
    if idx.size >= 5:
        com_radius = max(4.0, 2.5 * fwhm_guess)
        xc, yc = _com_positions(prep["sub"], cat["x_win"][idx], cat["y_win"][idx], com_radius)
        stack = build_epsf(prep["sub"], xc, yc, bad=prep["bad"], fwhm=fwhm_guess, radius=R, n_iter=1,
                           oversampling=2, _noise=prep["noise"])
        measured = float(stack.fwhm_pix)
        # a stack that never falls to half its peak within the model (blends, wings of a bright
        # neighbour) or that is sharper than the optics allow is not a star's profile
        low, high = (0.7 * lib.fwhm_pix, 3.0 * lib.fwhm_pix) if lib is not None else (0.5, R / 1.5)
        if np.isfinite(measured) and low <= measured <= high:
            state["fwhm_source"] = f"stack of {idx.size} bright isolated stars"
            return measured
    if lib is not None:
        state["fwhm_source"] = f"{lib.meta['psf_source']} PSF (fewer than 5 bright isolated stars)"
        return float(lib.fwhm_pix)
    return None


def _make_prf(prep, cat, snr_ap, nn, sat, size_ratio, fwhm, opts, state):
    """The PSF model for the fits: the supplied one, an ePSF from this tile's stars, or (with fewer
    than `EPSF_MIN_STARS`) the library PSF / instrument model, said in one line."""
    if opts["psf"] is not None:
        state["psf_source"] = "supplied"
        return _PRF(opts["psf"])
    idx, R = _epsf_candidates(prep, cat, snr_ap, nn, sat, size_ratio, fwhm, opts)
    x, y = cat["x_win"], cat["y_win"]
    if idx.size < EPSF_MIN_STARS:
        lib = fallback_psf(state.get("image_meta"))
        meta = state.get("image_meta") or {}
        if lib is not None:
            warnings.warn(f"only {idx.size} bright isolated stars for an empirical PSF (need {EPSF_MIN_STARS}); "
                          f"PSF fits use the {lib.meta['model']}", SourceExtractionWarning, stacklevel=4)
            state["psf_used"], state["psf_source"] = lib, lib.meta["psf_source"]
            return _PRF(lib)
        warnings.warn(f"only {idx.size} bright isolated stars for an empirical PSF (need {EPSF_MIN_STARS}) and no "
                      f"library PSF for instrument {meta.get('instrument') or '?'} filter {meta.get('filter') or '?'}; "
                      "positions stay windowed centroids (pass psf=... or meta=dict(instrument=..., filter=...))",
                      SourceExtractionWarning, stacklevel=4)
        state["psf_used"], state["psf_source"] = None, "none"
        return None
    # Anchor the ePSF on centres of mass, not windowed centroids: in a single image the PSF shape and
    # the stars' sub-pixel positions are degenerate, so the model inherits whatever phase-dependent
    # bias its input positions have. The first moment of a PSF band-limited below 1 cycle/pixel
    # (HST and JWST at drizzled scales) has none; its larger noise only blurs the model slightly.
    com_radius = max(4.0, 2.5 * fwhm)
    half = R + 2
    xc, yc = _com_positions(prep["sub"], x[idx], y[idx], com_radius)
    os_ = _epsf_oversampling(fwhm, idx.size, drizzled=bool((state.get("image_meta") or {}).get("drizzle")))
    epsf = build_epsf(prep["sub"], xc, yc, bad=prep["bad"], fwhm=fwhm, radius=R, _noise=prep["noise"],
                      oversampling=os_)
    state["psf_used"], state["psf_source"] = epsf, "epsf"
    # Cross-validation models: the same construction on two disjoint halves of the stars (alternate
    # ranks in brightness, so each half holds half the weight). Their fits of the same bright stars
    # differ by the two half-models' independent errors, whatever made them (the image's correlated
    # noise, the anchors' noise, the sub-pixel phases the stars happen to cover), and each half-model's
    # error is √2 x the full model's (see _epsf_model_error).
    halves = []
    for part in (idx[0::2], idx[1::2]):
        if part.size < 5:
            halves = None
            break
        half_model = build_epsf(prep["sub"], xc[np.isin(idx, part)], yc[np.isin(idx, part)], bad=prep["bad"], fwhm=fwhm,
                                radius=R, _noise=prep["noise"], oversampling=os_, n_iter=HALF_ITERATIONS)
        halves.append(_PRF(half_model))
    state["prf_replicates"] = halves
    return _PRF(epsf)


def _epsf_model_error(prep, x, y, flux, radius, replicates):
    """The ePSF's own position error (pixels, per axis), cross-validated between halves of its stars.

    ``replicates`` are two ePSFs built (``_make_prf``) by the same construction from disjoint halves
    of the stars. Both fit the same bright stars; the image's noise is the same in both fits and
    cancels, so x_A − x_B is the difference of the two half-models' errors at each star's sub-pixel
    phase. Those are independent, and a model built from half the weight has twice the variance
    of the full one: σ_full = rms(x_A − x_B) / 2. The differences are not re-centred: the offset
    between the two models' centres is part of each model's error.

    This replaces a parametric bootstrap (independent white noise added to the stars' stamps): the
    bootstrap saw only the noise it added, not the drizzled image's correlated noise nor how the
    stars' phases cover the grid, and on the drizzled test bed it read half the ePSF's actual error
    (NIRCam F200W i2d, pixfrac 1: 0.0078 px against 0.013-0.016 px from the truth, PSF-fit pulls 1.51
    at SNR 100-300); these halves read 0.0135 px. Split halves had been dropped once for a 4x grid,
    whose half-models leave sub-pixel phases empty; a drizzled product's ePSF is on a 2x grid.
    """
    if replicates is None or len(replicates) != 2 or len(x) < 10:
        return 0.0
    fa = _fit_psf(prep["sub"], prep["noise"], prep["bad"], x, y, flux, replicates[0], radius, n_iter=4)
    fb = _fit_psf(prep["sub"], prep["noise"], prep["bad"], x, y, flux, replicates[1], radius, n_iter=4)
    ok = fa["ok"] & fb["ok"]
    if ok.sum() < 10:
        return 0.0
    d = np.concatenate([fa["x"][ok] - fb["x"][ok], fa["y"][ok] - fb["y"][ok]])
    # RMS, not a robust std: the model's error depends on sub-pixel phase, its distribution has wide
    # tails and the pulls' std sees all of it; only gross failures (> 10 MADs) are dropped.
    med = np.median(d)
    mad = 1.4826 * np.median(np.abs(d - med))
    d = d[np.abs(d - med) <= 10 * mad] if mad > 0 else d
    return float(np.sqrt(np.mean(d**2)) / 2.0)


def _position_correlation(prep, fwhm):
    """The factor ``tiles._process_tile`` multiplies every position error by for the image's correlated
    noise (the same computation: block-sum factor, bounded by the derivative kernel's own factor)."""
    from .noise import correlation_factor, position_correlation_factor

    sky = prep.get("sky_noise") or {}
    corr = correlation_factor(sky.get("correlation") or {}, fwhm)
    corr_pos = position_correlation_factor(sky.get("autocorrelation"), fwhm) if corr != 1.0 else None
    return corr if corr_pos is None else float(np.clip(corr_pos, 1.0, corr))


def _epsf_error_variance(state, prep, fwhm):
    """The ePSF's position variance (pix²) for the fits' errors, in the units the tile's errors carry
    before the noise correlation factor is applied (``tiles._process_tile`` multiplies every position
    error by it afterwards): the cross-validated error (``state['epsf_error_pix']``, measured on the
    image itself, its correlated noise included) divided by that factor, plus the construction's
    systematic floor ``EPSF_FLOOR_FWHM`` x FWHM."""
    return (float(state.get("epsf_error_pix") or 0.0) / _position_correlation(prep, fwhm)) ** 2 \
        + (EPSF_FLOOR_FWHM * fwhm) ** 2


def _attribute_excess(prep, fwhm, dx, dy, sx, sy, wx, wy, sel, epsf_var, windowed_forward_pix):
    """Split what windowed − PSF-fit differences show beyond the noise between the two estimators.

    Those differences hold the ePSF's own error and the windowed centroids' sub-pixel-phase bias,
    which one image cannot tell apart (`fitting._psf_error_floor`). Where the windowed centroids'
    systematic error is known from a forward model (``windowed_forward_pix``: the instrument's PSF
    re-drizzled with the product's keywords and measured by the same windowed centroid,
    `helpers.sources.redrizzle`), the windowed floor is that model's, and whatever the differences
    show beyond it and the cross-validated ePSF error is the ePSF's (on the NIRCam F200W and F444W
    i2d of the test bed, pixfrac 1, the differences read 0.02-0.025 px in fields where the ePSF's
    truth error was 0.02 px, and the windowed centroids' 0.002 px; given to the windowed
    centroids that excess made their pulls 0.76-0.81 and kept the PSF fit where it was worse).
    Without a forward model the windowed floor is measured from the differences, given the ePSF's
    cross-validated error, as before. The noise parts are compared in the image's units (the white
    errors times the position correlation factor).

    Returns
    -------
    win_floor : float
        Windowed systematic floor (pixels, white-noise units as the tile's errors before correlation).
    epsf_var : float
        The ePSF's position variance (pix², same units), at least ``epsf_var``.
    """
    from .fitting import _psf_error_floor

    corr = _position_correlation(prep, fwhm)
    if not windowed_forward_pix:
        return _psf_error_floor(dx, dy, sx, sy, wx, wy, sel, model_var=epsf_var), epsf_var
    extra = _psf_error_floor(dx, dy, sx * corr, sy * corr, wx * corr, wy * corr, sel,
                             model_var=epsf_var * corr**2 + windowed_forward_pix**2)
    return 0.0, epsf_var + (extra / corr) ** 2
