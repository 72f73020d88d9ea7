"""Figures for the notebooks, one sub-module per step (``plotting.archive``, ``plotting.sources``,
``plotting.astrometry``, ``plotting.msa``). Imported by notebooks only: computing modules never
import matplotlib. Every function takes an optional ``ax``/``fig`` and returns the figure, and
:func:`save_figure` writes it atomically into the field's ``figures/`` directory.
"""


from .._io import atomic_path
from ..errors import WorkbookError
from ..validate import require_instance, require_number, require_path

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
    from matplotlib.figure import Figure

    path = require_path(path, "figure path")
    require_instance(fig, Figure, "fig", "pass the figure a helpers.plotting function returned")
    dpi = require_number(dpi, "dpi", minimum=1, maximum=2400, example=110)
    fmt = path.suffix.lstrip(".").lower() or "png"
    if fmt not in fig.canvas.get_supported_filetypes():
        raise WorkbookError(f"figure path {path.name!r} has suffix .{fmt}, not an image format; "
                            f"use one of .{', .'.join(sorted(fig.canvas.get_supported_filetypes()))}")
    with atomic_path(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, dpi=dpi, format=fmt, bbox_inches="tight")
    return path
