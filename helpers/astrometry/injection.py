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
    "injection_on_exposures",
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


# --------------------------------------------------------------------------- method 5 for the joint fit
def injection_on_exposures(cat, exposure_paths, product, n_inject=300, snr_range=(10.0, 1000.0), seed=0, n_boot=200,
                           psf=None, workdir=None, refine_kwargs=None):
    """Method 5 for positions from the joint fit on the exposures: PSF stars added to the pixels of the
    member exposures, the joint fit re-run on them, their pulls measured.

    Each star has one sky position, placed on every exposure through that exposure's own WCS (its
    distortion included) plus the chip offset the catalog's joint fit measured from the real stars
    (``cat.meta['exposures']['wcs_offsets_pix']``: the relative misalignment of the members' headers, which
    real stars carry and stars placed by the headers alone would not), as the PSF of
    the instrument and filter (the one method 5 injects into the product, :func:`helpers.astrometry.injection_psf`,
    at the detector's pixel scale) with the photon noise of the
    file's own gain (variance per unit of signal, read from its ERR/VAR planes as the fit reads it). The
    pixels are the files' own: nothing is re-rendered. The joint fit (:func:`helpers.sources.refine_on_exposures`,
    the ePSF built from the catalog's real stars: injected ones are given SNR 0 so they do not enter it) is run
    on copies of the exposures with the injected stars added to the catalog, started 0.1 px from their truth;
    pulls are (fitted - true) / reported error per product-pixel axis.

    Parameters
    ----------
    cat : `~astropy.table.Table`
        The product's catalog as notebook 02 refined it (``method``, ``x``, ``y`` in product pixels, meta
        ``exposures``).
    exposure_paths : sequence of str or `~pathlib.Path`
        The flt/flc/cal members the catalog was refined on.
    product : str or `~pathlib.Path`
        The drizzled product (its WCS defines ``x, y``).
    n_inject : int
    snr_range : (float, float)
        Total SNR over the exposures (log-uniform); each exposure gets ``snr / sqrt(n_exposures)`` against its
        own sky noise.
    seed : int
    n_boot : int
    psf : photutils PSF model, optional
        Detector-sampled PSF to inject instead of the default (:func:`helpers.astrometry.injection_psf` at the
        detector's scale).
    workdir : str or `~pathlib.Path`, optional
        Where the injected copies are written (default a temporary directory, removed after).
    refine_kwargs : dict, optional
        Passed to :func:`helpers.sources.refine_on_exposures`.

    Returns
    -------
    result : dict
        As :func:`injection_recovery`'s where it applies: ``stars`` (``x_true, y_true, snr_inj, recovered,
        x, y, err_x_pix, err_y_pix``), ``n_injected``, ``n_recovered``, ``pull`` (per product-pixel axis; 1 =
        calibrated) with ``pull_ci`` and ``pull_boot``, ``estimators`` (``["exposures"]``), ``psf``
        (description), ``seconds``.

    Raises
    ------
    WorkbookError
        Too few free positions, no PSF for the instrument, or fewer than 10 injected stars fitted.
    """
    import tempfile
    import time
    from pathlib import Path

    from astropy.io import fits
    from astropy.table import vstack

    from ..sources.exposures import _chips, _product_wcs, read_exposure, refine_on_exposures

    t0 = time.perf_counter()
    _require_table(cat, "cat", ("x", "y", "method", "kind", "flux", "snr", "flags", "x_err", "y_err"))
    n_inject = require_number(n_inject, "n_inject", minimum=10, integer=True, example=300)
    n_boot = require_number(n_boot, "n_boot", minimum=0, integer=True, example=200)
    if isinstance(exposure_paths, (str, bytes, Path)) or len(exposure_paths) < 2:
        raise WorkbookError("exposure_paths must list the 2 or more flt/flc/cal files the catalog was refined on")
    meta = cat.meta
    expect = {"instrument": meta.get("instrument"), "filter": meta.get("filter")}
    exposures = [read_exposure(p, expect) for p in exposure_paths]
    product_wcs = _product_wcs(product)
    scale = float(np.median([c["scale"] for e in exposures for c in e["chips"]]))
    if psf is None:
        # the PSF method 5 injects into the product (helpers.astrometry.injection_psf), at the detector's sampling
        from .method5 import injection_psf

        psf, what = injection_psf({"instrument": exposures[0]["instrument"], "filter": exposures[0]["filter"],
                                   "pixel_scale": scale, "fwhm_pix": float(meta.get("fwhm_pix") or 2.0)
                                   * float(meta.get("pixel_scale") or scale) / scale})
        what += f" at the detector's {scale:.4f}\"/px"
    else:
        what = str(getattr(psf, "meta", {}).get("model", "supplied PSF"))
    offsets = (meta.get("exposures") or {}).get("wcs_offsets_pix")
    n_chips = sum(len(e["chips"]) for e in exposures)
    shifts = np.asarray(offsets, float) if offsets and len(offsets) == n_chips else np.zeros((n_chips, 2))
    # positions: a jittered grid in the product's frame, clear of every catalogued source and of the edges
    rng = np.random.default_rng(seed)
    nx, ny = (int(v) for v in product_wcs.pixel_shape) if product_wcs.pixel_shape else (None, None)
    if nx is None:
        raise WorkbookError("the product's WCS has no image size (NAXIS1/2); give the product file")
    product_scale = float(meta.get("pixel_scale") or scale)
    fwhm = float(meta.get("fwhm_pix") or 2.0)
    avoid, edge = 5.0 * fwhm, 30.0
    spacing = 2.0 * avoid
    gx, gy = np.meshgrid(np.arange(edge, nx - edge, spacing), np.arange(edge, ny - edge, spacing))
    X = gx.ravel() + rng.uniform(-0.25, 0.25, gx.size) * spacing
    Y = gy.ravel() + rng.uniform(-0.25, 0.25, gy.size) * spacing
    from scipy.spatial import cKDTree

    d, _ = cKDTree(np.column_stack([_col_values(cat, "x"), _col_values(cat, "y")])).query(np.column_stack([X, Y]))
    ra, dec = product_wcs.all_pix2world(X, Y, 0)
    # on >= 2 exposures, well inside a chip (the fit's stamps) and on good pixels
    half = int(max(6, math.ceil(4 * fwhm * product_scale / scale))) + 4
    seen = np.zeros(X.size, int)
    placed = []  # per chip: (exposure, chip index in file, xd, yd)
    for e, exp in enumerate(exposures):
        on = np.zeros(X.size, bool)
        for c, chip in enumerate(exp["chips"]):
            xd, yd = chip["wcs"].all_world2pix(ra, dec, 0, tolerance=1e-8, maxiter=50, quiet=True)
            k = sum(len(x["chips"]) for x in exposures[:e]) + c
            xd, yd = xd + shifts[k, 0], yd + shifts[k, 1]
            cny, cnx = chip["data"].shape
            inside = np.isfinite(xd) & (xd > half) & (yd > half) & (xd < cnx - 1 - half) & (yd < cny - 1 - half)
            ix, iy = np.clip(np.rint(xd).astype(int), 0, cnx - 1), np.clip(np.rint(yd).astype(int), 0, cny - 1)
            inside &= ~chip["bad"][iy, ix]
            on |= inside
            placed.append((e, c, xd, yd, inside))
        seen += on
    keep = (d > avoid) & (seen >= 2)
    if keep.sum() < 10:
        raise WorkbookError(f"only {int(keep.sum())} free positions on 2 or more exposures to inject stars; the "
                            "field is too crowded or the exposures overlap too little")
    chosen = np.flatnonzero(keep)
    if chosen.size > n_inject:
        chosen = np.sort(rng.choice(chosen, n_inject, replace=False))
    n = chosen.size
    snr = np.exp(rng.uniform(math.log(snr_range[0]), math.log(snr_range[1]), n))
    # the PSF's sum(P^2) at detector sampling: the optimal per-exposure SNR of a star of unit flux
    stamp_half = 12
    m = psf.copy()
    yy, xx = np.mgrid[-stamp_half:stamp_half + 1, -stamp_half:stamp_half + 1].astype(float)
    m.x_0, m.y_0, m.flux = 0.0, 0.0, 1.0
    sum_p2 = float(np.sum(m(xx, yy) ** 2))
    noise_rng = np.random.default_rng(seed + 1)
    tmp = tempfile.TemporaryDirectory(prefix="injection_exposures_") if workdir is None else None
    out_dir = Path(tmp.name if tmp is not None else workdir)
    try:
        paths = []
        k = 0
        for e, (path, exp) in enumerate(zip(exposure_paths, exposures)):
            path = Path(path)
            with fits.open(path) as hdul:
                hdul = fits.HDUList([h.copy() for h in hdul])
            sci_hdus = [h for h, *_ in _chips(hdul, path)]
            for c, (chip, sci) in enumerate(zip(exp["chips"], sci_hdus)):
                _, _, xd, yd, inside = placed[k]
                k += 1
                sel = chosen[inside[chosen]]
                if not sel.size:
                    continue
                data = np.asarray(sci.data, dtype=np.float64).copy()
                cny, cnx = data.shape
                good = ~chip["bad"]
                sky_sigma = float(np.sqrt(np.median(chip["var"][good])))
                for i in sel:
                    j = int(np.searchsorted(chosen, i))
                    flux = snr[j] / math.sqrt(seen[i]) * sky_sigma / math.sqrt(sum_p2)
                    ix, iy = int(round(xd[i])), int(round(yd[i]))
                    ys = slice(max(iy - stamp_half, 0), min(iy + stamp_half + 1, cny))
                    xs = slice(max(ix - stamp_half, 0), min(ix + stamp_half + 1, cnx))
                    gy_, gx_ = np.mgrid[ys, xs].astype(float)
                    m.x_0, m.y_0, m.flux = xd[i], yd[i], flux
                    model = m(gx_, gy_)
                    # the star's photon noise at the file's own gain (variance per unit signal); the ERR plane
                    # is left as it is: the fit takes the sky's variance from it and the star's from its model
                    data[ys, xs] += model + noise_rng.normal(0.0, 1.0, model.shape) * np.sqrt(
                        np.clip(model, 0.0, None) * chip["gain"])
                sci.data = data.astype(sci.data.dtype)
            target = out_dir / path.name
            hdul.writeto(target, overwrite=True, checksum=True)  # the headers' CHECKSUM/DATASUM made true again
            paths.append(target)
        # the catalog with the injected stars: point sources, SNR 0 (out of the ePSF, which the real stars build),
        # a product error of 1 px (the joint fit always replaces it), started 0.1 px from the truth
        template = cat[np.flatnonzero(np.asarray(cat["kind"]).astype(str) == "point")[:1]]
        if not len(template):
            raise WorkbookError("the catalog has no point source to take the injected stars' columns from")
        added = vstack([template] * n, metadata_conflicts="silent")
        x_true, y_true = X[chosen], Y[chosen]
        added["x"] = x_true + rng.normal(0.0, 0.1, n)
        added["y"] = y_true + rng.normal(0.0, 0.1, n)
        ra_s, dec_s = product_wcs.all_pix2world(np.asarray(added["x"]), np.asarray(added["y"]), 0)
        added["ra"], added["dec"] = ra_s, dec_s
        added["x_err"], added["y_err"] = 1.0, 1.0
        added["ra_err"], added["dec_err"] = product_scale * 1000.0, product_scale * 1000.0
        added["snr"], added["flags"] = 0.0, 0
        added["flux"] = float(np.median(np.abs(np.asarray(cat["flux"], float)[np.asarray(cat["kind"]).astype(str)
                                                                              == "point"])))
        added["method"] = "injected"
        base = cat.copy(copy_data=True)
        for col in [c for c in base.colnames if c not in added.colnames]:
            base.remove_column(col)
        aug = vstack([base, added[base.colnames]], metadata_conflicts="silent")
        aug.meta = dict(cat.meta)
        refined = refine_on_exposures(aug, paths, product, **(refine_kwargs or {}))
    finally:
        if tmp is not None:
            tmp.cleanup()
    rows = np.arange(len(base), len(aug))
    fx, fy = np.asarray(refined["x_exp"], float)[rows], np.asarray(refined["y_exp"], float)[rows]
    ex, ey = np.asarray(refined["x_exp_err"], float)[rows], np.asarray(refined["y_exp_err"], float)[rows]
    rec = np.isfinite(fx) & np.isfinite(fy) & (ex > 0) & (ey > 0) & (np.hypot(fx - x_true, fy - y_true) < 1.0)
    from astropy.table import Table

    stars = Table({"x_true": x_true, "y_true": y_true, "snr_inj": snr, "recovered": rec, "x": fx, "y": fy,
                   "err_x_pix": ex, "err_y_pix": ey, "n_exposures": np.asarray(refined["n_exposures"])[rows]})
    n_rec = int(rec.sum())
    if n_rec < 10:
        raise WorkbookError(f"only {n_rec} of {n} stars injected into the exposures were fitted; check the "
                            "exposures and the PSF")
    # the joint fit holds the mean of the exposures' frames: its common offset from the product's is not scatter
    dx, dy = (fx - x_true)[rec], (fy - y_true)[rec]
    px, py = dx / ex[rec], dy / ey[rec]
    arrays = [np.abs(px - np.median(px)), np.abs(py - np.median(py))]
    point = np.array([np.median(a) for a in arrays]) * MAD_TO_SIGMA
    boot = _bootstrap_order_stats(arrays, [0.5, 0.5], n_boot, seed) * MAD_TO_SIGMA
    return {"stars": stars, "n_injected": n, "n_recovered": n_rec, "pull": (float(point[0]), float(point[1])),
            "pull_ci": (_ci(boot[0]), _ci(boot[1])), "pull_boot": (boot[0], boot[1]), "estimators": ["exposures"],
            "psf": what, "offset_pix": (float(np.median(dx)), float(np.median(dy))),
            "seconds": time.perf_counter() - t0}
