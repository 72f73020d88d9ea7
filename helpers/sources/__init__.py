"""Source extraction with calibrated per-source position errors (notebook 02).

The implementation lives in `helpers.sources.extract` for now; it is split into one
module per concern in the following commits.
"""

from .extract import (  # noqa: F401
    FLAG_BLENDED,
    FLAG_EDGE,
    FLAG_MASKED,
    FLAG_NAMES,
    FLAG_PSF_FAILED,
    FLAG_SATURATED,
    SCHEMA,
    SourceExtractionWarning,
    _sky_columns,
    build_epsf,
    crb_curve,
    extract_field_images,
    extract_sources,
    extract_sources_fits,
    field_images,
    flag_summary,
    psf_fwhm,
    read_image,
    write_catalog,
)
from .extract import __all__  # noqa: F401
