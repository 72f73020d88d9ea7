"""Differential velocity aberration of an MSA pointing (notebook 04).

JWST's motion makes the field look scaled about the pointing by ``f = (1 + u.beta) / sqrt(1 -
beta^2)`` (``u`` unit vector to the target, ``beta`` = velocity / c), ~1 +- 1e-4: a few mas at
the MSA edges. The jwst pipeline applies the same factor (``stcal.velocity_aberration.
compute_va_effects``; ``assign_wcs`` scales V2/V3 offsets from the aperture reference point by it
on the way to the sky), and APT/hMPT/vMPT model it for planning.

Model of JWST's velocity (stated, approximate): JWST orbits the Sun with the Earth-Moon system at
the Sun-Earth L2 point, 1.01 AU from the Sun, so its barycentric velocity is taken as the
Earth-Moon barycentre's (astropy ``get_body_barycentric_posvel``) scaled by 1.01; the halo orbit
about L2 (< 1 km/s, ~3e-6 in ``f``) is neglected.

Peers differ here. jwst-vmpt 1.8.0 (``vmpt.optimizer.radec_to_axy``) multiplies the sky offsets
from the reference point by ``1 / (1 - 30/3e5 cos(theta - V3PA))`` with APT's parameter
``theta``; its default ``theta = 90`` deg is documented there as "no correction" but is a scale of
``1 / (1 - 1e-4 sin V3PA)``, up to 1e-4 (13 mas at the MSA edges) at V3PA near +-90 deg, set by
the roll alone rather than by the date and the target direction. `vmpt_va_factor` gives the
factor to pass as ``MSAPointing(..., velocity_aberration=...)`` to reproduce vMPT's geometry
(tests/test_apt_conventions.py shows the counts then agree to <= 1 %, and that the 3 % gap seen
with ours switched off is this scale).
"""

import math

import numpy as np

from ..errors import WorkbookError
from ..validate import require_number

__all__ = ["VA_FACTOR_RANGE", "velocity_aberration_factor", "check_va_factor", "vmpt_va_factor"]

#: Factors outside this range are not velocity aberration (|v| ~ 30 km/s gives 1e-4).
VA_FACTOR_RANGE = (0.999, 1.001)

_L2_DISTANCE_RATIO = 1.01  # Sun-L2 over Sun-Earth distance


def check_va_factor(factor):
    """The factor as a float, or a one-line `WorkbookError` when it is not 0.999-1.001."""
    try:
        f = float(factor)
    except (TypeError, ValueError):
        raise WorkbookError(f"velocity-aberration factor {factor!r} is not a number; give ~1.0001 or None to derive it") from None
    if not (math.isfinite(f) and VA_FACTOR_RANGE[0] <= f <= VA_FACTOR_RANGE[1]):
        raise WorkbookError(f"velocity-aberration factor {f!r} is outside {VA_FACTOR_RANGE[0]}-{VA_FACTOR_RANGE[1]}; "
                            "it is 1 +- ~1e-4 (use False to switch it off)")
    return f


def velocity_aberration_factor(ra, dec, epoch):
    """Differential velocity-aberration scale factor towards (ra, dec) at an epoch.

    Parameters
    ----------
    ra, dec : float
        Target (pointing) direction, ICRS degrees.
    epoch : str, float or `~astropy.time.Time`
        Observation date: ISO string, decimal year (float) or a Time.

    Returns
    -------
    float
        ``(1 + u.beta) / sqrt(1 - beta^2)``, within `VA_FACTOR_RANGE`.

    Examples
    --------
    >>> f = velocity_aberration_factor(53.16, -27.79, "2027-01-01")
    >>> 0.9999 < f < 1.0001
    True
    """
    from astropy import constants, units as u
    from astropy.coordinates import get_body_barycentric_posvel
    from astropy.time import Time

    try:
        t = epoch if isinstance(epoch, Time) else (Time(float(epoch), format="decimalyear", scale="tdb")
                                                    if isinstance(epoch, (int, float)) else Time(str(epoch), scale="utc"))
    except (TypeError, ValueError) as exc:
        raise WorkbookError(f"observation epoch {epoch!r} is not a date ({exc.__class__.__name__}); "
                            "give an ISO date such as '2027-03-01' or a decimal year") from None
    _, vel = get_body_barycentric_posvel("earth-moon-barycenter", t)
    beta = vel.xyz.to_value(u.km / u.s) * _L2_DISTANCE_RATIO / constants.c.to_value(u.km / u.s)
    r = math.radians(require_number(ra, "ra", example="53.16 (degrees)"))
    d = math.radians(require_number(dec, "dec", minimum=-90.0, maximum=90.0, example="-27.79 (degrees)"))
    unit = np.array([math.cos(d) * math.cos(r), math.cos(d) * math.sin(r), math.sin(d)])
    return float((1.0 + unit @ beta) / math.sqrt(1.0 - beta @ beta))


def vmpt_va_factor(pa_v3, theta_deg=90.0):
    """The velocity-aberration factor jwst-vmpt 1.8.0 applies, in this package's convention.

    vMPT scales sky offsets by ``m = 1 / (1 - 30/3e5 cos(theta - pa_v3))`` on the way to the
    MSA; `MSAPointing` divides V2/V3 offsets by its factor on that way, so the equivalent factor
    is ``1 / m``. Use it only to compare with vMPT (see the module docstring).

    Parameters
    ----------
    pa_v3 : float
        V3 position angle at the ``NRS_FULL_MSA`` reference point, degrees (APA - V3IdlYAngle).
    theta_deg : float
        vMPT's ``theta_deg`` (APT's velocity-aberration parameter; vMPT's default 90).

    Returns
    -------
    float

    Examples
    --------
    >>> round(vmpt_va_factor(270.0), 6), vmpt_va_factor(10.0, theta_deg=100.0)
    (1.0001, 1.0)
    """
    return check_va_factor(1.0 - 30.0 / 3e5 * math.cos(math.radians(float(theta_deg) - float(pa_v3))))
