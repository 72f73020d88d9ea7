"""Find and fetch HST / NIRCam imaging and reference catalogs for a field (notebook 01).

The steps, each a function:

1. :func:`find_imaging` asks MAST's CAOM database (through
   `astroquery.mast.Observations`) for HST (ACS/WFC, ACS/HRC, WFC3/UVIS, WFC3/IR, WFPC2)
   and JWST NIRCam imaging around the field, measures how much of the MSA field each
   footprint covers (:func:`footprint_coverage`) and ranks the candidates for astrometry
   (:func:`rank_candidates`, rules in :data:`RANKING_RULES`).
2. :func:`select_products` picks the drizzled science file of the best observations
   (``_drc``/``_drz`` for HST, ``_i2d`` for JWST).
3. :func:`download` fetches them with `~astroquery.mast.ObservationsClass.download_products`
   into the field's cache, verifies every file (:func:`verify_fits`) and never leaves a
   partial or corrupt file in place.
4. :func:`wcs_provenance` decodes ``WCSNAME`` and friends into plain words: what the WCS
   is aligned to and what absolute accuracy to expect.
5. :func:`query_gaia` and :func:`query_hsc` fetch the reference catalogs (Gaia DR3 with
   proper motions; Hubble Source Catalog v3) and cache them per field.

Offline (``live=False``) the same astroquery code paths run against a replay installed at
astroquery's HTTP layer (:mod:`helpers.archive_replay`): for the demo field it serves the
simulated images of :mod:`helpers.simulate` as if MAST had returned them, clearly labelled
as a replay. Tests replay the real MAST answers recorded in astroquery's own test data.

Network faults are retried a bounded number of times with back-off
(:data:`RETRY_DELAYS_S`) and then reported as a one-line
:class:`~helpers.errors.WorkbookError` that names the offline option.
"""

import contextlib
import errno
import json
import math
import os
import re
import time
import warnings
from pathlib import Path

import numpy as np

from .._io import _describe_oserror, atomic_path, ensure_writable_dir
from ..errors import WorkbookError
from ..skyplane import sky_to_tangent

__all__ = [
    "SUPPORTED_INSTRUMENTS",
    "MSA_FIELD_ARCMIN",
    "RANKING_RULES",
    "RANK_CLASSES",
    "ArchiveWarning",
    "parse_s_region",
    "tangent_plane",
    "footprint_geometries",
    "msa_field_geometry",
    "outline_geometry",
    "footprint_coverage",
    "rank_candidates",
    "refine_ranking",
    "query_observations",
    "find_imaging",
    "select_products",
    "verify_fits",
    "download",
    "decode_wcsname",
    "wcs_provenance",
    "provenance_table",
    "query_gaia",
    "query_hsc",
    "images_for_config",
    "save_table",
]

#: Instruments this module knows, as named in the ranked table (CAOM spellings in
#: :data:`_INSTRUMENT_ALIASES`).
SUPPORTED_INSTRUMENTS = ("ACS/WFC", "ACS/HRC", "WFC3/UVIS", "WFC3/IR", "WFPC2", "NIRCAM")

_INSTRUMENT_ALIASES = {
    "ACS/WFC": "ACS/WFC", "ACS/HRC": "ACS/HRC", "ACS": "ACS/WFC",
    "WFC3/UVIS": "WFC3/UVIS", "WFC3/IR": "WFC3/IR",
    "WFPC2": "WFPC2", "WFPC2/WFC": "WFPC2", "WFPC2/PC": "WFPC2",
    "NIRCAM": "NIRCAM", "NIRCAM/IMAGE": "NIRCAM",
}

#: Size of the NIRSpec MSA field on the sky, arcmin (four quadrants with the gaps;
#: JWST User Documentation, "NIRSpec Multi-Object Spectroscopy").
MSA_FIELD_ARCMIN = (3.6, 3.4)

#: Radius of the circle that contains the MSA field at every aperture position angle, arcmin.
MSA_ANY_APA_RADIUS_ARCMIN = 0.5 * math.hypot(*MSA_FIELD_ARCMIN)

#: Nominal drizzled pixel scales, arcsec (HST instrument handbooks and the DrizzlePac
#: handbook; HAP products: Hubble Advanced Products documentation; NIRCam: JDox "NIRCam
#: Detector Overview"). The header WCS replaces these once a file is downloaded.
PIXEL_SCALE_ARCSEC = {
    "ACS/WFC": 0.05, "ACS/WFC HAP": 0.04, "ACS/HRC": 0.025, "WFC3/UVIS": 0.04,
    "WFC3/IR": 0.128, "WFPC2": 0.1, "WFPC2/PC": 0.0455, "NIRCAM SW": 0.031, "NIRCAM LW": 0.063,
}

#: Seed order of the astrometric-suitability classes (1 = best).
RANK_CLASSES = {
    1: "dithered ACS/WFC, ACS/HRC or WFC3/UVIS drizzled visit",
    2: "mosaic (multi-visit) or undithered ACS / WFC3/UVIS",
    3: "JWST NIRCam i2d",
    4: "WFC3/IR",
    5: "WFPC2",
}

#: Weights of the tie-breakers inside a class (they sum to 1).
SCORE_WEIGHTS = {"depth": 0.4, "gaia": 0.3, "epoch": 0.2, "coverage": 0.1}

RANKING_RULES = f"""\
Astrometric-suitability rank (1 = best), applied in this order:
1. Products covering less than `min_coverage` of the MSA field go after all others.
2. Class (seed order): {'; '.join(f'{k} {v}' for k, v in RANK_CLASSES.items())}.
   ACS/WFC and WFC3/UVIS dithered visits reach 5-10 mas; mosaics are slightly worse (tile
   seams); NIRCam is the JWST route; WFC3/IR is undersampled; WFPC2 is old and coarse.
3. Inside a class, a score in [0, 1] (higher first) with weights {SCORE_WEIGHTS}:
   depth = log10(exposure time / 100 s) / 2 clipped to [0, 1] (100 s -> 0, 10,000 s -> 1);
   gaia  = 1 aligned to Gaia (header) or expected (HAP, JWST i2d), 0.5 possible
           (pipeline products that may carry an a-posteriori Gaia fit), 0 not aligned;
   epoch = exp(-|epoch - planned epoch| / 10 yr) (proper motions grow with time);
   coverage = fraction of the MSA field covered.
4. Ties: product id, alphabetically (deterministic)."""

#: Wait before each retry of a network call, seconds (bounded: len + 1 attempts in all).
RETRY_DELAYS_S = (1.0, 3.0)

_OFFLINE_HINT = "work offline with live=False (replayed demo data)"


class ArchiveWarning(UserWarning):
    """Something the planner should know but that does not stop notebook 01."""


# ----------------------------------------------------------------------------------------
# network calls: bounded retries, one-line errors
# ----------------------------------------------------------------------------------------

def _sleep(seconds):  # patched in tests
    time.sleep(seconds)


def _is_transient(exc):
    import requests

    if isinstance(exc, requests.exceptions.HTTPError):
        status = getattr(exc.response, "status_code", None)
        return status is None or status >= 500 or status == 429
    return isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                            requests.exceptions.ChunkedEncodingError, TimeoutError,
                            ConnectionError))


def _with_retries(what, func, *args, **kwargs):
    """Call ``func`` and retry transient network failures with back-off.

    Raises
    ------
    WorkbookError
        After the last attempt, naming the offline option.
    """
    for attempt, delay in enumerate((*RETRY_DELAYS_S, None)):
        try:
            return func(*args, **kwargs)
        except WorkbookError:
            raise
        except Exception as exc:  # astroquery raises many kinds; classify them
            if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EACCES, errno.EPERM, errno.EROFS):
                raise  # a local file problem, not the network: the caller words it
            if not _is_transient(exc) or delay is None:
                last = exc
                break
        _sleep(delay)
    attempts = attempt + 1
    kind = last.__class__.__name__
    detail = " ".join(str(last).split())[:120]
    if _is_transient(last):
        raise WorkbookError(f"{what} failed after {attempts} attempts ({kind}: {detail}); "
                            f"check the network and try again later, or {_OFFLINE_HINT}") from None
    raise WorkbookError(f"{what} failed ({kind}: {detail}); check the request, or {_OFFLINE_HINT}") from None


@contextlib.contextmanager
def _transport(live, coord):
    """Live: astroquery as is. Offline: the replay for ``coord`` installed at the HTTP layer."""
    if live:
        yield None
        return
    from . import replay as archive_replay

    replay = archive_replay.replay_for(coord)
    with replay.installed():
        yield replay


def _as_coord(coord):
    from astropy.coordinates import SkyCoord

    if hasattr(coord, "coord") and hasattr(coord, "radius_arcmin"):  # a FieldConfig
        coord = coord.coord
    if isinstance(coord, SkyCoord):
        return coord.icrs
    try:
        ra, dec = coord
    except (TypeError, ValueError):
        raise WorkbookError(f"coord {coord!r} is not a position; give a SkyCoord or (ra, dec) in degrees") from None
    from ..config import parse_coordinates

    return parse_coordinates(ra, dec)


def _radius_arcmin(radius):
    import astropy.units as u

    if hasattr(radius, "unit"):
        value = radius.to_value(u.arcmin)
    else:
        value = float(radius)
    if not (np.isfinite(value) and 0 < value <= 60):
        raise WorkbookError(f"search radius {value:g} arcmin is out of range; use 0 < radius <= 60 arcmin (2.5 covers the MSA)")
    return value


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

    if isinstance(outlines, dict):
        quadrants = {k: v for k, v in outlines.items() if str(k).upper().startswith("Q")}
        outlines = list((quadrants or outlines).values())
    polys = []
    for ra, dec in outlines:
        x, y = tangent_plane(ra, dec, ra0, dec0)
        polys.append(shapely.make_valid(shapely.Polygon(np.column_stack([x, y]))))
    if not polys:
        raise WorkbookError("the MSA outline is empty; pass the quadrant outlines as name -> (ra, dec) arrays")
    return shapely.union_all(polys)


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


# ----------------------------------------------------------------------------------------
# normalising and ranking CAOM answers
# ----------------------------------------------------------------------------------------

def _col(table, name, fill):
    if name not in table.colnames:
        return np.full(len(table), fill, dtype=object if isinstance(fill, str) else type(fill))
    col = table[name]
    if hasattr(col, "filled"):
        try:
            return np.asarray(col.filled(fill))
        except (TypeError, ValueError):
            return np.asarray([fill if v is np.ma.masked else v for v in col], dtype=object)
    return np.asarray(col)


_NOT_DIRECT_IMAGE = re.compile(r"(^|[;,\s])(DETECTION|G\d{3}[LMW]?|PR\d{3}[LMW]?|GR150[RC]|GRISM[RC]?)($|[;,\s])",
                               re.IGNORECASE)


def _product_kind(collection, obs_id, instrument):
    oid = obs_id.lower()
    if collection == "JWST":
        return "i2d"
    if collection == "HLA":
        return "hla-visit"
    if oid.startswith("hst_") and "skycell" in oid:
        return "mvm-mosaic"
    if oid.startswith("hst_"):
        return "svm-visit"
    if collection in ("HLSP",):
        return "hlsp-mosaic"
    if len(oid) == 9 and oid[-1] == "0":
        return "association"
    return "single-exposure"


def _pixel_scale(instrument, kind, filters, raw_instrument):
    if instrument == "NIRCAM":
        waves = [int(m) for m in re.findall(r"F(\d{3})", filters.upper())]
        return PIXEL_SCALE_ARCSEC["NIRCAM SW" if waves and min(waves) < 250 else "NIRCAM LW"]
    if instrument == "WFPC2":
        return PIXEL_SCALE_ARCSEC["WFPC2/PC" if raw_instrument.endswith("/PC") else "WFPC2"]
    if instrument == "ACS/WFC" and kind in ("svm-visit", "mvm-mosaic"):
        return PIXEL_SCALE_ARCSEC["ACS/WFC HAP"]
    return PIXEL_SCALE_ARCSEC.get(instrument, np.nan)


def _decimal_year(mjd):
    from astropy.time import Time

    mjd = np.asarray(mjd, float)
    out = np.full(mjd.shape, np.nan)
    ok = np.isfinite(mjd) & (mjd > 0)
    if ok.any():
        out[ok] = Time(mjd[ok], format="mjd").decimalyear
    return out


def rank_candidates(caom, ra0, dec0, epoch=None, apa=None, instruments=SUPPORTED_INSTRUMENTS,
                    min_coverage=0.2, min_calib_level=3, field=None, msa_outline=None):
    """Normalise a CAOM observation table, measure coverage and rank for astrometry.

    Parameters
    ----------
    caom : `~astropy.table.Table`
        As returned by `astroquery.mast.Observations` queries (CAOM columns
        ``obs_collection, instrument_name, filters, obs_id, obsid, calib_level, t_min,
        t_exptime, s_region, dataproduct_type, proposal_id``).
    ra0, dec0 : float
        Field centre, degrees.
    epoch : float, optional
        Decimal year of the planned observation (tie-breaker); default: now.
    apa : float, optional
        Aperture position angle, degrees; None = any APA (see :func:`msa_field_geometry`).
    instruments : sequence of str
        Keep only these (names of :data:`SUPPORTED_INSTRUMENTS`).
    min_coverage : float
        Products covering less of the MSA field rank after all others.
    min_calib_level : int
        3 = drizzled / combined science products.
    field : shapely geometry, optional
        MSA field on the tangent plane (arcsec), overriding ``apa``.
    msa_outline : dict, optional
        Real quadrant outlines on the sky (see :func:`msa_field_geometry`).

    Returns
    -------
    ranked : `~astropy.table.Table`
        One row per usable product (image, level >= ``min_calib_level``, known
        instrument, real filter, footprint overlapping the field), best first. Columns:
        ``rank, product_id, obsid, obs_collection, instrument, filter, kind, exptime (s),
        t_min (d, MJD), epoch (yr), pixel_scale (arcsec), n_exposures, dithered,
        gaia_aligned, coverage, contains_centre, rank_class, score, rank_reason,
        proposal_id, s_region``. ``meta['ranking']`` holds :data:`RANKING_RULES`.
    """
    import datetime

    from astropy.table import Table
    import astropy.units as u

    if epoch is None:
        now = datetime.datetime.now(datetime.timezone.utc)
        epoch = now.year + (now.timetuple().tm_yday - 1) / 365.25
    wanted = {_INSTRUMENT_ALIASES.get(str(i).upper(), str(i).upper()) for i in instruments}
    unknown = wanted - set(SUPPORTED_INSTRUMENTS)
    if unknown:
        raise WorkbookError(f"unknown instrument(s) {sorted(unknown)}; choose from {', '.join(SUPPORTED_INSTRUMENTS)}")

    n = len(caom)
    collection = np.char.upper(_col(caom, "obs_collection", "").astype(str))
    raw_inst = np.char.upper(_col(caom, "instrument_name", "").astype(str))
    instrument = np.array([_INSTRUMENT_ALIASES.get(v, v) for v in raw_inst], dtype=object)
    filters = _col(caom, "filters", "").astype(str)
    obs_id = _col(caom, "obs_id", "").astype(str)
    dptype = np.char.lower(_col(caom, "dataproduct_type", "image").astype(str))
    calib = _col(caom, "calib_level", -1).astype(int)
    exptime = _col(caom, "t_exptime", np.nan).astype(float)
    t_min = _col(caom, "t_min", np.nan).astype(float)
    s_region = _col(caom, "s_region", "").astype(str)

    usable = (dptype == "image") & (calib >= min_calib_level) & np.isin(instrument.astype(str), sorted(wanted))
    # HLA "DETECTION" images are white-light sums of filters, and grism/prism "images" are
    # spectra: neither measures positions of a filter's sources
    usable &= np.array([not _NOT_DIRECT_IMAGE.search(f) for f in filters], dtype=bool)
    usable &= np.isfinite(exptime) & (exptime > 0)
    idx = np.flatnonzero(usable)
    if field is None:
        field, field_kind = msa_field_geometry(ra0, dec0, apa, outlines=msa_outline)
    else:
        field_kind = "given"

    cov = np.zeros(n)
    inside = np.zeros(n, bool)
    geoms = np.empty(n, dtype=object)
    if idx.size:
        c, ins, g = footprint_coverage(s_region[idx], ra0, dec0, apa=apa, field=field)
        cov[idx], inside[idx], geoms[idx] = c, ins, g
    keep = idx[cov[idx] > 0]

    kind = np.array([_product_kind(collection[i], obs_id[i], instrument[i]) for i in keep], dtype=object)
    inst_k = instrument[keep].astype(str)
    pix = np.array([_pixel_scale(instrument[i], k, filters[i], raw_inst[i]) for i, k in zip(keep, kind)], float)
    ep = _decimal_year(t_min[keep])

    dithered = np.where(np.isin(kind, ["svm-visit", "hla-visit", "association", "i2d"]), "likely",
                        np.where(kind == "single-exposure", "no", "mosaic"))
    gaia = np.where(np.isin(kind, ["svm-visit", "mvm-mosaic", "i2d"]), "expected", "possible")
    rank_class = _rank_class(inst_k, dithered)

    table = Table()
    table["product_id"] = obs_id[keep].astype(str)
    table["obsid"] = np.array([str(v) for v in _col(caom, "obsid", "")[keep]], dtype=str)
    table["obs_collection"] = collection[keep].astype(str)
    table["instrument"] = inst_k
    table["filter"] = filters[keep]
    table["kind"] = kind.astype(str)
    table["exptime"] = exptime[keep] * u.s
    table["t_min"] = t_min[keep] * u.d
    table["epoch"] = ep * u.yr
    table["pixel_scale"] = pix * u.arcsec
    table["n_exposures"] = np.full(keep.size, -1, int)
    table["dithered"] = dithered.astype(str)
    table["gaia_aligned"] = gaia.astype(str)
    table["coverage"] = cov[keep]
    table["contains_centre"] = inside[keep]
    table["rank_class"] = rank_class
    table["proposal_id"] = np.array([str(v) for v in _col(caom, "proposal_id", "")[keep]], dtype=str)
    table["s_region"] = s_region[keep]
    table.meta.update({"ranking": RANKING_RULES, "center_ra": float(ra0), "center_dec": float(dec0),
                       "planned_epoch": float(epoch), "apa": apa, "min_coverage": float(min_coverage),
                       "coverage_of": field_kind})
    table.meta["_geoms"] = geoms[keep]  # not serialised (dropped by _strip_private)
    return _apply_ranking(table, epoch, min_coverage)


def _rank_class(instrument, dithered):
    """Seed-order class (:data:`RANK_CLASSES`) from instrument and dither state."""
    optical = np.isin(instrument, ["ACS/WFC", "ACS/HRC", "WFC3/UVIS"])
    dithered_visit = np.isin(dithered, ["likely", "yes"])
    return np.select([optical & dithered_visit, optical, instrument == "NIRCAM", instrument == "WFC3/IR",
                      instrument == "WFPC2"], [1, 2, 3, 4, 5], default=6)


def _score(table, epoch):
    w = SCORE_WEIGHTS
    exptime = np.asarray(table["exptime"], float)
    depth = np.clip(np.log10(np.maximum(exptime, 1e-3) / 100.0) / 2.0, 0.0, 1.0)
    gaia = np.select([np.isin(table["gaia_aligned"], ["yes", "expected"]), table["gaia_aligned"] == "possible"],
                     [1.0, 0.5], default=0.0)
    ep = np.asarray(table["epoch"], float)
    closeness = np.where(np.isfinite(ep), np.exp(-np.abs(ep - epoch) / 10.0), 0.0)
    cov = np.asarray(table["coverage"], float)
    return w["depth"] * depth + w["gaia"] * gaia + w["epoch"] * closeness + w["coverage"] * cov


def _apply_ranking(table, epoch, min_coverage):
    """Sort ``table`` in place by the documented rules and (re)number ``rank``."""
    if "rank" in table.colnames:
        table.remove_column("rank")
    for name in ("score", "rank_reason"):
        if name in table.colnames:
            table.remove_column(name)
    geoms = table.meta.pop("_geoms", None)
    score = _score(table, epoch)
    table["score"] = np.round(score, 4)
    partial = np.asarray(table["coverage"], float) < min_coverage
    order = np.lexsort((np.asarray(table["product_id"], str), -score, np.asarray(table["rank_class"]), partial))
    reasons = []
    for i in range(len(table)):
        row = table[i]
        n_exp = int(row["n_exposures"])
        dith = f"{n_exp} exposures" if n_exp > 0 else f"dithered: {row['dithered']}"
        reasons.append(f"class {row['rank_class']} ({RANK_CLASSES.get(int(row['rank_class']), 'other')}); "
                       f"{row['exptime']:.0f} s; epoch {row['epoch']:.1f}; Gaia {row['gaia_aligned']}; "
                       f"{dith}; covers {100 * row['coverage']:.0f}%" + ("; partial coverage" if partial[i] else ""))
    table["rank_reason"] = np.array(reasons, dtype=str) if reasons else np.array([], dtype=str)
    table = table[order]
    table.add_column(np.arange(1, len(table) + 1), name="rank", index=0)
    if geoms is not None:
        table.meta["_geoms"] = geoms[order]
    table.meta["planned_epoch"] = float(epoch)
    return table


def refine_ranking(ranked, products=None, provenance=None):
    """Re-rank with what the product lists and headers revealed.

    ``n_exposures`` (and so ``dithered``) from :func:`select_products`; ``gaia_aligned``
    becomes ``"yes"``/``"no"`` from the decoded ``WCSNAME`` (:func:`provenance_table`), and
    the measured pixel scale replaces the nominal one.

    Parameters
    ----------
    ranked : `~astropy.table.Table`
        From :func:`find_imaging`.
    products, provenance : `~astropy.table.Table`, optional

    Returns
    -------
    ranked : `~astropy.table.Table`
        A re-sorted copy with ``rank`` renumbered.
    """
    out = ranked.copy(copy_data=True)
    out.meta = dict(ranked.meta)
    index = {str(p): i for i, p in enumerate(out["product_id"])}
    if products is not None:
        for row in products:
            i = index.get(str(row["product_id"]))
            if i is not None and int(row["n_exposures"]) > 0:
                out["n_exposures"][i] = int(row["n_exposures"])
                out["dithered"][i] = "yes" if int(row["n_exposures"]) > 1 else "no"
        if provenance is not None:
            by_file = {str(r["file"]): r for r in provenance}
            for row in products:
                i = index.get(str(row["product_id"]))
                p = by_file.get(os.path.basename(str(row["productFilename"])))
                if i is None or p is None:
                    continue
                out["gaia_aligned"][i] = "yes" if p["gaia"] else "no"
                if np.isfinite(p["pixel_scale"]):
                    out["pixel_scale"][i] = float(p["pixel_scale"])
    out["rank_class"] = _rank_class(np.asarray(out["instrument"], str), np.asarray(out["dithered"], str))
    return _apply_ranking(out, out.meta.get("planned_epoch", 2030.0), out.meta.get("min_coverage", 0.2))


# ----------------------------------------------------------------------------------------
# MAST queries
# ----------------------------------------------------------------------------------------

def query_observations(coord, radius_arcmin, live=True, collections=("HST", "HLA", "JWST")):
    """CAOM image observations around ``coord`` from MAST (raw astroquery table).

    Parameters
    ----------
    coord : `~astropy.coordinates.SkyCoord` or (ra, dec)
    radius_arcmin : float
    live : bool
        False: use the offline replay (:mod:`helpers.archive_replay`).
    collections : sequence of str
        CAOM ``obs_collection`` values to ask for.

    Returns
    -------
    caom : `~astropy.table.Table`
        ``meta['source']`` says where the answer came from (``"MAST"`` or the replay's label).
    """
    import astropy.units as u
    from astroquery.mast import Observations

    coord = _as_coord(coord)
    radius = _radius_arcmin(radius_arcmin)
    with _transport(live, coord) as replay, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Qq]uery returned no results.*")
        caom = _with_retries(
            "MAST observation query", Observations.query_criteria,
            coordinates=coord, radius=radius * u.arcmin, dataproduct_type="image",
            obs_collection=list(collections))
    caom.meta["source"] = replay.label if replay is not None else "MAST"
    return caom


def find_imaging(coord, radius_arcmin=2.5, *, instruments=SUPPORTED_INSTRUMENTS, epoch=None, apa=None,
                 live=True, min_coverage=0.2, require_centre=False, collections=("HST", "HLA", "JWST"),
                 msa_outline=None):
    """Find HST / NIRCam imaging overlapping the planned MSA field, ranked for astrometry.

    Parameters
    ----------
    coord : `~astropy.coordinates.SkyCoord`, (ra, dec) in degrees, or a FieldConfig
        Planned MSA centre.
    radius_arcmin : float
        Search radius, arcmin (2.5 covers the 3.6' x 3.4' MSA at any APA).
    instruments : sequence of str
        Subset of :data:`SUPPORTED_INSTRUMENTS`.
    epoch : float, optional
        Decimal year of the planned NIRSpec observation.
    apa : float, optional
        Aperture position angle, degrees, if already known.
    live : bool
        Query MAST (True) or the offline replay (False).
    min_coverage : float
        See :func:`rank_candidates`.
    require_centre : bool
        Raise if no footprint contains the field centre (default: warn).
    collections : sequence of str
    msa_outline : dict, optional
        Real MSA quadrant outlines on the sky at ``apa`` (``MSAPointing.outlines_sky()``);
        coverage is then measured against them.

    Returns
    -------
    ranked : `~astropy.table.Table`
        See :func:`rank_candidates`; ``meta['source']`` names MAST or the replay.

    Raises
    ------
    WorkbookError
        No usable imaging overlaps the field; MAST unreachable after retries; the centre
        lies outside every footprint and ``require_centre``.
    """
    coord = _as_coord(coord)
    radius = _radius_arcmin(radius_arcmin)
    caom = query_observations(coord, radius, live=live, collections=collections)
    ranked = rank_candidates(caom, coord.ra.deg, coord.dec.deg, epoch=epoch, apa=apa,
                             instruments=instruments, min_coverage=min_coverage, msa_outline=msa_outline)
    ranked.meta["source"] = caom.meta.get("source", "MAST")
    ranked["source"] = np.full(len(ranked), "REPLAY" if "REPLAY" in ranked.meta["source"].upper() else "MAST")
    ranked.meta["radius_arcmin"] = radius
    ranked.meta["live"] = bool(live)
    where = f"({coord.ra.deg:.5f}, {coord.dec.deg:+.5f})"
    if len(ranked) == 0:
        others = [i for i in SUPPORTED_INSTRUMENTS if i not in
                  {_INSTRUMENT_ALIASES.get(str(x).upper(), str(x).upper()) for x in instruments}]
        archive_name = "MAST" if live else "the offline replay"
        found = (f"{archive_name} returned {len(caom)} image observation(s) but none is a usable" if len(caom)
                 else f"{archive_name} has no")
        hint = f"; try a larger radius (now {radius:g} arcmin)" + (f" or add instruments {', '.join(others)}" if others else "")
        raise WorkbookError(f"{found} level-3 image from {', '.join(instruments)} overlapping the MSA field at {where}{hint}")
    if not np.any(ranked["contains_centre"]):
        best = ranked[0]
        message = (f"the field centre {where} lies outside every footprint; the best product "
                   f"{best['product_id']} covers {100 * best['coverage']:.0f}% of the MSA field; "
                   "move the centre or accept partial coverage")
        if require_centre:
            raise WorkbookError(message)
        warnings.warn(message, ArchiveWarning, stacklevel=2)
        ranked.meta["warning"] = message
    return ranked


_PREFERRED_SUFFIXES = ("_drc.fits", "_drz.fits", "_i2d.fits")
_EXPOSURE_SUFFIXES = ("_flc.fits", "_flt.fits", "_c0m.fits", "_c0f.fits", "_cal.fits")
_JWST_EXPOSURE = re.compile(r"^(jw\d{11}_\d{5}_\d{5})")


def _exposure_root(filename):
    """One name per exposure: JWST files carry one per detector (``..._nrca1_cal``)."""
    m = _JWST_EXPOSURE.match(filename)
    return m.group(1) if m else filename.rsplit("_", 1)[0]


def select_products(ranked, max_products=4, live=None):
    """The drizzled science file of the best-ranked observations.

    Asks MAST for the product list of the top ``max_products`` observations (one
    request), keeps one file per observation -- CTE-corrected ``_drc`` before ``_drz``
    for HST, ``_i2d`` for JWST -- and counts the member exposures (``n_exposures``).

    Parameters
    ----------
    ranked : `~astropy.table.Table`
        From :func:`find_imaging`.
    max_products : int
    live : bool, optional
        Default: as ``ranked`` was found.

    Returns
    -------
    products : `~astropy.table.Table`
        MAST product columns (``obsID, obs_collection, obs_id, productFilename, dataURI,
        size, ...``) plus ``rank, product_id, instrument, filter, epoch, pixel_scale,
        coverage, n_exposures`` from the ranking; best first.
    """
    from astropy.table import Table, vstack  # noqa: F401
    from astroquery.mast import Observations

    if len(ranked) == 0:
        raise WorkbookError("no ranked imaging to choose from; run find_imaging with a larger radius first")
    if not isinstance(max_products, (int, np.integer)) or max_products < 1:
        raise WorkbookError(f"max_products = {max_products!r}; give a positive whole number, e.g. 4")
    live = ranked.meta.get("live", True) if live is None else live
    top = ranked[:max_products]
    coord = (ranked.meta.get("center_ra"), ranked.meta.get("center_dec"))
    with _transport(live, coord if coord[0] is not None else None):
        products = _with_retries("MAST product-list query", Observations.get_product_list,
                                 [str(v) for v in top["obsid"]])
    names = np.char.lower(np.asarray(products["productFilename"], str))
    obsids = np.array([str(v) for v in products["obsID"]])
    rows = []
    for r in top:
        mine = obsids == str(r["obsid"])
        members = {_exposure_root(n) for n in names[mine] if n.endswith(_EXPOSURE_SUFFIXES)}
        pick = None
        root = str(r["product_id"]).lower()
        for suffix in _PREFERRED_SUFFIXES:
            # the combined product is named <obs_id><suffix>; HAP also ships per-exposure
            # drizzles (<obs_id><exposure>_drc.fits), used only if the combined one is absent
            exact = np.flatnonzero(mine & (names == root + suffix))
            loose = np.flatnonzero(mine & np.char.endswith(names, suffix) & np.char.startswith(names, root))
            hits = exact if exact.size else loose
            if hits.size:
                pick = hits[0]
                break
        if pick is None:
            warnings.warn(f"{r['product_id']}: no drizzled science file in the MAST product list; skipped",
                          ArchiveWarning, stacklevel=2)
            continue
        rows.append((pick, r, len(members)))
    if not rows:
        raise WorkbookError("none of the best observations has a drizzled (_drc/_drz/_i2d) file; "
                            "raise max_products or choose other instruments")
    out = products[[p for p, _, _ in rows]]
    for name in ("rank", "product_id", "instrument", "filter", "epoch", "pixel_scale", "coverage", "gaia_aligned"):
        out[name] = [r[name] for _, r, _ in rows]
    out["n_exposures"] = [n if n > 0 else int(r["n_exposures"]) for _, r, n in rows]
    out.meta.update({k: v for k, v in ranked.meta.items() if not k.startswith("_")})
    out.meta["live"] = bool(live)
    return out


# ----------------------------------------------------------------------------------------
# download and verification
# ----------------------------------------------------------------------------------------

def verify_fits(path, expected_size=None):
    """Check that a downloaded file is a complete, intact FITS file.

    Checks, in order: the size MAST announced (when known); a whole number of 2880-byte
    FITS blocks; that astropy opens it; that every HDU's data lies inside the file
    (truncation); the ``CHECKSUM``/``DATASUM`` keywords when present.

    Parameters
    ----------
    path : str or `~pathlib.Path`
    expected_size : int, optional
        Bytes, from the MAST product list.

    Returns
    -------
    ok : bool
    reason : str
        What failed, or ``"ok"``.
    checksum : str
        ``"verified"``, ``"absent"`` or ``"failed"``.
    """
    from astropy.io import fits

    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError:
        return False, "file missing", "absent"
    if expected_size is not None and expected_size > 0 and size != int(expected_size):
        return False, f"size {size} bytes, MAST announced {int(expected_size)} (truncated or corrupt)", "absent"
    if size == 0 or size % 2880:
        return False, f"size {size} bytes is not a whole number of 2880-byte FITS blocks (truncated)", "absent"
    have_sums = False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with fits.open(path, memmap=False, checksum=True, lazy_load_hdus=False) as hdul:
                end = 0
                for hdu in hdul:
                    info = hdu.fileinfo()
                    end = max(end, info["datLoc"] + info["datSpan"])
                    have_sums |= ("CHECKSUM" in hdu.header) or ("DATASUM" in hdu.header)
    except Exception as exc:  # astropy raises OSError/ValueError/... on garbage
        return False, f"not a readable FITS file ({exc.__class__.__name__}: {' '.join(str(exc).split())[:80]})", "absent"
    for w in caught:
        text = str(w.message)
        if "verification failed" in text.lower():
            return False, "FITS checksum mismatch (" + " ".join(text.split())[:80] + ")", "failed"
        if "truncated" in text.lower():
            return False, "FITS file truncated", "absent"
    if end > size:
        return False, f"FITS file truncated ({size} of {end} bytes)", "absent"
    return True, "ok", "verified" if have_sums else "absent"


_MANIFEST = "manifest.json"


def _load_manifest(cache):
    path = cache / _MANIFEST
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _save_manifest(cache, manifest):
    with atomic_path(cache / _MANIFEST, overwrite=True) as tmp:
        tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def _fetch_one(product_row_table, staging):
    """One file via Observations.download_products into ``staging`` (flat)."""
    from astroquery.mast import Observations

    try:
        manifest = _with_retries(
            f"download of {product_row_table['productFilename'][0]} from MAST",
            Observations.download_products, product_row_table, download_dir=str(staging), flat=True,
            cache=False, verbose=False)
    except OSError as exc:
        raise WorkbookError(_describe_oserror(exc, staging)) from None
    if manifest is None or len(manifest) == 0:
        raise WorkbookError(f"MAST returned nothing for {product_row_table['productFilename'][0]}; "
                            f"check the product, or {_OFFLINE_HINT}")
    status = str(manifest["Status"][0])
    if status != "COMPLETE":
        raise WorkbookError(f"MAST could not deliver {product_row_table['productFilename'][0]} "
                            f"({status}: {manifest['Message'][0]}); check access rights, or {_OFFLINE_HINT}")


def download(products, workspace, *, live=None, progress=True):
    """Fetch products into a per-field cache, verified, resumable.

    A file goes first into ``<cache>/.partial/``; only after :func:`verify_fits` accepts
    it is it moved (atomically) into the cache and recorded in ``manifest.json``. A file
    that fails verification is fetched once more, then the call stops with an error and
    nothing of it stays in the cache. Files already in the cache and recorded as
    verified (same size and time stamp) are skipped without any request, so an
    interrupted run resumes where it stopped.

    Parameters
    ----------
    products : `~astropy.table.Table`
        From :func:`select_products`.
    workspace : str, `~pathlib.Path` or FieldConfig
        The cache directory, or a field configuration (its ``archive/`` directory).
    live : bool, optional
        Default: as the products were found.
    progress : bool
        tqdm progress bar (silent when not a terminal).

    Returns
    -------
    manifest : `~astropy.table.Table`
        ``product_id, file, path, status`` (``cached``/``downloaded``/``re-downloaded``),
        ``size`` (bytes), ``checksum``, ``source``.

    Raises
    ------
    WorkbookError
        Unwritable cache or full disk; MAST unreachable after retries; a file corrupt
        twice.
    """
    from astropy.table import Table
    from tqdm.auto import tqdm

    cache = workspace.subdir("archive") if hasattr(workspace, "subdir") else ensure_writable_dir(workspace)
    cache = ensure_writable_dir(cache)
    staging = ensure_writable_dir(cache / ".partial")
    for stale in staging.iterdir():  # left by an interrupted run: never trusted
        if stale.is_file():
            stale.unlink()
    live = products.meta.get("live", True) if live is None else live
    source = products.meta.get("source", "MAST")
    coord = (products.meta.get("center_ra"), products.meta.get("center_dec"))
    manifest = _load_manifest(cache)
    rows = []
    with _transport(live, coord if coord[0] is not None else None):
        for i in tqdm(range(len(products)), desc="images", unit="file", disable=None if progress else True):
            one = products[i:i + 1]
            fname = os.path.basename(str(one["productFilename"][0]))
            final = cache / fname
            expected = one["size"][0] if "size" in one.colnames else None
            expected = None if expected is None or np.ma.is_masked(expected) or int(expected) <= 0 else int(expected)
            entry = manifest.get(fname)
            status = None
            if final.exists():
                st = final.stat()
                if entry and entry.get("size") == st.st_size and entry.get("mtime_ns") == st.st_mtime_ns:
                    status, checksum = "cached", entry.get("checksum", "absent")
                else:
                    ok, reason, checksum = verify_fits(final, expected)
                    if ok:
                        status = "cached"
                    else:
                        final.unlink()  # a bad file is never kept as if valid
            if status is None:
                reason = ""
                for attempt in (1, 2):
                    staged = staging / fname
                    staged.unlink(missing_ok=True)
                    try:
                        _fetch_one(one, staging)
                    except BaseException:
                        staged.unlink(missing_ok=True)
                        raise
                    ok, reason, checksum = verify_fits(staged, expected)
                    if ok:
                        try:
                            os.replace(staged, final)
                        except OSError as exc:
                            staged.unlink(missing_ok=True)
                            raise WorkbookError(_describe_oserror(exc, final)) from None
                        status = "downloaded" if attempt == 1 else "re-downloaded"
                        break
                    staged.unlink(missing_ok=True)
                if status is None:
                    raise WorkbookError(f"{fname} failed verification twice ({reason}); it was not kept in "
                                        f"{cache}; try again later or fetch it from the MAST portal, or {_OFFLINE_HINT}")
                st = final.stat()
                manifest[fname] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "checksum": checksum,
                                   "product_id": str(one["product_id"][0]) if "product_id" in one.colnames else "",
                                   "source": source}
                _save_manifest(cache, manifest)
            rows.append((str(one["product_id"][0]) if "product_id" in one.colnames else fname, fname,
                         str(final.resolve()), status, final.stat().st_size, checksum, source))
    return Table(rows=rows, names=("product_id", "file", "path", "status", "size", "checksum", "source"),
                 dtype=(str, str, str, str, int, str, str)) if rows else Table(
        names=("product_id", "file", "path", "status", "size", "checksum", "source"),
        dtype=(str, str, str, str, int, str, str))


# ----------------------------------------------------------------------------------------
# WCS provenance
# ----------------------------------------------------------------------------------------

_CATALOGS = [
    (re.compile(r"GAIA_?E?DR3|GAIAEDR3|GAIAREFCAT"), "Gaia DR3", 10.0, "~10 mas"),
    (re.compile(r"GAIA_?DR2"), "Gaia DR2", 15.0, "~10-30 mas (DR2 proper motions)"),
    (re.compile(r"GAIA_?DR1"), "Gaia DR1", 30.0, "~20-50 mas (no proper motions)"),
    (re.compile(r"GAIA"), "Gaia", 15.0, "~10-30 mas"),
    (re.compile(r"HSC"), "Hubble Source Catalog", 30.0, "~20-50 mas"),
    (re.compile(r"GSC2?4|GSC240"), "GSC 2.4 (Gaia-corrected guide stars, a priori)", 150.0, "~0.1-0.3 arcsec"),
    (re.compile(r"2MASS"), "2MASS", 100.0, "~0.1 arcsec"),
    (re.compile(r"SDSS"), "SDSS", 60.0, "~50-100 mas"),
]


def _header_value(headers, *keys):
    for key in keys:
        for h in headers:
            if h is not None and key in h and h[key] not in (None, ""):
                return h[key]
    return None


def decode_wcsname(wcsname, telescope=None):
    """Explain a WCS name in plain words.

    Parameters
    ----------
    wcsname : str or None
        ``WCSNAME`` from the science header, e.g. ``"IDC_0461802ej-FIT_REL_GAIAeDR3"``,
        ``"FIT_SVM_GAIAeDR3"``, ``"IDC_4bb1536oj-GSC240"``, ``"IDC_4bb1536oj"``.
    telescope : str, optional
        ``"HST"`` or ``"JWST"`` (JWST names its WCS differently).

    Returns
    -------
    decoded : dict
        ``aligned_to`` (catalog or ``"guide stars only"``), ``method`` (a-posteriori fit,
        a-priori correction, pipeline default, ...), ``expected_abs_mas`` (representative
        1-sigma absolute accuracy, mas), ``expected_accuracy`` (text), ``gaia`` (bool).

    Examples
    --------
    >>> decode_wcsname("IDC_0461802ej-FIT_REL_GAIAeDR3")["aligned_to"]
    'Gaia DR3'
    >>> decode_wcsname("IDC_4bb1536oj")["aligned_to"]
    'guide stars only'
    """
    name = (wcsname or "").strip()
    up = name.upper()
    method = "pipeline default (guide-star pointing)"
    if "FIT_SVM" in up:
        method = "a-posteriori fit of the single visit (HAP SVM)"
    elif "FIT_MVM" in up:
        method = "a-posteriori fit of the multi-visit mosaic (HAP MVM)"
    elif "FIT_REL" in up:
        method = "a-posteriori relative fit of the exposures, then to the catalog"
    elif "FIT_IMG" in up:
        method = "a-posteriori fit of each exposure to the catalog"
    elif "FIT" in up or "TWEAK" in up:
        method = "a-posteriori fit"
    elif re.search(r"-(GSC|HSC|GAIA)", up):
        method = "a-priori correction of the guide-star positions"
    for pattern, catalog, mas, text in _CATALOGS:
        if pattern.search(up.replace("-", "_")) or pattern.search(up):
            if catalog.startswith("GSC"):
                method = "a-priori correction of the guide-star positions"
            return {"aligned_to": catalog, "method": method, "expected_abs_mas": mas,
                    "expected_accuracy": text, "gaia": catalog.startswith("Gaia")}
    if telescope and str(telescope).upper() == "JWST":
        return {"aligned_to": "guide stars only", "method": "JWST pipeline (no absolute tweakreg reference named)",
                "expected_abs_mas": 100.0, "expected_accuracy": "~0.1 arcsec (JWST guide stars)", "gaia": False}
    if not name:
        method = "no WCSNAME in the header"
    return {"aligned_to": "guide stars only", "method": method, "expected_abs_mas": 300.0,
            "expected_accuracy": "~0.1-1 arcsec (guide-star catalog)", "gaia": False}


def wcs_provenance(path):
    """Decode the WCS provenance of one image file.

    Reads the primary and the first image (``SCI``) header: ``WCSNAME``, ``WCSTYPE``,
    fit quality (``RMS_RA``, ``RMS_DEC`` in mas, ``NMATCHES``, ``FITGEOM``), JWST
    ``TWEAKREG``/``ABSREFCT``-style keywords where present, instrument, filter, epoch,
    exposure time, number of combined exposures and the pixel scale measured from the WCS.

    Parameters
    ----------
    path : str or `~pathlib.Path`

    Returns
    -------
    prov : dict
        Plain-word summary (``provenance``) plus the raw values; ``has_celestial_wcs`` is
        False (and ``provenance`` says so) for a product without a celestial WCS.
    """
    from astropy.io import fits
    from astropy.time import Time
    from astropy.wcs import WCS, FITSFixedWarning
    from astropy.wcs.utils import proj_plane_pixel_scales

    path = Path(path)
    with fits.open(path, memmap=True) as hdul:
        primary = hdul[0].header
        sci = None
        for hdu in hdul:
            if hdu.is_image and hdu.header.get("NAXIS", 0) >= 2 and (hdu.name == "SCI" or sci is None):
                sci = hdu.header
                if hdu.name == "SCI":
                    break
        headers = [sci, primary]
        has_wcs, pix = False, np.nan
        if sci is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FITSFixedWarning)
                try:
                    w = WCS(sci)
                    has_wcs = bool(w.has_celestial)
                    if has_wcs:
                        pix = float(np.mean(proj_plane_pixel_scales(w.celestial)) * 3600.0)
                except Exception:
                    has_wcs = False
    telescope = _header_value(headers, "TELESCOP") or ""
    wcsname = _header_value(headers, "WCSNAME")
    refcat = _header_value(headers, "ABSREFCT", "TWKREFCT", "REFCAT", "ABS_REFC")
    decoded = decode_wcsname(f"{wcsname or ''} {refcat or ''}".strip(), telescope)
    inst = str(_header_value(headers, "INSTRUME") or "")
    det = str(_header_value(headers, "DETECTOR") or "")
    filt = _header_value(headers, "FILTER")
    if filt is None:
        parts = [str(_header_value(headers, k) or "") for k in ("FILTER1", "FILTER2", "FILTNAM1", "FILTNAM2")]
        filt = ";".join(p for p in parts if p and not p.upper().startswith("CLEAR")) or None
    mjd = _header_value(headers, "EXPSTART", "MJD-OBS", "MJD-BEG")
    epoch = np.nan
    try:
        if mjd is not None:
            epoch = float(Time(float(mjd), format="mjd").decimalyear)
        elif _header_value(headers, "DATE-OBS"):
            epoch = float(Time(str(_header_value(headers, "DATE-OBS"))).decimalyear)
    except (ValueError, TypeError):
        pass
    rms_ra = _header_value(headers, "RMS_RA")
    rms_dec = _header_value(headers, "RMS_DEC")
    nmatch = _header_value(headers, "NMATCHES", "NMATCH")
    replay = bool(_header_value(headers, "SIMULATE", "REPLAY")) or "SIMULAT" in str(
        _header_value(headers, "ORIGIN") or "").upper()
    words = [f"aligned to {decoded['aligned_to']}" if decoded["aligned_to"] != "guide stars only"
             else "guide stars only", decoded["method"]]
    if rms_ra is not None or rms_dec is not None:
        words.append(f"fit rms {_fmt(rms_ra)} x {_fmt(rms_dec)} mas (RA x Dec)")
    if nmatch is not None:
        words.append(f"{int(nmatch)} matches")
    words.append(f"expected absolute accuracy {decoded['expected_accuracy']}")
    if replay:
        words.append("SIMULATED REPLAY, not a real MAST file")
    if not has_wcs:
        words = ["no celestial WCS: cannot be used for astrometry"]
    ncomb = _header_value(headers, "NDRIZIM", "NCOMBINE", "NEXPOSUR", "NEXPOSURES")
    return {
        "file": path.name, "path": str(path.resolve()), "telescope": str(telescope),
        "instrument": f"{inst}/{det}" if det and det.upper() not in inst.upper() and inst.upper() != "NIRCAM" else inst,
        "filter": str(filt or ""), "epoch": epoch, "exptime": float(_header_value(headers, "EXPTIME", "XPOSURE", "EFFEXPTM") or np.nan),
        "n_exposures": int(ncomb) if ncomb is not None else -1, "pixel_scale": pix,
        "wcsname": str(wcsname or ""), "wcstype": str(_header_value(headers, "WCSTYPE") or ""),
        "aligned_to": decoded["aligned_to"] if has_wcs else "", "gaia": bool(decoded["gaia"] and has_wcs),
        "method": decoded["method"], "rms_ra_mas": _float(rms_ra), "rms_dec_mas": _float(rms_dec),
        "n_matches": int(nmatch) if nmatch is not None else -1,
        "expected_abs_mas": decoded["expected_abs_mas"] if has_wcs else np.nan,
        "has_celestial_wcs": has_wcs, "replay": replay, "provenance": "; ".join(words),
    }


def _float(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return np.nan


def _fmt(v):
    f = _float(v)
    return "?" if not np.isfinite(f) else f"{f:.1f}"


def provenance_table(paths):
    """:func:`wcs_provenance` for several files, as a Table (one row per file).

    Parameters
    ----------
    paths : sequence of str or `~pathlib.Path`

    Returns
    -------
    table : `~astropy.table.Table`
        Columns as the keys of :func:`wcs_provenance`; ``rms_*`` and
        ``expected_abs_mas`` in mas, ``pixel_scale`` in arcsec, ``epoch`` in yr.
    """
    from astropy.table import Table
    import astropy.units as u

    rows = [wcs_provenance(p) for p in paths]
    table = Table(rows=rows) if rows else Table()
    for name, unit in (("rms_ra_mas", u.mas), ("rms_dec_mas", u.mas), ("expected_abs_mas", u.mas),
                       ("pixel_scale", u.arcsec), ("epoch", u.yr), ("exptime", u.s)):
        if name in table.colnames:
            table[name].unit = unit
    return table


# ----------------------------------------------------------------------------------------
# reference catalogs
# ----------------------------------------------------------------------------------------

def _cached_catalog(path, coord, radius, refresh):
    from astropy.table import Table

    if path is None or refresh or not Path(path).exists():
        return None
    try:
        table = Table.read(path, format="ascii.ecsv")
    except Exception:
        return None
    meta = table.meta
    same = (abs(meta.get("center_ra", 1e9) - coord.ra.deg) < 1e-6
            and abs(meta.get("center_dec", 1e9) - coord.dec.deg) < 1e-6
            and meta.get("radius_arcmin", -1) >= radius - 1e-9)
    return table if same else None


def _write_catalog(table, path):
    if path is not None:
        save_table(table, path)


def save_table(table, path, overwrite=True):
    """Write a table of this module as ECSV, atomically (private ``_`` meta keys dropped).

    Parameters
    ----------
    table : `~astropy.table.Table`
    path : str or `~pathlib.Path`
    overwrite : bool
        Tables of notebook 01 are regenerated on every run, so replacing is the default.

    Returns
    -------
    path : `~pathlib.Path`
    """
    out = table.copy(copy_data=False)
    out.meta = {k: (float(v) if isinstance(v, np.floating) else v) for k, v in table.meta.items()
                if not str(k).startswith("_")}
    with atomic_path(path, overwrite=overwrite) as tmp:
        out.write(tmp, format="ascii.ecsv", overwrite=True)
    return Path(path)


def query_gaia(coord, radius_arcmin=2.5, *, live=True, cache=None, refresh=False):
    """Gaia DR3 sources with proper motions and errors around ``coord``, cached per field.

    Parameters
    ----------
    coord : `~astropy.coordinates.SkyCoord` or (ra, dec)
    radius_arcmin : float
    live : bool
        True: ``astroquery.gaia`` (ADQL on ``gaiadr3.gaia_source``); False: the replay
        (:func:`helpers.simulate.gaia_like_catalog` for the demo field).
    cache : str or `~pathlib.Path`, optional
        Directory; the table is read from / written to ``<cache>/gaia.ecsv``.
    refresh : bool
        Ignore the cached file.

    Returns
    -------
    gaia : `~astropy.table.Table`
        ``source_id, ra, dec (deg), ra_error, dec_error (mas), pmra, pmdec, pmra_error,
        pmdec_error (mas/yr), parallax (mas), phot_g_mean_mag, ref_epoch (yr)``;
        ``meta['source']`` says where it came from.
    """
    coord = _as_coord(coord)
    radius = _radius_arcmin(radius_arcmin)
    path = Path(cache) / "gaia.ecsv" if cache is not None else None
    table = _cached_catalog(path, coord, radius, refresh)
    if table is not None:
        return table
    if live:
        table = _with_retries("Gaia archive query", _gaia_live, coord, radius)
        table.meta["source"] = "Gaia archive (gaiadr3.gaia_source)"
    else:
        from . import replay as archive_replay

        table = archive_replay.replay_for(coord).gaia(coord, radius)
    table.meta.update({"center_ra": float(coord.ra.deg), "center_dec": float(coord.dec.deg),
                       "radius_arcmin": float(radius)})
    _write_catalog(table, path)
    return table


_GAIA_COLUMNS = ("source_id, ra, dec, ra_error, dec_error, pmra, pmdec, pmra_error, pmdec_error, "
                 "parallax, parallax_error, phot_g_mean_mag, ruwe, ref_epoch")


def _gaia_live(coord, radius):
    from astroquery.gaia import Gaia

    query = (f"SELECT {_GAIA_COLUMNS} FROM gaiadr3.gaia_source WHERE 1 = CONTAINS("
             f"POINT('ICRS', ra, dec), CIRCLE('ICRS', {coord.ra.deg:.8f}, {coord.dec.deg:.8f}, {radius / 60.0:.8f}))")
    job = Gaia.launch_job_async(query, verbose=False)
    table = job.get_results()
    table.meta = {k: v for k, v in table.meta.items() if isinstance(v, (str, int, float))}
    return table


def query_hsc(coord, radius_arcmin=2.5, *, live=True, cache=None, refresh=False):
    """Hubble Source Catalog v3 matches around ``coord`` (`astroquery.mast.Catalogs`), cached.

    HSC v3 relative astrometry is typically < 10 mas (mode ~2.3 mas; Whitmore et al. 2016,
    AJ 151, 134, and the HSC v3 release notes).

    Parameters
    ----------
    coord, radius_arcmin, live, cache, refresh
        As in :func:`query_gaia`; the cache file is ``hsc.ecsv``.

    Returns
    -------
    hsc : `~astropy.table.Table`
        MAST's HSC columns (``MatchID, MatchRA, MatchDec, DSigma, NumImages, ...``);
        ``meta['epoch']``: median decimal year of the matched images (from ``StartMJD``,
        ``StopMJD``), the epoch of the positions.
    """
    import astropy.units as u
    from astroquery.mast import Catalogs

    coord = _as_coord(coord)
    radius = _radius_arcmin(radius_arcmin)
    path = Path(cache) / "hsc.ecsv" if cache is not None else None
    table = _cached_catalog(path, coord, radius, refresh)
    if table is not None:
        return table
    with _transport(live, coord) as replay, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Qq]uery returned no results.*")
        table = _with_retries("MAST Hubble Source Catalog query", Catalogs.query_region, coord,
                              radius=radius * u.arcmin, catalog="HSC", version=3)
    table.meta = {"source": replay.label if replay is not None else "MAST HSC v3",
                  "center_ra": float(coord.ra.deg), "center_dec": float(coord.dec.deg),
                  "radius_arcmin": float(radius)}
    for name, unit in (("MatchRA", u.deg), ("MatchDec", u.deg), ("DSigma", u.mas)):
        if name in table.colnames and table[name].unit is None:
            table[name].unit = unit
    if len(table) and {"StartMJD", "StopMJD"} <= set(table.colnames):
        # HSC positions are means over the matched images: their epoch is that of the images
        mid = 0.5 * (np.asarray(table["StartMJD"], float) + np.asarray(table["StopMJD"], float))
        table.meta["epoch"] = round(float(np.nanmedian(_decimal_year(mid))), 3)
    _write_catalog(table, path)
    return table


# ----------------------------------------------------------------------------------------
# hand-over to notebook 02
# ----------------------------------------------------------------------------------------

def images_for_config(products, manifest, provenance):
    """The ``extra["images"]`` list notebook 02 reads: best first, usable files only.

    Parameters
    ----------
    products : `~astropy.table.Table`
        From :func:`select_products`.
    manifest : `~astropy.table.Table`
        From :func:`download`.
    provenance : `~astropy.table.Table`
        From :func:`provenance_table` (same files).

    Returns
    -------
    images : list of dict
        ``product_id, path (absolute), instrument, filter, epoch (yr), pixel_scale
        (arcsec), wcsname, provenance, rank, replay``.

    Raises
    ------
    WorkbookError
        If no downloaded file has a celestial WCS.
    """
    prov = {str(r["file"]): r for r in provenance}
    images, skipped = [], []
    for prod, man in zip(products, manifest):
        p = prov.get(str(man["file"]))
        if p is None or not p["has_celestial_wcs"]:
            skipped.append(str(man["file"]))
            continue
        epoch = float(p["epoch"]) if np.isfinite(p["epoch"]) else float(prod["epoch"])
        pix = float(p["pixel_scale"]) if np.isfinite(p["pixel_scale"]) else float(prod["pixel_scale"])
        images.append({
            "product_id": str(prod["product_id"]), "path": str(man["path"]),
            "instrument": str(prod["instrument"]), "filter": str(prod["filter"]),
            "epoch": round(epoch, 4), "pixel_scale": round(pix, 5), "wcsname": str(p["wcsname"]),
            "provenance": str(p["provenance"]), "rank": int(prod["rank"]), "replay": bool(p["replay"]),
        })
    if skipped:
        warnings.warn(f"skipped {len(skipped)} file(s) without a celestial WCS: {', '.join(skipped)}",
                      ArchiveWarning, stacklevel=2)
    if not images:
        raise WorkbookError("none of the downloaded images has a celestial WCS; choose other products "
                            "(raise max_products) or other instruments")
    return sorted(images, key=lambda d: d["rank"])
