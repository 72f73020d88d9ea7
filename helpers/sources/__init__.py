"""Source extraction with calibrated per-source position errors (notebook 02).

The method (windowed centroids, PSF fits, their error models, tiling) is described in
`helpers.sources.extract`. Submodules, one per concern (the notebooks that use them):

``catalog``
    Flag bits, column schema, sky columns (RA/Dec and their errors), table assembly, ECSV
    writing, flag summary (02; the catalog is read by 03-05).
``images``
    Opening FITS products (SCI/ERR/WHT, WCS, metadata) and tile-wise reading (02; also used
    by ``astrometry`` in 03 and ``widgets`` in 04).
``stamps``
    Pixel grids around sources.
``background``
    Background subtraction, detection image and the per-pixel noise model.
``psf``
    PSF model (cubic spline of an oversampled pixel response), FWHM, Cramér–Rao bound.
``centroids``
    Errors of windowed centroids; tapered centres of mass.
``detection``
    sep detection and the fast path (windowed positions, aperture fluxes, saturation).
``fitting``
    PSF fitting, refits with neighbours subtracted, saturated cores.
``epsf``
    Empirical PSF from the image's own stars and its position error.
``tiles``
    Extraction of one tile and the tiling plan.
``extract``
    `extract_sources`, `extract_sources_fits`: the entry points (02; 03's injection-recovery).
``exposures``
    `refine_on_exposures`: positions from a joint PSF fit on the product's input exposures
    (flt/flc/cal), `read_exposure` (02).
``notebook``
    Notebook 02's glue: the field's images, their extraction, the record for 03-05.
"""

from .catalog import (  # noqa: F401
    FLAG_BLEND_OFFSET,
    FLAG_BLENDED,
    FLAG_COSMIC_RAY,
    FLAG_EDGE,
    FLAG_MASKED,
    FLAG_NAMES,
    FLAG_PSF_FAILED,
    FLAG_SATURATED,
    MAS_PER_DEG,
    SCHEMA,
    SourceExtractionWarning,
    _sky_columns,
    flag_summary,
    write_catalog,
)
from .centroids import MAX_WINDOW_SIGMA, WINDOWED_FLOOR_FWHM  # noqa: F401
from .epsf import EPSF_FLOOR_FWHM, build_epsf  # noqa: F401
from .exposures import read_exposure, refine_on_exposures  # noqa: F401
from .extract import extract_sources, extract_sources_fits  # noqa: F401
from .images import read_image  # noqa: F401
from .notebook import extract_field_images, field_images, image_reading_summary, refine_field_on_exposures  # noqa: F401
from .psf import crb_curve, psf_fwhm  # noqa: F401

__all__ = [
    "FLAG_SATURATED",
    "FLAG_EDGE",
    "FLAG_BLENDED",
    "FLAG_MASKED",
    "FLAG_PSF_FAILED",
    "FLAG_COSMIC_RAY",
    "FLAG_BLEND_OFFSET",
    "SCHEMA",
    "extract_sources",
    "extract_sources_fits",
    "refine_on_exposures",
    "read_exposure",
    "read_image",
    "write_catalog",
    "build_epsf",
    "psf_fwhm",
    "crb_curve",
    "field_images",
    "extract_field_images",
    "flag_summary",
    "image_reading_summary",
    "refine_field_on_exposures",
    "SourceExtractionWarning",
]
