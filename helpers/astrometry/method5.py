"""Method 5 in notebook 03: stars injected into the catalog's own image (:func:`injection_on_image`, with
:func:`read_image` and :func:`injection_psf`) and into the member exposures of a joint fit
(:func:`exposure_injection`), and the pull estimate each injection gives its own estimator's sources
(:func:`injection_coverage`, :func:`pull_estimate`). Split from :mod:`.notebook` (which re-exports them).

Units: RA/Dec in degrees; sigmas and errors in mas.
"""

import numpy as np

from ..errors import WorkbookError
from .inputs import _col_values, _require_record, _require_table
from .injection import injection_recovery, injection_sigma_model, predicted_catalog_sigma
from .stats import _ci, _mixture_sigma
from ..validate import require_instance, require_number

def injection_on_image(cat, image_info, n_inject=300, snr_range=(5.0, 1000.0), max_size=1500, extract=None,
                       select=None, n_boot=200, seed=0, extract_kwargs=None, error_floor_mas=0.0, match_pix=1.5,
                       photon_noise=True):
    """Method 5 on the catalog's own image: read it (central ``max_size`` pixels), inject PSF
    stars (:func:`injection_psf`), re-extract (default ``helpers.sources.extract_sources``) and
    calibrate the catalog's per-source error model with them (REFERENCE: "per-source error model,
    calibrated by injection-recovery on the image itself").

    The estimate is the error budget (:func:`error_budget` of ``cat[select]``) times the measured
    pull (robust sigma of (measured - injected) / reported error, per axis). Injected stars are
    point sources: the calibration of galaxies' errors is assumed the same. The sigma(SNR) fit
    (:func:`injection_sigma_model`) and the point-source scatter it predicts for the catalog's
    SNRs (those of the sources the product's extraction measured, :func:`injection_coverage`) are returned as
    diagnostics. When the extractor reports no errors, the sigma(SNR) model is the estimate. The pulls
    calibrate only the sources of the estimator(s) that measured the injected stars; positions from the joint
    fit on the exposures keep their own errors (:func:`pull_estimate`).

    By default the injected cut-out is written as a copy of the product (same headers and planes) and
    extracted with :func:`helpers.sources.extract_sources_fits`, as notebook 02 extracted the catalog, so the
    injected stars' errors are made the same way (noise planes, gain, DQ, the drizzle floor); the injected
    stars get their photon noise when the gain is known (``photon_noise``). On a drizzled product the pull
    calibrates the errors' noise part and the drizzle floor is kept (:func:`pull_estimate`): stars added to
    the product are not re-drizzled, so they cannot test it (``benchmarks/bench_astrometry.py demo``: the
    demo's verdict against its truth at pixfrac 1.0, 0.8 and 0.6).

    Parameters
    ----------
    photon_noise : bool
        Give the injected stars their photon noise (gain from the product's exposure time, e-/s without
        ERR; the drizzled per-pixel ratio ``meta['noise_poisson_variance_ratio']``). Default True.

    Returns
    -------
    out : dict
        ``injection`` (:func:`injection_recovery` result), ``model``, ``point_source_sigma``
        ((sigma, ci) from the model), ``estimate`` ({sigma, ci, n, what}), ``psf`` (description),
        ``pull`` (per axis or None).
    """
    _require_table(cat, "cat")
    _require_record(image_info, "image_info", ("path",), "the field's image list (cfg.extra['images'] entries)")
    require_number(n_inject, "n_inject", minimum=1, integer=True, example=300)
    require_number(n_boot, "n_boot", minimum=0, integer=True, example=200)
    data, error, wcs, _, (x0, y0) = read_image(image_info["path"], max_size=max_size)
    if extract is None:
        # notebook 02's extraction on a copy of the product (its cut-out): the same noise planes, gain,
        # saturation, DQ and drizzle keywords, so injected stars get the errors real ones get (drizzle
        # floor included, which pull_estimate then separates)
        extract = _ProductCutout(image_info["path"], (x0, y0), data.shape)
        error = extract.sci_error()
        photon = extract.photon_noise(cat.meta) if photon_noise else {}
    else:
        photon = {}
    psf, psf_what = injection_psf(cat.meta)
    existing = None
    if "x" in cat.colnames and "y" in cat.colnames:
        from astropy.table import Table

        existing = Table({"x": _col_values(cat, "x") - x0, "y": _col_values(cat, "y") - y0})
    inj = injection_recovery(data, wcs, psf, extract=extract, error=error, n_inject=n_inject, snr_range=snr_range,
                             existing=existing, seed=seed, n_boot=n_boot, extract_kwargs=extract_kwargs,
                             match_pix=match_pix, **photon)
    model = injection_sigma_model(inj, n_boot=min(n_boot, 100), seed=seed)
    snr = _col_values(cat, "snr") if "snr" in cat.colnames else None
    if snr is None:
        raise WorkbookError("the catalog has no 'snr' column; it must come from helpers.sources (notebook 02)")
    # the sigma(SNR) law is the product extraction's: applied to the SNRs of its own sources only (joint-fit
    # positions on the exposures are another estimator, with another law)
    covered = injection_coverage(inj, cat) & (np.ones(len(cat), bool) if select is None else np.asarray(select, bool))
    if not covered.any():
        covered = np.ones(len(cat), bool) if select is None else np.asarray(select, bool)  # diagnostic only
    sigma, ci = predicted_catalog_sigma(model, snr, select=covered)
    out = {"injection": inj, "model": model, "psf": psf_what, "pull": inj["pull"], "point_source_sigma": (sigma, ci),
           "estimate": {"sigma": sigma, "ci": ci, "n": inj["n_recovered"], "raw_sigma": sigma, "raw_ci": ci,
                        "factor": 1.0, "what": "sigma(SNR) of injected stars applied to the catalog's SNRs",
                        "measured": f"offsets of {inj['n_recovered']} injected stars vs SNR "
                                    f"({model['snr_definition']} SNR)",
                        "assumption": "the catalog's sources scatter like point sources of the same SNR"}}
    base = np.ones(len(cat), bool) if select is None else np.asarray(select, bool)
    share = float((injection_coverage(inj, cat) & base).sum()) / max(int(base.sum()), 1)
    if share < INJECTION_MIN_COVERAGE:  # the law is the product extraction's; most sources are another estimator's
        out["estimate"]["pairs"] = False
        out["estimate"]["assumption"] += (f"; only {share:.0%} of the sources are the product extraction's (the rest "
                                          "are the joint fit on the exposures): a prediction, not counted")
    if inj["pull"] is not None and "ra_err" in cat.colnames:
        out["estimate"] = pull_estimate(inj, cat[np.asarray(select, bool)] if select is not None else cat,
                                        error_floor_mas=error_floor_mas)
    return out


def exposure_injection(cfg, name, cat, image_info, n_inject=300, snr_range=(10.0, 1000.0), seed=0, n_boot=200,
                       run=True):
    """Method 5 for the sources whose positions notebook 02 took from the joint fit on the exposures: stars
    injected into the member exposures notebook 01 recorded (``cfg.extra['exposure_files'][name]``) and the
    joint fit re-run (:func:`helpers.astrometry.injection_on_exposures`).

    Parameters
    ----------
    cfg : `helpers.config.FieldConfig`
    name : str
        The catalog's product id.
    cat : `~astropy.table.Table`
        Its whole catalog as notebook 02 wrote it.
    image_info : dict
        The product's entry of the field's images (``path``).
    n_inject, snr_range, seed, n_boot
        As :func:`helpers.astrometry.injection_on_exposures`.
    run : bool
        False: nothing is injected (the line says the joint fit's positions keep their own errors).

    Returns
    -------
    result, message : dict or None, str
        None and the reason when nothing is to be or can be measured (no joint-fit source; no exposures
        recorded or fewer than 2 still on disk: those sources then keep their own errors, said).
    """
    from pathlib import Path

    from ..config import FieldConfig
    from .injection import injection_on_exposures

    require_instance(cfg, FieldConfig, "cfg", "load it with helpers.config.load_field(field, workspace_root)")
    _require_table(cat, "cat")
    _require_record(image_info, "image_info", ("path",), "the field's image list (cfg.extra['images'] entries)")
    method = np.char.lower(np.asarray(cat["method"]).astype(str)) if "method" in cat.colnames else np.array([])
    n_joint = int(np.sum(method == JOINT_FIT_METHOD))
    if n_joint == 0:
        return None, f"{name}: no position from the joint fit on the exposures; the product's injection covers them"
    if not run:
        return None, (f"{name}: injection into the exposures disabled (run_exposure_injection = False): its {n_joint} "
                      "positions from the joint fit keep their own errors, not tested by method 5")
    files = ((cfg.extra or {}).get("exposure_files") or {}).get(name) or []
    files = [files] if isinstance(files, (str, Path)) else list(files)
    here = [str(p) for p in files if Path(p).is_file()]
    if len(here) < 2:
        why = "none recorded by notebook 01" if not files else f"{len(here)} of {len(files)} recorded still on disk"
        return None, (f"{name}: {n_joint} positions from the joint fit on the exposures, but the exposures cannot be "
                      f"injected ({why}): those sources keep their own errors, not tested by method 5")
    res = injection_on_exposures(cat, here, image_info["path"], n_inject=n_inject, snr_range=snr_range, seed=seed,
                                 n_boot=n_boot)
    (kx, ky), ((lx, hx), (ly, hy)) = res["pull"], res["pull_ci"]
    return res, (f"{name}: {res['n_recovered']} of {res['n_injected']} stars injected into its {len(here)} exposures "
                 f"({res['psf']}) and fitted by the joint fit: pulls {kx:.2f} [{lx:.2f}, {hx:.2f}] / {ky:.2f} "
                 f"[{ly:.2f}, {hy:.2f}] for its {n_joint} joint-fit positions ({res['seconds']:.0f} s)")


class _ProductCutout:
    """An extractor for :func:`injection_recovery`: the injected science array written into a cut-out copy
    of the product (every plane of the science shape sliced, the WCS reference pixel moved, the headers
    kept) and extracted by :func:`helpers.sources.extract_sources_fits`, as notebook 02 extracts the file."""

    def __init__(self, path, origin, shape):
        self.path, self.origin, self.shape = path, (int(origin[0]), int(origin[1])), tuple(shape)

    def sci_error(self):
        """The per-pixel error to size the injected stars by: the ERR plane when the product has one, else
        None (the image's robust sky sigma; a WHT of exposure time is no error)."""
        from ..sources import read_image as open_product

        info = open_product(self.path)
        with info["hdul"]:
            if info["err"] is None:
                return None
            (x0, y0), (ny, nx) = self.origin, self.shape
            err = np.array(info["err"].data[y0:y0 + ny, x0:x0 + nx], dtype=float)
        if info.get("raw_hdul") is not None:
            info["raw_hdul"].close()
        return np.where(np.isfinite(err) & (err > 0), err, np.nan)

    def photon_noise(self, meta):
        """``gain`` and ``photon_variance_ratio`` for :func:`injection_recovery`, as the extraction reads them:
        a product in e-/s without ERR has a gain of its exposure time, and a drizzled one a per-pixel photon
        variance reduced by the measured ratio; {} when the gain is unknown (an ERR plane, other units)."""
        from ..sources import read_image as open_product

        info = open_product(self.path)
        try:
            units = str(info["meta"].get("bunit", "")).upper()
            exptime = float(info["header"].get("EXPTIME", 0) or 0)
            if info["err"] is not None or not units.startswith("ELECTRONS/S") or exptime <= 0:
                return {}
        finally:
            info["hdul"].close()
            if info.get("raw_hdul") is not None:
                info["raw_hdul"].close()
        ratio = float(meta.get("noise_poisson_variance_ratio") or 1.0)
        return {"gain": exptime, "photon_variance_ratio": ratio}

    def write(self, image, path):
        """Write the cut-out copy of the product with ``image`` as its science array (the SCI extension, or
        the first 2-D image of a file without one, e.g. a single DATA extension)."""
        from astropy.io import fits

        (x0, y0), (ny, nx) = self.origin, self.shape
        with fits.open(self.path) as hdul:
            planes = [i for i, h in enumerate(hdul) if h.is_image and getattr(h.data, "ndim", 0) == 2]
            full = hdul[planes[0]].data.shape
            sci = next((i for i in planes if hdul[i].name == "SCI"), planes[0])
            out = fits.HDUList()
            for i, hdu in enumerate(hdul):
                if i in planes and hdu.data.shape == full:
                    data = np.array(hdu.data[y0:y0 + ny, x0:x0 + nx])
                    if i == sci:
                        data = np.asarray(image, dtype=np.float32 if data.dtype.kind == "f" else float)
                    header = hdu.header.copy()
                    for key, shift in (("CRPIX1", x0), ("CRPIX2", y0)):
                        if key in header:
                            header[key] = float(header[key]) - shift
                    out.append(fits.PrimaryHDU(data, header) if i == 0 else fits.ImageHDU(data, header, name=hdu.name))
                else:
                    out.append(hdu.copy())
            out.writeto(path)
        return path

    def __call__(self, image, wcs, error=None, **options):
        import tempfile
        from pathlib import Path

        from ..sources import extract_sources_fits

        with tempfile.TemporaryDirectory(prefix="injection_") as tmp:
            path = self.write(image, Path(tmp) / Path(str(self.path)).name)
            return extract_sources_fits(path, progress=False, **options)


#: The joint fit on the exposures (``helpers.sources.exposures``): the ``method`` of the positions it replaced.
JOINT_FIT_METHOD = "exposures"

#: Method 5 enters the verdict as a measurement only when the sources of the estimator(s) its injected stars
#: measured are at least this fraction of the verdict's sources; below, the others (at their own reported
#: errors, which this method does not test) make its number mostly a prediction: checked, not counted.
INJECTION_MIN_COVERAGE = 0.9


def injection_coverage(inj, sources):
    """Which of ``sources`` the injected stars' pulls calibrate: those of the estimator(s) that measured them.

    Stars injected into a product and extracted from it measure the product-only estimators (windowed
    centroid, PSF fit); a catalog whose positions notebook 02 replaced by the joint fit on the exposures
    (``method = "exposures"``) has errors this injection never tested, so it must not calibrate them.

    Parameters
    ----------
    inj : dict
        :func:`injection_recovery` (or :func:`helpers.astrometry.injection_on_exposures`) result
        (``estimators``: the recovered stars' ``method`` values, or None when the extraction writes none).
    sources : `~astropy.table.Table`
        The sources the verdict is about (``method`` column as :mod:`helpers.sources` writes it).

    Returns
    -------
    covered : ndarray of bool
        One per row. Without a ``method`` column every source counts as the extraction's (it is the only
        estimator there is); without ``estimators``, every source but the joint fit's.
    """
    require_instance(inj, dict, "inj", "pass injection_recovery's (or injection_on_exposures') result")
    _require_table(sources, "sources")
    measured = inj.get("estimators")
    if "method" not in sources.colnames:
        # one estimator, the extraction's; an injection into the exposures measured another
        return np.full(len(sources), not (measured and JOINT_FIT_METHOD in measured))
    method = np.char.lower(np.asarray(sources["method"]).astype(str))
    if measured:
        return np.isin(method, [str(m).lower() for m in measured])
    return method != JOINT_FIT_METHOD


def pull_estimate(inj, sources, error_floor_mas=0.0):
    """Method 5's estimate for a set of sources: their error budget with the noise part of every error
    scaled by the pulls of the injected stars -- for the sources of the estimator that measured them.

    A drizzled product's errors carry the drizzle floor (:func:`helpers.astrometry.drizzle_floor_mas`, the
    drizzle's own position error measured by re-drizzling the instrument's PSF), which injected stars,
    added to the product rather than re-drizzled, cannot test; their pull calibrates only the noise part,
    so each source's sigma is sqrt((k noise_i)^2 + floor_i^2) with noise_i = sqrt(err_i^2 - floor_i^2), and
    the estimate is the budget (the Gaussian-equivalent sigma of their mixture, :func:`error_budget`) of
    those. Without a floor it is k times the error budget.

    Each injection calibrates only the sources whose positions came from the estimator(s) its stars were
    measured with (:func:`injection_coverage`): stars injected into the product, the product's extraction
    (windowed, PSF fit); stars injected into the member exposures
    (:func:`helpers.astrometry.injection_on_exposures`), the joint fit (``method = "exposures"``). Sources no
    injection measured keep their own reported errors (k = 1), which this method does not test (the joint
    fit's calibration against the bed's truth: ``tests/test_sources_exposures.py``,
    ``benchmarks/bench_exposures.py``). The line says how many sources the pulls covered; when they cover less
    than :data:`INJECTION_MIN_COVERAGE` of them the estimate is mostly the others' reported errors, a
    prediction (``pairs: False``: checked, not counted); when they cover none, ``sigma`` is None (the method
    measured nothing about these sources and does not enter the verdict).

    Parameters
    ----------
    inj : dict or list of dict
        :func:`injection_recovery` / :func:`helpers.astrometry.injection_on_exposures` result(s) with ``pull``
        and ``pull_boot`` (``estimators`` when known); a source takes the first one that covers it; None entries
        (an injection that could not run) are skipped.
    sources : `~astropy.table.Table`
        The sources the verdict is about (with ``ra_err``, ``dec_err`` in mas; ``method`` and
        ``meta['drizzle_floor']`` as :mod:`helpers.sources` writes them).
    error_floor_mas : float
        Systematic floor added to the reported errors (scaled with them, as in :func:`error_budget`).

    Returns
    -------
    estimate : dict
        ``sigma``, ``ci`` (mas), ``n``, ``what``, ``measured``, ``assumption``; ``n_covered`` / ``n_sources``
        (sources the pulls calibrate / all), ``covered_fraction``, ``estimators``; ``pairs: False`` below the
        coverage threshold.
    """
    import astropy.units as u

    from .injection import _noise_part, drizzle_floor_mas

    # None entries: injections that could not run (exposure_injection said why)
    injs = [one for one in inj if one is not None] if isinstance(inj, (list, tuple)) else [inj]
    if not injs:
        raise WorkbookError("inj is an empty list; pass injection_recovery's result (and injection_on_exposures')")
    for i, one in enumerate(injs):
        _require_record(one, "inj" if len(injs) == 1 else f"inj[{i}]", ("pull", "pull_boot", "n_recovered"),
                        "injection_recovery")
    _require_table(sources, "sources", ("ra_err", "dec_err"))
    error_floor_mas = require_number(error_floor_mas, "error_floor_mas", minimum=0.0, example=0.0)
    floor = drizzle_floor_mas(sources)
    # which injection calibrates each source (-1: none; the first that covers it)
    which = np.full(len(sources), -1)
    for i, one in enumerate(injs):
        which[(which < 0) & injection_coverage(one, sources)] = i
    ex, ey = _col_values(sources, "ra_err", u.mas), _col_values(sources, "dec_err", u.mas)
    ok = np.isfinite(ex) & np.isfinite(ey) & (ex > 0) & (ey > 0)
    if not ok.any():
        raise WorkbookError("no source has finite positive ra_err/dec_err; check the extraction step")
    floor, ex, ey, which = floor[ok], ex[ok], ey[ok], which[ok]
    n_sources, n_covered = int(ok.sum()), int((which >= 0).sum())
    parts, used = [], []
    for i, one in enumerate(injs):
        (kx, ky), n_i = one["pull"], int((which == i).sum())
        by = ", ".join(one.get("estimators") or []) or "the product's extraction"
        parts.append(f"pulls (measured/reported error) {kx:.2f} / {ky:.2f} of {one['n_recovered']} stars injected "
                     f"{'into the exposures' if JOINT_FIT_METHOD in (one.get('estimators') or []) else 'into the product'}"
                     f" ({by}: {n_i} of the {n_sources} sources)")
        if n_i:
            used.append(i)
    measured = "; ".join(parts)
    n_rec = int(sum(injs[i]["n_recovered"] for i in used)) if used else int(injs[0]["n_recovered"])
    if n_covered == 0:
        return {"sigma": None, "ci": None, "n": n_rec, "n_covered": 0, "n_sources": n_sources,
                "covered_fraction": 0.0, "estimators": sorted({m for o in injs for m in (o.get("estimators") or [])}),
                "what": "pulls of injected stars", "measured": measured,
                "note": (f"{measured}; none of the {n_sources} sources came from those estimators (their positions "
                         "are the joint fit on the exposures, calibrated against the bed's truth in "
                         "tests/test_sources_exposures.py; give injection_on_exposures' result to measure it here): "
                         "not entered")}
    nx_ = np.hypot(_noise_part(ex, floor), error_floor_mas)
    ny_ = np.hypot(_noise_part(ey, floor), error_floor_mas)
    sub = np.arange(floor.size) if floor.size <= 5000 else np.random.default_rng(0).choice(floor.size, 5000, False)
    nx_, ny_, floor, which = nx_[sub], ny_[sub], floor[sub], which[sub]
    n_draws = min(min(len(np.atleast_1d(injs[i]["pull_boot"][0])), len(np.atleast_1d(injs[i]["pull_boot"][1])))
                  for i in used)

    def budget(k):
        # k[i] = (kx, ky) arrays of draws per injection: each scales its own sources' noise, the rest keep k = 1
        draws = np.atleast_1d(k[used[0]][0]).size
        kx, ky = np.ones((draws, which.size)), np.ones((draws, which.size))
        for i in used:
            kx[:, which == i] = np.atleast_1d(k[i][0])[:draws, None]
            ky[:, which == i] = np.atleast_1d(k[i][1])[:draws, None]
        bx = _mixture_sigma(np.sqrt((kx * nx_[None, :]) ** 2 + floor[None, :] ** 2))
        by = _mixture_sigma(np.sqrt((ky * ny_[None, :]) ** 2 + floor[None, :] ** 2))
        return np.sqrt(0.5 * (np.asarray(bx) ** 2 + np.asarray(by) ** 2))

    est = float(budget({i: injs[i]["pull"] for i in used})[0])
    # independent injections: their bootstrap draws are paired by index
    boot = budget({i: (np.asarray(injs[i]["pull_boot"][0])[:n_draws], np.asarray(injs[i]["pull_boot"][1])[:n_draws])
                   for i in used})
    cov = which >= 0
    has_floor = bool(np.any(floor[cov] > 0))
    what = ("error budget with its noise part x pull of injected stars, drizzle floor kept" if has_floor
            else "error budget x pull of injected stars (measured/reported errors)")
    assumption = ("the reported errors of the sources each injection covers are off by the same factor as its "
                  "injected stars' (galaxies included)")
    if has_floor:
        measured += "; product pulls against the noise part of the errors"
        assumption += (f"; the drizzle floor (median {float(np.median(floor[floor > 0])):.2f} mas, re-drizzled PSF) "
                       "is right: stars injected into the product, not re-drizzled, cannot test it")
    fraction = n_covered / n_sources
    out = {"sigma": est, "ci": _ci(boot), "n": n_rec, "raw_sigma": est, "raw_ci": _ci(boot), "factor": 1.0,
           "what": what, "measured": measured, "assumption": assumption, "n_covered": n_covered,
           "n_sources": n_sources, "covered_fraction": fraction,
           "estimators": sorted({m for i in used for m in (injs[i].get("estimators") or [])})}
    if n_covered < n_sources:
        out["assumption"] += (f"; the other {n_sources - n_covered} sources (another estimator: the joint fit on the "
                              "exposures unless its injection is given) keep their own errors, not tested here "
                              "(the joint fit's calibrated against the bed's truth in tests/test_sources_exposures.py)")
        if fraction < INJECTION_MIN_COVERAGE:
            out["pairs"] = False  # mostly the untested sources' reported errors: a prediction, like method 1
    return out


def read_image(path, max_size=None):
    """Science array, error array (or None), WCS and header (primary plus science keywords) of a
    drizzled FITS product, opened with :func:`helpers.sources.read_image`.

    Parameters
    ----------
    path : str or Path
        HST drz/drc (SCI, ERR/WHT) or JWST i2d (SCI, ERR), or a single-HDU image.
    max_size : int, optional
        Keep only the central ``max_size`` x ``max_size`` pixels (the WCS is sliced to match).

    Returns
    -------
    data, error, wcs, header, origin
        ``origin`` = (x0, y0): pixel of the full image at the cut-out's (0, 0).
    """
    from ..sources import read_image as open_product  # finds SCI/ERR/WHT and the WCS (upstream module)

    max_size = require_number(max_size, "max_size", minimum=1, integer=True, allow_none=True, example=1500)
    info = open_product(path)
    with info["hdul"]:
        sci, wcs = info["sci"], info["wcs"]
        ny, nx = sci.data.shape
        ys, xs = slice(0, ny), slice(0, nx)
        if max_size and max(ny, nx) > max_size:
            y0, x0 = max((ny - max_size) // 2, 0), max((nx - max_size) // 2, 0)
            ys, xs = slice(y0, min(y0 + max_size, ny)), slice(x0, min(x0 + max_size, nx))
            wcs = wcs[ys, xs]
        data = np.array(sci.data[ys, xs], dtype=float)
        error = np.array(info["err"].data[ys, xs], dtype=float) if info["err"] is not None else None
        if error is None and info["wht"] is not None:
            wht = np.array(info["wht"].data[ys, xs], dtype=float)
            error = np.where(wht > 0, 1 / np.sqrt(np.where(wht > 0, wht, 1)), np.inf)
        header = info["header"]
    if error is not None:
        error = np.where(np.isfinite(error) & (error > 0), error, np.nan)
    return data, error, wcs, header, (xs.start, ys.start)


def injection_psf(meta):
    """PSF model for injection: the workbook's simulated diffraction PSF of the catalog's instrument and
    filter when known (:func:`helpers.simulate.make_psf`), otherwise a circular Gaussian with the
    catalog's measured FWHM (``meta['fwhm_pix']``)."""
    from .. import simulate

    require_instance(meta, dict, "meta", "pass the catalog's meta (a dict: instrument, filter, fwhm_pix)")
    inst, filt = str(meta.get("instrument", "")).upper(), str(meta.get("filter", "")).upper()
    key = next((k for k in simulate.INSTRUMENTS if k.replace("/", "").upper() == inst.replace("/", "")
                or k.upper() == inst), None)
    if key is not None and filt in simulate.FILTERS:
        try:
            return simulate.make_psf(key, filt, pixel_scale=meta.get("pixel_scale")), f"simulated {key} {filt} PSF"
        except Exception:  # fall back to a Gaussian rather than stop the notebook
            pass
    from photutils.psf import CircularGaussianPRF

    fwhm = float(meta.get("fwhm_pix") or 2.5)
    return CircularGaussianPRF(fwhm=fwhm), f"circular Gaussian, FWHM {fwhm:.2f} px"
