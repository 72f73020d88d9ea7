"""Three catalogs of the same field: the individual scatter of each from their pairwise differences
(the "three-cornered hat", Gray & Allan 1974; method 2 of notebook 03 with three or more images).

Units: RA/Dec in degrees; sigmas in mas.
"""

import math

import numpy as np

from ..errors import WorkbookError
from ..skyplane import tangent_point
from .matching import match
from .stats import _ci
from .transforms import _FIT_TYPES, _normalise_fit, fit_transform
from ..validate import require_instance, require_number
from .inputs import _radec, _require_table, tangent_plane_mas

__all__ = [
    "three_cornered_hat",
]


# --------------------------------------------------------------------------- three catalogs
def three_cornered_hat(catalogs, labels=None, max_sep=0.3, fit="shift+rotation+scale", n_boot=200,
                       clip_sigma=5.0, seed=0):
    """Individual scatter of three catalogs of the same field from their pairwise differences.

    With sigma_AB^2 = sigma_A^2 + sigma_B^2 etc. (independent errors),
    sigma_A^2 = (sigma_AB^2 + sigma_AC^2 - sigma_BC^2) / 2 (the "three-cornered hat",
    Gray & Allan 1974). The sigmas are standard deviations of the differences of the pairs kept by
    the transform fits' clipping: variances add for any error shape (MAD-sigmas do not, and bias
    the hat when the catalogs' error distributions differ). Only sources matched in all three catalogs are used, each pair gets its
    own transform fit, and the bootstrap resamples the same sources for the three differences.

    Parameters
    ----------
    catalogs : sequence of three Tables
    labels : sequence of three str, optional
    max_sep, fit, n_boot, clip_sigma, seed
        As in :func:`compare_catalogs`.

    Returns
    -------
    result : dict
        ``labels``, ``n_triples``, ``sigma`` {label: (E, N)}, ``sigma_ci`` {label: ((lo, hi), (lo, hi))},
        ``sigma_1d`` {label: float}, ``sigma_1d_ci`` {label: (lo, hi)}, ``pairwise`` {"A-B": (E, N)},
        ``notes``.

    Raises
    ------
    WorkbookError
        Not three catalogs, or fewer than 3 sources common to all three.
    """
    require_instance(catalogs, (list, tuple), "catalogs", "pass a list of three source catalog Tables")
    for k, cat in enumerate(catalogs):
        _require_table(cat, f"catalogs[{k}]")
    n_boot = require_number(n_boot, "n_boot", minimum=0, maximum=10**6, integer=True, example=200)
    require_number(seed, "seed", minimum=0, integer=True, allow_none=True, example=0)
    if len(catalogs) != 3:
        raise WorkbookError(f"the three-cornered hat needs exactly 3 catalogs, got {len(catalogs)}; "
                            "use compare_catalogs(..., equal=True) for two")
    labels = list(labels) if labels else ["A", "B", "C"]
    a, b, c = catalogs
    ab = match(a, b, max_sep=max_sep)
    ac = match(a, c, max_sep=max_sep)
    common, i_ab, i_ac = np.intersect1d(np.asarray(ab["idx_cat"]), np.asarray(ac["idx_cat"]), return_indices=True)
    ib, ic = np.asarray(ab["idx_ref"])[i_ab], np.asarray(ac["idx_ref"])[i_ac]
    if common.size < 3:
        raise WorkbookError(f"only {common.size} sources are common to the three catalogs; the three-cornered hat "
                            "needs overlapping catalogs of the same field")
    pos = []
    for t, idx in ((a, common), (b, ib), (c, ic)):
        ra, dec, _ = _radec(t, "a catalog", True)
        pos.append((ra[idx], dec[idx]))
    ra0, dec0 = tangent_point(*pos[0])
    xy = [tangent_plane_mas(r, d, ra0, dec0) for r, d in pos]
    kind = _normalise_fit(fit)
    combos = {(0, 1): None, (0, 2): None, (1, 2): None}
    used = np.ones(common.size, bool)
    for (p, q) in combos:
        _, dx, dy, u_ = fit_transform(*xy[p], *xy[q], fit=kind, clip_sigma=clip_sigma, center=(ra0, dec0))
        combos[(p, q)] = (dx, dy)
        used &= u_
    n = int(used.sum())
    n_par = _FIT_TYPES[kind]
    dof = math.sqrt(2 * n / max(2 * n - n_par, 1))
    # variances, not MAD-sigmas: variances of independent errors add whatever their distributions' shapes,
    # MAD-sigmas do not (issue #15: truth 3.0/2.56/1.97 mas came out 3.41/2.32/1.17 from MADs). The pairs
    # are those every transform fit kept (5-sigma clip), so gross outliers do not enter the second moments.
    arrays = []
    for (p, q), (dx, dy) in combos.items():
        for d in (dx[used], dy[used]):
            arrays.append((d - np.mean(d)) ** 2)
    arrays = np.array(arrays)
    point = np.sqrt(arrays.mean(axis=1)) * dof
    if n_boot:
        rng = np.random.default_rng(seed)
        boot = np.empty((6, n_boot))
        for b in range(n_boot):
            boot[:, b] = arrays[:, rng.integers(0, n, n)].mean(axis=1)
        boot = np.sqrt(boot) * dof
    else:
        boot = point[:, None]
    # variances per pair and axis: rows (AB_E, AB_N, AC_E, AC_N, BC_E, BC_N)
    notes = []

    def solve(v):
        vab, vac, vbc = v[0:2] ** 2, v[2:4] ** 2, v[4:6] ** 2
        sa = (vab + vac - vbc) / 2
        sb = (vab + vbc - vac) / 2
        sc = (vac + vbc - vab) / 2
        return [np.sqrt(np.clip(s, 0, None)) for s in (sa, sb, sc)], [s for s in (sa, sb, sc)]

    (pa, pb, pc), raw = solve(point)
    for lab, s in zip(labels, raw):
        if np.any(s < 0):
            notes.append(f"{lab}: negative variance estimate (its scatter is below the others' uncertainty), set to 0")
    (ba, bb, bc), _ = solve(boot)
    out = {"labels": labels, "n_triples": n, "sigma": {}, "sigma_ci": {}, "sigma_1d": {}, "sigma_1d_ci": {},
           "pairwise": {}, "notes": notes, "boot": {},
           "idx": {labels[0]: common[used], labels[1]: ib[used], labels[2]: ic[used]}}
    for lab, s, bs in zip(labels, (pa, pb, pc), (ba, bb, bc)):
        out["sigma"][lab] = (float(s[0]), float(s[1]))
        out["sigma_ci"][lab] = (_ci(bs[0]), _ci(bs[1]))
        out["sigma_1d"][lab] = float(np.sqrt(0.5 * (s[0] ** 2 + s[1] ** 2)))
        b1 = np.sqrt(0.5 * (bs[0] ** 2 + bs[1] ** 2))
        out["sigma_1d_ci"][lab] = _ci(b1)
        out["boot"][lab] = b1
    for j, (p, q) in enumerate(combos):
        out["pairwise"][f"{labels[p]}-{labels[q]}"] = (float(point[2 * j]), float(point[2 * j + 1]))
    return out
