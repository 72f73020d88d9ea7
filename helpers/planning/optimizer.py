"""Choose the MSA pointing (RA, Dec, APA) that keeps the most targets in their shutters.

Objective
    For each candidate pointing, a target counts when it falls in a shutter whose whole
    ``slitlet``-shutter slitlet is operable (no failed-closed or failed-open shutter, from the
    operability map) and it sits inside the centering zone (`zones.zone_half_widths`). The
    default objective is the *expected* weighted count: each target's probability of staying
    in the zone given its catalog error and the MSATA error (Gaussian per axis, the product of
    the two per-axis probabilities of the zone interval). ``objective="count"`` scores the
    plain weighted count (vMPT / hMPT / APT).

Why it is fast (by design, not by a smaller search)
    * Exact projection (sky -> V2/V3 -> MSA plane through the SIAF optics, `helpers.msa`) only at
      a few anchor pointings per APA (every ``anchor_arcsec``); around an anchor each target's
      MSA-plane position moves linearly with the RA/Dec offset, with its own local Jacobian (the
      distortion), so thousands of offsets cost one multiply-add per target. The error of this
      near-rigid shift vs the exact projection is checked in the tests (< 2 mas at 2.5").
    * The per-quadrant MSA grid is affine in the MSA plane, so the shutter index is two dot
      products; the slitlet operability is one look-up in a precomputed map.
    * Everything is vectorised over (pointings x targets) in chunks; a coarse grid over the whole
      search (objective blurred by half the grid step so that peaks between nodes are not missed)
      is followed by local refinement of the best distinct candidates in RA/Dec and APA, and the
      result is re-scored with the exact projection.
"""

import math
import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import WorkbookError
from ..validate import require_number
from .. import msa as _msa
from .zones import zone_half_widths

__all__ = ["optimize_pointing", "PointingResult", "score_pointing", "MPT_CATALOG_RADIUS_DEG",
           "MAX_SEARCH_ARCSEC"]

#: APT's MSA Planning Tool accepts catalogs within 1 deg radius.
MPT_CATALOG_RADIUS_DEG = 1.0
#: A search range beyond half the MSA's size (~3.4') moves the MSA off its own field.
MAX_SEARCH_ARCSEC = 100.0
_NEAR_ARCSEC = 250.0   # sources further than this from the MSA centre in V2/V3 never land on it
_CHUNK = 300_000       # elements per (pointings x targets) block: temporaries stay in cache (4e6 was 3x slower at 1e4 targets)


@dataclass
class PointingResult:
    """The chosen pointing and its yield.

    Attributes
    ----------
    ra, dec : float
        ``NRS_FULL_MSA`` reference point, ICRS degrees (what MPT takes).
    apa : float
        Aperture PA, degrees.
    n_targets : int
        Targets inside the zone with an operable slitlet (exact projection).
    weighted : float
        Weighted count.
    expected : float
        Expected weighted count given catalog + MSATA errors.
    n_by_priority, expected_by_priority : dict
        Per ``priority`` value (if the targets have a ``priority`` column).
    alternatives : list of PointingResult
        Next-best distinct pointings (> 0.3" or > 0.2 deg apart).
    in_zone : ndarray of bool
        Per target, counted at this pointing.
    probability : ndarray
        Per target, probability of staying in the zone.
    search_seconds : float
    n_evaluations : int
        Pointings scored during the search.
    n_overlaps_dropped : int
        In-zone targets dropped because their spectra overlapped one of higher priority
        (``no_overlaps=True``; 0 otherwise).
    """

    ra: float
    dec: float
    apa: float
    n_targets: int
    weighted: float
    expected: float
    n_by_priority: dict = field(default_factory=dict)
    expected_by_priority: dict = field(default_factory=dict)
    alternatives: list = field(default_factory=list)
    in_zone: np.ndarray = None
    probability: np.ndarray = None
    search_seconds: float = 0.0
    n_evaluations: int = 0
    objective: str = "expected"
    n_overlaps_dropped: int = 0

    def __repr__(self):
        return (f"PointingResult(ra={self.ra:.7f}, dec={self.dec:.7f}, apa={self.apa:.3f}, "
                f"n_targets={self.n_targets}, expected={self.expected:.2f}, alternatives={len(self.alternatives)})")


# ---------------------------------------------------------------------------------------------
# geometry helpers (public API of helpers.msa only)

def _quadrant_affines():
    """Per quadrant: origin (2,), inverse Jacobian (2, 2) mapping MSA-plane metres to (i-1, j-1)."""
    origins, invs = [], []
    for q in range(1, 5):
        o = np.array(_msa.msa_xy_from_index(q, 1.0, 1.0), float)
        ci = np.array(_msa.msa_xy_from_index(q, 2.0, 1.0), float) - o
        cj = np.array(_msa.msa_xy_from_index(q, 1.0, 2.0), float) - o
        origins.append(o)
        invs.append(np.linalg.inv(np.column_stack([ci, cj])))
    return np.array(origins), np.array(invs)


def _slitlet_good_map(operability, slitlet):
    """good[q, j, i]: the slitlet centred on row j has every shutter present and operable."""
    state = operability.state
    ok = state == 0
    half = int(slitlet) // 2
    good = np.ones_like(ok)
    for d in range(-half, half + 1):
        shifted = np.zeros_like(ok)
        if d >= 0:
            shifted[:, : ok.shape[1] - d, :] = ok[:, d:, :]
        else:
            shifted[:, -d:, :] = ok[:, : ok.shape[1] + d, :]
        good &= shifted
    return good


class _Scorer:
    def __init__(self, ra, dec, weights, sigma_mas, msata_sigma_mas, constraint, margin_arcsec,
                 slitlet, operability, filter):
        self.ra, self.dec = ra, dec
        self.w = weights
        self.filter = filter
        self.xh, self.yh = zone_half_widths(constraint, margin_arcsec)
        sig = np.hypot(np.asarray(sigma_mas, float), float(msata_sigma_mas)) / 1000.0
        self.sigma = np.broadcast_to(sig, ra.shape).astype(float)
        self.origin, self.inv = _quadrant_affines()
        self.good = _slitlet_good_map(operability, slitlet)
        model = _msa.get_model(filter)
        self.pitch_disp, self.pitch_spat = model.pitch_disp, model.pitch_spat
        self.v2c, self.v3c = model.v2_centre, model.v3_centre

    def exact_xy(self, ra0, dec0, apa):
        p = _msa.MSAPointing(ra0, dec0, apa, filter=self.filter)
        v2, v3 = p.sky_to_v2v3(self.ra, self.dec)
        near = (np.abs(v2 - self.v2c) < _NEAR_ARCSEC) & (np.abs(v3 - self.v3c) < _NEAR_ARCSEC)
        x = np.full(v2.shape, np.nan)
        y = np.full(v2.shape, np.nan)
        if near.any():
            x[near], y[near] = _msa.v2v3_to_msa_xy(v2[near], v3[near], self.filter)
        return x, y

    def anchor(self, ra0, dec0, apa, step_arcsec=1.0):
        """Exact positions at one pointing, linearised for small (east, north) offsets in arcsec.

        Each target's fractional shutter index (a = i-1, b = j-1 in its quadrant) and its
        derivatives w.r.t. the pointing offset (the local distortion), from three exact
        projections; the quadrant and local pitch are those at the anchor.
        """
        cosd = max(math.cos(math.radians(dec0)), 1e-6)
        x0, y0 = self.exact_xy(ra0, dec0, apa)
        xe, ye = self.exact_xy(ra0 + step_arcsec / 3600.0 / cosd, dec0, apa)
        xn, yn = self.exact_xy(ra0, dec0 + step_arcsec / 3600.0, apa)
        keep = np.isfinite(x0) & np.isfinite(xe) & np.isfinite(xn)
        q = (2 * (x0[keep] > 0) + (y0[keep] > 0)).astype(np.intp)
        inv = self.inv[q]
        o = self.origin[q]

        def ab(x, y):
            dx, dy = x[keep] - o[:, 0], y[keep] - o[:, 1]
            return inv[:, 0, 0] * dx + inv[:, 0, 1] * dy, inv[:, 1, 0] * dx + inv[:, 1, 1] * dy

        a0, b0 = ab(x0, y0)
        ae, be = ab(xe, ye)
        an, bn = ab(xn, yn)
        ii = np.clip(np.rint(a0), 0, _msa.N_COLUMNS - 1).astype(np.intp)
        jj = np.clip(np.rint(b0), 0, _msa.N_ROWS - 1).astype(np.intp)
        f32 = np.float32
        return {"ra": ra0, "dec": dec0, "apa": apa, "keep": keep, "a0": a0.astype(f32), "b0": b0.astype(f32),
                "da_de": ((ae - a0) / step_arcsec).astype(f32), "da_dn": ((an - a0) / step_arcsec).astype(f32),
                "db_de": ((be - b0) / step_arcsec).astype(f32), "db_dn": ((bn - b0) / step_arcsec).astype(f32),
                "qoff": (q * _msa.N_ROWS * _msa.N_COLUMNS).astype(np.int32),
                "pd": self.pitch_disp[q, jj, ii].astype(f32), "ps": self.pitch_spat[q, jj, ii].astype(f32),
                "sigma": self.sigma[keep].astype(f32), "w": self.w[keep]}

    def _lut(self, half, sigma):
        """Probability of staying within +-half (arcsec) vs offset, tabulated every 1 mas."""
        from scipy.special import ndtr

        off = np.arange(-0.3, 0.3 + 1e-9, 0.001)
        return (ndtr((half - off) / sigma) - ndtr((-half - off) / sigma)).astype(np.float32)

    def score_offsets(self, anc, de, dn, sigma_blur=0.0, objective="expected"):
        """Linearised scores at offsets (de, dn) arcsec (east, north) from the anchor, shape (P,)."""
        keep = anc["keep"]
        nk = int(keep.sum())
        if nk == 0:
            return np.zeros(len(de))
        out = np.empty(len(de))
        lut = None
        if sigma_blur > 0:
            # coarse stage: one blurred width for all targets, tabulated (a gather, not four erfs)
            sig = float(np.hypot(np.median(anc["sigma"]) if objective == "expected" else 0.0, sigma_blur))
            lut = (self._lut(self.xh, sig), self._lut(self.yh, sig))
        n = max(1, _CHUNK // nk)
        de = np.asarray(de, np.float32)
        dn = np.asarray(dn, np.float32)
        for s in range(0, len(de), n):
            val = self._values(anc, de[s:s + n, None], dn[s:s + n, None], lut, objective)
            out[s:s + n] = val.astype(np.float64) @ anc["w"]
        return out

    def _values(self, anc, e, nn, lut, objective):
        """Per (offset, target) value: in-zone indicator or probability, shape (P, N_kept)."""
        good = self.good.ravel()
        a = anc["a0"] + anc["da_de"] * e + anc["da_dn"] * nn
        b = anc["b0"] + anc["db_de"] * e + anc["db_dn"] * nn
        ia = np.rint(a)
        jb = np.rint(b)
        hit = (ia >= 0) & (ia < _msa.N_COLUMNS) & (jb >= 0) & (jb < _msa.N_ROWS)
        flat = anc["qoff"] + np.clip(jb, 0, _msa.N_ROWS - 1).astype(np.int32) * _msa.N_COLUMNS \
            + np.clip(ia, 0, _msa.N_COLUMNS - 1).astype(np.int32)
        ok = hit & good[flat]
        offx = (a - ia) * anc["pd"]
        offy = (b - jb) * anc["ps"]
        if lut is not None:
            kx = np.clip(np.rint((offx + 0.3) * 1000), 0, 600).astype(np.intp)
            ky = np.clip(np.rint((offy + 0.3) * 1000), 0, 600).astype(np.intp)
            val = np.where(ok, lut[0][kx] * lut[1][ky], 0)
        elif objective == "count":
            val = ok & (np.abs(offx) <= self.xh) & (np.abs(offy) <= self.yh)
        else:
            from scipy.special import ndtr

            sg = np.maximum(anc["sigma"], np.float32(1e-6))   # sigma 0: the plain in-zone step
            px = ndtr((self.xh - offx) / sg) - ndtr((-self.xh - offx) / sg)
            py = ndtr((self.yh - offy) / sg) - ndtr((-self.yh - offy) / sg)
            val = np.where(ok, px * py, 0)
        return val

    def exact(self, ra0, dec0, apa, objective=None):
        """Exact per-target (in_zone, probability) at one pointing (no linearisation)."""
        anc = self.anchor(ra0, dec0, apa)
        n_in = np.zeros(self.ra.shape, bool)
        prob = np.zeros(self.ra.shape)
        if anc["keep"].any():
            z = np.zeros((1, 1), np.float32)
            n_in[anc["keep"]] = self._values(anc, z, z, None, "count")[0]
            prob[anc["keep"]] = self._values(anc, z, z, None, "expected")[0]
        return n_in, prob

def _offset_radec(ra0, dec0, de, dn):
    cosd = max(math.cos(math.radians(dec0)), 1e-6)
    return ra0 + de / 3600.0 / cosd, dec0 + dn / 3600.0


def _check_inputs(targets, ra, dec, apa, d_ra_arcsec, d_dec_arcsec, d_apa_deg, weights, sigma_mas):
    try:
        tra = np.asarray(targets["ra"], float)
        tdec = np.asarray(targets["dec"], float)
    except (KeyError, TypeError, ValueError, IndexError):
        raise WorkbookError("targets need 'ra' and 'dec' columns in degrees (an astropy Table or dict of arrays)") from None
    if tra.size == 0:
        raise WorkbookError("the target list is empty; give at least one target with ra, dec")
    if not (np.all(np.isfinite(tra)) and np.all(np.isfinite(tdec))):
        raise WorkbookError(f"{int((~np.isfinite(tra) | ~np.isfinite(tdec)).sum())} targets have non-finite ra/dec; remove them")
    for v, what in ((ra, "ra"), (dec, "dec"), (apa, "apa")):
        require_number(v, what, example="a finite number of degrees")
    for v, what, lim in ((d_ra_arcsec, "d_ra_arcsec", MAX_SEARCH_ARCSEC), (d_dec_arcsec, "d_dec_arcsec", MAX_SEARCH_ARCSEC),
                         (d_apa_deg, "d_apa_deg", 180.0)):
        v = require_number(v, what, minimum=0.0, example="10.0")
        if not np.isfinite(v) or v < 0:
            raise WorkbookError(f"{what} = {v!r}; give a non-negative half-range")
        if v > lim:
            raise WorkbookError(f"{what} = {v:g} exceeds the MSA ({lim:g}); a larger shift moves the MSA off the field, "
                                f"re-centre ra/dec instead and search <= {lim:g}")
    sep = np.degrees(np.arccos(np.clip(
        np.sin(np.radians(tdec)) * math.sin(math.radians(dec)) +
        np.cos(np.radians(tdec)) * math.cos(math.radians(dec)) * np.cos(np.radians(tra - ra)), -1, 1)))
    if sep.max() > MPT_CATALOG_RADIUS_DEG:
        raise WorkbookError(f"{int((sep > MPT_CATALOG_RADIUS_DEG).sum())} targets lie more than {MPT_CATALOG_RADIUS_DEG:g} deg "
                            f"from the pointing (max {sep.max():.2f} deg), beyond MPT's catalog limit; cut the catalog to 1 deg radius")
    if weights is None:
        cols = getattr(targets, "colnames", None) or list(getattr(targets, "keys", lambda: [])())
        w = np.asarray(targets["weight"], float) if "weight" in cols else np.ones(tra.shape)
    else:
        w = np.asarray(weights, float)
    w = np.broadcast_to(w, tra.shape).astype(float) if w.size in (1, tra.size) else None
    if w is None:
        raise WorkbookError(f"weights have {np.size(weights)} values for {tra.size} targets; give one weight per target")
    if not np.all(np.isfinite(w)) or (w < 0).any():
        bad = int((~np.isfinite(w) | (w < 0)).sum())
        raise WorkbookError(f"{bad} weights are negative or NaN; weights must be finite and >= 0 (0 = ignore the target)")
    if sigma_mas is None:
        cols = getattr(targets, "colnames", None) or list(getattr(targets, "keys", lambda: [])())
        if "ra_err" in cols and "dec_err" in cols:
            sigma_mas = np.hypot(np.asarray(targets["ra_err"], float), np.asarray(targets["dec_err"], float)) / math.sqrt(2)
        else:
            sigma_mas = 0.0
    s = np.broadcast_to(np.asarray(sigma_mas, float), tra.shape)
    if not np.all(np.isfinite(s)) or (s < 0).any():
        raise WorkbookError("sigma_mas has negative or NaN values; give each target's 1-sigma catalog error in mas (>= 0)")
    return tra, tdec, w, s


def _distinct(cands, n, tol_arcsec=0.3, tol_deg=0.2):
    out = []
    for c in cands:
        if all(abs((c[1] - o[1]) * 3600 * math.cos(math.radians(c[2]))) > tol_arcsec or abs((c[2] - o[2]) * 3600) > tol_arcsec
               or abs((c[3] - o[3] + 180) % 360 - 180) > tol_deg for o in out):
            out.append(c)
        if len(out) >= n:
            break
    return out


def optimize_pointing(targets, ra, dec, apa, *, d_ra_arcsec=10.0, d_dec_arcsec=10.0, d_apa_deg=5.0,
                      constraint="Midpoint", slitlet=3, weights=None, sigma_mas=None, msata_sigma_mas=20.0,
                      objective="expected", apa_window=None, operability=None, n_alternatives=3,
                      margin_arcsec=None, filter="CLEAR", coarse_step_arcsec=0.4, coarse_step_deg=1.0,
                      anchor_arcsec=5.0, n_refine=8, no_overlaps=False, disperser="PRISM/CLEAR"):
    """Search RA/Dec/APA around a starting pointing for the best MSA yield.

    Parameters
    ----------
    targets : `~astropy.table.Table` or dict
        ``ra``, ``dec`` (deg); optional ``weight``, ``priority``, ``ra_err``/``dec_err`` (mas).
    ra, dec, apa : float
        Starting ``NRS_FULL_MSA`` reference point (deg) and aperture PA (deg).
    d_ra_arcsec, d_dec_arcsec : float
        Half-ranges of the search on the sky (east, north), arcsec (<= `MAX_SEARCH_ARCSEC`).
    d_apa_deg : float
        Half-range of the APA search, deg.
    constraint : str
        Centering constraint name (see `zones.zone_half_widths`); ``margin_arcsec`` overrides
        the table with an inset from the shutter pitch.
    slitlet : int
        Shutters per slitlet along the spatial direction (all must be operable).
    weights : array_like, optional
        Per target, >= 0 (default: the ``weight`` column or 1).
    sigma_mas : float or array_like, optional
        Per-target 1-sigma catalog error per axis, mas (default from ``ra_err``/``dec_err`` or 0).
    msata_sigma_mas : float
        MSATA pointing error per axis, mas.
    objective : {'expected', 'count'}
    apa_window : `~astropy.table.Table`, optional
        From `apa_windows`; APAs not allowed on any of its days are not searched.
    operability : `helpers.msa.Operability`, optional
        Default: the shipped map.
    n_alternatives : int
        Distinct next-best pointings to return.
    no_overlaps : bool
        Drop, at every refined candidate, the in-zone targets whose ``disperser`` spectra overlap
        one of higher priority (1 first, then larger weight; `spectra.drop_overlaps`), so the
        ranking and the counts are for an overlap-free plan.
    disperser : str
        Disperser/filter pair for ``no_overlaps`` (see `spectra.disperser_pairs`).

    Returns
    -------
    PointingResult

    Raises
    ------
    WorkbookError
        Bad weights or sigma, search range beyond the MSA, catalog wider than 1 deg, start APA
        outside the window, no target can land on the MSA anywhere in the search.
    """
    t_start = time.perf_counter()
    if objective not in ("expected", "count"):
        raise WorkbookError(f"objective {objective!r}; use 'expected' or 'count'")
    ra, dec = require_number(ra, "ra", example="53.16"), require_number(dec, "dec", example="-27.79")
    apa = require_number(apa, "apa", example="45.0") % 360.0
    tra, tdec, w, sig = _check_inputs(targets, ra, dec, apa, d_ra_arcsec, d_dec_arcsec, d_apa_deg, weights, sigma_mas)
    if operability is None:
        operability = _msa.default_operability()
    scorer = _Scorer(tra, tdec, w, sig, msata_sigma_mas, constraint, margin_arcsec, slitlet, operability, filter)
    pri = np.asarray(targets["priority"]) if "priority" in (getattr(targets, "colnames", None) or list(getattr(targets, "keys", lambda: [])())) else None
    if no_overlaps:
        from .spectra import _pair

        _pair(disperser)  # an unknown disperser fails before the search, not after it

    apas = apa + np.arange(-d_apa_deg, d_apa_deg + 1e-9, coarse_step_deg) if d_apa_deg > 0 else np.array([apa])
    if d_apa_deg > 0 and not np.isclose(apas[-1], apa + d_apa_deg):
        apas = np.append(apas, apa + d_apa_deg)
    if apa_window is not None:
        from .visibility import _apa_allowed, check_apa

        check_apa(apa, apa_window)
        allowed = _apa_allowed(apas, apa_window).any(axis=-1)
        apas = apas[allowed]

    def axis(half, step):
        if half <= 0:
            return np.array([0.0])
        n = int(math.ceil(half / step))
        return np.linspace(-half, half, 2 * n + 1)

    ge, gn = axis(d_ra_arcsec, coarse_step_arcsec), axis(d_dec_arcsec, coarse_step_arcsec)
    anchors_e, anchors_n = axis(d_ra_arcsec, anchor_arcsec), axis(d_dec_arcsec, anchor_arcsec)
    EE, NN = np.meshgrid(ge, gn, indexing="ij")
    EE, NN = EE.ravel(), NN.ravel()
    ke = np.abs(EE[:, None] - anchors_e[None]).argmin(axis=1)
    kn = np.abs(NN[:, None] - anchors_n[None]).argmin(axis=1)
    blur = 0.5 * coarse_step_arcsec
    cands = []
    n_eval = 0
    any_near = False
    for a in apas:
        scores = np.empty(EE.size)
        for ie, ae in enumerate(anchors_e):
            for jn, an in enumerate(anchors_n):
                sel = (ke == ie) & (kn == jn)
                if not sel.any():
                    continue
                ra_a, dec_a = _offset_radec(ra, dec, ae, an)
                anc = scorer.anchor(ra_a, dec_a, a)
                any_near |= bool(anc["keep"].any())
                scores[sel] = scorer.score_offsets(anc, EE[sel] - ae, NN[sel] - an, blur, objective)
        n_eval += EE.size
        for k in np.argsort(-scores)[: 4 * n_refine]:
            r, d = _offset_radec(ra, dec, EE[k], NN[k])
            cands.append((scores[k], r, d, float(a)))
    if not any_near:
        raise WorkbookError(f"none of the {tra.size} targets comes near the MSA anywhere in the search around "
                            f"RA {ra:.5f}, Dec {dec:.5f}; centre the pointing on the targets")
    cands.sort(key=lambda c: -c[0])
    cands = _distinct(cands, n_refine + n_alternatives)

    refined = []
    for _, r, d, a in cands:
        r, d, a, n = _refine(scorer, r, d, a, ra, dec, apa, d_ra_arcsec, d_dec_arcsec, d_apa_deg,
                             coarse_step_arcsec, objective, apa_window)
        n_eval += n
        n_in, prob = scorer.exact(r, d, a)
        n_before = int(n_in.sum())
        if no_overlaps:
            n_in, prob = _without_overlaps(n_in, prob, tra, tdec, r, d, a, pri, w, disperser, slitlet, filter)
        value = float(prob @ w) if objective == "expected" else float(n_in @ w)
        refined.append((value, r, d, a, n_in, prob, n_before - int(n_in.sum())))
    if max(c[0] for c in refined) <= 0:
        raise WorkbookError("no target lands inside a centering zone with an operable slitlet anywhere in the search; "
                            "widen the search, loosen the constraint or check the target coordinates")
    refined.sort(key=lambda c: -c[0])
    best = _distinct([c[:4] + (k,) for k, c in enumerate(refined)], 1 + n_alternatives)

    def make(c):
        _, r, d, a, n_in, prob, n_dropped = refined[c[4]]
        res = PointingResult(ra=float(r) % 360.0, dec=float(d), apa=float(a) % 360.0, n_targets=int(n_in.sum()),
                             weighted=float(n_in @ w), expected=float(prob @ w), in_zone=n_in, probability=prob,
                             objective=objective, n_overlaps_dropped=n_dropped)
        if pri is not None:
            for p in np.unique(pri):
                m = pri == p
                res.n_by_priority[p.item()] = int(n_in[m].sum())
                res.expected_by_priority[p.item()] = float(prob[m] @ w[m])
        return res

    out = make(best[0])
    out.alternatives = [make(c) for c in best[1:]]
    out.search_seconds = time.perf_counter() - t_start
    out.n_evaluations = n_eval
    return out


def _without_overlaps(n_in, prob, tra, tdec, ra0, dec0, apa, pri, w, disperser, slitlet, filter):
    """In-zone mask and probabilities with spectrally overlapping lower-priority targets dropped."""
    from .spectra import drop_overlaps

    chosen = np.flatnonzero(n_in)
    if chosen.size < 2:
        return n_in, prob
    loc = _msa.MSAPointing(ra0, dec0, apa, filter=filter).locate_arrays(tra[chosen], tdec[chosen])
    on = loc["quadrant"] > 0
    keep = np.ones(chosen.size, bool)
    keep[on] = drop_overlaps(loc["quadrant"][on], loc["i"][on], loc["j"][on], disperser, slitlet,
                             priority=None if pri is None else pri[chosen][on], weights=w[chosen][on])
    dropped = chosen[~keep]
    n_in, prob = n_in.copy(), prob.copy()
    n_in[dropped] = False
    prob[dropped] = 0.0
    return n_in, prob


def _refine(scorer, r, d, a, ra0, dec0, apa0, hr, hd, ha, step, objective, apa_window):
    """Local refinement: fine RA/Dec grid (linearised at the candidate), then an APA scan, twice."""
    n_eval = 0
    cosd = math.cos(math.radians(dec0))
    for half, fine in ((step, step / 6.0), (step / 6.0, step / 30.0)):
        # RA/Dec: grid of +-half around the candidate, clipped to the search box
        g = np.arange(-half, half + 1e-9, fine)
        E, N = np.meshgrid(g, g, indexing="ij")
        E, N = E.ravel(), N.ravel()
        ce = (r - ra0) * 3600 * cosd
        cn = (d - dec0) * 3600
        inside = (np.abs(ce + E) <= hr + 1e-9) & (np.abs(cn + N) <= hd + 1e-9)
        E, N = E[inside], N[inside]
        anc = scorer.anchor(r, d, a)
        s = scorer.score_offsets(anc, E, N, 0.0, objective)
        n_eval += E.size
        k = int(np.argmax(s))
        r, d = _offset_radec(r, d, E[k], N[k])
        # APA scan at this position
        da = np.arange(-0.5, 0.5 + 1e-9, 0.1) if half == step else np.arange(-0.08, 0.08 + 1e-9, 0.02)
        cand_a = a + da
        cand_a = cand_a[np.abs((cand_a - apa0 + 180) % 360 - 180) <= ha + 1e-9]
        if apa_window is not None:
            from .visibility import _apa_allowed

            cand_a = cand_a[_apa_allowed(cand_a, apa_window).any(axis=-1)]
        best = (-1.0, a)
        for aa in cand_a:
            n_in, prob = scorer.exact(r, d, aa)
            v = float((prob if objective == "expected" else n_in) @ scorer.w)
            if v > best[0]:
                best = (v, aa)
        n_eval += cand_a.size
        a = best[1]
    return r, d, a, n_eval


def score_pointing(targets, ra, dec, apa, *, constraint="Midpoint", slitlet=3, weights=None, sigma_mas=0.0,
                   msata_sigma_mas=0.0, operability=None, margin_arcsec=None, filter="CLEAR"):
    """Exact score of one pointing: (n_targets, expected, in_zone mask, probability)."""
    tra, tdec, w, sig = _check_inputs(targets, ra, dec, apa, 0, 0, 0, weights, sigma_mas)
    if operability is None:
        operability = _msa.default_operability()
    scorer = _Scorer(tra, tdec, w, sig, msata_sigma_mas, constraint, margin_arcsec, slitlet, operability, filter)
    n_in, prob = scorer.exact(float(ra), float(dec), float(apa))
    if margin_arcsec is None:
        # the count is the workbook's one counting rule (MSAPointing.count on the real shutter grid);
        # the search's per-quadrant index model differs from it only for sources on a cell edge
        n_in = _msa.MSAPointing(float(ra), float(dec), float(apa), filter=filter).count_mask(
            tra, tdec, constraint=constraint, slitlet=slitlet, operability=operability)
    return int(n_in.sum()), float(prob @ w), n_in, prob
