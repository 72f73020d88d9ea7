"""Matching two catalogs on the sky: one-to-one mutual nearest neighbours (:func:`match`) and the
bulk offset from the histogram of all pair offsets, for catalogs misaligned by more than the match
radius (:func:`coarse_offset`).

Units: RA/Dec in degrees; separations and offsets in mas; match radii in arcsec.
"""

import math

import numpy as np

from ..errors import WorkbookError
from ..skyplane import tangent_point, tangent_to_sky, unit_vectors
from .inputs import _as_mas, _radec, tangent_plane_mas
from ..validate import require_number

__all__ = [
    "match",
    "coarse_offset",
]


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
    ra0, dec0 = tangent_point(ra2[good2], dec2[good2])
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
            "check they cover the same field; if one is offset, rotated or scaled, align it first with "
            "coarse_align(ra1, dec1, ra2, dec2).apply(ra1, dec1) rather than raising max_sep")
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
    search_arcsec = require_number(search_arcsec, "search_arcsec", minimum=1e-3, maximum=3600.0, example=3.0)
    bin_mas = require_number(bin_mas, "bin_mas", minimum=1e-3, allow_none=True, example=50.0)
    max_sources = require_number(max_sources, "max_sources", minimum=1, integer=True, example=3000)
    from scipy.spatial import cKDTree

    ra1, dec1, g1 = _radec(cat, "the catalog", drop_nan)
    ra2, dec2, g2 = _radec(ref, "the reference catalog", drop_nan)
    rng = np.random.default_rng(0)
    i1, i2 = np.flatnonzero(g1), np.flatnonzero(g2)
    if i1.size > max_sources:
        i1 = rng.choice(i1, max_sources, replace=False)
    if i2.size > max_sources:
        i2 = rng.choice(i2, max_sources, replace=False)
    ra0, dec0 = tangent_point(ra2[i2], dec2[i2])
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
