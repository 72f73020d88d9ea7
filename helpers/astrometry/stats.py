"""Robust scatter and bootstrap intervals: the statistics every method reports.

Robust scatter is 1.4826 x MAD (median absolute deviation, :func:`robust_sigma`); for sources
whose errors differ, the Gaussian-equivalent 1.4826 x MAD of the mixture of their error
distributions (``_mixture_sigma``). Intervals are bootstrap percentile intervals (``_ci``) of
quantiles resampled jointly and exactly (``_bootstrap_order_stats``).

Units: whatever the inputs carry (mas throughout the package).
"""

import math

import numpy as np

from ..validate import require_array

__all__ = [
    "MAD_TO_SIGMA",
    "robust_sigma",
]

#: 1.4826 x MAD is the standard deviation of a Gaussian (1 / Phi^-1(3/4)).
MAD_TO_SIGMA = 1.482602218505602


def robust_sigma(values, axis=None):
    """1.4826 x median absolute deviation: the Gaussian-equivalent sigma, insensitive to outliers.

    Parameters
    ----------
    values : array-like
    axis : int, optional

    Returns
    -------
    sigma : float or ndarray

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(1).normal(0, 5.0, 100000)
    >>> round(float(robust_sigma(x)), 1)
    5.0
    """
    values = require_array(values, "values", ndim=None, what="residuals")
    med = np.median(values, axis=axis, keepdims=True)
    return MAD_TO_SIGMA * np.median(np.abs(values - med), axis=axis)


def _mixture_sigma(sig, axis=-1):
    """Gaussian-equivalent 1.4826 x MAD of a scale mixture of N(0, sig_i^2): solves
    mean_i erf(m / (sqrt(2) sig_i)) = 1/2 for the median |x| = m (bisection, vectorised)."""
    from scipy.special import erf

    sig = np.asarray(sig, float)
    lo = np.zeros(sig.shape[:-1])
    hi = np.max(sig, axis=-1) * 5.0
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        f = np.mean(erf(mid[..., None] / (math.sqrt(2) * sig)), axis=-1) - 0.5
        lo = np.where(f < 0, mid, lo)
        hi = np.where(f < 0, hi, mid)
    return MAD_TO_SIGMA * 0.5 * (lo + hi)


# --------------------------------------------------------------------------- bootstrap
def _bootstrap_order_stats(arrays, quantiles, n_boot, seed):
    """Bootstrap distribution of quantiles of several same-length arrays, resampled jointly.

    Vectorised and exact: a bootstrap draw is a vector of counts (how often each pair is drawn);
    the q-quantile of the resampled data is read from the cumulative counts in the sorted order
    of each array, so each draw costs a few O(n) passes and no sort.

    Returns an array (len(arrays), n_boot).
    """
    n = arrays[0].size
    rng = np.random.default_rng(seed)
    orders = [np.argsort(a, kind="stable") for a in arrays]
    srt = [a[o] for a, o in zip(arrays, orders)]
    out = np.empty((len(arrays), n_boot))
    targets = []
    for q in quantiles:
        h = q * (n - 1)  # numpy 'linear' quantile: between order statistics floor(h) and floor(h)+1 (0-based)
        lo = int(math.floor(h))
        targets.append((lo + 1, min(lo + 2, n), h - lo))
    for b in range(n_boot):
        counts = np.bincount(rng.integers(0, n, n), minlength=n)
        for k, (order, s) in enumerate(zip(orders, srt)):
            cs = np.cumsum(counts[order])
            m1, m2, frac = targets[k]
            j1, j2 = np.searchsorted(cs, [m1, m2], side="left")
            out[k, b] = s[j1] + frac * (s[j2] - s[j1])
    return out


def _ci(samples, level=0.95):
    lo, hi = np.percentile(samples, [50 * (1 - level), 50 * (1 + level)])
    return (float(lo), float(hi))
