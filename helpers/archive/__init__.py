"""Find and fetch HST / NIRCam imaging and reference catalogs for a field (notebook 01)."""

from .mast import *  # noqa: F401,F403
from .mast import __all__, MSA_ANY_APA_RADIUS_ARCMIN, RETRY_DELAYS_S  # noqa: F401
