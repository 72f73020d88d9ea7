"""Files for APT's MSA Planning Tool (notebook 05); being split into submodules (issue #11)."""

from .mpt import *  # noqa: F401,F403
from .mpt import __all__  # noqa: F401
from .mpt import _as_polygons, _circle_regions  # noqa: F401 - used by tests
