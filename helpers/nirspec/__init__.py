"""NIRSpec MSA facts and slit-loss physics shared by several steps, each with its source.

Kept upstream of every computing module (it imports no other helpers module) so that
``astrometry`` and ``msa`` use one table, and neither imports the other.

submodule -> concern -> notebook:

``shutters``
    MSA shutter facts: the centering constraints of APT's MSA Planning Tool
    (:data:`CENTERING_CONSTRAINTS`: margins inset from the shutter pitch, as APT/hMPT/vMPT;
    :func:`in_zone`, :func:`geometric_acceptance`), the pitch and open area of one shutter, and
    the JDox ETC extraction offsets for what they are (:data:`ETC_EXTRACTION_OFFSETS`)
    -> 03 (via ``astrometry``), 04 (``msa``), 05 (``export``).
``slitloss``
    Slit-loss consequence model: JWST-like PSF, throughput through one open shutter versus
    offset, centering-zone probabilities, what a catalog precision costs
    (:func:`slit_throughput_consequence`) and the one MSATA pointing-error model
    (:func:`msata_error_mas`) -> 03 (re-exported by ``astrometry``).
"""

from .shutters import (CENTERING_CONSTRAINTS, CENTERING_MARGINS_ARCSEC, CENTERING_SOURCE, ETC_EXTRACTION_OFFSETS,
                       ETC_EXTRACTION_SOURCE, SHUTTER_OPEN_ARCSEC, SHUTTER_PITCH_ARCSEC, canonical_constraint,
                       constraint_names, geometric_acceptance, in_zone, zone_fraction_limits, zone_half_sizes_arcsec)
from .slitloss import (centering_constraints, jwst_like_psf, msata_error_mas, slit_throughput_consequence,
                       slit_throughput_grid, zone_probabilities)

__all__ = [
    # shutters
    "CENTERING_CONSTRAINTS",
    "CENTERING_SOURCE",
    "SHUTTER_OPEN_ARCSEC",
    "SHUTTER_PITCH_ARCSEC",
    "CENTERING_MARGINS_ARCSEC",
    "ETC_EXTRACTION_OFFSETS",
    "ETC_EXTRACTION_SOURCE",
    "constraint_names",
    "canonical_constraint",
    "zone_fraction_limits",
    "zone_half_sizes_arcsec",
    "geometric_acceptance",
    "in_zone",
    # slitloss
    "centering_constraints",
    "jwst_like_psf",
    "slit_throughput_grid",
    "zone_probabilities",
    "slit_throughput_consequence",
    "msata_error_mas",
]
