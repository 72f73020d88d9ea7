"""Allowed NIRSpec MSA aperture position angles (APA) by date, offline from the solar ephemeris.

JWST keeps its sunshield between the telescope and the Sun: a target is observable when its
angle from the Sun (seen from JWST) lies within the field of regard, and the observatory may
roll away from the nominal attitude only by a few degrees, less at large pitch.

The rules are those implemented by ``jwst_gtvt`` 1.2 (``jwst_tvt.Ephemeris``: ``in_FOR``,
``normal_pa``, ``allowed_max_sun_roll``, ``allowed_max_vehicle_roll``), re-written here
vectorised over days:

* Sun angle ``d`` (target to Sun): visible when ``MIN_SUN_ANGLE_DEG < d < MAX_SUN_ANGLE_DEG``.
* Nominal V3PA = position angle of the Sun at the target + 180 deg (V3 points away from the Sun).
* Vehicle pitch ``p = 90 - d``; the Sun roll limit is 5.2 deg for Sun pitch <= 2.5 deg and falls
  linearly by 1.7 deg up to 5.2 deg pitch (minus a 0.1 deg pad); the vehicle roll limit solves
  ``sin(sun_pitch) = sin(p) / cos(sun_roll)`` by fixed-point iteration and is
  ``asin(sin(sun_roll) / cos(p))``.
* APA of ``NRS_FULL_MSA`` = V3PA + V3IdlYAngle (from pysiaf), the convention of APT and gtvt.

Where JWST is: at L2, on the Sun-Earth line, so the Sun's direction from JWST is its
geocentric direction (astropy's built-in ephemeris, valid for any date). JWST's Lissajous orbit
(amplitude up to ~8e5 km, ~0.3 deg seen from the Sun) is the main difference from gtvt, which
uses the JPL Horizons JWST ephemeris.
"""

import functools
import warnings

import numpy as np

from ..errors import WorkbookError
from ..validate import require_number

__all__ = ["apa_windows", "check_apa", "visible_periods", "MIN_SUN_ANGLE_DEG", "MAX_SUN_ANGLE_DEG",
           "GTVT_EPHEMERIS_RANGE", "nrs_msa_v3idlyangle", "EphemerisWarning"]

#: Field-of-regard limits (deg), ``jwst_gtvt/constants.py`` (JDox quotes 85-135 deg).
MIN_SUN_ANGLE_DEG = 84.8
MAX_SUN_ANGLE_DEG = 135.0
#: JWST ephemeris shipped in the jwst_gtvt 1.2 wheel (``data/ephemeris_2021-12-26_2025-06-12.txt``).
GTVT_EPHEMERIS_RANGE = ("2021-12-26", "2025-06-12")
LAUNCH_DATE = "2021-12-25"


class EphemerisWarning(UserWarning):
    """Dates fall outside the JWST ephemeris; the offline L2 approximation was used."""


@functools.lru_cache(maxsize=1)
def nrs_msa_v3idlyangle():
    """V3IdlYAngle of ``NRS_FULL_MSA`` (deg) from the pysiaf NIRSpec SIAF."""
    from ..msa import MSAPointing

    # MSAPointing reads the SIAF (offline, PRD shipped with pysiaf); reuse it, not a literal.
    return float(MSAPointing(0.0, 0.0, 0.0).v3idlyangle)


def _check_position(ra, dec):
    """RA, Dec (deg) as floats, or one WorkbookError line."""
    return (require_number(ra, "ra", minimum=-360.0, maximum=360.0, example="53.16 (degrees)"),
            require_number(dec, "dec", minimum=-90.0, maximum=90.0, example="-27.79 (degrees)"))


def _dates(start, end, step_days):
    from astropy.time import Time

    try:
        t0, t1 = Time(start), Time(end)
    except (ValueError, TypeError) as exc:
        raise WorkbookError(f"dates {start!r} .. {end!r} not understood ({exc}); give ISO dates like '2024-01-31'") from None
    step = require_number(step_days, "step_days", example="1")
    if not np.isfinite(step) or step <= 0:
        raise WorkbookError(f"step_days = {step_days!r}; give a positive number of days")
    if t1 < t0:
        raise WorkbookError(f"end {t1.iso[:10]} is before start {t0.iso[:10]}; swap them")
    n = int(np.floor((t1.mjd - t0.mjd) / step + 1e-9)) + 1
    if n > 20000:
        raise WorkbookError(f"{n} days requested; ask for at most 20000 steps (a wider step_days)")
    return Time(np.floor(t0.mjd) + step * np.arange(n), format="mjd", scale="utc")


def _sun_radec(times):
    """Geocentric ICRS direction of the Sun (= seen from L2), radians."""
    from astropy.coordinates import get_body_barycentric

    sun = get_body_barycentric("sun", times).xyz.value
    earth = get_body_barycentric("earth", times).xyz.value
    v = sun - earth
    v /= np.linalg.norm(v, axis=0)
    return np.arctan2(v[1], v[0]) % (2 * np.pi), np.arcsin(v[2])


def _max_vehicle_roll(pitch):
    """Off-nominal roll limit (rad) as a function of vehicle pitch (rad), gtvt's rule."""
    d2r = np.pi / 180.0

    def max_sun_roll(sun_pitch):
        roll = np.where(sun_pitch > 2.5 * d2r, 5.2 * d2r - 1.7 * d2r * (sun_pitch - 2.5 * d2r) / (2.7 * d2r), 5.2 * d2r)
        return roll - 0.1 * d2r

    sun_roll = np.full(np.shape(pitch), 5.2 * d2r)
    for _ in range(100):
        sun_pitch = np.arcsin(np.clip(np.sin(pitch) / np.cos(sun_roll), -1, 1))
        new = max_sun_roll(sun_pitch)
        if np.all(np.abs(new - sun_roll) < 1e-4 * d2r):
            sun_roll = new
            break
        sun_roll = new
    return np.arcsin(np.clip(np.sin(sun_roll) / np.cos(pitch), -1, 1))


def _geometry(ra, dec, times):
    sra, sdec = _sun_radec(times)
    tra, tdec = np.deg2rad(ra), np.deg2rad(dec)
    cos_d = np.sin(tdec) * np.sin(sdec) + np.cos(tdec) * np.cos(sdec) * np.cos(sra - tra)
    sun_angle = np.rad2deg(np.arccos(np.clip(cos_d, -1, 1)))
    # position angle of the Sun seen from the target (east of north)
    y = np.cos(sdec) * np.sin(sra - tra)
    x = np.sin(sdec) * np.cos(tdec) - np.cos(sdec) * np.sin(tdec) * np.cos(sra - tra)
    sun_pa = np.rad2deg(np.arctan2(y, x))
    v3pa = (sun_pa + 180.0) % 360.0
    roll = np.rad2deg(_max_vehicle_roll(np.deg2rad(90.0 - sun_angle)))
    visible = (sun_angle > MIN_SUN_ANGLE_DEG) & (sun_angle < MAX_SUN_ANGLE_DEG)
    return sun_angle, v3pa, roll, visible


def visible_periods(ra, dec, start, days=366):
    """Visibility windows of (ra, dec) over ``days`` from ``start``: list of (first, last) ISO dates."""
    import astropy.units as u

    ra, dec = _check_position(ra, dec)
    days = require_number(days, "days", minimum=1, maximum=3660, example="366")
    times = _dates(start, (_dates(start, start, 1)[0] + days * u.day).iso, 1)
    _, _, _, vis = _geometry(ra, dec, times)
    out = []
    edges = np.flatnonzero(np.diff(np.concatenate([[0], vis.astype(int), [0]])))
    for a, b in zip(edges[::2], edges[1::2]):
        out.append((times[a].iso[:10], times[b - 1].iso[:10]))
    return out


def _live_table(ra, dec, times):
    try:
        from jwst_gtvt.jwst_tvt import Ephemeris
    except ImportError:
        raise WorkbookError("live=True needs jwst_gtvt; `pip install jwst-gtvt` or use live=False (offline ephemeris)") from None
    eph = Ephemeris(start_date=times[0], end_date=times[-1])
    return eph.get_fixed_target_positions(str(ra), str(dec))


def apa_windows(ra, dec, start, end, step_days=1, *, live=False):
    """Allowed NIRSpec MSA aperture position angles per day.

    Parameters
    ----------
    ra, dec : float
        Target (e.g. the MSA reference point), ICRS degrees.
    start, end : str or `~astropy.time.Time`
        First and last day (inclusive), e.g. ``"2024-01-01"``.
    step_days : float
        Sampling, days.
    live : bool
        Use ``jwst_gtvt`` (its JWST ephemeris from JPL Horizons; network) instead of the
        offline computation. Raises `WorkbookError` if jwst_gtvt is not installed.

    Returns
    -------
    `~astropy.table.Table`
        ``date`` (ISO day), ``mjd``, ``visible`` (bool), ``sun_angle`` (deg),
        ``apa_nominal``, ``apa_min``, ``apa_max`` (deg, in [0, 360); NaN when not visible;
        ``apa_min`` may exceed ``apa_max`` when the window wraps through 0),
        ``roll_max`` (deg, off-nominal roll allowed each way), ``in_jwst_ephemeris``
        (bool: inside the JWST ephemeris that gtvt ships; outside it the L2 approximation
        still answers). ``meta['source']`` says how it was computed.

    Raises
    ------
    WorkbookError
        The target is never visible in the window (the message says when it is), bad dates.

    Warns
    -----
    EphemerisWarning
        Some dates are outside the JWST ephemeris (or before launch).

    Examples
    --------
    >>> t = apa_windows(53.16, -27.79, "2024-01-01", "2024-01-10")
    >>> bool(t["visible"].all()), len(t)
    (True, 10)
    """
    from astropy.table import Table
    from astropy.time import Time

    for v, what in ((ra, "ra"), (dec, "dec")):
        try:
            ok = np.isfinite(float(v))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise WorkbookError(f"{what} = {v!r} is not a finite number of degrees; give ICRS degrees")
    ra = require_number(ra, "ra", example="53.16 (degrees)") % 360.0
    dec = require_number(dec, "dec", example="-27.79 (degrees)")
    if not -90 <= dec <= 90:
        raise WorkbookError(f"dec = {dec:g} deg is outside [-90, 90]; check the sign and value")
    times = _dates(start, end, step_days)
    if live:
        df = _live_table(ra, dec, times)
        t = Table({"date": [Time(m, format="mjd").iso[:10] for m in df["MJD"]],
                   "mjd": df["MJD"].to_numpy(float), "visible": df["in_FOR"].to_numpy(bool),
                   "apa_nominal": df["NIRSPEC_nominal_angle"].to_numpy(float),
                   "apa_min": df["NIRSPEC_min_pa_angle"].to_numpy(float),
                   "apa_max": df["NIRSPEC_max_pa_angle"].to_numpy(float)})
        t.meta["source"] = "jwst_gtvt (live JWST ephemeris)"
        return t
    sun_angle, v3pa, roll, visible = _geometry(ra, dec, times)
    if not visible.any():
        periods = visible_periods(ra, dec, times[0].iso[:10])
        when = "; ".join(f"{a}..{b}" for a, b in periods[:3]) or "never within a year"
        raise WorkbookError(f"target at RA {ra:.4f}, Dec {dec:.4f} is not visible to JWST between "
                            f"{times[0].iso[:10]} and {times[-1].iso[:10]}; it is visible {when}")
    yang = nrs_msa_v3idlyangle()
    nominal = np.where(visible, (v3pa + yang) % 360.0, np.nan)
    lo = np.where(visible, (v3pa - roll + yang) % 360.0, np.nan)
    hi = np.where(visible, (v3pa + roll + yang) % 360.0, np.nan)
    in_eph = (times.mjd >= _mjd(GTVT_EPHEMERIS_RANGE[0])) & (times.mjd <= _mjd(GTVT_EPHEMERIS_RANGE[1]))
    if not in_eph.all():
        before = times.mjd < _mjd(LAUNCH_DATE)
        msg = (f"{int((~in_eph).sum())} of {len(times)} dates are outside the JWST ephemeris "
               f"{GTVT_EPHEMERIS_RANGE[0]}..{GTVT_EPHEMERIS_RANGE[1]}"
               + (f" ({int(before.sum())} before launch)" if before.any() else "")
               + "; answered with JWST at L2 on the Sun-Earth line (column in_jwst_ephemeris)")
        warnings.warn(msg, EphemerisWarning, stacklevel=2)
    t = Table({"date": [s[:10] for s in times.iso], "mjd": times.mjd, "visible": visible,
               "sun_angle": sun_angle, "apa_nominal": nominal, "apa_min": lo, "apa_max": hi,
               "roll_max": np.where(visible, roll, np.nan), "in_jwst_ephemeris": in_eph})
    for c in ("sun_angle", "apa_nominal", "apa_min", "apa_max", "roll_max"):
        t[c].unit = "deg"
    t.meta.update(source="offline: astropy solar ephemeris, JWST at L2, jwst_gtvt 1.2 rules",
                  ra=ra, dec=dec, aperture="NRS_FULL_MSA", v3idlyangle=yang)
    return t


def _mjd(iso):
    from astropy.time import Time

    return Time(iso).mjd


def check_apa(apa, window):
    """Raise `WorkbookError` unless ``apa`` (deg) is allowed on some day of ``window`` (an `apa_windows` table)."""
    a = require_number(apa, "apa", example="45.0 (degrees)") % 360.0
    if not hasattr(window, "colnames") or len(window) == 0 or "visible" not in window.colnames:
        raise WorkbookError("window is not a non-empty apa_windows table; compute it with "
                            "helpers.planning.apa_windows(ra, dec, start, end)")
    ok = _apa_allowed(a, window)
    if not ok.any():
        vis = np.asarray(window["visible"], bool)
        span = ", ".join(f"{window['date'][k]}: {window['apa_min'][k]:.1f}-{window['apa_max'][k]:.1f}"
                         for k in np.flatnonzero(vis)[:: max(1, vis.sum() // 3)][:3])
        raise WorkbookError(f"APA {a:.2f} deg is not allowed on any day of the window "
                            f"{window['date'][0]}..{window['date'][-1]}; allowed e.g. {span}")
    return ok


def _apa_allowed(apa, window):
    vis = np.asarray(window["visible"], bool)
    lo = np.asarray(window["apa_min"], float)
    hi = np.asarray(window["apa_max"], float)
    a = np.asarray(apa, float)[..., None] % 360.0
    with np.errstate(invalid="ignore"):
        inside = np.where(lo <= hi, (a >= lo) & (a <= hi), (a >= lo) | (a <= hi))
    return inside & vis
