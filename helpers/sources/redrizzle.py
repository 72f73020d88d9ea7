"""The drizzle's own position error on a drizzled product, measured by re-drizzling the image's PSF.

Each output pixel of a drizzled product is the weighted mean of the drops (``pixfrac`` × an input
pixel) that overlap it, so its effective sample location is not its centre: it moves by a fraction
of a pixel in a moiré pattern set by the relative phases of the input grids, which change across
the field with the dither and the distortion (Fruchter & Hook 2002, PASP 114, 144). The drizzled
image of a star therefore depends on where the star falls on every input grid. A single mean PSF
(an ePSF built from the image's stars, or a library PSF) cannot represent that, so a PSF fit *and* a
windowed centroid on the product carry a star-dependent systematic error that no resampling of the
product's noise reveals (the bootstrap of the ePSF sees only the model's noise).

:func:`drizzle_position_floor` measures that error by forward modelling: noise-free stars of the
image's detector-scale PSF (the drizzlepac library or the instrument model, :mod:`.library`) are
rendered on ``n_inputs`` synthetic input exposures with random sub-pixel dithers, a small random
rotation and a mild quadratic distortion (so the phases vary across the field, as on a real chip),
combined by STScI's ``drizzle.resample.Drizzle`` with the product's own ``pixfrac``, kernel and
output/input scale and, for inputs of unequal depth, its per-input weights (exposure times,
``D00nDEXP``) (read from its headers by :func:`drizzle_parameters`), and measured by the same
estimators the extraction uses (an ePSF built from the re-drizzled stars and the vectorised PSF
fit; SExtractor windowed centroids with the extraction's window). The rms of the estimated minus the
true positions (per axis, its mean removed) is the floor each estimator's error gets in quadrature.
No truth of any simulation enters: only the headers and the PSF model of the instrument.
"""

import math

import numpy as np

from ..archive.provenance import exposure_count
from ..errors import WorkbookError
from ..validate import require_number

#: Inputs re-drizzled at most: with more, the phases fill the pixel and the floor is negligible
#: (a 192-exposure WFPC2 mosaic such as the HDF-S one is modelled with this many).
MAX_INPUTS = 16
#: Synthetic fields re-drizzled per measurement (independent dithers and distortions).
N_REALISATIONS = 8
#: Stars per side of the square grid of each synthetic field.
GRID_SIDE = 7
#: Spacing of the stars (output pixels, at least this many FWHM).
SPACING_FWHM = 9.0
#: The rotation between exposures (degrees, uniform ±) and the quadratic distortion's departure
#: across the synthetic field (input pixels, uniform ±): small, as between the exposures of a dither
#: after the distortion correction; the phases of the input grids then change across the field.
ROTATION_DEG = 0.01
DISTORTION_PIX = 3.0
#: Spread (degrees, uniform ±) of the orientation of the input grids on the output grid about the
#: assumed one.
ORIENTATION_JITTER_DEG = 2.0

_CACHE = {}


def drizzle_parameters(header, sci_header=None, native_scale=None):
    """The drizzle parameters of a product from its headers, or None when it was not drizzled.

    HST drz/drc (AstroDrizzle): ``D00nPIXF`` (drop size), ``D00nKERN`` (kernel), ``D00nSCAL``
    (output scale, arcsec), ``D00nISCL`` (input scale), one ``D00nDATA`` per input. JWST i2d (the
    ``resample`` step): ``PIXFRAC``, ``PXSCLRT`` (output/input pixel scale ratio), ``NDRIZ`` (pointings
    combined), ``RESWHT`` in the primary header (stdatamodels ``core.schema`` ``meta.resample``); jwst
    writes no ``KERNEL`` keyword: ``square`` (the step's default) is then assumed and warned. IRAF
    drizzle's ``D00nROT`` (each input's rotation) gives the angle of the input grids on the output grid
    (``orientation_deg``, modulo 90°); AstroDrizzle and jwst record no rotation, but keep the first
    input's ``PA_APER`` (the position angle of its aperture's ideal +Y axis) in the SCI header: its
    difference with the output's position angle (from the header's WCS) is then the angle.

    Parameters
    ----------
    header : `~astropy.io.fits.Header`
        Primary header.
    sci_header : `~astropy.io.fits.Header`, optional
        SCI extension header (JWST keywords).
    native_scale : float, optional
        Detector pixel scale, arcsec, when the header gives no input scale.

    Returns
    -------
    params : dict or None
        ``pixfrac`` (median over the inputs), ``kernel``, ``scale_ratio`` (output / input pixel size),
        ``n_inputs`` (drizzled inputs: one per chip for AstroDrizzle, the pointings ``NDRIZ`` for jwst),
        ``n_exposures`` and ``n_exposures_source`` (exposures combined, `helpers.archive.exposure_count`:
        half the ``D00n`` count for two-chip ACS/WFC and WFC3/UVIS products), ``source`` (which keywords),
        ``weight_type`` (JWST ``RESWHT``), ``kernel_note`` / ``n_inputs_note`` (what was assumed for a
        missing JWST keyword, also warned), ``orientation_deg`` and ``orientation_source`` where the headers
        give it,
        ``input_weights`` (each input's share of the weight, sum 1) when AstroDrizzle's ``D00nDEXP``
        exposure times differ (a product of unequal depths; the floor is re-drizzled with them), or
        ``input_weights_note`` when they cannot be read.
    """
    sci_header = sci_header if sci_header is not None else {}
    if "D001PIXF" in header:
        n = 1
        while f"D{n + 1:03d}PIXF" in header or f"D{n + 1:03d}DATA" in header:
            n += 1
        keys = [f"D{k:03d}" for k in range(1, n + 1)]
        pixfrac = float(np.median([float(header.get(f"{p}PIXF", header["D001PIXF"])) for p in keys]))
        if "D001ISCL" in header or native_scale:
            # AstroDrizzle: D00nSCAL is the output pixel size (arcsec), D00nISCL the input's
            in_scale = float(header.get("D001ISCL") or native_scale)
            ratio = float(header.get("D001SCAL", in_scale)) / in_scale
        else:
            # IRAF drizzle (e.g. WFPC2 mosaics): D00nSCAL is the output pixel size in input pixels
            ratio = float(np.median([float(header.get(f"{p}SCAL", 1.0)) for p in keys]))
        params = {"pixfrac": pixfrac, "kernel": str(header.get("D001KERN", "square")).strip() or "square",
                  "scale_ratio": ratio, "n_inputs": int(n), "source": "D00n* keywords"}
        # n_inputs counts drizzled chips (the noise floor's phases); the exposures are fewer for a
        # two-chip detector (ACS/WFC, WFC3/UVIS: one D00n per chip)
        params["n_exposures"], params["n_exposures_source"] = exposure_count(header, sci_header)
        weights = _input_weights(header, keys)
        if isinstance(weights, str):
            params["input_weights_note"] = weights
        elif weights is not None:
            params["input_weights"] = weights
        rotations = [float(header[f"{p}ROT"]) for p in keys if f"{p}ROT" in header]
        if rotations:
            # IRAF drizzle records each input's rotation: the grids' angle modulo a right angle
            folded = (np.asarray(rotations) + 45.0) % 90.0 - 45.0
            params["orientation_deg"] = float(np.median(folded))
            params["orientation_source"] = "D00nROT"
        else:
            _aperture_orientation(params, header, sci_header)
        return params
    for h in (sci_header, header):
        if "PIXFRAC" in h:
            return _aperture_orientation(_jwst_parameters(h, header, sci_header), header, sci_header)
    return None


def _aperture_orientation(params, header, sci_header):
    """Add ``orientation_deg`` (folded to ±45°: the output grid is the same turned by 90°) from the first
    input's ``PA_APER`` and the output's position angle, when both are readable; ``params`` returned."""
    import warnings

    from astropy.wcs import WCS

    pa_in = next((h["PA_APER"] for h in (sci_header, header) if "PA_APER" in h), None)
    try:
        pa_in = float(pa_in)
    except (TypeError, ValueError):
        return params
    wcs_header = sci_header if any(k in sci_header for k in ("CD1_1", "PC1_1", "CDELT1")) else header
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = WCS(wcs_header, naxis=2, relax=True).pixel_scale_matrix
    except Exception:  # noqa: BLE001 - any unreadable WCS: the angle stays unknown (assumed aligned)
        return params
    if not np.all(np.isfinite(m)) or not np.isfinite(pa_in) or abs(np.linalg.det(m)) == 0:
        return params
    # the output's +y axis on the sky: East (intermediate world x) and North components
    pa_out = math.degrees(math.atan2(m[0, 1], m[1, 1]))
    # rounded: a product made at its inputs' angle reads 0, not a 1e-9 residue of the trigonometry
    params["orientation_deg"] = round(float((pa_in - pa_out + 45.0) % 90.0 - 45.0), 4) + 0.0
    params["orientation_source"] = f"PA_APER {pa_in:.2f} deg - the output's {pa_out:.2f} deg"
    return params


def detector_pixel_matrix(instrument, native_scale=None):
    """The shape of a detector pixel on the sky, in nominal pixels: the SIAF linear distortion (pysiaf's
    shipped science-to-ideal polynomial, ``helpers.simulate.detectors``) over the nominal scale.

    Columns are the sky steps (ideal frame, nominal pixels) of one pixel in x and in y: ACS/WFC
    ``[[0.981, 0], [0.088, 0.973]]`` (its x axis 5.1 degrees off perpendicular, its pixels 1.5-2.7 %
    smaller than 0.05"), NIRCam SW ``[[1.004, 0], [0.001, 1.010]]``. The moiré of the input grids on the
    output grid, hence the drizzle floor, follows this shape: an ACS/WFC drc at pixfrac 0.6 has a floor
    of 0.0149 px with it, 0.0175 px with square pixels, against 0.015 px on the drizzled test bed.

    Parameters
    ----------
    instrument : str
        ``ACS/WFC``, ``WFC3/UVIS``, ``WFC3/IR``, ``NIRCAM`` (SW or LW by ``native_scale``), ``NIRCAM/SW``,
        ``NIRCAM/LW`` (the catalog's ``instrument`` meta).
    native_scale : float, optional
        The inputs' pixel scale, arcsec (picks NIRCam's channel: SW below 0.045").

    Returns
    -------
    matrix : ndarray (2, 2) or None
        None for an instrument without a SIAF model here (WFPC2, ACS/HRC, a generic image: square
        pixels are then assumed, and said by the caller).
    """
    import warnings

    from ..simulate.detectors import DETECTORS, sip_from_siaf

    name = str(instrument or "").strip().upper()
    if name == "NIRCAM":
        if native_scale is None:
            return None  # the channel is unknown
        name = "NIRCAM/SW" if float(native_scale) < 0.045 else "NIRCAM/LW"
    if name not in DETECTORS:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pysiaf's offline PRD-version warning
        linear, _, _ = sip_from_siaf(name)
    return np.asarray(linear, float) / float(DETECTORS[name]["native_scale"])


def _jwst_parameters(h, header, sci_header):
    """The resample parameters of a JWST i2d: ``PIXFRAC``, ``PXSCLRT``, ``NDRIZ`` (the pointings
    combined), ``RESWHT`` (weight type) are FITS keywords of ``meta.resample`` (stdatamodels
    ``core.schema``); the kernel has none (it lives in the ASDF extension only), so a missing ``KERNEL``
    is taken as ``square``, the ``resample`` step's default, and said in a warning."""
    import warnings

    def value(key):
        for hh in (h, sci_header, header):
            if key in hh and str(hh[key]).strip() not in ("", "None"):
                return hh[key]
        return None

    params = {"pixfrac": float(h["PIXFRAC"]), "scale_ratio": float(value("PXSCLRT") or 1.0),
              "source": "PIXFRAC/PXSCLRT/NDRIZ (jwst resample)"}
    for key in ("NDRIZ", "NDRIZIM", "NINPUTS"):
        if value(key) is not None:
            params["n_inputs"] = int(value(key))
            params["n_exposures"], params["n_exposures_source"] = params["n_inputs"], key
            break
    else:
        params["n_inputs"] = 4
        params["n_exposures"], params["n_exposures_source"] = -1, ""
        params["n_inputs_note"] = "no NDRIZ keyword: 4 inputs assumed for the drizzle noise floor"
        warnings.warn(f"i2d: {params['n_inputs_note']}", stacklevel=3)
    if value("RESWHT") is not None:
        params["weight_type"] = str(value("RESWHT")).strip()
    kernel = value("KERNEL")
    if kernel is None:
        params["kernel"] = "square"
        params["kernel_note"] = ("no KERNEL keyword (jwst writes the kernel in the ASDF extension only): square "
                                 "assumed, the resample step's default")
        warnings.warn(f"i2d: {params['kernel_note']}", stacklevel=3)
    else:
        params["kernel"] = str(kernel).strip()
    return params


def _input_weights(header, keys):
    """Relative weights of the inputs (sum 1) when their exposure times differ, else None.

    AstroDrizzle records each input's exposure time (``D00nDEXP``) and its weight scaling
    (``D00nWTSC``); with ``final_wht_type`` EXP (its default, and HAP's) an input's drops carry weight
    ``EXPTIME × WTSC``, and with IVM the sky-limited inverse variance is proportional to the exposure
    time too. A product of unequal depths (several visits) is then dominated by its deepest inputs:
    fewer effective phases fill the pixel and the drizzle's position error is larger than for equal
    weights (150/450/900/1500 s: 2.7 effective inputs of 4).

    Returns the weights (a list), None for equal times or no ``D00nDEXP`` at all, or a one-line note
    (a str) when some are missing or not positive numbers: equal weights are then assumed, and said.
    """
    present = [f"{p}DEXP" in header for p in keys]
    if not any(present):
        return None
    unusable = (f"D00nDEXP of {sum(present)} of {len(keys)} inputs readable: the inputs are taken as equal "
                "weights (the floor is then too small if their depths differ)")
    if not all(present):
        return unusable
    try:
        w = np.array([float(header[f"{p}DEXP"]) * float(header.get(f"{p}WTSC", 1.0)) for p in keys])
    except (TypeError, ValueError):
        return unusable
    if not np.all(np.isfinite(w)) or np.any(w <= 0):
        return unusable
    if np.ptp(w) <= 1e-6 * np.max(w):
        return None
    return [round(float(v), 6) for v in w / w.sum()]


def _effective_weights(params, n_inputs):
    """The ``n_inputs`` weights to re-drizzle with: the product's own (``input_weights``), or, when more
    inputs than :data:`MAX_INPUTS` were combined, the same spread at quantiles; equal weights otherwise."""
    w = params.get("input_weights")
    if w is None:
        return np.ones(n_inputs)
    w = np.asarray(w, float)
    if w.size != n_inputs:
        w = np.quantile(np.sort(w), (np.arange(n_inputs) + 0.5) / n_inputs)
    return w / w.mean()


def _depth_text(params):
    """`` weighted by their exposure times (2.7 effective of 4)`` for inputs of unequal depth, else ''."""
    w = params.get("input_weights")
    if w is None:
        return f" ({params['input_weights_note']})" if params.get("input_weights_note") else ""
    w = np.asarray(w, float)
    return f" weighted by their exposure times ({w.sum() ** 2 / np.sum(w**2):.2g} effective of {w.size})"


def _dither_phases(n_inputs, rng):
    """Sub-pixel phases (input pixels) of ``n_inputs`` exposures: a pattern designed to fill the
    pixel (the half-pixel box of ACS-WFC-DITHER-BOX / WFC3-UVIS-DITHER-BOX for 4, a line of 1/n steps
    otherwise), at a random common phase."""
    if n_inputs == 4:
        base = np.array([[0.0, 0.0], [0.5, 0.0], [0.0, 0.5], [0.5, 0.5]])
    elif n_inputs > 4:
        return rng.uniform(0.0, 1.0, (n_inputs, 2))
    else:
        steps = np.arange(n_inputs) / n_inputs
        base = np.c_[steps, (steps * 0.5) % 1.0]
    return (base + rng.uniform(0.0, 1.0, 2)) % 1.0


def _synthetic_inputs(prf_native, n_inputs, scale_ratio, fwhm_out, rng, phases=None, orientation_deg=0.0,
                      pixel_matrix=None):
    """True output positions, input images and pixmaps of one synthetic dithered field.

    One geometry for every exposure (the input grid turned by ``orientation_deg`` ± a small jitter on
    the output grid, its pixels of the detector's shape ``pixel_matrix`` (:func:`detector_pixel_matrix`:
    ACS/WFC's x axis is 5 degrees off perpendicular, its pixels 1-3 % smaller than nominal), and a mild
    common quadratic distortion), each exposure offset by its dither (a few pixels plus its sub-pixel
    phase) and turned by a tiny relative rotation: the relative phases of the inputs stay close to the
    designed pattern while their phase with respect to the output grid changes across the field, as on
    a real chip (the drizzled test bed's 4-point box over an ACS/WFC sub-array).
    """
    spacing = max(12.0, SPACING_FWHM * fwhm_out)
    side_out = int(math.ceil((GRID_SIDE + 1) * spacing))
    g = (np.arange(GRID_SIDE) + 1.0) * spacing
    xo, yo = np.meshgrid(g, g)
    xo = (xo + rng.uniform(-0.5, 0.5, xo.shape)).ravel()
    yo = (yo + rng.uniform(-0.5, 0.5, yo.shape)).ravel()
    margin = 8
    shape = np.eye(2) if pixel_matrix is None else np.asarray(pixel_matrix, float).reshape(2, 2)
    # the input covers the output turned by any angle, in pixels of the detector's (smallest) size
    n_in = int(math.ceil(side_out * scale_ratio * math.sqrt(2.0) / min(1.0, np.linalg.svd(shape)[1][-1]))) + 2 * margin
    half = int(min(prf_native.half_pix - 1, math.ceil(4 * fwhm_out * scale_ratio) + 2))
    k = np.arange(-half, half + 1)
    images, pixmaps = [], []
    yy, xx = np.mgrid[0:n_in, 0:n_in].astype(float)
    phases = _dither_phases(n_inputs, rng) if phases is None else phases
    theta0 = math.radians(orientation_deg + rng.uniform(-ORIENTATION_JITTER_DEG, ORIENTATION_JITTER_DEG))
    quad = rng.uniform(-DISTORTION_PIX, DISTORTION_PIX, 2) / (n_in / 2.0) ** 2
    centre_out = side_out / 2.0
    for i in range(n_inputs):
        theta = theta0 + math.radians(rng.uniform(-ROTATION_DEG, ROTATION_DEG))
        shift = phases[i] + rng.integers(-3, 4, 2)  # input pixels: the dither
        c, s = math.cos(theta), math.sin(theta)
        m = np.array([[c, -s], [s, c]]) @ shape  # input pixel -> output pixel (before the scale ratio)
        minv = np.linalg.inv(m)

        def to_out(xi, yi):
            u, v = xi - n_in / 2.0, yi - n_in / 2.0
            u, v = u + quad[0] * v**2, v + quad[1] * u**2  # the detector's (common) distortion
            u, v = u + shift[0], v + shift[1]
            return (centre_out + (m[0, 0] * u + m[0, 1] * v) / scale_ratio,
                    centre_out + (m[1, 0] * u + m[1, 1] * v) / scale_ratio)

        ox, oy = to_out(xx, yy)
        pixmaps.append(np.dstack([ox, oy]).astype(np.float64))
        # each star's input position: invert the smooth map by Newton steps on its Jacobian
        du, dv = (xo - centre_out) * scale_ratio, (yo - centre_out) * scale_ratio
        xi = minv[0, 0] * du + minv[0, 1] * dv - shift[0] + n_in / 2.0
        yi = minv[1, 0] * du + minv[1, 1] * dv - shift[1] + n_in / 2.0
        for _ in range(8):
            fx, fy = to_out(xi, yi)
            h = 1e-3
            ax, ay = to_out(xi + h, yi)
            bx, by = to_out(xi, yi + h)
            j11, j21, j12, j22 = (ax - fx) / h, (ay - fy) / h, (bx - fx) / h, (by - fy) / h
            det = j11 * j22 - j12 * j21
            ex, ey = xo - fx, yo - fy
            xi, yi = xi + (j22 * ex - j12 * ey) / det, yi + (-j21 * ex + j11 * ey) / det
        img = np.zeros((n_in, n_in))
        cx, cy = np.rint(xi).astype(int), np.rint(yi).astype(int)
        px = np.broadcast_to(cx[:, None, None] + k[None, None, :], (cx.size, k.size, k.size))
        py = np.broadcast_to(cy[:, None, None] + k[None, :, None], (cx.size, k.size, k.size))
        vals = prf_native.sample(px - xi[:, None, None], py - yi[:, None, None])
        ok = (px >= 0) & (px < n_in) & (py >= 0) & (py < n_in)
        np.add.at(img, (py[ok], px[ok]), vals[ok])
        images.append(img.astype(np.float32))
    return xo, yo, images, pixmaps, side_out


def _redrizzled_field(prf_native, params, fwhm_out, rng, random_phases=False, orientation_deg=0.0, inputs=None,
                      rejected=None, pixel_matrix=None):
    """One synthetic field re-drizzled: (output image, true x, true y, output weight, the inputs).

    ``inputs`` re-uses the synthetic exposures of an earlier call (same stars, same dithers);
    ``rejected`` (one bool array per input) gives the input pixels a pipeline rejected (weight 0).
    """
    from drizzle.resample import Drizzle

    n_inputs = int(min(params["n_inputs"], MAX_INPUTS))
    if inputs is None:
        phases = rng.uniform(0.0, 1.0, (n_inputs, 2)) if random_phases else None
        inputs = _synthetic_inputs(prf_native, n_inputs, params["scale_ratio"], fwhm_out, rng, phases, orientation_deg,
                                   pixel_matrix)
    xo, yo, images, pixmaps, side = inputs
    weights = _effective_weights(params, n_inputs)
    driz = Drizzle(kernel=params["kernel"], out_shape=(side, side), fillval="0", disable_ctx=True)
    for i, (img, pm, w) in enumerate(zip(images, pixmaps, weights)):
        # each input weighted as the product weighted it (exposure time): unequal depths leave fewer
        # effective phases in the output pixel
        weight_map = np.full_like(img, w)
        if rejected is not None:
            weight_map[rejected[i]] = 0.0
        driz.add_image(img, exptime=1.0, pixmap=pm, weight_map=weight_map, pixfrac=float(params["pixfrac"]),
                       in_units="cps", iscale=params["scale_ratio"] ** -2)
    return np.asarray(driz.out_img, float), xo, yo, np.asarray(driz.out_wht, float), inputs


def _direct_field(prf_native, scale_ratio, xo, yo, shape, fwhm_out):
    """Noise-free stars at (xo, yo) rendered straight on the output grid (no drizzle)."""
    half = int(math.ceil(4 * fwhm_out)) + 2
    k = np.arange(-half, half + 1)
    cx, cy = np.rint(xo).astype(int), np.rint(yo).astype(int)
    px = np.broadcast_to(cx[:, None, None] + k[None, None, :], (cx.size, k.size, k.size))
    py = np.broadcast_to(cy[:, None, None] + k[None, :, None], (cx.size, k.size, k.size))
    vals = prf_native.sample((px - xo[:, None, None]) * scale_ratio, (py - yo[:, None, None]) * scale_ratio)
    img = np.zeros(shape)
    ok = (px >= 0) & (px < shape[1]) & (py >= 0) & (py < shape[0])
    np.add.at(img, (py[ok], px[ok]), vals[ok])
    return img


def _measure(image, xo, yo, fwhm, sig, R, radius, oversampling):
    """The extraction's estimators on a noise-free field: an ePSF anchored on tapered centres of mass
    and the vectorised PSF fit (`_make_prf`, `_fit_psf`), and SExtractor windowed centroids."""
    import sep

    from .background import _Noise
    from .centroids import _com_positions
    from .epsf import build_epsf
    from .fitting import _fit_psf
    from .psf import _PRF

    noise = _Noise(scalar_rms=1.0)
    bad = np.zeros(image.shape, bool)
    xc, yc = _com_positions(image, xo, yo, max(4.0, 2.5 * fwhm))
    epsf = build_epsf(image, xc, yc, bad=bad, fwhm=fwhm, radius=R, _noise=noise, oversampling=oversampling)
    prf = _PRF(epsf)
    flux = np.full(xo.size, float(np.sum(image)) / xo.size)
    fit = _fit_psf(image, noise, bad, xc, yc, flux, prf, int(min(radius, max(3, prf.half_pix - 2))), n_iter=6)
    xw, yw, _ = sep.winpos(np.ascontiguousarray(image), xc, yc, np.full(xo.size, sig), subpix=1)
    return fit, xw, yw


def _calibration_key(psf_native, params, fwhm, window_sigma, oversampling, seed, orientation_deg, random_phases=False,
                     pixel_matrix=None):
    """The checked FWHM and the cache key of a re-drizzling measurement (everything its result depends on)."""
    fwhm = require_number(fwhm, "fwhm", minimum=0.5, maximum=50.0, example="2.2")
    if pixel_matrix is not None:
        pixel_matrix = np.asarray(pixel_matrix, float)
        if pixel_matrix.shape != (2, 2) or not np.all(np.isfinite(pixel_matrix)) or abs(np.linalg.det(pixel_matrix)) < 0.1:
            raise WorkbookError("pixel_matrix must be the 2x2 shape of a detector pixel in nominal pixels "
                                "(detector_pixel_matrix), e.g. [[0.98, 0], [0.09, 0.97]] for ACS/WFC")
    key = (id(psf_native), round(float(params["pixfrac"]), 4), params["kernel"], round(float(params["scale_ratio"]), 4),
           int(params["n_inputs"]), round(fwhm, 2), None if window_sigma is None else round(float(window_sigma), 3),
           int(oversampling), int(seed), bool(random_phases), round(float(orientation_deg), 2),
           None if params.get("input_weights") is None else tuple(np.round(params["input_weights"], 6)),
           None if pixel_matrix is None else tuple(np.round(pixel_matrix, 5).ravel()))
    return fwhm, key


def _calibration_setup(psf_native, fwhm, window_sigma, seed):
    """The sampled PSF, the generator and the extraction's window σ, ePSF radius and fit stamp radius."""
    from .psf import _PRF

    return (_PRF(psf_native), np.random.default_rng(seed), float(window_sigma or fwhm / 2.3548),
            int(max(6, math.ceil(4 * fwhm))), int(max(4, math.ceil(2.5 * fwhm))))


def drizzle_position_floor(psf_native, params, fwhm, window_sigma=None, oversampling=2, seed=2024, random_phases=False,
                           orientation_deg=0.0, pixel_matrix=None):
    """Rms systematic position error (pixels, per axis) of the PSF fit and of windowed centroids on a
    drizzled product, from noise-free stars of ``psf_native`` re-drizzled with ``params``.

    Parameters
    ----------
    psf_native : `photutils.psf.ImagePSF`
        The instrument's PSF at the detector's pixel scale (pixel-integrated, oversampled), e.g.
        ``library_psf(instrument, filter, native_scale, drizzled=False)``.
    params : dict
        From :func:`drizzle_parameters` (``pixfrac``, ``kernel``, ``scale_ratio``, ``n_inputs``; optional
        ``input_weights``, each input's share of the weight: unequal shares raise the floor).
    fwhm : float
        The product's FWHM, output pixels (sets the ePSF radius and the fit stamp, as in the extraction).
    window_sigma : float, optional
        Gaussian window σ of the windowed centroids, output pixels (default FWHM / 2.35).
    oversampling : int
        Oversampling of the ePSF built from the re-drizzled stars (the extraction's choice).
    seed : int
        Seed of the synthetic dithers (fixed: an extraction is reproducible).
    random_phases : bool
        Random sub-pixel dithers instead of a pattern designed to fill the pixel.
    orientation_deg : float
        Angle of the input grids on the output grid, degrees (:func:`drizzle_parameters` reads it from
        ``PA_APER`` and the output's WCS; 0, aligned, when unknown).
    pixel_matrix : (2, 2) array-like, optional
        The detector pixel's shape in nominal pixels (:func:`detector_pixel_matrix`; default square).

    Returns
    -------
    floor : dict
        ``psf_pix`` and ``windowed_pix`` (rms over both axes, mean removed), ``n_stars``, ``params``.
    """
    from .epsf import EPSF_FLOOR_FWHM

    if not isinstance(params, dict) or not {"pixfrac", "kernel", "scale_ratio", "n_inputs"} <= set(params):
        raise WorkbookError("params must be the dict drizzle_parameters returns (pixfrac, kernel, scale_ratio, "
                            "n_inputs); read it from the product's headers")
    fwhm, key = _calibration_key(psf_native, params, fwhm, window_sigma, oversampling, seed, orientation_deg,
                                 random_phases, pixel_matrix)
    if key in _CACHE:
        return _CACHE[key]
    prf_native, rng, sig, R, radius = _calibration_setup(psf_native, fwhm, window_sigma, seed)
    d_psf, d_win, b_psf, b_win, n_stars = [], [], [], [], 0
    for _ in range(N_REALISATIONS):
        out, xo, yo, _, _ = _redrizzled_field(prf_native, params, fwhm, rng, random_phases, orientation_deg,
                                              pixel_matrix=pixel_matrix)
        # the same stars rendered straight onto the output grid: what the estimators do without drizzle
        direct = _direct_field(prf_native, params["scale_ratio"], xo, yo, out.shape, fwhm)
        for image, dp, dw in ((out, d_psf, d_win), (direct, b_psf, b_win)):
            fit, xw, yw = _measure(image, xo, yo, fwhm, sig, R, radius, int(oversampling))
            ok = fit["ok"]
            dp.append(np.c_[fit["x"][ok] - xo[ok], fit["y"][ok] - yo[ok]])
            dw.append(np.c_[xw - xo, yw - yo])
            n_stars += int(ok.sum()) if image is out else 0

    def rms(parts):
        d = np.concatenate([p - np.median(p, axis=0) for p in parts])
        d = d[np.all(np.isfinite(d), axis=1)]
        return float(np.sqrt(np.mean(d**2))) if d.size else 0.0

    def excess(total, base):
        # only the part of the estimator's own systematic the extraction already carries is removed:
        # EPSF_FLOOR_FWHM x FWHM (the bootstrap sees noise only). The direct field's whole error is not
        # it: on an output grid coarser than the input (ACS drc 0.06"/px from 0.05", scale ratio 1.2)
        # the ePSF's phase error on the undersampled product is 0.004 px, 3x EPSF_FLOOR_FWHM x FWHM, and
        # removing it left the PSF pulls at 1.26 (the bed's noise-free truth: 0.0075 px, the total 0.006)
        return float(np.sqrt(max(total**2 - min(base, EPSF_FLOOR_FWHM * fwhm) ** 2, 0.0)))

    # The drizzle shifts the star's image, so both estimators see the same error (their totals agree to
    # a few %): the PSF fit's total less the extraction's own ePSF floor is the part windowed-minus-PSF
    # differences (the windowed floor of the full path) cannot see. The windowed centroid's total on the drizzled
    # field is its floor where no PSF fit measures its own phase bias (the fast path).
    result = {"psf_pix": excess(rms(d_psf), rms(b_psf)), "windowed_pix": rms(d_win),
              "psf_total_pix": rms(d_psf), "psf_direct_pix": rms(b_psf), "n_stars": n_stars,
              "params": {k: params[k] for k in ("pixfrac", "kernel", "scale_ratio", "n_inputs", "input_weights")
                         if k in params}}
    _CACHE[key] = result
    return result


#: Fraction of each synthetic input's pixels rejected when the rejection term is calibrated (a pipeline's
#: cosmic-ray and bad-pixel rejection: the drizzled bed's 500 s ACS/WFC inputs lose ~1.5 % to cosmic rays
#: and their drc's weight is 2.3 % short of full depth on average).
REJECTED_FRACTION = 0.02
#: Margin (output pixels) of the box, beyond the star's stamp, whose 90th-percentile weight is taken
#: as the full depth around a star.
REFERENCE_MARGIN = 8
_REJECTION_CACHE = {}


def rejection_strength(weight, x, y, fwhm):
    """How much of a star's position information its inputs' rejected pixels took (dimensionless).

    A drizzled pixel is the weighted mean of the drops that overlap it; when one input's pixel was
    rejected (a cosmic ray, a hot pixel: weight 0 in the pipeline's mask) the pixel is the mean of
    the others, whose sub-pixel phases differ, so the pixel's value moves by about the PSF's gradient
    times the missing drop's phase offset. Those changes enter a position estimate through its linear
    weights G = (∂P/∂x) / Σ(∂P/∂x)²: the shift has variance α² S², with

        S² = ½ Σ_j (G_x,j² + G_y,j²) d_j² |∇P_j|²,

    d_j = 1 − WHT_j / (the full depth around the star, the 90th percentile of the weight in a box
    :data:`REFERENCE_MARGIN` px wider) the pixel's weight deficit, P a Gaussian of the image FWHM, and
    α (pixels) the drop's phase offset, calibrated by :func:`rejection_coefficients` on re-drizzled
    synthetic inputs. On the drizzled test bed (ACS/WFC F814W, pixfrac 1, cosmic rays rejected)
    the stars 10x brighter than the bench's moved by 0.004 px rms at S < 0.008 and 0.02 px at S ~ 0.08
    against their clean twins.

    Parameters
    ----------
    weight : 2-D array
        The product's weight map (``WHT``, any units: only ratios enter).
    x, y : array-like
        Source positions, pixels (0-based) of ``weight``.
    fwhm : float
        Image FWHM, pixels.

    Returns
    -------
    strength : ndarray
        S per source (0 for none; off-image pixels count as no deficit: such stars are edge-flagged).
    """
    from .stamps import _stamp_index

    x = np.atleast_1d(np.asarray(x, float))
    y = np.atleast_1d(np.asarray(y, float))
    n = x.size
    if n == 0:
        return np.zeros(0)
    weight = np.asarray(weight)
    half = int(math.ceil(1.5 * fwhm)) + 1
    good = np.isfinite(x) & np.isfinite(y)
    xs, ys = np.where(good, x, 0.0), np.where(good, y, 0.0)
    bx, by, _ = _stamp_index(xs, ys, half + REFERENCE_MARGIN, weight.shape)
    ref = np.percentile(weight[by, bx].reshape(n, -1), 90, axis=1)
    px, py, inside = _stamp_index(xs, ys, half, weight.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.clip(1.0 - weight[py, px] / ref[:, None, None], 0.0, 1.0)
    d = np.where(inside & np.isfinite(d), d, 0.0)
    sig = float(fwhm) / 2.3548
    dx, dy = px - xs[:, None, None], py - ys[:, None, None]
    prof = np.exp(-(dx**2 + dy**2) / (2 * sig**2))
    prof /= prof.sum(axis=(1, 2), keepdims=True)
    gx, gy = -dx / sig**2 * prof, -dy / sig**2 * prof
    grad2 = gx**2 + gy**2
    s2 = 0.5 * (np.sum((gx / np.sum(gx**2, axis=(1, 2), keepdims=True)) ** 2 * d**2 * grad2, axis=(1, 2))
                + np.sum((gy / np.sum(gy**2, axis=(1, 2), keepdims=True)) ** 2 * d**2 * grad2, axis=(1, 2)))
    return np.where(good, np.sqrt(s2), 0.0)


def _rejected_pixels(images, rng):
    """The input pixels a pipeline rejected, for the calibration: :data:`REJECTED_FRACTION` of each, in
    3x3 patches (AstroDrizzle's ``driz_cr_grow`` = 1 grows each cosmic-ray pixel so; a cosmic ray's own
    track is a few pixels too).

    The morphology matters: the drop's phase error of adjacent rejected pixels partly cancels in a
    position estimate, so α from isolated rejected pixels is 1.7x that from 2x2 or 3x3 patches (0.43 vs
    0.26 / 0.25 px, ACS/WFC F814W, pixfrac 1; 5-pixel lines 0.37)."""
    from scipy import ndimage

    patch = np.ones((3, 3), bool)
    return [ndimage.binary_dilation(rng.random(img.shape) < REJECTED_FRACTION / patch.sum(), patch) for img in images]


def rejection_coefficients(psf_native, params, fwhm, window_sigma=None, oversampling=2, seed=2025, orientation_deg=0.0,
                           pixel_matrix=None):
    """Calibrate the rejected-pixel term of :func:`rejection_strength` by re-drizzling.

    The synthetic fields of :func:`drizzle_position_floor` are drizzled twice, once whole and once with
    :data:`REJECTED_FRACTION` of every input's pixels rejected (weight 0), and measured by the
    extraction's estimators; each star's shift between the two, against its strength S in the
    rejected field's weight, gives α (pixels) per estimator: σ_rejection = α · S_eff, with
    S_eff² = S² − ⟨S²⟩ of the whole fields (the weight pattern the drop geometry alone leaves at
    pixfrac < 1, which the floor already covers). The fields' input grids are turned over 0-45 deg (the
    orientation-averaged α; the floor alone takes the headers' angle, aligned when unknown).

    Returns
    -------
    coefficients : dict
        ``alpha_psf_pix``, ``alpha_windowed_pix`` (pixels), ``s0_sq`` (⟨S²⟩ of the whole fields,
        dimensionless), ``n_stars``, ``rejected_fraction``.
    """
    fwhm, key = _calibration_key(psf_native, params, fwhm, window_sigma, oversampling, seed, orientation_deg,
                                 pixel_matrix=pixel_matrix)
    if key in _REJECTION_CACHE:
        return _REJECTION_CACHE[key]
    prf_native, rng, sig, R, radius = _calibration_setup(psf_native, fwhm, window_sigma, seed)
    d_psf, d_win, s_whole, s_cut = [], [], [], []
    for k in range(N_REALISATIONS):
        # over the orientations of the input grids (0-45 deg), not at the floor's one angle: at pixfrac
        # 0.6 aligned grids give alpha 0.40 px, rotated by 15 / 30 deg 0.28 / 0.22, at pixfrac 1 0.22-0.24
        # whatever the angle; the bed (aligned, SIP-distorted) shows ~0.25 at both
        turn = orientation_deg + 45.0 * (k + 0.5) / N_REALISATIONS
        whole, xo, yo, wht_whole, inputs = _redrizzled_field(prf_native, params, fwhm, rng, orientation_deg=turn,
                                                             pixel_matrix=pixel_matrix)
        rejected = _rejected_pixels(inputs[2], rng)
        cut, _, _, wht_cut, _ = _redrizzled_field(prf_native, params, fwhm, rng, inputs=inputs, rejected=rejected)
        fit0, xw0, yw0 = _measure(whole, xo, yo, fwhm, sig, R, radius, int(oversampling))
        fit1, xw1, yw1 = _measure(cut, xo, yo, fwhm, sig, R, radius, int(oversampling))
        ok = fit0["ok"] & fit1["ok"]
        dp = np.c_[fit1["x"] - fit0["x"], fit1["y"] - fit0["y"]]
        dw = np.c_[xw1 - xw0, yw1 - yw0]
        # a common shift (the re-built ePSF's centring) is not a star's error
        d_psf.append(np.where(ok[:, None], dp - np.median(dp[ok], axis=0), np.nan))
        d_win.append(dw - np.median(dw, axis=0))
        s_whole.append(rejection_strength(wht_whole, xo, yo, fwhm))
        s_cut.append(rejection_strength(wht_cut, xo, yo, fwhm))
    s0_sq = float(np.mean(np.concatenate(s_whole) ** 2))
    eff = np.maximum(np.concatenate(s_cut) ** 2 - s0_sq, 0.0)

    def alpha(parts):
        d = np.concatenate(parts)
        use = np.all(np.isfinite(d), axis=1)
        den = float(np.sum(eff[use]))
        return float(np.sqrt(np.sum(d[use] ** 2) / 2.0 / den)) if den > 0 else 0.0

    result = {"alpha_psf_pix": alpha(d_psf), "alpha_windowed_pix": alpha(d_win), "s0_sq": s0_sq,
              "n_stars": int(eff.size), "rejected_fraction": REJECTED_FRACTION}
    _REJECTION_CACHE[key] = result
    return result


def rejection_error(coefficients, weight, x, y, fwhm):
    """Per-source rejected-pixel position error (pixels per axis) of the PSF fit and the windowed
    centroid: α · S_eff (see :func:`rejection_coefficients`); zeros without a weight map."""
    x = np.atleast_1d(np.asarray(x, float))
    if weight is None or not coefficients or x.size == 0:
        return np.zeros(x.size), np.zeros(x.size)
    strength = rejection_strength(weight, x, y, fwhm)
    eff = np.sqrt(np.maximum(strength**2 - coefficients["s0_sq"], 0.0))
    return coefficients["alpha_psf_pix"] * eff, coefficients["alpha_windowed_pix"] * eff


def _extraction_floor(state, fwhm, window_sigma, oversampling):
    """The drizzle floor of this extraction (cached in ``state``), from the image meta's ``drizzle``
    parameters and the instrument's detector-scale PSF; None for an image that was not drizzled.

    The input grids' angle on the output grid is the first input's ``PA_APER`` less the output's
    position angle (:func:`drizzle_parameters`; IRAF drizzle's ``D00nROT``); without either they are
    taken as aligned, where the floor is largest (rotated by more than a few degrees, the moiré
    averages over a star and the floor is 3-7x smaller), so bright stars' errors are then
    conservative. ``meta['drizzle_orientation_deg']`` overrides it. The input pixels have the
    detector's SIAF shape (:func:`detector_pixel_matrix`) where one is known.
    """
    from .library import library_psf

    if "drizzle_floor" in state:
        return state["drizzle_floor"]
    meta = state.get("image_meta") or {}
    params = meta.get("drizzle")
    state["drizzle_floor"] = None
    if not isinstance(params, dict) or not fwhm:
        return None
    scale = meta.get("pixel_scale")
    native = float(scale) / float(params["scale_ratio"]) if scale else None
    psf = None
    if meta.get("instrument") and meta.get("filter"):
        try:
            psf = library_psf(meta["instrument"], meta["filter"], native, drizzled=False)
        except WorkbookError:
            psf = None
    if psf is None:
        state["drizzle_floor"] = {"psf_pix": 0.0, "windowed_pix": 0.0, "note": (
            f"drizzled (pixfrac {params['pixfrac']:g}) but no PSF model for instrument {meta.get('instrument') or '?'} "
            f"filter {meta.get('filter') or '?'}: the drizzle's own position error is not measured nor included")}
        return state["drizzle_floor"]
    orientation = float(meta.get("drizzle_orientation_deg", params.get("orientation_deg", 0.0)))
    known = "drizzle_orientation_deg" in meta or "orientation_deg" in params
    source = ("drizzle_orientation_deg (given)" if "drizzle_orientation_deg" in meta
              else params.get("orientation_source", "D00nROT"))
    shape = detector_pixel_matrix(meta.get("instrument"), native)
    floor = dict(drizzle_position_floor(psf, params, fwhm, window_sigma=window_sigma, oversampling=oversampling,
                                        orientation_deg=orientation, pixel_matrix=shape))
    floor["psf_model"] = psf.meta.get("psf_source", "model")
    floor["orientation_deg"] = orientation
    floor["pixel_matrix"] = None if shape is None else np.round(shape, 5).tolist()
    # stars whose inputs lost pixels (cosmic rays, bad pixels rejected) get their own term on top
    floor["rejection"] = dict(rejection_coefficients(psf, params, fwhm, window_sigma=window_sigma,
                                                     oversampling=oversampling, orientation_deg=orientation,
                                                     pixel_matrix=shape))
    floor["note"] = (f"drizzle floor: {floor['psf_pix']:.4f} px (PSF fit), {floor['windowed_pix']:.4f} px (windowed), "
                     f"from {floor['n_stars']} noise-free {floor['psf_model']}-PSF stars re-drizzled by drizzle with this "
                     f"product's pixfrac {params['pixfrac']:g}, {params['kernel']} kernel, scale ratio "
                     f"{params['scale_ratio']:.3g} and {params['n_inputs']} inputs{_depth_text(params)} ({params['source']}); input grids at "
                     f"{orientation:.2f} deg to the output's" + (f" ({source})" if known else " (assumed: no PA_APER "
                                                                    "nor D00nROT in the headers; the worst case, a rotated "
                                                                    "dither has a 3-7x smaller floor)")
                     + (f", pixels of the {meta.get('instrument')} SIAF shape" if shape is not None
                        else ", square pixels (no SIAF model of this detector)")
                     + f"; a windowed centroid on pixels its inputs rejected adds {floor['rejection']['alpha_windowed_pix']:.2f} "
                       f"px x the strength of its weight deficit (rejection_strength)")
    state["drizzle_floor"] = floor
    return floor
