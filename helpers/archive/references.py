"""Reference catalogs around a field, cached per field (notebook 01).

:func:`query_gaia` (Gaia DR3 with proper motions) and :func:`query_hsc` (Hubble Source
Catalog v3), live or replayed; :func:`save_table` writes the tables of notebook 01.
"""

import warnings
from pathlib import Path

import numpy as np

from .._io import atomic_path
from ..validate import require_instance, require_path
from .mast import _as_coord, _radius_arcmin, _transport, _with_retries
from .ranking import _decimal_year

__all__ = ["save_table", "query_gaia", "query_hsc"]


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
    from astropy.table import Table

    require_instance(table, Table, "table", "give an astropy Table")
    path = require_path(path, "path")
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
    path = require_path(cache, "cache") / "gaia.ecsv" if cache is not None else None
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
    path = require_path(cache, "cache") / "hsc.ecsv" if cache is not None else None
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
