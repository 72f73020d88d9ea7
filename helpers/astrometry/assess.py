"""Notebook 03 in functions: each method run on a workspace's catalogs, one honest line per method, the
combined verdict, and the verdict on the faint tail and on the planned targets.

The notebook calls the method functions one section at a time (:func:`gaia_method`, :func:`hsc_method`,
with :func:`helpers.astrometry.notebook.repeatability` and :func:`error_budget`) and then
:func:`precision_verdict`; :func:`assess_catalog` runs the same functions in a row (tests, the demo check
against truth, scripts). :func:`target_sigmas` finds the planned targets' per-source sigma from the corrected
target list notebook 02 wrote (``field.json`` ``extra["targets"]["corrected_path"]``).

Units: RA/Dec in degrees; sigmas and errors in mas.
"""

import math

import numpy as np

from ..errors import WorkbookError
from .budget import error_budget
from .compare import ComparisonResult, compare_catalogs
from .inputs import _col_values, _require_record, _require_table
from .notebook import _require_catalogs, as_estimate, method_line, pull_estimate, repeatability, repeatability_estimate, usable_sources
from .references import hsc_reference, select_gaia
from .tail import per_source_sigma, precision_tail
from .verdicts import combine_methods
from ..validate import require_array, require_instance, require_number

__all__ = ["gaia_method", "hsc_method", "assess_catalog", "confirmed_sources", "target_sigmas", "precision_verdict",
           "verdict_report"]


def gaia_method(cat, gaia, fit="shift+rotation+scale", max_sep=0.3, n_boot=200, clip_sigma=5.0, error_floor_mas=0.0,
                max_ruwe=1.4):
    """Method 3: the catalog against Gaia DR3 propagated to its epoch.

    Returns
    -------
    result, estimate, messages : ComparisonResult or None, dict or None, list of str
        None, None and the reason when the comparison cannot run (no Gaia table, too few stars).
    """
    if gaia is None:
        return None, None, ["no Gaia table in the archive: Method 3 skipped (run notebook 01 with Gaia enabled)"]
    usable, dropped = select_gaia(gaia, max_ruwe=max_ruwe)
    msgs = [f"Gaia stars in the field: {len(gaia)}; usable: {len(usable)} (dropped: {dropped})"]
    try:
        res = compare_catalogs(cat, usable, fit=fit, max_sep=max_sep, n_boot=n_boot, clip_sigma=clip_sigma,
                               drop_nan=True, label="Gaia DR3", error_floor_mas=error_floor_mas)
    except WorkbookError as exc:
        return None, None, msgs + [f"Gaia comparison skipped: {exc}"]
    return res, as_estimate(res, cat, error_floor_mas=error_floor_mas), msgs


def hsc_method(cat, hsc, fit="shift+rotation+scale", max_sep=0.3, n_boot=200, clip_sigma=5.0, error_floor_mas=0.0,
               hsc_sigma_mas=None):
    """Method 4: the catalog against the Hubble Source Catalog v3 (error of the mean removed).

    Returns
    -------
    result, estimate, messages : as :func:`gaia_method`.
    """
    if hsc is None:
        return None, None, ["no HSC table in the archive: Method 4 skipped"]
    ref = hsc_reference(hsc)
    try:
        res = compare_catalogs(cat, ref, fit=fit, max_sep=max_sep, n_boot=n_boot, clip_sigma=clip_sigma, drop_nan=True,
                               ref_err=hsc_sigma_mas if hsc_sigma_mas is not None else "auto", label="HSC v3",
                               error_floor_mas=error_floor_mas)
    except WorkbookError as exc:
        return None, None, [f"HSC comparison skipped: {exc}"]
    return res, as_estimate(res, cat, error_floor_mas=error_floor_mas), []


def assess_catalog(catalogs, name, gaia=None, hsc=None, fit="shift+rotation+scale", max_sep=0.3, n_boot=200,
                   clip_sigma=5.0, error_floor_mas=0.0, max_epoch_gap=1.0, gaia_max_ruwe=1.4, hsc_sigma_mas=None,
                   injection=None, injection_exposures=None):
    """Methods 1-4 of notebook 03 on ``catalogs[name]`` (usable sources only) and their combination.

    Parameters
    ----------
    catalogs : dict
        ``{name: source catalog}`` of the field (notebook 02), the one assessed included.
    name : str
    gaia, hsc : `~astropy.table.Table`, optional
        Reference catalogs as notebook 01 saved them.
    fit, max_sep, n_boot, clip_sigma, error_floor_mas, max_epoch_gap, gaia_max_ruwe, hsc_sigma_mas
        As the notebook's parameters.
    injection : dict, optional
        Method 5 already run: :func:`helpers.astrometry.injection_on_image`'s result (its pulls are then applied
        to the same sources as the other methods) or an estimate dict.
    injection_exposures : dict, optional
        :func:`helpers.astrometry.injection_on_exposures`' result: the pulls of the joint fit on the exposures,
        applied to the sources whose positions it gave (without it those keep their own errors).

    Returns
    -------
    out : dict
        ``estimates`` ({method: estimate}), ``comparisons`` ({label: ComparisonResult}), ``budget``,
        ``repeatability``, ``combined`` (:func:`combine_methods`), ``lines`` (one per method,
        :func:`method_line`), ``messages``, ``catalog`` (the usable sources), ``select`` (the confirmed ones
        among them, :func:`confirmed_sources`, or None for all).
    """
    _require_catalogs(catalogs, name)
    require_number(n_boot, "n_boot", minimum=0, integer=True, example=200)
    for label, ref in (("gaia", gaia), ("hsc", hsc)):
        if ref is not None:
            _require_table(ref, label)
    usable = {k: v[usable_sources(v)] for k, v in catalogs.items()}
    cat = usable[name]
    kw = dict(fit=fit, max_sep=max_sep, n_boot=n_boot, clip_sigma=clip_sigma, error_floor_mas=error_floor_mas)
    estimates, comparisons, messages = {}, {}, []
    rep = repeatability(usable, name, max_epoch_gap=max_epoch_gap, **kw)
    comparisons.update({f"repeatability vs {k}": r for k, r in rep["results"].items()})
    messages += rep["notes"]
    for label, (res, _, msgs) in (("Gaia DR3", gaia_method(cat, gaia, max_ruwe=gaia_max_ruwe, **kw)),
                                  ("HSC v3", hsc_method(cat, hsc, hsc_sigma_mas=hsc_sigma_mas, **kw))):
        messages += msgs
        if res is not None:
            comparisons[label] = res
    select, msg = confirmed_sources(cat, comparisons, rep)
    if msg:
        messages.append(msg)
    budget = error_budget(cat if select is None else cat[select], n_boot=n_bootstrap_or(n_boot),
                          error_floor_mas=error_floor_mas)
    estimates["1 error budget"] = as_estimate(budget)
    estimates["2 repeatability"] = repeatability_estimate(rep, usable, name, select=select,
                                                          error_floor_mas=error_floor_mas)
    for key, label in (("3 Gaia DR3", "Gaia DR3"), ("4 HSC v3", "HSC v3")):
        if label in comparisons:
            estimates[key] = as_estimate(comparisons[label], cat, select=select, error_floor_mas=error_floor_mas)
    if injection is not None and "estimate" in injection:  # injection_on_image's result: on the same sources
        pulls = [injection["injection"]] + ([injection_exposures] if injection_exposures is not None else [])
        injection = (pull_estimate(pulls, cat if select is None else cat[select], error_floor_mas=error_floor_mas)
                     if pulls[0].get("pull") is not None else injection["estimate"])
    if injection is not None:
        estimates["5 injection-recovery"] = injection
    combined = combine_methods(estimates)
    lines = [method_line(k, v) for k, v in estimates.items()]
    return {"estimates": estimates, "comparisons": comparisons, "budget": budget, "repeatability": rep,
            "combined": combined, "lines": lines, "messages": messages, "catalog": cat, "select": select}


def n_bootstrap_or(n_boot):
    """The error budget's bootstrap draws: the comparisons' ``n_boot`` (0 is allowed there)."""
    return int(n_boot) if n_boot else 0


def confirmed_sources(cat, comparisons, rep=None, min_sources=30):
    """Sources of ``cat`` that another catalog or reference confirms (matched in a comparison or the hat).

    A detection seen in no other catalog cannot be checked, and is often spurious (noise peaks, fragments of
    galaxies, diffraction spikes), with large reported errors that would inflate the catalog's typical
    sigma; the verdict is about the confirmed sources and the rest is said in one line.

    Returns
    -------
    select, message : ndarray of bool or None, str or None
        None, None when every source is confirmed or fewer than ``min_sources`` are (then nothing is left out).
    """
    _require_table(cat, "cat")
    require_instance(comparisons, dict, "comparisons", "pass {label: ComparisonResult}")
    for key, res in comparisons.items():
        require_instance(res, ComparisonResult, f"comparisons[{key!r}]", "pass what compare_catalogs returned")
        if len(res.pairs) and np.max(np.asarray(res.pairs["idx_cat"], int)) >= len(cat):
            raise WorkbookError(f"comparisons[{key!r}] matched rows beyond the {len(cat)} of cat; pass the catalog "
                                "that comparison was made with")
    min_sources = require_number(min_sources, "min_sources", minimum=0, integer=True, example=30)
    seen = np.zeros(len(cat), bool)
    for res in comparisons.values():
        seen[np.asarray(res.pairs["idx_cat"], int)] = True
    hat = (rep or {}).get("hat")
    if hat is not None and rep.get("trio"):
        seen[np.asarray(hat["idx"][rep["trio"][0]], int)] = True
    if seen.all() or seen.sum() < min_sources:
        return None, None
    n_out = int((~seen).sum())
    return seen, (f"{n_out} of {len(cat)} usable sources have no counterpart in any other catalog or reference "
                  "(spurious, or seen only in this image): the verdict is on the other "
                  f"{int(seen.sum())}; those {n_out} are unverified")


def target_sigmas(targets, cat, calibration, judged_against=None, name=None, max_sep=0.3):
    """Per-target sigma (mas) of the planned targets: the image source each target was matched to, with its
    reported errors times the measured calibration.

    Parameters
    ----------
    targets : `~astropy.table.Table`
        The corrected target list (notebook 02's ``targets_corrected.ecsv``: ``ra``, ``dec``, ``image_row``,
        ``id`` when present).
    cat : `~astropy.table.Table`
        The whole image catalog (all rows, as notebook 02 wrote it) with ``ra_err``, ``dec_err``.
    calibration : (float, float)
        Measured / reported error ratio per axis.
    judged_against, name : str, optional
        The catalog the targets were matched to and the one assessed; when they are the same the recorded
        ``image_row`` is used, otherwise targets are matched to ``cat`` by position within ``max_sep``.
    max_sep : float
        arcsec.

    Returns
    -------
    sigma, ids : ndarray, ndarray
        NaN for targets without a counterpart.
    """
    import astropy.units as u

    _require_table(targets, "targets")
    _require_table(cat, "cat", ("ra_err", "dec_err"))
    if len(require_array(calibration, "calibration", what="error ratios")) != 2:
        raise WorkbookError(f"calibration = {calibration!r:.40} is not two ratios; give (k_ra, k_dec)")
    n = len(targets)
    ids = np.asarray(targets["id"]) if "id" in targets.colnames else np.arange(1, n + 1)
    sig_all = per_source_sigma(_col_values(cat, "ra_err", u.mas), _col_values(cat, "dec_err", u.mas), calibration)
    if "image_row" in targets.colnames and judged_against is not None and judged_against == name:
        rows = np.asarray(targets["image_row"], int)
    else:
        from .matching import match

        rows = np.full(n, -1)
        try:
            pairs = match(targets, cat, max_sep=max_sep, drop_nan=True)
            rows[np.asarray(pairs["idx_cat"])] = np.asarray(pairs["idx_ref"])
        except WorkbookError:
            pass  # no target has a counterpart: all NaN, said by the caller
    ok = (rows >= 0) & (rows < len(cat))
    sigma = np.full(n, np.nan)
    sigma[ok] = sig_all[rows[ok]]
    return sigma, ids


def precision_verdict(combined, cat, budget, cfg=None, name=None, select=None, goal_mas=10.0, targets=None,
                      target_catalog=None):
    """The verdict on the typical sigma and on the tail: fractions of sources (and of planned targets) at
    <= 5 / 10 / 15 mas, the targets failing the goal, and one sentence stating both median and tail.

    The per-source sigma is the reported error times ``k = combined sigma / error-budget sigma`` (the methods'
    calibration of the reported errors: both are Gaussian-equivalent MADs of the same per-source errors).

    Parameters
    ----------
    combined : dict
        From :func:`combine_methods`.
    cat : `~astropy.table.Table`
        The whole image catalog assessed (all rows; ``select`` marks the usable ones).
    budget : dict
        :func:`error_budget` of the usable sources.
    cfg : `helpers.config.FieldConfig`, optional
        Its ``extra["targets"]["corrected_path"]`` (notebook 02) gives the planned targets.
    name : str, optional
        The catalog's name (to use the target list's recorded image rows when it was judged against it).
    select : array of bool, optional
    goal_mas : float
    targets : `~astropy.table.Table`, optional
        A target list to use instead of the field's.
    target_catalog : `~astropy.table.Table`, optional
        The catalog whose rows the target list's ``image_row`` refers to (notebook 02's whole catalog, before
        the usable-source cut); default ``cat``.

    Returns
    -------
    out : dict
        ``tail`` (:class:`PrecisionTail`), ``k`` (calibration), ``sentence`` (verdict + tail),
        ``failing_targets`` (ids), ``messages``.
    """
    import astropy.units as u

    _require_record(combined, "combined", ("sigma", "verdict"), "combine_methods")
    _require_table(cat, "cat", ("ra_err", "dec_err"))
    _require_record(budget, "budget", ("sigma_1d",), "error_budget")
    goal_mas = require_number(goal_mas, "goal_mas", minimum=0.0, example=10.0)
    if targets is not None:
        _require_table(targets, "targets")
    k = float(combined["sigma"]) / max(float(budget["sigma_1d"]), 1e-9)
    sel = np.ones(len(cat), bool) if select is None else np.asarray(select, bool)
    sig = per_source_sigma(_col_values(cat, "ra_err", u.mas), _col_values(cat, "dec_err", u.mas), (k, k))[sel]
    messages, judged_against = [], None
    if targets is None and cfg is not None:
        rec = (cfg.extra or {}).get("targets") or {}
        path = rec.get("corrected_path")
        if path:
            from pathlib import Path

            from astropy.table import Table

            if Path(path).exists():
                targets = Table.read(path, format="ascii.ecsv")
                judged_against = targets.meta.get("judged_against", rec.get("image"))
            else:
                messages.append(f"target list {path} recorded by notebook 02 is missing: targets not judged "
                                "(re-run notebook 02)")
    tsig = tids = None
    if targets is not None:
        tsig, tids = target_sigmas(targets, cat if target_catalog is None else target_catalog, (k, k),
                                   judged_against=judged_against, name=name)
        if np.isnan(tsig).all():
            messages.append(f"none of the {len(targets)} planned targets has a counterpart in {name or 'the catalog'}: "
                            "their sigma is unknown")
    tail = precision_tail(sig, target_sigma_mas=tsig, target_ids=tids, goal_mas=goal_mas)
    v = combined["verdict"]
    sentence = f"{v.sentence} Tail: {tail.sentence}"
    if tail.failing_targets:
        shown = ", ".join(str(t) for t in tail.failing_targets[:10])
        more = "" if len(tail.failing_targets) <= 10 else f" and {len(tail.failing_targets) - 10} more"
        messages.append(f"targets failing the {goal_mas:g} mas goal: {shown}{more}")
    if not math.isfinite(k):
        raise WorkbookError("the error budget is zero or undefined; the catalog's ra_err/dec_err are needed")
    return {"tail": tail, "k": k, "sentence": sentence, "failing_targets": list(tail.failing_targets),
            "messages": messages}


def verdict_report(combined, estimates, judged=None):
    """The verdict section's text: one line per method, the verdict sentence with its tail, which methods
    agree, which were set aside and which lower bounds were checked.

    Parameters
    ----------
    combined : dict
        From :func:`combine_methods`.
    estimates : dict
        The methods' estimates.
    judged : dict, optional
        From :func:`precision_verdict` (its sentence replaces the bare verdict's, its messages follow).

    Returns
    -------
    str
    """
    _require_record(combined, "combined", ("verdict", "agreeing", "n_methods", "backed", "outliers"), "combine_methods")
    require_instance(estimates, dict, "estimates", "pass {method: estimate dict}")
    if judged is not None:
        _require_record(judged, "judged", ("sentence", "messages"), "precision_verdict")
    lines = [method_line(k, v) for k, v in estimates.items()]
    lines += ["", judged["sentence"] if judged else combined["verdict"].sentence]
    lines += list(judged["messages"]) if judged else []
    lines.append(f"{len(combined['agreeing'])} of {combined['n_methods']} methods agree within their intervals: "
                 f"{', '.join(combined['agreeing'])}"
                 + ("" if combined["backed"] else " -- fewer than 3: treat the verdict as provisional"))
    if combined["outliers"]:
        lines.append(f"set aside (interval misses the combined one): {', '.join(combined['outliers'])}")
    if combined.get("lower_bounds"):
        lines.append(f"lower bounds below the verdict, as they should be: {', '.join(combined['lower_bounds'])}")
    if combined.get("violated_lower_bounds"):
        lines.append(f"lower bounds ABOVE the verdict (the verdict is too optimistic, or the bound is not one): "
                     f"{', '.join(combined['violated_lower_bounds'])}")
    return "\n".join(lines)
