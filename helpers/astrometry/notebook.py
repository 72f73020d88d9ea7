"""Notebook 03 glue: what ``03_astrometric_precision`` calls to load its inputs, run the methods on
the workspace's catalogs and images, and record and save its result.

:func:`load_inputs` reads the source catalogs and reference catalogs of the workspace;
:func:`usable_sources` selects the sources that count; :func:`repeatability` (method 2 on a set
of catalogs) and :func:`injection_on_image` (method 5 on the catalog's own image, with
:func:`read_image` and :func:`injection_psf`) run the methods; :func:`as_estimate` turns each
result into one per-catalog sigma for :func:`helpers.astrometry.verdicts.combine_methods`;
:func:`pick_comparison` and :func:`reference_share` choose and describe what is shown;
:func:`summary_record` is what the notebook stores in ``cfg.extra['astrometry']`` (read by 05)
and :func:`write_summary` writes ``catalogs/astrometry_summary.json``.

Units: RA/Dec in degrees; sigmas and errors in mas.
"""

import json
import math

import numpy as np

from ..errors import WorkbookError
from .budget import catalog_equivalent, error_budget
from .compare import _ASSUMPTION, ComparisonResult, _catalog_epoch, compare_catalogs
from .inputs import _col_values, _require_record, _require_table
from .stats import _ci, _mixture_sigma
from .threecorner import three_cornered_hat
from ..validate import require_instance, require_number
# method 5 (injection-recovery) lives in .method5; re-exported here, where notebook 03 and older code find it
from .method5 import (INJECTION_MIN_COVERAGE, JOINT_FIT_METHOD, _ProductCutout, exposure_injection,  # noqa: F401
                      injection_coverage, injection_on_image, injection_psf, pull_estimate, read_image)

__all__ = [
    "load_inputs",
    "usable_sources",
    "as_estimate",
    "repeatability",
    "same_visit",
    "repeatability_estimate",
    "method_line",
    "injection_on_image",
    "exposure_injection",
    "pull_estimate",
    "injection_coverage",
    "INJECTION_MIN_COVERAGE",
    "JOINT_FIT_METHOD",
    "pick_comparison",
    "reference_share",
    "summary_record",
    "read_image",
    "injection_psf",
    "write_summary",
]


# --------------------------------------------------------------------------- notebook 03 plumbing
def load_inputs(cfg):
    """Everything notebook 03 reads from the workspace, tolerating what is missing.

    Parameters
    ----------
    cfg : `helpers.config.FieldConfig`

    Returns
    -------
    inputs : dict
        ``catalogs`` ({name: Table}, best image first, from ``catalogs/sources_*.ecsv``),
        ``images`` ({name: image dict from ``cfg.extra['images']`` or None}), ``gaia``, ``hsc``
        (Tables or None, from ``archive/gaia.ecsv`` / ``hsc.ecsv``), ``messages`` (what was found
        or is missing, one line each).

    Raises
    ------
    WorkbookError
        No source catalog at all (run notebook 02 first).
    """
    from ..config import FieldConfig
    require_instance(cfg, FieldConfig, "cfg", "load it with helpers.config.load_field(field, workspace_root)")
    from pathlib import Path
    from astropy.table import Table

    cat_dir, arch = cfg.subdir("catalogs"), cfg.subdir("archive")
    paths = sorted(cat_dir.glob("sources_*.ecsv"))
    if not paths:
        raise WorkbookError(f"no source catalogs (sources_*.ecsv) in {cat_dir}; run notebook 02 (02_extract_sources) first")
    images = list((cfg.extra or {}).get("images") or [])
    msgs = []

    def image_for(path, cat):
        keys = {path.stem[len("sources_"):], str(cat.meta.get("image", ""))}
        for im in images:
            names = {str(im.get("product_id", "")), Path(str(im.get("path", ""))).stem}
            if keys & names or any(k and k in n for k in keys for n in names if n):
                return im
        return None

    found = []
    for path in paths:
        try:
            cat = Table.read(path, format="ascii.ecsv")
        except Exception as exc:  # a corrupt file should not stop the other methods
            msgs.append(f"skipped {path.name}: unreadable ({exc.__class__.__name__}); re-run notebook 02")
            continue
        im = image_for(path, cat)
        rank = im.get("rank", 99) if im else 99
        found.append((rank, path.stem[len("sources_"):], cat, im))
    found.sort(key=lambda t: t[0])
    catalogs = {name: cat for _, name, cat, _ in found}
    imgs = {name: im for _, name, _, im in found}
    for name, cat in catalogs.items():
        msgs.append(f"catalog {name}: {len(cat)} sources, {cat.meta.get('instrument')} {cat.meta.get('filter')}, "
                    f"epoch {cat.meta.get('epoch')}")
    refs = {}
    for key, fname in (("gaia", "gaia.ecsv"), ("hsc", "hsc.ecsv")):
        path = arch / fname
        refs[key] = None
        if path.exists():
            try:
                refs[key] = Table.read(path, format="ascii.ecsv")
                msgs.append(f"reference {fname}: {len(refs[key])} rows")
            except Exception as exc:
                msgs.append(f"reference {fname} unreadable ({exc.__class__.__name__}): that section is skipped")
        else:
            msgs.append(f"reference {fname} absent (notebook 01 did not fetch it): that section is skipped")
    return {"catalogs": catalogs, "images": imgs, "gaia": refs["gaia"], "hsc": refs["hsc"], "messages": msgs}


def usable_sources(cat):
    """Sources that count for the catalog's scatter: finite errors, not saturated (flag 1) and
    no failed PSF fit (flag 16)."""
    _require_table(cat, "cat")
    ok = np.ones(len(cat), bool)
    if "flags" in cat.colnames:
        ok &= (np.asarray(cat["flags"], int) & (1 | 16)) == 0
    for c in ("ra_err", "dec_err"):
        if c in cat.colnames:
            ok &= np.isfinite(_col_values(cat, c))
    return ok


def as_estimate(obj, cat=None, select=None, label=None, error_floor_mas=0.0):
    """One method's per-catalog sigma as ``{"sigma", "ci", "n", "raw_sigma", "raw_ci", "factor", "what"}``.

    Comparison results are scaled from their matched sources to the whole catalog with
    :func:`catalog_equivalent` when ``cat`` is given.

    Parameters
    ----------
    obj : ComparisonResult, dict from :func:`error_budget`, or dict from :func:`three_cornered_hat`
        (then ``label`` names the catalog), or ``{"sigma", "ci", "n"}``.
    cat : Table, optional
    select : array of bool, optional
    label : str, optional
    """
    if obj is None:
        return None
    if not isinstance(obj, ComparisonResult):
        _require_record(obj, "obj", (), "compare_catalogs, error_budget, three_cornered_hat or a method")
    if cat is not None:
        _require_table(cat, "cat")
    subset, pairs = None, True
    if isinstance(obj, ComparisonResult):
        sigma, ci, n = obj.sigma, obj.sigma_ci, obj.n_pairs
        subset = np.asarray(obj.pairs["idx_cat"])
        what = obj.cat_method
        chance = f", {100 * obj.mixture_diff.outlier_fraction:.0f}% chance pairs set aside" if obj.mixture_diff else ""
        measured = (f"differences {obj.sigma_diff_1d:.2f} mas (1-D, {obj.headline} of {obj.n_pairs} pairs{chance})")
        assumption = _ASSUMPTION[obj.cat_method]
    elif isinstance(obj, dict) and "n_triples" in obj:
        sigma, ci, n = obj["sigma_1d"][label], obj["sigma_1d_ci"][label], obj["n_triples"]
        subset, what = obj.get("idx", {}).get(label), "three-cornered hat"
        measured = f"pairwise differences of {obj['n_triples']} sources in all three catalogs"
        assumption = "the three catalogs' errors are independent (sigma_A^2 = (D_AB + D_AC - D_BC) / 2)"
    elif isinstance(obj, dict) and "by_snr" in obj and "calibration" in obj:
        sigma, ci, n, what = obj["sigma_1d"], obj["sigma_1d_ci"], obj["n"], "reported errors"
        pairs = False
        measured = f"nothing (a prediction from the reported errors of {obj['n']} sources)"
        assumption = "the extraction's reported errors are right"
    else:
        _require_record(obj, "obj", ("sigma", "ci"), "a method (a dict with sigma and ci)")
        sigma, ci, n, what = obj["sigma"], obj["ci"], obj.get("n", 0), obj.get("what", "")
        measured, assumption = obj.get("measured", what), obj.get("assumption", "")
    out = {"sigma": float(sigma), "ci": tuple(map(float, ci)), "n": int(n), "raw_sigma": float(sigma),
           "raw_ci": tuple(map(float, ci)), "factor": 1.0, "what": what, "pairs": pairs, "measured": measured,
           "assumption": assumption}
    calib = getattr(obj, "calibration", None)
    if cat is not None and calib is not None and "ra_err" in cat.colnames and "dec_err" in cat.colnames:
        # the comparison calibrated the reported errors: the whole catalog's scatter is k x its budget
        import astropy.units as u

        sel = np.ones(len(cat), bool) if select is None else np.asarray(select, bool)
        ex = np.hypot(_col_values(cat, "ra_err", u.mas), error_floor_mas)
        ey = np.hypot(_col_values(cat, "dec_err", u.mas), error_floor_mas)
        ok = sel & np.isfinite(ex) & np.isfinite(ey) & (ex > 0) & (ey > 0)
        if ok.sum() >= 3:
            rng = np.random.default_rng(0)
            idx = np.flatnonzero(ok)
            idx = idx if idx.size <= 5000 else rng.choice(idx, 5000, replace=False)
            mx, my = float(_mixture_sigma(ex[idx])), float(_mixture_sigma(ey[idx]))
            s2 = math.sqrt(0.5 * ((calib[0] * mx) ** 2 + (calib[1] * my) ** 2))
            b2 = np.sqrt(0.5 * ((obj.boot["kx"] * mx) ** 2 + (obj.boot["ky"] * my) ** 2))
            out.update(sigma=float(s2), ci=_ci(b2), factor=float(s2 / sigma) if sigma else 1.0)
            return out
    if cat is not None and subset is not None:
        s2, c2, f = catalog_equivalent(sigma, ci, cat, subset, select=select, error_floor_mas=error_floor_mas)
        out.update(sigma=float(s2), ci=tuple(map(float, c2)), factor=float(f))
    return out


def _require_catalogs(catalogs, main):
    """Refuse anything but ``{name: Table}`` holding ``main``, in one line."""
    require_instance(catalogs, dict, "catalogs", "pass {name: source catalog Table}")
    for key, cat in catalogs.items():
        _require_table(cat, f"catalogs[{key!r}]")
    if not isinstance(main, str) or main not in catalogs:
        raise WorkbookError(f"main = {main!r:.40} is not among the catalogs {sorted(catalogs)}; pass one of their names")


def _static_view(cat, keep_kinds=("extended", "galaxy")):
    """Rows of ``cat`` that do not move (galaxies) and their original indices."""
    if "kind" not in cat.colnames:
        return cat, np.arange(len(cat))
    kinds = np.char.lower(np.asarray(cat["kind"]).astype(str))
    idx = np.flatnonzero(np.isin(kinds, keep_kinds))
    return cat[idx], idx


def same_visit(a, b, max_days=1.0):
    """Whether two catalogs look like the same visit on one pixel grid (their differences then cancel the
    shared pixel-grid, distortion and drizzle errors, so repeatability is a lower bound).

    Both ``meta['epoch']`` known and within ``max_days``, and the same instrument and pixel scale (to 1%)
    where recorded; ``meta['visit']``, when both carry it, decides alone.

    Parameters
    ----------
    a, b : `~astropy.table.Table`
    max_days : float

    Returns
    -------
    bool
    """
    _require_table(a, "a")
    _require_table(b, "b")
    max_days = require_number(max_days, "max_days", minimum=0.0, example=1.0)
    ma, mb = getattr(a, "meta", {}) or {}, getattr(b, "meta", {}) or {}
    if ma.get("visit") is not None and mb.get("visit") is not None:
        return str(ma["visit"]) == str(mb["visit"])
    ta, tb = _catalog_epoch(a, None, "a"), _catalog_epoch(b, None, "b")
    if ta is None or tb is None or abs(ta - tb) * 365.25 > max_days:
        return False
    ia, ib = str(ma.get("instrument") or "").upper(), str(mb.get("instrument") or "").upper()
    if ia and ib and ia != ib:
        return False
    try:
        pa, pb = float(ma.get("pixel_scale")), float(mb.get("pixel_scale"))
        if abs(pa - pb) > 0.01 * max(pa, pb):
            return False
    except (TypeError, ValueError):
        pass
    return True


def repeatability(catalogs, main, fit="shift+rotation+scale", max_sep=0.3, n_boot=200, clip_sigma=5.0,
                  max_epoch_gap=1.0, select=None, error_floor_mas=0.0):
    """Method 2 on a set of catalogs of the same field: pairwise comparisons with the main catalog
    (equal-catalog assumption) and, with three or more catalogs, the three-cornered hat.

    Catalogs whose epochs differ from the main one by more than ``max_epoch_gap`` years are
    compared on extended sources only (``kind == 'extended'``): galaxies do not move, stars do.

    Parameters
    ----------
    catalogs : dict
        ``{name: Table}`` including ``main``.
    main : str
    fit, max_sep, n_boot, clip_sigma
        As in :func:`compare_catalogs`.
    max_epoch_gap : float
        Years.
    select : array of bool, optional
        Usable rows of the main catalog (for scaling to the whole catalog).
    error_floor_mas : float
        Systematic floor added to the reported errors (see :func:`compare_catalogs`).

    Returns
    -------
    out : dict
        ``results`` ({other: ComparisonResult}), ``hat`` (dict or None), ``estimate``
        (:func:`as_estimate` of the best available: the hat, else the largest pairwise
        comparison; ``lower_bound`` True when it rests on a pair from the same visit, see
        :func:`same_visit`), ``same_visit`` (names of the other catalogs sharing the main one's visit),
        ``notes`` (list of str).
    """
    _require_catalogs(catalogs, main)
    cat = catalogs[main]
    others = [k for k in catalogs if k != main]
    notes, results = [], {}
    t0 = _catalog_epoch(cat, None, main)

    def view(name):
        t = _catalog_epoch(catalogs[name], None, name)
        if t0 is not None and t is not None and abs(t - t0) > max_epoch_gap:
            return True, t
        return False, t

    for other in others:
        moving, t = view(other)
        a, ia = _static_view(cat) if moving else (cat, np.arange(len(cat)))
        b, _ = _static_view(catalogs[other]) if moving else (catalogs[other], None)
        if moving:
            notes.append(f"{other}: epoch {t:g} vs {t0:g}; compared on {len(a)} extended sources only (stars move)")
        try:
            res = compare_catalogs(a, b, fit=fit, max_sep=max_sep, equal=True, ref_err="auto", n_boot=n_boot,
                                   clip_sigma=clip_sigma, drop_nan=True, label=f"{main} vs {other}",
                                   error_floor_mas=error_floor_mas)
        except WorkbookError as exc:
            notes.append(f"{other}: skipped ({exc})")
            continue
        res.pairs["idx_cat"] = ia[np.asarray(res.pairs["idx_cat"])]
        results[other] = res
    hat = None
    if len(others) >= 2:
        trio = [main] + sorted(others, key=lambda k: -(results[k].n_pairs if k in results else 0))[:2]
        moving = any(view(k)[0] for k in trio[1:])
        views = [(_static_view(catalogs[k]) if moving else (catalogs[k], np.arange(len(catalogs[k])))) for k in trio]
        try:
            hat = three_cornered_hat([v[0] for v in views], labels=trio, max_sep=max_sep, fit=fit, n_boot=n_boot,
                                     clip_sigma=clip_sigma)
            hat["idx"] = {k: views[j][1][hat["idx"][k]] for j, k in enumerate(trio)}
            if moving:
                notes.append("three-cornered hat on extended sources only (the catalogs span several epochs)")
        except WorkbookError as exc:
            notes.append(f"three-cornered hat skipped ({exc})")
            hat = None
    rep = {"results": results, "hat": hat, "trio": trio if hat is not None else None,
           "same_visit": [k for k in others if same_visit(cat, catalogs[k])], "notes": notes}
    rep["estimate"] = repeatability_estimate(rep, catalogs, main, select=select, error_floor_mas=error_floor_mas)
    grid = rep["estimate"].get("same_visit_pairs") if rep["estimate"] else None
    if grid:
        notes.append(f"repeatability rests on same-visit catalogs ({', '.join(f'{a}/{b}' for a, b in grid)}): "
                     "flagged as a lower bound, checked against the verdict but not averaged into it")
    return rep


def repeatability_estimate(rep, catalogs, main, select=None, error_floor_mas=0.0):
    """The per-catalog estimate of a :func:`repeatability` result (the hat, else the largest pairwise
    comparison), scaled to ``catalogs[main][select]``; flagged ``lower_bound`` (with ``same_visit_pairs``)
    when it rests on catalogs of one visit (:func:`same_visit`). None when nothing could be compared."""
    _require_record(rep, "rep", ("results", "hat"), "repeatability(catalogs, main)")
    _require_catalogs(catalogs, main)
    cat, results, hat = catalogs[main], rep["results"], rep["hat"]
    if hat is not None:
        est = as_estimate(hat, cat, select, label=main, error_floor_mas=error_floor_mas)
        est["what"] = "three-cornered hat"
        trio = rep["trio"]
        pairs_used = [(a, b) for j, a in enumerate(trio) for b in trio[j + 1:]]
    elif results:
        best = max(results, key=lambda k: results[k].n_pairs)
        est = as_estimate(results[best], cat, select, error_floor_mas=error_floor_mas)
        est["what"] = "two catalogs assumed equally precise"
        pairs_used = [(main, best)]
    else:
        return None
    grid = [(a, b) for a, b in pairs_used if same_visit(catalogs[a], catalogs[b])]
    if grid:
        est["lower_bound"] = True
        est["same_visit_pairs"] = grid
        est["assumption"] += ("; " + ", ".join(f"{a} and {b}" for a, b in grid) + " look like one visit (same epoch, "
                              "instrument and pixel scale): errors they share (pixel grid, distortion, drizzling) "
                              "cancel in their differences, so this is a lower bound")
    return est


def method_line(name, estimate):
    """One honest line for a method: what was measured, what was inferred for the catalog alone and under which
    assumption, and the number that enters the verdict (the same one :func:`combine_methods` weighs).

    Parameters
    ----------
    name : str
        The method's key (e.g. ``"3 Gaia DR3"``).
    estimate : dict or None
        From :func:`as_estimate` (or a method's ``estimate``); None for a method that could not run.

    Returns
    -------
    str
    """
    if estimate is None:
        return f"{name}: did not run"
    require_instance(estimate, dict, "estimate", "pass as_estimate's result (a dict), or None for a method that did not run")
    if not estimate:
        return f"{name}: did not run"
    if estimate.get("sigma") is None and estimate.get("note"):
        return f"{name}: {estimate['note']}"  # ran, but measured none of the sources the verdict is about
    _require_record(estimate, "estimate", ("sigma", "ci"), "as_estimate (a dict with sigma and ci)")
    lo, hi = estimate["ci"]
    line = f"{name}: measured {estimate.get('measured') or estimate.get('what', '')}"
    raw = estimate.get("raw_sigma", estimate["sigma"])
    if estimate.get("assumption"):
        line += f"; catalog alone {raw:.2f} mas assuming {estimate['assumption']}"
    factor = estimate.get("factor", 1.0)
    if abs(factor - 1.0) > 0.005:
        line += f"; scaled x{factor:.2f} from the matched sources to the whole catalog"
    if estimate.get("lower_bound"):
        return line + f" -> LOWER BOUND {estimate['sigma']:.2f} [{lo:.2f}, {hi:.2f}] mas (checked, not averaged in)"
    if estimate.get("pairs", True) is False:
        return line + f" -> {estimate['sigma']:.2f} [{lo:.2f}, {hi:.2f}] mas (a prediction: checked, not counted)"
    return line + f" -> {estimate['sigma']:.2f} [{lo:.2f}, {hi:.2f}] mas enters the verdict"


def pick_comparison(comparisons, combined=None):
    """The comparison to show: the one with most pairs among the methods that agree (if known).

    Parameters
    ----------
    comparisons : dict
        ``{name: ComparisonResult}``; names like ``"Gaia DR3"``, ``"HSC v3"``,
        ``"repeatability vs <image>"``.
    combined : dict, optional
        From :func:`combine_methods` (its ``agreeing`` method names, e.g. ``"3 Gaia DR3"``).

    Returns
    -------
    name, result : str, ComparisonResult (None, None if there is none)
    """
    if not comparisons:
        return None, None
    require_instance(comparisons, dict, "comparisons", "pass {name: ComparisonResult}")
    for key, res in comparisons.items():
        require_instance(res, ComparisonResult, f"comparisons[{key!r}]", "pass what compare_catalogs returned")
    if combined is not None:
        _require_record(combined, "combined", (), "combine_methods")
    agreeing = " | ".join(combined.get("agreeing", [])) if combined else ""

    def agrees(name):
        key = "repeatability" if name.startswith("repeatability") else name
        return key in agreeing

    pool = {k: v for k, v in comparisons.items() if agrees(k)} or comparisons
    name = max(pool, key=lambda k: pool[k].n_pairs)
    return name, pool[name]


def reference_share(result):
    """Fraction (0-1) of the variance of the differences that the reference's own errors explain."""
    if not isinstance(result, ComparisonResult):
        raise WorkbookError(f"result is a {type(result).__name__}, not a ComparisonResult; pass what compare_catalogs returned")
    if not result.ref_sigma_rms:
        return 0.0
    num = sum(e * e for e in result.ref_sigma_rms)
    den = sum(s * s for s in result.sigma_diff)
    return float(min(num / den, 1.0)) if den > 0 else 0.0


def summary_record(catalog_name, combined, estimates, extra=None):
    """The small JSON-ready record notebook 03 stores in ``cfg.extra['astrometry']`` (read by 05).

    Returns
    -------
    record : dict
        ``catalog, sigma_mas, ci, verdict`` (band), ``sentence, n_pairs, agree, methods``
        ({name: {sigma_mas, ci, n, what}}).
    """
    _require_record(combined, "combined", ("verdict", "sigma", "ci", "n_pairs", "agree", "outliers"), "combine_methods")
    require_instance(estimates, dict, "estimates", "pass {method: estimate dict}")
    for key, est in estimates.items():
        if est:
            _require_record(est, f"estimates[{key!r}]", ("sigma", "ci", "n"), "as_estimate")
    v = combined["verdict"]
    rec = {"catalog": catalog_name, "sigma_mas": round(float(combined["sigma"]), 3),
           "ci": [round(float(c), 3) for c in combined["ci"]], "verdict": v.band, "sentence": v.sentence,
           "n_pairs": int(combined["n_pairs"]), "agree": bool(combined["agree"]),
           "backed": bool(combined.get("backed", False)), "agreeing": list(combined.get("agreeing", [])),
           "outliers": list(combined["outliers"]),
           "methods": {k: _method_record(e) for k, e in estimates.items() if e}}
    if extra:
        rec.update(_jsonable(extra))
    return json.loads(json.dumps(rec))


def _method_record(e):
    """One method's entry in the summary: its number, or (it measured none of the sources) its note."""
    if e["sigma"] is None:
        return {"sigma_mas": None, "ci": None, "n": e["n"], "what": e.get("what", ""), "note": e.get("note", "")}
    rec = {"sigma_mas": round(e["sigma"], 3), "ci": [round(c, 3) for c in e["ci"]], "n": e["n"],
           "what": e.get("what", "")}
    if "n_covered" in e:  # method 5: the sources its pulls calibrated
        rec.update(n_covered=int(e["n_covered"]), n_sources=int(e["n_sources"]), counted=e.get("pairs", True))
    return rec


# --------------------------------------------------------------------------- saving
def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items() if k not in ("boot", "idx")}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return round(v, 4) if math.isfinite(v) else None
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if hasattr(obj, "to_dict"):
        return _jsonable(obj.to_dict())
    if hasattr(obj, "summary"):
        return _jsonable(obj.summary())
    if hasattr(obj, "colnames"):
        return {c: _jsonable(np.asarray(obj[c])) for c in obj.colnames}
    return obj


def write_summary(summary, path, overwrite=True):
    """Write the astrometry summary as JSON atomically (``catalogs/astrometry_summary.json``).

    Parameters
    ----------
    summary : dict
        Any mix of numbers, results, tables; arrays become lists, bootstrap samples are dropped.
    path : str or Path
    overwrite : bool

    Returns
    -------
    path : Path
    """
    from .._io import atomic_path
    from ..validate import require_path

    path = require_path(path, "summary path")
    text = json.dumps(_jsonable(summary), indent=2) + "\n"
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(text)
    return path
