"""NIRSpec MSA shutter facts shared by several steps, each with its source.

Kept upstream of every computing module so that the slit-loss consequence model
(:mod:`helpers.nirspec.slitloss`, shown by ``astrometry``), ``msa`` (shutter geometry, counts),
the widget and the export use **one** definition of the centering zones, and neither
``astrometry`` nor ``msa`` imports the other.

Centering zones as APT's MSA Planning Tool, hMPT and jwst-vmpt 1.8.0 apply them: a margin
(arcsec) inset **per axis** from the shutter *pitch* cell (0.2679" x 0.5294", dispersion x
spatial). In units of the pitch the source centre must satisfy
``|offset_disp| / pitch_disp < 0.5 - margin / 0.2679`` and
``|offset_spat| / pitch_spat < 0.5 - margin / 0.5294`` (vMPT ``_check_centration``: strict
inequality, nominal pitch). *Unconstrained* is the whole cell, behind the bars too (JDox
"NIRSpec MOS slit losses": such a source "might be centered behind both the horizontal and
vertical MSA bars"); *Entire Open Shutter Area* (0.035") is about the open area.
"""

import numpy as np

from ..errors import WorkbookError
from ..validate import require_array

__all__ = ["CENTERING_CONSTRAINTS", "CENTERING_SOURCE", "CENTERING_MARGINS_ARCSEC", "ETC_EXTRACTION_OFFSETS",
           "ETC_EXTRACTION_SOURCE", "SHUTTER_OPEN_ARCSEC", "SHUTTER_PITCH_ARCSEC", "constraint_names",
           "canonical_constraint", "zone_fraction_limits", "zone_half_sizes_arcsec", "geometric_acceptance",
           "in_zone"]

#: Shutter pitch on the sky (dispersion, spatial), arcsec: the cell the zones are inset from
#: (hMPT; jwst-vmpt 1.8.0 ``SHUTTER_X_ARCSEC, SHUTTER_Y_ARCSEC``).
SHUTTER_PITCH_ARCSEC = (0.2679, 0.5294)

#: Open area of one MSA shutter on the sky (dispersion x spatial), arcsec: 78 x 178 um open in
#: a 105 x 203.5 um pitch (JDox "NIRSpec Micro-Shutter Assembly").
SHUTTER_OPEN_ARCSEC = (0.20, 0.46)

#: APT's centering-constraint names, loosest first, with the margin (arcsec) inset per axis
#: from the pitch cell (hMPT; jwst-vmpt 1.8.0 ``CENTRATION_BUFFERS``).
CENTERING_MARGINS_ARCSEC = (
    ("Unconstrained", 0.000),
    ("Entire Open Shutter Area", 0.035),
    ("Midpoint", 0.059),
    ("Constrained", 0.072),
    ("Tightly Constrained", 0.091),
)

#: ``(name, x_half, y_half, margin)`` per constraint, loosest first: half-sizes (arcsec) of the
#: zone around the shutter centre along the dispersion and spatial directions, at the nominal
#: pitch (``x_half = 0.2679 / 2 - margin``, ``y_half = 0.5294 / 2 - margin``).
CENTERING_CONSTRAINTS = tuple(
    (name, round(SHUTTER_PITCH_ARCSEC[0] / 2 - m, 5), round(SHUTTER_PITCH_ARCSEC[1] / 2 - m, 5), m)
    for name, m in CENTERING_MARGINS_ARCSEC)
CENTERING_SOURCE = ("APT MSA Planning Tool centering constraints as applied by hMPT and jwst-vmpt 1.8.0 "
                    "(vmpt/optimizer.py CENTRATION_BUFFERS, _check_centration): margins 0/0.035/0.059/0.072/0.091\" "
                    "inset per axis from the 0.2679\" x 0.5294\" shutter pitch")

#: What the JDox ETC table really lists: for each MPT constraint, the largest source offset
#: from the shutter centre (dispersion, spatial; arcsec) the ETC's *MSA Full Shutter Extraction*
#: strategy models, and the minimum relative flux transmission at 2.95 um. They are ETC
#: extraction offsets, **not** the zones (use `CENTERING_CONSTRAINTS` for those).
ETC_EXTRACTION_OFFSETS = (
    # name, x_offset (arcsec), y_offset (arcsec), min. relative transmission at 2.95 um
    ("Unconstrained", 0.100, 0.225, 0.12),
    ("Entire Open Shutter Area", 0.062, 0.187, 0.30),
    ("Midpoint", 0.041, 0.166, 0.62),
    ("Constrained", 0.028, 0.153, 0.75),
    ("Tightly Constrained", 0.009, 0.134, 0.85),
)
ETC_EXTRACTION_SOURCE = ("JDox 'JWST ETC MSA Full Shutter Extraction Strategy', Table 1: ETC source offsets and "
                         "minimum transmissions at 2.95 um (https://jwst-docs.stsci.edu/jwst-exposure-time-calculator-"
                         "overview/jwst-etc-calculations-page-overview/jwst-etc-strategies/"
                         "jwst-etc-msa-full-shutter-extraction-strategy)")


def constraint_names():
    """Names of the centering constraints, loosest first (see `CENTERING_CONSTRAINTS`)."""
    return [c[0] for c in CENTERING_CONSTRAINTS]


def canonical_constraint(name):
    """APT's spelling of a centering-constraint name (case and spaces/underscores ignored).

    Also accepts vMPT's keys (``MIDPOINT``, ``ENTIRE_OPEN``, ``TIGHTLY_CONSTRAINED`` ...).

    Raises
    ------
    WorkbookError
        Unknown name; the message lists the five.
    """
    key = str(name).strip().lower().replace("_", " ")
    key = " ".join(key.split())
    for n in constraint_names():
        if key == n.lower() or (key == "entire open" and n == "Entire Open Shutter Area"):
            return n
    raise WorkbookError(f"unknown centering constraint {name!r}; use one of: {', '.join(constraint_names())}")


def _margin(name):
    return dict(CENTERING_MARGINS_ARCSEC)[canonical_constraint(name)]


def zone_fraction_limits(name):
    """Half-size of a zone in units of the pitch (dispersion, spatial): ``0.5 - margin / pitch``."""
    m = _margin(name)
    return 0.5 - m / SHUTTER_PITCH_ARCSEC[0], 0.5 - m / SHUTTER_PITCH_ARCSEC[1]


def zone_half_sizes_arcsec(name):
    """Half-sizes (dispersion, spatial) of a zone at the nominal pitch, arcsec."""
    fx, fy = zone_fraction_limits(name)
    return fx * SHUTTER_PITCH_ARCSEC[0], fy * SHUTTER_PITCH_ARCSEC[1]


def geometric_acceptance(name):
    """Fraction of the pitch cell covered by a zone: the chance that a source placed at random
    in a shutter cell satisfies the constraint (1 for Unconstrained)."""
    fx, fy = zone_fraction_limits(name)
    return (2 * fx) * (2 * fy)


def in_zone(frac_disp, frac_spat, name):
    """True where the offsets from the shutter centre, in units of the local pitch along the
    dispersion and spatial directions, lie inside the zone (strict, as vMPT; NaN -> False).

    Examples
    --------
    >>> bool(in_zone(0.2, 0.3, "Midpoint")), bool(in_zone(0.3, 0.0, "Midpoint"))
    (True, False)
    """
    fx, fy = zone_fraction_limits(name)
    frac_disp = require_array(frac_disp, "frac_disp", ndim=None, what="offsets in shutter pitches")
    frac_spat = require_array(frac_spat, "frac_spat", ndim=None, what="offsets in shutter pitches")
    if frac_disp.shape != frac_spat.shape and frac_disp.ndim and frac_spat.ndim:
        raise WorkbookError(f"frac_disp has shape {frac_disp.shape}, frac_spat {frac_spat.shape}; give one of each per source")
    with np.errstate(invalid="ignore"):
        return (np.abs(frac_disp) < fx) & (np.abs(frac_spat) < fy)

