"""Astrometric scatter of a planning catalog and the verdict against the 5-10 mas goal (notebook 03).

NIRSpec MOS needs the relative positions of targets known to 5-10 mas (1 sigma per axis) for
optimal flux calibration; 50 mas (SDSS-like) catalogs place sources poorly in the 0.20" x 0.46"
shutters. This module measures a catalog's scatter in several independent ways that fail
differently, and turns the result into a verdict and into what it costs in slit throughput.

Methods (each one a section of notebook 03):

1. :func:`error_budget` -- the per-source errors the extraction reports (``ra_err``/``dec_err``).
2. :func:`compare_catalogs` (``equal=True``) and :func:`three_cornered_hat` -- repeatability
   between independent images of the same field after a shift/rotation/scale (4 parameter) or
   affine (6 parameter) fit. For two equal catalogs sigma_each = sigma_diff/sqrt(2); three
   catalogs separate their individual sigmas (the "three-cornered hat", Gray & Allan 1974).
3. :func:`compare_catalogs` against Gaia DR3 propagated to the image epoch
   (:func:`propagate_reference`, `astropy.coordinates.SkyCoord.apply_space_motion`), with the
   reference's propagated errors removed by maximum likelihood (a quadrature subtraction that
   handles a different error for every star).
4. The same against the Hubble Source Catalog v3 (no proper motions; optional known sigma).
5. :func:`injection_recovery` -- PSF stars injected into the real image and re-extracted.
6. :func:`patch_map` -- mean residual offsets in MSA-sized (~30") patches, to expose tile seams
   and distortion residue.

Robust scatter is 1.4826 x MAD (median absolute deviation), reported per axis (RA*cos(Dec), Dec),
combined and as the radial 90th percentile, always with a bootstrap confidence interval.
:func:`verdict` applies the bands of the seed page, and :func:`slit_throughput_consequence`
shows what a given precision costs.

Units: RA/Dec in degrees; residuals, sigmas and errors in mas; MSA geometry in arcsec.
This module imports neither matplotlib nor :mod:`helpers.msa` at module level.
"""

import dataclasses
import json
import math
import warnings

import numpy as np

from ..errors import WorkbookError
from ..nirspec import (CENTERING_CONSTRAINTS, SHUTTER_OPEN_ARCSEC, centering_constraints, jwst_like_psf,  # noqa: F401
                       slit_throughput_consequence, slit_throughput_grid, zone_probabilities)
from ..skyplane import sky_to_tangent, tangent_to_sky, unit_vectors

__all__ = [
    "MAD_TO_SIGMA",
    "VERDICT_BANDS",
    "MIN_PAIRS",
    "CENTERING_CONSTRAINTS",
    "SHUTTER_OPEN_ARCSEC",
    "tangent_plane_mas",
    "match",
    "coarse_offset",
    "fit_transform",
    "robust_sigma",
    "ComparisonResult",
    "compare_catalogs",
    "propagate_reference",
    "three_cornered_hat",
    "error_budget",
    "injection_recovery",
    "injection_sigma_model",
    "predicted_catalog_sigma",
    "catalog_equivalent",
    "select_gaia",
    "hsc_reference",
    "patch_map",
    "Verdict",
    "verdict",
    "combine_methods",
    "jwst_like_psf",
    "slit_throughput_grid",
    "centering_constraints",
    "zone_probabilities",
    "slit_throughput_consequence",
    "write_summary",
    "load_inputs",
    "usable_sources",
    "as_estimate",
    "read_image",
    "repeatability",
    "injection_on_image",
    "summary_record",
    "reference_share",
    "pick_comparison",
    "injection_psf",
]

#: 1.4826 x MAD is the standard deviation of a Gaussian (1 / Phi^-1(3/4)).
MAD_TO_SIGMA = 1.482602218505602

#: Verdict bands of the seed page (1 sigma per axis, relative, mas): upper edge and label.
VERDICT_BANDS = (
    (5.0, "optimal", "optimal for NIRSpec MOS flux calibration"),
    (10.0, "meets 5-10 mas", "meets the 5-10 mas goal for NIRSpec MOS flux calibration"),
    (20.0, "marginal", "marginal: expect noticeable, source-dependent slit losses"),
    (50.0, "degraded", "degraded: slit losses will compromise flux calibration"),
    (math.inf, "SDSS-like or worse", "SDSS-like or worse: sources will often fall near or behind the shutter bars"),
)

#: Fewer matched pairs than this and the scatter is "not verifiable".
MIN_PAIRS = 30

_RA_NAMES = ("ra", "RA", "RAJ2000", "ra_deg", "MatchRA", "ALPHA_J2000", "RA_ICRS")
_DEC_NAMES = ("dec", "DEC", "Dec", "DEJ2000", "dec_deg", "MatchDec", "DELTA_J2000", "DE_ICRS")
_FIT_TYPES = {"shift": 2, "shift+rotation+scale": 4, "affine": 6}
_FIT_ALIASES = {"none": "shift", "2": "shift", "4": "shift+rotation+scale", "rscale": "shift+rotation+scale",
                "shift+rotation+scale": "shift+rotation+scale", "general": "affine", "6": "affine",
                "shift": "shift", "affine": "affine"}


# --------------------------------------------------------------------------- input helpers
def _col_values(table, name, unit=None):
    """Column as a float ndarray in ``unit`` (masked -> NaN)."""
    col = table[name]
    try:
        values = np.array(np.ma.getdata(col), dtype=float)
    except (TypeError, ValueError):
        raise WorkbookError(f"column {name!r} is not numeric; it must hold numbers") from None
    if unit is not None and getattr(col, "unit", None) is not None:
        import astropy.units as u

        try:
            values = u.Quantity(values, col.unit).to_value(unit)
        except (u.UnitConversionError, ValueError, TypeError):
            raise WorkbookError(f"column {name!r} has unit {col.unit}, expected something convertible to {unit}; "
                                "fix the column unit") from None
    mask = np.ma.getmaskarray(col)
    if mask.any():
        values[mask] = np.nan
    return values


def _find(table, names):
    for name in names:
        if name in table.colnames:
            return name
    return None


def _radec(table, what, drop_nan=False):
    """RA, Dec (deg) arrays of a catalog and the boolean mask of usable rows."""
    if table is None or not hasattr(table, "colnames"):
        raise WorkbookError(f"{what} is not a table; give an astropy Table with ra and dec columns (degrees)")
    ra_name, dec_name = _find(table, _RA_NAMES), _find(table, _DEC_NAMES)
    if ra_name is None or dec_name is None:
        raise WorkbookError(f"{what} has no ra/dec columns (found: {', '.join(table.colnames[:8])}); "
                            "name them 'ra' and 'dec' in degrees")
    frame = str(table.meta.get("frame", table.meta.get("radesys", "icrs"))).lower()
    if frame not in ("icrs", "gaia", "gaiadr3", "gaia dr3", "none", ""):
        raise WorkbookError(f"{what} is in frame {frame!r}; convert it to ICRS first "
                            "(SkyCoord(ra, dec, frame=...).icrs) and set meta['frame'] = 'icrs'")
    import astropy.units as u

    ra = _col_values(table, ra_name, u.deg)
    dec = _col_values(table, dec_name, u.deg)
    good = np.isfinite(ra) & np.isfinite(dec)
    if len(ra) == 0:
        raise WorkbookError(f"{what} is empty; it needs sources with ra and dec")
    if not good.all() and not drop_nan:
        bad = np.flatnonzero(~good)
        raise WorkbookError(f"{what} has {bad.size} row(s) with NaN ra/dec (first rows: {bad[:5].tolist()}); "
                            "remove them or pass drop_nan=True")
    if good.sum() == 0:
        raise WorkbookError(f"{what} has no finite ra/dec; check the catalog")
    if np.any(np.abs(dec[good]) > 90):
        raise WorkbookError(f"{what} has |dec| > 90 deg; ra/dec must be in degrees")
    return ra, dec, good


def tangent_plane_mas(ra, dec, ra0, dec0):
    """Gnomonic (tangent-plane) offsets of ``ra, dec`` about ``ra0, dec0``.

    Parameters
    ----------
    ra, dec : array-like
        Positions, degrees.
    ra0, dec0 : float
        Tangent point, degrees.

    Returns
    -------
    xi, eta : ndarray
        Offsets towards East (RA*cos(Dec)) and North, mas.

    Examples
    --------
    >>> xi, eta = tangent_plane_mas(10.001, 0.0, 10.0, 0.0)
    >>> round(float(xi), 3), round(float(eta), 3)
    (3600.0, 0.0)
    """
    return sky_to_tangent(ra, dec, ra0, dec0, unit="mas")


def _as_mas(value, what):
    """A max_sep-like value (Quantity or arcsec float) in mas."""
    if hasattr(value, "unit"):
        import astropy.units as u

        try:
            return float(value.to_value(u.mas))
        except u.UnitConversionError:
            raise WorkbookError(f"{what} = {value} is not an angle; give e.g. 0.3*u.arcsec") from None
    try:
        out = float(value) * 1000.0
    except (TypeError, ValueError):
        raise WorkbookError(f"{what} = {value!r} is not a number; give arcsec (e.g. 0.3) or a Quantity") from None
    if not math.isfinite(out) or out <= 0:
        raise WorkbookError(f"{what} = {value!r} must be a positive angle in arcsec, e.g. 0.3")
    return out


# --------------------------------------------------------------------------- matching
def _footprint_text(ra, dec):
    return f"RA {np.nanmin(ra):.4f}..{np.nanmax(ra):.4f}, Dec {np.nanmin(dec):.4f}..{np.nanmax(dec):.4f} deg"


def match(cat, ref, max_sep=0.3, drop_nan=False, offset_mas=(0.0, 0.0)):
    """One-to-one match of two catalogs on the sky (mutual nearest neighbours).

    Each source in ``cat`` is paired with its nearest neighbour in ``ref`` and kept only if
    that ``ref`` source's nearest neighbour in ``cat`` is the same source and the separation is
    at most ``max_sep`` -- the one-to-one version of
    `astropy.coordinates.match_coordinates_sky` (same KD-tree on unit vectors, scipy's cKDTree).

    Parameters
    ----------
    cat, ref : `~astropy.table.Table`
        Catalogs with ``ra``, ``dec`` columns (degrees, ICRS).
    max_sep : float or `~astropy.units.Quantity`
        Largest separation accepted, arcsec (default 0.3").
    drop_nan : bool
        Ignore rows with NaN positions instead of raising.
    offset_mas : (float, float)
        Coarse offset of ``cat`` relative to ``ref`` (East, North, mas) removed before matching,
        e.g. from :func:`coarse_offset`.

    Returns
    -------
    pairs : `~astropy.table.Table`
        ``idx_cat``, ``idx_ref`` (row indices into the inputs) and ``sep`` (mas, after removing
        ``offset_mas``), sorted by ``idx_cat``.

    Raises
    ------
    WorkbookError
        Missing columns, NaN positions, or no overlap at all.

    Examples
    --------
    >>> from astropy.table import Table
    >>> a = Table({"ra": [10.0, 10.001], "dec": [0.0, 0.0]})
    >>> b = Table({"ra": [10.001, 10.0 + 1e-8], "dec": [0.0, 0.0]})
    >>> match(a, b)["idx_ref"].tolist()
    [1, 0]
    """
    from scipy.spatial import cKDTree
    from astropy.table import Table

    max_sep_mas = _as_mas(max_sep, "max_sep")
    ra1, dec1, good1 = _radec(cat, "the catalog", drop_nan)
    ra2, dec2, good2 = _radec(ref, "the reference catalog", drop_nan)
    ra0, dec0 = float(np.nanmedian(ra2[good2])), float(np.nanmedian(dec2[good2]))
    if any(offset_mas):
        xi, eta = tangent_plane_mas(ra1, dec1, ra0, dec0)
        ra1, dec1 = tangent_to_sky(xi - offset_mas[0], eta - offset_mas[1], ra0, dec0, unit="mas")
    i1, i2 = np.flatnonzero(good1), np.flatnonzero(good2)
    v1, v2 = unit_vectors(ra1[i1], dec1[i1]), unit_vectors(ra2[i2], dec2[i2])
    chord = 2.0 * math.sin(math.radians(max_sep_mas / 3.6e6) / 2.0)
    d12, j12 = cKDTree(v2).query(v1, distance_upper_bound=chord)
    d21, j21 = cKDTree(v1).query(v2, distance_upper_bound=chord)
    ok = np.isfinite(d12)
    k1 = np.flatnonzero(ok)
    k2 = j12[ok]
    mutual = j21[k2] == k1
    k1, k2 = k1[mutual], k2[mutual]
    if k1.size == 0:
        raise WorkbookError(
            f"no pairs within max_sep = {max_sep_mas / 1000:g} arcsec: the catalogs do not overlap "
            f"(catalog {_footprint_text(ra1[i1], dec1[i1])}; reference {_footprint_text(ra2[i2], dec2[i2])}); "
            "check they cover the same field, or pre-align with coarse_offset() / raise max_sep")
    sep = 2.0 * np.arcsin(np.clip(d12[k1] / 2.0, 0, 1)) * math.degrees(1.0) * 3.6e6
    return Table({"idx_cat": i1[k1], "idx_ref": i2[k2], "sep": sep},
                 meta={"max_sep_mas": max_sep_mas, "offset_mas": list(map(float, offset_mas))})


def coarse_offset(cat, ref, search_arcsec=3.0, bin_mas=None, max_sources=3000, drop_nan=True):
    """Bulk offset between two catalogs from the histogram of all pair offsets ("shift vectors").

    Use it when catalogs are misaligned by more than the match radius (e.g. a guide-star-only
    WCS, 0.1-1"). All pairs within ``search_arcsec`` vote; the peak of the 2-D histogram of their
    offsets is the shift (the approach of ESA's eMPT pointing search).

    Parameters
    ----------
    cat, ref : `~astropy.table.Table`
        Catalogs with ``ra``, ``dec`` (degrees).
    search_arcsec : float
        Largest offset searched, arcsec.
    bin_mas : float, optional
        Histogram bin (default ``search_arcsec``/40 in mas).
    max_sources : int
        Use at most this many sources of each catalog (a random subset), to bound the cost.

    Returns
    -------
    offset_mas : (float, float)
        Offset of ``cat`` relative to ``ref`` (East, North), mas; pass it to :func:`match` or
        :func:`compare_catalogs` as ``offset_mas``.

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.table import Table
    >>> rng = np.random.default_rng(0)
    >>> ref = Table({"ra": 10 + rng.uniform(0, 0.02, 300), "dec": rng.uniform(0, 0.02, 300)})
    >>> cat = Table({"ra": ref["ra"] + 1.0 / 3600, "dec": ref["dec"] - 0.5 / 3600})
    >>> dx, dy = coarse_offset(cat, ref)
    >>> round(dx, -1), round(dy, -1)
    (1000.0, -500.0)
    """
    from scipy.spatial import cKDTree

    ra1, dec1, g1 = _radec(cat, "the catalog", drop_nan)
    ra2, dec2, g2 = _radec(ref, "the reference catalog", drop_nan)
    rng = np.random.default_rng(0)
    i1, i2 = np.flatnonzero(g1), np.flatnonzero(g2)
    if i1.size > max_sources:
        i1 = rng.choice(i1, max_sources, replace=False)
    if i2.size > max_sources:
        i2 = rng.choice(i2, max_sources, replace=False)
    ra0, dec0 = float(np.median(ra2[i2])), float(np.median(dec2[i2]))
    x1, y1 = tangent_plane_mas(ra1[i1], dec1[i1], ra0, dec0)
    x2, y2 = tangent_plane_mas(ra2[i2], dec2[i2], ra0, dec0)
    r = search_arcsec * 1000.0
    pairs = cKDTree(np.column_stack([x2, y2])).query_ball_point(np.column_stack([x1, y1]), r)
    n_per = np.fromiter((len(p) for p in pairs), int, len(pairs))
    if n_per.sum() == 0:
        raise WorkbookError(f"no sources of the two catalogs are within {search_arcsec:g} arcsec of each other; "
                            "check that they cover the same field or raise search_arcsec")
    src = np.repeat(np.arange(len(pairs)), n_per)
    dst = np.concatenate([np.asarray(p, int) for p in pairs if len(p)])
    dx, dy = x1[src] - x2[dst], y1[src] - y2[dst]
    bin_mas = bin_mas or r / 40.0
    edges = np.arange(-r, r + bin_mas, bin_mas)
    hist, ex, ey = np.histogram2d(dx, dy, bins=[edges, edges])
    from scipy.ndimage import uniform_filter

    smooth = uniform_filter(hist, size=3, mode="constant")
    ix, iy = np.unravel_index(np.argmax(smooth), smooth.shape)
    cx, cy = 0.5 * (ex[ix] + ex[ix + 1]), 0.5 * (ey[iy] + ey[iy + 1])
    near = np.hypot(dx - cx, dy - cy) < 1.5 * bin_mas
    if near.sum() < 3:
        return float(cx), float(cy)
    return float(np.median(dx[near])), float(np.median(dy[near]))


# --------------------------------------------------------------------------- transform fit
def _design(x, y, n_par):
    one, zero = np.ones_like(x), np.zeros_like(x)
    if n_par == 2:
        ax = np.column_stack([one, zero])
        ay = np.column_stack([zero, one])
    elif n_par == 4:  # x' = tx + a x - b y ; y' = ty + b x + a y
        ax = np.column_stack([one, zero, x, -y])
        ay = np.column_stack([zero, one, y, x])
    else:  # x' = tx + a x + b y ; y' = ty + c x + d y
        ax = np.column_stack([one, zero, x, y, zero, zero])
        ay = np.column_stack([zero, one, zero, zero, x, y])
    return np.vstack([ax, ay])


def _fit_once(xc, yc, xr, yr, n_par, scale):
    """Least-squares fit of ref - cat offsets (small-correction parametrisation)."""
    xs, ys = xc / scale, yc / scale
    a = _design(xs, ys, n_par)
    b = np.concatenate([xr - xc, yr - yc])
    p, *_ = np.linalg.lstsq(a, b, rcond=None)
    return p


def _apply(p, xc, yc, n_par, scale):
    xs, ys = xc / scale, yc / scale
    a = _design(xs, ys, n_par)
    d = a @ p
    n = xc.size
    return xc + d[:n], yc + d[n:]


@dataclasses.dataclass
class Transform:
    """A fitted plane transform taking catalog tangent-plane positions onto the reference.

    Attributes
    ----------
    kind : str
        ``"shift"``, ``"shift+rotation+scale"`` or ``"affine"``.
    shift_mas : (float, float)
        Shift at the tangent point (East, North), mas.
    rotation_arcsec : float
        Rotation (catalog to reference, counter-clockwise on the sky East of North), arcsec.
    scale_ppm : float
        Scale change, parts per million.
    matrix : list of list
        The 2x2 linear part (identity + correction).
    params : list of float
        Raw least-squares parameters.
    center : (float, float)
        Tangent point (RA, Dec), degrees.
    """

    kind: str
    shift_mas: tuple
    rotation_arcsec: float
    scale_ppm: float
    matrix: list
    params: list
    center: tuple
    _scale: float = 1.0e5

    def apply(self, xi_mas, eta_mas):
        """Apply to tangent-plane offsets (mas) about ``center``; returns transformed offsets."""
        return _apply(np.asarray(self.params), np.asarray(xi_mas, float), np.asarray(eta_mas, float),
                      _FIT_TYPES[self.kind], self._scale)

    def to_dict(self):
        out = dataclasses.asdict(self)
        out.pop("_scale")
        return out


def _make_transform(kind, p, center, scale):
    n_par = _FIT_TYPES[kind]
    if n_par == 2:
        m = np.eye(2)
    elif n_par == 4:
        m = np.array([[1 + p[2] / scale, -p[3] / scale], [p[3] / scale, 1 + p[2] / scale]])
    else:
        m = np.array([[1 + p[2] / scale, p[3] / scale], [p[4] / scale, 1 + p[5] / scale]])
    rot = math.degrees(math.atan2(m[1, 0] - m[0, 1], m[0, 0] + m[1, 1])) * 3600.0
    scl = (math.sqrt(abs(np.linalg.det(m))) - 1.0) * 1e6
    return Transform(kind=kind, shift_mas=(float(p[0]), float(p[1])), rotation_arcsec=float(rot),
                     scale_ppm=float(scl), matrix=m.tolist(), params=[float(v) for v in p],
                     center=tuple(map(float, center)), _scale=scale)


def robust_sigma(values, axis=None):
    """1.4826 x median absolute deviation: the Gaussian-equivalent sigma, insensitive to outliers.

    Parameters
    ----------
    values : array-like
    axis : int, optional

    Returns
    -------
    sigma : float or ndarray

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(1).normal(0, 5.0, 100000)
    >>> round(float(robust_sigma(x)), 1)
    5.0
    """
    values = np.asarray(values, float)
    med = np.median(values, axis=axis, keepdims=True)
    return MAD_TO_SIGMA * np.median(np.abs(values - med), axis=axis)


def _normalise_fit(fit):
    key = str(fit).lower().replace(" ", "")
    if key not in _FIT_ALIASES:
        raise WorkbookError(f"fit={fit!r} is not known; use 'shift', 'shift+rotation+scale' or 'affine'")
    return _FIT_ALIASES[key]


def fit_transform(xc, yc, xr, yr, fit="shift+rotation+scale", clip_sigma=5.0, max_iter=10, center=(0.0, 0.0)):
    """Iteratively sigma-clipped linear least-squares fit of catalog onto reference positions.

    Parameters
    ----------
    xc, yc, xr, yr : ndarray
        Catalog and reference tangent-plane positions of matched pairs, mas.
    fit : {'shift', 'shift+rotation+scale', 'affine'}
        2, 4 or 6 free parameters.
    clip_sigma : float
        Pairs whose residual exceeds ``clip_sigma`` x the robust sigma of its axis are
        excluded from the next iteration.
    max_iter : int
    center : (float, float)
        Tangent point, degrees (recorded in the transform).

    Returns
    -------
    transform : Transform
    dx, dy : ndarray
        Residuals transformed catalog - reference, mas, for every pair.
    used : ndarray of bool
        Pairs kept by the clipping.

    Examples
    --------
    >>> import numpy as np
    >>> x, y = np.meshgrid(np.linspace(-6e4, 6e4, 10), np.linspace(-6e4, 6e4, 10))
    >>> x, y = x.ravel(), y.ravel()
    >>> t, dx, dy, used = fit_transform(x + 20.0, y - 5.0, x, y, fit="shift")
    >>> [round(v, 3) for v in t.shift_mas]
    [-20.0, 5.0]
    """
    kind = _normalise_fit(fit)
    n_par = _FIT_TYPES[kind]
    xc, yc, xr, yr = (np.asarray(v, float) for v in (xc, yc, xr, yr))
    scale = 1.0e5  # mas -> units of 100": keeps the design matrix well conditioned
    used = np.ones(xc.size, bool)
    for _ in range(max_iter):
        p = _fit_once(xc[used], yc[used], xr[used], yr[used], n_par, scale)
        xt, yt = _apply(p, xc, yc, n_par, scale)
        dx, dy = xt - xr, yt - yr
        sx, sy = robust_sigma(dx[used]), robust_sigma(dy[used])
        sx, sy = max(sx, 1e-6), max(sy, 1e-6)
        new = (np.abs(dx - np.median(dx[used])) <= clip_sigma * sx) & (np.abs(dy - np.median(dy[used])) <= clip_sigma * sy)
        if new.sum() < max(n_par, 3) or np.array_equal(new, used):
            break
        used = new
    return _make_transform(kind, p, center, scale), dx, dy, used


# --------------------------------------------------------------------------- bootstrap
def _bootstrap_order_stats(arrays, quantiles, n_boot, seed):
    """Bootstrap distribution of quantiles of several same-length arrays, resampled jointly.

    Vectorised and exact: a bootstrap draw is a vector of counts (how often each pair is drawn);
    the q-quantile of the resampled data is read from the cumulative counts in the sorted order
    of each array, so each draw costs a few O(n) passes and no sort.

    Returns an array (len(arrays), n_boot).
    """
    n = arrays[0].size
    rng = np.random.default_rng(seed)
    orders = [np.argsort(a, kind="stable") for a in arrays]
    srt = [a[o] for a, o in zip(arrays, orders)]
    out = np.empty((len(arrays), n_boot))
    targets = []
    for q in quantiles:
        h = q * (n - 1)  # numpy 'linear' quantile: between order statistics floor(h) and floor(h)+1 (0-based)
        lo = int(math.floor(h))
        targets.append((lo + 1, min(lo + 2, n), h - lo))
    for b in range(n_boot):
        counts = np.bincount(rng.integers(0, n, n), minlength=n)
        for k, (order, s) in enumerate(zip(orders, srt)):
            cs = np.cumsum(counts[order])
            m1, m2, frac = targets[k]
            j1, j2 = np.searchsorted(cs, [m1, m2], side="left")
            out[k, b] = s[j1] + frac * (s[j2] - s[j1])
    return out


def _ci(samples, level=0.95):
    lo, hi = np.percentile(samples, [50 * (1 - level), 50 * (1 + level)])
    return (float(lo), float(hi))


# --------------------------------------------------------------------------- comparison
@dataclasses.dataclass
class ComparisonResult:
    """Outcome of :func:`compare_catalogs`: transform, residuals and scatter with intervals.

    All scatters are mas. ``*_ci`` are 95% bootstrap percentile intervals. "diff" refers to the
    differences catalog - reference; "cat" to the catalog alone (None when neither
    ``equal=True`` nor reference errors were given: then ``sigma_diff`` is an upper bound).

    Attributes
    ----------
    label : str
    fit : Transform
    pairs : `~astropy.table.Table`
        ``idx_cat, idx_ref, xi, eta`` (reference tangent-plane position, mas), ``dx, dy``
        (residual, mas), ``used`` (kept by the transform fit's clipping), ``ref_err_x, ref_err_y``
        and ``cat_err_x, cat_err_y`` (mas, when known).
    n_pairs, n_matched : int
        Pairs in the statistics (all matched pairs: the MAD needs no clipping); pairs matched.
    sigma_diff, sigma_diff_ci : per axis (East, North)
    sigma_diff_1d, sigma_diff_1d_ci : sqrt of the mean of the two axes' variances
    p90_diff, p90_diff_ci : radial 90th percentile of the residuals
    sigma_cat, sigma_cat_ci, sigma_cat_1d, sigma_cat_1d_ci, p90_cat : the catalog's own scatter
    cat_method : str
        ``"equal catalogs"``, ``"reference errors removed"`` or ``"upper bound"``.
    ref_sigma_rms : (float, float) or None
        RMS of the reference's own (propagated) errors per axis over the pairs.
    calibration, calibration_ci : (float, float) or None
        When the catalog carries per-source errors: measured / reported error ratio k per axis
        (1 = calibrated errors), with intervals. The catalog's scatter is k x its reported errors.
    notes : list of str
    """

    label: str
    fit: Transform
    pairs: object
    n_pairs: int
    n_matched: int
    sigma_diff: tuple
    sigma_diff_ci: tuple
    sigma_diff_1d: float
    sigma_diff_1d_ci: tuple
    p90_diff: float
    p90_diff_ci: tuple
    sigma_cat: tuple = None
    sigma_cat_ci: tuple = None
    sigma_cat_1d: float = None
    sigma_cat_1d_ci: tuple = None
    p90_cat: float = None
    cat_method: str = "upper bound"
    ref_sigma_rms: tuple = None
    calibration: tuple = None
    calibration_ci: tuple = None
    notes: list = dataclasses.field(default_factory=list)
    boot: dict = dataclasses.field(default_factory=dict, repr=False)

    @property
    def sigma(self):
        """Best per-catalog 1-D sigma (mas): ``sigma_cat_1d`` if known, else ``sigma_diff_1d``."""
        return self.sigma_cat_1d if self.sigma_cat_1d is not None else self.sigma_diff_1d

    @property
    def sigma_ci(self):
        return self.sigma_cat_1d_ci if self.sigma_cat_1d is not None else self.sigma_diff_1d_ci

    @property
    def verdict(self):
        """:class:`Verdict` of the catalog sigma (``sigma``) and ``n_pairs``."""
        return verdict(self.sigma, self.n_pairs, ci=self.sigma_ci)

    def summary(self):
        """JSON-ready dictionary of the numbers (no arrays)."""
        def r(v):
            if v is None:
                return None
            if isinstance(v, (tuple, list)):
                return [r(x) for x in v]
            return round(float(v), 3)

        return {
            "label": self.label, "n_pairs": int(self.n_pairs), "n_matched": int(self.n_matched),
            "fit": self.fit.to_dict(),
            "sigma_diff_mas": r(self.sigma_diff), "sigma_diff_ci": r(self.sigma_diff_ci),
            "sigma_diff_1d_mas": r(self.sigma_diff_1d), "sigma_diff_1d_ci": r(self.sigma_diff_1d_ci),
            "p90_diff_mas": r(self.p90_diff), "p90_diff_ci": r(self.p90_diff_ci),
            "sigma_cat_mas": r(self.sigma_cat), "sigma_cat_ci": r(self.sigma_cat_ci),
            "sigma_cat_1d_mas": r(self.sigma_cat_1d), "sigma_cat_1d_ci": r(self.sigma_cat_1d_ci),
            "p90_cat_mas": r(self.p90_cat), "cat_method": self.cat_method,
            "ref_sigma_rms_mas": r(self.ref_sigma_rms), "calibration": r(self.calibration),
            "calibration_ci": r(self.calibration_ci), "notes": list(self.notes),
        }

    def report(self):
        """Plain-text lines for the notebook."""
        sx, sy = self.sigma_diff
        (ax, bx), (ay, by) = self.sigma_diff_ci
        lines = [f"{self.label}: {self.n_pairs} pairs ({int(np.sum(self.pairs['used']))} kept by the fit's clipping); "
                 f"fit {self.fit.kind}: "
                 f"shift ({self.fit.shift_mas[0]:.1f}, {self.fit.shift_mas[1]:.1f}) mas, "
                 f"rotation {self.fit.rotation_arcsec:.3f}\", scale {self.fit.scale_ppm:.1f} ppm",
                 f"  differences: sigma_E {sx:.2f} [{ax:.2f}, {bx:.2f}], sigma_N {sy:.2f} [{ay:.2f}, {by:.2f}] mas; "
                 f"radial P90 {self.p90_diff:.1f} [{self.p90_diff_ci[0]:.1f}, {self.p90_diff_ci[1]:.1f}] mas"]
        if self.sigma_cat is not None:
            (cx, cy), ((a1, b1), (a2, b2)) = self.sigma_cat, self.sigma_cat_ci
            lines.append(f"  catalog alone ({self.cat_method}): sigma_E {cx:.2f} [{a1:.2f}, {b1:.2f}], "
                         f"sigma_N {cy:.2f} [{a2:.2f}, {b2:.2f}] mas; 1-D {self.sigma_cat_1d:.2f} "
                         f"[{self.sigma_cat_1d_ci[0]:.2f}, {self.sigma_cat_1d_ci[1]:.2f}] mas")
        else:
            lines.append("  catalog alone: not separable from the reference (no reference errors given); "
                         "the difference sigma is an upper bound")
        if self.ref_sigma_rms is not None:
            lines.append(f"  reference's own errors (RMS): E {self.ref_sigma_rms[0]:.2f}, N {self.ref_sigma_rms[1]:.2f} mas")
        if self.calibration is not None:
            (k1, k2), ((a1, b1), (a2, b2)) = self.calibration, self.calibration_ci
            lines.append(f"  catalog's reported errors x measured/reported: E {k1:.2f} [{a1:.2f}, {b1:.2f}], "
                         f"N {k2:.2f} [{a2:.2f}, {b2:.2f}] (1 = calibrated)")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __str__(self):
        return self.report()


def _ref_errors(ref, idx_ref, ref_err):
    """Per-pair reference errors (mas, per axis) or None."""
    if ref_err is None or ref_err is False:
        return None
    n = idx_ref.size
    if isinstance(ref_err, str) and ref_err == "auto":
        for ex, ey in (("ra_err", "dec_err"), ("ra_error", "dec_error")):
            if ex in ref.colnames and ey in ref.colnames:
                import astropy.units as u

                return _col_values(ref, ex, u.mas)[idx_ref], _col_values(ref, ey, u.mas)[idx_ref]
        return None
    if np.isscalar(ref_err):
        return np.full(n, float(ref_err)), np.full(n, float(ref_err))
    ex, ey = ref_err
    ex, ey = np.broadcast_to(np.asarray(ex, float), (len(ref),)), np.broadcast_to(np.asarray(ey, float), (len(ref),))
    return ex[idx_ref], ey[idx_ref]


def _catalog_epoch(table, epoch, what):
    if epoch is not None:
        return float(epoch)
    for key in ("epoch", "EPOCH", "ref_epoch"):
        if key in table.meta and table.meta[key] is not None:
            try:
                return float(table.meta[key])
            except (TypeError, ValueError):
                pass
    return None


def _has_pm(table):
    return "pmra" in table.colnames and "pmdec" in table.colnames


def compare_catalogs(cat, ref, fit="shift+rotation+scale", max_sep=0.3, equal=False, ref_err="auto",
                     epoch=None, ref_epoch=None, n_boot=200, clip_sigma=5.0, offset_mas=(0.0, 0.0),
                     drop_nan=False, seed=0, label=None, cat_err="auto", error_floor_mas=0.0):
    """Match two catalogs, fit a plane transform, and measure the scatter of the differences.

    Parameters
    ----------
    cat : `~astropy.table.Table`
        The catalog to assess (``ra``, ``dec`` in degrees; ``meta['epoch']`` decimal year).
    ref : `~astropy.table.Table`
        Another catalog of the same field: an independent image's catalog (``equal=True``),
        Gaia DR3 (proper motions are applied automatically, see :func:`propagate_reference`),
        or HSC.
    fit : {'shift', 'shift+rotation+scale', 'affine'}
        Transform removed before measuring scatter (2, 4 or 6 parameters).
    max_sep : float or Quantity
        Match radius, arcsec.
    equal : bool
        Declare both catalogs equally precise: sigma_cat = sigma_diff / sqrt(2).
    ref_err : 'auto', None, float or (array, array)
        The reference's own 1-sigma errors per axis, mas. ``'auto'`` reads ``ra_err/dec_err`` or
        Gaia's ``ra_error/dec_error`` (after propagation to the epoch). Removed from the
        differences: d_i ~ N(0, sigma_cat,i^2 + e_i^2), solved robustly (median of the normalised
        residuals), so every star keeps its own error. For ``equal=True`` they are the other
        catalog's errors.
    epoch, ref_epoch : float, optional
        Decimal years of ``cat`` and ``ref``; default ``meta['epoch']`` / the ``ref_epoch``
        column or meta. Needed when ``ref`` has proper motions.
    n_boot : int
        Bootstrap draws for the confidence intervals.
    clip_sigma : float
        Outlier clipping of the transform fit (robust sigmas).
    offset_mas : (float, float)
        Coarse pre-alignment (see :func:`coarse_offset`).
    drop_nan : bool
        Ignore NaN positions instead of raising.
    seed : int
    label : str, optional
    cat_err : 'auto', None, float or (array, array)
        The catalog's reported per-source errors (mas; ``'auto'``: ``ra_err``/``dec_err``). When
        known, the comparison calibrates them (measured/reported ratio, ``result.calibration``)
        and the catalog's scatter is that ratio times its reported errors -- the fair way to
        summarise sources whose errors span 0.1-20 mas. Statistics use all matched pairs (the
        MAD is robust); clipping only protects the transform fit.
    error_floor_mas : float
        Added in quadrature to the reported errors of both catalogs before calibrating them: the
        systematic floor (PSF model, pixel phase, drizzling) that formal errors of bright
        sources miss -- typically 0.01-0.03 pixel (Anderson & King 2000, PASP 112, 1360).

    Returns
    -------
    result : ComparisonResult

    Raises
    ------
    WorkbookError
        No overlap, NaN positions, missing epoch for proper-motion propagation, or a
        pathological match (pairs spread out to ``max_sep``: the catalogs need pre-alignment).

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.table import Table
    >>> rng = np.random.default_rng(2)
    >>> ra, dec = 53.0 + rng.uniform(0, 0.03, 2000), -27.8 + rng.uniform(0, 0.03, 2000)
    >>> a = Table({"ra": ra + rng.normal(0, 5, 2000) / 3.6e6 / np.cos(np.radians(dec)),
    ...            "dec": dec + rng.normal(0, 5, 2000) / 3.6e6})
    >>> b = Table({"ra": ra + rng.normal(0, 5, 2000) / 3.6e6 / np.cos(np.radians(dec)),
    ...            "dec": dec + rng.normal(0, 5, 2000) / 3.6e6})
    >>> res = compare_catalogs(a, b, equal=True)
    >>> 4.5 < res.sigma_cat_1d < 5.5
    True
    """
    from astropy.table import Table

    if label is None:
        meta = getattr(ref, "meta", {}) or {}
        label = str(meta.get("name", meta.get("catalog", "reference")))
    kind = _normalise_fit(fit)
    notes = []
    _radec(cat, "the catalog", drop_nan)
    _radec(ref, "the reference catalog", drop_nan)
    t_cat = _catalog_epoch(cat, epoch, "the catalog")
    if _has_pm(ref):
        if t_cat is None:
            raise WorkbookError(
                "the reference has proper motions but the catalog has no epoch; pass epoch=<decimal year of "
                "the image> (from DATE-OBS/EXPSTART) or set cat.meta['epoch']")
        ref = propagate_reference(ref, t_cat, ref_epoch=ref_epoch)
        notes.append(f"reference propagated from epoch {ref.meta['propagated_from']:g} to {t_cat:g} "
                     f"({ref.meta['n_without_pm']} without proper motion kept at their catalog position)")
    else:
        t_ref = _catalog_epoch(ref, ref_epoch, "the reference")
        if t_cat is not None and t_ref is not None and abs(t_cat - t_ref) > 1.0:
            notes.append(f"catalog epochs differ by {abs(t_cat - t_ref):.1f} yr and the reference has no proper "
                         "motions: moving stars add scatter (clipped if large)")

    pairs = match(cat, ref, max_sep=max_sep, drop_nan=drop_nan, offset_mas=offset_mas)
    max_sep_mas = pairs.meta["max_sep_mas"]
    n_matched = len(pairs)
    if n_matched >= 10 and np.median(pairs["sep"]) > 0.5 * max_sep_mas:
        raise WorkbookError(
            f"matched pairs are spread out to max_sep (median separation {np.median(pairs['sep']):.0f} mas of "
            f"{max_sep_mas:.0f} mas): the catalogs look misaligned by more than the match radius; pre-align them "
            "coarsely (offset_mas=coarse_offset(cat, ref)) or raise max_sep")
    ra1, dec1, _ = _radec(cat, "the catalog", True)
    ra2, dec2, _ = _radec(ref, "the reference catalog", True)
    ic, ir = np.asarray(pairs["idx_cat"]), np.asarray(pairs["idx_ref"])
    ra0, dec0 = float(np.median(ra2[ir])), float(np.median(dec2[ir]))
    xc, yc = tangent_plane_mas(ra1[ic], dec1[ic], ra0, dec0)
    xr, yr = tangent_plane_mas(ra2[ir], dec2[ir], ra0, dec0)
    n_par = _FIT_TYPES[kind]
    if n_matched < 3 * n_par:
        notes.append(f"only {n_matched} pairs: fit reduced from {kind} to shift")
        kind, n_par = "shift", 2
    if n_matched < 3:
        raise WorkbookError(f"only {n_matched} matched pair(s); at least 3 are needed to measure anything -- "
                            "check the overlap of the catalogs or raise max_sep")
    transform, dx, dy, used = fit_transform(xc, yc, xr, yr, fit=kind, clip_sigma=clip_sigma, center=(ra0, dec0))
    errs = _ref_errors(ref, ir, ref_err)
    out_pairs = Table({"idx_cat": ic, "idx_ref": ir, "xi": xr, "eta": yr, "dx": dx, "dy": dy, "used": used})
    for c in ("xi", "eta", "dx", "dy"):
        out_pairs[c].unit = "mas"
    if errs is not None:
        out_pairs["ref_err_x"], out_pairs["ref_err_y"] = errs
        out_pairs["ref_err_x"].unit = out_pairs["ref_err_y"].unit = "mas"
    cerrs = _ref_errors(cat, ic, cat_err)
    if error_floor_mas:
        cerrs = None if cerrs is None else tuple(np.hypot(e, error_floor_mas) for e in cerrs)
        if equal and errs is not None:
            errs = tuple(np.hypot(e, error_floor_mas) for e in errs)
            out_pairs["ref_err_x"], out_pairs["ref_err_y"] = errs
            out_pairs["ref_err_x"].unit = out_pairs["ref_err_y"].unit = "mas"
    if cerrs is not None:
        out_pairs["cat_err_x"], out_pairs["cat_err_y"] = cerrs
        out_pairs["cat_err_x"].unit = out_pairs["cat_err_y"].unit = "mas"
    return _scatter_result(label, transform, out_pairs, n_matched, equal, n_boot, seed, notes, n_par)


def _solve_k(d, ec, er):
    """Robust calibration factor k with d_i ~ N(0, k^2 ec_i^2 + er_i^2): the k for which the
    normalised residuals |d_i| / sqrt(k^2 ec_i^2 + er_i^2) have the Gaussian median 0.6745
    (bisection; vectorised over leading axes). k = 0 when the reference's errors explain it all."""
    target = 0.6744897501960817
    ad = np.abs(d)
    hi = np.maximum(2.0 * np.median(ad / ec, axis=-1) / target, 1e-9)
    lo = np.zeros_like(hi)
    zero = np.median(ad / np.maximum(er, 1e-12), axis=-1) <= target
    for _ in range(45):
        mid = 0.5 * (lo + hi)
        g = np.median(ad / np.sqrt((mid[..., None] * ec) ** 2 + er ** 2), axis=-1) - target
        lo = np.where(g > 0, mid, lo)
        hi = np.where(g > 0, hi, mid)
    return np.where(zero, 0.0, 0.5 * (lo + hi))


def _boot_solve_k(d, ec, er, n_boot, seed, max_n=20000):
    """Bootstrap of :func:`_solve_k` (m-out-of-n with rescaling above ``max_n`` pairs)."""
    n = d.size
    if not n_boot:
        return np.array([float(_solve_k(d, ec, er))])
    rng = np.random.default_rng(seed)
    m = min(n, max_n)
    point = float(_solve_k(d, ec, er))
    out = np.empty(n_boot)
    chunk = max(1, min(n_boot, 1_000_000 // m))
    for start in range(0, n_boot, chunk):
        stop = min(start + chunk, n_boot)
        idx = rng.integers(0, n, (stop - start, m))
        out[start:stop] = _solve_k(d[idx], ec[idx], er[idx])
    if m < n:
        out = point + (out - point) * math.sqrt(m / n)
    return out


def _scatter_result(label, transform, pairs, n_matched, equal, n_boot, seed, notes, n_par):
    """Scatter statistics of the residuals of all matched pairs (robust, so outliers need no clipping).

    Raw differences: 1.4826 x MAD per axis and radial P90. Per-catalog scatter: with per-source
    catalog errors e_c (``cat_err_x/y``) the residuals calibrate them: d_i ~ N(0, k^2 e_c,i^2 + e_r,i^2)
    (reference errors e_r known), or N(0, k^2 (e_c,i^2 + e_r,i^2)) for equal catalogs; the
    catalog's scatter on these pairs is k x the Gaussian-equivalent MAD of its errors. Without
    catalog errors e_c = 1 and k is that scatter itself.
    """
    dx, dy = np.asarray(pairs["dx"], float), np.asarray(pairs["dy"], float)
    n = dx.size
    dof = math.sqrt(2 * n / max(2 * n - n_par, 1))  # the fit absorbed n_par degrees of freedom
    cx, cy = np.median(dx), np.median(dy)
    dx, dy = dx - cx, dy - cy
    adx, ady = np.abs(dx), np.abs(dy)
    r = np.hypot(dx, dy)
    k = MAD_TO_SIGMA * dof
    sx, sy = k * np.median(adx), k * np.median(ady)
    p90 = float(np.quantile(r, 0.9)) * dof
    boot = _bootstrap_order_stats([adx, ady, r], [0.5, 0.5, 0.9], n_boot, seed) if n_boot else np.array(
        [[sx / k], [sy / k], [p90 / dof]])
    bsx, bsy, bp90 = boot[0] * k, boot[1] * k, boot[2] * dof
    b1d = np.sqrt(0.5 * (bsx ** 2 + bsy ** 2))
    s1d = math.sqrt(0.5 * (sx ** 2 + sy ** 2))
    res = ComparisonResult(
        label=label, fit=transform, pairs=pairs, n_pairs=n, n_matched=n_matched,
        sigma_diff=(float(sx), float(sy)), sigma_diff_ci=(_ci(bsx), _ci(bsy)),
        sigma_diff_1d=s1d, sigma_diff_1d_ci=_ci(b1d), p90_diff=p90, p90_diff_ci=_ci(bp90), notes=notes,
        boot={"sx": bsx, "sy": bsy, "p90": bp90})

    def col(name):
        return np.asarray(pairs[name], float) if name in pairs.colnames else None

    ecx, ecy, erx, ery = col("cat_err_x"), col("cat_err_y"), col("ref_err_x"), col("ref_err_y")
    have_ec = ecx is not None and np.mean(np.isfinite(ecx) & (ecx > 0) & np.isfinite(ecy) & (ecy > 0)) >= 0.8
    have_er = erx is not None and np.mean(np.isfinite(erx) & np.isfinite(ery)) >= 0.8
    if not equal and not have_er:
        if erx is not None:
            notes.append("the reference's errors are unknown for most pairs: the difference sigma is an upper "
                         "bound on the catalog's")
        return res
    ones = np.ones(n)
    ecx, ecy = (ecx, ecy) if have_ec else (ones, ones)
    ok = np.isfinite(ecx) & (ecx > 0) & np.isfinite(ecy) & (ecy > 0)
    if have_er:
        ok &= np.isfinite(erx) & np.isfinite(ery)
    if ok.sum() < 3:
        return res
    if ok.sum() < n:
        notes.append(f"{n - int(ok.sum())} pairs without errors left out of the per-catalog sigma")
    ddx, ddy, ecx, ecy = dx[ok], dy[ok], ecx[ok], ecy[ok]
    if equal:
        rx, ry = (erx[ok], ery[ok]) if have_er else (ecx, ecy)
        px, py = ddx / np.sqrt(ecx ** 2 + rx ** 2), ddy / np.sqrt(ecy ** 2 + ry ** 2)
        apx, apy = np.abs(px - np.median(px)), np.abs(py - np.median(py))
        kx, ky = k * np.median(apx), k * np.median(apy)
        b = _bootstrap_order_stats([apx, apy], [0.5, 0.5], n_boot, seed + 1) * k if n_boot else np.array([[kx], [ky]])
        bkx, bky = b[0], b[1]
        res.cat_method = "equal catalogs"
    else:
        rx, ry = erx[ok], ery[ok]
        res.ref_sigma_rms = (float(np.sqrt(np.mean(rx ** 2))), float(np.sqrt(np.mean(ry ** 2))))
        kx, ky = float(_solve_k(ddx, ecx, rx)) * dof, float(_solve_k(ddy, ecy, ry)) * dof
        bkx = _boot_solve_k(ddx, ecx, rx, n_boot, seed + 1) * dof
        bky = _boot_solve_k(ddy, ecy, ry, n_boot, seed + 2) * dof
        res.cat_method = "reference errors removed"
        if kx == 0 or ky == 0:
            notes.append("the reference's own errors explain all of the scatter on one axis: the catalog sigma "
                         "is below what this reference can measure (see the interval)")
    mx = float(_mixture_sigma(ecx)) if have_ec else 1.0
    my = float(_mixture_sigma(ecy)) if have_ec else 1.0
    bcx, bcy = bkx * mx, bky * my
    res.sigma_cat = (float(kx * mx), float(ky * my))
    res.sigma_cat_ci = (_ci(bcx), _ci(bcy))
    res.sigma_cat_1d = math.sqrt(0.5 * (res.sigma_cat[0] ** 2 + res.sigma_cat[1] ** 2))
    res.sigma_cat_1d_ci = _ci(np.sqrt(0.5 * (bcx ** 2 + bcy ** 2)))
    res.p90_cat = res.sigma_cat_1d * math.sqrt(-2 * math.log(0.1))
    res.boot.update(cx=bcx, cy=bcy)
    if have_ec:
        res.calibration = (float(kx), float(ky))
        res.calibration_ci = (_ci(bkx), _ci(bky))
        res.boot.update(kx=bkx, ky=bky)
    return res


# --------------------------------------------------------------------------- Gaia propagation
def propagate_reference(ref, epoch, ref_epoch=None, max_err_mas=None):
    """Propagate a Gaia-like reference catalog to ``epoch`` with its proper motions and errors.

    Positions move with `astropy.coordinates.SkyCoord.apply_space_motion` (parallax used for the
    distance when positive; the annual parallax displacement itself, <~1 mas for faint stars, is
    not modelled). Errors per axis grow as
    sigma(t)^2 = sigma_0^2 + dt^2 sigma_pm^2 + 2 dt rho sigma_0 sigma_pm (Gaia DR3 documentation,
    section 4.1.7; ``ra_pmra_corr``/``dec_pmdec_corr`` used when present). Stars without proper
    motions (Gaia's 2-parameter solutions) keep their position and get NaN errors.

    Parameters
    ----------
    ref : `~astropy.table.Table`
        ``ra, dec`` (deg), ``ra_error, dec_error`` (mas; RA error along RA*cos(Dec)),
        ``pmra, pmdec`` (mas/yr, pmra along RA*cos(Dec)), ``pmra_error, pmdec_error``,
        optional ``parallax`` (mas), ``ref_epoch`` column or meta (default 2016.0, Gaia DR3).
    epoch : float
        Target decimal year (e.g. the image's epoch).
    ref_epoch : float, optional
        Overrides the catalog's reference epoch.
    max_err_mas : float, optional
        Keep only stars whose propagated error (larger axis) is at most this.

    Returns
    -------
    propagated : `~astropy.table.Table`
        Copy with ``ra, dec`` at ``epoch``, ``ra_err, dec_err`` (mas, propagated), ``pm_ok``;
        ``meta['epoch'] = epoch``, ``meta['propagated_from']``, ``meta['n_without_pm']``.

    Examples
    --------
    >>> from astropy.table import Table
    >>> g = Table({"ra": [10.0], "dec": [0.0], "ra_error": [0.1], "dec_error": [0.1], "pmra": [10.0],
    ...            "pmdec": [0.0], "pmra_error": [0.5], "pmdec_error": [0.5], "ref_epoch": [2016.0]})
    >>> p = propagate_reference(g, 2026.0)
    >>> round(float((p["ra"][0] - 10.0) * 3.6e6), 1), round(float(p["ra_err"][0]), 2)
    (100.0, 5.0)
    """
    import astropy.units as u
    from astropy.coordinates import SkyCoord, Distance
    from astropy.time import Time

    if epoch is None:
        raise WorkbookError("no epoch to propagate the reference to; pass epoch=<decimal year of the image>")
    epoch = float(epoch)
    if not 1900 <= epoch <= 2100:
        raise WorkbookError(f"epoch = {epoch!r} is not a decimal year; give e.g. 2012.75")
    if ref_epoch is None:
        if "ref_epoch" in ref.colnames:
            ref_epochs = _col_values(ref, "ref_epoch")
            ref_epoch = float(np.nanmedian(ref_epochs)) if np.isfinite(ref_epochs).any() else None
        if ref_epoch is None:
            ref_epoch = ref.meta.get("ref_epoch", ref.meta.get("epoch"))
        if ref_epoch is None:
            if "source_id" in ref.colnames:
                ref_epoch = 2016.0  # Gaia DR3 reference epoch (Gaia Collaboration, Vallenari et al. 2023)
            else:
                raise WorkbookError("the reference has proper motions but no reference epoch; pass ref_epoch= "
                                    "(e.g. 2016.0 for Gaia DR3) or add a 'ref_epoch' column")
    ref_epoch = float(ref_epoch)
    ra, dec, good = _radec(ref, "the reference catalog", drop_nan=True)
    out = ref.copy(copy_data=True)
    pmra, pmdec = _col_values(ref, "pmra", u.mas / u.yr), _col_values(ref, "pmdec", u.mas / u.yr)
    pm_ok = good & np.isfinite(pmra) & np.isfinite(pmdec)
    dt = epoch - ref_epoch
    new_ra, new_dec = ra.copy(), dec.copy()
    if pm_ok.any() and dt != 0:
        plx = _col_values(ref, "parallax", u.mas) if "parallax" in ref.colnames else np.full(len(ref), np.nan)
        plx = np.where(np.isfinite(plx) & (plx > 0.01), plx, 0.01)  # tiny parallax: no effect on the motion
        c = SkyCoord(ra=ra[pm_ok] * u.deg, dec=dec[pm_ok] * u.deg, pm_ra_cosdec=pmra[pm_ok] * u.mas / u.yr,
                     pm_dec=pmdec[pm_ok] * u.mas / u.yr, distance=Distance(parallax=plx[pm_ok] * u.mas),
                     obstime=Time(ref_epoch, format="jyear"), frame="icrs")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            moved = c.apply_space_motion(new_obstime=Time(epoch, format="jyear"))
        new_ra[pm_ok], new_dec[pm_ok] = moved.ra.deg, moved.dec.deg

    def err(pos, pm, corr):
        e0 = _col_values(ref, pos, u.mas) if pos in ref.colnames else np.full(len(ref), np.nan)
        ep = _col_values(ref, pm, u.mas / u.yr) if pm in ref.colnames else np.full(len(ref), np.nan)
        rho = _col_values(ref, corr) if corr in ref.colnames else np.zeros(len(ref))
        rho = np.where(np.isfinite(rho), rho, 0.0)
        var = e0 ** 2 + (dt * ep) ** 2 + 2 * dt * rho * e0 * ep
        return np.where(pm_ok, np.sqrt(np.maximum(var, 0)), np.nan)

    out["ra"], out["dec"] = new_ra, new_dec
    out["ra"].unit = out["dec"].unit = u.deg
    out["ra_err"] = err("ra_error", "pmra_error", "ra_pmra_corr")
    out["dec_err"] = err("dec_error", "pmdec_error", "dec_pmdec_corr")
    out["ra_err"].unit = out["dec_err"].unit = u.mas
    out["pm_ok"] = pm_ok
    out.meta.update(epoch=epoch, propagated_from=ref_epoch, n_without_pm=int((good & ~pm_ok).sum()))
    if max_err_mas is not None:
        keep = pm_ok & (np.fmax(out["ra_err"], out["dec_err"]) <= max_err_mas)
        out = out[keep]
    for name in ("pmra", "pmdec"):  # motion applied: do not apply it again downstream
        out.rename_column(name, name + "_applied")
    return out


# --------------------------------------------------------------------------- three catalogs
def three_cornered_hat(catalogs, labels=None, max_sep=0.3, fit="shift+rotation+scale", n_boot=200,
                       clip_sigma=5.0, seed=0):
    """Individual scatter of three catalogs of the same field from their pairwise differences.

    With sigma_AB^2 = sigma_A^2 + sigma_B^2 etc. (independent errors),
    sigma_A^2 = (sigma_AB^2 + sigma_AC^2 - sigma_BC^2) / 2 (the "three-cornered hat",
    Gray & Allan 1974). Only sources matched in all three catalogs are used, each pair gets its
    own transform fit, and the bootstrap resamples the same sources for the three differences.

    Parameters
    ----------
    catalogs : sequence of three Tables
    labels : sequence of three str, optional
    max_sep, fit, n_boot, clip_sigma, seed
        As in :func:`compare_catalogs`.

    Returns
    -------
    result : dict
        ``labels``, ``n_triples``, ``sigma`` {label: (E, N)}, ``sigma_ci`` {label: ((lo, hi), (lo, hi))},
        ``sigma_1d`` {label: float}, ``sigma_1d_ci`` {label: (lo, hi)}, ``pairwise`` {"A-B": (E, N)},
        ``notes``.

    Raises
    ------
    WorkbookError
        Not three catalogs, or fewer than 3 sources common to all three.
    """
    if len(catalogs) != 3:
        raise WorkbookError(f"the three-cornered hat needs exactly 3 catalogs, got {len(catalogs)}; "
                            "use compare_catalogs(..., equal=True) for two")
    labels = list(labels) if labels else ["A", "B", "C"]
    a, b, c = catalogs
    ab = match(a, b, max_sep=max_sep)
    ac = match(a, c, max_sep=max_sep)
    common, i_ab, i_ac = np.intersect1d(np.asarray(ab["idx_cat"]), np.asarray(ac["idx_cat"]), return_indices=True)
    ib, ic = np.asarray(ab["idx_ref"])[i_ab], np.asarray(ac["idx_ref"])[i_ac]
    if common.size < 3:
        raise WorkbookError(f"only {common.size} sources are common to the three catalogs; the three-cornered hat "
                            "needs overlapping catalogs of the same field")
    pos = []
    for t, idx in ((a, common), (b, ib), (c, ic)):
        ra, dec, _ = _radec(t, "a catalog", True)
        pos.append((ra[idx], dec[idx]))
    ra0, dec0 = float(np.median(pos[0][0])), float(np.median(pos[0][1]))
    xy = [tangent_plane_mas(r, d, ra0, dec0) for r, d in pos]
    kind = _normalise_fit(fit)
    combos = {(0, 1): None, (0, 2): None, (1, 2): None}
    used = np.ones(common.size, bool)
    for (p, q) in combos:
        _, dx, dy, u_ = fit_transform(*xy[p], *xy[q], fit=kind, clip_sigma=clip_sigma, center=(ra0, dec0))
        combos[(p, q)] = (dx, dy)
        used &= u_
    n = int(used.sum())
    n_par = _FIT_TYPES[kind]
    dof = math.sqrt(2 * n / max(2 * n - n_par, 1))
    arrays = []
    for (p, q), (dx, dy) in combos.items():
        for d in (dx[used], dy[used]):
            arrays.append(np.abs(d - np.median(d)))
    k = MAD_TO_SIGMA * dof
    point = np.array([np.median(x) for x in arrays]) * k
    boot = _bootstrap_order_stats(arrays, [0.5] * 6, n_boot, seed) * k if n_boot else point[:, None]
    # variances per pair and axis: rows (AB_E, AB_N, AC_E, AC_N, BC_E, BC_N)
    notes = []

    def solve(v):
        vab, vac, vbc = v[0:2] ** 2, v[2:4] ** 2, v[4:6] ** 2
        sa = (vab + vac - vbc) / 2
        sb = (vab + vbc - vac) / 2
        sc = (vac + vbc - vab) / 2
        return [np.sqrt(np.clip(s, 0, None)) for s in (sa, sb, sc)], [s for s in (sa, sb, sc)]

    (pa, pb, pc), raw = solve(point)
    for lab, s in zip(labels, raw):
        if np.any(s < 0):
            notes.append(f"{lab}: negative variance estimate (its scatter is below the others' uncertainty), set to 0")
    (ba, bb, bc), _ = solve(boot)
    out = {"labels": labels, "n_triples": n, "sigma": {}, "sigma_ci": {}, "sigma_1d": {}, "sigma_1d_ci": {},
           "pairwise": {}, "notes": notes, "boot": {},
           "idx": {labels[0]: common[used], labels[1]: ib[used], labels[2]: ic[used]}}
    for lab, s, bs in zip(labels, (pa, pb, pc), (ba, bb, bc)):
        out["sigma"][lab] = (float(s[0]), float(s[1]))
        out["sigma_ci"][lab] = (_ci(bs[0]), _ci(bs[1]))
        out["sigma_1d"][lab] = float(np.sqrt(0.5 * (s[0] ** 2 + s[1] ** 2)))
        b1 = np.sqrt(0.5 * (bs[0] ** 2 + bs[1] ** 2))
        out["sigma_1d_ci"][lab] = _ci(b1)
        out["boot"][lab] = b1
    for j, (p, q) in enumerate(combos):
        out["pairwise"][f"{labels[p]}-{labels[q]}"] = (float(point[2 * j]), float(point[2 * j + 1]))
    return out


# --------------------------------------------------------------------------- method 1: error budget
def _mixture_sigma(sig, axis=-1):
    """Gaussian-equivalent 1.4826 x MAD of a scale mixture of N(0, sig_i^2): solves
    mean_i erf(m / (sqrt(2) sig_i)) = 1/2 for the median |x| = m (bisection, vectorised)."""
    from scipy.special import erf

    sig = np.asarray(sig, float)
    lo = np.zeros(sig.shape[:-1])
    hi = np.max(sig, axis=-1) * 5.0
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        f = np.mean(erf(mid[..., None] / (math.sqrt(2) * sig)), axis=-1) - 0.5
        lo = np.where(f < 0, mid, lo)
        hi = np.where(f < 0, hi, mid)
    return MAD_TO_SIGMA * 0.5 * (lo + hi)


def error_budget(cat, snr_bins=(3, 10, 30, 100, 300, 1000, 1e9), calibration=1.0, select=None, n_boot=200, seed=0,
                 error_floor_mas=0.0):
    """Method 1: the scatter the extraction's own per-source errors predict.

    The sources' errors differ (they scale roughly as FWHM/SNR), so the catalog's scatter is the
    Gaussian-equivalent sigma (1.4826 x MAD) of the mixture of their error distributions -- the
    number the other methods measure on the same sources.

    Parameters
    ----------
    cat : `~astropy.table.Table`
        Source catalog with ``ra_err``, ``dec_err`` (mas) and ``snr`` (schema of DEVELOPING.md).
    snr_bins : sequence of float
        Bin edges for the table by SNR.
    calibration : float
        Factor to apply to the reported errors (measured/reported, e.g. from
        :func:`injection_recovery`); 1 = trust them.
    select : array of bool, optional
        Sources to include (e.g. the MSA targets or point sources).
    n_boot : int
        Bootstrap draws over sources for the interval.
    error_floor_mas : float
        Systematic floor added in quadrature to every reported error (see :func:`compare_catalogs`).

    Returns
    -------
    budget : dict
        ``n``, ``sigma`` (E, N), ``sigma_ci``, ``sigma_1d``, ``sigma_1d_ci``, ``median_err`` (E, N),
        ``frac_le_5``, ``frac_le_10`` (fraction of sources whose 1-D error is <= 5 / 10 mas),
        ``by_snr`` (Table: ``snr_lo, snr_hi, n, median_err_ra, median_err_dec``), ``calibration``.

    Raises
    ------
    WorkbookError
        Missing error columns or no finite errors.

    Examples
    --------
    >>> from astropy.table import Table
    >>> b = error_budget(Table({"ra_err": [5.0] * 50, "dec_err": [5.0] * 50, "snr": [20.0] * 50}), n_boot=20)
    >>> round(b["sigma_1d"], 2)
    5.0
    """
    import astropy.units as u
    from astropy.table import Table

    for name in ("ra_err", "dec_err"):
        if name not in cat.colnames:
            raise WorkbookError(f"the catalog has no {name!r} column (mas); it must come from helpers.sources "
                                "(notebook 02) or carry per-source errors")
    ex, ey = _col_values(cat, "ra_err", u.mas), _col_values(cat, "dec_err", u.mas)
    ok = np.isfinite(ex) & np.isfinite(ey) & (ex > 0) & (ey > 0)
    if select is not None:
        ok &= np.asarray(select, bool)
    if ok.sum() == 0:
        raise WorkbookError("no source has finite positive ra_err/dec_err; check the extraction step")
    ex, ey = np.hypot(ex[ok], error_floor_mas) * calibration, np.hypot(ey[ok], error_floor_mas) * calibration
    sx, sy = float(_mixture_sigma(ex)), float(_mixture_sigma(ey))
    rng = np.random.default_rng(seed)
    n = ex.size
    bx, by = np.empty(n_boot), np.empty(n_boot)
    chunk = max(1, 1_000_000 // n)
    for start in range(0, n_boot, chunk):
        stop = min(start + chunk, n_boot)
        idx = rng.integers(0, n, (stop - start, n))
        bx[start:stop], by[start:stop] = _mixture_sigma(ex[idx]), _mixture_sigma(ey[idx])
    e1d = np.sqrt(0.5 * (ex ** 2 + ey ** 2))
    snr = _col_values(cat, "snr")[ok] if "snr" in cat.colnames else np.full(n, np.nan)
    rows = []
    for lo, hi in zip(snr_bins[:-1], snr_bins[1:]):
        sel = (snr >= lo) & (snr < hi)
        rows.append((lo, hi, int(sel.sum()), float(np.median(ex[sel])) if sel.any() else np.nan,
                     float(np.median(ey[sel])) if sel.any() else np.nan))
    by_snr = Table(rows=rows, names=("snr_lo", "snr_hi", "n", "median_err_ra", "median_err_dec"))
    b1 = np.sqrt(0.5 * (bx ** 2 + by ** 2)) if n_boot else np.array([math.hypot(sx, sy) / math.sqrt(2)])
    return {"n": int(n), "sigma": (sx, sy), "sigma_ci": (_ci(bx), _ci(by)) if n_boot else None,
            "sigma_1d": math.sqrt(0.5 * (sx ** 2 + sy ** 2)), "sigma_1d_ci": _ci(b1),
            "median_err": (float(np.median(ex)), float(np.median(ey))),
            "frac_le_5": float(np.mean(e1d <= 5)), "frac_le_10": float(np.mean(e1d <= 10)),
            "by_snr": by_snr, "calibration": float(calibration), "boot": b1}


# --------------------------------------------------------------------------- method 5: injection-recovery
def _default_extract(*args, **kwargs):
    from .. import sources  # lazy: sources is upstream but may be absent in partial checkouts

    return sources.extract_sources(*args, **kwargs)


def injection_recovery(image, wcs, psf, extract=None, error=None, n_inject=300, snr_range=(5.0, 300.0),
                       existing=None, avoid_pix=None, edge_pix=None, match_pix=1.5, seed=0, extract_kwargs=None,
                       n_boot=200):
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

    Returns
    -------
    result : dict
        ``stars`` (Table: ``x_true, y_true, snr_inj, flux, recovered, x, y, dx_mas, dy_mas,
        err_x_mas, err_y_mas``), ``n_injected``, ``n_recovered``, ``pixel_scale_mas``,
        ``sigma`` (E, N: robust sigma of measured - true, mas) with ``sigma_ci``,
        ``sigma_1d``/``sigma_1d_ci``, ``pull`` (robust sigma of (measured-true)/reported error, per
        axis; 1 = calibrated errors) with ``pull_ci``, ``by_snr`` (Table).

    Raises
    ------
    WorkbookError
        Image too small for the injection, the extractor failing, or nothing recovered.
    """
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
    injected = image.copy()
    for x0, y0, f in zip(X, Y, flux):
        ix, iy = int(round(x0)), int(round(y0))
        ys, xs = slice(max(iy - half, 0), min(iy + half + 1, ny)), slice(max(ix - half, 0), min(ix + half + 1, nx))
        yy, xx = np.mgrid[ys, xs].astype(float)
        m.x_0, m.y_0, m.flux = x0, y0, f
        injected[ys, xs] += m(xx, yy)
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
    if "ra_err" in found.colnames and "dec_err" in found.colnames:
        import astropy.units as u

        ex, ey = _col_values(found, "ra_err", u.mas), _col_values(found, "dec_err", u.mas)
    elif "x_err" in found.colnames and "y_err" in found.colnames:
        ex, ey = _col_values(found, "x_err") * scale_mas, _col_values(found, "y_err") * scale_mas
    else:
        ex = ey = None
    stars["err_x_mas"] = np.where(rec, ex[jj], np.nan) if ex is not None else np.full(X.size, np.nan)
    stars["err_y_mas"] = np.where(rec, ey[jj], np.nan) if ey is not None else np.full(X.size, np.nan)
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
        px, py = ddx / np.asarray(stars["err_x_mas"])[rec], ddy / np.asarray(stars["err_y_mas"])[rec]
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
           "pull": None, "pull_ci": None, "by_snr": by_snr, "boot": b1}
    if have_err:
        out["pull"] = (float(point[2]), float(point[3]))
        out["pull_ci"] = (_ci(boot[2]), _ci(boot[3]))
        out["pull_boot"] = (boot[2], boot[3])
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
        ``a``, ``b`` (mas; averaged over axes), ``boot`` (n_boot x 2 array of (a, b)).
    """
    from scipy.optimize import minimize

    st = result["stars"]
    rec = np.asarray(st["recovered"], bool)
    snr = np.asarray(st["snr_inj"], float)[rec]
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
    return {"a": float(a), "b": float(b), "boot": boot}


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


def catalog_equivalent(sigma, ci, cat, subset, select=None, error_floor_mas=0.0):
    """Scale a scatter measured on a subset of a catalog's sources to the whole catalog.

    Each comparison sees only its matched sources (Gaia: bright stars; HSC: what HST detected
    repeatedly). Their reported errors say how much noisier the whole catalog is:
    sigma_all = sigma_subset x budget(all) / budget(subset), with the budget of
    :func:`error_budget`. If the reported errors are off by a constant factor, the scaling is
    still exact; it assumes only their relative sizes are right.

    Parameters
    ----------
    sigma : float
    ci : (float, float)
    cat : `~astropy.table.Table`
        With ``ra_err``, ``dec_err`` (mas).
    subset : array of int
        Row indices of the sources the comparison used.
    select : array of bool, optional
        Sources that make up "the catalog" (default: all with finite errors).
    error_floor_mas : float
        Systematic floor added to the reported errors (see :func:`compare_catalogs`).

    Returns
    -------
    sigma_all, ci_all, factor : float, (float, float), float
        ``factor`` = 1 when the catalog carries no errors.
    """
    if "ra_err" not in cat.colnames or "dec_err" not in cat.colnames or sigma is None:
        return sigma, ci, 1.0
    import astropy.units as u

    e = np.sqrt(0.5 * (_col_values(cat, "ra_err", u.mas) ** 2 + _col_values(cat, "dec_err", u.mas) ** 2)
                + error_floor_mas ** 2)
    ok = np.isfinite(e) & (e > 0)
    allsel = ok & (np.asarray(select, bool) if select is not None else True)
    sub = np.zeros(len(cat), bool)
    sub[np.asarray(subset, int)] = True
    sub &= ok
    if sub.sum() < 3 or allsel.sum() < 3:
        return sigma, ci, 1.0
    rng = np.random.default_rng(0)
    pick = lambda m: e[m] if m.sum() <= 5000 else rng.choice(e[m], 5000, replace=False)  # noqa: E731
    factor = float(_mixture_sigma(pick(allsel)) / _mixture_sigma(pick(sub)))
    return sigma * factor, (ci[0] * factor, ci[1] * factor), factor


def select_gaia(gaia, max_ruwe=1.4, min_g=None):
    """Gaia stars usable as an astrometric reference: 5/6-parameter solutions with proper
    motions, RUWE <= ``max_ruwe`` (Lindegren et al. 2021: above ~1.4 the single-star model fits
    poorly), optionally fainter than ``min_g`` (saturated in the image).

    Returns
    -------
    usable : `~astropy.table.Table`
    reasons : dict
        Counts of stars dropped per reason.
    """
    keep = np.ones(len(gaia), bool)
    reasons = {}
    if "pmra" in gaia.colnames:
        ok = np.isfinite(_col_values(gaia, "pmra"))
        reasons["no proper motion (2-parameter solution)"] = int((keep & ~ok).sum())
        keep &= ok
    if "ruwe" in gaia.colnames and max_ruwe is not None:
        ruwe = _col_values(gaia, "ruwe")
        ok = ~(ruwe > max_ruwe)
        reasons[f"RUWE > {max_ruwe:g}"] = int((keep & ~ok).sum())
        keep &= ok
    if min_g is not None and "phot_g_mean_mag" in gaia.colnames:
        ok = _col_values(gaia, "phot_g_mean_mag") >= min_g
        reasons[f"G < {min_g:g} (saturated)"] = int((keep & ~ok).sum())
        keep &= ok
    return gaia[keep], reasons


def hsc_reference(hsc):
    """Hubble Source Catalog v3 rows as a reference: ``ra, dec`` from ``MatchRA, MatchDec`` and
    per-source errors ``DSigma`` (mas; the scatter of the matched detections -- conservative, as
    the mean position is better, but HSC's relative astrometry also carries alignment errors of a
    few mas, Whitmore et al. 2016, AJ 151, 134).

    Returns
    -------
    ref : `~astropy.table.Table`
    """
    from astropy.table import Table

    ra_n, dec_n = _find(hsc, _RA_NAMES), _find(hsc, _DEC_NAMES)
    if ra_n is None or dec_n is None:
        raise WorkbookError("the HSC table has no MatchRA/MatchDec columns; re-run notebook 01 to fetch it")
    import astropy.units as u

    out = Table({"ra": _col_values(hsc, ra_n, u.deg), "dec": _col_values(hsc, dec_n, u.deg)},
                meta={"name": "HSC v3", "frame": "icrs"})
    if "DSigma" in hsc.colnames:
        err = _col_values(hsc, "DSigma", u.mas)
        err = np.where(np.isfinite(err) & (err > 0), err, np.nan)
        out["ra_err"], out["dec_err"] = err, err
    keep = np.isfinite(out["ra"]) & np.isfinite(out["dec"])
    return out[keep]


# --------------------------------------------------------------------------- method 6: patch map
def patch_map(result_or_pairs, patch_arcsec=30.0, min_per_patch=5, significance=3.0, min_offset_mas=None):
    """Method 6: mean residual offsets in MSA-sized patches, to expose spatial systematics.

    Parameters
    ----------
    result_or_pairs : ComparisonResult or Table
        A comparison result, or a table with ``xi, eta, dx, dy`` (mas) and optional ``used``.
    patch_arcsec : float
        Patch size (the MSA quadrant spans ~95"x87"; 30" is a useful scale for seams).
    min_per_patch : int
        Patches with fewer pairs are reported but not tested.
    significance : float
        A patch is flagged when its mean offset differs from zero by more than this many
        standard errors (robust sigma / sqrt(n)) ...
    min_offset_mas : float, optional
        ... and by at least this much (default: a quarter of the 1-D robust sigma of all residuals).

    Returns
    -------
    patches : `~astropy.table.Table`
        ``xi, eta`` (patch centre, mas), ``n``, ``mean_dx, mean_dy`` (mas), ``err`` (mas),
        ``chi`` (offset / error), ``flag``; ``meta`` holds ``chi2``, ``dof``, ``p_value`` (of no
        systematics at all), ``n_flagged``, ``patch_arcsec``.

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.table import Table
    >>> rng = np.random.default_rng(0)
    >>> xi, eta = rng.uniform(0, 9e4, 3000), rng.uniform(0, 9e4, 3000)
    >>> t = Table({"xi": xi, "eta": eta, "dx": rng.normal(0, 5, 3000) + 8 * (xi > 6e4), "dy": rng.normal(0, 5, 3000)})
    >>> p = patch_map(t)
    >>> bool(np.all(p["flag"] == (p["xi"] > 6e4)))
    True
    """
    from astropy.table import Table
    from scipy.stats import chi2 as chi2_dist

    pairs = result_or_pairs.pairs if isinstance(result_or_pairs, ComparisonResult) else result_or_pairs
    used = np.asarray(pairs["used"], bool) if "used" in pairs.colnames else np.ones(len(pairs), bool)
    xi, eta = np.asarray(pairs["xi"], float)[used], np.asarray(pairs["eta"], float)[used]
    dx, dy = np.asarray(pairs["dx"], float)[used], np.asarray(pairs["dy"], float)[used]
    if xi.size == 0:
        raise WorkbookError("no pairs to map; run compare_catalogs on overlapping catalogs first")
    size = patch_arcsec * 1000.0
    ix = np.floor((xi - xi.min()) / size).astype(int)
    iy = np.floor((eta - eta.min()) / size).astype(int)
    s_all = math.sqrt(0.5 * (robust_sigma(dx) ** 2 + robust_sigma(dy) ** 2))
    pooled = np.concatenate([dx - np.median(dx), dy - np.median(dy)])
    h = 0.3 * max(s_all, 1e-9)
    f0 = max(np.mean(np.abs(pooled) < h) / (2 * h), 1e-12) / 0.985  # box kernel's bias for a Gaussian
    min_off = s_all / 4 if min_offset_mas is None else min_offset_mas
    from scipy.stats import norm

    # a 2-D offset is flagged at the same false-alarm probability as a |z| > significance 1-D deviation
    chi_limit = math.sqrt(chi2_dist.isf(2 * norm.sf(significance), 2))
    rows = []
    chi2, dof = 0.0, 0
    for key in sorted(set(zip(ix.tolist(), iy.tolist()))):
        sel = (ix == key[0]) & (iy == key[1])
        n = int(sel.sum())
        mx, my = float(np.median(dx[sel])), float(np.median(dy[sel]))
        # standard error of a median: 1 / (2 f(0) sqrt(n)), f(0) the residuals' density at their centre,
        # estimated once from all pairs (= 1.2533 sigma / sqrt(n) for Gaussian residuals; right also for
        # the heavy-tailed mixtures of catalogs whose sources' errors differ)
        err = 1.0 / (2.0 * f0 * math.sqrt(n))
        chi = math.hypot(mx, my) / err
        testable = n >= min_per_patch
        flag = bool(testable and chi > chi_limit and math.hypot(mx, my) > min_off)
        if testable:
            chi2 += (mx / err) ** 2 + (my / err) ** 2
            dof += 2
        rows.append((xi.min() + (key[0] + 0.5) * size, eta.min() + (key[1] + 0.5) * size, n, mx, my, err, chi, flag))
    t = Table(rows=rows, names=("xi", "eta", "n", "mean_dx", "mean_dy", "err", "chi", "flag"))
    for c in ("xi", "eta", "mean_dx", "mean_dy", "err"):
        t[c].unit = "mas"
    t.meta.update(chi2=float(chi2), dof=int(dof), p_value=float(chi2_dist.sf(chi2, dof)) if dof else float("nan"),
                  n_flagged=int(np.sum(t["flag"])), patch_arcsec=float(patch_arcsec), sigma_1d=float(s_all))
    return t


# --------------------------------------------------------------------------- verdict
@dataclasses.dataclass
class Verdict:
    """The verdict of :func:`verdict`.

    Attributes
    ----------
    band : str
        ``"optimal"``, ``"meets 5-10 mas"``, ``"marginal"``, ``"degraded"``,
        ``"SDSS-like or worse"`` or ``"not verifiable"``.
    sigma_mas : float
    n_pairs : int
    ci : tuple or None
    sentence : str
        One plain-language sentence.
    """

    band: str
    sigma_mas: float
    n_pairs: int
    ci: tuple
    sentence: str

    def __str__(self):
        return self.sentence

    def to_dict(self):
        return dataclasses.asdict(self)


def _band(sigma):
    for edge, band, text in VERDICT_BANDS:
        if sigma <= edge:
            return band, text
    return VERDICT_BANDS[-1][1], VERDICT_BANDS[-1][2]


def verdict(sigma_mas, n_pairs, ci=None):
    """Verdict of a catalog's relative precision against the seed's bands (REFERENCE.md section 4).

    Bands (1 sigma per axis, relative): <= 5 mas optimal; <= 10 meets the 5-10 mas goal;
    <= 20 marginal; <= 50 degraded; > 50 SDSS-like or worse; fewer than 30 pairs: not verifiable.

    Parameters
    ----------
    sigma_mas : float or (float, float)
        1-sigma per axis, mas; with two axes the larger is judged (conservative).
    n_pairs : int
        Independent measurements behind it.
    ci : (float, float), optional
        Confidence interval, mentioned in the sentence (and whether it straddles a band edge).

    Returns
    -------
    v : Verdict

    Examples
    --------
    >>> verdict(7.2, 500).band
    'meets 5-10 mas'
    >>> verdict(3.0, 12).band
    'not verifiable'
    >>> verdict(50.0, 100).band
    'degraded'
    """
    if np.ndim(sigma_mas):
        sigma_mas = float(np.max(sigma_mas))
    sigma_mas = float(sigma_mas)
    n_pairs = int(n_pairs)
    if not math.isfinite(sigma_mas) or sigma_mas < 0:
        raise WorkbookError(f"sigma_mas = {sigma_mas!r} is not a valid scatter; it must be a finite number >= 0 (mas)")
    ci_text = f" (95% interval {ci[0]:.1f}-{ci[1]:.1f} mas)" if ci is not None else ""
    if n_pairs < MIN_PAIRS:
        band = "not verifiable"
        sentence = (f"Only {n_pairs} independent pairs: the measured {sigma_mas:.1f} mas{ci_text} cannot be "
                    f"verified (at least {MIN_PAIRS} are needed) -- add a reference catalog or another image.")
        return Verdict(band, sigma_mas, n_pairs, tuple(ci) if ci is not None else None, sentence)
    band, text = _band(sigma_mas)
    sentence = (f"The catalog's relative precision is {sigma_mas:.1f} mas per axis{ci_text} from {n_pairs} "
                f"pairs: {text}.")
    if ci is not None:
        lo_band, hi_band = _band(ci[0])[0], _band(ci[1])[0]
        if lo_band != hi_band:
            sentence = sentence[:-1] + f" (the interval spans '{lo_band}' to '{hi_band}')."
    return Verdict(band, sigma_mas, n_pairs, tuple(ci) if ci is not None else None, sentence)


def _weighted(entries):
    s = np.array([v["sigma"] for v in entries.values()])
    half = np.array([max((v["ci"][1] - v["ci"][0]) / (2 * 1.96), 1e-3) for v in entries.values()])
    w = 1.0 / half ** 2
    mean = float(np.sum(w * s) / np.sum(w))
    err = float(1.0 / math.sqrt(np.sum(w)))
    return mean, (mean - 1.96 * err, mean + 1.96 * err)


def _overlaps(a, b):
    return not (a[1] < b[0] or a[0] > b[1])


def combine_methods(estimates, min_agree=3):
    """Combine independent per-catalog sigma estimates and find the ones that agree.

    Methods fail in different ways (common systematics between filters on the same pixel grid,
    a poor error model, too few reference stars), so one failing method should not drag the
    verdict. Among the measured methods (entries without ``"pairs": False``), every subset is
    combined with inverse-variance weights (from the interval half-widths); a subset counts only
    if each member's 95% interval overlaps the subset's combined interval. The largest such subset
    wins (ties: the one whose combined interval agrees with more methods -- the error budget's
    prediction included --, then the more precise one). The others are named as set aside.

    Parameters
    ----------
    estimates : dict
        ``{name: {"sigma": float, "ci": (lo, hi), "n": int}}`` (1-D sigma per axis, mas); an entry
        with ``"pairs": False`` (the error budget: a prediction from reported errors, not a
        measurement on independent pairs) is checked but neither weighted nor counted in
        ``n_pairs``. ``None`` entries (methods that could not run) are ignored.
    min_agree : int
        Methods that must agree for the verdict to count as backed.

    Returns
    -------
    combined : dict
        ``sigma`` (weighted mean of the agreeing measured methods, mas), ``ci`` (its 95%
        interval), ``n_pairs`` (largest ``n`` among them), ``n_methods`` (methods that ran),
        ``agreeing`` and ``outliers`` (names), ``agree`` (no outliers), ``backed`` (at least
        ``min_agree`` methods agree), ``verdict`` (:class:`Verdict`).

    Raises
    ------
    WorkbookError
        If no method produced an estimate.

    Examples
    --------
    >>> c = combine_methods({"a": {"sigma": 7.0, "ci": (6.5, 7.5), "n": 400},
    ...                      "b": {"sigma": 7.3, "ci": (6.6, 8.0), "n": 300}})
    >>> round(c["sigma"], 1), c["agree"], c["verdict"].band
    (7.1, True, 'meets 5-10 mas')
    """
    usable = {k: v for k, v in estimates.items()
              if v and v.get("sigma") is not None and v.get("ci") is not None and math.isfinite(v["sigma"])}
    measured = {k: v for k, v in usable.items() if v.get("pairs", True)}
    if not measured:
        measured = usable  # only a prediction: still report it (the verdict will say 'not verifiable')
    if not measured:
        raise WorkbookError("no method produced a usable estimate; check that at least one catalog comparison ran")
    import itertools

    best = None
    names = list(measured)
    for r in range(len(names), 0, -1):
        for subset in itertools.combinations(names, r):
            part = {k: measured[k] for k in subset}
            mean, ci = _weighted(part)
            if not all(_overlaps(v["ci"], ci) for v in part.values()):
                continue  # not self-consistent
            n_agree = sum(_overlaps(v["ci"], ci) for v in usable.values())
            score = (len(part), n_agree, -(ci[1] - ci[0]))
            if best is None or score > best[0]:
                best = (score, part, mean, ci)
    _, active, mean, ci = best
    agreeing = [k for k, v in usable.items() if _overlaps(v["ci"], ci)]
    outliers = [k for k in usable if k not in agreeing]
    counted = [int(v.get("n", 0)) for k, v in active.items() if v.get("pairs", True)]
    n_pairs = max(counted) if counted else 0
    return {"sigma": mean, "ci": ci, "n_pairs": n_pairs, "n_methods": len(usable), "agreeing": agreeing,
            "agree": not outliers, "backed": len(agreeing) >= min_agree, "outliers": outliers,
            "verdict": verdict(mean, n_pairs, ci=ci)}


# --------------------------------------------------------------------------- notebook 03 plumbing
def load_inputs(cfg):
    """Everything notebook 03 reads from the workspace, tolerating what is missing.

    Parameters
    ----------
    cfg : `helpers.config.FieldConfig`

    Returns
    -------
    inputs : dict
        ``catalogs`` ({name: Table}, best image first, from ``catalogs/sources_*.ecsv``),
        ``images`` ({name: image dict from ``cfg.extra['images']`` or None}), ``gaia``, ``hsc``
        (Tables or None, from ``archive/gaia.ecsv`` / ``hsc.ecsv``), ``messages`` (what was found
        or is missing, one line each).

    Raises
    ------
    WorkbookError
        No source catalog at all (run notebook 02 first).
    """
    from pathlib import Path
    from astropy.table import Table

    cat_dir, arch = cfg.subdir("catalogs"), cfg.subdir("archive")
    paths = sorted(cat_dir.glob("sources_*.ecsv"))
    if not paths:
        raise WorkbookError(f"no source catalogs (sources_*.ecsv) in {cat_dir}; run notebook 02 (02_extract_sources) first")
    images = list((cfg.extra or {}).get("images") or [])
    msgs = []

    def image_for(path, cat):
        keys = {path.stem[len("sources_"):], str(cat.meta.get("image", ""))}
        for im in images:
            names = {str(im.get("product_id", "")), Path(str(im.get("path", ""))).stem}
            if keys & names or any(k and k in n for k in keys for n in names if n):
                return im
        return None

    found = []
    for path in paths:
        try:
            cat = Table.read(path, format="ascii.ecsv")
        except Exception as exc:  # a corrupt file should not stop the other methods
            msgs.append(f"skipped {path.name}: unreadable ({exc.__class__.__name__}); re-run notebook 02")
            continue
        im = image_for(path, cat)
        rank = im.get("rank", 99) if im else 99
        found.append((rank, path.stem[len("sources_"):], cat, im))
    found.sort(key=lambda t: t[0])
    catalogs = {name: cat for _, name, cat, _ in found}
    imgs = {name: im for _, name, _, im in found}
    for name, cat in catalogs.items():
        msgs.append(f"catalog {name}: {len(cat)} sources, {cat.meta.get('instrument')} {cat.meta.get('filter')}, "
                    f"epoch {cat.meta.get('epoch')}")
    refs = {}
    for key, fname in (("gaia", "gaia.ecsv"), ("hsc", "hsc.ecsv")):
        path = arch / fname
        refs[key] = None
        if path.exists():
            try:
                refs[key] = Table.read(path, format="ascii.ecsv")
                msgs.append(f"reference {fname}: {len(refs[key])} rows")
            except Exception as exc:
                msgs.append(f"reference {fname} unreadable ({exc.__class__.__name__}): that section is skipped")
        else:
            msgs.append(f"reference {fname} absent (notebook 01 did not fetch it): that section is skipped")
    return {"catalogs": catalogs, "images": imgs, "gaia": refs["gaia"], "hsc": refs["hsc"], "messages": msgs}


def usable_sources(cat):
    """Sources that count for the catalog's scatter: finite errors, not saturated (flag 1) and
    no failed PSF fit (flag 16)."""
    ok = np.ones(len(cat), bool)
    if "flags" in cat.colnames:
        ok &= (np.asarray(cat["flags"], int) & (1 | 16)) == 0
    for c in ("ra_err", "dec_err"):
        if c in cat.colnames:
            ok &= np.isfinite(_col_values(cat, c))
    return ok


def as_estimate(obj, cat=None, select=None, label=None, error_floor_mas=0.0):
    """One method's per-catalog sigma as ``{"sigma", "ci", "n", "raw_sigma", "raw_ci", "factor", "what"}``.

    Comparison results are scaled from their matched sources to the whole catalog with
    :func:`catalog_equivalent` when ``cat`` is given.

    Parameters
    ----------
    obj : ComparisonResult, dict from :func:`error_budget`, or dict from :func:`three_cornered_hat`
        (then ``label`` names the catalog), or ``{"sigma", "ci", "n"}``.
    cat : Table, optional
    select : array of bool, optional
    label : str, optional
    """
    if obj is None:
        return None
    subset, pairs = None, True
    if isinstance(obj, ComparisonResult):
        sigma, ci, n = obj.sigma, obj.sigma_ci, obj.n_pairs
        subset = np.asarray(obj.pairs["idx_cat"])
        what = obj.cat_method
    elif isinstance(obj, dict) and "n_triples" in obj:
        sigma, ci, n = obj["sigma_1d"][label], obj["sigma_1d_ci"][label], obj["n_triples"]
        subset, what = obj.get("idx", {}).get(label), "three-cornered hat"
    elif isinstance(obj, dict) and "by_snr" in obj and "calibration" in obj:
        sigma, ci, n, what = obj["sigma_1d"], obj["sigma_1d_ci"], obj["n"], "reported errors"
        pairs = False
    else:
        sigma, ci, n, what = obj["sigma"], obj["ci"], obj.get("n", 0), obj.get("what", "")
    out = {"sigma": float(sigma), "ci": tuple(map(float, ci)), "n": int(n), "raw_sigma": float(sigma),
           "raw_ci": tuple(map(float, ci)), "factor": 1.0, "what": what, "pairs": pairs}
    calib = getattr(obj, "calibration", None)
    if cat is not None and calib is not None and "ra_err" in cat.colnames and "dec_err" in cat.colnames:
        # the comparison calibrated the reported errors: the whole catalog's scatter is k x its budget
        import astropy.units as u

        sel = np.ones(len(cat), bool) if select is None else np.asarray(select, bool)
        ex = np.hypot(_col_values(cat, "ra_err", u.mas), error_floor_mas)
        ey = np.hypot(_col_values(cat, "dec_err", u.mas), error_floor_mas)
        ok = sel & np.isfinite(ex) & np.isfinite(ey) & (ex > 0) & (ey > 0)
        if ok.sum() >= 3:
            rng = np.random.default_rng(0)
            idx = np.flatnonzero(ok)
            idx = idx if idx.size <= 5000 else rng.choice(idx, 5000, replace=False)
            mx, my = float(_mixture_sigma(ex[idx])), float(_mixture_sigma(ey[idx]))
            s2 = math.sqrt(0.5 * ((calib[0] * mx) ** 2 + (calib[1] * my) ** 2))
            b2 = np.sqrt(0.5 * ((obj.boot["kx"] * mx) ** 2 + (obj.boot["ky"] * my) ** 2))
            out.update(sigma=float(s2), ci=_ci(b2), factor=float(s2 / sigma) if sigma else 1.0)
            return out
    if cat is not None and subset is not None:
        s2, c2, f = catalog_equivalent(sigma, ci, cat, subset, select=select, error_floor_mas=error_floor_mas)
        out.update(sigma=float(s2), ci=tuple(map(float, c2)), factor=float(f))
    return out


def _static_view(cat, keep_kinds=("extended", "galaxy")):
    """Rows of ``cat`` that do not move (galaxies) and their original indices."""
    if "kind" not in cat.colnames:
        return cat, np.arange(len(cat))
    kinds = np.char.lower(np.asarray(cat["kind"]).astype(str))
    idx = np.flatnonzero(np.isin(kinds, keep_kinds))
    return cat[idx], idx


def repeatability(catalogs, main, fit="shift+rotation+scale", max_sep=0.3, n_boot=200, clip_sigma=5.0,
                  max_epoch_gap=1.0, select=None, error_floor_mas=0.0):
    """Method 2 on a set of catalogs of the same field: pairwise comparisons with the main catalog
    (equal-catalog assumption) and, with three or more catalogs, the three-cornered hat.

    Catalogs whose epochs differ from the main one by more than ``max_epoch_gap`` years are
    compared on extended sources only (``kind == 'extended'``): galaxies do not move, stars do.

    Parameters
    ----------
    catalogs : dict
        ``{name: Table}`` including ``main``.
    main : str
    fit, max_sep, n_boot, clip_sigma
        As in :func:`compare_catalogs`.
    max_epoch_gap : float
        Years.
    select : array of bool, optional
        Usable rows of the main catalog (for scaling to the whole catalog).
    error_floor_mas : float
        Systematic floor added to the reported errors (see :func:`compare_catalogs`).

    Returns
    -------
    out : dict
        ``results`` ({other: ComparisonResult}), ``hat`` (dict or None), ``estimate``
        (:func:`as_estimate` of the best available: the hat, else the largest pairwise
        comparison), ``notes`` (list of str).
    """
    cat = catalogs[main]
    others = [k for k in catalogs if k != main]
    notes, results = [], {}
    t0 = _catalog_epoch(cat, None, main)

    def view(name):
        t = _catalog_epoch(catalogs[name], None, name)
        if t0 is not None and t is not None and abs(t - t0) > max_epoch_gap:
            return True, t
        return False, t

    for other in others:
        moving, t = view(other)
        a, ia = _static_view(cat) if moving else (cat, np.arange(len(cat)))
        b, _ = _static_view(catalogs[other]) if moving else (catalogs[other], None)
        if moving:
            notes.append(f"{other}: epoch {t:g} vs {t0:g}; compared on {len(a)} extended sources only (stars move)")
        try:
            res = compare_catalogs(a, b, fit=fit, max_sep=max_sep, equal=True, ref_err="auto", n_boot=n_boot,
                                   clip_sigma=clip_sigma, drop_nan=True, label=f"{main} vs {other}",
                                   error_floor_mas=error_floor_mas)
        except WorkbookError as exc:
            notes.append(f"{other}: skipped ({exc})")
            continue
        res.pairs["idx_cat"] = ia[np.asarray(res.pairs["idx_cat"])]
        results[other] = res
    hat = None
    if len(others) >= 2:
        trio = [main] + sorted(others, key=lambda k: -(results[k].n_pairs if k in results else 0))[:2]
        moving = any(view(k)[0] for k in trio[1:])
        views = [(_static_view(catalogs[k]) if moving else (catalogs[k], np.arange(len(catalogs[k])))) for k in trio]
        try:
            hat = three_cornered_hat([v[0] for v in views], labels=trio, max_sep=max_sep, fit=fit, n_boot=n_boot,
                                     clip_sigma=clip_sigma)
            hat["idx"] = {k: views[j][1][hat["idx"][k]] for j, k in enumerate(trio)}
            if moving:
                notes.append("three-cornered hat on extended sources only (the catalogs span several epochs)")
        except WorkbookError as exc:
            notes.append(f"three-cornered hat skipped ({exc})")
            hat = None
    if hat is not None:
        est = as_estimate(hat, cat, select, label=main, error_floor_mas=error_floor_mas)
        est["what"] = "three-cornered hat"
    elif results:
        est = as_estimate(max(results.values(), key=lambda r: r.n_pairs), cat, select, error_floor_mas=error_floor_mas)
        est["what"] = "two catalogs assumed equally precise"
    else:
        est = None
    return {"results": results, "hat": hat, "estimate": est, "notes": notes}


def injection_on_image(cat, image_info, n_inject=300, snr_range=(5.0, 1000.0), max_size=1500, extract=None,
                       select=None, n_boot=200, seed=0, extract_kwargs=None, error_floor_mas=0.0, match_pix=1.5):
    """Method 5 on the catalog's own image: read it (central ``max_size`` pixels), inject PSF
    stars (:func:`injection_psf`), re-extract (default ``helpers.sources.extract_sources``) and
    calibrate the catalog's per-source error model with them (REFERENCE: "per-source error model,
    calibrated by injection-recovery on the image itself").

    The estimate is the error budget (:func:`error_budget` of ``cat[select]``) times the measured
    pull (robust sigma of (measured - injected) / reported error, per axis). Injected stars are
    point sources: the calibration of galaxies' errors is assumed the same. The sigma(SNR) fit
    (:func:`injection_sigma_model`) and the point-source scatter it predicts for the catalog's
    SNRs are returned as diagnostics. When the extractor reports no errors, the sigma(SNR) model
    is the estimate.

    Returns
    -------
    out : dict
        ``injection`` (:func:`injection_recovery` result), ``model``, ``point_source_sigma``
        ((sigma, ci) from the model), ``estimate`` ({sigma, ci, n, what}), ``psf`` (description),
        ``pull`` (per axis or None).
    """
    data, error, wcs, _, (x0, y0) = read_image(image_info["path"], max_size=max_size)
    psf, psf_what = injection_psf(cat.meta)
    existing = None
    if "x" in cat.colnames and "y" in cat.colnames:
        from astropy.table import Table

        existing = Table({"x": _col_values(cat, "x") - x0, "y": _col_values(cat, "y") - y0})
    inj = injection_recovery(data, wcs, psf, extract=extract, error=error, n_inject=n_inject, snr_range=snr_range,
                             existing=existing, seed=seed, n_boot=n_boot, extract_kwargs=extract_kwargs,
                             match_pix=match_pix)
    model = injection_sigma_model(inj, n_boot=min(n_boot, 100), seed=seed)
    snr = _col_values(cat, "snr") if "snr" in cat.colnames else None
    if snr is None:
        raise WorkbookError("the catalog has no 'snr' column; it must come from helpers.sources (notebook 02)")
    sigma, ci = predicted_catalog_sigma(model, snr, select=select)
    out = {"injection": inj, "model": model, "psf": psf_what, "pull": inj["pull"], "point_source_sigma": (sigma, ci),
           "estimate": {"sigma": sigma, "ci": ci, "n": inj["n_recovered"], "raw_sigma": sigma, "raw_ci": ci,
                        "factor": 1.0, "what": "sigma(SNR) of injected stars applied to the catalog's SNRs"}}
    if inj["pull"] is not None and "ra_err" in cat.colnames:
        sub = cat[np.asarray(select, bool)] if select is not None else cat
        budget = error_budget(sub, n_boot=0, error_floor_mas=error_floor_mas)
        (bx, by), (kx, ky) = budget["sigma"], inj["pull"]
        est = math.sqrt(0.5 * ((kx * bx) ** 2 + (ky * by) ** 2))
        boot = np.sqrt(0.5 * ((inj["pull_boot"][0] * bx) ** 2 + (inj["pull_boot"][1] * by) ** 2))
        out["estimate"] = {"sigma": est, "ci": _ci(boot), "n": inj["n_recovered"], "raw_sigma": est,
                           "raw_ci": _ci(boot), "factor": 1.0,
                           "what": "error budget x pull of injected stars (measured/reported errors)"}
    return out


def pick_comparison(comparisons, combined=None):
    """The comparison to show: the one with most pairs among the methods that agree (if known).

    Parameters
    ----------
    comparisons : dict
        ``{name: ComparisonResult}``; names like ``"Gaia DR3"``, ``"HSC v3"``,
        ``"repeatability vs <image>"``.
    combined : dict, optional
        From :func:`combine_methods` (its ``agreeing`` method names, e.g. ``"3 Gaia DR3"``).

    Returns
    -------
    name, result : str, ComparisonResult (None, None if there is none)
    """
    if not comparisons:
        return None, None
    agreeing = " | ".join(combined.get("agreeing", [])) if combined else ""

    def agrees(name):
        key = "repeatability" if name.startswith("repeatability") else name
        return key in agreeing

    pool = {k: v for k, v in comparisons.items() if agrees(k)} or comparisons
    name = max(pool, key=lambda k: pool[k].n_pairs)
    return name, pool[name]


def reference_share(result):
    """Fraction (0-1) of the variance of the differences that the reference's own errors explain."""
    if not result.ref_sigma_rms:
        return 0.0
    num = sum(e * e for e in result.ref_sigma_rms)
    den = sum(s * s for s in result.sigma_diff)
    return float(min(num / den, 1.0)) if den > 0 else 0.0


def summary_record(catalog_name, combined, estimates, extra=None):
    """The small JSON-ready record notebook 03 stores in ``cfg.extra['astrometry']`` (read by 05).

    Returns
    -------
    record : dict
        ``catalog, sigma_mas, ci, verdict`` (band), ``sentence, n_pairs, agree, methods``
        ({name: {sigma_mas, ci, n, what}}).
    """
    v = combined["verdict"]
    rec = {"catalog": catalog_name, "sigma_mas": round(float(combined["sigma"]), 3),
           "ci": [round(float(c), 3) for c in combined["ci"]], "verdict": v.band, "sentence": v.sentence,
           "n_pairs": int(combined["n_pairs"]), "agree": bool(combined["agree"]),
           "backed": bool(combined.get("backed", False)), "agreeing": list(combined.get("agreeing", [])),
           "outliers": list(combined["outliers"]),
           "methods": {k: {"sigma_mas": round(e["sigma"], 3), "ci": [round(c, 3) for c in e["ci"]], "n": e["n"],
                           "what": e.get("what", "")} for k, e in estimates.items() if e}}
    if extra:
        rec.update(_jsonable(extra))
    return json.loads(json.dumps(rec))


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


# --------------------------------------------------------------------------- saving
def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items() if k not in ("boot", "idx")}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return round(v, 4) if math.isfinite(v) else None
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if hasattr(obj, "to_dict"):
        return _jsonable(obj.to_dict())
    if hasattr(obj, "summary"):
        return _jsonable(obj.summary())
    if hasattr(obj, "colnames"):
        return {c: _jsonable(np.asarray(obj[c])) for c in obj.colnames}
    return obj


def write_summary(summary, path, overwrite=True):
    """Write the astrometry summary as JSON atomically (``catalogs/astrometry_summary.json``).

    Parameters
    ----------
    summary : dict
        Any mix of numbers, results, tables; arrays become lists, bootstrap samples are dropped.
    path : str or Path
    overwrite : bool

    Returns
    -------
    path : Path
    """
    from pathlib import Path
    from .._io import atomic_path

    path = Path(path)
    text = json.dumps(_jsonable(summary), indent=2) + "\n"
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(text)
    return path
