"""One simulated drizzled image of a truth table: its spec, the renderer, and FITS output.

:class:`ImageSpec` defines an image (instrument, filter, pixels, epoch, depth, known WCS error,
injected systematic); :func:`make_image` renders it with noise, saturation, a depth map and the
exact Cramér–Rao bound per star; :class:`SimulatedImage` writes HST drz/drc-like or JWST
i2d-like FITS.
"""

import dataclasses
import datetime
import math

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from ..errors import WorkbookError
from ..validate import require_instance, require_number, require_text
from ._checks import require_numeric_columns, require_pair, require_table
from .geometry import _build_wcs, _sip_coefficients, _systematic_offsets
from .presets import ARCSEC_PER_RAD, FILTERS, INSTRUMENTS
from .psf import make_psf
from .render import _PRF, _add_block, _flux_for_snr, _galaxy_stamps, _scatter_add, _stamp_offsets, _star_stamp_radius
from .truth import _propagate, decimal_year_to_mjd


@dataclasses.dataclass
class ImageSpec:
    """Everything that defines one simulated image of a truth table.

    Attributes
    ----------
    instrument, filter : str
        Keys of :data:`INSTRUMENTS` and :data:`FILTERS`.
    shape : (int, int)
        (ny, nx) pixels.
    center : (float, float) or None
        Image centre (RA, Dec) in degrees; default the truth's centre.
    pixel_scale : float or None
        Drizzled scale, arcsec/pixel; default the instrument's.
    orientat : float
        Position angle of the image +y axis, degrees East of North.
    epoch : float
        Decimal year of the observation (stars move with their proper motions).
    exptime : float
        Total exposure time, s; ``n_exposures`` combined exposures.
    sky : float
        Sky level, e-/s/pixel (subtracted in the output, as drizzled products are).
    seed : int
        Noise realisation.
    wcs_shift_mas : (float, float)
        Known error of the header WCS: the header maps every pixel to a sky position shifted by
        this much (ΔRA·cos Dec, ΔDec), mas.
    wcs_rotation_arcsec : float
        Known rotation error of the header WCS about the image centre, arcsec.
    wcs_scale_ppm : float
        Known scale error of the header WCS, parts per million.
    systematic : {None, 'seam', 'wave'}
        Injected position systematic: ``seam`` shifts sources right of the image middle
        (a mosaic tile) by ``systematic_mas`` along x; ``wave`` displaces them by a sinusoid of
        amplitude ``systematic_mas`` and wavelength ``systematic_scale_arcsec``.
    sip : bool
        Write a TAN-SIP header with a small quadratic distortion (applied to the rendering too).
    name : str
        Product name used in file names and headers.
    chip_gap : bool
        Include a half-depth stripe (as between the two ACS/WFC chips).
    sky_residual : float
        Residual sky pedestal left after sky subtraction, in units of the background σ.
    noise : bool
        Add noise (False gives the expected image: for tests of the rendering itself).
    drizzled : bool
        Render through the drizzled test bed (:func:`.mosaic.make_mosaic`): detector exposures
        (SIAF distortion, cosmic rays, hot pixels, bleeding, both chips of ACS/WFC and WFC3/UVIS
        with their real gap unless ``chip_gap`` is False) combined by STScI's ``drizzle`` into a
        drc/drz (SCI e-/s, WHT, CTX, no ERR) or i2d, as real products are made; ``make_image``
        then returns a :class:`.drizzled.DrizzledProduct`. ``exptime`` is one tile's total over its
        ``n_exposures``; ``sip``, ``systematic``, ``sky_residual`` and ``noise=False`` belong to the
        direct renderer only.
    tiles : sequence of (float, float)
        Drizzled bed: pointing centres, arcsec along the frame's +x, +y from ``center``.
    dither : sequence of (float, float) or None
        Drizzled bed: the dither of each tile, native pixels along the pointing aperture's ideal
        x, y (``n_exposures`` positions; default :data:`.mosaic.GAP4` or :data:`.drizzled.BOX4`).
    pixfrac : float
        Drizzled bed: drizzle's ``pixfrac`` (0 < pixfrac ≤ 1).
    """

    instrument: str = "ACS/WFC"
    filter: str = "F814W"
    shape: tuple = (1024, 1024)
    center: tuple | None = None
    pixel_scale: float | None = None
    orientat: float = 0.0
    epoch: float = 2004.8
    exptime: float = 4000.0
    n_exposures: int = 4
    sky: float = 0.08
    seed: int = 0
    wcs_shift_mas: tuple = (0.0, 0.0)
    wcs_rotation_arcsec: float = 0.0
    wcs_scale_ppm: float = 0.0
    systematic: str | None = None
    systematic_mas: float = 0.0
    systematic_scale_arcsec: float = 60.0
    sip: bool = False
    name: str = "sim"
    chip_gap: bool = True
    sky_residual: float = 0.02
    noise: bool = True
    drizzled: bool = False
    tiles: tuple = ((0.0, 0.0),)
    dither: tuple | None = None
    pixfrac: float = 0.8

    def __post_init__(self):
        # refuse here, where the mistake is made, not deep inside the rendering
        if require_text(self.instrument, "instrument") not in INSTRUMENTS:
            raise WorkbookError(f"unknown instrument {self.instrument!r}; use one of {', '.join(INSTRUMENTS)}")
        if require_text(self.filter, "filter") not in FILTERS:
            raise WorkbookError(f"unknown filter {self.filter!r}; use one of {', '.join(FILTERS)}")
        self.shape = require_pair(self.shape, "shape", integer=True, minimum=1, example="(1024, 1024)")
        if self.center is not None:
            self.center = require_pair(self.center, "center")
            if not -90.0 <= self.center[1] <= 90.0:
                raise WorkbookError(f"center Dec = {self.center[1]} is outside [-90, 90]; give (RA, Dec) in degrees")
        num = require_number
        self.pixel_scale = num(self.pixel_scale, "pixel_scale", minimum=1e-4, maximum=100.0, allow_none=True,
                               example="0.05")
        self.orientat = num(self.orientat, "orientat", example="0.0")
        self.epoch = num(self.epoch, "epoch", minimum=1900.0, maximum=2200.0, example="2004.8")
        self.exptime = num(self.exptime, "exptime", minimum=1e-3, example="4000.0")
        self.n_exposures = num(self.n_exposures, "n_exposures", integer=True, minimum=1, example="4")
        self.sky = num(self.sky, "sky", minimum=0.0, example="0.08")
        self.seed = num(self.seed, "seed", integer=True, minimum=0, example="1")
        self.wcs_shift_mas = require_pair(self.wcs_shift_mas, "wcs_shift_mas", example="(1.5, -1.0)")
        for key in ("wcs_rotation_arcsec", "wcs_scale_ppm", "systematic_mas"):
            setattr(self, key, num(getattr(self, key), key, example="0.0"))
        self.systematic_scale_arcsec = num(self.systematic_scale_arcsec, "systematic_scale_arcsec", minimum=1e-3,
                                           example="60.0")
        require_text(self.systematic, "systematic", allow_none=True)
        require_text(self.name, "name")
        self.sky_residual = num(self.sky_residual, "sky_residual", example="0.02")
        for key in ("sip", "chip_gap", "noise", "drizzled"):
            if not isinstance(getattr(self, key), (bool, np.bool_)):
                raise WorkbookError(f"{key} = {getattr(self, key)!r:.30} is not True/False; give a bool")
        self.tiles = _pairs(self.tiles, "tiles", "((0.0, 0.0), (60.0, 0.0)) arcsec")
        if self.dither is not None:
            self.dither = _pairs(self.dither, "dither", "((0.0, 0.0), (0.5, 30.0)) native pixels")
            if len(self.dither) != self.n_exposures:
                raise WorkbookError(f"dither has {len(self.dither)} positions but n_exposures = {self.n_exposures}; "
                                    "give one offset per exposure")
        self.pixfrac = num(self.pixfrac, "pixfrac", minimum=1e-3, maximum=1.0, example="0.8")
        if self.drizzled:
            from .mosaic import bed_detector

            bed_detector(self)
            direct_only = [k for k, bad in (("sip", self.sip), ("systematic", self.systematic not in (None, "", "none")),
                                            ("noise=False", not self.noise)) if bad]
            if direct_only:
                raise WorkbookError(f"{', '.join(direct_only)} belong to the direct renderer; drizzled products get "
                                    "their distortion, noise and artefacts from the exposures (set drizzled=False)")


def _pairs(value, name, example):
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__len__") or len(value) < 1:
        raise WorkbookError(f"{name} = {value!r:.40} is not a list of (x, y) pairs; give e.g. {example}")
    return tuple(require_pair(v, f"each of {name}", example=example) for v in value)


@dataclasses.dataclass
class SimulatedImage:
    """A simulated drizzled image and its truth.

    Attributes
    ----------
    data : ndarray
        Science array, sky-subtracted, in e-/s (HST) or MJy/sr (JWST i2d, see ``header``).
    error : ndarray
        1σ total error per pixel, same units.
    weight : ndarray
        Inverse-variance weight of the background (``WHT``), zero outside the footprint.
    wcs : `~astropy.wcs.WCS`
        The header WCS (with the spec's known error applied).
    header : `~astropy.io.fits.Header`
        Primary-header keywords (instrument, filter, exposure, dates, provenance).
    psf : `photutils.psf.ImagePSF`
        The true PSF in e-/s units (sums to 1 on the pixel grid).
    truth : `~astropy.table.Table`
        Per-image truth (see module doc and :func:`make_image`).
    spec : ImageSpec
    """

    data: np.ndarray
    error: np.ndarray
    weight: np.ndarray
    wcs: WCS
    header: fits.Header
    psf: object
    truth: Table
    spec: ImageSpec
    unit_scale: float = 1.0

    def __post_init__(self):
        hint = "build images with make_image, not by hand"
        for key in ("data", "error", "weight"):
            value = require_instance(getattr(self, key), np.ndarray, key, hint)
            if value.ndim != 2 or value.dtype.kind != "f":
                raise WorkbookError(f"{key} is a {value.ndim}-D {value.dtype} array, not a 2-D float image; {hint}")
            if value.shape != self.data.shape:
                raise WorkbookError(f"{key} has shape {value.shape}, data {self.data.shape}; give arrays of one shape")
        require_instance(self.wcs, WCS, "wcs", hint)
        require_instance(self.header, fits.Header, "header", hint)
        if not hasattr(self.psf, "fwhm_pix"):
            raise WorkbookError(f"psf = {self.psf!r:.40} is not a make_psf PSF (no fwhm_pix); {hint}")
        require_instance(self.truth, Table, "truth", hint)
        require_instance(self.spec, ImageSpec, "spec", hint)
        self.unit_scale = require_number(self.unit_scale, "unit_scale", minimum=1e-30, example="1.0")

    @property
    def fwhm_pix(self):
        """PSF FWHM in pixels."""
        return self.psf.fwhm_pix

    def to_hdulist(self):
        """HST drz/drc-like (PRIMARY, SCI, WHT, ERR) or JWST i2d-like (PRIMARY, SCI, ERR, WHT)."""
        primary = fits.PrimaryHDU(header=self.header.copy())
        sci_header = self.wcs.to_header(relax=True)
        sci_header["EXTNAME"] = "SCI"
        sci_header["EXTVER"] = 1
        for key in ("BUNIT", "PHOTFLAM", "PHOTPLAM", "PHOTMJSR", "PIXAR_SR", "WCSNAME", "NMATCHES", "RMS_RA",
                    "RMS_DEC", "FITGEOM"):
            if key in self.header:
                sci_header[key] = (self.header[key], self.header.comments[key])
        sci = fits.ImageHDU(self.data.astype(np.float32), header=sci_header)
        wcs_only = self.wcs.to_header(relax=True)
        wht = fits.ImageHDU(self.weight.astype(np.float32), header=wcs_only.copy(), name="WHT")
        err = fits.ImageHDU(self.error.astype(np.float32), header=wcs_only.copy(), name="ERR")
        if self.spec.instrument == "NIRCAM":
            return fits.HDUList([primary, sci, err, wht])
        return fits.HDUList([primary, sci, wht, err])

    def writeto(self, path, overwrite=False, checksum=True):
        """Write the FITS file atomically (with DATASUM/CHECKSUM as archive products have)."""
        from .._io import atomic_path

        with atomic_path(path, overwrite=overwrite) as tmp:
            self.to_hdulist().writeto(tmp, checksum=checksum)
        return path


def make_image(truth, spec, progress=None):
    """Render one image of a truth table.

    Parameters
    ----------
    truth : `~astropy.table.Table`
        From :func:`make_truth`.
    spec : ImageSpec
        With ``drizzled=True`` the image is made by the drizzled test bed and a
        :class:`.drizzled.DrizzledProduct` is returned (same ``truth`` columns, ``writeto``).
    progress : bool or None
        tqdm bar over a drizzled spec's exposures (None: only on a terminal).

    Returns
    -------
    image : SimulatedImage or DrizzledProduct
        ``image.truth`` has one row per source whose centre falls in the image: ``id, kind,
        ra, dec`` (true, at ``spec.epoch``, deg), ``x, y`` (0-based pixel where the source was
        rendered, systematic included), ``x_wcs, y_wcs`` (where the *header* WCS puts the true
        sky position, i.e. including the known WCS error), ``dx_sys, dy_sys`` (pix), ``flux``
        (e-/s), ``mag`` (AB), ``snr`` (optimal, PSF-weighted, point sources), ``crb_x, crb_y``
        (Cramér–Rao bound per axis, pixels, position and flux unknown; NaN for galaxies),
        ``saturated`` (bool).
    """
    require_instance(spec, ImageSpec, "spec", "give an ImageSpec(instrument=..., filter=..., shape=...)")
    hint = "give the truth table make_truth returned"
    require_table(truth, "truth", ("id", "kind", "ra", "dec", "mag"), hint)
    require_numeric_columns(truth, "truth", ("ra", "dec"), hint)
    if spec.center is None and "center" not in truth.meta:
        raise WorkbookError("truth has no meta['center'] and spec.center is None; give ImageSpec(center=(RA, Dec))")
    if progress is not None and not isinstance(progress, (bool, np.bool_)):
        raise WorkbookError(f"progress = {progress!r:.30} is not True/False/None; give a bool")
    if spec.drizzled:  # one renderer of detector exposures: the drizzled test bed
        from .mosaic import make_mosaic

        return make_mosaic(truth, spec, progress=progress)
    if spec.instrument not in INSTRUMENTS:
        raise WorkbookError(f"unknown instrument {spec.instrument!r}; use one of {', '.join(INSTRUMENTS)}")
    inst = INSTRUMENTS[spec.instrument]
    filt = FILTERS[spec.filter]
    scale = float(spec.pixel_scale or inst["pixel_scale"])
    ny, nx = (int(v) for v in spec.shape)
    center = tuple(spec.center) if spec.center is not None else tuple(truth.meta["center"])
    rng = np.random.default_rng([int(spec.seed), int(truth.meta.get("seed", 0)), 7])

    psf = make_psf(spec.instrument, spec.filter, pixel_scale=scale)
    prf = _PRF(psf)
    sip = _sip_coefficients(spec.shape) if spec.sip else None
    true_wcs = _build_wcs(spec, center, scale, sip)
    header_wcs = _build_wcs(spec, center, scale, sip, spec.wcs_shift_mas, spec.wcs_rotation_arcsec,
                            spec.wcs_scale_ppm)

    ra, dec = _propagate(truth, spec.epoch)
    x, y = true_wcs.all_world2pix(ra, dec, 0) if sip is not None else true_wcs.wcs_world2pix(ra, dec, 0)
    margin = 3
    inside = (x > margin) & (x < nx - 1 - margin) & (y > margin) & (y < ny - 1 - margin)
    sub = truth[inside]
    ra, dec, x, y = ra[inside], dec[inside], x[inside], y[inside]
    dx_sys, dy_sys = _systematic_offsets(spec, x, y, scale)
    x_r, y_r = x + dx_sys, y + dy_sys
    x_wcs, y_wcs = header_wcs.all_world2pix(ra, dec, 0) if sip is not None else header_wcs.wcs_world2pix(ra, dec, 0)

    # Noise model (electrons): per-pixel depth map with a chip-gap stripe at half depth.
    depth = np.ones((ny, nx))
    if spec.chip_gap:
        yy = np.arange(ny)[:, None]
        xx = np.arange(nx)[None, :]
        gap_centre = 0.45 * ny + 0.08 * (xx - nx / 2)
        depth = np.where(np.abs(yy - gap_centre) < max(ny * 0.012, 3), 0.5, 1.0) * np.ones((1, nx))
    t = float(spec.exptime)
    rn2 = inst["read_noise"] ** 2 * spec.n_exposures
    bg_var_e = spec.sky * t + rn2  # variance of a full-depth background pixel, e-^2

    kinds = np.asarray(sub["kind"]).astype(str)
    point = kinds != "galaxy"
    zp = filt["zp_ab"]
    lam = filt["pivot_um"]
    mag = np.asarray(sub["mag"], float) + np.asarray(sub["color"], float) * (lam - 0.6)
    flux = 10 ** (-0.4 * (mag - zp))
    snr_target = np.asarray(sub["snr_target"], float)
    use_snr = point & np.isfinite(snr_target)
    if use_snr.any():
        centre_stamp = prf.sample(*np.meshgrid(np.arange(-10, 11), np.arange(-10, 11)))
        flux[use_snr] = _flux_for_snr(snr_target[use_snr], centre_stamp, bg_var_e, t)
        mag[use_snr] = zp - 2.5 * np.log10(flux[use_snr])

    model = np.zeros((ny, nx))
    n = len(sub)
    snr = np.full(n, np.nan)
    crb_x = np.full(n, np.nan)
    crb_y = np.full(n, np.nan)
    # Stars: larger stamps for brighter stars so the wings are rendered where they matter.
    idx_point = np.nonzero(point)[0]
    peak_e = flux[idx_point] * t * prf.sample(np.zeros(1), np.zeros(1))[0]
    radius_for = _star_stamp_radius(peak_e, prf)
    for radius in np.unique(radius_for):
        sel = idx_point[radius_for == radius]
        px, py, ox, oy = _stamp_offsets(x_r[sel], y_r[sel], int(radius))
        p = prf.sample(ox, oy)
        _scatter_add(model, px, py, flux[sel, None, None] * p)
        # Fisher information for (x, y, F) with Poisson + background variance per pixel.
        gx = -prf.sample(ox, oy, "gx")
        gy = -prf.sample(ox, oy, "gy")
        ok = (px >= 0) & (px < nx) & (py >= 0) & (py < ny)
        d = depth[np.clip(py, 0, ny - 1), np.clip(px, 0, nx - 1)]
        f_e = flux[sel, None, None] * t
        var = np.where(ok, f_e * p * d + bg_var_e * d, np.inf)
        sig = f_e * d
        dmu = [sig * gx, sig * gy, t * d * p]
        fisher = np.empty((sel.size, 3, 3))
        for a in range(3):
            for b in range(a, 3):
                fisher[:, a, b] = fisher[:, b, a] = np.sum(dmu[a] * dmu[b] / var, axis=(1, 2))
        cov = np.linalg.inv(fisher)
        crb_x[sel] = np.sqrt(cov[:, 0, 0])
        crb_y[sel] = np.sqrt(cov[:, 1, 1])
        snr[sel] = np.sqrt(np.sum((sig * p) ** 2 / var, axis=(1, 2)))
    # Galaxies: Sérsic profiles convolved with the PSF at native sampling.
    kernel = prf.sample(*np.meshgrid(np.arange(-12, 13, dtype=float), np.arange(-12, 13, dtype=float)))
    idx_gal = np.nonzero(~point)[0]
    for x0, y0, block in _galaxy_stamps(sub[idx_gal], x_r[idx_gal], y_r[idx_gal], flux[idx_gal], kernel, scale):
        _add_block(model, x0, y0, block)

    # Noise: Poisson on (source + sky) counts at the local depth, Gaussian read noise.
    t_map = t * depth
    expected_e = np.clip(model + spec.sky, 0, None) * t_map
    if spec.noise:
        counts = rng.poisson(expected_e).astype(float) + rng.normal(0.0, 1.0, (ny, nx)) * np.sqrt(rn2 * depth)
    else:
        counts = expected_e
    # Saturation: per-exposure full well; saturated drizzled cores come out flat-topped.
    sat_level = inst["full_well"] * spec.n_exposures * depth
    saturated_px = expected_e > sat_level
    counts = np.where(saturated_px, sat_level, counts)
    data = counts / t_map - spec.sky
    # A residual sky pedestal with a gentle gradient: background estimation has work to do.
    data += spec.sky_residual * np.sqrt(bg_var_e) / t * (
        1.0 + 0.5 * (np.arange(nx)[None, :] / nx - 0.5) + 0.3 * (np.arange(ny)[:, None] / ny - 0.5))
    error = np.sqrt(np.clip(model + spec.sky, 0, None) * t_map + rn2 * depth) / t_map
    weight = t_map**2 / (spec.sky * t_map + rn2 * depth)
    # Zero-weight border, as drizzled products have outside the footprint.
    border = max(int(0.004 * max(nx, ny)), 2)
    edge = np.zeros((ny, nx), bool)
    edge[:border, :] = edge[-border:, :] = True
    edge[:, :border] = edge[:, -border:] = True
    data[edge] = 0.0
    weight[edge] = 0.0
    error[edge] = 0.0

    ids_sat = np.zeros(n, bool)
    if saturated_px.any():
        rs = np.clip(np.rint(y_r[idx_point]).astype(int), 0, ny - 1)
        cs = np.clip(np.rint(x_r[idx_point]).astype(int), 0, nx - 1)
        ids_sat[idx_point] = saturated_px[rs, cs]

    unit_scale = 1.0
    header = fits.Header()
    header["TELESCOP"] = (inst["telescope"], "telescope")
    header["INSTRUME"] = (inst["instrume"], "instrument")
    header["DETECTOR"] = (inst["detector"], "detector")
    if inst["instrume"] == "ACS":
        header["FILTER1"] = (spec.filter if spec.filter not in ("F814W", "F850LP") else "CLEAR1L", "filter wheel 1")
        header["FILTER2"] = (spec.filter if spec.filter in ("F814W", "F850LP") else "CLEAR2L", "filter wheel 2")
    header["FILTER"] = (spec.filter, "filter")
    header["EXPTIME"] = (t, "total exposure time (s)")
    header["NCOMBINE"] = (spec.n_exposures, "number of exposures combined")
    header["NDRIZIM"] = (spec.n_exposures, "number of drizzled images")
    mjd = decimal_year_to_mjd(spec.epoch)
    header["EXPSTART"] = (mjd, "exposure start (MJD)")
    header["EXPEND"] = (mjd + t / 86400.0, "exposure end (MJD)")
    date = datetime.datetime(2000, 1, 1, 12) + datetime.timedelta(days=mjd - 51544.5)
    header["DATE-OBS"] = (date.strftime("%Y-%m-%d"), "UT date of start of observation")
    header["TIME-OBS"] = (date.strftime("%H:%M:%S"), "UT time of start of observation")
    header["ROOTNAME"] = (spec.name, "product name")
    header["WCSNAME"] = (inst["wcsname"], "WCS alignment (simulated)")
    header["SIMULATE"] = (True, "simulated by helpers.simulate (not real data)")
    header["ORIGIN"] = ("helpers.simulate", "MSA Astrometry Workbook test bed")
    if inst["telescope"] == "HST":
        header["BUNIT"] = ("ELECTRONS/S", "units of the science array")
        plam = lam * 1e4
        # STScI AB zero point: ZP = -2.5 log10(PHOTFLAM) - 21.10 - 5 log10(PHOTPLAM) + 18.692
        photflam = 10 ** (-0.4 * (zp + 21.10 + 5 * math.log10(plam) - 18.692))
        header["PHOTFLAM"] = (photflam, "inverse sensitivity, erg/cm2/A/e-")
        header["PHOTPLAM"] = (plam, "pivot wavelength (Angstroms)")
        header["NMATCHES"] = (int(rng.integers(40, 200)), "number of sources used in the WCS fit")
        header["RMS_RA"] = (round(float(rng.uniform(3, 9)), 2), "RMS of the WCS fit in RA (mas)")
        header["RMS_DEC"] = (round(float(rng.uniform(3, 9)), 2), "RMS of the WCS fit in Dec (mas)")
        header["FITGEOM"] = ("rscale", "fit geometry of the WCS alignment")
    else:
        pixar_sr = (scale / ARCSEC_PER_RAD) ** 2
        photmjsr = 10 ** (-0.4 * (zp - 8.90)) / 1e6 / pixar_sr  # MJy/sr per e-/s/pixel
        header["BUNIT"] = ("MJy/sr", "units of the science array")
        header["PHOTMJSR"] = (photmjsr, "MJy/sr per DN/s (here e-/s)")
        header["PIXAR_SR"] = (pixar_sr, "nominal pixel area (sr)")
        header["PUPIL"] = ("CLEAR", "pupil wheel")
        header["EFFEXPTM"] = (t, "effective exposure time (s)")
        unit_scale = photmjsr
    header["ZP_AB"] = (zp, "AB magnitude of 1 e-/s (simulation convention)")

    tt = Table()
    tt["id"] = sub["id"]
    tt["kind"] = sub["kind"]
    tt["ra"] = ra
    tt["dec"] = dec
    tt["x"] = x_r
    tt["y"] = y_r
    tt["x_wcs"] = x_wcs
    tt["y_wcs"] = y_wcs
    tt["dx_sys"] = dx_sys
    tt["dy_sys"] = dy_sys
    tt["flux"] = flux
    tt["mag"] = mag
    tt["snr"] = snr
    tt["crb_x"] = crb_x
    tt["crb_y"] = crb_y
    tt["saturated"] = ids_sat
    for col, unit in (("ra", "deg"), ("dec", "deg"), ("x", "pix"), ("y", "pix"), ("x_wcs", "pix"), ("y_wcs", "pix"),
                      ("dx_sys", "pix"), ("dy_sys", "pix"), ("flux", "electron/s"), ("mag", "mag"),
                      ("crb_x", "pix"), ("crb_y", "pix")):
        tt[col].unit = unit
    tt.meta.update({"epoch": float(spec.epoch), "instrument": spec.instrument, "filter": spec.filter,
                    "pixel_scale": scale, "fwhm_pix": float(psf.fwhm_pix), "name": spec.name,
                    "spec": {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(spec).items()}})
    return SimulatedImage(data=data * unit_scale, error=error * unit_scale, weight=weight / unit_scale**2,
                          wcs=header_wcs, header=header, psf=psf, truth=tt, spec=spec, unit_scale=unit_scale)


def make_images(truth, specs, progress=True):
    """Render several images of the same truth (independent noise, filters, epochs).

    Parameters
    ----------
    truth : `~astropy.table.Table`
    specs : list of ImageSpec
    progress : bool
        Show a tqdm bar.

    Returns
    -------
    images : list of SimulatedImage
    """
    from tqdm.auto import tqdm

    if isinstance(specs, (str, bytes, dict, ImageSpec)) or not hasattr(specs, "__iter__"):
        raise WorkbookError(f"specs = {specs!r:.40} is not a list of ImageSpec; give e.g. [ImageSpec(...), ...]")
    specs = list(specs)
    if not isinstance(progress, (bool, np.bool_)):
        raise WorkbookError(f"progress = {progress!r:.30} is not True/False; give a bool")
    for spec in specs:
        require_instance(spec, ImageSpec, "each spec", "give a list of ImageSpec")
    require_table(truth, "truth", ("id", "kind", "ra", "dec", "mag"), "give the truth table make_truth returned")
    return [make_image(truth, spec) for spec in tqdm(specs, desc="simulating images", disable=not progress)]
