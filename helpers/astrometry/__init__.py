"""Astrometric scatter of a planning catalog and the verdict against the 5-10 mas goal (notebook 03).

Being split into one module per concern (issue #11); for now everything lives in ``compare``.
"""

from .compare import *  # noqa: F401,F403
from .compare import __all__  # noqa: F401
from .compare import WorkbookError, _bootstrap_order_stats, _ci, _mixture_sigma  # noqa: F401
