"""Input helpers shared by every method: numeric columns in a unit, checked RA/Dec, angles in mas.

:func:`tangent_plane_mas` gives gnomonic offsets (mas) about a tangent point with
:func:`helpers.skyplane.sky_to_tangent`; the private helpers read catalog columns as float arrays
(masked -> NaN, converted to a unit), find and check the RA/Dec columns (frame, NaN, degrees)
and turn a match radius into mas, raising :class:`~helpers.errors.WorkbookError` on bad input.

Units: RA/Dec in degrees; offsets and radii in mas.
"""

import math

import numpy as np

from ..errors import WorkbookError
from ..skyplane import sky_to_tangent

__all__ = [
    "tangent_plane_mas",
]

_RA_NAMES = ("ra", "RA", "RAJ2000", "ra_deg", "MatchRA", "ALPHA_J2000", "RA_ICRS")
_DEC_NAMES = ("dec", "DEC", "Dec", "DEJ2000", "dec_deg", "MatchDec", "DELTA_J2000", "DE_ICRS")


# --------------------------------------------------------------------------- input helpers
def _col_values(table, name, unit=None):
    """Column as a float ndarray in ``unit`` (masked -> NaN)."""
    col = table[name]
    try:
        values = np.array(np.ma.getdata(col), dtype=float)
    except (TypeError, ValueError):
        raise WorkbookError(f"column {name!r} is not numeric; it must hold numbers") from None
    if unit is not None and getattr(col, "unit", None) is not None:
        import astropy.units as u

        try:
            values = u.Quantity(values, col.unit).to_value(unit)
        except (u.UnitConversionError, ValueError, TypeError):
            raise WorkbookError(f"column {name!r} has unit {col.unit}, expected something convertible to {unit}; "
                                "fix the column unit") from None
    mask = np.ma.getmaskarray(col)
    if mask.any():
        values[mask] = np.nan
    return values


def _require_table(table, what, columns=()):
    """``table`` if it is an astropy Table holding ``columns``; else one `WorkbookError` line."""
    from ..validate import require_table

    return require_table(table, what, columns, hint=f"give a catalog with {list(columns)} as an astropy Table "
                         "(as helpers.sources.extract_sources writes it, or read with Table.read(path))")


def _require_record(record, what, keys, made_by):
    """``record`` if it is a dict holding ``keys`` (a result of ``made_by``); else one `WorkbookError` line."""
    if not isinstance(record, dict) or any(k not in record for k in keys):
        shown = f"a dict without {[k for k in keys if k not in record]}" if isinstance(record, dict) else \
            f"a {type(record).__name__} ({record!r:.40})"
        raise WorkbookError(f"{what} is {shown}; pass the result of {made_by}")
    return record


def _find(table, names):
    for name in names:
        if name in table.colnames:
            return name
    return None


def _radec(table, what, drop_nan=False):
    """RA, Dec (deg) arrays of a catalog and the boolean mask of usable rows."""
    if table is None or not hasattr(table, "colnames"):
        raise WorkbookError(f"{what} is not a table; give an astropy Table with ra and dec columns (degrees)")
    ra_name, dec_name = _find(table, _RA_NAMES), _find(table, _DEC_NAMES)
    if ra_name is None or dec_name is None:
        raise WorkbookError(f"{what} has no ra/dec columns (found: {', '.join(table.colnames[:8])}); "
                            "name them 'ra' and 'dec' in degrees")
    frame = str(table.meta.get("frame", table.meta.get("radesys", "icrs"))).lower()
    if frame not in ("icrs", "gaia", "gaiadr3", "gaia dr3", "none", ""):
        raise WorkbookError(f"{what} is in frame {frame!r}; convert it to ICRS first "
                            "(SkyCoord(ra, dec, frame=...).icrs) and set meta['frame'] = 'icrs'")
    import astropy.units as u

    ra = _col_values(table, ra_name, u.deg)
    dec = _col_values(table, dec_name, u.deg)
    good = np.isfinite(ra) & np.isfinite(dec)
    if len(ra) == 0:
        raise WorkbookError(f"{what} is empty; it needs sources with ra and dec")
    if not good.all() and not drop_nan:
        bad = np.flatnonzero(~good)
        raise WorkbookError(f"{what} has {bad.size} row(s) with NaN ra/dec (first rows: {bad[:5].tolist()}); "
                            "remove them or pass drop_nan=True")
    if good.sum() == 0:
        raise WorkbookError(f"{what} has no finite ra/dec; check the catalog")
    if np.any(np.abs(dec[good]) > 90):
        raise WorkbookError(f"{what} has |dec| > 90 deg; ra/dec must be in degrees")
    return ra, dec, good


def tangent_plane_mas(ra, dec, ra0, dec0):
    """Gnomonic (tangent-plane) offsets of ``ra, dec`` about ``ra0, dec0``.

    Parameters
    ----------
    ra, dec : array-like
        Positions, degrees.
    ra0, dec0 : float
        Tangent point, degrees.

    Returns
    -------
    xi, eta : ndarray
        Offsets towards East (RA*cos(Dec)) and North, mas.

    Examples
    --------
    >>> xi, eta = tangent_plane_mas(10.001, 0.0, 10.0, 0.0)
    >>> round(float(xi), 3), round(float(eta), 3)
    (3600.0, 0.0)
    """
    return sky_to_tangent(ra, dec, ra0, dec0, unit="mas")


def _as_mas(value, what):
    """A max_sep-like value (Quantity or arcsec float) in mas."""
    if hasattr(value, "unit"):
        import astropy.units as u

        try:
            return float(value.to_value(u.mas))
        except u.UnitConversionError:
            raise WorkbookError(f"{what} = {value} is not an angle; give e.g. 0.3*u.arcsec") from None
    try:
        out = float(value) * 1000.0
    except (TypeError, ValueError):
        raise WorkbookError(f"{what} = {value!r} is not a number; give arcsec (e.g. 0.3) or a Quantity") from None
    if not math.isfinite(out) or out <= 0:
        raise WorkbookError(f"{what} = {value!r} must be a positive angle in arcsec, e.g. 0.3")
    return out
