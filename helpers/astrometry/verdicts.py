"""The verdict against the 5-10 mas goal: the bands of the seed page (:data:`VERDICT_BANDS`,
:func:`verdict`, :class:`Verdict`) and the combination of independent methods that agree
(:func:`combine_methods`).

Units: sigmas (1 sigma per axis, relative) in mas.
"""

import dataclasses
import math

import numpy as np

from ..errors import WorkbookError

__all__ = [
    "VERDICT_BANDS",
    "MIN_PAIRS",
    "Verdict",
    "verdict",
    "combine_methods",
]

#: Verdict bands of the seed page (1 sigma per axis, relative, mas): upper edge and label.
VERDICT_BANDS = (
    (5.0, "optimal", "optimal for NIRSpec MOS flux calibration"),
    (10.0, "meets 5-10 mas", "meets the 5-10 mas goal for NIRSpec MOS flux calibration"),
    (20.0, "marginal", "marginal: expect noticeable, source-dependent slit losses"),
    (50.0, "degraded", "degraded: slit losses will compromise flux calibration"),
    (math.inf, "SDSS-like or worse", "SDSS-like or worse: sources will often fall near or behind the shutter bars"),
)

#: Fewer matched pairs than this and the scatter is "not verifiable".
MIN_PAIRS = 30


# --------------------------------------------------------------------------- verdict
@dataclasses.dataclass
class Verdict:
    """The verdict of :func:`verdict`.

    Attributes
    ----------
    band : str
        ``"optimal"``, ``"meets 5-10 mas"``, ``"marginal"``, ``"degraded"``,
        ``"SDSS-like or worse"`` or ``"not verifiable"``.
    sigma_mas : float
    n_pairs : int
    ci : tuple or None
    sentence : str
        One plain-language sentence.
    """

    band: str
    sigma_mas: float
    n_pairs: int
    ci: tuple
    sentence: str

    def __str__(self):
        return self.sentence

    def to_dict(self):
        return dataclasses.asdict(self)


def _band(sigma):
    for edge, band, text in VERDICT_BANDS:
        if sigma <= edge:
            return band, text
    return VERDICT_BANDS[-1][1], VERDICT_BANDS[-1][2]


def verdict(sigma_mas, n_pairs, ci=None):
    """Verdict of a catalog's relative precision against the seed's bands (REFERENCE.md section 4).

    Bands (1 sigma per axis, relative): <= 5 mas optimal; <= 10 meets the 5-10 mas goal;
    <= 20 marginal; <= 50 degraded; > 50 SDSS-like or worse; fewer than 30 pairs: not verifiable.

    Parameters
    ----------
    sigma_mas : float or (float, float)
        1-sigma per axis, mas; with two axes the larger is judged (conservative).
    n_pairs : int
        Independent measurements behind it.
    ci : (float, float), optional
        Confidence interval, mentioned in the sentence (and whether it straddles a band edge).

    Returns
    -------
    v : Verdict

    Examples
    --------
    >>> verdict(7.2, 500).band
    'meets 5-10 mas'
    >>> verdict(3.0, 12).band
    'not verifiable'
    >>> verdict(50.0, 100).band
    'degraded'
    """
    try:
        sigma_mas = float(np.max(np.asarray(sigma_mas, dtype=float))) if np.ndim(sigma_mas) else float(sigma_mas)
    except (TypeError, ValueError):
        raise WorkbookError(f"sigma_mas = {sigma_mas!r} is not a number; pass the 1-sigma scatter in mas") from None
    if not math.isfinite(sigma_mas) or sigma_mas < 0:
        raise WorkbookError(f"sigma_mas = {sigma_mas!r} is not a valid scatter; it must be a finite number >= 0 (mas)")
    n_pairs = _count(n_pairs, "n_pairs")
    ci = _interval(ci, "ci")
    ci_text = f" (95% interval {ci[0]:.1f}-{ci[1]:.1f} mas)" if ci is not None else ""
    if n_pairs < MIN_PAIRS:
        band = "not verifiable"
        sentence = (f"Only {n_pairs} independent pairs: the measured {sigma_mas:.1f} mas{ci_text} cannot be "
                    f"verified (at least {MIN_PAIRS} are needed) -- add a reference catalog or another image.")
        return Verdict(band, sigma_mas, n_pairs, tuple(ci) if ci is not None else None, sentence)
    band, text = _band(sigma_mas)
    sentence = (f"The catalog's relative precision is {sigma_mas:.1f} mas per axis{ci_text} from {n_pairs} "
                f"pairs: {text}.")
    if ci is not None:
        lo_band, hi_band = _band(ci[0])[0], _band(ci[1])[0]
        if lo_band != hi_band:
            sentence = sentence[:-1] + f" (the interval spans '{lo_band}' to '{hi_band}')."
    return Verdict(band, sigma_mas, n_pairs, tuple(ci) if ci is not None else None, sentence)


def _count(n, name):
    """A non-negative whole number of pairs, or a one-line error."""
    try:
        value = float(n)
    except (TypeError, ValueError):
        raise WorkbookError(f"{name} = {n!r} is not a number; pass the count of independent pairs (an integer >= 0)") from None
    if not math.isfinite(value) or value < 0 or value != int(value):
        raise WorkbookError(f"{name} = {n!r} is not a valid count; pass the number of independent pairs (an integer >= 0)")
    return int(value)


def _interval(ci, name):
    if ci is None:
        return None
    try:
        lo, hi = (float(v) for v in ci)
    except (TypeError, ValueError):
        raise WorkbookError(f"{name} = {ci!r} is not an interval; pass (low, high) in mas") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi or lo < 0:
        raise WorkbookError(f"{name} = {ci!r} is not a valid interval; pass finite (low, high) with 0 <= low <= high, mas")
    return lo, hi


def _weighted(entries):
    """Combine in log(sigma) with weights from the *relative* half-widths.

    An interval's width scales with its sigma, so absolute inverse-variance weights would favour the
    lowest answer; in log space they do not. The methods share the error-budget scaling (their errors
    are not independent), so the combined interval is never narrower than the most precise member's.
    """
    s = np.array([max(v["sigma"], 1e-6) for v in entries.values()])
    rel = np.array([max((v["ci"][1] - v["ci"][0]) / (2 * 1.96) / max(v["sigma"], 1e-6), 1e-4)
                    for v in entries.values()])
    w = 1.0 / rel ** 2
    log_mean = float(np.sum(w * np.log(s)) / np.sum(w))
    rel_err = max(float(1.0 / math.sqrt(np.sum(w))), float(np.min(rel)))
    mean = math.exp(log_mean)
    return mean, (mean * math.exp(-1.96 * rel_err), mean * math.exp(1.96 * rel_err))


def _overlaps(a, b):
    return not (a[1] < b[0] or a[0] > b[1])


def combine_methods(estimates, min_agree=3):
    """Combine independent per-catalog sigma estimates and find the ones that agree.

    Methods fail in different ways (common systematics between filters on the same pixel grid,
    a poor error model, too few reference stars), so one failing method should not drag the
    verdict. Among the measured methods (entries without ``"pairs": False``), every subset is
    combined in log(sigma) with weights from the relative interval half-widths (absolute widths scale
    with sigma and would favour the low answer); the methods share the error-budget scaling, so the
    combined interval is no narrower than its most precise member's. A subset counts only if each
    member's 95% interval overlaps the subset's combined interval. The largest such subset wins
    (ties: the one whose combined interval agrees with more methods, then the one nearest the median
    of all methods -- never the narrowest). The others are named as set aside.

    Parameters
    ----------
    estimates : dict
        ``{name: {"sigma": float, "ci": (lo, hi), "n": int}}`` (1-D sigma per axis, mas); an entry
        with ``"pairs": False`` (the error budget: a prediction from reported errors, not a
        measurement on independent pairs) is checked but neither weighted nor counted in
        ``n_pairs``. An entry with ``"lower_bound": True`` (same-visit repeatability, whose shared
        pixel grid cancels part of the error) is only checked as a lower bound: never averaged in and
        never a tie-winner. ``None`` entries (methods that could not run) are ignored.
    min_agree : int
        Methods that must agree for the verdict to count as backed.

    Returns
    -------
    combined : dict
        ``sigma`` (weighted mean of the agreeing measured methods, mas), ``ci`` (its 95%
        interval), ``n_pairs`` (largest ``n`` among them), ``n_methods`` (methods that ran),
        ``agreeing`` and ``outliers`` (names), ``agree`` (no outliers), ``backed`` (at least
        ``min_agree`` methods agree), ``lower_bounds`` / ``violated_lower_bounds`` (lower-bound
        methods consistent with the result or above it), ``verdict`` (:class:`Verdict`).

    Raises
    ------
    WorkbookError
        If no method produced an estimate, or an entry's sigma, interval or n is not a valid number.

    Examples
    --------
    >>> c = combine_methods({"a": {"sigma": 7.0, "ci": (6.5, 7.5), "n": 400},
    ...                      "b": {"sigma": 7.3, "ci": (6.6, 8.0), "n": 300}})
    >>> round(c["sigma"], 1), c["agree"], c["verdict"].band
    (7.1, True, 'meets 5-10 mas')
    """
    if not isinstance(estimates, dict):
        raise WorkbookError(f"estimates must be a dict {{name: {{'sigma', 'ci', 'n'}}}}; got {type(estimates).__name__}")
    usable = {}
    for k, v in estimates.items():
        if not v or v.get("sigma") is None or v.get("ci") is None:
            continue
        try:
            sig = float(v["sigma"])
        except (TypeError, ValueError):
            raise WorkbookError(f"method {k!r}: sigma = {v['sigma']!r} is not a number; pass the 1-sigma in mas") from None
        if not math.isfinite(sig) or sig < 0:
            raise WorkbookError(f"method {k!r}: sigma = {v['sigma']!r} is not a finite scatter >= 0 (mas); "
                                "drop the method or pass None for one that could not run")
        usable[k] = dict(v, sigma=sig, ci=_interval(v["ci"], f"method {k!r}: ci"), n=_count(v.get("n", 0), f"method {k!r}: n"))
    # a lower bound (same-visit repeatability: shared pixel grids cancel part of the error) is checked
    # against the result but can never win or be averaged in
    lower_bounds = {k: v for k, v in usable.items() if v.get("lower_bound")}
    usable_meas = {k: v for k, v in usable.items() if k not in lower_bounds}
    measured = {k: v for k, v in usable_meas.items() if v.get("pairs", True)}
    if not measured:
        measured = {k: v for k, v in usable.items() if v.get("pairs", True)}
    if not measured:
        measured = usable  # only a prediction: still report it (the verdict will say 'not verifiable')
    if not measured:
        raise WorkbookError("no method produced a usable estimate; check that at least one catalog comparison ran")
    import itertools

    best = None
    median = float(np.median([v["sigma"] for v in measured.values()]))
    names = list(measured)
    for r in range(len(names), 0, -1):
        for subset in itertools.combinations(names, r):
            part = {k: measured[k] for k in subset}
            mean, ci = _weighted(part)
            if not all(_overlaps(v["ci"], ci) for v in part.values()):
                continue  # not self-consistent
            n_agree = sum(_overlaps(v["ci"], ci) for v in usable_meas.values())
            # ties: the subset nearest the median of all measured methods, never the narrowest (= lowest)
            score = (len(part), n_agree, -abs(math.log(max(mean, 1e-6) / max(median, 1e-6))))
            if best is None or score > best[0]:
                best = (score, part, mean, ci)
    _, active, mean, ci = best
    agreeing = [k for k, v in usable_meas.items() if _overlaps(v["ci"], ci)]
    outliers = [k for k in usable_meas if k not in agreeing]
    consistent_bounds = [k for k, v in lower_bounds.items() if v["ci"][0] <= ci[1]]
    violated_bounds = [k for k in lower_bounds if k not in consistent_bounds]
    counted = [int(v.get("n", 0)) for k, v in active.items() if v.get("pairs", True)]
    n_pairs = max(counted) if counted else 0
    return {"sigma": mean, "ci": ci, "n_pairs": n_pairs, "n_methods": len(usable), "agreeing": agreeing,
            "agree": not outliers, "backed": len(agreeing) >= min_agree, "outliers": outliers,
            "lower_bounds": consistent_bounds, "violated_lower_bounds": violated_bounds,
            "verdict": verdict(mean, n_pairs, ci=ci)}
