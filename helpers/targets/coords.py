"""Find the position columns of a target list and turn them into ICRS degrees.

Planners' lists name their columns in many ways (``RA``, ``RAJ2000``, ``ALPHA_J2000``,
``X_WORLD``, ``RA_ICRS`` ...), give positions in degrees or sexagesimal strings
(``"03:32:39.0"`` hours for RA, ``"-27:47:29.1"`` degrees for Dec), with or without units,
and sometimes in another frame (FK5 J2000, Galactic l/b, rarely FK4 B1950). This module
finds the columns (case-insensitively, under the names in :data:`RA_NAMES`,
:data:`DEC_NAMES`, :data:`GLON_NAMES`, :data:`GLAT_NAMES`), parses the values (vectorised;
a garbage row is named in a one-line error) and converts them to ICRS with astropy.

Frame rule (what is decided and why)
------------------------------------
* An explicit ``frame=`` argument wins; then what the file states (ECSV ``meta['frame']``,
  FITS ``RADESYS``/``RADECSYS`` + ``EQUINOX``, VOTable ``COOSYS``, a ``SkyCoord`` column);
  then the column names (``RA_ICRS`` -> ICRS, ``GLON``/``GLAT`` -> Galactic, ``RAB1950`` ->
  FK4). Names such as ``RAJ2000`` or SExtractor's ``ALPHA_J2000`` are taken as ICRS: that is
  VizieR's convention for its ``J2000`` columns, and SExtractor's inherit the image WCS's frame
  (ICRS for modern HST/JWST products). When nothing states a frame the list is taken as ICRS. Both of these are said in a
  visible :class:`TargetListWarning` line and recorded in the table's meta.
* FK5 and Galactic are converted to ICRS (astropy), said in one line. FK5 J2000 differs from
  ICRS by up to ~25 mas, which matters at the 5-10 mas level: that is why it is converted.
* FK4 / B1950 is refused unless the caller passes ``frame='fk4'`` explicitly (then converted
  with a warning): an FK4 position needs its epoch and proper motion to be turned into ICRS
  to better than ~0.1-1", far worse than the 5-10 mas planning goal, so a silent conversion
  would hide the problem; re-deriving the list in ICRS (e.g. from Gaia-aligned imaging) is
  the right fix.
"""

import warnings

import numpy as np

from ..errors import WorkbookError

__all__ = [
    "RA_NAMES", "DEC_NAMES", "GLON_NAMES", "GLAT_NAMES", "TargetListWarning",
    "find_column", "parse_sexagesimal", "angle_column_deg", "normalise_frame", "to_icrs",
]


class TargetListWarning(UserWarning):
    """A visible line about something the reader decided (frame assumed, IDs renumbered ...)."""


#: Column names tried for RA, in order (matched case-insensitively).
RA_NAMES = ("ra", "raj2000", "ra_icrs", "ra_j2000", "ra2000", "radeg", "ra_deg", "ra_d", "alpha_j2000",
            "alphawin_j2000", "alpha_sky", "alpha", "x_world", "xwin_world", "ra_fk5", "_raj2000",
            "right_ascension", "rab1950", "ra1950", "ra_b1950", "alpha_b1950")
#: Column names tried for Dec, in order (matched case-insensitively).
DEC_NAMES = ("dec", "dej2000", "decj2000", "de_icrs", "dec_icrs", "dec_j2000", "dec2000", "decdeg", "dec_deg",
             "dec_d", "de", "delta_j2000", "deltawin_j2000", "delta_sky", "delta", "y_world", "ywin_world",
             "dec_fk5", "de_fk5", "_dej2000", "declination", "deb1950", "dec1950", "dec_b1950", "delta_b1950")
#: Galactic longitude / latitude names (used when no RA/Dec pair is found).
GLON_NAMES = ("glon", "l", "lii", "gal_l", "_glon", "glon_deg")
GLAT_NAMES = ("glat", "b", "bii", "gal_b", "_glat", "glat_deg")

_B1950_NAMES = {"rab1950", "ra1950", "ra_b1950", "alpha_b1950", "deb1950", "dec1950", "dec_b1950", "delta_b1950"}
_ICRS_NAMES = {"ra_icrs", "de_icrs", "dec_icrs"}
_FK5_NAMES = {"ra_fk5", "dec_fk5", "de_fk5"}

_FRAME_ALIASES = {
    "icrs": "icrs", "fk5": "fk5", "j2000": "fk5", "eq_fk5": "fk5", "fk4": "fk4", "b1950": "fk4",
    "eq_fk4": "fk4", "galactic": "galactic", "gal": "galactic",
}


def find_column(colnames, names, explicit=None, what="column"):
    """Name of the first column matching ``names`` case-insensitively (or ``explicit``).

    Parameters
    ----------
    colnames : list of str
        The table's column names.
    names : sequence of str
        Candidate names, lower case, in order of preference.
    explicit : str, optional
        A name given by the caller; must exist (case-insensitively).
    what : str
        What is looked for, for the error message.

    Returns
    -------
    name : str or None
        The column's actual name, or None when nothing matches and ``explicit`` is None.

    Raises
    ------
    WorkbookError
        If ``explicit`` is not a column.
    """
    lower = {}
    for c in colnames:
        lower.setdefault(c.lower(), c)
    if explicit is not None:
        if explicit.lower() not in lower:
            raise WorkbookError(f"{what} column {explicit!r} is not in the table; its columns are "
                                f"{', '.join(colnames)}")
        return lower[explicit.lower()]
    for name in names:
        if name in lower:
            return lower[name]
    return None


# separators of sexagesimal fields, all turned into spaces before splitting
_SEPARATORS = tuple("hdmsHDMS:°'\"\u2032\u2033\t")


def _split_fields(values, use_ufuncs=None):
    """Stripped text and its first, second and the rest of the fields, as string arrays.

    Separators (``h m s d : ° ' "``) become spaces. With numpy >= 2.3 this runs in numpy's
    string ufuncs (C loops); older numpy takes one Python ``str.split`` per value.
    """
    text = np.char.strip(np.asarray(values, dtype=str))
    present = set("".join(text.tolist())) & set(_SEPARATORS)  # replace only what occurs: each pass costs
    if use_ufuncs is None:
        use_ufuncs = hasattr(np, "strings") and hasattr(np.strings, "partition")
    if use_ufuncs:
        spaced = text
        for sep in present:
            spaced = np.strings.replace(spaced, sep, " ")
        first, _, rest = np.strings.partition(spaced, " ")
        second, _, third = np.strings.partition(np.strings.lstrip(rest), " ")
        return text, first, second, np.strings.strip(third)
    table = str.maketrans({c: " " for c in present})
    parts = [t.translate(table).split(maxsplit=2) + ["", ""] for t in text.tolist()]
    return (text, np.array([p[0] for p in parts]), np.array([p[1] for p in parts]),
            np.array([p[2].strip() for p in parts]))


def parse_sexagesimal(values, hours, what="RA"):
    """Parse sexagesimal strings (``"03:32:39.0"``, ``"3h32m39s"``, ``"-27 47 29.1"``) to degrees.

    Vectorised with numpy's string ufuncs (separators replaced, fields partitioned, numbers
    parsed in C): astropy's `~astropy.coordinates.Angle` parser takes ~0.1 ms per string, too
    slow for 10^5 targets (it is the reference the tests compare with). Plain decimal strings are
    accepted too (taken as hours when ``hours`` is True, like astropy with ``unit='hourangle'``).

    Parameters
    ----------
    values : sequence of str
    hours : bool
        True for RA in hours (``hh:mm:ss``); False for degrees (``dd:mm:ss``).
    what : str
        Column description for the error message.

    Returns
    -------
    degrees : `~numpy.ndarray` of float64

    Raises
    ------
    WorkbookError
        Naming the first garbage row (1-based data row) and how many are bad.

    Examples
    --------
    >>> parse_sexagesimal(["03:32:39.0", "3h32m39s"], hours=True)
    array([53.1625, 53.1625])
    >>> parse_sexagesimal(["-00:30:00"], hours=False)
    array([-0.5])
    """
    if isinstance(values, (str, bytes)) or np.ndim(values) != 1:
        raise WorkbookError(f"{what} values = {values!r:.40} are not a list of sexagesimal strings; give one string "
                            "per target, e.g. ['03:32:39.0']")
    text, first, second, third = _split_fields(values)
    lengths = (first != "").astype(np.int64) + (second != "") + (third != "")
    bad = (first == "") | (np.char.find(third, " ") >= 0)
    columns = [first, np.where(second == "", "0", second), np.where(third == "", "0", third)]
    try:
        signed = np.stack([c.astype(float) for c in columns], axis=1)
    except ValueError:  # some field is not a number: find which rows, one by one (rare path)
        signed = np.zeros((len(text), 3))
        for i, parts in enumerate(zip(*columns)):
            try:
                signed[i] = [float(p) for p in parts]
            except ValueError:
                bad[i] = True
    fields = np.abs(signed)
    negative = np.char.startswith(text, "-")
    # a sign or a fraction before a later field, or minutes/seconds of 60 and more, is not sexagesimal
    several = lengths > 1
    bad |= several & ((signed[:, 0] != np.round(signed[:, 0])) | (signed[:, 1] < 0) | (signed[:, 2] < 0))
    bad |= (lengths > 2) & (signed[:, 1] != np.round(signed[:, 1]))
    bad |= (fields[:, 1] >= 60) | (fields[:, 2] >= 60) | ~np.isfinite(fields).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        example = values[rows[0]]
        raise WorkbookError(
            f"{what}: {bad.sum()} value(s) are not sexagesimal or decimal numbers, first at data row {rows[0] + 1} "
            f"({str(example)!r}); fix those rows (e.g. '03:32:39.0' for RA in hours, '-27:47:29.1' for Dec)")
    value = fields[:, 0] + fields[:, 1] / 60.0 + fields[:, 2] / 3600.0
    value = np.where(negative, -value, value)
    return value * 15.0 if hours else value


def angle_column_deg(column, is_ra, name):
    """Values of one position column in degrees, and a note on how they were read.

    Numeric columns use their unit (``deg``, ``hourangle``, ``rad``, ``arcsec`` ...); without
    a unit they are taken as degrees. String columns of decimal numbers are degrees; other
    strings are sexagesimal (hours for RA unless marked with ``d``/``°``, degrees for Dec).

    Parameters
    ----------
    column : `~astropy.table.Column`
    is_ra : bool
    name : str
        Column name for messages.

    Returns
    -------
    degrees : `~numpy.ndarray` of float64
        Masked entries become NaN.
    note : str
        E.g. ``"RA: sexagesimal hours"``.

    Raises
    ------
    WorkbookError
        A non-angle unit, garbage strings (which row).
    """
    import astropy.units as u

    kind = column.dtype.kind
    mask = np.ma.getmaskarray(column) if hasattr(column, "mask") else np.zeros(len(column), bool)
    if kind in "fiu":
        values = np.ma.filled(np.ma.asarray(column, dtype=float), np.nan)
        unit = _angle_unit(getattr(column, "unit", None), is_ra)
        if unit is None:
            return values, f"{name}: numbers without a unit, taken as degrees"
        try:
            degrees = (values * unit).to_value(u.deg)
            return degrees, (f"{name}: degrees" if unit == u.deg else f"{name}: unit {unit} converted to deg")
        except (u.UnitsError, ValueError, TypeError):
            raise WorkbookError(f"column {name!r} has unit {unit}, which is not an angle; give RA/Dec in deg, "
                                "hourangle or sexagesimal, or name the right column with ra_col=/dec_col=") from None
    if kind not in "US":
        raise WorkbookError(f"column {name!r} holds {column.dtype} values, not positions; "
                            "name the right column with ra_col=/dec_col=")
    text = np.asarray(np.ma.filled(column.astype(str), ""), dtype=str)
    text = np.char.strip(text)
    lowered = np.char.lower(text)
    mask = mask | (text == "") | (lowered == "nan") | (lowered == "--") | (lowered == "null") | (lowered == "none")
    out = np.full(len(text), np.nan)
    good = ~mask
    try:
        out[good] = text[good].astype(float)
        return out, f"{name}: decimal degrees given as text"
    except ValueError:
        pass
    sample = text[good][:50]
    unit_text = str(getattr(column, "unit", "") or "").lower()
    marked_degrees = is_ra and ("d:m:s" in unit_text or any(("d" in s.lower()) or ("°" in s) for s in sample))
    hours = is_ra and not marked_degrees
    # empty rows parse as 0 and are set back to NaN, so a garbage row keeps its table row number
    out = parse_sexagesimal(list(np.where(good, text, "0")), hours=hours, what=f"column {name!r}")
    out[~good] = np.nan
    return out, f"{name}: sexagesimal {'hours' if hours else 'degrees'}"


_UNIT_ALIASES = {"deg": "deg", "degree": "deg", "degrees": "deg", "rad": "rad", "radian": "rad", "radians": "rad",
                 "arcsec": "arcsec", "arcmin": "arcmin", "mas": "mas", "hourangle": "hourangle"}
_HOUR_NAMES = {"h", "hr", "hour", "hours", "hourangle", "hh"}


def _angle_unit(unit, is_ra):
    """An astropy angle unit from a table's unit, forgiving FITS/VizieR spellings (``DEG``, ``degrees``).

    For RA a time-like hour (``h``, ``hr``, ``hours``) means hour angle, as catalogs use it.
    Returns None for no unit; an unparsable unit is returned as it is (the caller refuses it).
    """
    import astropy.units as u

    if unit is None:
        return None
    text = str(unit).strip().strip('"').lower()
    if text == "":
        return None
    if is_ra and text in _HOUR_NAMES:
        return u.hourangle
    if text in _UNIT_ALIASES:
        return u.Unit(_UNIT_ALIASES[text])
    return unit if isinstance(unit, u.UnitBase) else u.Unit(str(unit), parse_strict="silent")


def normalise_frame(frame, equinox=None):
    """Lower-case frame name (``icrs``, ``fk5``, ``fk4``, ``galactic``) from a user/file string.

    Parameters
    ----------
    frame : str or None
        E.g. ``"ICRS"``, ``"FK5"``, ``"J2000"``, ``"eq_FK5"``, ``"B1950"``, ``"galactic"``.
    equinox : str or float, optional
        An equinox stated with it (FITS ``EQUINOX``): 1950 means FK4 when the frame is missing.

    Returns
    -------
    name : str or None

    Raises
    ------
    WorkbookError
        An unknown frame name.
    """
    if frame is None or str(frame).strip() == "":
        if equinox is not None:
            try:
                eq = float(str(equinox).strip().lstrip("JjBb"))
            except ValueError:
                return None
            return "fk4" if eq < 1984 else "fk5"
        return None
    key = str(frame).strip().lower()
    if key not in _FRAME_ALIASES:
        raise WorkbookError(f"coordinate frame {frame!r} is not supported; use frame='icrs', 'fk5', 'galactic' "
                            "(converted to ICRS) or 'fk4' (converted with a warning)")
    return _FRAME_ALIASES[key]


def frame_from_names(*colnames):
    """Frame implied by position column names, or None (``RA_ICRS`` -> icrs, ``RAB1950`` -> fk4)."""
    names = {str(c).lower() for c in colnames if c}
    if names & _B1950_NAMES:
        return "fk4"
    if names & _FK5_NAMES:
        return "fk5"
    if names & _ICRS_NAMES:
        return "icrs"
    return None


def to_icrs(lon_deg, lat_deg, frame, equinox=None, explicit=False):
    """Convert longitudes/latitudes (deg) in ``frame`` to ICRS RA/Dec (deg).

    Parameters
    ----------
    lon_deg, lat_deg : `~numpy.ndarray`
        Finite values (NaN rows are left NaN).
    frame : {'icrs', 'fk5', 'fk4', 'galactic'}
    equinox : str, optional
        FK5/FK4 equinox (default J2000 / B1950).
    explicit : bool
        Whether the caller asked for ``frame`` (FK4 is refused otherwise).

    Returns
    -------
    ra, dec : `~numpy.ndarray`, deg, ICRS
    note : str or None
        One line describing the conversion (None for ICRS).

    Raises
    ------
    WorkbookError
        FK4/B1950 not requested explicitly.
    """
    if frame == "icrs":
        return lon_deg, lat_deg, None
    from astropy.coordinates import FK4, FK5, Galactic, SkyCoord
    import astropy.units as u

    if frame == "fk4" and not explicit:
        raise WorkbookError("the target list is in FK4/B1950; its conversion to ICRS needs each target's epoch and "
                            "proper motion and is good to ~0.1-1\" at best, far worse than the 5-10 mas goal: give ICRS "
                            "positions, or pass frame='fk4' to convert anyway")
    good = np.isfinite(lon_deg) & np.isfinite(lat_deg)
    ra = np.full(lon_deg.shape, np.nan)
    dec = np.full(lat_deg.shape, np.nan)
    if frame == "fk5":
        src = FK5(equinox=equinox or "J2000")
    elif frame == "fk4":
        src = FK4(equinox=equinox or "B1950", obstime=equinox or "B1950")
    else:
        src = Galactic()
    if good.any():
        c = SkyCoord(lon_deg[good] * u.deg, lat_deg[good] * u.deg, frame=src).icrs
        ra[good], dec[good] = c.ra.deg, c.dec.deg
    label = {"fk5": f"FK5 {equinox or 'J2000'}", "fk4": f"FK4 {equinox or 'B1950'}", "galactic": "Galactic l/b"}[frame]
    note = f"positions converted from {label} to ICRS with astropy"
    if frame == "fk4":
        note += " (no proper motions: good to ~0.1-1\" only)"
        warnings.warn(f"target list: {note}", TargetListWarning, stacklevel=4)
    return ra, dec, note
