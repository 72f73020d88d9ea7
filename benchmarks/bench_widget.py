"""Benchmark: notebook 04's widget, the kernel side of every control (issue #18 latency targets).

What the browser waits for after a control moves is, on the kernel side: locate + count (sources,
targets by priority), shutter raster, outlines, spectra and overlaps, the blit or the full draw,
and the PNG frame ipympl sends (the changed pixels for a blit, the whole figure for a zoom or a
reset). This measures exactly that, headless (Agg canvas, same drawing code as ipympl's), on a
demo-sized field: a 4096^2 pre-image, 5,000 catalog sources, 300 targets in 3 priority classes,
the PRISM spectra panel, velocity aberration on.

Baselines measured in the same run:

* updates: the same scene redrawn in full at every move (no blitting) with PNG level 6;
* zoom / reset: the scene as it was drawn before this round: legend inside the canvas
  (8 x 9.5 in), the whole down-sampled image handed to matplotlib at every draw (no pyramid),
  PNG frames at zlib level 6 (matplotlib's webagg default), every reset a full draw (no kept
  background of the default view).

"reset view" returns to an unchanged default view (zoom in, reset, zoom in...: the kept
background is blitted); "reset view (after a move)" follows a pointing move, whose new default
view is drawn in full.

Targets (kernel side, so that the browser sees <= 200 ms per update and < 300 ms per zoom/reset
with ~50-80 ms of transport and decoding): updates <= 120 ms, zoom and reset <= 200 ms; and each
at most 0.7 x its baseline. Times are the best of several runs (median in brackets), because on
the shared 2-core machine longer runs measure the other jobs; the load average is printed.

Run: ``.venv/bin/python benchmarks/bench_widget.py``; exits 1 if a target is missed.
"""

import io
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import matplotlib  # noqa: E402

matplotlib.use("Agg")

from astropy.table import Table  # noqa: E402
from PIL import Image  # noqa: E402

from helpers import msa  # noqa: E402
from helpers.plotting.msa import OverlayScene, synthetic_wcs  # noqa: E402
from helpers.widgets import PointingFactory  # noqa: E402

HUDF = (53.1625, -27.791417)
TARGET_MS = {"update (pointing move)": 120.0, "update (disperser)": 120.0, "zoom": 200.0, "reset view": 200.0,
             "reset view (after a move)": 200.0}
TARGET_RATIO = 0.7


def frame_png(canvas, last, level):
    """The PNG ipympl would send: changed pixels since ``last`` (or the whole frame), zlib ``level``."""
    frame = np.asarray(canvas.buffer_rgba()).view(np.uint32).squeeze(2)
    out = frame if last is None or last.shape != frame.shape else np.where(frame != last, frame, 0)
    with io.BytesIO() as buf:
        Image.fromarray(out.view(np.uint8).reshape(*out.shape, 4)).save(buf, format="png", compress_level=level)
        return frame.copy(), len(buf.getvalue())


def timeit(fn, repeat=7):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - t0))
    return min(times), statistics.median(times)


def field():
    make = PointingFactory("2027-01-15")
    p = make(*HUDF, 45.0)
    rng = np.random.default_rng(7)
    wcs, shape = synthetic_wcs(p.ra, p.dec, scale_arcsec=0.06, size=4096)
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    image = rng.normal(0.0, 1.0, shape).astype(np.float32)
    for x, y in rng.uniform(0, 4096, (300, 2)):  # some galaxies, so the picture is not pure noise
        image[max(0, int(y) - 20):int(y) + 20, max(0, int(x) - 20):int(x) + 20] += 5.0 * np.exp(
            -((xx[max(0, int(y) - 20):int(y) + 20, max(0, int(x) - 20):int(x) + 20] - x) ** 2
              + (yy[max(0, int(y) - 20):int(y) + 20, max(0, int(x) - 20):int(x) + 20] - y) ** 2) / 30.0)
    n = 5000
    ra = p.ra + rng.uniform(-0.035, 0.035, n) / np.cos(np.deg2rad(p.dec))
    dec = p.dec + rng.uniform(-0.035, 0.035, n)
    sources = Table({"ra": ra, "dec": dec, "ra_err": rng.uniform(2, 30, n), "dec_err": rng.uniform(2, 30, n)})
    targets = sources[:300].copy()
    targets["priority"] = rng.integers(1, 4, 300).astype(float)
    return make, p, image, wcs, sources, targets


def measure(scene, make, p, level, blit=True, keep_default_view=True):
    canvas = scene.fig.canvas
    canvas.draw()
    state = {"last": frame_png(canvas, None, level)[0], "k": 0}

    def send():
        state["last"], _ = frame_png(canvas, state["last"], level)

    def move():
        state["k"] += 1
        scene.update(pointing=make(p.ra + 1e-5 * state["k"], p.dec, 45.0 + 0.05 * state["k"]))
        if not blit:
            canvas.draw()
        send()

    pairs = ["G395M/F290LP", "PRISM/CLEAR"]

    def disperser():
        state["k"] += 1
        scene.update(disperser=pairs[state["k"] % 2])
        if not blit:
            canvas.draw()
        send()

    def zoom():
        state["k"] += 1
        x0, x1 = scene.ax.get_xlim()
        y0, y1 = scene.ax.get_ylim()
        f = 0.3 + 0.01 * (state["k"] % 5)
        scene.ax.set_xlim(x0 + f * (x1 - x0) / 2, x1 - f * (x1 - x0) / 2)
        scene.ax.set_ylim(y0 + f * (y1 - y0) / 2, y1 - f * (y1 - y0) / 2)
        canvas.draw()
        send()

    def reset():
        if not keep_default_view:
            scene._default_bg = None  # as before this round: every reset a full draw
        scene.reset_view()
        send()

    def reset_after_move():
        state["k"] += 1  # a new default view (it follows the footprint): a full draw either way
        scene.update(pointing=make(p.ra + 1e-5 * state["k"], p.dec, 45.0 + 0.05 * state["k"]))
        send()
        zoom()
        t0 = time.perf_counter()
        reset()
        return 1000 * (time.perf_counter() - t0)

    out = {"update (pointing move)": timeit(move), "update (disperser)": timeit(disperser, 4)}
    zooms, resets = [], []
    for _ in range(5):
        zooms.append(timeit(zoom, 1)[0])
        resets.append(timeit(reset, 1)[0])
    out["zoom"] = (min(zooms), statistics.median(zooms))
    out["reset view"] = (min(resets), statistics.median(resets))
    after_move = [reset_after_move() for _ in range(3)]
    out["reset view (after a move)"] = (min(after_move), statistics.median(after_move))
    return out


def main():
    make, p, image, wcs, sources, targets = field()
    kw = dict(image=image, wcs=wcs, sources=sources, targets=targets, nod=True, disperser="PRISM/CLEAR",
              dynamic_title=False)
    new = OverlayScene(p, legend=False, figsize=(6.8, 7.0), **kw)
    res = measure(new, make, p, level=1)
    old_update = OverlayScene(p, legend=False, figsize=(6.8, 7.0), **kw)
    base = measure(old_update, make, p, level=6, blit=False)
    old = OverlayScene(p, legend=True, figsize=(8.0, 9.5), **kw)
    old._pyramid = old._pyramid[:1]  # the whole down-sampled image at every draw, as before
    old._fit_image_to_view()
    base_view = measure(old, make, p, level=6, keep_default_view=False)
    base["zoom"], base["reset view"] = base_view["zoom"], base_view["reset view"]
    base["reset view (after a move)"] = base_view["reset view (after a move)"]
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; best of several runs (median)")
    print(f"{'control':26s} {'time':>9s} {'(median)':>10s} {'target':>8s} {'baseline':>10s} {'ratio':>7s}")
    failed = False
    for name, target in TARGET_MS.items():
        t, med = res[name]
        b, _ = base[name]
        ratio = t / b
        # after a move the reset is a full draw, as before: its ratio is shown, only its time is a target
        ok = t <= target and (ratio <= TARGET_RATIO or name == "reset view (after a move)")
        failed |= not ok
        print(f"{name:26s} {t:7.1f}ms ({med:6.1f}ms) {target:6.0f}ms {b:8.1f}ms {ratio:7.2f}  {'OK' if ok else 'MISSED'}")
    c = new.counts
    print(f"counts at the last pointing: {c['in Midpoint zone']} sources and {c['targets in Midpoint zone']} targets "
          f"in Midpoint zone, {c.get('with overlapping spectra', 0)} with overlapping spectra")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
