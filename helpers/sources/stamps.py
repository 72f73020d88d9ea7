"""Stamps: integer pixel grids around sources, and a PSF model sampled on them."""

import numpy as np


def _stamp_index(x, y, radius, shape):
    """Integer pixel grids (N, 2r+1, 2r+1) around rounded centres, clipped, and an inside mask."""
    ny, nx = shape
    ix = np.rint(x).astype(np.int64)
    iy = np.rint(y).astype(np.int64)
    k = np.arange(-radius, radius + 1)
    px = ix[:, None, None] + k[None, None, :]
    py = iy[:, None, None] + k[None, :, None]
    px, py = np.broadcast_arrays(px, py)
    inside = (px >= 0) & (px < nx) & (py >= 0) & (py < ny)
    return np.clip(px, 0, nx - 1), np.clip(py, 0, ny - 1), inside


def _stamp_any(maskarr, x, y, radius):
    if maskarr is None or len(x) == 0:
        return np.zeros(len(x), bool)
    px, py, inside = _stamp_index(x, y, radius, maskarr.shape)
    return np.any(maskarr[py, px] | ~inside, axis=(1, 2)) if maskarr is not None else np.zeros(len(x), bool)


def _cubic_bspline_weights(t):
    """The four cubic B-spline weights (taps floor(u)-1 .. floor(u)+2) at fractional offsets ``t``
    in [0, 1), as scipy.ndimage's order-3 interpolation uses them: (N,) -> (N, 4)."""
    t2, t3 = t * t, t * t * t
    return np.stack([(1 - t) ** 3 / 6.0, (4.0 - 6.0 * t2 + 3.0 * t3) / 6.0, (1.0 + 3.0 * t + 3.0 * t2 - 3.0 * t3) / 6.0,
                     t3 / 6.0], axis=1)


def _prf_on_stamps(prf, x, y, radius, grad=False, centre=None, chunk=64):
    """``prf.sample(px - x, py - y[, grad])`` on the unclipped (2r+1)² pixel stamps of
    :func:`_stamp_index` around each source, computed once per source instead of once per pixel.
    ``centre`` = (ix, iy): the stamps' integer centres when they are not the rounded (x, y) (a fit
    keeps its stamps while the positions move). ``chunk`` sources at a time (64: the gathered
    coefficients stay in cache; ~3x faster than ``map_coordinates`` on a dense field).

    Every pixel of a stamp sits at the same sub-pixel phase of the oversampled model, so the four
    cubic-spline taps along each axis have one set of weights per source and coefficient indices a
    fixed ``oversampling`` apart: the stamp is a 4x4-weighted sum of strided views of the spline
    coefficients (no per-pixel weight computation, the value and both gradients share it). Equal
    to ``map_coordinates`` to rounding (1e-14 of the peak); the stamp pixels outside the image, which
    :func:`_stamp_index` clips, are evaluated on the regular grid instead (they carry no weight in a fit
    or a rendering). Sources whose taps leave the model's array fall back to ``prf.sample``.

    Returns
    -------
    p : ndarray (N, 2r+1, 2r+1), or (p, gx, gy) with ``grad``.
    """
    from numpy.lib.stride_tricks import as_strided

    x, y = np.asarray(x, float), np.asarray(y, float)
    ix, iy = (np.rint(x), np.rint(y)) if centre is None else (np.asarray(c, float) for c in centre)
    if not all(hasattr(prf, a) for a in ("coeffs", "cgx", "cgy", "os", "cx", "cy")):  # another model: its own sampler
        k = np.arange(-radius, radius + 1)
        dx, dy = np.broadcast_arrays(ix[:, None, None] + k[None, None, :] - x[:, None, None],
                                     iy[:, None, None] + k[None, :, None] - y[:, None, None])
        return prf.sample(dx, dy, grad=grad) if grad else prf.sample(dx, dy)
    n, m, os_ = len(x), 2 * radius + 1, int(prf.os)
    planes = (prf.coeffs, prf.cgx, prf.cgy) if grad else (prf.coeffs,)
    out = tuple(np.empty((n, m, m)) for _ in planes)
    ny, nx = prf.coeffs.shape
    span = os_ * (m - 1)
    # model-array coordinate of the stamp's first pixel (as prf.sample: centre + offset x oversampling)
    u0 = prf.cx + (ix - radius - x) * os_
    v0 = prf.cy + (iy - radius - y) * os_
    q0, r0 = np.floor(u0), np.floor(v0)
    wx, wy = _cubic_bspline_weights(u0 - q0), _cubic_bspline_weights(v0 - r0)
    q0, r0 = q0.astype(np.int64) - 1, r0.astype(np.int64) - 1
    inside = (q0 >= 0) & (r0 >= 0) & (q0 + 3 + span <= nx - 1) & (r0 + 3 + span <= ny - 1)
    if ny - span <= 0 or nx - span <= 0:
        inside[:] = False
    idx = np.nonzero(inside)[0]
    tap = np.arange(4)
    for plane, res in zip(planes, out):
        if not idx.size:
            break
        c = np.ascontiguousarray(plane, dtype=float)
        view = as_strided(c, shape=(ny - span, nx - span, m, m),
                          strides=(c.strides[0], c.strides[1], os_ * c.strides[0], os_ * c.strides[1]))
        for s in range(0, idx.size, chunk):
            sel = idx[s:s + chunk]
            block = view[(r0[sel, None] + tap)[:, :, None], (q0[sel, None] + tap)[:, None, :]]  # (k, 4, 4, m, m)
            block = block.reshape(sel.size, 4, 4, m * m)
            along_x = np.matmul(wx[sel, None, None, :], block)[:, :, 0, :]  # (k, 4, m²)
            res[sel] = np.matmul(wy[sel, None, :], along_x)[:, 0, :].reshape(sel.size, m, m)
    rest = np.nonzero(~inside)[0]
    if rest.size:
        k = np.arange(-radius, radius + 1)
        dx = (ix[rest, None, None] + k[None, None, :]) - x[rest, None, None]
        dy = (iy[rest, None, None] + k[None, :, None]) - y[rest, None, None]
        dx, dy = np.broadcast_arrays(dx, dy)
        vals = prf.sample(dx, dy, grad=grad)
        for res, v in zip(out, vals if grad else (vals,)):
            res[rest] = v
    return out if grad else out[0]
