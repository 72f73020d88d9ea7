"""Files for APT's MSA Planning Tool (notebook 05): MPT catalog, MSATA reference stars, regions, session.

Vocabulary
----------
APT
    The Astronomer's Proposal Tool, where JWST observations are specified.
MPT
    APT's NIRSpec *MSA Planning Tool*: it reads a source catalog and places sources in the
    shutters of the micro-shutter assembly (MSA).
TA, MSATA
    Target acquisition; MSATA is NIRSpec's MSA-based TA: 5-8 *reference stars* imaged through
    open shutters in a TA filter (F110W, F140X or CLEAR) fix the pointing and roll to ~20 mas
    when their positions are in the same 5-10 mas frame as the science targets.

The MPT catalog format (JDox, "NIRSpec MPT - Catalogs" and "MPT Catalogs - Examples",
https://jwst-docs.stsci.edu/jwst-near-infrared-spectrograph/nirspec-apt-templates/
nirspec-multi-object-spectroscopy-apt-template/nirspec-mpt-catalogs/mpt-catalogs-examples,
read 2026-11-24):

* ASCII, whitespace (or tab/comma) delimited; an optional header line of column labels that
  **begins with "#"** at the top of the file;
* an integer ID from 1 to 1,000,000 in the first column (it is encoded into the names of the
  pipeline's level-3 products), RA and Dec (J2000/ICRS) in degrees or sexagesimal;
* recognised labels include ``ID, RA, DEC, Size, Redshift, Reference, Stellarity, Magnitude,
  Magnitude error, R50, Number, Label, Weight, FWHM``; ``Stellarity`` runs from 0 to 1 for
  increasingly point-like sources (-1 unknown); ``Reference`` designates candidate MSATA
  reference objects (needed for flight-ready program updates, not for proposals);
* the catalog must have a radial extent from its centre of less than 1 degree.

What this module writes: ``ID RA DEC`` (RA/Dec ICRS degrees with 9 decimals, i.e. rounding
<= 0.002 mas), then ``Magnitude`` (AB magnitude *estimated* in the TA filter from the
pre-image, see :func:`ab_zeropoint`), ``Stellarity``, ``Reference`` (1 = recommended MSATA
reference star, 0 = not), optional ``Weight``, ``Sigma_mas`` (1-sigma per axis, mas),
``Flags`` (the source catalog's bitmask) and any further columns of the input table. The
exact value convention of the ``Reference`` column (1/0) could not be confirmed from the page
excerpts available offline; MPT lets you pick the column when building a candidate set.

Performance: catalog and DS9 regions are formatted with one C-level ``str.__mod__`` pass per
file (no per-row Python branching); 10^5 sources take ~0.5 s together
(``benchmarks/bench_export.py``). The DS9 text is byte-identical to what
`regions.Regions.serialize` writes for the same regions (tested).

The MSATA brightness windows come from JDox (see :data:`MSATA_WINDOWS`); an editable copy
with its provenance is ``data/msata/brightness_windows.csv`` (pass its path as ``windows=``).
"""

import csv
import datetime
import hashlib
import json
import math
import platform
import shutil
from pathlib import Path

import numpy as np

from ..errors import WorkbookError
from ..skyplane import sky_to_tangent, unit_vectors
from .._io import atomic_path, ensure_writable_dir, refuse_existing

__all__ = [
    "MPT_MAX_ID",
    "MPT_MAX_RADIUS_DEG",
    "MSATA_WINDOWS",
    "ta_magnitude_window",
    "load_brightness_windows",
    "ab_zeropoint",
    "flux_to_abmag",
    "tangent_plane_arcsec",
    "validate_mpt_table",
    "build_mpt_table",
    "write_mpt_catalog",
    "read_mpt_catalog",
    "msata_candidates",
    "write_ds9_circles",
    "write_regions",
    "msa_outline_polygons",
    "quadrant_outlines",
    "msa_counts",
    "outline_regions",
    "write_catalog_ecsv",
    "catalog_magnitudes",
    "full_catalog",
    "copy_figures",
    "software_versions",
    "write_session",
    "read_session",
    "recreate_field_from_session",
    "find_source_catalog",
    "summary_card",
    "astrometry_summary",
    "round_trip_check",
    "image_header",
]

#: Largest ID MPT accepts (JDox "MPT Catalogs - Examples": "an integer value from 1 up to 1e6").
MPT_MAX_ID = 1_000_000
#: Largest radial extent of an MPT catalog from its centre (same page), degrees.
MPT_MAX_RADIUS_DEG = 1.0
#: Decimals written for RA/Dec in degrees: 1e-9 deg = 0.0036 mas, so rounding is <= 0.002 mas.
COORD_DECIMALS = 9
#: Fill values written for missing (NaN/masked) optional values.
MAG_FILL = 99.0
OTHER_FILL = -1.0

#: MSATA reference-star brightness windows in the TA filter, per filter and readout pattern:
#: ``faint_mag`` reaches S/N = 20, ``bright_mag`` saturates. From JDox "Predicting MSATA
#: Reference Star Magnitudes", Table 1 "Brightness ranges for NIRSpec MSATA filter and
#: readout pattern options" (https://jwst-docs.stsci.edu/jwst-near-infrared-spectrograph/
#: nirspec-observing-strategies/nirspec-msata-reference-star-selection-recommended-strategies/
#: predicting-msata-reference-star-magnitudes), read 2026-11-24. Its NRSRAPIDD1/D2 rows list a
#: single filter whose column could not be read unambiguously, so they are left out. The
#: magnitude system is the one of that table; the workbook's TA magnitudes are AB estimates from
#: the pre-image, so check the system (and the current values, via the ETC) before a program
#: update. Replace with ``windows=`` (a CSV with columns ta_filter, readout, bright_mag,
#: faint_mag, or a list of dicts).
MSATA_WINDOWS = [
    {"ta_filter": "F110W", "readout": "NRSRAPID", "bright_mag": 19.5, "faint_mag": 22.0},
    {"ta_filter": "F110W", "readout": "NRSRAPIDD6", "bright_mag": 21.3, "faint_mag": 24.0},
    {"ta_filter": "F140X", "readout": "NRSRAPID", "bright_mag": 20.6, "faint_mag": 23.0},
    {"ta_filter": "F140X", "readout": "NRSRAPIDD6", "bright_mag": 22.3, "faint_mag": 25.0},
    {"ta_filter": "CLEAR", "readout": "NRSRAPID", "bright_mag": 21.3, "faint_mag": 23.8},
    {"ta_filter": "CLEAR", "readout": "NRSRAPIDD6", "bright_mag": 23.1, "faint_mag": 25.7},
]
MSATA_WINDOWS_SOURCE = ("JDox 'Predicting MSATA Reference Star Magnitudes' Table 1 (read 2026-11-24); "
                        "TA magnitudes here are AB estimates from the pre-image: confirm with the ETC")

#: Source-catalog flag bits (docs/DEVELOPING.md) that disqualify an MSATA reference star.
FLAG_SATURATED, FLAG_EDGE, FLAG_BLENDED, FLAG_MASKED, FLAG_PSF_FAILED = 1, 2, 4, 8, 16
_REJECT_FLAGS = {FLAG_SATURATED: "saturated", FLAG_EDGE: "at the image edge",
                 FLAG_BLENDED: "blended", FLAG_MASKED: "masked pixels"}

#: Approximate AB zeropoints (mag for 1 e-/s) used only when the image header carries no
#: PHOTFLAM/PHOTPLAM: ACS/WFC and WFC3/UVIS instrument-handbook values (STScI zeropoint
#: calculators, typical post-2012 epochs; accurate to ~0.05 mag, ample for a TA window).
APPROX_AB_ZEROPOINTS = {
    ("ACS/WFC", "F435W"): 25.66, ("ACS/WFC", "F475W"): 26.06, ("ACS/WFC", "F606W"): 26.49,
    ("ACS/WFC", "F775W"): 25.66, ("ACS/WFC", "F814W"): 25.94, ("ACS/WFC", "F850LP"): 24.84,
    ("WFC3/UVIS", "F606W"): 26.10, ("WFC3/UVIS", "F814W"): 25.13, ("WFC3/UVIS", "F336W"): 24.64,
    ("WFC3/IR", "F105W"): 26.27, ("WFC3/IR", "F125W"): 26.23, ("WFC3/IR", "F140W"): 26.45,
    ("WFC3/IR", "F160W"): 25.95,
}


# --------------------------------------------------------------------------------------
# Brightness windows and magnitudes
# --------------------------------------------------------------------------------------

def load_brightness_windows(windows=None):
    """Return the MSATA brightness-window table as a list of dicts.

    Parameters
    ----------
    windows : None, str, `~pathlib.Path` or list of dict
        ``None``: the built-in :data:`MSATA_WINDOWS` (JDox Table 1). A path: a CSV file with
        columns ``ta_filter, readout, bright_mag, faint_mag`` (AB). A list of dicts: used as is.

    Returns
    -------
    rows : list of dict
    """
    if windows is None:
        return [dict(r, source=MSATA_WINDOWS_SOURCE) for r in MSATA_WINDOWS]
    if isinstance(windows, (str, Path)):
        path = Path(windows)
        if not path.exists():
            raise WorkbookError(f"brightness-window table {path} not found; give a CSV with columns "
                                "ta_filter, readout, bright_mag, faint_mag")
        with open(path, newline="") as fh:
            rows = [dict(r, source=str(path)) for r in csv.DictReader(
                line for line in fh if not line.lstrip().startswith("#"))]
    else:
        rows = [dict(r) for r in windows]
    out = []
    for r in rows:
        try:
            out.append({"ta_filter": str(r["ta_filter"]).strip().upper(),
                        "readout": str(r["readout"]).strip().upper(),
                        "bright_mag": float(r["bright_mag"]), "faint_mag": float(r["faint_mag"]),
                        "source": r.get("source", "user table")})
        except (KeyError, ValueError, TypeError):
            raise WorkbookError(f"brightness-window row {r!r} is incomplete; each row needs ta_filter, readout, "
                                "bright_mag, faint_mag (AB)") from None
    return out


def ta_magnitude_window(ta_filter="F110W", readout="NRSRAPID", windows=None):
    """Brightness window (AB magnitudes) for MSATA reference stars in one filter/readout.

    Parameters
    ----------
    ta_filter : {'F110W', 'F140X', 'CLEAR'}
    readout : str
        Readout pattern, e.g. ``'NRSRAPID'`` or ``'NRSRAPIDD6'``.
    windows : see :func:`load_brightness_windows`

    Returns
    -------
    bright, faint : float
        Brightest and faintest usable AB magnitude.
    source : str
        Where the numbers come from.

    Examples
    --------
    >>> ta_magnitude_window("F110W", "NRSRAPID")[:2]
    (19.5, 22.0)
    """
    rows = load_brightness_windows(windows)
    key = (str(ta_filter).strip().upper(), str(readout).strip().upper())
    for r in rows:
        if (r["ta_filter"], r["readout"]) == key:
            if not r["bright_mag"] < r["faint_mag"]:
                raise WorkbookError(f"brightness window for {key[0]}/{key[1]} has bright_mag >= faint_mag; fix the table")
            return r["bright_mag"], r["faint_mag"], r["source"]
    known = ", ".join(sorted({f"{r['ta_filter']}/{r['readout']}" for r in rows}))
    raise WorkbookError(f"no MSATA brightness window for {key[0]}/{key[1]}; choose one of {known} "
                        "or pass windows= with your own table")


def ab_zeropoint(header=None, instrument=None, filter_name=None, zeropoint=None):
    """AB zeropoint (magnitude of 1 image unit per second or per pixel) for a pre-image.

    In order: an explicit ``zeropoint``; HST ``PHOTFLAM``/``PHOTPLAM`` (e-/s images):
    ``ZP_AB = -2.5 log10(PHOTFLAM) - 5 log10(PHOTPLAM) - 2.408`` (STScI ACS/WFC3
    zeropoint definition); JWST ``PIXAR_SR`` with ``BUNIT = MJy/sr``:
    ``ZP_AB = -2.5 log10(PIXAR_SR * 1e6 / 3631)``; else the approximate table
    :data:`APPROX_AB_ZEROPOINTS`; else ``nan``.

    Parameters
    ----------
    header : `~astropy.io.fits.Header` or dict, optional
    instrument, filter_name : str, optional
        E.g. ``'ACS/WFC'``, ``'F606W'`` (for the fall-back table).
    zeropoint : float, optional
        Use this value.

    Returns
    -------
    zp : float
        AB zeropoint, ``nan`` if unknown.
    how : str
        Provenance, e.g. ``'PHOTFLAM/PHOTPLAM from the image header'``.

    Examples
    --------
    >>> zp, how = ab_zeropoint({"PHOTFLAM": 7.8625e-20, "PHOTPLAM": 5921.1})
    >>> round(zp, 2)
    26.49
    """
    if zeropoint is not None:
        return float(zeropoint), "given zeropoint"
    header = header or {}
    try:
        photflam, photplam = float(header["PHOTFLAM"]), float(header["PHOTPLAM"])
        if photflam > 0 and photplam > 0:
            return (-2.5 * math.log10(photflam) - 5 * math.log10(photplam) - 2.408,
                    "PHOTFLAM/PHOTPLAM from the image header")
    except (KeyError, TypeError, ValueError):
        pass
    try:
        pixar = float(header["PIXAR_SR"])
        if "MJY/SR" in str(header.get("BUNIT", "")).upper().replace(" ", "") and pixar > 0:
            return -2.5 * math.log10(pixar * 1e6 / 3631.0), "PIXAR_SR with BUNIT=MJy/sr from the image header"
    except (KeyError, TypeError, ValueError):
        pass
    key = (str(instrument or "").upper(), str(filter_name or "").upper())
    if key in APPROX_AB_ZEROPOINTS:
        return APPROX_AB_ZEROPOINTS[key], f"approximate {key[0]} {key[1]} handbook zeropoint (no PHOTFLAM in header)"
    return float("nan"), "unknown zeropoint (no PHOTFLAM/PIXAR_SR and no tabulated value)"


def flux_to_abmag(flux, zeropoint):
    """AB magnitude ``zp - 2.5 log10(flux)``; ``nan`` for non-positive or missing flux.

    Examples
    --------
    >>> float(flux_to_abmag(100.0, 25.0))
    20.0
    """
    flux = np.ma.filled(np.ma.asarray(flux, dtype=float), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = zeropoint - 2.5 * np.log10(np.where(flux > 0, flux, np.nan))
    return mag


# --------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------

def tangent_plane_arcsec(ra, dec, ra0, dec0):
    """Gnomonic (tangent-plane) coordinates about (ra0, dec0).

    Parameters
    ----------
    ra, dec : array-like, deg
    ra0, dec0 : float, deg

    Returns
    -------
    xi, eta : `~numpy.ndarray`, arcsec
        East and north offsets.

    Examples
    --------
    >>> xi, eta = tangent_plane_arcsec([10.0], [1.0 / 3600], 10.0, 0.0)
    >>> round(float(eta[0]), 6)
    1.0
    """
    return sky_to_tangent(ra, dec, ra0, dec0, unit="arcsec")


def _centre_and_radius(ra, dec):
    """Mean-direction centre (deg) and largest angular distance from it (deg)."""
    v = unit_vectors(ra, dec)
    m = v.sum(axis=0)
    norm = np.linalg.norm(m)
    if norm < 1e-12:
        return 0.0, 0.0, 180.0
    m /= norm
    ra0 = math.degrees(math.atan2(m[1], m[0])) % 360.0
    dec0 = math.degrees(math.asin(max(-1.0, min(1.0, m[2]))))
    radius = math.degrees(math.acos(max(-1.0, min(1.0, float(np.min(v @ m))))))
    return ra0, dec0, radius


def _points_in_polygon(x, y, px, py):
    """Vectorised even-odd ray casting: which points (x, y) lie inside polygon (px, py)."""
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    inside = np.zeros(x.shape, bool)
    n = len(px)
    for i in range(n):
        x1, y1, x2, y2 = px[i], py[i], px[(i + 1) % n], py[(i + 1) % n]
        if y1 == y2:
            continue
        crosses = (y1 > y) != (y2 > y)
        xint = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (x < xint)
    return inside


# --------------------------------------------------------------------------------------
# MPT catalog
# --------------------------------------------------------------------------------------

def _find_col(table, *names):
    lower = {c.lower(): c for c in table.colnames}
    for n in names:
        if n.lower() in lower:
            return lower[n.lower()]
    return None


def _icrs_radec(table):
    """RA/Dec in ICRS degrees from a table (SkyCoord column, or ra/dec columns + meta frame)."""
    from astropy.coordinates import SkyCoord
    import astropy.units as u

    for name in table.colnames:
        col = table[name]
        if isinstance(col, SkyCoord):
            try:
                c = col.transform_to("icrs")
            except Exception as exc:  # noqa: BLE001 - astropy raises several types
                raise WorkbookError(f"cannot convert column {name!r} from frame {col.frame.name!r} to ICRS "
                                    f"({exc.__class__.__name__}); give ICRS RA/Dec in degrees") from None
            return np.asarray(c.ra.deg, float), np.asarray(c.dec.deg, float), col.frame.name
    ra_name, dec_name = _find_col(table, "ra", "raj2000"), _find_col(table, "dec", "dej2000", "decj2000")
    if ra_name is None or dec_name is None:
        raise WorkbookError("the catalog needs RA and Dec columns ('ra', 'dec' in degrees) or a SkyCoord column; "
                            f"found {', '.join(table.colnames)}")

    def _deg(col):
        unit = getattr(col, "unit", None)
        values = np.ma.filled(np.ma.asarray(col, dtype=float), np.nan) if col.dtype.kind in "fiu" else None
        if values is None:
            raise WorkbookError(f"column {col.info.name!r} is not numeric; give RA/Dec in decimal degrees")
        if unit is not None and unit != u.deg:
            try:
                values = (values * unit).to_value(u.deg)
            except u.UnitsError:
                raise WorkbookError(f"column {col.info.name!r} has unit {unit}, not an angle; give degrees") from None
        return values

    ra, dec = _deg(table[ra_name]), _deg(table[dec_name])
    frame = str(table.meta.get("frame", table.meta.get("radesys", "icrs")) or "icrs").strip().lower()
    if frame in ("icrs", ""):
        return ra, dec, "icrs"
    aliases = {"j2000": "fk5", "fk5": "fk5", "fk4": "fk4", "b1950": "fk4", "galactic": "galactic"}
    if frame not in aliases:
        raise WorkbookError(f"catalog frame {frame!r} is not supported for MPT; give ICRS (or FK5/J2000, FK4, galactic "
                            "to be converted) RA/Dec in degrees")
    bad = ~(np.isfinite(ra) & np.isfinite(dec))
    if bad.any():
        _raise_nan(table, bad)
    c = SkyCoord(ra * u.deg, dec * u.deg, frame=aliases[frame]).transform_to("icrs")
    return np.asarray(c.ra.deg, float), np.asarray(c.dec.deg, float), aliases[frame]


def _raise_nan(table, bad):
    id_name = _find_col(table, "id")
    rows = np.flatnonzero(bad)
    which = (f"IDs {', '.join(str(v) for v in np.asarray(table[id_name])[rows[:5]])}" if id_name
             else f"rows {', '.join(str(r) for r in rows[:5])}")
    raise WorkbookError(f"{bad.sum()} source(s) have NaN/missing RA or Dec ({which}{' ...' if bad.sum() > 5 else ''}); "
                        "drop them or fix their positions before exporting")


def validate_mpt_table(table, max_radius_deg=MPT_MAX_RADIUS_DEG):
    """Check a table against MPT's catalog rules and return IDs and ICRS positions.

    Parameters
    ----------
    table : `~astropy.table.Table`
        With an ``id``/``ID`` column (integers) and ``ra``/``dec`` in degrees (ICRS unless
        ``table.meta['frame']`` says ``'fk5'``/``'j2000'``, ``'fk4'``, ``'galactic'``, which are
        converted), or a `~astropy.coordinates.SkyCoord` column (converted to ICRS).
    max_radius_deg : float
        Largest allowed distance of a source from the catalog centre (MPT: < 1 degree).

    Returns
    -------
    ids : `~numpy.ndarray` of int64
    ra, dec : `~numpy.ndarray`, deg, ICRS
    frame : str
        The input frame (``'icrs'`` if nothing was converted).

    Raises
    ------
    WorkbookError
        Empty table, missing/non-integer/duplicate IDs, IDs outside 1-1,000,000, NaN or
        out-of-range positions, a catalog wider than ``max_radius_deg``, an unknown frame.
    """
    if table is None or len(table) == 0:
        raise WorkbookError("the catalog is empty; nothing to export for MPT")
    id_name = _find_col(table, "id")
    if id_name is None:
        raise WorkbookError("the catalog has no 'ID' column; MPT needs a unique integer ID (1-1,000,000) per source")
    idcol = table[id_name]
    if np.ma.is_masked(idcol) and np.ma.getmaskarray(idcol).any():
        raise WorkbookError(f"{int(np.ma.getmaskarray(idcol).sum())} source(s) have no ID; give every source an integer ID")
    raw = np.asarray(idcol)
    if raw.dtype.kind == "f":
        if not np.all(np.isfinite(raw)) or np.any(raw != np.round(raw)):
            raise WorkbookError("IDs must be whole numbers; found non-integer or NaN IDs")
    elif raw.dtype.kind not in "iu":
        raise WorkbookError(f"IDs must be integers, the ID column has type {raw.dtype}; convert it")
    ids = raw.astype(np.int64)
    bad = (ids < 1) | (ids > MPT_MAX_ID)
    if bad.any():
        vals = ", ".join(str(v) for v in ids[bad][:5])
        raise WorkbookError(f"{bad.sum()} ID(s) outside MPT's range 1-{MPT_MAX_ID:,} (e.g. {vals}); "
                            "renumber, or lower id_offset")
    uniq, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        dup = uniq[counts > 1]
        raise WorkbookError(f"{dup.size} duplicate ID(s) (e.g. {', '.join(str(v) for v in dup[:5])}); "
                            "MPT needs a unique ID per source")
    ra, dec, frame = _icrs_radec(table)
    bad = ~(np.isfinite(ra) & np.isfinite(dec))
    if bad.any():
        _raise_nan(table, bad)
    if np.any((dec < -90) | (dec > 90)):
        raise WorkbookError("Dec values outside [-90, 90] deg; check the column units and order")
    ra = np.mod(ra, 360.0)
    ra0, dec0, radius = _centre_and_radius(ra, dec)
    if radius >= max_radius_deg:
        raise WorkbookError(f"the catalog extends {radius:.2f} deg from its centre (RA {ra0:.4f}, Dec {dec0:.4f}); "
                            f"MPT needs less than {max_radius_deg:g} deg: cut it to the field before exporting")
    return ids, ra, dec, frame


def _format_column(values, kind, fmt=None, fill=OTHER_FILL):
    """Return a list of strings for one column (vectorised via str.__mod__ over a list)."""
    if kind == "s":
        out = []
        for v in values:  # strings: rare, short columns
            s = str(v).strip().replace(" ", "_") or "-"
            out.append(s)
        return out
    arr = np.ma.filled(np.ma.asarray(values), fill if kind == "f" else -1)
    if kind == "i":
        return list(map((fmt or "%d").__mod__, np.asarray(arr, dtype=np.int64).tolist()))
    arr = np.asarray(arr, dtype=float)
    arr = np.where(np.isfinite(arr), arr, fill)
    return list(map((fmt or "%.4f").__mod__, arr.tolist()))


_MPT_FORMATS = {"Magnitude": ("%.3f", MAG_FILL), "Stellarity": ("%.2f", OTHER_FILL),
                "Sigma_mas": ("%.2f", OTHER_FILL), "Weight": ("%g", OTHER_FILL)}


def write_mpt_catalog(table, path, overwrite=False, columns=None, max_radius_deg=MPT_MAX_RADIUS_DEG):
    """Write an MSA Planning Tool (MPT) catalog: ``# ID RA DEC ...`` then one line per source.

    The table is validated first (:func:`validate_mpt_table`); the file is written atomically
    (complete or absent, never a partial file). RA/Dec are ICRS degrees with 9 decimals.
    Optional columns are written after RA/Dec in table order (or ``columns`` order): integers
    as integers, booleans as 1/0, floats with their ``info.format`` (or ``%.4f``), strings with
    spaces replaced by ``_``. Missing values are written as 99 for magnitude-like columns
    (``Magnitude``, ``mag*``, ``F*W``) and -1 otherwise.

    Parameters
    ----------
    table : `~astropy.table.Table`
        See :func:`validate_mpt_table`; typically made by :func:`build_mpt_table`.
    path : str or `~pathlib.Path`
        Destination (``.cat`` or ``.txt``).
    overwrite : bool
        Replace an existing file.
    columns : list of str, optional
        Optional columns to write after ID/RA/DEC (default: all other columns).
    max_radius_deg : float
        MPT's extent limit.

    Returns
    -------
    path : `~pathlib.Path`

    Raises
    ------
    WorkbookError
        Invalid catalog, existing file without ``overwrite=True``, unwritable directory.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from astropy.table import Table
    >>> t = Table({"ID": [1, 2], "RA": [53.16, 53.17], "DEC": [-27.79, -27.78]})
    >>> p = write_mpt_catalog(t, pathlib.Path(tempfile.mkdtemp()) / "mpt.cat")
    >>> p.read_text().splitlines()[:2]
    ['# ID RA DEC', '1 53.160000000 -27.790000000']
    """
    path = refuse_existing(path, overwrite)
    ids, ra, dec, _ = validate_mpt_table(table, max_radius_deg=max_radius_deg)
    core = {_find_col(table, "id"), _find_col(table, "ra", "raj2000"), _find_col(table, "dec", "dej2000", "decj2000")}
    if columns is None:
        columns = [c for c in table.colnames if c not in core and not _is_skycoord(table[c])]
    else:
        missing = [c for c in columns if c not in table.colnames]
        if missing:
            raise WorkbookError(f"column(s) {', '.join(missing)} not in the catalog; available: {', '.join(table.colnames)}")
    labels = ["ID", "RA", "DEC"]
    cols = [list(map("%d".__mod__, ids.tolist())),
            list(map(f"%.{COORD_DECIMALS}f".__mod__, ra.tolist())),
            list(map(f"%.{COORD_DECIMALS}f".__mod__, dec.tolist()))]
    for name in columns:
        col = table[name]
        if getattr(col, "ndim", 1) != 1:
            continue
        label = str(name).strip().replace(" ", "_")
        kind = col.dtype.kind
        fmt, fill = _MPT_FORMATS.get(label, (None, OTHER_FILL))
        if label.lower().startswith("mag") or (label.upper().startswith("F") and label[1:4].isdigit()):
            fill = MAG_FILL
            fmt = fmt or "%.3f"
        if kind == "b":
            cols.append(_format_column(np.asarray(col).astype(int), "i"))
        elif kind in "iu":
            cols.append(_format_column(col, "i"))
        elif kind == "f":
            info_fmt = getattr(col.info, "format", None)
            if fmt is None and isinstance(info_fmt, str) and info_fmt.startswith("%"):
                fmt = info_fmt
            cols.append(_format_column(col, "f", fmt, fill))
        else:
            cols.append(_format_column(col, "s"))
        labels.append(label)
    text = "# " + " ".join(labels) + "\n" + "\n".join(map(" ".join, zip(*cols))) + "\n"
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(text)
    return path


def _is_skycoord(col):
    from astropy.coordinates import SkyCoord

    return isinstance(col, SkyCoord)


def read_mpt_catalog(path):
    """Read an MPT catalog written by :func:`write_mpt_catalog` (or any ``# ID RA DEC ...`` file).

    Parameters
    ----------
    path : str or `~pathlib.Path`

    Returns
    -------
    table : `~astropy.table.Table`
        Columns as labelled in the header; ``ID`` int64, ``RA``/``DEC`` float64 degrees.

    Raises
    ------
    WorkbookError
        Missing file, no ``#`` header line, no ID/RA/DEC columns, unparsable rows.
    """
    from astropy.table import Table
    import astropy.units as u

    path = Path(path).expanduser()
    if not path.exists():
        raise WorkbookError(f"MPT catalog {path} not found; check the path")
    with open(path) as fh:
        first = fh.readline()
        if not first.startswith("#"):
            raise WorkbookError(f"{path} has no '#' header line with column labels; MPT catalogs written here start with '# ID RA DEC'")
        labels = first.lstrip("#").split()
        rows = [line.split() for line in fh if line.strip() and not line.lstrip().startswith("#")]
    upper = [lab.upper() for lab in labels]
    if upper[:3] != ["ID", "RA", "DEC"]:
        raise WorkbookError(f"{path}: the first three columns are {labels[:3]}, expected ID RA DEC")
    if any(len(r) != len(labels) for r in rows):
        bad = next(i for i, r in enumerate(rows) if len(r) != len(labels))
        raise WorkbookError(f"{path}: data line {bad + 2} has a different number of fields than the header; the file is corrupt")
    cols = list(zip(*rows)) if rows else [()] * len(labels)
    out = Table()
    try:
        for i, (lab, col) in enumerate(zip(labels, cols)):
            arr = np.array(col, dtype=str)
            if i == 0:
                out[lab] = arr.astype(np.int64)
            elif i < 3:
                out[lab] = arr.astype(np.float64) * u.deg
            else:
                try:
                    out[lab] = arr.astype(np.int64)
                except ValueError:
                    try:
                        out[lab] = arr.astype(np.float64)
                    except ValueError:
                        out[lab] = arr
    except ValueError as exc:
        raise WorkbookError(f"{path}: could not parse the ID/RA/DEC columns ({exc}); the file is corrupt") from None
    return out


def build_mpt_table(sources, mag_ta=None, mag_preimage=None, candidates=None, id_offset=0,
                    preimage_filter=None, weight=None, ta_filter="F110W"):
    """Assemble the MPT catalog table from a source catalog (schema in docs/DEVELOPING.md).

    Parameters
    ----------
    sources : `~astropy.table.Table`
        Source catalog (``id, ra, dec, ra_err, dec_err, kind, flags`` ...).
    mag_ta : array-like, optional
        Estimated AB magnitude in the TA filter -> column ``Magnitude``.
    mag_preimage : array-like, optional
        AB magnitude in the pre-image filter -> column ``Mag_<filter>``.
    candidates : `~astropy.table.Table`, optional
        Output of :func:`msata_candidates`; its selected stars get ``Reference = 1``.
    id_offset : int
        Added to the source IDs (keep IDs unique across catalogs/programs; total <= 1,000,000).
    preimage_filter : str, optional
        Name used in the ``Mag_<filter>`` label (default from ``sources.meta['filter']``).
    weight : array-like, optional
        MPT ``Weight`` (priority; larger = more important).
    ta_filter : {'F110W', 'F140X', 'CLEAR'}
        TA filter of ``mag_ta``: the same values are also written as ``NRS_<ta_filter>``, the
        column header from which APT builds its MSATA "Reference Star Bin" menu (JDox
        "Predicting MSATA Reference Star Magnitudes").

    Returns
    -------
    table : `~astropy.table.Table`
        Columns ``ID RA DEC [Magnitude] Stellarity Reference [Weight] Sigma_mas Flags [Mag_<f>]
        [NRS_<ta_filter>]``.
    """
    from astropy.table import Table
    import astropy.units as u

    n = len(sources)
    out = Table(meta={"frame": sources.meta.get("frame", "icrs")})
    id_name = _find_col(sources, "id")
    if id_name is None:
        raise WorkbookError("the source catalog has no 'id' column; re-run notebook 02")
    out["ID"] = np.asarray(sources[id_name]).astype(np.int64) + int(id_offset)
    out["RA"] = np.asarray(sources[_find_col(sources, "ra")], float) * u.deg
    out["DEC"] = np.asarray(sources[_find_col(sources, "dec")], float) * u.deg
    if mag_ta is not None:
        out["Magnitude"] = np.asarray(mag_ta, float)
        out["Magnitude"].description = "AB magnitude in the TA filter, estimated from the pre-image (colour term unknown)"
    kind = np.asarray(sources["kind"]).astype(str) if "kind" in sources.colnames else np.full(n, "")
    out["Stellarity"] = np.where(kind == "point", 1.0, np.where(kind == "extended", 0.0, -1.0))
    ref = np.zeros(n, np.int64)
    if candidates is not None and len(candidates):
        chosen = np.asarray(candidates["id"])[np.asarray(candidates["selected"], bool)]
        ref[np.isin(np.asarray(sources[id_name]), chosen)] = 1
    out["Reference"] = ref
    if weight is not None:
        out["Weight"] = np.asarray(weight, float)
    if "ra_err" in sources.colnames and "dec_err" in sources.colnames:
        e1 = np.ma.filled(np.ma.asarray(sources["ra_err"], dtype=float), np.nan)
        e2 = np.ma.filled(np.ma.asarray(sources["dec_err"], dtype=float), np.nan)
        out["Sigma_mas"] = np.sqrt((e1 ** 2 + e2 ** 2) / 2.0)
        out["Sigma_mas"].description = "1-sigma per axis (rms of RA*cos(Dec) and Dec errors), mas"
    out["Flags"] = np.asarray(sources["flags"], np.int64) if "flags" in sources.colnames else np.zeros(n, np.int64)
    if mag_preimage is not None:
        f = str(preimage_filter or sources.meta.get("filter", "preimage")).upper().replace(" ", "_")
        out[f"Mag_{f}"] = np.asarray(mag_preimage, float)
    if mag_ta is not None:
        ta = str(ta_filter).strip().upper()
        if ta not in ("F110W", "F140X", "CLEAR"):
            raise WorkbookError(f"TA filter {ta_filter!r} is not one of NIRSpec's MSATA filters; use F110W, F140X or CLEAR")
        out[f"NRS_{ta}"] = np.asarray(mag_ta, float)
        out[f"NRS_{ta}"].description = f"estimated {ta} magnitude for APT's MSATA reference-star bins"
    return out


def catalog_magnitudes(sources, header=None, zeropoint=None, colour_offset=0.0):
    """AB magnitudes of a source catalog in its own filter and *estimated* in the TA filter.

    ``mag_pre = ZP - 2.5 log10(flux)`` with the zeropoint from :func:`ab_zeropoint` (header,
    else the approximate table for ``sources.meta['instrument'/'filter']``), and
    ``mag_ta = mag_pre + colour_offset``. The colour term between the pre-image filter and
    the TA filter is **unknown** here (0 by default): the TA magnitudes are estimates, good to
    the colour of each star (a few tenths of a magnitude for typical stars between F814W and
    F110W, more for red stars). Pass a better ``colour_offset`` if you know the stars' colours.

    Returns
    -------
    mag_pre, mag_ta : `~numpy.ndarray`
    zp : float
    how : str
        Provenance of the zeropoint.
    """
    if "flux" not in sources.colnames:
        raise WorkbookError("the source catalog has no 'flux' column; re-run notebook 02 to measure fluxes")
    zp, how = ab_zeropoint(header, sources.meta.get("instrument"), sources.meta.get("filter"), zeropoint)
    mag_pre = flux_to_abmag(sources["flux"], zp)
    return mag_pre, mag_pre + float(colour_offset), zp, how


def full_catalog(sources, mpt, candidates=None, located=None, mag_pre=None, mag_ta=None):
    """The full export catalog (ECSV): every source column, sigma and flags, plus the MPT ID,
    magnitudes, the MSATA verdict per source and, if given, the shutter each source falls in."""
    from astropy.table import Table
    import astropy.units as u

    out = Table(sources, copy=True)
    out.meta = dict(sources.meta)
    out["mpt_id"] = np.asarray(mpt["ID"])
    if mag_ta is not None and "mag_ta" in out.colnames:
        out.remove_column("mag_ta")  # kept as mag_ta_est_ab with its unit and description
    if mag_pre is not None:
        out["mag_pre_ab"] = np.asarray(mag_pre, float) * u.ABmag
        out["mag_pre_ab"].description = f"AB magnitude in the pre-image filter {sources.meta.get('filter')}"
    if mag_ta is not None:
        out["mag_ta_est_ab"] = np.asarray(mag_ta, float) * u.ABmag
        out["mag_ta_est_ab"].description = "estimated AB magnitude in the TA filter (colour term unknown)"
    out["msata_reference"] = np.asarray(mpt["Reference"]).astype(bool)
    if candidates is not None and len(candidates):
        order = {int(i): k for k, i in enumerate(np.asarray(candidates["id"]))}
        idx = np.array([order.get(int(i), -1) for i in np.asarray(out["id"])])
        ok = idx >= 0
        rank = np.zeros(len(out), np.int64)
        reason = np.full(len(out), "", dtype=object)
        rank[ok] = np.asarray(candidates["rank"])[idx[ok]]
        reason[ok] = np.asarray(candidates["reason"])[idx[ok]]
        out["msata_rank"] = rank
        out["msata_reason"] = reason.astype(str)
    if located is not None:
        for name in ("quadrant", "i", "j", "in_open", "state"):
            if name in located.colnames:
                out[f"msa_{name}"] = np.asarray(located[name])
    return out


# --------------------------------------------------------------------------------------
# MSATA reference stars
# --------------------------------------------------------------------------------------

def msata_candidates(catalog, ta_filter="F110W", readout="NRSRAPID", mag_column="mag_ta",
                     sigma_goal_mas=10.0, isolation_radius_arcsec=1.0, isolation_dmag=3.0,
                     windows=None, outlines=None, n_max=8, n_min=5, on_too_few="raise"):
    """Rank MSATA reference-star candidates and recommend 5-8 spread over the field.

    A usable reference star is (JDox "NIRSpec MSATA Reference Star Selection Recommended
    Strategies"): point-like (``kind == 'point'``); unsaturated and clean in the pre-image
    (no flag 1 saturated, 2 edge, 4 blended, 8 masked); isolated (no catalog neighbour within
    ``isolation_radius_arcsec`` that is brighter than the star + ``isolation_dmag``, or of
    unknown brightness: a KD-tree on tangent-plane coordinates); with a per-axis astrometric
    sigma within ``sigma_goal_mas``; with a TA-filter magnitude inside the filter/readout
    window (:func:`ta_magnitude_window`); and, when MSA ``outlines`` are given, inside the MSA
    at the chosen pointing. Usable stars are scored (sigma, distance from the window edges,
    isolation) and picked greedily: first the best, then each next one in a quadrant not yet
    covered if possible, maximising the smallest distance to those already picked.

    Parameters
    ----------
    catalog : `~astropy.table.Table`
        Source catalog (``id, ra, dec, ra_err, dec_err, kind, flags``) plus ``mag_column``.
    ta_filter, readout : str
        TA filter (F110W, F140X, CLEAR) and readout pattern (NRSRAPID, NRSRAPIDD6).
    mag_column : str
        AB magnitudes in the TA filter (estimated from the pre-image).
    sigma_goal_mas : float
        Largest acceptable 1-sigma per-axis position error, mas.
    isolation_radius_arcsec, isolation_dmag : float
        Neighbour exclusion radius (arcsec) and magnitude difference.
    windows : optional
        Brightness-window table (see :func:`load_brightness_windows`).
    outlines : dict or list of (N, 2) arrays of (ra, dec) deg, optional
        MSA quadrant outlines at the chosen pointing (a dict as from
        :func:`msa_outline_polygons`: only its ``Q*`` entries are used); stars outside all of
        them are rejected.
    n_max, n_min : int
        Recommend at most ``n_max`` stars; fewer than ``n_min`` usable stars is an error.
    on_too_few : {'raise', 'warn'}
        What to do with fewer than ``n_min`` usable candidates.

    Returns
    -------
    candidates : `~astropy.table.Table`
        One row per source: ``id, ra, dec, mag_ta, sigma_mas, nearest_arcsec, quadrant,
        usable, selected, rank, score, reason``; selected first (by rank), then usable, then
        rejected. ``reason`` says why each was rejected or chosen. ``meta`` holds the window,
        its source and the rejection counts.

    Raises
    ------
    WorkbookError
        Missing columns; fewer than ``n_min`` usable candidates (``on_too_few='raise'``): the
        one-line message gives the counts per rejection reason and the table is attached to
        the exception as ``.candidates``.
    """
    from astropy.table import Table
    from scipy.spatial import cKDTree

    need = [c for c in ("id", "ra", "dec") if _find_col(catalog, c) is None]
    if need or mag_column not in catalog.colnames:
        raise WorkbookError(f"catalog lacks column(s) {', '.join(need + ([mag_column] if mag_column not in catalog.colnames else []))}; "
                            "add TA-filter magnitudes (see flux_to_abmag) before selecting MSATA stars")
    bright, faint, source = ta_magnitude_window(ta_filter, readout, windows)
    n = len(catalog)
    ids = np.asarray(catalog[_find_col(catalog, "id")])
    ra = np.asarray(catalog[_find_col(catalog, "ra")], float)
    dec = np.asarray(catalog[_find_col(catalog, "dec")], float)
    mag = np.ma.filled(np.ma.asarray(catalog[mag_column], dtype=float), np.nan)
    kind = np.asarray(catalog["kind"]).astype(str) if "kind" in catalog.colnames else np.full(n, "unknown")
    flags = np.asarray(catalog["flags"], np.int64) if "flags" in catalog.colnames else np.zeros(n, np.int64)
    if "ra_err" in catalog.colnames and "dec_err" in catalog.colnames:
        e1 = np.ma.filled(np.ma.asarray(catalog["ra_err"], dtype=float), np.nan)
        e2 = np.ma.filled(np.ma.asarray(catalog["dec_err"], dtype=float), np.nan)
        sigma = np.maximum(e1, e2)
    else:
        sigma = np.full(n, np.nan)
    ok_pos = np.isfinite(ra) & np.isfinite(dec)
    ra0, dec0, _ = _centre_and_radius(ra[ok_pos], dec[ok_pos]) if ok_pos.any() else (0.0, 0.0, 0.0)
    x, y = tangent_plane_arcsec(np.where(ok_pos, ra, ra0), np.where(ok_pos, dec, dec0), ra0, dec0)

    reasons = [[] for _ in range(n)]

    def reject(mask, text):
        for i in np.flatnonzero(mask):
            reasons[i].append(text if isinstance(text, str) else text(i))

    counts = {}

    def tally(mask, key):
        counts[key] = int(mask.sum())

    m = ~ok_pos
    reject(m, "no position"); tally(m, "no position")
    m = ok_pos & (kind != "point")
    reject(m, lambda i: f"not point-like ({kind[i] or 'unknown'})"); tally(m, "not point-like")
    point = ok_pos & (kind == "point")
    for bit, text in _REJECT_FLAGS.items():
        m = point & ((flags & bit) != 0)
        reject(m, text); tally(m, text)
    m = point & ~(sigma <= sigma_goal_mas)
    reject(m, lambda i: (f"sigma {sigma[i]:.1f} mas > {sigma_goal_mas:g}" if np.isfinite(sigma[i]) else "no position error"))
    tally(m, f"sigma > {sigma_goal_mas:g} mas")
    m = point & ~np.isfinite(mag)
    reject(m, "no magnitude"); tally(m, "no magnitude")
    m = point & (mag < bright)
    reject(m, lambda i: f"{ta_filter} {mag[i]:.2f} brighter than {bright:g}"); tally(m, "too bright for the window")
    m = point & (mag > faint)
    reject(m, lambda i: f"{ta_filter} {mag[i]:.2f} fainter than {faint:g}"); tally(m, "too faint for the window")

    # isolation: every catalog source is a potential contaminant
    nearest = np.full(n, np.inf)
    idx_point = np.flatnonzero(point)
    if idx_point.size:
        tree = cKDTree(np.column_stack([x[ok_pos], y[ok_pos]]))
        all_idx = np.flatnonzero(ok_pos)
        pairs = tree.query_ball_point(np.column_stack([x[idx_point], y[idx_point]]), r=isolation_radius_arcsec)
        lens = np.fromiter((len(p) for p in pairs), dtype=np.int64, count=len(pairs))
        if lens.sum():
            owner = np.repeat(idx_point, lens)
            other = all_idx[np.concatenate([np.asarray(p, dtype=np.int64) for p in pairs])]
            keep = other != owner
            owner, other = owner[keep], other[keep]
            d = np.hypot(x[owner] - x[other], y[owner] - y[other])
            bad = ~np.isfinite(mag[other]) | (mag[other] < mag[owner] + isolation_dmag) | ~np.isfinite(mag[owner])
            np.minimum.at(nearest, owner[bad], d[bad])
        # nearest neighbour of any brightness, for the reasoning text
        dd, _ = tree.query(np.column_stack([x[idx_point], y[idx_point]]), k=min(2, int(ok_pos.sum())))
        nn_any = np.full(n, np.inf)
        if dd.ndim == 2 and dd.shape[1] == 2:
            nn_any[idx_point] = dd[:, 1]
    else:
        nn_any = np.full(n, np.inf)
    m = point & np.isfinite(nearest)
    reject(m, lambda i: f"neighbour {nearest[i]:.2f}\" within {isolation_radius_arcsec:g}\" (dm < {isolation_dmag:g})")
    tally(m, "not isolated")

    quadrant = np.full(n, "", dtype=object)
    outlines = quadrant_outlines(outlines)
    if outlines:
        inside_any = np.zeros(n, bool)
        for label, poly in outlines.items():
            poly = np.asarray(poly, float)
            px, py = tangent_plane_arcsec(poly[:, 0], poly[:, 1], ra0, dec0)
            inside = _points_in_polygon(x, y, px, py) & ok_pos
            quadrant[inside & (quadrant == "")] = str(label)
            inside_any |= inside
        m = point & ~inside_any
        reject(m, "outside the MSA at the chosen pointing"); tally(m, "outside the MSA")
    else:
        # quadrants of the field about the catalog centre, for spreading only
        quadrant[:] = np.where(x >= 0, np.where(y >= 0, "NE", "SE"), np.where(y >= 0, "NW", "SW"))

    usable = np.array([not r for r in reasons]) & point
    # score in [0, 1]: small sigma, comfortably inside the window, well isolated
    half = (faint - bright) / 2.0
    with np.errstate(invalid="ignore"):
        s_sig = np.clip(1.0 - sigma / sigma_goal_mas, 0, 1)
        s_mag = np.clip(np.minimum(mag - bright, faint - mag) / half, 0, 1)
        s_iso = np.clip(np.where(np.isfinite(nn_any), nn_any, 10 * isolation_radius_arcsec)
                        / (5 * isolation_radius_arcsec), 0, 1)
    score = np.where(usable, 0.4 * s_sig + 0.4 * s_mag + 0.2 * s_iso, 0.0)

    rank = np.zeros(n, np.int64)
    pool = np.flatnonzero(usable)
    pool = pool[np.argsort(-score[pool], kind="stable")][: max(6 * n_max, 40)]
    chosen = []
    if pool.size:
        field_scale = max(float(np.ptp(x[pool]) + np.ptp(y[pool])), 1.0)
        chosen.append(pool[0])
        while len(chosen) < min(n_max, pool.size):
            rest = np.array([i for i in pool if i not in chosen])
            dmin = np.min(np.hypot(x[rest, None] - x[chosen][None, :], y[rest, None] - y[chosen][None, :]), axis=1)
            covered = {quadrant[i] for i in chosen}
            new_q = np.array([quadrant[i] not in covered for i in rest])
            obj = (dmin / field_scale) * (0.5 + 0.5 * score[rest]) + new_q.astype(float)
            chosen.append(rest[int(np.argmax(obj))])
        rank[chosen] = np.arange(1, len(chosen) + 1)
    selected = rank > 0

    text = []
    for i in range(n):
        if selected[i]:
            nn = f"nearest source {nn_any[i]:.2f}\"" if np.isfinite(nn_any[i]) else "no neighbour"
            text.append(f"recommended #{rank[i]}: point-like, clean, {ta_filter} {mag[i]:.2f} in "
                        f"[{bright:g}, {faint:g}], sigma {sigma[i]:.1f} mas, {nn}, {quadrant[i]}")
        elif usable[i]:
            text.append(f"usable (score {score[i]:.2f}) but not needed for spread/number")
        else:
            text.append("; ".join(reasons[i]))
    out = Table({"id": ids, "ra": ra, "dec": dec, "mag_ta": mag, "sigma_mas": sigma,
                 "nearest_arcsec": np.where(np.isfinite(nn_any), nn_any, np.nan),
                 "quadrant": np.asarray(quadrant, dtype=str), "usable": usable, "selected": selected,
                 "rank": rank, "score": np.round(score, 3), "reason": np.asarray(text, dtype=str)})
    order = np.lexsort((-score, ~usable, np.where(selected, rank, n_max + 1)))
    out = out[order]
    out.meta.update({"ta_filter": ta_filter, "readout": readout, "window_ab": [bright, faint],
                     "window_source": source, "sigma_goal_mas": sigma_goal_mas,
                     "isolation_radius_arcsec": isolation_radius_arcsec, "isolation_dmag": isolation_dmag,
                     "n_usable": int(usable.sum()), "n_selected": int(selected.sum()),
                     "rejections": {k: v for k, v in counts.items() if v},
                     "msa_outlines_used": bool(outlines)})
    if usable.sum() < n_min:
        rej = ", ".join(f"{v} {k}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]) if v) or "none rejected"
        msg = (f"only {int(usable.sum())} usable MSATA reference star(s) (need >= {n_min}) for {ta_filter}/{readout} "
               f"window {bright:g}-{faint:g} AB; rejected: {rej}; try another TA filter/readout, relax "
               "isolation_radius_arcsec/sigma_goal_mas, or add stars from a catalog in the same frame")
        if on_too_few == "raise":
            err = WorkbookError(msg)
            err.candidates = out
            raise err
        out.meta["warning"] = msg
    return out


# --------------------------------------------------------------------------------------
# Regions
# --------------------------------------------------------------------------------------

def _ds9_radius_string(radius_arcsec, precision=8):
    import astropy.units as u

    # exactly what regions' serializer does for a Quantity radius
    return (float(radius_arcsec) * u.arcsec).to(u.deg).to_string(precision=precision)[:-4]


def write_ds9_circles(ra, dec, path, radius_arcsec=0.3, color="green", text=None, overwrite=False,
                      width=None):
    """Write circles on the sky as a DS9 region file, fast (10^5 circles in ~0.1 s).

    The bytes are those `regions.Regions.serialize(format='ds9')` writes for the same
    `~regions.CircleSkyRegion` objects (``visual={'color': color}``, ``meta={'text': text}``),
    so DS9, CARTA and `regions.Regions.read` read it; only the per-object Python work is
    skipped. Positions: ICRS degrees, 8 decimals (0.04 mas), as regions writes them. (With
    ``width`` the order of the two global keys follows regions' set ordering, which can vary.)

    Parameters
    ----------
    ra, dec : array-like, deg (ICRS)
    path : str or `~pathlib.Path`
    radius_arcsec : float
    color : str
    text : array-like, optional
        One label per circle (e.g. the MPT IDs).
    overwrite : bool
    width : int, optional
        Line width.

    Returns
    -------
    path : `~pathlib.Path`
    """
    from astropy.coordinates import Longitude
    import astropy.units as u

    path = refuse_existing(path, overwrite)
    ra = np.asarray(ra, float)
    dec = np.asarray(dec, float)
    if not (np.all(np.isfinite(ra)) and np.all(np.isfinite(dec))):
        raise WorkbookError("NaN positions in the region list; drop them before writing regions")
    ra = Longitude(ra * u.deg).deg  # wrap as SkyCoord would
    rad = _ds9_radius_string(radius_arcsec)
    n = ra.size
    visual = {"color": color}
    if width is not None:
        visual["width"] = width
    labels = None if text is None else [str(t) for t in text]
    if n == 1 or (labels is not None and len(set(labels)) == 1):
        # tiny/odd cases: let regions decide which keys become global
        regs = _circle_regions(ra, dec, radius_arcsec, color, labels, width)
        return write_regions(regs, path, overwrite=overwrite)
    header = "# Region file format: DS9 astropy/regions\n"
    if n == 0:
        body = ""
    else:
        glob = " ".join(f"{k}={v}" for k, v in visual.items())
        header += f"global {glob}\nicrs\n"
        fmt = "circle(%.8f,%.8f," + rad + ")"
        if labels is not None:
            body = "\n".join(map((fmt + " # text={%s}").__mod__, zip(ra.tolist(), dec.tolist(), labels))) + "\n"
        else:
            body = "\n".join(map(fmt.__mod__, zip(ra.tolist(), dec.tolist()))) + "\n"
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(header + body if n else "")
    return path


def _circle_regions(ra, dec, radius_arcsec, color, labels=None, width=None):
    from astropy.coordinates import SkyCoord
    import astropy.units as u
    from regions import CircleSkyRegion

    visual = {"color": color}
    if width is not None:
        visual["width"] = width
    out = []
    for i, (a, d) in enumerate(zip(np.atleast_1d(ra), np.atleast_1d(dec))):
        meta = {"text": labels[i]} if labels is not None else {}
        out.append(CircleSkyRegion(SkyCoord(a * u.deg, d * u.deg, frame="icrs"), radius_arcsec * u.arcsec,
                                   meta=meta, visual=dict(visual)))
    return out


def write_regions(regions_list, path, overwrite=False, format="ds9"):
    """Write `regions` objects with the regions package's own serializer, atomically.

    Parameters
    ----------
    regions_list : list of `~regions.Region` or `~regions.Regions`
    path : str or `~pathlib.Path`
    overwrite : bool
    format : {'ds9', 'crtf'}
        DS9 (also read by CARTA) or CASA CRTF.

    Returns
    -------
    path : `~pathlib.Path`
    """
    from regions import Regions

    path = refuse_existing(path, overwrite)
    text = Regions(list(regions_list)).serialize(format=format)
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(text)
    return path


def msa_outline_polygons(ra, dec, apa, filter_name="CLEAR"):
    """MSA outlines on the sky at a pointing, from `helpers.msa` (imported lazily).

    Parameters
    ----------
    ra, dec : float
        Pointing (``NRS_FULL_MSA`` reference point), ICRS deg.
    apa : float
        Aperture position angle, deg.
    filter_name : str, optional
        Filter of the MSA model (falls back to CLEAR if `helpers.msa` does not know it).

    Returns
    -------
    outlines : dict or None
        ``name -> (N, 2)`` array of (ra, dec) deg: quadrants ``Q1..Q4`` (and the fixed slits
        and IFU when the model provides them). ``None`` when `helpers.msa` is unavailable.
    note : str
        What was used, or why nothing was.
    """
    try:
        from .. import msa
    except Exception as exc:  # noqa: BLE001 - absent or broken upstream module
        return None, f"helpers.msa not available ({exc.__class__.__name__}); MSA outline skipped"
    pointing_cls = getattr(msa, "MSAPointing", None)
    if pointing_cls is None:
        return None, "helpers.msa has no MSAPointing; MSA outline skipped"
    used = str(filter_name or "CLEAR").upper()
    if used not in getattr(msa, "FILTERS", (used,)):
        used = "CLEAR"
    try:
        pointing = pointing_cls(ra, dec, apa, filter=used)
        value = None
        for name in ("outlines_sky", "quadrant_outlines", "outlines"):
            attr = getattr(pointing, name, None)
            if attr is not None:
                value = attr() if callable(attr) else attr
                break
    except WorkbookError:
        raise
    except Exception as exc:  # noqa: BLE001
        return None, f"helpers.msa outline failed ({exc.__class__.__name__}: {exc}); MSA outline skipped"
    if isinstance(value, dict):
        polys = {}
        for key, item in value.items():
            arr = _as_polygons([item])
            if arr:
                polys[str(key)] = arr[0]
    else:
        arr = _as_polygons(value)
        polys = {f"Q{k}": a for k, a in enumerate(arr or [], start=1)}
    if not polys:
        return None, "helpers.msa.MSAPointing offers no outline; MSA outline skipped"
    return polys, (f"helpers.msa.MSAPointing({ra:.6f}, {dec:.6f}, APA {apa:.2f}, filter {used}).outlines_sky()")


def quadrant_outlines(outlines):
    """The quadrant polygons (names starting with ``Q``) of an outline dict, as a dict."""
    if not outlines:
        return None
    if not isinstance(outlines, dict):
        return {f"Q{k}": np.asarray(p, float) for k, p in enumerate(outlines, start=1)}
    return {k: v for k, v in outlines.items() if str(k).upper().startswith("Q")} or None


def msa_counts(pointing, ra, dec):
    """Count sources in the MSA at a pointing with `helpers.msa` (lazily imported).

    Parameters
    ----------
    pointing : dict
        ``{"ra", "dec", "apa", "filter"}`` (notebook 04's ``cfg.pointing``).
    ra, dec : array-like, deg

    Returns
    -------
    counts : dict or None
        ``in MSA quadrants``, ``in open shutter area``, ``in operable open shutters``;
        ``None`` if `helpers.msa` is unavailable.
    located : `~astropy.table.Table` or None
        Per-source ``quadrant, i, j, in_open, state`` from ``MSAPointing.locate``.
    note : str
    """
    try:
        from .. import msa

        used = str(pointing.get("filter") or "CLEAR").upper()
        if used not in getattr(msa, "FILTERS", (used,)):
            used = "CLEAR"
        p = msa.MSAPointing(pointing["ra"], pointing["dec"], pointing["apa"], filter=used)
        t = p.locate(np.asarray(ra, float), np.asarray(dec, float))
    except WorkbookError:
        raise
    except Exception as exc:  # noqa: BLE001 - absent or incomplete upstream module
        return None, None, f"MSA counts skipped: helpers.msa unavailable ({exc.__class__.__name__}: {exc})"
    q = np.asarray(t["quadrant"])
    in_open = np.asarray(t["in_open"], bool) if "in_open" in t.colnames else q > 0
    state = np.asarray(t["state"]) if "state" in t.colnames else np.zeros(q.size, int)
    counts = {"in MSA quadrants": int((q > 0).sum()), "in open shutter area": int(in_open.sum()),
              "in operable open shutters": int((in_open & (state == 0)).sum())}
    return counts, t, f"helpers.msa.MSAPointing(..., filter {used}).locate"


def _as_polygons(value):
    """Normalise outlines given as dict/list of (ra, dec) arrays, SkyCoord or (2, N) arrays."""
    if value is None:
        return None
    if isinstance(value, dict):
        value = list(value.values())
    polys = []
    for item in value:
        if hasattr(item, "ra") and hasattr(item, "dec"):
            arr = np.column_stack([np.asarray(item.ra.deg), np.asarray(item.dec.deg)])
        elif isinstance(item, (tuple, list)) and len(item) == 2 and np.ndim(item[0]) == 1 and len(item[0]) > 2:
            arr = np.column_stack([np.asarray(item[0], float), np.asarray(item[1], float)])
        else:
            arr = np.asarray(item, float)
            if arr.ndim == 2 and arr.shape[0] == 2 and arr.shape[1] != 2:
                arr = arr.T
        if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] < 3:
            return None
        polys.append(arr)
    return polys or None


def outline_regions(outlines, color="yellow", labels=None):
    """`~regions.PolygonSkyRegion` objects for outlines: a dict ``name -> (N, 2)`` or a list
    of (N, 2) (ra, dec) arrays (labelled ``Q1, Q2, ...`` unless ``labels``)."""
    from astropy.coordinates import SkyCoord
    import astropy.units as u
    from regions import PolygonSkyRegion

    if isinstance(outlines, dict):
        labels, outlines = list(outlines.keys()), list(outlines.values())
    out = []
    for q, poly in enumerate(outlines, start=1):
        poly = np.asarray(poly, float)
        label = labels[q - 1] if labels else f"Q{q}"
        out.append(PolygonSkyRegion(SkyCoord(poly[:, 0] * u.deg, poly[:, 1] * u.deg, frame="icrs"),
                                    meta={"text": label}, visual={"color": color}))
    return out


# --------------------------------------------------------------------------------------
# Full catalog, figures, session
# --------------------------------------------------------------------------------------

def write_catalog_ecsv(table, path, overwrite=False):
    """Write a table (with units, sigma and flags) as ECSV, atomically."""
    path = refuse_existing(path, overwrite)
    with atomic_path(path, overwrite=overwrite) as tmp:
        table.write(tmp, format="ascii.ecsv", overwrite=True)
    return path


def copy_figures(src_dir, dest_dir, overwrite=False, pattern="*.png"):
    """Copy the figures of earlier notebooks into the export directory (atomically, per file).

    Returns
    -------
    paths : list of `~pathlib.Path`
        Copied files (empty if there were none).
    """
    src_dir = Path(src_dir)
    if not src_dir.is_dir():
        return []
    dest_dir = ensure_writable_dir(dest_dir)
    out = []
    for src in sorted(src_dir.glob(pattern)):
        dest = dest_dir / src.name
        with atomic_path(dest, overwrite=overwrite) as tmp:
            shutil.copyfile(src, tmp)
        out.append(dest)
    return out


def software_versions():
    """Versions of Python and the packages the chain depends on (``None`` if not installed)."""
    import importlib.metadata as md

    names = ["msa-astrometry-workbook", "numpy", "scipy", "astropy", "astroquery", "photutils", "sep",
             "pysiaf", "regions", "spherical-geometry", "shapely", "matplotlib", "papermill"]
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for name in names:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_session(path, cfg, files=None, inputs=None, msata=None, notes=None, overwrite=False):
    """Write the session file: everything needed to re-run the chain and audit the export.

    Contents: the field configuration as notebook 00 takes it (name, target, ra, dec, radius,
    epoch, instruments, live), the pointing (notebook 04), ``cfg.extra`` (images with product
    IDs, WCSNAME and provenance; the astrometry verdict), the inputs used here, the MSATA
    selection summary, every file written with size and SHA-256, software versions, and the
    command that re-creates the field (:func:`recreate_field_from_session`).

    Parameters
    ----------
    path : str or `~pathlib.Path`
    cfg : `helpers.config.FieldConfig`
    files : dict, optional
        ``{label: path}`` of files written.
    inputs, msata, notes : dict, optional
        Free-form JSON-serialisable records.
    overwrite : bool

    Returns
    -------
    path : `~pathlib.Path`
    """
    path = refuse_existing(path, overwrite)
    field = cfg.to_dict()
    record = {
        "schema": "msa-astrometry-workbook/session/1",
        "written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "field": {k: field.get(k) for k in ("name", "target", "ra", "dec", "radius_arcmin", "epoch",
                                            "instruments", "live", "created")},
        "pointing": field.get("pointing"),
        "images": (field.get("extra") or {}).get("images"),
        "astrometry": (field.get("extra") or {}).get("astrometry"),
        "extra": field.get("extra"),
        "inputs": inputs or {},
        "msata": msata or {},
        "files": {},
        "software": software_versions(),
        "notes": notes or {},
        "rerun": _rerun_commands(field),
    }
    for label, p in (files or {}).items():
        p = Path(p)
        if p.exists():
            record["files"][label] = {"path": p.name if p.parent == path.parent else str(p),
                                      "bytes": p.stat().st_size, "sha256": _sha256(p)}
    text = json.dumps(record, indent=2, default=_json_default) + "\n"
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(text)
    return path


def _rerun_commands(field):
    """How to re-run the chain from this session (pointing kept, or everything from scratch)."""
    name = field.get("name")
    scratch = (f"python -m helpers.chain --field {name} --ra {field.get('ra')} --dec {field.get('dec')} "
               f"--radius {field.get('radius_arcmin')} --epoch {field.get('epoch')}" + (" --live" if field.get("live") else ""))
    return {
        "keep_pointing": ["python -c \"from helpers import export; export.recreate_field_from_session('session.json')\"",
                          f"python -m helpers.chain --field {name} --only 01 02 03 04 05"],
        "from_scratch": scratch,
        "note": "add --workspace-root ROOT (and workspace_root=ROOT) to use another workspace; notebook 04 "
                "starts from the saved pointing when it is kept",
    }


def _json_default(obj):
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)


def read_session(path):
    """Read a session file written by :func:`write_session` (dict)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise WorkbookError(f"session file {path} not found; check the path")
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise WorkbookError(f"session file {path} is not valid JSON ({exc}); re-export it with notebook 05") from None


def recreate_field_from_session(session, workspace_root=None, name=None, overwrite=True):
    """Re-create the field configuration (notebook 00 result + pointing) from a session file.

    Parameters
    ----------
    session : dict or path
    workspace_root : optional
    name : str, optional
        New field name (default: the session's).
    overwrite : bool

    Returns
    -------
    cfg : `helpers.config.FieldConfig`
    """
    from .. import config

    if not isinstance(session, dict):
        session = read_session(session)
    f = session["field"]
    cfg = config.create_field(name or f["name"], target=f.get("target"), ra=f["ra"], dec=f["dec"],
                              radius_arcmin=f["radius_arcmin"], epoch=f["epoch"], workspace_root=workspace_root,
                              instruments=f.get("instruments"), live=bool(f.get("live")), overwrite=overwrite)
    if session.get("pointing"):
        cfg.update(pointing=session["pointing"])
    return cfg


# --------------------------------------------------------------------------------------
# Upstream inputs and the summary card
# --------------------------------------------------------------------------------------

_IMAGE_PATH_KEYS = ("path", "local_path", "file", "filename", "fits", "local")


def _image_stem(entry):
    for key in _IMAGE_PATH_KEYS:
        if entry.get(key):
            name = Path(str(entry[key])).name
            for suffix in (".fits.gz", ".fits", ".fit"):
                if name.lower().endswith(suffix):
                    return name[: -len(suffix)]
            return Path(name).stem
    return str(entry.get("product_id") or entry.get("obs_id") or "") or None


def find_source_catalog(cfg):
    """Pick the source catalog to export: that of the best image (first of ``cfg.extra['images']``
    with a matching ``catalogs/sources_<stem>.ecsv``), else the first catalog.

    Returns
    -------
    path : `~pathlib.Path`
    image : dict or None
        The ``cfg.extra['images']`` entry it belongs to.

    Raises
    ------
    WorkbookError
        No ``sources_*.ecsv`` in the workspace (run notebook 02).
    """
    cat_dir = cfg.subdir("catalogs")
    catalogs = sorted(cat_dir.glob("sources_*.ecsv"))
    if not catalogs:
        raise WorkbookError(f"no source catalog (sources_*.ecsv) in {cat_dir}; run notebook 02 (sources) first")
    images = [e for e in list((cfg.extra or {}).get("images") or []) if isinstance(e, dict)]
    for entry in images:
        keys = [k for k in (_image_stem(entry), str(entry.get("product_id") or "")) if k]
        for exact in (True, False):
            for cat in catalogs:
                name = cat.stem[len("sources_"):]
                if any((name == k) if exact else (k in name or name in k) for k in keys):
                    return cat, entry
    return catalogs[0], None


def image_header(cfg, image):
    """Merged primary + first image-extension FITS header of an image entry, or None."""
    if not image:
        return None
    from astropy.io import fits

    for key in _IMAGE_PATH_KEYS:
        value = image.get(key)
        if not value:
            continue
        p = Path(str(value)).expanduser()
        for cand in (p, cfg.path / p, cfg.subdir("archive") / p.name):
            if cand.is_file():
                try:
                    with fits.open(cand) as hdul:
                        hdr = hdul[0].header.copy()
                        for ext in hdul[1:]:
                            if ext.is_image and ext.header.get("EXTNAME", "SCI") == "SCI":
                                hdr.update(ext.header)
                                break
                    return hdr
                except OSError:
                    return None
    return None


def astrometry_summary(record):
    """Normalise notebook 03's ``cfg.extra['astrometry']`` into ``{'sigma_mas', 'verdict'}``.

    Accepts the keys the astrometry step may use (``sigma_mas``, ``sigma``,
    ``sigma_cat_1d_mas``, ``sigma_diff_1d_mas``; ``verdict`` as text or a dict with
    ``label``/``text``/``band``). Returns ``None`` values when absent.
    """
    out = {"sigma_mas": None, "verdict": None, "sentence": None}
    if not isinstance(record, dict):
        return out
    if record.get("sentence"):
        out["sentence"] = str(record["sentence"])
    for key in ("sigma_mas", "sigma", "sigma_1d_mas", "sigma_cat_1d_mas", "sigma_diff_1d_mas"):
        value = record.get(key)
        if isinstance(value, (int, float)) and math.isfinite(value):
            out["sigma_mas"] = float(value)
            break
    v = record.get("verdict")
    if isinstance(v, dict):
        if out["sigma_mas"] is None and isinstance(v.get("sigma_mas"), (int, float)):
            out["sigma_mas"] = float(v["sigma_mas"])
        v = v.get("label") or v.get("text") or v.get("band") or v.get("summary")
    out["verdict"] = str(v) if v is not None else None
    return out


def round_trip_check(table, back):
    """Largest position difference (mas) and whether IDs are identical between a table
    given to :func:`write_mpt_catalog` and what :func:`read_mpt_catalog` returns."""
    ids, ra, dec, _ = validate_mpt_table(table)
    ra2, dec2 = np.radians(np.asarray(back["RA"], float)), np.radians(np.asarray(back["DEC"], float))
    ra1, dec1 = np.radians(ra), np.radians(dec)
    # haversine, accurate at sub-microarcsecond separations
    h = np.sin((dec2 - dec1) / 2) ** 2 + np.cos(dec1) * np.cos(dec2) * np.sin((ra2 - ra1) / 2) ** 2
    sep_mas = np.degrees(2 * np.arcsin(np.sqrt(h))) * 3.6e6
    same_ids = len(back) == len(ids) and bool(np.array_equal(np.asarray(back["ID"]), ids))
    return float(np.max(sep_mas)) if sep_mas.size else 0.0, same_ids


def summary_card(field, imaging, astrometry, counts, files, msata=None):
    """Plain-text summary card for the end of notebook 05.

    Parameters
    ----------
    field : dict
        ``name, ra, dec`` (and optionally ``pointing``).
    imaging : str
        The imaging used (instrument/filter/product id).
    astrometry : dict or None
        ``verdict`` and ``sigma_mas`` (per axis) from notebook 03.
    counts : dict
        Counts to show (e.g. sources exported, in the MSA, MSATA recommended).
    files : dict
        ``{label: path}`` written.
    msata : dict, optional
        MSATA selection summary.

    Returns
    -------
    text : str
    """
    import textwrap

    rows = [("Field centre", f"RA {field.get('ra'):.6f} deg, Dec {field.get('dec'):.6f} deg (ICRS)")]
    p = field.get("pointing")
    if p:
        rows.append(("Pointing", f"RA {p.get('ra'):.6f}, Dec {p.get('dec'):.6f}, APA {p.get('apa')} deg, "
                                 f"filter {p.get('filter')}"))
    else:
        rows.append(("Pointing", "not chosen (notebook 04 not run) - no MSA counts"))
    rows.append(("Imaging used", imaging))
    astro = astrometry_summary(astrometry)
    if astrometry:
        sig = astro["sigma_mas"]
        sig_s = f"{sig:.1f} mas (1-sigma per axis)" if sig is not None else "not recorded"
        rows.append(("Measured scatter", f"{sig_s}; verdict: {astro['verdict']}"))
        if astro["sentence"]:
            rows.append(("", astro["sentence"]))
    else:
        rows.append(("Measured scatter", "not available (notebook 03 not run)"))
    rows += [(k, str(v)) for k, v in counts.items()]
    if msata:
        rows.append(("MSATA", f"{msata.get('n_selected')} recommended of {msata.get('n_usable')} usable, "
                              f"{msata.get('ta_filter')}/{msata.get('readout')} window {msata.get('window_ab')} AB "
                              "(TA magnitudes estimated from the pre-image)"))
        if msata.get("ids"):
            rows.append(("MSATA IDs (rank)", ", ".join(str(i) for i in msata["ids"])))
        if msata.get("warning"):
            rows.append(("MSATA warning", msata["warning"]))
    width = max(len(k) for k, _ in rows)
    lines = ["=" * 96, f"MSA export summary - field {field.get('name')}", "=" * 96]
    for k, v in rows:
        wrapped = textwrap.wrap(v, 96 - width - 3) or [""]
        lines.append(f"{k:<{width}} {':' if k else ' '} {wrapped[0]}")
        lines += [" " * (width + 3) + w for w in wrapped[1:]]
    lines.append(f"{'Files written':<{width}} :")
    for label, path in files.items():
        lines.append(f"  - {label}: {Path(path).name}")
    lines.append("=" * 96)
    return "\n".join(lines)
