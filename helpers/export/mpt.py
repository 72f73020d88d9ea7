"""The MPT catalog (notebook 05): build, check, write and read the catalog for APT's MSA Planning Tool.

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
pre-image, see :func:`helpers.export.magnitudes.ab_zeropoint`), ``Stellarity``,
``Reference`` (1 = recommended MSATA reference star, 0 = not), optional ``Weight``,
``Sigma_mas`` (1-sigma per axis, mas), ``Flags`` (the source catalog's bitmask) and any
further columns of the input table. The exact value convention of the ``Reference`` column
(1/0) could not be confirmed from the page excerpts available offline; MPT lets you pick the
column when building a candidate set.

Performance: the catalog is formatted with one C-level ``str.__mod__`` pass per file (no
per-row Python branching); 10^5 sources take ~0.5 s together with the DS9 regions
(``benchmarks/bench_export.py``).
"""

from pathlib import Path

import numpy as np

from ..errors import WorkbookError
from .._io import atomic_path, refuse_existing
from ..validate import export_token, read_text_file
from ..validate import require_array, require_number
from ._checks import require_table
from .geometry import _centre_and_radius

__all__ = [
    "MPT_MAX_ID",
    "MPT_MAX_RADIUS_DEG",
    "validate_mpt_table",
    "build_mpt_table",
    "build_target_mpt_table",
    "write_mpt_catalog",
    "read_mpt_catalog",
    "round_trip_check",
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
    from astropy.table import Table

    max_radius_deg = require_number(max_radius_deg, "max_radius_deg", minimum=0, maximum=180, example=MPT_MAX_RADIUS_DEG)
    if table is not None and not isinstance(table, Table):
        raise WorkbookError(f"the catalog is a {type(table).__name__}, not an astropy Table; "
                            "pass the source catalog table (e.g. Table.read('catalogs/sources_<image>.ecsv'))")
    if table is None or len(table) == 0:
        raise WorkbookError("the catalog is empty; nothing to export for MPT: check that notebook 02 found sources "
                            "(catalogs/sources_*.ecsv) and that your cuts keep some")
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
        # strings: rare, short columns; whitespace/'#'/non-ASCII -> '_' so each value stays one token
        return [export_token(v) for v in np.ma.filled(np.ma.asarray(values, dtype=object), "-")]
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
    as integers, booleans as 1/0, floats with their ``info.format`` (or ``%.4f``), strings
    (and labels) with each whitespace character (space, tab, newline), ``#`` and non-ASCII
    character replaced by ``_`` (empty strings as ``-``), so every line reads back with
    :func:`read_mpt_catalog` into the same columns. Missing values are written as 99 for magnitude-like columns
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
        label = export_token(name)
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
        Missing file, a directory, binary or non-UTF-8 content, no ``#`` header line, no
        ID/RA/DEC columns, unparsable rows.
    """
    from astropy.table import Table
    import astropy.units as u

    lines = read_text_file(path, "MPT catalog").splitlines()
    path = Path(path).expanduser()
    first = lines[0] if lines else ""
    if not first.startswith("#"):
        raise WorkbookError(f"{path} has no '#' header line with column labels; MPT catalogs written here start with '# ID RA DEC'")
    labels = first.lstrip("#").split()
    rows = [line.split() for line in lines[1:] if line.strip() and not line.lstrip().startswith("#")]
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

    require_table(sources, "sources", hint="give the source catalog notebook 02 wrote")
    id_offset = require_number(id_offset, "id_offset", minimum=0, integer=True, example=0)
    mag_ta, mag_preimage, weight = (None if v is None else require_array(v, name, what="values, one per source")
                                    for v, name in ((mag_ta, "mag_ta"), (mag_preimage, "mag_preimage"),
                                                    (weight, "weight")))
    if candidates is not None:
        require_table(candidates, "candidates", ("id", "selected"), hint="give the table msata_candidates returned")
    n = len(sources)
    out = Table(meta={"frame": sources.meta.get("frame", "icrs")})
    id_name = _find_col(sources, "id")
    if id_name is None:
        raise WorkbookError("the source catalog has no 'id' column; re-run notebook 02")
    out["ID"] = np.asarray(sources[id_name]).astype(np.int64) + int(id_offset)
    if _find_col(sources, "ra") is None or _find_col(sources, "dec") is None:
        raise WorkbookError("the source catalog has no 'ra'/'dec' columns; re-run notebook 02")
    out["RA"] = require_array(sources[_find_col(sources, "ra")], "sources['ra']", what="RA in degrees") * u.deg
    out["DEC"] = require_array(sources[_find_col(sources, "dec")], "sources['dec']", what="Dec in degrees") * u.deg
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


def build_target_mpt_table(targets, image_table, idx_image):
    """The MPT catalog of a planner's target list: their IDs and priorities, every other image
    source as a contaminant, the MSATA reference stars from the same (image) frame.

    Parameters
    ----------
    targets : `~astropy.table.Table`
        The corrected target list (`helpers.targets.correct_targets`): ``id``, ``ra``, ``dec``
        (deg, image frame), optional ``weight`` (from priority), ``redshift``, ``priority``,
        ``position_sigma`` (mas), ``match_status``.
    image_table : `~astropy.table.Table`
        :func:`build_mpt_table` of the image's source catalog (same order as that catalog).
    idx_image : array-like of int
        Per target, the row of the image catalog it matched (-1 if none), from the judgement's
        ``per_target["idx_ref"]``.

    Returns
    -------
    table : `~astropy.table.Table`
        Targets first (``ID`` = the planner's ID, ``Weight``, ``Redshift``, ``Magnitude`` /
        ``Stellarity`` / ``Reference`` / ``Sigma_mas`` / ``Flags`` of the matched image source),
        then every unmatched image source with ``Weight`` 0 and an ID above the largest target ID;
        ``Label`` says ``target`` / ``contaminant``.

    Raises
    ------
    WorkbookError
        If the contaminant IDs would exceed MPT's 1,000,000.
    """
    from astropy.table import Table, vstack
    import astropy.units as u

    require_table(targets, "targets", hint="give the target list helpers.targets read")
    require_table(image_table, "image_table", ("ID", "RA", "DEC"), hint="give the MPT table build_mpt_table returned")
    idx = require_array(idx_image, "idx_image", what="indices into image_table (-1 = no match)", allow_nan=False)
    if np.any(idx != np.round(idx)) or np.any(idx >= len(image_table)) or np.any(idx < -1):
        raise WorkbookError(f"idx_image holds values outside -1..{len(image_table) - 1} or non-integers; give the "
                            "judgement's per_target['idx_ref']")
    idx = idx.astype(int)
    n_t, n_i = len(targets), len(image_table)
    if idx.size != n_t:
        raise WorkbookError("idx_image must have one entry per target (the judgement's per_target['idx_ref'])")
    has = idx >= 0
    t = Table(meta=dict(image_table.meta))
    t["ID"] = np.asarray(targets["id"], np.int64)
    t["RA"] = np.asarray(targets["ra"], float) * u.deg
    t["DEC"] = np.asarray(targets["dec"], float) * u.deg
    for name in image_table.colnames:
        if name in ("ID", "RA", "DEC", "Weight"):
            continue
        col = np.asarray(image_table[name])
        fill = MAG_FILL if name.startswith(("Magnitude", "Mag_", "NRS_")) else (0 if col.dtype.kind in "iu" else OTHER_FILL)
        vals = np.full(n_t, fill, dtype=col.dtype)
        vals[has] = col[idx[has]]
        t[name] = vals
    if "position_sigma" in targets.colnames:  # the image's sigma where the image position was taken
        ps = np.asarray(targets["position_sigma"], float)
        if "Sigma_mas" in t.colnames:
            t["Sigma_mas"] = np.where(np.isfinite(ps), ps, np.asarray(t["Sigma_mas"], float))
    t["Weight"] = np.asarray(targets["weight"], float) if "weight" in targets.colnames else np.ones(n_t)
    if "redshift" in targets.colnames:
        t["Redshift"] = np.ma.filled(np.ma.asarray(targets["redshift"], dtype=float), OTHER_FILL)
    t["Label"] = np.full(n_t, "target", dtype="<U11")
    rest = np.setdiff1d(np.arange(n_i), idx[has])
    c = image_table[rest].copy()
    start = int(t["ID"].max()) if n_t else 0
    c["ID"] = start + np.arange(1, len(c) + 1, dtype=np.int64)
    if len(c) and int(c["ID"].max()) > MPT_MAX_ID:
        raise WorkbookError(f"{len(c)} contaminants after target ID {start} exceed MPT's 1,000,000 IDs; renumber the "
                            "targets (write_id_mapping) or use fewer image sources")
    c["Weight"] = np.zeros(len(c))
    if "Redshift" in t.colnames:
        c["Redshift"] = np.full(len(c), OTHER_FILL)
    c["Label"] = np.full(len(c), "contaminant", dtype="<U11")
    out = vstack([t, c[t.colnames]], metadata_conflicts="silent")
    out.meta["n_targets"], out.meta["n_contaminants"] = n_t, len(c)
    return out


def round_trip_check(table, back):
    """Largest position difference (mas) and whether IDs are identical between a table
    given to :func:`write_mpt_catalog` and what :func:`read_mpt_catalog` returns."""
    ids, ra, dec, _ = validate_mpt_table(table)
    require_table(back, "back", ("ID", "RA", "DEC"), hint="give the table read_mpt_catalog read back")
    ra2, dec2 = np.radians(np.asarray(back["RA"], float)), np.radians(np.asarray(back["DEC"], float))
    ra1, dec1 = np.radians(ra), np.radians(dec)
    # haversine, accurate at sub-microarcsecond separations
    h = np.sin((dec2 - dec1) / 2) ** 2 + np.cos(dec1) * np.cos(dec2) * np.sin((ra2 - ra1) / 2) ** 2
    sep_mas = np.degrees(2 * np.arcsin(np.sqrt(h))) * 3.6e6
    same_ids = len(back) == len(ids) and bool(np.array_equal(np.asarray(back["ID"]), ids))
    return float(np.max(sep_mas)) if sep_mas.size else 0.0, same_ids
