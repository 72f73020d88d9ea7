"""Files for APT's MSA Planning Tool (notebook 05): MPT catalog, MSATA reference stars, regions, session.

Vocabulary
----------
APT
    The Astronomer's Proposal Tool, where JWST observations are specified.
MPT
    APT's NIRSpec *MSA Planning Tool*: it reads a source catalog and places sources in the
    shutters of the micro-shutter assembly (MSA).
TA, MSATA
    Target acquisition; MSATA is NIRSpec's MSA-based TA: 5-8 *reference stars* imaged through
    open shutters in a TA filter (F110W, F140X or CLEAR) fix the pointing and roll to ~20 mas
    when their positions are in the same 5-10 mas frame as the science targets.

Submodules (all used by notebook 05, ``05_export_for_apt.ipynb``)
-----------------------------------------------------------------
``mpt``
    The MPT catalog: build, validate, write, read back, round-trip check.
``magnitudes``
    AB zeropoints and magnitudes (pre-image filter; TA filter estimated).
``msata``
    MSATA brightness windows and the ranked reference-star selection.
``footprint``
    The MSA at the chosen pointing (outlines, source counts) from `helpers.msa`, lazily.
``regions``
    DS9 / CRTF region files.
``slitlets``
    The planned slitlets at the chosen pointing: counted targets, spectral overlaps, the
    pointing as MPT takes it, DS9 polygons of the slitlets.
``catalogs``
    The full export catalog (ECSV).
``session``
    The session file and re-creating a field from it.
``card``
    The plain-text summary card.
``geometry``
    Tangent-plane helpers shared by ``mpt`` and ``msata``.
``notebook``
    Notebook-05 glue: finding its upstream inputs in the workspace, copying earlier figures.

Every name is importable from ``helpers.export`` as before the split (``from helpers import
export; export.write_mpt_catalog(...)``). Figures: `helpers.plotting.export`.
"""

from .card import astrometry_summary, summary_card
from .catalogs import full_catalog, write_catalog_ecsv
from .footprint import msa_counts, msa_outline_polygons, quadrant_outlines
from .geometry import tangent_plane_arcsec
from .magnitudes import APPROX_AB_ZEROPOINTS, ab_zeropoint, catalog_magnitudes, flux_to_abmag
from .mpt import (COORD_DECIMALS, MAG_FILL, MPT_MAX_ID, MPT_MAX_RADIUS_DEG, OTHER_FILL, build_mpt_table,
                  build_target_mpt_table,
                  read_mpt_catalog, round_trip_check, validate_mpt_table, write_mpt_catalog)
from .msata import (FLAG_BLENDED, FLAG_EDGE, FLAG_MASKED, FLAG_PSF_FAILED, FLAG_SATURATED, MSATA_WINDOWS,
                    MSATA_WINDOWS_SOURCE, load_brightness_windows, msata_candidates, ta_magnitude_window)
from .notebook import (chosen_pointing, copy_figures, find_source_catalog, image_header, list_figures,
                       field_plan, msata_inputs, planned_epoch, reference_gaia, sigma_calibration)
from .regions import outline_regions, write_ds9_circles, write_regions
from .slitlets import (PRIORITY_COLORS, mpt_pointing, overlap_record, planned_slitlets, priority_classes,
                       slitlet_regions, write_slitlet_regions)
from .session import read_session, recreate_field_from_session, software_versions, write_session

# private helpers used outside the package (tests/test_export.py); not part of __all__
from .footprint import _as_polygons  # noqa: F401
from .regions import _circle_regions  # noqa: F401

__all__ = [
    "MPT_MAX_ID",
    "MPT_MAX_RADIUS_DEG",
    "MSATA_WINDOWS",
    "ta_magnitude_window",
    "load_brightness_windows",
    "ab_zeropoint",
    "flux_to_abmag",
    "tangent_plane_arcsec",
    "validate_mpt_table",
    "build_mpt_table",
    "build_target_mpt_table",
    "write_mpt_catalog",
    "read_mpt_catalog",
    "msata_candidates",
    "write_ds9_circles",
    "write_regions",
    "msa_outline_polygons",
    "quadrant_outlines",
    "msa_counts",
    "outline_regions",
    "write_catalog_ecsv",
    "catalog_magnitudes",
    "full_catalog",
    "copy_figures",
    "list_figures",
    "software_versions",
    "write_session",
    "read_session",
    "recreate_field_from_session",
    "find_source_catalog",
    "summary_card",
    "astrometry_summary",
    "round_trip_check",
    "image_header",
    "planned_epoch",
    "chosen_pointing",
    "sigma_calibration",
    "reference_gaia",
    "msata_inputs",
    "field_plan",
    "PRIORITY_COLORS",
    "priority_classes",
    "planned_slitlets",
    "slitlet_regions",
    "write_slitlet_regions",
    "mpt_pointing",
    "overlap_record",
]
