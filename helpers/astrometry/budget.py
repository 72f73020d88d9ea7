"""Method 1 of notebook 03: the scatter the extraction's own per-source errors predict
(:func:`error_budget`), and the same budget used to scale a scatter measured on a subset of the
sources to the whole catalog (:func:`catalog_equivalent`).

Units: errors and sigmas in mas.
"""

import math

import numpy as np

from ..errors import WorkbookError
from .stats import _ci, _mixture_sigma
from ..validate import require_array, require_number
from .inputs import _col_values, _require_table

__all__ = [
    "error_budget",
    "catalog_equivalent",
]


# --------------------------------------------------------------------------- method 1: error budget
def error_budget(cat, snr_bins=(3, 10, 30, 100, 300, 1000, 1e9), calibration=1.0, select=None, n_boot=200, seed=0,
                 error_floor_mas=0.0):
    """Method 1: the scatter the extraction's own per-source errors predict.

    The sources' errors differ (they scale roughly as FWHM/SNR), so the catalog's scatter is the
    Gaussian-equivalent sigma (1.4826 x MAD) of the mixture of their error distributions -- the
    number the other methods measure on the same sources.

    Parameters
    ----------
    cat : `~astropy.table.Table`
        Source catalog with ``ra_err``, ``dec_err`` (mas) and ``snr`` (schema of DEVELOPING.md).
    snr_bins : sequence of float
        Bin edges for the table by SNR.
    calibration : float
        Factor to apply to the reported errors (measured/reported, e.g. from
        :func:`injection_recovery`); 1 = trust them.
    select : array of bool, optional
        Sources to include (e.g. the MSA targets or point sources).
    n_boot : int
        Bootstrap draws over sources for the interval.
    error_floor_mas : float
        Systematic floor added in quadrature to every reported error (see :func:`compare_catalogs`).

    Returns
    -------
    budget : dict
        ``n``, ``sigma`` (E, N), ``sigma_ci``, ``sigma_1d``, ``sigma_1d_ci``, ``median_err`` (E, N),
        ``frac_le_5``, ``frac_le_10`` (fraction of sources whose 1-D error is <= 5 / 10 mas),
        ``by_snr`` (Table: ``snr_lo, snr_hi, n, median_err_ra, median_err_dec``), ``calibration``.

    Raises
    ------
    WorkbookError
        Missing error columns or no finite errors.

    Examples
    --------
    >>> from astropy.table import Table
    >>> b = error_budget(Table({"ra_err": [5.0] * 50, "dec_err": [5.0] * 50, "snr": [20.0] * 50}), n_boot=20)
    >>> round(b["sigma_1d"], 2)
    5.0
    """
    _require_table(cat, "cat")
    n_boot = require_number(n_boot, "n_boot", minimum=0, maximum=100_000, integer=True, example=200)
    require_number(seed, "seed", minimum=0, integer=True, allow_none=True, example=0)
    error_floor_mas = require_number(error_floor_mas, "error_floor_mas", minimum=0.0, example=0.0)
    import astropy.units as u
    from astropy.table import Table

    for name in ("ra_err", "dec_err"):
        if name not in cat.colnames:
            raise WorkbookError(f"the catalog has no {name!r} column (mas); it must come from helpers.sources "
                                "(notebook 02) or carry per-source errors")
    ex, ey = _col_values(cat, "ra_err", u.mas), _col_values(cat, "dec_err", u.mas)
    ok = np.isfinite(ex) & np.isfinite(ey) & (ex > 0) & (ey > 0)
    if select is not None:
        ok &= np.asarray(select, bool)
    if ok.sum() == 0:
        raise WorkbookError("no source has finite positive ra_err/dec_err; check the extraction step")
    ex, ey = np.hypot(ex[ok], error_floor_mas) * calibration, np.hypot(ey[ok], error_floor_mas) * calibration
    sx, sy = float(_mixture_sigma(ex)), float(_mixture_sigma(ey))
    rng = np.random.default_rng(seed)
    n = ex.size
    bx, by = np.empty(n_boot), np.empty(n_boot)
    chunk = max(1, 1_000_000 // n)
    for start in range(0, n_boot, chunk):
        stop = min(start + chunk, n_boot)
        idx = rng.integers(0, n, (stop - start, n))
        bx[start:stop], by[start:stop] = _mixture_sigma(ex[idx]), _mixture_sigma(ey[idx])
    e1d = np.sqrt(0.5 * (ex ** 2 + ey ** 2))
    snr = _col_values(cat, "snr")[ok] if "snr" in cat.colnames else np.full(n, np.nan)
    rows = []
    for lo, hi in zip(snr_bins[:-1], snr_bins[1:]):
        sel = (snr >= lo) & (snr < hi)
        rows.append((lo, hi, int(sel.sum()), float(np.median(ex[sel])) if sel.any() else np.nan,
                     float(np.median(ey[sel])) if sel.any() else np.nan))
    by_snr = Table(rows=rows, names=("snr_lo", "snr_hi", "n", "median_err_ra", "median_err_dec"))
    b1 = np.sqrt(0.5 * (bx ** 2 + by ** 2)) if n_boot else np.array([math.hypot(sx, sy) / math.sqrt(2)])
    return {"n": int(n), "sigma": (sx, sy), "sigma_ci": (_ci(bx), _ci(by)) if n_boot else None,
            "sigma_1d": math.sqrt(0.5 * (sx ** 2 + sy ** 2)), "sigma_1d_ci": _ci(b1),
            "median_err": (float(np.median(ex)), float(np.median(ey))),
            "frac_le_5": float(np.mean(e1d <= 5)), "frac_le_10": float(np.mean(e1d <= 10)),
            "by_snr": by_snr, "calibration": float(calibration), "boot": b1}


def catalog_equivalent(sigma, ci, cat, subset, select=None, error_floor_mas=0.0):
    """Scale a scatter measured on a subset of a catalog's sources to the whole catalog.

    Each comparison sees only its matched sources (Gaia: bright stars; HSC: what HST detected
    repeatedly). Their reported errors say how much noisier the whole catalog is:
    sigma_all = sigma_subset x budget(all) / budget(subset), with the budget of
    :func:`error_budget`. If the reported errors are off by a constant factor, the scaling is
    still exact; it assumes only their relative sizes are right.

    Parameters
    ----------
    sigma : float
    ci : (float, float)
    cat : `~astropy.table.Table`
        With ``ra_err``, ``dec_err`` (mas).
    subset : array of int
        Row indices of the sources the comparison used.
    select : array of bool, optional
        Sources that make up "the catalog" (default: all with finite errors).
    error_floor_mas : float
        Systematic floor added to the reported errors (see :func:`compare_catalogs`).

    Returns
    -------
    sigma_all, ci_all, factor : float, (float, float), float
        ``factor`` = 1 when the catalog carries no errors.
    """
    sigma = require_number(sigma, "sigma", minimum=0.0, allow_none=True, example=3.0)
    if len(require_array(ci, "ci", what="mas")) != 2:
        raise WorkbookError(f"ci = {ci!r:.40} is not an interval; give (low, high) in mas")
    _require_table(cat, "cat")
    subset = require_array(subset, "subset", what="row indices")
    if subset.size and (subset.min() < 0 or subset.max() >= len(cat) or np.any(subset != np.round(subset))):
        raise WorkbookError(f"subset holds row indices outside 0..{len(cat) - 1} (or not whole); give rows of cat")
    subset = subset.astype(int)
    error_floor_mas = require_number(error_floor_mas, "error_floor_mas", minimum=0.0, example=0.0)
    if "ra_err" not in cat.colnames or "dec_err" not in cat.colnames or sigma is None:
        return sigma, ci, 1.0
    import astropy.units as u

    e = np.sqrt(0.5 * (_col_values(cat, "ra_err", u.mas) ** 2 + _col_values(cat, "dec_err", u.mas) ** 2)
                + error_floor_mas ** 2)
    ok = np.isfinite(e) & (e > 0)
    allsel = ok & (np.asarray(select, bool) if select is not None else True)
    sub = np.zeros(len(cat), bool)
    sub[np.asarray(subset, int)] = True
    sub &= ok
    if sub.sum() < 3 or allsel.sum() < 3:
        return sigma, ci, 1.0
    rng = np.random.default_rng(0)
    pick = lambda m: e[m] if m.sum() <= 5000 else rng.choice(e[m], 5000, replace=False)  # noqa: E731
    factor = float(_mixture_sigma(pick(allsel)) / _mixture_sigma(pick(sub)))
    return sigma * factor, (ci[0] * factor, ci[1] * factor), factor
