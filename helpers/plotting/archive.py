"""Figures for notebook 01: where the archive imaging lies relative to the MSA field."""

import numpy as np

from ..export._checks import require_table
from ..validate import require_number, require_text

__all__ = ["plot_archive_coverage"]


def _polygon_parts(geom):
    import shapely

    if geom is None or geom.is_empty:
        return []
    parts = shapely.get_parts(geom)
    out = []
    for part in parts:
        if part.geom_type == "Polygon":
            out.append(np.asarray(part.exterior.coords))
        elif part.geom_type in ("MultiPolygon", "GeometryCollection"):
            out.extend(_polygon_parts(part))
    return out


def msa_outlines_sky(ra0, dec0, apa):
    """Quadrant outlines from :mod:`helpers.msa` (SIAF-based), or None if it is unavailable."""
    try:
        from .. import msa

        return msa.MSAPointing(ra0, dec0, apa).outlines_sky()
    except Exception:  # the figure falls back to a 3.6' x 3.4' box
        return None


def plot_archive_coverage(ranked, ra0=None, dec0=None, apa=None, radius_arcmin=None, max_products=8,
                          ax=None, title=None):
    """Footprints of the ranked products over the field with the MSA outline.

    Drawn on the gnomonic tangent plane at the field centre, in arcsec, East to the left.
    The MSA outline is the real quadrant outline when :mod:`helpers.msa` provides it,
    otherwise a 3.6' x 3.4' box (see :func:`helpers.archive.msa_field_geometry`).

    Parameters
    ----------
    ranked : `~astropy.table.Table`
        From :func:`helpers.archive.find_imaging` (``rank``, ``product_id``,
        ``instrument``, ``filter``, ``s_region``, ``rank_class``).
    ra0, dec0 : float, optional
        Field centre, degrees (default ``ranked.meta['center_ra'/'center_dec']``).
    apa : float, optional
        Aperture position angle for the outline, degrees. If None the outline is drawn
        at APA = 0 and the circle that holds the MSA at every APA is drawn dashed.
    radius_arcmin : float, optional
        Search radius to draw (default ``ranked.meta['radius_arcmin']``).
    max_products : int
        Draw the best this many footprints (labelled with their rank).
    ax : `matplotlib.axes.Axes`, optional
    title : str, optional

    Returns
    -------
    fig : `matplotlib.figure.Figure`
    """
    require_table(ranked, "ranked", ("s_region", "rank", "instrument", "filter", "coverage"),
                  hint="pass what helpers.archive.find_imaging or rank_candidates returned")
    ra0 = require_number(ra0, "ra0", minimum=-360, maximum=720, allow_none=True, example=53.16)
    dec0 = require_number(dec0, "dec0", minimum=-90, maximum=90, allow_none=True, example=-27.79)
    apa = require_number(apa, "apa", allow_none=True, example=45.0)
    radius_arcmin = require_number(radius_arcmin, "radius_arcmin", minimum=0, allow_none=True, example=3.0)
    max_products = require_number(max_products, "max_products", minimum=1, integer=True, example=8)
    require_text(title, "title", allow_none=True)
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle, Polygon

    from .. import archive

    ra0 = ranked.meta.get("center_ra") if ra0 is None else ra0
    dec0 = ranked.meta.get("center_dec") if dec0 is None else dec0
    radius_arcmin = ranked.meta.get("radius_arcmin") if radius_arcmin is None else radius_arcmin
    if ax is None:
        fig, ax = plt.subplots(figsize=(7.2, 6.4))
    else:
        fig = ax.figure
    top = ranked[:max_products]
    geoms = archive.footprint_geometries(list(top["s_region"]), ra0, dec0)
    colors = plt.get_cmap("tab10")
    extent = 1.0
    for k, (row, geom) in enumerate(zip(top, geoms)):
        color = colors(k % 10)
        label = f"#{row['rank']} {row['instrument']} {row['filter']} ({100 * row['coverage']:.0f}%)"
        for j, xy in enumerate(_polygon_parts(geom)):
            ax.add_patch(Polygon(xy, closed=True, fill=True, facecolor=color, alpha=0.12, edgecolor=color,
                                 lw=1.4, label=label if j == 0 else None))
            extent = max(extent, float(np.nanmax(np.abs(xy))))
    apa_drawn = 0.0 if apa is None else apa
    outline, kind = archive.msa_field_geometry(ra0, dec0, apa_drawn, outlines=msa_outlines_sky(ra0, dec0, apa_drawn))
    for j, xy in enumerate(_polygon_parts(outline)):
        ax.add_patch(Polygon(xy, closed=True, fill=False, edgecolor="k", lw=2.2,
                             label=(f"MSA ({'quadrants' if kind == 'msa-model' else '3.6x3.4 arcmin box'}, "
                                    f"APA {0.0 if apa is None else apa:g} deg)") if j == 0 else None))
    if apa is None:
        r_any = archive.MSA_ANY_APA_RADIUS_ARCMIN * 60.0
        ax.add_patch(Circle((0, 0), r_any, fill=False, ls="--", color="k", lw=1.0, label="MSA at any APA"))
    if radius_arcmin:
        ax.add_patch(Circle((0, 0), radius_arcmin * 60.0, fill=False, ls=":", color="0.4", lw=1.0,
                            label=f"search radius {radius_arcmin:g} arcmin"))
        extent = max(extent, radius_arcmin * 60.0)
    ax.plot(0, 0, marker="*", ms=14, color="crimson", mec="k", ls="none", label="field centre")
    lim = min(extent, 3 * 60 * max(radius_arcmin or 2.5, 2.5)) * 1.08
    ax.set_xlim(lim, -lim)  # East to the left
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xlabel("ΔRA·cos(Dec) [arcsec]  (East ←)")
    ax.set_ylabel("ΔDec [arcsec]  (North ↑)")
    source = str(ranked.meta.get("source", ""))
    ax.set_title(title or ("Archive imaging over the MSA field" + ("  [REPLAY]" if "REPLAY" in source.upper() else "")))
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
    ax.grid(alpha=0.25)
    return fig
