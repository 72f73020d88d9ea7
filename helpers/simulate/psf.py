"""Polychromatic, pixel-integrated diffraction PSFs of obscured pupils with spider vanes.

HST: 2.4 m, 33% central obscuration, 4 vanes; JWST: 6.5 m hexagonal outline, 3 struts. The
Fraunhofer intensity is averaged over five wavelengths across the band, integrated over the
detector pixel and blurred by charge diffusion/drizzling (:func:`make_psf`).
"""

import functools
import math

import numpy as np
from scipy import fft as sp_fft
from scipy import ndimage

from ..errors import WorkbookError
from ..validate import require_number
from .presets import ARCSEC_PER_RAD, FILTERS, INSTRUMENTS

_PUPILS = {
    # diameter (m), linear central obscuration, number of vanes, vane width (m), vane angle offset
    "hst": dict(diameter=2.4, obscuration=0.33, n_vanes=4, vane_width=0.038, vane_angle=45.0, hexagonal=False),
    "jwst": dict(diameter=6.5, obscuration=0.113, n_vanes=3, vane_width=0.10, vane_angle=90.0, hexagonal=True),
}


def _pupil_mask(kind, n_grid):
    """Binary pupil on an ``n_grid``² array spanning the pupil diameter (circumscribed)."""
    p = _PUPILS[kind]
    coords = (np.arange(n_grid) - (n_grid - 1) / 2.0) / (n_grid / 2.0) * (p["diameter"] / 2.0)
    xx, yy = np.meshgrid(coords, coords)
    rr = np.hypot(xx, yy)
    radius = p["diameter"] / 2.0
    if p["hexagonal"]:
        # Regular hexagon with flat sides along x (JWST's outline, circumscribed radius = D/2).
        apothem = radius * math.sqrt(3) / 2.0
        inside = np.ones_like(rr, dtype=bool)
        for angle in (90.0, 30.0, -30.0):
            a = math.radians(angle)
            inside &= np.abs(xx * math.cos(a) + yy * math.sin(a)) <= apothem
    else:
        inside = rr <= radius
    inside &= rr >= p["obscuration"] * radius
    for k in range(p["n_vanes"]):
        a = math.radians(p["vane_angle"] + k * 360.0 / p["n_vanes"])
        along = xx * math.cos(a) + yy * math.sin(a)
        across = -xx * math.sin(a) + yy * math.cos(a)
        inside &= ~((np.abs(across) <= p["vane_width"] / 2.0) & (along >= 0))
    return inside.astype(float)


def _monochromatic_psf(pupil, pupil_diameter, wavelength_um, sampling_arcsec, n_out):
    """Intensity PSF sampled at ``sampling_arcsec`` on an ``n_out``² grid, peak centred."""
    n_pupil = pupil.shape[0]
    dx = pupil_diameter / n_pupil
    # FFT sampling: d_theta = lambda / (N dx). Choose N; refine in integer steps if undersampled.
    theta = sampling_arcsec / ARCSEC_PER_RAD
    refine = 1
    while wavelength_um * 1e-6 / (theta / refine * dx) < 2 * n_pupil:
        refine += 1
    n_fft = int(round(wavelength_um * 1e-6 / (theta / refine * dx)))
    # The rounding of n_fft changes the sampling by < 1/n_fft; rescale later is unnecessary at
    # the 0.1% level (n_fft > 500).
    field = np.zeros((n_fft, n_fft), dtype=complex)
    field[:n_pupil, :n_pupil] = pupil
    intensity = np.abs(sp_fft.fftshift(sp_fft.fft2(field, workers=-1))) ** 2
    # Bring the peak to the centre of a pixel: the FFT puts it at index n_fft // 2.
    centre = n_fft // 2
    half = (n_out * refine) // 2
    cut = intensity[centre - half - refine:centre + half + refine + 1, centre - half - refine:centre + half + refine + 1]
    if refine > 1:
        # Bin refine x refine blocks around the centre so the output pixel is centred on the peak.
        m = (cut.shape[0] // refine) * refine
        off = (cut.shape[0] - m) // 2
        cut = cut[off:off + m, off:off + m].reshape(m // refine, refine, m // refine, refine).mean(axis=(1, 3))
    c = cut.shape[0] // 2
    h = n_out // 2
    out = cut[c - h:c + h + 1, c - h:c + h + 1]
    return out / out.sum()


@functools.lru_cache(maxsize=16)
def _psf_samples(instrument, filter, scale, oversample, size_pix):
    """Oversampled pixel-response samples (cached: the same PSF is asked for many times)."""
    inst = INSTRUMENTS[instrument]
    filt = FILTERS[filter]
    size_pix = int(size_pix) | 1
    n_os = size_pix * oversample + (1 - oversample % 2)  # odd number of oversampled samples
    n_os |= 1
    pupil_kind = inst["pupil"]
    pupil = _pupil_mask(pupil_kind, 192)
    diameter = _PUPILS[pupil_kind]["diameter"]
    sampling = scale / oversample
    # Five wavelengths across the band smooth the rings as a broad filter does.
    fractions = np.linspace(-0.5, 0.5, 5) * filt["width"]
    image = np.zeros((n_os + 2 * oversample, n_os + 2 * oversample))
    for frac in fractions:
        image += _monochromatic_psf(pupil, diameter, filt["pivot_um"] * (1 + frac), sampling, image.shape[0])
    image /= len(fractions)
    # Integrate over the output pixel (a box of `oversample` samples), then the detector /
    # drizzle blur: the model becomes a pixel response function sampled at sub-pixel phases.
    if oversample % 2:
        image = ndimage.uniform_filter(image, size=oversample, mode="constant")
    else:
        # An even-width box is not centred on a sample (uniform_filter would shift the PSF by half
        # a sample); integrate the linear interpolant instead: trapezoid weights, centred.
        box = np.ones(oversample + 1)
        box[0] = box[-1] = 0.5
        box /= oversample
        image = ndimage.convolve1d(ndimage.convolve1d(image, box, axis=0, mode="constant"), box, axis=1,
                                   mode="constant")
    blur_samples = inst["blur_arcsec"] / sampling
    if blur_samples > 0:
        image = ndimage.gaussian_filter(image, blur_samples, mode="constant")
    trim = (image.shape[0] - n_os) // 2
    image = image[trim:trim + n_os, trim:trim + n_os]
    image = image / image.sum() * oversample**2
    image.flags.writeable = False
    return image


def make_psf(instrument="ACS/WFC", filter="F814W", pixel_scale=None, oversample=4, size_pix=63):
    """Pixel-integrated, polychromatic diffraction PSF as a photutils `~photutils.psf.ImagePSF`.

    Parameters
    ----------
    instrument : str
        Key of :data:`INSTRUMENTS` (sets pupil and blur).
    filter : str
        Key of :data:`FILTERS` (sets wavelength and bandwidth).
    pixel_scale : float, optional
        Output (drizzled) pixel scale, arcsec; default the instrument's.
    oversample : int
        Oversampling of the returned model (odd sizes, peak at the central sample).
    size_pix : int
        Model extent in output pixels (odd).

    Returns
    -------
    psf : `photutils.psf.ImagePSF`
        Normalised so that its samples sum to ``oversample**2`` (photutils' convention): evaluated
        on the pixel grid it sums to 1 within the model extent. Attributes added:
        ``fwhm_pix`` (measured FWHM, output pixels) and ``meta`` (provenance dict).
    """
    from photutils.psf import ImagePSF

    if not isinstance(instrument, str) or instrument not in INSTRUMENTS:
        raise WorkbookError(f"unknown instrument {instrument!r}; use one of {', '.join(INSTRUMENTS)}")
    if not isinstance(filter, str) or filter not in FILTERS:
        raise WorkbookError(f"unknown filter {filter!r}; use one of {', '.join(FILTERS)}")
    pixel_scale = require_number(pixel_scale, "pixel_scale", minimum=1e-4, maximum=100.0, allow_none=True,
                                 example="0.05")
    oversample = require_number(oversample, "oversample", integer=True, minimum=1, maximum=16, example="4")
    size_pix = require_number(size_pix, "size_pix", integer=True, minimum=3, maximum=1001, example="63")
    inst = INSTRUMENTS[instrument]
    scale = float(pixel_scale or inst["pixel_scale"])
    image = _psf_samples(instrument, filter, scale, int(oversample), int(size_pix)).copy()
    psf = ImagePSF(image, oversampling=oversample)
    psf.fwhm_pix = _measure_fwhm(image, oversample)
    psf.meta = {"instrument": instrument, "filter": filter, "pixel_scale": scale, "oversample": oversample,
                "model": f"{inst['pupil']} pupil diffraction, 5 wavelengths, pixel-integrated, blur {inst['blur_arcsec']}\""}
    return psf


def _measure_fwhm(image, oversample):
    """FWHM (output pixels) of a centred oversampled PSF: mean of the half-maximum widths of
    the central row and column, each crossing found by linear interpolation."""
    c = image.shape[0] // 2
    widths = []
    for cut in (image[c, :], image[:, c]):
        half = cut[c] / 2.0
        sides = []
        for direction in (1, -1):
            prof = cut[c::direction]
            k = int(np.argmax(prof < half))
            # linear interpolation between samples k-1 (above) and k (below)
            frac = (prof[k - 1] - half) / (prof[k - 1] - prof[k])
            sides.append(k - 1 + frac)
        widths.append(sum(sides))
    return float(np.mean(widths)) / oversample
