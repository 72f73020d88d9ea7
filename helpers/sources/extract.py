"""Source extraction with calibrated per-source position errors (notebook 02).

The catalog this module writes is the input of every later step, so its positions *and* their
1σ errors have to be right. Two estimators are used:

* **Windowed centroid** (the fast path, every source). SExtractor's ``XWIN/YWIN``: the
  centroid of the pixels weighted by a circular Gaussian window of σ_w = 2·r50/2.35
  (r50 = half-light radius), iterated until the window is centred on the centroid
  (Bertin & Arnouts 1996; SExtractor manual, "Windowed positional parameters"). Computed with
  `sep` (Barbary 2016, JOSS 1, 58), the C library of SExtractor's algorithms. Its error is the
  linear propagation of the per-pixel variance through the converged centroid equation
  ``G(x̄) = Σ w_i(x̄) I_i (x_i − x̄) = 0``:
  ``δx̄ = J⁻¹ Σ w_i (x_i − x̄) δI_i`` with the 2×2 Jacobian
  ``J = Σ w_i I_i [1 − (x_i − x̄)²/σ_w², ...]``. For a Gaussian source and matched window
  J = ½ Σ w I, which is SExtractor's ``ERRX2WIN = 4 Σ w² σ² (x − x̄)² / (Σ w I)²``; the
  Jacobian form also holds for unmatched windows. Two systematic terms are added in quadrature,
  both measured rather than assumed: a small fixed floor (``WINDOWED_FLOOR_FWHM`` × FWHM) and,
  when PSF fits are available, the image's own sub-pixel-phase bias of windowed centroids on its
  undersampled PSF, measured from windowed − PSF-fit differences of bright stars
  (``meta['windowed_floor_pix']``; ~0.01–0.02 px at FWHM 1.7 px, where the windowed centroid alone
  is 2–10× the Cramér–Rao bound at SNR > 60). Faint sources get a window at least 0.6× a point
  source's, so that a noise-shrunken half-light radius cannot make the window meaninglessly small.
* **PSF fit** (the full path, point-like sources). A vectorised weighted Gauss–Newton fit of
  (x, y, flux, local background) on a small stamp around every point source at once, with the
  PSF as a cubic spline of an oversampled pixel-response model: a supplied
  `photutils.psf.ImagePSF` (e.g. the true PSF of a simulation) or an **empirical PSF (ePSF)**
  built from the image's own bright, isolated, unsaturated stars (`build_epsf`, in the spirit of
  Anderson & King 2000, PASP 112, 1360; oversampling 4, or 2 for FWHM >= 2 px with fewer than 128
  stars, see ``epsf._epsf_oversampling``). In a single image the ePSF's shape and
  the stars' sub-pixel positions are degenerate: a model built on windowed centroids inherits
  their phase bias. The ePSF is therefore anchored on tapered centres of mass, which are free of
  phase bias for PSFs band-limited below 1 cycle/pixel (HST and JWST at drizzled scales). The
  ePSF's own position error is added in quadrature to ePSF-fit errors in two parts: one
  cross-validated per image by refitting bright stars with two ePSFs built from disjoint halves of
  the stars (``meta['epsf_error_pix']`` = rms(x_A − x_B)/2, measured on the image's own, correlated,
  noise; a parametric bootstrap with white noise read half the truth's error on drizzled products),
  and the construction's systematic floor ``EPSF_FLOOR_FWHM`` × FWHM (a phase-dependent
  construction error shared by both halves, so no resampling of one image can see it; measured on
  undersampled simulations, where without it bright-star pulls were 1.15–1.45 at FWHM 1.6–1.7 px).
  On a drizzled product, what windowed − PSF-fit differences show beyond those and the windowed
  centroids' re-drizzled forward model is added to the ePSF's error (``epsf._attribute_excess``).
  The PSF fit of every fitted point source is kept in ``x_psf, y_psf, x_psf_err, y_psf_err``
  whichever estimator gave ``x, y``. photutils' ``EPSFBuilder`` was tried
  first: ~10 s for 60 stars and 5× the bound at SNR 300 on the HST-like simulations (its
  smoothing and recentring leave pixel-phase errors).
  Pixels are weighted by 1/variance; the variance is the ``ERR`` array squared when given (it
  includes the source's Poisson noise, as HST and JWST pipelines' ``ERR`` arrays do), otherwise
  the background variance (``1/WHT`` or the background RMS) plus the model's Poisson term
  (``model/gain``, times the drizzled per-pixel variance ratio measured on the sky,
  ``noise.resampled_variance_ratio``) when ``gain`` is known. Neighbours' fitted models are subtracted and the fit is
  repeated. The 1σ errors are the square roots of the diagonal of the inverse Fisher matrix
  (the covariance of the maximum-likelihood estimate, which reaches the Cramér–Rao bound), scaled
  by √χ²_ν only when the fit is significantly worse than the noise. A source keeps the PSF-fit
  position only where its error is smaller than the windowed one (``method`` says which).
* **Drizzled products**: each output pixel is the weighted mean of the drops that overlap it, so the
  drizzled image of a star depends on its phases on the input grids, which one mean PSF cannot follow.
  That position error is measured per product by `helpers.sources.redrizzle` (the instrument's PSF
  re-drizzled by ``drizzle`` with the product's ``D00n*`` / ``PIXFRAC`` keywords and measured by the
  same estimators) and added in quadrature to both estimators' errors, after the noise correlation
  (``meta['drizzle_floor']``; ~0.003 px at pixfrac 1, ~0.02 px at 0.8-0.6 with aligned grids). The
  ePSF of a drizzled product is built on a 2x grid (``epsf._epsf_oversampling``).

Calibration is checked with pulls on simulations (``tests/test_sources.py``,
``benchmarks/bench_sources.py``): std 0.9–1.1 per SNR bin for isolated, unflagged point sources.

Pixel convention: 0-based, the centre of the first pixel is (0, 0) (astropy/photutils); the
sky position is ``wcs.pixel_to_world_values(x, y)`` (all distortion terms included).

Large images are processed in overlapping tiles (``tile_size`` core + ``tile_overlap`` margin on
each side); a source belongs to the tile whose core contains its detection centre, so the tiles'
catalogs join without duplicates or losses. Images above ``auto_tile_pixels`` are tiled even when
no tiling was asked for, and FITS files are read tile by tile (``ImageHDU.section``), so memory
stays bounded by the tile size.
"""

import time
import warnings
from pathlib import Path

import numpy as np

from ..errors import WorkbookError
from .background import poisson_depth_reference
from .catalog import SourceExtractionWarning, _assemble
from .images import _DQMask, _Image, _SectionArray, read_image
from .psf import _crb_coef, psf_fwhm
from .redrizzle import drizzle_parameters
from .tiles import _plan_tiles, _process_tile


def _check_wcs(wcs):
    from astropy.wcs import WCS

    if wcs is None or not isinstance(wcs, WCS) and not hasattr(wcs, "pixel_to_world_values"):
        raise WorkbookError("the image has no WCS; give an astropy WCS with celestial (RA/Dec) axes "
                            "(drizzled drz/drc/i2d products carry one)")
    celestial = getattr(wcs, "has_celestial", None)
    if celestial is False or (isinstance(wcs, WCS) and wcs.naxis < 2):
        raise WorkbookError("the image WCS has no celestial (RA/Dec) axes; use a drizzled product whose "
                            "SCI header has CTYPE RA---TAN/DEC--TAN")


def extract_sources(image, wcs, error=None, mask=None, *, weight=None, threshold=4.0, minarea=5,
                    deblend_nthresh=32, deblend_cont=0.005, back_size=64, back_filter_size=3, psf=None,
                    use_psf_fit=True, fwhm=None, gain=None, gain_reference_weight=None, saturation=None,
                    psf_radius=None,
                    psf_iterations=6, neighbour_passes=1, extended_size_ratio=1.35, extended_chi2=5.0,
                    epsf_min_snr=30.0, epsf_max_stars=200, tile_size=None, tile_overlap=None,
                    auto_tile_pixels=6144**2, progress=None, meta=None):
    """Detect sources and measure positions with calibrated per-source 1σ errors.

    Background: `sep.Background` (SExtractor's mesh, ``back_size`` px, median-filtered over
    ``back_filter_size`` meshes; 64 px suits drizzled HST/JWST data). Detection: matched-filter
    thresholding at ``threshold`` × the per-pixel noise with multi-threshold deblending
    (`sep.extract`, no cleaning). Positions: windowed centroids for every source, then a PSF fit
    for point-like sources (see the module docstring for both error models).

    Parameters
    ----------
    image : 2-D array
        Science array (any units); NaN pixels are ignored.
    wcs : `~astropy.wcs.WCS`
        Celestial WCS of ``image`` (distortion included when present).
    error : 2-D array, optional
        1σ total error per pixel (HST/JWST ``ERR``), same units as ``image``; pixels with
        ``error <= 0`` are ignored.
    mask : 2-D bool array, optional
        True for pixels to ignore (flag 8 for sources touching them).
    weight : 2-D array, optional
        Inverse-variance weight map (``WHT``); zero-weight pixels are outside the footprint.
        Gives the detection noise ``1/sqrt(WHT)``.
    threshold : float
        Detection threshold in σ of the matched-filtered image (the 3x3 SExtractor kernel applied
        to the image in units of its per-pixel noise 1/sqrt(WHT), ERR, or the background RMS).
    minarea : int
        Minimum number of connected pixels above threshold.
    deblend_nthresh, deblend_cont : int, float
        SExtractor deblending parameters.
    back_size, back_filter_size : int
        Background mesh (pixels) and median filter (meshes).
    psf : `photutils.psf.ImagePSF`, optional
        PSF model for the fits (pixel-integrated, oversampled). Default: an ePSF built from the
        image's own stars (`build_epsf`).
    use_psf_fit : bool
        Refine point-like sources with the PSF fit (the full path); False gives the fast path.
        Without PSF fits the image's own windowed-centroid phase bias cannot be measured, so the
        windowed errors carry only the fixed floor: fine for FWHM ≳ 2 px, but on more undersampled
        images (FWHM ~1.7 px) bright sources' errors are then underestimated — use the full path
        for calibrated errors.
    fwhm : float, optional
        Image FWHM (pixels); default from ``psf`` or measured on the stellar locus.
    gain : float, optional
        Image units → counts (e.g. EXPTIME for e-/s) for the Poisson term when ``error`` is absent.
    gain_reference_weight : float, optional
        With ``weight``: the WHT at which ``gain`` holds; each pixel's gain is then
        ``gain × weight / gain_reference_weight`` (a drizzled product's local depth: a mosaic's
        1-exposure zone has a quarter of the gain of its 4-exposure zone). `extract_sources_fits` sets it
        from the WHT (`helpers.sources.background.poisson_depth_reference`).
    saturation : float, optional
        Saturation level in image units (flat-topped cores are found without it).
    psf_radius : int, optional
        Half-size of the PSF-fit stamp (pixels); default ceil(2.5 FWHM), at least 4.
    psf_iterations, neighbour_passes : int
        Gauss–Newton iterations; refits with neighbours' models subtracted.
    extended_size_ratio, extended_chi2 : float
        A source is extended when 2·r50 > ratio × FWHM, or the PSF fit's χ²_ν exceeds
        ``extended_chi2``.
    epsf_min_snr, epsf_max_stars : float, int
        Stars for the ePSF: SNR above this, at most this many (brightest first).
    tile_size : int, optional
        Core size of the tiles (pixels); default untiled unless the image has more than
        ``auto_tile_pixels`` pixels, then 4096.
    tile_overlap : int, optional
        Margin on each side of a tile core (pixels); default max(64, 12 FWHM, 2·back_size).
    auto_tile_pixels : int
        Images larger than this are tiled automatically.
    progress : bool or None
        tqdm progress bar per tile (None: only on a terminal).
    meta : dict, optional
        Added to the table's ``meta`` (``image, epoch, instrument, filter, pixel_scale, wcsname``).

    Returns
    -------
    catalog : `~astropy.table.Table`
        One row per source with the schema of ``docs/DEVELOPING.md``: ``id`` (1-based), ``x, y``
        (pix, 0-based), ``x_err, y_err`` (pix, 1σ), ``ra, dec`` (deg), ``ra_err, dec_err`` (mas,
        along RA·cos Dec and Dec), ``flux, flux_err`` (image units: PSF flux for method ``psf``,
        else circular aperture of radius max(2.5 r50, 1.5 FWHM)), ``snr`` (flux/flux_err),
        ``fwhm`` (pix, 2·r50, equal to the FWHM for a Gaussian), ``kind`` (``point``/``extended``),
        ``flags`` (1 saturated, 2 edge / zero-weight within 1.5 FWHM, 4 neighbour within 1.5 FWHM or
        deblended with one within 3 FWHM, 8 masked pixels within 1.5 FWHM, 16 PSF fit failed, 32 cosmic
        ray, 64 blend offset: windowed and PSF-fit positions disagree, errors include the difference),
        ``method`` (``psf``/``windowed``). Extra columns: ``xy_cov`` (pix², x–y covariance),
        ``x_win, y_win, x_win_err, y_win_err`` (windowed centroid and its error, pix),
        ``flux_aper, flux_aper_err``, ``r50`` (pix), ``npix``, ``peak``, ``chi2nu`` (PSF fit),
        ``nn_dist`` (pix, nearest other detection), ``x_psf, y_psf, x_psf_err, y_psf_err`` (pix: the
        PSF fit of every fitted point-like source, with its calibrated error, whichever estimator gave
        ``x, y``; NaN where there was none). ``meta`` has ``fwhm_pix`` (the same on the fast
        and the full path) and ``fwhm_source``, ``n_tiles``, ``psf_model``, ``psf_source`` (``epsf``,
        ``library`` (drizzlepac), ``model`` (instrument), ``supplied``, ``none``), ``noise_planes``,
        ``chi2_trend``, ``noise_poisson_variance_ratio``, ``pixel_convention``, ``timing_s`` and what ``meta`` gave (its ``instrument``,
        ``filter``, ``pixel_scale``, ``image_frame``, ``pixfrac`` choose the library PSF when the image has
        fewer than 30 bright isolated stars; see `helpers.sources.library`).

    Raises
    ------
    WorkbookError
        Non-2-D data, no celestial WCS, mismatched shapes, all-NaN/all-zero image, zero weight map.

    Warns
    -----
    SourceExtractionWarning
        No source above the threshold (an empty catalog is returned).

    Examples
    --------
    >>> from helpers import simulate
    >>> truth = simulate.make_truth(size_arcsec=20, n_stars=20, n_galaxies=0, n_pairs=0, n_saturated=0,
    ...                             star_snr=(30, 100), seed=1)
    >>> img = simulate.make_image(truth, simulate.ImageSpec(shape=(400, 400), seed=1))
    >>> cat = extract_sources(img.data, img.wcs, error=img.error, weight=img.weight, psf=img.psf)
    >>> len(cat) >= 15
    True
    """
    for name, value in (("gain", gain), ("gain_reference_weight", gain_reference_weight)):
        if value is not None and not (isinstance(value, (int, float, np.floating, np.integer))
                                      and not isinstance(value, bool) and np.isfinite(value) and value > 0):
            raise WorkbookError(f"{name} = {value!r:.30} must be a positive number (e.g. EXPTIME in s for an "
                                "image in e-/s) or None")
    reader = _as_reader(image, error, weight, mask)
    meta = dict(meta or {})
    meta.setdefault("noise_planes", "ERR" if error is not None else ("WHT" if weight is not None else "none"))
    return _extract(reader, wcs, locals(), meta)


def _as_reader(image, error, weight, mask):
    if image is None or not hasattr(image, "shape"):
        raise WorkbookError("image must be a 2-D array (the SCI data); got "
                            f"{type(image).__name__}")
    if len(image.shape) != 2:
        raise WorkbookError(f"image must be 2-D, got shape {tuple(image.shape)}; pass one science plane (SCI)")
    if not isinstance(image, _SectionArray) and np.asarray(image).dtype.kind not in "biuf":
        raise WorkbookError(f"image holds {np.asarray(image).dtype} values, not numbers; pass the SCI pixel array")
    for name, arr in (("error", error), ("weight", weight), ("mask", mask)):
        if arr is not None and not hasattr(arr, "shape"):
            raise WorkbookError(f"{name} is a {type(arr).__name__}, not an array; pass the {name} plane "
                                "with the image's shape, or None")
        if arr is not None and tuple(arr.shape) != tuple(image.shape):
            raise WorkbookError(f"{name} has shape {tuple(arr.shape)} but the image is {tuple(image.shape)}; "
                                "pass the matching ERR/WHT/mask plane")
    if weight is not None and not isinstance(weight, _SectionArray):
        if not np.any(np.asarray(weight) > 0):
            raise WorkbookError("the weight map is zero everywhere (no valid pixels); check the WHT extension "
                                "or pass weight=None")
    return _Image(image, error, weight, mask)


def _extract(reader, wcs, opts_in, meta):
    from tqdm.auto import tqdm

    t_start = time.perf_counter()
    _check_wcs(wcs)
    opts = {k: opts_in[k] for k in ("threshold", "minarea", "deblend_nthresh", "deblend_cont", "back_size",
                                    "back_filter_size", "psf", "use_psf_fit", "gain", "gain_reference_weight", "saturation", "psf_radius",
                                    "psf_iterations", "neighbour_passes", "extended_size_ratio", "extended_chi2",
                                    "epsf_min_snr", "epsf_max_stars")}
    if not (isinstance(opts["threshold"], (int, float)) and opts["threshold"] > 0):
        raise WorkbookError(f"threshold = {opts['threshold']!r} must be a positive number of sigma, e.g. 3")
    ny, nx = reader.shape
    if ny < 16 or nx < 16:
        raise WorkbookError(f"image is only {nx}x{ny} pixels; source extraction needs at least 16x16")
    psf = opts["psf"]
    state = {"n_valid": 0, "fwhm": opts_in.get("fwhm"), "prf": None, "psf_used": psf,
             "psf_fwhm": psf_fwhm(psf) if psf is not None else None, "image_meta": dict(meta or {}),
             "fwhm_source": "given" if opts_in.get("fwhm") else ("supplied PSF" if psf is not None else None)}
    if state["fwhm"] is None and psf is not None:
        state["fwhm"] = state["psf_fwhm"]
    tile_size = opts_in.get("tile_size")
    if tile_size is None and ny * nx > opts_in["auto_tile_pixels"]:
        tile_size = 4096
    fwhm_for_overlap = state["fwhm"] or 3.0
    overlap = opts_in.get("tile_overlap")
    if overlap is None:
        overlap = int(max(64, 12 * fwhm_for_overlap, 2 * opts["back_size"]))
    if tile_size is None:
        tiles = [(((0, ny), (0, nx)), ((0, ny), (0, nx)))]
    else:
        tile_size = int(tile_size)
        if tile_size < 64:
            raise WorkbookError(f"tile_size = {tile_size} is too small; use >= 512 (default 4096)")
        tiles = _plan_tiles((ny, nx), tile_size, int(overlap))
    parts = []
    progress = opts_in.get("progress")
    bar = tqdm(tiles, desc="tiles", disable=True if progress is False else (None if progress is None else False),
               leave=False) if len(tiles) > 1 else tiles
    for region, core in bar:
        part = _process_tile(reader, region, core, opts, state)
        if part is not None and len(part["x"]):
            parts.append(part)
    if state["n_valid"] == 0:
        raise WorkbookError("the image has no valid pixels (all NaN, all zero or constant, or zero weight); "
                            "check that you opened the science extension of the right file")
    cat = _assemble(parts, wcs)
    cat.meta.update(meta or {})
    cat.meta.update({
        "fwhm_pix": float(state["fwhm"]) if state["fwhm"] else None,
        "n_tiles": len(tiles),
        "tile_size": tile_size,
        "tile_overlap": int(overlap) if tile_size else None,
        "psf_model": _psf_description(state, opts),
        "psf_source": _psf_source(state, opts),
        "fwhm_source": state.get("fwhm_source") or "stellar locus 2·r50 / 1.35 (too few stars to measure)",
        "pixel_convention": "0-based; the centre of the first pixel is (0, 0) (astropy/photutils)",
        "threshold_sigma": float(opts["threshold"]),
        "windowed_floor_pix": float(np.max(state.get("win_floor_pix", [0.0]) or [0.0])),
        "epsf_error_pix": state.get("epsf_error_pix"),
        # windowed positions put on the PSF fits' frame (the windowed centroid of an asymmetric PSF
        # sits off the model's centre; x_win/y_win keep the raw windowed centroids)
        "windowed_offset_pix": state.get("windowed_offset_pix"),
        # the drizzle's own position error added to each estimator's (helpers.sources.redrizzle)
        "drizzle_floor": state.get("drizzle_floor"),
        "crb_coef": _crb_coef(state["prf"]) if state.get("prf") is not None else None,
        "chi2_trend": state.get("chi2_trend"),
        "timing_s": {"total": round(time.perf_counter() - t_start, 3), "psf_fit": round(state.get("t_psf", 0.0), 3)},
        "flags": "1 saturated, 2 edge, 4 neighbour within 1.5 FWHM, 8 masked, 16 PSF fit failed, "
                 "32 cosmic ray (kind 'artifact'), 64 blend offset (windowed and PSF-fit positions disagree; "
                 "errors include the difference)",
        "cosmic_rays": {"n_rejected": int(np.sum(np.asarray(cat["kind"]) == "artifact")) if len(cat) else 0,
                        "locus": state.get("cr_locus"),
                        "method": "sharper than the image's stellar locus (peak/3x3, minor-axis width; "
                                  "helpers.sources.cosmics)"},
    })
    sky = state.get("sky_noise")
    if sky and not sky["correlation"] and sky.get("crowded_fraction", 0) > 0.5:
        warnings.warn(f"sources cover {sky['crowded_fraction']:.0%} of the pixels: the sky noise cannot be measured; "
                      "the errors take the noise as ERR/WHT/background rms claim it, with no correlation, plus each "
                      "source's local confusion noise (windowed centroids: the light no detected source "
                      "explains, the detected neighbours' drag and the window's pixel-phase bias, "
                      "helpers.sources.confusion); detection "
                      f"is above {opts['threshold']:g}x the confusion noise ({sky.get('confusion_scale', 1.0):.1f}x the "
                      "pixel noise)", SourceExtractionWarning, stacklevel=3)
        cat.meta["confusion_scale"] = float(sky.get("confusion_scale", 1.0))
        cat.meta["noise_measurement"] = f"not measured: {sky['crowded_fraction']:.0%} of the pixels in sources"
        if state.get("crowding_sigma_median") is not None:
            cat.meta["crowding_sigma_median"] = state["crowding_sigma_median"]
            cat.meta["crowding_correlation_factor"] = state.get("crowding_correlation_factor", 1.0)
            cat.meta["crowding_drag_median_pix"] = state.get("crowding_drag_median_pix")
            cat.meta["crowding_phase_median_pix"] = state.get("crowding_phase_median_pix")
    # compact sources whose window a neighbour had widened, centroided in a star's window (tiles)
    cat.meta["windowed_narrowed"] = int(state.get("n_narrowed_windows", 0))
    if sky:
        # what the sky showed (first tile): σ relative to the claimed ERR/WHT/rms and its correlation
        cat.meta.update({
            "noise_pixel_scale": sky["pixel_scale"], "noise_scale_applied": bool(sky["scale_applied"]),
            "noise_correlation": {f"{k}x{k}": round(v, 3) for k, v in sky["correlation"].items()},
            "noise_correlation_factor": float(sky["correlation_factor"]),
            # the Poisson term model/gain scaled by the drizzled per-pixel variance ratio (no ERR plane)
            "noise_poisson_variance_ratio": sky.get("poisson_variance_ratio"),
        })
    if len(cat) == 0:
        warnings.warn(f"no sources above {opts['threshold']:g} sigma; the catalog is empty "
                      "(lower threshold or check the image)", SourceExtractionWarning, stacklevel=3)
    return cat


def _psf_source(state, opts):
    """Where the fits' PSF came from: supplied, epsf, library (drizzlepac), model (instrument), none."""
    if not opts["use_psf_fit"]:
        return "none"
    if opts["psf"] is not None:
        return "supplied"
    return state.get("psf_source") or "none"


def _psf_description(state, opts):
    if not opts["use_psf_fit"]:
        return "none (windowed centroids only)"
    used = state.get("psf_used")
    if used is None:
        return "none (no PSF available: windowed centroids)"
    if opts["psf"] is not None:
        return "supplied: " + str(getattr(used, "meta", {}).get("model", type(used).__name__))
    return used.meta.get("model", "ePSF")


def extract_sources_fits(path, *, mask=None, progress=None, meta=None, **options):
    """`extract_sources` on a FITS file (HST drz/drc, JWST i2d), read tile by tile.

    The SCI, ERR and WHT extensions are found by name (a file with only a primary image works
    too); the metadata (``image, epoch, instrument, filter, pixel_scale, wcsname``) comes from the
    headers and is overridden by ``meta``. For HST products in ELECTRONS/S without ERR the gain
    is EXPTIME.

    Parameters
    ----------
    path : str or `~pathlib.Path`
    mask : 2-D bool array, optional
    progress : bool or None
    meta : dict, optional
    **options
        Passed to `extract_sources`.

    Returns
    -------
    catalog : `~astropy.table.Table`
    """
    info = read_image(path)
    try:
        sci = info["sci"]
        shape = (int(sci.header["NAXIS2"]), int(sci.header["NAXIS1"]))
        n_pix = shape[0] * shape[1]
        small = n_pix <= options.get("auto_tile_pixels", 6144**2) and options.get("tile_size") is None

        def plane(hdu):
            if hdu is None:
                return None
            if small:
                return np.asarray(hdu.data)
            return hdu.section if hasattr(hdu, "section") else hdu.data

        data, err, wht = plane(sci), plane(info["err"]), plane(info["wht"])
        if info.get("dq") is not None:
            # DQ: bad/hot pixels and flagged cosmic rays never enter detection or fits
            dq_bad = _DQMask(plane(info["dq"]), shape, str(info["header"].get("TELESCOP", "HST")))
            if small:
                dq_bad = dq_bad[:, :]
                info["meta"]["dq_masked_pixels"] = int(dq_bad.sum())
            if mask is not None:
                user_mask = np.asarray(mask, dtype=bool)
                mask = (user_mask | dq_bad) if small else _DQMask(plane(info["dq"]), shape,
                                                                 str(info["header"].get("TELESCOP", "HST")), user_mask)
            else:
                mask = dq_bad
        full_meta = dict(info["meta"])
        driz = drizzle_parameters(info["header"])  # primary keys with the SCI extension's merged in
        if "gain" not in options and err is None and info["meta"].get("bunit", "").upper().startswith("ELECTRONS/S"):
            options["gain"] = float(info["header"].get("EXPTIME", 0)) or None
            full_meta["poisson_source"] = (f"EXPTIME {options['gain']:g} s (header), the same everywhere" if options["gain"]
                                           else "none: no ERR plane and no EXPTIME in the header (give gain= to add it)")
            if options["gain"] and wht is not None and "gain_reference_weight" not in options:
                reference, note = poisson_depth_reference(wht, options["gain"], info["meta"].get("wht_type", ""),
                                                          (driz or {}).get("scale_ratio"))
                options["gain_reference_weight"] = reference
                full_meta["poisson_source"] = note
        elif err is not None:
            full_meta["poisson_source"] = "the ERR plane (it holds the source's Poisson noise)"
        elif "gain" in options:
            full_meta["poisson_source"] = f"gain {options['gain']} (given)"
        else:
            full_meta["poisson_source"] = (f"none: no ERR plane and BUNIT {info['meta'].get('bunit', '') or 'unknown'} is "
                                           "not e-/s (give gain= in counts per image unit to add it)")
        if "saturation" not in options and "SATURATE" in info["header"]:
            options["saturation"] = float(info["header"]["SATURATE"])
        for note in filter(None, info["meta"].get("noise_notes", "").split("; ")):
            warnings.warn(f"{Path(path).name}: {note}", stacklevel=2)
        if driz is not None:
            full_meta["drizzle"] = driz
        full_meta["noise_planes"] = "ERR" if err is not None else ("WHT" if wht is not None else "none")
        full_meta.pop("bunit", None)
        full_meta.pop("noise_notes", None)
        full_meta.update(meta or {})
        return extract_sources(_SectionArray(data, shape), info["wcs"], error=_SectionArray.wrap(err, shape),
                               mask=mask, weight=_SectionArray.wrap(wht, shape), progress=progress, meta=full_meta,
                               **options)
    finally:
        info["hdul"].close()
        if info.get("raw_hdul") is not None:
            info["raw_hdul"].close()
