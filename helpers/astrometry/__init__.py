"""Astrometric scatter of a planning catalog and the verdict against the 5-10 mas goal (notebook 03).

NIRSpec MOS needs the relative positions of targets known to 5-10 mas (1 sigma per axis) for
optimal flux calibration; 50 mas (SDSS-like) catalogs place sources poorly in the 0.20" x 0.46"
shutters. This package measures a catalog's scatter in several independent ways that fail
differently, and turns the result into a verdict and into what it costs in slit throughput.
Every name below is importable from ``helpers.astrometry`` itself.

submodule -> concern -> notebook 03 section:

``inputs``       columns in a unit, checked RA/Dec, :func:`tangent_plane_mas`        -> all
``stats``        1.4826 x MAD (:func:`robust_sigma`), mixtures, bootstrap intervals  -> all
``matching``     one-to-one sky match (:func:`match`), :func:`coarse_offset`          -> methods 2-4
``alignment``    :func:`coarse_align`: shift, rotation, scale by voting, then a fit    -> methods 2-4
``mixture``      Gaussian core + chance pairs in the match disc (:func:`fit_scatter_mixture`) -> methods 2-4
``transforms``   shift / rotation+scale / affine fit (:func:`fit_transform`)          -> methods 2-4
``compare``      :func:`compare_catalogs`, :class:`ComparisonResult`                  -> 2 repeatability, 3 Gaia, 4 HSC
``references``   Gaia DR3 propagation (:func:`propagate_reference`), :func:`select_gaia`,
                 :func:`hsc_reference`                                                -> 3 Gaia, 4 HSC
``threecorner``  :func:`three_cornered_hat` of three catalogs                         -> 2 repeatability
``budget``       :func:`error_budget`, :func:`catalog_equivalent`                     -> 1 error budget
``injection``    :func:`injection_recovery`, sigma(SNR) model, :func:`drizzle_floor_mas`  -> 5 injection-recovery
``patches``      :func:`patch_map` of mean offsets in ~30" patches                    -> 6 patch map
``tail``         per-source sigma distribution, fractions <= 5/10/15 mas, failing targets -> verdict
``verdicts``     :data:`VERDICT_BANDS`, :func:`verdict`, :func:`combine_methods`      -> verdict
``notebook``     notebook 03 glue: :func:`load_inputs`, :func:`repeatability` (:func:`same_visit`: lower bounds),
                 :func:`method_line`, :func:`injection_on_image`, :func:`summary_record`, :func:`write_summary` ...
``assess``       the methods in functions (:func:`gaia_method`, :func:`hsc_method`, :func:`assess_catalog`) and
                 :func:`precision_verdict`: median and tail, fractions of targets, failing targets -> verdict
:mod:`helpers.nirspec.slitloss` (re-exported here): :func:`slit_throughput_consequence`,
                 PSF, shutter throughput, centering-zone probabilities                -> consequence

The scatter of matched pairs is the Gaussian core of a core + chance-pairs mixture (1.4826 x MAD, the
median absolute deviation, beside it and as the fallback), reported per axis (RA*cos(Dec), Dec),
combined and as the radial 90th percentile, always with a bootstrap confidence interval.
Units: RA/Dec in degrees; residuals, sigmas and errors in mas; MSA geometry in arcsec.
This package imports neither matplotlib nor :mod:`helpers.msa` at module level.
"""

from ..errors import WorkbookError  # noqa: F401 (used as helpers.astrometry.WorkbookError)
from ..nirspec import (CENTERING_CONSTRAINTS, SHUTTER_OPEN_ARCSEC, centering_constraints, jwst_like_psf,
                       slit_throughput_consequence, slit_throughput_grid, zone_probabilities)
from .alignment import CoarseAlignment, coarse_align
from .assess import (assess_catalog, confirmed_sources, gaia_method, hsc_method, precision_verdict, target_sigmas,
                     verdict_report)
from .budget import catalog_equivalent, error_budget
from .compare import ComparisonResult, compare_catalogs
from .inputs import tangent_plane_mas
from .injection import (drizzle_floor_mas, injection_on_exposures, injection_recovery, injection_sigma_model,
                        predicted_catalog_sigma)
from .matching import coarse_offset, match
from .mixture import MixtureFit, fit_scatter_mixture
from .notebook import (INJECTION_MIN_COVERAGE, JOINT_FIT_METHOD, as_estimate, exposure_injection, injection_coverage,
                       injection_on_image, injection_psf, load_inputs, method_line, pick_comparison, pull_estimate,
                       read_image, reference_share, repeatability, repeatability_estimate, same_visit, summary_record,
                       usable_sources, write_summary)
from .patches import patch_map
from .references import hsc_reference, propagate_reference, select_gaia
from .stats import MAD_TO_SIGMA, robust_sigma
from .tail import PrecisionTail, msata_error_mas, per_source_sigma, precision_tail
from .threecorner import three_cornered_hat
from .transforms import Transform, fit_transform  # noqa: F401 (Transform: public class, not in __all__ as before)
from .verdicts import MIN_PAIRS, VERDICT_BANDS, Verdict, combine_methods, verdict

# private helpers that tests use as helpers.astrometry._name (not part of __all__)
from .stats import _bootstrap_order_stats, _ci, _mixture_sigma  # noqa: F401,E402

__all__ = [
    "MAD_TO_SIGMA",
    "VERDICT_BANDS",
    "MIN_PAIRS",
    "CENTERING_CONSTRAINTS",
    "SHUTTER_OPEN_ARCSEC",
    "tangent_plane_mas",
    "match",
    "coarse_offset",
    "coarse_align",
    "CoarseAlignment",
    "fit_transform",
    "robust_sigma",
    "fit_scatter_mixture",
    "MixtureFit",
    "ComparisonResult",
    "compare_catalogs",
    "propagate_reference",
    "three_cornered_hat",
    "error_budget",
    "injection_recovery",
    "drizzle_floor_mas",
    "injection_sigma_model",
    "predicted_catalog_sigma",
    "catalog_equivalent",
    "select_gaia",
    "hsc_reference",
    "patch_map",
    "Verdict",
    "PrecisionTail",
    "precision_tail",
    "per_source_sigma",
    "msata_error_mas",
    "verdict",
    "combine_methods",
    "jwst_like_psf",
    "slit_throughput_grid",
    "centering_constraints",
    "zone_probabilities",
    "slit_throughput_consequence",
    "write_summary",
    "load_inputs",
    "usable_sources",
    "as_estimate",
    "read_image",
    "repeatability",
    "injection_on_image",
    "summary_record",
    "reference_share",
    "pick_comparison",
    "injection_psf",
    "same_visit",
    "method_line",
    "pull_estimate",
    "injection_coverage",
    "injection_on_exposures",
    "exposure_injection",
    "INJECTION_MIN_COVERAGE",
    "JOINT_FIT_METHOD",
    "repeatability_estimate",
    "gaia_method",
    "hsc_method",
    "assess_catalog",
    "confirmed_sources",
    "verdict_report",
    "target_sigmas",
    "precision_verdict",
]
