"""MSATA reference stars (notebook 05): brightness windows and the ranked candidate selection.

MSATA is NIRSpec's MSA-based target acquisition: 5-8 *reference stars* imaged through open
shutters in a TA filter (F110W, F140X or CLEAR) fix the pointing and roll to ~20 mas when
their positions are in the same 5-10 mas frame as the science targets.

The MSATA brightness windows come from JDox (see :data:`MSATA_WINDOWS`); an editable copy
with its provenance is ``data/msata/brightness_windows.csv`` (pass its path as ``windows=``).
"""

import csv
from pathlib import Path

import numpy as np

from ..errors import WorkbookError
from ..nirspec import SHUTTER_PITCH_ARCSEC
from ..validate import require_number, require_text
from .footprint import quadrant_outlines
from .geometry import _centre_and_radius, _points_in_polygon, tangent_plane_arcsec
from .mpt import _find_col

__all__ = [
    "MSATA_WINDOWS",
    "ta_magnitude_window",
    "load_brightness_windows",
    "msata_candidates",
]


#: MSATA reference-star brightness windows in the TA filter, per filter and readout pattern:
#: ``faint_mag`` reaches S/N = 20, ``bright_mag`` saturates. From JDox "Predicting MSATA
#: Reference Star Magnitudes", Table 1 "Brightness ranges for NIRSpec MSATA filter and
#: readout pattern options" (https://jwst-docs.stsci.edu/jwst-near-infrared-spectrograph/
#: nirspec-observing-strategies/nirspec-msata-reference-star-selection-recommended-strategies/
#: predicting-msata-reference-star-magnitudes), read 2026-11-24. Its NRSRAPIDD1/D2 rows list a
#: single filter whose column could not be read unambiguously, so they are left out. The
#: magnitude system is the one of that table; the workbook's TA magnitudes are AB estimates from
#: the pre-image, so check the system (and the current values, via the ETC) before a program
#: update. Replace with ``windows=`` (a CSV with columns ta_filter, readout, bright_mag,
#: faint_mag, or a list of dicts).
MSATA_WINDOWS = [
    {"ta_filter": "F110W", "readout": "NRSRAPID", "bright_mag": 19.5, "faint_mag": 22.0},
    {"ta_filter": "F110W", "readout": "NRSRAPIDD6", "bright_mag": 21.3, "faint_mag": 24.0},
    {"ta_filter": "F140X", "readout": "NRSRAPID", "bright_mag": 20.6, "faint_mag": 23.0},
    {"ta_filter": "F140X", "readout": "NRSRAPIDD6", "bright_mag": 22.3, "faint_mag": 25.0},
    {"ta_filter": "CLEAR", "readout": "NRSRAPID", "bright_mag": 21.3, "faint_mag": 23.8},
    {"ta_filter": "CLEAR", "readout": "NRSRAPIDD6", "bright_mag": 23.1, "faint_mag": 25.7},
]
MSATA_WINDOWS_SOURCE = ("JDox 'Predicting MSATA Reference Star Magnitudes' Table 1 (read 2026-11-24); "
                        "TA magnitudes here are AB estimates from the pre-image: confirm with the ETC")


#: Source-catalog flag bits (docs/DEVELOPING.md) that disqualify an MSATA reference star.
FLAG_SATURATED, FLAG_EDGE, FLAG_BLENDED, FLAG_MASKED, FLAG_PSF_FAILED = 1, 2, 4, 8, 16
_REJECT_FLAGS = {FLAG_SATURATED: "saturated", FLAG_EDGE: "at the image edge",
                 FLAG_BLENDED: "blended", FLAG_MASKED: "masked pixels"}


def load_brightness_windows(windows=None):
    """Return the MSATA brightness-window table as a list of dicts.

    Parameters
    ----------
    windows : None, str, `~pathlib.Path` or list of dict
        ``None``: the built-in :data:`MSATA_WINDOWS` (JDox Table 1). A path: a CSV file with
        columns ``ta_filter, readout, bright_mag, faint_mag`` (AB). A list of dicts: used as is.

    Returns
    -------
    rows : list of dict
    """
    if windows is None:
        return [dict(r, source=MSATA_WINDOWS_SOURCE) for r in MSATA_WINDOWS]
    if isinstance(windows, (str, Path)):
        path = Path(windows)
        if not path.is_file():
            raise WorkbookError(f"brightness-window table {path} not found (or not a file); give a CSV with columns "
                                "ta_filter, readout, bright_mag, faint_mag")
        with open(path, newline="") as fh:
            rows = [dict(r, source=str(path)) for r in csv.DictReader(
                line for line in fh if not line.lstrip().startswith("#"))]
    elif isinstance(windows, (list, tuple)) and all(isinstance(r, dict) for r in windows):
        rows = [dict(r) for r in windows]
    else:
        raise WorkbookError(f"windows = {windows!r:.40} is not a path or a list of dicts; give None (the built-in table), "
                            "a CSV path, or [{'ta_filter', 'readout', 'bright_mag', 'faint_mag'}, ...]")
    out = []
    for r in rows:
        try:
            out.append({"ta_filter": str(r["ta_filter"]).strip().upper(),
                        "readout": str(r["readout"]).strip().upper(),
                        "bright_mag": float(r["bright_mag"]), "faint_mag": float(r["faint_mag"]),
                        "source": r.get("source", "user table")})
        except (KeyError, ValueError, TypeError):
            raise WorkbookError(f"brightness-window row {r!r} is incomplete; each row needs ta_filter, readout, "
                                "bright_mag, faint_mag (AB)") from None
    return out


def ta_magnitude_window(ta_filter="F110W", readout="NRSRAPID", windows=None):
    """Brightness window (AB magnitudes) for MSATA reference stars in one filter/readout.

    Parameters
    ----------
    ta_filter : {'F110W', 'F140X', 'CLEAR'}
    readout : str
        Readout pattern, e.g. ``'NRSRAPID'`` or ``'NRSRAPIDD6'``.
    windows : see :func:`load_brightness_windows`

    Returns
    -------
    bright, faint : float
        Brightest and faintest usable AB magnitude.
    source : str
        Where the numbers come from.

    Examples
    --------
    >>> ta_magnitude_window("F110W", "NRSRAPID")[:2]
    (19.5, 22.0)
    """
    rows = load_brightness_windows(windows)
    key = (str(ta_filter).strip().upper(), str(readout).strip().upper())
    for r in rows:
        if (r["ta_filter"], r["readout"]) == key:
            if not r["bright_mag"] < r["faint_mag"]:
                raise WorkbookError(f"brightness window for {key[0]}/{key[1]} has bright_mag >= faint_mag; fix the table")
            return r["bright_mag"], r["faint_mag"], r["source"]
    known = ", ".join(sorted({f"{r['ta_filter']}/{r['readout']}" for r in rows}))
    raise WorkbookError(f"no MSATA brightness window for {key[0]}/{key[1]}; choose one of {known} "
                        "or pass windows= with your own table")


def msata_candidates(catalog, ta_filter="F110W", readout="NRSRAPID", mag_column="mag_ta",
                     sigma_goal_mas=10.0, isolation_radius_arcsec=1.0, isolation_dmag=3.0,
                     windows=None, outlines=None, n_max=8, n_min=5, on_too_few="raise", planned_epoch=None,
                     gaia=None, max_motion_fraction=0.1, pointing=None, operability=None, sigma_calibration=None):
    """Rank MSATA reference-star candidates and recommend 5-8 spread over the field.

    A usable reference star is (JDox "NIRSpec MSATA Reference Star Selection Recommended
    Strategies"): point-like (``kind == 'point'``); unsaturated and clean in the pre-image
    (no flag 1 saturated, 2 edge, 4 blended, 8 masked); isolated (no catalog neighbour within
    ``isolation_radius_arcsec`` that is brighter than the star + ``isolation_dmag``, or of
    unknown brightness: a KD-tree on tangent-plane coordinates); with a per-axis astrometric
    sigma within ``sigma_goal_mas``; with a TA-filter magnitude inside the filter/readout
    window (:func:`ta_magnitude_window`); and, when MSA ``outlines`` are given, inside the MSA
    at the chosen pointing. Usable stars are scored (sigma, distance from the window edges,
    isolation) and picked greedily: first the best, then each next one in a quadrant not yet
    covered if possible, maximising the smallest distance to those already picked.

    Parameters
    ----------
    catalog : `~astropy.table.Table`
        Source catalog (``id, ra, dec, ra_err, dec_err, kind, flags``) plus ``mag_column``.
    ta_filter, readout : str
        TA filter (F110W, F140X, CLEAR) and readout pattern (NRSRAPID, NRSRAPIDD6).
    mag_column : str
        AB magnitudes in the TA filter (estimated from the pre-image).
    sigma_goal_mas : float
        Largest acceptable 1-sigma per-axis position error, mas.
    isolation_radius_arcsec, isolation_dmag : float
        Neighbour exclusion radius (arcsec) and magnitude difference.
    windows : optional
        Brightness-window table (see :func:`load_brightness_windows`).
    outlines : dict or list of (N, 2) arrays of (ra, dec) deg, optional
        MSA quadrant outlines at the chosen pointing (a dict as from
        :func:`msa_outline_polygons`: only its ``Q*`` entries are used); stars outside all of
        them are rejected.
    n_max, n_min : int
        Recommend at most ``n_max`` stars; fewer than ``n_min`` usable stars is an error.
    planned_epoch : float, optional
        Decimal year of the planned visit. When given, every star needs a known proper motion
        (``pmra, pmdec`` mas/yr columns of the catalog, or from ``gaia``) and its displacement
        from the catalog epoch (``catalog.meta['epoch']``) to ``planned_epoch`` must stay within
        ``max_motion_fraction`` of the 0.2679" shutter pitch; otherwise it is excluded with
        the reason (JDox lists proper motion as a selection factor).
    gaia : `~astropy.table.Table`, optional
        Gaia DR3-like table (``ra, dec, pmra, pmdec`` and ``ref_epoch``, column or meta); Gaia
        positions are moved to the catalog epoch with their own proper motions, then matched
        within 0.1". A star without a usable proper motion says why (no Gaia star near it, or
        a Gaia match without proper motion).
    max_motion_fraction : float
        Largest displacement to ``planned_epoch``, as a fraction of the shutter pitch (dispersion).
    pointing : `helpers.msa.MSAPointing`, optional
        With it, a star must fall in the open area of an operable shutter (neither failed
        closed nor failed open in ``operability``, default the shipped map) at this pointing;
        its ``shutter_quadrant, shutter_row, shutter_column`` are reported.
    sigma_calibration : float, optional
        Factor applied to the catalog's ``ra_err, dec_err`` (e.g. notebook 03's measured
        scatter over the catalog's median error) before the ``sigma_goal_mas`` cut; recorded
        in ``meta['sigma_calibration']`` (1 and "not rescaled" when not given).
    on_too_few : {'raise', 'warn'}
        What to do with fewer than ``n_min`` usable candidates.

    Returns
    -------
    candidates : `~astropy.table.Table`
        One row per source: ``id, ra, dec, mag_ta, sigma_mas, nearest_arcsec, quadrant,
        usable, selected, rank, score, reason``; selected first (by rank), then usable, then
        rejected. ``reason`` says why each was rejected or chosen. ``meta`` holds the window,
        its source and the rejection counts.

    Raises
    ------
    WorkbookError
        Missing columns; fewer than ``n_min`` usable candidates (``on_too_few='raise'``): the
        one-line message gives the counts per rejection reason and the table is attached to
        the exception as ``.candidates``.
    """
    from astropy.table import Table
    from scipy.spatial import cKDTree

    from astropy.table import Table as _Table

    if not isinstance(catalog, _Table):
        raise WorkbookError(f"catalog is a {type(catalog).__name__}, not an astropy Table; pass the source catalog "
                            "with TA-filter magnitudes (see catalog_magnitudes)")
    if len(catalog) == 0:
        raise WorkbookError("the catalog is empty, so there are no MSATA reference-star candidates; check that "
                            "notebook 02 found sources and that the MSA outline covers them")
    need = [c for c in ("id", "ra", "dec") if _find_col(catalog, c) is None]
    if need or mag_column not in catalog.colnames:
        raise WorkbookError(f"catalog lacks column(s) {', '.join(need + ([mag_column] if mag_column not in catalog.colnames else []))}; "
                            "add TA-filter magnitudes (see flux_to_abmag) before selecting MSATA stars")
    sigma_goal_mas = require_number(sigma_goal_mas, "sigma_goal_mas", minimum=0, example=10.0)
    isolation_radius_arcsec = require_number(isolation_radius_arcsec, "isolation_radius_arcsec", minimum=0, example=1.0)
    isolation_dmag = require_number(isolation_dmag, "isolation_dmag", example=3.0)
    n_max = require_number(n_max, "n_max", minimum=1, integer=True, example=8)
    n_min = require_number(n_min, "n_min", minimum=0, integer=True, example=5)
    max_motion_fraction = require_number(max_motion_fraction, "max_motion_fraction", minimum=0, example=0.1)
    require_text(mag_column, "mag_column")
    bright, faint, source = ta_magnitude_window(ta_filter, readout, windows)
    n = len(catalog)
    ids = np.asarray(catalog[_find_col(catalog, "id")])
    ra = np.asarray(catalog[_find_col(catalog, "ra")], float)
    dec = np.asarray(catalog[_find_col(catalog, "dec")], float)
    mag = np.ma.filled(np.ma.asarray(catalog[mag_column], dtype=float), np.nan)
    kind = np.asarray(catalog["kind"]).astype(str) if "kind" in catalog.colnames else np.full(n, "unknown")
    flags = np.asarray(catalog["flags"], np.int64) if "flags" in catalog.colnames else np.zeros(n, np.int64)
    if "ra_err" in catalog.colnames and "dec_err" in catalog.colnames:
        e1 = np.ma.filled(np.ma.asarray(catalog["ra_err"], dtype=float), np.nan)
        e2 = np.ma.filled(np.ma.asarray(catalog["dec_err"], dtype=float), np.nan)
        sigma = np.maximum(e1, e2)
    else:
        sigma = np.full(n, np.nan)
    if sigma_calibration is not None:
        try:
            cal = float(sigma_calibration)
        except (TypeError, ValueError):
            cal = float("nan")
        if not (np.isfinite(cal) and cal > 0):
            raise WorkbookError(f"sigma_calibration = {sigma_calibration!r}; give a positive factor (measured / catalog sigma)")
        sigma = sigma * cal
    ok_pos = np.isfinite(ra) & np.isfinite(dec)
    ra0, dec0, _ = _centre_and_radius(ra[ok_pos], dec[ok_pos]) if ok_pos.any() else (0.0, 0.0, 0.0)
    x, y = tangent_plane_arcsec(np.where(ok_pos, ra, ra0), np.where(ok_pos, dec, dec0), ra0, dec0)

    reasons = [[] for _ in range(n)]

    def reject(mask, text):
        for i in np.flatnonzero(mask):
            reasons[i].append(text if isinstance(text, str) else text(i))

    counts = {}

    def tally(mask, key):
        counts[key] = int(mask.sum())

    m = ~ok_pos
    reject(m, "no position"); tally(m, "no position")
    m = ok_pos & (kind != "point")
    reject(m, lambda i: f"not point-like ({kind[i] or 'unknown'})"); tally(m, "not point-like")
    point = ok_pos & (kind == "point")
    for bit, text in _REJECT_FLAGS.items():
        m = point & ((flags & bit) != 0)
        reject(m, text); tally(m, text)
    m = point & ~(sigma <= sigma_goal_mas)
    reject(m, lambda i: (f"sigma {sigma[i]:.1f} mas > {sigma_goal_mas:g}" if np.isfinite(sigma[i]) else "no position error"))
    tally(m, f"sigma > {sigma_goal_mas:g} mas")
    m = point & ~np.isfinite(mag)
    reject(m, "no magnitude"); tally(m, "no magnitude")
    m = point & (mag < bright)
    reject(m, lambda i: f"{ta_filter} {mag[i]:.2f} brighter than {bright:g}"); tally(m, "too bright for the window")
    m = point & (mag > faint)
    reject(m, lambda i: f"{ta_filter} {mag[i]:.2f} fainter than {faint:g}"); tally(m, "too faint for the window")

    # isolation: every catalog source is a potential contaminant
    nearest = np.full(n, np.inf)
    idx_point = np.flatnonzero(point)
    if idx_point.size:
        tree = cKDTree(np.column_stack([x[ok_pos], y[ok_pos]]))
        all_idx = np.flatnonzero(ok_pos)
        pairs = tree.query_ball_point(np.column_stack([x[idx_point], y[idx_point]]), r=isolation_radius_arcsec)
        lens = np.fromiter((len(p) for p in pairs), dtype=np.int64, count=len(pairs))
        if lens.sum():
            owner = np.repeat(idx_point, lens)
            other = all_idx[np.concatenate([np.asarray(p, dtype=np.int64) for p in pairs])]
            keep = other != owner
            owner, other = owner[keep], other[keep]
            d = np.hypot(x[owner] - x[other], y[owner] - y[other])
            bad = ~np.isfinite(mag[other]) | (mag[other] < mag[owner] + isolation_dmag) | ~np.isfinite(mag[owner])
            np.minimum.at(nearest, owner[bad], d[bad])
        # nearest neighbour of any brightness, for the reasoning text
        dd, _ = tree.query(np.column_stack([x[idx_point], y[idx_point]]), k=min(2, int(ok_pos.sum())))
        nn_any = np.full(n, np.inf)
        if dd.ndim == 2 and dd.shape[1] == 2:
            nn_any[idx_point] = dd[:, 1]
    else:
        nn_any = np.full(n, np.inf)
    m = point & np.isfinite(nearest)
    reject(m, lambda i: f"neighbour {nearest[i]:.2f}\" within {isolation_radius_arcsec:g}\" (dm < {isolation_dmag:g})")
    tally(m, "not isolated")

    motion_mas = np.full(n, np.nan)
    if planned_epoch is not None:
        motion_mas, in_gaia = _motion_to_epoch(catalog, ra, dec, gaia, planned_epoch)
        limit_mas = 1000.0 * max_motion_fraction * SHUTTER_PITCH_ARCSEC[0]
        m = point & ~np.isfinite(motion_mas)
        no_gaia = ("no Gaia table given" if gaia is None or not len(gaia) else
                   f"no Gaia star within {GAIA_MATCH_ARCSEC:g}\"")
        reject(m, lambda i: ("no proper motion (its Gaia match has none: 2-parameter solution)" if in_gaia[i]
                             else f"no proper motion ({no_gaia})") + f": its motion to {float(planned_epoch):.1f} is unknown")
        tally(m, "no proper motion")
        m = point & (motion_mas > limit_mas)
        reject(m, lambda i: f"moves {motion_mas[i]:.0f} mas by {float(planned_epoch):.1f} "
                            f"(> {max_motion_fraction:g} shutter = {limit_mas:.0f} mas)")
        tally(m, "moves too far by the planned epoch")

    shutter = np.zeros((3, n), np.int64)
    if pointing is not None:
        loc = pointing.locate(np.where(ok_pos, ra, ra0), np.where(ok_pos, dec, dec0), operability=operability)
        shutter = np.array([loc["shutter_quadrant"], loc["shutter_row"], loc["shutter_column"]], np.int64)
        good = np.asarray(loc["in_open"], bool) & (np.asarray(loc["state"]) == 0) & ok_pos
        m = point & ~good
        reject(m, lambda i: ("not in the open area of a shutter at the chosen pointing" if loc["state"][i] in (-1, 0)
                             else f"in an inoperable shutter (Q{shutter[0, i]} row {shutter[1, i]} column "
                                  f"{shutter[2, i]}) at the chosen pointing"))
        tally(m, "not in an operable open shutter")

    quadrant = np.full(n, "", dtype=object)
    outlines = quadrant_outlines(outlines)
    if outlines:
        inside_any = np.zeros(n, bool)
        for label, poly in outlines.items():
            poly = np.asarray(poly, float)
            px, py = tangent_plane_arcsec(poly[:, 0], poly[:, 1], ra0, dec0)
            inside = _points_in_polygon(x, y, px, py) & ok_pos
            quadrant[inside & (quadrant == "")] = str(label)
            inside_any |= inside
        m = point & ~inside_any
        reject(m, "outside the MSA at the chosen pointing"); tally(m, "outside the MSA")
    else:
        # quadrants of the field about the catalog centre, for spreading only
        quadrant[:] = np.where(x >= 0, np.where(y >= 0, "NE", "SE"), np.where(y >= 0, "NW", "SW"))

    usable = np.array([not r for r in reasons]) & point
    # score in [0, 1]: small sigma, comfortably inside the window, well isolated
    half = (faint - bright) / 2.0
    with np.errstate(invalid="ignore"):
        s_sig = np.clip(1.0 - sigma / sigma_goal_mas, 0, 1)
        s_mag = np.clip(np.minimum(mag - bright, faint - mag) / half, 0, 1)
        s_iso = np.clip(np.where(np.isfinite(nn_any), nn_any, 10 * isolation_radius_arcsec)
                        / (5 * isolation_radius_arcsec), 0, 1)
    score = np.where(usable, 0.4 * s_sig + 0.4 * s_mag + 0.2 * s_iso, 0.0)

    rank = np.zeros(n, np.int64)
    pool = np.flatnonzero(usable)
    pool = pool[np.argsort(-score[pool], kind="stable")][: max(6 * n_max, 40)]
    chosen = []
    if pool.size:
        field_scale = max(float(np.ptp(x[pool]) + np.ptp(y[pool])), 1.0)
        chosen.append(pool[0])
        while len(chosen) < min(n_max, pool.size):
            rest = np.array([i for i in pool if i not in chosen])
            dmin = np.min(np.hypot(x[rest, None] - x[chosen][None, :], y[rest, None] - y[chosen][None, :]), axis=1)
            covered = {quadrant[i] for i in chosen}
            new_q = np.array([quadrant[i] not in covered for i in rest])
            obj = (dmin / field_scale) * (0.5 + 0.5 * score[rest]) + new_q.astype(float)
            chosen.append(rest[int(np.argmax(obj))])
        rank[chosen] = np.arange(1, len(chosen) + 1)
    selected = rank > 0

    text = []
    for i in range(n):
        if selected[i]:
            nn = f"nearest source {nn_any[i]:.2f}\"" if np.isfinite(nn_any[i]) else "no neighbour"
            text.append(f"recommended #{rank[i]}: point-like, clean, {ta_filter} {mag[i]:.2f} in "
                        f"[{bright:g}, {faint:g}], sigma {sigma[i]:.1f} mas, {nn}, {quadrant[i]}")
        elif usable[i]:
            text.append(f"usable (score {score[i]:.2f}) but not needed for spread/number")
        else:
            text.append("; ".join(reasons[i]))
    out = Table({"id": ids, "ra": ra, "dec": dec, "mag_ta": mag, "sigma_mas": sigma,
                 "nearest_arcsec": np.where(np.isfinite(nn_any), nn_any, np.nan),
                 "quadrant": np.asarray(quadrant, dtype=str), "usable": usable, "selected": selected,
                 "rank": rank, "score": np.round(score, 3), "reason": np.asarray(text, dtype=str)})
    if planned_epoch is not None:
        out["motion_mas"] = motion_mas
    if pointing is not None:
        out["shutter_quadrant"], out["shutter_row"], out["shutter_column"] = shutter
    order = np.lexsort((-score, ~usable, np.where(selected, rank, n_max + 1)))
    out = out[order]
    out.meta.update({"ta_filter": ta_filter, "readout": readout, "window_ab": [bright, faint],
                     "window_source": source, "sigma_goal_mas": sigma_goal_mas,
                     "isolation_radius_arcsec": isolation_radius_arcsec, "isolation_dmag": isolation_dmag,
                     "n_usable": int(usable.sum()), "n_selected": int(selected.sum()),
                     "rejections": {k: v for k, v in counts.items() if v},
                     "msa_outlines_used": bool(outlines), "planned_epoch": planned_epoch,
                     "sigma_calibration": (float(sigma_calibration) if sigma_calibration is not None
                                           else "1 (catalog sigma not rescaled)"),
                     "operability_checked": pointing is not None})
    if usable.sum() < n_min:
        rej = ", ".join(f"{v} {k}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]) if v) or "none rejected"
        msg = (f"only {int(usable.sum())} usable MSATA reference star(s) (need >= {n_min}) for {ta_filter}/{readout} "
               f"window {bright:g}-{faint:g} AB; rejected: {rej}; try another TA filter/readout, relax "
               "isolation_radius_arcsec/sigma_goal_mas, or add stars from a catalog in the same frame")
        if on_too_few == "raise":
            err = WorkbookError(msg)
            err.candidates = out
            raise err
        out.meta["warning"] = msg
    return out


def _motion_to_epoch(catalog, ra, dec, gaia, planned_epoch):
    """Displacement (mas) of each source from the catalog epoch to ``planned_epoch``; NaN where
    the proper motion is unknown (no ``pmra/pmdec`` in the catalog and no Gaia match within 0.1"),
    and whether each source has a Gaia counterpart (matched at the catalog epoch)."""
    epoch = catalog.meta.get("epoch")
    try:
        epoch = float(epoch)
        planned = float(planned_epoch)
    except (TypeError, ValueError):
        raise WorkbookError(f"catalog epoch {epoch!r} / planned epoch {planned_epoch!r} must be decimal years; "
                            "set catalog.meta['epoch'] (e.g. 2005.3) and planned_epoch (e.g. 2027.5)") from None
    n = len(ra)
    matched = np.zeros(n, bool)
    pmra = np.full(n, np.nan)
    pmdec = np.full(n, np.nan)
    if "pmra" in catalog.colnames and "pmdec" in catalog.colnames:
        pmra = np.ma.filled(np.ma.asarray(catalog["pmra"], dtype=float), np.nan)
        pmdec = np.ma.filled(np.ma.asarray(catalog["pmdec"], dtype=float), np.nan)
    if gaia is not None and len(gaia):
        from astropy import units as u
        from astropy.coordinates import SkyCoord

        missing = [c for c in ("ra", "dec", "pmra", "pmdec") if c not in gaia.colnames]
        if missing:
            raise WorkbookError(f"Gaia table lacks column(s) {', '.join(missing)}; pass a Gaia DR3 table with proper motions")
        ok = np.isfinite(ra) & np.isfinite(dec)
        if ok.any():
            g_ra, g_dec = _gaia_at_epoch(gaia, epoch)
            idx, sep, _ = SkyCoord(ra[ok] * u.deg, dec[ok] * u.deg).match_to_catalog_sky(
                SkyCoord(g_ra * u.deg, g_dec * u.deg))
            hit = sep.arcsec < GAIA_MATCH_ARCSEC
            rows = np.flatnonzero(ok)[hit]
            g_pmra = np.ma.filled(np.ma.asarray(gaia["pmra"], dtype=float), np.nan)[idx[hit]]
            g_pmdec = np.ma.filled(np.ma.asarray(gaia["pmdec"], dtype=float), np.nan)[idx[hit]]
            take = ~np.isfinite(pmra[rows])
            pmra[rows[take]], pmdec[rows[take]] = g_pmra[take], g_pmdec[take]
            matched[rows] = True
    return np.hypot(pmra, pmdec) * abs(planned - epoch), matched


#: Largest separation (arcsec) between a catalog star and its Gaia counterpart, both at the
#: catalog epoch (Gaia propagated there with its own proper motion first).
GAIA_MATCH_ARCSEC = 0.1


def _gaia_at_epoch(gaia, epoch):
    """Gaia positions (deg) moved from their reference epoch to ``epoch`` with their own proper
    motions (linear, tangent-plane; zero motion where pmra/pmdec are masked): a fast mover is
    matched where the pre-image saw it, not where Gaia saw it (a 50 mas/yr star is 0.56" away
    after 11 years). Without ``ref_epoch`` (column or meta) the positions are used as they are."""
    g_ra = np.asarray(gaia["ra"], float)
    g_dec = np.asarray(gaia["dec"], float)
    ref = gaia["ref_epoch"] if "ref_epoch" in gaia.colnames else gaia.meta.get("ref_epoch")
    if ref is None:
        return g_ra, g_dec
    dt = float(epoch) - np.ma.filled(np.ma.asarray(ref, dtype=float), np.nan)
    pmra = np.nan_to_num(np.ma.filled(np.ma.asarray(gaia["pmra"], dtype=float), np.nan))
    pmdec = np.nan_to_num(np.ma.filled(np.ma.asarray(gaia["pmdec"], dtype=float), np.nan))
    dt = np.nan_to_num(np.broadcast_to(dt, g_ra.shape))
    # pmra is mu_alpha* (already times cos dec), mas/yr
    g_dec_new = g_dec + pmdec * dt / 3.6e6
    g_ra_new = g_ra + pmra * dt / 3.6e6 / np.cos(np.radians(g_dec))
    return g_ra_new % 360.0, g_dec_new
