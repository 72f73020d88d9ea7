"""Judge a planner's target list against the image it will be placed on (issue #14, step 3-4).

:func:`judge_targets` finds the frame offset between the target list and a measured catalog
(the image's source catalog from notebook 02, or Gaia DR3), even when it is far larger than a
match radius (shifts to several arcsec, rotations to ~1 deg): the house's coarse alignment,
`helpers.astrometry.coarse_align` (a vote over shift, rotation and scale, refused when it is not
above the chance level) first, then one-to-one matching and the shift + rotation + scale fit of
`helpers.astrometry.fit_transform`. The residuals give the list's **own** scatter, with the
measured catalog's per-source errors removed, a bootstrap interval and the verdict bands of
`helpers.astrometry.verdict`. Each target is ``matched``, ``ambiguous`` (two or more measured
sources within the match radius) or ``unmatched``.

:func:`correct_targets` then moves the list into the image frame, said out loud: ``"transform"``
re-registers every target with the fitted transform, ``"image"`` takes the image's measured
position for every matched target (its sigma recorded) and the transformed position, flagged, for
the others. :func:`targets_record` is the ``field.json`` entry.

Units: RA/Dec degrees; offsets, residuals and sigmas mas; rotation arcsec; scale ppm.
"""

import dataclasses
import math

import numpy as np
from astropy.table import Table

from ..astrometry import coarse_align, fit_transform, verdict
from ..astrometry.alignment import MIN_ALIGN_PAIRS
from ..astrometry.compare import _boot_solve_k, _solve_k  # the same calibration as compare_catalogs
from ..astrometry.inputs import tangent_plane_mas
from ..astrometry.stats import _ci, robust_sigma
from ..errors import WorkbookError
from ..validate import require_array, require_instance, require_number
from ..skyplane import tangent_to_sky

__all__ = ["TargetJudgement", "judge_targets", "correct_targets", "targets_record"]

#: Measured sources (a central disc) the coarse alignment works on; the fit then uses every target.
COARSE_MAX_SOURCES = 20_000

#: Error columns (mas) looked for in the measured catalog: the workbook's schema, then Gaia's.
_ERR_COLUMNS = (("ra_err", "dec_err"), ("ra_error", "dec_error"))


@dataclasses.dataclass
class TargetJudgement:
    """What :func:`judge_targets` found.

    Attributes
    ----------
    per_target : `~astropy.table.Table`
        One row per target, in the input order: ``id``, ``status`` (matched / ambiguous /
        unmatched), ``idx_ref`` (row of the measured catalog, -1 if none), ``n_within`` (measured
        sources within the match radius), ``dx``, ``dy`` (mas, transformed target - measured,
        East/North), ``offset`` (mas, radial), ``image_sigma`` (mas, the measured source's
        1-sigma per axis), ``x_plane``, ``y_plane`` (mas, the transformed target about ``center``,
        East/North).
    transform : `helpers.astrometry.transforms.Transform`
        Target-list frame -> measured frame (tangent plane about ``center``).
    coarse : dict
        What `helpers.astrometry.coarse_align` found: ``rotation_deg``, ``scale``, ``shift_mas``
        (East, North; about its own tangent point), ``n_pairs``, ``votes``, ``chance_votes``.
    sigma_mas : float
        The list's own 1-sigma per axis, measured catalog's errors removed.
    ci : (float, float)
        95 % bootstrap interval of ``sigma_mas``.
    sigma_diff_mas : (float, float)
        Raw robust sigma of the residuals per axis (list and image together).
    n_matched : int
        Pairs used for the fit and the scatter.
    verdict : `helpers.astrometry.verdicts.Verdict`
    center : (float, float)
        Tangent point, degrees.
    reference : str
        What the list was judged against.
    notes : list of str
    offset_err_mas : float
        1-sigma error of ``offset_mas`` per axis, mas (from the residuals and the lever arm).
    rotation_err_arcsec : float
        1-sigma error of the fitted rotation, arcsec (NaN for a shift-only fit).
    """

    per_target: Table
    transform: object
    coarse: dict
    sigma_mas: float
    ci: tuple
    sigma_diff_mas: tuple
    n_matched: int
    verdict: object
    center: tuple
    reference: str
    notes: list
    offset_err_mas: float = float("nan")
    rotation_err_arcsec: float = float("nan")

    @property
    def offset_mas(self):
        """Frame offset of the target list relative to the measured catalog (East, North), mas, at the
        tangent point ``center``: where the list puts the object the image has at ``center``."""
        m = np.asarray(self.transform.matrix, float)
        e, n = -np.linalg.solve(m, np.asarray(self.transform.shift_mas, float))
        return (float(e), float(n))


def _errors_mas(ref):
    for ex, ey in _ERR_COLUMNS:
        if ex in ref.colnames and ey in ref.colnames:
            return np.asarray(ref[ex], float), np.asarray(ref[ey], float)
    return None


def judge_targets(targets, measured, max_sep=0.3, search_arcsec=5.0, max_rotation_deg=1.0, max_scale=0.01,
                  fit="shift+rotation+scale", n_boot=200, seed=0, reference="image catalog"):
    """Frame offset and own scatter of a target list against a measured catalog.

    Parameters
    ----------
    targets : `~astropy.table.Table`
        From `read_target_list` (``id``, ``ra``, ``dec`` in degrees).
    measured : `~astropy.table.Table`
        The image's source catalog (``ra``, ``dec`` deg, ``ra_err``, ``dec_err`` mas) or a Gaia
        table (``ra_error``, ``dec_error`` mas).
    max_sep : float
        Match radius after the coarse alignment, arcsec; two measured sources inside it make a
        target ``ambiguous``.
    search_arcsec, max_rotation_deg, max_scale : float
        Range of the coarse search of `helpers.astrometry.coarse_align` (shift, arcsec; rotation,
        degrees; fractional scale difference either way).
    fit : str
        Transform fitted (see `helpers.astrometry.fit_transform`).
    n_boot : int
        Bootstrap resamples for the interval of ``sigma_mas``.
    seed : int
    reference : str
        Name of ``measured`` in the sentences.

    Returns
    -------
    judgement : TargetJudgement

    Raises
    ------
    WorkbookError
        Empty inputs, no overlap, every target (or all but fewer than 10) off the measured catalog,
        or no coarse alignment above the chance level.
    """
    from scipy.spatial import cKDTree

    n_boot = require_number(n_boot, "n_boot", minimum=0, maximum=100000, integer=True, example="200")
    for name, table in (("targets", targets), (reference, measured)):
        if not isinstance(table, Table) or not {"ra", "dec"} <= set(table.colnames):
            raise WorkbookError(f"the {name} must be a Table with 'ra' and 'dec' columns (degrees); read it with "
                                "helpers.targets.read_target_list / take the catalog from notebook 02")
    if len(targets) == 0:
        raise WorkbookError("the target list is empty; give a list with at least one target")
    if len(measured) == 0:
        raise WorkbookError(f"the {reference} is empty; extract sources first (notebook 02) or check the image")
    ra_t, dec_t = np.asarray(targets["ra"], float), np.asarray(targets["dec"], float)
    ra_r, dec_r = np.asarray(measured["ra"], float), np.asarray(measured["dec"], float)
    good_r = np.isfinite(ra_r) & np.isfinite(dec_r)
    ra0, dec0 = float(np.median(ra_r[good_r])), float(np.median(dec_r[good_r]))
    xt, yt = tangent_plane_mas(ra_t, dec_t, ra0, dec0)
    xr, yr = tangent_plane_mas(ra_r, dec_r, ra0, dec0)
    # Targets farther than the search radius from every measured source are off the image.
    half = 0.5 * max(np.ptp(xr[good_r]), np.ptp(yr[good_r]))
    cx_r, cy_r = float(np.median(xr[good_r])), float(np.median(yr[good_r]))
    inside = np.maximum(np.abs(xt - cx_r), np.abs(yt - cy_r)) <= half + search_arcsec * 1000.0
    if not inside.any():
        raise WorkbookError(f"all {len(targets)} targets are off the {reference} (its centre RA {ra0:.5f}, Dec "
                            f"{dec0:.5f} deg); give an image that covers the target list, or the list of this field")
    if inside.sum() < MIN_ALIGN_PAIRS:
        raise WorkbookError(f"only {int(inside.sum())} of {len(targets)} targets lie on the {reference}: judging a "
                            f"list's frame needs at least {MIN_ALIGN_PAIRS} of them; give an image that covers more "
                            "of the list (or a longer list of this field)")
    # The house's one coarse alignment (vote over shift, rotation and scale, refused at chance level),
    # target list -> measured catalog; its errors become one line naming the list and the reference.
    # Chance is the winning trial's off-peak level: a deep list (10^4 targets in 3') over a narrow
    # search puts signal into the median trial and would be refused by it. The edge test is on the
    # fitted solution: on a 20" field the grid cannot place the rotation, and its edge trial may win.
    # The coarse step only has to land every target within the match radius: a central disc of at most
    # COARSE_MAX_SOURCES measured sources (and the targets over it) pins the transform far better than
    # that, and the full match + fit below refines it on every target (10^5 lists: ~2x faster).
    sub_r, sub_t = good_r, inside
    r_ref = np.hypot(xr - cx_r, yr - cy_r)
    if good_r.sum() > COARSE_MAX_SOURCES:
        disc = np.partition(r_ref[good_r], COARSE_MAX_SOURCES - 1)[COARSE_MAX_SOURCES - 1]
        sub_r = good_r & (r_ref <= disc)
        sub_t = inside & (np.hypot(xt - cx_r, yt - cy_r) <= disc + search_arcsec * 1000.0)
    try:
        coarse_fit = coarse_align(ra_t[sub_t], dec_t[sub_t], ra_r[sub_r], dec_r[sub_r],
                                  max_shift_arcsec=search_arcsec, max_rotation_deg=max_rotation_deg,
                                  max_scale=max_scale, chance_from="off-peak", edge_from="fit")
    except WorkbookError as exc:
        # the judge's own name for the shift range, so the advice names a keyword it takes
        message = str(exc).replace("max_shift_arcsec", "search_arcsec")
        raise WorkbookError(f"target list against the {reference}: {message}") from None
    coarse = {"rotation_deg": coarse_fit.rotation_deg, "scale": coarse_fit.scale,
              "shift_mas": [coarse_fit.shift_east_mas, coarse_fit.shift_north_mas], "n_pairs": coarse_fit.n_pairs,
              "votes": coarse_fit.votes, "chance_votes": coarse_fit.chance_votes}
    xa, ya = tangent_plane_mas(*coarse_fit.apply(ra_t, dec_t), ra0, dec0)
    ref_xy = np.column_stack([xr[good_r], yr[good_r]])
    ref_index = np.flatnonzero(good_r)
    tree = cKDTree(ref_xy)
    max_sep_mas = max_sep * 1000.0
    transform = None
    for _ in range(3):  # match, fit, re-match with the fitted transform
        dist, j = tree.query(np.column_stack([xa, ya]), distance_upper_bound=max_sep_mas)
        n_within = tree.query_ball_point(np.column_stack([xa, ya]), max_sep_mas, return_length=True)
        has = np.isfinite(dist)
        # one-to-one: a measured source claimed by two targets belongs to neither
        claimed = np.bincount(j[has], minlength=ref_xy.shape[0] + 1)
        unique = has & (claimed[np.where(has, j, ref_xy.shape[0])] == 1)
        matched = unique & (n_within == 1)
        if matched.sum() < 3:
            raise WorkbookError(f"only {int(matched.sum())} targets match a source of the {reference} within "
                                f"{max_sep:g} arcsec after the coarse alignment; check that the list and the image "
                                "are the same field, or raise max_sep / search_arcsec")
        jm = j[matched]
        transform, _, _, _ = fit_transform(xt[matched], yt[matched], ref_xy[jm, 0], ref_xy[jm, 1], fit=fit,
                                           center=(ra0, dec0))
        xa, ya = transform.apply(xt, yt)
    dx_all = np.full(xt.size, np.nan)
    dy_all = np.full(xt.size, np.nan)
    jj = np.where(has, j, 0)
    dx_all[has] = xa[has] - ref_xy[jj[has], 0]
    dy_all[has] = ya[has] - ref_xy[jj[has], 1]
    _, dxm, dym, used = fit_transform(xt[matched], yt[matched], ref_xy[jm, 0], ref_xy[jm, 1], fit=fit,
                                      center=(ra0, dec0))
    status = np.where(matched, "matched", np.where(n_within >= 2, "ambiguous", "unmatched"))
    idx_ref = np.where(has & (status != "unmatched"), ref_index[jj], -1)
    errs = _errors_mas(measured)
    img_sigma = np.full(xt.size, np.nan)
    notes = [coarse_fit.describe()]
    if errs is not None:
        ex, ey = errs
        sel = idx_ref >= 0
        img_sigma[sel] = np.sqrt(0.5 * (ex[idx_ref[sel]] ** 2 + ey[idx_ref[sel]] ** 2))
    per = Table({"id": np.asarray(targets["id"]), "status": status, "idx_ref": idx_ref, "n_within": n_within,
                 "dx": dx_all, "dy": dy_all, "offset": np.hypot(dx_all, dy_all), "image_sigma": img_sigma,
                 "x_plane": xa, "y_plane": ya})
    for name in ("dx", "dy", "offset", "image_sigma", "x_plane", "y_plane"):
        per[name].unit = "mas"
    # The list's own scatter: d ~ N(0, s^2 + e_img^2) per axis -> solve for s (e_c = 1, k = s).
    d = np.concatenate([dxm[used] - np.median(dxm[used]), dym[used] - np.median(dym[used])])
    n_used = int(used.sum())
    n_par = {"shift": 2, "shift+rotation+scale": 4, "affine": 6}[transform.kind]
    dof = math.sqrt(2 * n_used / max(2 * n_used - n_par, 1))
    if errs is not None and np.all(np.isfinite(img_sigma[matched][used])):
        jm_used = idx_ref[matched][used]
        er = np.concatenate([errs[0][jm_used], errs[1][jm_used]])
        ones = np.ones_like(d)
        sigma = float(_solve_k(d, ones, er)) * dof
        # m-out-of-n bootstrap above 5000 residuals (rescaled): the interval, not the point, is resampled
        boot = _boot_solve_k(d, ones, er, n_boot, seed, max_n=5000) * dof
    else:
        notes.append(f"the {reference} has no per-source errors: the scatter is the list's and the image's together")
        sigma = float(robust_sigma(d)) * dof
        rng = np.random.default_rng(seed)
        boot = np.array([robust_sigma(d[rng.integers(0, d.size, d.size)]) for _ in range(n_boot)]) * dof
    ci = _ci(boot) if n_boot else (sigma, sigma)
    v = verdict(sigma, n_used, ci=ci)
    sdiff = (float(robust_sigma(dxm[used]) * dof), float(robust_sigma(dym[used]) * dof))
    offset_err, rotation_err = _transform_errors(xt[matched][used], yt[matched][used], float(np.mean(sdiff)),
                                                 transform.kind)
    return TargetJudgement(per_target=per, transform=transform, coarse=coarse, sigma_mas=sigma, ci=ci,
                           sigma_diff_mas=sdiff, n_matched=n_used, verdict=v, center=(ra0, dec0),
                           reference=reference, notes=notes, offset_err_mas=offset_err,
                           rotation_err_arcsec=rotation_err)


def _transform_errors(x, y, sigma_per_axis, kind):
    """1-sigma errors of the fitted frame offset (per axis, mas, at the tangent point) and rotation
    (arcsec) from the residual scatter and the lever arm of the matched targets: for a least-squares
    similarity fit, var(rotation) = sigma^2 / sum|r - c|^2 and var(offset at 0) = sigma^2 (1/N +
    |c|^2 / sum|r - c|^2), c the targets' centroid. The rotation of a small field is loose: on a 20"
    field with 100 targets at 20 mas it is ~50"."""
    n = x.size
    cx, cy = float(np.mean(x)), float(np.mean(y))
    lever2 = float(np.sum((x - cx) ** 2 + (y - cy) ** 2))
    if kind == "shift" or lever2 <= 0:
        return sigma_per_axis / math.sqrt(n), float("nan")
    offset_err = sigma_per_axis * math.sqrt(1.0 / n + (cx * cx + cy * cy) / lever2)
    return float(offset_err), float(math.degrees(sigma_per_axis / math.sqrt(lever2)) * 3600.0)


def correct_targets(targets, judgement, measured=None, method="transform"):
    """The target list moved into the measured catalog's frame, with the choice recorded.

    Parameters
    ----------
    targets : `~astropy.table.Table`
        The list given to :func:`judge_targets`.
    judgement : TargetJudgement
    measured : `~astropy.table.Table`, optional
        The measured catalog; needed for ``method="image"``.
    method : {'transform', 'image'}
        ``"transform"``: every target re-registered with the fitted transform.
        ``"image"``: matched targets take the measured position (and its sigma); the others keep the
        transformed position, flagged.

    Returns
    -------
    corrected : `~astropy.table.Table`
        A copy with ``ra``, ``dec`` replaced, the input kept as ``ra_input``, ``dec_input``, and
        ``position_from`` (``"transform"`` / ``"image"``), ``match_status``, ``position_sigma``
        (mas; the image's sigma for ``"image"`` rows, NaN otherwise), ``position_flag`` (True where
        a target was not matched), ``image_row`` (the measured catalog's row, -1 if none).
        ``meta['correction']`` says what was done, in numbers.
    """
    if method not in ("transform", "image"):
        raise WorkbookError(f"method={method!r} is not known; use 'transform' or 'image'")
    if method == "image" and measured is None:
        raise WorkbookError("method='image' needs the measured catalog: pass measured=<the image's source catalog>")
    require_instance(judgement, TargetJudgement, "judgement", "pass what judge_targets returned")
    if not isinstance(targets, Table) or not {"ra", "dec"} <= set(targets.colnames):
        raise WorkbookError("targets must be the Table read_target_list gave (with 'ra', 'dec'); read the list again")
    ra0, dec0 = judgement.center
    xt, yt = tangent_plane_mas(require_array(targets["ra"], "targets['ra']", what="RA in degrees"),
                               require_array(targets["dec"], "targets['dec']", what="Dec in degrees"), ra0, dec0)
    xa, ya = judgement.transform.apply(xt, yt)
    ra, dec = tangent_to_sky(xa, ya, ra0, dec0, unit="mas")
    ra, dec = np.asarray(ra, float) % 360.0, np.asarray(dec, float)
    out = targets.copy()
    out["ra_input"], out["dec_input"] = out["ra"], out["dec"]
    per = judgement.per_target
    status = np.asarray(per["status"])
    source = np.full(len(out), "transform", dtype="<U9")
    sig = np.full(len(out), np.nan)
    if method == "image":
        take = status == "matched"
        idx = np.asarray(per["idx_ref"])[take]
        ra[take] = np.asarray(measured["ra"], float)[idx]
        dec[take] = np.asarray(measured["dec"], float)[idx]
        source[take] = "image"
        sig[take] = np.asarray(per["image_sigma"])[take]
    out["ra"], out["dec"] = ra, dec
    out["ra"].unit = out["dec"].unit = "deg"
    out["position_from"] = source
    out["match_status"] = status
    out["position_sigma"] = sig
    out["position_sigma"].unit = "mas"
    out["position_flag"] = status != "matched"
    out["image_row"] = np.asarray(per["idx_ref"], np.int64)  # row of the measured catalog, -1 if none
    t = judgement.transform
    out.meta["correction"] = {
        "method": method, "n": len(out), "n_from_image": int((source == "image").sum()),
        "n_flagged": int((status != "matched").sum()),
        "offset_mas": [round(v, 2) for v in judgement.offset_mas],
        "rotation_arcsec": round(t.rotation_arcsec, 3), "scale_ppm": round(t.scale_ppm, 1),
        "sentence": (f"{'Re-registered' if method == 'transform' else 'Took the image position for'} "
                     f"{len(out) if method == 'transform' else int((source == 'image').sum())} targets "
                     f"(frame offset E {judgement.offset_mas[0]:+.1f}, N {judgement.offset_mas[1]:+.1f} mas, "
                     f"rotation {t.rotation_arcsec:+.2f}\", scale {t.scale_ppm:+.0f} ppm); "
                     f"{int((status != 'matched').sum())} not matched, flagged.")}
    return out


def _rounded(value, digits):
    """A JSON-safe rounded number (None where there is none, e.g. no rotation in a shift-only fit)."""
    value = float(value)
    return round(value, digits) if math.isfinite(value) else None


def _correction_dict(correction):
    if not isinstance(correction, dict):
        raise WorkbookError(f"correction is a {type(correction).__name__}, not the dict correct_targets recorded "
                            "(corrected.meta['correction']); pass that, a short text or None")
    return dict(correction)


def targets_record(judgement, path, correction):
    """The ``extra["targets"]`` entry of ``field.json``.

    Returns
    -------
    record : dict
        ``path, n, n_matched, offset_mas [E, N], rotation_arcsec, scale_ppm, sigma_mas, ci,
        verdict, correction`` (the method and its sentence), plus ``n_ambiguous``, ``n_unmatched``,
        ``offset_err_mas`` and ``rotation_err_arcsec`` (1 sigma; None without a rotation).
    """
    require_instance(judgement, TargetJudgement, "judgement", "pass what judge_targets returned")
    st = np.asarray(judgement.per_target["status"])
    t = judgement.transform
    return {"path": str(path), "n": int(st.size), "n_matched": int(judgement.n_matched),
            "n_ambiguous": int((st == "ambiguous").sum()), "n_unmatched": int((st == "unmatched").sum()),
            "reference": judgement.reference,
            "offset_mas": [round(float(v), 2) for v in judgement.offset_mas],
            "offset_err_mas": _rounded(judgement.offset_err_mas, 2),
            "rotation_arcsec": round(float(t.rotation_arcsec), 3),
            "rotation_err_arcsec": _rounded(judgement.rotation_err_arcsec, 3),
            "scale_ppm": round(float(t.scale_ppm), 1),
            "sigma_mas": round(float(judgement.sigma_mas), 2), "ci": [round(float(v), 2) for v in judgement.ci],
            "verdict": judgement.verdict.band, "sentence": judgement.verdict.sentence,
            "correction": correction if isinstance(correction, (str, type(None))) else _correction_dict(correction)}
