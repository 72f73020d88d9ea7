"""Library PSFs for images with too few bright isolated stars for an empirical PSF.

Where a PSF comes from, in order:

1. the drizzlepac library PSFs shipped with the workbook (``data/psfs/drizzlepac_psfs.fits``:
   ACS/WFC, ACS/HRC, WFC3/UVIS and WFC3/IR broad-band filters, cropped; see its PROVENANCE.md);
2. the same library in an installed ``drizzlepac`` (``drizzlepac/pars/psfs/<inst>/<det>/``: every
   filter it has);
3. the workbook's diffraction model of the instrument (:func:`helpers.simulate.make_psf`: pupil,
   band, pixel integration and the instrument's blur), for instruments the library lacks (WFPC2,
   NIRCam).

The drizzlepac arrays are TinyTim PSFs of the detector's centre at the detector's own pixel scale
(``PIXSCALE``): pixel-integrated, one pixel per array element, the PSF centred on the central
pixel. Where the header says the charge-diffusion kernel was *not* applied ("This PSF is
subsampled, so the charge diffusion kernel was NOT applied ... convolve it with the following
kernel"), the listed 3x3 kernel is applied here; its corner printed first is negative in the WFC3
files (a TinyTim print of an otherwise symmetric kernel) and is replaced by the other corners'
value. The array is then resampled to the image: a cubic spline of the detector-pixel response
evaluated on a grid ``oversampling`` times finer than the image pixels, and, for a drizzled
product, convolved with the drizzle drop (``pixfrac`` × the detector pixel) and the output pixel
(the response of a densely dithered drizzle; Fruchter & Hook 2002, PASP 114, 144).
"""

import importlib.util
import math
import re
import warnings
from pathlib import Path

import numpy as np

from ..errors import WorkbookError

#: The shipped library (see data/psfs/PROVENANCE.md).
LIBRARY_FILE = Path(__file__).resolve().parents[2] / "data" / "psfs" / "drizzlepac_psfs.fits"
#: Oversampling of the models returned.
OVERSAMPLING = 4
#: Image scale within this fraction of the detector's is taken as the detector's own sampling.
SAME_SCALE_TOLERANCE = 0.03

_CACHE = {}


def _split_instrument(instrument, detector=None):
    """("acs", "hrc") from "ACS/HRC" (the catalog's ``instrument``), or from INSTRUME + DETECTOR."""
    text = str(instrument or "").strip().upper().replace("_", "/")
    if "/" in text:
        inst, det = text.split("/", 1)
    else:
        inst, det = text, str(detector or "").strip().upper()
    return inst.lower(), det.lower()


def _charge_diffusion_kernel(header):
    """The 3x3 kernel a TinyTim header says still has to be applied, or None."""
    comments = [str(c) for c in header.get("COMMENT", [])]
    text = " ".join(comments)
    if "NOT applied" not in text:
        return None
    rows = []
    for line in comments:
        numbers = re.findall(r"-?\d+\.\d+", line)
        if len(numbers) == 3 and line.strip()[0] in "-0123456789":
            rows.append([float(v) for v in numbers])
    if len(rows) != 3:
        return None
    kernel = np.array(rows)
    corners = [kernel[0, 2], kernel[2, 0], kernel[2, 2]]
    if kernel[0, 0] < 0:  # TinyTim's WFC3 print: the other three corners are equal and positive
        kernel[0, 0] = float(np.mean(corners))
    return kernel / kernel.sum()


def _library_array(inst, det, filt):
    """(array, header, where) of the detector-scale library PSF, or None when there is none."""
    from astropy.io import fits

    name = f"{inst}_{det}_{filt}".upper()
    if LIBRARY_FILE.exists():
        with fits.open(LIBRARY_FILE) as hdul:
            if name in [h.name for h in hdul]:
                return (np.asarray(hdul[name].data, float), hdul[name].header.copy(),
                        f"drizzlepac 3.11.0 library PSF {hdul[name].header['SRCFILE']} (shipped in data/psfs)")
    spec = importlib.util.find_spec("drizzlepac")
    if spec is not None and spec.submodule_search_locations:
        path = (Path(list(spec.submodule_search_locations)[0]) / "pars" / "psfs" / inst / det
                / f"{inst}_{det}_{filt}.fits")
        if path.exists():
            with fits.open(path) as hdul:
                return np.asarray(hdul[0].data, float), hdul[0].header.copy(), f"installed drizzlepac {path.name}"
    return None


def _box_kernel(width):
    """1-D kernel (odd length, sums to 1) of a box ``width`` samples wide centred on a sample."""
    half = int(math.ceil(width / 2.0 + 0.5))
    k = np.arange(-half, half + 1, dtype=float)
    lo, hi = np.maximum(k - 0.5, -width / 2.0), np.minimum(k + 0.5, width / 2.0)
    w = np.clip(hi - lo, 0.0, None)
    return w / w.sum()


def _resampled(native, native_scale, pixel_scale, drizzled, pixfrac, oversampling, size_pix):
    """Oversampled pixel response at ``pixel_scale`` from a detector-scale one (see module doc)."""
    from scipy import ndimage

    half_native = (native.shape[0] - 1) / 2.0
    ratio = pixel_scale / native_scale  # image pixels in detector pixels
    half_out = int(min(size_pix // 2, math.floor((half_native - 2) / ratio)))
    n = 2 * half_out * oversampling + 1
    t = (np.arange(n) - (n - 1) / 2.0) * ratio / oversampling + half_native
    yy, xx = np.meshgrid(t, t, indexing="ij")
    grid = ndimage.map_coordinates(native, [yy, xx], order=3, mode="constant", cval=0.0)
    if drizzled:
        for width in (pixfrac / ratio * oversampling, float(oversampling)):
            kern = _box_kernel(width)
            grid = ndimage.convolve1d(ndimage.convolve1d(grid, kern, axis=0, mode="constant"), kern, axis=1,
                                      mode="constant")
    grid = np.clip(grid, 0.0, None)
    # centre on the centroid within ~3 FWHM (the fits' convention, as the ePSF), then normalise
    nodes = (np.arange(n) - (n - 1) / 2.0) / oversampling
    gx, gy = np.meshgrid(nodes, nodes)
    core = np.hypot(gx, gy) <= 4.0
    tot = grid[core].sum()
    off_x, off_y = (grid[core] * gx[core]).sum() / tot, (grid[core] * gy[core]).sum() / tot
    grid = ndimage.shift(grid, (-off_y * oversampling, -off_x * oversampling), order=3, mode="constant")
    grid = np.clip(grid, 0.0, None)
    return grid / (grid.sum() / oversampling**2)


def library_psf(instrument, filter, pixel_scale=None, *, detector=None, drizzled=None, pixfrac=1.0,
                oversampling=OVERSAMPLING, size_pix=31):
    """A PSF model for an image from the drizzlepac library, or the instrument's diffraction model.

    Parameters
    ----------
    instrument : str
        ``"ACS/WFC"``, ``"ACS/HRC"``, ``"WFC3/UVIS"``, ``"WFC3/IR"`` (as the catalog's ``instrument``
        meta), or ``"ACS"``/``"WFC3"`` with ``detector``; ``"WFPC2"``, ``"NIRCAM"`` get the model.
    filter : str
        Filter name, e.g. ``"F606W"`` (case-insensitive).
    pixel_scale : float, optional
        The image's pixel scale, arcsec; default the detector's.
    detector : str, optional
        Detector when ``instrument`` is the bare instrument name.
    drizzled : bool, optional
        Whether the image is a drizzled (resampled) product. Default: True when ``pixel_scale``
        differs from the detector's by more than 3 %, else False (a flt/flc on its detector).
    pixfrac : float
        Drizzle drop size in detector pixels (the header's ``D001PIXF``; 1 when unknown).
    oversampling : int
    size_pix : int
        Model extent, image pixels (at most what the library array covers).

    Returns
    -------
    psf : `photutils.psf.ImagePSF` or None
        Oversampled ``oversampling`` times, samples summing to ``oversampling**2``; ``fwhm_pix``
        (image pixels) and ``meta`` (``psf_source``: ``"library"`` or ``"model"``, ``model``: where
        it came from and how it was resampled) set. None when neither the library nor the model
        knows the instrument and filter.

    Raises
    ------
    WorkbookError
        If ``pixel_scale`` or ``pixfrac`` is not a positive number.

    Examples
    --------
    >>> psf = library_psf("ACS/HRC", "F606W", 0.025)
    >>> psf.meta["psf_source"], round(psf.fwhm_pix, 1)
    ('library', 2.1)
    """
    from photutils.psf import ImagePSF

    from .psf import psf_fwhm

    if pixel_scale is not None and not (isinstance(pixel_scale, (int, float)) and pixel_scale > 0):
        raise WorkbookError(f"pixel_scale = {pixel_scale!r} must be a positive number of arcsec per pixel")
    if not (isinstance(pixfrac, (int, float)) and pixfrac > 0):
        raise WorkbookError(f"pixfrac = {pixfrac!r} must be a positive drop size (the header's D001PIXF, e.g. 1.0)")
    inst, det = _split_instrument(instrument, detector)
    filt = str(filter or "").strip().lower()
    key = (inst, det, filt, None if pixel_scale is None else round(float(pixel_scale), 6), drizzled,
           round(float(pixfrac), 4), int(oversampling), int(size_pix))
    if key in _CACHE:
        return _CACHE[key]
    found = _library_array(inst, det, filt) if filt else None
    psf = None
    if found is not None:
        native, header, where = found
        native_scale = float(header["PIXSCALE"])
        kernel = _charge_diffusion_kernel(header)
        if kernel is not None:
            from scipy import ndimage

            native = ndimage.convolve(native, kernel, mode="constant")
        scale = float(pixel_scale or native_scale)
        if drizzled is None:
            drizzled = abs(scale / native_scale - 1.0) > SAME_SCALE_TOLERANCE
        grid = _resampled(native, native_scale, scale, drizzled, float(pixfrac), int(oversampling), int(size_pix))
        psf = ImagePSF(grid, oversampling=int(oversampling))
        how = (f"drizzled: drop {pixfrac:g} x {native_scale:g}\" and output pixel {scale:g}\"" if drizzled
               else f"detector sampling {native_scale:g}\"/px")
        cd = "charge diffusion applied (header kernel)" if kernel is not None else "as delivered"
        psf.meta = {"psf_source": "library", "model": f"{where}; {cd}; {how}", "pixel_scale": scale}
    else:
        psf = _instrument_model(inst, det, filt, pixel_scale, oversampling, size_pix)
    if psf is not None:
        psf.fwhm_pix = psf_fwhm(type("P", (), {"data": psf.data, "oversampling": int(oversampling)})())
    _CACHE[key] = psf
    return psf


def _instrument_model(inst, det, filt, pixel_scale, oversampling, size_pix):
    """The workbook's diffraction model (helpers.simulate.make_psf) when it knows the camera and band."""
    from ..simulate import FILTERS, INSTRUMENTS, make_psf

    names = {"acs": f"ACS/{det.upper()}", "wfc3": f"WFC3/{det.upper()}", "wfpc2": "WFPC2", "nircam": "NIRCAM"}
    name = names.get(inst)
    if name not in INSTRUMENTS or filt.upper() not in FILTERS:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        psf = make_psf(name, filt.upper(), pixel_scale=pixel_scale, oversample=int(oversampling),
                       size_pix=int(size_pix) | 1)
    psf.meta = dict(psf.meta, psf_source="model",
                    model=f"instrument model {name} {filt.upper()} (helpers.simulate.make_psf: {psf.meta['model']})")
    return psf
