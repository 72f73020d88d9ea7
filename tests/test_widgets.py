"""The MSA overlay scene (helpers.plotting.msa) and its widget (helpers.widgets), headless."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.table import Table
import astropy.units as u

from helpers import msa
from helpers.errors import WorkbookError
from helpers.plotting.msa import OverlayScene, plot_msa_overlay, source_sigma_mas, synthetic_wcs

HUDF = (53.1625, -27.791417)


@pytest.fixture(scope="module")
def pointing():
    return msa.MSAPointing(*HUDF, 45.0)


@pytest.fixture(scope="module")
def field(pointing):
    """A small synthetic image with its WCS and a catalog: sources in known shutters, some without sigma."""
    wcs, shape = synthetic_wcs(pointing.ra, pointing.dec, scale_arcsec=0.1, size=2600)
    rng = np.random.default_rng(3)
    image = rng.normal(0.0, 1.0, shape).astype(np.float32)
    q = np.repeat([1, 2, 3, 4], 25)
    i = rng.integers(20, 340, q.size)
    j = rng.integers(10, 160, q.size)
    ra, dec = pointing.shutter_sky(q, i, j)
    t = Table({"id": np.arange(1, q.size + 1), "ra": ra, "dec": dec,
               "ra_err": rng.uniform(2, 40, q.size), "dec_err": rng.uniform(2, 40, q.size)})
    t["ra_err"].unit = t["dec_err"].unit = "mas"
    t["ra_err"][:5] = np.nan
    return image, wcs, t, (q, i, j)


def test_sigma_from_catalog_handles_missing_values():
    t = Table({"ra": [1.0, 2.0, 3.0], "dec": [0.0, 0.0, 0.0], "ra_err": [3.0, np.nan, 4.0], "dec_err": [4.0, 1.0, 3.0]})
    sig = source_sigma_mas(t)
    assert sig[0] == pytest.approx(np.sqrt(12.5)) and np.isnan(sig[1])
    assert np.isnan(source_sigma_mas(Table({"ra": [1.0], "dec": [0.0]}))).all()  # no sigma columns at all
    t["ra_err"].unit = t["dec_err"].unit = "arcsec"
    assert source_sigma_mas(t)[0] == pytest.approx(1000 * np.sqrt(12.5))


def test_scene_counts_sources_in_their_shutters(pointing, field):
    image, wcs, t, (q, i, j) = field
    op = msa.Operability(np.zeros(msa.SHAPE, np.int8), "all operable (test)")
    scene = OverlayScene(pointing, image=image, wcs=wcs, sources=t, operability=op, constraint="Tightly Constrained")
    c = scene.counts
    assert c["catalog sources"] == 100 and c["in MSA quadrants"] == 100 and c["in operable open shutters"] == 100
    assert c["in Tightly Constrained zone"] == 100 and [c[f"Q{k}"] for k in range(1, 5)] == [25] * 4
    assert c["without sigma"] == 5 and c["on failed-open shutters"] == 0
    assert c["footprint on image (%)"] > 50
    # the shutter raster marks the source shutters
    assert scene._hit_ids.size == np.unique(np.ravel_multi_index((q - 1, j - 1, i - 1), msa.SHAPE)).size


def test_scene_update_moves_counts_and_blits(pointing, field):
    image, wcs, t, _ = field
    scene = OverlayScene(pointing, image=image, wcs=wcs, sources=t)
    before = scene.counts["in operable open shutters"]
    scene.fig.canvas.draw()  # caches the static background
    mode = scene.redraw()
    assert mode == "blit"
    # half a shutter along the dispersion direction moves every source out of the open area
    moved = pointing.offset(0.134, 0.0)
    after = scene.update(pointing=moved)["in operable open shutters"]
    assert after < before
    assert scene.update(pointing=pointing)["in operable open shutters"] == before


def test_failed_open_and_nod_counts(pointing):
    state = np.zeros(msa.SHAPE, np.int8)
    state[0, 49, 99] = msa.STATE_FAILED_OPEN      # shutter Q1 i=100 j=50
    state[1, 80, 10] = msa.STATE_FAILED_CLOSED    # neighbour of Q2 i=11 j=80 (row j=81)
    op = msa.Operability(state, "test")
    ra, dec = pointing.shutter_sky([1, 2], [100, 11], [50, 80])
    t = Table({"ra": ra, "dec": dec})  # no sigma columns at all: still drawn and counted
    scene = OverlayScene(pointing, sources=t, operability=op)
    assert scene.counts["on failed-open shutters"] == 1
    assert scene.counts["in operable open shutters"] == 1          # the failed-open one is not usable
    assert scene.counts["without sigma"] == 2
    assert scene.counts["with operable nodded slitlet"] == 0       # its slitlet has a failed-closed shutter
    scene.update(nod=True)
    assert scene.counts["in operable open shutters"] == 1          # same name, same count, nod or not
    assert scene.counts["in Unconstrained zone"] == 0              # zones require the slitlet when nodding


def test_footprint_alone_and_no_overlap_messages(pointing, field):
    scene = OverlayScene(pointing)  # no image, no catalog
    assert scene.counts["catalog sources"] == 0 and "footprint only" in scene.message
    image, wcs, t, _ = field
    far = msa.MSAPointing(HUDF[0] + 0.5, HUDF[1], 45.0)
    s2 = OverlayScene(far, image=image, wcs=wcs, sources=t)
    assert s2.counts["footprint on image (%)"] == 0.0
    assert "does not overlap the image" in s2.message


def test_bad_scene_inputs(pointing, field):
    image, wcs, t, _ = field
    with pytest.raises(WorkbookError, match="an image needs its WCS"):
        OverlayScene(pointing, image=image)
    with pytest.raises(WorkbookError, match="lacks column\\(s\\) dec"):
        OverlayScene(pointing, sources=Table({"ra": [1.0]}))
    with pytest.raises(WorkbookError, match="give a 2-D image"):
        OverlayScene(pointing, image=np.zeros((2, 3, 4)), wcs=wcs)
    with pytest.raises(WorkbookError, match="unknown centering constraint 'Loose'"):
        OverlayScene(pointing, constraint="Loose")


def test_static_png_and_zoomed_shutters(pointing, field, tmp_path):
    image, wcs, t, (q, i, j) = field
    op = msa.Operability(np.zeros(msa.SHAPE, np.int8), "all operable (test)")
    scene = plot_msa_overlay(pointing, image=image, wcs=wcs, sources=t, nod=True, operability=op)
    path = scene.savefig(tmp_path / "overlay.png")
    assert path.stat().st_size > 20_000
    # zoom on one source: shutters resolved (open areas and bars), source shutter drawn green
    ra, dec = pointing.shutter_sky(q[0], i[0], j[0])
    x, y = wcs.all_world2pix([ra], [dec], 0)
    scene.ax.set_xlim(x[0] - 40, x[0] + 40)
    scene.ax.set_ylim(y[0] - 40, y[0] + 40)
    scene.compute()
    assert scene.cell_px > 4
    rgba = scene.raster_artist.get_array()
    h, w = rgba.shape[:2]
    assert tuple(rgba[h // 2, w // 2]) == (0, 230, 0, 255)
    assert (rgba[..., 3] == 0).mean() > 0.2  # bars between shutters stay transparent


def test_widget_headless(pointing, field):
    pytest.importorskip("ipywidgets")
    from helpers.widgets import MSAOverlayWidget, offset_pointing

    image, wcs, t, _ = field
    w = MSAOverlayWidget(pointing, image=image, wcs=wcs, sources=t)
    assert not w.live  # Agg in tests: the PNG fallback
    n0 = w.counts["in operable open shutters"]
    w.set(d_ra_arcsec=0.1, d_dec_arcsec=0.0)
    sep = SkyCoord(w.pointing.ra * u.deg, w.pointing.dec * u.deg).separation(
        SkyCoord(pointing.ra * u.deg, pointing.dec * u.deg)).arcsec
    assert sep == pytest.approx(0.1, abs=1e-6)
    w.set(apa=405.0)
    assert w.pointing.apa == pytest.approx(45.0)
    w.set(d_ra_arcsec=0.0, d_dec_arcsec=0.0, constraint="Unconstrained")
    assert w.counts["in operable open shutters"] == n0 and "Unconstrained" in w.w_counts.value
    cfg = w.to_config()
    assert set(cfg) >= {"ra", "dec", "apa", "filter"} and cfg["apa"] == pytest.approx(45.0)
    p = offset_pointing(pointing, 0.0, 10.0)
    assert p.dec == pytest.approx(pointing.dec + 10 / 3600, abs=1e-9)


def _run_in_ipympl_kernel(body):
    """Run ``body`` (indented script text ending with ``print("OK")``) in a fresh interpreter with
    ipympl's backend, as in JupyterLab; its own asserts decide, the return code and "OK" tell."""
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    code = 'import matplotlib\nmatplotlib.use("module://ipympl.backend_nbagg")\n' + textwrap.dedent(body)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=str(Path(__file__).resolve().parent.parent))
    assert res.returncode == 0 and "OK" in res.stdout, res.stderr[-2000:]


def test_widget_live_with_ipympl_canvas_blits():
    """With the ipympl backend (as in JupyterLab) slider moves are blitted, not full redraws."""
    pytest.importorskip("ipympl")
    _run_in_ipympl_kernel("""
        from helpers import msa, widgets
        w = widgets.MSAOverlayWidget(msa.MSAPointing(53.1625, -27.791417, 45.0))
        assert w.live and type(w.scene.fig.canvas).__name__ == "Canvas"
        w.scene.fig.canvas.draw()
        assert w.scene._bg is not None
        w.set(d_ra_arcsec=1.0, apa=50.0)
        assert w.scene.redraw() == "blit"
        assert abs(w.pointing.apa - 50.0) < 1e-9
        print("OK")
    """)


def test_widget_zoom_costs_one_draw_not_two():
    """A toolbar zoom costs one full draw, drawn in the kernel on release, none on the press.

    In a kernel, every comm message ends with pyplot's ``draw_all``, which redraws each stale figure
    it knows; the zoom press leaves the overlay stale (the equal aspect is re-applied), so a
    figure in pyplot's list got a useless full draw per zoom, seen as ~100-440 ms in the browser.
    """
    pytest.importorskip("ipympl")
    _run_in_ipympl_kernel("""
        import matplotlib.pyplot as plt
        from matplotlib._pylab_helpers import Gcf
        from helpers import msa, widgets
        w = widgets.MSAOverlayWidget(msa.MSAPointing(53.1625, -27.791417, 45.0))
        canvas = w.scene.fig.canvas
        canvas.draw()
        calls = []
        canvas.draw_idle = lambda *a, **k: calls.append(1)
        h = canvas.get_renderer().height
        def mouse(kind, x, y, buttons):
            canvas.handle_event({"type": kind, "x": x, "y": y, "button": 0, "buttons": buttons, "modifiers": []})
        canvas.toolbar.zoom()
        lims = w.scene.ax.get_xlim()
        mouse("motion_notify", 250, 250, 0)
        mouse("button_press", 250, 250, 1)
        assert w.scene.fig.stale  # the press re-applied the aspect
        Gcf.draw_all()  # what the kernel runs after each comm message
        assert calls == [], f"the press scheduled {len(calls)} draws"
        draws = []
        full_draw = canvas.draw
        canvas.draw = lambda: (draws.append(1), full_draw())
        mouse("motion_notify", 300, 300, 1)
        mouse("button_release", 320, 320, 0)
        Gcf.draw_all()
        assert w.scene.ax.get_xlim() != lims
        # the zoom itself is drawn once, in the kernel, without a draw request to the browser
        assert calls == [] and draws == [1], (calls, draws)
        assert plt.get_fignums() == []  # the widget's figure is not pyplot's
        print("OK")
    """)


def test_toolbar_navigation_draws_in_the_kernel_once():
    """Zoom release, pan release and home draw at once in the kernel (no browser round trip).

    ipympl's ``draw_idle`` only asks the browser to send a draw request back (~56 ms per zoom in
    the browser timeline). A cancelled zoom (under 5 pixels) changes no limits and keeps
    ipympl's ``draw_idle``; a pan drag keeps it too (the browser paces the drag).
    """
    pytest.importorskip("ipympl")
    _run_in_ipympl_kernel("""
        import numpy as np
        from helpers import msa, widgets
        w = widgets.MSAOverlayWidget(msa.MSAPointing(53.1625, -27.791417, 45.0))
        canvas = w.scene.fig.canvas
        canvas.draw()
        sent, draws = [], []
        canvas.send_event = lambda kind, **kw: sent.append(kind)
        full_draw = canvas.draw
        canvas.draw = lambda: (draws.append(1), full_draw())
        def mouse(kind, x, y, buttons):
            canvas.handle_event({"type": kind, "x": x, "y": y, "button": 0, "buttons": buttons, "modifiers": []})
        def drag(x0, y0, x1, y1):
            mouse("motion_notify", x0, y0, 0)
            mouse("button_press", x0, y0, 1)
            mouse("motion_notify", (x0 + x1) // 2, (y0 + y1) // 2, 1)
            mouse("button_release", x1, y1, 0)
        home = w.scene.ax.get_xlim()
        canvas.toolbar.zoom()
        drag(250, 250, 252, 251)  # under 5 pixels: cancelled, nothing changes
        assert draws == [] and sent.count("draw") == 1, (draws, sent)
        sent.clear()
        drag(250, 250, 330, 330)
        zoomed = w.scene.ax.get_xlim()
        assert zoomed != home and draws == [1] and "draw" not in sent, (draws, sent)
        # the kernel's draw shows what the browser's draw request would have
        kernel_frame = np.asarray(canvas.buffer_rgba()).copy()
        full_draw()
        assert np.array_equal(kernel_frame, np.asarray(canvas.buffer_rgba()))
        draws.clear(); sent.clear()
        canvas.toolbar.zoom()  # off
        canvas.toolbar.pan()
        drag(250, 250, 280, 270)
        assert w.scene.ax.get_xlim() != zoomed and draws == [1], (draws, sent)
        assert sent.count("draw") == 1  # the one drag motion, paced by the browser
        draws.clear(); sent.clear()
        canvas.toolbar.home()
        assert np.allclose(w.scene.ax.get_xlim(), home) and draws == [1] and "draw" not in sent, (draws, sent)
        assert "draw_idle" not in vars(canvas)  # the class's own draw_idle is back
        print("OK")
    """)


def test_widget_optimize_moves_the_controls(pointing, field):
    pytest.importorskip("ipywidgets")
    from helpers.planning import score_pointing
    from helpers.widgets import MSAOverlayWidget

    t = field[2].copy()
    no_sigma = ~np.isfinite(t["ra_err"])
    w = MSAOverlayWidget(pointing, sources=t, optimize_options=dict(d_ra_arcsec=1.0, d_dec_arcsec=1.0, d_apa_deg=0.0))
    w._on_optimize()  # targets without sigma: the optimizer's one-line error lands in the status line
    assert "sigma_mas" in w.w_status.value
    t["ra_err"][no_sigma] = t["dec_err"][no_sigma] = 10.0
    w = MSAOverlayWidget(pointing, sources=t,  # no image: the optimizer, not the drawing, is under test
                         optimize_options=dict(d_ra_arcsec=1.0, d_dec_arcsec=1.0, d_apa_deg=0.0, objective="count"))
    w.set(d_ra_arcsec=0.4, d_dec_arcsec=-0.3)  # knock the sources out of their shutter centres
    before = score_pointing(t, w.pointing.ra, w.pointing.dec, w.pointing.apa, slitlet=1)[0]
    result = w.optimize()
    assert w.last_plan is result
    assert w.pointing.ra == pytest.approx(result.ra, abs=1e-6 / 3600 * 100)
    assert w.pointing.dec == pytest.approx(result.dec, abs=1e-6 / 3600 * 100)
    assert result.n_targets > before
    w._on_optimize()  # the button's handler reports in the status line
    assert "optimized:" in w.w_status.value


def test_image_shown_at_the_view_resolution(pointing):
    """Zoom/reset hand matplotlib only the crop of the pyramid level that matches the screen."""
    wcs, shape = synthetic_wcs(pointing.ra, pointing.dec, scale_arcsec=0.06, size=4096)
    image = np.add.outer(np.arange(4096.0), np.arange(4096.0)).astype(np.float32)  # smooth: levels agree
    scene = OverlayScene(pointing, image=image, wcs=wcs, figsize=(6.8, 6.2), legend=False)
    scene.fig.canvas.draw()
    coarse = scene.image_level
    shown = scene.image_artist.get_array()
    x0, x1, y0, y1 = scene.image_artist.get_extent()
    vx, vy = sorted(scene.ax.get_xlim()), sorted(scene.ax.get_ylim())
    assert coarse > scene._pyramid[0][0] and shown.shape[0] * shown.shape[1] < 1000 ** 2
    # the crop covers the view (up to the image edge, less the < 1 block a block reduction drops)
    assert x0 <= max(vx[0], -0.5) and x1 >= min(vx[1], 4095.5) - coarse
    assert y0 <= max(vy[0], -0.5) and y1 >= min(vy[1], 4095.5) - coarse
    cx = 2000.0
    scene.ax.set_xlim(cx - 60, cx + 60)
    scene.ax.set_ylim(cx - 60, cx + 60)
    assert scene.image_level == scene._pyramid[0][0]  # zoomed in: the finest level, cropped
    shown = scene.image_artist.get_array()
    assert shown.shape[0] < 80 and shown.shape[1] < 80
    x0, x1, y0, y1 = scene.image_artist.get_extent()
    assert x0 <= cx - 60 and x1 >= cx + 60 and y0 <= cx - 60 and y1 >= cx + 60
    scene.reset_view()
    assert scene.image_level == coarse


def test_reset_view_reuses_the_default_background_and_shows_the_same_pixels(pointing, field):
    """A reset after a zoom is a blit over the default view's kept background, pixel for pixel a full draw.

    The reference is a full draw of the same state: the reset may not change what is shown, only skip
    the WCS axes' redraw. A static layer switched off drops the kept background (next reset: full draw).
    """
    image, wcs, t, _ = field
    scene = OverlayScene(pointing, image=image, wcs=wcs, sources=t, figsize=(6.0, 6.2), legend=False,
                         dynamic_title=False, disperser="PRISM/CLEAR")
    canvas = scene.fig.canvas
    draws = []
    canvas.mpl_connect("draw_event", lambda _e: draws.append(1))

    def zoom(f):
        x0, x1 = scene.ax.get_xlim()
        y0, y1 = scene.ax.get_ylim()
        scene.ax.set_xlim(x0 + f * (x1 - x0), x1 - 0.5 * f * (x1 - x0))  # not square: the aspect moves the box
        scene.ax.set_ylim(y0 + f * (y1 - y0), y1 - f * (y1 - y0))
        canvas.draw()

    canvas.draw()
    zoom(0.3)
    scene.reset_view()  # the first reset draws in full and keeps the background
    zoom(0.25)
    scene.update(pointing=scene.pointing.offset(0.53, 0.0))  # a move: the default view follows the footprint
    n = len(draws)
    scene.reset_view()
    assert len(draws) == n + 1, "a reset to a new default view must draw it in full"
    zoom(0.25)
    scene.update(nod=not scene.nod)  # a change of the animated layers only, while zoomed
    n = len(draws)
    scene.reset_view()
    assert len(draws) == n, "the reset drew the whole figure again"
    shown = np.asarray(canvas.buffer_rgba()).copy()
    box = scene.ax.get_position().bounds
    canvas.draw()  # the reference: a full draw of the same state
    assert scene.ax.get_position().bounds == pytest.approx(box)
    reference = np.asarray(canvas.buffer_rgba())
    assert shown.shape == reference.shape
    differ = np.any(shown != reference, axis=2)
    yy, xx = np.nonzero(differ)
    assert differ.mean() == 0.0, f"{differ.sum()} pixels differ from a full draw (rows {yy.min()}-{yy.max()})"
    scene.set_layers(sources=False)  # static layer change: the kept background is stale
    zoom(0.3)
    n = len(draws)
    scene.reset_view()
    assert len(draws) == n + 1
