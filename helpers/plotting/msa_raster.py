"""The shutter layer of the MSA overlay as one RGBA raster of the current view (notebook 04).

Every display pixel of the view is mapped to the MSA plane (exact SIAF transforms on a coarse
grid, bilinear in between: the map is smooth) and coloured by the shutter it falls in through a
look-up table over all 249,660 shutters: operable, failed closed, failed open, holding a source,
rest of its slitlet. Open areas and bars are resolved when a shutter spans >= 4 display pixels;
zoomed out each cell is filled and failed-open and source shutters are drawn as 3 x 3 dots so
that they stay visible. One raster replaces a 250k-polygon ``PolyCollection`` (REFERENCE
section 7: 1.6-2 s per redraw), so a pointing change costs milliseconds.
"""

import numpy as np

from .. import msa
from .msa_style import _RGBA

__all__ = ["ShutterColours", "render_shutter_raster", "block_reduce", "image_pyramid", "crop_for_view",
           "counted_shutter_ids"]


def block_reduce(data, factor):
    """Mean over ``factor`` x ``factor`` blocks (NaN ignored): the image down-sampled for display."""
    if factor <= 1:
        return data
    ny, nx = data.shape
    ny2, nx2 = ny // factor * factor, nx // factor * factor
    d = data[:ny2, :nx2].reshape(ny2 // factor, factor, nx2 // factor, factor)
    with np.errstate(invalid="ignore"):
        return np.nanmean(d, axis=(1, 3))


def _linear_weights(n_out, n_in):
    """Lower index and float32 weight of linear interpolation from ``n_in`` to ``n_out`` samples."""
    pos = np.linspace(0.0, n_in - 1.0, n_out)
    lo = np.clip(np.floor(pos).astype(np.intp), 0, n_in - 2)
    return lo, (pos - lo).astype(np.float32)


def upsample_bilinear(coarse, h, w):
    """Bilinear up-sampling of a coarse (hc, wc) grid spanning the same extent to (h, w), float32.

    Separable gathers and multiply-adds rather than two interpolation-matrix products: on a
    shared machine a multi-threaded BLAS spends ~90 ms spinning on those tiny products (0.4 ms
    alone), the gathers take a few ms whatever the load.
    """
    a = np.asarray(coarse, dtype=np.float32)
    ly, fy = _linear_weights(h, a.shape[0])
    lx, fx = _linear_weights(w, a.shape[1])
    rows = a[:, lx] * (1.0 - fx) + a[:, lx + 1] * fx
    return rows[ly] * (1.0 - fy)[:, None] + rows[ly + 1] * fy[:, None]


def image_pyramid(small, factor, norm, cmap, min_size=256):
    """2x reductions of the display image, each colour-mapped once to RGBA (uint8).

    Parameters
    ----------
    small : 2-D ndarray
        The image already block-reduced by ``factor``.
    factor : int
        Original pixels per pixel of ``small``.
    norm : callable
        Image normalisation to 0-1 (astropy ``ImageNormalize``).
    cmap : `~matplotlib.colors.Colormap`
    min_size : int
        Stop at a level whose long side is at most this.

    Returns
    -------
    list of (int, ndarray)
        ``(original pixels per level pixel, RGBA)``, finest first. Matplotlib processes every
        pixel of the image it is given at every draw (~30 ms for 1400^2 RGBA), so a view is
        drawn from the level that matches its screen resolution (`crop_for_view`).
    """
    levels = []
    level, f = small, int(factor)
    while True:
        levels.append((f, cmap(np.ma.filled(norm(np.ma.masked_invalid(level)), np.nan), bytes=True)))
        if max(level.shape) <= min_size:
            return levels
        level, f = block_reduce(level, 2), 2 * f


def crop_for_view(levels, xlim, ylim, screen_px):
    """The coarsest level with >= 1.2 image pixels per screen pixel, cropped to the view.

    Parameters
    ----------
    levels : list
        From `image_pyramid`.
    xlim, ylim : (float, float)
        View in original image pixels (0-based).
    screen_px : (float, float)
        Width and height of the axes on screen, pixels.

    Returns
    -------
    factor : int
    crop : ndarray
        RGBA of the level inside the view (plus one pixel of margin).
    extent : (x0, x1, y0, y1)
        Of the crop, original pixels (for ``imshow``'s ``extent``).
    """
    x0, x1 = sorted(xlim)
    y0, y1 = sorted(ylim)
    per_screen = max((x1 - x0) / max(screen_px[0], 50.0), (y1 - y0) / max(screen_px[1], 50.0))
    f, rgba = levels[0]
    for lf, lrgba in levels[1:]:
        if lf * 1.2 <= per_screen:
            f, rgba = lf, lrgba
    ny, nx = rgba.shape[:2]
    i0 = int(np.clip(np.floor((x0 + 0.5) / f) - 1, 0, nx - 1))
    i1 = int(np.clip(np.ceil((x1 + 0.5) / f) + 1, i0 + 1, nx))
    j0 = int(np.clip(np.floor((y0 + 0.5) / f) - 1, 0, ny - 1))
    j1 = int(np.clip(np.ceil((y1 + 0.5) / f) + 1, j0 + 1, ny))
    return f, rgba[j0:j1, i0:i1], (i0 * f - 0.5, i1 * f - 0.5, j0 * f - 0.5, j1 * f - 0.5)


class ShutterColours:
    """Look-up table shutter -> RGBA for the raster, with the static part cached per map.

    Parameters
    ----------
    operability : helpers.msa.Operability
    """

    def __init__(self, operability):
        self.operability = operability
        self._state = operability.state.ravel()
        self._cache = {}

    def _base(self, near_only):
        if near_only not in self._cache:
            st = self._state
            lut = np.zeros((msa.N_SHUTTERS + 1, 4), dtype=np.uint8)  # last entry: transparent (no shutter)
            if not near_only:
                lut[:-1][st == msa.STATE_OK] = _RGBA["operable"]
                lut[:-1][st == msa.STATE_FAILED_CLOSED] = _RGBA["failed closed"]
            lut[:-1][st == msa.STATE_FAILED_OPEN] = _RGBA["failed open"]
            self._cache[near_only] = lut
        return self._cache[near_only].copy()

    def lut(self, near_only, hit_ids, slit_ids):
        """The table for one state.

        Parameters
        ----------
        near_only : bool
            Draw operable / failed-closed shutters only within +-2 shutter_columns (spatial) and
            +-1 shutter_row of a shutter holding a source (zoomed out over a crowded field).
        hit_ids, slit_ids : ndarray of int
            Flat shutter indices (``[q-1, j-1, i-1]`` raveled) holding a counted source, and the
            rest of their slitlets.
        """
        st = self._state
        lut = self._base(near_only)
        if near_only and hit_ids.size:
            q, j, i = np.unravel_index(hit_ids, msa.SHAPE)
            for dj in (-2, -1, 0, 1, 2):
                for di in (-1, 0, 1):
                    jj, ii = j + dj, i + di
                    ok = (jj >= 0) & (jj < msa.N_ROWS) & (ii >= 0) & (ii < msa.N_COLUMNS)
                    ids = np.ravel_multi_index((q[ok], jj[ok], ii[ok]), msa.SHAPE)
                    s = st[ids]
                    lut[ids[s == msa.STATE_OK]] = _RGBA["operable"]
                    lut[ids[s == msa.STATE_FAILED_CLOSED]] = _RGBA["failed closed"]
        lut[slit_ids] = _RGBA["slitlet"]
        lut[hit_ids] = _RGBA["source"]
        return lut


def counted_shutter_ids(located, chosen, nod):
    """Flat ids (``[q-1, j-1, i-1]`` raveled) of the shutters holding the counted sources, and of
    the rest of their 3-shutter slitlets when nodding (None otherwise)."""
    q = np.asarray(located["quadrant"])[chosen] - 1
    j = np.asarray(located["j"])[chosen] - 1
    i = np.asarray(located["i"])[chosen] - 1
    hit = np.unique(np.ravel_multi_index((q, j, i), msa.SHAPE))
    if not (nod and q.size):
        return hit, None
    nb = []
    for dj in (-1, 1):
        ok = (j + dj >= 0) & (j + dj < msa.N_ROWS)
        nb.append(np.ravel_multi_index((q[ok], j[ok] + dj, i[ok]), msa.SHAPE))
    return hit, np.unique(np.concatenate(nb))


def _splat(rgba, x, y, view, colour):
    """Paint 3 x 3 display-pixel dots at data positions (x, y) of the view (x0, x1, y0, y1)."""
    h, w = rgba.shape[:2]
    x0, x1, y0, y1 = view
    px = np.rint((np.asarray(x) - x0) / (x1 - x0) * (w - 1)).astype(int)
    py = np.rint((np.asarray(y) - y0) / (y1 - y0) * (h - 1)).astype(int)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            ok = (px + dx >= 0) & (px + dx < w) & (py + dy >= 0) & (py + dy < h)
            rgba[py[ok] + dy, px[ok] + dx] = colour


def render_shutter_raster(pointing, wcs, view, shape_px, lut_for, failed_open_xy=None, hit_xy=None):
    """RGBA raster of the shutters in a view of the image.

    Parameters
    ----------
    pointing : helpers.msa.MSAPointing
    wcs : `~astropy.wcs.WCS`
        Celestial WCS of the image the view is in (data coordinates: 0-based pixels).
    view : (x0, x1, y0, y1)
        Data limits of the view, pixels.
    shape_px : (h, w)
        Raster size, display pixels.
    lut_for : callable
        ``lut_for(cell_px) -> (N_SHUTTERS + 1, 4) uint8`` table (`ShutterColours.lut`); it is
        given the size of one shutter in display pixels to choose what to show.
    failed_open_xy : callable, optional
        Returns data (x, y) of the failed-open shutters; called only when zoomed out.
    hit_xy : (x, y), optional
        Data positions of the counted sources (3 x 3 dots when zoomed out).

    Returns
    -------
    rgba : ndarray, shape (h, w, 4), uint8
    cell_px : float
        Display pixels per shutter pitch along the dispersion.
    """
    x0, x1, y0, y1 = view
    h, w = shape_px
    step = 8
    hc, wc = h // step + 2, w // step + 2
    gx = np.linspace(x0, x1, wc)
    gy = np.linspace(y0, y1, hc)
    GX, GY = np.meshgrid(gx, gy)
    ra, dec = wcs.all_pix2world(GX.ravel(), GY.ravel(), 0)
    v2, v3 = pointing.sky_to_v2v3(ra, dec)
    mx, my = msa.v2v3_to_msa_xy(v2, v3, pointing.filter)
    # bilinear up-sampling of the (smooth) MSA-plane coordinates to every display pixel;
    # float32 is plenty: 0.04 m * 6e-8 = 2.4 nm, 1e-5 of a shutter
    origin, jac, inv, open_um = msa._grid()
    X = upsample_bilinear(mx.reshape(hc, wc), h, w)
    Y = upsample_bilinear(my.reshape(hc, wc), h, w)
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
    if cell_px >= 4.0:  # resolve open areas and bars
        half_i = 0.5e-6 * open_um[0] / pitch_m
        half_j = 0.5e-6 * open_um[1] / float(np.hypot(jac[0, 0, 1], jac[0, 1, 1]))
        hit &= (np.abs(a - ia) <= half_i) & (np.abs(b - jb) <= half_j)
    lut = lut_for(cell_px)
    flat = (qidx * msa.N_ROWS + jb.astype(np.intp)) * msa.N_COLUMNS + ia.astype(np.intp)
    flat[~hit] = msa.N_SHUTTERS  # the LUT's last entry is transparent
    rgba = lut.take(flat, axis=0)
    if cell_px < 2.0:
        if failed_open_xy is not None:
            fx, fy = failed_open_xy()
            if len(fx):
                _splat(rgba, fx, fy, view, _RGBA["failed open"])
        if hit_xy is not None and len(hit_xy[0]):
            _splat(rgba, *hit_xy, view, _RGBA["source"])
    return rgba, cell_px
