"""NIRSpec MSA shutter facts shared by several steps, each with its source.

Kept upstream of every computing module so that the slit-loss consequence model
(:mod:`helpers.nirspec.slitloss`, shown by ``astrometry``) and ``msa`` (shutter geometry) use
one table, and neither ``astrometry`` nor ``msa`` imports the other.
"""

__all__ = ["CENTERING_CONSTRAINTS", "CENTERING_SOURCE", "SHUTTER_OPEN_ARCSEC", "constraint_names"]

#: Source-centering constraints of APT's MSA Planning Tool: the source centre must lie within
#: ``|dispersion offset| <= x_half`` and ``|spatial offset| <= y_half`` (arcsec) of the shutter
#: centre. Names and half-sizes: JDox, "JWST ETC MSA Full Shutter Extraction Strategy",
#: Table 1 (offsets from shutter centre per MPT centering constraint, with the minimum relative
#: flux transmission at 2.95 um). ``margin`` = 0.100 - x_half is the inset from the open-area
#: edge used by published planners (hMPT, jwst-vmpt 1.8.0 ``CENTRATION_BUFFERS``: 0, 0.035,
#: 0.059, 0.072, 0.091 arcsec); JDox's numbers give 0.038 rather than 0.035 for the second.
CENTERING_CONSTRAINTS = (
    # name, x_half (arcsec), y_half (arcsec), min. relative transmission at 2.95 um
    ("Unconstrained", 0.100, 0.225, 0.12),
    ("Entire Open Shutter Area", 0.062, 0.187, 0.30),
    ("Midpoint", 0.041, 0.166, 0.62),
    ("Constrained", 0.028, 0.153, 0.75),
    ("Tightly Constrained", 0.009, 0.134, 0.85),
)
CENTERING_SOURCE = ("JDox 'JWST ETC MSA Full Shutter Extraction Strategy', Table 1 "
                    "(https://jwst-docs.stsci.edu/jwst-exposure-time-calculator-overview/"
                    "jwst-etc-calculations-page-overview/jwst-etc-strategies/"
                    "jwst-etc-msa-full-shutter-extraction-strategy)")

#: Open area of one MSA shutter on the sky (dispersion x spatial), arcsec: 78 x 178 um open in
#: a 105 x 203.5 um pitch (JDox "NIRSpec Micro-Shutter Assembly").
SHUTTER_OPEN_ARCSEC = (0.20, 0.46)


def constraint_names():
    """Names of the centering constraints, loosest first (see `CENTERING_CONSTRAINTS`)."""
    return [c[0] for c in CENTERING_CONSTRAINTS]
