"""Figures for the notebooks, one sub-module per step (``plotting.archive``, ``plotting.sources``,
``plotting.astrometry``, ``plotting.msa``). Imported by notebooks only: computing modules never
import matplotlib. Every function takes an optional ``ax``/``fig`` and returns the figure, and
:func:`save_figure` writes it atomically into the field's ``figures/`` directory.
"""


from .._io import atomic_path
from ..validate import require_path

__all__ = ["save_figure"]


def save_figure(fig, path, dpi=110, overwrite=True):
    """Save a matplotlib figure atomically as PNG (or the format of the suffix).

    Parameters
    ----------
    fig : `matplotlib.figure.Figure`
    path : str or `~pathlib.Path`
        Destination; the suffix picks the format.
    dpi : int
    overwrite : bool
        Figures are regenerated on every run, so replacing is the default.

    Returns
    -------
    path : `~pathlib.Path`
    """
    path = require_path(path, "figure path")
    with atomic_path(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".") or "png", bbox_inches="tight")
    return path
