"""Figure for notebook 05: the MSATA reference-star candidates over the field."""

import numpy as np

from ..errors import WorkbookError
from ..export._checks import require_table
from ..validate import require_array, require_text

__all__ = ["plot_msata_candidates"]


def plot_msata_candidates(sources, candidates, quadrants=None, title="MSATA candidates", ax=None):
    """All sources, the usable reference stars, and the recommended ones with their rank.

    Parameters
    ----------
    sources : `~astropy.table.Table`
        Catalog with ``ra, dec`` (deg).
    candidates : `~astropy.table.Table`
        Output of :func:`helpers.export.msata_candidates` (``usable``, ``selected``, ``rank``).
    quadrants : dict, optional
        Quadrant name -> (N, 2) array of (ra, dec) vertices (:func:`helpers.export.quadrant_outlines`).
    title : str
    ax : `matplotlib.axes.Axes`, optional

    Returns
    -------
    fig : `matplotlib.figure.Figure`
    """
    require_table(sources, "sources", ("ra", "dec"), numeric=("ra", "dec"), hint="give the catalog passed to msata_candidates")
    require_table(candidates, "candidates", ("ra", "dec", "usable", "selected", "rank"), hint="pass what msata_candidates returned")
    if quadrants is not None:
        if not isinstance(quadrants, dict):
            raise WorkbookError(f"quadrants = {quadrants!r:.40} is not a dict; pass export.quadrant_outlines(outlines)")
        for name, poly in quadrants.items():
            require_array(poly, f"quadrants[{name!r}]", ndim=2, what="(ra, dec) vertices in degrees")
    require_text(title, "title")
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 7))
    else:
        fig = ax.figure
    ax.scatter(sources["ra"], sources["dec"], s=2, c="0.75", label="sources")
    usable = candidates[candidates["usable"]]
    chosen = candidates[candidates["selected"]]
    ax.scatter(usable["ra"], usable["dec"], s=30, facecolors="none", edgecolors="tab:blue", label="usable")
    ax.scatter(chosen["ra"], chosen["dec"], s=150, marker="*", c="tab:red", label="recommended")
    for row in chosen:
        ax.annotate(str(row["rank"]), (row["ra"], row["dec"]), xytext=(5, 5), textcoords="offset points",
                    color="tab:red")
    for poly in (quadrants or {}).values():
        ax.plot(*np.vstack([poly, poly[:1]]).T, lw=1, c="goldenrod")
    ax.invert_xaxis()  # East to the left, as on the sky
    ax.set(xlabel="RA (deg)", ylabel="Dec (deg)", title=title)
    ax.legend(loc="upper right")
    return fig
