"""Figures for the planner's target list judged against the image and against Gaia DR3 (issue #14):
the residual quiver map, the histogram of residuals against the verdict bands, and both side by side
for every reference (:func:`plot_targets_judgements`). Residuals in mas."""

import numpy as np

from ..errors import WorkbookError
from ..validate import require_instance, require_number
from .astrometry import _new_axes, _shade_bands

__all__ = ["plot_targets_quiver", "plot_targets_histogram", "plot_targets_judgements"]


def _nice(value):
    """The 1-2-5 number nearest above ``value`` (a key arrow's length)."""
    exp = 10.0 ** np.floor(np.log10(max(value, 1e-3)))
    return float(next(m * exp for m in (1, 2, 5, 10) if m * exp >= value))


def _target_spacing(x, y, longest):
    """Median distance to the nearest other point (same units as x, y), at most ``longest``; ``longest``
    for fewer than 2 finite points."""
    from scipy.spatial import cKDTree

    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 2:
        return float(longest)
    d, _ = cKDTree(np.c_[x[ok], y[ok]]).query(np.c_[x[ok], y[ok]], k=2)
    spacing = float(np.median(d[:, 1]))
    return float(min(spacing, longest)) if spacing > 0 else float(longest)


def _require_judgement(judgement, name="judgement"):
    from ..targets import TargetJudgement

    return require_instance(judgement, TargetJudgement, name, "give what helpers.targets.judge_targets returned")


def plot_targets_quiver(judgement, arrow_scale_mas=None, max_arrows=3000, ax=None):
    """Residual of every matched target after the fitted transform, as arrows on the sky.

    Parameters
    ----------
    judgement : `helpers.targets.TargetJudgement`
    arrow_scale_mas : float, optional
        The residual drawn as the key arrow (default: the 1-2-5 number above twice the residuals'
        per-axis sigma), mas. The key arrow is 1.2x the median distance between neighbouring matched
        targets (that distance at most an eighth of the field), so a typical arrow reaches about
        half-way to its neighbour instead of across a dense list.
    max_arrows : int
    ax : matplotlib Axes, optional

    Returns
    -------
    fig : matplotlib Figure
    """
    _require_judgement(judgement)
    arrow_scale_mas = require_number(arrow_scale_mas, "arrow_scale_mas", minimum=1e-6, allow_none=True, example=20)
    max_arrows = require_number(max_arrows, "max_arrows", minimum=0, integer=True, example=3000)
    fig, ax = _new_axes(ax, figsize=(6.4, 6.0))
    per = judgement.per_target
    st = np.asarray(per["status"])
    ok = st == "matched"
    dx, dy = np.asarray(per["dx"], float), np.asarray(per["dy"], float)
    x, y = np.asarray(per["x_plane"], float) / 1000.0, np.asarray(per["y_plane"], float) / 1000.0
    idx = np.flatnonzero(ok)[:max_arrows]
    if arrow_scale_mas is None:
        arrow_scale_mas = _nice(2.0 * float(np.mean(judgement.sigma_diff_mas)))
    good = np.isfinite(x) & np.isfinite(y)
    extent = max(float(np.ptp(x[good])), float(np.ptp(y[good])), 1e-3) if good.any() else 1.0
    # arcsec drawn per mas of residual: the key arrow 1.2x the targets' spacing (a 1-sigma arrow ~half of it)
    k = 1.2 * _target_spacing(x[idx], y[idx], extent / 8.0) / arrow_scale_mas
    # thin shafts and small heads: short arrows would otherwise be all head
    q = ax.quiver(x[idx], y[idx], dx[idx] * k, dy[idx] * k, angles="xy", scale_units="xy", scale=1.0, width=0.0022,
                  headwidth=3.5, headlength=3.5, headaxislength=3.0, color="#0072B2",
                  label=f"matched ({int(ok.sum())})")
    for name, marker, colour in (("ambiguous", "s", "#E69F00"), ("unmatched", "x", "#D55E00")):
        sel = st == name
        if not sel.any():
            continue
        if name == "unmatched" and sel.sum() > ok.sum():  # against Gaia most targets are no star: keep them faint
            ax.plot(x[sel], y[sel], ".", ms=2, color="0.6", label=f"{name} ({int(sel.sum())})", zorder=0)
        else:
            ax.plot(x[sel], y[sel], marker, ls="none", mfc="none", color=colour, label=f"{name} ({int(sel.sum())})")
    # the key sits under the axes, right of the label, clear of the arrows
    ax.quiverkey(q, 0.92, -0.1, arrow_scale_mas * k, f"{arrow_scale_mas:g} mas", labelpos="W", coordinates="axes",
                 color="k")
    ax.set_xlabel("East offset (arcsec)")
    ax.set_ylabel("North offset (arcsec)")
    ax.invert_xaxis()  # East to the left, as on the sky
    ax.set_aspect("equal")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(f"targets - image after the fit ({judgement.reference})")
    return fig


def plot_targets_histogram(judgement, bins=50, ax=None):
    """Histogram of per-axis residuals of matched targets, the list's sigma and the verdict bands.

    Returns
    -------
    fig : matplotlib Figure
    """
    _require_judgement(judgement)
    bins = require_number(bins, "bins", minimum=2, integer=True, example=50)
    fig, ax = _new_axes(ax)
    per = judgement.per_target
    ok = np.asarray(per["status"]) == "matched"
    d = np.concatenate([np.asarray(per["dx"], float)[ok], np.asarray(per["dy"], float)[ok]])
    d = d - np.median(d)
    lim = max(5 * judgement.sigma_mas, 3 * float(np.mean(judgement.sigma_diff_mas)), 60.0)
    ax.hist(np.abs(d), bins=np.linspace(0, lim, bins), color="#0072B2", alpha=0.8, label="|residual| per axis")
    _shade_bands(ax, orientation="vertical", upper=lim)
    ax.axvline(judgement.sigma_mas, color="k", lw=2,
               label=f"list's own sigma {judgement.sigma_mas:.1f} mas ({judgement.ci[0]:.1f}-{judgement.ci[1]:.1f})")
    raw = float(np.mean(judgement.sigma_diff_mas))
    ax.axvline(raw, color="k", lw=1.5, ls="--", label=f"list and {judgement.reference} together {raw:.1f} mas")
    ax.set_xlabel("residual (mas)")
    ax.set_ylabel("targets")
    ax.set_xlim(0, lim)
    ax.legend(fontsize=8)
    ax.set_title(f"{judgement.verdict.band} ({judgement.reference}, {judgement.n_matched} pairs)")
    return fig


def plot_targets_judgements(judgements, arrow_scale_mas=None):
    """The target list judged against several references, one row each: quiver map and histogram.

    Parameters
    ----------
    judgements : dict
        Reference name -> `helpers.targets.TargetJudgement`, or a string saying why that reference
        could not judge the list (drawn as that sentence), or None (row left out).
    arrow_scale_mas : float, optional
        The key arrow's residual in every quiver map (default: per map, see `plot_targets_quiver`).

    Returns
    -------
    fig : matplotlib Figure
    """
    import textwrap

    import matplotlib.pyplot as plt

    if not isinstance(judgements, dict):
        raise WorkbookError(f"judgements = {judgements!r:.40} is not a dict; pass {{'image': judgement, 'Gaia': judgement or reason}}")
    for name, j in judgements.items():
        if j is not None and not isinstance(j, str):
            _require_judgement(j, f"judgements[{name!r}]")
    arrow_scale_mas = require_number(arrow_scale_mas, "arrow_scale_mas", minimum=1e-6, allow_none=True, example=20)
    rows = [(name, j) for name, j in judgements.items() if j is not None]
    if not rows:
        raise ValueError("no judgement to draw: pass {'image': judgement, ...}")
    heights = [0.2 if isinstance(j, str) else 1.0 for _, j in rows]  # a sentence needs no full row
    fig, axes = plt.subplots(len(rows), 2, figsize=(12.0, 5.2 * sum(heights) + 0.3), squeeze=False,
                             constrained_layout=True, gridspec_kw={"height_ratios": heights})
    for (name, j), (ax_q, ax_h) in zip(rows, axes):
        if isinstance(j, str):
            for ax in (ax_q, ax_h):
                ax.set_axis_off()
            ax_q.text(0.0, 0.5, f"{name}: " + "\n".join(textwrap.wrap(j, 70)), transform=ax_q.transAxes,
                      va="center", fontsize=10)
            continue
        plot_targets_quiver(j, arrow_scale_mas=arrow_scale_mas, ax=ax_q)
        plot_targets_histogram(j, ax=ax_h)
        ax_q.set_title(f"{name}: offset E {j.offset_mas[0]:+.1f}, N {j.offset_mas[1]:+.1f} mas, "
                       f"rotation {j.transform.rotation_arcsec:+.1f}\"")
    return fig
