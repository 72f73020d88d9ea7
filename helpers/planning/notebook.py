"""Notebook-04 glue for planning: the planned date, the APA window around it, the optimizer run
on the notebook's catalog and pointing, and what is recorded in the field configuration."""

import warnings

import numpy as np

from ..errors import WorkbookError

__all__ = ["planned_date", "apa_window_around", "optimize_notebook_pointing", "start_apa_in_window", "plan_record",
           "describe_plan", "start_on_targets"]

# A list narrower than this fits inside one quadrant (~95" x 87" on the sky): when it falls in the
# gaps between the quadrants at the field centre, start from a quadrant's centre instead.
_QUADRANT_FIT_ARCSEC = 80.0


def planned_date(cfg, date=None):
    """The planned date as ISO ``YYYY-MM-DD``: ``date`` if given, else the field's epoch (decimal year)."""
    from astropy.time import Time

    if date is None:
        return Time(float(cfg.epoch), format="decimalyear").strftime("%Y-%m-%d")
    try:
        return Time(str(date)).strftime("%Y-%m-%d")
    except ValueError:
        raise WorkbookError(f"date {date!r} is not an ISO date; use e.g. '2027-07-01'") from None


def apa_window_around(cfg, date, days=30, live=None):
    """Allowed APA per day for ``date`` ± ``days`` at the field centre (see `apa_windows`).

    When the field is not visible at all in that window, the window moves to the next visibility
    period (within a year) and the returned note says so: the planner sees which dates are usable.

    Returns
    -------
    table : `~astropy.table.Table`
        From `apa_windows`.
    note : str
        One line: where the limits come from, and any move of the window.
    """
    from astropy.time import Time, TimeDelta

    from .visibility import EphemerisWarning, apa_windows, visible_periods

    def window(centre):
        t0 = Time(centre)
        return ((t0 - TimeDelta(days, format="jd")).strftime("%Y-%m-%d"),
                (t0 + TimeDelta(days, format="jd")).strftime("%Y-%m-%d"))

    live = bool(cfg.live) if live is None else bool(live)
    start, end = window(date)
    moved = ""
    periods = visible_periods(cfg.ra, cfg.dec, start, days=2 * days + 366)
    if not periods:
        raise WorkbookError(f"the field (RA {cfg.ra:.4f}, Dec {cfg.dec:.4f}) is never visible to JWST within a year "
                            f"of {start}; check the coordinates")
    if Time(periods[0][0]) > Time(end):
        start, end = window(periods[0][0])
        moved = (f"; the field is not visible within {days} days of {date}: showing the next visibility period "
                 f"({periods[0][0]}..{periods[0][1]}) instead")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", EphemerisWarning)
        table = apa_windows(cfg.ra, cfg.dec, start, end, live=live)
    note = ("APA limits from the offline solar-ephemeris model (dates outside jwst_gtvt's JWST ephemeris)"
            if any(issubclass(w.category, EphemerisWarning) for w in caught)
            else "APA limits " + ("from jwst_gtvt (live)" if live else "from the offline model"))
    return table, note + moved


def optimize_notebook_pointing(sources, pointing, *, d_ra_arcsec, d_dec_arcsec, d_apa_deg, constraint, nod,
                               operability, apa_window=None, disperser=None, **kwargs):
    """Run `optimize_pointing` around the notebook's pointing on its catalog (or target list).

    The search scores pointings with ``pointing``'s velocity-aberration factor (its epoch), so
    the optimizer's counts equal the widget's; pass ``velocity_aberration=`` to override.

    ``disperser`` given: no two kept targets' spectra overlap (priority wins).
    """
    from .optimizer import optimize_pointing

    if sources is None or len(sources) == 0:
        raise WorkbookError("no catalog to optimise the pointing for; run notebook 02 (or set optimize = False)")
    window = apa_window
    start_apa, note = float(pointing.apa), ""
    if window is not None:
        start_apa, note = start_apa_in_window(window, start_apa)
    # score every candidate with the pointing's own velocity-aberration factor, so the optimizer's
    # counts are the widget's and MSAPointing.count's at the same pointing
    kwargs.setdefault("velocity_aberration", _pointing_va(pointing))
    result = optimize_pointing(sources, pointing.ra, pointing.dec, start_apa, d_ra_arcsec=d_ra_arcsec,
                               d_dec_arcsec=d_dec_arcsec, d_apa_deg=d_apa_deg, constraint=constraint,
                               slitlet=3 if nod else 1, operability=operability, apa_window=window,
                               filter=pointing.filter, no_overlaps=disperser is not None,
                               disperser=disperser or "PRISM/CLEAR", **kwargs)
    result.start_note = note
    return result


def _pointing_va(pointing):
    """The velocity-aberration setting of ``pointing`` for `optimize_pointing`: its factor, or False."""
    factor = float(getattr(pointing, "va_factor", 1.0))
    return factor if factor != 1.0 else False


def start_apa_in_window(window, apa):
    """``apa`` if some day of ``window`` allows it, else the nominal APA of the middle visible day.

    Returns
    -------
    (float, str)
        The APA to start the search from (deg) and a line saying why it moved ('' if not).
    """
    from .visibility import check_apa

    vis = np.flatnonzero(np.asarray(window["visible"], bool))
    if vis.size == 0:
        raise WorkbookError("the field is not visible on any day of the date window; choose another date")
    try:
        check_apa(apa, window)
        return float(apa), ""
    except WorkbookError:
        day = vis[vis.size // 2]
        new = float(window["apa_nominal"][day]) % 360.0
        return new, (f"APA {apa:.2f} deg is not allowed in the date window: the search starts from the nominal "
                     f"APA {new:.2f} deg of {window['date'][day]}")


def plan_record(result, date, disperser):
    """What goes into ``cfg.extra["planning"]``: the chosen pointing, its yield and the alternatives."""
    def one(r):
        return {"ra": round(r.ra, 8), "dec": round(r.dec, 8), "apa": round(r.apa, 4), "n_targets": int(r.n_targets),
                "expected": round(float(r.expected), 3)}

    out = one(result)
    out.update(date=date, disperser=disperser, objective=result.objective,
               n_by_priority={str(k): int(v) for k, v in result.n_by_priority.items()},
               expected_by_priority={str(k): round(float(v), 3) for k, v in result.expected_by_priority.items()},
               alternatives=[one(a) for a in result.alternatives],
               search_seconds=round(float(result.search_seconds or 0.0), 2),
               n_overlaps_dropped=int(result.n_overlaps_dropped) if disperser else None,
               start_note=getattr(result, "start_note", ""))
    return out


def describe_plan(record):
    """Lines for the notebook: best pointing, yield, alternatives."""
    lines = [record["start_note"]] if record.get("start_note") else []
    lines += [f"best pointing: RA {record['ra']:.6f}, Dec {record['dec']:+.6f}, APA {record['apa']:.2f} deg; "
             f"{record['n_targets']} targets in zone, {record['expected']:.1f} expected "
             f"({record['objective']}; {record['search_seconds']:.1f} s)"]
    if record.get("n_overlaps_dropped") is not None:
        lines.append(f"{record['n_overlaps_dropped']} in-zone targets dropped: their {record['disperser']} spectra "
                     "overlapped a higher-priority target's")
    if record["n_by_priority"]:
        lines.append("per priority: " + ", ".join(f"{k}: {v} ({record['expected_by_priority'][k]:.1f} expected)"
                                                  for k, v in record["n_by_priority"].items()))
    for k, a in enumerate(record["alternatives"], start=1):
        lines.append(f"alternative {k}: RA {a['ra']:.6f}, Dec {a['dec']:+.6f}, APA {a['apa']:.2f}; "
                     f"{a['n_targets']} targets, {a['expected']:.1f} expected")
    return lines


def start_on_targets(pointing, ra, dec, min_fraction=0.5):
    """Offset that puts a small target list on a quadrant when it would sit in the MSA's gaps.

    The MSA reference point of ``NRS_FULL_MSA`` is the centre of the cross-shaped gap between the
    four quadrants; a field smaller than a quadrant (a single HST/WFPC2 image, a 20" target list)
    centred there has no target on a shutter. When fewer than ``min_fraction`` of the positions
    fall on the quadrants and they span less than a quadrant, the returned offset moves the MSA
    rigidly so that the centre of the nearest quadrant lands on the positions' centre.

    Parameters
    ----------
    pointing : helpers.msa.MSAPointing
        The starting pointing (field centre).
    ra, dec : array_like
        Targets (or catalog sources), degrees.
    min_fraction : float
        Fraction of the positions on the quadrants below which the pointing moves.

    Returns
    -------
    (float, float, str)
        Offsets (dRA cos Dec, dDec) in arcsec for `helpers.widgets.PointingFactory.offset`, and a
        line saying why the pointing moved ('' and zero offsets when it stays).
    """
    from .. import msa, skyplane

    ra = np.asarray(ra, float).ravel()
    dec = np.asarray(dec, float).ravel()
    good = np.isfinite(ra) & np.isfinite(dec)
    ra, dec = ra[good], dec[good]
    if ra.size == 0:
        return 0.0, 0.0, ""
    on_msa = np.count_nonzero(pointing.locate_arrays(ra, dec)["quadrant"] > 0)
    if on_msa >= min_fraction * ra.size:
        return 0.0, 0.0, ""
    ra0, dec0 = skyplane.tangent_point(ra, dec)
    xi, eta = skyplane.sky_to_tangent(ra, dec, ra0, dec0)
    if max(np.ptp(xi), np.ptp(eta)) > _QUADRANT_FIT_ARCSEC:
        return 0.0, 0.0, ""  # a wide list: centring it on the MSA is the planner's usual start
    q = np.array([1, 2, 3, 4])
    centre_i, centre_j = (msa.SHAPE[2] + 1) // 2, (msa.SHAPE[1] + 1) // 2  # i along the dispersion, j spatial
    q_ra, q_dec = pointing.shutter_sky(q, np.full(4, centre_i), np.full(4, centre_j))
    q_xi, q_eta = skyplane.sky_to_tangent(q_ra, q_dec, ra0, dec0)
    k = int(np.argmin(np.hypot(q_xi, q_eta)))
    d_ra, d_dec = -float(q_xi[k]), -float(q_eta[k])
    moved = msa.MSAPointing(*skyplane.offset_radec(pointing.ra, pointing.dec, d_ra, d_dec), pointing.apa,
                            filter=pointing.filter, velocity_aberration=_pointing_va(pointing))
    after = np.count_nonzero(moved.locate_arrays(ra, dec)["quadrant"] > 0)
    line = (f"only {on_msa} of {ra.size} positions fall on the MSA quadrants at the field centre (it is the centre "
            f"of the gap between the quadrants): the pointing starts with their centre on quadrant {q[k]}'s centre "
            f"(offset {d_ra:+.1f}\" E, {d_dec:+.1f}\" N; {after} on the quadrants); give d_ra_arcsec / d_dec_arcsec "
            "to choose another start")
    return d_ra, d_dec, line

