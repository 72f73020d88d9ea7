"""Method 5 of notebook 03: PSF stars injected at known positions into the real image and
re-extracted (:func:`injection_recovery`), the sigma(SNR) model fitted to them
(:func:`injection_sigma_model`) and the scatter that model predicts for a catalog's SNRs
(:func:`predicted_catalog_sigma`).

Units: pixel positions 0-based; offsets, errors and sigmas in mas.
"""

import math

import numpy as np

from ..errors import WorkbookError
from .stats import MAD_TO_SIGMA, _bootstrap_order_stats, _ci, _mixture_sigma, robust_sigma
from .inputs import _col_values, _require_record, _require_table
from ..validate import require_instance, require_number

__all__ = [
    "drizzle_floor_mas",
    "injection_recovery",
    "injection_sigma_model",
    "predicted_catalog_sigma",
]


# --------------------------------------------------------------------------- the drizzle floor of a catalog
def drizzle_floor_mas(cat, pixel_scale_mas=None):
    """Per-source drizzle floor (mas, per axis) that a catalog's reported errors carry.

    :mod:`helpers.sources.redrizzle` measures the drizzle's own position error (each star's phases on the
    input grids, which a mean PSF cannot follow) and the extraction adds it in quadrature, per estimator,
    after the noise (``meta['drizzle_floor']``): ``psf_pix`` for PSF-fitted sources, the windowed floor the
    extraction applied (``windowed_applied_pix``; catalogs written before it was recorded give
    ``windowed_pix``) for windowed centroids, nothing for the joint fit on the exposures (``method =
    "exposures"``), which sees every input grid.

    Parameters
    ----------
    cat : `~astropy.table.Table`
        A catalog from :mod:`helpers.sources` (``method`` column; ``meta['drizzle_floor']``,
        ``meta['pixel_scale']`` in arcsec).
    pixel_scale_mas : float, optional
        Pixel scale (mas) when the meta has none.

    Returns
    -------
    floor : ndarray
        One value per row, mas; zeros when the catalog carries no drizzle floor.
    """
    _require_table(cat, "cat")
    meta = getattr(cat, "meta", {}) or {}
    floor = meta.get("drizzle_floor")
    if not isinstance(floor, dict):
        return np.zeros(len(cat))
    scale = require_number(pixel_scale_mas, "pixel_scale_mas", minimum=1e-6, allow_none=True, example=50.0)
    if scale is None and meta.get("pixel_scale"):
        scale = float(meta["pixel_scale"]) * 1000.0
    if not scale:
        raise WorkbookError("the catalog has a drizzle floor but no meta['pixel_scale'] (arcsec); pass "
                            "pixel_scale_mas or write the catalog with helpers.sources")
    win = float(floor.get("windowed_applied_pix", floor.get("windowed_pix", 0.0)) or 0.0)
    psf = float(floor.get("psf_pix", 0.0) or 0.0)
    method = (np.char.lower(np.asarray(cat["method"]).astype(str)) if "method" in cat.colnames
              else np.full(len(cat), "windowed"))
    pix = np.where(method == "psf", psf, np.where(method == "exposures", 0.0, win))
    return pix * float(scale)


def _noise_part(err, floor):
    """Reported errors less their drizzle floor (quadrature): the part injected stars can calibrate."""
    return np.sqrt(np.maximum(np.asarray(err, float) ** 2 - np.asarray(floor, float) ** 2, 0.0))


# --------------------------------------------------------------------------- method 5: injection-recovery
def _default_extract(*args, **kwargs):
    from .. import sources  # lazy: sources is upstream but may be absent in partial checkouts

    return sources.extract_sources(*args, **kwargs)


def injection_recovery(image, wcs, psf, extract=None, error=None, n_inject=300, snr_range=(5.0, 300.0),
                       existing=None, avoid_pix=None, edge_pix=None, match_pix=1.5, seed=0, extract_kwargs=None,
                       n_boot=200, gain=None, photon_variance_ratio=1.0):
    """Method 5: inject PSF stars at known positions into the real image, re-extract, measure.

    Stars are placed on a jittered grid (so they do not blend with each other), away from the
    edges and from ``existing`` sources, with SNRs log-uniform over ``snr_range`` assuming the
    background-limited optimal SNR = F sqrt(sum P^2) / sigma_pix (source photon noise is not added:
    background-limited regime). The image is re-extracted with ``extract`` and injected stars
    are matched within ``match_pix``.

    Parameters
    ----------
    image : 2-D ndarray
        Science image (not modified).
    wcs : `~astropy.wcs.WCS`
        Its WCS (for the pixel scale and the extractor).
    psf : photutils ``ImagePSF`` or any astropy 2-D model with ``flux, x_0, y_0``
        PSF, normalised to unit flux.
    extract : callable, optional
        ``extract(image, wcs, error=..., **extract_kwargs)`` returning a catalog with ``x, y``
        (0-based pixels) and optionally ``x_err, y_err`` (pixels) and ``snr``. Default
        ``helpers.sources.extract_sources``.
    error : 2-D ndarray, optional
        1-sigma per pixel; default the robust sigma of the image.
    n_inject : int
    snr_range : (float, float)
    existing : `~astropy.table.Table`, optional
        Catalog of the image (``x``, ``y``) to stay away from.
    avoid_pix, edge_pix : float, optional
        Exclusion radius around existing sources and the border, pixels (default 4 x FWHM-ish).
    match_pix : float
        Largest injected-to-recovered distance accepted, pixels.
    seed : int
    extract_kwargs : dict, optional
    n_boot : int
    gain : float, optional
        Electrons per image unit (a drc in e-/s: its exposure time). When given, the injected stars get their
        own photon noise, Gaussian of variance ``photon_variance_ratio`` x model / gain per pixel, as real
        stars have it (the extraction's errors include it); otherwise none (background-limited stars).
    photon_variance_ratio : float
        Per-pixel variance of that photon noise relative to model / gain (a drizzled product's is smaller,
        ``meta['noise_poisson_variance_ratio']``).

    Returns
    -------
    result : dict
        ``stars`` (Table: ``x_true, y_true, snr_inj, flux, recovered, x, y, dx_mas, dy_mas,
        err_x_mas, err_y_mas, floor_mas``), ``n_injected``, ``n_recovered``, ``pixel_scale_mas``,
        ``sigma`` (E, N: robust sigma of measured - true, mas) with ``sigma_ci``,
        ``sigma_1d``/``sigma_1d_ci``, ``pull`` (robust sigma of (measured-true)/reported error, per
        axis; 1 = calibrated errors) with ``pull_ci``, ``by_snr`` (Table). When the extractor's catalog
        carries a drizzle floor (:func:`drizzle_floor_mas`: a drizzled product's extraction), ``pull`` is
        against the errors' noise part (floor taken out in quadrature: injected stars are not re-drizzled,
        so they carry none of the drizzle's phase error), ``pull_total`` against the whole reported
        errors, and ``drizzle_floor_mas`` is the injected stars' median floor. ``estimators``: the extraction's
        ``method`` values of the recovered stars (sorted; None when its catalog has no ``method`` column), the
        estimators these pulls calibrate (:func:`helpers.astrometry.pull_estimate` applies them to those only).

    Raises
    ------
    WorkbookError
        Image too small for the injection, the extractor failing, or nothing recovered.
    """
    if not isinstance(image, np.ndarray) or image.dtype.kind not in "iuf":
        raise WorkbookError(f"image = {image!r:.40} is not a numeric array; give the 2-D science array (numpy)")
    from astropy.wcs import WCS

    require_instance(wcs, WCS, "wcs", "pass the image's astropy.wcs.WCS (helpers.validate.celestial_wcs(header))")
    if not callable(psf) or not hasattr(psf, "copy") or not all(hasattr(psf, p) for p in ("x_0", "y_0", "flux")):
        raise WorkbookError(f"psf = {psf!r:.40} is not a photutils PSF model; pass e.g. CircularGaussianPRF(fwhm=2.5)")
    n_inject = require_number(n_inject, "n_inject", minimum=1, integer=True, example=300)
    require_number(seed, "seed", minimum=0, integer=True, allow_none=True, example=0)
    n_boot = require_number(n_boot, "n_boot", minimum=0, integer=True, example=200)
    from astropy.table import Table
    from astropy.wcs.utils import proj_plane_pixel_scales

    image = np.asarray(image, float)
    if image.ndim != 2:
        raise WorkbookError(f"image has {image.ndim} dimensions; give the 2-D science array")
    extract = extract or _default_extract
    scale_mas = float(np.mean(proj_plane_pixel_scales(wcs)) * 3.6e6)
    finite = np.isfinite(image)
    noise = error if error is not None else None
    sigma_pix = float(np.nanmedian(noise)) if noise is not None else float(robust_sigma(image[finite]))
    # PSF stamp to get sum(P^2) and the stamp size
    half = 12
    for _ in range(4):
        yy, xx = np.mgrid[-half:half + 1, -half:half + 1].astype(float)
        m = psf.copy()
        m.x_0, m.y_0, m.flux = 0.0, 0.0, 1.0
        stamp = m(xx, yy)
        if stamp.sum() > 0.99 or half > 60:
            break
        half *= 2
    sum_p2 = float(np.sum(stamp ** 2))
    fwhm_pix = max(1.0, 1.0 / math.sqrt(max(sum_p2, 1e-12) * 4 * math.pi) * 2.355)  # Gaussian-equivalent
    avoid = avoid_pix if avoid_pix is not None else 5.0 * fwhm_pix
    edge = edge_pix if edge_pix is not None else half + 2
    ny, nx = image.shape
    spacing = max(2.0 * avoid, 10.0)
    gx = np.arange(edge + spacing / 2, nx - edge - spacing / 4, spacing)
    gy = np.arange(edge + spacing / 2, ny - edge - spacing / 4, spacing)
    if gx.size * gy.size < 10:
        raise WorkbookError(f"image {nx}x{ny} px is too small to inject stars {spacing:.0f} px apart; "
                            "use a larger image or a smaller avoid_pix")
    rng = np.random.default_rng(seed)
    X, Y = np.meshgrid(gx, gy)
    X = X.ravel() + rng.uniform(-0.25, 0.25, X.size) * spacing
    Y = Y.ravel() + rng.uniform(-0.25, 0.25, Y.size) * spacing
    keep = np.ones(X.size, bool)
    if existing is not None and len(existing):
        from scipy.spatial import cKDTree

        d, _ = cKDTree(np.column_stack([_col_values(existing, "x"), _col_values(existing, "y")])).query(
            np.column_stack([X, Y]))
        keep &= d > avoid
    xi_, yi_ = np.clip(X.astype(int), 0, nx - 1), np.clip(Y.astype(int), 0, ny - 1)
    keep &= finite[yi_, xi_]
    # avoid light the catalog does not list (bright wings, extended galaxies): local median must be ~sky
    from scipy.ndimage import median_filter

    local = median_filter(np.where(finite, image, 0.0), size=max(5, int(2 * fwhm_pix) | 1))
    keep &= np.abs(local[yi_, xi_]) < 2.0 * sigma_pix
    X, Y = X[keep], Y[keep]
    if X.size > n_inject:
        sel = rng.choice(X.size, n_inject, replace=False)
        X, Y = X[sel], Y[sel]
    if X.size < 10:
        raise WorkbookError(f"only {X.size} free positions to inject stars; lower avoid_pix or n_inject")
    snr = np.exp(rng.uniform(math.log(snr_range[0]), math.log(snr_range[1]), X.size))
    flux = snr * sigma_pix / math.sqrt(sum_p2)
    gain = require_number(gain, "gain", minimum=1e-12, allow_none=True, example=12000.0)
    photon_variance_ratio = require_number(photon_variance_ratio, "photon_variance_ratio", minimum=0.0, example=1.0)
    injected = image.copy()
    noise_rng = np.random.default_rng(None if seed is None else seed + 1)
    for x0, y0, f in zip(X, Y, flux):
        ix, iy = int(round(x0)), int(round(y0))
        ys, xs = slice(max(iy - half, 0), min(iy + half + 1, ny)), slice(max(ix - half, 0), min(ix + half + 1, nx))
        yy, xx = np.mgrid[ys, xs].astype(float)
        m.x_0, m.y_0, m.flux = x0, y0, f
        model = m(xx, yy)
        injected[ys, xs] += model
        if gain:
            injected[ys, xs] += noise_rng.normal(0.0, 1.0, model.shape) * np.sqrt(
                np.clip(model, 0.0, None) * photon_variance_ratio / gain)
    try:
        found = extract(injected, wcs, error=error, **(extract_kwargs or {}))
    except WorkbookError:
        raise
    except Exception as exc:  # the extractor is a parameter: report its failure in one line
        raise WorkbookError(f"the extractor failed on the injected image ({exc.__class__.__name__}: {exc}); "
                            "check the extract function and its options") from None
    if found is None or len(found) == 0:
        raise WorkbookError("the extractor found no sources in the injected image; check its detection threshold")
    from scipy.spatial import cKDTree

    fx, fy = _col_values(found, "x"), _col_values(found, "y")
    d, j = cKDTree(np.column_stack([fx, fy])).query(np.column_stack([X, Y]), distance_upper_bound=match_pix)
    rec = np.isfinite(d)
    jj = np.where(rec, j, 0)
    mx, my = np.where(rec, fx[jj], np.nan), np.where(rec, fy[jj], np.nan)
    # pixel -> sky axes: use the local CD matrix to express offsets along East and North (mas)
    from astropy.wcs.utils import pixel_to_skycoord

    c_true = pixel_to_skycoord(X, Y, wcs, origin=0)
    c_meas = pixel_to_skycoord(np.where(rec, mx, X), np.where(rec, my, Y), wcs, origin=0)
    dra, ddec = c_true.spherical_offsets_to(c_meas)
    dx_mas = np.where(rec, dra.to_value("mas"), np.nan)
    dy_mas = np.where(rec, ddec.to_value("mas"), np.nan)
    stars = Table({"x_true": X, "y_true": Y, "snr_inj": snr, "flux": flux, "recovered": rec, "x": mx, "y": my,
                   "dx_mas": dx_mas, "dy_mas": dy_mas})
    # the SNR the extractor reports (the catalog's own definition, e.g. aperture SNR), so that the sigma(SNR)
    # model is fitted and applied on one definition (the optimal SNR injected is ~10% higher than aperture SNR)
    stars["snr_meas"] = (np.where(rec, _col_values(found, "snr")[jj], np.nan) if "snr" in found.colnames
                         else np.full(X.size, np.nan))
    if "ra_err" in found.colnames and "dec_err" in found.colnames:
        import astropy.units as u

        ex, ey = _col_values(found, "ra_err", u.mas), _col_values(found, "dec_err", u.mas)
    elif "x_err" in found.colnames and "y_err" in found.colnames:
        ex, ey = _col_values(found, "x_err") * scale_mas, _col_values(found, "y_err") * scale_mas
    else:
        ex = ey = None
    stars["err_x_mas"] = np.where(rec, ex[jj], np.nan) if ex is not None else np.full(X.size, np.nan)
    stars["err_y_mas"] = np.where(rec, ey[jj], np.nan) if ey is not None else np.full(X.size, np.nan)
    # The drizzle floor in the reported errors (a drizzled product's extraction adds it): injected stars
    # are smooth PSFs added to the product, not re-drizzled, so they carry none of the drizzle's phase
    # error and their pulls calibrate only the noise part of the errors (floor taken out in quadrature).
    floor = drizzle_floor_mas(found, scale_mas) if ex is not None else np.zeros(len(found))
    stars["floor_mas"] = np.where(rec, floor[jj], np.nan)
    # the estimator(s) that measured the injected stars: their pulls calibrate those only (a product's
    # extraction never measures the joint fit on the exposures, whose positions replace some of the catalog's)
    has_method = "method" in found.colnames
    fm = np.char.lower(np.asarray(found["method"]).astype(str)) if has_method else None
    stars["method"] = np.where(rec, fm[jj], "") if has_method else np.full(X.size, "")
    n_rec = int(rec.sum())
    if n_rec < 3:
        raise WorkbookError(f"only {n_rec} of {X.size} injected stars were recovered; check the extractor's "
                            "threshold or the PSF")
    ddx, ddy = dx_mas[rec], dy_mas[rec]
    cx, cy = np.median(ddx), np.median(ddy)
    arrays = [np.abs(ddx - cx), np.abs(ddy - cy)]
    qs = [0.5, 0.5]
    have_err = np.isfinite(stars["err_x_mas"][rec]).all() if ex is not None else False
    if have_err:
        fl = np.asarray(stars["floor_mas"])[rec]
        nx_, ny_ = _noise_part(stars["err_x_mas"][rec], fl), _noise_part(stars["err_y_mas"][rec], fl)
        usable = (nx_ > 0) & (ny_ > 0)
        px, py = ddx[usable] / nx_[usable], ddy[usable] / ny_[usable]
        tx = ddx / np.asarray(stars["err_x_mas"])[rec]
        ty = ddy / np.asarray(stars["err_y_mas"])[rec]
        arrays += [np.abs(px - np.median(px)), np.abs(py - np.median(py))]
        qs += [0.5, 0.5]
    point = np.array([np.median(a) for a in arrays]) * MAD_TO_SIGMA
    boot = _bootstrap_order_stats(arrays, qs, n_boot, seed) * MAD_TO_SIGMA
    b1 = np.sqrt(0.5 * (boot[0] ** 2 + boot[1] ** 2))
    rows = []
    edges = np.geomspace(snr_range[0], snr_range[1], 6)
    for lo, hi in zip(edges[:-1], edges[1:]):
        s = rec & (snr >= lo) & (snr < hi)
        rows.append((lo, hi, int(((snr >= lo) & (snr < hi)).sum()), int(s.sum()),
                     float(robust_sigma(dx_mas[s])) if s.sum() > 2 else np.nan,
                     float(robust_sigma(dy_mas[s])) if s.sum() > 2 else np.nan,
                     float(np.nanmedian(stars["err_x_mas"][s])) if s.sum() else np.nan))
    by_snr = Table(rows=rows, names=("snr_lo", "snr_hi", "n_injected", "n_recovered", "sigma_ra", "sigma_dec",
                                     "median_reported_err"))
    out = {"stars": stars, "n_injected": int(X.size), "n_recovered": n_rec, "pixel_scale_mas": scale_mas,
           "bias_mas": (float(cx), float(cy)),
           "sigma": (float(point[0]), float(point[1])), "sigma_ci": (_ci(boot[0]), _ci(boot[1])),
           "sigma_1d": float(math.sqrt(0.5 * (point[0] ** 2 + point[1] ** 2))), "sigma_1d_ci": _ci(b1),
           "pull": None, "pull_ci": None, "by_snr": by_snr, "boot": b1,
           "estimators": sorted(set(fm[jj[rec]].tolist())) if has_method else None}
    if have_err:
        out["pull"] = (float(point[2]), float(point[3]))
        out["pull_ci"] = (_ci(boot[2]), _ci(boot[3]))
        out["pull_boot"] = (boot[2], boot[3])
        # against the whole reported error, floor included (below 1 on a drizzled product where the floor
        # dominates: the injected stars do not carry it)
        out["pull_total"] = (float(robust_sigma(tx)), float(robust_sigma(ty)))
        out["drizzle_floor_mas"] = float(np.median(fl)) if fl.size else 0.0
    return out


def injection_sigma_model(result, n_boot=100, seed=0):
    """Fit sigma(SNR) = sqrt((a / SNR)^2 + b^2) per axis (mas) to injection-recovery offsets.

    Maximum likelihood on the individual recovered stars (offsets ~ N(0, sigma(SNR)^2)), with a
    bootstrap over stars. ``a`` is the photon/background term (~0.6 FWHM for a background-limited
    PSF fit), ``b`` the floor (extraction systematics, pixel-phase errors).

    Parameters
    ----------
    result : dict
        From :func:`injection_recovery`.
    n_boot : int
    seed : int

    Returns
    -------
    model : dict
        ``a``, ``b`` (mas; averaged over axes), ``boot`` (n_boot x 2 array of (a, b)), ``snr_definition``:
        ``"measured"`` when fitted against the SNR the extractor measured for the recovered stars (the
        definition of the catalog's ``snr`` column, which :func:`predicted_catalog_sigma` evaluates it at),
        ``"injected optimal"`` when the extractor reports no SNR (then the prediction is pessimistic by
        the ratio of the two definitions, ~10% for aperture SNR).
    """
    _require_record(result, "result", ("stars",), "injection_recovery")
    n_boot = require_number(n_boot, "n_boot", minimum=0, integer=True, example=100)
    require_number(seed, "seed", minimum=0, integer=True, allow_none=True, example=0)
    from scipy.optimize import minimize

    st = result["stars"]
    rec = np.asarray(st["recovered"], bool)
    meas = np.asarray(st["snr_meas"], float) if "snr_meas" in st.colnames else np.full(len(st), np.nan)
    if np.mean(np.isfinite(meas[rec]) & (meas[rec] > 0)) >= 0.9:
        # one SNR definition: the extractor's, which is what the catalog's 'snr' column holds
        rec &= np.isfinite(meas) & (meas > 0)
        snr, definition = meas[rec], "measured"
    else:
        snr, definition = np.asarray(st["snr_inj"], float)[rec], "injected optimal"
    d = np.concatenate([np.asarray(st["dx_mas"])[rec], np.asarray(st["dy_mas"])[rec]])
    d = d - np.median(d)
    snr2 = np.concatenate([snr, snr])
    clip = np.abs(d) < 5 * MAD_TO_SIGMA * np.median(np.abs(d)) * np.sqrt(1 + (np.median(snr2) / snr2) ** 2)

    def fit(dd, ss):
        def nll(p):
            var = (np.exp(p[0]) / ss) ** 2 + np.exp(p[1]) ** 2
            return 0.5 * np.sum(np.log(var) + dd ** 2 / var)

        s0 = max(float(robust_sigma(dd)), 1e-3)
        best = minimize(nll, [math.log(s0 * float(np.median(ss))), math.log(s0 / 2)], method="Nelder-Mead",
                        options={"xatol": 1e-4, "fatol": 1e-6, "maxiter": 2000})
        return np.exp(best.x)

    dd, ss = d[clip], snr2[clip]
    a, b = fit(dd, ss)
    rng = np.random.default_rng(seed)
    boot = np.array([fit(dd[i], ss[i]) for i in (rng.integers(0, dd.size, dd.size) for _ in range(n_boot))]) \
        if n_boot else np.array([[a, b]])
    return {"a": float(a), "b": float(b), "boot": boot, "snr_definition": definition}


def predicted_catalog_sigma(model, snr, select=None):
    """Scatter a catalog would have under a sigma(SNR) model (:func:`injection_sigma_model`).

    Parameters
    ----------
    model : dict
    snr : array-like
        The catalog's SNRs.
    select : array of bool, optional

    Returns
    -------
    sigma, ci : float, (float, float)
        Gaussian-equivalent 1.4826 x MAD of the mixture over the catalog's sources, mas.
    """
    _require_record(model, "model", ("a", "b"), "injection_sigma_model")
    if isinstance(snr, (str, bytes, dict)) or np.asarray(snr).dtype.kind not in "iuf":
        raise WorkbookError(f"snr = {snr!r:.40} is not an array of numbers; give the catalog's 'snr' column")
    snr = np.asarray(snr, float)
    if select is not None:
        snr = snr[np.asarray(select, bool)]
    snr = snr[np.isfinite(snr) & (snr > 0)]
    if snr.size == 0:
        raise WorkbookError("the catalog has no finite positive 'snr'; it must come from helpers.sources")
    sub = snr if snr.size <= 3000 else np.random.default_rng(0).choice(snr, 3000, replace=False)
    sig = float(_mixture_sigma(np.hypot(model["a"] / sub, model["b"])))
    boot = _mixture_sigma(np.hypot(model["boot"][:, :1] / sub[None, :], model["boot"][:, 1:2]))
    return sig, _ci(boot)
