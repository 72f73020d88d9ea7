"""Shutter-accurate NIRSpec MSA model (notebook 04).

Every one of the 4 x 365 x 171 = 249,660 micro-shutters, placed on the sky through the
NIRSpec optics model carried by the SIAF, and a pointing class that puts the whole grid on
RA/Dec and finds, for any list of sources, the shutter each one falls in. Every name below is
importable from ``helpers.msa`` itself.

Submodule -> concern -> notebook

``model``
    SIAF optics polynomials (MSA plane <-> V2/V3), the MSA-plane shutter grid and the cached
    per-filter `MSAModel` of all shutters; frames and how the model is built -> 04 (and 01, 05
    through the pointing).
``operability``
    Shutter operability maps (shipped map, CRDS ``msaoper`` files) -> 04.
``pointing``
    `MSAPointing` on RA/Dec, the shutter look-up of sources, slitlets, centering zones, outlines
    and the footprint overlap with an image -> 04 (outlines in 01 and 05, counts in 05).
``counts``
    The one vocabulary of source counts (`COUNTS`: name -> one-line definition) -> 04, 05.
``validation``
    The model against the NIRSpec IDT per-shutter table shipped in pysiaf -> 04.

This package does not import matplotlib and works without a display.
"""

from ..nirspec import (CENTERING_CONSTRAINTS, CENTERING_SOURCE, SHUTTER_PITCH_ARCSEC,  # noqa: F401 (public here too)
                       canonical_constraint, constraint_names, geometric_acceptance, in_zone)
from .model import (  # noqa: F401
    DATA_DIR, FILTERS, GRID_FILE, N_COLUMNS, N_QUADRANTS, N_ROWS, N_SHUTTERS, SHAPE, MSAModel, get_model,
    msa_xy_from_index, msa_xy_to_v2v3, shutter_corners_v2v3, shutter_v2v3, sky_unit, v2v3_to_msa_xy,
    _grid, _import_pysiaf, _siaf, _transforms,
)
from .operability import (  # noqa: F401
    OPERABILITY_FILE, STATE_FAILED_CLOSED, STATE_FAILED_OPEN, STATE_NAMES, STATE_OK, Operability,
    default_operability, load_operability,
)
from .pointing import (  # noqa: F401
    IFU_APERTURE, NOD_PATTERN, REFERENCE_APERTURE, SLIT_APERTURES, MSAPointing, footprint_overlap,
    locate_v2v3, outlines_v2v3, require_overlap, shutter_id, counted_mask, slitlet_ok, slitlet_rows,
    _constraint, _zone_column,
)
from .aberration import VA_FACTOR_RANGE, velocity_aberration_factor  # noqa: F401
from .validation import idt_table_path, validate_against_idt  # noqa: F401
from .counts import COUNTS, count_definition, count_sources, count_targets, target_count_name, zone_count_name  # noqa: F401

__all__ = [
    "N_QUADRANTS", "N_COLUMNS", "N_ROWS", "N_SHUTTERS", "FILTERS", "REFERENCE_APERTURE",
    "CENTERING_CONSTRAINTS", "constraint_names", "SLIT_APERTURES", "IFU_APERTURE",
    "NOD_PATTERN", "DATA_DIR", "MSAModel", "get_model", "shutter_v2v3", "shutter_corners_v2v3",
    "msa_xy_to_v2v3", "v2v3_to_msa_xy", "Operability", "load_operability", "MSAPointing",
    "slitlet_rows", "footprint_overlap",
    # public names used elsewhere (notebooks, tests, plotting, widgets) but not listed before the split
    "CENTERING_SOURCE", "SHAPE", "GRID_FILE", "OPERABILITY_FILE", "STATE_OK", "STATE_FAILED_CLOSED",
    "STATE_FAILED_OPEN", "STATE_NAMES", "msa_xy_from_index", "sky_unit", "default_operability",
    "outlines_v2v3", "locate_v2v3", "slitlet_ok", "require_overlap", "idt_table_path",
    "validate_against_idt", "COUNTS", "count_definition", "count_sources", "zone_count_name",
    "shutter_id", "counted_mask", "canonical_constraint", "in_zone",
    "geometric_acceptance", "SHUTTER_PITCH_ARCSEC", "VA_FACTOR_RANGE", "velocity_aberration_factor",
    "count_targets", "target_count_name",
]
