"""Cosmic rays: detections sharper than the image's own point spread function.

A cosmic-ray hit deposits its charge in one pixel or along a track a pixel wide (ACS Instrument
Handbook, section 4.3.6: 1.5-2 % of the pixels per 1000 s, most events 1-10 pixels); it is not
blurred by the telescope's optics, so it is narrower and more peaked than any star. Two measures
on the background-subtracted image, per detection, around its peak:

* ``sharpness``: the brightest pixel over the 3x3 sum around it (a star with FWHM 2 px: ~0.2;
  a one-pixel hit: ~1);
* ``minor_sigma``: the rms width (pixels) along the narrowest axis of the 5x5 light distribution
  (a star: >= FWHM/2.35 combined with the pixel; a track one pixel wide: ~0.3).

CR-like sources are first removed by a physical bound no pixel-sampled optical PSF reaches
(``sharpness`` > :data:`SHARPNESS_MAX_OPTICAL` or ``minor_sigma`` < :data:`MINOR_SIGMA_MIN_OPTICAL`),
so that the stellar locus is drawn from stars; then, against that locus, a source is CR-like when
it is significantly sharper than the image's point sources (:func:`_cosmic_ray_like`).
"""

import numpy as np

from .stamps import _stamp_index

#: Peak/3x3 fraction of a critically undersampled PSF (FWHM 1.0 px pixel-integrated Gaussian: 0.52);
#: above this the light was not spread by optics.
SHARPNESS_MAX_OPTICAL = 0.6
#: Minor-axis rms (pixels) of the same PSF (0.42 px plus the pixel's sqrt(1/12)); a 1-pixel-wide
#: track measures ~0.3.
MINOR_SIGMA_MIN_OPTICAL = 0.42


def _shape_measures(sub, x, y, pixel_noise=None, with_major=False):
    """``sharpness`` (peak / 3x3 sum) and ``minor_sigma`` (pixels) around the brightest pixel of
    the 3x3 box at each rounded position of the background-subtracted image ``sub``; with
    ``pixel_noise`` (per-source pixel σ, image units) also ``sharpness_err`` (propagated noise); with
    ``with_major`` also ``major_sigma`` (pixels, the rms width along the widest axis of the same 5x5
    light: a star's is the locus's, an unresolved pair 1-2 FWHM apart is wider along its axis), last."""
    n = len(x)
    if n == 0:
        return (np.zeros(0),) * (2 + (pixel_noise is not None) + bool(with_major))
    px, py, inside = _stamp_index(x, y, 1, sub.shape)
    box = np.where(inside, sub[py, px], -np.inf).reshape(n, -1)
    best = np.argmax(box, axis=1)
    cx = px.reshape(n, -1)[np.arange(n), best].astype(float)
    cy = py.reshape(n, -1)[np.arange(n), best].astype(float)
    px, py, inside = _stamp_index(cx, cy, 2, sub.shape)
    v = np.clip(np.where(inside, sub[py, px], 0.0), 0.0, None).astype(float)
    core = v[:, 1:4, 1:4]
    total3 = core.sum(axis=(1, 2))
    sharpness = np.where(total3 > 0, core.max(axis=(1, 2)) / np.where(total3 > 0, total3, 1.0), np.nan)
    k = np.arange(-2, 3, dtype=float)
    tot = v.sum(axis=(1, 2))
    tot = np.where(tot > 0, tot, np.nan)
    mx = (v * k[None, None, :]).sum(axis=(1, 2)) / tot
    my = (v * k[None, :, None]).sum(axis=(1, 2)) / tot
    cxx = (v * k[None, None, :] ** 2).sum(axis=(1, 2)) / tot - mx**2
    cyy = (v * k[None, :, None] ** 2).sum(axis=(1, 2)) / tot - my**2
    cxy = (v * k[None, None, :] * k[None, :, None]).sum(axis=(1, 2)) / tot - mx * my
    half_trace = 0.5 * (cxx + cyy)
    minor = half_trace - np.sqrt(np.maximum(0.25 * (cxx - cyy) ** 2 + cxy**2, 0.0))
    minor_sigma = np.sqrt(np.maximum(minor, 0.0))
    extra = (np.sqrt(np.maximum(2 * half_trace - minor, 0.0)),) if with_major else ()
    if pixel_noise is None:
        return (sharpness, minor_sigma) + extra
    # d(p/S)/dp = (1-s)/S for the peak pixel, -s/S for each of the 8 others
    s = np.nan_to_num(sharpness)
    sharpness_err = np.asarray(pixel_noise) * np.sqrt((1 - s) ** 2 + 8 * s**2) / np.where(total3 > 0, total3, np.nan)
    return (sharpness, minor_sigma, np.nan_to_num(sharpness_err, nan=np.inf)) + extra


def _physically_sharp(sharpness, minor_sigma):
    """True where no optical PSF could be this sharp (a cosmic ray, a hot pixel)."""
    return (np.nan_to_num(sharpness) > SHARPNESS_MAX_OPTICAL) | (np.nan_to_num(minor_sigma, nan=1.0)
                                                                  < MINOR_SIGMA_MIN_OPTICAL)


def _cr_locus(sharpness, minor_sigma, locus_mask, major_sigma=None):
    """The stellar locus of the measures: median and robust scatter (1.4826 MAD) over
    ``locus_mask`` (bright, compact sources that are not physically sharp); None values and
    ``n`` < 5 when there are too few (then only the physical bound applies). ``major_sigma`` (from
    ``_shape_measures(..., with_major=True)``) adds its locus too."""
    n = int(np.sum(locus_mask))
    names = ("sharpness", "minor_sigma") + (("major_sigma",) if major_sigma is not None else ())
    if n < 5:
        return dict({k: None for name in names for k in (name, name + "_scatter")}, n=n)
    out = {"n": n}
    for name, values in zip(names, (sharpness, minor_sigma, major_sigma)):
        v = values[locus_mask & np.isfinite(values)]
        med = float(np.median(v))
        out[name], out[name + "_scatter"] = med, 1.4826 * float(np.median(np.abs(v - med)))
    return out


def _cr_against_locus(sharpness, minor_sigma, snr, locus, n_sigma=4.0, sharpness_err=None, parts=False):
    """CR-like detections against the image's own stellar locus.

    Parameters
    ----------
    sharpness, minor_sigma : ndarray
        From :func:`_shape_measures` (minor_sigma in pixels).
    snr : ndarray
        Aperture signal-to-noise: both measures scatter by ~1/SNR (relative), so a faint star is
        not taken for a cosmic ray.
    locus : dict
        From :func:`_cr_locus`.
    n_sigma : float
        How far beyond the locus, in locus scatter and measurement noise combined.
    sharpness_err : ndarray, optional
        Propagated pixel noise of ``sharpness`` (:func:`_shape_measures`); default ``sharpness/SNR``.

    parts : bool
        Return the three verdicts (physical, too peaked, too narrow) instead of their union.

    Returns
    -------
    cr_like : ndarray of bool
        Physically sharp, or more peaked / narrower than the locus by ``n_sigma``.
    """
    physical = _physically_sharp(sharpness, minor_sigma)
    if locus.get("sharpness") is None:
        none = np.zeros_like(physical)
        return (physical, none, none) if parts else physical
    rel = 1.0 / np.clip(np.nan_to_num(snr), 1.0, None)
    s0, m0 = locus["sharpness"], locus["minor_sigma"]
    # Margins: n_sigma of the locus scatter and of the measurement noise, and never less than
    # 40 % (sharpness) / 25 % (width) of the locus: the pixel phase of an undersampled PSF moves
    # both by ~20 % and a clean image must give no artifacts (tested on simulations).
    # the propagated noise underestimates at low SNR (the peak pixel is chosen by the noise): >= 2 s0/SNR
    # (float64: a float32 error near its largest value, e.g. a zero-flux peak, overflows the margins)
    s_noise = 2.0 * s0 * rel if sharpness_err is None else np.maximum(np.asarray(sharpness_err, float), 2.0 * s0 * rel)
    s_margin = np.maximum(n_sigma * np.hypot(locus["sharpness_scatter"], s_noise), 0.4 * s0)
    # the 5x5 second moment of a faint source is noisy: ~3/SNR relative (measured on simulations)
    m_margin = np.maximum(n_sigma * np.hypot(locus["minor_sigma_scatter"], 3.0 * m0 * rel), 0.25 * m0)
    too_peaked = np.nan_to_num(sharpness) > s0 + s_margin
    too_narrow = np.nan_to_num(minor_sigma, nan=m0) < m0 - m_margin
    return (physical, too_peaked, too_narrow) if parts else physical | too_peaked | too_narrow
