"""Boundary checks of the MSA overlay's entry points (issue #17), kept out of ``msa.py`` so that
module stays about drawing: each raises one `WorkbookError` line before any figure is made."""

import numpy as np

from ..errors import WorkbookError
from ..export._checks import require_pointing, require_table
from ..validate import require_array, require_instance, require_number


def check_sources(sources, name="sources"):
    """None, or a Table with numeric ``ra, dec`` (and ``ra_err, dec_err`` when present)."""
    if sources is None:
        return None
    empty = hasattr(sources, "__len__") and len(sources) == 0  # drawn as no sources, columns or not
    return require_table(sources, name, () if empty else ("ra", "dec"), numeric=("ra", "dec", "ra_err", "dec_err"),
                         hint="pass the source catalog (helpers.sources.extract_sources) or None")


def check_overlay_inputs(pointing, image=None, wcs=None, sources=None, operability=None, figsize=(8.0, 8.0)):
    """Refuse what `OverlayScene` / `plot_msa_overlay` cannot draw, in one line each."""
    from astropy.wcs import WCS

    from ..msa import Operability

    require_pointing(pointing)
    if image is not None:
        kind = image.dtype.kind if isinstance(image, np.ndarray) else np.asarray(require_array(image, "image", ndim=2)).dtype.kind
        if kind not in "iuf":
            raise WorkbookError(f"image holds {kind!r}-type values, not numbers; pass the SCI array (e.g. image.data)")
    if wcs is not None:
        require_instance(wcs, WCS, "wcs", "pass the image's astropy.wcs.WCS (e.g. WCS(header))")
    check_sources(sources)
    if operability is not None:
        require_instance(operability, Operability, "operability", "build it with helpers.msa.default_operability()")
    size = require_array(figsize, "figsize", what="inches (width, height)", allow_nan=False)
    if size.size != 2 or np.any(size <= 0) or np.any(size > 100):
        raise WorkbookError(f"figsize = {figsize!r:.40}; give (width, height) in inches, e.g. (8, 8)")


def check_synthetic_wcs(ra, dec, scale_arcsec, size):
    """Finite centre, positive scale and a whole positive size, or one line."""
    require_number(ra, "ra", example=53.16)
    require_number(dec, "dec", minimum=-90, maximum=90, example=-27.79)
    require_number(scale_arcsec, "scale_arcsec", minimum=1e-6, example=0.1)
    require_number(size, "size", minimum=1, integer=True, example=3000)
