"""Individual exposures on the detector, as the calibration pipelines write them: HST flt/flc
(ACS/WFC, WFC3/UVIS in electrons; WFC3/IR in electrons/s) and JWST NIRCam cal (MJy/sr).

Each exposure is rendered in electrons on the detector's pixels and then calibrated:

* **Geometry**: a TAN-SIP header whose SIP is the SIAF distortion of the chip
  (:mod:`.detectors`); stars land at ``wcs.all_world2pix`` of their true position. The PSF is the
  pixel-integrated diffraction model of :func:`.make_psf` at the native scale, drawn in detector
  pixels (the few-% local stretch of the PSF by the distortion is not modelled).
* **Signal**: stars (``F·t·PRF``), Sérsic galaxies, sky ``∝`` the pixel's sky area, dark current,
  hot pixels (DQ 16 / JWST HOT; their reference dark is subtracted, a 20% drift is left, as
  dark frames taken weeks apart leave), cosmic rays at the documented rates (tracks; CCDs: in the
  data; IR arrays: the ramp fit removes a detected jump, which DQ flags, and keeps the residual of
  the jumps below its threshold).
* **Noise**: Poisson on every electron, Gaussian read noise.
* **Saturation**: CCD full well; the excess charge bleeds up and down the column (DQ 256);
  IR arrays do not bleed (HST DQ 256; JWST SATURATED | DO_NOT_USE, NaN in SCI).
* **Calibration**: dark subtracted, flat-fielded so that the sky is flat (a point source's
  counts are divided by the pixel area, as in real flt/cal files), units of the pipeline.

The exact Fisher information of each star's (x, y, flux) in this exposure, over the pixels a
drizzle will use (DQ-rejected and cosmic-ray pixels excluded), is kept with the exposure: summed
over a dither through each exposure's distortion Jacobian it gives the Cramér–Rao bound of the
drizzled product (:mod:`.drizzled`).
"""

import dataclasses
import datetime
import math

import numpy as np
from astropy.io import fits
from astropy.table import Table

from ..errors import WorkbookError
from ..validate import require_instance, require_number, require_text
from ._checks import require_numeric_columns, require_pair, require_table
from .detectors import detector, exposure_wcs, pixel_area_arcsec2, relative_pixel_area
from .presets import ARCSEC_PER_RAD, FILTERS, INSTRUMENTS
from .psf import make_psf
from .render import _PRF, _add_block, _galaxy_stamps, _scatter_add, _stamp_offsets, _star_stamp_radius
from .truth import decimal_year_to_mjd

#: PSF preset (``INSTRUMENTS`` key) of each detector.
PSF_INSTRUMENT = {"ACS/WFC": "ACS/WFC", "WFC3/UVIS": "WFC3/UVIS", "WFC3/IR": "WFC3/IR", "NIRCAM/SW": "NIRCAM",
                  "NIRCAM/LW": "NIRCAM"}
#: Fraction of a hot pixel's dark current left after subtracting a dark reference taken earlier.
HOT_RESIDUAL = 0.2


@dataclasses.dataclass
class ExposureSpec:
    """One exposure of a dither.

    Attributes
    ----------
    detector : str
        Key of :data:`.detectors.DETECTORS`.
    filter : str
        Key of :data:`FILTERS`.
    shape : (int, int)
        (ny, nx) of the simulated sub-array, pixels.
    origin : (int, int) or None
        0-based chip pixel of the sub-array's first pixel; default centred on the chip.
    crval : (float, float)
        Sky position (deg) of the chip's reference pixel.
    roll : float
        Position angle of the ideal +y axis, degrees East of North.
    exptime : float
        Exposure time, s.
    sky : float
        Sky, e-/s per pixel of the reference pixel's area.
    epoch : float
        Decimal year (header dates).
    seed : int
        Noise, cosmic-ray and hot-pixel realisation.
    name : str
        Rootname.
    cosmic_rays, hot_pixels, saturation : bool
        Switch each effect (all on by default).
    jump_residual : bool
        IR arrays: leave in the data what the up-the-ramp fit misses of the jumps below its detection
        threshold (:func:`_ramp_residual`). Off by default: the residual is real but sparse,
        heavy-tailed noise the truth's Cramér–Rao bound does not include (on the NIRCam F200W bed it
        takes the PSF fit at SNR 30–100 from 1.28x to 1.38x the bound).
    aperture : str or None
        SIAF aperture of the chip (default the preset's first chip; ``JWFC2FIX`` is ACS/WFC's second,
        ``IUVIS2FIX`` WFC3/UVIS's): its polynomial is the distortion.
    """

    detector: str = "ACS/WFC"
    filter: str = "F814W"
    shape: tuple = (1024, 1024)
    origin: tuple | None = None
    crval: tuple = (53.1625, -27.791417)
    roll: float = 0.0
    exptime: float = 500.0
    sky: float = 0.08
    epoch: float = 2004.8
    seed: int = 0
    name: str = "sim_exposure"
    cosmic_rays: bool = True
    hot_pixels: bool = True
    saturation: bool = True
    jump_residual: bool = False
    aperture: str | None = None

    def __post_init__(self):
        # refuse here, where the mistake is made, not deep inside the rendering
        detector(require_text(self.detector, "detector"))
        if require_text(self.filter, "filter") not in FILTERS:
            raise WorkbookError(f"unknown filter {self.filter!r}; use one of {', '.join(FILTERS)}")
        self.shape = require_pair(self.shape, "shape", integer=True, minimum=1, example="(1024, 1024)")
        if self.origin is not None:
            self.origin = require_pair(self.origin, "origin", integer=True, minimum=0, example="(0, 0)")
        self.crval = require_pair(self.crval, "crval")
        if not -90.0 <= self.crval[1] <= 90.0:
            raise WorkbookError(f"crval Dec = {self.crval[1]} is outside [-90, 90]; give (RA, Dec) in degrees")
        self.roll = require_number(self.roll, "roll", example="0.0")
        self.exptime = require_number(self.exptime, "exptime", minimum=1e-3, example="500.0")
        self.sky = require_number(self.sky, "sky", minimum=0.0, example="0.08")
        self.epoch = require_number(self.epoch, "epoch", minimum=1900.0, maximum=2200.0, example="2004.8")
        self.seed = require_number(self.seed, "seed", integer=True, minimum=0, example="1")
        require_text(self.name, "name")
        if require_text(self.aperture, "aperture", allow_none=True) is not None:
            from .detectors import siaf_polynomial, _siaf_of

            try:
                siaf_polynomial(*_siaf_of(self.detector, self.aperture))
            except Exception as exc:  # pysiaf's KeyError names nothing the user can act on
                raise WorkbookError(f"aperture {self.aperture!r} is not a SIAF aperture of {self.detector}'s "
                                    f"observatory ({exc.__class__.__name__}); use e.g. 'JWFC2FIX'") from None
        for key in ("cosmic_rays", "hot_pixels", "saturation", "jump_residual"):
            if not isinstance(getattr(self, key), (bool, np.bool_)):
                raise WorkbookError(f"{key} = {getattr(self, key)!r:.30} is not True/False; give a bool")


@dataclasses.dataclass
class Exposure:
    """A calibrated exposure on the detector (flt/flc-like or cal-like) and its truth.

    Attributes
    ----------
    data, error : ndarray
        SCI and ERR in the pipeline's units (``header['BUNIT']``).
    dq : ndarray of uint32
        Pipeline DQ bits (HST or JWST values); cosmic rays are not in it for CCDs until a rejection
        marks them (``cr_mask`` is the truth).
    cr_mask : ndarray of bool
        Pixels a cosmic ray deposited charge in (the truth).
    cr_electrons : ndarray
        The charge each cosmic ray left, e- (the truth; in the data for CCDs only).
    variance : dict
        ``poisson``, ``rnoise``, ``flat`` variances, units², and ``background`` (sky + dark + read
        noise only: what AstroDrizzle's IVM weight uses).
    wcs : `~astropy.wcs.WCS`
        TAN-SIP, the true geometry.
    header : `~astropy.io.fits.Header`
    to_e_per_s : float
        Image units → e-/s per pixel of the reference area (1/EXPTIME for electrons, 1 for
        electrons/s, 1/PHOTMJSR for MJy/sr).
    area : ndarray
        Relative pixel area (flat-fielding divides by it).
    truth : `~astropy.table.Table`
        Sources that fell on the sub-array: ``id, kind, ra, dec, x, y`` (0-based detector pixels),
        ``flux`` (e-/s), ``saturated``; ``fisher`` (n, 3, 3) in ``truth.meta``: information on
        (x, y, flux in e-/s) from the pixels a drizzle uses (``good``), point sources only.
    spec : ExposureSpec
    """

    data: np.ndarray
    error: np.ndarray
    dq: np.ndarray
    cr_mask: np.ndarray
    variance: dict
    wcs: object
    header: fits.Header
    to_e_per_s: float
    area: np.ndarray
    truth: Table
    spec: ExposureSpec
    fisher: np.ndarray = None
    cr_electrons: np.ndarray = None

    def good(self, reject_cosmic_rays=True):
        """Pixels a drizzle uses: no rejecting DQ bit and, for CCDs, not hit by a cosmic ray."""
        det = detector(self.spec.detector)
        dq = det["dq"]
        if det["telescope"] == "JWST":
            bad = (self.dq & dq["do_not_use"]) != 0
        else:
            bad = (self.dq & (dq["bad_pixel"] | dq["hot_pixel"] | dq["saturated"] | dq["cr_astrodrizzle"])) != 0
        if reject_cosmic_rays and det["cr_in_data"]:
            bad |= self.cr_mask
        return ~bad & np.isfinite(self.data)

    def to_hdulist(self):
        """flt/flc-like (PRIMARY, SCI, ERR, DQ) or cal-like (PRIMARY, SCI, ERR, DQ, AREA, VAR_*)."""
        primary = fits.PrimaryHDU(header=self.header.copy())
        wcs_header = self.wcs.to_header(relax=True)
        sci_header = wcs_header.copy()
        sci_header["BUNIT"] = (detector(self.spec.detector)["units"], "units of the science array")
        for key in ("PHOTMJSR", "PIXAR_SR", "PHOTFLAM", "PHOTPLAM"):
            if key in self.header:
                sci_header[key] = (self.header[key], self.header.comments[key])
        hdus = [primary, fits.ImageHDU(self.data.astype(np.float32), header=sci_header, name="SCI"),
                fits.ImageHDU(self.error.astype(np.float32), header=wcs_header.copy(), name="ERR"),
                fits.ImageHDU(self.dq.astype(np.uint16 if self.header["TELESCOP"] == "HST" else np.uint32),
                              header=wcs_header.copy(), name="DQ")]
        if self.header["TELESCOP"] == "JWST":
            hdus.append(fits.ImageHDU(self.area.astype(np.float32), name="AREA"))
            for key in ("poisson", "rnoise", "flat"):
                hdus.append(fits.ImageHDU(self.variance[key].astype(np.float32), name=f"VAR_{key.upper()}"))
        for h in hdus[1:]:
            h.header["EXTVER"] = 1
        return fits.HDUList(hdus)

    def writeto(self, path, overwrite=False):
        """Write the exposure atomically."""
        from .._io import atomic_path

        with atomic_path(path, overwrite=overwrite) as tmp:
            self.to_hdulist().writeto(tmp, checksum=True)
        return path


def _cosmic_rays(shape, det, exptime, rng):
    """Charge (e-) deposited by cosmic rays at the documented event rate (:data:`.detectors.COSMIC_RAYS`).

    A Poisson number of events (rate · pixel area · pixels · exposure time) start anywhere and point
    anywhere; each lays its charge (the floor plus a log-normal of median ``median − floor``, 0.3 dex)
    along an exponential path of mean ``track_pix`` in deposits every 0.25 px, each shared bilinearly
    over 2×2 pixels (charge diffusion), which gives the handbooks' pixels per event.
    """
    ny, nx = shape
    cr = det["cr"]
    mean_events = cr["rate_cm2_s"] * (cr["pixel_um"] * 1e-4) ** 2 * ny * nx * exptime
    n = int(rng.poisson(mean_events))
    charge = np.zeros(ny * nx)
    if n == 0:
        return charge.reshape(ny, nx)
    x0, y0 = rng.uniform(0, nx - 1, n), rng.uniform(0, ny - 1, n)
    length = rng.exponential(cr["track_pix"], n)
    angle = rng.uniform(0, 2 * np.pi, n)
    floor, median = cr["charge_e"]
    q = floor + (median - floor) * 10 ** rng.normal(0.0, 0.3, n)
    steps = np.maximum(np.ceil(length / 0.25).astype(int), 1)
    idx = np.repeat(np.arange(n), steps)
    t = (np.arange(idx.size) - np.repeat(np.cumsum(steps) - steps, steps)) * 0.25
    px = x0[idx] + t * np.cos(angle[idx])
    py = y0[idx] + t * np.sin(angle[idx])
    w = q[idx] / steps[idx]
    ix, iy = np.floor(px).astype(int), np.floor(py).astype(int)
    fx, fy = px - ix, py - iy
    for dx, dy, ww in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        jx, jy = ix + dx, iy + dy
        ok = (jx >= 0) & (jx < nx) & (jy >= 0) & (jy < ny)
        charge += np.bincount(jy[ok] * nx + jx[ok], weights=(w * ww)[ok], minlength=ny * nx)
    return charge.reshape(ny, nx)


def _ramp_residual(cr, det, rng):
    """What an up-the-ramp fit leaves of cosmic-ray jumps (IR arrays): detected jumps are removed and
    flagged; a jump below the detection threshold (4σ of a difference of two reads, the jwst ``jump``
    step's default ``rejection_threshold``) stays in the fitted slope as ``q · 6u(1 − u)`` electrons
    over the exposure for a jump at the fraction ``u`` of the ramp (the least-squares slope of a step).

    Returns
    -------
    detected : ndarray of bool
        Pixels whose jump the fit finds (DQ flags them).
    residual : ndarray
        Electrons left in each pixel by undetected jumps.
    """
    threshold = 4.0 * math.sqrt(2.0) * det["read_noise"]
    detected = cr > threshold
    faint = (cr > 0) & ~detected
    u = rng.uniform(0.0, 1.0, int(faint.sum()))
    residual = np.zeros_like(cr)
    residual[faint] = cr[faint] * 6.0 * u * (1.0 - u)
    return detected, residual


def _bleed(counts, full_well):
    """Spill charge above full well up and down its column (half each way), filling pixels to full well.

    Returns the bled image and the mask of pixels at full well (saturated or filled by bleeding).
    """
    out = counts.copy()
    over = out > full_well
    if not over.any():
        return out, over
    ny = out.shape[0]
    for col in np.unique(np.nonzero(over)[1]):
        v = out[:, col]
        runs = np.flatnonzero(np.diff(np.r_[0, (v > full_well).astype(int), 0]))
        for start, stop in zip(runs[::2], runs[1::2]):
            excess = float(np.sum(v[start:stop] - full_well))
            v[start:stop] = full_well
            for direction, pos in ((1, stop), (-1, start - 1)):
                left = excess / 2.0
                while left > 0 and 0 <= pos < ny:
                    room = max(full_well - v[pos], 0.0)
                    add = min(room, left)
                    v[pos] += add
                    left -= add
                    pos += direction
        out[:, col] = v
    return out, out >= full_well


def _fisher(prf, x, y, flux, t, background_e, use, radius):
    """Fisher information on (x, y, flux [e-/s]) of point sources, per star (n, 3, 3).

    ``background_e`` is the per-pixel variance of everything but the star (e-²), ``use`` the pixels
    that count (bool); the star's own Poisson variance is added.
    """
    ny, nx = use.shape
    px, py, ox, oy = _stamp_offsets(x, y, radius)
    p = prf.sample(ox, oy)
    gx = -prf.sample(ox, oy, "gx")
    gy = -prf.sample(ox, oy, "gy")
    inside = (px >= 0) & (px < nx) & (py >= 0) & (py < ny)
    cpx, cpy = np.clip(px, 0, nx - 1), np.clip(py, 0, ny - 1)
    ok = inside & use[cpy, cpx]
    f_e = flux[:, None, None] * t
    var = np.where(ok, f_e * p + background_e[cpy, cpx], np.inf)
    dmu = [f_e * gx, f_e * gy, t * p]
    fisher = np.empty((x.size, 3, 3))
    for a in range(3):
        for b in range(a, 3):
            fisher[:, a, b] = fisher[:, b, a] = np.sum(dmu[a] * dmu[b] / var, axis=(1, 2))
    return fisher


def _header(spec, det, to_e_per_s):
    filt = FILTERS[spec.filter]
    inst = INSTRUMENTS[PSF_INSTRUMENT[spec.detector]]
    h = fits.Header()
    h["TELESCOP"] = (det["telescope"], "telescope")
    h["INSTRUME"] = (inst["instrume"], "instrument")
    h["DETECTOR"] = (det.get("detector", inst["detector"] if det["telescope"] == "HST" else ""), "detector")
    if spec.detector.startswith("WFC3"):
        h["DETECTOR"] = spec.detector.split("/")[1]
    if inst["instrume"] == "ACS":
        h["FILTER1"] = (spec.filter if spec.filter not in ("F814W", "F850LP") else "CLEAR1L", "filter wheel 1")
        h["FILTER2"] = (spec.filter if spec.filter in ("F814W", "F850LP") else "CLEAR2L", "filter wheel 2")
    else:
        h["FILTER"] = (spec.filter, "filter")
    if det["telescope"] == "JWST":
        h["PUPIL"] = ("CLEAR", "pupil wheel")
    h["EXPTIME"] = (float(spec.exptime), "exposure time (s)")
    h["PA_APER"] = (float(spec.roll), "position angle of the aperture's ideal +Y (deg E of N)")
    mjd = decimal_year_to_mjd(spec.epoch)
    h["EXPSTART"] = (mjd, "exposure start (MJD)")
    h["EXPEND"] = (mjd + spec.exptime / 86400.0, "exposure end (MJD)")
    date = datetime.datetime(2000, 1, 1, 12) + datetime.timedelta(days=mjd - 51544.5)
    h["DATE-OBS"] = (date.strftime("%Y-%m-%d"), "UT date of start of observation")
    h["TIME-OBS"] = (date.strftime("%H:%M:%S"), "UT time of start of observation")
    h["ROOTNAME"] = (spec.name, "rootname")
    h["FILENAME"] = (f"{spec.name}_{det['suffix']}.fits", "file name")
    if det["telescope"] == "HST":
        aperture = spec.aperture or det["siaf"][1]
        h["IDCTAB"] = (f"pysiaf:{aperture}", "distortion: the SIAF polynomial, as SIP in SCI")
        # the chip number as the flc's CCDCHIP: 1 for JWFC1/UVIS1 (the preset), 2 for the second chip
        h["CCDCHIP"] = (2 if aperture.removesuffix("FIX").endswith("2") else 1, "chip")
        plam = filt["pivot_um"] * 1e4
        h["PHOTFLAM"] = (10 ** (-0.4 * (filt["zp_ab"] + 21.10 + 5 * math.log10(plam) - 18.692)),
                         "inverse sensitivity, erg/cm2/A/e-")
        h["PHOTPLAM"] = (plam, "pivot wavelength (Angstroms)")
    else:
        pixar = pixel_area_arcsec2(spec.detector) / ARCSEC_PER_RAD**2
        h["EFFEXPTM"] = (float(spec.exptime), "effective exposure time (s)")
        h["PHOTMJSR"] = (1.0 / to_e_per_s, "MJy/sr per e-/s (simulation: gain 1)")
        h["PIXAR_SR"] = (pixar, "nominal pixel area (sr)")
    h["ZP_AB"] = (filt["zp_ab"], "AB magnitude of 1 e-/s (simulation convention)")
    h["SIMULATE"] = (True, "simulated by helpers.simulate (not real data)")
    h["ORIGIN"] = ("helpers.simulate.exposures", "MSA Astrometry Workbook test bed")
    return h


def make_exposure(scene, spec):
    """Render one calibrated exposure of a scene.

    Parameters
    ----------
    scene : `~astropy.table.Table`
        ``id, kind, ra, dec`` (deg, at the exposure's epoch), ``flux`` (e-/s, total), and for
        galaxies ``r_eff`` (arcsec), ``sersic_n``, ``ellip``, ``theta`` (rad).
    spec : ExposureSpec

    Returns
    -------
    exposure : Exposure
    """
    require_instance(spec, ExposureSpec, "spec", "give an ExposureSpec(detector=..., filter=..., shape=...)")
    hint = "give a scene Table with id, kind, ra, dec (deg) and flux (e-/s)"
    require_table(scene, "scene", ("id", "kind", "ra", "dec", "flux"), hint)
    require_numeric_columns(scene, "scene", ("ra", "dec", "flux"), hint)
    det = detector(spec.detector)
    if spec.filter not in FILTERS:
        raise WorkbookError(f"unknown filter {spec.filter!r}; use one of {', '.join(FILTERS)}")
    if not (np.isfinite(spec.exptime) and spec.exptime > 0):
        raise WorkbookError(f"exptime = {spec.exptime!r} s must be a positive number of seconds")
    ny, nx = (int(v) for v in spec.shape)
    rng = np.random.default_rng([int(spec.seed), 13])
    t = float(spec.exptime)
    scale = det["native_scale"]
    wcs = exposure_wcs(spec.detector, spec.crval, spec.roll, (ny, nx), spec.origin, spec.aperture)
    area = relative_pixel_area(wcs, (ny, nx))
    psf = make_psf(PSF_INSTRUMENT[spec.detector], spec.filter, pixel_scale=scale)
    prf = _PRF(psf)

    ra, dec = np.asarray(scene["ra"], float), np.asarray(scene["dec"], float)
    x, y = wcs.all_world2pix(ra, dec, 0, tolerance=1e-10, maxiter=50, quiet=True)
    inside = (x > -5) & (x < nx + 4) & (y > -5) & (y < ny + 4)
    sub = scene[inside]
    x, y = x[inside], y[inside]
    flux = np.asarray(sub["flux"], float)
    point = np.asarray(sub["kind"]).astype(str) != "galaxy"

    model = np.zeros((ny, nx))  # star and galaxy electrons
    idx_point = np.nonzero(point)[0]
    peak_e = flux[idx_point] * t * prf.sample(np.zeros(1), np.zeros(1))[0]
    radius_for = _star_stamp_radius(peak_e, prf)
    for radius in np.unique(radius_for):
        sel = idx_point[radius_for == radius]
        px, py, ox, oy = _stamp_offsets(x[sel], y[sel], int(radius))
        _scatter_add(model, px, py, flux[sel, None, None] * t * prf.sample(ox, oy))
    idx_gal = np.nonzero(~point)[0]
    if idx_gal.size:
        kernel = prf.sample(*np.meshgrid(np.arange(-12, 13, dtype=float), np.arange(-12, 13, dtype=float)))
        for x0, y0, block in _galaxy_stamps(sub[idx_gal], x[idx_gal], y[idx_gal], flux[idx_gal] * t, kernel, scale):
            _add_block(model, x0, y0, block)

    dq = np.zeros((ny, nx), np.uint32)
    dark = np.full((ny, nx), det["dark"] * t)
    dark_reference = dark.copy()
    if spec.hot_pixels:
        hot = rng.random((ny, nx)) < det["hot_fraction"]
        hot_rate = det["hot_dark"] * 10 ** rng.uniform(0.0, 1.5, int(hot.sum()))
        dark[hot] += hot_rate * t
        dark_reference[hot] += hot_rate * t * (1.0 + HOT_RESIDUAL * rng.choice([-1.0, 1.0], hot_rate.size))
        # JWST's MASK reference file flags hot pixels HOT | DO_NOT_USE; HST's DQ says hot (16)
        dq[hot] |= det["dq"]["hot_pixel"] if det["telescope"] == "HST" else det["dq"]["hot"] | det["dq"]["do_not_use"]
    sky_e = spec.sky * t * area
    rn = det["read_noise"]
    counts = rng.poisson(np.clip(model + sky_e + dark, 0, None)).astype(float)
    cr = np.zeros((ny, nx))
    if spec.cosmic_rays:
        cr = _cosmic_rays((ny, nx), det, t, rng)
        if det["cr_in_data"]:
            counts += cr
        else:  # the ramp fit removes a detected jump, DQ keeps the record (WFC3/IR 8192, JWST JUMP_DET)
            detected, residual = _ramp_residual(cr, det, rng)
            if spec.jump_residual:
                counts += residual
            dq[detected] |= det["dq"]["cr_crcorr" if det["telescope"] == "HST" else "jump_det"]
    saturated = np.zeros((ny, nx), bool)
    if spec.saturation:
        if det["bleeds"]:
            counts, saturated = _bleed(counts, det["full_well"])
        else:
            saturated = counts >= det["full_well"]
            counts = np.minimum(counts, det["full_well"])
    counts = counts + rng.normal(0.0, rn, (ny, nx))

    if det["units"] == "ELECTRONS":
        to_e_per_s = 1.0 / t
    elif det["units"] == "ELECTRONS/S":
        to_e_per_s = 1.0
    else:  # MJy/sr: e-/s per reference-area pixel times PHOTMJSR (AB zero point of 1 e-/s)
        pixar = pixel_area_arcsec2(spec.detector) / ARCSEC_PER_RAD**2
        to_e_per_s = 1.0 / (10 ** (-0.4 * (FILTERS[spec.filter]["zp_ab"] - 8.90)) / 1e6 / pixar)
    to_units = 1.0 / (t * to_e_per_s)  # electrons -> image units (before the flat)
    data = (counts - dark_reference) / area * to_units
    var_poisson = np.clip(counts - (dark_reference - dark), 0, None) / area**2 * to_units**2
    var_rnoise = np.full((ny, nx), rn**2) / area**2 * to_units**2
    var_background = (sky_e + dark + rn**2) / area**2 * to_units**2
    if saturated.any():
        dq[saturated] |= det["dq"]["saturated"]
        if det["telescope"] == "JWST":
            dq[saturated] |= det["dq"]["do_not_use"]
            data[saturated] = np.nan
    error = np.sqrt(var_poisson + var_rnoise)
    header = _header(spec, det, to_e_per_s)

    truth = Table()
    truth["id"] = sub["id"]
    truth["kind"] = sub["kind"]
    truth["ra"], truth["dec"] = sub["ra"], sub["dec"]
    truth["x"], truth["y"] = x, y
    truth["flux"] = flux
    ix, iy = np.clip(np.rint(x).astype(int), 0, nx - 1), np.clip(np.rint(y).astype(int), 0, ny - 1)
    truth["saturated"] = saturated[iy, ix] & point
    for col, unit in (("ra", "deg"), ("dec", "deg"), ("x", "pix"), ("y", "pix"), ("flux", "electron/s")):
        truth[col].unit = unit
    exposure = Exposure(data=data, error=error, dq=dq, cr_mask=cr > 0, cr_electrons=cr,
                        variance={"poisson": var_poisson, "rnoise": var_rnoise, "flat": np.zeros((ny, nx)),
                                  "background": var_background},
                        wcs=wcs, header=header, to_e_per_s=to_e_per_s, area=area, truth=truth, spec=spec)
    # Information per star from the pixels a drizzle uses (the cosmic-ray truth mask rejected).
    fisher = np.zeros((len(truth), 3, 3))
    if idx_point.size:
        use = exposure.good(reject_cosmic_rays=True)
        background_e = sky_e + dark + rn**2
        for radius in np.unique(radius_for):
            sel = idx_point[radius_for == radius]
            fisher[sel] = _fisher(prf, x[sel], y[sel], flux[sel], t, background_e, use, int(min(radius, 16)))
    exposure.fisher = fisher
    exposure.psf = psf
    return exposure


#: Chip-specific primary keywords of the bed's exposures that a multi-chip flt/flc keeps per SCI extension.
_CHIP_KEYS = ("CCDCHIP", "IDCTAB")


def _sci_extver(exposure):
    """EXTVER of a chip in its flt/flc: ACS/WFC and WFC3/UVIS files put chip 2 (``CCDCHIP = 2``) in SCI,1 and
    chip 1 in SCI,2 (ACS and WFC3 data handbooks); one-chip detectors and JWST cal files have SCI,1 only."""
    if exposure.header.get("TELESCOP") == "HST" and exposure.spec.detector in ("ACS/WFC", "WFC3/UVIS"):
        return 1 if int(exposure.header.get("CCDCHIP", 1)) == 2 else 2
    return 1


def chip_hdus(exposure, wcs=None):
    """The SCI/ERR/DQ (and, for JWST, AREA/VAR_*) extensions of one chip, as its flt/flc/cal file holds them.

    The arrays are copied (float32 / uint16 / uint32), so the caller may drop the exposure's pixels.
    A sub-array chip (the bed renders only the part of a chip its product covers) says so in
    ``LTV1, LTV2`` (minus the sub-array's 0-based origin on the chip, the HST convention) and the
    WCS keeps the whole chip's reference pixel and SIP.

    Parameters
    ----------
    exposure : Exposure
    wcs : `~astropy.wcs.WCS`, optional
        The WCS to write (default the exposure's true one; e.g. :func:`.mosaic.with_header_error`'s, which
        carries its product's known header error).

    Returns
    -------
    extver : int
        The chip's EXTVER (:func:`_sci_extver`).
    hdus : list of `~astropy.io.fits.ImageHDU`
    """
    require_instance(exposure, Exposure, "exposure", "give an Exposure from make_exposure")
    if exposure.data is None:
        raise WorkbookError(f"exposure {exposure.spec.name} has no pixels left (dropped after drizzling); take its "
                            "chip_hdus before make_mosaic drops them (make_mosaic's on_exposure)")
    extver = _sci_extver(exposure)
    hdus = (exposure if wcs is None else dataclasses.replace(exposure, wcs=wcs)).to_hdulist()[1:]
    x0, y0 = exposure.spec.origin if exposure.spec.origin is not None else (0, 0)
    sci = hdus[0].header
    for key in _CHIP_KEYS:
        if key in exposure.header:
            sci[key] = (exposure.header[key], exposure.header.comments[key])
    if "MDRIZSKY" in exposure.header:
        sci["MDRIZSKY"] = (exposure.header["MDRIZSKY"], exposure.header.comments["MDRIZSKY"])
    sci["LTV1"] = (-float(x0), "offset in X to sub-array start (chip pixels)")
    sci["LTV2"] = (-float(y0), "offset in Y to sub-array start (chip pixels)")
    for h in hdus:
        h.header["EXTVER"] = extver
    return extver, list(hdus)


def exposure_file(chips, cards=()):
    """One calibrated exposure file (flt/flc with every chip, or cal) from the chips of one exposure.

    Parameters
    ----------
    chips : list of (Exposure header, (extver, hdus))
        Each chip's primary header (:attr:`Exposure.header`) and what :func:`chip_hdus` returned for it;
        all of one exposure (one rootname).
    cards : sequence of (keyword, value, comment)
        Extra primary keywords (e.g. a replay's marker).

    Returns
    -------
    hdul : `~astropy.io.fits.HDUList`
        PRIMARY (the exposure's header without the chip-specific keywords, which sit in each SCI) and the
        chips' extensions in EXTVER order (SCI,1 ERR,1 DQ,1 SCI,2 ...), as the pipelines write them.
    """
    if not chips:
        raise WorkbookError("exposure_file needs the chips of one exposure; got none")
    names = {str(h.get("ROOTNAME")) for h, _ in chips}
    if len(names) != 1:
        raise WorkbookError(f"chips of different exposures ({', '.join(sorted(names))}) cannot share one file; give "
                            "the chips of one rootname")
    extvers = [ext for _, (ext, _) in chips]
    if len(set(extvers)) != len(extvers):
        raise WorkbookError(f"two chips with the same EXTVER {extvers} for {names.pop()}; give each chip once")
    primary = chips[0][0].copy()
    for key in _CHIP_KEYS:
        primary.remove(key, ignore_missing=True)
    if len(chips) > 1 and "IDCTAB" in chips[0][0]:
        primary["IDCTAB"] = ("pysiaf", "distortion: SIAF polynomials, SIP in each SCI")
    primary["NEXTEND"] = (sum(len(h) for _, (_, h) in chips), "number of extensions")
    for key, value, comment in cards:
        primary[key] = (value, comment)
    hdus = [fits.PrimaryHDU(header=primary)]
    for _, (_, chip) in sorted(chips, key=lambda c: c[1][0]):
        hdus.extend(chip)
    return fits.HDUList(hdus)
