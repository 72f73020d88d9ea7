"""NIRSpec MSA facts and the slit-loss physics shared by several steps, each with its source.

Kept upstream of every computing module (it imports no other helpers module) so that
``astrometry`` and ``msa`` use one table, and neither imports the other.

``shutters``
    MSA shutter facts: centering constraints (:data:`CENTERING_CONSTRAINTS`, :data:`CENTERING_SOURCE`,
    :func:`constraint_names`) and the open area of a shutter (:data:`SHUTTER_OPEN_ARCSEC`);
    used by ``msa`` (notebook 04) and ``astrometry`` (notebook 03).
"""

from .shutters import CENTERING_CONSTRAINTS, CENTERING_SOURCE, SHUTTER_OPEN_ARCSEC, constraint_names

__all__ = ["CENTERING_CONSTRAINTS", "CENTERING_SOURCE", "SHUTTER_OPEN_ARCSEC", "constraint_names"]
