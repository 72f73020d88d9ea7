"""Find and fetch HST / NIRCam imaging and reference catalogs for a field (notebook 01).

The steps, each a function:

1. :func:`find_imaging` asks MAST's CAOM database (through
   `astroquery.mast.Observations`) for HST (ACS/WFC, ACS/HRC, WFC3/UVIS, WFC3/IR, WFPC2)
   and JWST NIRCam imaging around the field, measures how much of the MSA field each
   footprint covers (:func:`footprint_coverage`) and ranks the candidates for astrometry
   (:func:`rank_candidates`, rules in :data:`RANKING_RULES`).
2. :func:`select_products` picks the drizzled science file of the best observations
   (``_drc``/``_drz`` for HST, ``_i2d`` for JWST).
3. :func:`download` fetches them with `~astroquery.mast.ObservationsClass.download_products`
   into the field's cache, verifies every file (:func:`verify_fits`) and never leaves a
   partial or corrupt file in place.
4. :func:`wcs_provenance` decodes ``WCSNAME`` and friends into plain words: what the WCS
   is aligned to and what absolute accuracy to expect.
5. :func:`query_gaia` and :func:`query_hsc` fetch the reference catalogs (Gaia DR3 with
   proper motions; Hubble Source Catalog v3) and cache them per field.

Offline (``live=False``) the same astroquery code paths run against a replay installed at
astroquery's HTTP layer (:mod:`helpers.archive.replay`): for the demo field it serves the
simulated images of :mod:`helpers.simulate` as if MAST had returned them, clearly labelled
as a replay. Tests replay the real MAST answers recorded in astroquery's own test data.

Network faults are retried a bounded number of times with back-off
(:data:`RETRY_DELAYS_S`) and then reported as a one-line
:class:`~helpers.errors.WorkbookError` that names the offline option.

Submodule -> concern -> notebook (every name of ``__all__`` is importable from here):

``mast``
    MAST queries (``find_imaging``, ``select_products``, ``query_observations``) and the
    network plumbing shared by all calls (retries, offline replay, coordinates) -> 01.
``footprints``
    ``s_region`` footprints on the tangent plane, the MSA field, coverage -> 01.
``ranking``
    Normalising CAOM answers, ``rank_candidates``, ``refine_ranking``,
    ``RANKING_RULES`` -> 01.
``downloads``
    ``download`` into the field's cache and ``verify_fits`` -> 01.
``provenance``
    ``decode_wcsname``, ``wcs_provenance``, ``provenance_table`` -> 01.
``references``
    Reference catalogs ``query_gaia``, ``query_hsc``; ``save_table`` -> 01 (read by 03).
``members``
    A product's member exposures (flt/flc/c0m/cal): ``recorded_inputs`` (D00nDATA, HDRTAB, ASN),
    ``find_members`` (MAST's list matched to them), ``local_members`` (on disk), ``members_summary``,
    ``check_member_filters`` -> 01 (read by 02's joint fit).
``notebook``
    Notebook 01's hand-over: ``images_for_config`` (``extra["images"]``), ``exposures_for_config``
    (``extra["exposure_files"]``) -> 01 (read by 02).
``replay``
    Offline replays of MAST at astroquery's HTTP layer (``RecordedReplay`` for the tests,
    ``DemoReplay`` for the demo field) -> 01 offline; imported on demand
    (``from helpers.archive import replay``), not by this package.
"""

from .downloads import download, verify_fits
from .footprints import (
    MSA_ANY_APA_RADIUS_ARCMIN,
    MSA_FIELD_ARCMIN,
    footprint_coverage,
    footprint_geometries,
    msa_field_geometry,
    outline_geometry,
    parse_s_region,
    tangent_plane,
)
from .local import cutout_image, expand_image_paths, image_center, local_images, on_image, require_imaging
from .mast import RETRY_DELAYS_S, ArchiveWarning, find_imaging, query_observations, select_products
from .members import MEMBER_KINDS, check_member_filters, find_members, local_members, members_summary, recorded_inputs
from .notebook import exposures_for_config, images_for_config, own_imaging
from .provenance import decode_wcsname, provenance_table, wcs_provenance
from .ranking import (
    PIXEL_SCALE_ARCSEC,
    RANK_CLASSES,
    RANKING_RULES,
    SCORE_WEIGHTS,
    SUPPORTED_INSTRUMENTS,
    rank_candidates,
    refine_ranking,
)
from .references import query_gaia, query_hsc, save_table

__all__ = [
    "SUPPORTED_INSTRUMENTS",
    "MSA_FIELD_ARCMIN",
    "RANKING_RULES",
    "RANK_CLASSES",
    "ArchiveWarning",
    "parse_s_region",
    "tangent_plane",
    "footprint_geometries",
    "msa_field_geometry",
    "outline_geometry",
    "footprint_coverage",
    "rank_candidates",
    "refine_ranking",
    "query_observations",
    "find_imaging",
    "select_products",
    "verify_fits",
    "download",
    "decode_wcsname",
    "wcs_provenance",
    "provenance_table",
    "query_gaia",
    "query_hsc",
    "images_for_config",
    "own_imaging",
    "local_images",
    "on_image",
    "expand_image_paths",
    "cutout_image",
    "image_center",
    "require_imaging",
    "save_table",
    "recorded_inputs",
    "find_members",
    "members_summary",
    "local_members",
    "check_member_filters",
    "exposures_for_config",
    "MEMBER_KINDS",
    # public constants that were module attributes of the single-file archive
    "MSA_ANY_APA_RADIUS_ARCMIN",
    "PIXEL_SCALE_ARCSEC",
    "SCORE_WEIGHTS",
    "RETRY_DELAYS_S",
]
