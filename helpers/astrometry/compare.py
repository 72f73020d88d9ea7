"""Comparison of a catalog with another catalog of the same field (methods 2-4 of notebook 03).

:func:`compare_catalogs` matches the two catalogs, fits a plane transform, and measures the
scatter of the differences with bootstrap intervals: for two equally precise catalogs
sigma_each = sigma_diff/sqrt(2) (method 2, repeatability); against Gaia DR3 propagated to the
image epoch (method 3, :func:`helpers.astrometry.references.propagate_reference`) or HSC v3
(method 4) with the reference's own errors removed by maximum likelihood (a quadrature
subtraction that handles a different error for every star), calibrating the catalog's reported
per-source errors when it carries them. The outcome is a :class:`ComparisonResult`.

Units: RA/Dec in degrees; residuals, sigmas and errors in mas.
"""

import dataclasses
import math

import numpy as np

from ..errors import WorkbookError
from ..skyplane import tangent_point
from .mixture import NoCompactCore, fit_scatter_mixture
from .inputs import _col_values, _radec, tangent_plane_mas
from .alignment import coarse_align
from .matching import match
from .references import propagate_reference
from .stats import MAD_TO_SIGMA, _bootstrap_order_stats, _ci, _mixture_sigma
from .transforms import _FIT_TYPES, Transform, _normalise_fit, fit_transform
from .verdicts import verdict

__all__ = [
    "ComparisonResult",
    "compare_catalogs",
]


# --------------------------------------------------------------------------- comparison
@dataclasses.dataclass
class ComparisonResult:
    """Outcome of :func:`compare_catalogs`: transform, residuals and scatter with intervals.

    All scatters are mas. ``*_ci`` are 95% bootstrap percentile intervals. "diff" refers to the
    differences catalog - reference; "cat" to the catalog alone (None when neither
    ``equal=True`` nor reference errors were given: then ``sigma_diff`` is an upper bound).

    Attributes
    ----------
    label : str
    fit : Transform
    pairs : `~astropy.table.Table`
        ``idx_cat, idx_ref, xi, eta`` (reference tangent-plane position, mas), ``dx, dy``
        (residual, mas), ``used`` (kept by the transform fit's clipping), ``ref_err_x, ref_err_y``
        and ``cat_err_x, cat_err_y`` (mas, when known).
    n_pairs, n_matched : int
        Pairs in the statistics (all matched pairs: the mixture sets chance pairs aside); pairs matched.
    sigma_diff, sigma_diff_ci : per axis (East, North)
        The Gaussian core of a core + chance-pairs mixture (``headline``); 1.4826 x MAD of all pairs below
        10 pairs or when the core is as wide as the match disc (``headline`` says which).
    sigma_diff_1d, sigma_diff_1d_ci : sqrt of the mean of the two axes' variances
    p90_diff, p90_diff_ci : radial 90th percentile of the residuals
    sigma_cat, sigma_cat_ci, sigma_cat_1d, sigma_cat_1d_ci, p90_cat : the catalog's own scatter
    cat_method : str
        ``"equal catalogs"``, ``"reference errors removed"`` or ``"upper bound"``.
    ref_sigma_rms : (float, float) or None
        RMS of the reference's own (propagated) errors per axis over the pairs.
    calibration, calibration_ci : (float, float) or None
        When the catalog carries per-source errors: measured / reported error ratio k per axis
        (1 = calibrated errors), with intervals. The catalog's scatter is k x its reported errors.
    notes : list of str
    mixture : MixtureFit or None
        The mixture fit behind the catalog's sigma (:func:`helpers.astrometry.fit_scatter_mixture`; the
        reference's errors carried by the core, the catalog's reported errors as its shape when known), or
        behind the differences when the catalog is not separable: the scatter of the genuine pairs,
        independent of the match radius and of contamination. ``mixture_diff``: the fit of the raw differences.
    sigma_mad, sigma_mad_1d : (float, float), float
        1.4826 x MAD of all matched pairs (per axis, 1-D), shown beside the headline: chance pairs inflate it.
    headline : str
        ``"mixture core"`` or ``"1.4826 x MAD of all pairs"``: what the sigmas are.
    alignment : CoarseAlignment or None
        The coarse alignment applied before matching (see ``align``), or None.
    """

    label: str
    fit: Transform
    pairs: object
    n_pairs: int
    n_matched: int
    sigma_diff: tuple
    sigma_diff_ci: tuple
    sigma_diff_1d: float
    sigma_diff_1d_ci: tuple
    p90_diff: float
    p90_diff_ci: tuple
    sigma_cat: tuple = None
    sigma_cat_ci: tuple = None
    sigma_cat_1d: float = None
    sigma_cat_1d_ci: tuple = None
    p90_cat: float = None
    cat_method: str = "upper bound"
    ref_sigma_rms: tuple = None
    calibration: tuple = None
    calibration_ci: tuple = None
    notes: list = dataclasses.field(default_factory=list)
    boot: dict = dataclasses.field(default_factory=dict, repr=False)
    mixture: object = None
    mixture_diff: object = None
    sigma_mad: tuple = None
    sigma_mad_1d: float = None
    headline: str = "mixture core"
    alignment: object = None

    @property
    def sigma(self):
        """Best per-catalog 1-D sigma (mas): ``sigma_cat_1d`` if known, else ``sigma_diff_1d``."""
        return self.sigma_cat_1d if self.sigma_cat_1d is not None else self.sigma_diff_1d

    @property
    def sigma_ci(self):
        return self.sigma_cat_1d_ci if self.sigma_cat_1d is not None else self.sigma_diff_1d_ci

    @property
    def verdict(self):
        """:class:`Verdict` of the catalog sigma (``sigma``) and ``n_pairs``."""
        return verdict(self.sigma, self.n_pairs, ci=self.sigma_ci)

    def summary(self):
        """JSON-ready dictionary of the numbers (no arrays)."""
        def r(v):
            if v is None:
                return None
            if isinstance(v, (tuple, list)):
                return [r(x) for x in v]
            return round(float(v), 3)

        return {
            "label": self.label, "n_pairs": int(self.n_pairs), "n_matched": int(self.n_matched),
            "fit": self.fit.to_dict(),
            "sigma_diff_mas": r(self.sigma_diff), "sigma_diff_ci": r(self.sigma_diff_ci),
            "sigma_diff_1d_mas": r(self.sigma_diff_1d), "sigma_diff_1d_ci": r(self.sigma_diff_1d_ci),
            "p90_diff_mas": r(self.p90_diff), "p90_diff_ci": r(self.p90_diff_ci),
            "sigma_cat_mas": r(self.sigma_cat), "sigma_cat_ci": r(self.sigma_cat_ci),
            "sigma_cat_1d_mas": r(self.sigma_cat_1d), "sigma_cat_1d_ci": r(self.sigma_cat_1d_ci),
            "p90_cat_mas": r(self.p90_cat), "cat_method": self.cat_method,
            "ref_sigma_rms_mas": r(self.ref_sigma_rms), "calibration": r(self.calibration),
            "calibration_ci": r(self.calibration_ci), "notes": list(self.notes), "headline": self.headline,
            "sigma_mad_mas": r(self.sigma_mad), "sigma_mad_1d_mas": r(self.sigma_mad_1d),
            "outlier_fraction": None if self.mixture_diff is None else r(self.mixture_diff.outlier_fraction),
            "alignment": None if self.alignment is None else _alignment_summary(self.alignment),
        }

    def report(self):
        """Plain-text lines for the notebook."""
        sx, sy = self.sigma_diff
        (ax, bx), (ay, by) = self.sigma_diff_ci
        lines = [f"{self.label}: {self.n_pairs} pairs ({int(np.sum(self.pairs['used']))} kept by the fit's clipping); "
                 f"fit {self.fit.kind}: "
                 f"shift ({self.fit.shift_mas[0]:.1f}, {self.fit.shift_mas[1]:.1f}) mas, "
                 f"rotation {self.fit.rotation_arcsec:.3f}\", scale {self.fit.scale_ppm:.1f} ppm",
                 f"  differences ({self.headline}): sigma_E {sx:.2f} [{ax:.2f}, {bx:.2f}], sigma_N {sy:.2f} "
                 f"[{ay:.2f}, {by:.2f}] mas; radial P90 {self.p90_diff:.1f} [{self.p90_diff_ci[0]:.1f}, "
                 f"{self.p90_diff_ci[1]:.1f}] mas"
                 + ("" if self.sigma_mad_1d is None else
                    f"; 1.4826 x MAD of all {self.n_pairs} pairs {self.sigma_mad_1d:.2f} mas (1-D, chance pairs included)")]
        if self.sigma_cat is not None:
            (cx, cy), ((a1, b1), (a2, b2)) = self.sigma_cat, self.sigma_cat_ci
            lines.append(f"  catalog alone ({self.cat_method}): sigma_E {cx:.2f} [{a1:.2f}, {b1:.2f}], "
                         f"sigma_N {cy:.2f} [{a2:.2f}, {b2:.2f}] mas; 1-D {self.sigma_cat_1d:.2f} "
                         f"[{self.sigma_cat_1d_ci[0]:.2f}, {self.sigma_cat_1d_ci[1]:.2f}] mas "
                         f"-- inferred on these {self.n_pairs} matched sources, assuming {_ASSUMPTION[self.cat_method]}")
        else:
            lines.append("  catalog alone: not separable from the reference (no reference errors given); "
                         "the difference sigma is an upper bound")
        if self.ref_sigma_rms is not None:
            lines.append(f"  reference's own errors (RMS): E {self.ref_sigma_rms[0]:.2f}, N {self.ref_sigma_rms[1]:.2f} mas")
        if self.calibration is not None:
            (k1, k2), ((a1, b1), (a2, b2)) = self.calibration, self.calibration_ci
            lines.append(f"  catalog's reported errors x measured/reported: E {k1:.2f} [{a1:.2f}, {b1:.2f}], "
                         f"N {k2:.2f} [{a2:.2f}, {b2:.2f}] (1 = calibrated)")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __str__(self):
        return self.report()


def _alignment_summary(al):
    """The coarse alignment in JSON-friendly units (scale in ppm, so rounding keeps it)."""
    return {"shift_mas": [round(al.shift_east_mas, 2), round(al.shift_north_mas, 2)],
            "shift_err_mas": round(al.shift_err_mas, 3), "rotation_arcsec": round(al.rotation_deg * 3600.0, 3),
            "rotation_err_arcsec": round(al.rotation_err_deg * 3600.0, 3),
            "scale_ppm": round((al.scale - 1.0) * 1e6, 1), "scale_err_ppm": round(al.scale_err * 1e6, 2),
            "n_pairs": int(al.n_pairs), "center_deg": [float(al.center[0]), float(al.center[1])]}


#: What each way of separating the catalog from the differences assumes (the report says it on its line).
_ASSUMPTION = {
    "equal catalogs": "both catalogs are equally precise and independent (each = differences / sqrt 2; "
                      "images of one visit on one pixel grid share errors that cancel, making it a lower bound)",
    "reference errors removed": "the reference's reported errors are right and independent of the catalog's",
    "upper bound": "nothing (the differences bound the catalog from above)",
}


def _ref_errors(ref, idx_ref, ref_err, what="reference"):
    """Per-pair reference errors (mas, per axis) or None; non-numeric or negative errors are refused."""
    if ref_err is None or ref_err is False:
        return None
    n = idx_ref.size
    out = None
    if isinstance(ref_err, str):
        if ref_err != "auto":
            raise WorkbookError(f"{what} errors = {ref_err!r}: pass 'auto', None, a number of mas or (err_ra, err_dec)")
        for ex, ey in (("ra_err", "dec_err"), ("ra_error", "dec_error")):
            if ex in ref.colnames and ey in ref.colnames:
                import astropy.units as u

                out = _col_values(ref, ex, u.mas)[idx_ref], _col_values(ref, ey, u.mas)[idx_ref]
                break
        if out is None:
            return None
    else:
        try:
            if np.isscalar(ref_err):
                out = np.full(n, float(ref_err)), np.full(n, float(ref_err))
            else:
                ex, ey = ref_err
                ex = np.broadcast_to(np.asarray(ex, float), (len(ref),))
                ey = np.broadcast_to(np.asarray(ey, float), (len(ref),))
                out = ex[idx_ref], ey[idx_ref]
        except (TypeError, ValueError):
            raise WorkbookError(f"{what} errors {ref_err!r} are not numbers; pass 1-sigma errors in mas, one number "
                                "or one per row of the catalog for each axis") from None
    bad = int(np.sum(out[0] < 0) + np.sum(out[1] < 0))
    if bad:
        raise WorkbookError(f"{what} errors have {bad} negative value(s); 1-sigma errors are >= 0 mas -- fix the "
                            "error columns (or pass ref_err=None to treat the difference sigma as an upper bound)")
    return out


def _catalog_epoch(table, epoch, what):
    if epoch is not None:
        return float(epoch)
    for key in ("epoch", "EPOCH", "ref_epoch"):
        if key in table.meta and table.meta[key] is not None:
            try:
                return float(table.meta[key])
            except (TypeError, ValueError):
                pass
    return None


def _has_pm(table):
    return "pmra" in table.colnames and "pmdec" in table.colnames


def compare_catalogs(cat, ref, fit="shift+rotation+scale", max_sep=0.3, equal=False, ref_err="auto",
                     epoch=None, ref_epoch=None, n_boot=200, clip_sigma=5.0, offset_mas=(0.0, 0.0),
                     drop_nan=False, seed=0, label=None, cat_err="auto", error_floor_mas=0.0, align="auto",
                     align_kwargs=None):
    """Match two catalogs, fit a plane transform, and measure the scatter of the differences.

    Parameters
    ----------
    cat : `~astropy.table.Table`
        The catalog to assess (``ra``, ``dec`` in degrees; ``meta['epoch']`` decimal year).
    ref : `~astropy.table.Table`
        Another catalog of the same field: an independent image's catalog (``equal=True``),
        Gaia DR3 (proper motions are applied automatically, see :func:`propagate_reference`),
        or HSC.
    fit : {'shift', 'shift+rotation+scale', 'affine'}
        Transform removed before measuring scatter (2, 4 or 6 parameters).
    max_sep : float or Quantity
        Match radius, arcsec.
    equal : bool
        Declare both catalogs equally precise: sigma_cat = sigma_diff / sqrt(2).
    ref_err : 'auto', None, float or (array, array)
        The reference's own 1-sigma errors per axis, mas. ``'auto'`` reads ``ra_err/dec_err`` or
        Gaia's ``ra_error/dec_error`` (after propagation to the epoch). Removed from the
        differences: d_i ~ N(0, sigma_cat,i^2 + e_i^2), solved robustly (median of the normalised
        residuals), so every star keeps its own error. For ``equal=True`` they are the other
        catalog's errors.
    epoch, ref_epoch : float, optional
        Decimal years of ``cat`` and ``ref``; default ``meta['epoch']`` / the ``ref_epoch``
        column or meta. Needed when ``ref`` has proper motions.
    n_boot : int
        Bootstrap draws for the confidence intervals.
    clip_sigma : float
        Outlier clipping of the transform fit (robust sigmas).
    offset_mas : (float, float)
        Coarse pre-alignment (see :func:`coarse_offset`).
    drop_nan : bool
        Ignore NaN positions instead of raising.
    seed : int
    label : str, optional
    cat_err : 'auto', None, float or (array, array)
        The catalog's reported per-source errors (mas; ``'auto'``: ``ra_err``/``dec_err``). When
        known, the comparison calibrates them (measured/reported ratio, ``result.calibration``)
        and the catalog's scatter is that ratio times its reported errors -- the fair way to
        summarise sources whose errors span 0.1-20 mas. Statistics use all matched pairs (the
        mixture model sets chance pairs aside); clipping only protects the transform fit.
    error_floor_mas : float
        Added in quadrature to the reported errors of both catalogs before calibrating them: the
        systematic floor (PSF model, pixel phase, drizzling) that formal errors of bright
        sources miss -- typically 0.01-0.03 pixel (Anderson & King 2000, PASP 112, 1360).
    align : {'auto', True, False}
        Coarse alignment (:func:`helpers.astrometry.coarse_align`: shift to 6", rotation to 3 deg, scale to
        2% by voting): ``'auto'`` runs it when the first match looks misaligned (fewer than 10 pairs, or
        pairs spread out to the match radius), ``True`` always, ``False`` never. The alignment is reported
        (``result.alignment``, a note) and the catalogs are matched in the aligned frame.
    align_kwargs : dict, optional
        Search limits passed to :func:`coarse_align` (``max_shift_arcsec``, ``max_rotation_deg``,
        ``max_scale``).

    Returns
    -------
    result : ComparisonResult

    Raises
    ------
    WorkbookError
        No overlap, NaN positions, missing epoch for proper-motion propagation, ``n_boot`` not a
        positive integer, catalogs misaligned beyond what coarse alignment finds (no consistent
        solution, a solution at the search edge, fewer than 10 pairs after alignment), or pairs
        spread like chance matches (no Gaussian core).

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.table import Table
    >>> rng = np.random.default_rng(2)
    >>> ra, dec = 53.0 + rng.uniform(0, 0.03, 2000), -27.8 + rng.uniform(0, 0.03, 2000)
    >>> a = Table({"ra": ra + rng.normal(0, 5, 2000) / 3.6e6 / np.cos(np.radians(dec)),
    ...            "dec": dec + rng.normal(0, 5, 2000) / 3.6e6})
    >>> b = Table({"ra": ra + rng.normal(0, 5, 2000) / 3.6e6 / np.cos(np.radians(dec)),
    ...            "dec": dec + rng.normal(0, 5, 2000) / 3.6e6})
    >>> res = compare_catalogs(a, b, equal=True)
    >>> 4.5 < res.sigma_cat_1d < 5.5
    True
    """
    from astropy.table import Table

    if label is None:
        meta = getattr(ref, "meta", {}) or {}
        label = str(meta.get("name", meta.get("catalog", "reference")))
    kind = _normalise_fit(fit)
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot <= 0:
        raise WorkbookError(f"n_boot={n_boot!r} must be a positive integer (e.g. 200) for the bootstrap intervals")
    if align not in ("auto", True, False):
        raise WorkbookError(f"align={align!r} must be 'auto', True or False")
    notes = []
    _radec(cat, "the catalog", drop_nan)
    _radec(ref, "the reference catalog", drop_nan)
    t_cat = _catalog_epoch(cat, epoch, "the catalog")
    if _has_pm(ref):
        if t_cat is None:
            raise WorkbookError(
                "the reference has proper motions but the catalog has no epoch; pass epoch=<decimal year of "
                "the image> (from DATE-OBS/EXPSTART) or set cat.meta['epoch']")
        ref = propagate_reference(ref, t_cat, ref_epoch=ref_epoch)
        notes.append(f"reference propagated from epoch {ref.meta['propagated_from']:g} to {t_cat:g} "
                     f"({ref.meta['n_without_pm']} without proper motion kept at their catalog position)")
    else:
        t_ref = _catalog_epoch(ref, ref_epoch, "the reference")
        if t_cat is not None and t_ref is not None and abs(t_cat - t_ref) > 1.0:
            notes.append(f"catalog epochs differ by {abs(t_cat - t_ref):.1f} yr and the reference has no proper "
                         "motions: moving stars add scatter (clipped if large)")

    try:
        pairs = match(cat, ref, max_sep=max_sep, drop_nan=drop_nan, offset_mas=offset_mas)
    except WorkbookError as exc:
        if align is False or "no pairs within" not in str(exc):
            raise
        # nothing within the match radius: an offset, rotation or scale larger than it, or no overlap at all
        ra1, dec1, _ = _radec(cat, "the catalog", True)
        ra2, dec2, _ = _radec(ref, "the reference catalog", True)
        try:
            alignment = coarse_align(ra1, dec1, ra2, dec2, **(align_kwargs or {}))
        except WorkbookError as exc2:
            raise WorkbookError(f"{exc}; automatic coarse alignment failed too: {exc2}") from None
        pairs = match(_moved(cat, *alignment.apply(ra1, dec1)), ref, max_sep=max_sep, drop_nan=drop_nan)
        align = True  # found already: applied below without a second vote
    else:
        alignment = None
    max_sep_mas = pairs.meta["max_sep_mas"]
    n_matched = len(pairs)
    if alignment is None and n_matched >= 10 and np.median(pairs["sep"]) > 0.5 * max_sep_mas:
        # a tight cluster of pair offsets away from zero is a real frame offset, not chance pairs: remove it
        # and match again (issue #15: 3,000 pairs offset by 224 mas in a 0.3" radius were refused)
        shift = _clustered_offset(cat, ref, pairs, max_sep_mas)
        if shift is not None:
            offset_mas = (offset_mas[0] + shift[0], offset_mas[1] + shift[1])
            notes.append(f"catalogs offset by E {shift[0]:+.0f} N {shift[1]:+.0f} mas (a tight cluster of pair "
                         "offsets): removed before matching again")
            pairs = match(cat, ref, max_sep=max_sep, drop_nan=drop_nan, offset_mas=offset_mas)
            n_matched = len(pairs)
    looks_misaligned = n_matched < 10 or np.median(pairs["sep"]) > 0.5 * max_sep_mas
    if align is True or (align == "auto" and looks_misaligned):
        # shift, rotation and scale beyond the match radius: vote for them, then match in the aligned frame
        ra1, dec1, _ = _radec(cat, "the catalog", True)
        ra2, dec2, _ = _radec(ref, "the reference catalog", True)
        try:
            if alignment is None:
                alignment = coarse_align(ra1, dec1, ra2, dec2, **(align_kwargs or {}))
        except WorkbookError as exc:
            if looks_misaligned:
                raise WorkbookError(f"the catalogs do not match within max_sep ({n_matched} pairs, median separation "
                                    f"{np.median(pairs['sep']) if n_matched else float('nan'):.0f} mas of "
                                    f"{max_sep_mas:.0f}) and automatic coarse alignment failed: {exc}") from None
            notes.append(f"coarse alignment not applied ({exc}); matched as given")
        if alignment is not None:
            cat = _moved(cat, *alignment.apply(ra1, dec1))
            offset_mas = (0.0, 0.0)
            notes.append(alignment.describe() + "; catalog moved onto the reference before matching")
            pairs = match(cat, ref, max_sep=max_sep, drop_nan=drop_nan, offset_mas=offset_mas)
            n_matched = len(pairs)
    if n_matched >= 10 and np.median(pairs["sep"]) > 0.5 * max_sep_mas:
        spread = (f"matched pairs are spread out to max_sep (median separation {np.median(pairs['sep']):.0f} mas of "
                  f"{max_sep_mas:.0f} mas)")
        if alignment is None:
            raise WorkbookError(f"{spread}: the catalogs look misaligned by more than the match radius (or unrelated); pre-align them "
                                "(compare_catalogs(..., align=True) or helpers.astrometry.coarse_align) rather than "
                                "raising max_sep")
        raise WorkbookError(f"{spread} even after coarse alignment: the catalogs disagree by more than a shift, "
                            "rotation and scale can absorb (distortion, a wrong WCS); check their WCS or raise max_sep")
    ic, ir, ra0, dec0, xc, yc, xr, yr = _pair_plane(cat, ref, pairs)
    n_par = _FIT_TYPES[kind]
    if n_matched < 3 * n_par:
        notes.append(f"only {n_matched} pairs: fit reduced from {kind} to shift")
        kind, n_par = "shift", 2
    if n_matched < 3:
        raise WorkbookError(f"only {n_matched} matched pair(s); at least 3 are needed to measure anything -- "
                            "check the overlap of the catalogs or raise max_sep")
    transform, dx, dy, used = fit_transform(xc, yc, xr, yr, fit=kind, clip_sigma=clip_sigma, center=(ra0, dec0))
    errs = _ref_errors(ref, ir, ref_err)
    out_pairs = Table({"idx_cat": ic, "idx_ref": ir, "xi": xr, "eta": yr, "dx": dx, "dy": dy, "used": used},
                      meta={"max_sep_mas": max_sep_mas})
    for c in ("xi", "eta", "dx", "dy"):
        out_pairs[c].unit = "mas"
    if errs is not None:
        out_pairs["ref_err_x"], out_pairs["ref_err_y"] = errs
        out_pairs["ref_err_x"].unit = out_pairs["ref_err_y"].unit = "mas"
    cerrs = _ref_errors(cat, ic, cat_err, what="catalog")
    if error_floor_mas:
        cerrs = None if cerrs is None else tuple(np.hypot(e, error_floor_mas) for e in cerrs)
        if equal and errs is not None:
            errs = tuple(np.hypot(e, error_floor_mas) for e in errs)
            out_pairs["ref_err_x"], out_pairs["ref_err_y"] = errs
            out_pairs["ref_err_x"].unit = out_pairs["ref_err_y"].unit = "mas"
    if cerrs is not None:
        out_pairs["cat_err_x"], out_pairs["cat_err_y"] = cerrs
        out_pairs["cat_err_x"].unit = out_pairs["cat_err_y"].unit = "mas"
    res = _scatter_result(label, transform, out_pairs, n_matched, equal, n_boot, seed, notes, n_par)
    res.alignment = alignment
    return res


def _moved(table, ra, dec):
    """A shallow copy of ``table`` whose RA/Dec columns (degrees) are ``ra, dec``."""
    from astropy.table import Column

    from .inputs import _DEC_NAMES, _RA_NAMES, _find

    out = table.copy(copy_data=False)
    out[_find(table, _RA_NAMES)] = Column(np.asarray(ra, float), unit="deg")
    out[_find(table, _DEC_NAMES)] = Column(np.asarray(dec, float), unit="deg")
    return out


def _pair_plane(cat, ref, pairs):
    """Matched pairs on one tangent plane (mas), centred on the reference positions' mean direction:
    ``(idx_cat, idx_ref, ra0, dec0, x_cat, y_cat, x_ref, y_ref)``."""
    ra1, dec1, _ = _radec(cat, "the catalog", True)
    ra2, dec2, _ = _radec(ref, "the reference catalog", True)
    ic, ir = np.asarray(pairs["idx_cat"]), np.asarray(pairs["idx_ref"])
    ra0, dec0 = tangent_point(ra2[ir], dec2[ir])
    xc, yc = tangent_plane_mas(ra1[ic], dec1[ic], ra0, dec0)
    xr, yr = tangent_plane_mas(ra2[ir], dec2[ir], ra0, dec0)
    return ic, ir, ra0, dec0, xc, yc, xr, yr


def _clustered_offset(cat, ref, pairs, max_sep_mas):
    """Median pair offset (E, N mas) if the offsets cluster tightly (robust spread < max_sep / 6), else None."""
    ic, ir, ra0, dec0, xc, yc, xr, yr = _pair_plane(cat, ref, pairs)
    dx, dy = xc - xr, yc - yr
    mx, my = float(np.median(dx)), float(np.median(dy))
    spread = 1.4826 * float(np.median(np.hypot(dx - mx, dy - my))) / 1.1774  # radial median -> sigma per axis
    if spread < max_sep_mas / 6.0:
        return mx, my
    return None


def _headline_mixture(dx, dy, max_sep_mas, n_boot, seed, notes, what, err=None, shape=None):
    """The core+chance-pairs mixture behind a headline sigma (95% bootstrap draws), or None with a visible note
    when it cannot be fitted (fewer than 10 pairs, or a core as wide as the match disc); the caller then
    falls back to 1.4826 x MAD. Pairs spread like chance matches (no core at all) are refused."""
    if max_sep_mas is None or dx.size < 10:
        notes.append(f"{what}: only {dx.size} pairs, too few for the mixture fit; the sigma is 1.4826 x MAD of "
                     "all pairs (not protected against chance pairs)")
        return None
    try:
        return fit_scatter_mixture(dx, dy, max_sep_mas, err_x=None if err is None else err[0],
                                   err_y=None if err is None else err[1], shape_x=None if shape is None else shape[0],
                                   shape_y=None if shape is None else shape[1], n_boot=n_boot, seed=seed, ci=0.95)
    except NoCompactCore as exc:
        notes.append(f"{what}: {exc}; the sigma is 1.4826 x MAD of all pairs instead (chance pairs inflate it)")
        return None


def _solve_k(d, ec, er):
    """Robust calibration factor k with d_i ~ N(0, k^2 ec_i^2 + er_i^2): the k for which the
    normalised residuals |d_i| / sqrt(k^2 ec_i^2 + er_i^2) have the Gaussian median 0.6745
    (bisection; vectorised over leading axes). k = 0 when the reference's errors explain it all."""
    target = 0.6744897501960817
    ad = np.abs(d)
    hi = np.maximum(2.0 * np.median(ad / ec, axis=-1) / target, 1e-9)
    lo = np.zeros_like(hi)
    zero = np.median(ad / np.maximum(er, 1e-12), axis=-1) <= target
    for _ in range(45):
        mid = 0.5 * (lo + hi)
        g = np.median(ad / np.sqrt((mid[..., None] * ec) ** 2 + er ** 2), axis=-1) - target
        lo = np.where(g > 0, mid, lo)
        hi = np.where(g > 0, hi, mid)
    return np.where(zero, 0.0, 0.5 * (lo + hi))


def _boot_solve_k(d, ec, er, n_boot, seed, max_n=20000):
    """Bootstrap of :func:`_solve_k` (m-out-of-n with rescaling above ``max_n`` pairs)."""
    n = d.size
    if not n_boot:
        return np.array([float(_solve_k(d, ec, er))])
    rng = np.random.default_rng(seed)
    m = min(n, max_n)
    point = float(_solve_k(d, ec, er))
    out = np.empty(n_boot)
    chunk = max(1, min(n_boot, 1_000_000 // m))
    for start in range(0, n_boot, chunk):
        stop = min(start + chunk, n_boot)
        idx = rng.integers(0, n, (stop - start, m))
        out[start:stop] = _solve_k(d[idx], ec[idx], er[idx])
    if m < n:
        out = point + (out - point) * math.sqrt(m / n)
    return out


#: Radial 90th percentile of a circular 2-D Gaussian in units of its per-axis sigma, sqrt(-2 ln 0.1).
_P90_PER_SIGMA = math.sqrt(-2.0 * math.log(0.1))


def _scatter_result(label, transform, pairs, n_matched, equal, n_boot, seed, notes, n_par):
    """Scatter statistics of the matched pairs' residuals: the Gaussian core of a core + chance-pairs mixture.

    Differences: the mixture core per axis (:func:`fit_scatter_mixture`, chance pairs uniform in the match
    disc), its radial P90 as a 2-D Gaussian, and 1.4826 x MAD of all pairs beside it for comparison.
    Per-catalog scatter: with per-source catalog errors e_c (``cat_err_x/y``) the core is
    N(0, k^2 e_c,i^2 + e_r,i^2) (reference errors e_r known), or N(0, k^2 (e_c,i^2 + e_r,i^2)) for equal
    catalogs; the catalog's scatter on these pairs is k x the Gaussian-equivalent MAD of its errors.
    Without catalog errors e_c = 1 and k is that scatter itself. Below 10 pairs, or when the core is as wide
    as the match disc, the robust 1.4826 x MAD over all pairs is used instead and a note says so.
    """
    dx, dy = np.asarray(pairs["dx"], float), np.asarray(pairs["dy"], float)
    n = dx.size
    dof = math.sqrt(2 * n / max(2 * n - n_par, 1))  # the fit absorbed n_par degrees of freedom
    cx, cy = np.median(dx), np.median(dy)
    dx, dy = dx - cx, dy - cy
    adx, ady = np.abs(dx), np.abs(dy)
    k = MAD_TO_SIGMA * dof
    mad = (float(k * np.median(adx)), float(k * np.median(ady)))
    max_sep_mas = (getattr(pairs, "meta", None) or {}).get("max_sep_mas")
    diff_fit = _headline_mixture(dx, dy, max_sep_mas, n_boot, seed + 7, notes, "differences")
    if diff_fit is not None:
        sx, sy = diff_fit.sigma_x * dof, diff_fit.sigma_y * dof
        bsx, bsy = diff_fit.boot[:, 0] * dof, diff_fit.boot[:, 1] * dof
        b1d = np.sqrt(0.5 * (bsx ** 2 + bsy ** 2))
        s1d = math.sqrt(0.5 * (sx ** 2 + sy ** 2))
        p90, bp90 = _P90_PER_SIGMA * s1d, _P90_PER_SIGMA * b1d
        headline = "mixture core"
        notes.append(diff_fit.describe())
    else:
        r = np.hypot(dx, dy)
        sx, sy = mad
        p90 = float(np.quantile(r, 0.9)) * dof
        boot = _bootstrap_order_stats([adx, ady, r], [0.5, 0.5, 0.9], n_boot, seed)
        bsx, bsy, bp90 = boot[0] * k, boot[1] * k, boot[2] * dof
        b1d = np.sqrt(0.5 * (bsx ** 2 + bsy ** 2))
        s1d = math.sqrt(0.5 * (sx ** 2 + sy ** 2))
        headline = "1.4826 x MAD of all pairs"
    res = ComparisonResult(
        label=label, fit=transform, pairs=pairs, n_pairs=n, n_matched=n_matched,
        sigma_diff=(float(sx), float(sy)), sigma_diff_ci=(_ci(bsx), _ci(bsy)),
        sigma_diff_1d=s1d, sigma_diff_1d_ci=_ci(b1d), p90_diff=float(p90), p90_diff_ci=_ci(bp90), notes=notes,
        boot={"sx": bsx, "sy": bsy, "p90": bp90}, mixture=diff_fit, mixture_diff=diff_fit, sigma_mad=mad,
        sigma_mad_1d=math.sqrt(0.5 * (mad[0] ** 2 + mad[1] ** 2)), headline=headline)

    def col(name):
        return np.asarray(pairs[name], float) if name in pairs.colnames else None

    ecx, ecy, erx, ery = col("cat_err_x"), col("cat_err_y"), col("ref_err_x"), col("ref_err_y")
    have_ec = ecx is not None and np.mean(np.isfinite(ecx) & (ecx > 0) & np.isfinite(ecy) & (ecy > 0)) >= 0.8
    have_er = erx is not None and np.mean(np.isfinite(erx) & np.isfinite(ery)) >= 0.8
    if not equal and not have_er:
        if erx is not None:
            notes.append("the reference's errors are unknown for most pairs: the difference sigma is an upper "
                         "bound on the catalog's")
        return res
    ones = np.ones(n)
    ecx, ecy = (ecx, ecy) if have_ec else (ones, ones)
    ok = np.isfinite(ecx) & (ecx > 0) & np.isfinite(ecy) & (ecy > 0)
    if have_er:
        ok &= np.isfinite(erx) & np.isfinite(ery)
    if ok.sum() < 3:
        return res
    if ok.sum() < n:
        notes.append(f"{n - int(ok.sum())} pairs without errors left out of the per-catalog sigma")
    ddx, ddy, ecx, ecy = dx[ok], dy[ok], ecx[ok], ecy[ok]
    if equal:
        rx, ry = (erx[ok], ery[ok]) if have_er else (ecx, ecy)
        shape, known = (np.sqrt(ecx ** 2 + rx ** 2), np.sqrt(ecy ** 2 + ry ** 2)), None
        res.cat_method = "equal catalogs"
    else:
        rx, ry = erx[ok], ery[ok]
        res.ref_sigma_rms = (float(np.sqrt(np.mean(rx ** 2))), float(np.sqrt(np.mean(ry ** 2))))
        shape, known = (ecx, ecy), (rx, ry)
        res.cat_method = "reference errors removed"
    cat_fit = _headline_mixture(ddx, ddy, max_sep_mas, n_boot, seed + 11, notes, "catalog alone", err=known,
                                shape=shape)
    if cat_fit is not None:
        kx, ky = cat_fit.sigma_x * dof, cat_fit.sigma_y * dof
        bkx, bky = cat_fit.boot[:, 0] * dof, cat_fit.boot[:, 1] * dof
        res.mixture = cat_fit
        if not equal and min(kx, ky) < 1e-3 * max(kx, ky, 1e-9):
            notes.append("the reference's own errors explain all of the scatter on one axis: the catalog sigma "
                         "is below what this reference can measure (see the interval)")
    elif equal:
        px, py = ddx / shape[0], ddy / shape[1]
        apx, apy = np.abs(px - np.median(px)), np.abs(py - np.median(py))
        kx, ky = k * np.median(apx), k * np.median(apy)
        b = _bootstrap_order_stats([apx, apy], [0.5, 0.5], n_boot, seed + 1) * k
        bkx, bky = b[0], b[1]
    else:
        kx, ky = float(_solve_k(ddx, ecx, rx)) * dof, float(_solve_k(ddy, ecy, ry)) * dof
        bkx = _boot_solve_k(ddx, ecx, rx, n_boot, seed + 1) * dof
        bky = _boot_solve_k(ddy, ecy, ry, n_boot, seed + 2) * dof
        if kx == 0 or ky == 0:
            notes.append("the reference's own errors explain all of the scatter on one axis: the catalog sigma "
                         "is below what this reference can measure (see the interval)")
    mx = float(_mixture_sigma(ecx)) if have_ec else 1.0
    my = float(_mixture_sigma(ecy)) if have_ec else 1.0
    bcx, bcy = bkx * mx, bky * my
    res.sigma_cat = (float(kx * mx), float(ky * my))
    res.sigma_cat_ci = (_ci(bcx), _ci(bcy))
    res.sigma_cat_1d = math.sqrt(0.5 * (res.sigma_cat[0] ** 2 + res.sigma_cat[1] ** 2))
    res.sigma_cat_1d_ci = _ci(np.sqrt(0.5 * (bcx ** 2 + bcy ** 2)))
    res.p90_cat = res.sigma_cat_1d * _P90_PER_SIGMA
    res.boot.update(cx=bcx, cy=bcy)
    if have_ec:
        res.calibration = (float(kx), float(ky))
        res.calibration_ci = (_ci(bkx), _ci(bky))
        res.boot.update(kx=bkx, ky=bky)
    return res
