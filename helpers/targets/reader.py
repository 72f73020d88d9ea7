"""Read a planner's target list, whatever the format, into the workbook's target table.

Formats (``format=`` or detected from the extension, then from the first bytes):

``ecsv``
    astropy ECSV (units, ``meta['frame']`` and SkyCoord columns honoured).
``fits``
    a binary or ASCII table in any HDU (the first one with rows, or ``hdu=``); ``RADESYS`` /
    ``RADECSYS`` / ``EQUINOX`` of that HDU (or the primary) state the frame; ``TUNITn`` the units.
``votable``
    VOTable; a single ``COOSYS`` states the frame.
``csv``
    comma-separated with a header line.
``ascii``
    whitespace-separated with a ``#`` header line of labels (``# id ra dec ...``) — this is
    also APT's MPT catalog, as :func:`helpers.export.write_mpt_catalog` writes it
    (``# ID RA DEC Magnitude ...``), reported as format ``mpt`` when the labels start with
    ``ID RA DEC``; a plain header line without ``#`` works too.
``sextractor``
    SExtractor ``ASCII_HEAD`` catalogs (``#   1 NUMBER  Running object number``).
``ipac``
    IPAC tables (``|ra |dec |`` headers), as IRSA serves catalogs.

The result has the canonical columns ``id`` (int64, 1..1,000,000, unique), ``ra``, ``dec``
(float64, deg, ICRS), ``priority``/``weight`` (MPT's convention, see
:mod:`helpers.targets.ids`) and ``redshift`` when found, then **every other input column**.
``meta['target_list']`` says what was found and done (see :func:`read_target_list`).
"""

import warnings
from pathlib import Path

import numpy as np

from ..errors import WorkbookError
from .coords import (DEC_NAMES, GLAT_NAMES, GLON_NAMES, RA_NAMES, TargetListWarning, angle_column_deg, find_column,
                     frame_from_names, normalise_frame, to_icrs)
from .ids import (ID_NAMES, PRIORITY_NAMES, REDSHIFT_NAMES, WEAK_ID_NAMES, WEIGHT_NAMES, normalise_ids,
                  weight_from_priority)
from .validate import MPT_MAX_RADIUS_DEG, check_positions

__all__ = ["FORMATS", "read_target_list", "read_table_file", "target_list_summary"]

FORMATS = ("ecsv", "fits", "votable", "csv", "ascii", "sextractor", "mpt", "ipac")
_EXTENSIONS = {".ecsv": "ecsv", ".fits": "fits", ".fit": "fits", ".fts": "fits", ".fz": "fits",
               ".vot": "votable", ".votable": "votable", ".xml": "votable", ".csv": "csv", ".tbl": "ipac"}


def _detect_format(path):
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz" and len(suffixes) > 1:
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in _EXTENSIONS:
        return _EXTENSIONS[suffixes[-1]]
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if head.startswith(b"SIMPLE  ="):
        return "fits"
    if b"\0" in head:
        raise WorkbookError(f"{path} is a binary file that is not FITS; give the target list as ECSV, FITS, VOTable, "
                            "CSV or a whitespace table with a '#' header line")
    text = head.decode("utf-8", "replace").lstrip()
    if text.startswith("<?xml") or text[:200].upper().startswith("<VOTABLE"):
        return "votable"
    if text.startswith("# %ECSV"):
        return "ecsv"
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if lines and (lines[0].startswith("\\") or lines[0].startswith("|")):
        return "ipac"
    if lines and lines[0].split()[:2] and lines[0].startswith("#") and len(lines[0].split()) >= 3 \
            and lines[0].split()[1].isdigit():
        return "sextractor"
    data = [ln for ln in lines if not ln.startswith("#")]
    if data and "," in data[0]:
        return "csv"
    return "ascii"


def _hash_header_line(path, max_lines=500):
    """First non-blank line, and which leading ``#`` line holds the column labels.

    Planners often put a description above the labels (``# HDF-S targets, z > 6`` then
    ``# id ra dec mag``): the labels are the last leading comment line with as many fields
    as the first data line (the first comment line when none matches).
    """
    comments, data = [], None
    with open(path) as fh:
        for _, line in zip(range(max_lines), fh):
            if not line.strip():
                continue
            if line.lstrip().startswith("#"):
                comments.append(line.lstrip().lstrip("#").split())
            else:
                data = line.split()
                break
    first = "#" if comments else ""
    if not comments or data is None:
        return first, 0
    matching = [i for i, labels in enumerate(comments) if len(labels) == len(data)]
    return first, (matching[-1] if matching else 0)


def _fits_table(path, hdu):
    from astropy.io import fits
    from astropy.table import Table

    try:
        hdul = fits.open(path, memmap=True)
    except (OSError, ValueError) as exc:
        raise WorkbookError(f"cannot open {path} as FITS ({exc}); give a FITS table, ECSV, VOTable or CSV") from None
    with hdul:
        tables = [i for i, h in enumerate(hdul) if isinstance(h, (fits.BinTableHDU, fits.TableHDU))]
        if hdu is not None:
            if hdu not in tables and not any(hdul[i].name == str(hdu).upper() for i in tables):
                raise WorkbookError(f"HDU {hdu!r} of {path} is not a table; its table HDUs are {tables or 'none'}")
            index = hdu if isinstance(hdu, int) else next(i for i in tables if hdul[i].name == str(hdu).upper())
        else:
            with_rows = [i for i in tables if (hdul[i].data is not None and len(hdul[i].data) > 0)]
            if not tables:
                raise WorkbookError(f"{path} holds no table (only images); give the target list as a FITS table "
                                    "(BinTable), ECSV, VOTable or CSV")
            index = (with_rows or tables)[0]
        header = hdul[index].header
        primary = hdul[0].header
        frame = header.get("RADESYS", header.get("RADECSYS", primary.get("RADESYS", primary.get("RADECSYS"))))
        equinox = header.get("EQUINOX", primary.get("EQUINOX"))
        table = Table.read(hdul, hdu=index, unit_parse_strict="silent")
    return table, {"hdu": index, "frame": frame, "equinox": equinox,
                   "n_table_hdus": len(tables)}


def _votable(path):
    from astropy.io.votable import parse

    try:
        vot = parse(str(path), verify="ignore")
    except Exception as exc:  # noqa: BLE001 - the VOTable parser raises many types
        raise WorkbookError(f"cannot read {path} as a VOTable ({exc.__class__.__name__}: {exc}); check the file") from None
    systems = {(c.system, c.equinox) for c in vot.iter_coosys()}
    try:
        table = vot.get_first_table().to_table(use_names_over_ids=True)
    except (IndexError, ValueError):
        raise WorkbookError(f"{path} is a VOTable without a table; give a file with one target table") from None
    frame = equinox = None
    if len(systems) == 1:
        frame, equinox = next(iter(systems))
    return table, {"frame": frame, "equinox": equinox, "coosys": sorted(str(s) for s in systems)}


def read_table_file(path, format=None, hdu=None):
    """Read any supported table file into an astropy Table, plus what the file says about its frame.

    Parameters
    ----------
    path : str or `~pathlib.Path`
    format : str, optional
        One of :data:`FORMATS`; detected when None.
    hdu : int or str, optional
        FITS HDU to read (default: the first table with rows).

    Returns
    -------
    table : `~astropy.table.Table`
    info : dict
        ``format`` and, when the file states them, ``frame``, ``equinox``, ``hdu``.

    Raises
    ------
    WorkbookError
        Missing/unreadable file, unknown format, a file that is not a table.
    """
    from astropy.table import Table

    from ..validate import require_path

    path = require_path(path, "target list path")
    if not path.exists():
        raise WorkbookError(f"target list {path} not found; check the path (absolute, or relative to {Path.cwd()})")
    if path.is_dir():
        raise WorkbookError(f"{path} is a directory; give the target list file itself")
    if format is not None and str(format).lower() not in FORMATS:
        raise WorkbookError(f"format {format!r} is not supported; use one of {', '.join(FORMATS)} (or None to detect)")
    fmt = str(format).lower() if format else _detect_format(path)
    info = {"format": fmt}
    try:
        if fmt == "fits":
            table, extra = _fits_table(path, hdu)
            info.update(extra)
        elif fmt == "votable":
            table, extra = _votable(path)
            info.update(extra)
        elif fmt == "ecsv":
            table = Table.read(path, format="ascii.ecsv")
            info["frame"] = table.meta.get("frame", table.meta.get("radesys"))
            info["equinox"] = table.meta.get("equinox")
        elif fmt == "csv":
            table = Table.read(path, format="ascii.csv")
        elif fmt == "ipac":
            table = Table.read(path, format="ascii.ipac")
        elif fmt == "sextractor":
            table = Table.read(path, format="ascii.sextractor")
        else:
            first, header_index = _hash_header_line(path)
            if first.startswith("#"):
                table = Table.read(path, format="ascii.commented_header", header_start=header_index, guess=False,
                                   fast_reader=True)
            else:
                table = Table.read(path, format="ascii.basic", guess=False, fast_reader=True)
            if [c.upper() for c in table.colnames[:3]] == ["ID", "RA", "DEC"] and first.startswith("#"):
                info["format"] = "mpt"
    except WorkbookError:
        raise
    except UnicodeDecodeError:
        raise WorkbookError(f"{path} is not a text table (undecodable bytes); give ECSV, FITS, VOTable, CSV or a "
                            "whitespace table with a '#' header line") from None
    except Exception as exc:  # noqa: BLE001 - astropy's readers raise many types for bad files
        msg = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise WorkbookError(f"cannot read {path} as {fmt} ({msg[:160]}); check the file, or pass format= "
                            f"(one of {', '.join(FORMATS)})") from None
    if len(table.colnames) < 2:
        raise WorkbookError(f"{path} read as {fmt} has {len(table.colnames)} column(s) ({', '.join(table.colnames)}); "
                            "a target list needs at least RA and Dec columns with a header line naming them")
    return table, info


def _skycoord_column(table):
    from astropy.coordinates import SkyCoord

    return next((name for name in table.colnames if isinstance(table[name], SkyCoord)), None)


def _positions(table, info, ra_col, dec_col, frame, notes):
    """(ra_deg, dec_deg ICRS, mapped column names, frame_in) from the table."""
    explicit_frame = normalise_frame(frame) if frame is not None else None
    sky = _skycoord_column(table) if ra_col is None and dec_col is None else None
    if sky is not None:
        if explicit_frame is not None:
            raise WorkbookError(f"column {sky!r} is a SkyCoord with its own frame; do not pass frame=")
        c = table[sky]
        frame_in = c.frame.name
        if frame_in == "fk4":
            raise WorkbookError(f"SkyCoord column {sky!r} is FK4/B1950; give ICRS positions (see "
                                "helpers.targets.coords for why FK4 is not converted silently)")
        icrs = c.icrs
        if frame_in != "icrs":
            notes.append(f"SkyCoord column {sky!r} converted from {frame_in} to ICRS with astropy")
        return np.asarray(icrs.ra.deg, float), np.asarray(icrs.dec.deg, float), [sky], frame_in
    ra_name = find_column(table.colnames, RA_NAMES, ra_col, "RA")
    dec_name = find_column(table.colnames, DEC_NAMES, dec_col, "Dec")
    galactic = False
    if (ra_name is None or dec_name is None) and ra_col is None and dec_col is None:
        lon = find_column(table.colnames, GLON_NAMES)
        lat = find_column(table.colnames, GLAT_NAMES)
        if lon is not None and lat is not None:
            ra_name, dec_name, galactic = lon, lat, True
    if ra_name is None or dec_name is None:
        missing = "RA" if ra_name is None else "Dec"
        tried = RA_NAMES if ra_name is None else DEC_NAMES
        raise WorkbookError(
            f"no {missing} column recognised among the columns {', '.join(table.colnames)} (names tried, any case: "
            f"{', '.join(tried[:12])} ...); rename the columns to 'ra'/'dec' or pass ra_col=/dec_col=")
    ra_deg, ra_note = angle_column_deg(table[ra_name], is_ra=not galactic, name=ra_name)
    dec_deg, dec_note = angle_column_deg(table[dec_name], is_ra=False, name=dec_name)
    notes.extend([ra_note, dec_note])

    if explicit_frame is not None:
        frame_in, how = explicit_frame, "given as frame="
    elif galactic:
        frame_in, how = "galactic", f"columns {ra_name}/{dec_name} are Galactic l/b"
    else:
        stated = normalise_frame(info.get("frame"), info.get("equinox"))
        by_name = frame_from_names(ra_name, dec_name)
        if stated is not None:
            frame_in, how = stated, f"stated in the file ({info.get('frame') or ''} {info.get('equinox') or ''})".strip()
        elif by_name is not None:
            frame_in, how = by_name, f"implied by the column names {ra_name}/{dec_name}"
        else:
            frame_in = "icrs"
            how = ("no frame stated in the file: taken as ICRS" if "j2000" not in (ra_name + dec_name).lower() else
                   f"columns {ra_name}/{dec_name} taken as ICRS (J2000 names: VizieR's convention, and the frame "
                   "of modern HST/JWST image WCSs that SExtractor's *_J2000 inherit)")
            warnings.warn(f"target list: {how}; pass frame='fk5' (or 'galactic', 'fk4') if it is not",
                          TargetListWarning, stacklevel=3)
    equinox = info.get("equinox") if frame_in in ("fk5", "fk4") and explicit_frame is None else None
    if equinox is not None:
        equinox = str(equinox).strip()
        if equinox[:1] not in "JB":
            equinox = ("B" if frame_in == "fk4" else "J") + equinox
    ra, dec, conv = to_icrs(ra_deg, dec_deg, frame_in, equinox=equinox, explicit=explicit_frame == "fk4")
    notes.append(f"frame {frame_in} ({how})")
    if conv:
        notes.append(conv)
        if frame_in != "fk4":
            warnings.warn(f"target list: {conv}", TargetListWarning, stacklevel=3)
    return ra, dec, [ra_name, dec_name], frame_in


def _same_values(a, b):
    try:
        return np.array_equal(np.asarray(a, dtype=float), np.asarray(b, dtype=float), equal_nan=True)
    except (TypeError, ValueError):
        return False


def read_target_list(path, *, format=None, id_col=None, ra_col=None, dec_col=None, frame=None, hdu=None,
                     priority_col=None, weight_col=None, redshift_col=None, max_radius_deg=MPT_MAX_RADIUS_DEG):
    """Read and validate a planner's target list into canonical columns, keeping every other column.

    Parameters
    ----------
    path : str or `~pathlib.Path`
        ECSV, FITS table, VOTable, CSV, whitespace ASCII with a ``#`` header (incl. MPT
        catalogs and SExtractor ``ASCII_HEAD``).
    format : str, optional
        One of :data:`FORMATS`; detected from the extension / first bytes when None.
    id_col, ra_col, dec_col : str, optional
        Column names to use (case-insensitive); found under common names when None
        (:data:`~helpers.targets.ids.ID_NAMES`, :data:`~helpers.targets.coords.RA_NAMES`,
        :data:`~helpers.targets.coords.DEC_NAMES`; Galactic ``GLON``/``GLAT`` too).
    frame : {'icrs', 'fk5', 'galactic', 'fk4'}, optional
        Frame of the positions when the file does not say (or says wrongly). ``'fk4'``
        (B1950) is converted only when given here; see :mod:`helpers.targets.coords`.
    hdu : int or str, optional
        FITS HDU holding the list (default: the first table with rows).
    priority_col, weight_col, redshift_col : str, optional
        Columns for priority (1 = most wanted), MPT weight, redshift; found by name when None.
    max_radius_deg : float or None
        Largest extent from the list's centre (MPT: < 1 deg); None skips the check.

    Returns
    -------
    targets : `~astropy.table.Table`
        ``id`` (int64), ``ra``, ``dec`` (deg, ICRS), ``priority``, ``weight`` (when a priority
        or weight column exists; weight from priority as ``p_max + 1 - priority``),
        ``redshift`` (when found), ``id_original`` (when renumbered), then every other input
        column; mapped columns whose values changed (sexagesimal, converted frame) are kept
        as ``<name>_input``. ``meta['target_list']``: ``path``, ``format``, ``hdu``,
        ``n_rows``, ``columns`` (canonical -> input name), ``frame_in``, ``notes`` (every
        conversion or assumption, one line each), ``id_mapping`` (None, or ``reason`` and
        ``column``), ``weight_rule``, ``centre_deg`` [RA, Dec], ``radius_deg``.

    Raises
    ------
    WorkbookError
        One line for: missing/unreadable file, no table, no recognisable RA/Dec, garbage
        sexagesimal (row), NaN or out-of-range positions (rows), duplicate IDs (which),
        an extent >= ``max_radius_deg``, FK4/B1950 without ``frame='fk4'``.

    Warns
    -----
    TargetListWarning
        When the frame is assumed or converted, or IDs are renumbered.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = p.write_text("NUMBER,RAJ2000,DEJ2000,prio\\n7,03:32:39.0,-27:47:29.1,1\\n8,03:32:40.8,-27:46:48,2\\n")
    >>> import warnings
    >>> with warnings.catch_warnings():  # "columns RAJ2000/DEJ2000 taken as ICRS"
    ...     warnings.simplefilter("ignore")
    ...     t = read_target_list(p)
    >>> t["id"].tolist(), [round(v, 4) for v in t["ra"].tolist()], t["weight"].tolist()
    ([7, 8], [53.1625, 53.17], [2.0, 1.0])
    """
    from astropy.table import Column, Table

    table, info = read_table_file(path, format=format, hdu=hdu)
    if len(table) == 0:
        raise WorkbookError(f"{path} has a header but no rows; give a list with at least one target")
    notes = []
    if info.get("n_table_hdus", 0) > 1 and hdu is None:
        notes.append(f"{path} has {info['n_table_hdus']} table HDUs: read HDU {info['hdu']} (the first with rows); "
                     "pass hdu= for another")
        warnings.warn(f"target list: {notes[-1]}", TargetListWarning, stacklevel=2)
    ra, dec, pos_names, frame_in = _positions(table, info, ra_col, dec_col, frame, notes)
    if info["format"] == "mpt":
        notes.append("MPT catalog: values 99 (magnitudes) and -1 (other columns) are MPT writers' fill for missing "
                     "entries; they are kept as they are")

    id_name = find_column(table.colnames, ID_NAMES, id_col, "ID")
    if id_name is None and id_col is None:
        weak = find_column(table.colnames, WEAK_ID_NAMES)
        if weak is not None and len(np.unique(np.asarray(table[weak]))) == len(table):
            id_name = weak
        elif weak is not None:
            notes.append(f"column {weak!r} has repeated values, so it is not used as the ID (pass id_col= to insist)")
    ids, original, reason = normalise_ids(table[id_name] if id_name else None, id_name)
    id_mapping = None
    if ids is None:
        ids = np.arange(1, len(table) + 1, dtype=np.int64)
        line = f"{reason}: targets numbered 1..{len(table)} in list order"
        if original is not None:
            line += "; the original IDs are in column 'id_original' (write_id_mapping writes the mapping file)"
            id_mapping = {"reason": reason, "column": id_name}
        notes.append(line)
        warnings.warn(f"target list: {line}", TargetListWarning, stacklevel=2)
    quoted_ids = (original if original is not None else ids) if id_name else None
    ra0, dec0, radius = check_positions(ra, dec, ids=quoted_ids, max_radius_deg=max_radius_deg)

    out = Table(meta={})
    out["id"] = Column(ids, description="target ID for MPT (1-1,000,000, unique)")
    out["ra"] = Column(ra, unit="deg", description="right ascension, ICRS")
    out["dec"] = Column(dec, unit="deg", description="declination, ICRS")
    mapped = {"id": id_name, "ra": pos_names[0], "dec": pos_names[-1]}

    prio_name = find_column(table.colnames, PRIORITY_NAMES, priority_col, "priority")
    weight_name = find_column(table.colnames, WEIGHT_NAMES, weight_col, "weight")
    weight_rule = None
    if prio_name is not None:
        out["priority"] = Column(np.ma.filled(np.ma.asarray(table[prio_name], dtype=float), np.nan),
                                 description="planner's priority, 1 = most wanted")
        mapped["priority"] = prio_name
    if weight_name is not None:
        w = np.ma.filled(np.ma.asarray(table[weight_name], dtype=float), np.nan)
        out["weight"] = Column(w, description="MPT weight, larger = more wanted")
        mapped["weight"] = weight_name
        weight_rule = f"taken from column {weight_name!r}"
    elif prio_name is not None:
        out["weight"] = Column(weight_from_priority(table[prio_name]),
                               description="MPT weight = max(priority) + 1 - priority")
        weight_rule = f"Weight = max(priority) + 1 - priority, from column {prio_name!r}"
        notes.append(f"MPT weight derived from priority column {prio_name!r}: {weight_rule.split(',')[0]}")
    z_name = find_column(table.colnames, REDSHIFT_NAMES, redshift_col, "redshift")
    if z_name is not None:
        out["redshift"] = Column(np.ma.filled(np.ma.asarray(table[z_name], dtype=float), np.nan))
        mapped["redshift"] = z_name
    if original is not None:
        out["id_original"] = original

    canonical = {c.lower() for c in out.colnames}
    for name in table.colnames:
        col = table[name]
        if name in mapped.values():
            if name == pos_names[0] and len(pos_names) == 1:
                continue  # the SkyCoord column itself: now the ra/dec columns (meta 'columns' says so)
            target = next(k for k, v in mapped.items() if v == name)
            if target in out.colnames and _same_values(col, out[target]):
                continue  # identical to the canonical column: the mapping in meta says where it came from
            if target == "id" and original is not None:
                continue  # kept as id_original
        elif name.lower() not in canonical:
            out[name] = col
            continue
        new = f"{name}_input"
        while new.lower() in {c.lower() for c in out.colnames}:
            new += "_"
        out[new] = col
        if name not in mapped.values():
            notes.append(f"input column {name!r} renamed {new!r} (its name is one of the canonical columns)")

    out.meta["target_list"] = {
        "path": str(Path(path).expanduser()), "format": info["format"], "hdu": info.get("hdu"),
        "n_rows": len(out), "columns": mapped, "frame_in": frame_in, "notes": notes,
        "id_mapping": id_mapping, "weight_rule": weight_rule,
        "centre_deg": [round(ra0, 9), round(dec0, 9)], "radius_deg": radius,
    }
    out.meta["input_meta"] = {k: v for k, v in table.meta.items() if k not in ("comments", "COMMENT", "HISTORY")}
    return out


def target_list_summary(targets):
    """One short paragraph saying what :func:`read_target_list` found and did, for a notebook cell.

    Parameters
    ----------
    targets : `~astropy.table.Table`
        Returned by :func:`read_target_list`.

    Returns
    -------
    text : str

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = p.write_text("id,ra,dec,priority\\n1,53.16,-27.79,1\\n2,53.17,-27.78,2\\n")
    >>> print(target_list_summary(read_target_list(p, frame="icrs")))  # doctest: +ELLIPSIS
    2 targets from .../t.csv (csv), within 0.0... deg of RA 53.1650, Dec -27.7850. Columns: id <- id, ra <- ra, dec <- dec, priority <- priority. Frame: icrs (given as frame=). Weight = max(priority) + 1 - priority, from column 'priority'.
    """
    info = targets.meta.get("target_list") if hasattr(targets, "meta") else None
    if not info:
        raise WorkbookError("this table was not made by read_target_list (no meta['target_list']); read the list with "
                            "helpers.targets.read_target_list first")
    mapped = ", ".join(f"{k} <- {v}" for k, v in info["columns"].items() if v)
    frame_note = next((n for n in info["notes"] if n.startswith("frame ")), f"frame {info['frame_in']}")
    parts = [f"{info['n_rows']} targets from {info['path']} ({info['format']}), within {info['radius_deg']:.3f} deg of "
             f"RA {info['centre_deg'][0]:.4f}, Dec {info['centre_deg'][1]:.4f}.",
             f"Columns: {mapped}.", f"Frame: {frame_note[len('frame '):]}."]
    if info.get("weight_rule"):
        parts.append(info["weight_rule"] + ".")
    if info.get("id_mapping"):
        parts.append(f"IDs renumbered 1..{info['n_rows']} ({info['id_mapping']['reason']}): "
                     "write_id_mapping(targets, path) saves the mapping.")
    parts.extend(n + "." for n in info["notes"] if "converted" in n and not n.startswith("frame "))
    return " ".join(parts)
