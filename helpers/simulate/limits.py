"""The estimator that reaches the exposures' Cramér–Rao bound: a joint PSF fit on the individual
exposures' pixels, through each exposure's distortion.

It checks the test bed's truth (:mod:`.drizzled`): fitting every star's output-frame position
(x, y), its flux and one local background per exposure to the flat-fielded exposures with the true
pixel-response function, by weighted Gauss–Newton, must scatter as the bound and give unit pulls.
If it does, the bound in the truth table is the right yardstick for estimators run on the
drizzled product (which cannot have more information than the exposures).
"""

import numpy as np

from ..errors import WorkbookError
from ..validate import require_array, require_instance, require_number
from ._checks import require_numeric_columns, require_pair, require_table
from .render import _PRF, _stamp_offsets


def _det_positions(exposure, out_wcs, xo, yo, h=0.05):
    """Detector positions of output-frame points and the Jacobian d(det)/d(out) (n, 2, 2)."""

    def det_xy(dx, dy):
        ra, dec = out_wcs.wcs_pix2world(xo + dx, yo + dy, 0)
        return np.stack(exposure.wcs.all_world2pix(ra, dec, 0, tolerance=1e-10, maxiter=50, quiet=True))

    centre = det_xy(0.0, 0.0)
    jac = np.empty((xo.size, 2, 2))
    jac[:, :, 0] = ((det_xy(h, 0.0) - det_xy(-h, 0.0)) / (2 * h)).T
    jac[:, :, 1] = ((det_xy(0.0, h) - det_xy(0.0, -h)) / (2 * h)).T
    return centre[0], centre[1], jac


def joint_exposure_fit(product, ids, radius=6, iterations=6):
    """Fit stars jointly on all exposures of a drizzled product (the bound-reaching estimator).

    Parameters
    ----------
    product : `.drizzled.DrizzledProduct`
    ids : array of int
        Truth ids of the point sources to fit (start: their true positions and fluxes).
    radius : int
        Half-size of each exposure's stamp, native pixels.
    iterations : int
        Gauss–Newton iterations.

    Returns
    -------
    x, y : ndarray
        Fitted output-frame positions, pixels (0-based).
    x_err, y_err : ndarray
        1σ from the inverse Fisher matrix at the fit, pixels.
    """
    from .drizzled import DrizzledProduct

    require_instance(product, DrizzledProduct, "product", "give the DrizzledProduct make_drizzled returned")
    radius = require_number(radius, "radius", integer=True, minimum=1, maximum=100, example="6")
    iterations = require_number(iterations, "iterations", integer=True, minimum=0, maximum=100, example="6")
    truth = product.truth
    row = {v: k for k, v in enumerate(np.asarray(truth["id"]))}
    wanted = require_array(ids, "ids", what="truth ids", allow_nan=False)
    unknown = [i for i in wanted if i not in row]
    if unknown or (wanted != np.round(wanted)).any():
        raise WorkbookError(f"ids {unknown[:3] or wanted[:3].tolist()} are not ids of product.truth; "
                            "give ids from product.truth['id']")
    ids = wanted.astype(int)
    k_rows = np.array([row[i] for i in ids], int)
    xo = np.asarray(truth["x"], float)[k_rows].copy()
    yo = np.asarray(truth["y"], float)[k_rows].copy()
    flux = np.asarray(truth["flux"], float)[k_rows].copy()
    n, n_exp = xo.size, len(product.exposures)
    n_par = 3 + n_exp
    backgrounds = np.zeros((n, n_exp))
    prfs = [_PRF(e.psf) for e in product.exposures]
    # electrons (dark subtracted) and their background variance, per exposure
    electrons, bg_var, usable = [], [], []
    for e in product.exposures:
        to_e = e.area / (1.0 / (e.spec.exptime * e.to_e_per_s))
        electrons.append(np.nan_to_num(e.data * to_e))
        bg_var.append(e.variance["background"] * to_e**2)
        usable.append(e.good(reject_cosmic_rays=True))
    for it in range(iterations + 1):
        fisher = np.zeros((n, n_par, n_par))
        grad = np.zeros((n, n_par))
        for k, e in enumerate(product.exposures):
            t = e.spec.exptime
            xd, yd, jac = _det_positions(e, product.wcs, xo, yo)
            px, py, ox, oy = _stamp_offsets(xd, yd, radius)
            ny, nx = e.spec.shape
            inside = (px >= 0) & (px < nx) & (py >= 0) & (py < ny)
            cpx, cpy = np.clip(px, 0, nx - 1), np.clip(py, 0, ny - 1)
            ok = inside & usable[k][cpy, cpx]
            prf = prfs[k]
            p = prf.sample(ox, oy)
            gx, gy = -prf.sample(ox, oy, "gx"), -prf.sample(ox, oy, "gy")
            if it == 0:  # the local background starts at the stamp's clipped median
                ring = ok & ((np.abs(ox) > radius - 1.5) | (np.abs(oy) > radius - 1.5))
                vals = np.where(ring, electrons[k][cpy, cpx], np.nan).reshape(n, -1)
                backgrounds[:, k] = np.nanmedian(vals, axis=1)
            f_e = flux[:, None, None] * t
            model = f_e * p + backgrounds[:, k, None, None]
            var = np.where(ok, np.clip(f_e * p, 0, None) + bg_var[k][cpy, cpx], np.inf)
            resid = np.where(ok, electrons[k][cpy, cpx] - model, 0.0)
            # derivatives w.r.t. output (x, y) through the Jacobian, flux, this exposure's background
            dxd = f_e * gx
            dyd = f_e * gy
            derivs = [dxd * jac[:, 0, 0, None, None] + dyd * jac[:, 1, 0, None, None],
                      dxd * jac[:, 0, 1, None, None] + dyd * jac[:, 1, 1, None, None],
                      t * p]
            cols = [0, 1, 2, 3 + k]
            derivs.append(np.ones_like(p))
            for a, ca in enumerate(cols):
                grad[:, ca] += np.sum(derivs[a] * resid / var, axis=(1, 2))
                for b, cb in enumerate(cols):
                    fisher[:, ca, cb] += np.sum(derivs[a] * derivs[b] / var, axis=(1, 2))
        if it == iterations:
            break
        step = np.linalg.solve(fisher, grad[:, :, None])[:, :, 0]
        step[:, :2] = np.clip(step[:, :2], -0.5, 0.5)
        xo += step[:, 0]
        yo += step[:, 1]
        flux = np.maximum(flux + step[:, 2], 1e-3)
        backgrounds += step[:, 3:]
    cov = np.linalg.inv(fisher)
    return xo, yo, np.sqrt(cov[:, 0, 0]), np.sqrt(cov[:, 1, 1])


#: SNR bins of the accuracy figures (issue #13: SNR 10-300).
SNR_BINS = ((10.0, 30.0), (30.0, 100.0), (100.0, 300.0))


def score_catalog(catalog, truth, bins=SNR_BINS, match_pix=1.0, edge_pix=15.0, shape=None):
    """Scatter against the exposures' bound and pull widths of a source catalog on the test bed.

    Parameters
    ----------
    catalog : `~astropy.table.Table`
        Output of ``helpers.sources.extract_sources`` (``x, y, x_err, y_err, method, flags, kind``
        and ``x_win, y_win, x_win_err, y_win_err``).
    truth : `~astropy.table.Table`
        ``DrizzledProduct.truth`` (``x, y, crb_x, crb_y, snr, kind, n_exp``).
    bins : sequence of (float, float)
        True-SNR bins.
    match_pix : float
        Matching radius, pixels.
    edge_pix : float
        Stars closer than this to the image edge are left out.
    shape : (int, int), optional
        Image shape for the edge cut.

    Returns
    -------
    rows : list of dict
        Per bin: ``snr_lo, snr_hi``, ``n`` (matched, unflagged point stars), ``n_psf`` (of them
        with method ``psf``), ``psf_rms_pix`` and ``crb_rms_pix`` (quadratic means over both axes),
        ``psf_over_crb``, ``pull_psf``, ``pull_windowed`` (std of error/σ over both axes),
        ``windowed_over_crb``; with the catalog's ``x_psf, y_psf, x_psf_err, y_psf_err`` (the PSF fit of
        every fitted point source, whichever estimator gave x, y) also ``n_fit`` (stars with a PSF fit),
        ``fit_over_crb`` and ``pull_fit`` (the PSF path on all of them) and ``catalog_over_crb`` (the
        catalog's own x, y: the estimator each star kept); NaN where a bin is empty.
    """
    from scipy.spatial import cKDTree

    require_table(catalog, "catalog", ("x", "y", "x_err", "y_err", "x_win", "y_win", "x_win_err", "y_win_err",
                                       "method", "flags", "kind"), "give the catalog helpers.sources.extract_sources returned")
    require_numeric_columns(catalog, "catalog", ("x", "y"), "give positions in pixels")
    require_numeric_columns(catalog, "catalog", ("x_err", "y_err", "x_win", "y_win", "x_win_err", "y_win_err"),
                            "give pixel positions and errors as numbers", allow_nan=True)
    require_table(truth, "truth", ("x", "y", "crb_x", "crb_y", "snr", "kind", "n_exp"),
                  "give DrizzledProduct.truth (make_drizzled)")
    require_numeric_columns(truth, "truth", ("x", "y", "n_exp"), "give DrizzledProduct.truth (make_drizzled)")
    require_numeric_columns(truth, "truth", ("crb_x", "crb_y", "snr"), "give DrizzledProduct.truth (make_drizzled)",
                            allow_nan=True)
    if isinstance(bins, (str, bytes, dict)) or not hasattr(bins, "__len__"):
        raise WorkbookError(f"bins = {bins!r:.40} is not a list of (lo, hi) SNR pairs; give e.g. [(5, 20), (20, 100)]")
    bins = [require_pair(b, "each SNR bin", example="(5, 20)") for b in bins]
    match_pix = require_number(match_pix, "match_pix", minimum=1e-6, example="1.0")
    edge_pix = require_number(edge_pix, "edge_pix", minimum=0.0, example="15.0")
    if shape is not None:
        shape = require_pair(shape, "shape", integer=True, minimum=1, example="(1024, 1024)")
    n_max = int(np.max(truth["n_exp"])) if len(truth) else 0
    t = truth[(np.asarray(truth["kind"]).astype(str) == "star") & (np.asarray(truth["n_exp"]) == n_max)]
    if shape is not None:
        ny, nx = shape
        t = t[(t["x"] > edge_pix) & (t["y"] > edge_pix) & (t["x"] < nx - 1 - edge_pix) & (t["y"] < ny - 1 - edge_pix)]
    rows = []
    if len(catalog) == 0 or len(t) == 0:
        return rows
    d, i = cKDTree(np.c_[catalog["x"], catalog["y"]]).query(np.c_[t["x"], t["y"]])
    m = d < match_pix
    c, t = catalog[i[m]], t[m]
    good = (np.asarray(c["flags"]) == 0) & (np.asarray(c["kind"]).astype(str) == "point")
    psf = np.asarray(c["method"]).astype(str) == "psf"
    dx, dy = np.asarray(c["x"] - t["x"], float), np.asarray(c["y"] - t["y"], float)
    wx, wy = np.asarray(c["x_win"] - t["x"], float), np.asarray(c["y_win"] - t["y"], float)
    snr = np.asarray(t["snr"], float)
    for lo, hi in bins:
        s = good & (snr >= lo) & (snr < hi)
        p = s & psf
        crb2 = np.r_[t["crb_x"][s] ** 2, t["crb_y"][s] ** 2]
        crb2_p = np.r_[t["crb_x"][p] ** 2, t["crb_y"][p] ** 2]
        row = {"snr_lo": lo, "snr_hi": hi, "n": int(s.sum()), "n_psf": int(p.sum())}
        row["crb_rms_pix"] = float(np.sqrt(np.mean(crb2_p))) if p.any() else np.nan
        row["psf_rms_pix"] = float(np.sqrt(np.mean(np.r_[dx[p] ** 2, dy[p] ** 2]))) if p.any() else np.nan
        row["psf_over_crb"] = row["psf_rms_pix"] / row["crb_rms_pix"] if p.any() else np.nan
        row["pull_psf"] = float(np.std(np.r_[dx[p] / c["x_err"][p], dy[p] / c["y_err"][p]])) if p.any() else np.nan
        row["windowed_over_crb"] = (float(np.sqrt(np.mean(np.r_[wx[s] ** 2, wy[s] ** 2]) / np.mean(crb2)))
                                    if s.any() else np.nan)
        row["pull_windowed"] = (float(np.std(np.r_[wx[s] / c["x_win_err"][s], wy[s] / c["y_win_err"][s]]))
                                if s.any() else np.nan)
        row["catalog_over_crb"] = (float(np.sqrt(np.mean(np.r_[dx[s] ** 2, dy[s] ** 2]) / np.mean(crb2)))
                                   if s.any() else np.nan)
        if {"x_psf", "y_psf", "x_psf_err", "y_psf_err"} <= set(c.colnames):
            fx = np.asarray(c["x_psf"] - t["x"], float)
            fy = np.asarray(c["y_psf"] - t["y"], float)
            f = s & np.isfinite(fx) & np.isfinite(fy) & np.isfinite(np.asarray(c["x_psf_err"], float))
            row["n_fit"] = int(f.sum())
            crb2_f = np.r_[t["crb_x"][f] ** 2, t["crb_y"][f] ** 2]
            row["fit_over_crb"] = (float(np.sqrt(np.mean(np.r_[fx[f] ** 2, fy[f] ** 2]) / np.mean(crb2_f)))
                                   if f.any() else np.nan)
            row["pull_fit"] = (float(np.std(np.r_[fx[f] / c["x_psf_err"][f], fy[f] / c["y_psf_err"][f]]))
                               if f.any() else np.nan)
        rows.append(row)
    return rows
