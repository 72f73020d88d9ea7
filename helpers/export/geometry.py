"""Tangent-plane geometry shared by the MPT checks and the MSATA selection (notebook 05)."""

import math

import numpy as np

from ..skyplane import sky_to_tangent, tangent_point, unit_vectors

__all__ = [
    "tangent_plane_arcsec",
]


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
    """Mean-direction centre (deg, :func:`helpers.skyplane.tangent_point`) and largest angular distance from it (deg)."""
    try:
        ra0, dec0 = tangent_point(ra, dec)
    except ValueError:
        return 0.0, 0.0, 180.0
    m = unit_vectors([ra0], [dec0])[0]
    v = unit_vectors(ra, dec)
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
