"""Mosaics in the drizzled test bed: pointings (tiles) of one or both chips, each with its own dither,
drizzled by STScI's ``drizzle`` engine into one output frame, as the demo's products are made.

:func:`make_mosaic` renders an :class:`.ImageSpec` with ``drizzled=True``:

* **Pointings.** Each tile centre (``spec.tiles``, arcsec along the output frame's +x, +y from
  ``spec.center``) is observed with the dither ``spec.dither`` (native pixels along the pointing
  aperture's ideal x, y; default :data:`GAP4` for two-chip cameras, :data:`.drizzled.BOX4`
  otherwise). The pointing aperture (``JWFCENTER`` for ACS/WFC, ``IUVISCTR`` for WFC3/UVIS, the
  chip itself otherwise) has its ideal +y at position angle ``spec.orientat``. pysiaf's attitude
  matrix (``pysiaf.utils.rotations.attitude``) places every chip of the camera: ACS/WFC's
  ``JWFC1FIX`` and ``JWFC2FIX`` with the real ~2.5" inter-chip gap, which the dither fills at
  reduced depth, as real drc products show.
* **Exposures** (:func:`.exposures.make_exposure`): only the part of each chip that falls on the
  output frame is rendered (a sub-array with the chip's own reference pixel and SIP), so a 180"
  demo costs the pixels it needs. Each exposure lasts ``spec.exptime / spec.n_exposures`` s; the sky
  ``spec.sky`` (e-/s per *output* pixel, as :func:`.make_image` takes it) is scaled to the native
  pixel's area.
* **Drizzle**: exposures are added one at a time (cosmic rays rejected with the simulation's own
  mask, AstroDrizzle's sky subtraction, EXP weights for HST, ``ivm`` for JWST) and their pixels
  dropped, so memory is bounded by one chip plus the output (peak 1.2-1.3 GB for the three 3000² demo
  products, ``benchmarks/bench_mosaic.py``; keeping the exposures would take ~10 GB).
* **Truth**: positions in the true output frame, the known header error of the spec
  (``wcs_shift_mas``, ``wcs_rotation_arcsec``, ``wcs_scale_ppm``) written to the file's WCS only
  (``x_wcs, y_wcs`` say where the header puts each source), and the Cramér–Rao bound summed over
  every exposure that saw the star.
"""

import dataclasses
import functools
import math
import warnings

import numpy as np

from ..errors import WorkbookError
from .detectors import DETECTORS, detector, pixel_area_arcsec2
from .exposures import ExposureSpec, make_exposure

#: Chips of each camera (SIAF apertures, the preset's own first).
CHIPS = {"ACS/WFC": ("JWFC1FIX", "JWFC2FIX"), "WFC3/UVIS": ("IUVIS1FIX", "IUVIS2FIX")}
#: SIAF aperture whose reference point is the pointing (the camera's centre for two-chip cameras).
POINTING_APERTURE = {"ACS/WFC": "JWFCENTER", "WFC3/UVIS": "IUVISCTR"}
#: Bed detector of each :data:`.INSTRUMENTS` key (NIRCam by the spec's pixel scale: LW at ≥ 0.05").
BED_DETECTOR = {"ACS/WFC": "ACS/WFC", "WFC3/UVIS": "WFC3/UVIS", "WFC3/IR": "WFC3/IR", "NIRCAM": "NIRCAM/LW"}
#: A gap-filling 4-point dither (native pixels): the four half-pixel phases, with ~30 px steps along
#: the ideal y so that every point of the ~50 px inter-chip gap is seen by at least two of the four
#: exposures (the spirit of APT's ACS-WFC-DITHER-LINE patterns, which step across the gap).
GAP4 = ((0.0, 0.0), (0.5, 30.0), (0.0, 60.5), (0.5, 90.5))


def bed_detector(spec):
    """The :data:`.detectors.DETECTORS` key that renders an :class:`.ImageSpec` in the bed."""
    if spec.instrument not in BED_DETECTOR:
        raise WorkbookError(f"instrument {spec.instrument!r} has no detector in the drizzled test bed; use one of "
                            f"{', '.join(BED_DETECTOR)} or drizzled=False")
    name = BED_DETECTOR[spec.instrument]
    if name == "NIRCAM/LW" and spec.pixel_scale is not None and spec.pixel_scale < 0.05:
        name = "NIRCAM/SW"
    return name


@functools.lru_cache(maxsize=4)
def _siaf(observatory):
    """pysiaf's SIAF of one observatory, read once (reading NIRCam's takes ~0.7 s)."""
    import pysiaf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pysiaf warns that the PRD version cannot be checked offline
        return pysiaf.Siaf(observatory)


def _siaf_aperture(observatory, name):
    # shared objects: every use sets its attitude matrix first
    return _siaf(observatory)[name]


def chip_pointings(detector_name, center, pa_deg, offset_pix=(0.0, 0.0), chips=None):
    """Where each chip of a camera lands for one pointing.

    Parameters
    ----------
    detector_name : str
        Key of :data:`.detectors.DETECTORS`.
    center : (float, float)
        Sky position (RA, Dec, degrees) of the pointing aperture's ideal point ``offset_pix``.
    pa_deg : float
        Position angle of the pointing aperture's ideal +y axis, degrees East of North.
    offset_pix : (float, float)
        Dither offset, native pixels along the pointing aperture's ideal x, y.
    chips : sequence of str, optional
        SIAF apertures of the chips (default :data:`CHIPS`, or the preset's single chip).

    Returns
    -------
    list of (aperture, crval, roll)
        ``crval`` (RA, Dec, degrees) of the chip's centre pixel (the reference pixel of
        :func:`.detectors.exposure_wcs`), ``roll`` the position angle of its ideal +y, degrees.
    """
    from pysiaf.utils import rotations

    det = DETECTORS[detector_name]
    observatory, first = det["siaf"]
    chips = tuple(chips or CHIPS.get(detector_name, (first,)))
    ref = _siaf_aperture(observatory, POINTING_APERTURE.get(detector_name, first))
    scale = det["native_scale"]
    v2, v3 = ref.idl_to_tel(float(offset_pix[0]) * scale, float(offset_pix[1]) * scale)
    # V3 position angle at the aperture = PA of its ideal +y - V3IdlYAngle (JWST-STScI-001550); the ideal
    # frame's tilt against V2/V3 off the axis leaves ~2" of roll, removed by one correction
    v3pa = float(pa_deg) - float(ref.V3IdlYAngle)
    for _ in range(2):
        attitude = rotations.attitude(float(v2), float(v3), float(center[0]), float(center[1]), v3pa)
        ref.set_attitude_matrix(attitude)
        v3pa += float(pa_deg) - _ideal_y_pa(ref)
    ny, nx = det["chip"]
    out = []
    for name in chips:
        ap = _siaf_aperture(observatory, name)
        ap.set_attitude_matrix(attitude)
        # the bed's chip WCS is referenced at the chip centre (detectors.exposure_wcs)
        ra, dec = ap.sci_to_sky((nx + 1) / 2.0, (ny + 1) / 2.0)
        out.append((name, (float(ra) % 360.0, float(dec)), _ideal_y_pa(ap)))
    return out


def _ideal_y_pa(aperture):
    """Position angle (degrees East of North) of an attitude-set aperture's ideal +y at its reference point."""
    ra0, dec0 = (float(v) for v in aperture.idl_to_sky(0.0, 0.0))
    ra1, dec1 = (float(v) for v in aperture.idl_to_sky(0.0, 10.0))
    d_east = ((ra1 - ra0 + 180.0) % 360.0 - 180.0) * math.cos(math.radians(dec0))
    return math.degrees(math.atan2(d_east, dec1 - dec0))


def _subarray(wcs_chip, chip_shape, frame_wcs, frame_shape, margin=16):
    """(origin, shape) of the chip pixels whose sky falls on the output frame (plus a margin), or None."""
    ny, nx = frame_shape
    t = np.linspace(0.0, 1.0, 65)
    edge = np.concatenate([np.c_[t * (nx - 1), np.zeros_like(t)], np.c_[t * (nx - 1), np.full_like(t, ny - 1)],
                           np.c_[np.zeros_like(t), t * (ny - 1)], np.c_[np.full_like(t, nx - 1), t * (ny - 1)]])
    ra, dec = frame_wcs.wcs_pix2world(edge[:, 0], edge[:, 1], 0)
    x, y = wcs_chip.all_world2pix(ra, dec, 0, tolerance=1e-8, maxiter=50, quiet=True)
    cy, cx = chip_shape
    # the frame may contain the whole chip: test the chip's corners against the frame too
    corners = np.array([[0, 0], [cx - 1, 0], [0, cy - 1], [cx - 1, cy - 1]], float)
    cra, cdec = wcs_chip.all_pix2world(corners[:, 0], corners[:, 1], 0)
    fx, fy = frame_wcs.wcs_world2pix(cra, cdec, 0)
    inside = (fx >= 0) & (fx <= nx - 1) & (fy >= 0) & (fy <= ny - 1)
    xs = np.r_[x, corners[inside, 0]]
    ys = np.r_[y, corners[inside, 1]]
    x0, x1 = max(int(math.floor(xs.min())) - margin, 0), min(int(math.ceil(xs.max())) + margin, cx - 1)
    y0, y1 = max(int(math.floor(ys.min())) - margin, 0), min(int(math.ceil(ys.max())) + margin, cy - 1)
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    return (x0, y0), (y1 - y0 + 1, x1 - x0 + 1)


def _plan(spec, detector_name, center, frame_wcs, exptime):
    """The exposures of the mosaic: one ExposureSpec per (tile, dither position, chip) on the frame."""
    from ..skyplane import tangent_to_sky
    from .detectors import exposure_wcs
    from .drizzled import BOX4

    det = DETECTORS[detector_name]
    two_chips = detector_name in CHIPS
    chips = CHIPS[detector_name] if (two_chips and spec.chip_gap) else (det["siaf"][1],)
    dither = spec.dither if spec.dither is not None else (GAP4 if two_chips else BOX4)
    dither = [tuple(d) for d in dither][: int(spec.n_exposures)]
    while len(dither) < int(spec.n_exposures):  # more exposures than the pattern: repeat it, shifted
        k = len(dither)
        dx, dy = dither[k % len(dither)]
        dither.append((dx + 0.25 * (k // 4 + 1), dy + 0.25 * (k // 4 + 1)))
    pa = math.radians(spec.orientat)
    plan = []
    for t, (ox, oy) in enumerate(spec.tiles):
        # tile offsets along the frame's +x (East at PA 0 is -x) and +y, as the CD matrix of _build_wcs
        xi = -math.cos(pa) * ox + math.sin(pa) * oy
        eta = math.sin(pa) * ox + math.cos(pa) * oy
        tile_center = tangent_to_sky(xi, eta, *center)
        for k, offset in enumerate(dither):
            for c, (aperture, crval, roll) in enumerate(chip_pointings(detector_name, tile_center, spec.orientat,
                                                                        offset, chips)):
                full = exposure_wcs(detector_name, crval, roll, det["chip"], (0, 0), aperture)
                sub = _subarray(full, det["chip"], frame_wcs, spec.shape)
                if sub is None:
                    continue
                origin, shape = sub
                plan.append(ExposureSpec(
                    detector=detector_name, filter=spec.filter, shape=shape, origin=origin, crval=crval, roll=roll,
                    exptime=exptime, sky=spec.sky * pixel_area_arcsec2(detector_name, aperture) / spec_scale(spec) ** 2,
                    epoch=spec.epoch + (t * len(dither) + k) * 0.03 / 365.25,
                    seed=int(spec.seed) * 1000 + t * 64 + k * 4 + c, name=member_name(spec, t, k),
                    aperture=aperture))
    return plan


def member_name(spec, tile, k):
    """Rootname of exposure ``k`` (0-based) of tile ``tile``: ``<product>_<tile letter><k+1>`` (``..._a01``).
    Both chips of one exposure share it, as both are in one flc file."""
    return f"{spec.name}_{'abcdefghijklmnopqrstuvwxyz'[int(tile) % 26]}{int(k) + 1:02d}"


def member_names(spec):
    """Rootnames of every exposure a drizzled spec is made of (tile by tile), as MAST lists a product's members."""
    return [member_name(spec, t, k) for t in range(len(spec.tiles)) for k in range(int(spec.n_exposures))]


def spec_scale(spec):
    """Output pixel scale of a spec, arcsec (the instrument's drizzled scale when not given)."""
    from .presets import INSTRUMENTS

    return float(spec.pixel_scale or INSTRUMENTS[spec.instrument]["pixel_scale"])


def product_frames(truth, spec):
    """The true output frame of a drizzled spec and the WCS its file is written with (the spec's known error).

    Returns
    -------
    frame, header_wcs : `~astropy.wcs.WCS`
        TAN; ``header_wcs`` adds ``wcs_shift_mas``, ``wcs_rotation_arcsec``, ``wcs_scale_ppm``.
    """
    from .geometry import _build_wcs

    center = tuple(spec.center) if spec.center is not None else tuple(truth.meta["center"])
    scale = spec_scale(spec)
    return (_build_wcs(spec, center, scale),
            _build_wcs(spec, center, scale, None, spec.wcs_shift_mas, spec.wcs_rotation_arcsec, spec.wcs_scale_ppm))


def with_header_error(wcs, frame, header_wcs, step_arcsec=30.0):
    """An exposure's WCS carrying the same known error as its product's header.

    A drizzled product's WCS is made from its inputs' (the a-posteriori alignment is fitted on the
    exposures and written into them, then the product is drizzled from them), so the real flc/cal
    headers share the product's error. The bed's exposures have the true geometry; this gives them
    ``T = header_wcs ∘ frame⁻¹`` (sky to sky: the spec's shift, rotation about the product's centre and
    scale): the reference value moves to ``T(CRVAL)`` and the CD matrix takes T's Jacobian in the local
    tangent plane; the SIP is unchanged. T is affine to far below a micro-arcsecond over a few arcmin
    (its shift and rotation are mas and sub-arcsec), so every pixel lands on ``T`` of its true sky.

    Parameters
    ----------
    wcs : `~astropy.wcs.WCS`
        The exposure's true (TAN or TAN-SIP) WCS.
    frame, header_wcs : `~astropy.wcs.WCS`
        :func:`product_frames`.
    step_arcsec : float
        Finite-difference step of the Jacobian, arcsec.

    Returns
    -------
    wcs : `~astropy.wcs.WCS`
        A copy with the error.
    """
    from ..skyplane import sky_to_tangent, tangent_to_sky

    ra0, dec0 = (float(v) for v in wcs.wcs.crval)
    ra, dec = tangent_to_sky(np.array([0.0, step_arcsec, 0.0]), np.array([0.0, 0.0, step_arcsec]), ra0, dec0)
    tra, tdec = header_wcs.wcs_pix2world(*frame.wcs_world2pix(ra, dec, 0), 0)
    xi, eta = sky_to_tangent(tra, tdec, float(tra[0]), float(tdec[0]))
    jac = np.array([[xi[1] - xi[0], xi[2] - xi[0]], [eta[1] - eta[0], eta[2] - eta[0]]]) / step_arcsec
    out = wcs.deepcopy()
    out.wcs.crval = [float(tra[0]) % 360.0, float(tdec[0])]
    # the CD matrix maps to (East, North) intermediate coordinates, the frame the Jacobian is written in
    if not wcs.wcs.has_cd():
        raise WorkbookError("with_header_error takes a CD-matrix WCS (the bed's exposure_wcs); this one has PC/CDELT")
    out.wcs.cd = jac @ wcs.wcs.cd
    out.wcs.set()
    return out


def make_mosaic(truth, spec, progress=None, on_exposure=None):
    """Render an ``ImageSpec(drizzled=True)`` through the drizzled test bed (see the module docstring).

    Parameters
    ----------
    truth : `~astropy.table.Table`
        From :func:`.make_truth`.
    spec : ImageSpec
        ``drizzled=True``; ``exptime`` is the total of one tile's ``n_exposures`` exposures (s),
        ``sky`` e-/s per output pixel.
    progress : bool or None
        tqdm bar over the exposures (None: only on a terminal).
    on_exposure : callable, optional
        Called with each :class:`.exposures.Exposure` (one chip of one exposure, pixels and DQ with the
        cosmic-ray bit the drizzle rejected) right after it was drizzled and before its pixels are
        dropped: how a caller keeps the member exposures (e.g. writes them as flc/cal files, as the demo
        replay does) without holding them all in memory. Chips of one exposure come one after the other.

    Returns
    -------
    product : `.drizzled.DrizzledProduct`
        ``wcs`` the true output frame, ``header_wcs`` the one written (with the spec's known
        error); ``truth`` adds ``x_wcs, y_wcs`` (pix), ``dx_sys, dy_sys`` (zero: no injected
        systematic), ``mag`` (AB) to the bed's columns; ``exposures`` keep headers, WCS and
        truth, not pixels.
    """
    from drizzle.resample import Drizzle
    from tqdm.auto import tqdm

    from .drizzled import (DrizzledProduct, _add_exposure, _extensions, _FisherInOutput, _headers, _pixmap, _scene,
                           _sky_level)
    from .presets import FILTERS
    from .psf import make_psf

    center = tuple(spec.center) if spec.center is not None else tuple(truth.meta["center"])
    name = bed_detector(spec)
    det = detector(name)
    jwst = det["telescope"] == "JWST"
    scale = spec_scale(spec)
    frame, header_wcs = product_frames(truth, spec)
    exptime = float(spec.exptime) / int(spec.n_exposures)
    plan = _plan(spec, name, center, frame, exptime)
    if not plan:
        raise WorkbookError(f"no exposure of {spec.name} falls on its {spec.shape} frame; check center and tiles")
    scene = _scene(truth, name, spec.filter, spec.epoch, exptime, plan[0].sky, int(spec.n_exposures))
    driz = Drizzle(kernel="square", out_shape=tuple(spec.shape), fillval="NaN" if jwst else "0",
                   fillval2="NaN" if jwst else None, max_ctx_id=len(plan) - 1)
    fisher = _FisherInOutput(scene, frame)
    records, skies, rejected = [], [], []
    for es in tqdm(plan, desc=f"drizzling {spec.name}", unit="exposure",
                   disable=None if progress is None else not progress):
        e = make_exposure(scene, es)
        good = e.good(reject_cosmic_rays=False)
        sky = _sky_level(e, good)
        cr = e.cr_mask if det["cr_in_data"] else np.zeros(es.shape, bool)
        if not jwst:
            e.dq[cr] |= det["dq"]["cr_astrodrizzle"]
        iscale = 1.0 if jwst else scale**2 / pixel_area_arcsec2(name, es.aperture)
        _add_exposure(driz, e, _pixmap(e, frame), good & ~cr, sky, "EXP", iscale, spec.pixfrac, scale)
        fisher.add(e)
        e.header["MDRIZSKY"] = (sky, "sky subtracted before drizzling (image units)")
        if on_exposure is not None:  # AstroDrizzle writes MDRIZSKY and the CR bit back into its inputs
            on_exposure(e)
        skies.append(sky)
        rejected.append(int(cr.sum()))
        # keep what headers and the truth need, drop the pixels (memory stays one chip deep)
        for key in ("data", "error", "dq", "cr_mask", "cr_electrons", "area"):
            setattr(e, key, None)
        e.variance = {}
        records.append(e)
    extensions = _extensions(driz, jwst)
    params = {"pixfrac": float(spec.pixfrac), "kernel": "square", "out_scale": scale,
              "native_scale": det["native_scale"], "wht_type": "IVM" if jwst else "EXP", "cr_rejection": "truth",
              "n_exposures": len(records), "exptime": exptime, "cr_rejected_pixels": rejected,
              "tiles": [list(t) for t in spec.tiles], "chips": sorted({e.spec.aperture for e in records})}
    # EXPTIME is one tile's depth (the sum over its dither), as AstroDrizzle writes for one visit
    notes = {"sky": skies, "exptime": float(spec.exptime)}
    suffix = "i2d" if jwst else ("drc" if det["suffix"] == "flc" else "drz")
    header, sci_header = _headers(records, params, notes, suffix, spec.name)
    if not jwst:  # the a-posteriori (Gaia) WCS fit's quality, as HST's SCI headers carry it
        rng = np.random.default_rng([int(spec.seed), 7])
        sci_header["NMATCHES"] = (int(rng.integers(40, 200)), "number of sources used in the WCS fit")
        sci_header["RMS_RA"] = (round(float(rng.uniform(3, 9)), 2), "RMS of the WCS fit in RA (mas)")
        sci_header["RMS_DEC"] = (round(float(rng.uniform(3, 9)), 2), "RMS of the WCS fit in Dec (mas)")
        sci_header["FITGEOM"] = ("rscale", "fit geometry of the WCS alignment")
    truth_out = fisher.table()
    ra, dec = np.asarray(truth_out["ra"], float), np.asarray(truth_out["dec"], float)
    truth_out["x_wcs"], truth_out["y_wcs"] = header_wcs.wcs_world2pix(ra, dec, 0)
    truth_out["dx_sys"] = np.zeros(len(truth_out))
    truth_out["dy_sys"] = np.zeros(len(truth_out))
    flux = np.asarray(truth_out["flux"], float)
    with np.errstate(divide="ignore", invalid="ignore"):
        truth_out["mag"] = FILTERS[spec.filter]["zp_ab"] - 2.5 * np.log10(flux)
    for col, unit in (("x_wcs", "pix"), ("y_wcs", "pix"), ("dx_sys", "pix"), ("dy_sys", "pix"), ("mag", "mag")):
        truth_out[col].unit = unit
    psf = make_psf(spec.instrument, spec.filter, pixel_scale=scale)
    truth_out.meta.update({"epoch": float(spec.epoch), "instrument": spec.instrument, "filter": spec.filter,
                           "pixel_scale": scale, "fwhm_pix": float(psf.fwhm_pix), "name": spec.name,
                           "detector": name, "params": params,
                           "crb": "summed Fisher information of the exposures' used pixels",
                           "spec": {k: (list(v) if isinstance(v, tuple) else v)
                                    for k, v in dataclasses.asdict(spec).items()}})
    return DrizzledProduct(extensions=extensions, wcs=frame, header=header, sci_header=sci_header, truth=truth_out,
                           exposures=records, suffix=suffix, params=params, header_wcs=header_wcs)
