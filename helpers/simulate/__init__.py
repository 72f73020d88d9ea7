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

Not modelled by ``make_image``: correlated noise from drizzling, cosmic-ray residuals, PSF variation
across the field, charge-transfer inefficiency. The drizzled test bed (``exposures``, ``drizzled``)
models the first two the way real products get them: detector exposures with SIAF distortion,
cosmic rays, hot pixels and bleeding, combined by STScI's ``drizzle`` engine.

The exact Cramér–Rao bound (Fisher information of the pixel-integrated PSF with position and
flux unknown) is computed per star and stored with the truth, so estimator efficiency is measured
against the bound of that very star, not an approximation.

Submodules (concern; where the workbook uses it):

``presets``
    ``INSTRUMENTS``, ``FILTERS`` and unit constants (every submodule; ``archive_replay``, ``astrometry``).
``psf``
    Pupils and the polychromatic, pixel-integrated diffraction PSF, ``make_psf``
    (images; ``astrometry.injection_psf``, notebook 03).
``truth``
    ``make_truth``, proper-motion propagation, ``decimal_year_to_mjd`` (all images; 01 replay).
``geometry``
    The image WCS (TAN/TAN-SIP, known WCS error) and injected position systematics.
``render``
    Pixel-response sampling, star and Sérsic-galaxy stamps, flux for a target SNR.
``images``
    ``ImageSpec``, ``SimulatedImage`` (FITS output), ``make_image``, ``make_images``
    (the images notebook 01 replays and notebook 02 measures).
``catalogs``
    ``gaia_like_catalog``, ``perturb_catalog`` (01 replay's Gaia and HSC; tests of 03).
``detectors``
    ``DETECTORS`` (noise, cosmic rays, DQ bits per detector) and the SIAF distortion as SIP.
``exposures``
    ``ExposureSpec``, ``make_exposure``: flt/flc- and cal-like exposures on the detector.
``drizzled``
    ``make_drizzled``, ``drizzle_exposures``: a dither drizzled by ``drizzle`` into drz/drc/i2d
    products, with the exposures' Cramér–Rao bound in the truth; ``isolated``.
``mosaic``
    ``make_mosaic`` behind ``make_image`` for ``ImageSpec(drizzled=True)``: tiles, each with its
    own dither, of both ACS/WFC (WFC3/UVIS) chips placed by pysiaf with the real inter-chip gap, or
    of a NIRCam detector, drizzled one exposure at a time into one output frame (the demo's
    products), with the bound summed over every exposure that saw each star.
``limits``
    ``joint_exposure_fit`` (the fit on the exposures' pixels that reaches the bound) and
    ``score_catalog`` (scatter/bound and pulls of a catalog on the test bed).
``demo``
    ``demo_field``: the offline demo's truth and image specs, rendered by the drizzled bed
    (01 replay, 02 fallback).

No submodule is notebook glue: notebooks reach this package through ``archive`` and ``sources``.
"""

from .catalogs import gaia_like_catalog, perturb_catalog
from .demo import demo_field
from .detectors import DETECTORS
from .drizzled import DrizzledProduct, drizzle_exposures, isolated, make_drizzled
from .exposures import Exposure, ExposureSpec, make_exposure
from .geometry import _build_wcs, _systematic_offsets  # noqa: F401  (used by tests and benchmarks)
from .images import ImageSpec, SimulatedImage, make_image, make_images
from .limits import joint_exposure_fit, score_catalog
from .presets import FILTERS, INSTRUMENTS
from .psf import make_psf
from .render import _PRF, inject_gaussian_stars  # noqa: F401  (_PRF used by tests)
from .truth import decimal_year_to_mjd, make_truth

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
    "inject_gaussian_stars",
    "decimal_year_to_mjd",
    "DETECTORS",
    "ExposureSpec",
    "Exposure",
    "make_exposure",
    "DrizzledProduct",
    "make_drizzled",
    "drizzle_exposures",
    "isolated",
    "joint_exposure_fit",
    "score_catalog",
]
