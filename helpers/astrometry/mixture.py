"""Scatter of matched pairs as a mixture: a Gaussian core plus chance pairs uniform in the match disc.

1.4826 x MAD over every matched pair grows with contamination and with the match radius (issue #15:
+35% at 30% unrelated pairs; 9.0 -> 11.7 mas from 0.2" to 0.4" on a real HST-vs-Gaia pair). Here the
pair residuals ``(dx, dy)`` are modelled as

    (1 - f) N(dx; mu_x, sigma_x^2 + e_x,i^2) N(dy; mu_y, sigma_y^2 + e_y,i^2) + f / (pi R^2),

a Gaussian core per axis (``e_i`` the pairs' reported errors where known, e.g. the reference's) and
chance pairs spread uniformly over the match disc of radius ``R``, fitted by maximum likelihood (EM,
with the exact posterior moments of the heteroscedastic core). Once ``R`` exceeds ~5 sigma the core
is untouched by the disc and sigma no longer depends on the match radius. Intervals are bootstrap
percentiles (above 20,000 pairs, an m-out-of-n bootstrap whose width is scaled by sqrt(m/n), valid for
this smooth ML estimator and ~5x cheaper).

Units: residuals, errors and radii in mas.
"""

import dataclasses
import math

import numpy as np

from ..errors import WorkbookError

__all__ = ["MixtureFit", "NoCompactCore", "fit_scatter_mixture"]

_TWO_PI = 2.0 * math.pi


class NoCompactCore(WorkbookError):
    """The best core is as wide as the match disc: the pairs' scatter cannot be told from chance pairs at this
    match radius (a wide catalog in a tight radius, or chance matches); the caller may fall back to a robust
    statistic and say so."""
_BOOT_SUBSAMPLE = 20000


@dataclasses.dataclass
class MixtureFit:
    """Maximum-likelihood core scatter and outlier fraction of matched-pair residuals.

    Attributes
    ----------
    sigma_x, sigma_y : float
        Core 1-sigma per axis (RA*cos(Dec), Dec) beyond the reported errors, mas.
    sigma_1d : float
        sqrt((sigma_x^2 + sigma_y^2) / 2), mas.
    ci_x, ci_y, ci_1d : (float, float)
        Bootstrap intervals, mas.
    outlier_fraction : float
        Fraction of pairs in the uniform (chance) component; ``outlier_ci`` its interval.
    mean_x, mean_y : float
        Core centre, mas.
    n_pairs : int
        Pairs fitted; ``n_core`` the expected number in the core.
    max_sep_mas : float
        Radius of the match disc the outliers are spread over, mas.
    core_probability : ndarray
        Per pair, the posterior probability of belonging to the core.
    shaped : bool
        True when the core's variance per pair was ``sigma^2 shape_i^2 + err_i^2``: then ``sigma_x, sigma_y``
        are dimensionless factors on the per-pair ``shape`` (e.g. the calibration of reported errors).
    boot : ndarray
        Bootstrap draws (n_boot x 4: sigma_x, sigma_y, sigma_1d, outlier fraction), already rescaled to the
        spread of an n-pair sample (see the module docstring).
    """

    sigma_x: float
    sigma_y: float
    sigma_1d: float
    ci_x: tuple
    ci_y: tuple
    ci_1d: tuple
    outlier_fraction: float
    outlier_ci: tuple
    mean_x: float
    mean_y: float
    n_pairs: int
    n_core: float
    max_sep_mas: float
    core_probability: np.ndarray = dataclasses.field(repr=False)
    shaped: bool = False
    boot: np.ndarray = dataclasses.field(default=None, repr=False)

    def describe(self):
        """One line: what was measured, under which model."""
        if self.shaped:
            return (f"mixture fit of {self.n_pairs} pair differences: core {self.sigma_x:.3f} / {self.sigma_y:.3f} x the "
                    f"pairs' reported errors (RA*cos(Dec) / Dec), {100 * self.outlier_fraction:.1f}% chance pairs "
                    f"uniform in the {self.max_sep_mas:.0f} mas match disc")
        return (f"mixture fit of {self.n_pairs} pair differences: core {self.sigma_x:.2f} / {self.sigma_y:.2f} mas "
                f"(RA*cos(Dec) / Dec; 1-D {self.sigma_1d:.2f} [{self.ci_1d[0]:.2f}, {self.ci_1d[1]:.2f}]), "
                f"{100 * self.outlier_fraction:.1f}% chance pairs uniform in the {self.max_sep_mas:.0f} mas match disc")


def _as_float_array(values, name, n=None):
    try:
        arr = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):
        raise WorkbookError(f"{name} must be numbers (mas); got {type(values).__name__} with non-numeric "
                            "entries") from None
    if n is not None and arr.size != n:
        raise WorkbookError(f"{name} has {arr.size} values for {n} pairs; pass one per pair")
    return arr


def _em(dx, dy, ex2, ey2, area, start, n_iter=300, tol=1e-7, cx2=1.0, cy2=1.0):
    """EM for the core+uniform mixture; returns (sx2, sy2, mx, my, f, core probabilities).

    The core's variance per pair is ``s2 c2_i + e2_i`` (``c2`` = 1 without a shape): its own offset
    z_i ~ N(0, s2 c2_i) plus known noise e_i, so the M-step for s2 is the mean of E[z^2 | d] / c2."""
    sx2, sy2, mx, my, f = start
    log_u = -math.log(area)
    for _ in range(n_iter):
        vx, vy = sx2 * cx2 + ex2, sy2 * cy2 + ey2
        rx, ry = dx - mx, dy - my
        log_core = -0.5 * (rx * rx / vx + ry * ry / vy) - 0.5 * np.log(vx * vy) - math.log(_TWO_PI)
        a = np.log1p(-f) + log_core if f < 1 else np.full_like(dx, -np.inf)
        b = math.log(f) + log_u if f > 0 else -np.inf
        p = 1.0 / (1.0 + np.exp(np.clip(b - a, -700, 700)))
        w = p.sum()
        if w < 2.0:
            return sx2, sy2, mx, my, 1.0 - w / dx.size, p
        f_new = min(max(1.0 - w / dx.size, 0.0), 1.0 - 1e-12)
        mx_new = float(np.sum(p * rx / vx) / np.sum(p / vx)) + mx
        my_new = float(np.sum(p * ry / vy) / np.sum(p / vy)) + my
        # posterior moments of the core's own offset z given d = z + noise(e): E[z^2|d] = (t d)^2 + t e^2
        tx, ty = sx2 * cx2 / vx, sy2 * cy2 / vy
        sx2_new = float(np.sum(p * ((tx * rx) ** 2 + tx * ex2) / cx2) / w)
        sy2_new = float(np.sum(p * ((ty * ry) ** 2 + ty * ey2) / cy2) / w)
        sx2_new, sy2_new = max(sx2_new, 1e-12), max(sy2_new, 1e-12)
        done = (abs(sx2_new - sx2) <= tol * sx2 and abs(sy2_new - sy2) <= tol * sy2 and abs(f_new - f) < 1e-7)
        sx2, sy2, mx, my, f = sx2_new, sy2_new, mx_new, my_new, f_new
        if done:
            break
    return sx2, sy2, mx, my, f, p


def fit_scatter_mixture(dx, dy, max_sep_mas, err_x=None, err_y=None, n_boot=200, seed=0, ci=0.68,
                        shape_x=None, shape_y=None):
    """Fit a Gaussian core + uniform-in-the-match-disc mixture to matched-pair residuals.

    Parameters
    ----------
    dx, dy : array_like
        Residuals per pair after the transform fit (catalog - reference), mas.
    max_sep_mas : float
        Match radius the pairs were selected with, mas; chance pairs are uniform within it.
    err_x, err_y : array_like, optional
        Reported 1-sigma errors per pair and axis that the core carries on top of ``sigma`` (e.g. the
        reference's propagated errors), mas; default none (sigma is the whole core scatter).
    n_boot : int
        Bootstrap resamples for the intervals.
    seed : int
    ci : float
        Central probability of the intervals (0.68 = 1 sigma).
    shape_x, shape_y : array_like, optional
        Per-pair scale of the core (> 0, mas): the core's variance becomes ``sigma^2 shape_i^2 + err_i^2``
        and ``sigma`` a dimensionless factor -- e.g. the catalog's reported errors, whose calibration
        (measured / reported) is then ``sigma``.

    Returns
    -------
    MixtureFit

    Raises
    ------
    WorkbookError
        Fewer than 10 pairs, non-numeric values, negative errors, ``n_boot <= 0``, or every pair in the
        chance component (no core).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> core = rng.normal(0, 7.0, (2, 7000))
    >>> r, t = 300 * np.sqrt(rng.uniform(0, 1, 3000)), rng.uniform(0, 2 * np.pi, 3000)
    >>> dx = np.concatenate([core[0], r * np.cos(t)]); dy = np.concatenate([core[1], r * np.sin(t)])
    >>> fit = fit_scatter_mixture(dx, dy, 300.0, n_boot=20)
    >>> round(fit.sigma_1d), round(fit.outlier_fraction, 1)
    (7, 0.3)
    """
    dx = _as_float_array(dx, "dx")
    dy = _as_float_array(dy, "dy", dx.size)
    try:
        max_sep_mas = float(max_sep_mas)
    except (TypeError, ValueError):
        raise WorkbookError(f"max_sep_mas={max_sep_mas!r} must be a number of mas") from None
    if not (max_sep_mas > 0 and math.isfinite(max_sep_mas)):
        raise WorkbookError(f"max_sep_mas={max_sep_mas!r} must be a positive number of mas (the match radius)")
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot <= 0:
        raise WorkbookError(f"n_boot={n_boot!r} must be a positive integer (e.g. 200) for the bootstrap intervals")
    errs = []
    for name, e in (("err_x", err_x), ("err_y", err_y)):
        if e is None:
            errs.append(np.zeros(dx.size))
            continue
        e = _as_float_array(e, name, dx.size)
        if np.any(e < 0):
            raise WorkbookError(f"{name} has {int(np.sum(e < 0))} negative error(s); errors are 1-sigma in mas, >= 0")
        errs.append(np.where(np.isfinite(e), e, 0.0))
    shapes = []
    for name, c in (("shape_x", shape_x), ("shape_y", shape_y)):
        if c is None:
            shapes.append(np.ones(dx.size))
            continue
        c = _as_float_array(c, name, dx.size)
        if np.any(~(c > 0) & np.isfinite(c)):
            raise WorkbookError(f"{name} has {int(np.sum(~(c > 0) & np.isfinite(c)))} value(s) <= 0; the core's "
                                "per-pair scale (reported errors, mas) must be > 0")
        shapes.append(c)
    shaped = shape_x is not None or shape_y is not None
    good = np.isfinite(dx) & np.isfinite(dy) & np.isfinite(shapes[0]) & np.isfinite(shapes[1])
    dx, dy, ex, ey = dx[good], dy[good], errs[0][good], errs[1][good]
    cx2, cy2 = shapes[0][good] ** 2, shapes[1][good] ** 2
    if dx.size < 10:
        raise WorkbookError(f"only {dx.size} finite pair residuals; the mixture fit needs at least 10 -- check the "
                            "overlap of the catalogs (or align them with coarse_align)")
    radius = max(max_sep_mas, float(np.max(np.hypot(dx - np.median(dx), dy - np.median(dy)))))
    area = math.pi * radius ** 2
    ex2, ey2 = ex ** 2, ey ** 2
    # start from the inner half: robust sigma of the pairs closest to the centre, 20% outliers
    mx0, my0 = float(np.median(dx)), float(np.median(dy))
    s0 = 1.4826 * float(np.median(np.abs(np.concatenate([dx - mx0, dy - my0]))))
    s0 = max(s0, 1e-3 * radius)
    c_typ = math.sqrt(float(np.median(np.concatenate([cx2, cy2]))))  # typical core scale: 1 without a shape
    start = ((s0 / c_typ) ** 2, (s0 / c_typ) ** 2, mx0, my0, 0.2)
    sx2, sy2, mx, my, f, p = _em(dx, dy, ex2, ey2, area, start, cx2=cx2, cy2=cy2)
    n_core = float(p.sum())
    if n_core < 3.0 or f > 0.98:
        raise WorkbookError(
            f"no Gaussian core among {dx.size} pairs: they are spread like chance matches over the {radius:.0f} mas "
            "disc -- the catalogs are misaligned (use coarse_align) or unrelated")
    if math.hypot(mx, my) > radius / 4.0:
        raise WorkbookError(
            f"no core at the centre of the match disc: the densest clump of the {dx.size} pairs sits "
            f"{math.hypot(mx, my):.0f} mas off-centre in a {radius:.0f} mas disc -- the catalogs are misaligned "
            "(align them with coarse_align) or the pairs are chance matches")
    width = math.sqrt(max(sx2, sy2)) * c_typ
    if width > radius / 4.0:
        raise NoCompactCore(
            f"no compact core among {dx.size} pairs: the best core ({width:.0f} mas) is as wide as "
            f"the {radius:.0f} mas match disc -- the pairs look like chance matches (misaligned catalogs: use "
            "coarse_align), or the match radius is under ~5 sigma (raise it)")
    rng = np.random.default_rng(seed)
    m = min(dx.size, _BOOT_SUBSAMPLE)
    shrink = math.sqrt(m / dx.size)
    best = (sx2, sy2, mx, my, f)
    boots = np.empty((n_boot, 4))
    for b in range(n_boot):
        k = rng.integers(0, dx.size, m)
        bx2, by2, _, _, bf, _ = _em(dx[k], dy[k], ex2[k], ey2[k], area, best, n_iter=40, tol=1e-5,
                                    cx2=cx2[k], cy2=cy2[k])
        boots[b] = (math.sqrt(bx2), math.sqrt(by2), math.sqrt(0.5 * (bx2 + by2)), bf)
    point = np.array([math.sqrt(sx2), math.sqrt(sy2), math.sqrt(0.5 * (sx2 + sy2)), f])
    lo_q, hi_q = 50 * (1 - ci), 50 * (1 + ci)
    # draws about the point, spread scaled back to n pairs for the m-out-of-n bootstrap
    boots = point + (boots - point) * shrink
    lo, hi = np.percentile(boots, [lo_q, hi_q], axis=0)
    ivals = [(float(max(a, 0.0)), float(c)) for a, c in zip(lo, hi)]
    core_prob = np.full(good.size, np.nan)
    core_prob[good] = p
    return MixtureFit(sigma_x=float(point[0]), sigma_y=float(point[1]), sigma_1d=float(point[2]),
                      ci_x=ivals[0], ci_y=ivals[1], ci_1d=ivals[2], outlier_fraction=float(f),
                      outlier_ci=(float(max(ivals[3][0], 0.0)), float(min(ivals[3][1], 1.0))), mean_x=float(mx),
                      mean_y=float(my), n_pairs=int(dx.size), n_core=n_core, max_sep_mas=float(radius),
                      core_probability=core_prob, shaped=shaped, boot=boots)
