"""Figure for notebook 00: the search area against the size of the NIRSpec MSA."""

import numpy as np

from ..export._checks import require_field

__all__ = ["plot_field_overview"]

#: Approximate extent of the four MSA quadrants on the sky, arcmin (JDox "NIRSpec MSA").
MSA_EXTENT_ARCMIN = (3.6, 3.4)


def plot_field_overview(config, ax=None):
    """Search circle, centre and an MSA-sized box, in offsets from the field centre.

    Parameters
    ----------
    config : `helpers.config.FieldConfig`
    ax : `matplotlib.axes.Axes`, optional

    Returns
    -------
    fig : `matplotlib.figure.Figure`
    """
    require_field(config, "config")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle, Rectangle

    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 5.8), constrained_layout=True)
    else:
        fig = ax.figure
    r = config.radius_arcmin
    ax.add_patch(Circle((0, 0), r, fill=False, lw=1.5, color="C0", label=f"search radius {r:g}'"))
    w, h = MSA_EXTENT_ARCMIN
    ax.add_patch(Rectangle((-w / 2, -h / 2), w, h, fill=False, lw=1.2, ls="--", color="C3",
                           label=f"MSA extent ≈ {w}' × {h}' (orientation set by APA, notebook 04)"))
    ax.plot(0, 0, "+", color="k", ms=12)
    lim = max(r, np.hypot(w, h) / 2) * 1.15
    ax.set_xlim(lim, -lim)  # East to the left, as on the sky
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xlabel("ΔRA cos Dec (arcmin, East left)")
    ax.set_ylabel("ΔDec (arcmin)")
    ax.set_title(f"{config.name}: RA {config.ra:.5f}°, Dec {config.dec:+.5f}°")
    # below the axes: inside, the legend covered the search circle
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize=8, frameon=False)
    ax.grid(alpha=0.3)
    return fig
