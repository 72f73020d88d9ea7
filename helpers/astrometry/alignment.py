"""Automatic coarse alignment of two catalogs before matching: shift, rotation and scale by voting.

Catalogs from different instruments or pipelines can differ by arcseconds in shift (a guide-star-only
WCS), by a fraction of a degree in rotation and by a few 0.1% in scale -- far more than a match radius
of 0.2-0.5". :func:`coarse_align` finds that similarity transform by the pair-offset vote of eMPT and
tweakwcs-like tools: for each trial rotation and scale on a grid fine enough that the field's edge moves
by less than one histogram bin, every catalog-reference pair within the shift search votes for its
offset; the trial whose offset histogram has the highest peak wins. The winner is then refined by
matching and a 4-parameter least-squares fit whose covariance gives the errors.

Units: RA/Dec in degrees; shifts in mas (search radius in arcsec); rotation in degrees; scale as a ratio.
"""

import dataclasses
import math

import numpy as np

from ..errors import WorkbookError
from ..skyplane import sky_to_tangent, tangent_point, tangent_to_sky

__all__ = ["CoarseAlignment", "coarse_align"]

#: Fewest pairs an alignment must rest on (issue #15: "< 10 pairs after alignment" is refused).
MIN_ALIGN_PAIRS = 10


@dataclasses.dataclass(frozen=True)
class CoarseAlignment:
    """A similarity transform taking catalog-1 positions onto catalog 2 (``x2 = scale R(rot) x1 + shift``).

    Positions ``x`` are gnomonic offsets (East, North) about ``center``; ``R(rot)`` turns East towards
    North by ``rotation_deg``.

    Attributes
    ----------
    shift_east_mas, shift_north_mas : float
        Shift at the tangent point, mas (catalog 2 minus transformed catalog 1).
    rotation_deg : float
        Rotation, degrees.
    scale : float
        Scale ratio (1.01 = catalog 1 is 1% smaller than catalog 2).
    shift_err_mas, rotation_err_deg, scale_err : float
        1-sigma errors from the least-squares fit of the matched pairs (per axis for the shift).
    n_pairs : int
        Pairs matched after alignment that the fit used.
    residual_mas : float
        Robust 1-sigma residual per axis of those pairs, mas.
    center : (float, float)
        Tangent point (RA, Dec), degrees.
    votes, chance_votes : float
        Pairs in the winning vote and the number a chance alignment would give (its significance).
    """

    shift_east_mas: float
    shift_north_mas: float
    rotation_deg: float
    scale: float
    shift_err_mas: float
    rotation_err_deg: float
    scale_err: float
    n_pairs: int
    residual_mas: float
    center: tuple
    votes: float
    chance_votes: float

    def apply(self, ra, dec):
        """Move catalog-1 positions (degrees) into catalog 2's frame; returns ``ra, dec`` in degrees."""
        x, y = sky_to_tangent(ra, dec, *self.center, unit="mas")
        x2, y2 = _similarity(x, y, self.rotation_deg, self.scale, self.shift_east_mas, self.shift_north_mas)
        return tangent_to_sky(x2, y2, *self.center, unit="mas")

    def describe(self):
        """One line for a report."""
        return (f"coarse alignment: shift E {self.shift_east_mas:+.1f} N {self.shift_north_mas:+.1f} "
                f"(+/- {self.shift_err_mas:.2f}) mas, rotation {self.rotation_deg:+.4f} (+/- {self.rotation_err_deg:.4f}) deg, "
                f"scale {self.scale:.5f} (+/- {self.scale_err:.5f}); {self.n_pairs} pairs, residual {self.residual_mas:.1f} "
                f"mas per axis; vote {self.votes:.0f} pairs vs {self.chance_votes:.1f} by chance")

    def to_dict(self):
        return dataclasses.asdict(self)


def _similarity(x, y, rotation_deg, scale, tx, ty):
    c, s = math.cos(math.radians(rotation_deg)), math.sin(math.radians(rotation_deg))
    x, y = np.asarray(x, float), np.asarray(y, float)
    return scale * (c * x - s * y) + tx, scale * (s * x + c * y) + ty


def _finite_positions(ra, dec, name):
    try:
        ra = np.asarray(ra, float).ravel()
        dec = np.asarray(dec, float).ravel()
    except (TypeError, ValueError):
        raise WorkbookError(f"{name} RA/Dec are not numbers; pass arrays of degrees") from None
    if ra.shape != dec.shape:
        raise WorkbookError(f"{name} has {ra.size} RA but {dec.size} Dec values; pass one Dec per RA")
    good = np.isfinite(ra) & np.isfinite(dec)
    if good.sum() < MIN_ALIGN_PAIRS:
        raise WorkbookError(f"{name} has only {int(good.sum())} finite positions; coarse alignment needs at least "
                            f"{MIN_ALIGN_PAIRS}")
    return ra, dec, good


def _vote(x1, y1, x2, y2, pi, pj, rot_grid, scale_grid, max_shift, bin_size):
    """Best (votes, rotation, scale, shift x, shift y) over the grid -- the peak of the 3x3-summed offset
    histogram -- the median over trials of each trial's peak (what the best cell holds by chance when
    most trials are wrong) and the best trial's highest cell more than 4 bins from its peak (what a
    cell holds by chance in that trial, however small the grid)."""
    from scipy.ndimage import uniform_filter

    nb = int(math.ceil(2 * max_shift / bin_size))
    best = (-1.0, 0.0, 1.0, 0.0, 0.0)
    peaks = []
    xa, ya, xb, yb = x1[pi], y1[pi], x2[pj], y2[pj]
    for rot in rot_grid:
        c, s = math.cos(math.radians(rot)), math.sin(math.radians(rot))
        rx, ry = c * xa - s * ya, s * xa + c * ya
        for scl in scale_grid:
            dx, dy = xb - scl * rx, yb - scl * ry
            ix = np.floor((dx + max_shift) / bin_size).astype(np.int64)
            iy = np.floor((dy + max_shift) / bin_size).astype(np.int64)
            ok = (ix >= 0) & (ix < nb) & (iy >= 0) & (iy < nb)
            hist = np.bincount(ix[ok] * nb + iy[ok], minlength=nb * nb).reshape(nb, nb).astype(float)
            smooth = uniform_filter(hist, size=3, mode="constant") * 9.0
            k = int(np.argmax(smooth))
            peaks.append(smooth.flat[k])
            if smooth.flat[k] > best[0]:
                kx, ky = divmod(k, nb)
                best = (float(smooth.flat[k]), float(rot), float(scl),
                        (kx + 0.5) * bin_size - max_shift, (ky + 0.5) * bin_size - max_shift)
                off = smooth.reshape(nb, nb).copy()
                off[max(kx - 4, 0):kx + 5, max(ky - 4, 0):ky + 5] = 0.0
                off_peak = float(off.max())
    return best + (float(np.median(peaks)), off_peak)


def _grid(half_width, step):
    n = max(1, int(math.ceil(half_width / step)))
    return np.linspace(-n * step, n * step, 2 * n + 1)


def _fit_similarity(xc, yc, xr, yr):
    """Linear least squares of xr = a x - b y + tx, yr = b x + a y + ty; parameters and covariance."""
    one, zero = np.ones_like(xc), np.zeros_like(xc)
    a = np.vstack([np.column_stack([one, zero, xc, -yc]), np.column_stack([zero, one, yc, xc])])
    b = np.concatenate([xr, yr])
    p, *_ = np.linalg.lstsq(a, b, rcond=None)
    res = b - a @ p
    dof = max(res.size - 4, 1)
    cov = np.linalg.inv(a.T @ a) * float(res @ res) / dof
    return p, cov, res[: xc.size], res[xc.size:]


def coarse_align(ra1, dec1, ra2, dec2, max_shift_arcsec=6.0, max_rotation_deg=3.0, max_scale=0.02,
                 max_sources=2000, min_significance=5.0, chance_from="trials", edge_from="vote"):
    """Find the shift, rotation and scale taking catalog 1 onto catalog 2, by voting, then refine by a fit.

    Parameters
    ----------
    ra1, dec1, ra2, dec2 : array_like
        Positions of the two catalogs, degrees. Contaminants (sources in only one catalog) are fine.
    max_shift_arcsec : float
        Largest shift searched, arcsec (default 6").
    max_rotation_deg : float
        Largest rotation searched either way, degrees (default 3).
    max_scale : float
        Largest fractional scale difference searched either way (default 0.02 = 2%).
    max_sources : int
        Use the central disc of catalog 2 holding at most this many sources (and catalog 1's sources in it),
        to bound the cost on big catalogs; common sources stay common (a random subset would not).
    min_significance : float
        The winning vote must exceed the chance level (see ``chance_from``) by this many Poisson
        sigmas and be at least twice it.
    chance_from : {'trials', 'off-peak'}
        How the chance level is measured. ``"trials"`` (default): the median over the rotation/scale
        trials of each trial's peak -- right when most trials are wrong, but a narrow search (few
        trials, all near the truth) on a dense catalog puts signal into it and refuses a true
        solution. ``"off-peak"``: the winning trial's highest cell more than 4 bins from its peak --
        the same trial's chance level whatever the grid (what `helpers.targets.judge_targets` uses).
    edge_from : {'vote', 'fit'}
        Which solution must lie inside the search to be accepted. ``"vote"`` (default): the winning
        grid trial. ``"fit"``: the refined least-squares solution -- on a small field (20-40") the
        grid steps are a large part of the range, near-equal trials win by noise, and a winner at the
        grid edge says nothing about where the solution is; the fit, started there, does.

    Returns
    -------
    CoarseAlignment
        The transform, its errors and the number of pairs; ``.apply(ra1, dec1)`` moves catalog 1.

    Raises
    ------
    WorkbookError
        Bad input; no vote significantly above chance (no consistent solution); a solution at the edge
        of the search; fewer than 10 pairs after alignment.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> ra2, dec2 = 150 + rng.uniform(-0.02, 0.02, 300), 2 + rng.uniform(-0.02, 0.02, 300)
    >>> al = coarse_align(ra2 + 2.0 / 3600, dec2 - 1.0 / 3600, ra2, dec2)
    >>> round(al.shift_east_mas / 1000 * -1, 1), round(al.shift_north_mas / 1000, 1), al.n_pairs
    (2.0, 1.0, 300)
    """
    from scipy.spatial import cKDTree

    for name, v in (("max_shift_arcsec", max_shift_arcsec), ("max_rotation_deg", max_rotation_deg),
                    ("max_scale", max_scale), ("max_sources", max_sources)):
        try:
            ok = float(v) > 0 and math.isfinite(float(v))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise WorkbookError(f"{name}={v!r} must be a positive number")
    if chance_from not in ("trials", "off-peak"):
        raise WorkbookError(f"chance_from={chance_from!r} is not known; use 'trials' or 'off-peak'")
    if max_rotation_deg > 30 or max_scale > 0.3:
        raise WorkbookError("coarse_align searches small rotations (<= 30 deg) and scale changes (<= 30%); "
                            "fix the catalogs' frames (WCS, units) first")
    ra1, dec1, g1 = _finite_positions(ra1, dec1, "catalog 1")
    ra2, dec2, g2 = _finite_positions(ra2, dec2, "catalog 2")
    ra0, dec0 = tangent_point(ra2[g2], dec2[g2])
    x1, y1 = sky_to_tangent(ra1[g1], dec1[g1], ra0, dec0, unit="arcsec", far_as_nan=True)
    x2, y2 = sky_to_tangent(ra2[g2], dec2[g2], ra0, dec0, unit="arcsec", far_as_nan=True)
    keep1, keep2 = np.isfinite(x1), np.isfinite(x2)
    x1, y1, x2, y2 = x1[keep1], y1[keep1], x2[keep2], y2[keep2]
    if x1.size == 0 or x2.size == 0:  # e.g. RA in the wrong unit or sign: nothing near the other's field
        raise WorkbookError("no source of catalog 1 lies on the sky hemisphere of catalog 2; check that both "
                            "catalogs cover the same field in degrees")
    r2 = np.hypot(x2, y2)
    if r2.size > max_sources:
        disc = np.partition(r2, int(max_sources) - 1)[int(max_sources) - 1]
        sel2 = r2 <= disc
        sel1 = np.hypot(x1, y1) <= disc + max_shift_arcsec
        xv1, yv1, xv2, yv2 = x1[sel1], y1[sel1], x2[sel2], y2[sel2]
    else:
        xv1, yv1, xv2, yv2 = x1, y1, x2, y2
    lever = max(float(np.max(np.hypot(xv1, yv1))), 1.0)  # arcsec: the largest distance a rotation moves
    reach = max_shift_arcsec + lever * (math.radians(max_rotation_deg) + max_scale) * 1.05
    pairs = cKDTree(np.column_stack([xv2, yv2])).query_ball_point(np.column_stack([xv1, yv1]), reach)
    n_per = np.fromiter((len(p) for p in pairs), int, len(pairs))
    if n_per.sum() < MIN_ALIGN_PAIRS:
        raise WorkbookError(f"only {int(n_per.sum())} catalog pairs lie within {reach:.1f} arcsec of each other: the "
                            "catalogs do not cover the same field (check their RA/Dec) or the shift exceeds "
                            "max_shift_arcsec; raise it")
    pi = np.repeat(np.arange(len(pairs)), n_per)
    pj = np.concatenate([np.asarray(p, int) for p in pairs if len(p)])

    # coarse grid: one bin of smear at the lever arm per step, bins 1/20 of the search
    bin_size = max(max_shift_arcsec / 20.0, 0.05)
    step = math.degrees(bin_size / lever)
    votes, rot, scl, tx, ty, chance, off_peak = _vote(xv1, yv1, xv2, yv2, pi, pj, _grid(max_rotation_deg, step),
                                                      1.0 + _grid(max_scale, bin_size / lever), max_shift_arcsec,
                                                      bin_size)
    if chance_from == "off-peak":
        chance = off_peak
    # almost every trial is wrong, so the typical trial's peak is the chance level of the best cell
    if votes < max(MIN_ALIGN_PAIRS, 2.0 * chance, chance + min_significance * math.sqrt(max(chance, 1.0))):
        raise WorkbookError(
            f"no consistent shift/rotation/scale: the best vote gathers {votes:.0f} pairs where chance gives "
            f"{chance:.1f}; check that both catalogs cover the same field in RA/Dec degrees, or widen the search "
            f"(max_shift_arcsec={max_shift_arcsec:g}, max_rotation_deg={max_rotation_deg:g}, max_scale={max_scale:g})")
    if edge_from not in ("vote", "fit"):
        raise WorkbookError(f"edge_from={edge_from!r} is not known; use 'vote' or 'fit'")

    def refuse_at_edge(rot, scl, tx, ty, grid=1.0):
        # a grid trial is at the edge within half a step; a fitted solution only at or beyond the limit
        at_edge = []
        if abs(rot) >= max_rotation_deg - grid * 0.5 * step:
            at_edge.append(f"rotation {rot:+.2f} deg at max_rotation_deg={max_rotation_deg:g}")
        if abs(scl - 1.0) >= max_scale - grid * 0.5 * bin_size / lever:
            at_edge.append(f"scale {scl:.4f} at max_scale={max_scale:g}")
        if max(abs(tx), abs(ty)) >= max_shift_arcsec - grid * 1.5 * bin_size:
            at_edge.append(f"shift ({tx:+.2f}, {ty:+.2f}) arcsec at max_shift_arcsec={max_shift_arcsec:g}")
        if at_edge:
            raise WorkbookError("the alignment solution lies at the edge of the search (" + "; ".join(at_edge)
                                + "): the true one may be beyond it; widen that limit and retry")

    if edge_from == "vote":
        refuse_at_edge(rot, scl, tx, ty)

    # refine: match in the aligned frame with a shrinking radius, fit the similarity transform
    x1m, y1m, x2m, y2m = x1 * 1000.0, y1 * 1000.0, x2 * 1000.0, y2 * 1000.0  # mas
    p = np.array([tx * 1000.0, ty * 1000.0, scl * math.cos(math.radians(rot)), scl * math.sin(math.radians(rot))])
    radius = 2.5 * bin_size * 1000.0
    tree2 = cKDTree(np.column_stack([x2m, y2m]))
    for _ in range(8):
        xt, yt = p[2] * x1m - p[3] * y1m + p[0], p[3] * x1m + p[2] * y1m + p[1]
        d, j = tree2.query(np.column_stack([xt, yt]), distance_upper_bound=radius)
        ok = np.isfinite(d)
        # one-to-one: keep the closest catalog-1 source of each catalog-2 source
        order = np.argsort(d[ok])
        i_ok, j_ok = np.flatnonzero(ok)[order], j[ok][order]
        _, first = np.unique(j_ok, return_index=True)
        i_ok, j_ok = i_ok[first], j_ok[first]
        if i_ok.size < MIN_ALIGN_PAIRS:
            raise WorkbookError(
                f"only {i_ok.size} pairs match after alignment (fewer than {MIN_ALIGN_PAIRS}): the catalogs barely "
                "overlap; check that they cover the same field and the same kind of sources")
        p, cov, rx, ry = _fit_similarity(x1m[i_ok], y1m[i_ok], x2m[j_ok], y2m[j_ok])
        resid = 1.4826 * float(np.median(np.abs(np.concatenate([rx, ry]))))
        new_radius = max(6.0 * resid, 3.0)
        if abs(new_radius - radius) < 0.01 * radius:
            break
        radius = min(radius, new_radius)
    scale = math.hypot(p[2], p[3])
    rotation = math.degrees(math.atan2(p[3], p[2]))
    if edge_from == "fit":
        refuse_at_edge(rotation, scale, p[0] / 1000.0, p[1] / 1000.0, grid=0.0)
    err = np.sqrt(np.diag(cov))
    return CoarseAlignment(
        shift_east_mas=float(p[0]), shift_north_mas=float(p[1]), rotation_deg=float(rotation), scale=float(scale),
        shift_err_mas=float(max(err[0], err[1])), rotation_err_deg=float(math.degrees(max(err[2], err[3]) / scale)),
        scale_err=float(max(err[2], err[3])), n_pairs=int(i_ok.size), residual_mas=float(resid),
        center=(float(ra0), float(dec0)), votes=float(votes), chance_votes=float(chance))
