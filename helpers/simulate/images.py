"""Deterministic HST/JWST-like drizzled images with known truth: the demo field and the test bed.

Every accuracy claim in the workbook (centroid precision against the Cramér–Rao bound, pull
calibration, scatter recovery, systematics maps) is checked on images made here, where the
true position of every source is known.

What is realistic here, and why it matters for astrometry:

* **PSF**: polychromatic Fraunhofer diffraction of an obscured pupil with spider vanes (HST:
  2.4 m, 33% central obscuration, 4 vanes; JWST: 6.5 m hexagonal outline, 3 struts), integrated
  over the detector pixel and blurred by charge diffusion/drizzling. Its wings and rings make
  Gaussian-model fits and plain centroids inefficient, as on real data.
* **Pixels**: drizzled scales (e.g. 0.04–0.06"/px for HST, 0.031/0.063" for NIRCam), a TAN
  (optionally TAN-SIP) celestial WCS at a real sky position.
* **Noise**: Poisson on source + sky, Gaussian read noise per combined exposure, a depth map
  (chip-gap stripe at half depth, zero-weight borders), ``ERR`` and inverse-variance ``WHT``.
* **Scene**: stars over SNR 5–1000+, close pairs, saturated stars (flat-topped cores), Sérsic
  galaxies convolved with the PSF; stars carry proper motions.
* **Several independent images** of one truth: other filters, epochs, noise realisations, a known
  per-image WCS error (shift/rotation/scale) and an optional injected systematic pattern
  (``"seam"``: a step between two mosaic tiles; ``"wave"``: a smooth distortion residue).

Not modelled: correlated noise from drizzling, cosmic-ray residuals, PSF variation across the
field, charge-transfer inefficiency. Each is a known limitation of the test bed.

The exact Cramér–Rao bound (Fisher information of the pixel-integrated PSF with position and
flux unknown) is computed per star and stored with the truth, so estimator efficiency is measured
against the bound of that very star, not an approximation.
"""

import dataclasses
import datetime
import functools
import math

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS
from scipy import fft as sp_fft
from scipy import ndimage

from ..errors import WorkbookError
from ..skyplane import tangent_to_sky

__all__ = [
    "INSTRUMENTS",
    "FILTERS",
    "ImageSpec",
    "SimulatedImage",
    "make_psf",
    "make_truth",
    "make_image",
    "make_images",
    "demo_field",
    "gaia_like_catalog",
    "perturb_catalog",
    "decimal_year_to_mjd",
]

ARCSEC_PER_RAD = 180.0 / math.pi * 3600.0
MAS_PER_DEG = 3.6e6

#: Instrument presets. ``blur_arcsec`` is the Gaussian sigma standing in for charge diffusion
#: and the drizzle kernel; ``read_noise`` is per exposure (e-); ``full_well`` per exposure (e-).
INSTRUMENTS = {
    "ACS/WFC": dict(telescope="HST", instrume="ACS", detector="WFC", pupil="hst", pixel_scale=0.05,
                    native_scale=0.05, read_noise=4.0, full_well=84700.0, blur_arcsec=0.028,
                    wcsname="IDC_0461802ej-FIT_REL_GAIAeDR3", product="drc"),
    "ACS/HRC": dict(telescope="HST", instrume="ACS", detector="HRC", pupil="hst", pixel_scale=0.025,
                    native_scale=0.025, read_noise=4.7, full_well=155000.0, blur_arcsec=0.014,
                    wcsname="IDC_47d1628hj", product="drz"),
    "WFC3/UVIS": dict(telescope="HST", instrume="WFC3", detector="UVIS", pupil="hst", pixel_scale=0.04,
                      native_scale=0.04, read_noise=3.1, full_well=63000.0, blur_arcsec=0.020,
                      wcsname="FIT_SVM_GAIAeDR3", product="drc"),
    "WFC3/IR": dict(telescope="HST", instrume="WFC3", detector="IR", pupil="hst", pixel_scale=0.06,
                    native_scale=0.13, read_noise=15.0, full_well=78000.0, blur_arcsec=0.040,
                    wcsname="IDC_w3m18525i-FIT_REL_GAIAeDR3", product="drz"),
    "WFPC2": dict(telescope="HST", instrume="WFPC2", detector="WF", pupil="hst", pixel_scale=0.1,
                  native_scale=0.1, read_noise=5.3, full_well=53000.0, blur_arcsec=0.030,
                  wcsname="IDC_u5t1624ou", product="drz"),
    "NIRCAM": dict(telescope="JWST", instrume="NIRCAM", detector="NRCBLONG", pupil="jwst", pixel_scale=0.063,
                   native_scale=0.063, read_noise=15.0, full_well=100000.0, blur_arcsec=0.006,
                   wcsname="FIT_REL_GAIADR3", product="i2d"),
}

#: Filter pivot wavelengths (micron), AB zero points for 1 e-/s, fractional bandwidth.
#: Pivot wavelengths and zero points approximate the STScI instrument handbooks' values
#: (ACS/WFC and WFC3/UVIS zeropoint tables; NIRCam JDox "NIRCam Filters").
FILTERS = {
    "F435W": dict(pivot_um=0.4330, zp_ab=25.66, width=0.21),
    "F475W": dict(pivot_um=0.4745, zp_ab=26.06, width=0.29),
    "F606W": dict(pivot_um=0.5921, zp_ab=26.49, width=0.39),
    "F775W": dict(pivot_um=0.7692, zp_ab=25.66, width=0.19),
    "F814W": dict(pivot_um=0.8045, zp_ab=25.94, width=0.31),
    "F850LP": dict(pivot_um=0.9033, zp_ab=24.84, width=0.18),
    "F125W": dict(pivot_um=1.2486, zp_ab=26.23, width=0.24),
    "F160W": dict(pivot_um=1.5369, zp_ab=25.95, width=0.18),
    "F115W": dict(pivot_um=1.154, zp_ab=27.6, width=0.20),
    "F150W": dict(pivot_um=1.501, zp_ab=27.9, width=0.21),
    "F200W": dict(pivot_um=1.990, zp_ab=28.0, width=0.23),
    "F277W": dict(pivot_um=2.786, zp_ab=28.0, width=0.24),
    "F356W": dict(pivot_um=3.563, zp_ab=28.1, width=0.22),
    "F444W": dict(pivot_um=4.421, zp_ab=28.0, width=0.23),
}

_PUPILS = {
    # diameter (m), linear central obscuration, number of vanes, vane width (m), vane angle offset
    "hst": dict(diameter=2.4, obscuration=0.33, n_vanes=4, vane_width=0.038, vane_angle=45.0, hexagonal=False),
    "jwst": dict(diameter=6.5, obscuration=0.113, n_vanes=3, vane_width=0.10, vane_angle=90.0, hexagonal=True),
}

_REF_EPOCH = 2016.0  # Gaia DR3 reference epoch: truth positions are given at this epoch


def decimal_year_to_mjd(year):
    """Convert a decimal year (TT-ish, ~1 s accuracy) to MJD.

    Parameters
    ----------
    year : float

    Returns
    -------
    mjd : float
    """
    return 51544.5 + (float(year) - 2000.0) * 365.25


# ----------------------------------------------------------------------------------------------
# PSF
# ----------------------------------------------------------------------------------------------
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

    if instrument not in INSTRUMENTS:
        raise WorkbookError(f"unknown instrument {instrument!r}; use one of {', '.join(INSTRUMENTS)}")
    if filter not in FILTERS:
        raise WorkbookError(f"unknown filter {filter!r}; use one of {', '.join(FILTERS)}")
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


# ----------------------------------------------------------------------------------------------
# Truth
# ----------------------------------------------------------------------------------------------
def make_truth(center=(53.1625, -27.791417), size_arcsec=180.0, n_stars=600, n_galaxies=800,
               n_pairs=30, n_saturated=6, star_mag_range=(19.0, 28.5), galaxy_mag_range=(21.0, 27.5),
               star_snr=None, pm_sigma_mas_yr=5.0, seed=1):
    """Random but reproducible scene: stars (with proper motions), close pairs, saturated stars
    and Sérsic galaxies in a square field.

    Parameters
    ----------
    center : (float, float)
        Field centre (RA, Dec), degrees ICRS.
    size_arcsec : float
        Side of the square populated with sources, arcsec.
    n_stars, n_galaxies, n_pairs, n_saturated : int
        Numbers of isolated stars, galaxies, close pairs (two stars 1.3–3 FWHM apart, counted
        as 2 sources each) and saturated stars.
    star_mag_range, galaxy_mag_range : (float, float)
        AB magnitudes in the reference band (0.6 µm), drawn uniformly.
    star_snr : (float, float), optional
        If given, stars get an ``snr_target`` drawn log-uniformly in this range, and each image
        sets the star's flux so its optimal SNR equals the target (used to test estimators at
        chosen SNR). Saturated stars are always much brighter.
    pm_sigma_mas_yr : float
        Per-axis proper-motion dispersion of stars, mas/yr.
    seed : int
        Random seed; the same arguments always give the same truth.

    Returns
    -------
    truth : `~astropy.table.Table`
        Columns ``id, ra, dec`` (deg, at ``meta['ref_epoch']`` = 2016.0), ``pmra, pmdec``
        (mas/yr; pmra includes cos Dec), ``kind`` (star, pair, saturated, galaxy), ``mag`` (AB,
        reference band), ``color`` (mag per micron of wavelength, positive = redder),
        ``snr_target`` (NaN unless ``star_snr``), ``r_eff`` (arcsec), ``sersic_n``, ``ellip``,
        ``theta`` (rad) for galaxies.
    """
    rng = np.random.default_rng(seed)
    ra0, dec0 = float(center[0]), float(center[1])
    half = size_arcsec / 2.0 / 3600.0
    n_single = int(n_stars) + int(n_saturated) + int(n_galaxies) + int(n_pairs)
    xi = rng.uniform(-half, half, n_single)
    eta = rng.uniform(-half, half, n_single)
    kinds = np.array(["star"] * int(n_stars) + ["saturated"] * int(n_saturated) + ["galaxy"] * int(n_galaxies)
                     + ["pair"] * int(n_pairs))
    # Second members of pairs: 0.10-0.25" away (about 1.3-3 FWHM for HST in the optical).
    sep = rng.uniform(0.10, 0.25, int(n_pairs)) / 3600.0
    pa = rng.uniform(0, 2 * np.pi, int(n_pairs))
    pair_first = np.nonzero(kinds == "pair")[0]
    xi = np.concatenate([xi, xi[pair_first] + sep * np.sin(pa)])
    eta = np.concatenate([eta, eta[pair_first] + sep * np.cos(pa)])
    kinds = np.concatenate([kinds, np.array(["pair"] * int(n_pairs))])
    n = kinds.size
    ra, dec = tangent_to_sky(xi, eta, ra0, dec0, unit="deg")
    is_star = kinds != "galaxy"
    mag = np.where(is_star, rng.uniform(*star_mag_range, n), rng.uniform(*galaxy_mag_range, n))
    mag = np.where(kinds == "saturated", rng.uniform(star_mag_range[0] - 4.0, star_mag_range[0] - 2.0, n), mag)
    color = np.where(is_star, rng.normal(0.0, 0.6, n), rng.normal(0.8, 0.6, n))
    snr_target = np.full(n, np.nan)
    if star_snr is not None:
        lo, hi = np.log10(star_snr[0]), np.log10(star_snr[1])
        sel = (kinds == "star") | (kinds == "pair")
        snr_target[sel] = 10 ** rng.uniform(lo, hi, sel.sum())
    pmra = np.where(is_star, rng.normal(0.0, pm_sigma_mas_yr, n), 0.0)
    pmdec = np.where(is_star, rng.normal(0.0, pm_sigma_mas_yr, n), 0.0)
    r_eff = np.where(is_star, 0.0, np.exp(rng.normal(np.log(0.25), 0.5, n)).clip(0.06, 1.2))
    sersic_n = np.where(is_star, 0.0, rng.choice([0.7, 1.0, 1.5, 2.5, 4.0], n))
    ellip = np.where(is_star, 0.0, rng.uniform(0.0, 0.65, n))
    theta = np.where(is_star, 0.0, rng.uniform(0, np.pi, n))
    truth = Table(
        [np.arange(1, n + 1), ra, dec, pmra, pmdec, kinds, mag, color, snr_target, r_eff, sersic_n, ellip, theta],
        names=["id", "ra", "dec", "pmra", "pmdec", "kind", "mag", "color", "snr_target", "r_eff", "sersic_n",
               "ellip", "theta"])
    for col, unit in (("ra", "deg"), ("dec", "deg"), ("pmra", "mas/yr"), ("pmdec", "mas/yr"), ("mag", "mag"),
                      ("r_eff", "arcsec"), ("theta", "rad")):
        truth[col].unit = unit
    truth.meta.update({"ref_epoch": _REF_EPOCH, "center": [ra0, dec0], "size_arcsec": float(size_arcsec),
                       "seed": int(seed), "generator": "helpers.simulate.make_truth"})
    return truth


def _propagate(truth, epoch):
    """Positions (deg) at ``epoch`` by linear proper motion on the tangent plane (exact to µas
    over decades for mas/yr motions)."""
    dt = float(epoch) - float(truth.meta.get("ref_epoch", _REF_EPOCH))
    dec = np.asarray(truth["dec"], float) + np.asarray(truth["pmdec"], float) * dt / MAS_PER_DEG
    ra = np.asarray(truth["ra"], float) + np.asarray(truth["pmra"], float) * dt / MAS_PER_DEG / np.cos(
        np.radians(np.asarray(truth["dec"], float)))
    return ra % 360.0, dec


# ----------------------------------------------------------------------------------------------
# Images
# ----------------------------------------------------------------------------------------------
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


def _build_wcs(spec, center, scale, sip_coeffs=None, shift_mas=(0.0, 0.0), rotation_arcsec=0.0, scale_ppm=0.0):
    ny, nx = spec.shape
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"] if sip_coeffs is None else ["RA---TAN-SIP", "DEC--TAN-SIP"]
    w.wcs.crpix = [(nx + 1) / 2.0, (ny + 1) / 2.0]  # FITS 1-based centre
    ra_c, dec_c = center
    dra = shift_mas[0] / MAS_PER_DEG / math.cos(math.radians(dec_c))
    w.wcs.crval = [(ra_c + dra) % 360.0, dec_c + shift_mas[1] / MAS_PER_DEG]
    pa = math.radians(spec.orientat + rotation_arcsec / 3600.0)
    s = scale / 3600.0 * (1.0 + scale_ppm * 1e-6)
    # +y at position angle `orientat` East of North; East to the left (parity -1).
    w.wcs.cd = s * np.array([[-math.cos(pa), math.sin(pa)], [math.sin(pa), math.cos(pa)]])
    w.wcs.radesys = "ICRS"
    w.wcs.equinox = 2000.0
    w.pixel_shape = (nx, ny)
    if sip_coeffs is not None:
        from astropy.wcs import Sip

        a, b = sip_coeffs
        w.sip = Sip(a, b, None, None, w.wcs.crpix)
    w.wcs.set()
    return w


def _sip_coefficients(shape):
    """A small quadratic distortion: up to ~0.3 px at the corners of the image."""
    ny, nx = shape
    r = max(nx, ny) / 2.0
    a = np.zeros((3, 3))
    b = np.zeros((3, 3))
    a[2, 0] = 0.2 / r**2
    a[1, 1] = -0.1 / r**2
    b[0, 2] = 0.15 / r**2
    b[1, 1] = 0.08 / r**2
    return a, b


def _systematic_offsets(spec, x, y, scale):
    """Injected position systematic in pixels (dx, dy) at pixel positions x, y."""
    if spec.systematic in (None, "", "none"):
        return np.zeros_like(x), np.zeros_like(y)
    amp_pix = spec.systematic_mas / 1000.0 / scale
    nx = spec.shape[1]
    if spec.systematic == "seam":
        return np.where(x > nx / 2.0, amp_pix, 0.0), np.zeros_like(y)
    if spec.systematic == "wave":
        k = 2 * np.pi / (spec.systematic_scale_arcsec / scale)
        return amp_pix * np.sin(k * y), amp_pix * np.cos(k * x)
    raise WorkbookError(f"unknown systematic {spec.systematic!r}; use None, 'seam' or 'wave'")


class _PRF:
    """Fast vectorised sampling of an oversampled pixel-response array (cubic spline)."""

    def __init__(self, psf):
        self.os = int(np.atleast_1d(psf.oversampling)[0])
        data = np.asarray(psf.data, float)
        self.coeffs = ndimage.spline_filter(data, order=3)
        grad_y, grad_x = np.gradient(data)
        self.gx = ndimage.spline_filter(grad_x * self.os, order=3)  # per output pixel
        self.gy = ndimage.spline_filter(grad_y * self.os, order=3)
        self.center = (data.shape[0] - 1) / 2.0
        self.half_pix = (data.shape[0] // self.os) // 2

    def sample(self, dx, dy, which="value"):
        """PRF at offsets (dx, dy) in output pixels from the source centre (arrays)."""
        arr = {"value": self.coeffs, "gx": self.gx, "gy": self.gy}[which]
        coords = np.stack([self.center + np.ravel(dy) * self.os, self.center + np.ravel(dx) * self.os])
        return ndimage.map_coordinates(arr, coords, order=3, prefilter=False, mode="constant",
                                       cval=0.0).reshape(np.shape(dx))


def _stamp_offsets(x, y, radius):
    """Integer pixel grids of (2r+1)² around each source and offsets from the source centre."""
    ix = np.rint(x).astype(int)
    iy = np.rint(y).astype(int)
    k = np.arange(-radius, radius + 1)
    px, py = np.broadcast_arrays(ix[:, None, None] + k[None, None, :], iy[:, None, None] + k[None, :, None])
    return px, py, px - x[:, None, None], py - y[:, None, None]


def _scatter_add(image, px, py, values):
    """Add stamp values into ``image`` at integer pixels (px, py), dropping those off the edge."""
    ny, nx = image.shape
    ok = (px >= 0) & (px < nx) & (py >= 0) & (py < ny)
    image += np.bincount(py[ok] * nx + px[ok], weights=values[ok], minlength=nx * ny).reshape(ny, nx)


def _add_block(image, x0, y0, block):
    """Add a rectangular ``block`` whose lower-left pixel is (x0, y0), clipped to the image."""
    ny, nx = image.shape
    h, w = block.shape
    xa, ya = max(x0, 0), max(y0, 0)
    xb, yb = min(x0 + w, nx), min(y0 + h, ny)
    if xa < xb and ya < yb:
        image[ya:yb, xa:xb] += block[ya - y0:yb - y0, xa - x0:xb - x0]


def _flux_for_snr(snr, prf_peak_stamp, background_e, exptime):
    """Total flux (e-/s) giving optimal (PSF-weighted) SNR = ``snr`` for a star on background
    ``background_e`` (variance per pixel, e-) with PRF stamp ``p`` (sums to ~1)."""
    p = prf_peak_stamp.ravel()
    p = p[p > 0]
    # Solve sum (F t p)^2 / (F t p + B) = snr^2 for F t by Newton iterations (vectorised).
    snr = np.asarray(snr, float)
    ft = snr * np.sqrt(background_e / np.sum(p**2))  # background-limited start
    for _ in range(30):
        s = ft[:, None] * p[None, :]
        f = np.sum(s**2 / (s + background_e), axis=1) - snr**2
        dfdft = np.sum(p[None, :] * (s**2 + 2 * s * background_e) / (s + background_e) ** 2, axis=1)
        ft = np.maximum(ft - f / dfdft, 1e-6)
    return ft / exptime


def _sersic_bn(n):
    """Sérsic b_n such that r_eff encloses half the light: P(2n, b_n) = 1/2."""
    from scipy.special import gammaincinv

    return gammaincinv(2.0 * n, 0.5)


def _galaxy_stamps(rows, x, y, flux, psf_kernel, scale):
    """Yield (x0, y0, block): PSF-convolved Sérsic galaxy stamps and their lower-left pixel.

    The profile is evaluated on a 3x3 sub-pixel grid for compact galaxies (integrating it over the pixel) and
    convolved with the pixel-sampled PSF; normalised to the requested total flux.
    """
    from scipy.signal import fftconvolve

    bn_cache = {}
    for row, xc, yc, f in zip(rows, x, y, flux):
        n = float(row["sersic_n"])
        bn = bn_cache.setdefault(n, _sersic_bn(n))
        r_pix = max(float(row["r_eff"]) / scale, 0.5)
        radius = int(min(max(5 * r_pix, 8), 48))
        sub = 3 if r_pix < 4 else 1  # sub-pixel integration matters only for compact cores
        ix, iy = int(round(xc)), int(round(yc))
        k = (np.arange(-radius * sub, (radius + 1) * sub) + 0.5) / sub - 0.5
        dx = k[None, :] + (ix - xc)
        dy = k[:, None] + (iy - yc)
        theta, q = float(row["theta"]), 1.0 - float(row["ellip"])
        ct, st = math.cos(theta), math.sin(theta)
        major = dx * ct + dy * st
        minor = -dx * st + dy * ct
        rr = np.sqrt(major**2 + (minor / q) ** 2)
        fine = np.exp(-bn * ((rr / r_pix) ** (1.0 / n) - 1.0))
        m = 2 * radius + 1
        img = fine.reshape(m, sub, m, sub).mean(axis=(1, 3))
        img = fftconvolve(img, psf_kernel, mode="same")
        total = img.sum()
        if not np.isfinite(total) or total <= 0:
            continue
        img *= f / total
        yield ix - radius, iy - radius, img


def make_image(truth, spec):
    """Render one image of a truth table.

    Parameters
    ----------
    truth : `~astropy.table.Table`
        From :func:`make_truth`.
    spec : ImageSpec

    Returns
    -------
    image : SimulatedImage
        ``image.truth`` has one row per source whose centre falls in the image: ``id, kind,
        ra, dec`` (true, at ``spec.epoch``, deg), ``x, y`` (0-based pixel where the source was
        rendered, systematic included), ``x_wcs, y_wcs`` (where the *header* WCS puts the true
        sky position, i.e. including the known WCS error), ``dx_sys, dy_sys`` (pix), ``flux``
        (e-/s), ``mag`` (AB), ``snr`` (optimal, PSF-weighted, point sources), ``crb_x, crb_y``
        (Cramér–Rao bound per axis, pixels, position and flux unknown; NaN for galaxies),
        ``saturated`` (bool).
    """
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
    radius_for = np.select([peak_e < 2e3, peak_e < 5e4, peak_e < 1e6], [10, 16, 24], prf.half_pix - 1)
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

    return [make_image(truth, spec) for spec in tqdm(specs, desc="simulating images", disable=not progress)]


def demo_field(size_pix=3000):
    """The embedded offline demo: a GOODS-South / HUDF-like field seen three ways.

    Three independent drizzled products of one truth, as a planner might find in MAST:
    ACS/WFC F606W and F814W (2004.8, CANDELS-style 0.06"/px mosaics, Gaia-aligned WCS) and a
    NIRCam F277W i2d (2023.8, 0.063"/px). Star density is boosted well above the real HUDF's so
    that every astrometric method has hundreds of pairs — the demo exercises the methods; a
    real deep field has far fewer stars (notebook 03 says how many it used).

    Parameters
    ----------
    size_pix : int
        Side of the ACS images in pixels (0.06"/px; 3000 px = 180").

    Returns
    -------
    truth : `~astropy.table.Table`
    specs : list of ImageSpec
    """
    from ..config import DEMO_FIELD

    center = (DEMO_FIELD["ra"], DEMO_FIELD["dec"])
    side = size_pix * 0.06
    truth = make_truth(center=center, size_arcsec=side * 1.08, n_stars=int(900 * (side / 180.0) ** 2),
                       n_galaxies=int(1400 * (side / 180.0) ** 2), n_pairs=int(40 * (side / 180.0) ** 2),
                       n_saturated=6, star_mag_range=(19.5, 28.0), seed=2004)
    nircam_px = int(round(size_pix * 0.06 / 0.063))
    specs = [
        ImageSpec(instrument="ACS/WFC", filter="F814W", shape=(size_pix, size_pix), center=center, pixel_scale=0.06,
                  orientat=0.0, epoch=2004.8, exptime=12000.0, n_exposures=8, sky=0.12, seed=11,
                  wcs_shift_mas=(1.5, -1.0), name="hst_9978_acs_wfc_f814w_demo"),
        ImageSpec(instrument="ACS/WFC", filter="F606W", shape=(size_pix, size_pix), center=center, pixel_scale=0.06,
                  orientat=0.0, epoch=2004.8, exptime=10000.0, n_exposures=8, sky=0.10, seed=12,
                  wcs_shift_mas=(-2.0, 2.5), wcs_rotation_arcsec=0.05, name="hst_9978_acs_wfc_f606w_demo"),
        ImageSpec(instrument="NIRCAM", filter="F277W", shape=(nircam_px, nircam_px), center=center,
                  pixel_scale=0.063, orientat=20.0, epoch=2023.8, exptime=6000.0, n_exposures=6, sky=0.25,
                  seed=13, wcs_shift_mas=(4.0, -3.0), chip_gap=False, name="jw01180_nircam_f277w_demo"),
    ]
    return truth, specs


# ----------------------------------------------------------------------------------------------
# Reference catalogs and perturbations
# ----------------------------------------------------------------------------------------------
def gaia_like_catalog(truth, g_limit=21.0, seed=3, bright_limit=12.0):
    """A Gaia DR3-like catalog of the truth's stars, with G-dependent errors.

    Position and proper-motion errors follow the shape of Lindegren et al. (2021, A&A 649, A2,
    table 4) for 5-parameter solutions: about 0.02 mas at G < 15 rising to ~0.5 mas (position)
    and ~0.5 mas/yr (proper motion) at G = 20 and ~1.5 mas / 1.4 mas/yr at G = 21. Positions are
    at epoch 2016.0 (the DR3 reference epoch) and scattered by those errors.

    Parameters
    ----------
    truth : `~astropy.table.Table`
        From :func:`make_truth` (``mag`` used as G).
    g_limit : float
        Faintest G kept.
    seed : int

    Returns
    -------
    gaia : `~astropy.table.Table`
        Columns as in the Gaia archive: ``source_id, ra, dec, ra_error, dec_error`` (mas),
        ``pmra, pmdec, pmra_error, pmdec_error`` (mas/yr), ``parallax, parallax_error`` (mas),
        ``phot_g_mean_mag``, ``ref_epoch`` (yr), ``astrometric_params_solved``.
    """
    rng = np.random.default_rng(seed)
    stars = truth[(np.asarray(truth["kind"]).astype(str) != "galaxy")]
    g = np.asarray(stars["mag"], float)
    keep = (g < g_limit) & (g > bright_limit)
    stars = stars[keep]
    g = g[keep]
    # Lindegren+2021-like error curve (mas), 2016.0 positions.
    pos_err = 0.02 + 0.5 * 10 ** (0.4 * (g - 20.0) * 1.2) * (g > 13)
    pos_err = np.clip(pos_err, 0.02, None)
    pm_err = np.clip(0.025 + 0.5 * 10 ** (0.4 * (g - 20.0) * 1.2), 0.025, None)
    n = len(stars)
    ra_err = pos_err * rng.uniform(0.9, 1.1, n)
    dec_err = pos_err * rng.uniform(0.9, 1.1, n)
    pmra_err = pm_err * rng.uniform(0.9, 1.1, n)
    pmdec_err = pm_err * rng.uniform(0.9, 1.1, n)
    cosd = np.cos(np.radians(np.asarray(stars["dec"], float)))
    gaia = Table()
    gaia["source_id"] = np.int64(4_600_000_000_000_000_000) + np.asarray(stars["id"], np.int64)
    gaia["ra"] = np.asarray(stars["ra"], float) + rng.normal(0, 1, n) * ra_err / MAS_PER_DEG / cosd
    gaia["dec"] = np.asarray(stars["dec"], float) + rng.normal(0, 1, n) * dec_err / MAS_PER_DEG
    gaia["ra_error"] = ra_err
    gaia["dec_error"] = dec_err
    gaia["pmra"] = np.asarray(stars["pmra"], float) + rng.normal(0, 1, n) * pmra_err
    gaia["pmdec"] = np.asarray(stars["pmdec"], float) + rng.normal(0, 1, n) * pmdec_err
    gaia["pmra_error"] = pmra_err
    gaia["pmdec_error"] = pmdec_err
    gaia["parallax"] = rng.normal(0.2, 0.1, n)
    gaia["parallax_error"] = pos_err * 1.2
    gaia["phot_g_mean_mag"] = g
    gaia["ref_epoch"] = np.full(n, 2016.0)
    gaia["astrometric_params_solved"] = np.full(n, 31, dtype=np.int16)
    gaia["truth_id"] = np.asarray(stars["id"])
    for col, unit in (("ra", "deg"), ("dec", "deg"), ("ra_error", "mas"), ("dec_error", "mas"),
                      ("pmra", "mas/yr"), ("pmdec", "mas/yr"), ("pmra_error", "mas/yr"), ("pmdec_error", "mas/yr"),
                      ("parallax", "mas"), ("parallax_error", "mas"), ("phot_g_mean_mag", "mag"), ("ref_epoch", "yr")):
        gaia[col].unit = unit
    gaia.meta.update({"catalog": "Gaia DR3 (simulated replay)", "ref_epoch": 2016.0,
                      "generator": "helpers.simulate.gaia_like_catalog"})
    return gaia


def perturb_catalog(table, sigma_mas, seed=0, ra_col="ra", dec_col="dec"):
    """Copy of a catalog with known Gaussian position scatter added per axis.

    Parameters
    ----------
    table : `~astropy.table.Table`
        Must have RA/Dec columns in degrees.
    sigma_mas : float or array
        1σ scatter per axis (along RA·cos Dec and Dec), mas; an array gives one σ per row.
    seed : int

    Returns
    -------
    out : `~astropy.table.Table`
        With ``ra_err, dec_err`` (mas) set to ``sigma_mas`` and ``meta['injected_sigma_mas']``.
    """
    rng = np.random.default_rng(seed)
    out = table.copy()
    n = len(out)
    sigma = np.broadcast_to(np.asarray(sigma_mas, float), (n,))
    dec = np.asarray(out[dec_col], float)
    out[ra_col] = (np.asarray(out[ra_col], float)
                   + rng.normal(0, 1, n) * sigma / MAS_PER_DEG / np.cos(np.radians(dec))) % 360.0
    out[dec_col] = dec + rng.normal(0, 1, n) * sigma / MAS_PER_DEG
    out[ra_col].unit = "deg"
    out[dec_col].unit = "deg"
    out["ra_err"] = np.array(sigma)
    out["dec_err"] = np.array(sigma)
    out["ra_err"].unit = "mas"
    out["dec_err"].unit = "mas"
    out.meta["injected_sigma_mas"] = float(np.median(sigma))
    return out
