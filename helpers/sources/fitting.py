"""PSF fitting: vectorised weighted Gauss–Newton fits, the windowed-centroid error floor, refits with
neighbours' models subtracted and refits of saturated cores."""

import warnings

import numpy as np

from .stamps import _prf_on_stamps, _stamp_index


def _fit_psf(sub, noise, bad, x0, y0, f0, prf, radius, n_iter=6, others=None):
    """Weighted Gauss–Newton fit of (x, y, flux, background) for all sources at once.

    Parameters
    ----------
    sub : 2-D array, background-subtracted image.
    noise : _Noise, per-pixel variance (model-based Poisson term when no ERR is given).
    others : 2-D array or None, model of all *other* sources to subtract (neighbours).

    Returns
    -------
    dict of arrays: x, y, flux, bkg, cov (N, 4, 4), chi2nu, ok.
    """
    n = len(x0)
    out = {"x": np.array(x0, float), "y": np.array(y0, float), "flux": np.array(f0, float), "bkg": np.zeros(n),
           "cov": np.full((n, 4, 4), np.nan), "chi2nu": np.full(n, np.nan), "ok": np.zeros(n, bool)}
    if n == 0:
        return out
    chunk_size = max(1, 1_500_000 // (2 * radius + 1) ** 2)
    for start in range(0, n, chunk_size):
        sl = slice(start, min(start + chunk_size, n))
        x = out["x"][sl].copy()
        y = out["y"][sl].copy()
        f = np.maximum(out["flux"][sl].copy(), 1e-30)
        b = np.zeros_like(x)
        px, py, inside = _stamp_index(x, y, radius, sub.shape)
        img = sub[py, px].astype(float)
        if others is not None:
            img = img - others[py, px]
        use = inside & ~bad[py, px]
        v_fixed = noise.var(py, px) if (noise.error is not None or not noise.has_poisson) else None
        v0 = v_fixed if v_fixed is not None else noise.var(py, px)
        use &= np.isfinite(v0) & (v0 > 0)
        ok = np.ones(x.size, bool)
        centre = (np.rint(out["x"][sl]), np.rint(out["y"][sl]))  # the stamps' centres, as _stamp_index's
        # Jacobian as (N, 4 parameters, pixels), filled in place: the normal equations are then
        # batched matrix products (~8x faster than einsum over a trailing parameter axis)
        jac = np.empty((x.size, 4) + px.shape[1:])
        jac[:, 3] = 1.0
        # weights fixed by ERR (or a WHT without a source Poisson term): computed once
        w_fixed = np.where(use, 1.0 / np.where(use, v_fixed, 1.0), 0.0) if v_fixed is not None else None
        for it in range(n_iter):
            p, gx, gy = _prf_on_stamps(prf, x, y, radius, grad=True, centre=centre)
            model = f[:, None, None] * p + b[:, None, None]
            if w_fixed is None:
                v = noise.var(py, px, model)
                w = np.where(use, 1.0 / np.where(use, v, 1.0), 0.0)
            else:
                w = w_fixed
            np.multiply(-f[:, None, None], gx, out=jac[:, 0])
            np.multiply(-f[:, None, None], gy, out=jac[:, 1])
            jac[:, 2] = p
            flat = jac.reshape(x.size, 4, -1)
            resid = img - model
            jw = flat * w.reshape(x.size, 1, -1)
            hess = np.matmul(jw, flat.transpose(0, 2, 1))
            grad = np.matmul(jw, resid.reshape(x.size, -1, 1))[..., 0]
            try:
                step = np.linalg.solve(hess + np.eye(4) * 1e-30, grad[..., None])[..., 0]
            except np.linalg.LinAlgError:
                step = np.zeros_like(grad)
                ok &= False
            step = np.where(np.isfinite(step), step, 0.0)
            # Damp position steps to 0.5 px per iteration.
            big = np.maximum(np.abs(step[:, 0]), np.abs(step[:, 1]))
            scale = np.where(big > 0.5, 0.5 / np.maximum(big, 1e-30), 1.0)
            if it < n_iter - 1:
                x = x + step[:, 0] * scale
                y = y + step[:, 1] * scale
                f = f + step[:, 2] * scale
                b = b + step[:, 3] * scale
                f = np.where(f > 0, f, np.abs(f) + 1e-30)
        with np.errstate(invalid="ignore", divide="ignore"):
            cov = np.linalg.pinv(hess)
        npix = use.sum(axis=(1, 2))
        chi2 = np.sum(w * resid**2, axis=(1, 2))
        chi2nu = chi2 / np.maximum(npix - 4, 1)
        moved = np.hypot(x - out["x"][sl], y - out["y"][sl])
        ok &= np.isfinite(x) & np.isfinite(y) & (f > 0) & (moved < 1.5) & (npix > 8)
        ok &= np.isfinite(cov[:, 0, 0]) & (cov[:, 0, 0] > 0) & (cov[:, 1, 1] > 0)
        out["x"][sl], out["y"][sl], out["flux"][sl], out["bkg"][sl] = x, y, f, b
        out["cov"][sl], out["chi2nu"][sl], out["ok"][sl] = cov, chi2nu, ok
    return out


def _psf_error_floor(dx, dy, sx, sy, wx, wy, sel, max_floor=1.0, model_var=0.0):
    """Systematic error (pixels) of windowed centroids, from windowed − PSF-fit differences.

    Both estimators measure the same star; when the PSF fit is efficient (its noise error ``sx`` is
    the Cramér–Rao bound) the difference has variance σ_win² − σ_psf², plus ``model_var`` (pix²), the
    PSF model's own position error (an ePSF's, independent of the image noise: without it, an ePSF
    worse than the windowed centroid was read as a windowed floor, and the two errors kept each other's
    fits: NIRCam LW i2d, windowed pulls 0.44). A systematic error of the windowed centroid (its
    sub-pixel-phase bias on undersampled PSFs) adds σ_sys² to it. σ_sys is the smallest value making
    the robust (1.4826·MAD) standard deviation of d / √(max(σ_win² − σ_psf², 0.1 σ_psf²) + model_var
    + σ_sys²) equal to one, over bright unflagged point sources (0 when fewer than 10 or already
    consistent).
    """
    if np.sum(sel) < 10:
        return 0.0
    d = np.concatenate([dx[sel], dy[sel]])
    v = np.concatenate([np.maximum(wx[sel] ** 2 - sx[sel] ** 2, 0.1 * sx[sel] ** 2),
                        np.maximum(wy[sel] ** 2 - sy[sel] ** 2, 0.1 * sy[sel] ** 2)]) + model_var
    ok = np.isfinite(d) & np.isfinite(v)
    d, v = d[ok], v[ok]
    if d.size < 20:
        return 0.0

    def robust_std(s2):
        p = d / np.sqrt(v + s2)
        return 1.4826 * np.median(np.abs(p - np.median(p)))

    if robust_std(0.0) <= 1.0:
        return 0.0
    lo, hi = 0.0, max_floor**2
    if robust_std(hi) > 1.0:
        return max_floor
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        if robust_std(mid) > 1.0:
            lo = mid
        else:
            hi = mid
    return float(np.sqrt(hi))


def _render_models(shape, x, y, flux, prf, radius):
    """Image of PSF models (flux · P) at the given positions (for neighbour subtraction)."""
    model = np.zeros(shape)
    if len(x) == 0:
        return model
    px, py, inside = _stamp_index(x, y, radius, shape)
    p = _prf_on_stamps(prf, x, y, radius) * flux[:, None, None]
    ny, nx = shape
    model += np.bincount((py[inside] * nx + px[inside]), weights=p[inside], minlength=nx * ny).reshape(shape)
    return model


def _refit_minus_neighbours(prep, fit, sel, everything, prf, radius, n_iter, good=None):
    """Refit the sources ``sel`` with every other fitted source's model subtracted.

    ``everything`` is the model image of the fits marked ``good`` (default: the successful ones);
    each source must only lose the *others'* models, so the sources are refitted in groups whose
    members are farther apart than a stamp, subtracting ``everything`` minus the group's own models.
    """
    good = fit["ok"] if good is None else good
    result = {k: (fit[k][sel].copy()) for k in ("x", "y", "flux", "bkg", "cov", "chi2nu", "ok")}
    for g in _separate_groups(fit["x"][sel], fit["y"][sel], 2 * (radius + 2) + 1):
        gi = sel[g]
        own_g = _render_models(everything.shape, fit["x"][gi], fit["y"][gi],
                               np.where(good[gi], fit["flux"][gi], 0.0), prf, radius + 2)
        r = _fit_psf(prep["sub"], prep["noise"], prep["bad"], fit["x"][gi], fit["y"][gi],
                     np.maximum(fit["flux"][gi], 1e-30), prf, radius, n_iter=n_iter, others=everything - own_g)
        for k in result:
            result[k][g] = r[k]
    return result


def _separate_groups(x, y, min_sep):
    """Split sources into groups whose members are all at least ``min_sep`` apart (greedy)."""
    from scipy.spatial import cKDTree

    n = len(x)
    group = np.full(n, -1)
    if n == 0:
        return []
    tree = cKDTree(np.column_stack([x, y]))
    pairs = tree.query_pairs(min_sep, output_type="ndarray")
    neighbours = [[] for _ in range(n)]
    for i, j in pairs:
        neighbours[i].append(j)
        neighbours[j].append(i)
    for i in range(n):
        used = {group[j] for j in neighbours[i] if group[j] >= 0}
        g = 0
        while g in used:
            g += 1
        group[i] = g
    return [np.nonzero(group == g)[0] for g in range(group.max() + 1)]


def _core_deficit(prep, x, y, flux, bkg, prf, with_fraction=False):
    """(data − model)/σ at the brightest pixel of the 3x3 core of each fitted source (and, with
    ``with_fraction``, (data − model)/model there: how much of the model's peak is missing)."""
    if len(x) == 0:
        return (np.zeros(0), np.zeros(0)) if with_fraction else np.zeros(0)
    px, py, inside = _stamp_index(x, y, 1, prep["sub"].shape)
    data = np.where(inside, prep["sub"][py, px], -np.inf)
    k = np.argmax(data.reshape(len(x), -1), axis=1)
    pxk = px.reshape(len(x), -1)[np.arange(len(x)), k]
    pyk = py.reshape(len(x), -1)[np.arange(len(x)), k]
    model = flux * prf.sample(pxk - x, pyk - y) + bkg
    var = prep["noise"].var(pyk, pxk, model)
    deficit = (prep["sub"][pyk, pxk] - model) / np.sqrt(np.where(var > 0, var, np.inf))
    if with_fraction:
        with np.errstate(invalid="ignore", divide="ignore"):
            return deficit, (prep["sub"][pyk, pxk] - model) / np.where(model > 0, model, np.nan)
    return deficit


def _mask_cores(prep, x, y, frac, radius=3):
    """A copy of the bad-pixel mask with each source's core pixels above ``frac`` x its maximum set."""
    bad = prep["bad"].copy()
    px, py, inside = _stamp_index(x, y, radius, bad.shape)
    vals = np.where(inside, prep["sub"][py, px], -np.inf)
    top = vals.reshape(len(x), -1).max(axis=1)
    core = inside & (vals >= frac * top[:, None, None])
    bad[py[core], px[core]] = True
    return bad


#: Median of χ² with one degree of freedom: on Gaussian noise the median of (Σ k·c)² is this
#: fraction of its mean (the confusion terms read a median, robust to one bright neighbour).
CHI2_1_MEDIAN = 0.45494


def _psf_position_kernels(noise, bad, x, y, flux, prf, radius):
    """The PSF fit's linear position estimators: for each source the rows of (JᵀWJ)⁻¹JᵀW for x and
    y, (N, 2, 2r+1, 2r+1) on its stamp (:func:`~.stamps._stamp_index`), at the fitted (x, y, flux).
    Applied to a stamp of pixel values they give the shift (pixels) a fit would make for that light;
    their squares summed against the pixel variance give the fit's covariance."""
    px, py, inside = _stamp_index(x, y, radius, bad.shape)
    p, gx, gy = _prf_on_stamps(prf, x, y, radius, grad=True)
    model = flux[:, None, None] * p
    var = noise.var(py, px, model)
    use = inside & ~bad[py, px] & np.isfinite(var) & (var > 0)
    w = np.where(use, 1.0 / np.where(use, var, 1.0), 0.0).reshape(len(x), 1, -1)
    jac = np.stack([-flux[:, None, None] * gx, -flux[:, None, None] * gy, p, np.ones_like(p)], axis=1)
    jac = jac.reshape(len(x), 4, -1)
    jw = jac * w
    with np.errstate(invalid="ignore", divide="ignore"):
        kern = np.matmul(np.linalg.pinv(np.matmul(jw, jac.transpose(0, 2, 1))), jw)
    kern = np.where(np.isfinite(kern), kern, 0.0)
    return kern[:, :2].reshape(len(x), 2, 2 * radius + 1, 2 * radius + 1)


def _psf_confusion_variance(noise, bad, resid, x, y, flux, prf, radius, ring, n_points=12):
    """Per-source confusion variance of a PSF fit's position (pix², per axis, (N, 2)).

    A PSF fit's covariance counts only the pixel noise (ERR, 1/WHT); on a crowded sky the light it
    did not model (stars below the detection limit, the residuals of its neighbours' models) moves
    it too, and that light is smooth on the PSF scale, so a χ²-inflation of the covariance (white
    noise) does not size it. Here the fit's own position estimators
    (:func:`_psf_position_kernels`) are applied to the residual image ``resid`` (the image minus
    every fitted model) at ``n_points`` points of a ring of radius ``ring`` pixels around the
    source; the variance is median(shift²) / :data:`CHI2_1_MEDIAN` minus the pixel noise's share
    (the same kernels against the noise variance there), never below 0. On white noise alone it is
    0; on noise of larger, unclaimed variance it is the fit's error from the excess.

    Twelve ring samples give a variance good to ~40 %, and dividing by a noisy error widens the
    pulls' tails (std 1.15-1.21, robust 1.0-1.09, on a uniform field of unclaimed noise). A median of
    the ratio (confusion / pixel variance) over each source's 5 nearest sources cut that to 1.03-1.13,
    but on the 47 Tuc flt it spread the bright real stars' PSF-mismatch residuals onto their
    neighbours (injection, PSF path: pull std 1.08-1.26 over 5 seeds, against 1.03-1.09 per source,
    and a quarter fewer PSF-fit positions), so the estimate stays per source.

    Parameters
    ----------
    noise : _Noise
        Per-pixel noise model of the tile.
    bad : 2-D bool array
        Pixels the fit ignores.
    resid : 2-D array
        Background-subtracted image minus every fitted source's model (image units).
    x, y, flux : arrays
        Fitted positions (0-based pixels) and fluxes.
    prf : _PRF
        The PSF model the fits used.
    radius : int
        The fits' stamp radius (pixels).
    ring : float
        Radius of the sampling ring (pixels).
    """
    n = len(x)
    out = np.zeros((n, 2))
    if n == 0:
        return out
    x, y, flux = (np.asarray(v, float) for v in (x, y, flux))
    ang = 2 * np.pi * np.arange(n_points) / n_points
    offs = np.stack([np.rint(ring * np.cos(ang)), np.rint(ring * np.sin(ang))], axis=1).astype(int)
    big = radius + int(np.abs(offs).max())
    for start in range(0, n, 2048):  # bounded memory on a dense field
        sl = slice(start, min(start + 2048, n))
        kern = _psf_position_kernels(noise, bad, x[sl], y[sl], flux[sl], prf, radius)
        bpx, bpy, binside = _stamp_index(x[sl], y[sl], big, bad.shape)
        good = binside & ~bad[bpy, bpx]
        data = np.where(good, resid[bpy, bpx], 0.0)
        var = np.where(good, noise.var(bpy, bpx), 0.0)
        var = np.where(np.isfinite(var), var, 0.0)
        shift2 = np.full((sl.stop - start, len(offs), 2), np.nan)
        expected = np.full_like(shift2, np.nan)
        for j, (ox, oy) in enumerate(offs):
            cy, cx = big + oy, big + ox
            win = (slice(None), slice(cy - radius, cy + radius + 1), slice(cx - radius, cx + radius + 1))
            # a sample whose kernel falls off the image or on masked pixels says nothing
            ok = np.all(good[win] | np.all(kern == 0, axis=1), axis=(1, 2))
            for axis in (0, 1):
                k = kern[:, axis]
                shift2[ok, j, axis] = np.sum(k * data[win], axis=(1, 2))[ok] ** 2
                expected[ok, j, axis] = np.sum(k * k * var[win], axis=(1, 2))[ok]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # no usable ring point: NaN, then 0
            v = np.nanmedian(shift2, axis=1) / CHI2_1_MEDIAN - np.nanmedian(expected, axis=1)
        out[sl] = np.where(np.isfinite(v) & (v > 0), v, 0.0)
    return out
