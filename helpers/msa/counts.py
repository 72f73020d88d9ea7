"""The one vocabulary of source counts (widget, figure titles, notebook 05's summary card).

A reader meets the same count under the same name everywhere, each with a one-line
definition (`COUNTS`) shown next to it: on hover in the widget, beneath the table, in the
figure legend. :func:`count_sources` computes them from :meth:`MSAPointing.locate_arrays`.

The names follow the order in which a source is lost: it must be in the MSA grid, then in
an open area, then in a shutter that can open, then (with the nod) in a slitlet that can open,
then inside the centering zone.
"""

import numpy as np

from ..errors import WorkbookError
from ..validate import require_instance, require_number
from ..nirspec import CENTERING_CONSTRAINTS, canonical_constraint, constraint_names
from .operability import STATE_FAILED_CLOSED, STATE_FAILED_OPEN, STATE_OK

__all__ = ["COUNTS", "count_sources", "zone_count_name", "count_definition", "count_targets", "target_count_name"]


def zone_count_name(constraint):
    """Name of the count of sources inside a centering zone, e.g. ``'in Midpoint zone'``."""
    return f"in {canonical_constraint(constraint)} zone"


#: Count name -> one-line definition. Order = the order shown to the user.
COUNTS = {
    "catalog sources": "sources of the catalog with a finite RA and Dec",
    "in MSA quadrants": "sources inside a quadrant's shutter grid (open area or bars; not the gaps between quadrants)",
    "in open shutter area": "sources inside the open area of a shutter, whatever the shutter's state",
    "in operable open shutters": "sources inside the open area of a shutter that can open (not failed closed or open)",
    "with operable nodded slitlet": ("sources in operable open shutters whose 3-shutter slitlet (the shutters above "
                                     "and below along the spatial direction) has no failed-closed shutter"),
    **{zone_count_name(name): (f"sources within +-{x:.3f}\" (dispersion) x +-{y:.3f}\" (spatial) of a shutter's "
                               f"centre (APT's {name} constraint: {margin:.3f}\" inset from the shutter pitch) whose "
                               f"whole slitlet (3 shutters when nodding) is operable: MSAPointing.count")
       for name, x, y, margin in CENTERING_CONSTRAINTS},
    **{f"Q{k}": f"sources in operable open shutters of quadrant {k}" for k in range(1, 5)},
    "on failed-open shutters": "sources inside the cell of a failed-open shutter (always open: contaminates)",
    "on failed-closed shutters": "sources inside the cell of a failed-closed shutter (cannot be observed there)",
    "without sigma": "sources in MSA quadrants whose catalog gives no position error",
    "footprint on image (%)": "percentage of the MSA's shutters that lie on the pre-image",
}


def count_definition(name):
    """The one-line definition of a count name (KeyError with the known names otherwise)."""
    try:
        return COUNTS[name]
    except KeyError:
        import re

        m = re.fullmatch(r"priority (\S+) targets in (.+) zone|targets without priority in (.+) zone", str(name))
        zone = m and (m.group(2) or m.group(3))
        if zone in constraint_names():
            which = f"of priority {m.group(1)}" if m.group(1) else "without a priority"
            return (f"targets {which} inside the {zone} zone of their shutter with the whole slitlet operable "
                    f"(the rule of 'in {zone} zone': MSAPointing.count)")
        raise WorkbookError(f"unknown count {name!r}; use one of: {', '.join(COUNTS)}") from None


def count_sources(located, operability, nod=False, sigma=None):
    """The `COUNTS` of one pointing from :meth:`MSAPointing.locate_arrays`.

    Parameters
    ----------
    located : dict
        Output of ``MSAPointing.locate_arrays`` (``quadrant, i, j, in_open, state`` and one
        ``zone_*`` column per centering constraint).
    operability : helpers.msa.Operability
        The map ``located`` was computed with (for the slitlet check).
    nod : bool
        Whether the 3-shutter nod is used: the zone counts then require the slitlet.
    sigma : ndarray, optional
        Per-source position error (mas; NaN where unknown) for ``without sigma``.

    Returns
    -------
    counts : dict
        Count name -> int, in `COUNTS` order (``footprint on image (%)`` is the caller's).
    usable : ndarray of bool
        Sources counted as usable (operable open shutter, and operable slitlet when nodding).
    """
    from .operability import Operability

    require_instance(operability, Operability, "operability", "pass helpers.msa.default_operability() or load_operability(path)")
    from .pointing import counted_mask, slitlet_ok

    if not (isinstance(located, dict) or hasattr(located, "colnames")) or "quadrant" not in located.keys():
        raise WorkbookError(f"located is a {type(located).__name__}, not the table MSAPointing.locate returned; "
                            "pass pointing.locate(ra, dec)")
    q = np.asarray(located["quadrant"])
    inside = q > 0
    state = np.asarray(located["state"])
    in_open = np.asarray(located["in_open"]) & inside
    operable_open = in_open & (state == STATE_OK)
    slit = slitlet_ok(q, np.asarray(located["i"]), np.asarray(located["j"]), operability) if q.size else \
        np.zeros(0, dtype=bool)
    c = {"catalog sources": int(q.size), "in MSA quadrants": int(inside.sum()),
         "in open shutter area": int(in_open.sum()), "in operable open shutters": int(operable_open.sum()),
         "with operable nodded slitlet": int((operable_open & slit).sum())}
    for name in constraint_names():
        # the one counting rule (MSAPointing.count): inside the zone -- Unconstrained is the whole
        # pitch cell, behind the bars too -- with the whole slitlet operable
        c[zone_count_name(name)] = int(counted_mask(located, name, 3 if nod else 1, operability).sum())
    for k in range(1, 5):
        c[f"Q{k}"] = int((operable_open & (q == k)).sum())
    c["on failed-open shutters"] = int((inside & (state == STATE_FAILED_OPEN)).sum())
    c["on failed-closed shutters"] = int((inside & (state == STATE_FAILED_CLOSED)).sum())
    if sigma is not None:
        c["without sigma"] = int((inside & ~np.isfinite(np.asarray(sigma, dtype=float))).sum())
    usable = operable_open & slit if nod else operable_open
    return c, usable


def target_count_name(constraint, priority=None):
    """Name of a count of the planner's targets inside a zone, all or one priority class.

    ``'targets in Midpoint zone'``, ``'priority 1 targets in Midpoint zone'``, or
    ``'targets without priority in Midpoint zone'`` (``priority`` NaN).
    """
    if priority is not None and not (isinstance(priority, float) and priority != priority):  # NaN: no priority
        priority = require_number(priority, "priority", example=1)
    zone = zone_count_name(constraint)
    if priority is None:
        return f"targets {zone}"
    p = float(priority)
    return f"targets without priority {zone}" if p != p else f"priority {p:g} targets {zone}"


COUNTS["targets in list"] = "rows of the planner's target list (notebook 02's corrected list, or as given) with a finite RA and Dec"
for _name in constraint_names():
    COUNTS[target_count_name(_name)] = (f"targets of the list inside the {_name} zone of their shutter with the whole "
                                        f"slitlet operable (the rule of '{zone_count_name(_name)}': MSAPointing.count)")
COUNTS["targets on failed shutters"] = "targets inside the cell of a failed-open or failed-closed shutter"
COUNTS["with overlapping spectra"] = ("counted targets (counted sources without a target list) whose spectrum on "
                                      "NRS1/NRS2 for the chosen disperser overlaps another counted one's: detector rows "
                                      "closer than a slitlet and extents along the dispersion intersecting "
                                      "(helpers.planning.find_overlaps)")
del _name

def count_targets(located, priority, constraint, slitlet, operability):
    """Counts of the planner's targets at one pointing, per priority class, with the one counting rule.

    Parameters
    ----------
    located : dict
        ``MSAPointing.locate_arrays`` of the targets.
    priority : array_like of float
        Priority per target (1 = most wanted; NaN where none).
    constraint : str
        Centering constraint.
    slitlet : int
        Shutters per slitlet (3 with the nod).
    operability : helpers.msa.Operability

    Returns
    -------
    counts : dict
        ``targets in list``, ``targets in <zone> zone``, one ``priority P targets in <zone> zone``
        per class present (ascending; ``targets without priority ...`` last) and ``targets on failed
        shutters``; names defined by `count_definition`.
    counted : ndarray of bool
        The targets counted (``counted_mask``).
    """
    from .pointing import counted_mask

    name = canonical_constraint(constraint)
    counted = counted_mask(located, name, slitlet, operability)
    pri = np.asarray(priority, dtype=float).ravel()
    q = np.asarray(located["quadrant"])
    state = np.asarray(located["state"])
    c = {"targets in list": int(q.size), target_count_name(name): int(counted.sum())}
    for p in np.unique(pri[np.isfinite(pri)]):
        c[target_count_name(name, p)] = int((counted & (pri == p)).sum())
    if (~np.isfinite(pri)).any():
        c[target_count_name(name, float("nan"))] = int((counted & ~np.isfinite(pri)).sum())
    c["targets on failed shutters"] = int(((q > 0) & ((state == STATE_FAILED_OPEN) | (state == STATE_FAILED_CLOSED))).sum())
    return c, counted
