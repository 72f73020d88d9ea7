"""A dither of detector exposures combined by STScI's drizzle engine into pipeline-like products.

:func:`make_drizzled` renders a dither pattern of :class:`.exposures.Exposure` (flt/flc or cal
frames with SIP distortion, cosmic rays, hot pixels, saturation) and combines them with
``drizzle.resample.Drizzle`` (the C engine of AstroDrizzle and of the jwst ``resample`` step):

* **HST ``_drz`` / ``_drc``** (ACS/WFC, WFC3/UVIS → ``drc``; WFC3/IR → ``drz``): PRIMARY with the
  ``D001…D00n`` drizzle keywords, SCI in e⁻/s per output pixel, WHT per ``final_wht_type``
  (``EXP``: exposure time, AstroDrizzle's default; ``IVM``: inverse variance of sky + dark +
  read noise), CTX, and **no ERR**. Each exposure is sky-subtracted first (a clipped median,
  recorded as ``MDRIZSKY``), as AstroDrizzle's sky step does.
* **HAP SVM / MVM** (``layout="hap-svm"`` / ``"hap-mvm"``): the same drizzle, laid out, named and
  weighted as drizzlepac's ``runsinglehap`` / ``runmultihap`` write Hubble Advanced Products
  (native-scale North-up visit mosaics; SkyCell layers at 0.04"/0.12" on a projection cell's tangent
  plane; HAPLEVEL, footprint keywords, HDRTAB), see :mod:`.hap` for every fact and its source.
* **JWST ``_i2d``** (NIRCam): SCI in MJy/sr, ERR, CON, WHT (``ivm`` = 1/VAR_RNOISE, the jwst
  default), VAR_POISSON, VAR_RNOISE, VAR_FLAT (variances drizzled with squared weights, as jwst
  does), sky-subtracted as skymatch does.

Cosmic-ray rejection (``cr_rejection``):

* ``"truth"``: the pixels a cosmic ray hit (known to the simulation) get zero weight and the DQ
  bit 4096 in the exposures, a perfect driz_cr. This is the default: the test bed's purpose is
  to calibrate the extraction on the product, not to test a CR rejector.
* ``"median"``: AstroDrizzle's driz_cr recipe: single-drizzle each exposure, median them, blot the
  median back, flag ``|data − blot| > snr·σ + scale·|∇blot|`` (3.5σ + 1.2, then 3.0σ + 0.7 on the
  neighbours of the first pass).
* ``"none"``: no rejection (cosmic rays end up in the product).

IR arrays (WFC3/IR, NIRCam) have their jumps removed by the ramp fit, so no rejection is needed.

The truth table of the product carries the **Cramér–Rao bound of the exposures' pixels**: the
Fisher information on (x, y, flux) of each star in each exposure (:func:`.exposures._fisher`, the
pixels drizzle used), mapped to the output frame through that exposure's distortion Jacobian and
summed. Drizzling cannot add information, so this is the honest limit of any estimator on the
product. Pixfrac < 1 and output pixels smaller than the input ones correlate the noise of
neighbouring output pixels (Fruchter & Hook 2002, PASP 114, 144), as in real mosaics.
"""

import dataclasses
import math

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from ..errors import WorkbookError
from ..validate import require_instance, require_number, require_text
from ._checks import require_numeric_columns, require_pair, require_seed, require_table
from .detectors import detector, pixel_area_arcsec2
from .exposures import PSF_INSTRUMENT, Exposure, ExposureSpec, make_exposure
from . import hap
from .presets import ARCSEC_PER_RAD, FILTERS, INSTRUMENTS
from .psf import make_psf
from .render import _PRF, _flux_for_snr
from .truth import _propagate

#: A 4-point box (native pixels): half-pixel phases in x and y, a few pixels apart, in the spirit of
#: APT's ACS-WFC-DITHER-BOX and WFC3-UVIS-DITHER-BOX patterns.
BOX4 = ((0.0, 0.0), (2.5, 1.0), (2.0, 3.5), (-0.5, 2.5))
#: AstroDrizzle's driz_cr defaults: (snr, scale) of the first and second passes.
DRIZ_CR = ((3.5, 1.2), (3.0, 0.7))


@dataclasses.dataclass
class DrizzledProduct:
    """A drizzled product, its exposures and its truth.

    Attributes
    ----------
    extensions : dict
        Extension name → 2-D array, in file order (SCI, WHT, CTX for HST; SCI, ERR, CON, WHT,
        VAR_POISSON, VAR_RNOISE, VAR_FLAT for JWST).
    wcs : `~astropy.wcs.WCS`
        Output frame (TAN, North up).
    header : `~astropy.io.fits.Header`
        Primary header (with the D00n* keywords for HST).
    sci_header : `~astropy.io.fits.Header`
        Extra SCI keywords (BUNIT, photometry, resample parameters).
    truth : `~astropy.table.Table`
        ``id, kind, ra, dec, x, y`` (0-based output pixels), ``flux`` (e-/s), ``snr`` (from the
        summed Fisher information, point sources), ``crb_x, crb_y`` (Cramér–Rao bound per axis,
        output pixels), ``n_exp`` (exposures that saw it: a star where its pixels gave information, a
        galaxy where its centre fell on the exposure), ``saturated``.
    exposures : list of Exposure
    suffix : str
        ``drz``, ``drc`` or ``i2d``.
    params : dict
        pixfrac, kernel, scales, weight type, CR rejection, layout.
    filename : str
        The file name the layout's pipeline gives the product (``<name>_drc.fits``;
        ``hst_<propid>_<visit>_acs_wfc_f814w_<ipppss>_drc.fits`` for an SVM; ``hst_skycell-p…_drc.fits``
        for an MVM layer).
    hdrtab : `~astropy.table.Table` or None
        HAP's HDRTAB (one row per input exposure), written as a binary-table extension.
    header_wcs : `~astropy.wcs.WCS`, optional
        The WCS written to the file when it differs from the true frame ``wcs`` (a known header
        error, as :class:`.ImageSpec`'s ``wcs_shift_mas``); default ``wcs``.
    """

    extensions: dict
    wcs: WCS
    header: fits.Header
    sci_header: fits.Header
    truth: Table
    exposures: list
    suffix: str
    params: dict
    filename: str = ""
    hdrtab: Table = None
    header_wcs: WCS = None

    @property
    def sci(self):
        return self.extensions["SCI"]

    def to_hdulist(self):
        primary = fits.PrimaryHDU(header=self.header.copy())
        wcs_header = (self.wcs if self.header_wcs is None else self.header_wcs).to_header()
        hdus = [primary]
        for name, arr in self.extensions.items():
            h = wcs_header.copy()
            if name == "SCI":
                h.update(self.sci_header)
            h["EXTVER"] = 1
            hdus.append(fits.ImageHDU(arr, header=h, name=name))
        if self.hdrtab is not None:
            hdus.append(hap.hdrtab_hdu(self.hdrtab))
        return fits.HDUList(hdus)

    def writeto(self, path, overwrite=False):
        """Write the product atomically; a directory gets the layout's own file name (:attr:`filename`)."""
        from pathlib import Path

        from .._io import atomic_path

        if isinstance(path, (str, Path)) and Path(path).is_dir():
            path = Path(path) / (self.filename or f"product_{self.suffix}.fits")
        with atomic_path(path, overwrite=overwrite) as tmp:
            self.to_hdulist().writeto(tmp, checksum=True)
        return path


def _scene(truth, det_name, filter, epoch, exptime, sky, n_exposures):
    """Positions at the epoch and fluxes (e-/s): from ``snr_target`` (the combined optimal SNR of
    the dither) where given, else from ``mag`` and ``color`` with the filter's zero point."""
    det = detector(det_name)
    filt = FILTERS[filter]
    ra, dec = _propagate(truth, epoch)
    scene = Table()
    for col in truth.colnames:
        scene[col] = truth[col]
    scene["ra"], scene["dec"] = ra, dec
    mag = np.asarray(truth["mag"], float) + np.asarray(truth["color"], float) * (filt["pivot_um"] - 0.6)
    flux = 10 ** (-0.4 * (mag - filt["zp_ab"]))
    snr = np.asarray(truth["snr_target"], float) if "snr_target" in truth.colnames else np.full(len(truth), np.nan)
    use = np.isfinite(snr) & (np.asarray(truth["kind"]).astype(str) != "galaxy")
    if use.any():
        psf = make_psf(PSF_INSTRUMENT[det_name], filter, pixel_scale=det["native_scale"])
        stamp = _PRF(psf).sample(*np.meshgrid(np.arange(-10, 11.0), np.arange(-10, 11.0)))
        bg = (sky + det["dark"]) * exptime + det["read_noise"] ** 2
        flux[use] = _flux_for_snr(snr[use] / math.sqrt(n_exposures), stamp, bg, exptime)
    scene["flux"] = flux
    return scene


def _output_wcs(exposures, scale, margin=2, tangent_point=None):
    """North-up TAN frame at ``scale`` arcsec/px covering every exposure's footprint.

    The tangent point is the first exposure's centre, or ``tangent_point`` (RA, Dec, degrees): an MVM
    SkyCell layer is a sub-array of its projection cell's plane, tangent far outside the image."""
    first = exposures[0]
    ny, nx = first.spec.shape
    ra0, dec0 = first.wcs.all_pix2world([[(nx - 1) / 2.0, (ny - 1) / 2.0]], 0)[0]
    if tangent_point is not None:
        ra0, dec0 = tangent_point
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [ra0, dec0]
    w.wcs.crpix = [0.0, 0.0]
    w.wcs.cd = np.array([[-scale / 3600.0, 0.0], [0.0, scale / 3600.0]])
    w.wcs.radesys = "ICRS"
    w.wcs.equinox = 2000.0
    xs, ys = [], []
    for e in exposures:
        eny, enx = e.spec.shape
        edge = np.concatenate([np.c_[np.arange(enx), np.zeros(enx)], np.c_[np.arange(enx), np.full(enx, eny - 1)],
                               np.c_[np.zeros(eny), np.arange(eny)], np.c_[np.full(eny, enx - 1), np.arange(eny)]])
        sky = e.wcs.all_pix2world(edge, 0)
        px = w.wcs_world2pix(sky, 0)
        xs.append(px[:, 0])
        ys.append(px[:, 1])
    xs, ys = np.concatenate(xs), np.concatenate(ys)
    x0, y0 = math.floor(xs.min()) - margin, math.floor(ys.min()) - margin
    w.wcs.crpix = [1.0 - x0, 1.0 - y0]
    shape = (int(math.ceil(ys.max())) - y0 + margin + 1, int(math.ceil(xs.max())) - x0 + margin + 1)
    w.pixel_shape = (shape[1], shape[0])
    w.wcs.set()
    return w, shape


def _pixmap(exposure, out_wcs):
    """Output-frame pixel of every exposure pixel (drizzle's ``pixmap``), through the exposure's SIP."""
    from .geometry import _smooth_field

    def to_output(x, y):
        ra, dec = exposure.wcs.all_pix2world(x, y, 0)
        return tuple(out_wcs.wcs_world2pix(ra, dec, 0))

    ox, oy = _smooth_field(to_output, exposure.spec.shape)
    return np.dstack([ox, oy])


def _sky_level(exposure, good):
    from astropy.stats import sigma_clipped_stats

    values = exposure.data[good & np.isfinite(exposure.data)]
    return float(sigma_clipped_stats(values[:: max(1, values.size // 400_000)], sigma=3.0, maxiters=10)[1])


def _median_cr_masks(exposures, pixmaps, skies, out_shape, iscale):
    """driz_cr: flag pixels that disagree with the blotted median of the single-drizzled exposures."""
    from drizzle.resample import Drizzle, blot_image
    from scipy import ndimage

    singles, weights = [], []
    for e, pm, sky in zip(exposures, pixmaps, skies):
        d = Drizzle(out_shape=out_shape, fillval="NaN", disable_ctx=True)
        cps = (e.data - sky) * e.to_e_per_s
        d.add_image(np.nan_to_num(cps).astype(np.float32), exptime=e.spec.exptime, pixmap=pm,
                    weight_map=e.good(reject_cosmic_rays=False).astype(np.float32), iscale=iscale, pixfrac=1.0)
        singles.append(d.out_img.copy())
        weights.append(d.out_wht.copy())
    stack = np.where(np.array(weights) > 0, np.array(singles), np.nan)
    median = np.nan_to_num(np.nanmedian(stack, axis=0)).astype(np.float32)
    masks = []
    for e, pm, sky in zip(exposures, pixmaps, skies):
        blot = blot_image(median, pm, iscale=1.0 / iscale) + sky * e.to_e_per_s
        cps = e.data * e.to_e_per_s
        t = e.spec.exptime
        det = detector(e.spec.detector)
        sigma = np.sqrt(np.clip(blot, 0, None) * t / e.area + (det["read_noise"] ** 2) / e.area**2) / t
        deriv = np.zeros_like(blot)
        for axis in (0, 1):
            for shift in (1, -1):
                deriv = np.maximum(deriv, np.abs(blot - np.roll(blot, shift, axis=axis)))
        diff = np.abs(cps - blot)
        (snr1, sc1), (snr2, sc2) = DRIZ_CR
        first = diff > snr1 * sigma + sc1 * deriv
        grown = ndimage.binary_dilation(first, np.ones((3, 3), bool))
        masks.append(first | (grown & (diff > snr2 * sigma + sc2 * deriv)))
    return masks


def _add_exposure(driz, e, pixmap, use, sky, wht_type, iscale, pixfrac, out_scale):
    """Drizzle one exposure (sky-subtracted, e-/s or MJy/sr) with its weight: EXP (exposure time) or
    IVM (inverse background variance) for HST, 1/VAR_RNOISE and the three variances for JWST."""
    det = detector(e.spec.detector)
    jwst = det["telescope"] == "JWST"
    use = use.astype(np.float32)
    data = np.nan_to_num((e.data - sky) * (1.0 if jwst else e.to_e_per_s))
    if jwst:
        weight = use / np.where(e.variance["rnoise"] > 0, e.variance["rnoise"], np.inf)
        data2 = [np.nan_to_num(e.variance[k]).astype(np.float32) for k in ("poisson", "rnoise", "flat")]
    else:
        weight = use * (e.spec.exptime if wht_type == "EXP" else
                        1.0 / (e.variance["background"] * e.to_e_per_s**2))
        data2 = None
    driz.add_image(data.astype(np.float32), exptime=e.spec.exptime, pixmap=pixmap, data2=data2,
                   weight_map=weight.astype(np.float32), iscale=iscale, pixfrac=float(pixfrac), in_units="cps",
                   pixel_scale_ratio=out_scale / det["native_scale"])


def _extensions(driz, jwst):
    """The product's arrays in file order: SCI, WHT, CTX (HST) or SCI, ERR, CON, WHT, VAR_* (JWST)."""
    ctx = driz.out_ctx[0] if driz.out_ctx.shape[0] == 1 else driz.out_ctx
    if jwst:
        var_p, var_r, var_f = (np.asarray(v, np.float32) for v in driz.out_img2)
        return {"SCI": driz.out_img, "ERR": np.sqrt(var_p + var_r + var_f).astype(np.float32), "CON": ctx,
                "WHT": driz.out_wht, "VAR_POISSON": var_p, "VAR_RNOISE": var_r, "VAR_FLAT": var_f}
    return {"SCI": driz.out_img, "WHT": driz.out_wht, "CTX": ctx}


def drizzle_exposures(exposures, out_scale, pixfrac=0.8, kernel="square", wht_type="EXP", cr_rejection="truth",
                      tangent_point=None):
    """Combine exposures of one detector with ``drizzle.resample.Drizzle`` into pipeline-like arrays.

    Parameters
    ----------
    exposures : list of Exposure
    out_scale : float
        Output pixel scale, arcsec.
    pixfrac : float
        Drizzle ``pixfrac`` (0 < pixfrac ≤ 1).
    kernel : str
        Drizzle kernel (``square`` as AstroDrizzle and jwst use).
    wht_type : {"EXP", "IVM"}
        HST ``final_wht_type``; JWST products always use ``ivm``.
    cr_rejection : {"truth", "median", "none"}
        See the module docstring.
    tangent_point : (float, float), optional
        Tangent point of the output frame (RA, Dec, degrees); default the first exposure's centre.

    Returns
    -------
    extensions : dict
    out_wcs : `~astropy.wcs.WCS`
    notes : dict
        Sky levels, CR pixels rejected per exposure, total exposure time.
    """
    from drizzle.resample import SUPPORTED_DRIZZLE_KERNELS, Drizzle

    if isinstance(exposures, (str, bytes, dict)) or not hasattr(exposures, "__len__") or not exposures:
        raise WorkbookError(f"exposures = {exposures!r:.40} is not a list of Exposure; give make_exposure's results")
    for e in exposures:
        require_instance(e, Exposure, "each exposure", "give the Exposure objects make_exposure returned")
    kernel = require_text(kernel, "kernel")
    if kernel not in SUPPORTED_DRIZZLE_KERNELS:
        raise WorkbookError(f"kernel = {kernel!r}; use one of {', '.join(SUPPORTED_DRIZZLE_KERNELS)} ('square' as "
                            "AstroDrizzle)")
    if not isinstance(wht_type, str) or not isinstance(cr_rejection, str):
        raise WorkbookError(f"wht_type = {wht_type!r:.20}, cr_rejection = {cr_rejection!r:.20}; give them as text, "
                            "e.g. 'EXP' and 'truth'")
    if not (isinstance(pixfrac, (int, float)) and not isinstance(pixfrac, bool) and 0 < pixfrac <= 1):
        raise WorkbookError(f"pixfrac = {pixfrac!r} must be in (0, 1]; AstroDrizzle uses 0.6-1.0")
    if not (isinstance(out_scale, (int, float)) and not isinstance(out_scale, bool) and 0 < out_scale < 100):
        raise WorkbookError(f"out_scale = {out_scale!r} must be a positive pixel scale in arcsec")
    wht_type = str(wht_type).upper()
    if wht_type not in ("EXP", "IVM"):
        raise WorkbookError(f"wht_type = {wht_type!r}; use 'EXP' (AstroDrizzle's default) or 'IVM'")
    if cr_rejection not in ("truth", "median", "none"):
        raise WorkbookError(f"cr_rejection = {cr_rejection!r}; use 'truth', 'median' or 'none'")
    det = detector(exposures[0].spec.detector)
    if any(e.spec.detector != exposures[0].spec.detector for e in exposures):
        raise WorkbookError("the exposures come from different detectors; drizzle one detector at a time")
    jwst = det["telescope"] == "JWST"
    if tangent_point is not None:
        tangent_point = require_pair(tangent_point, "tangent_point", example="(53.0, -28.0) degrees")
    out_wcs, out_shape = _output_wcs(exposures, out_scale, tangent_point=tangent_point)
    # e-/s per input pixel -> per output pixel: the ratio of the true pixel areas (ACS/WFC's pixel is
    # 0.0491" x 0.0486", not 0.05"); surface brightness (MJy/sr) needs no scaling
    iscale = 1.0 if jwst else out_scale**2 / pixel_area_arcsec2(exposures[0].spec.detector)
    pixmaps = [_pixmap(e, out_wcs) for e in exposures]
    goods = [e.good(reject_cosmic_rays=False) for e in exposures]
    skies = [_sky_level(e, g) for e, g in zip(exposures, goods)]
    cr_masks = [np.zeros(e.spec.shape, bool) for e in exposures]
    if det["cr_in_data"] and cr_rejection == "truth":
        cr_masks = [e.cr_mask for e in exposures]
    elif det["cr_in_data"] and cr_rejection == "median":
        cr_masks = _median_cr_masks(exposures, pixmaps, skies, out_shape, iscale)
    for e, m in zip(exposures, cr_masks):
        if not jwst:
            e.dq[m] |= det["dq"]["cr_astrodrizzle"]
    driz = Drizzle(kernel=kernel, out_shape=out_shape, fillval="NaN" if jwst else "0",
                   fillval2="NaN" if jwst else None, max_ctx_id=len(exposures) - 1)
    for e, pm, good, m, sky in zip(exposures, pixmaps, goods, cr_masks, skies):
        _add_exposure(driz, e, pm, good & ~m, sky, wht_type, iscale, pixfrac, out_scale)
    extensions = _extensions(driz, jwst)
    notes = {"sky": skies, "cr_rejected_pixels": [int(m.sum()) for m in cr_masks], "exptime": driz.total_exptime,
             "iscale": iscale}
    return extensions, out_wcs, notes


class _FisherInOutput:
    """The exposures' Fisher information on each source's (x, y, flux), summed in the output frame.

    Each exposure's (n, 3, 3) information (detector pixels) is mapped to output pixels through the
    Jacobian of that exposure's distortion at the source; the sum inverts to the Cramér–Rao bound.
    Exposures are added one at a time, so a mosaic need not keep their pixels.
    """

    def __init__(self, scene, out_wcs):
        self.scene = scene
        self.out_wcs = out_wcs
        self.ids = np.asarray(scene["id"])
        self.row = {v: k for k, v in enumerate(self.ids)}
        n = self.ids.size
        self.xo, self.yo = out_wcs.wcs_world2pix(np.asarray(scene["ra"], float), np.asarray(scene["dec"], float), 0)
        self.fisher = np.zeros((n, 3, 3))
        self.n_exp = np.zeros(n, int)
        self.saturated = np.zeros(n, bool)

    def add(self, e):
        k = np.array([self.row[i] for i in np.asarray(e.truth["id"])], int)
        if k.size == 0:
            return
        # a star counts where its pixels gave information; a galaxy (no bound) where its centre fell
        ny, nx = e.spec.shape
        x, y = np.asarray(e.truth["x"], float), np.asarray(e.truth["y"], float)
        galaxy = np.asarray(e.truth["kind"]).astype(str) == "galaxy"
        on_chip = (x >= -0.5) & (x < nx - 0.5) & (y >= -0.5) & (y < ny - 0.5)
        contributes = (e.fisher[:, 2, 2] > 0) | (galaxy & on_chip)
        self.n_exp[k[contributes]] += 1
        self.saturated[k] |= np.asarray(e.truth["saturated"], bool)
        h = 0.05
        xo, yo = self.xo[k], self.yo[k]

        def det_xy(dx, dy):
            ra, dec = self.out_wcs.wcs_pix2world(xo + dx, yo + dy, 0)
            return np.stack(e.wcs.all_world2pix(ra, dec, 0, tolerance=1e-10, maxiter=50, quiet=True))

        jx = (det_xy(h, 0) - det_xy(-h, 0)) / (2 * h)
        jy = (det_xy(0, h) - det_xy(0, -h)) / (2 * h)
        t = np.zeros((k.size, 3, 3))
        t[:, :2, 0] = jx.T
        t[:, :2, 1] = jy.T
        t[:, 2, 2] = 1.0
        self.fisher[k] += np.einsum("nai,nab,nbj->nij", t, e.fisher, t)

    def table(self):
        """``id, kind, ra, dec, x, y, flux, snr, crb_x, crb_y, n_exp, saturated`` of the sources inside
        the output frame and seen by at least one exposure."""
        n = self.ids.size
        scene, out_wcs, fisher = self.scene, self.out_wcs, self.fisher
        crb_x = np.full(n, np.nan)
        crb_y = np.full(n, np.nan)
        snr = np.full(n, np.nan)
        ok = fisher[:, 2, 2] > 0
        if ok.any():
            cov = np.linalg.inv(fisher[ok])
            crb_x[ok] = np.sqrt(cov[:, 0, 0])
            crb_y[ok] = np.sqrt(cov[:, 1, 1])
            snr[ok] = np.asarray(scene["flux"], float)[ok] * np.sqrt(fisher[ok, 2, 2])
        truth = Table()
        for col in ("id", "kind", "ra", "dec"):
            truth[col] = scene[col]
        truth["x"], truth["y"] = self.xo, self.yo
        truth["flux"] = np.asarray(scene["flux"], float)
        truth["snr"] = snr
        truth["crb_x"], truth["crb_y"] = crb_x, crb_y
        truth["n_exp"] = self.n_exp
        truth["saturated"] = self.saturated
        for col, unit in (("ra", "deg"), ("dec", "deg"), ("x", "pix"), ("y", "pix"), ("flux", "electron/s"),
                          ("crb_x", "pix"), ("crb_y", "pix")):
            truth[col].unit = unit
        xo, yo = self.xo, self.yo
        inside = ((xo >= 0) & (yo >= 0) & (xo < out_wcs.pixel_shape[0]) & (yo < out_wcs.pixel_shape[1])
                  & (self.n_exp > 0))
        return truth[inside]


def _truth_in_output(scene, exposures, out_wcs):
    """Output-frame positions and the Cramér–Rao bound from the exposures' summed Fisher information."""
    acc = _FisherInOutput(scene, out_wcs)
    for e in exposures:
        acc.add(e)
    return acc.table()


def _headers(exposures, params, notes, suffix, name):
    det = detector(exposures[0].spec.detector)
    first = exposures[0].header
    h = fits.Header()
    for key in ("TELESCOP", "INSTRUME", "DETECTOR", "FILTER1", "FILTER2", "FILTER", "PUPIL", "ZP_AB"):
        if key in first:
            h[key] = (first[key], first.comments[key])
    t_total = float(notes["exptime"])
    start = min(e.header["EXPSTART"] for e in exposures)
    end = max(e.header["EXPEND"] for e in exposures)
    h["EXPTIME"] = (t_total, "total exposure time (s)")
    h["TEXPTIME"] = (t_total, "total exposure time of the drizzled inputs (s)")
    h["EXPSTART"] = (start, "exposure start (MJD)")
    h["EXPEND"] = (end, "exposure end (MJD)")
    h["DATE-OBS"] = (first["DATE-OBS"], "UT date of start of first exposure")
    h["TIME-OBS"] = (first["TIME-OBS"], "UT time of start of first exposure")
    h["ROOTNAME"] = (name, "product name")
    h["FILENAME"] = (f"{name}_{suffix}.fits", "file name")
    h["NDRIZIM"] = (len(exposures), "number of drizzled images")
    h["SIMULATE"] = (True, "simulated by helpers.simulate (not real data)")
    h["ORIGIN"] = ("helpers.simulate.drizzled (drizzle 3)", "workbook test bed")
    inst = INSTRUMENTS[PSF_INSTRUMENT[exposures[0].spec.detector]]
    sci = fits.Header()
    sci["WCSNAME"] = (inst["wcsname"] if det["telescope"] == "HST" else "FIT_REL_GAIADR3", "WCS alignment (simulated)")
    # AstroDrizzle and jwst's resample keep the first input's pointing keywords in the SCI header
    sci["PA_APER"] = (first["PA_APER"], first.comments["PA_APER"])
    if det["telescope"] == "HST":
        for k, e in enumerate(exposures, start=1):
            p = f"D{k:03d}"
            h[f"{p}VER"] = ("drizzle 3.0 (helpers.simulate)", "drizzle engine version")
            h[f"{p}GEOM"] = ("Header WCS", "drizzle, source of geometric information")
            h[f"{p}DATA"] = (f"{e.header['FILENAME']}[sci,1]", "drizzle, input data image")
            h[f"{p}DEXP"] = (e.spec.exptime, "drizzle, input image exposure time (s)")
            h[f"{p}OUDA"] = (f"{name}_{suffix}.fits[SCI]", "drizzle, output data image")
            h[f"{p}OUWE"] = (f"{name}_{suffix}.fits[WHT]", "drizzle, output weighting image")
            h[f"{p}OUCO"] = (f"{name}_{suffix}.fits[CTX]", "drizzle, output context image")
            h[f"{p}MASK"] = (f"{e.spec.name}_final_mask.fits", "drizzle, input weighting image")
            h[f"{p}WTSC"] = (1.0, "drizzle, weighting factor for input image")
            h[f"{p}KERN"] = (params["kernel"], "drizzle, form of weight distribution kernel")
            h[f"{p}PIXF"] = (params["pixfrac"], "drizzle, linear size of drop")
            h[f"{p}COEF"] = ("SIP", "drizzle, source of coefficients")
            h[f"{p}SCAL"] = (params["out_scale"], "drizzle, pixel size (arcsec) of output image")
            h[f"{p}ISCL"] = (det["native_scale"], "drizzle, default IDCTAB pixel size (arcsec)")
            h[f"{p}EXPK"] = ("EXPTIME", "drizzle, exposure keyword name in input image")
            h[f"{p}INUN"] = ("counts" if e.header.get("BUNIT", det["units"]) == "ELECTRONS" else "cps",
                             "drizzle, units of input image - counts or cps")
            h[f"{p}OUUN"] = ("cps", "drizzle, units of output image - counts or cps")
            h[f"{p}FVAL"] = ("0", "drizzle, fill value for zero weight output pix")
            h[f"{p}WKEY"] = ("", "input image WCS Version used")
        h.add_history(f"AstroDrizzle-like combination: final_wht_type = {params['wht_type']}, "
                      f"final_pixfrac = {params['pixfrac']}, final_scale = {params['out_scale']}, "
                      f"driz_cr: {params['cr_rejection']}")
        sci["BUNIT"] = ("ELECTRONS/S", "units of the science array")
        for key in ("PHOTFLAM", "PHOTPLAM"):
            sci[key] = (first[key], first.comments[key])
    else:
        pixar = (params["out_scale"] / ARCSEC_PER_RAD) ** 2
        h["EFFEXPTM"] = (t_total, "effective exposure time (s)")
        h["S_RESAMP"] = ("COMPLETE", "resample step")
        # stdatamodels meta.resample.pointings: the exposures (pointings) combined
        h["NDRIZ"] = (len(exposures), "number of groups/pointings resampled")
        sci["BUNIT"] = ("MJy/sr", "units of the science array")
        sci["PHOTMJSR"] = (first["PHOTMJSR"], first.comments["PHOTMJSR"])
        sci["PIXAR_SR"] = (pixar, "nominal pixel area (sr)")
        sci["PIXAR_A2"] = (params["out_scale"] ** 2, "nominal pixel area (arcsec2)")
        sci["PIXFRAC"] = (params["pixfrac"], "resample pixfrac")
        sci["RESWHT"] = ("ivm", "resample weight type")
        sci["PXSCLRT"] = (params["out_scale"] / det["native_scale"], "output/input pixel scale ratio")
        sci["KERNEL"] = (params["kernel"], "resample kernel")
    return _fit_comments(h), _fit_comments(sci)


def _fit_comments(header):
    """Shorten comments that would not fit their 80-character card (long product names in D00nOUDA
    etc.), as the pipelines' headers do, instead of letting astropy truncate them with a warning."""
    for card in header.cards:
        if card.keyword in ("HISTORY", "COMMENT", ""):
            continue
        room = 80 - len(fits.Card(card.keyword, card.value).image.rstrip()) - 3
        if len(card.comment) > room:
            header.comments[card.keyword] = card.comment[:max(room, 0)]
    return header


def make_drizzled(truth, detector_name="ACS/WFC", filter="F814W", shape=(1024, 1024), dither=BOX4, exptime=500.0,
                  sky=0.08, out_scale=None, pixfrac=None, kernel="square", wht_type="EXP", cr_rejection="truth",
                  roll=0.0, epoch=2004.8, origin=None, seed=0, name="sim", center=None, cosmic_rays=True,
                  hot_pixels=True, saturation=True, layout="pipeline"):
    """Render a dither of detector exposures and drizzle them into an HST drz/drc (pipeline or HAP) or JWST i2d.

    Parameters
    ----------
    truth : `~astropy.table.Table`
        From :func:`.make_truth` (``snr_target`` sets each star's combined SNR when given).
    detector_name : str
        Key of :data:`.detectors.DETECTORS`.
    filter : str
    shape : (int, int)
        Sub-array of each exposure, detector pixels.
    dither : sequence of (float, float)
        Offsets of the exposures, native pixels (default :data:`BOX4`).
    exptime : float or sequence of float
        Per exposure, s: one value for all, or one per dither position (unequal depths, as a mosaic of
        several visits has; the product's WHT (EXP) and ``D00nDEXP`` then differ between inputs).
    sky : float
        e-/s per native pixel.
    out_scale : float, optional
        Output scale, arcsec; default the layout's: the native scale (``pipeline``, ``hap-svm``), the
        fine SkyCell scale 0.04" (``hap-mvm``; 0.12" makes WFC3/IR's coarse layer).
    pixfrac : float, optional
        Drizzle pixfrac; default the layout's: 0.8 (``pipeline``), HAP's 1.0 (0.8 for ACS/WFC and
        WFC3/UVIS SVM visits of ≥ 6 exposures).
    kernel, wht_type, cr_rejection
        See :func:`drizzle_exposures` (HAP layouts accept only ``wht_type="EXP"``, as HAP writes).
    roll : float
        Position angle of the detector's ideal +y axis, degrees East of North.
    epoch : float
        Decimal year.
    origin : (int, int), optional
        Chip pixel of the sub-array's first pixel (default centred on the chip).
    seed : int
    name : str
        Product name.
    center : (float, float), optional
        Sky position of the sub-array centre of the first exposure; default the truth's centre.
    cosmic_rays, hot_pixels, saturation : bool
    layout : {"pipeline", "hap-svm", "hap-mvm"}
        How the product is laid out and named: the calibration pipeline's ``runastrodriz`` drz/drc (or
        the JWST i2d), a HAP Single-Visit Mosaic, or a HAP Multi-Visit Mosaic SkyCell layer (:mod:`.hap`).

    Returns
    -------
    product : DrizzledProduct
    """
    hint = "give the truth table make_truth returned"
    require_table(truth, "truth", ("id", "kind", "ra", "dec", "mag"), hint)
    require_numeric_columns(truth, "truth", ("ra", "dec"), hint)
    det = detector(detector_name if isinstance(detector_name, str) else repr(detector_name))
    if not isinstance(filter, str) or filter not in FILTERS:
        raise WorkbookError(f"unknown filter {filter!r}; use one of {', '.join(FILTERS)}")
    if isinstance(dither, (str, bytes, dict)) or not hasattr(dither, "__len__") or len(dither) < 1:
        raise WorkbookError("the dither has no position; give at least one (dx, dy) offset")
    dither = [require_pair(d, "each dither offset", example="(2.5, 1.0) native pixels") for d in dither]
    shape = require_pair(shape, "shape", integer=True, minimum=8, example="(1024, 1024)")
    if isinstance(exptime, (list, tuple, np.ndarray)):
        if len(exptime) != len(dither):
            raise WorkbookError(f"exptime has {len(exptime)} values for {len(dither)} dither positions; give one "
                                "per exposure, or one number for all")
        exptimes = [require_number(t, "each exptime", minimum=1e-3, example="500.0") for t in exptime]
    else:
        exptimes = [require_number(exptime, "exptime", minimum=1e-3, example="500.0")] * len(dither)
    exptime = float(np.mean(exptimes))  # the scene's fluxes: snr_target is met at the mean depth
    sky = require_number(sky, "sky", minimum=0.0, example="0.08")
    roll = require_number(roll, "roll", example="0.0")
    epoch = require_number(epoch, "epoch", minimum=1900.0, maximum=2200.0, example="2004.8")
    seed = require_seed(seed) or 0
    name = require_text(name, "name")
    if out_scale is not None:
        out_scale = require_number(out_scale, "out_scale", minimum=1e-4, maximum=100.0, example="0.04")
    if pixfrac is not None and not (isinstance(pixfrac, (int, float)) and not isinstance(pixfrac, bool)
                                    and 0 < pixfrac <= 1):
        raise WorkbookError(f"pixfrac = {pixfrac!r:.20} must be in (0, 1]; AstroDrizzle uses 0.6-1.0")
    layout = hap.check_layout(layout, det["telescope"], detector_name, wht_type)
    out_scale, pixfrac, layer = hap.layout_drizzle_parameters(layout, detector_name, det["native_scale"], len(dither),
                                                              out_scale, pixfrac)
    if origin is not None:
        origin = require_pair(origin, "origin", integer=True, minimum=0, example="(0, 0)")
    if center is not None:
        center = require_pair(center, "center")
    elif "center" not in truth.meta:
        raise WorkbookError("truth has no meta['center']; give center=(RA, Dec) in degrees")
    center = tuple(center) if center is not None else tuple(truth.meta["center"])
    scene = _scene(truth, detector_name, filter, epoch, exptime, sky, len(dither))
    # pointing: the first exposure's sub-array centre on `center`; the others offset by the dither
    from .detectors import exposure_wcs

    ny, nx = (int(v) for v in shape)
    probe = exposure_wcs(detector_name, center, roll, shape, origin)
    ra_c, dec_c = probe.all_pix2world([[(nx - 1) / 2.0, (ny - 1) / 2.0]], 0)[0]
    crval0 = (2 * center[0] - ra_c, 2 * center[1] - dec_c)  # first-order: the sub-array centre lands on `center`
    base = exposure_wcs(detector_name, crval0, roll, shape, origin)
    exposures = []
    mjd_step = 0.03  # ~45 min between exposures (one orbit holds a few)
    for k, (dx, dy) in enumerate(dither):
        ref = base.wcs.crpix - 1.0 - np.array([dx, dy])
        crval = base.all_pix2world([ref], 0)[0]
        spec = ExposureSpec(detector=detector_name, filter=filter, shape=(ny, nx), origin=origin,
                            crval=(float(crval[0]), float(crval[1])), roll=roll, exptime=exptimes[k], sky=sky,
                            epoch=epoch + k * mjd_step / 365.25, seed=int(seed) * 100 + k, name=f"{name}{k + 1:02d}",
                            cosmic_rays=cosmic_rays, hot_pixels=hot_pixels, saturation=saturation)
        exposures.append(make_exposure(scene, spec))
    tangent, skycell = hap.projection_cell(*center) if layout == "hap-mvm" else (None, None)
    extensions, out_wcs, notes = drizzle_exposures(exposures, out_scale, pixfrac, kernel, wht_type, cr_rejection,
                                                   tangent_point=tangent)
    for e, s in zip(exposures, notes["sky"]):
        e.header["MDRIZSKY"] = (s, "sky subtracted before drizzling (image units)")
    params = {"pixfrac": float(pixfrac), "kernel": kernel, "out_scale": out_scale, "native_scale": det["native_scale"],
              "wht_type": "IVM" if det["telescope"] == "JWST" else str(wht_type).upper(),
              "cr_rejection": cr_rejection, "n_exposures": len(exposures), "exptime": float(exptime),
              "exptimes": [float(t) for t in exptimes],
              "cr_rejected_pixels": notes["cr_rejected_pixels"], "layout": layout, "mvm_layer": layer,
              "skycell": skycell}
    suffix = "i2d" if det["telescope"] == "JWST" else ("drc" if det["suffix"] == "flc" else "drz")
    header, sci_header = _headers(exposures, params, notes, suffix, name)
    inst = exposures[0].header
    root, filename, inputs = hap.names(layout, inst["INSTRUME"], inst["DETECTOR"], filter, suffix, det["suffix"],
                                       len(exposures), skycell=skycell, layer=layer, name=name)
    hdrtab = None
    if layout != "pipeline":
        hdrtab = hap.hap_headers(layout, header, sci_header, exposures, extensions, inputs, root, filename, skycell)
    truth_out = _truth_in_output(scene, exposures, out_wcs)
    truth_out.meta.update({"epoch": float(epoch), "detector": detector_name, "filter": filter, "pixel_scale": out_scale,
                           "params": params, "crb": "summed Fisher information of the exposures' used pixels"})
    return DrizzledProduct(extensions=extensions, wcs=out_wcs, header=header, sci_header=sci_header, truth=truth_out,
                           exposures=exposures, suffix=suffix, params=params, filename=filename, hdrtab=hdrtab)


def isolated(truth, min_sep_arcsec):
    """The rows of a truth table with no other source closer than ``min_sep_arcsec``.

    Accuracy tests of an estimator (not of deblending) need isolated stars: a neighbour within a
    few FWHM biases any single-source fit.
    """
    from scipy.spatial import cKDTree

    hint = "give a truth table (make_truth) with ra, dec in degrees"
    require_table(truth, "truth", ("ra", "dec"), hint)
    require_numeric_columns(truth, "truth", ("ra", "dec"), hint)
    min_sep_arcsec = require_number(min_sep_arcsec, "min_sep_arcsec", minimum=0.0, example="0.6")
    dec0 = math.radians(float(np.mean(truth["dec"])))
    xy = np.c_[np.asarray(truth["ra"], float) * math.cos(dec0), np.asarray(truth["dec"], float)] * 3600.0
    if len(truth) < 2:
        return truth
    d, _ = cKDTree(xy).query(xy, k=2)
    return truth[d[:, 1] > float(min_sep_arcsec)]
