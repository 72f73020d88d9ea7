"""MAST footprints on the tangent plane and how much of the MSA field they cover (notebook 01).

:func:`parse_s_region` reads CAOM ``s_region`` strings (IVOA STC-S), :func:`footprint_geometries`
turns them into shapely geometries on the gnomonic plane of :func:`tangent_plane`,
:func:`msa_field_geometry` gives the MSA field (the real outline passed in, a box at a
known APA, or the circle that holds it at any APA) and :func:`footprint_coverage` measures
the fraction of it each footprint covers.
"""

import math
import re

import numpy as np

from ..errors import WorkbookError
from ..skyplane import sky_to_tangent
from ..validate import require_array, require_number

__all__ = [
    "MSA_FIELD_ARCMIN",
    "MSA_ANY_APA_RADIUS_ARCMIN",
    "parse_s_region",
    "tangent_plane",
    "footprint_geometries",
    "outline_geometry",
    "msa_field_geometry",
    "footprint_coverage",
]

#: Size of the NIRSpec MSA field on the sky, arcmin (four quadrants with the gaps;
#: JWST User Documentation, "NIRSpec Multi-Object Spectroscopy").
MSA_FIELD_ARCMIN = (3.6, 3.4)

#: Radius of the circle that contains the MSA field at every aperture position angle, arcmin.
MSA_ANY_APA_RADIUS_ARCMIN = 0.5 * math.hypot(*MSA_FIELD_ARCMIN)


# ----------------------------------------------------------------------------------------
# footprints on the tangent plane
# ----------------------------------------------------------------------------------------

_FRAME_WORDS = re.compile(r"\b(ICRS|J2000|FK5|FK4|B1950|GSC1|GALACTIC|ECLIPTIC|BARYCENTER|GEOCENTER|"
                          r"TOPOCENTER|UNKNOWNFRAME|UNKNOWNREFPOS)\b", re.IGNORECASE)
_SHAPES = re.compile(r"(POLYGON|CIRCLE|BOX|POSITION)", re.IGNORECASE)


def parse_s_region(s_regions):
    """Parse IVOA STC-S ``s_region`` strings (as in CAOM) into flat vertex arrays.

    Handles ``POLYGON`` (one or several per string, any or no frame word) and ``CIRCLE``.

    Parameters
    ----------
    s_regions : sequence of str

    Returns
    -------
    parts : dict of `numpy.ndarray`
        ``ra``, ``dec`` (deg) and ``ring`` (index of the polygon each vertex belongs to)
        for all polygon vertices; ``ring_owner`` (input index of each polygon);
        ``circle_owner``, ``circle_ra``, ``circle_dec``, ``circle_radius`` (deg).
        Strings that cannot be parsed contribute nothing.

    Examples
    --------
    >>> p = parse_s_region(["POLYGON ICRS 1 0 1.1 0 1.1 0.1", "CIRCLE ICRS 10 20 0.5"])
    >>> p["ring_owner"].tolist(), p["circle_owner"].tolist(), p["ra"].size
    ([0], [1], 3)
    """
    if isinstance(s_regions, (str, bytes, dict)) or not hasattr(s_regions, "__iter__"):
        raise WorkbookError(f"s_regions = {s_regions!r:.40} is not a list of S_REGION strings; give one string per footprint")
    ring_values, ring_owner, circles = [], [], []
    for i, text in enumerate(s_regions):
        if not isinstance(text, str) or not text.strip():
            continue
        pieces = _SHAPES.split(_FRAME_WORDS.sub(" ", text))
        for shape, body in zip(pieces[1::2], pieces[2::2]):
            try:
                values = np.array(body.split(), dtype=float)
            except ValueError:
                continue
            shape = shape.upper()
            if shape == "POLYGON" and values.size >= 6 and values.size % 2 == 0:
                ring_values.append(values)
                ring_owner.append(i)
            elif shape == "CIRCLE" and values.size == 3:
                circles.append((i, *values))
    if ring_values:
        lengths = np.array([v.size // 2 for v in ring_values])
        flat = np.concatenate(ring_values).reshape(-1, 2)
        ring = np.repeat(np.arange(len(ring_values)), lengths)
    else:
        flat, ring = np.empty((0, 2)), np.empty(0, int)
    circles = np.array(circles, dtype=float).reshape(-1, 4)
    return {
        "ra": flat[:, 0] % 360.0, "dec": flat[:, 1], "ring": ring,
        "ring_owner": np.array(ring_owner, dtype=int),
        "circle_owner": circles[:, 0].astype(int), "circle_ra": circles[:, 1] % 360.0,
        "circle_dec": circles[:, 2], "circle_radius": circles[:, 3],
    }


def tangent_plane(ra, dec, ra0, dec0):
    """Gnomonic (TAN) projection about (ra0, dec0), vectorised.

    Great circles -- the edges of MAST footprints -- map to straight lines, so polygon
    intersections on this plane are exact; areas differ from the sphere by
    ~(r / 1 rad)^2, about 1e-6 across an MSA-sized field.

    Parameters
    ----------
    ra, dec : array_like
        Degrees.
    ra0, dec0 : float
        Tangent point, degrees.

    Returns
    -------
    xi, eta : `numpy.ndarray`
        Standard coordinates in arcsec, xi towards East, eta towards North. Points
        90 deg or more from the tangent point come back as NaN.
    """
    return sky_to_tangent(ra, dec, ra0, dec0, unit="arcsec", far_as_nan=True)


def footprint_geometries(s_regions, ra0, dec0):
    """Footprints as shapely geometries on the tangent plane at (ra0, dec0), arcsec.

    Parameters
    ----------
    s_regions : sequence of str
        CAOM ``s_region`` values.
    ra0, dec0 : float
        Tangent point (the field centre), degrees.

    Returns
    -------
    geoms : `numpy.ndarray` of shapely geometries
        One per input (empty polygon when unparseable or on the far side of the sky);
        multi-part footprints (e.g. the two ACS/WFC chips) are unions of their parts.
    """
    import shapely

    if isinstance(s_regions, (str, bytes)) or not hasattr(s_regions, "__len__"):
        raise WorkbookError(f"s_regions = {s_regions!r:.40} is not a list of S_REGION strings; give one string per footprint")
    n = len(s_regions)
    parts = parse_s_region(s_regions)
    out = np.full(n, shapely.Polygon(), dtype=object)
    pieces, owners = [], []
    if parts["ring"].size:
        xi, eta = tangent_plane(parts["ra"], parts["dec"], ra0, dec0)
        bad_ring = np.zeros(parts["ring_owner"].size, bool)
        np.logical_or.at(bad_ring, parts["ring"], ~np.isfinite(xi) | ~np.isfinite(eta))
        keep = ~bad_ring[parts["ring"]]
        rings = shapely.linearrings(np.column_stack([xi[keep], eta[keep]]), indices=parts["ring"][keep])
        # linearrings() numbers the rings it made consecutively: map back to owners
        kept_rings = np.flatnonzero(~bad_ring)
        polys = shapely.make_valid(shapely.polygons(rings))
        pieces.append(polys)
        owners.append(parts["ring_owner"][kept_rings])
    if parts["circle_owner"].size:
        cx, cy = tangent_plane(parts["circle_ra"], parts["circle_dec"], ra0, dec0)
        ok = np.isfinite(cx) & np.isfinite(cy)
        pts = shapely.points(cx[ok], cy[ok])
        pieces.append(shapely.buffer(pts, parts["circle_radius"][ok] * 3600.0, quad_segs=16))
        owners.append(parts["circle_owner"][ok])
    if not pieces:
        return out
    geoms = np.concatenate(pieces)
    owner = np.concatenate(owners)
    order = np.argsort(owner, kind="stable")
    geoms, owner = geoms[order], owner[order]
    uniq, start, counts = np.unique(owner, return_index=True, return_counts=True)
    single = counts == 1
    out[uniq[single]] = geoms[start[single]]
    for o, s, c in zip(uniq[~single], start[~single], counts[~single]):  # multi-part: few
        out[o] = shapely.union_all(geoms[s:s + c])
    return out


def outline_geometry(outlines, ra0, dec0):
    """Union of sky polygons on the tangent plane at (ra0, dec0), arcsec.

    Parameters
    ----------
    outlines : dict or sequence
        ``name -> (ra, dec)`` arrays in degrees (as ``helpers.msa.MSAPointing.outlines_sky``
        returns; only the quadrants ``Q1``..``Q4`` are used when present), or a sequence of
        ``(ra, dec)`` pairs of arrays.

    Returns
    -------
    geom : shapely geometry
    """
    import shapely

    ra0, dec0 = _require_center(ra0, dec0)
    if isinstance(outlines, (str, bytes)) or not hasattr(outlines, "__iter__"):
        raise WorkbookError(f"outlines = {outlines!r:.40} is not MSA outlines; give MSAPointing.outlines_sky() "
                            "(name -> (ra, dec) arrays)")
    if isinstance(outlines, dict):
        quadrants = {k: v for k, v in outlines.items() if str(k).upper().startswith("Q")}
        outlines = list((quadrants or outlines).values())
    polys = []
    for outline in outlines:
        if isinstance(outline, (str, bytes)) or not hasattr(outline, "__len__") or len(outline) != 2:
            raise WorkbookError(f"an MSA outline is {outline!r:.40}, not an (ra, dec) pair of arrays; "
                                "give MSAPointing.outlines_sky()")
        ra = require_array(outline[0], "outline RA", what="degrees", allow_nan=False)
        dec = require_array(outline[1], "outline Dec", what="degrees", allow_nan=False)
        if ra.size != dec.size or ra.size < 3:
            raise WorkbookError(f"an MSA outline has {ra.size} RA and {dec.size} Dec vertices; give >= 3 (ra, dec) "
                                "vertices per quadrant")
        x, y = tangent_plane(ra, dec, ra0, dec0)
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            raise WorkbookError("an MSA outline lies 90 deg or more from the field centre; give the outline of "
                                "the MSA at this field")
        polys.append(shapely.make_valid(shapely.Polygon(np.column_stack([x, y]))))
    if not polys:
        raise WorkbookError("the MSA outline is empty; pass the quadrant outlines as name -> (ra, dec) arrays")
    return shapely.union_all(polys)


def _require_center(ra0, dec0):
    """(ra0, dec0) as finite degrees with Dec in [-90, 90], or one line saying which is wrong."""
    ra0 = require_number(ra0, "ra0", example="53.16 (degrees)")
    dec0 = require_number(dec0, "dec0", minimum=-90.0, maximum=90.0, example="-27.79 (degrees)")
    return ra0, dec0


def msa_field_geometry(ra0, dec0, apa=None, outlines=None):
    """The MSA field on the tangent plane at (ra0, dec0), arcsec.

    This module sits upstream of :mod:`helpers.msa`, so the real quadrant outline is passed
    in (``outlines``) by the caller -- notebook 01 and :mod:`helpers.plotting.archive` get it
    from ``helpers.msa.MSAPointing(ra, dec, apa).outlines_sky()``.

    Parameters
    ----------
    ra0, dec0 : float
        MSA centre, degrees.
    apa : float or None
        Aperture position angle, degrees. None (and no ``outlines``): the circle that
        contains the MSA at every APA (radius :data:`MSA_ANY_APA_RADIUS_ARCMIN`), since the
        APA is chosen later (notebook 04). Otherwise, without ``outlines``, a 3.6' x 3.4'
        box (ideal X, Y) with its ideal Y axis at position angle ``apa``.
    outlines : dict or sequence, optional
        The real quadrant outlines on the sky (see :func:`outline_geometry`).

    Returns
    -------
    geom : shapely geometry
    kind : str
        ``"msa-model"``, ``"box"`` or ``"any-apa circle"``.
    """
    import shapely

    ra0, dec0 = _require_center(ra0, dec0)
    apa = require_number(apa, "apa", allow_none=True, example="30.0 (degrees)")
    if outlines is not None:
        return outline_geometry(outlines, ra0, dec0), "msa-model"
    if apa is None:
        return shapely.Point(0, 0).buffer(MSA_ANY_APA_RADIUS_ARCMIN * 60.0, quad_segs=64), "any-apa circle"
    half_x, half_y = MSA_FIELD_ARCMIN[0] * 30.0, MSA_FIELD_ARCMIN[1] * 30.0
    pa = math.radians(apa)
    # ideal Y points to position angle APA (east of north); ideal X is 90 deg from it
    ey = np.array([math.sin(pa), math.cos(pa)])
    ex = np.array([math.cos(pa), -math.sin(pa)])
    corners = [sx * half_x * ex + sy * half_y * ey for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
    return shapely.Polygon(corners), "box"


def footprint_coverage(s_regions, ra0, dec0, apa=None, field=None):
    """Fraction of the MSA field covered by each footprint, and whether it holds the centre.

    Vectorised with shapely 2 on the gnomonic tangent plane (exact for great-circle
    edges; see :func:`tangent_plane`).

    Parameters
    ----------
    s_regions : sequence of str
    ra0, dec0 : float
        Field centre, degrees.
    apa : float or None
        See :func:`msa_field_geometry`.
    field : shapely geometry, optional
        Use this field (tangent-plane arcsec) instead.

    Returns
    -------
    coverage : `numpy.ndarray`
        Fraction in [0, 1].
    contains_centre : `numpy.ndarray` of bool
    geoms : `numpy.ndarray`
        The footprints (tangent-plane arcsec), for plotting.

    Examples
    --------
    >>> s = "POLYGON ICRS 53.25 -27.84 53.07 -27.84 53.07 -27.74 53.25 -27.74"
    >>> cov, inside, _ = footprint_coverage([s], 53.1625, -27.791417)
    >>> round(float(cov[0]), 3), bool(inside[0])
    (1.0, True)
    """
    import shapely

    if field is None:
        field, _ = msa_field_geometry(ra0, dec0, apa)
    geoms = footprint_geometries(s_regions, ra0, dec0)
    area = shapely.area(shapely.intersection(geoms, field))
    coverage = np.clip(area / field.area, 0.0, 1.0)
    inside = shapely.contains_xy(geoms, 0.0, 0.0)
    return coverage, inside, geoms
