"""Tiles: the extraction of one tile (fast path, PSF refinement, flags, point/extended) and the
tiling plan of large images."""

import math
import time
import warnings

import numpy as np

from .background import _crowded_sky, _prepare_tile
from .catalog import (FLAG_BLEND_OFFSET, FLAG_BLENDED, FLAG_COSMIC_RAY, FLAG_EDGE, FLAG_MASKED, FLAG_PSF_FAILED,
                      FLAG_SATURATED, SourceExtractionWarning)
from .confusion import CONFUSION_RING_FWHM, _add_crowding_errors
from .cosmics import _cr_against_locus, _cr_locus, _physically_sharp, _shape_measures
from .centroids import WINDOWED_FLOOR_FWHM, _windowed_errors
from .detection import (_aperture_flux, _fast_tile, _merge_converged, _neighbour_distance, _saturated,
                        _saturated_fragments, _stellar_size)
from .epsf import _attribute_excess, _epsf_error_variance, _epsf_model_error, _image_fwhm, _make_prf
from .fitting import (_core_deficit, _fit_psf, _mask_cores, _psf_confusion_variance,
                      _refit_minus_neighbours, _render_models)
from .noise import correlation_factor, position_correlation_factor
from .psf import _psf_size
from .redrizzle import _extraction_floor, rejection_error
from .stamps import _stamp_any


def _process_tile(reader, region, core, opts, state):
    """Run the fast path (and the PSF refinement) on one tile; return a dict of columns for the
    sources whose detection centre lies in ``core`` (global pixel coordinates)."""
    (y0, y1), (x0, x1) = region
    data, error, weight, mask = reader.read(slice(y0, y1), slice(x0, x1))
    raw = data if opts["saturation"] is not None else None  # not modified: the subtraction copies
    prep = _prepare_tile(data, error, weight, mask, opts)
    state["n_valid"] += 0 if prep is None else int((~prep["bad"]).sum())
    if prep is None:
        return None
    cat = _fast_tile(prep, opts)
    n = len(cat["x_det"])
    if n == 0:
        return None
    # Aperture photometry (windowed sources): radius max(2.5 r50, 1.5 FWHM_guess).
    fwhm_guess = state.get("fwhm") or 2.5
    ap_r = np.clip(np.maximum(2.5 * cat["r50"], 1.5 * fwhm_guess), 2.0, 50.0)
    flux_ap, flux_ap_err = _aperture_flux(prep, cat["x_win"], cat["y_win"], ap_r)
    snr_ap = flux_ap / np.where(flux_ap_err > 0, flux_ap_err, np.nan)
    iy = np.clip(np.rint(cat["y_win"]).astype(int), 0, prep["sub"].shape[0] - 1)
    ix = np.clip(np.rint(cat["x_win"]).astype(int), 0, prep["sub"].shape[1] - 1)
    sharpness, minor_sigma, sharpness_err, major_sigma = _shape_measures(
        prep["sub"], cat["x_win"], cat["y_win"], np.sqrt(prep["noise"].var(iy, ix)), with_major=True)
    cat["cr_physical"] = _physically_sharp(sharpness, minor_sigma)
    if state.get("size_ref") is None:
        # The stellar locus: 2·r50 of bright compact sources (what a point source measures here).
        if opts["psf"] is not None:
            size_ref = _psf_size(opts["psf"], state["fwhm"])
            state["size_ref_reliable"] = True
            state["size_ref_from_psf"] = True
        else:
            size_ref, n_locus = _stellar_size(cat, np.nan_to_num(snr_ap))
            state["size_ref_reliable"] = n_locus >= 20
            size_ref = _locus_against_optics(size_ref, state)
        if size_ref is None:
            size_ref = 1.35 * (state["fwhm"] or 2.5)
            if state["fwhm"] is None:
                warnings.warn("too few bright compact sources to measure the image FWHM; assuming 2.5 px "
                              "(pass fwhm=... or psf=... to set it)", SourceExtractionWarning, stacklevel=3)
        state["size_ref"] = float(size_ref)
        state["fwhm_provisional"] = state["fwhm"] is None
        if state["fwhm"] is None:
            state["fwhm"] = float(size_ref) / 1.35 if size_ref else 2.5
    # Faint sources can have a noise-shrunken r50 and so a window too small to average the noise:
    # never use a window narrower than 0.6 x a point source's. (The smaller of the stellar locus and
    # the median size of all sources: a locus drawn from bright galaxies must not widen windows.)
    if state.get("size_window") is None:
        faint_ok = np.nan_to_num(snr_ap) > 5
        size_all = float(np.median(2 * cat["r50"][faint_ok])) if faint_ok.sum() >= 20 else state["size_ref"]
        state["size_window"] = min(state["size_ref"], size_all)
    sig_star = 2.0 / 2.35 * state["size_window"] / 2.0
    # Also re-measured in a point source's window: the windowed centroids that converged onto a
    # neighbour (``win_failed`` from _fast_tile; their window held the neighbours' light).
    drifted = cat["win_failed"] & (cat["sig_win"] > sig_star) & bool(state.get("size_ref_reliable"))
    small = ((cat["sig_win"] < 0.6 * sig_star) & bool(state.get("size_ref_reliable"))) | drifted
    fragment = np.zeros(n, bool)
    if small.any():
        xw, yw, ex, ey, cxy, bad_w = _star_window(prep, cat["x_det"][small], cat["y_det"][small], sig_star, state)
        cat["x_win"][small], cat["y_win"][small] = xw, yw
        cat["x_win_err"][small], cat["y_win_err"][small] = ex, ey
        cat["cov_xy_win"][small], cat["sig_win"][small] = cxy, sig_star
        cat["win_failed"][small] = bad_w
        # photometry and shape where a drifted source now is (it was measured at its detection)
        redo = np.nonzero(small)[0][drifted[small]]
        xr, yr = cat["x_win"][redo], cat["y_win"][redo]
        flux_ap[redo], flux_ap_err[redo] = _aperture_flux(prep, xr, yr, ap_r[redo])
        snr_ap[redo] = flux_ap[redo] / np.where(flux_ap_err[redo] > 0, flux_ap_err[redo], np.nan)
        iy_r = np.clip(np.rint(yr).astype(int), 0, prep["sub"].shape[0] - 1)
        ix_r = np.clip(np.rint(xr).astype(int), 0, prep["sub"].shape[1] - 1)
        sharpness[redo], minor_sigma[redo], sharpness_err[redo], major_sigma[redo] = _shape_measures(
            prep["sub"], xr, yr, np.sqrt(prep["noise"].var(iy_r, ix_r)), with_major=True)
        cat["cr_physical"][redo] = _physically_sharp(sharpness[redo], minor_sigma[redo])
        # No peak of its own within 2 px even in a star's window: a deblended fragment of a
        # neighbour's wings (what _fast_tile's merge removed before the drifted ones were kept).
        fragment[np.nonzero(small)[0][bad_w]] = drifted[small][bad_w]
    # For the point/extended decision: the size within a fixed radius (crowding-robust).
    local_ratio = _local_size_ratio(prep, cat, snr_ap, state)
    narrowed = _narrow_contaminated_windows(prep, cat, local_ratio, sig_star, state)
    # ... and two windows now converged on one position are one source.
    keep = (~fragment & _merge_converged(cat["x_win"], cat["y_win"], cat["npix"], 0.5) if drifted.any() or narrowed
            else ~fragment)
    if not keep.all():
        cat = {k: v[keep] for k, v in cat.items()}
        local_ratio = local_ratio[keep]
        flux_ap, flux_ap_err, snr_ap = flux_ap[keep], flux_ap_err[keep], snr_ap[keep]
        sharpness, minor_sigma, sharpness_err, major_sigma = (sharpness[keep], minor_sigma[keep], sharpness_err[keep],
                                                              major_sigma[keep])
        n = int(keep.sum())
        state["n_fragments"] = state.get("n_fragments", 0) + int((~keep).sum())
    crowding_var = _add_crowding_errors(prep, cat, state, opts)
    size_ratio = 2 * cat["r50"] / state["size_ref"]
    # Cosmic rays (and hot pixels): sharper than the image's point sources. They are kept in the
    # catalog, flagged and of kind "artifact", and never PSF-fitted, point-like or ePSF stars.
    if state.get("cr_locus") is None:
        locus_mask = ((np.nan_to_num(snr_ap) > 30) & (cat["sep_flag"] == 0) & ~cat["win_failed"]
                      & ~cat["cr_physical"] & (np.abs(local_ratio - 1.0) < 0.25))
        state["cr_locus"] = _cr_locus(sharpness, minor_sigma, locus_mask, major_sigma)
    # More peaked than the locus *and* not larger than a star (a galaxy's cusp can be peaked, not
    # small); or narrower than the PSF along its narrowest axis, whatever its length (every source on
    # the sky is blurred by the PSF; a cosmic-ray track 3-6 px long is not, and its size within the
    # fixed radius reads like a star's: 14 % of the SNR > 20 "point" sources of a CR-damaged HRC-like
    # exposure were such tracks, benchmarks/bench_sources.py section 6).
    physical, too_peaked, too_narrow = _cr_against_locus(sharpness, minor_sigma, snr_ap, state["cr_locus"], n_sigma=3.0,
                                                         sharpness_err=sharpness_err, parts=True)
    cr_like = cat["cr_physical"] | physical | too_narrow | (too_peaked & (local_ratio < 1.0))
    # Masked pixels (zero in ``sub``) within the 5x5 make any source look sharp: no verdict there.
    cr_like &= ~_stamp_any(prep["bad"] if prep["any_bad"] else None, cat["x_win"], cat["y_win"], 2)
    size_ratio = np.where(cr_like, np.inf, size_ratio)
    nn = _neighbour_distance(cat["x_det"], cat["y_det"])
    hole = prep["edge_bad"] if prep["any_bad"] else None
    sat = _saturated(raw, prep["sub"], cat["x_det"], cat["y_det"], opts["saturation"], prep["noise"], hole=hole)
    sat_fragment = _saturated_fragments(hole, cat["x_det"], cat["y_det"], sat)
    if state.get("fwhm_provisional"):
        # One measurement of the image FWHM for both paths (the provisional 2·r50/1.35 is a locus
        # size, not a FWHM: 1.35x too small on a Gaussian PSF).
        measured = _image_fwhm(prep, cat, snr_ap, nn, sat, size_ratio, state["fwhm"], opts, state)
        if measured:
            state["fwhm"] = measured
        state["fwhm_provisional"] = False
    if opts["use_psf_fit"]:
        if state.get("prf") is None and not state.get("prf_failed"):
            state["prf"] = _make_prf(prep, cat, snr_ap, nn, sat, size_ratio, state["fwhm"], opts, state)
            state["prf_failed"] = state["prf"] is None
        prf = state["prf"]
    else:
        prf = None
    fwhm = state["fwhm"]
    # The drizzle's own position error (a drizzled product's PSF depends on each star's phase on the
    # input grids; helpers.sources.redrizzle measures it by re-drizzling the PSF): a floor per estimator
    driz = _extraction_floor(state, fwhm, state["size_ref"] / 2.3548, prf.os if prf is not None else 2) or {}
    # (with PSF fits the windowed centroids' own phase bias is measured against them, so they share
    # only the drizzle's part, the PSF fit's floor; without, they take their whole re-drizzled error)
    s_psf = driz.get("psf_pix", 0.0)
    s_win = s_psf if prf is not None else driz.get("windowed_pix", 0.0)
    s_win_total = driz.get("windowed_pix", 0.0)  # the windowed centroids' whole error on the re-drizzled PSF
    x = cat["x_win"].copy()
    y = cat["y_win"].copy()
    x_err = cat["x_win_err"].copy()
    y_err = cat["y_win_err"].copy()
    cov_xy = cat["cov_xy_win"].copy()
    flux = flux_ap.copy()
    flux_err = flux_ap_err.copy()
    method = np.full(n, "windowed", dtype="<U8")
    flags = np.zeros(n, np.int32)
    flags[sat | sat_fragment] |= FLAG_SATURATED
    flags[cr_like] |= FLAG_COSMIC_RAY
    r_flag = int(max(3, math.ceil(1.5 * fwhm)))
    flags[_stamp_any(prep["edge_bad"], x, y, r_flag)] |= FLAG_EDGE
    flags[_stamp_any(prep["user_mask"], x, y, r_flag)] |= FLAG_MASKED
    blended = (nn < 1.5 * fwhm) | ((cat["sep_flag"] & 1) > 0) & (nn < 3.0 * fwhm)
    flags[blended] |= FLAG_BLENDED
    chi2nu = np.full(n, np.nan)
    chi2_limit = np.full(n, float(opts["extended_chi2"]))
    fit_point = np.zeros(n, bool)
    fit_unusable = np.zeros(n, bool)  # fitted, but the fit failed or collapsed: judged by shape alone
    snr = snr_ap.copy()
    compact = size_ratio < opts["extended_size_ratio"]
    # In crowding, r50 (within 6 a) holds the neighbours' light: a star in a globular cluster reads
    # 2-10x the PSF size, even within a fixed 3x-locus radius (47 Tuc ACS/HRC flt: median 1.7x). A
    # source with a detected neighbour within that radius is PSF-fitted whatever its size, with the
    # neighbours' models subtracted, and the fit's χ² decides (DAOPHOT's way in crowded fields).
    # Only as peaked as a star (sharpness, crowding-robust: 3x3 about the peak, at least 0.75x the
    # locus): deblended fragments in a bright star's wings are flatter, and fitting them converges
    # onto the star (two models of one star, each subtracting the other).
    s_locus = (state.get("cr_locus") or {}).get("sharpness")
    star_peaked = np.nan_to_num(sharpness) >= 0.6 * s_locus if s_locus else np.zeros(n, bool)
    # Also a bright star whose r50 grows with its isophotal size (its wings and halo within 6 a) but
    # whose light within the fixed radius is a star's (local_ratio).
    crowded_fit = (((nn < np.clip(6.0 * cat["a"], 3.0, 60.0)) | (local_ratio < opts["extended_size_ratio"] * 1.3))
                   & ~cr_like & star_peaked)
    win_floor = 0.0
    crowded_tile = _crowded_sky(prep)
    blend_dx2, blend_dy2 = np.zeros(n), np.zeros(n)  # pix²: the measured blend offsets (PSF path)
    # the PSF fit of every point-like fitted source, whichever estimator gave x, y (scored on the test bed)
    x_psf, y_psf, x_psf_err, y_psf_err = (np.full(n, np.nan) for _ in range(4))
    if prf is not None:
        t0 = time.perf_counter()
        # Candidates: compact, unsaturated sources. Extended ones are kept windowed.
        cand = ((size_ratio < opts["extended_size_ratio"] * 1.3) | crowded_fit) & np.isfinite(x) & ~cat["win_failed"]
        idx = np.nonzero(cand)[0]
        crowded_only = crowded_fit[idx] & ~(size_ratio[idx] < opts["extended_size_ratio"] * 1.3)
        radius = opts["psf_radius"] or int(max(4, math.ceil(2.5 * fwhm)))
        radius = int(min(radius, max(3, prf.half_pix - 2)))
        f0 = np.maximum(flux_ap[idx] / 0.8, 1e-3 * np.nanmax(np.abs(flux_ap)) + 1e-30)
        fit = _fit_psf(prep["sub"], prep["noise"], prep["bad"], x[idx], y[idx], f0, prf, radius,
                       n_iter=opts["psf_iterations"])
        if opts["neighbour_passes"] > 0 and idx.size > 1:
            for _ in range(opts["neighbour_passes"]):
                close = _neighbour_distance(fit["x"], fit["y"]) < 2 * radius + 2
                if not close.any():
                    break
                # Sources fitted only because they are crowded are subtracted from their neighbours
                # only when the PSF describes them (a galaxy's PSF model would damage its neighbours).
                good = fit["ok"] & (~crowded_only | (fit["chi2nu"] < opts["extended_chi2"]))
                everything = _render_models(prep["sub"].shape, fit["x"][good], fit["y"][good], fit["flux"][good], prf,
                                            radius + 2)
                sel = np.nonzero(close)[0]
                refit = _refit_minus_neighbours(prep, fit, sel, everything, prf, radius,
                                                max(3, opts["psf_iterations"] - 2), good=good)
                for key in ("x", "y", "flux", "bkg", "cov", "chi2nu", "ok"):
                    fit[key][sel] = refit[key]
        # Saturated cores (flat-topped, or a brightest pixel far below the fitted model: a clipped
        # peak): refit without the core pixels above 70% of the stamp's maximum, and flag.
        # (a clipped peak misses a good part of the model's: a PSF model a few % sharper than the stars,
        # as a library PSF can be, leaves deficits of many σ at SNR > 250 without any saturation; on the
        # drizzled bed 4 of 45 unsaturated stars were flagged so)
        deficit, missing = _core_deficit(prep, fit["x"], fit["y"], fit["flux"], fit["bkg"], prf, with_fraction=True)
        clipped = (sat[idx] | (fit["ok"] & (fit["chi2nu"] > 3) & (deficit < -5)
                               & (np.nan_to_num(missing) < -CLIPPED_PEAK_FRACTION))) & compact[idx]
        if clipped.any():
            sel = np.nonzero(clipped)[0]
            refit = _fit_psf(prep["sub"], prep["noise"], _mask_cores(prep, fit["x"][sel], fit["y"][sel], 0.7), fit["x"][sel],
                             fit["y"][sel], np.maximum(fit["flux"][sel], 1e-30), prf, radius + 1,
                             n_iter=opts["psf_iterations"])
            for key in ("x", "y", "flux", "bkg", "cov", "chi2nu", "ok"):
                fit[key][sel] = refit[key]
            flags[idx[sel]] |= FLAG_SATURATED
            sat = sat.copy()
            sat[idx[sel]] = True
        ok = fit["ok"]
        # A source fitted only because it is crowded must stay where it was detected and not take
        # more light than its aperture holds (else the fit converged onto a neighbour).
        moved = np.hypot(fit["x"] - x[idx], fit["y"] - y[idx])
        flux_sane = (fit["flux"] < 4.0 * np.abs(flux_ap[idx])) & (fit["flux"] > 0.1 * np.abs(flux_ap[idx]))
        ok = ok & ~(crowded_only & ((moved > 1.0 * fwhm) | ~flux_sane))
        # A fit whose flux collapsed (a neighbour's model took its light: on the 47 Tuc flt ~500
        # detections, fit flux 1-10 % of the aperture's, most of it a bright neighbour's) has no
        # position information of its own.
        ok = ok & (fit["flux"] > 0.05 * np.abs(flux_ap[idx]))
        dof_limit = 1 + 3 * np.sqrt(2.0 / max((2 * radius + 1) ** 2 - 4, 1))
        infl = np.where(fit["chi2nu"] > dof_limit, fit["chi2nu"], 1.0)
        sf = np.sqrt(fit["cov"][:, 2, 2] * infl)
        if crowded_tile:
            # On a crowded sky the χ² excess is the unmodelled light (stars below the detection limit,
            # neighbours' model residuals), smooth on the PSF scale: scaling the white-noise covariance
            # by χ²_ν mis-sizes it (47 Tuc flt injection: the fits' errors had 4-7x the variance of their
            # pixel-noise covariance, and the fits' linear estimators applied to the unmodelled light
            # predicted each star's error with a correlation of 0.96 along y). Those estimators read it
            # from the residual image instead (_psf_confusion_variance), added to the pixel-noise covariance.
            everything = _render_models(prep["sub"].shape, fit["x"][ok], fit["y"][ok], fit["flux"][ok], prf, radius + 2)
            conf_psf = _psf_confusion_variance(prep["noise"], prep["bad"], prep["sub"] - everything, fit["x"], fit["y"],
                                               fit["flux"], prf, radius, CONFUSION_RING_FWHM * fwhm)
            sx = np.sqrt(fit["cov"][:, 0, 0] + conf_psf[:, 0])
            sy = np.sqrt(fit["cov"][:, 1, 1] + conf_psf[:, 1])
            sxy = fit["cov"][:, 0, 1]
        else:
            sx = np.sqrt(fit["cov"][:, 0, 0] * infl)
            sy = np.sqrt(fit["cov"][:, 1, 1] * infl)
            sxy = fit["cov"][:, 0, 1] * infl
        # Point-like: size consistent with the PSF and the PSF model fits as well as it fits the
        # image's isolated stars at the same SNR (a library PSF is a few % off real stars, so their χ²
        # grows as SNR²; see _chi2_limit).
        chi2_limit[idx] = _chi2_limit(fit["chi2nu"], snr_ap[idx],
                                      ok & (compact[idx] | crowded_fit[idx]) & (nn[idx] > 4 * fwhm),
                                      opts["extended_chi2"], state)
        good_fit = fit["chi2nu"] < chi2_limit[idx]
        point = ok & ((compact[idx] & (good_fit | (size_ratio[idx] < 1.1))) | (crowded_fit[idx] & good_fit))
        # PSF-model error floor, from the consistency of the fits with the windowed centroids.
        # Empirical PSF: add its own position error (cross-validated between halves of its stars).
        sx_fit, sy_fit, epsf_err2 = sx, sy, 0.0
        if opts["psf"] is None:
            if state.get("epsf_error_pix") is None:
                bright = point & (snr_ap[idx] > 50) & (flags[idx] == 0)
                top = np.nonzero(bright)[0][:300]
                state["epsf_error_pix"] = _epsf_model_error(prep, fit["x"][top], fit["y"][top], fit["flux"][top],
                                                            radius, state.get("prf_replicates"))
            epsf_err2 = _epsf_error_variance(state, prep, fwhm)
        # Windowed centroids of undersampled PSFs carry a sub-pixel-phase bias; its size in this
        # image is measured against the PSF fits of bright point sources and added to the windowed
        # errors (the PSF fits are unbiased: the ePSF is anchored on centres of mass, see _make_prf);
        # with a re-drizzled forward model of it, the differences' excess is the ePSF's (epsf._attribute_excess).
        # The windowed centroid of an asymmetric PSF measures its light's centre, not the model's: on
        # the 47 Tuc ACS/HRC flt with the drizzlepac HRC PSF (+0.015, -0.036) px off the PSF fits, the
        # same for every star. Measured once on bright point sources, it is removed from the windowed
        # positions, so one catalog holds one frame (mixed, the two estimators' stars disagreed by it).
        floor_sel = point & (snr_ap[idx] > 30) & (flags[idx] == 0)
        # Only on a crowded sky, where it was validated: on a drizzled product with its own ePSF the
        # median difference is the ePSF's centring error, and moving the windowed centroids onto it
        # carried that error into them (NIRCam i2d, SNR 100-300: 1.3x -> 1.9x the bound).
        if (crowded_tile and state.get("windowed_offset_pix") is None
                and floor_sel.sum() >= WINDOWED_OFFSET_MIN_STARS):
            state["windowed_offset_pix"] = (float(np.median(x[idx][floor_sel] - fit["x"][floor_sel])),
                                            float(np.median(y[idx][floor_sel] - fit["y"][floor_sel])))
        wox, woy = state.get("windowed_offset_pix") or (0.0, 0.0)
        # Both estimators' errors in full (the windowed ones with their crowding term, the fit's with
        # its own confusion): the crowding term left out here was counted twice, once by itself and
        # once in the floor (47 Tuc flt: floor 0.045 px, windowed pulls in the PSF path robust 0.60).
        win_floor, epsf_err2 = _attribute_excess(prep, fwhm, x[idx] - wox - fit["x"], y[idx] - woy - fit["y"], sx_fit,
                                                 sy_fit, x_err[idx], y_err[idx], floor_sel, epsf_err2,
                                                 s_win_total if opts["psf"] is None else 0.0)
        sx = np.sqrt(sx_fit**2 + epsf_err2)
        sy = np.sqrt(sy_fit**2 + epsf_err2)
        state.setdefault("win_floor_pix", []).append(win_floor)
        # A blend the catalog can see: the windowed centroid (a Gaussian window, the neighbours' light
        # in it) and the PSF fit (their models subtracted, the PSF's shape) of one star disagree beyond
        # the σ of their difference (as the floor reads it). Either position then carries the
        # companion's pull: both take the measured difference in quadrature, and the star is flagged.
        # On a crowded sky only, where it was validated (47 Tuc flt injection, PSF path: unflagged pull
        # std 1.03-1.09 over 5 seeds, robust 0.86-0.91); on an uncrowded one such a disagreement is
        # mostly chance (at 3σ it took 2 of 150 stars from a calibrated drizzled-bed bin).
        dwx, dwy = x[idx] - wox - fit["x"], y[idx] - woy - fit["y"]
        # (|σ_win² − σ_psf²|: on a crowded sky the fit's confusion term can make it the less precise one)
        sdx = np.sqrt(np.maximum(np.abs(x_err[idx] ** 2 - sx_fit**2), 0.1 * sx_fit**2) + epsf_err2 + win_floor**2)
        sdy = np.sqrt(np.maximum(np.abs(y_err[idx] ** 2 - sy_fit**2), 0.1 * sy_fit**2) + epsf_err2 + win_floor**2)
        with np.errstate(invalid="ignore", divide="ignore"):
            blend = (crowded_tile & ok & ~cr_like[idx] & ~sat[idx]
                     & (np.hypot(dwx / sdx, dwy / sdy) > BLEND_OFFSET_SIGMA))
        blend_dx2[idx[blend]], blend_dy2[idx[blend]] = dwx[blend] ** 2, dwy[blend] ** 2
        flags[idx[blend]] |= FLAG_BLEND_OFFSET
        # ... at least what the re-drizzled PSF shows (an undersampled drc: ACS/WFC at 0.06"/px from
        # 0.05" exposures, windowed pulls 1.19-1.40 at SNR 100-300 with the measured floor alone)
        s_win = math.sqrt(max(s_win**2, s_win_total**2 - win_floor**2))
        x_err = np.sqrt(x_err**2 + win_floor**2)
        y_err = np.sqrt(y_err**2 + win_floor**2)
        # Keep the PSF fit where it is the more precise estimator.
        # Point-like by the fit whichever estimator gives the position (the class is the PSF's verdict).
        fit_point[idx] = point & ~cr_like[idx]
        fit_unusable[idx] = ~ok
        x_psf[idx[point]], y_psf[idx[point]] = fit["x"][point] + x0, fit["y"][point] + y0
        x_psf_err[idx[point]], y_psf_err[idx[point]] = sx[point], sy[point]
        point &= (sx**2 + sy**2 + 2 * s_psf**2) <= (x_err[idx] ** 2 + y_err[idx] ** 2 + 2 * s_win**2)
        use = idx[point]
        x[use], y[use] = fit["x"][point], fit["y"][point]
        x_err[use], y_err[use], cov_xy[use] = sx[point], sy[point], sxy[point]
        flux[use], flux_err[use] = fit["flux"][point], sf[point]
        snr[use] = flux[use] / flux_err[use]
        method[use] = "psf"
        chi2nu[idx] = fit["chi2nu"]
        # A compact source the PSF does not describe, with a neighbour within 10 FWHM: its light is
        # contaminated by the neighbour's wings (flag as blended).
        contaminated = compact & (chi2nu >= chi2_limit) & (nn < 10 * fwhm)
        flags[contaminated] |= FLAG_BLENDED
        failed = idx[~ok & compact[idx]]
        flags[failed] |= FLAG_PSF_FAILED
        windowed = method == "windowed"
        x[windowed] -= wox
        y[windowed] -= woy
        state["t_psf"] = state.get("t_psf", 0.0) + time.perf_counter() - t0
    # Point-like: as compact as the stellar locus and, when fitted, well described by the PSF.
    # A source whose r50 radius (6 a) holds a detected neighbour is sized within the fixed radius
    # instead (crowding); an isolated one keeps r50, so an unresolved blend still reads extended.
    # Fast path only for now: with the PSF fit, fragments of bright stars count as neighbours and
    # their windowed centroids are biased (pulls 5-10 on the undersampled simulation).
    crowded = (nn < np.clip(6.0 * cat["a"], 3.0, 60.0)) & np.isnan(chi2nu) & (prf is None)
    # Unfitted crowded sources of the full path too, by their shape alone (fragments of bright stars'
    # wings are flatter than the locus, so they stay extended).
    unfitted_crowded = (nn < np.clip(6.0 * cat["a"], 3.0, 60.0)) & (np.isnan(chi2nu) | fit_unusable)
    # On a crowded sky (more than half the pixels in sources, confusion above the pixel noise) every
    # size is inflated by the unresolved starlight under it, detected neighbour or not: on the 47 Tuc
    # ACS/HRC flt 749 of the fast path's 1,022 "extended" SNR > 20 sources had no detected neighbour
    # within 6 a, r50 2.6x the locus (1.8x within the fixed radius), and 89 % of them a star's 3x3/5x5
    # shape. There the shape decides for every source the PSF did not judge; an uncrowded sky keeps
    # the size test (its compact galaxies can be as peaked as a star within 5x5).
    shape_judged = unfitted_crowded | (_crowded_sky(prep) & (np.isnan(chi2nu) | fit_unusable))
    compact_kind = compact | (crowded & (local_ratio < opts["extended_size_ratio"])) | (
        shape_judged & _star_shaped(sharpness, minor_sigma, snr_ap, sharpness_err, state["cr_locus"]))
    compact_kind &= ~cr_like
    kind = np.where(compact_kind & ~((chi2nu >= chi2_limit) & ~fit_unusable) | (method == "psf") | fit_point | sat,
                    "point", "extended")
    kind = np.where(cr_like & ~sat, "artifact", kind)
    # A windowed point source wider than the stellar locus along one axis holds an unresolved
    # companion 1-2 FWHM away (one detection, so no neighbour distance tells): its windowed centroid
    # sits between the two. On the 47 Tuc ACS/HRC flt such stars were the tail of the injected
    # stars' windowed pulls (pull std 1.37 with them, 0.88 without; benchmarks/bench_sources.py real).
    # The PSF-fitted ones were judged by the fit's χ².
    flags[(kind == "point") & (method == "windowed") & ~sat
          & _elongated(major_sigma, snr_ap, state["cr_locus"])] |= FLAG_BLENDED
    # Not compact because a detected neighbour's light is inside its r50 radius: its windowed centroid
    # and aperture flux carry that light (a PSF-fitted star of the simulations had its windowed
    # centroid 0.8 px off), so it is flagged as blended whatever its class, on both paths.
    flags[(nn < np.clip(6.0 * cat["a"], 3.0, 60.0)) & ~compact] |= FLAG_BLENDED
    # Keep the sources whose detection centre is in this tile's core.
    gx_det = cat["x_det"] + x0
    gy_det = cat["y_det"] + y0
    (cy0, cy1), (cx0, cx1) = core
    keep = (gx_det >= cx0 - 0.5) & (gx_det < cx1 - 0.5) & (gy_det >= cy0 - 0.5) & (gy_det < cy1 - 0.5)
    cols = {"x": x + x0, "y": y + y0, "x_err": x_err, "y_err": y_err, "xy_cov": cov_xy, "flux": flux,
            "flux_err": flux_err, "snr": snr, "fwhm": 2 * cat["r50"], "kind": kind, "flags": flags, "method": method,
            "x_win": cat["x_win"] + x0, "y_win": cat["y_win"] + y0,
            "x_win_err": np.sqrt(cat["x_win_err"] ** 2 + win_floor**2),
            "y_win_err": np.sqrt(cat["y_win_err"] ** 2 + win_floor**2), "flux_aper": flux_ap, "flux_aper_err": flux_ap_err, "r50": cat["r50"],
            "npix": cat["npix"], "peak": cat["peak"], "chi2nu": chi2nu, "nn_dist": nn,
            "x_psf": x_psf, "y_psf": y_psf, "x_psf_err": x_psf_err, "y_psf_err": y_psf_err}
    # Correlated (drizzled) noise: every error at the PSF scale grows by the measured block-sum ratio
    scale_fwhm = state.get("fwhm") or 2 * np.median(cat["r50"])
    corr = correlation_factor(prep["sky_noise"]["correlation"], scale_fwhm)
    # positions: the derivative kernel's own factor from the sky's autocorrelation (smaller than the
    # block sum's, see position_correlation_factor); fluxes keep the block-sum factor
    corr_pos = position_correlation_factor(prep["sky_noise"].get("autocorrelation"), scale_fwhm) if corr != 1.0 else None
    corr_pos = corr if corr_pos is None else float(np.clip(corr_pos, 1.0, corr))
    state.setdefault("sky_noise", dict(prep["sky_noise"], correlation_factor=corr, position_correlation_factor=corr_pos))
    if corr != 1.0:
        for name in ("flux_err", "flux_aper_err"):
            cols[name] = np.asarray(cols[name]) * corr
        for name in ("x_err", "y_err", "x_win_err", "y_win_err", "x_psf_err", "y_psf_err"):
            cols[name] = np.asarray(cols[name]) * corr_pos
        cols["xy_cov"] = np.asarray(cols["xy_cov"]) * corr_pos**2
        cols["snr"] = np.asarray(cols["snr"]) / corr
    if blend_dx2.any() or blend_dy2.any():  # systematic too: after the correlation factor
        cols["x_err"] = np.sqrt(np.asarray(cols["x_err"]) ** 2 + blend_dx2)
        cols["y_err"] = np.sqrt(np.asarray(cols["y_err"]) ** 2 + blend_dy2)
    if state.get("drizzle_floor"):
        # the windowed floor this tile applied (not meta's windowed_pix on the full path: the part
        # windowed-minus-PSF differences already carry is left out): what a reader of the catalog must
        # take out of x_win_err / windowed x_err to recover the noise part (helpers.astrometry.injection)
        floor = state["drizzle_floor"]
        floor["windowed_applied_pix"] = max(float(floor.get("windowed_applied_pix", 0.0)), float(s_win))
    if s_psf or s_win:  # systematic, so after the noise's correlation factor
        floor2 = np.where(method == "psf", s_psf**2, s_win**2)
        for name in ("x_err", "y_err"):
            cols[name] = np.sqrt(np.asarray(cols[name]) ** 2 + floor2)
        for name in ("x_win_err", "y_win_err"):
            cols[name] = np.sqrt(np.asarray(cols[name]) ** 2 + s_win**2)
        for name in ("x_psf_err", "y_psf_err"):
            cols[name] = np.sqrt(np.asarray(cols[name]) ** 2 + s_psf**2)
    rejection = (state.get("drizzle_floor") or {}).get("rejection")
    if rejection and prep["noise"].weight is not None and n:
        # Windowed centroids: each star's own share of its inputs' rejected pixels (cosmic rays, bad
        # pixels), beyond the floor of whole inputs (drizzled bed, pixfrac 1, SNR 100-300: windowed pulls
        # ACS 1.15, NIRCam 1.11 with the floor alone, 0.99 / 1.07 with it). Not the PSF fit: its χ²
        # inflation already grows with the misfit a star's rejected pixels leave (ACS pixfrac 1 PSF
        # pull 1.00 without the term, 0.89 with it).
        # once, at the windowed centroids: a windowed source's catalog position is the same one less the
        # windowed-to-PSF frame offset (hundredths of a pixel; the strength is read on whole-pixel stamps)
        _, r_win = rejection_error(rejection, prep["noise"].weight, cat["x_win"], cat["y_win"], fwhm)
        extra2 = np.where(method == "psf", 0.0, r_win**2)
        for name in ("x_err", "y_err"):
            cols[name] = np.sqrt(np.asarray(cols[name]) ** 2 + extra2)
        for name in ("x_win_err", "y_win_err"):
            cols[name] = np.sqrt(np.asarray(cols[name]) ** 2 + r_win**2)
        applied = np.sqrt(extra2[keep])
        if applied.size:
            rejection["applied_p90_pix"] = max(float(rejection.get("applied_p90_pix", 0.0)),
                                               float(np.percentile(applied, 90)))
    return {k: np.asarray(v)[keep] for k, v in cols.items()}


#: Windowed − PSF-fit difference (in units of its σ, two axes combined) above which a star is a
#: blend the catalog can see (flag :data:`~.catalog.FLAG_BLEND_OFFSET`); on clean noise 0.2 % of the
#: stars exceed it (a Rayleigh tail, exp(−3.5²/2)). On the 47 Tuc flt injection 3.0 also took stars
#: whose errors were right (robust pull of the rest 0.83-0.91 over 5 seeds, 0.86-0.91 at 3.5; 4.0
#: leaves the pull std 1.03-1.13 instead of 1.03-1.09).
BLEND_OFFSET_SIGMA = 3.5

#: Fraction of the fitted model's peak a core must miss to be read as clipped (saturated).
CLIPPED_PEAK_FRACTION = 0.2

#: Bright point sources needed to measure the windowed centroids' offset from the PSF fits' frame.
WINDOWED_OFFSET_MIN_STARS = 20

def _star_shaped(sharpness, minor_sigma, snr, sharpness_err, locus, n_sigma=3.0):
    """As peaked and as narrow as the stellar locus within the noise (the 3x3 and 5x5 measures of
    :mod:`.cosmics`, which a neighbour a few FWHM away barely touches): the fast path's point test for
    crowded sources, whose r50 holds their neighbours' light (47 Tuc flt: median local ratio 1.7)."""
    if not locus or locus.get("sharpness") is None:
        return np.zeros(len(sharpness), bool)
    rel = 1.0 / np.clip(np.nan_to_num(snr), 1.0, None)
    s0, m0 = locus["sharpness"], locus["minor_sigma"]
    s_noise = np.maximum(np.nan_to_num(np.asarray(sharpness_err, float), posinf=1.0), 2.0 * s0 * rel)
    s_margin = np.maximum(n_sigma * np.hypot(locus["sharpness_scatter"], s_noise), 0.25 * s0)
    m_margin = np.maximum(n_sigma * np.hypot(locus["minor_sigma_scatter"], 3.0 * m0 * rel), 0.15 * m0)
    # two-sided: a cosmic-ray track a little too sharp for the CR test is not a star either
    return ((np.abs(np.nan_to_num(sharpness, nan=np.inf) - s0) <= s_margin)
            & (np.abs(np.nan_to_num(minor_sigma, nan=np.inf) - m0) <= m_margin))


#: Smallest excess width (fraction of the locus's major-axis σ) called elongated.
ELONGATION_FLOOR = 0.10


def _elongated(major_sigma, snr, locus, n_sigma=3.0):
    """Wider than the stellar locus along the widest axis of the 5x5 light (``major_sigma`` of
    :func:`~helpers.sources.cosmics._shape_measures`) by ``n_sigma`` of the locus scatter and the
    measurement noise (~3/SNR relative, as the minor axis), and never by less than 15 % (the pixel
    phase of an undersampled PSF moves the width by ~10 %): an unresolved pair."""
    if not locus or locus.get("major_sigma") is None:
        return np.zeros(len(major_sigma), bool)
    rel = 1.0 / np.clip(np.nan_to_num(snr), 1.0, None)
    m0 = locus["major_sigma"]
    margin = np.maximum(n_sigma * np.hypot(locus["major_sigma_scatter"], 3.0 * m0 * rel), ELONGATION_FLOOR * m0)
    return np.nan_to_num(major_sigma, nan=0.0) > m0 + margin


def _chi2_limit(chi2nu, snr, stars, extended_chi2, state):
    """χ²_ν above which a fit says "not this PSF", per source: ``extended_chi2 · (1 + k·SNR²)``.

    A PSF model off the stars by a fraction ε of their light leaves χ²_ν ≈ 1 + k·SNR² with k ∝ ε²;
    k is the median of (χ²_ν − 1)/SNR² over the image's fitted sources with no detection within 4 FWHM,
    compact or crowded, with aperture SNR > 30
    (measured once, on the first tile; 0 with fewer than 10, i.e. the fixed ``extended_chi2``). With
    the true PSF of a simulation k ≈ 0; with the drizzlepac library PSF on the 47 Tuc ACS/HRC flt
    isolated stars read χ²_ν ≈ 11 at SNR 40-80 and 19 at SNR > 160.
    """
    if state.get("chi2_trend") is None:
        use = stars & np.isfinite(chi2nu) & (np.nan_to_num(snr) > 30)
        k = 0.0
        if use.sum() >= 10:
            k = float(max(np.median((chi2nu[use] - 1.0) / snr[use] ** 2), 0.0))
        state["chi2_trend"] = {"k": k, "n": int(use.sum())}
    k = state["chi2_trend"]["k"]
    return float(extended_chi2) * (1.0 + k * np.nan_to_num(snr, nan=0.0) ** 2)


#: A measured stellar locus smaller than this fraction of the library PSF's size is not made of
#: stars: no star is sharper than the telescope's PSF. On the 47 Tuc ACS/HRC flt (60 s, cosmic rays
#: not rejected, stars crowded) the compact end of the size distribution is cosmic rays and noise
#: peaks: locus 2·r50 = 1.8 px against 2.9 px for the drizzlepac HRC F606W PSF, whose FWHM (2.15 px)
#: the isolated bright stars of the image confirm (2.12 px, ``tests/test_sources_library.py``).
LOCUS_MIN_FRACTION_OF_OPTICS = 0.8


def _locus_against_optics(size_ref, state):
    """The stellar-locus size, replaced by the library PSF's (and said) when it is sharper than optics allow."""
    from .epsf import fallback_psf

    lib = fallback_psf(state.get("image_meta"))
    if lib is None:
        return size_ref
    optics = _psf_size(lib, lib.fwhm_pix)
    if size_ref is None or size_ref < LOCUS_MIN_FRACTION_OF_OPTICS * optics:
        if size_ref is not None:
            warnings.warn(f"the compact sources' size (2·r50 = {size_ref:.2f} px) is below the {lib.meta['psf_source']} "
                          f"PSF's ({optics:.2f} px): they are cosmic rays or noise, not stars; the PSF's size is used "
                          "as the stellar locus", SourceExtractionWarning, stacklevel=4)
        state["size_ref_reliable"] = True
        state["size_ref_from_psf"] = True
        state["locus_from"] = f"{lib.meta['psf_source']} PSF"
        return optics
    return size_ref


def _star_window(prep, xs, ys, sig_star, state):
    """Windowed centroids from (``xs``, ``ys``) in a point source's window ``sig_star`` (pixels), with
    their errors (the windowed floor in quadrature) and covariance; ``failed`` where the centroid is not
    finite or moved more than 2 px (such a source keeps its start, whose errors are then given)."""
    import sep

    sig = np.full(xs.size, float(sig_star))
    xw, yw, _ = sep.winpos(prep["sub"], xs, ys, sig, subpix=1)
    failed = ~np.isfinite(xw) | ~np.isfinite(yw) | (np.hypot(xw - xs, yw - ys) > 2.0)
    xw, yw = np.where(failed, xs, xw), np.where(failed, ys, yw)
    ex, ey, cxy = _windowed_errors(prep["sub"], prep["noise"], prep["bad"], xw, yw, sig)
    floor = WINDOWED_FLOOR_FWHM * state["size_window"] / 1.35
    return xw, yw, np.sqrt(ex**2 + floor**2), np.sqrt(ey**2 + floor**2), cxy, failed


#: A compact source's window wider than this many times a point source's was widened by a neighbour.
WIDE_WINDOW = 1.5


def _narrow_contaminated_windows(prep, cat, local_ratio, sig_star, state):
    """Re-measure, in a point source's window, the windowed centroids of compact sources whose window
    a neighbour widened (in place; returns how many).

    The window σ is SExtractor's 2 r50 / 2.35, with r50 normalised to the light within 6 a: a star a
    few FWHM from a brighter one holds that neighbour's wing in its r50 and gets a window
    :data:`WIDE_WINDOW` x or more a star's, which pulls its centroid toward the neighbour (the drizzled
    test bed, ACS/WFC at roll 37 deg, pixfrac 1: a SNR-110 star 10.6 px from a SNR-250 one moved by
    0.28 px, 20x its error, while its PSF fit and a star's window put it within 0.01 px). Only sources
    whose size within the fixed radius is a point source's (``local_ratio`` within 25 % of 1), with a
    detected neighbour within 4 of their window σ + 3 of a star's, on a reliable stellar locus: a
    galaxy keeps its own window."""
    if not state.get("size_ref_reliable") or len(cat["x_win"]) < 2:
        return 0
    nn = _neighbour_distance(cat["x_det"], cat["y_det"])
    sig = np.asarray(cat["sig_win"], float)
    wide = ((sig > WIDE_WINDOW * sig_star) & (np.abs(np.nan_to_num(local_ratio, nan=9.0) - 1.0) < 0.25)
            & (nn < 4.0 * sig + 3.0 * sig_star) & ~np.asarray(cat["win_failed"], bool))
    if not wide.any():
        return 0
    xw, yw, ex, ey, cxy, failed = _star_window(prep, cat["x_win"][wide], cat["y_win"][wide], sig_star, state)
    ok = ~failed  # a failed re-measurement keeps the source's own window
    idx = np.nonzero(wide)[0][ok]
    if idx.size == 0:
        return 0
    cat["x_win"][idx], cat["y_win"][idx] = xw[ok], yw[ok]
    cat["x_win_err"][idx], cat["y_win_err"][idx] = ex[ok], ey[ok]
    cat["cov_xy_win"][idx], cat["sig_win"][idx] = cxy[ok], sig_star
    state["n_narrowed_windows"] = state.get("n_narrowed_windows", 0) + int(idx.size)
    return int(idx.size)


def _local_size_ratio(prep, cat, snr_ap, state):
    """Size relative to the stellar locus, measured within a fixed radius of 3x the locus size.

    SEP's r50 (normalised to the light within 6 a) grows with the neighbours' light inside that
    radius: in a globular cluster most stars read 3-10x the PSF size and were classed extended.
    Within 3x the locus size a point source keeps its ~95 % of light while a neighbour a few
    FWHM away contributes little; the locus is re-measured the same way (bright, unflagged sources,
    CR-like ones removed, see :func:`~helpers.sources.detection._stellar_size`), so the ratio of a
    point source stays ~1 whatever the crowding.
    """
    import sep

    r_max = float(np.clip(3.0 * state["size_ref"], 3.0, 60.0))
    r50, _ = sep.flux_radius(prep["sub"], cat["x_win"], cat["y_win"], np.full(len(cat["x_win"]), r_max), 0.5,
                             subpix=1)
    r50 = np.where(np.isfinite(r50) & (r50 > 0.3), r50, 0.3)
    cat["r50_local"] = r50
    if state.get("size_ref_local") is None:
        if state.get("size_ref_from_psf"):
            state["size_ref_local"] = state["size_ref"]
        else:
            ref, _ = _stellar_size(dict(cat, r50=r50), np.nan_to_num(snr_ap))
            state["size_ref_local"] = float(ref) if ref else state["size_ref"]
    return 2 * r50 / state["size_ref_local"]


def _plan_tiles(shape, tile_size, overlap):
    """Tiles as (region, core) pairs in global pixel coordinates ((y0, y1), (x0, x1))."""
    ny, nx = shape
    tiles = []
    ys = list(range(0, ny, tile_size))
    xs = list(range(0, nx, tile_size))
    for cy in ys:
        for cx in xs:
            core = ((cy, min(cy + tile_size, ny)), (cx, min(cx + tile_size, nx)))
            region = ((max(cy - overlap, 0), min(cy + tile_size + overlap, ny)),
                      (max(cx - overlap, 0), min(cx + tile_size + overlap, nx)))
            tiles.append((region, core))
    # Most central tile first: the FWHM and the ePSF come from it.
    cyc, cxc = ny / 2.0, nx / 2.0
    tiles.sort(key=lambda t: (np.mean(t[1][0]) - cyc) ** 2 + (np.mean(t[1][1]) - cxc) ** 2)
    return tiles
