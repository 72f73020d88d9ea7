"""The MSA footprint over the pre-image (notebook 04): one scene for the widget and the PNG.

:class:`OverlayScene` draws, on a WCSAxes (RA/Dec ticks; data coordinates are image pixels),

* the pre-image, down-sampled once to display resolution with an asinh stretch between the
  0.5 and 99.7 percentiles, colour-mapped once (static layer);
* the catalog sources coloured by their astrometric sigma (static layer);
* the planner's targets by priority (static layer, `msa_targets.TargetLayer`);
* the shutters as **one RGBA raster** of the current view (`msa_raster`);
* quadrant, fixed-slit and IFU outlines (a few lines);
* optionally, under the overlay, the counted targets' spectra on NRS1 | NRS2 for a disperser,
  overlaps highlighted (`msa_targets.SpectraPanel`).

Moving the pointing redraws only the raster, the outlines and the spectra over a cached
background (blitting), instead of 1.6-2 s for a per-shutter ``PolyCollection`` redraw.
:func:`plot_msa_overlay` renders the same scene to a static figure for headless runs.

Colours, legend and sky decorations live in `msa_style`, the raster in `msa_raster`; their
public names are re-exported here.
"""

import numpy as np

from .. import msa
from ..errors import WorkbookError
from ._checks import check_overlay_inputs
from .msa_raster import (ShutterColours, block_reduce, counted_shutter_ids, crop_for_view, image_pyramid,
                         render_shutter_raster)
from .msa_style import (_IFU_COLOUR, _NO_SIGMA_COLOUR, _QUAD_COLOUR, _SIGMA_COLOURS, _SLIT_COLOUR,  # noqa: F401
                        SIGMA_BANDS_MAS, _wrap, add_compass_and_scale, legend_handles, overlay_layout, source_sigma_mas,
                        synthetic_wcs)
from .msa_targets import SpectraPanel, TargetLayer

__all__ = ["OverlayScene", "plot_msa_overlay", "source_sigma_mas", "SIGMA_BANDS_MAS", "synthetic_wcs"]

_SHUTTER_MODES = ("auto", "all", "near sources")


class OverlayScene:
    """MSA footprint, shutters, sources and targets over an image, redrawn fast when the pointing moves.

    Parameters
    ----------
    pointing : helpers.msa.MSAPointing
        With an ``epoch`` it applies the differential velocity aberration (``MSAPointing``).
    image : 2-D ndarray, optional
        The pre-image. Without it the footprint is drawn alone on a synthetic sky grid.
    wcs : `~astropy.wcs.WCS`, optional
        Celestial WCS of ``image`` (required with an image).
    sources : `~astropy.table.Table`, optional
        Catalog with ``ra, dec`` (deg) and ideally ``ra_err, dec_err`` (mas).
    targets : `~astropy.table.Table`, optional
        The planner's target list (``ra, dec`` deg, optional ``priority``): drawn by priority and
        counted per priority (`helpers.msa.count_targets`).
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
        `LAYERS` name -> bool.
    disperser : str, optional
        Disperser/filter pair (``helpers.planning.disperser_pairs``): adds the NRS1/NRS2 panel of
        the counted targets' spectra (the counted sources' when there is no target list).
    legend : bool
        Draw the legend in the figure (static pictures). The widget shows it as HTML beside the
        canvas instead (`msa_style.legend_html`): text in the canvas costs every zoom.
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

    LAYERS = ("image", "shutters", "sources", "targets", "quadrants", "slits", "spectra")

    def __init__(self, pointing, image=None, wcs=None, sources=None, operability=None,
                 constraint="Midpoint", nod=False, shutters="auto", layers=None, fig=None,
                 figsize=(8.0, 8.0), max_display=1600, max_raster=512, dynamic_title=True,
                 targets=None, disperser=None, legend=True):
        check_overlay_inputs(pointing, image, wcs, sources, operability, figsize)  # one line per bad input
        if fig is None:
            from matplotlib.figure import Figure
            from matplotlib.backends.backend_agg import FigureCanvasAgg

            fig = Figure(figsize=figsize, dpi=100)
            FigureCanvasAgg(fig)
        self.fig = fig
        self.pointing = pointing
        self.operability = operability if operability is not None else msa.default_operability()
        self._colours = ShutterColours(self.operability)
        self.constraint = msa._constraint(constraint)[0]
        self.nod = bool(nod)
        if shutters not in _SHUTTER_MODES:
            raise WorkbookError(f"shutters={shutters!r}; use 'auto', 'all' or 'near sources'")
        self.shutters = shutters
        self.layers = {name: True for name in self.LAYERS}
        for k in (layers or {}):
            if k not in self.LAYERS:
                raise WorkbookError(f"unknown layer {k!r}; use one of {', '.join(self.LAYERS)}")
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
        self._targets_table = targets
        self._legend_in_figure = bool(legend)
        self._dynamic_title = bool(dynamic_title)
        self._build_axes(image, max_display, disperser)
        self.dynamic_title = bool(dynamic_title)
        self._bg = None
        self._default_bg = None  # (key, background) of the default view, for a reset without a full draw
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

    def _build_axes(self, image, max_display, disperser):
        import matplotlib
        from matplotlib.colors import BoundaryNorm, ListedColormap
        from matplotlib.lines import Line2D

        fig = self.fig
        fig.clf()
        main_rect, cbar_rect, panel_rect = overlay_layout(self._legend_in_figure, disperser is not None)
        # WCSAxes: RA/Dec ticks on the sky; data coordinates stay image pixels (0-based)
        ax = fig.add_axes(main_rect, projection=self.wcs)
        self.ax = ax
        ax.coords[0].set_axislabel("RA (ICRS)")
        ax.coords[1].set_axislabel("Dec (ICRS)")
        ax.coords[0].set_major_formatter("hh:mm:ss.s")
        ax.coords[1].set_major_formatter("dd:mm:ss")
        for coord in (ax.coords[0], ax.coords[1]):
            coord.set_ticklabel(size=7)
        self._image = None
        if image is not None:
            self._image = image
            from astropy.visualization import AsinhStretch, ImageNormalize, PercentileInterval

            ny, nx = self.shape
            factor = max(1, int(np.ceil(max(ny, nx) / float(max_display))))
            small = block_reduce(image, factor)
            finite = small[np.isfinite(small)]
            if finite.size == 0:
                raise WorkbookError("the image has no finite pixels; choose another image from notebook 01")
            norm = ImageNormalize(finite, interval=PercentileInterval(99.7), stretch=AsinhStretch(0.1))
            # A pyramid of 2x reductions, each colour-mapped once to RGBA: a zoom or reset then hands
            # matplotlib only the crop of the level that matches the view's screen resolution (it
            # processes every pixel it is given at every draw: ~30 ms for a 1400^2 image)
            self._pyramid = image_pyramid(small, factor, norm, matplotlib.colormaps["gray"])
            rgb = self._pyramid[0][1]
            self.image_artist = ax.imshow(rgb, origin="lower", interpolation="nearest",
                                          extent=(-0.5, small.shape[1] * factor - 0.5, -0.5, small.shape[0] * factor - 0.5))
            ax.set_autoscale_on(False)  # the view is ours (default view, zoom): set_extent must not move it
            ax.callbacks.connect("xlim_changed", lambda _ax: self._fit_image_to_view())
            ax.callbacks.connect("ylim_changed", lambda _ax: self._fit_image_to_view())
        else:
            self.image_artist = None
            self._pyramid = []
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
            cax = fig.add_axes(cbar_rect)
            cb = fig.colorbar(ScalarMappable(norm=self._sigma_norm, cmap=cmap), cax=cax)
            cb.set_label("source sigma (mas, 1σ per axis); grey x: no sigma", fontsize=8)
            cax.set_yticks([2.5, 7.5, 15, 35, 75])
            cax.set_yticklabels(["<=5", "5-10", "10-20", "20-50", ">50"])
            self._sigma_cbar = cb
        self.target_layer = TargetLayer(ax, self._targets_table, self.wcs) if self._targets_table is not None else None
        # animated layers: shutter raster and outlines
        self.raster_artist = ax.imshow(np.zeros((2, 2, 4), dtype=np.uint8), origin="lower", extent=(0, 1, 0, 1),
                                       interpolation="nearest", animated=True, zorder=2)
        self.outline_artists = {}
        for name in ("Q1", "Q2", "Q3", "Q4") + msa.SLIT_APERTURES + (msa.IFU_APERTURE,):
            colour = _QUAD_COLOUR if name.startswith("Q") else _IFU_COLOUR if name == msa.IFU_APERTURE else _SLIT_COLOUR
            line = Line2D([], [], color=colour, lw=1.0, animated=True, zorder=4)
            ax.add_line(line)
            self.outline_artists[name] = line
        self.spectra_panel = (SpectraPanel(fig, panel_rect, disperser, live_label=self._dynamic_title)
                              if disperser is not None else None)
        self.title_artist = ax.set_title("", fontsize=9)  # static: refreshed by full draws only
        pitch = float(np.median(msa.get_model(self.pointing.filter).pitch_spat))
        self.scale_bar = add_compass_and_scale(ax, self.wcs, self.shape, pitch)
        self.legend = None
        if self._legend_in_figure:
            self.legend = fig.legend(handles=legend_handles(**self.legend_options()), loc="lower center", ncol=3,
                                     fontsize=7, frameon=False, bbox_to_anchor=(0.46, 0.0))
        ax.format_coord = self.format_coord
        # the readout gives the image value itself; without this matplotlib appends the RGBA of
        # the top image under the cursor (the shutter raster), which means nothing to a reader
        for art in (self.raster_artist, self.image_artist):
            if art is not None:
                art.get_cursor_data = lambda event: None
        self.set_layers()
        self._set_default_view()

    def _fit_image_to_view(self):
        """Show the pyramid level with >= 1.2 image pixels per screen pixel, cropped to the view."""
        if not self._pyramid:
            return
        bbox = self.ax.get_window_extent()
        self.image_level, crop, extent = crop_for_view(self._pyramid, self.ax.get_xlim(), self.ax.get_ylim(),
                                                       (bbox.width, bbox.height))
        self.image_artist.set_data(crop)
        self.image_artist.set_extent(extent)

    def legend_options(self):
        """Keywords of `msa_style.legend_entries` for this scene (what it shows)."""
        return {"has_sources": bool(self.src_x.size),
                "target_classes": self.target_layer.classes if self.target_layer is not None else (),
                "spectra": self.spectra_panel is not None}

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
        # the quadrants' outlines bound the grid: a few hundred points instead of 250k shutters
        outlines = self.pointing.outlines_sky()
        ra = np.concatenate([outlines[f"Q{k}"][0] for k in range(1, 5)])
        dec = np.concatenate([outlines[f"Q{k}"][1] for k in range(1, 5)])
        x, y = self.wcs.all_world2pix(ra, dec, 0)
        cx, cy = 0.5 * (np.nanmin(x) + np.nanmax(x)), 0.5 * (np.nanmin(y) + np.nanmax(y))
        half = 0.62 * max(np.nanmax(x) - np.nanmin(x), np.nanmax(y) - np.nanmin(y))
        if not np.isfinite(half) or half <= 0:
            half = max(self.shape) / 2.0
            cx, cy = self.shape[1] / 2.0, self.shape[0] / 2.0
        self.ax.set_xlim(cx - half, cx + half)
        self.ax.set_ylim(cy - half, cy + half)
        self.ax.set_aspect("equal")

    def reset_view(self):
        """Back to the default view of the footprint, drawn at once (no idle round trip).

        The background of the default view (everything but the animated layers) is kept from its
        last full draw: a reset to it is then a blit (raster, outlines, spectra over those pixels),
        not a full draw of the WCS axes, their ~60 labels and the image (160-430 ms under load).
        Any change to the static layers drops it (`set_layers`), as it drops ``_bg``.
        """
        self._set_default_view()
        self.ax.apply_aspect()  # the box a draw would give the equal aspect (a zoom may have changed it)
        self._fit_image_to_view()  # the image level for that box (the limit callbacks saw the zoomed one)
        cached = self._default_bg
        canvas = self.fig.canvas
        if (cached is not None and cached[0] == self._background_key() and not self._dynamic_title
                and hasattr(canvas, "restore_region")):
            self._bg = cached[1]
            if hasattr(self.ax, "coords"):  # WCSAxes clips to its frame, whose path a draw would update
                _ = self.ax.coords.frame.patch
            if self._raster_view != self._current_view():
                self._update_raster()
            self.redraw()
            return self.fig
        # the draw event makes the raster for the final view (after the equal-aspect box is applied)
        # and draws the animated layers over the new background: one raster, not two
        canvas.draw()
        if self._bg is not None:
            self._default_bg = (self._background_key(), self._bg)
        return self.fig

    def _background_key(self):
        """What the static pixels depend on: the view, the axes box and the figure's size in pixels."""
        return self._current_view(), tuple(self.ax.get_position().bounds), tuple(self.fig.bbox.bounds)

    # --- computing one state -------------------------------------------------------------
    def set_pointing(self, pointing):
        self.pointing = pointing
        self.compute()

    def compute(self):
        """Locate the sources and targets, count, and rebuild the shutter raster, outlines and spectra."""
        p = self.pointing
        loc = p.locate_arrays(unit=self._src_unit, operability=self.operability) if self.src_ra.size else None
        self.located = loc
        self._update_counts(loc)
        self._update_outlines()
        self._update_raster()
        self._update_spectra()
        if self.dynamic_title:
            name = msa.zone_count_name(msa.canonical_constraint(self.constraint))
            title = (f"MSA at RA {p.ra:.5f}°, Dec {p.dec:+.5f}°, APA {p.apa:.1f}°, {p.filter}: "
                     f"{self.counts.get(name, 0)} sources {name} "
                     f"(whole {3 if self.nod else 1}-shutter slitlet operable)")
            tname = msa.target_count_name(self.constraint)
            if tname in self.counts:
                title += f"; {self.counts[tname]} of {self.counts['targets in list']} targets"
            self.title_artist.set_text(_wrap(title + (f". {self.message}" if self.message else "")))
        else:
            self.title_artist.set_text("")
        return self.counts

    @property
    def slitlet(self):
        return 3 if self.nod else 1

    def _update_counts(self, loc):
        warnings = []
        frac = None
        if self.has_image:
            frac = msa.footprint_overlap(self.pointing, self.wcs, self.shape, step=10)
            if frac == 0.0:
                warnings.append("The MSA footprint does not overlap the image: move the pointing back")
            elif frac < 0.5:
                warnings.append(f"Only {100 * frac:.0f}% of the MSA footprint lies on the pre-image: "
                                "the catalog has no sources beyond its edge")
        self._hit_ids = np.zeros(0, dtype=np.int64)
        self._slit_ids = np.zeros(0, dtype=np.int64)
        self._hit_xy = (np.zeros(0), np.zeros(0))
        if loc is None:
            c = {"catalog sources": 0, "in MSA quadrants": 0}
            if self.sources is None:
                warnings.append("No source catalog: footprint only")
        else:
            c, _ = msa.count_sources(loc, self.operability, nod=self.nod, sigma=self.src_sigma)
            lost = [f"{n} on failed-{kind} shutters" for n, kind in
                    ((c["on failed-open shutters"], "open"), (c["on failed-closed shutters"], "closed")) if n]
            if lost:
                warnings.append("Sources " + " and ".join(lost))
            if c["in MSA quadrants"] == 0:
                warnings.append("No catalog source falls in the MSA at this pointing")
            chosen = msa.counted_mask(loc, self.constraint, self.slitlet, self.operability)  # the one counting rule
            self._mark_shutters(loc, chosen)
            self._hit_xy = (self.src_x[chosen], self.src_y[chosen])
        if frac is not None:
            c["footprint on image (%)"] = round(100 * frac, 1)
        if self.target_layer is not None:
            tc = self.target_layer.count(self.pointing, self.constraint, self.slitlet, self.operability)
            c.update(tc)
            if tc.get("targets on failed shutters"):
                warnings.append(f"{tc['targets on failed shutters']} targets on failed-open or failed-closed shutters")
        c["constraint"] = self.constraint
        c["nod"] = self.nod
        self.message = "; ".join(warnings)
        self.counts = c

    def _mark_shutters(self, loc, chosen):
        """Shutters (flat ids) holding a counted source, and the rest of their slitlets."""
        self._hit_ids, slit = counted_shutter_ids(loc, chosen, self.nod)
        if slit is not None:
            self._slit_ids = slit

    def _chosen_shutters(self):
        """(quadrant, i, j) of the counted targets, or of the counted sources without a target list."""
        if self.target_layer is not None:
            loc, chosen = self.target_layer.located, self.target_layer.counted
        else:
            loc = self.located
            chosen = msa.counted_mask(loc, self.constraint, self.slitlet, self.operability) if loc is not None else None
        if loc is None or chosen is None or not chosen.any():
            return np.zeros(0, int), np.zeros(0, int), np.zeros(0, int)
        return (np.asarray(loc["quadrant"])[chosen], np.asarray(loc["i"])[chosen], np.asarray(loc["j"])[chosen])

    def _update_spectra(self):
        if self.spectra_panel is None:
            return
        if not self.layers.get("spectra", True):
            self.counts.pop("with overlapping spectra", None)
            return
        self.counts.update(self.spectra_panel.update(*self._chosen_shutters(), slitlet=self.slitlet))

    def set_disperser(self, disperser):
        """Change the disperser of the spectra panel (recomputed now)."""
        if self.spectra_panel is None:
            raise WorkbookError("this overlay has no spectra panel; create it with disperser=...")
        self.spectra_panel.set_disperser(disperser)

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

    def _failed_open_xy(self):
        fo = np.flatnonzero(self.operability.state.ravel() == msa.STATE_FAILED_OPEN)
        if not fo.size:
            return np.zeros(0), np.zeros(0)
        q, j, i = np.unravel_index(fo, msa.SHAPE)
        ra, dec = self.pointing.shutter_sky(q + 1, i + 1, j + 1)
        return self.wcs.all_world2pix(ra, dec, 0)

    def _update_raster(self):
        art = self.raster_artist
        if not self.layers.get("shutters", True):
            art.set_visible(False)
            return
        art.set_visible(True)
        x0, x1 = self.ax.get_xlim()
        y0, y1 = self.ax.get_ylim()

        def lut_for(cell_px):
            near_only = self.shutters == "near sources" or (
                self.shutters == "auto" and cell_px < 2.0 and self.src_ra.size > 0)
            return self._colours.lut(near_only, self._hit_ids, self._slit_ids)

        rgba, self.cell_px = render_shutter_raster(self.pointing, self.wcs, (x0, x1, y0, y1), self._view_raster_shape(),
                                                   lut_for, failed_open_xy=self._failed_open_xy, hit_xy=self._hit_xy)
        art.set_data(rgba)
        art.set_extent((x0, x1, y0, y1))
        self._raster_view = self._current_view()

    # --- drawing ---------------------------------------------------------------------------
    def set_layers(self, **flags):
        static_changed = False
        for k, v in flags.items():
            if k not in self.LAYERS:
                raise WorkbookError(f"unknown layer {k!r}; use one of {', '.join(self.LAYERS)}")
            static_changed |= k in ("image", "sources", "targets") and self.layers[k] != bool(v)
            self.layers[k] = bool(v)
        if self.image_artist is not None:
            self.image_artist.set_visible(self.layers["image"])
        for a in self.source_artists:
            a.set_visible(self.layers["sources"])
        if self.target_layer is not None:
            self.target_layer.set_visible(self.layers["targets"])
        if self.spectra_panel is not None:
            self.spectra_panel.set_visible(self.layers["spectra"])
        if static_changed:
            self._bg = self._default_bg = None  # the cached backgrounds are stale: next redraw is a full one

    def _animated(self):
        """(axes, artist) pairs redrawn over the cached background at every update."""
        out = [(self.ax, self.raster_artist)] + [(self.ax, a) for a in self.outline_artists.values()]
        if self.spectra_panel is not None:
            out += [(self.spectra_panel.ax, a) for a in self.spectra_panel.artists()]
        return out

    def _on_draw(self, event):
        canvas = self.fig.canvas
        if self._full_render:
            return
        if hasattr(canvas, "copy_from_bbox"):
            self._bg = canvas.copy_from_bbox(self.fig.bbox)
        if self._raster_view != self._current_view():  # zoom/pan/resize: new raster for the view
            self._update_raster()
        self._draw_animated()

    def _current_view(self):
        return (tuple(self.ax.get_xlim()), tuple(self.ax.get_ylim()), self._view_raster_shape())

    def _draw_animated(self):
        for ax, a in self._animated():
            if a.get_visible():
                ax.draw_artist(a)

    def redraw(self):
        """Show the current state: blit over the cached background, or a full draw if needed."""
        canvas = self.fig.canvas
        if self._bg is None or not hasattr(canvas, "restore_region"):
            canvas.draw()
            return "full"
        canvas.restore_region(self._bg)
        self._draw_animated()
        canvas.blit(self.fig.bbox)
        return "blit"

    def update(self, pointing=None, constraint=None, nod=None, shutters=None, layers=None, disperser=None):
        """Change the state and redraw; returns the counts.

        ``layers`` is a dict of layer name -> bool (see `LAYERS`); ``shutters`` the drawing mode;
        ``disperser`` the spectra panel's disperser/filter pair.
        """
        if pointing is not None:
            self.pointing = pointing
        if constraint is not None:
            self.constraint = msa._constraint(constraint)[0]
        if nod is not None:
            self.nod = bool(nod)
        if shutters is not None:
            if shutters not in _SHUTTER_MODES:
                raise WorkbookError(f"shutters={shutters!r}; use 'auto', 'all' or 'near sources'")
            self.shutters = shutters
        if disperser is not None:
            self.set_disperser(disperser)
        if layers:
            self.set_layers(**layers)
        self.compute()
        self.redraw()
        return self.counts

    def _with_animated_drawn(self, draw):
        """Run ``draw`` with the animated layers drawn as ordinary artists (full picture)."""
        self._full_render = True
        for _, a in self._animated():
            a.set_animated(False)
        try:
            return draw()
        finally:
            for _, a in self._animated():
                a.set_animated(True)
            self._full_render = False

    def render(self):
        """A full (non-blitted) draw of the figure, animated layers included."""
        self._with_animated_drawn(self.fig.canvas.draw)
        return self.fig

    def savefig(self, path, dpi=110, overwrite=True):
        """Save the complete picture (all layers) to ``path`` atomically (PNG by suffix)."""
        from . import save_figure

        return self._with_animated_drawn(lambda: save_figure(self.fig, path, dpi=dpi, overwrite=overwrite))


def plot_msa_overlay(pointing, image=None, wcs=None, sources=None, operability=None, constraint="Midpoint",
                     nod=False, shutters="auto", layers=None, figsize=None, zoom=None, targets=None,
                     disperser=None):
    """Static picture of the MSA over the pre-image (the widget's fallback for headless runs).

    Parameters are those of :class:`OverlayScene`; ``zoom`` (arcsec, optional) narrows the view
    to a box of that size around the pointing; ``figsize`` defaults to 8 x 8 in (8 x 9.5 with the
    spectra panel of ``disperser``).

    Returns
    -------
    scene : OverlayScene
        ``scene.fig`` is the figure; ``scene.counts`` the live counts; ``scene.savefig(path)``.
    """
    if figsize is None:
        figsize = (8.0, 9.5) if disperser is not None else (8.0, 8.0)
    scene = OverlayScene(pointing, image=image, wcs=wcs, sources=sources, operability=operability,
                         constraint=constraint, nod=nod, shutters=shutters, layers=layers, figsize=figsize,
                         targets=targets, disperser=disperser)
    if zoom:
        x, y = scene.wcs.all_world2pix([pointing.ra], [pointing.dec], 0)
        scale = np.sqrt(abs(np.linalg.det(scene.wcs.pixel_scale_matrix))) * 3600.0
        half = 0.5 * float(zoom) / scale
        scene.ax.set_xlim(x[0] - half, x[0] + half)
        scene.ax.set_ylim(y[0] - half, y[0] + half)
        scene.compute()
    scene.render()
    return scene
