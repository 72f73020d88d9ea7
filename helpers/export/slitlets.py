"""The planned slitlets at the chosen pointing (notebook 05): which targets count, their shutters,
their spectral overlaps, the pointing as APT's MSA Planning Tool takes it, and DS9 polygons.

A target is *planned* when the workbook's one counting rule (`helpers.msa.MSAPointing.count_mask`:
inside the centering zone, whole slitlet operable) counts it at the chosen pointing. Its slitlet
is the ``slitlet`` shutters centred on it along the spatial direction (APT's ``shutter_column``),
drawn as the open areas of those shutters.
"""

import numpy as np

from ..errors import WorkbookError
from .._io import atomic_path, refuse_existing
from ..validate import require_array, require_instance, require_number, require_path, require_same_length
from ._checks import require_pointing, require_table

__all__ = [
    "PRIORITY_COLORS",
    "priority_classes",
    "planned_slitlets",
    "slitlet_regions",
    "write_slitlet_regions",
    "mpt_pointing",
    "overlap_record",
]

#: DS9 colours of the planned slitlets by priority class (1 = most wanted); classes beyond the
#: list share its last colour.
PRIORITY_COLORS = ("red", "orange", "yellow", "green", "cyan")
#: ... and, when every target has the same priority, by the tightest centering zone it meets.
ZONE_COLORS = {"Tightly Constrained": "green", "Constrained": "cyan", "Midpoint": "yellow",
               "Entire Open Shutter Area": "orange", "Unconstrained": "red"}


def _require_planned(planned):
    require_table(planned, "planned", ("id", "priority", "shutter_quadrant", "shutter_row", "shutter_column",
                                       "best_zone"), hint="give the table planned_slitlets returned")


def priority_classes(weight):
    """Priority classes 1, 2, ... from MPT ``Weight`` values (largest weight = class 1).

    Parameters
    ----------
    weight : array_like of float

    Returns
    -------
    ndarray of int
        1 for the largest distinct weight, 2 for the next, ...
    """
    w = require_array(weight, "weight", what="MPT weights")
    if w.size and not np.all(np.isfinite(w)):
        raise WorkbookError("the Weight column has NaN/inf values; fix the MPT catalog's weights")
    levels = np.unique(-w)
    return np.searchsorted(levels, -w) + 1


def planned_slitlets(pointing, ra, dec, ids=None, priority=None, constraint="Midpoint", slitlet=3,
                     operability=None, disperser=None):
    """The targets counted at the chosen pointing, with their slitlets and spectral overlaps.

    Parameters
    ----------
    pointing : `helpers.msa.MSAPointing`
    ra, dec : array_like
        Target positions, ICRS deg.
    ids : array_like, optional
        Target IDs (default 1..N).
    priority : array_like of int, optional
        1 = most wanted (default: all 1).
    constraint : str
        One of APT's five centering constraints.
    slitlet : int
        Shutters per slitlet (3 for the standard nod, 1 without).
    operability : `helpers.msa.Operability`, optional
    disperser : str, optional
        A pair of `helpers.planning.disperser_pairs` (e.g. ``"PRISM/CLEAR"``): adds which planned
        targets' spectra overlap (`helpers.planning.find_overlaps`).

    Returns
    -------
    `~astropy.table.Table`
        One row per planned target: ``id, ra, dec, priority, shutter_quadrant, shutter_row,
        shutter_column, shutter_id, best_zone, dx_disp, dy_spat`` (arcsec) and, with a
        disperser, ``overlaps_with`` (IDs, comma-separated, '' if none). ``meta``: pointing,
        ``constraint``, ``slitlet``, ``n_targets``, ``n_planned``, ``disperser``, ``overlaps``
        (list of ID pairs).

    Raises
    ------
    WorkbookError
        Unknown constraint or disperser (the message lists the valid ones), bad slitlet,
        positions of different lengths.
    """
    from astropy.table import Table

    from .. import msa
    from ..planning import find_overlaps
    from ..planning.spectra import _pair

    require_pointing(pointing)
    ra = require_array(ra, "ra", what="RA in degrees")
    dec = require_array(dec, "dec", what="Dec in degrees")
    require_same_length(ra=ra, dec=dec)
    if ids is not None:
        require_same_length(ra=ra, ids=np.atleast_1d(ids))
    if priority is not None:
        priority = require_array(priority, "priority", what="priority classes (1 = most wanted)", allow_nan=False)
    slitlet = require_number(slitlet, "slitlet", minimum=1, integer=True, example=3)
    if operability is not None:
        require_instance(operability, msa.Operability, "operability", "build it with helpers.msa.default_operability()")
    name = msa.canonical_constraint(constraint)
    key = None if disperser is None else _pair(disperser)  # fail on a bad name before any work
    ra = np.atleast_1d(np.asarray(ra, float))
    dec = np.atleast_1d(np.asarray(dec, float))
    n = ra.size
    ids = np.arange(1, n + 1) if ids is None else np.atleast_1d(np.asarray(ids))
    pri = np.ones(n, np.int64) if priority is None else np.atleast_1d(np.asarray(priority)).astype(np.int64)
    if not (dec.size == ids.size == pri.size == n):
        raise WorkbookError(f"ra, dec, ids and priority have lengths {n}, {dec.size}, {ids.size}, {pri.size}; "
                            "give one of each per target")
    loc = pointing.locate(ra, dec, operability=operability)
    if operability is None:
        operability = msa.default_operability()
    counted = msa.counted_mask(loc, name, slitlet, operability=operability)
    sel = np.flatnonzero(counted)
    t = Table({"id": ids[sel], "ra": ra[sel], "dec": dec[sel], "priority": pri[sel]})
    for c in ("shutter_quadrant", "shutter_row", "shutter_column", "shutter_id", "best_zone", "dx_disp", "dy_spat"):
        t[c] = loc[c][sel]
    t["ra"].unit = t["dec"].unit = "deg"
    pairs = []
    if key is not None:
        near = [[] for _ in sel]
        if sel.size:
            for a, b in find_overlaps(t["shutter_quadrant"], t["shutter_row"], t["shutter_column"], key, slitlet):
                near[a].append(str(t["id"][b]))
                near[b].append(str(t["id"][a]))
                pairs.append([t["id"][a].item(), t["id"][b].item()])
        t["overlaps_with"] = np.array([",".join(x) for x in near], dtype=str) if sel.size else np.array([], dtype=str)
    t.meta.update(pointing={"ra": pointing.ra, "dec": pointing.dec, "apa": pointing.apa, "filter": pointing.filter},
                  constraint=name, slitlet=int(slitlet), n_targets=int(n), n_planned=int(sel.size), disperser=key,
                  overlaps=pairs, velocity_aberration=pointing.velocity_aberration_note)
    return t


def slitlet_regions(pointing, planned, frame="fk5"):
    """DS9 polygons of the planned slitlets: the open area of every shutter of each slitlet.

    Parameters
    ----------
    pointing : `helpers.msa.MSAPointing`
        The pointing ``planned`` was computed at.
    planned : `~astropy.table.Table`
        From `planned_slitlets`.
    frame : {'fk5', 'icrs'}
        Frame written to the file (FK5 J2000 by default, DS9's default frame; the corners are
        transformed from ICRS with astropy, so a reader that converts back gets ICRS again).

    Returns
    -------
    list of `~regions.PolygonSkyRegion`
        Coloured by priority class (`PRIORITY_COLORS`), or by zone (`ZONE_COLORS`) when all
        targets share one priority; the target's centre shutter is labelled ``ID p<priority>
        <zone>``; ``meta["tag"]`` is ``["slitlet"]`` (DS9 group ``{slitlet}``).
    """
    from astropy.coordinates import FK5, SkyCoord
    import astropy.units as u
    from regions import PolygonSkyRegion

    from ..msa import slitlet_rows

    require_pointing(pointing)
    _require_planned(planned)
    if frame not in ("fk5", "icrs"):
        raise WorkbookError(f"frame = {frame!r}; use 'fk5' or 'icrs'")
    n_sh = int(planned.meta.get("slitlet", 3))
    if len(planned) == 0:
        return []
    q = np.asarray(planned["shutter_quadrant"], int)
    i = np.asarray(planned["shutter_row"], int)
    j = np.asarray(planned["shutter_column"], int)
    rows = slitlet_rows(j, n_sh)                       # (N, n_sh) spatial indices
    qq = np.broadcast_to(q[:, None], rows.shape)
    ii = np.broadcast_to(i[:, None], rows.shape)
    ra_c, dec_c = pointing.shutter_corners_sky(qq.ravel(), ii.ravel(), rows.ravel(), which="open")
    corners = SkyCoord(np.asarray(ra_c) * u.deg, np.asarray(dec_c) * u.deg, frame="icrs")
    if frame == "fk5":
        corners = corners.transform_to(FK5(equinox="J2000"))
    corners = corners.reshape(rows.shape + (4,))
    pri = np.asarray(planned["priority"], int)
    by_zone = np.unique(pri).size <= 1
    out = []
    for k in range(len(planned)):
        zone = str(planned["best_zone"][k])
        color = ZONE_COLORS.get(zone, "white") if by_zone else PRIORITY_COLORS[min(pri[k], len(PRIORITY_COLORS)) - 1]
        for m in range(n_sh):
            meta = {"tag": ["slitlet"]}
            if rows[k, m] == j[k]:
                meta["text"] = f"{planned['id'][k]} p{pri[k]} {zone.replace(' ', '_')}"
            out.append(PolygonSkyRegion(corners[k, m], meta=meta, visual={"color": color}))
    return out


def write_slitlet_regions(pointing, planned, path, frame="fk5", overwrite=False):
    """Write `slitlet_regions` as a DS9 file, atomically (nothing is written on refusal or error).

    Returns
    -------
    path : `~pathlib.Path`

    Raises
    ------
    WorkbookError
        The file exists and ``overwrite`` is False (checked before any work).
    """
    from regions import Regions

    require_pointing(pointing)
    _require_planned(planned)
    path = require_path(path, "path")
    path = refuse_existing(path, overwrite)
    text = Regions(slitlet_regions(pointing, planned, frame=frame)).serialize(format="ds9")
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(text)
    return path


def mpt_pointing(pointing):
    """The chosen pointing as APT's MSA Planning Tool takes it.

    MPT's planner is given the MSA reference point (``NRS_FULL_MSA``'s V2Ref/V3Ref, where
    `helpers.msa.MSAPointing` anchors the pointing) in RA/Dec and the Aperture PA (APA, deg).

    Returns
    -------
    dict
        ``aperture``, ``ra_deg, dec_deg`` (9 decimals, 0.0036 mas), ``ra_hms, dec_dms``
        (sexagesimal, 4 and 3 decimals of seconds), ``apa_deg``, ``v3pa_deg`` (V3PA of the
        reference point = APA - V3IdlYAngle), ``filter``.
    """
    from astropy.coordinates import SkyCoord
    import astropy.units as u

    from ..msa import REFERENCE_APERTURE

    require_pointing(pointing)
    c = SkyCoord(pointing.ra * u.deg, pointing.dec * u.deg, frame="icrs")
    return {"aperture": REFERENCE_APERTURE, "ra_deg": round(float(pointing.ra), 9),
            "dec_deg": round(float(pointing.dec), 9),
            "ra_hms": str(c.ra.to_string(unit=u.hourangle, sep=":", precision=4, pad=True)),
            "dec_dms": str(c.dec.to_string(unit=u.deg, sep=":", precision=3, alwayssign=True, pad=True)),
            "apa_deg": round(float(pointing.apa), 4), "v3pa_deg": round(float(pointing.v3pa) % 360.0, 4),
            "filter": pointing.filter}


def overlap_record(planned):
    """JSON-ready summary of `planned_slitlets`' overlaps for the session file and the card."""
    _require_planned(planned)
    pairs = planned.meta.get("overlaps") or []
    return {"disperser": planned.meta.get("disperser"), "n_planned": int(planned.meta.get("n_planned", len(planned))),
            "n_pairs": len(pairs), "pairs": [[int(a), int(b)] if str(a).lstrip("-").isdigit() and str(b).lstrip("-").isdigit()
                                             else [str(a), str(b)] for a, b in pairs],
            "n_targets_overlapping": len({x for p in pairs for x in p})}
