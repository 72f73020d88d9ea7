"""Normalise CAOM answers and rank the candidate images for astrometry (notebook 01).

:func:`rank_candidates` keeps the usable direct images of :data:`SUPPORTED_INSTRUMENTS`,
measures their coverage of the MSA field (:mod:`helpers.archive.footprints`) and sorts
them by the rules in :data:`RANKING_RULES`; :func:`refine_ranking` sorts again once the
product lists and the headers are known.
"""

import os
import re

import numpy as np

from ..errors import WorkbookError
from ..validate import require_instance, require_number
from .footprints import footprint_coverage, msa_field_geometry

__all__ = [
    "SUPPORTED_INSTRUMENTS",
    "PIXEL_SCALE_ARCSEC",
    "RANK_CLASSES",
    "SCORE_WEIGHTS",
    "RANKING_RULES",
    "rank_candidates",
    "refine_ranking",
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

    require_instance(caom, Table, "caom", "give the CAOM observation Table of a MAST query (query_observations)")
    epoch = require_number(epoch, "epoch", minimum=1900.0, maximum=2200.0, allow_none=True, example="2027.5")
    apa = require_number(apa, "apa", allow_none=True, example="30.0 (degrees)")
    min_coverage = require_number(min_coverage, "min_coverage", minimum=0.0, maximum=1.0, example="0.2")
    min_calib_level = require_number(min_calib_level, "min_calib_level", integer=True, example="3")
    if isinstance(instruments, (bytes, dict)) or not hasattr(instruments, "__iter__"):
        raise WorkbookError(f"instruments = {instruments!r:.40} is not a list of names; give e.g. ['ACS/WFC', 'NIRCAM']")
    if isinstance(instruments, str):
        instruments = [instruments]
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


#: Columns of a ranked table that :func:`refine_ranking` reads or re-ranks by.
_RANKED_COLUMNS = ("product_id", "instrument", "n_exposures", "dithered", "gaia_aligned", "pixel_scale", "coverage",
                   "epoch", "exptime", "rank_class")


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
    from astropy.table import Table

    if not isinstance(ranked, Table):
        raise WorkbookError(f"ranked is a {type(ranked).__name__}, not a Table; pass what rank_candidates returned")
    for name, table, columns in (("ranked", ranked, _RANKED_COLUMNS), ("products", products, ("product_id", "n_exposures")),
                                 ("provenance", provenance, ("file", "gaia", "pixel_scale"))):
        if table is None:
            continue
        require_instance(table, Table, name, "pass the Tables find_imaging / select_products / provenance_table returned")
        missing = [c for c in columns if c not in table.colnames]
        if missing:
            raise WorkbookError(f"{name} lacks column(s) {missing}; pass the Table find_imaging / select_products / "
                                "provenance_table returned")
    if provenance is not None and products is not None and "productFilename" not in products.colnames:
        raise WorkbookError("products lacks column 'productFilename'; pass the Table select_products returned")
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
