"""Shutter-accurate NIRSpec MSA model (notebook 04); the code lives in `helpers.msa.model`."""

from ..nirspec import CENTERING_CONSTRAINTS, CENTERING_SOURCE, constraint_names  # noqa: F401 (public here too)
from .model import (  # noqa: F401
    __all__, N_QUADRANTS, N_ROWS, N_COLUMNS, N_SHUTTERS, SHAPE, FILTERS, REFERENCE_APERTURE, SLIT_APERTURES,
    IFU_APERTURE, NOD_PATTERN, DATA_DIR, GRID_FILE, OPERABILITY_FILE, STATE_OK, STATE_FAILED_CLOSED,
    STATE_FAILED_OPEN, STATE_NAMES, MSAModel, get_model, shutter_v2v3, shutter_corners_v2v3, msa_xy_to_v2v3,
    v2v3_to_msa_xy, msa_xy_from_index, sky_unit, Operability, load_operability, default_operability,
    MSAPointing, outlines_v2v3, locate_v2v3, slitlet_rows, slitlet_ok, footprint_overlap, require_overlap,
    idt_table_path, validate_against_idt,
    _constraint, _zone_column, _grid, _import_pysiaf, _siaf, _transforms,
)
