"""Checks on a target list's positions: finite, in range, and within MPT's 1 degree extent."""

import math

import numpy as np

from ..errors import WorkbookError
from ..skyplane import unit_vectors

__all__ = ["MPT_MAX_RADIUS_DEG", "check_positions", "centre_and_radius"]

#: Largest radial extent of an MPT catalog from its centre, degrees (JDox "MPT Catalogs -
#: Examples": "the catalog must have a radial extent from its center of less than 1 degree").
MPT_MAX_RADIUS_DEG = 1.0


def _rows(mask, ids=None, limit=5):
    rows = np.flatnonzero(mask)
    text = ", ".join(str(r + 1) for r in rows[:limit]) + (" ..." if rows.size > limit else "")
    if ids is not None:
        text += f" (IDs {', '.join(str(v) for v in np.asarray(ids)[rows[:limit]])})"
    return text


def centre_and_radius(ra, dec):
    """Mean-direction centre and the largest angular distance from it.

    Parameters
    ----------
    ra, dec : `~numpy.ndarray`, deg

    Returns
    -------
    ra0, dec0 : float, deg
    radius : float, deg
    farthest : int
        Index of the target farthest from the centre.

    Examples
    --------
    >>> ra0, dec0, r, i = centre_and_radius(np.array([10.0, 10.2]), np.array([0.0, 0.0]))
    >>> round(ra0, 6), round(r, 6), i in (0, 1)
    (10.1, 0.1, True)
    """
    v = unit_vectors(ra, dec)
    m = v.sum(axis=0)
    norm = float(np.linalg.norm(m))
    if norm < 1e-12:  # points spread over the whole sphere: no meaningful centre
        return 0.0, 0.0, 180.0, 0
    m /= norm
    cosines = v @ m
    farthest = int(np.argmin(cosines))
    ra0 = math.degrees(math.atan2(m[1], m[0])) % 360.0
    dec0 = math.degrees(math.asin(max(-1.0, min(1.0, m[2]))))
    radius = math.degrees(math.acos(max(-1.0, min(1.0, float(cosines[farthest])))))
    return ra0, dec0, radius, farthest


def check_positions(ra, dec, ids=None, max_radius_deg=MPT_MAX_RADIUS_DEG, source="target list"):
    """Refuse NaN, out-of-range and too widely spread positions with one line naming the rows.

    Parameters
    ----------
    ra, dec : `~numpy.ndarray`, deg, ICRS
    ids : array-like, optional
        Target IDs, quoted with the row numbers.
    max_radius_deg : float or None
        Largest distance from the list's centre (MPT: < 1 deg); None skips the check.
    source : str
        What is checked, for the messages.

    Returns
    -------
    ra0, dec0, radius : float, deg
        The list's centre and its radial extent.

    Raises
    ------
    WorkbookError
        Missing/NaN positions, RA outside [0, 360), Dec outside [-90, 90], an extent of
        ``max_radius_deg`` or more.
    """
    from ..validate import require_array, require_same_length
    ra = require_array(ra, "ra", what="RA in degrees")
    dec = require_array(dec, "dec", what="Dec in degrees")
    require_same_length(ra=ra, dec=dec)
    if len(ra) == 0:
        raise WorkbookError(f"the {source} has no rows; give a list with at least one target")
    missing = ~(np.isfinite(ra) & np.isfinite(dec))
    if missing.any():
        raise WorkbookError(f"{missing.sum()} target(s) have missing or NaN RA/Dec at data row(s) {_rows(missing, ids)}; "
                            "fix or drop those rows")
    bad_dec = (dec < -90) | (dec > 90)
    if bad_dec.any():
        raise WorkbookError(f"{bad_dec.sum()} Dec value(s) outside [-90, 90] deg at data row(s) {_rows(bad_dec, ids)}; "
                            "check the Dec column, its unit, and that RA and Dec are not swapped")
    bad_ra = (ra < 0) | (ra >= 360)
    if bad_ra.any():
        raise WorkbookError(f"{bad_ra.sum()} RA value(s) outside [0, 360) deg at data row(s) {_rows(bad_ra, ids)}; "
                            "check the RA column and its unit (degrees, or hours as 'hh:mm:ss')")
    ra0, dec0, radius, farthest = centre_and_radius(ra, dec)
    if max_radius_deg is not None and radius >= max_radius_deg:
        raise WorkbookError(
            f"the {source} extends {radius:.2f} deg from its centre (RA {ra0:.4f}, Dec {dec0:.4f} deg; farthest at data "
            f"row {farthest + 1}); MPT needs less than {max_radius_deg:g} deg: cut the list to the field "
            "(or pass max_radius_deg=None to read it anyway)")
    return ra0, dec0, radius
