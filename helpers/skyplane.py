"""The gnomonic (TAN) tangent plane, shared by every step that works in a local flat frame.

Footprint overlaps (``archive``), catalog fits and bootstraps (``astrometry``), isolation and
span checks (``export``) and the simulated scenes (``simulate``) all use these standard
coordinates: ``xi`` towards East (along RA·cos Dec) and ``eta`` towards North, about a tangent
point. Great circles map to straight lines, so polygon edges stay exact.
"""

import math

import numpy as np

from .validate import require_array, require_number
from .errors import WorkbookError

__all__ = ["UNIT_PER_RADIAN", "sky_to_tangent", "tangent_to_sky", "unit_vectors", "tangent_point", "offset_radec"]

#: Standard-coordinate units per radian.
UNIT_PER_RADIAN = {"rad": 1.0, "deg": math.degrees(1.0), "arcsec": math.degrees(1.0) * 3600.0,
                   "mas": math.degrees(1.0) * 3.6e6}


def _pair(a, b, names, what):
    """Two broadcastable float arrays, or one WorkbookError line (the public-boundary check)."""
    a = require_array(a, names[0], ndim=None, what=what)
    b = require_array(b, names[1], ndim=None, what=what)
    if a.shape != b.shape:
        try:
            np.broadcast_shapes(a.shape, b.shape)
        except ValueError:
            raise WorkbookError(f"{names[0]} has shape {a.shape} and {names[1]} {b.shape}; give one "
                                f"{names[0]} and one {names[1]} per position") from None
    return a, b


def _centre(ra0, dec0, unit):
    if unit not in UNIT_PER_RADIAN:
        raise WorkbookError(f"unit = {unit!r} is not one of {sorted(UNIT_PER_RADIAN)}; choose one of them")
    return (require_number(ra0, "ra0", example="53.16 (degrees)"),
            require_number(dec0, "dec0", minimum=-90.0, maximum=90.0, example="-27.79 (degrees)"))


def sky_to_tangent(ra, dec, ra0, dec0, unit="arcsec", far_as_nan=False):
    """Gnomonic projection of ``ra, dec`` about the tangent point ``ra0, dec0``.

    Parameters
    ----------
    ra, dec : array_like
        Positions, degrees.
    ra0, dec0 : float
        Tangent point, degrees.
    unit : {'rad', 'deg', 'arcsec', 'mas'}
        Unit of the returned standard coordinates.
    far_as_nan : bool
        Return NaN for points about 90 degrees or more from the tangent point (where the
        projection diverges or flips), instead of the raw formula's values.

    Returns
    -------
    xi, eta : `numpy.ndarray`
        East and North standard coordinates in ``unit``.

    Examples
    --------
    >>> xi, eta = sky_to_tangent(10.001, 0.0, 10.0, 0.0, unit="mas")
    >>> round(float(xi), 3), round(float(eta), 3)
    (3600.0, 0.0)
    """
    ra, dec = _pair(ra, dec, ("ra", "dec"), "degrees")
    ra0, dec0 = _centre(ra0, dec0, unit)
    a = np.radians(ra - ra0)
    d = np.radians(dec)
    d0 = math.radians(dec0)
    cosd, sind, cosa = np.cos(d), np.sin(d), np.cos(a)
    cosc = math.sin(d0) * sind + math.cos(d0) * cosd * cosa
    with np.errstate(divide="ignore", invalid="ignore"):
        xi = cosd * np.sin(a) / cosc
        eta = (math.cos(d0) * sind - math.sin(d0) * cosd * cosa) / cosc
    if far_as_nan:
        far = ~(cosc > 1e-3)
        xi = np.where(far, np.nan, xi)
        eta = np.where(far, np.nan, eta)
    k = UNIT_PER_RADIAN[unit]
    return xi * k, eta * k


def tangent_to_sky(xi, eta, ra0, dec0, unit="arcsec"):
    """Inverse of :func:`sky_to_tangent`.

    Parameters
    ----------
    xi, eta : array_like
        East and North standard coordinates in ``unit``.
    ra0, dec0 : float
        Tangent point, degrees.
    unit : {'rad', 'deg', 'arcsec', 'mas'}

    Returns
    -------
    ra, dec : `numpy.ndarray`
        Degrees, RA in [0, 360).

    Examples
    --------
    >>> ra, dec = tangent_to_sky(*sky_to_tangent(53.2, -27.8, 53.16, -27.79), 53.16, -27.79)
    >>> round(float(ra), 9), round(float(dec), 9)
    (53.2, -27.8)
    """
    xi, eta = _pair(xi, eta, ("xi", "eta"), unit if isinstance(unit, str) else "offsets")
    ra0, dec0 = _centre(ra0, dec0, unit)
    k = UNIT_PER_RADIAN[unit]
    xi = xi / k
    eta = eta / k
    d0 = math.radians(dec0)
    denom = math.cos(d0) - eta * math.sin(d0)
    ra = math.radians(ra0) + np.arctan2(xi, denom)
    dec = np.arctan2(math.sin(d0) + eta * math.cos(d0), np.hypot(xi, denom))
    return np.degrees(ra) % 360.0, np.degrees(dec)


def unit_vectors(ra, dec):
    """Cartesian unit vectors, shape (N, 3), of positions in degrees."""
    ra, dec = np.broadcast_arrays(*_pair(ra, dec, ("ra", "dec"), "degrees"))
    ra, dec = np.radians(ra), np.radians(dec)
    cd = np.cos(dec)
    return np.column_stack([cd * np.cos(ra), cd * np.sin(ra), np.sin(dec)])


def tangent_point(ra, dec):
    """Sphere-safe centre of a set of positions: the direction of the mean unit vector.

    A median or mean of RA breaks for fields straddling RA = 0/360 (it can land at 180 deg) and
    near the poles; the mean unit vector does not. Every module takes its tangent point here.

    Parameters
    ----------
    ra, dec : array_like
        Positions, degrees; non-finite rows are ignored.

    Returns
    -------
    ra0, dec0 : float
        Tangent point, degrees, RA in [0, 360).

    Raises
    ------
    ValueError
        No finite position, or positions spread so evenly over the sphere that they have no centre.

    Examples
    --------
    >>> ra0, dec0 = tangent_point([359.99, 0.01], [0.0, 0.0])
    >>> round(ra0 % 360.0, 6) in (0.0, 360.0), round(dec0, 6)
    (True, 0.0)
    """
    ra, dec = _pair(ra, dec, ("ra", "dec"), "degrees")
    ra, dec = ra.ravel(), dec.ravel()
    if ra.size != dec.size:
        raise WorkbookError(f"ra has {ra.size} values and dec {dec.size}; give one dec per ra")
    good = np.isfinite(ra) & np.isfinite(dec)
    if not good.any():
        raise ValueError("no finite RA/Dec to take a tangent point from")
    m = unit_vectors(ra[good], dec[good]).sum(axis=0)
    norm = float(np.linalg.norm(m))
    if norm < 1e-9 * good.sum():
        raise ValueError("the positions cover the sphere evenly and have no centre")
    m /= norm
    ra0 = math.degrees(math.atan2(m[1], m[0])) % 360.0
    dec0 = math.degrees(math.asin(max(-1.0, min(1.0, m[2]))))
    return ra0, dec0


def offset_radec(ra, dec, d_ra_arcsec, d_dec_arcsec):
    """One position moved by (dRA cos Dec, dDec) arcsec along the great circle of that direction.

    The offset of a pointing as a planner gives it (a nudge, a search step, a start moved onto a
    quadrant): ``hypot(d_ra, d_dec)`` arcsec at the position angle ``atan2(d_ra, d_dec)``.

    Parameters
    ----------
    ra, dec : float
        Position, degrees.
    d_ra_arcsec, d_dec_arcsec : float
        Offsets towards East (a true angle, already multiplied by cos Dec) and North, arcsec.

    Returns
    -------
    (float, float)
        RA, Dec of the moved position, degrees (the inputs themselves for a zero offset).

    Examples
    --------
    >>> ra, dec = offset_radec(53.1625, -27.791417, 0.0, 36.0)
    >>> round(ra, 6), round(dec, 6)
    (53.1625, -27.781417)
    """
    ra = require_number(ra, "ra", minimum=-360.0, maximum=720.0, example="53.16")
    dec = require_number(dec, "dec", minimum=-90.0, maximum=90.0, example="-27.79")
    d_ra = require_number(d_ra_arcsec, "d_ra_arcsec", example="0.5")
    d_dec = require_number(d_dec_arcsec, "d_dec_arcsec", example="-0.3")
    if not (d_ra or d_dec):
        return ra, dec
    from astropy.coordinates import SkyCoord
    import astropy.units as u

    c = SkyCoord(ra * u.deg, dec * u.deg).directional_offset_by(
        math.degrees(math.atan2(d_ra, d_dec)) * u.deg, math.hypot(d_ra, d_dec) * u.arcsec)
    return float(c.ra.deg), float(c.dec.deg)
