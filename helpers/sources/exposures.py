"""Positions refined by a joint PSF fit on the input exposures (HST flt/flc, JWST cal).

A drizzled product (pixfrac < 1, a few dithers) has a PSF that depends on each star's sub-pixel
position relative to every input grid, so any fit on the product has a systematic floor. The
best HST astrometry (Anderson & King's hst1pass / KS2, DOLPHOT) measures on the exposures
instead. `refine_on_exposures` does that for the catalog of a drizzled product:

* **Pixels.** Each exposure is read as the pipelines write it: HST flt/flc (PRIMARY + SCI/ERR/DQ
  per chip, electrons or electrons/s, TAN-SIP with D2IM/NPOL where present, read with the full
  astropy WCS) and JWST cal (SCI/ERR/DQ/AREA/VAR_*, the FITS SIP approximation of the gWCS in the
  SCI header). Pixels with a DQ bit the pipelines reject (HST: `HST_REJECT_BITS`; JWST:
  `JWST_REJECT_BITS`) or a non-finite value are not used.
* **Noise.** Per pixel: the sky variance of the file's own ERR² (VAR_* on JWST) around the star
  plus the star's Poisson term ``g · model``, where ``g`` (variance per unit of signal) is read
  from the file itself (the slope of ERR² or VAR_POISSON against SCI, `_poisson_gain`). A model
  rather than the data sets the Poisson term, so the weights do not correlate with the noise.
* **PSF.** An ePSF (`helpers.sources.epsf.build_epsf`, on a 2× grid, see `EPSF_OVERSAMPLING` for
  why not 4×) built jointly from the bright isolated point sources of the catalog in all exposures,
  at the positions the catalog (then the joint fit) predicts through each exposure's WCS; the
  exposures sample many sub-pixel phases of each star, which breaks the shape/position degeneracy
  a single image has (Anderson & King 2000, PASP 112, 1360). Its origin is put on the centre of
  symmetry of its core (`_symmetric_centre`). ePSF and positions are iterated (``epsf_iterations``
  rounds). With fewer than `EPSF_MIN_STARS` such stars the library PSF (`helpers.sources.library`)
  at the detector's sampling is used, said in one line.
* **Fit.** Per star: one output-frame position (the product's pixels) common to all exposures,
  mapped through each exposure's WCS with its local Jacobian, and one flux scale and background
  per exposure (flat fields, pixel areas and units differ between files), by weighted
  Gauss–Newton. The per-exposure parameters are eliminated exactly (Schur complement), so the
  position's covariance is the inverse of the summed Fisher information; errors are scaled by
  √χ²_ν only when the fit is significantly worse than the noise.
* **Relative alignment.** The flt/flc/cal headers of one association agree to a few mas, not to the
  hundredths of a pixel a bright star measures; between rounds, each chip's WCS gets a detector-pixel
  offset fitted from the ePSF stars (their mean held at zero, so the positions stay on the mean of the
  exposures' frames; the offset from the product's frame is reported). A 0.2 px error in one of four
  ACS/WFC headers left 2.2x the bound at SNR 100-300 unaligned, 1.09x aligned (the bed's truth).
* **Cosmic rays.** CCD flt/flc cosmic rays are not in DQ unless a rejection flagged them. With
  ≥ 3 exposures of a star, pixels more than `CLIP_SIGMA` σ from the joint model (σ: the pixel noise,
  `MODEL_ERROR_FRACTION` of the model, times the star's median √χ²_ν over its exposures, so that a
  PSF that misfits a bright star everywhere is not taken for a cosmic ray) and their neighbours
  above `GROW_SIGMA` are clipped and the star refitted, iterated; the catalog meta says how many
  pixels were clipped.

A star keeps the product's position unless the joint fit on ≥ 2 exposures beats its error;
``method`` is ``"exposures"`` where it does. Each star is fitted alone (neighbours are not
subtracted): blended stars keep the product's deblended positions only if their error is smaller.
"""

import math
import warnings
from pathlib import Path

import numpy as np

from ..errors import WorkbookError
from ..validate import celestial_wcs, open_fits, require_number, require_path, require_table
from .catalog import FLAG_EDGE, FLAG_PSF_FAILED, SourceExtractionWarning, _sky_columns

#: HST DQ bits a drizzle rejects (ACS/WFC3 data handbooks; AstroDrizzle's default ``final_bits``
#: accepts only warm pixels and CTE tails, 32 | 64): 1 data lost, 2 filled, 4 bad detector pixel,
#: 8 masked by the aperture feature, 16 hot pixel, 128 bad column, 256 full-well saturation, 2048 A/D
#: saturation, 4096 cosmic ray (AstroDrizzle driz_cr), 8192 cosmic ray (CRREJ / IR ramp jump).
HST_REJECT_BITS = 1 | 2 | 4 | 8 | 16 | 128 | 256 | 2048 | 4096 | 8192
#: JWST DQ bits rejected (jwst.datamodels.dqflags): DO_NOT_USE 1, SATURATED 2, JUMP_DET 4.
JWST_REJECT_BITS = 1 | 2 | 4
#: Fewest bright isolated stars (each seen in ≥ 2 exposures) for an ePSF built from the exposures.
EPSF_MIN_STARS = 12
#: Outlier clip against the joint model, in σ (pixel noise plus `MODEL_ERROR_FRACTION` of the model).
CLIP_SIGMA = 5.0
#: Neighbours of a clipped pixel are clipped above this many σ, up to this many pixels away.
GROW_SIGMA = 2.5
GROW_PASSES = 1
#: Fraction of the model added (in quadrature) to the noise when judging outliers: an ePSF is not
#: perfect, and a bright star's core must not be clipped for the model's error.
MODEL_ERROR_FRACTION = 0.03
#: Oversampling of the ePSF grid built from the exposures: 2, or 4 when the first 2x stack of the exposures'
#: stars is narrower than `EPSF_FINE_GRID_FWHM` px (e.g. WFC3/IR, FWHM ~1.2 px: a 2x grid cannot follow such
#: a core; not measured on the bed, whose detector PSFs are 2.0 px wide). On the ACS/WFC F814W test bed
#: (FWHM 2.1 px, 59 stars x 4 exposures) a 4x grid left 1.61x the bound at SNR 100-300, a 2x grid 1.09x
#: (the true PSF: 1.07x): each node of a 4x grid is measured from a quarter of the phases.
EPSF_OVERSAMPLING = 2
EPSF_FINE_GRID_FWHM = 1.5
#: The SNR at which `build_epsf` caps a star's weight in the ePSF (its own constant); applied per star across
#: its exposures (`_stamp_variance_scale`).
EPSF_STAR_SNR_CAP = 100.0
#: Radius of the fit, in FWHM (detector pixels).
FIT_RADIUS_FWHM = 2.5
#: Neighbours fainter than this fraction of a star do not make it unfit for the ePSF.
NEIGHBOUR_FLUX_RATIO = 0.02


def _chips(hdul, path):
    """(SCI, ERR-or-None, DQ-or-None, VAR_* dict) per chip of an open flt/flc/cal file."""
    chips = []
    for hdu in hdul:
        if hdu.name.upper() != "SCI":
            continue
        ver = hdu.ver if hasattr(hdu, "ver") else 1

        def find(name, ver=ver):
            try:
                return hdul[name, ver]
            except KeyError:
                return None

        naxis = int(hdu.header.get("NAXIS", 0))
        if naxis != 2:
            raise WorkbookError(f"{path.name}: SCI,{ver} has {naxis} axes (a cube or an empty plane); give "
                                "calibrated single exposures (flt/flc/cal), not rateints/calints cubes")
        var = {k: find(f"VAR_{k}") for k in ("POISSON", "RNOISE", "FLAT")}
        chips.append((hdu, find("ERR"), find("DQ"), {k: v for k, v in var.items() if v is not None}))
    if not chips:
        raise WorkbookError(f"{path.name} has no SCI extension; give the exposures as the pipelines write them "
                            "(flt/flc: SCI/ERR/DQ per chip; cal: SCI/ERR/DQ/VAR_*)")
    return chips


def _poisson_gain(sci, var, good):
    """Variance per unit of signal (image units): the slope of the file's variance against SCI.

    The median slope over pixels well above the sky (stars), relative to the sky's median; None
    when too few such pixels exist (the caller then uses the units).
    """
    s, v = sci[good], var[good]
    if s.size < 100:
        return None
    s0, v0 = np.median(s), np.median(v)
    bright = s > s0 + 20.0 * math.sqrt(max(v0, 1e-30))
    if bright.sum() < 30:
        return None
    slope = (v[bright] - v0) / (s[bright] - s0)
    g = float(np.median(slope))
    return g if np.isfinite(g) and g > 0 else None


def read_exposure(path, expect=None):
    """Open one calibrated exposure (HST flt/flc, JWST cal) for a joint fit.

    Parameters
    ----------
    path : str or `~pathlib.Path`
    expect : dict, optional
        ``instrument`` and ``filter`` the exposure must have (the product's, from its catalog meta).

    Returns
    -------
    exposure : dict
        ``name`` (file name), ``instrument``, ``filter``, ``telescope``, ``distortion`` (what the WCS
        carries), and ``chips``: per chip a dict with ``data``, ``var`` (float arrays, image units),
        ``bad`` (bool: rejected DQ bits or non-finite), ``wcs`` (full astropy WCS), ``gain``
        (variance per unit of signal), ``scale`` (arcsec/px), ``extver``, ``n_bad``.

    Raises
    ------
    WorkbookError
        Missing or non-FITS file; no SCI, a cube, no DQ, no ERR/VAR; another instrument or filter
        than ``expect``.

    Warns
    -----
    UserWarning
        A TAN-only WCS on a distorted detector (with the size of the distortion it ignores).
    """
    from astropy.wcs.utils import proj_plane_pixel_scales

    from .images import _distortion_note, _meta_from_header

    path = require_path(path, "exposure path")
    with open_fits(path, "exposure") as hdul:
        chips = _chips(hdul, path)
        primary = hdul[0].header
        telescope = str(primary.get("TELESCOP", chips[0][0].header.get("TELESCOP", ""))).strip().upper()
        reject = JWST_REJECT_BITS if telescope.startswith("JWST") else HST_REJECT_BITS
        out = []
        meta = None
        for sci, err, dq, var in chips:
            header = primary.copy()
            for key, value in sci.header.items():
                if key not in header and key not in ("", "COMMENT", "HISTORY"):
                    header[key] = value
            if dq is None:
                raise WorkbookError(f"{path.name}: SCI,{sci.ver} has no DQ extension, so bad pixels, saturation and "
                                    "flagged cosmic rays cannot be rejected; give the pipeline's flt/flc/cal file")
            if err is None and not var:
                raise WorkbookError(f"{path.name}: SCI,{sci.ver} has neither ERR nor VAR_* extensions (no per-pixel "
                                    "noise); give the pipeline's flt/flc/cal file")
            data = np.asarray(sci.data, dtype=np.float64)
            shape = data.shape
            for name, hdu in [("DQ", dq), ("ERR", err)] + [(f"VAR_{k}", h) for k, h in var.items()]:
                if hdu is not None and tuple(hdu.data.shape) != shape:
                    raise WorkbookError(f"{path.name}: {name},{sci.ver} has shape {hdu.data.shape}, SCI {shape}; the "
                                        "file is damaged: download it again")
            wcs = celestial_wcs(sci.header, where=f"{path.name}[SCI,{sci.ver}]", fobj=hdul)
            if meta is None:
                meta = _meta_from_header(header, wcs, path)
                meta["distortion"] = _distortion_note(header, wcs, path, shape)
            if var:
                variance = sum(np.asarray(h.data, dtype=np.float64) for h in var.values())
                gain_plane = np.asarray(var["POISSON"].data, dtype=np.float64) if "POISSON" in var else variance
            else:
                variance = np.asarray(err.data, dtype=np.float64) ** 2
                gain_plane = variance
            bad = ((np.asarray(dq.data).astype(np.int64) & reject) != 0) | ~np.isfinite(data) | ~np.isfinite(variance)
            bad |= variance <= 0
            gain = _poisson_gain(data, gain_plane, ~bad)
            if gain is None:  # too few bright pixels: what the units say (electrons: 1, e-/s: 1/EXPTIME)
                bunit = str(header.get("BUNIT", "")).upper()
                exptime = float(header.get("EXPTIME", 0) or 0)
                gain = 1.0 if bunit == "ELECTRONS" else (1.0 / exptime if exptime > 0 else 0.0)
            out.append({"data": data, "var": variance, "bad": bad, "wcs": wcs, "gain": gain, "extver": sci.ver,
                        "scale": float(np.mean(proj_plane_pixel_scales(wcs.celestial)) * 3600.0),
                        "n_bad": int(bad.sum())})
    if expect:
        for key in ("instrument", "filter"):
            want, got = str(expect.get(key) or "").upper(), str(meta.get(key) or "").upper()
            if want and got != want:
                raise WorkbookError(f"{path.name} is {key} {got or '?'} but the product is {want}; give the "
                                    "exposures that were drizzled into this product (same association)")
    return {"name": path.name, "instrument": meta["instrument"], "filter": meta["filter"], "telescope": telescope,
            "distortion": meta["distortion"], "chips": out}


class _Observations:
    """Stamps of every (star, chip) pair on which a star falls, cut once from the exposures.

    Arrays are stacked over observations ``j``: ``star[j]``, ``exposure[j]``, ``chip[j]`` (global
    chip index), the stamp's lower-left pixel ``x0, y0`` and its ``data``, ``var``, ``bad``
    (``(n_obs, S, S)``, S = 2·half + 1).
    """

    def __init__(self, exposures, product_wcs, xo, yo, half):
        self.chip_wcs, self.gain = [], []
        stars, exps, chips, x0s, y0s, datas, vars_, bads = [], [], [], [], [], [], [], []
        self.half = half
        self.product_wcs = product_wcs
        self.n_stars = xo.size
        ra, dec = product_wcs.all_pix2world(xo, yo, 0)
        self.on_exposure = np.zeros(len(exposures), int)
        k = 0
        for e, exp in enumerate(exposures):
            for chip in exp["chips"]:
                xd, yd = chip["wcs"].all_world2pix(ra, dec, 0, tolerance=1e-8, maxiter=50, quiet=True)
                ny, nx = chip["data"].shape
                ix, iy = np.rint(xd).astype(int), np.rint(yd).astype(int)
                inside = np.isfinite(xd) & (ix - half >= 0) & (iy - half >= 0) & (ix + half < nx) & (iy + half < ny)
                idx = np.nonzero(inside)[0]
                self.on_exposure[e] += idx.size
                if idx.size:
                    kk = np.arange(-half, half + 1)
                    py = iy[idx, None, None] + kk[None, :, None]
                    px = ix[idx, None, None] + kk[None, None, :]
                    datas.append(chip["data"][py, px])
                    vars_.append(chip["var"][py, px])
                    bads.append(chip["bad"][py, px])
                    stars.append(idx)
                    exps.append(np.full(idx.size, e))
                    chips.append(np.full(idx.size, k))
                    x0s.append(ix[idx] - half)
                    y0s.append(iy[idx] - half)
                self.chip_wcs.append(chip["wcs"])
                self.gain.append(chip["gain"])
                k += 1
        # per chip, the detector-pixel offset of its WCS relative to the other exposures' (`_chip_offsets`)
        self.shift = np.zeros((k, 2))
        cat = (lambda parts, dtype=float: np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype))
        self.star, self.exposure, self.chip = cat(stars, int), cat(exps, int), cat(chips, int)
        self.x0, self.y0 = cat(x0s), cat(y0s)
        s = 2 * half + 1
        self.data = np.concatenate(datas) if datas else np.zeros((0, s, s))
        self.var = np.concatenate(vars_) if vars_ else np.zeros((0, s, s))
        self.bad = np.concatenate(bads) if bads else np.zeros((0, s, s), bool)
        self.clipped = np.zeros_like(self.bad)
        grid = np.arange(s, dtype=float)
        self.gx, self.gy = np.meshgrid(grid, grid)

    def detector(self, xo, yo, h=0.05):
        """Detector position of each observation's star at output position (xo, yo) and d(det)/d(out)."""
        n = self.star.size
        xd, yd = np.zeros(n), np.zeros(n)
        jac = np.zeros((n, 2, 2))
        for k in np.unique(self.chip):
            sel = np.nonzero(self.chip == k)[0]
            s = self.star[sel]
            wcs = self.chip_wcs[k]

            def det(dx, dy):
                ra, dec = self.product_wcs.all_pix2world(xo[s] + dx, yo[s] + dy, 0)
                return np.stack(wcs.all_world2pix(ra, dec, 0, tolerance=1e-10, maxiter=50, quiet=True))

            c = det(0.0, 0.0)
            xd[sel], yd[sel] = c[0] - self.x0[sel] + self.shift[k, 0], c[1] - self.y0[sel] + self.shift[k, 1]
            jac[sel, :, 0] = ((det(h, 0.0) - det(-h, 0.0)) / (2 * h)).T
            jac[sel, :, 1] = ((det(0.0, h) - det(0.0, -h)) / (2 * h)).T
        return xd, yd, jac


def _chip_offsets(obs, prf, fit, stars, radius):
    """Offset (detector pixels) of each chip's WCS from the joint fit, and its 1σ error, from ``stars``.

    Every observation of a star gets one Gauss–Newton step of its own detector position (flux and
    background free) from the joint model; the inverse-variance mean of those steps over a chip's
    stars is where its WCS puts the stars relative to the other exposures (a relative alignment
    error of the flt/flc/cal headers, typically a few mas). The mean over exposures is degenerate with
    the common positions, so it is set to zero: the positions stay in the product's frame.
    """
    xd, yd, _ = obs.detector(fit["x"], fit["y"])
    bkg, sky_var = _ring_background(obs, xd, yd, radius + 0.5)
    sel = np.isin(obs.star, stars) & np.isfinite(fit["flux"]) & (fit["flux"] > 0)
    h2 = min(obs.half, radius + 2)
    o = obs.half - h2
    box = (slice(o, o + 2 * h2 + 1), slice(o, o + 2 * h2 + 1))
    n_chip = obs.shift.shape[0]
    num, den = np.zeros((n_chip, 2)), np.zeros((n_chip, 2, 2))
    if sel.any():
        j = np.nonzero(sel)[0]
        dx, dy = obs.gx[box][None] - xd[j, None, None], obs.gy[box][None] - yd[j, None, None]
        p, gx, gy = prf.sample(dx, dy, grad=True)
        f = fit["flux"][j, None, None]
        model = f * p
        var = sky_var[j, None, None] + np.asarray(obs.gain)[obs.chip[j], None, None] * np.clip(model, 0, None)
        use = (np.hypot(dx, dy) <= radius + 0.5) & ~obs.bad[j][:, box[0], box[1]] & ~obs.clipped[j][:, box[0], box[1]]
        use &= var > 0
        w = np.where(use, 1.0 / np.where(use, var, 1.0), 0.0)
        resid = np.where(use, obs.data[j][:, box[0], box[1]] - model - fit["bkg"][j, None, None], 0.0)
        d = np.stack([-f * gx, -f * gy, p, np.ones_like(p)], axis=-1)  # d(model)/d(shift x, y), flux, background
        hess = np.einsum("nijk,nij,nijl->nkl", d, w, d) + np.eye(4) * 1e-30
        grad = np.einsum("nijk,nij,nij->nk", d, w, resid)
        cov = np.linalg.pinv(hess)[:, :2, :2]
        step = np.einsum("nab,nb->na", np.linalg.pinv(hess)[:, :2, :], grad)
        info = np.linalg.pinv(cov)
        np.add.at(num, obs.chip[j], np.einsum("nab,nb->na", info, step))
        np.add.at(den, obs.chip[j], info)
    seen = den[:, 0, 0] > 0
    offset, error = np.zeros((n_chip, 2)), np.full((n_chip, 2), np.nan)
    if seen.sum() >= 2:
        cov = np.linalg.pinv(den[seen])
        offset[seen] = np.einsum("nab,nb->na", cov, num[seen])
        error[seen] = np.sqrt(np.stack([cov[:, 0, 0], cov[:, 1, 1]], axis=1))
        offset[seen] -= offset[seen].mean(axis=0)
    return offset, error


def _ring_background(obs, xd, yd, r_in):
    """Per-observation sky level and sky variance: medians over the stamp outside ``r_in`` pixels."""
    r = np.hypot(obs.gx[None] - xd[:, None, None], obs.gy[None] - yd[:, None, None])
    ring = (r > r_in) & ~obs.bad & ~obs.clipped
    data = np.where(ring, obs.data, np.nan)
    var = np.where(ring, obs.var, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nan_to_num(np.nanmedian(data.reshape(len(r), -1), axis=1)), np.nanmedian(var.reshape(len(r), -1),
                                                                                          axis=1)


def _median_by_star(values, star, n):
    """Median of ``values`` over the observations of each star (NaN for a star without any)."""
    out = np.full(n, np.nan)
    order = np.argsort(star, kind="stable")
    groups = np.split(values[order], np.flatnonzero(np.diff(star[order])) + 1)
    out[np.unique(star)] = [np.median(g) for g in groups]
    return out


def _joint_fit(obs, prf, xo, yo, radius, iterations=8, clip=True, clip_sigma=CLIP_SIGMA):
    """Weighted Gauss–Newton fit of every star's output position, flux and background per observation.

    Returns a dict: ``x, y`` (output pixels), ``cov`` (n, 2, 2), ``chi2nu``, ``n_obs`` (observations
    used), ``n_pix``, ``n_clipped`` (pixels clipped per star), ``ok``; per observation ``flux``, ``bkg``.
    """
    n, m = xo.size, obs.star.size
    xo, yo = xo.astype(float).copy(), yo.astype(float).copy()
    n_obs_star = np.bincount(obs.star, minlength=n)
    can_clip = clip & (n_obs_star[obs.star] >= 3)
    xd, yd, jac = obs.detector(xo, yo)
    bkg, sky_var = _ring_background(obs, xd, yd, radius + 0.5)
    flux = np.zeros(m)
    gain = np.asarray(obs.gain)[obs.chip]
    # the fit reads only a box of half-size radius + 2 about the stamp centre (the star is within a
    # pixel of it): half of the PSF samples of the whole stamp
    h2 = min(obs.half, radius + 2)
    o = obs.half - h2
    box = (slice(None), slice(o, o + 2 * h2 + 1), slice(o, o + 2 * h2 + 1))
    data, rejected, clipped = obs.data[box], obs.bad[box], obs.clipped[box]  # views: the clip writes through
    grid_x, grid_y = obs.gx[box[1:]], obs.gy[box[1:]]  # stamp coordinates of the box pixels
    for it in range(iterations + 1):
        xd, yd, _ = obs.detector(xo, yo)
        dx = grid_x[None] - xd[:, None, None]
        dy = grid_y[None] - yd[:, None, None]
        p, gx, gy = prf.sample(dx, dy, grad=True)
        use = (np.hypot(dx, dy) <= radius + 0.5) & ~rejected & ~clipped & np.isfinite(data)
        if it == 0:  # linear start for flux and background: flux from the PSF-weighted sum
            # where() rather than a zero weight: JWST cal files put NaN in SCI at DO_NOT_USE pixels, and 0 x NaN
            # would make the star's flux, then its whole normal matrix, NaN
            w0 = np.where(use, p, 0.0)
            flux = np.sum(np.where(use, w0 * (data - bkg[:, None, None]), 0.0), axis=(1, 2)) / np.maximum(
                np.sum(w0 * p, axis=(1, 2)), 1e-30)
        model_star = flux[:, None, None] * p
        var = sky_var[:, None, None] + gain[:, None, None] * np.clip(model_star, 0, None)
        w = np.where(use, 1.0 / np.where(use & (var > 0), var, np.inf), 0.0)
        resid = np.where(use, data - model_star - bkg[:, None, None], 0.0)
        # derivatives: output (x, y) through the Jacobian; flux; background
        ddx, ddy = -flux[:, None, None] * gx, -flux[:, None, None] * gy
        d_out = [ddx * jac[:, 0, 0, None, None] + ddy * jac[:, 1, 0, None, None],
                 ddx * jac[:, 0, 1, None, None] + ddy * jac[:, 1, 1, None, None]]
        d_loc = [p, np.ones_like(p)]
        A = np.array([[np.sum(w * a * b, axis=(1, 2)) for b in d_out] for a in d_out]).transpose(2, 0, 1)
        B = np.array([[np.sum(w * a * b, axis=(1, 2)) for b in d_loc] for a in d_out]).transpose(2, 0, 1)
        C = np.array([[np.sum(w * a * b, axis=(1, 2)) for b in d_loc] for a in d_loc]).transpose(2, 0, 1)
        ga = np.stack([np.sum(w * a * resid, axis=(1, 2)) for a in d_out], axis=1)
        gb = np.stack([np.sum(w * a * resid, axis=(1, 2)) for a in d_loc], axis=1)
        C = C + np.eye(2) * 1e-30
        Cinv = np.linalg.pinv(C)
        BCi = np.einsum("jab,jbc->jac", B, Cinv)
        S = np.zeros((n, 2, 2))
        r = np.zeros((n, 2))
        np.add.at(S, obs.star, A - np.einsum("jab,jcb->jac", BCi, B))
        np.add.at(r, obs.star, ga - np.einsum("jab,jb->ja", BCi, gb))
        ok = n_obs_star > 0
        S_safe = np.where(ok[:, None, None], S, np.eye(2))
        cov = np.linalg.pinv(S_safe)
        if it == iterations:
            break
        step = np.einsum("nab,nb->na", cov, r)
        step = np.where(np.isfinite(step), step, 0.0)
        big = np.max(np.abs(step), axis=1)
        step *= np.where(big > 0.5, 0.5 / np.maximum(big, 1e-30), 1.0)[:, None]
        xo += step[:, 0]
        yo += step[:, 1]
        dloc = np.einsum("jab,jb->ja", Cinv, gb - np.einsum("jba,jb->ja", B, step[obs.star]))
        flux += dloc[:, 0]
        bkg += dloc[:, 1]
        if clip and it >= 2 and it % 2 == 0 and it < iterations - 1:
            # robust, iterated clip against the joint model (recomputed from the current model each time)
            model = model_star + bkg[:, None, None]
            noise2 = np.where(var > 0, var, np.inf) + (MODEL_ERROR_FRACTION * model_star) ** 2
            z = np.abs(data - model) / np.sqrt(noise2)
            # a PSF model that misfits a bright star misfits it in every exposure; a cosmic ray hits one: the
            # threshold grows with the star's median chi2_nu over its exposures, which one hit barely moves
            chi2_obs = np.sum(np.where(use, z**2, 0.0), axis=(1, 2)) / np.maximum(use.sum(axis=(1, 2)), 1)
            scale = np.sqrt(np.maximum(_median_by_star(chi2_obs, obs.star, n), 1.0))[obs.star]
            inner = np.hypot(dx, dy) <= radius + 0.5
            hard = can_clip[:, None, None] & inner & ~rejected & (z > clip_sigma * scale[:, None, None])
            # a track's fainter edge pixels: neighbours (up to GROW_PASSES pixels away, 8-connected) of a
            # clipped pixel above GROW_SIGMA
            grown = hard.copy()
            for _ in range(GROW_PASSES):
                g = grown.copy()
                g[:, 1:, :] |= grown[:, :-1, :]
                g[:, :-1, :] |= grown[:, 1:, :]
                g[:, :, 1:] |= g[:, :, :-1].copy()
                g[:, :, :-1] |= g[:, :, 1:].copy()
                grown = g & inner & (z > GROW_SIGMA * scale[:, None, None])
                grown |= hard
            clipped[...] = grown
    n_pix_obs = use.sum(axis=(1, 2))
    chi2_obs = np.sum(w * resid**2, axis=(1, 2))
    n_pix = np.bincount(obs.star, weights=n_pix_obs, minlength=n)
    chi2 = np.bincount(obs.star, weights=chi2_obs, minlength=n)
    used = np.bincount(obs.star, weights=(n_pix_obs > 8).astype(float), minlength=n).astype(int)
    dof = np.maximum(n_pix - 2 - 2 * n_obs_star, 1)
    n_clipped = np.bincount(obs.star, weights=obs.clipped.sum(axis=(1, 2)), minlength=n).astype(int)
    good = ok & np.isfinite(xo) & np.isfinite(yo) & (cov[:, 0, 0] > 0) & (cov[:, 1, 1] > 0)
    # each star's SNR on the exposures: its flux information (position held, background free) summed over them
    info_flux = np.where(np.isfinite(Cinv[:, 0, 0]) & (Cinv[:, 0, 0] > 0) & (n_pix_obs > 8),
                         flux**2 / np.where(Cinv[:, 0, 0] > 0, Cinv[:, 0, 0], 1.0), 0.0)
    snr = np.sqrt(np.bincount(obs.star, weights=info_flux, minlength=n))
    return {"x": xo, "y": yo, "cov": cov, "chi2nu": chi2 / dof, "dof": dof, "n_obs": used, "n_pix": n_pix.astype(int),
            "n_clipped": n_clipped, "ok": good, "flux": flux, "bkg": bkg, "snr": snr}



def _epsf_from_observations(obs, fit, stars, fwhm, radius, oversampling, initial=None):
    """An ePSF built from the stamps of ``stars`` in every exposure, at the positions ``fit`` predicts.

    The stamps are laid side by side in one mosaic (rejected and clipped pixels marked bad, each
    stamp's fitted background subtracted), so `build_epsf` sees every exposure's sub-pixel phase of
    every star at once; positions stay fixed inside it (they come from the joint fit).
    """
    from .epsf import build_epsf

    sel = np.nonzero(np.isin(obs.star, stars))[0]
    s = obs.data.shape[1]
    n_cols = int(math.ceil(math.sqrt(sel.size)))
    n_rows = int(math.ceil(sel.size / n_cols))
    mosaic = np.zeros((n_rows * s, n_cols * s))
    variance = np.ones_like(mosaic)
    bad = np.ones(mosaic.shape, bool)
    xd, yd, _ = obs.detector(fit["x"], fit["y"])
    xs, ys = np.zeros(sel.size), np.zeros(sel.size)
    scale = _stamp_variance_scale(obs, sel, fit, xd, yd, radius)
    for i, j in enumerate(sel):
        r, c = divmod(i, n_cols)
        block = (slice(r * s, (r + 1) * s), slice(c * s, (c + 1) * s))
        mosaic[block] = np.nan_to_num(obs.data[j] - fit["bkg"][j])
        variance[block] = np.where(obs.var[j] > 0, obs.var[j], 1.0) * scale[i]
        bad[block] = obs.bad[j] | obs.clipped[j]
        xs[i], ys[i] = c * s + xd[j], r * s + yd[j]
    epsf = build_epsf(mosaic, xs, ys, variance=variance, bad=bad, fwhm=fwhm, oversampling=oversampling,
                      radius=radius, initial=initial, n_iter=16 if initial is None else 8)
    return _symmetric_centre(epsf, fwhm)


def _stamp_variance_scale(obs, sel, fit, xd, yd, radius):
    """Per stamp of ``sel``, a factor on its variance so that `build_epsf`'s cap acts on stars, not stamps.

    `build_epsf` weights each star's samples by inverse variance but caps a star at SNR
    `EPSF_STAR_SNR_CAP` (one star samples one phase in a single image). Here every stamp is one exposure
    of a star: capped stamp by stamp, a bright star's 1500 s exposure would weigh as much as its 150 s one,
    though it holds 10x the information (on the NIRCam bed with 150/450/900/1500 s exposures the ePSF then
    left pulls of 1.14 at SNR 100-300; the true PSF 1.06). All stamps of one star get one factor, which
    brings its best exposure to the cap: its exposures keep their inverse-variance weights relative to
    each other, and no star counts more than the cap.
    """
    r = np.hypot(obs.gx[None] - xd[sel, None, None], obs.gy[None] - yd[sel, None, None])
    use = (r <= radius) & ~obs.bad[sel] & ~obs.clipped[sel] & (obs.var[sel] > 0)
    signal = np.where(use, obs.data[sel] - fit["bkg"][sel, None, None], 0.0)
    # the optimal (PSF-weighted) SNR^2, as build_epsf's cap reads it: sum of signal^2 / variance, less the
    # noise's own expectation (one per pixel)
    chi2 = np.sum(np.where(use, signal**2 / np.where(use, obs.var[sel], 1.0), 0.0), axis=(1, 2))
    snr2 = np.maximum(chi2 - use.sum(axis=(1, 2)), 0.0)
    star = obs.star[sel]
    best = np.zeros(int(star.max()) + 1 if star.size else 0)
    np.maximum.at(best, star, snr2)
    return np.maximum(1.0, best[star] / EPSF_STAR_SNR_CAP**2)


def _symmetric_centre(epsf, fwhm):
    """The ePSF shifted so that its core is point-symmetric about the origin.

    `build_epsf` centres its model on the first moment within 3 FWHM, whose noisy wings leave the
    origin a few thousandths of a pixel off the PSF's centre (0.005 px on the ACS/WFC test bed, as
    large as the bound of an SNR-200 star). All positions share that offset, so the data cannot fix
    it; the centre of symmetry of the core (within 1.5 FWHM, where the model is best measured) is a
    convention with a much smaller error, and the one the instruments' PSFs (symmetric pupils) have.
    """
    from photutils.psf import ImagePSF
    from scipy import ndimage
    from scipy.optimize import least_squares

    from .psf import _PRF

    prf = _PRF(epsf)
    k = np.arange(-math.ceil(1.5 * fwhm), math.ceil(1.5 * fwhm) + 1, 0.5)
    ux, uy = np.meshgrid(k, k)
    core = np.hypot(ux, uy) <= 1.5 * fwhm
    ux, uy = ux[core], uy[core]
    res = least_squares(lambda s: prf.sample(ux + s[0], uy + s[1]) - prf.sample(-ux + s[0], -uy + s[1]), [0.0, 0.0],
                        x_scale=0.01)
    sx, sy = (float(v) for v in res.x)
    os_ = prf.os
    grid = ndimage.shift(np.asarray(epsf.data, float), (-sy * os_, -sx * os_), order=3, mode="constant")
    out = ImagePSF(grid, oversampling=os_)
    out.meta = dict(epsf.meta, symmetric_shift_pix=(round(sx, 5), round(sy, 5)))
    out.fwhm_pix = epsf.fwhm_pix
    return out


def _core_rejected(obs, n, fwhm):
    """Stars with rejected pixels within 1 FWHM of the centre in at least half of their exposures.

    A saturated core is rejected in every exposure (DQ), a cosmic ray or a hot pixel in one. Saturation
    is judged from the exposures' DQ, which is what the fit sees: the product's saturation flag also
    marks flat-topped cores that no exposure saturates (on the 256² ACS bed, its 10 brightest stars;
    an ePSF without them misfit them at chi2_nu 3-5).
    """
    c = obs.half
    core = np.hypot(obs.gx - c, obs.gy - c) <= fwhm
    hit = np.any(obs.bad[:, core], axis=1)
    n_hit = np.bincount(obs.star, weights=hit.astype(float), minlength=n)
    return n_hit >= 0.5 * np.maximum(np.bincount(obs.star, minlength=n), 1)


def _nearest_real_source(catalog, rows, min_flux_ratio=NEIGHBOUR_FLUX_RATIO):
    """Distance (product pixels) from each of ``rows`` to the nearest other source that can spoil its stamp.

    Cosmic-ray detections of the product (kind ``artifact``) do not count (the exposures' own pixels
    are clipped), nor do sources fainter than ``min_flux_ratio`` of the star (their light is below
    the ePSF's own noise in the stamp; on a product with unrejected cosmic rays most neighbours are
    faint cosmic-ray blends classed extended).
    """
    from scipy.spatial import cKDTree

    real = np.nonzero(np.asarray(catalog["kind"]).astype(str) != "artifact")[0]
    out = np.full(len(rows), np.inf)
    if real.size < 2:
        return out
    xy = np.c_[np.asarray(catalog["x"], float), np.asarray(catalog["y"], float)]
    flux = np.abs(np.asarray(catalog["flux"], float))
    tree = cKDTree(xy[real])
    k = min(real.size, 16)
    d, i = tree.query(xy[rows], k=k)
    others = real[i]
    count = (others != np.asarray(rows)[:, None]) & (flux[others] >= min_flux_ratio * flux[rows][:, None])
    d = np.where(count, d, np.inf)
    return np.min(d, axis=1)


def _product_wcs(product):
    from astropy.wcs import WCS

    if isinstance(product, WCS):
        return product
    from .images import read_image

    info = read_image(product)
    info["hdul"].close()
    if info.get("raw_hdul") is not None:
        info["raw_hdul"].close()
    return info["wcs"]


def refine_on_exposures(catalog, exposure_paths, product, *, psf=None, epsf_iterations=3, iterations=8,
                        clip_sigma=CLIP_SIGMA, epsf_min_snr=20.0, min_exposures=2, align_exposures=True):
    """Refine the catalog of a drizzled product by a joint PSF fit on its input exposures.

    Parameters
    ----------
    catalog : `~astropy.table.Table`
        `extract_sources_fits` of the drizzled product (``x, y`` in its pixels, ``x_err, y_err``,
        ``kind``, ``flags``, ``snr``, ``method``; meta ``instrument``, ``filter``, ``fwhm_pix``,
        ``pixel_scale``).
    exposure_paths : sequence of str or `~pathlib.Path`
        The flt/flc (HST) or cal (JWST) files drizzled into the product (same instrument and filter).
    product : str, `~pathlib.Path` or `~astropy.wcs.WCS`
        The drizzled product (its WCS defines the catalog's ``x, y``).
    psf : `photutils.psf.ImagePSF`, optional
        A detector-sampled PSF to use instead of the ePSF built from the exposures.
    epsf_iterations : int
        Rounds of (ePSF from the exposures at the current positions, joint fit).
    iterations : int
        Gauss–Newton iterations of the first joint fit (half as many, at least 4, in later rounds, which
        start from converged positions).
    clip_sigma : float
        Outlier clip against the joint model, σ (stars seen in ≥ 3 exposures).
    epsf_min_snr : float
        Catalog SNR above which an isolated unflagged point source builds the ePSF.
    min_exposures : int
        Exposures a star must be fitted on to take the refined position (≥ 2).
    align_exposures : bool
        Fit a detector-pixel offset of each chip's WCS relative to the other exposures, from the ePSF
        stars, between rounds. Their mean is held at zero: the positions are on the mean of the
        exposures' frames (the meta gives its offset from the product's).

    Returns
    -------
    refined : `~astropy.table.Table`
        A copy of ``catalog``: where the joint fit beats the product's own error, ``x, y, x_err,
        y_err, xy_cov, ra, dec, ra_err, dec_err`` are the joint fit's and ``method`` is
        ``"exposures"``. Added columns: ``x_exp, y_exp, x_exp_err, y_exp_err`` (the joint fit for
        every fitted point source, product pixels, NaN where none), ``snr_exp`` (the star's optimal SNR on
        the exposures: its flux information summed over them, what the exposures' Cramér–Rao bound is
        written for; a product's ``snr`` can read far lower for a bright star), ``n_exposures`` (exposures
        fitted), ``n_clipped`` (pixels clipped), ``chi2nu_exp``. Meta ``exposures``: files used,
        ``psf_source`` (``epsf`` / ``library`` / ``model`` / ``supplied``), PSF description, pixels
        rejected by DQ and clipped, stars refined, ``wcs_offsets_pix`` and their errors (per chip, the
        fitted offset of its WCS, detector pixels), ``frame_offset_from_product_pix`` (``[offset, error]``
        per axis: the refined positions' mean offset from the product's, bright stars), and
        ``sentence`` (one line saying what was done).

    Raises
    ------
    WorkbookError
        Bad catalog; an exposure that does not overlap the product, of another instrument or
        filter, without DQ, a cube; fewer than 2 usable exposures.
    """
    from .library import library_psf
    from .psf import _PRF

    hint = "give the catalog extract_sources_fits returned for the drizzled product"
    require_table(catalog, "catalog", ("x", "y", "x_err", "y_err", "ra", "dec", "ra_err", "dec_err", "flux", "kind",
                                       "flags", "snr", "method"), hint,
                  numeric=("x", "y", "x_err", "y_err", "ra", "dec", "ra_err", "dec_err", "flux", "flags", "snr"))
    if isinstance(exposure_paths, (str, bytes, Path)) or not hasattr(exposure_paths, "__len__"):
        raise WorkbookError(f"exposure_paths = {exposure_paths!r:.60} is not a list of files; give the flt/flc/cal "
                            "paths as a list, e.g. sorted(glob.glob('*_flc.fits'))")
    epsf_iterations = require_number(epsf_iterations, "epsf_iterations", integer=True, minimum=0, maximum=20,
                                     example="3")
    iterations = require_number(iterations, "iterations", integer=True, minimum=1, maximum=100, example="8")
    clip_sigma = require_number(clip_sigma, "clip_sigma", minimum=2.0, maximum=1e3, example="5.0")
    epsf_min_snr = require_number(epsf_min_snr, "epsf_min_snr", minimum=0.0, example="20.0")
    min_exposures = require_number(min_exposures, "min_exposures", integer=True, minimum=2, maximum=1000,
                                   example="2")
    if not isinstance(align_exposures, (bool, np.bool_)):
        raise WorkbookError(f"align_exposures = {align_exposures!r:.30} is not True/False; give a bool")
    product_wcs = _product_wcs(product)
    meta = catalog.meta
    expect = {"instrument": meta.get("instrument"), "filter": meta.get("filter")}
    exposures = [read_exposure(p, expect) for p in exposure_paths]
    if len(exposures) < 2:
        raise WorkbookError(f"{len(exposures)} exposure(s) given; a joint fit needs at least 2 (the flt/flc/cal "
                            "members of the product's association)")
    point = np.nonzero(np.asarray(catalog["kind"]).astype(str) == "point")[0]
    xo0 = np.asarray(catalog["x"], float)[point]
    yo0 = np.asarray(catalog["y"], float)[point]
    scale = float(np.median([c["scale"] for e in exposures for c in e["chips"]]))
    product_scale = float(meta.get("pixel_scale") or scale)
    fwhm = float(meta.get("fwhm_pix") or 2.0) * product_scale / scale  # exposure pixels
    r_epsf = int(max(6, math.ceil(4 * fwhm)))
    radius = int(max(4, math.ceil(FIT_RADIUS_FWHM * fwhm)))
    obs = _Observations(exposures, product_wcs, xo0, yo0, half=r_epsf + 2)
    for e, n_on in zip(exposures, obs.on_exposure):
        if n_on == 0:
            raise WorkbookError(f"{e['name']} does not overlap the product: none of the catalog's {point.size} point "
                                "sources falls on it; give the exposures drizzled into this product")
    n_obs_star = np.bincount(obs.star, minlength=point.size)
    if np.max(n_obs_star, initial=0) < 2:
        raise WorkbookError("no point source falls on 2 or more of the exposures (fewer than 2 usable exposures); "
                            "give the exposures drizzled into this product")
    flags = np.asarray(catalog["flags"])[point]
    snr = np.asarray(catalog["snr"], float)[point]
    nn = _nearest_real_source(catalog, point)
    # isolated from real sources (cosmic-ray detections of the product, kind "artifact", are not
    # neighbours: the exposures' own pixels are clipped), unsaturated, off the edge, fitted
    bright = np.nonzero(((flags & (FLAG_EDGE | FLAG_PSF_FAILED)) == 0) & (snr > epsf_min_snr) & (n_obs_star >= 2)
                        & (nn * product_scale / scale > r_epsf + 2 * fwhm) & ~_core_rejected(obs, point.size, fwhm))[0]
    fit = {"x": xo0, "y": yo0, "bkg": None}
    if psf is not None:
        prf, source, model = _PRF(psf), "supplied", str(getattr(psf, "meta", {}).get("model", "supplied PSF"))
    elif bright.size >= EPSF_MIN_STARS:
        source = "epsf"
    else:
        lib = library_psf(exposures[0]["instrument"], exposures[0]["filter"], scale, drizzled=False)
        if lib is None:
            raise WorkbookError(f"only {bright.size} bright isolated point sources for an ePSF (need {EPSF_MIN_STARS}) "
                                f"and no library PSF for {exposures[0]['instrument']} {exposures[0]['filter']}; "
                                "pass psf=... (a detector-sampled photutils ImagePSF)")
        warnings.warn(f"only {bright.size} bright isolated point sources for an ePSF from the exposures (need "
                      f"{EPSF_MIN_STARS}); the joint fit uses the {lib.meta['model']}", SourceExtractionWarning,
                      stacklevel=2)
        prf, source, model = _PRF(lib), lib.meta["psf_source"], lib.meta["model"]
    epsf = None
    oversampling = EPSF_OVERSAMPLING
    rounds = max(1, epsf_iterations) if source == "epsf" else (2 if align_exposures else 1)
    offset_err = np.full((obs.shift.shape[0], 2), np.nan)
    for k in range(rounds):
        if source == "epsf":
            if fit["bkg"] is None:
                xd, yd, _ = obs.detector(xo0, yo0)
                fit["bkg"] = _ring_background(obs, xd, yd, radius + 0.5)[0]
            epsf = _epsf_from_observations(obs, fit, bright, fwhm, r_epsf, oversampling, initial=epsf)
            if k == 0 and float(epsf.fwhm_pix) < EPSF_FINE_GRID_FWHM:
                # judged on the exposures' own stack, not the product's FWHM (cosmic rays left in a product
                # shrink its stellar locus: FWHM read 1.83 px for 2.16, and a 4x grid then cost 2.8x the bound)
                oversampling = 4
                epsf = _epsf_from_observations(obs, fit, bright, fwhm, r_epsf, oversampling)
            prf = _PRF(epsf)
            model = (f"ePSF from {bright.size} stars in {len(exposures)} exposures (oversampling {oversampling}, "
                     f"{k + 1} round(s) with the joint fit)")
        fit = _joint_fit(obs, prf, xo0 if k == 0 else fit["x"], yo0 if k == 0 else fit["y"], radius,
                         iterations=iterations if k == 0 else max(4, iterations // 2), clip_sigma=clip_sigma)
        if k < rounds - 1 and align_exposures and bright.size >= 3:
            offset, offset_err = _chip_offsets(obs, prf, fit, bright, radius)
            obs.shift += offset
    return _refined_table(catalog, point, fit, obs, product_wcs, exposures, source, model, min_exposures, offset_err)


def _refined_table(catalog, point, fit, obs, product_wcs, exposures, source, model, min_exposures, offset_err):
    """The catalog with the joint fit's positions where they beat the product's, and the record."""
    out = catalog.copy(copy_data=True)
    n = len(out)
    cov = fit["cov"].copy()
    # errors scaled by sqrt(chi2_nu) only where the fit is significantly worse than the noise (3 sigma)
    bad_fit = fit["chi2nu"] > 1.0 + 3.0 * np.sqrt(2.0 / fit["dof"])
    cov[bad_fit] *= fit["chi2nu"][bad_fit, None, None]
    sx, sy = np.sqrt(cov[:, 0, 0]), np.sqrt(cov[:, 1, 1])
    cols = {"x_exp": np.full(n, np.nan), "y_exp": np.full(n, np.nan), "x_exp_err": np.full(n, np.nan),
            "y_exp_err": np.full(n, np.nan), "chi2nu_exp": np.full(n, np.nan), "snr_exp": np.full(n, np.nan)}
    fitted = fit["ok"] & (fit["n_obs"] >= 1)
    rows = point[fitted]
    for name, values in (("x_exp", fit["x"]), ("y_exp", fit["y"]), ("x_exp_err", sx), ("y_exp_err", sy),
                         ("chi2nu_exp", fit["chi2nu"]), ("snr_exp", fit["snr"])):
        cols[name][rows] = values[fitted]
    n_exp = np.zeros(n, int)
    n_exp[point] = fit["n_obs"]
    n_clip = np.zeros(n, int)
    n_clip[point] = fit["n_clipped"]
    old = np.hypot(np.asarray(catalog["x_err"], float)[point], np.asarray(catalog["y_err"], float)[point])
    better = fitted & (fit["n_obs"] >= min_exposures) & (np.hypot(sx, sy) < np.where(np.isfinite(old), old, np.inf))
    take = point[better]
    if take.size:
        out["x"][take], out["y"][take] = fit["x"][better], fit["y"][better]
        out["x_err"][take], out["y_err"][take] = sx[better], sy[better]
        if "xy_cov" in out.colnames:
            out["xy_cov"][take] = cov[better, 0, 1]
        ra, dec, ra_err, dec_err = _sky_columns(product_wcs, fit["x"][better], fit["y"][better], sx[better],
                                                sy[better], cov[better, 0, 1])
        out["ra"][take], out["dec"][take] = ra, dec
        out["ra_err"][take], out["dec_err"][take] = ra_err, dec_err
        out["method"] = np.asarray(out["method"]).astype("<U9")
        out["method"][take] = "exposures"
    for name, values in cols.items():
        out[name] = values
        out[name].unit = None if name in ("chi2nu_exp", "snr_exp") else "pix"
    out["n_exposures"] = n_exp
    out["n_clipped"] = n_clip
    # the frame: the joint fit's positions hold the mean of the exposures' WCSs; their offset from the
    # product's own positions (bright refined stars, inverse-variance mean) says how the two frames agree
    bright = better & (np.asarray(catalog["snr"], float)[point] > 30)
    frame = [None, None]
    if bright.sum() >= 3:
        for a, (col, err, new_err) in enumerate((("x", "x_err", sx), ("y", "y_err", sy))):
            d = fit[col][bright] - np.asarray(catalog[col], float)[point][bright]
            w = 1.0 / (np.asarray(catalog[err], float)[point][bright] ** 2 + new_err[bright] ** 2)
            frame[a] = [round(float(np.sum(w * d) / np.sum(w)), 5), round(float(1.0 / np.sqrt(np.sum(w))), 5)]
    n_clipped = int(obs.clipped.sum())
    n_dq = int(sum(c["n_bad"] for e in exposures for c in e["chips"]))
    sentence = (f"positions of {take.size} of {point.size} point sources from a joint PSF fit on {len(exposures)} "
                f"exposures ({source} PSF); the rest keep the product's (the fit did not beat its error or saw fewer "
                f"than {min_exposures} exposures); {n_clipped} outlier pixels clipped")
    out.meta["exposures"] = {
        "files": [e["name"] for e in exposures], "psf_source": source, "psf_model": model,
        "distortion": sorted({e["distortion"] for e in exposures}), "n_refined": int(take.size),
        "n_point": int(point.size), "n_fitted": int(fitted.sum()), "dq_rejected_pixels": n_dq,
        "clipped_pixels": n_clipped, "errors_scaled_by_chi2": int(np.sum(bad_fit & fitted)),
        "poisson_gain": [round(float(c["gain"]), 6) for e in exposures for c in e["chips"]],
        "frame_offset_from_product_pix": {"x": frame[0], "y": frame[1]},
        "wcs_offsets_pix": [[round(float(v), 5) for v in row] for row in obs.shift],
        "wcs_offset_errors_pix": [[round(float(v), 5) if np.isfinite(v) else None for v in row]
                                  for row in offset_err],
        "sentence": sentence}
    return out
