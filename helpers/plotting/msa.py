"""The MSA footprint over the pre-image (notebook 04): one scene for the widget and the PNG.

:class:`OverlayScene` draws, in image pixel coordinates,

* the pre-image, down-sampled once to display resolution with an asinh stretch between the
  0.5 and 99.7 percentiles (static layer);
* the catalog sources coloured by their astrometric sigma (static layer);
* the shutters as **one RGBA raster** of the current view: every display pixel is mapped
  to the MSA plane (exact SIAF transforms on a coarse grid, bilinear in between; the map is
  smooth) and coloured by the shutter it falls in: operable, failed closed (grey), failed
  open (red), holding a source (green) or its slitlet (light green). Open areas and bars are
  resolved when zoomed in; zoomed out each cell is filled and, by default, only shutters near
  sources are shown;
* quadrant, fixed-slit and IFU outlines (a few lines).

Moving the pointing redraws only the raster and the lines over a cached background (blitting),
about 0.1 s for 250k shutters and 1e5 sources, instead of 1.6-2 s for a per-shutter
``PolyCollection`` redraw. :func:`plot_msa_overlay` renders the same scene to a static figure
for headless runs and the README.
"""

import numpy as np

from .. import msa
from ..errors import WorkbookError

__all__ = ["OverlayScene", "plot_msa_overlay", "source_sigma_mas", "SIGMA_BANDS_MAS", "synthetic_wcs"]

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


def _block_reduce(data, factor):
    if factor <= 1:
        return data
    ny, nx = data.shape
    ny2, nx2 = ny // factor * factor, nx // factor * factor
    d = data[:ny2, :nx2].reshape(ny2 // factor, factor, nx2 // factor, factor)
    with np.errstate(invalid="ignore"):
        return np.nanmean(d, axis=(1, 3))


def _interp_matrix(n_out, n_in):
    """Dense (n_out, n_in) linear-interpolation weights from a coarse to a fine 1-D grid."""
    pos = np.linspace(0.0, n_in - 1.0, n_out)
    lo = np.clip(np.floor(pos).astype(int), 0, n_in - 2)
    w = pos - lo
    m = np.zeros((n_out, n_in))
    m[np.arange(n_out), lo] = 1.0 - w
    m[np.arange(n_out), lo + 1] = w
    return m


class OverlayScene:
    """MSA footprint, shutters and sources over an image, redrawn fast when the pointing moves.

    Parameters
    ----------
    pointing : helpers.msa.MSAPointing
    image : 2-D ndarray, optional
        The pre-image. Without it the footprint is drawn alone on a synthetic sky grid.
    wcs : `~astropy.wcs.WCS`, optional
        Celestial WCS of ``image`` (required with an image).
    sources : `~astropy.table.Table`, optional
        Catalog with ``ra, dec`` (deg) and ideally ``ra_err, dec_err`` (mas).
    operability : helpers.msa.Operability, optional
        Default: the shipped map.
    constraint : str
        Centering constraint used for the zone count and the green shutters.
    nod : bool
        Require the 3-shutter slitlet around each source to be operable (3-point nod).
    shutters : {'auto', 'all', 'near sources'}
        Which shutters to draw; 'auto' shows all when a shutter spans >= 2 display pixels and
        only those near sources (plus failed-open) when zoomed out.
    layers : dict, optional
        ``{"image", "shutters", "sources", "quadrants", "slits"}`` -> bool.
    fig : `matplotlib.figure.Figure`, optional
        Draw into this figure (e.g. an ipympl one); default a new Agg figure.
    figsize : tuple
    max_display : int
        Long side of the down-sampled image, pixels.
    max_raster : int
        Long side of the shutter raster, pixels (the view's size in screen pixels at most).
    dynamic_title : bool
        Put the pointing and counts in the title (static pictures). The widget shows them
        next to the figure instead, because blitted updates do not redraw the title.
    """

    LAYERS = ("image", "shutters", "sources", "quadrants", "slits")

    def __init__(self, pointing, image=None, wcs=None, sources=None, operability=None,
                 constraint="Midpoint", nod=False, shutters="auto", layers=None, fig=None,
                 figsize=(8.0, 8.0), max_display=1600, max_raster=512, dynamic_title=True):
        import matplotlib

        if fig is None:
            from matplotlib.figure import Figure
            from matplotlib.backends.backend_agg import FigureCanvasAgg

            fig = Figure(figsize=figsize, dpi=100)
            FigureCanvasAgg(fig)
        self.fig = fig
        self.pointing = pointing
        self.operability = operability if operability is not None else msa.default_operability()
        self.constraint = msa._constraint(constraint)[0]
        self.nod = bool(nod)
        if shutters not in ("auto", "all", "near sources"):
            raise WorkbookError(f"shutters={shutters!r}; use 'auto', 'all' or 'near sources'")
        self.shutters = shutters
        self.layers = {name: True for name in self.LAYERS}
        self.layers.update(layers or {})
        self.has_image = image is not None
        if image is not None:
            if wcs is None:
                raise WorkbookError("an image needs its WCS to place the MSA on it; pass wcs=WCS(header)")
            image = np.asarray(image, dtype=float)
            if image.ndim != 2:
                raise WorkbookError(f"image has {image.ndim} dimensions; give a 2-D image (one SCI extension)")
            self.wcs = wcs.celestial if hasattr(wcs, "celestial") else wcs
            self.shape = image.shape
        else:
            self.wcs, self.shape = synthetic_wcs(pointing.ra, pointing.dec)
        self._setup_sources(sources)
        self._build_axes(image, max_display, matplotlib)
        self.dynamic_title = bool(dynamic_title)
        self._bg = None
        self._lut_cache = {}
        self.max_raster = int(max_raster)
        self._full_render = False
        self._raster_view = None
        self.counts = {}
        self.message = ""
        self.fig.canvas.mpl_connect("draw_event", self._on_draw)
        self.compute()

    # --- set-up --------------------------------------------------------------------------
    def _setup_sources(self, sources):
        self.sources = sources
        if sources is None or len(sources) == 0:
            self.src_ra = self.src_dec = self.src_x = self.src_y = np.zeros(0)
            self.src_sigma = np.zeros(0)
            self._src_unit = np.zeros((3, 0))
            return
        missing = [c for c in ("ra", "dec") if c not in sources.colnames]
        if missing:
            raise WorkbookError(f"source catalog lacks column(s) {', '.join(missing)}; it needs ra and dec in degrees")
        self.src_ra = np.ma.filled(np.ma.asarray(sources["ra"], dtype=float), np.nan)
        self.src_dec = np.ma.filled(np.ma.asarray(sources["dec"], dtype=float), np.nan)
        good = np.isfinite(self.src_ra) & np.isfinite(self.src_dec)
        self.src_ra, self.src_dec = self.src_ra[good], self.src_dec[good]
        self.src_sigma = source_sigma_mas(sources)[good]
        self.src_x, self.src_y = self.wcs.all_world2pix(self.src_ra, self.src_dec, 0)
        self._src_unit = msa.sky_unit(self.src_ra, self.src_dec)

    def _build_axes(self, image, max_display, matplotlib):
        from matplotlib.colors import BoundaryNorm, ListedColormap
        from matplotlib.lines import Line2D

        fig = self.fig
        fig.clf()
        # WCSAxes: RA/Dec ticks on the sky; data coordinates stay image pixels (0-based)
        ax = fig.add_axes([0.13, 0.17, 0.66, 0.72], projection=self.wcs)
        self.ax = ax
        ax.coords[0].set_axislabel("RA (ICRS)")
        ax.coords[1].set_axislabel("Dec (ICRS)")
        ax.coords[0].set_major_formatter("hh:mm:ss.s")
        ax.coords[1].set_major_formatter("dd:mm:ss")
        for coord in (ax.coords[0], ax.coords[1]):
            coord.set_ticklabel(size=7)
        ny, nx = self.shape
        self._image = None
        if image is not None:
            self._image = image
            from astropy.visualization import AsinhStretch, ImageNormalize, PercentileInterval

            factor = max(1, int(np.ceil(max(ny, nx) / float(max_display))))
            small = _block_reduce(image, factor)
            finite = small[np.isfinite(small)]
            if finite.size == 0:
                raise WorkbookError("the image has no finite pixels; choose another image from notebook 01")
            norm = ImageNormalize(finite, interval=PercentileInterval(99.7), stretch=AsinhStretch(0.1))
            # colour-mapped once to RGBA: a zoom or reset then only resamples (no per-draw colour map)
            grey = matplotlib.colormaps["gray"]
            rgb = grey(np.ma.filled(norm(np.ma.masked_invalid(small)), np.nan), bytes=True)
            self.image_artist = ax.imshow(rgb, origin="lower", interpolation="nearest",
                                          extent=(-0.5, small.shape[1] * factor - 0.5, -0.5, small.shape[0] * factor - 0.5))
        else:
            self.image_artist = None
        ax.set_facecolor("#202028")
        # sources, coloured by sigma band (static)
        edges = (0.0,) + SIGMA_BANDS_MAS + (100.0,)
        cmap = ListedColormap(_SIGMA_COLOURS)
        self._sigma_norm = BoundaryNorm(edges, cmap.N)
        self.source_artists = []
        if self.src_x.size:
            from matplotlib.cm import ScalarMappable

            has = np.isfinite(self.src_sigma)
            size = max(3.0, min(25.0, 600.0 / np.sqrt(self.src_x.size + 1)))
            # hollow markers so the shutters underneath stay visible; 'x' where sigma is unknown.
            # One marker line per sigma band: Agg stamps a cached marker (draw_markers), ~10x
            # faster than a scatter with per-point colours for 1e5 sources (zoom/reset budget)
            msize = np.sqrt(size)
            band = np.digitize(np.minimum(self.src_sigma, 99.0), edges[1:-1])
            for k, colour in enumerate(_SIGMA_COLOURS):
                sel = has & (band == k)
                if sel.any():
                    self.source_artists += ax.plot(self.src_x[sel], self.src_y[sel], ls="none", marker="o",
                                                   ms=msize, mfc="none", mec=colour, mew=0.8, zorder=3)
            if (~has).any():
                self.source_artists += ax.plot(self.src_x[~has], self.src_y[~has], ls="none", marker="x", ms=msize,
                                               color=_NO_SIGMA_COLOUR, mew=0.8, zorder=3)
            cax = fig.add_axes([0.86, 0.36, 0.022, 0.45])
            cb = fig.colorbar(ScalarMappable(norm=self._sigma_norm, cmap=cmap), cax=cax)
            cb.set_label("source sigma (mas, 1σ per axis); grey x: no sigma", fontsize=8)
            cax.set_yticks([2.5, 7.5, 15, 35, 75])
            cax.set_yticklabels(["<=5", "5-10", "10-20", "20-50", ">50"])
            self._sigma_cbar = cb
        # animated layers: shutter raster and outlines
        self.raster_artist = ax.imshow(np.zeros((2, 2, 4), dtype=np.uint8), origin="lower", extent=(0, 1, 0, 1),
                                       interpolation="nearest", animated=True, zorder=2)
        self.outline_artists = {}
        for name in ("Q1", "Q2", "Q3", "Q4") + msa.SLIT_APERTURES + (msa.IFU_APERTURE,):
            colour = _QUAD_COLOUR if name.startswith("Q") else _IFU_COLOUR if name == msa.IFU_APERTURE else _SLIT_COLOUR
            line = Line2D([], [], color=colour, lw=1.0, animated=True, zorder=4)
            ax.add_line(line)
            self.outline_artists[name] = line
        self.title_artist = ax.set_title("", fontsize=9)  # static: refreshed by full draws only
        self._add_compass_and_scale()
        self._add_legend()
        ax.format_coord = self.format_coord
        # the readout gives the image value itself; without this matplotlib appends the RGBA of
        # the top image under the cursor (the shutter raster), which means nothing to a reader
        for art in (self.raster_artist, self.image_artist):
            if art is not None:
                art.get_cursor_data = lambda event: None
        self._set_default_view()

    def _add_compass_and_scale(self):
        """North/East arrows (fixed size, in a corner) and a scale bar of one shutter pitch."""
        from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

        ax = self.ax
        cx, cy = self.shape[1] / 2.0, self.shape[0] / 2.0
        ra0, dec0 = self.wcs.all_pix2world([cx], [cy], 0)
        step_deg = 10.0 / 3600.0
        cos_dec = max(np.cos(np.radians(dec0[0])), 1e-6)
        for label, (dra, ddec) in (("N", (0.0, step_deg)), ("E", (step_deg / cos_dec, 0.0))):
            x1, y1 = self.wcs.all_world2pix(ra0 + dra, dec0 + ddec, 0)
            d = np.array([x1[0] - cx, y1[0] - cy])
            d /= np.hypot(*d)
            ax.annotate(label, xy=(0.90, 0.10), xycoords="axes fraction", xytext=(28 * d[0], 28 * d[1]),
                        textcoords="offset points", ha="center", va="center", color="w", fontsize=8,
                        arrowprops={"arrowstyle": "<-", "color": "w", "lw": 1.2}, zorder=6)
        scale = np.sqrt(abs(np.linalg.det(self.wcs.pixel_scale_matrix))) * 3600.0  # arcsec / pix
        pitch = float(np.median(msa.get_model(self.pointing.filter).pitch_spat))
        # transData: the bar keeps the length of one shutter on the sky when zooming
        self.scale_bar = AnchoredSizeBar(ax.transData, pitch / scale, f"1 shutter pitch ({pitch:.2f}\")",
                                         "lower left", pad=0.4, color="w", frameon=False, size_vertical=0,
                                         fontproperties={"size": 7})
        ax.add_artist(self.scale_bar)

    def _add_legend(self):
        """A legend for every marker and shutter state, below the axes (outside the data)."""
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch

        def rgba(name):
            r, g, b, a = _RGBA[name]
            return (r / 255, g / 255, b / 255, max(a, 120) / 255)

        handles = [Patch(color=rgba("operable"), label="operable shutter"),
                   Patch(color=rgba("failed closed"), label="failed closed"),
                   Patch(color=rgba("failed open"), label="failed open"),
                   Patch(color=rgba("source"), label="shutter holding a source (zone)"),
                   Patch(color=rgba("slitlet"), label="rest of its nodded slitlet"),
                   Line2D([], [], color=_QUAD_COLOUR, label="quadrant outline"),
                   Line2D([], [], color=_SLIT_COLOUR, label="fixed slits"),
                   Line2D([], [], color=_IFU_COLOUR, label="IFU aperture")]
        if self.src_x.size:
            handles += [Line2D([], [], ls="", marker="o", mfc="none", mec=_SIGMA_COLOURS[0],
                               label="catalog source (colour: sigma)"),
                        Line2D([], [], ls="", marker="x", color=_NO_SIGMA_COLOUR, label="source without sigma")]
        self.legend = self.fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=7, frameon=False,
                                      bbox_to_anchor=(0.46, 0.01))

    def format_coord(self, x, y):
        """Hover readout: RA/Dec, the shutter under the cursor (quadrant, row, column) and the image value."""
        ra, dec = self.wcs.all_pix2world([x], [y], 0)
        from astropy.coordinates import Angle
        import astropy.units as u

        text = (f"RA {Angle(ra[0], u.deg).to_string(u.hour, sep=':', precision=3)} "
                f"Dec {Angle(dec[0], u.deg).to_string(u.deg, sep=':', precision=2, alwayssign=True)} "
                f"({ra[0]:.6f}°, {dec[0]:+.6f}°)")
        loc = self.pointing.locate_arrays(ra=ra, dec=dec, operability=self.operability)
        q = int(loc["quadrant"][0])
        if q > 0:
            # msa's i runs along the dispersion (APT's shutter_row), j along the slit (shutter_column)
            state = msa.STATE_NAMES.get(int(loc["state"][0]), "")
            text += f" | Q{q} row {int(loc['i'][0])} col {int(loc['j'][0])} {state}"
        else:
            text += " | no shutter"
        if self._image is not None:
            ix, iy = int(round(x)), int(round(y))
            if 0 <= iy < self._image.shape[0] and 0 <= ix < self._image.shape[1]:
                text += f" | image {self._image[iy, ix]:.4g}"
        return text

    def _set_default_view(self):
        """Zoom on the MSA footprint (with margin), inside the image when there is one."""
        ra, dec = self.pointing.shutter_sky()
        sub = (slice(None), slice(None, None, 10), slice(None, None, 10))
        x, y = self.wcs.all_world2pix(ra[sub].ravel(), dec[sub].ravel(), 0)
        cx, cy = np.nanmedian(x), np.nanmedian(y)
        half = 0.62 * max(np.nanmax(x) - np.nanmin(x), np.nanmax(y) - np.nanmin(y))
        if not np.isfinite(half) or half <= 0:
            half = max(self.shape) / 2.0
            cx, cy = self.shape[1] / 2.0, self.shape[0] / 2.0
        self.ax.set_xlim(cx - half, cx + half)
        self.ax.set_ylim(cy - half, cy + half)
        self.ax.set_aspect("equal")

    # --- computing one state -------------------------------------------------------------
    def set_pointing(self, pointing):
        self.pointing = pointing
        self.compute()

    def compute(self):
        """Locate the sources, count, and rebuild the shutter raster and outlines."""
        p = self.pointing
        n_src = self.src_ra.size
        loc = p.locate_arrays(unit=self._src_unit, operability=self.operability) if n_src else None
        self.located = loc
        self._update_counts(loc)
        self._update_outlines()
        self._update_raster(loc)
        if self.dynamic_title:
            name = msa.zone_count_name(msa.canonical_constraint(self.constraint))
            title = (f"MSA at RA {p.ra:.5f}°, Dec {p.dec:+.5f}°, APA {p.apa:.1f}°, {p.filter}: "
                     f"{self.counts.get(name, 0)} sources {name} "
                     f"(whole {3 if self.nod else 1}-shutter slitlet operable)")
            self.title_artist.set_text(_wrap(title + (f". {self.message}" if self.message else "")))
        else:
            self.title_artist.set_text("NIRSpec MSA over the pre-image (pointing and counts: right)")
        return self.counts

    def _update_counts(self, loc):
        c = {}
        warnings = []
        if self.has_image:
            frac = msa.footprint_overlap(self.pointing, self.wcs, self.shape, step=10)
            if frac == 0.0:
                warnings.append("The MSA footprint does not overlap the image: move the pointing back")
            elif frac < 0.5:
                warnings.append(f"Only {100 * frac:.0f}% of the MSA footprint lies on the pre-image: "
                                "the catalog has no sources beyond its edge")
        if loc is None:
            c.update({"catalog sources": 0, "in MSA quadrants": 0})
            if self.sources is None:
                warnings.append("No source catalog: footprint only")
            if self.has_image:
                c["footprint on image (%)"] = round(100 * frac, 1)
            self.counts = c
            self.message = "; ".join(warnings)
            self._hit_ids = np.zeros(0, dtype=np.int64)
            self._slit_ids = np.zeros(0, dtype=np.int64)
            return
        q = np.asarray(loc["quadrant"])
        c, usable = msa.count_sources(loc, self.operability, nod=self.nod, sigma=self.src_sigma)
        if self.has_image:
            c["footprint on image (%)"] = round(100 * frac, 1)
        c["constraint"] = self.constraint
        c["nod"] = self.nod
        n_fo, n_fc = c["on failed-open shutters"], c["on failed-closed shutters"]
        lost = [f"{n} on failed-{kind} shutters" for n, kind in ((n_fo, "open"), (n_fc, "closed")) if n]
        if lost:
            warnings.append("Sources " + " and ".join(lost))
        if c["in MSA quadrants"] == 0:
            warnings.append("No catalog source falls in the MSA at this pointing")
        self.message = "; ".join(warnings)
        self.counts = c
        chosen = msa.counted_mask(loc, self.constraint, 3 if self.nod else 1, self.operability)  # the one counting rule
        ids = np.ravel_multi_index((q[chosen] - 1, np.asarray(loc["j"])[chosen] - 1, np.asarray(loc["i"])[chosen] - 1),
                                   msa.SHAPE)
        self._hit_ids = np.unique(ids)
        self._hit_xy = (self.src_x[chosen], self.src_y[chosen])
        if self.nod and chosen.any():
            qq, jj, ii = q[chosen] - 1, np.asarray(loc["j"])[chosen] - 1, np.asarray(loc["i"])[chosen] - 1
            nb = []
            for dj in (-1, 1):
                ok = (jj + dj >= 0) & (jj + dj < msa.N_ROWS)
                nb.append(np.ravel_multi_index((qq[ok], jj[ok] + dj, ii[ok]), msa.SHAPE))
            self._slit_ids = np.unique(np.concatenate(nb))
        else:
            self._slit_ids = np.zeros(0, dtype=np.int64)

    def _update_outlines(self):
        show_q = self.layers.get("quadrants", True)
        show_s = self.layers.get("slits", True)
        for name, (ra, dec) in self.pointing.outlines_sky().items():
            x, y = self.wcs.all_world2pix(ra, dec, 0)
            line = self.outline_artists[name]
            line.set_data(np.append(x, x[0]), np.append(y, y[0]))
            line.set_visible(show_q if name.startswith("Q") else show_s)

    def _view_raster_shape(self):
        bbox = self.ax.get_window_extent()
        w, h = max(50.0, bbox.width), max(50.0, bbox.height)
        f = min(1.0, self.max_raster / max(w, h))
        return int(round(h * f)), int(round(w * f))

    def _update_raster(self, loc):
        art = self.raster_artist
        if not self.layers.get("shutters", True):
            art.set_visible(False)
            return
        art.set_visible(True)
        x0, x1 = self.ax.get_xlim()
        y0, y1 = self.ax.get_ylim()
        h, w = self._view_raster_shape()
        step = 8
        hc, wc = h // step + 2, w // step + 2
        gx = np.linspace(x0, x1, wc)
        gy = np.linspace(y0, y1, hc)
        GX, GY = np.meshgrid(gx, gy)
        ra, dec = self.wcs.all_pix2world(GX.ravel(), GY.ravel(), 0)
        v2, v3 = self.pointing.sky_to_v2v3(ra, dec)
        mx, my = msa.v2v3_to_msa_xy(v2, v3, self.pointing.filter)
        # bilinear up-sampling of the (smooth) MSA-plane coordinates to every display pixel
        wy = _interp_matrix(h, hc).astype(np.float32)
        wx = _interp_matrix(w, wc).astype(np.float32)
        origin, jac, inv, open_um = msa._grid()
        # float32 is plenty: 0.04 m * 6e-8 = 2.4 nm, 1e-5 of a shutter
        X = wy @ (mx.reshape(hc, wc).astype(np.float32) @ wx.T)
        Y = wy @ (my.reshape(hc, wc).astype(np.float32) @ wx.T)
        qidx = (2 * (X > 0) + (Y > 0)).astype(np.intp)
        o = origin.astype(np.float32)
        m = inv.reshape(4, 4).astype(np.float32)
        dx = X - o[:, 0].take(qidx)
        dy = Y - o[:, 1].take(qidx)
        a = m[:, 0].take(qidx) * dx + m[:, 1].take(qidx) * dy
        b = m[:, 2].take(qidx) * dx + m[:, 3].take(qidx) * dy
        ia = np.rint(a)
        jb = np.rint(b)
        hit = (ia >= 0) & (ia < msa.N_COLUMNS) & (jb >= 0) & (jb < msa.N_ROWS)
        # display pixels per shutter along i (from the coarse grid spacing in the MSA plane)
        pitch_m = float(np.hypot(jac[0, 0, 0], jac[0, 1, 0]))
        pix_m = float(np.median(np.hypot(np.diff(mx.reshape(hc, wc), axis=1), np.diff(my.reshape(hc, wc), axis=1)))) / (
            (w - 1.0) / (wc - 1.0))
        cell_px = pitch_m / pix_m if pix_m > 0 else 1e9
        self.cell_px = cell_px
        if cell_px >= 4.0:  # resolve open areas and bars
            half_i = 0.5e-6 * open_um[0] / pitch_m
            half_j = 0.5e-6 * open_um[1] / float(np.hypot(jac[0, 0, 1], jac[0, 1, 1]))
            hit &= (np.abs(a - ia) <= half_i) & (np.abs(b - jb) <= half_j)
        lut = self._lut(cell_px)
        flat = (qidx * msa.N_ROWS + jb.astype(np.intp)) * msa.N_COLUMNS + ia.astype(np.intp)
        flat[~hit] = msa.N_SHUTTERS  # the LUT's last entry is transparent
        rgba = lut.take(flat, axis=0)
        # zoomed out, shutters are smaller than a pixel: mark the failed-open shutters and the
        # shutters holding a source with 3 x 3 pixel dots so that they stay visible
        if cell_px < 2.0:
            fo = np.flatnonzero(self.operability.state.ravel() == msa.STATE_FAILED_OPEN)
            if fo.size:
                q, j, i = np.unravel_index(fo, msa.SHAPE)
                ra, dec = self.pointing.shutter_sky(q + 1, i + 1, j + 1)
                fx, fy = self.wcs.all_world2pix(ra, dec, 0)
                self._splat(rgba, fx, fy, (x0, x1, y0, y1), _RGBA["failed open"])
            if self._hit_ids.size:
                self._splat(rgba, *self._hit_xy, (x0, x1, y0, y1), _RGBA["source"])
        art.set_data(rgba)
        art.set_extent((x0, x1, y0, y1))
        self._raster_view = self._current_view()

    @staticmethod
    def _splat(rgba, x, y, view, colour):
        h, w = rgba.shape[:2]
        x0, x1, y0, y1 = view
        px = np.rint((np.asarray(x) - x0) / (x1 - x0) * (w - 1)).astype(int)
        py = np.rint((np.asarray(y) - y0) / (y1 - y0) * (h - 1)).astype(int)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                ok = (px + dx >= 0) & (px + dx < w) & (py + dy >= 0) & (py + dy < h)
                rgba[py[ok] + dy, px[ok] + dx] = colour

    def _base_lut(self, near_only):
        key = (near_only, id(self.operability))
        if self._lut_cache.get("key") != key:
            lut = np.zeros((msa.N_SHUTTERS + 1, 4), dtype=np.uint8)
            st = self.operability.state.ravel()
            if not near_only:
                lut[:-1][st == msa.STATE_OK] = _RGBA["operable"]
                lut[:-1][st == msa.STATE_FAILED_CLOSED] = _RGBA["failed closed"]
            lut[:-1][st == msa.STATE_FAILED_OPEN] = _RGBA["failed open"]
            self._lut_cache = {"key": key, "lut": lut}
        return self._lut_cache["lut"].copy()

    def _lut(self, cell_px):
        st = self.operability.state.ravel()
        near_only = self.shutters == "near sources" or (
            self.shutters == "auto" and cell_px < 2.0 and self.src_ra.size > 0)
        lut = self._base_lut(near_only)
        if near_only and self._hit_ids.size:
            # operable / closed shutters within +-2 shutter_columns (spatial) and +-1 shutter_row of a chosen one
            q, j, i = np.unravel_index(self._hit_ids, msa.SHAPE)
            for dj in (-2, -1, 0, 1, 2):
                for di in (-1, 0, 1):
                    jj, ii = j + dj, i + di
                    ok = (jj >= 0) & (jj < msa.N_ROWS) & (ii >= 0) & (ii < msa.N_COLUMNS)
                    ids = np.ravel_multi_index((q[ok], jj[ok], ii[ok]), msa.SHAPE)
                    s = st[ids]
                    lut[ids[s == msa.STATE_OK]] = _RGBA["operable"]
                    lut[ids[s == msa.STATE_FAILED_CLOSED]] = _RGBA["failed closed"]
            lut[:-1][st == msa.STATE_FAILED_OPEN] = _RGBA["failed open"]
        lut[self._slit_ids] = _RGBA["slitlet"]
        lut[self._hit_ids] = _RGBA["source"]
        return lut

    # --- drawing ---------------------------------------------------------------------------
    def set_layers(self, **flags):
        static_changed = False
        for k, v in flags.items():
            if k not in self.LAYERS:
                raise WorkbookError(f"unknown layer {k!r}; use one of {', '.join(self.LAYERS)}")
            static_changed |= k in ("image", "sources") and self.layers[k] != bool(v)
            self.layers[k] = bool(v)
        if self.image_artist is not None:
            self.image_artist.set_visible(self.layers["image"])
        for a in self.source_artists:
            a.set_visible(self.layers["sources"])
        if static_changed:
            self._bg = None  # the cached background is stale: next redraw is a full one

    def _animated(self):
        return [self.raster_artist, *self.outline_artists.values()]

    def _on_draw(self, event):
        canvas = self.fig.canvas
        if self._full_render:
            return
        if hasattr(canvas, "copy_from_bbox"):
            self._bg = canvas.copy_from_bbox(self.fig.bbox)
        if self._raster_view != self._current_view():  # zoom/pan/resize: new raster for the view
            self._update_raster(self.located)
        self._draw_animated()

    def _current_view(self):
        return (tuple(self.ax.get_xlim()), tuple(self.ax.get_ylim()), self._view_raster_shape())

    def _draw_animated(self):
        for a in self._animated():
            if a.get_visible():
                self.ax.draw_artist(a)

    def redraw(self):
        """Show the current state: blit over the cached background, or a full draw if needed."""
        canvas = self.fig.canvas
        if self._bg is None or not hasattr(canvas, "restore_region"):
            canvas.draw()
            return "full"
        # a zoom/pan changes the view: recompute the raster for the new limits
        canvas.restore_region(self._bg)
        self._draw_animated()
        canvas.blit(self.fig.bbox)
        return "blit"

    def update(self, pointing=None, constraint=None, nod=None, shutters=None, layers=None):
        """Change the state and redraw; returns the counts.

        ``layers`` is a dict of layer name -> bool (see `LAYERS`); ``shutters`` the drawing mode.
        """
        if pointing is not None:
            self.pointing = pointing
        if constraint is not None:
            self.constraint = msa._constraint(constraint)[0]
        if nod is not None:
            self.nod = bool(nod)
        if shutters is not None:
            if shutters not in ("auto", "all", "near sources"):
                raise WorkbookError(f"shutters={shutters!r}; use 'auto', 'all' or 'near sources'")
            self.shutters = shutters
        if layers:
            self.set_layers(**layers)
        self.compute()
        self.redraw()
        return self.counts

    def render(self):
        """A full (non-blitted) draw of the figure, animated layers included."""
        self._full_render = True
        for a in self._animated():
            a.set_animated(False)
        try:
            self.fig.canvas.draw()
        finally:
            for a in self._animated():
                a.set_animated(True)
            self._full_render = False
        return self.fig

    def savefig(self, path, dpi=110, overwrite=True):
        """Save the complete picture (all layers) to ``path`` atomically (PNG by suffix)."""
        from . import save_figure

        self._full_render = True
        for a in self._animated():
            a.set_animated(False)
        try:
            return save_figure(self.fig, path, dpi=dpi, overwrite=overwrite)
        finally:
            for a in self._animated():
                a.set_animated(True)
            self._full_render = False


def plot_msa_overlay(pointing, image=None, wcs=None, sources=None, operability=None, constraint="Midpoint",
                     nod=False, shutters="auto", layers=None, figsize=(8.0, 8.0), zoom=None):
    """Static picture of the MSA over the pre-image (the widget's fallback for headless runs).

    Parameters are those of :class:`OverlayScene`; ``zoom`` (arcsec, optional) narrows the view
    to a box of that size around the pointing.

    Returns
    -------
    scene : OverlayScene
        ``scene.fig`` is the figure; ``scene.counts`` the live counts; ``scene.savefig(path)``.
    """
    scene = OverlayScene(pointing, image=image, wcs=wcs, sources=sources, operability=operability,
                         constraint=constraint, nod=nod, shutters=shutters, layers=layers, figsize=figsize)
    if zoom:
        x, y = scene.wcs.all_world2pix([pointing.ra], [pointing.dec], 0)
        scale = np.sqrt(abs(np.linalg.det(scene.wcs.pixel_scale_matrix))) * 3600.0
        half = 0.5 * float(zoom) / scale
        scene.ax.set_xlim(x[0] - half, x[0] + half)
        scene.ax.set_ylim(y[0] - half, y[0] + half)
        scene.compute()
    scene.render()
    return scene
