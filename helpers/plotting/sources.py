"""Figures for notebook 02 (source extraction): cut-outs with centroids and error ellipses, and the
per-source position error against the Cramér–Rao bound. One function per figure; each takes an
optional ``fig``/``ax`` and returns the figure (save it with :func:`helpers.plotting.save_figure`).
"""

import math

import numpy as np

from ..errors import WorkbookError
from ..export._checks import require_table
from ..validate import require_array, require_number, require_text

__all__ = ["plot_sources_cutouts", "plot_sources_precision", "plot_sources_overview"]


def _ellipse(ax, x, y, sx, sy, cxy, scale, **kw):
    from matplotlib.patches import Ellipse

    cov = np.array([[sx**2, cxy], [cxy, sy**2]])
    vals, vecs = np.linalg.eigh(cov)
    vals = np.clip(vals, 0, None)
    angle = np.degrees(np.arctan2(vecs[1, 1], vecs[0, 1]))
    ax.add_patch(Ellipse((x, y), 2 * scale * np.sqrt(vals[1]), 2 * scale * np.sqrt(vals[0]), angle=angle,
                         fill=False, **kw))


def _require_image(data):
    """A 2-D numeric image, checked without reading it (it may be memory-mapped)."""
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.dtype.kind not in "iuf" or 0 in data.shape:
        described = f"{data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise WorkbookError(f"data is a {described}, not a 2-D image; pass the SCI array (e.g. image.data)")
    return data


def pick_cutout_sources(catalog, n=8):
    """A spread of unflagged sources for cut-outs: point sources over the SNR range plus extended ones.

    Parameters
    ----------
    catalog : `~astropy.table.Table`
        From `helpers.sources.extract_sources`.
    n : int

    Returns
    -------
    rows : ndarray of int
        Row indices into ``catalog``.
    """
    flags = np.asarray(catalog["flags"])
    snr = np.asarray(catalog["snr"], float)
    kind = np.asarray(catalog["kind"]).astype(str)
    idx = []
    pts = np.nonzero((flags == 0) & (kind == "point") & np.isfinite(snr))[0]
    if pts.size:
        targets = np.geomspace(max(np.nanmin(snr[pts]), 8), max(np.nanmax(snr[pts]), 9), max(n - 2, 1))
        for t in targets:
            j = pts[np.argmin(np.abs(np.log(snr[pts] / t)))]
            if j not in idx:
                idx.append(int(j))
    ext = np.nonzero((flags == 0) & (kind == "extended") & (snr > 20))[0]
    for j in ext[np.argsort(-snr[ext])][: n - len(idx)]:
        idx.append(int(j))
    return np.asarray(idx[:n], int)


def _mpx(err_pix):
    """An error in milli-pixels for a panel title: whole numbers from 10, one decimal below (the joint fit's 1-2)."""
    v = float(err_pix) * 1000.0
    return f"{v:.0f}" if not np.isfinite(v) or v >= 10 else f"{v:.1f}"


def _ellipse_magnification(x_err, y_err, radius_pix=2.0):
    """The 1-2-5 magnification (at least 1) nearest to bringing a 1σ error ellipse of ``(x_err, y_err)`` px to
    ``radius_pix``."""
    sigma = float(np.hypot(x_err, y_err) / math.sqrt(2.0))
    if not np.isfinite(sigma) or sigma <= 0:
        return 1.0
    want = radius_pix / sigma
    exp = math.floor(math.log10(want))
    steps = [m * 10.0**e for e in (exp - 1, exp, exp + 1) for m in (1, 2, 5)]
    # never shrunk: an error larger than the cut-out is drawn true to size (and clipped by the panel)
    return max(1.0, float(min(steps, key=lambda v: abs(math.log(v / want)))))


def plot_sources_cutouts(data, catalog, rows=None, size=21, ellipse_scale=None, ncols=4, fig=None):
    """Cut-outs around sources with their measured position and 1σ error ellipse.

    Parameters
    ----------
    data : 2-D array
        The image (e.g. the SCI extension, memory-mapped).
    catalog : `~astropy.table.Table`
        With ``x, y, x_err, y_err`` (pix), ``snr``, ``kind``, ``method``; ``xy_cov`` optional.
    rows : array of int, optional
        Rows to show; default :func:`pick_cutout_sources`.
    size : int
        Cut-out side, pixels.
    ellipse_scale : float, optional
        Magnification of every error ellipse (they are far smaller than a pixel for bright stars),
        printed in the title. Default: each panel its own 1-2-5 magnification bringing its ellipse to
        ~2 px, printed in the panel's title (the errors span 2-3 decades between the faintest and
        brightest panels: one factor drew the faint ellipse past the cut-out and the bright one as a dot).
    ncols : int
    fig : `matplotlib.figure.Figure`, optional

    Returns
    -------
    fig : `matplotlib.figure.Figure`
    """
    _require_image(data)
    require_table(catalog, "catalog", ("x", "y", "x_err", "y_err", "snr", "kind", "flags"),
                  numeric=("x", "y", "x_err", "y_err", "snr"), hint="pass what helpers.sources.extract_sources returned")
    if rows is not None:
        rows = require_array(rows, "rows", what="row indices", allow_nan=False)
        if np.any(rows != np.round(rows)) or np.any((rows < 0) | (rows >= len(catalog))):
            raise WorkbookError(f"rows holds values outside 0..{len(catalog) - 1} or non-integers; give row indices into catalog")
    size = require_number(size, "size", minimum=3, integer=True, example=21)
    ellipse_scale = require_number(ellipse_scale, "ellipse_scale", minimum=1e-12, allow_none=True, example=100.0)
    ncols = require_number(ncols, "ncols", minimum=1, integer=True, example=4)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    rows = pick_cutout_sources(catalog) if rows is None else np.asarray(rows, int)
    n = max(len(rows), 1)
    nrows = int(np.ceil(n / ncols))
    if fig is None:
        fig = plt.figure(figsize=(3.0 * min(n, ncols), 3.1 * nrows))
    per_panel = ellipse_scale is None
    half = size // 2
    ny, nx = data.shape
    for k, r in enumerate(rows):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        x, y = float(catalog["x"][r]), float(catalog["y"][r])
        ix, iy = int(round(x)), int(round(y))
        x0, x1 = max(ix - half, 0), min(ix + half + 1, nx)
        y0, y1 = max(iy - half, 0), min(iy + half + 1, ny)
        cut = np.asarray(data[y0:y1, x0:x1], float)
        finite = cut[np.isfinite(cut)]
        lo, hi = (np.percentile(finite, [5, 99.7]) if finite.size else (0, 1))
        ax.imshow(np.arcsinh((cut - lo) / max(hi - lo, 1e-30) * 10), origin="lower", cmap="gray_r",
                  extent=(x0 - 0.5, x1 - 0.5, y0 - 0.5, y1 - 0.5))
        ax.plot(x, y, "+", color="tab:red", ms=10, mew=1.2)
        cxy = float(catalog["xy_cov"][r]) if "xy_cov" in catalog.colnames and np.isfinite(catalog["xy_cov"][r]) else 0.0
        scale = _ellipse_magnification(catalog["x_err"][r], catalog["y_err"][r]) if per_panel else ellipse_scale
        _ellipse(ax, x, y, float(catalog["x_err"][r]), float(catalog["y_err"][r]), cxy, scale,
                 color="tab:orange", lw=1.5)
        if "x_win" in catalog.colnames and catalog["method"][r] in ("psf", "exposures"):
            ax.plot(catalog["x_win"][r], catalog["y_win"][r], "x", color="tab:cyan", ms=6)
        ax.set_title(f"#{catalog['id'][r]} {catalog['kind'][r]} SNR {catalog['snr'][r]:.0f}\n"
                     f"σ=({_mpx(catalog['x_err'][r])}, {_mpx(catalog['y_err'][r])}) mpx, {catalog['method'][r]}"
                     + (f", ellipse ×{scale:g}" if per_panel else ""), fontsize=8)
        # The panel is the cut-out: an error ellipse magnified past it is clipped, not allowed to widen
        # the axes. Three whole-pixel ticks per axis: four-digit positions at half-pixel steps ran
        # into each other on a 3-inch panel.
        ax.set_xlim(x0 - 0.5, x1 - 0.5)
        ax.set_ylim(y0 - 0.5, y1 - 0.5)
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_locator(MaxNLocator(nbins=3, integer=True, min_n_ticks=2))
        ax.ticklabel_format(useOffset=False, style="plain")
        ax.tick_params(labelsize=7)
        if k // ncols == nrows - 1 or k + ncols >= n:
            ax.set_xlabel("x (pix)", fontsize=7, labelpad=1)
        if k % ncols == 0:
            ax.set_ylabel("y (pix)", fontsize=7, labelpad=1)
    magnified = "magnified as each panel says" if per_panel else f"×{ellipse_scale:g}"
    fig.suptitle(f"Positions (+, red) and 1σ error ellipses {magnified} (orange); "
                 "windowed centroid (x, cyan) where a PSF fit (product or exposures) is used", fontsize=9)
    fig.tight_layout()
    return fig


#: Fewest clean PSF-fitted point sources from which the image's PSF-fit / aperture SNR ratio is taken.
MIN_SNR_RATIO_SOURCES = 10


def _aperture_to_fit_snr(catalog):
    """The factor that puts a windowed source's SNR on the PSF fits' scale, measured on this image.

    A windowed source's ``snr`` is its aperture flux over that flux's error; a PSF fit's is the
    fitted flux over its error, close to the optimal SNR the Cramér–Rao bound is written for. The
    aperture collects more noise per unit of signal: on the drizzled test bed its SNR is 0.67x the
    true optimal one, so windowed points plotted at it sit left of the bound although their errors are
    calibrated (tests/test_sources.py::test_precision_figure_puts_windowed_sources_at_the_bounds_snr).
    The ratio of the two SNRs of the same stars (PSF-fitted point sources, which carry both) converts one
    into the other.

    Returns
    -------
    factor : float or None
        Median PSF-fit SNR / aperture SNR; None without ``flux_aper``/``flux_aper_err`` or with fewer
        than :data:`MIN_SNR_RATIO_SOURCES` clean PSF-fitted point sources.
    n : int
        Sources the median was taken over.
    """
    if "flux_aper" not in catalog.colnames or "flux_aper_err" not in catalog.colnames:
        return None, 0
    with np.errstate(divide="ignore", invalid="ignore"):
        aper = np.asarray(catalog["flux_aper"], float) / np.asarray(catalog["flux_aper_err"], float)
        ratio = np.asarray(catalog["snr"], float) / aper
    use = ((np.asarray(catalog["method"]).astype(str) == "psf") & (np.asarray(catalog["kind"]).astype(str) == "point")
           & (np.asarray(catalog["flags"]) == 0) & np.isfinite(ratio) & (aper > 0) & (ratio > 0))
    if use.sum() < MIN_SNR_RATIO_SOURCES:
        return None, int(use.sum())
    return float(np.median(ratio[use])), int(use.sum())


def plot_sources_precision(catalog, crb_coef=None, fwhm=None, ax=None, title=None):
    """Per-source 1σ position error against SNR, with the Cramér–Rao bound.

    The bound is written for the optimal SNR, which PSF fits measure; windowed point sources carry an
    aperture SNR (lower for the same star). Where the image has PSF-fitted point sources their aperture
    SNR is put on the fits' scale by the ratio of the two SNRs measured on those stars, and the legend says
    so; otherwise they are plotted at their aperture SNR and the legend says that instead.

    Parameters
    ----------
    catalog : `~astropy.table.Table`
        With ``snr, x_err, y_err, method, flags`` (and ``meta['crb_coef']``, ``meta['fwhm_pix']``).
    crb_coef : float, optional
        σ_CRB · SNR in pixels for the image's PSF (background-limited bound in white noise); default
        from the catalog meta, else the Gaussian-PSF approximation 0.60 · FWHM. On a drizzled product
        this is the product's PSF, broader than the exposures': the exposures' own bound is lower.
    fwhm : float, optional
        FWHM (pixels) for the Gaussian approximations; default ``meta['fwhm_pix']``.
    ax : `matplotlib.axes.Axes`, optional
    title : str, optional

    Returns
    -------
    fig : `matplotlib.figure.Figure`
    """
    require_table(catalog, "catalog", ("snr", "x_err", "y_err", "method", "flags", "kind"),
                  numeric=("snr", "x_err", "y_err"), hint="pass what helpers.sources.extract_sources returned")
    crb_coef = require_number(crb_coef, "crb_coef", minimum=0, allow_none=True, example=1.2)
    fwhm = require_number(fwhm, "fwhm", minimum=0, allow_none=True, example=2.0)
    require_text(title, "title", allow_none=True)
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 4.6))
    else:
        fig = ax.figure
    fwhm = fwhm or catalog.meta.get("fwhm_pix") or 2.0
    crb_coef = crb_coef or catalog.meta.get("crb_coef") or 0.60 * fwhm
    snr = np.asarray(catalog["snr"], float)
    sig = np.sqrt((np.asarray(catalog["x_err"], float) ** 2 + np.asarray(catalog["y_err"], float) ** 2) / 2)
    clean = (np.asarray(catalog["flags"]) == 0) & np.isfinite(snr) & (snr > 0) & np.isfinite(sig)
    method = np.asarray(catalog["method"]).astype(str)
    kind = np.asarray(catalog["kind"]).astype(str)
    windowed_point = (method == "windowed") & (kind == "point") & clean
    factor, n_ratio = _aperture_to_fit_snr(catalog)
    x = snr.copy()
    # the joint fit's points at their SNR on the exposures (the product's snr of a bright star can be several
    # times lower: on the demo 150-350 for stars the exposures measure at thousands, which put them 5x under
    # the bound line)
    joint = (method == "exposures") & clean
    if "snr_exp" in catalog.colnames:
        snr_exp = np.asarray(catalog["snr_exp"], float)
        x[joint & np.isfinite(snr_exp) & (snr_exp > 0)] = snr_exp[joint & np.isfinite(snr_exp) & (snr_exp > 0)]
        joint_label = "joint fit on the exposures ({n}):\n  their SNR; their bound is below the line"
    else:
        joint_label = "joint fit on the exposures ({n}), product SNR"
    if factor is not None:
        x[windowed_point] = snr[windowed_point] * factor
        windowed_label = "windowed, point ({n}):\n  aperture SNR × " f"{factor:.2f} (PSF-fit/aperture SNR, {n_ratio} stars)"
    else:
        windowed_label = "windowed, point ({n}):\n  aperture SNR, left of the bound's"
    for sel, label, color in (((method == "psf") & clean, "PSF fit ({n})", "tab:blue"),
                              (joint, joint_label, "tab:purple"),
                              (windowed_point, windowed_label, "tab:green"),
                              ((kind == "extended") & clean, "windowed, extended ({n}), aperture SNR", "tab:gray")):
        if sel.any():
            ax.scatter(x[sel], sig[sel], s=5, alpha=0.5, color=color, label=label.format(n=int(sel.sum())))
    if clean.any():
        grid = np.geomspace(max(np.nanmin(x[clean]), 3), np.nanmax(x[clean]) * 1.2, 100)
        # The image's own PSF in white noise: on a drizzled product it lies 1.15-1.25x above the input
        # exposures' bound (the drizzle broadens the PSF; tests/test_sources.py::test_bed_precision_figure_bound_line),
        # so a PSF fit can sit just below it. The label says which bound it is.
        ax.plot(grid, crb_coef / grid, "k-", lw=1.5, label=f"Cramér–Rao bound, this image's PSF ({crb_coef:.2f} px / SNR)")
        ax.plot(grid, 0.42 * fwhm / grid, "k:", lw=1, label="photon-limited Gaussian, 0.42 FWHM/SNR")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("SNR")
    ax.set_ylabel("1σ position error per axis (pixels)")
    scale = catalog.meta.get("pixel_scale")
    if scale:
        sec = ax.secondary_yaxis("right", functions=(lambda p: p * scale * 1000, lambda m: m / (scale * 1000)))
        sec.set_ylabel("mas")
    ax.grid(True, which="both", alpha=0.3)
    # below the axes: inside, any corner covers points (low-SNR fits lower left, the floor lower right)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
    ax.set_title(title or str(catalog.meta.get("image", "")), fontsize=9)
    return fig


def plot_sources_overview(data, catalog, ax=None, max_pixels=1500, title=None):
    """The image (down-sampled for display) with point and extended sources marked.

    Parameters
    ----------
    data : 2-D array
    catalog : `~astropy.table.Table`
    ax : `matplotlib.axes.Axes`, optional
    max_pixels : int
        Display resolution: the image is block-averaged to at most this many pixels a side.
    title : str, optional

    Returns
    -------
    fig : `matplotlib.figure.Figure`
    """
    _require_image(data)
    require_table(catalog, "catalog", ("x", "y", "kind"), numeric=("x", "y"),
                  hint="pass what helpers.sources.extract_sources returned")
    max_pixels = require_number(max_pixels, "max_pixels", minimum=1, integer=True, example=1500)
    require_text(title, "title", allow_none=True)
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 6.4))
    else:
        fig = ax.figure
    ny, nx = data.shape
    step = int(np.ceil(max(ny, nx) / max_pixels))
    small = np.asarray(data[::step, ::step], float)
    finite = small[np.isfinite(small)]
    lo, hi = np.percentile(finite, [1, 99.5]) if finite.size else (0, 1)
    ax.imshow(np.arcsinh((small - lo) / max(hi - lo, 1e-30) * 10), origin="lower", cmap="gray_r",
              extent=(-0.5, nx - 0.5, -0.5, ny - 0.5))
    kind = np.asarray(catalog["kind"]).astype(str)
    for sel, color, label in ((kind == "point", "tab:blue", "point"), (kind == "extended", "tab:orange", "extended")):
        ax.scatter(catalog["x"][sel], catalog["y"][sel], s=6, facecolors="none", edgecolors=color, lw=0.5,
                   label=f"{label} ({sel.sum()})")
    ax.set_xlabel("x (pix, 0-based)")
    ax.set_ylabel("y (pix, 0-based)")
    ax.legend(fontsize=7, loc="upper right")
    ax.set_title(title or str(catalog.meta.get("image", "")), fontsize=9)
    return fig
