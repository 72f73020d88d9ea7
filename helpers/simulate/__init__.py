"""Simulated drizzled images with known truth (being split into submodules, issue #11)."""

from .images import *  # noqa: F401,F403
from .images import __all__  # noqa: F401
from .images import _PRF, _build_wcs, _systematic_offsets  # noqa: F401
