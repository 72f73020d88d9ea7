"""NIRSpec MSA facts and slit-loss physics shared by several steps, each with its source.

Kept upstream of every computing module (it imports no other helpers module) so that
``astrometry`` and ``msa`` use one table, and neither imports the other.

submodule -> concern -> notebook:

``shutters``
    MSA shutter facts: the centering constraints of APT's MSA Planning Tool
    (:data:`CENTERING_CONSTRAINTS`, :data:`CENTERING_SOURCE`, :func:`constraint_names`) and the
    open area of one shutter (:data:`SHUTTER_OPEN_ARCSEC`) -> 03 (via ``astrometry``), 04 (``msa``).
``slitloss``
    Slit-loss consequence model: JWST-like PSF, throughput through one open shutter versus
    offset, centering-zone probabilities, what a catalog precision costs
    (:func:`slit_throughput_consequence`) -> 03 (re-exported by ``astrometry``).
"""

from .shutters import CENTERING_CONSTRAINTS, CENTERING_SOURCE, SHUTTER_OPEN_ARCSEC, constraint_names
from .slitloss import (centering_constraints, jwst_like_psf, slit_throughput_consequence, slit_throughput_grid,
                       zone_probabilities)

__all__ = [
    # shutters
    "CENTERING_CONSTRAINTS",
    "CENTERING_SOURCE",
    "SHUTTER_OPEN_ARCSEC",
    "constraint_names",
    # slitloss
    "centering_constraints",
    "jwst_like_psf",
    "slit_throughput_grid",
    "zone_probabilities",
    "slit_throughput_consequence",
]
