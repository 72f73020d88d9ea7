"""MAST queries (notebook 01): the imaging around a field and the files of the best of it.

:func:`find_imaging` asks MAST's CAOM database (through `astroquery.mast.Observations`)
for HST and JWST NIRCam imaging around the field and ranks it
(:func:`helpers.archive.ranking.rank_candidates`); :func:`select_products` picks the
drizzled science file of the best observations (``_drc``/``_drz`` for HST, ``_i2d`` for
JWST).

Also the network plumbing every archive call shares: offline (``live=False``) the replay
of :mod:`helpers.archive.replay` is installed at astroquery's HTTP layer; network faults
are retried a bounded number of times with back-off (:data:`RETRY_DELAYS_S`) and then
reported as a one-line :class:`~helpers.errors.WorkbookError` that names the offline
option.
"""

import contextlib
import errno
import re
import time
import warnings

import numpy as np

from ..errors import WorkbookError
from .ranking import _INSTRUMENT_ALIASES, SUPPORTED_INSTRUMENTS, rank_candidates

__all__ = [
    "RETRY_DELAYS_S",
    "ArchiveWarning",
    "query_observations",
    "find_imaging",
    "select_products",
]

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
    detail = " ".join(str(last).split())  # the whole cause: host and reason are what a user acts on
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
        try:
            value = float(radius.to_value(u.arcmin))
        except (u.UnitsError, TypeError, ValueError):
            raise WorkbookError(f"search radius {radius!r:.40} is not an angle; give arcmin, e.g. 2.5") from None
    else:
        from ..validate import require_number

        value = require_number(radius, "search radius", example="2.5 (arcmin)")
    if not (np.isfinite(value) and 0 < value <= 60):
        raise WorkbookError(f"search radius {value:g} arcmin is out of range; use 0 < radius <= 60 arcmin (2.5 covers the MSA)")
    return value


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
        False: use the offline replay (:mod:`helpers.archive.replay`).
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

    from ..validate import require_instance

    require_instance(ranked, Table, "ranked", "pass the Table find_imaging returned")
    missing = [c for c in ("obsid", "product_id") if c not in ranked.colnames]
    if missing:
        raise WorkbookError(f"ranked lacks column(s) {missing}; pass the Table find_imaging returned")
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
