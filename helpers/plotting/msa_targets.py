"""The planner's targets and their spectra on the MSA overlay (notebook 04).

:class:`TargetLayer` draws the target list (notebook 02's corrected list, or the list as given)
over the pre-image, one marker and colour per priority class (`msa_style.TARGET_STYLES`), and
counts the targets per priority with the workbook's one counting rule
(:func:`helpers.msa.count_targets`, i.e. ``MSAPointing.count``). :class:`SpectraPanel` is a
small NRS1 | NRS2 panel under the overlay: for the chosen disperser, the extent of every counted
target's spectrum along the dispersion at its detector row (:mod:`helpers.planning.spectra`),
the detector gap, and the spectra that overlap another counted one highlighted.
"""

import numpy as np

from .. import msa
from ..errors import WorkbookError
from .msa_style import SPECTRUM_COLOURS, priority_style

__all__ = ["TargetLayer", "SpectraPanel", "MAX_SPECTRA"]

#: Overlaps are checked pairwise (N^2): beyond this many counted targets only the first are drawn
#: (the panel says so).
MAX_SPECTRA = 1500


class TargetLayer:
    """The target list on the overlay, by priority, and its counts.

    Parameters
    ----------
    ax : WCSAxes
        The overlay's axes (data coordinates: image pixels).
    targets : `~astropy.table.Table`
        ``ra``, ``dec`` (deg) and optionally ``priority`` (1 = most wanted) and ``id``.
    wcs : `~astropy.wcs.WCS`
    """

    def __init__(self, ax, targets, wcs):
        cols = getattr(targets, "colnames", None)
        if cols is None:
            raise WorkbookError(f"targets must be a table with ra and dec columns, got {type(targets).__name__}")
        missing = [c for c in ("ra", "dec") if c not in cols]
        if missing:
            raise WorkbookError(f"target list lacks column(s) {', '.join(missing)}; it needs ra and dec in degrees "
                                "(read it with helpers.targets.read_target_list)")
        ra = np.ma.filled(np.ma.asarray(targets["ra"], dtype=float), np.nan)
        dec = np.ma.filled(np.ma.asarray(targets["dec"], dtype=float), np.nan)
        good = np.isfinite(ra) & np.isfinite(dec)
        self.n_dropped = int((~good).sum())
        self.ra, self.dec = ra[good], dec[good]
        if "priority" in cols:
            self.priority = np.ma.filled(np.ma.asarray(targets["priority"], dtype=float), np.nan)[good]
        else:
            self.priority = np.full(self.ra.size, np.nan)
        self.unit = msa.sky_unit(self.ra, self.dec)
        self.x, self.y = wcs.all_world2pix(self.ra, self.dec, 0)
        finite = np.unique(self.priority[np.isfinite(self.priority)])
        self.classes = [float(p) for p in finite] + ([float("nan")] if (~np.isfinite(self.priority)).any() else [])
        self.artists = []
        for p in self.classes:
            sel = ~np.isfinite(self.priority) if not np.isfinite(p) else self.priority == p
            marker, colour, size = priority_style(p)
            self.artists += ax.plot(self.x[sel], self.y[sel], ls="none", marker=marker, ms=size, mfc=colour,
                                    mec="black", mew=0.7, zorder=5)
        self.located = None
        self.counted = np.zeros(self.ra.size, dtype=bool)

    def set_visible(self, visible):
        for a in self.artists:
            a.set_visible(bool(visible))

    def count(self, pointing, constraint, slitlet, operability):
        """Counts of the targets at ``pointing`` (`helpers.msa.count_targets`); keeps the counted mask."""
        self.located = pointing.locate_arrays(unit=self.unit, operability=operability) if self.ra.size else None
        if self.located is None:
            self.counted = np.zeros(0, dtype=bool)
            return {"targets in list": 0}
        counts, self.counted = msa.count_targets(self.located, self.priority, constraint, slitlet, operability)
        return counts


def canonical_disperser(disperser):
    """The disperser/filter pair as `helpers.planning.spectrum_extents` names it (``"PRISM"`` ->
    ``"PRISM/CLEAR"``); its one-line error lists the valid pairs."""
    from ..planning import spectrum_extents

    return spectrum_extents([1], [1], [1], disperser).meta["disperser"]


class SpectraPanel:
    """NRS1 | NRS2 along the dispersion (shared NRS1 pixel coordinate) with the counted spectra.

    Parameters
    ----------
    fig : `matplotlib.figure.Figure`
    rect : (left, bottom, width, height)
        Figure fraction of the panel.
    disperser : str
        A pair of `helpers.planning.disperser_pairs` (e.g. ``"G395M/F290LP"``).
    live_label : bool
        Write the counts into the panel's label at every update (static pictures). The widget
        shows them in its counts table instead and keeps the label static: text redrawn at
        every blitted update costs ~10 ms.
    """

    def __init__(self, fig, rect, disperser, live_label=True):
        from matplotlib.collections import LineCollection
        from matplotlib.patches import Rectangle

        from ..planning import detector_layout

        self.disperser = canonical_disperser(disperser)
        lay = detector_layout()
        self.layout = lay
        ax = fig.add_axes(rect)
        self.ax = ax
        for name, (lo, hi) in (("NRS1", lay["nrs1"]), ("NRS2", lay["nrs2"])):
            ax.add_patch(Rectangle((lo, 0.5), hi - lo, 2048.0, facecolor=SPECTRUM_COLOURS["detector"],
                                   edgecolor="#546e7a", lw=0.8, zorder=0))
            ax.text(0.5 * (lo + hi), 2010.0, name, ha="center", va="top", fontsize=7, color="#37474f")
        g0, g1 = lay["gap"]
        ax.axvspan(g0, g1, color=SPECTRUM_COLOURS["gap"], lw=0, zorder=0)
        ax.set_xlim(0.0, lay["nrs2_x_plus_s"])
        ax.set_ylim(0.0, 2049.0)
        ax.set_yticks([])
        ax.tick_params(labelsize=6, length=2, pad=1)
        ax.set_xlabel("along the dispersion (NRS1 pixels; NRS2 x = %.0f - s)" % lay["nrs2_x_plus_s"], fontsize=7,
                      labelpad=1)
        if not live_label:
            # in the widget: no pixel numbers (nine texts redrawn at every zoom and reset)
            ax.set_xticks([])
            ax.set_xlabel("along the dispersion (blue to red), NRS1 | gap | NRS2", fontsize=7, labelpad=1)
        self.lines = LineCollection([], linewidths=1.6, animated=True, zorder=3)
        ax.add_collection(self.lines)
        self.live_label = bool(live_label)
        self.label = ax.text(0.005, 1.04, "", transform=ax.transAxes, ha="left", va="bottom", fontsize=7,
                             animated=self.live_label)
        if not self.live_label:
            self._static_label()
        self.n_overlapping = 0
        self.n_pairs = 0
        self.n_drawn = 0

    def _static_label(self):
        # no disperser name here (the widget's menu shows it): a new disperser needs no full redraw
        self.label.set_text("spectra of the counted targets on NRS1 | NRS2 (red: overlapping another)")

    def artists(self):
        """The artists redrawn at every update (blitted)."""
        return [self.lines, self.label] if self.live_label else [self.lines]

    def set_disperser(self, disperser):
        """Change the disperser (the next `update` draws its spectra)."""
        self.disperser = canonical_disperser(disperser)

    def set_visible(self, visible):
        for a in self.artists():
            a.set_visible(bool(visible))

    def update(self, quadrant, i, j, slitlet=3, disperser=None):
        """Draw the spectra of the counted targets in shutters (quadrant, i, j); returns the overlap counts.

        Returns
        -------
        dict
            ``with overlapping spectra`` (targets whose spectrum overlaps another counted one's).
        """
        from ..planning import find_overlaps, spectrum_extents

        if disperser is not None:
            self.set_disperser(disperser)
        q = np.asarray(quadrant, dtype=int)
        n_all = q.size
        q, i, j = q[:MAX_SPECTRA], np.asarray(i, int)[:MAX_SPECTRA], np.asarray(j, int)[:MAX_SPECTRA]
        self.n_drawn = q.size
        if q.size == 0:
            self.lines.set_segments([])
            self.n_overlapping = self.n_pairs = 0
        else:
            ext = spectrum_extents(q, i, j, self.disperser)
            pairs = find_overlaps(q, i, j, self.disperser, slitlet=slitlet)
            bad = np.zeros(q.size, dtype=bool)
            bad[pairs.ravel()] = True
            self.n_pairs, self.n_overlapping = int(len(pairs)), int(bad.sum())
            g0, g1 = self.layout["gap"]
            lo, hi = np.asarray(ext["s_blue"], float), np.asarray(ext["s_red"], float)
            row = np.asarray(ext["row"], float)
            segs, colours = [], []
            ok_c, bad_c = SPECTRUM_COLOURS["ok"], SPECTRUM_COLOURS["overlap"]
            for k in np.flatnonzero(np.isfinite(lo) & np.isfinite(hi)):
                c = bad_c if bad[k] else ok_c
                # split at the detector gap: no light lands there
                for a, b in ((lo[k], min(hi[k], g0)), (max(lo[k], g1), hi[k])):
                    if b > a:
                        segs.append(((a, row[k]), (b, row[k])))
                        colours.append(c)
            self.lines.set_segments(segs)
            self.lines.set_color(colours)
        cut = f" (first {self.n_drawn} of {n_all})" if n_all > self.n_drawn else ""
        if self.live_label:
            self.label.set_text(f"{self.disperser}: {self.n_drawn} counted spectra{cut}, "
                                f"{self.n_overlapping} overlapping another (red)")
        return {"with overlapping spectra": self.n_overlapping}
