"""Method 6 of notebook 03: mean residual offsets in MSA-sized (~30") patches, to expose tile seams
and distortion residue (:func:`patch_map`).

Units: tangent-plane positions and offsets in mas; patch size in arcsec.
"""

import math

import numpy as np
from astropy.table import Table

from ..errors import WorkbookError
from .compare import ComparisonResult
from .stats import robust_sigma
from ..validate import require_instance, require_number

__all__ = [
    "patch_map",
]


# --------------------------------------------------------------------------- method 6: patch map
def patch_map(result_or_pairs, patch_arcsec=30.0, min_per_patch=5, significance=3.0, min_offset_mas=None):
    """Method 6: mean residual offsets in MSA-sized patches, to expose spatial systematics.

    Parameters
    ----------
    result_or_pairs : ComparisonResult or Table
        A comparison result, or a table with ``xi, eta, dx, dy`` (mas) and optional ``used``.
    patch_arcsec : float
        Patch size (the MSA quadrant spans ~95"x87"; 30" is a useful scale for seams).
    min_per_patch : int
        Patches with fewer pairs are reported but not tested.
    significance : float
        A patch is flagged when its mean offset differs from zero by more than this many
        standard errors (robust sigma / sqrt(n)) ...
    min_offset_mas : float, optional
        ... and by at least this much (default: a quarter of the 1-D robust sigma of all residuals).

    Returns
    -------
    patches : `~astropy.table.Table`
        ``xi, eta`` (patch centre, mas), ``n``, ``mean_dx, mean_dy`` (mas), ``err`` (mas),
        ``chi`` (offset / error), ``flag``; ``meta`` holds ``chi2``, ``dof``, ``p_value`` (of no
        systematics at all), ``n_flagged``, ``patch_arcsec``.

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.table import Table
    >>> rng = np.random.default_rng(0)
    >>> xi, eta = rng.uniform(0, 9e4, 3000), rng.uniform(0, 9e4, 3000)
    >>> t = Table({"xi": xi, "eta": eta, "dx": rng.normal(0, 5, 3000) + 8 * (xi > 6e4), "dy": rng.normal(0, 5, 3000)})
    >>> p = patch_map(t)
    >>> bool(np.all(p["flag"] == (p["xi"] > 6e4)))
    True
    """
    require_instance(result_or_pairs, (ComparisonResult, Table), "result_or_pairs",
                     "pass what compare_catalogs returned, or a Table with xi, eta, dx, dy (mas)")
    patch_arcsec = require_number(patch_arcsec, "patch_arcsec", minimum=1e-3, example=30.0)
    min_per_patch = require_number(min_per_patch, "min_per_patch", minimum=1, integer=True, example=5)
    significance = require_number(significance, "significance", minimum=0.0, example=3.0)
    min_offset_mas = require_number(min_offset_mas, "min_offset_mas", minimum=0.0, allow_none=True, example=2.0)
    from scipy.stats import chi2 as chi2_dist

    pairs = result_or_pairs.pairs if isinstance(result_or_pairs, ComparisonResult) else result_or_pairs
    used = np.asarray(pairs["used"], bool) if "used" in pairs.colnames else np.ones(len(pairs), bool)
    xi, eta = np.asarray(pairs["xi"], float)[used], np.asarray(pairs["eta"], float)[used]
    dx, dy = np.asarray(pairs["dx"], float)[used], np.asarray(pairs["dy"], float)[used]
    if xi.size == 0:
        raise WorkbookError("no pairs to map; run compare_catalogs on overlapping catalogs first")
    size = patch_arcsec * 1000.0
    ix = np.floor((xi - xi.min()) / size).astype(int)
    iy = np.floor((eta - eta.min()) / size).astype(int)
    s_all = math.sqrt(0.5 * (robust_sigma(dx) ** 2 + robust_sigma(dy) ** 2))
    pooled = np.concatenate([dx - np.median(dx), dy - np.median(dy)])
    h = 0.3 * max(s_all, 1e-9)
    f0 = max(np.mean(np.abs(pooled) < h) / (2 * h), 1e-12) / 0.985  # box kernel's bias for a Gaussian
    min_off = s_all / 4 if min_offset_mas is None else min_offset_mas
    from scipy.stats import norm

    # a 2-D offset is flagged at the same false-alarm probability as a |z| > significance 1-D deviation
    chi_limit = math.sqrt(chi2_dist.isf(2 * norm.sf(significance), 2))
    rows = []
    chi2, dof = 0.0, 0
    for key in sorted(set(zip(ix.tolist(), iy.tolist()))):
        sel = (ix == key[0]) & (iy == key[1])
        n = int(sel.sum())
        mx, my = float(np.median(dx[sel])), float(np.median(dy[sel]))
        # standard error of a median: 1 / (2 f(0) sqrt(n)), f(0) the residuals' density at their centre,
        # estimated once from all pairs (= 1.2533 sigma / sqrt(n) for Gaussian residuals; right also for
        # the heavy-tailed mixtures of catalogs whose sources' errors differ)
        err = 1.0 / (2.0 * f0 * math.sqrt(n))
        chi = math.hypot(mx, my) / err
        testable = n >= min_per_patch
        flag = bool(testable and chi > chi_limit and math.hypot(mx, my) > min_off)
        if testable:
            chi2 += (mx / err) ** 2 + (my / err) ** 2
            dof += 2
        rows.append((xi.min() + (key[0] + 0.5) * size, eta.min() + (key[1] + 0.5) * size, n, mx, my, err, chi, flag))
    t = Table(rows=rows, names=("xi", "eta", "n", "mean_dx", "mean_dy", "err", "chi", "flag"))
    for c in ("xi", "eta", "mean_dx", "mean_dy", "err"):
        t[c].unit = "mas"
    t.meta.update(chi2=float(chi2), dof=int(dof), p_value=float(chi2_dist.sf(chi2, dof)) if dof else float("nan"),
                  n_flagged=int(np.sum(t["flag"])), patch_arcsec=float(patch_arcsec), sigma_1d=float(s_all))
    return t
