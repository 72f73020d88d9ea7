"""The MSA at the chosen pointing (notebook 05): outlines and source counts from `helpers.msa` (lazy)."""

import numpy as np

from ..errors import WorkbookError
from ..validate import require_array, require_number, require_same_length

__all__ = [
    "msa_outline_polygons",
    "quadrant_outlines",
    "msa_counts",
]


def msa_outline_polygons(ra, dec, apa, filter_name="CLEAR"):
    """MSA outlines on the sky at a pointing, from `helpers.msa` (imported lazily).

    Parameters
    ----------
    ra, dec : float
        Pointing (``NRS_FULL_MSA`` reference point), ICRS deg.
    apa : float
        Aperture position angle, deg.
    filter_name : str, optional
        Filter of the MSA model (falls back to CLEAR if `helpers.msa` does not know it).

    Returns
    -------
    outlines : dict or None
        ``name -> (N, 2)`` array of (ra, dec) deg: quadrants ``Q1..Q4`` (and the fixed slits
        and IFU when the model provides them). ``None`` when `helpers.msa` is unavailable.
    note : str
        What was used, or why nothing was.
    """
    try:
        from .. import msa
    except Exception as exc:  # noqa: BLE001 - absent or broken upstream module
        return None, f"helpers.msa not available ({exc.__class__.__name__}); MSA outline skipped"
    pointing_cls = getattr(msa, "MSAPointing", None)
    if pointing_cls is None:
        return None, "helpers.msa has no MSAPointing; MSA outline skipped"
    used = str(filter_name or "CLEAR").upper()
    if used not in getattr(msa, "FILTERS", (used,)):
        used = "CLEAR"
    try:
        pointing = pointing_cls(ra, dec, apa, filter=used)
        value = None
        for name in ("outlines_sky", "quadrant_outlines", "outlines"):
            attr = getattr(pointing, name, None)
            if attr is not None:
                value = attr() if callable(attr) else attr
                break
    except WorkbookError:
        raise
    except Exception as exc:  # noqa: BLE001
        return None, f"helpers.msa outline failed ({exc.__class__.__name__}: {exc}); MSA outline skipped"
    if isinstance(value, dict):
        polys = {}
        for key, item in value.items():
            arr = _as_polygons([item])
            if arr:
                polys[str(key)] = arr[0]
    else:
        arr = _as_polygons(value)
        polys = {f"Q{k}": a for k, a in enumerate(arr or [], start=1)}
    if not polys:
        return None, "helpers.msa.MSAPointing offers no outline; MSA outline skipped"
    return polys, (f"helpers.msa.MSAPointing({ra:.6f}, {dec:.6f}, APA {apa:.2f}, filter {used}).outlines_sky()")


def quadrant_outlines(outlines):
    """The quadrant polygons (names starting with ``Q``) of an outline dict, as a dict."""
    if outlines is not None and not isinstance(outlines, (dict, list, tuple)):
        raise WorkbookError(f"outlines = {outlines!r:.40} is not a dict or list of polygons; pass pointing.outlines_sky()")
    if not outlines:
        return None
    if not isinstance(outlines, dict):
        return {f"Q{k}": np.asarray(p, float) for k, p in enumerate(outlines, start=1)}
    return {k: v for k, v in outlines.items() if str(k).upper().startswith("Q")} or None


def msa_counts(pointing, ra, dec, epoch=None):
    """Count sources in the MSA at a pointing with `helpers.msa` (lazily imported).

    Parameters
    ----------
    pointing : dict
        ``{"ra", "dec", "apa", "filter"}`` (notebook 04's ``cfg.pointing``).
    ra, dec : array-like, deg
    epoch : str or float, optional
        Planned date: applies APT's differential velocity aberration (`helpers.msa.MSAPointing`).

    Returns
    -------
    counts : dict or None
        ``in MSA quadrants``, ``in open shutter area``, ``in operable open shutters`` and, from
        ``MSAPointing.count`` (the workbook's one counting rule), ``in operable 3-shutter slitlets
        (<constraint>)`` for the pointing's constraint (default Midpoint); ``None`` if
        `helpers.msa` is unavailable.
    located : `~astropy.table.Table` or None
        Per-source ``shutter_quadrant, shutter_row, shutter_column, shutter_id`` (APT's names),
        ``in_open, state`` ... from ``MSAPointing.locate``.
    note : str
    """
    if not isinstance(pointing, dict):
        raise WorkbookError(f"pointing = {pointing!r:.40} is not a dict; pass notebook 04's cfg.pointing "
                            "({'ra', 'dec', 'apa', 'filter'})")
    for key in ("ra", "dec", "apa"):
        require_number(pointing.get(key), f"pointing[{key!r}]", example=45.0)
    ra = require_array(ra, "ra", what="RA in degrees")
    dec = require_array(dec, "dec", what="Dec in degrees")
    require_same_length(ra=ra, dec=dec)
    if epoch is not None and (isinstance(epoch, bool) or not isinstance(epoch, (str, int, float))):
        raise WorkbookError(f"epoch = {epoch!r:.40} is not a date; give an ISO date ('2027-01-15'), a decimal year or None")
    try:
        from .. import msa

        used = str(pointing.get("filter") or "CLEAR").upper()
        if used not in getattr(msa, "FILTERS", (used,)):
            used = "CLEAR"
        p = msa.MSAPointing(pointing["ra"], pointing["dec"], pointing["apa"], filter=used, epoch=epoch)
        t = p.locate(np.asarray(ra, float), np.asarray(dec, float))
        constraint = msa.canonical_constraint(pointing.get("constraint") or "Midpoint")
        n_zone = p.count(np.asarray(ra, float), np.asarray(dec, float), constraint, slitlet=3)
    except WorkbookError:
        raise
    except Exception as exc:  # noqa: BLE001 - absent or incomplete upstream module
        return None, None, f"MSA counts skipped: helpers.msa unavailable ({exc.__class__.__name__}: {exc})"
    q = np.asarray(t["quadrant"])
    in_open = np.asarray(t["in_open"], bool) if "in_open" in t.colnames else q > 0
    state = np.asarray(t["state"]) if "state" in t.colnames else np.zeros(q.size, int)
    counts = {"in MSA quadrants": int((q > 0).sum()), "in open shutter area": int(in_open.sum()),
              "in operable open shutters": int((in_open & (state == 0)).sum()),
              f"in operable 3-shutter slitlets ({constraint})": n_zone}
    return counts, t, f"helpers.msa.MSAPointing(..., filter {used}).locate"


def _as_polygons(value):
    """Normalise outlines given as dict/list of (ra, dec) arrays, SkyCoord or (2, N) arrays."""
    if value is None:
        return None
    if isinstance(value, dict):
        value = list(value.values())
    polys = []
    for item in value:
        if hasattr(item, "ra") and hasattr(item, "dec"):
            arr = np.column_stack([np.asarray(item.ra.deg), np.asarray(item.dec.deg)])
        elif isinstance(item, (tuple, list)) and len(item) == 2 and np.ndim(item[0]) == 1 and len(item[0]) > 2:
            arr = np.column_stack([np.asarray(item[0], float), np.asarray(item[1], float)])
        else:
            arr = np.asarray(item, float)
            if arr.ndim == 2 and arr.shape[0] == 2 and arr.shape[1] != 2:
                arr = arr.T
        if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] < 3:
            return None
        polys.append(arr)
    return polys or None
