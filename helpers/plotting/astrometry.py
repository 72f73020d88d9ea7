"""Figures for notebook 03: the catalog's astrometric scatter, the verdict and what it costs.

One function per figure; each takes an optional ``ax`` (or draws its own figure) and returns
the figure. Residuals and sigmas in mas; the verdict bands of :data:`helpers.astrometry.VERDICT_BANDS`
are shaded with the same colours everywhere.
"""

import math

import numpy as np

from ..errors import WorkbookError
from ..export._checks import require_keys, require_table
from ..validate import require_array, require_number, require_same_length, require_text

__all__ = [
    "BAND_COLOURS",
    "plot_astrometry_verdict",
    "plot_astrometry_error_budget",
    "plot_astrometry_quiver",
    "plot_astrometry_methods",
    "plot_astrometry_injection",
    "plot_astrometry_consequence",
]

#: Colours of the verdict bands (optimal ... SDSS-like), colour-blind friendly (Okabe-Ito-like).
BAND_COLOURS = ("#009E73", "#56B4E9", "#F0E442", "#E69F00", "#CC79A7")  # distinct hues: no two oranges


def _new_axes(ax, figsize=(7.0, 4.2), ncols=1):
    import matplotlib.pyplot as plt

    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(1, ncols, figsize=figsize, constrained_layout=True)
    return fig, ax


def _band_edges():
    from ..astrometry import VERDICT_BANDS

    edges = [0.0] + [b[0] for b in VERDICT_BANDS]
    return [(lo, hi, lab, col) for (lo, hi, lab, col) in
            zip(edges[:-1], edges[1:], [b[1] for b in VERDICT_BANDS], BAND_COLOURS)]


def _mas_ticks(axis):
    """Plain-number ticks at 1-2-5 steps on a log axis in mas (0.5, 1, 2, 5, 10, 20, 50 ...): the verdict bands'
    edges (5, 10, 20, 50 mas) get a label, where matplotlib's default log axis labels only the decades (10^0,
    10^1) and a sub-mas range can show no label at all."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    axis.set_major_locator(FixedLocator([m * 10.0**e for e in range(-3, 5) for m in (1, 2, 5)]))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _shade_bands(ax, orientation="vertical", upper=None, symmetric=False, alpha=0.18, labels=True):
    """Shade the verdict bands along x (vertical spans) or y (horizontal spans)."""
    for lo, hi, lab, col in _band_edges():
        hi_ = upper if (math.isinf(hi) and upper is not None) else hi
        if math.isinf(hi_):
            hi_ = 1e4
        span = ax.axvspan if orientation == "vertical" else ax.axhspan
        span(lo, hi_, color=col, alpha=alpha, lw=0, label=lab if labels else None)
        if symmetric:
            span(-hi_, -lo, color=col, alpha=alpha, lw=0)


def plot_astrometry_verdict(dx, dy, verdict, sigma_axes=None, scale=1.0, ax=None, bins=60, label=None):
    """Histogram of residuals per axis with the verdict bands shaded and the verdict as title.

    Parameters
    ----------
    dx, dy : array-like
        Residuals along East and North, mas (e.g. ``result.pairs['dx'][used]``).
    verdict : `helpers.astrometry.Verdict`
    sigma_axes : (float, float), optional
        Measured per-axis sigma to overlay as Gaussians (of the plotted quantity).
    scale : float
        Multiply residuals by this (``1/sqrt(2)`` shows two equal catalogs' differences on the
        per-catalog scale).
    ax : `matplotlib.axes.Axes`, optional
    bins : int
    label : str, optional
        Where the residuals come from (shown in the legend).

    Returns
    -------
    fig : `matplotlib.figure.Figure`
    """
    dx = require_array(dx, "dx", what="residuals in mas")
    dy = require_array(dy, "dy", what="residuals in mas")
    require_same_length(dx=dx, dy=dy)
    if not all(hasattr(verdict, a) for a in ("sigma_mas", "sentence")):
        raise WorkbookError(f"verdict is a {type(verdict).__name__} ({verdict!r:.40}), not a Verdict; "
                            "pass what helpers.astrometry.verdict returned")
    scale = require_number(scale, "scale", minimum=0, example=1.0)
    bins = require_number(bins, "bins", minimum=1, integer=True, example=60)
    require_text(label, "label", allow_none=True)
    fig, ax = _new_axes(ax)
    dx, dy = np.asarray(dx, float) * scale, np.asarray(dy, float) * scale
    s = max(np.nanstd(np.concatenate([dx, dy])), 1.0)
    lim = max(4 * s, 25.0)
    lim = min(lim, 150.0)
    _shade_bands(ax, "vertical", upper=lim, symmetric=True)
    edges = np.linspace(-lim, lim, bins + 1)
    src = f"{label}: " if label else ""
    ax.hist(np.clip(dx, -lim, lim), bins=edges, histtype="step", lw=1.6, color="k", label=f"{src}East (RA cos Dec)")
    ax.hist(np.clip(dy, -lim, lim), bins=edges, histtype="step", lw=1.6, color="0.45", ls="--", label=f"{src}North (Dec)")
    ax.axvline(-verdict.sigma_mas, color="C3", lw=1.2, ls=":")
    ax.axvline(verdict.sigma_mas, color="C3", lw=1.2, ls=":", label=f"+-{verdict.sigma_mas:.1f} mas (verdict sigma)")
    if sigma_axes is not None:
        x = np.linspace(-lim, lim, 400)
        w = edges[1] - edges[0]
        for sig, n, ls in ((sigma_axes[0], dx.size, "-"), (sigma_axes[1], dy.size, "--")):
            ax.plot(x, n * w * np.exp(-0.5 * (x / sig) ** 2) / (sig * math.sqrt(2 * math.pi)), color="C3", ls=ls,
                    lw=1)
    ax.set_xlim(-lim, lim)
    ax.set_xlabel("residual on the one-catalog scale (mas)\nshaded: verdict bands on the 1σ scatter")
    ax.set_ylabel("pairs per bin")
    ax.set_title(_wrap(verdict.sentence), fontsize=9)
    # outside the data: inside it covered the "meets" band
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    return fig


def _wrap(text, width=95):
    import textwrap

    # on words only: "JWST-like" must not become "JWST-" / "like"
    return "\n".join(textwrap.wrap(str(text), width, break_long_words=False, break_on_hyphens=False))


def plot_astrometry_error_budget(cat, budget=None, ax=None):
    """Method 1: per-source position errors against SNR, with the verdict bands.

    Parameters
    ----------
    cat : `~astropy.table.Table`
        ``ra_err``, ``dec_err`` (mas), ``snr``, optional ``kind``; where ``method`` is ``"exposures"`` the
        source is drawn at its ``snr_exp`` (the joint fit's SNR on the exposures), when present.
    budget : dict, optional
        From :func:`helpers.astrometry.error_budget` (its scatter is drawn as a line).
    ax : `matplotlib.axes.Axes`, optional

    Returns
    -------
    fig : `matplotlib.figure.Figure`
    """
    require_table(cat, "cat", ("ra_err", "dec_err", "snr"), numeric=("ra_err", "dec_err", "snr"),
                  hint="give the source catalog helpers.sources.extract_sources returned")
    fig, ax = _new_axes(ax)
    err = np.sqrt(0.5 * (np.asarray(cat["ra_err"], float) ** 2 + np.asarray(cat["dec_err"], float) ** 2))
    snr = np.asarray(cat["snr"], float).copy()
    if {"method", "snr_exp"} <= set(cat.colnames):
        # positions from the joint fit on the exposures: their SNR there (a bright star's product snr can be
        # several times lower, which drew the joint fit's errors plunging under the others at SNR 100-300)
        joint = (np.asarray(cat["method"]).astype(str) == "exposures") & np.isfinite(np.asarray(cat["snr_exp"], float))
        snr[joint] = np.asarray(cat["snr_exp"], float)[joint]
    _shade_bands(ax, "horizontal", upper=max(200.0, np.nanmax(err) * 1.5))
    kind = np.asarray(cat["kind"]).astype(str) if "kind" in cat.colnames else np.full(len(cat), "point")
    for k, m in (("point", "o"), ("extended", "s")):
        sel = kind == k
        if sel.any():
            ax.scatter(snr[sel], err[sel], s=5, marker=m, alpha=0.5, label=k, color="k" if k == "point" else "C0")
    if budget is not None:
        ax.axhline(budget["sigma_1d"], color="C3", lw=1.5,
                   label=f"catalog scatter {budget['sigma_1d']:.1f} mas")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ok = np.isfinite(err) & (err > 0)
    if ok.any():
        # down to 0.01 mas: the joint fit on the exposures puts bright stars at a few hundredths
        ax.set_ylim(max(0.01, np.nanmin(err[ok]) / 1.5), max(200.0, np.nanmax(err[ok]) * 1.5))
    _mas_ticks(ax.yaxis)
    ax.set_xlabel("signal-to-noise ratio")
    ax.set_ylabel("1-sigma position error per axis (mas)")
    ax.set_title("Per-source error budget reported by the extraction", fontsize=10)
    ax.legend(fontsize=7, loc="upper right")
    return fig


def plot_astrometry_quiver(result, patches=None, max_arrows=1500, arrow_scale_mas=10.0, ax=None):
    """Method 6: residual vectors over the field, and mean offsets in MSA-sized patches.

    Parameters
    ----------
    result : `helpers.astrometry.ComparisonResult`
    patches : `~astropy.table.Table`, optional
        From :func:`helpers.astrometry.patch_map`; flagged patches are outlined.
    max_arrows : int
        Plot at most this many individual residuals (random subset).
    arrow_scale_mas : float
        A residual of this many mas is drawn as long as a tenth of the field.
    ax : `matplotlib.axes.Axes`, optional

    Returns
    -------
    fig : `matplotlib.figure.Figure`
    """
    require_table(getattr(result, "pairs", None), "result.pairs", ("used", "xi", "eta", "dx", "dy"),
                  hint="pass what helpers.astrometry.compare_catalogs returned")
    if patches is not None:
        require_table(patches, "patches", ("xi", "eta", "mean_dx", "mean_dy"), hint="pass what helpers.astrometry.patch_map returned")
    max_arrows = require_number(max_arrows, "max_arrows", minimum=1, integer=True, example=1500)
    arrow_scale_mas = require_number(arrow_scale_mas, "arrow_scale_mas", minimum=1e-6, example=10.0)
    from matplotlib.patches import Rectangle

    fig, ax = _new_axes(ax, figsize=(6.4, 6.0))
    pairs = result.pairs[np.asarray(result.pairs["used"], bool)]
    x, y = np.asarray(pairs["xi"]) / 1000.0, np.asarray(pairs["eta"]) / 1000.0
    dx, dy = np.asarray(pairs["dx"]), np.asarray(pairs["dy"])
    if x.size > max_arrows:
        sel = np.random.default_rng(0).choice(x.size, max_arrows, replace=False)
        x, y, dx, dy = x[sel], y[sel], dx[sel], dy[sel]
    span = max(np.ptp(x), np.ptp(y), 1.0)
    k = 0.1 * span / arrow_scale_mas
    ax.quiver(x, y, dx * k, dy * k, angles="xy", scale_units="xy", scale=1, width=0.002, color="0.55", alpha=0.7)
    if patches is not None and len(patches):
        size = patches.meta["patch_arcsec"]
        px, py = np.asarray(patches["xi"]) / 1000.0, np.asarray(patches["eta"]) / 1000.0
        mx, my = np.asarray(patches["mean_dx"]), np.asarray(patches["mean_dy"])
        k2 = 4 * k
        ax.quiver(px, py, mx * k2, my * k2, angles="xy", scale_units="xy", scale=1, width=0.006, color="C3")
        for row in patches:
            if row["flag"]:
                ax.add_patch(Rectangle((row["xi"] / 1000 - size / 2, row["eta"] / 1000 - size / 2), size, size,
                                       fill=False, ec="C3", lw=1.5))
        ax.text(0.01, 0.01, f"grey: residuals ({arrow_scale_mas:g} mas = {0.1 * span:.0f}\")\n"
                f"red: patch means x4; boxes: flagged ({patches.meta['n_flagged']}); "
                f"p(no systematics) = {patches.meta['p_value']:.2g}", transform=ax.transAxes, fontsize=7,
                va="bottom", bbox=dict(fc="white", alpha=0.8, lw=0))
    ax.set_aspect("equal")
    ax.invert_xaxis()  # East to the left
    ax.set_xlabel("East offset (arcsec)")
    ax.set_ylabel("North offset (arcsec)")
    ax.set_title(f"Residuals after the {result.fit.kind} fit: {result.label}", fontsize=10)
    return fig


def plot_astrometry_methods(estimates, combined=None, ax=None):
    """All methods' per-catalog sigma with 95% intervals against the verdict bands.

    Parameters
    ----------
    estimates : dict
        ``{name: {"sigma": float, "ci": (lo, hi), "n": int}}``; entries with ``sigma`` None are
        listed as "not available".
    combined : dict, optional
        From :func:`helpers.astrometry.combine_methods`.
    ax : `matplotlib.axes.Axes`, optional

    Returns
    -------
    fig : `matplotlib.figure.Figure`
    """
    if not isinstance(estimates, dict) or not all(v is None or isinstance(v, dict) for v in estimates.values()):
        raise WorkbookError(f"estimates = {estimates!r:.40} is not a dict of method name -> estimate dict; "
                            "build each with helpers.astrometry.as_estimate")
    if combined is not None:
        require_keys(combined, "combined", ("sigma", "ci"), hint="pass what helpers.astrometry.combine_methods returned")
    names = list(estimates)
    fig, ax = _new_axes(ax, figsize=(7.0, 0.9 + 0.45 * (len(names) + 1)))
    vals = [v.get("sigma") for v in estimates.values() if v and v.get("sigma") is not None]
    upper = max([60.0] + [1.3 * v["ci"][1] for v in estimates.values() if v and v.get("ci")])
    _shade_bands(ax, "vertical", upper=upper)
    for i, name in enumerate(names):
        v = estimates[name]
        if not v or v.get("sigma") is None:
            ax.text(0.5, i, "not available", va="center", fontsize=8, color="0.4")
            continue
        lo, hi = v["ci"]
        ax.errorbar(v["sigma"], i, xerr=[[v["sigma"] - lo], [hi - v["sigma"]]], fmt="o", color="k", capsize=3)
        ax.text(hi, i + 0.22, f" {v['sigma']:.1f} [{lo:.1f}, {hi:.1f}] mas, n={v.get('n', '?')}", fontsize=7)
    if combined is not None:
        lo, hi = combined["ci"]
        ax.axvline(combined["sigma"], color="C3", lw=1.2)
        ax.axvspan(lo, hi, color="C3", alpha=0.15, lw=0)
        for i, name in enumerate(names):
            if name in combined.get("outliers", []):
                ax.text(0.01, i - 0.25, "set aside", transform=ax.get_yaxis_transform(),
                        fontsize=7, color="C3")
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names, fontsize=8)
    ax.set_ylim(-0.7, len(names) - 0.3)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlim(max(0.5, 0.5 * min(vals)) if vals else 0.5, upper)
    _mas_ticks(ax.xaxis)
    ax.set_xlabel("per-catalog 1-sigma per axis (mas)")
    title = "Independent estimates of the catalog's scatter"
    if combined is not None:
        n_ok = len(combined.get("agreeing", []))
        title += (f": combined {combined['sigma']:.1f} mas, {n_ok} of {combined.get('n_methods', len(names))} "
                  f"methods agree" + ("" if combined.get("backed", True) else " (provisional)"))
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=6, loc="lower right", ncol=5)
    return fig


def plot_astrometry_injection(result, ax=None):
    """Method 5: measured offsets of injected stars against their SNR, with reported errors.

    Parameters
    ----------
    result : dict
        From :func:`helpers.astrometry.injection_recovery`.
    ax : `matplotlib.axes.Axes`, optional

    Returns
    -------
    fig : `matplotlib.figure.Figure`
    """
    require_keys(result, "result", ("stars", "by_snr", "n_injected", "n_recovered"),
                 hint="pass what helpers.astrometry.injection_recovery returned")
    require_table(result["stars"], "result['stars']", ("recovered", "snr_inj", "dx_mas", "dy_mas", "err_x_mas", "err_y_mas"),
                  hint="pass what helpers.astrometry.injection_recovery returned")
    fig, ax = _new_axes(ax)
    st = result["stars"]
    rec = np.asarray(st["recovered"], bool)
    snr = np.asarray(st["snr_inj"])
    off = np.sqrt(0.5 * (np.asarray(st["dx_mas"]) ** 2 + np.asarray(st["dy_mas"]) ** 2))
    ax.scatter(snr[rec], off[rec], s=6, color="k", alpha=0.6, label="|measured - injected| / sqrt(2)")
    err = np.sqrt(0.5 * (np.asarray(st["err_x_mas"]) ** 2 + np.asarray(st["err_y_mas"]) ** 2))
    if np.isfinite(err[rec]).any():
        ax.scatter(snr[rec], err[rec], s=6, color="C0", alpha=0.6, label="reported error")
    b = result["by_snr"]
    mid = np.sqrt(np.asarray(b["snr_lo"]) * np.asarray(b["snr_hi"]))
    ax.plot(mid, np.sqrt(0.5 * (np.asarray(b["sigma_ra"]) ** 2 + np.asarray(b["sigma_dec"]) ** 2)), "o-",
            color="C3", label="robust sigma per SNR bin")
    ax.set_xscale("log")
    ax.set_yscale("log")
    _mas_ticks(ax.yaxis)
    ax.set_xlabel("injected SNR")
    ax.set_ylabel("position offset or error per axis (mas)")
    miss = result["n_injected"] - result["n_recovered"]
    ax.set_title(f"Injection-recovery: {result['n_recovered']} of {result['n_injected']} recovered "
                 f"({miss} missed)", fontsize=10)
    ax.legend(fontsize=7)
    return fig


def plot_astrometry_consequence(consequence, measured_sigma=None, sdss_sigma=50.0, fig=None):
    """What this precision costs: slit throughput and centering-zone probabilities vs catalog sigma.

    Parameters
    ----------
    consequence : dict
        From :func:`helpers.astrometry.slit_throughput_consequence`.
    measured_sigma : float or (float, (lo, hi)), optional
        The user's measured per-catalog sigma (mas), optionally with its interval.
    sdss_sigma : float
        The SDSS-like case to mark (mas).
    fig : `matplotlib.figure.Figure`, optional

    Returns
    -------
    fig : `matplotlib.figure.Figure`
    """
    require_keys(consequence, "consequence", ("sigma_cat_mas", "offset_median_mas", "offset_p90_mas", "wavelengths_um",
                                              "relative_mean", "throughput_p10", "throughput_centred", "zone_probability",
                                              "assumptions"), hint="pass what helpers.nirspec.slit_throughput_consequence returned")
    if isinstance(measured_sigma, (tuple, list)):
        if len(measured_sigma) != 2:
            raise WorkbookError(f"measured_sigma = {measured_sigma!r:.40}; give a sigma in mas or (sigma, (low, high))")
        require_number(measured_sigma[0], "measured_sigma", minimum=0, allow_none=True)
    else:
        require_number(measured_sigma, "measured_sigma", minimum=0, allow_none=True, example=5.0)
    sdss_sigma = require_number(sdss_sigma, "sdss_sigma", minimum=0, allow_none=True, example=50.0)
    import matplotlib.pyplot as plt

    if fig is None:
        fig, axes = plt.subplots(1, 3, figsize=(14.0, 4.2), constrained_layout=True)
    else:
        axes = fig.subplots(1, 3)
    sig = consequence["sigma_cat_mas"]
    ci = None
    if isinstance(measured_sigma, (tuple, list)):
        measured_sigma, ci = measured_sigma
    ax0, ax1, ax2 = axes
    ax0.plot(sig, consequence["offset_median_mas"], color="k", label="median")
    ax0.plot(sig, consequence["offset_p90_mas"], color="k", ls="--", label="90th percentile")
    ax0.axhline(100.0, color="0.4", lw=0.8)
    ax0.text(sig[0], 103, "shutter half-width (100 mas)", fontsize=7, color="0.3")
    ax0.set_ylabel("offset from shutter centre (mas)")
    ax0.set_title("Where a source planned at the centre lands", fontsize=10)
    cmap = plt.get_cmap("viridis")
    lams = consequence["wavelengths_um"]
    for k, lam in enumerate(lams):
        c = cmap(k / max(len(lams) - 1, 1))
        ax1.plot(sig, consequence["relative_mean"][k], color=c, label=f"{lam:g} µm mean")
        ax1.plot(sig, consequence["throughput_p10"][k] / consequence["throughput_centred"][k], color=c, ls=":")
    ax1.set_ylabel("light through the shutter / centred source")
    ax1.set_title("Slit throughput (dotted: worst 10% of sources)", fontsize=10)
    for name, p in consequence["zone_probability"].items():
        ax2.plot(sig, p, label=name)
    ax2.set_ylabel("probability of staying inside the zone")
    ax2.set_title("Centering-constraint zones (planned at the centre)", fontsize=10)
    for ax in axes:
        ax.set_xscale("log")
        _mas_ticks(ax.xaxis)
        ax.set_xlabel("catalog 1-sigma per axis (mas)")
        for lo, hi, lab, col in _band_edges():
            ax.axvspan(max(lo, sig[0]), min(hi, sig[-1]), color=col, alpha=0.12, lw=0)
        ax.axvline(sdss_sigma, color="C3", ls="--", lw=1.2)
        ax.text(sdss_sigma, ax.get_ylim()[1], " SDSS-like", color="C3", fontsize=7, va="top")
        if measured_sigma is not None:
            ax.axvline(measured_sigma, color="k", lw=1.6)
            if ci is not None:
                ax.axvspan(ci[0], ci[1], color="k", alpha=0.12, lw=0)
            ax.text(measured_sigma, ax.get_ylim()[0], " yours", color="k", fontsize=8, va="bottom")
    ax1.legend(fontsize=7)
    ax2.legend(fontsize=7)
    ax0.legend(fontsize=7, loc="center left")
    fig.suptitle(_wrap("What this precision costs: " + consequence["assumptions"], 130), fontsize=10)
    return fig
