"""Judge the targets, not the median: the distribution of per-source sigma and its faint tail.

The catalog's headline sigma is a median-like number: a catalog with 45% of its sources at 20 mas and
the rest at 2 mas reads ~4 mas ("optimal") although its rms is 13.5 mas -- and the faint MOS targets
are exactly that tail. :func:`precision_tail` takes per-source sigmas (reported errors times the
calibration k that a comparison measured, :attr:`ComparisonResult.calibration`) and reports the
fractions at <= 5, <= 10, <= 15 mas (JDox's MPT catalog page asks <= 15 mas for high-precision
calibration), for all sources and for the planned targets, with a sentence stating both the typical
sigma and the tail, and the targets that fail the goal.

Units: sigmas in mas (1 sigma per axis).
"""

import dataclasses
import math

import numpy as np

from ..errors import WorkbookError
from ..nirspec.slitloss import msata_error_mas  # the one MSATA model lives upstream, with the slit-loss physics

__all__ = ["PrecisionTail", "precision_tail", "per_source_sigma", "msata_error_mas"]

#: Thresholds the fractions are reported at, mas (seed: 5-10 mas; JDox MPT catalogs: <= 15 mas).
TAIL_THRESHOLDS_MAS = (5.0, 10.0, 15.0)


@dataclasses.dataclass
class PrecisionTail:
    """Distribution of per-source sigma.

    Attributes
    ----------
    median_mas, rms_mas, p90_mas : float
        Median, root-mean-square and 90th percentile of the per-source sigma, mas.
    fractions : dict
        ``{threshold_mas: fraction of sources with sigma <= threshold}``.
    target_fractions : dict or None
        The same for the planned targets.
    failing_targets : list
        Identifiers of targets whose sigma exceeds ``goal_mas``.
    goal_mas : float
    n_sources, n_targets : int
    sentence : str
        Typical sigma and tail in one sentence.
    """

    median_mas: float
    rms_mas: float
    p90_mas: float
    fractions: dict
    target_fractions: dict
    failing_targets: list
    goal_mas: float
    n_sources: int
    n_targets: int
    sentence: str

    def __str__(self):
        return self.sentence


def _sigmas(values, name):
    try:
        arr = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):
        raise WorkbookError(f"{name} must be numbers (1-sigma per source, mas)") from None
    if np.any(arr[np.isfinite(arr)] < 0):
        raise WorkbookError(f"{name} has negative values; per-source sigmas are >= 0 mas")
    return arr


def per_source_sigma(err_x, err_y, calibration=(1.0, 1.0)):
    """Per-source 1-D sigma from reported errors and the measured calibration ``k`` per axis.

    Parameters
    ----------
    err_x, err_y : array_like
        Reported 1-sigma errors along RA*cos(Dec) and Dec, mas.
    calibration : (float, float)
        Measured / reported error ratio per axis (e.g. ``ComparisonResult.calibration``).

    Returns
    -------
    sigma : ndarray
        ``sqrt(((k_x e_x)^2 + (k_y e_y)^2) / 2)`` per source, mas.
    """
    ex, ey = _sigmas(err_x, "err_x"), _sigmas(err_y, "err_y")
    if ex.size != ey.size:
        raise WorkbookError(f"err_x has {ex.size} values but err_y {ey.size}; pass one per source")
    try:
        kx, ky = (float(v) for v in calibration)
    except (TypeError, ValueError):
        raise WorkbookError(f"calibration = {calibration!r} must be two numbers (k per axis)") from None
    if not (kx > 0 and ky > 0 and math.isfinite(kx) and math.isfinite(ky)):
        raise WorkbookError(f"calibration = {calibration!r} must be two positive finite numbers")
    return np.sqrt(0.5 * ((kx * ex) ** 2 + (ky * ey) ** 2))


def _fractions(sig):
    return {t: float(np.mean(sig <= t)) for t in TAIL_THRESHOLDS_MAS}


def precision_tail(sigma_mas, target_sigma_mas=None, target_ids=None, goal_mas=10.0):
    """Fractions of sources (and targets) at <= 5, <= 10, <= 15 mas, and which targets fail the goal.

    Parameters
    ----------
    sigma_mas : array_like
        Per-source 1-sigma (per axis), mas, e.g. from :func:`per_source_sigma`. NaN rows are ignored.
    target_sigma_mas : array_like, optional
        The same for the planned targets.
    target_ids : array_like, optional
        Their identifiers (default: row numbers), for ``failing_targets``.
    goal_mas : float
        The precision goal targets are judged against (default 10 mas, the seed's 5-10 mas).

    Returns
    -------
    PrecisionTail

    Examples
    --------
    >>> import numpy as np
    >>> sig = np.r_[np.full(55, 2.0), np.full(45, 20.0)]
    >>> t = precision_tail(sig)
    >>> t.fractions[10.0], round(t.rms_mas, 1)
    (0.55, 13.5)
    """
    sig = _sigmas(sigma_mas, "sigma_mas")
    sig = sig[np.isfinite(sig)]
    if sig.size == 0:
        raise WorkbookError("no finite per-source sigma; pass the catalog's per-source errors in mas")
    try:
        goal_mas = float(goal_mas)
    except (TypeError, ValueError):
        raise WorkbookError(f"goal_mas = {goal_mas!r} must be a number of mas") from None
    if not (goal_mas > 0 and math.isfinite(goal_mas)):
        raise WorkbookError(f"goal_mas = {goal_mas!r} must be a positive number of mas")
    fractions = _fractions(sig)
    median, rms, p90 = float(np.median(sig)), float(np.sqrt(np.mean(sig ** 2))), float(np.quantile(sig, 0.9))
    worse = float(np.mean(sig > goal_mas))
    sentence = (f"median per-source sigma {median:.1f} mas (rms {rms:.1f}, 90th percentile {p90:.1f}); "
                f"{100 * worse:.0f}% of {sig.size} sources worse than {goal_mas:g} mas "
                f"({100 * fractions[5.0]:.0f}% <= 5, {100 * fractions[10.0]:.0f}% <= 10, "
                f"{100 * fractions[15.0]:.0f}% <= 15 mas)")
    target_fractions, failing, n_t = None, [], 0
    if target_sigma_mas is not None:
        tsig = _sigmas(target_sigma_mas, "target_sigma_mas")
        ids = np.arange(1, tsig.size + 1) if target_ids is None else np.asarray(target_ids)
        if ids.size != tsig.size:
            raise WorkbookError(f"target_ids has {ids.size} values for {tsig.size} target sigmas; pass one per target")
        ok = np.isfinite(tsig)
        n_t = int(ok.sum())
        if n_t:
            target_fractions = _fractions(tsig[ok])
            failing = [x.item() if hasattr(x, "item") else x for x in ids[ok & (tsig > goal_mas)]]
            sentence += (f"; {len(failing)} of {n_t} planned targets fail the {goal_mas:g} mas goal "
                         f"({100 * target_fractions[10.0]:.0f}% <= 10 mas)")
        if (~ok).any():
            sentence += f"; {int((~ok).sum())} targets have no sigma"
    return PrecisionTail(median_mas=median, rms_mas=rms, p90_mas=p90, fractions=fractions,
                         target_fractions=target_fractions, failing_targets=failing, goal_mas=goal_mas,
                         n_sources=int(sig.size), n_targets=n_t, sentence=sentence + ".")
