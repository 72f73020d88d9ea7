"""Interactive MSA footprint overlay for notebook 04 (ipywidgets + ipympl).

:class:`MSAOverlayWidget` puts the picture of :class:`helpers.plotting.msa.OverlayScene` in
an ipympl canvas and adds controls: RA/Dec offsets of the pointing (arcsec, along RA and Dec
from the starting pointing), the aperture PA, the filter, the centering constraint, the
3-shutter nod, which shutters to draw and which layers to show, with live counts (sources
in the field, in usable open shutters, in each centering zone, per quadrant, on failed-open
shutters). A slider move re-locates every source and redraws only the shutter raster and the
outlines over a cached background (blitting): about 0.1 s for 250k shutters and 1e5
sources.

Every pointing the widget and notebook 04 build goes through one :class:`PointingFactory`, which
carries the observation date: `helpers.msa.MSAPointing` then applies the differential velocity
aberration, so the widget's counts are ``MSAPointing.count`` at the same pointing and date.

Without the ipympl front-end (a headless run, a classic notebook) the same controls redraw
a static PNG instead; :func:`helpers.plotting.msa.plot_msa_overlay` gives the picture alone.
"""

import math

import numpy as np

from . import msa
from .errors import WorkbookError
from .skyplane import offset_radec

__all__ = ["MSAOverlayWidget", "PointingFactory", "enable_ipympl", "offset_pointing", "sky_offset_arcsec",
           "load_overlay_inputs", "load_targets", "read_image"]


def read_image(path):
    """The science image of a FITS product (SCI of a drz/drc/i2d, else the first 2-D image) and its
    celestial WCS, found by :func:`helpers.sources.read_image`.

    Returns
    -------
    data : ndarray
    wcs : `~astropy.wcs.WCS`

    Raises
    ------
    WorkbookError
        Unreadable file, or a science image without a celestial WCS.
    """
    from .sources import read_image as open_product  # finds the SCI HDU and its WCS

    try:
        info = open_product(path)
    except WorkbookError as exc:
        raise WorkbookError(f"cannot read image {path}: {exc}") from None
    with info["hdul"]:
        if not info["wcs"].has_celestial:
            raise WorkbookError(f"{path} has no 2-D image with a celestial WCS; choose another image from notebook 01")
        # a copy: the memory-mapped file closes on leaving this block
        return np.array(info["sci"].data, dtype=np.float32), info["wcs"].celestial


def load_overlay_inputs(cfg):
    """Find the pre-image (best image of notebook 01) and its source catalog (notebook 02).

    Both are optional: whatever is missing is reported in ``messages`` and the overlay is drawn
    without it (the footprint alone if neither exists).

    Parameters
    ----------
    cfg : helpers.config.FieldConfig

    Returns
    -------
    dict
        ``image``, ``wcs`` (or None), ``image_name``, ``sources`` (`~astropy.table.Table` or
        None), ``catalog_name``, ``messages`` (list of str).
    """
    from pathlib import Path

    from astropy.table import Table

    out = {"image": None, "wcs": None, "image_name": None, "sources": None, "catalog_name": None, "messages": []}
    msgs = out["messages"]
    images = sorted((cfg.extra or {}).get("images") or [], key=lambda im: im.get("rank", 99))
    candidates = [Path(str(im.get("path", ""))) for im in images]
    arch = cfg.path / "archive"
    if arch.is_dir():
        candidates += sorted(p for p in arch.glob("*.fits") if p not in candidates)
    for path in candidates:
        if not path.is_file():
            continue
        try:
            out["image"], out["wcs"] = read_image(path)
            out["image_name"] = path.stem
            msgs.append(f"pre-image: {path.name} ({out['image'].shape[1]} x {out['image'].shape[0]} pix)")
            break
        except WorkbookError as exc:
            msgs.append(f"skipped {path.name}: {exc}")
    if out["image"] is None:
        msgs.append("no pre-image found (run notebook 01): the footprint is drawn on a blank sky grid")
    cat_dir = cfg.path / "catalogs"
    cats = sorted(cat_dir.glob("sources_*.ecsv")) if cat_dir.is_dir() else []
    if out["image_name"]:
        key = out["image_name"]
        cats.sort(key=lambda p: 0 if (p.stem[len("sources_"):] in key or key in p.stem) else 1)
    for path in cats:
        try:
            out["sources"] = Table.read(path, format="ascii.ecsv")
            out["catalog_name"] = path.stem[len("sources_"):]
            n_sig = int(np.isfinite(np.ma.filled(np.ma.asarray(out["sources"]["ra_err"], float), np.nan)).sum()) \
                if "ra_err" in out["sources"].colnames else 0
            msgs.append(f"catalog: {path.name}, {len(out['sources'])} sources ({n_sig} with a position error)")
            break
        except Exception as exc:  # noqa: BLE001 - a corrupt file: report and try the next
            msgs.append(f"skipped {path.name}: unreadable ({exc.__class__.__name__})")
    if out["sources"] is None:
        msgs.append("no source catalog found (run notebook 02): no sources to count")
    return out


def load_targets(cfg):
    """The planner's target list for notebook 04: notebook 02's corrected list, else the list as given.

    Parameters
    ----------
    cfg : helpers.config.FieldConfig

    Returns
    -------
    targets : `~astropy.table.Table` or None
        ``id, ra, dec`` (deg) and, when the list has them, ``priority``, ``weight`` ...
    kind : {'corrected', 'as given', 'none'}
    line : str
        One line saying which list is used (and why not the corrected one), for the notebook.

    Raises
    ------
    WorkbookError
        The list as given cannot be read (the reader's one-line message).
    """
    from pathlib import Path

    from astropy.table import Table

    extra = cfg.extra or {}
    record = extra.get("targets") or {}
    corrected = record.get("corrected_path")
    why_not = "notebook 02 has not judged it against the image yet"
    if corrected:
        path = Path(str(corrected))
        if path.is_file():
            try:
                table = Table.read(path, format="ascii.ecsv")
            except Exception as exc:  # noqa: BLE001 - a damaged file: said out loud, then the list as given
                why_not = f"the corrected list {path.name} is unreadable ({exc.__class__.__name__}); re-run notebook 02"
            else:
                how = (record.get("correction") or {}).get("sentence") or ""
                return table, "corrected", (f"targets: the corrected list {path.name} ({len(table)} targets, "
                                            f"judged in notebook 02{': ' + how if how else ''})")
        else:
            why_not = f"the corrected list {path} is missing; re-run notebook 02"
    given = extra.get("targets_path")
    if given:
        from .targets import read_target_list

        import warnings

        with warnings.catch_warnings(record=True) as caught:  # said in the returned line, not lost
            warnings.simplefilter("always")
            table = read_target_list(given)
        notes = "".join(f"; {w.message}" for w in caught)
        return table, "as given", (f"targets: the list as given, {Path(str(given)).name} ({len(table)} targets): "
                                   f"{why_not}{notes}")
    return None, "none", ("targets: none (this field has no target list: notebook 00 parameter targets= or CLI "
                          "--targets); the counts are of the image catalog's sources")


def enable_ipympl():
    """Switch the notebook's matplotlib to the interactive ipympl backend if possible.

    Returns
    -------
    bool
        True when figures will be live widgets (``%matplotlib widget``).
    """
    try:
        from IPython import get_ipython

        ip = get_ipython()
        if ip is None:
            return False
        import ipympl  # noqa: F401

        ip.run_line_magic("matplotlib", "widget")
        return True
    except Exception:  # noqa: BLE001 - no IPython, no ipympl: fall back to static figures
        return False


def _fast_png(canvas):
    """Send the ipympl canvas's frames as PNG compressed at level 1 instead of 6.

    Every update reaches the browser as a PNG (the whole figure, or the changed pixels of it);
    at zlib level 6 the encoding of a noisy pre-image costs ~50 ms of each zoom, at level 1 about
    half, with files no larger (the image noise does not compress anyway). The frame logic is
    matplotlib's webagg one (full frame, or the pixels that changed since the last one); left
    alone when the canvas lacks it (another matplotlib version).
    """
    import io

    if not all(hasattr(canvas, a) for a in ("_png_is_old", "_force_full", "set_image_mode", "get_renderer")):
        return False
    from PIL import Image

    def get_diff_image():
        if not canvas._png_is_old:
            return None
        pixels = np.asarray(canvas.get_renderer().buffer_rgba())
        frame = pixels.view(np.uint32).squeeze(2)
        last = getattr(canvas, "_last_buff", None)
        full = (canvas._force_full or last is None or last.shape != frame.shape or (pixels[:, :, 3] != 255).any())
        canvas.set_image_mode("full" if full else "diff")
        out = frame if full else np.where(frame != last, frame, 0)
        canvas._last_buff = frame.copy()
        canvas._force_full = False
        canvas._png_is_old = False
        with io.BytesIO() as png:
            Image.fromarray(out.view(np.uint8).reshape(*out.shape, 4)).save(png, format="png", compress_level=1)
            return png.getvalue()

    canvas.get_diff_image = get_diff_image
    return True


def _draw_navigation_in_kernel(canvas):
    """Draw a toolbar zoom, pan release, home, back or forward in the kernel at once.

    Matplotlib's toolbar ends each of these with ``draw_idle``, which ipympl turns into a message
    to the browser that sends a draw request back: one round trip (~56 ms in the browser
    timeline) before the draw starts. Here ``draw_idle`` is held back during those calls and the
    canvas is drawn once when they return, if any axis limits changed (a cancelled zoom, a click
    under 5 pixels, keeps ipympl's own ``draw_idle``); a pan release always draws (its limits
    moved during the drag). Dragging a pan still uses ``draw_idle``: the browser's
    request-per-frame paces the drag. Left alone when the toolbar lacks these
    methods (another matplotlib version).

    Returns
    -------
    bool
        True when the toolbar's methods were wrapped.
    """
    toolbar = getattr(canvas, "toolbar", None)
    names = ("release_zoom", "release_pan", "_update_view")
    if toolbar is None or not all(callable(getattr(toolbar, n, None)) for n in names):
        return False

    def views():
        return [tuple(ax.viewLim.bounds) for ax in canvas.figure.axes]

    def drawn_here(method, always):
        def wrapped(*args, **kwargs):
            before, requested = views(), []
            had_own = "draw_idle" in vars(canvas)
            previous = canvas.draw_idle
            canvas.draw_idle = lambda *a, **k: requested.append(1)
            try:
                return method(*args, **kwargs)
            finally:
                if had_own:
                    canvas.draw_idle = previous
                else:
                    del canvas.draw_idle
                if requested:
                    if always or views() != before:
                        canvas.draw()
                    else:
                        canvas.draw_idle()

        wrapped.__name__ = method.__name__
        return wrapped

    for name in names:
        setattr(toolbar, name, drawn_here(getattr(toolbar, name), always=name == "release_pan"))
    return True


def _unregistered_live_figure(figsize):
    """An ipympl figure that only the widget (and its toolbar) draws: not in pyplot's figure list.

    After every comm message (a mouse press, a button click) ``comm`` fires IPython's
    ``post_execute``, and pyplot's hook then calls ``draw_idle`` on every stale figure it knows.
    A zoom press leaves the overlay stale (``get_position`` re-applies the equal aspect), so each
    zoom cost a useless full draw before the real one (about 100-440 ms under load, seen in the
    browser timeline), and other clicks queued a full redraw behind their blit. The widget
    draws what it changes itself (blit, or ``canvas.draw`` for a reset) and ipympl's toolbar calls
    ``draw_idle`` for its zoom, pan and home, so nothing is lost by leaving pyplot out.
    """
    import matplotlib.pyplot as plt

    with plt.ioff():  # ioff: ipympl would also queue the figure for display after the cell
        # the number only names the canvas (ipympl's hidden header): the one pyplot would give
        manager = plt.new_figure_manager(max(plt.get_fignums(), default=0) + 1, figsize=figsize)
    return manager.canvas.figure


class PointingFactory:
    """Builds every MSA pointing of notebook 04 and its widget with one observation date.

    `helpers.msa.MSAPointing` applies the differential velocity aberration (scale ~1e-4, a few mas
    at the MSA edges) when it is given an ``epoch``; a pointing built without it silently drops
    the correction. Building them all here keeps the widget's counts equal to
    ``MSAPointing(ra, dec, apa, epoch=date).count(...)`` at the same pointing.

    Parameters
    ----------
    epoch : str, float or `~astropy.time.Time`, optional
        Planned observation date (ISO ``"2027-07-01"`` or decimal year). None: no aberration
        (the pointings say so in ``velocity_aberration_note``).
    velocity_aberration : bool or float
        As `helpers.msa.MSAPointing`: True (default) derives the factor from ``epoch``; False
        switches it off; a number in 0.999-1.001 is used as the factor.

    Examples
    --------
    >>> make = PointingFactory("2027-01-01")
    >>> p = make(53.1625, -27.791417, 45.0)
    >>> p.epoch, 0.9999 < p.va_factor < 1.0001
    ('2027-01-01', True)
    """

    def __init__(self, epoch=None, velocity_aberration=True):
        self.epoch = epoch
        self.velocity_aberration = velocity_aberration

    @classmethod
    def for_field(cls, cfg, date=None, velocity_aberration=True):
        """The factory of a field: the planned ``date`` (ISO), else the field's epoch (notebook 04's rule)."""
        from .planning.notebook import planned_date

        return cls(planned_date(cfg, date), velocity_aberration)

    @classmethod
    def like(cls, pointing):
        """The factory that built ``pointing`` (same epoch and aberration setting)."""
        return cls(getattr(pointing, "epoch", None), getattr(pointing, "_va_setting", True))

    def __call__(self, ra, dec, apa, filter="CLEAR"):
        """`helpers.msa.MSAPointing` at (ra, dec) deg and aperture PA ``apa`` deg with this date."""
        return msa.MSAPointing(ra, dec, apa, filter=filter, epoch=self.epoch,
                               velocity_aberration=self.velocity_aberration)

    def offset(self, base, d_ra_arcsec=0.0, d_dec_arcsec=0.0, apa=None, filter=None):
        """The pointing moved by (dRA cos Dec, dDec) arcsec on the sky from ``base`` (see `offset_pointing`)."""
        ra, dec = offset_radec(base.ra, base.dec, d_ra_arcsec, d_dec_arcsec)
        return self(ra, dec, base.apa if apa is None else apa, filter=base.filter if filter is None else filter)


def offset_pointing(base, d_ra_arcsec=0.0, d_dec_arcsec=0.0, apa=None, filter=None):
    """The pointing moved by (dRA cos Dec, dDec) arcsec on the sky from ``base``.

    Parameters
    ----------
    base : helpers.msa.MSAPointing
        Its observation date and velocity-aberration setting carry over (`PointingFactory.like`).
    d_ra_arcsec, d_dec_arcsec : float
        Offsets along RA (true angle, i.e. already multiplied by cos Dec) and Dec, arcsec.
    apa : float, optional
        New aperture PA (degrees, wrapped into [0, 360)); default that of ``base``.
    filter : str, optional

    Returns
    -------
    helpers.msa.MSAPointing
    """
    return PointingFactory.like(base).offset(base, d_ra_arcsec, d_dec_arcsec, apa=apa, filter=filter)


def sky_offset_arcsec(base, pointing):
    """Offsets (dRA cos Dec, dDec) in arcsec of ``pointing`` from ``base``: the inverse of `offset_pointing`."""
    from astropy.coordinates import SkyCoord
    import astropy.units as u

    c0 = SkyCoord(base.ra * u.deg, base.dec * u.deg)
    c1 = SkyCoord(pointing.ra * u.deg, pointing.dec * u.deg)
    sep = c0.separation(c1).arcsec
    pa = c0.position_angle(c1).rad
    return sep * math.sin(pa), sep * math.cos(pa)


class MSAOverlayWidget:
    """Interactive MSA overlay: figure, sliders and live counts.

    Parameters
    ----------
    pointing : helpers.msa.MSAPointing
        Starting pointing; the RA/Dec sliders are offsets from it.
    image, wcs, sources, operability : see `helpers.plotting.msa.OverlayScene`
    constraint : str
        Starting centering constraint.
    nod : bool
    max_offset_arcsec : float
        Range of the RA/Dec offset sliders (+-, arcsec); default about one quadrant (98" x 90").
        The float boxes beside them step by 0.01".
    figsize : tuple
    apa_window : (float, float), optional
        Allowed aperture PA range (degrees) for the APA slider; default the whole circle.
    optimize_options : dict, optional
        Keyword arguments for `helpers.planning.optimize_pointing` used by the "optimize" button
        (e.g. ``d_ra_arcsec``, ``d_apa_deg``, ``apa_window`` table, ``disperser`` to forbid
        overlapping spectra); constraint, slitlet, operability and filter come from the controls.
    targets : `~astropy.table.Table`, optional
        The planner's target list (``ra, dec``, optional ``priority``; `load_targets`): drawn by
        priority and counted per priority.
    disperser : str or None
        Disperser/filter pair of the spectra panel under the overlay (a dropdown changes it);
        None: no panel.

    Every pointing is built by `PointingFactory.like(pointing)`: the observation date of
    ``pointing`` (and so its velocity aberration) carries over to every control move.

    Attributes
    ----------
    scene : helpers.plotting.msa.OverlayScene
    pointing : helpers.msa.MSAPointing
        The pointing the controls currently describe.
    counts : dict
        The live counts.
    """

    def __init__(self, pointing, image=None, wcs=None, sources=None, operability=None, constraint="Midpoint",
                 nod=False, max_offset_arcsec=100.0, figsize=None, apa_window=None, optimize_options=None,
                 targets=None, disperser="PRISM/CLEAR"):
        import ipywidgets as W

        from .plotting.msa import OverlayScene
        from .plotting.msa_style import legend_html

        self.base = pointing
        self.make_pointing = PointingFactory.like(pointing)
        self._sources = sources
        self.optimize_options = dict(optimize_options or {})
        self.last_plan = None
        self.live = self._live_canvas_available()
        fig = None
        if self.live:
            # no legend in the canvas (HTML beside it): fewer pixels and no text to redraw per zoom
            figsize = figsize or ((6.0, 6.2) if disperser is not None else (6.0, 5.5))
            fig = _unregistered_live_figure(figsize)
            fig.canvas.header_visible = False
            fig.canvas.toolbar_position = "left"
            _fast_png(fig.canvas)
            _draw_navigation_in_kernel(fig.canvas)
        else:
            figsize = figsize or ((8.0, 9.5) if disperser is not None else (8.0, 8.8))
        self.scene = OverlayScene(pointing, image=image, wcs=wcs, sources=sources, operability=operability,
                                  constraint=constraint, nod=nod, fig=fig, figsize=figsize, dynamic_title=not self.live,
                                  targets=targets, disperser=disperser, legend=not self.live)
        self._targets = targets
        style = {"description_width": "95px"}
        lay = W.Layout(width="300px")
        box_lay = W.Layout(width="95px")
        # coarse sliders (range: about one quadrant) beside float boxes with 0.01 steps, linked in
        # the kernel so typing or stepping a value moves the slider and vice versa. The boxes send
        # every step at once (continuous_update): otherwise leaving a box re-sends its old value
        # and undoes a nudge made in between
        self.w_dra = W.FloatSlider(value=0.0, min=-max_offset_arcsec, max=max_offset_arcsec, step=0.01,
                                   description="RA offset (\")", continuous_update=False, readout=False,
                                   style=style, layout=lay)
        self.w_ddec = W.FloatSlider(value=0.0, min=-max_offset_arcsec, max=max_offset_arcsec, step=0.01,
                                    description="Dec offset (\")", continuous_update=False, readout=False,
                                    style=style, layout=lay)
        apa_min, apa_max = (0.0, 360.0) if apa_window is None else (float(apa_window[0]), float(apa_window[1]))
        self.w_apa = W.FloatSlider(value=min(max(pointing.apa, apa_min), apa_max), min=apa_min, max=apa_max,
                                   step=0.01, description="APA (deg)", continuous_update=False, readout=False,
                                   style=style, layout=lay)
        self.w_dra_box = W.BoundedFloatText(value=0.0, min=-max_offset_arcsec, max=max_offset_arcsec, step=0.01,
                                            continuous_update=True, layout=box_lay)
        self.w_ddec_box = W.BoundedFloatText(value=0.0, min=-max_offset_arcsec, max=max_offset_arcsec, step=0.01,
                                             continuous_update=True, layout=box_lay)
        self.w_apa_box = W.BoundedFloatText(value=self.w_apa.value, min=apa_min, max=apa_max, step=0.01,
                                            continuous_update=True, layout=box_lay)
        self._links = [W.link((s, "value"), (t, "value")) for s, t in
                       ((self.w_dra, self.w_dra_box), (self.w_ddec, self.w_ddec_box), (self.w_apa, self.w_apa_box))]
        self.w_filter = W.Dropdown(options=list(msa.FILTERS), value=pointing.filter, description="filter",
                                   style=style, layout=lay)
        self.w_constraint = W.Dropdown(options=msa.constraint_names(), value=self.scene.constraint,
                                       description="centering", style=style, layout=lay)
        self.w_nod = W.Checkbox(value=bool(nod), description="3-shutter slitlet, 3-point nod", indent=False)
        self.w_shutters = W.ToggleButtons(options=["auto", "all", "near sources"], value="auto",
                                          description="shutters", style={"button_width": "90px"})
        present = {"targets": self.scene.target_layer is not None, "spectra": self.scene.spectra_panel is not None}
        self.w_layers = {name: W.Checkbox(value=True, description=name, indent=False, layout=W.Layout(width="100px"))
                         for name in self.scene.LAYERS if present.get(name, True)}
        self.w_disperser = None
        if self.scene.spectra_panel is not None:
            from .planning import disperser_pairs

            self.w_disperser = W.Dropdown(options=disperser_pairs(), value=self.scene.spectra_panel.disperser,
                                          description="disperser", style=style, layout=lay)
        self.w_counts = W.HTML()
        self.w_status = W.HTML()
        self.w_reset = W.Button(description="reset view", layout=W.Layout(width="120px"))
        self.w_optimize = W.Button(description="optimize", tooltip="search RA/Dec/APA around the current pointing "
                                   "for the most targets expected in their centering zone, and move the controls there",
                                   layout=W.Layout(width="120px"))
        self.w_optimize.on_click(lambda _b: self._on_optimize())
        # nudges of one shutter pitch along the MSA axes (dispersion, spatial), whatever the APA
        self.nudge_buttons = {}
        for label, tip, axis, sign in (("◀", "nudge one shutter pitch along -dispersion", 0, -1),
                                       ("▶", "nudge one shutter pitch along +dispersion", 0, 1),
                                       ("▼", "nudge one shutter pitch along -spatial (along the slit)", 1, -1),
                                       ("▲", "nudge one shutter pitch along +spatial (along the slit)", 1, 1)):
            btn = W.Button(description=label, tooltip=tip, layout=W.Layout(width="42px", padding="0px"))
            btn.on_click(lambda _b, axis=axis, sign=sign: self.nudge(axis, sign))
            self.nudge_buttons[label] = btn
        self.w_png = W.Output() if not self.live else None
        for w in (self.w_dra, self.w_ddec, self.w_apa, self.w_filter, self.w_constraint, self.w_nod, self.w_shutters,
                  *self.w_layers.values(), *([self.w_disperser] if self.w_disperser is not None else [])):
            w.observe(self._on_change, names="value")
        self.w_reset.on_click(self._on_reset)
        layer_boxes = list(self.w_layers.values())
        controls = W.VBox([W.HTML("<b>Pointing</b> (type a value, use the steppers, or drag)"),
                           W.HBox([self.w_dra, self.w_dra_box]), W.HBox([self.w_ddec, self.w_ddec_box]),
                           W.HBox([self.w_apa, self.w_apa_box]),
                           W.HBox([W.HTML("nudge 1 shutter, disp.", layout=W.Layout(width="140px")),
                                   *list(self.nudge_buttons.values())[:2], W.HTML("&nbsp;slit"),
                                   *list(self.nudge_buttons.values())[2:]]),
                           self.w_optimize,
                           self.w_filter,
                           W.HTML("<b>Slits</b>"), self.w_constraint, self.w_nod, self.w_shutters,
                           *([self.w_disperser] if self.w_disperser is not None else []),
                           W.HTML("<b>Layers</b>"), W.HBox(layer_boxes[:3]), W.HBox(layer_boxes[3:6]),
                           W.HBox(layer_boxes[6:] + [self.w_reset]),
                           W.HTML("<b>Counts</b> (hover a name for its definition)"), self.w_status, self.w_counts])
        figure_box = self.scene.fig.canvas if self.live else self.w_png
        self.w_legend = W.HTML(legend_html(**self.scene.legend_options()), layout=W.Layout(width="520px"))
        # the figure column keeps its size (a shrinking column let the controls cover the canvas);
        # on a narrow page the controls wrap below it
        controls.layout = W.Layout(flex="1 1 380px", min_width="380px")
        figure_col = W.VBox([figure_box, self.w_legend] if self.live else [figure_box], layout=W.Layout(flex="0 0 auto"))
        self.box = W.HBox([figure_col, controls], layout=W.Layout(flex_flow="row wrap", align_items="flex-start"))
        self._show_counts()
        if not self.live:
            self._render_png()

    @staticmethod
    def _live_canvas_available():
        import matplotlib

        return "ipympl" in matplotlib.get_backend() or "widget" in matplotlib.get_backend().lower()

    # --- state ---------------------------------------------------------------------------
    @property
    def pointing(self):
        return self.scene.pointing

    @property
    def counts(self):
        return self.scene.counts

    def _pointing_from_controls(self):
        return self.make_pointing.offset(self.base, self.w_dra.value, self.w_ddec.value, apa=self.w_apa.value,
                                         filter=self.w_filter.value)

    def _on_change(self, change=None):
        if getattr(self, "_batch", False):
            return
        try:
            layers = {k: w.value for k, w in self.w_layers.items()}
            self.scene.update(pointing=self._pointing_from_controls(), constraint=self.w_constraint.value,
                              nod=self.w_nod.value, shutters=self.w_shutters.value, layers=layers,
                              disperser=self.w_disperser.value if self.w_disperser is not None else None)
            self._show_counts()
        except WorkbookError as exc:
            self._show_counts()
            self.w_status.value = f"<span style='color:#c62828'>{exc}</span>"
        if not self.live:
            self._render_png()

    def _on_reset(self, _=None):
        # drawn at once: draw_idle would cost a round trip to the browser before the draw
        self.scene.reset_view()
        if not self.live:
            self._render_png()

    def set(self, d_ra_arcsec=None, d_dec_arcsec=None, apa=None, filter=None, constraint=None, nod=None):
        """Move the controls from code (same effect as moving the sliders); one redraw for all."""
        self._batch = True
        changed = False
        try:
            for w, v in ((self.w_dra, d_ra_arcsec), (self.w_ddec, d_dec_arcsec), (self.w_apa, apa),
                         (self.w_filter, filter), (self.w_constraint, constraint), (self.w_nod, nod)):
                if v is not None:
                    if w is self.w_apa:
                        v = float(v) % 360.0
                    changed |= w.value != v
                    w.value = v
        finally:
            self._batch = False
        if changed:
            self._on_change()
        return self.counts

    def nudge(self, axis, sign):
        """Move the pointing by one shutter pitch along the MSA dispersion (axis 0) or spatial (1) axis.

        The sources then move by one shutter in the MSA: the step a newcomer needs to centre a
        galaxy in its shutter with the controls alone.
        """
        model = msa.get_model(self.pointing.filter)
        pitch = float(np.median(model.pitch_disp if axis == 0 else model.pitch_spat))
        moved = self.pointing.offset(sign * pitch if axis == 0 else 0.0, sign * pitch if axis == 1 else 0.0)
        d_ra, d_dec = sky_offset_arcsec(self.base, moved)
        self.set(d_ra_arcsec=round(d_ra, 4), d_dec_arcsec=round(d_dec, 4))
        return self.counts

    def optimize(self, **options):
        """Run the pointing optimizer around the current pointing and move the controls to its result.

        Parameters
        ----------
        **options
            Override ``optimize_options`` (keywords of `helpers.planning.optimize_pointing`;
            ``disperser`` switches on ``no_overlaps``).

        Returns
        -------
        helpers.planning.PointingResult
            Also kept as ``last_plan``.
        """
        from .planning import optimize_pointing

        to_place = self._targets if self._targets is not None and len(self._targets) else self._sources
        if to_place is None or len(to_place) == 0:
            raise WorkbookError("no catalog or targets in the widget: nothing to optimise; give sources= (notebook 02's "
                                "catalog) or targets=")
        opts = {**self.optimize_options, **options}
        disperser = opts.pop("disperser", None)
        p = self.pointing
        # the planner's targets when given (their priorities weight the search), else the catalog;
        # scored with this pointing's velocity-aberration factor so the result's counts are the widget's
        opts.setdefault("velocity_aberration", p.va_factor if p.va_factor != 1.0 else False)
        result = optimize_pointing(to_place, p.ra, p.dec, p.apa, constraint=self.w_constraint.value,
                                   slitlet=3 if self.w_nod.value else 1, operability=self.scene.operability,
                                   filter=p.filter, no_overlaps=disperser is not None,
                                   disperser=disperser or "PRISM/CLEAR", **opts)
        d_ra, d_dec = sky_offset_arcsec(self.base, self.make_pointing(result.ra, result.dec, result.apa, filter=p.filter))
        self.set(d_ra_arcsec=round(d_ra, 4), d_dec_arcsec=round(d_dec, 4), apa=round(result.apa, 4))
        self.last_plan = result
        return result

    def _on_optimize(self):
        try:
            r = self.optimize()
            self.w_status.value = (f"<div>optimized: {r.n_targets} targets in zone, {r.expected:.1f} expected "
                                   f"({r.search_seconds:.1f} s)</div>") + self.w_status.value
        except WorkbookError as exc:
            self.w_status.value = f"<span style='color:#c62828'>{exc}</span>"

    def _show_counts(self):
        import html

        def define(name):
            try:
                return msa.count_definition(name)
            except WorkbookError:  # entries that are settings, not counts (constraint, nod)
                return ""

        c = self.scene.counts
        rows = "".join(
            f"<tr title='{html.escape(define(k), quote=True)}'><td>{k}</td>"
            f"<td style='text-align:right'>{v}</td></tr>" for k, v in c.items() if k not in ("constraint", "nod"))
        p = self.scene.pointing
        head = (f"RA {p.ra:.6f}&deg;, Dec {p.dec:+.6f}&deg;, APA {p.apa:.2f}&deg; (V3PA {p.v3pa:.2f}&deg;), "
                f"{p.filter}; centering: {c.get('constraint', self.scene.constraint)}; "
                f"{html.escape(p.velocity_aberration_note)}")
        zone = msa.zone_count_name(self.scene.constraint)
        defs = "".join(f"<li><b>{k}</b>: {html.escape(define(k))}</li>"
                       for k in ("in MSA quadrants", "in open shutter area", "in operable open shutters",
                                 "with operable nodded slitlet", zone, msa.target_count_name(self.scene.constraint),
                                 "with overlapping spectra") if k in c)
        self.w_status.value = (f"<div class='msa-warning' style='color:#c62828;font-weight:bold'>"
                               f"&#9888; {html.escape(self.scene.message)}</div>" if self.scene.message else "")
        self.w_counts.value = (f"<div class='msa-counts' style='font-size:90%'>{head}<table>{rows}</table>"
                               f"<ul style='margin:2px 0 0 1em;padding:0;font-size:85%'>{defs}</ul></div>")

    def _render_png(self):
        from IPython.display import Image, display
        import io

        self.scene.render()
        buf = io.BytesIO()
        self.scene.fig.savefig(buf, format="png", dpi=80)
        self.w_png.clear_output(wait=True)
        with self.w_png:
            display(Image(buf.getvalue()))

    # --- display -------------------------------------------------------------------------
    def _ipython_display_(self):
        from IPython.display import display

        display(self.box)

    def to_config(self):
        """The chosen pointing as the ``pointing`` entry of the field configuration."""
        p = self.scene.pointing
        return {"ra": round(p.ra, 8), "dec": round(p.dec, 8), "apa": round(p.apa, 4), "filter": p.filter,
                "v3pa": round(p.v3pa, 4), "constraint": self.scene.constraint, "nod": bool(self.scene.nod)}
