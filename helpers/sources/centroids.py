"""Centroids: errors of SExtractor windowed centroids (linear propagation) and tapered centres of mass."""

import math

import numpy as np

from .stamps import _stamp_index


#: Systematic error floor of windowed centroids, in units of the FWHM, added in quadrature to the
#: propagated noise error. A Gaussian window on an undersampled, non-Gaussian (diffraction) PSF
#: leaves a sub-pixel-phase-dependent bias: on the HST-like simulations (ACS/WFC F814W at 0.05"/px,
#: FWHM 2 px) isolated stars at SNR 180-450 scatter 1.2x the Cramér–Rao bound with pulls 1.16
#: without the floor, i.e. an extra ~0.003 px; with it the pulls are 0.9-1.1 at every SNR.
WINDOWED_FLOOR_FWHM = 0.001


#: Largest Gaussian window σ (pixels) for windowed centroids.
MAX_WINDOW_SIGMA = 4.0


def _windowed_errors(sub, noise, bad, x, y, sig):
    """1σ errors (pixels) of SExtractor windowed centroids by linear error propagation.

    See the `helpers.sources.extract` module docstring: cov = J⁻¹ C J⁻ᵀ with C = Σ w² σ² (d dᵀ) and
    J = Σ w I (1 − d dᵀ/σ_w²) over pixels within 4 σ_w of the windowed centre.
    Returns x_err, y_err, cov_xy (pix, pix, pix²).
    """
    n = len(x)
    x_err = np.full(n, np.nan)
    y_err = np.full(n, np.nan)
    cov_xy = np.full(n, np.nan)
    if n == 0:
        return x_err, y_err, cov_xy
    sig = np.asarray(sig, float)
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    ny, nx = sub.shape
    flat_sub, flat_bad = sub.ravel(), bad.ravel()
    # Group by stamp radius to keep the arrays small for the many compact sources.
    radius_for = np.clip(np.ceil(4 * sig).astype(int), 2, 40)
    for radius in np.unique(radius_for):
        sel = np.nonzero(radius_for == radius)[0]
        k = np.arange(-radius, radius + 1)
        for chunk in np.array_split(sel, max(1, sel.size * (2 * radius + 1) ** 2 // 2_000_000 + 1)):
            cols = np.rint(x[chunk]).astype(np.int64)[:, None] + k
            rows = np.rint(y[chunk]).astype(np.int64)[:, None] + k
            dxs = cols - x[chunk, None]  # (N, K): separable offsets
            dys = rows - y[chunk, None]
            inside = (((cols >= 0) & (cols < nx))[:, None, :] & ((rows >= 0) & (rows < ny))[:, :, None])
            flat = np.clip(rows, 0, ny - 1)[:, :, None] * nx + np.clip(cols, 0, nx - 1)[:, None, :]
            s2 = sig[chunk, None, None] ** 2
            dx = dxs[:, None, :]
            dy = dys[:, :, None]
            r2 = dx**2 + dy**2
            use = inside & (r2 <= 16 * s2) & ~flat_bad.take(flat)
            w = np.where(use, np.exp(-r2 / (2 * s2)), 0.0)
            img = flat_sub.take(flat).astype(float)
            v = noise.var_flat(flat, img)
            v = np.where(use & np.isfinite(v), v, 0.0)
            wi = w * img
            total = wi.sum(axis=(1, 2))
            j_xx = total - np.sum(wi * dx**2, axis=(1, 2)) / s2[:, 0, 0]
            j_yy = total - np.sum(wi * dy**2, axis=(1, 2)) / s2[:, 0, 0]
            j_xy = -np.sum(wi * dx * dy, axis=(1, 2)) / s2[:, 0, 0]
            # Keep the Jacobian away from zero at very low SNR (its noise can make it tiny):
            # never below a quarter of the window sum (SExtractor's fixed factor is a half).
            floor = 0.25 * np.abs(total)
            j_xx = np.where(j_xx < floor, floor, j_xx)
            j_yy = np.where(j_yy < floor, floor, j_yy)
            w2v = w**2 * v
            c_xx = np.sum(w2v * dx**2, axis=(1, 2))
            c_yy = np.sum(w2v * dy**2, axis=(1, 2))
            c_xy = np.sum(w2v * dx * dy, axis=(1, 2))
            det = j_xx * j_yy - j_xy**2
            det = np.where(np.abs(det) > 0, det, np.nan)
            # inverse of the symmetric Jacobian
            a, b, d = j_yy / det, -j_xy / det, j_xx / det
            vxx = a * a * c_xx + 2 * a * b * c_xy + b * b * c_yy
            vyy = b * b * c_xx + 2 * b * d * c_xy + d * d * c_yy
            vxy = a * b * c_xx + (a * d + b * b) * c_xy + b * d * c_yy
            x_err[chunk] = np.sqrt(np.abs(vxx))
            y_err[chunk] = np.sqrt(np.abs(vyy))
            cov_xy[chunk] = vxy
    return x_err, y_err, cov_xy


def _com_positions(sub, x, y, radius, n_iter=3):
    """Centres of mass in a tapered circular aperture (weight 1 inside radius − 2, linear to 0 at radius),
    re-centred ``n_iter`` times."""
    x = np.asarray(x, float).copy()
    y = np.asarray(y, float).copy()
    r_int = int(math.ceil(radius))
    for _ in range(n_iter):
        px, py, inside = _stamp_index(x, y, r_int, sub.shape)
        rr = np.hypot(px - x[:, None, None], py - y[:, None, None])
        w = np.clip((radius - rr) / 2.0, 0.0, 1.0) * inside
        img = sub[py, px] * w
        tot = img.sum(axis=(1, 2))
        ok = tot > 0
        x = np.where(ok, (img * px).sum(axis=(1, 2)) / np.where(ok, tot, 1), x)
        y = np.where(ok, (img * py).sum(axis=(1, 2)) / np.where(ok, tot, 1), y)
    return x, y
