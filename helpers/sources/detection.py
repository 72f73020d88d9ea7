"""Detection and the fast path on one tile: sep detection, windowed centroids and their errors,
aperture fluxes, the stellar locus, nearest neighbours, saturated cores."""

import numpy as np

from ..errors import WorkbookError
from .background import _crowded_sky
from .centroids import MAX_WINDOW_SIGMA, WINDOWED_FLOOR_FWHM, _windowed_errors
from .stamps import _stamp_index


#: Matched-filter noise of sep's default 3x3 detection kernel relative to the pixel noise
#: (sqrt(sum k²)/sum k): ``threshold`` is in units of the *filtered* noise, as with an error map.
_KERNEL_NOISE = 6.0 / 16.0


def _detect(prep, opts):
    """sep.extract that does not fail on its internal buffers (crowded fields, e.g. a globular cluster).

    sep keeps the pixels of all objects above threshold on one row band (``pixstack``) and the
    sub-objects of one deblending (``sub_object_limit``). Both are raised as needed (the stack up to
    4x the tile's pixels); only if that is not enough is the threshold raised, with a warning saying so.
    """
    import warnings

    import sep

    from .catalog import SourceExtractionWarning

    sub = prep["sub"]
    threshold = float(opts["threshold"])
    pixstack, sublist = max(300_000, int(sub.size // 8)), 4096
    for _attempt in range(6):
        sep.set_extract_pixstack(pixstack)
        sep.set_sub_object_limit(sublist)
        try:
            # No mask: masked pixels are zero in the detection image (sep.extract is ~2x slower with one).
            objs = sep.extract(prep["det"], threshold * _KERNEL_NOISE, err=prep["det_err"], minarea=opts["minarea"],
                               deblend_nthresh=opts["deblend_nthresh"], deblend_cont=opts["deblend_cont"], clean=False)
        except Exception as exc:  # noqa: BLE001 - sep raises plain Exception for internal limits
            text = str(exc).lower()
            # sep's stack needs some room beyond the pixels themselves: allow up to 4x the tile
            if "pixstack" in text and pixstack < 4 * sub.size:
                pixstack = min(4 * int(sub.size), pixstack * 4)
                continue
            if ("sub_object" in text or "deblend" in text) and sublist < 65536:
                sublist *= 4
                continue
            if "pixstack" in text or "sub_object" in text or "deblend" in text:
                threshold *= 1.5
                continue
            raise WorkbookError(f"source detection failed ({exc}); check the image (NaN/inf masked?) or pass "
                                "threshold= higher") from None
        if threshold != float(opts["threshold"]):
            warnings.warn(f"crowded field: sep's buffers were full at threshold {opts['threshold']:g}; detected at "
                          f"threshold {threshold:g} instead", SourceExtractionWarning, stacklevel=4)
        prep["detect_threshold"] = threshold
        return objs
    raise WorkbookError(f"source detection failed: sep's buffers stay full up to threshold {threshold:g}; "
                        "pass a higher threshold= or a smaller tile_size=")


def _fast_tile(prep, opts):
    """sep detection, windowed centroids and their errors."""
    import sep

    sub = prep["sub"]
    objs = _detect(prep, opts)
    n = len(objs)
    x = np.asarray(objs["x"], float)
    y = np.asarray(objs["y"], float)
    xpk = np.clip(np.asarray(objs["xpeak"]), 0, sub.shape[1] - 1)
    ypk = np.clip(np.asarray(objs["ypeak"]), 0, sub.shape[0] - 1)
    cat = {"x_det": x, "y_det": y, "npix": np.asarray(objs["npix"]), "sep_flag": np.asarray(objs["flag"]),
           "a": np.asarray(objs["a"], float), "b": np.asarray(objs["b"], float),
           "peak": sub[ypk, xpk].astype(float)}
    if n == 0:
        return cat
    # Half-light radius relative to the flux within 6 a (the detection image is in noise units,
    # so its isophotal flux is not used for the normalisation).
    rmax = np.clip(6.0 * cat["a"], 3.0, 60.0)
    r50, _ = sep.flux_radius(sub, x, y, rmax, 0.5, subpix=1)
    r50 = np.where(np.isfinite(r50) & (r50 > 0.3), r50, 0.3)
    r50 = np.minimum(r50, rmax)
    # Window σ = 2 r50 / 2.35 (SExtractor), at most MAX_WINDOW_SIGMA: a large galaxy's centroid in a
    # 16-pixel-radius window is as good a reference point and costs far less than one in its full size.
    sig = np.clip(2.0 / 2.35 * r50, 2.0 / 2.35 * 0.5, MAX_WINDOW_SIGMA)
    # subpix=1: the window is evaluated at pixel centres, exactly as the error propagation below.
    # No mask: masked pixels are already zero in ``sub`` (and sep.winpos is ~5x slower with one).
    xw, yw, _ = sep.winpos(sub, x, y, sig, subpix=1)
    moved = np.hypot(xw - x, yw - y)
    # A windowed centroid that leaves its own isophote (2 a: the rms size of the detection's pixels)
    # converged onto a neighbour: in a crowded field r50 holds the neighbours' light and the window
    # is 3-5x a star's (47 Tuc ACS/HRC flt: injected stars' windows moved a median 5.6 px, and the
    # merge below then took 45 % of them for their bright neighbours). Such a source keeps its
    # detection position, flagged ``win_failed``; the tile re-measures it in a point source's window
    # once the stellar locus is known (tiles._process_tile).
    # Only on a crowded sky (more than half its pixels in sources, ``confusion_scale`` > 1): in an
    # uncrowded deep field a galaxy's window legitimately leaves its detection's core (HDF-S: the
    # tighter rule kept 16 galaxy clumps more and moved the planner's targets' matches).
    reach = np.minimum(2 * r50, 2 * cat["a"]) if _crowded_sky(prep) else 2 * r50
    fail = ~np.isfinite(xw) | ~np.isfinite(yw) | (moved > np.maximum(2.0, reach))
    xw = np.where(fail, x, xw)
    yw = np.where(fail, y, yw)
    # Deblending without cleaning leaves fragments of bright objects' wings whose windowed
    # centroids converge onto the object itself: keep one source (the largest) per position.
    keep = _merge_converged(xw, yw, cat["npix"], 0.5)
    if not keep.all():
        cat = {k: v[keep] for k, v in cat.items()}
        xw, yw, sig, r50, fail = xw[keep], yw[keep], sig[keep], r50[keep], fail[keep]
    x_err, y_err, cov_xy = _windowed_errors(sub, prep["noise"], prep["bad"], xw, yw, sig)
    # Pixel-phase floor of windowed centroids of undersampled PSFs (see WINDOWED_FLOOR_FWHM).
    floor = WINDOWED_FLOOR_FWHM * 2.0 * r50 / 1.35
    x_err = np.sqrt(x_err**2 + floor**2)
    y_err = np.sqrt(y_err**2 + floor**2)
    cat.update(x_win=xw, y_win=yw, x_win_err=x_err, y_win_err=y_err, cov_xy_win=cov_xy, r50=r50, sig_win=sig,
               win_failed=fail)
    return cat


def _merge_converged(x, y, size, radius):
    """Boolean mask keeping one source per group of positions closer than ``radius`` (the largest)."""
    from scipy.sparse.csgraph import connected_components
    from scipy.sparse import coo_matrix
    from scipy.spatial import cKDTree

    n = len(x)
    keep = np.ones(n, bool)
    if n < 2:
        return keep
    pairs = cKDTree(np.column_stack([x, y])).query_pairs(radius, output_type="ndarray")
    if len(pairs) == 0:
        return keep
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    order = np.lexsort((-np.asarray(size, float), label))
    first = np.ones(n, bool)
    first[1:] = label[order][1:] != label[order][:-1]
    keep[:] = False
    keep[order[first]] = True
    return keep


def _aperture_flux(prep, x, y, radius):
    import sep

    err = prep["noise"].err_image(prep["sub"])
    mask = prep["bad"] if prep["any_bad"] else None
    flux, ferr, _ = sep.sum_circle(prep["sub"], x, y, radius, err=err, mask=mask, subpix=1)
    return np.asarray(flux, float), np.asarray(ferr, float)


def _stellar_size(cat, snr):
    """The stellar locus: median 2·r50 (pixels) of bright compact sources, and how many bright
    sources it was measured on (None, 0 when fewer than 5)."""
    if "r50" not in cat or len(cat["r50"]) == 0:
        return None, 0
    size = 2 * cat["r50"]
    good = (snr > 30) & (cat["sep_flag"] == 0) & ~cat["win_failed"]
    if "cr_physical" in cat:  # cosmic rays are not stars: they must not set the locus (see .cosmics)
        good &= ~cat["cr_physical"]
    if good.sum() < 5:
        return None, 0
    s = size[good]
    lo = np.percentile(s, 20)
    locus = s[s <= lo * 1.25]
    return (float(np.median(locus)) if locus.size else float(lo)), int(good.sum())


def _neighbour_distance(x, y):
    """Distance to the nearest other source (pixels; inf when alone)."""
    from scipy.spatial import cKDTree

    if len(x) < 2:
        return np.full(len(x), np.inf)
    tree = cKDTree(np.column_stack([x, y]))
    d, _ = tree.query(np.column_stack([x, y]), k=2)
    return d[:, 1]


#: Fewest zero-weight pixels in a source's 5x5 core that make a bright source a saturated star whose
#: core the drizzle left empty (a zero weight in a drizzled product is a pixel bad in every exposure
#: that covered it: with a dither, saturation; one such pixel may still be a bad column's).
SATURATED_HOLE_PIXELS = 2
#: How bright (peak over the per-pixel noise) the valid pixels around such a hole must be.
SATURATED_RING_SNR = 50.0


def _saturated(raw, sub, x, y, saturation, noise, hole=None):
    """Saturated: peak at/above ``saturation`` (image units), or a flat-topped core (>= 3 pixels
    within 1e-5 of the maximum in the 5x5 core of a bright source, as saturated drizzled cores are),
    or a core the drizzle left empty.

    A drizzled product whose exposures masked their saturated pixels (DQ 256 not among the
    ``final_bits``; the test bed's products) has no value at a saturated star's core: ``hole``
    (zero-weight pixels, True) holds at least :data:`SATURATED_HOLE_PIXELS` of the 5x5 core (the
    detection's centre sits beside a bleed column, not on it), the
    valid pixels of the 5x5 around it reach :data:`SATURATED_RING_SNR` x their noise, and the 5x5
    lies inside the image (a bright star cut by the image's edge is not called saturated). Such a
    star read r50 3-6 px and was classed extended (the demo's saturated, bleeding stars)."""
    if len(x) == 0:
        return np.zeros(0, bool)
    px, py, inside = _stamp_index(x, y, 2, sub.shape)
    core = np.where(inside, sub[py, px], -np.inf).reshape(len(x), -1)
    peak = core.max(axis=1)
    sat = np.zeros(len(x), bool)
    if saturation is not None:
        raw_core = np.where(inside, raw[py, px], -np.inf).reshape(len(x), -1)
        sat |= raw_core.max(axis=1) >= 0.95 * saturation
    sigma = np.sqrt(noise.var(np.clip(np.rint(y).astype(int), 0, sub.shape[0] - 1),
                              np.clip(np.rint(x).astype(int), 0, sub.shape[1] - 1)))
    bright = peak > 50 * np.where(np.isfinite(sigma), sigma, np.inf)
    flat = np.sum(np.abs(core - peak[:, None]) <= 1e-5 * np.abs(peak[:, None]), axis=1) >= 3
    sat |= bright & flat
    if hole is not None and hole.any():
        labels, keep = _saturation_holes(hole)
        empty = keep[labels[py, px]] & inside
        n_hole = empty.sum(axis=(1, 2))
        cand = (n_hole >= SATURATED_HOLE_PIXELS) & np.all(inside, axis=(1, 2))
        if cand.any():
            var = np.where(empty | ~inside, np.inf, noise.var(py, px))
            sigma_ring = np.sqrt(np.min(var.reshape(len(x), -1), axis=1))  # the valid pixels' noise
            ring_peak = np.where(empty, -np.inf, sub[py, px]).reshape(len(x), -1).max(axis=1)
            sat |= cand & (ring_peak > SATURATED_RING_SNR * sigma_ring)
    return sat


def _saturated_fragments(hole, x, y, sat):
    """Detections (not ``sat`` themselves) whose 5x5 touches the emptied core of a saturated star
    (``sat``, from :func:`_saturated` with the same ``hole``): the flanks of its bleed column and its
    wings cut by it, fragments of one saturated star (flagged saturated, so a planner sees them)."""
    out = np.zeros(len(x), bool)
    if hole is None or not hole.any() or not np.any(sat):
        return out
    labels, keep = _saturation_holes(hole)
    px, py, inside = _stamp_index(x, y, 2, hole.shape)
    lab = labels[py, px]
    lab = np.where(inside & keep[lab], lab, 0)
    star_holes = np.unique(lab[sat])
    star_holes = star_holes[star_holes > 0]
    return np.isin(lab, star_holes).any(axis=(1, 2)) & ~np.asarray(sat, bool)


#: Largest zero-weight region (pixels) read as a saturated star's core and bleed column; larger ones
#: (a mosaic's unexposed corners, a chip gap) and those touching the tile's border are not.
SATURATED_HOLE_MAX_PIXELS = 5000


def _saturation_holes(hole):
    """The zero-weight regions that can be a saturated star's emptied core: 8-connected, at most
    :data:`SATURATED_HOLE_MAX_PIXELS`, not touching the tile's border.

    Returns
    -------
    labels : 2-D int array
        Region labels (0 = none) of all zero-weight regions.
    keep : 1-D bool array
        ``keep[label]``: the region can be a saturated core (``keep[0]`` is False). Looked up at the
        stamps only: masking the whole labelled tile cost more than the rest of the test (47 ms of a
        2048² dense field's 0.83 s fast path).
    """
    from scipy import ndimage

    labels, n = ndimage.label(hole, structure=np.ones((3, 3), int))
    keep = np.zeros(n + 1, bool)
    if n == 0:
        return labels, keep
    size = np.bincount(labels[hole], minlength=n + 1)  # the hole's pixels only, not the whole tile
    keep = size <= SATURATED_HOLE_MAX_PIXELS
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    keep[border] = False
    keep[0] = False
    return labels, keep
