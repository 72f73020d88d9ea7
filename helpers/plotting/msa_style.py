"""Colours, markers, legend and sky decorations of the MSA overlay (notebook 04).

One place for what a reader decodes on the overlay: the sigma bands of the catalog sources,
the shutter states of the raster, the planner's targets by priority, the outlines; the legend
that names each of them (in the figure, or as HTML beside the live widget where a legend inside
the canvas would be redrawn with every zoom); North/East arrows and the one-shutter scale bar.
"""

import numpy as np

from ._checks import check_sources, check_synthetic_wcs

__all__ = ["SIGMA_BANDS_MAS", "source_sigma_mas", "synthetic_wcs", "TARGET_STYLES", "priority_style",
           "legend_entries", "legend_handles", "legend_html", "add_compass_and_scale", "overlay_layout"]

#: Colour bands of the per-source astrometric sigma (mas, 1 sigma per axis): the verdict bands.
SIGMA_BANDS_MAS = (5.0, 10.0, 20.0, 50.0)
_SIGMA_COLOURS = ("#1a9850", "#91cf60", "#fee08b", "#fc8d59", "#d73027")
_NO_SIGMA_COLOUR = "#9e9e9e"

# RGBA (0-255) of the shutter layer
_RGBA = {
    "operable": (90, 160, 255, 70),
    "failed closed": (110, 110, 110, 150),
    "failed open": (255, 0, 0, 255),
    "source": (0, 230, 0, 255),
    "slitlet": (150, 255, 150, 200),
}
_QUAD_COLOUR = "#00bcd4"
_SLIT_COLOUR = "#ff9800"
_IFU_COLOUR = "#e040fb"


def source_sigma_mas(sources):
    """Per-source astrometric sigma (mas): sqrt((ra_err^2 + dec_err^2) / 2), NaN where unknown.

    Parameters
    ----------
    sources : `~astropy.table.Table` or None
        Catalog with ``ra_err``, ``dec_err`` in mas (the workbook schema). Missing columns,
        masked or non-finite values give NaN ("no sigma") instead of an error.

    Returns
    -------
    sigma : ndarray
    """
    check_sources(sources)
    if sources is None:
        return np.zeros(0)
    n = len(sources)
    cols = getattr(sources, "colnames", [])
    if "ra_err" not in cols or "dec_err" not in cols:
        return np.full(n, np.nan)
    out = []
    for name in ("ra_err", "dec_err"):
        col = sources[name]
        unit = getattr(col, "unit", None)
        vals = np.ma.filled(np.ma.asarray(col, dtype=float), np.nan)
        if unit is not None and str(unit) not in ("", "mas"):
            import astropy.units as u

            try:
                vals = (vals * u.Unit(unit)).to_value(u.mas)
            except (ValueError, u.UnitsError):
                vals = np.full(n, np.nan)
        out.append(vals)
    sig = np.sqrt((out[0] ** 2 + out[1] ** 2) / 2.0)
    sig[~np.isfinite(sig) | (sig <= 0)] = np.nan
    return sig


def synthetic_wcs(ra, dec, scale_arcsec=0.1, size=3000):
    """A north-up TAN WCS centred on (ra, dec) for drawing the footprint without an image."""
    check_synthetic_wcs(ra, dec, scale_arcsec, size)
    from astropy.wcs import WCS

    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [float(ra), float(dec)]
    w.wcs.crpix = [size / 2.0 + 0.5, size / 2.0 + 0.5]
    w.wcs.cdelt = [-scale_arcsec / 3600.0, scale_arcsec / 3600.0]
    return w, (size, size)


def _wrap(text, width=70):
    """Wrap a title on words (never mid-word) so it stays legible at notebook width."""
    import textwrap

    return "\n".join(textwrap.wrap(text, width=width, break_long_words=False, break_on_hyphens=False))

#: Marker and colour of the planner's targets by priority (1 = most wanted): filled markers with a
#: black edge, distinct in shape *and* colour from the hollow sigma-coloured catalog sources.
TARGET_STYLES = {1: ("*", "#ff3df0", 13.0), 2: ("D", "#ffea00", 7.0), 3: ("s", "#40c4ff", 7.0),
                 4: ("^", "#b388ff", 8.0), 5: ("v", "#ffffff", 8.0)}
_NO_PRIORITY_STYLE = ("P", "#bdbdbd", 8.0)


def priority_style(priority):
    """(marker, colour, size in points) of a target priority class; classes >= 5 share one style.

    ``priority`` NaN (a list without priorities, or a row without one) gets the grey plus.
    """
    p = float(priority)
    if not np.isfinite(p):
        return _NO_PRIORITY_STYLE
    return TARGET_STYLES[int(min(max(round(p), 1), 5))]


def priority_label(priority):
    """Legend label of a priority class, e.g. ``'target, priority 1'``."""
    p = float(priority)
    return "target, no priority" if not np.isfinite(p) else f"target, priority {p:g}"


def _rgba01(name):
    r, g, b, a = _RGBA[name]
    return (r / 255, g / 255, b / 255, max(a, 120) / 255)


def legend_entries(has_sources=True, target_classes=(), spectra=False):
    """What the legend names: a list of ``(kind, label, style)``.

    ``kind`` is ``'patch'`` (style: RGBA 0-1), ``'line'`` (style: colour) or ``'marker'``
    (style: ``(marker, face colour, edge colour)``). The figure legend (`legend_handles`) and the
    widget's HTML legend (`legend_html`) are drawn from this one list.
    """
    out = [("patch", "operable shutter", _rgba01("operable")),
           ("patch", "failed closed", _rgba01("failed closed")),
           ("patch", "failed open", _rgba01("failed open")),
           ("patch", "shutter holding a source (zone)", _rgba01("source")),
           ("patch", "rest of its nodded slitlet", _rgba01("slitlet")),
           ("line", "quadrant outline", _QUAD_COLOUR),
           ("line", "fixed slits", _SLIT_COLOUR),
           ("line", "IFU aperture", _IFU_COLOUR)]
    if has_sources:
        out += [("marker", "catalog source (colour: sigma)", ("o", "none", _SIGMA_COLOURS[0])),
                ("marker", "source without sigma", ("x", _NO_SIGMA_COLOUR, _NO_SIGMA_COLOUR))]
    for p in target_classes:
        marker, colour, _ = priority_style(p)
        out.append(("marker", priority_label(p), (marker, colour, "black")))
    if spectra:
        out += [("line", "spectrum (counted target)", SPECTRUM_COLOURS["ok"]),
                ("line", "overlapping spectrum", SPECTRUM_COLOURS["overlap"])]
    return out


#: Colours of the spectra on the NRS1/NRS2 panel.
SPECTRUM_COLOURS = {"ok": "#2e7d32", "overlap": "#d50000", "detector": "#eceff1", "gap": "#b0bec5"}


def legend_handles(**kwargs):
    """matplotlib handles of `legend_entries` (same keywords)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = []
    for kind, label, style in legend_entries(**kwargs):
        if kind == "patch":
            handles.append(Patch(color=style, label=label))
        elif kind == "line":
            handles.append(Line2D([], [], color=style, label=label))
        else:
            marker, face, edge = style
            handles.append(Line2D([], [], ls="", marker=marker, mfc=face, mec=edge, color=edge, label=label))
    return handles


_HTML_MARKERS = {"o": "&#9675;", "x": "&#215;", "*": "&#9733;", "D": "&#9670;", "s": "&#9632;", "^": "&#9650;",
                 "v": "&#9660;", "P": "&#10010;"}


def legend_html(**kwargs):
    """The legend as a compact HTML block (for the live widget, beside the canvas)."""
    from matplotlib.colors import to_hex

    items = []
    for kind, label, style in legend_entries(**kwargs):
        if kind == "patch":
            swatch = (f"<span style='display:inline-block;width:11px;height:9px;background:{to_hex(style)};"
                      f"border:1px solid #777'></span>")
        elif kind == "line":
            swatch = f"<span style='display:inline-block;width:14px;border-top:2px solid {style};vertical-align:middle'></span>"
        else:
            marker, face, edge = style
            colour = edge if face == "none" else face
            swatch = (f"<span style='color:{colour};-webkit-text-stroke:0.4px {'#000' if face != 'none' else colour};"
                      f"font-size:12px'>{_HTML_MARKERS.get(marker, marker)}</span>")
        items.append(f"<span style='white-space:nowrap;margin-right:10px'>{swatch}&nbsp;{label}</span>")
    return "<div class='msa-legend' style='font-size:80%;line-height:1.5'>" + " ".join(items) + "</div>"


def add_compass_and_scale(ax, wcs, shape, pitch_arcsec):
    """North/East arrows (fixed size, in a corner) and a scale bar of one shutter pitch.

    Parameters
    ----------
    ax : WCSAxes
    wcs : `~astropy.wcs.WCS`
    shape : (ny, nx)
        Image shape, pixels (the arrows are computed at its centre).
    pitch_arcsec : float
        Shutter pitch along the slit, arcsec (the scale bar's length on the sky).

    Returns
    -------
    AnchoredSizeBar
    """
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    cx, cy = shape[1] / 2.0, shape[0] / 2.0
    ra0, dec0 = wcs.all_pix2world([cx], [cy], 0)
    step_deg = 10.0 / 3600.0
    cos_dec = max(np.cos(np.radians(dec0[0])), 1e-6)
    for label, (dra, ddec) in (("N", (0.0, step_deg)), ("E", (step_deg / cos_dec, 0.0))):
        x1, y1 = wcs.all_world2pix(ra0 + dra, dec0 + ddec, 0)
        d = np.array([x1[0] - cx, y1[0] - cy])
        d /= np.hypot(*d)
        ax.annotate(label, xy=(0.90, 0.10), xycoords="axes fraction", xytext=(28 * d[0], 28 * d[1]),
                    textcoords="offset points", ha="center", va="center", color="w", fontsize=8,
                    arrowprops={"arrowstyle": "<-", "color": "w", "lw": 1.2}, zorder=6)
    scale = np.sqrt(abs(np.linalg.det(wcs.pixel_scale_matrix))) * 3600.0  # arcsec / pix
    # transData: the bar keeps the length of one shutter on the sky when zooming
    bar = AnchoredSizeBar(ax.transData, pitch_arcsec / scale, f"1 shutter pitch ({pitch_arcsec:.2f}\")",
                          "lower left", pad=0.4, color="w", frameon=False, size_vertical=0,
                          fontproperties={"size": 7})
    ax.add_artist(bar)
    return bar


def overlay_layout(legend, spectra):
    """Figure-fraction rectangles (main axes, colour bar, spectra panel) for the scene's parts."""
    bottom = 0.12 if legend else 0.0   # room for the legend under everything
    panel_h = 0.12 if spectra else 0.0
    main_bottom = bottom + (panel_h + 0.1 if spectra else 0.06)
    # without the legend this is the widget's canvas: ipympl's toolbar sits on its left edge, so
    # keep the Dec tick labels and axis label clear of it
    left = 0.13 if legend else 0.2
    width = 0.66 if legend else 0.6
    main = [left, main_bottom, width, 0.95 - main_bottom]
    cbar = [left + width + 0.07, main_bottom + 0.2 * main[3], 0.022, 0.6 * main[3]]
    panel = [left, bottom + 0.045, width, panel_h] if spectra else None
    return main, cbar, panel
