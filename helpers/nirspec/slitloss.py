"""Slit-loss consequence model: what a catalog precision costs in NIRSpec MSA throughput (notebook 03).

A JWST-like diffraction PSF (:func:`jwst_like_psf`, segmented obscured pupil), the fraction of a
point source's light through one open shutter as a function of its offset
(:func:`slit_throughput_grid`), the probability that a source stays inside each APT
centering-constraint zone (:func:`zone_probabilities`, zones from :func:`centering_constraints`),
and what a catalog sigma plus the MSATA pointing error cost in throughput
(:func:`slit_throughput_consequence`).

Units: sigmas and offsets in mas where named ``*_mas``, MSA geometry in arcsec, wavelengths in micron.
NIRSpec physics, upstream of :mod:`helpers.astrometry` (which re-exports it): imports no other
helpers module than :mod:`helpers.nirspec.shutters`, and no matplotlib.
"""

import functools
import math

import numpy as np

from ..errors import WorkbookError
from .shutters import CENTERING_CONSTRAINTS, SHUTTER_OPEN_ARCSEC, SHUTTER_PITCH_ARCSEC

__all__ = [
    "centering_constraints",
    "jwst_like_psf",
    "slit_throughput_grid",
    "zone_probabilities",
    "slit_throughput_consequence",
    "msata_error_mas",
]


# --------------------------------------------------------------------------- consequence model
def centering_constraints():
    """Centering-constraint zones: half-sizes (dispersion, spatial) of the region, centred on the
    shutter, where the source centre must lie (arcsec), from :data:`helpers.nirspec.CENTERING_CONSTRAINTS`
    (APT/hMPT/vMPT margins inset from the 0.2679" x 0.5294" pitch; the same zones ``msa`` counts with).

    Returns
    -------
    zones : dict
        ``{name: (x_half, y_half)}``, loosest first.
    """
    return {name: (float(x_half), float(y_half)) for name, x_half, y_half, _ in CENTERING_CONSTRAINTS}


def _jwst_pupil(n_pix=256, diameter_m=6.6):
    """JWST-like pupil: 18 hexagonal 1.32 m segments (flat-to-flat), 7 mm gaps, 0.74 m central
    obscuration and three 0.1 m struts (JWST OTE: Lightsey et al. 2012, Proc. SPIE 8442)."""
    seg_f2f, gap = 1.32, 0.007
    half = diameter_m * 0.6  # pupil grid half-width, m
    dx = 2 * half / n_pix
    c = (np.arange(n_pix) - n_pix / 2 + 0.5) * dx
    X, Y = np.meshgrid(c, c)
    pitch = seg_f2f + gap
    pupil = np.zeros_like(X, bool)
    # hex grid with flat tops: centres at axial coordinates (q, r) with |q|,|r|,|q+r| <= 2, excluding the centre
    for q in range(-2, 3):
        for r in range(-2, 3):
            s = -q - r
            if max(abs(q), abs(r), abs(s)) == 0 or max(abs(q), abs(r), abs(s)) > 2:
                continue
            cx = pitch * (q + r / 2.0)
            cy = pitch * (r * math.sqrt(3) / 2.0)
            u, v = np.abs(X - cx), np.abs(Y - cy)
            apo = seg_f2f / 2.0  # apothem; pointy-top hexagon in this orientation
            # pointy-top hexagon with apothem a: |x| <= a and |x|/2 + |y| sqrt(3)/2 <= a
            inside = (u <= apo) & (u / 2.0 + v * math.sqrt(3) / 2.0 <= apo)
            pupil |= inside
    pupil &= np.hypot(X, Y) > 0.74 / 2
    for ang in (90.0, 210.0, 330.0):
        a = math.radians(ang)
        along = X * math.cos(a) + Y * math.sin(a)
        across = -X * math.sin(a) + Y * math.cos(a)
        pupil &= ~((along > 0) & (np.abs(across) < 0.05))
    return pupil.astype(float), dx


@functools.lru_cache(maxsize=16)
def jwst_like_psf(wavelength_um, n_fft=1024, n_pupil=256):
    """A JWST-like monochromatic diffraction PSF (Fraunhofer FFT of a segmented, obscured pupil).

    Parameters
    ----------
    wavelength_um : float
        Wavelength, micron.
    n_fft, n_pupil : int
        FFT size and pupil sampling (pixels across the pupil grid).

    Returns
    -------
    psf : ndarray (n_fft, n_fft)
        Normalised to a total of 1 over the whole (infinite) plane (Parseval), centred at
        ``n_fft // 2``.
    pixel_arcsec : float
        Sampling of ``psf``.

    Notes
    -----
    No wavefront error, no detector or NIRSpec fore-optics blur: a best case whose slit losses
    are lower limits. Good enough to show how losses grow with mis-centring.
    """
    wavelength_um, n_fft, n_pupil = _check_psf_arguments(wavelength_um, n_fft, n_pupil)
    pupil, dx = _jwst_pupil(n_pupil)
    field = np.zeros((n_fft, n_fft))
    field[:n_pupil, :n_pupil] = pupil
    amp = np.fft.fftshift(np.fft.fft2(field))
    psf = np.abs(amp) ** 2
    psf /= np.sum(pupil ** 2) * n_fft ** 2  # Parseval: sum |FFT|^2 = N^2 sum |pupil|^2
    pixel_arcsec = math.degrees(wavelength_um * 1e-6 / (n_fft * dx)) * 3600.0
    return psf, pixel_arcsec


def _check_psf_arguments(wavelength_um, n_fft, n_pupil):
    from ..validate import require_number

    wavelength_um = require_number(wavelength_um, "wavelength_um", minimum=0.1, maximum=30.0, example="2.0")
    n_pupil = require_number(n_pupil, "n_pupil", minimum=16, maximum=4096, integer=True, example="256")
    n_fft = require_number(n_fft, "n_fft", minimum=n_pupil, maximum=8192, integer=True, example="1024")
    return wavelength_um, n_fft, n_pupil


def slit_throughput_grid(wavelengths_um=(1.0, 2.0, 3.0, 4.0, 5.0), open_arcsec=SHUTTER_OPEN_ARCSEC,
                         half_range_arcsec=(0.35, 0.5), step_arcsec=0.005):
    """Fraction of a point source's light through one open shutter as a function of its offset.

    Integrates :func:`jwst_like_psf` over the open area for a grid of offsets, using the PSF's
    summed-area table (bilinear between pixel edges): vectorised, computed once.

    Parameters
    ----------
    wavelengths_um : sequence of float
    open_arcsec : (float, float)
        Open area (dispersion, spatial), arcsec.
    half_range_arcsec : (float, float)
        Offsets covered along each axis, arcsec.
    step_arcsec : float

    Returns
    -------
    grid : dict
        ``dx, dy`` (1-D offset axes, arcsec), ``wavelengths_um``, ``throughput``
        (n_lambda, n_dy, n_dx) fraction of the total flux.
    """
    from ..validate import require_array, require_number
    step_arcsec = require_number(step_arcsec, "step_arcsec", minimum=1e-4, maximum=0.1, example="0.005")
    open_arcsec = require_array(open_arcsec, "open_arcsec", what="arcsec", allow_nan=False)
    half_range_arcsec = require_array(half_range_arcsec, "half_range_arcsec", what="arcsec", allow_nan=False)
    if open_arcsec.size != 2 or half_range_arcsec.size != 2 or (open_arcsec <= 0).any() or (half_range_arcsec <= 0).any():
        raise WorkbookError("open_arcsec and half_range_arcsec are (dispersion, spatial) pairs of positive arcsec; e.g. (0.2, 0.46)")
    from scipy.ndimage import map_coordinates

    ox = np.arange(-half_range_arcsec[0], half_range_arcsec[0] + step_arcsec / 2, step_arcsec)
    oy = np.arange(-half_range_arcsec[1], half_range_arcsec[1] + step_arcsec / 2, step_arcsec)
    OX, OY = np.meshgrid(ox, oy)
    from ..validate import require_array
    wavelengths_um = require_array(wavelengths_um, "wavelengths_um", what="wavelengths in micron", allow_nan=False)
    out = np.empty((len(wavelengths_um),) + OX.shape)
    w, h = open_arcsec[0] / 2.0, open_arcsec[1] / 2.0
    for k, lam in enumerate(wavelengths_um):
        psf, pix = jwst_like_psf(float(lam))
        n = psf.shape[0]
        sat = np.zeros((n + 1, n + 1))
        sat[1:, 1:] = psf.cumsum(0).cumsum(1)
        # edge e (0..n) sits at (e - n/2 - 0.5) pixels from the PSF centre pixel n//2
        def edge(v):
            return v / pix + n / 2 + 0.5

        # the aperture is at -offset relative to the source
        x1, x2 = edge(-OX - w), edge(-OX + w)
        y1, y2 = edge(-OY - h), edge(-OY + h)

        def s(yv, xv):
            return map_coordinates(sat, [yv.ravel(), xv.ravel()], order=1, mode="nearest").reshape(yv.shape)

        out[k] = s(y2, x2) - s(y2, x1) - s(y1, x2) + s(y1, x1)
    return {"dx": ox, "dy": oy, "wavelengths_um": tuple(float(v) for v in wavelengths_um), "throughput": out,
            "open_arcsec": tuple(open_arcsec)}


def zone_probabilities(sigma_x_mas, sigma_y_mas, msata_mas=20.0, zones=None, planned="centre"):
    """Probability that each source stays inside each centering-constraint zone.

    A zone is the rectangle of half-sizes ``(x_half, y_half)`` around the shutter centre where
    the source centre must lie (:func:`centering_constraints`). The source's true position
    differs from the planned one by its catalog error and the MSATA pointing error
    (independent Gaussians per axis).

    Parameters
    ----------
    sigma_x_mas, sigma_y_mas : array-like
        Catalog 1-sigma errors along the dispersion and spatial directions, mas (use RA/Dec
        errors when the orientation is not chosen yet).
    msata_mas : float
        1-sigma per-axis accuracy of MSA target acquisition, mas (~20 mas with a 5-10 mas catalog).
    zones : dict, optional
        ``{name: (x_half, y_half)}`` arcsec; default :func:`centering_constraints`.
    planned : {'centre', 'uniform', 'cell'}
        Source planned at the zone centre; anywhere in the zone with equal probability; or
        anywhere in the shutter pitch cell (0.2679" x 0.5294") with equal probability -- with
        ``'cell'`` the probability at sigma -> 0 is the zone's geometric acceptance
        (:func:`helpers.nirspec.geometric_acceptance`).

    Returns
    -------
    probabilities : `~astropy.table.Table`
        One column per zone (probability 0-1), one row per source.

    Examples
    --------
    >>> p = zone_probabilities([5.0], [5.0], msata_mas=0.0)
    >>> float(p["Unconstrained"][0]) > 0.999
    True
    """
    from astropy.table import Table
    from scipy.special import erf

    from ..validate import require_array, require_number

    zones = zones or centering_constraints()
    msata_mas = require_number(msata_mas, "msata_mas", minimum=0.0, example="20.0")
    sigma_x_mas = require_array(sigma_x_mas, "sigma_x_mas", ndim=None, what="1-sigma errors in mas", allow_nan=False)
    sigma_y_mas = require_array(sigma_y_mas, "sigma_y_mas", ndim=None, what="1-sigma errors in mas", allow_nan=False)
    sx = np.sqrt(sigma_x_mas ** 2 + msata_mas ** 2) / 1000.0
    sy = np.sqrt(sigma_y_mas ** 2 + msata_mas ** 2) / 1000.0
    sx, sy = np.maximum(sx, 1e-9), np.maximum(sy, 1e-9)
    out = Table()
    if planned not in ("centre", "uniform", "cell"):
        raise WorkbookError(f"planned = {planned!r}; use 'centre', 'uniform' or 'cell'")
    n_quad = 2000  # quadrature nodes over the planned position for 'uniform' / 'cell'
    for name, (hx, hy) in zones.items():
        hx, hy = max(hx, 1e-6), max(hy, 1e-6)

        def p1(half, s, cell_half):
            if planned == "centre":
                return erf(half / (math.sqrt(2) * s))
            # planned position uniform over the zone ('uniform') or the whole pitch cell ('cell');
            # midpoint rule so that the sigma -> 0 limit is exact (fraction of nodes inside)
            span = half if planned == "uniform" else cell_half
            x0 = (np.arange(n_quad) + 0.5 - n_quad / 2) / (n_quad / 2) * span
            x0 = x0[:, None]
            return np.mean(0.5 * (erf((half - x0) / (math.sqrt(2) * s)) + erf((half + x0) / (math.sqrt(2) * s))), axis=0)

        out[name] = p1(hx, sx, SHUTTER_PITCH_ARCSEC[0] / 2) * p1(hy, sy, SHUTTER_PITCH_ARCSEC[1] / 2)
    return out


def msata_error_mas(sigma_cat_mas, n_ref=6, floor_mas=20.0):
    """MSATA pointing error per axis: ``sqrt(floor^2 + sigma_cat^2 / n_ref)``, mas.

    The one MSATA model of the workbook, used by :func:`slit_throughput_consequence` (the cost figure),
    by notebook 03's zone table and re-exported by :mod:`helpers.astrometry`: MSATA fits the pointing to ``n_ref``
    reference stars whose catalog errors average down, on top of a floor (~20 mas for a 5-10 mas
    catalog; JDox MSATA pages).

    Parameters
    ----------
    sigma_cat_mas : float or array_like
        Catalog 1-sigma per axis, mas.
    n_ref : int
        MSATA reference stars (5-8).
    floor_mas : float

    Returns
    -------
    float or ndarray

    Examples
    --------
    >>> round(float(msata_error_mas(10.0, n_ref=6)), 2)
    20.41
    """
    try:
        sig = np.atleast_1d(np.asarray(sigma_cat_mas, dtype=float))
    except (TypeError, ValueError):
        raise WorkbookError(f"sigma_cat_mas = {sigma_cat_mas!r} must be numbers (1-sigma per axis, mas)") from None
    if np.any(sig[np.isfinite(sig)] < 0):
        raise WorkbookError("sigma_cat_mas has negative values; catalog sigmas are >= 0 mas")
    try:
        n_ref, floor_mas = float(n_ref), float(floor_mas)
    except (TypeError, ValueError):
        raise WorkbookError(f"n_ref = {n_ref!r} and floor_mas = {floor_mas!r} must be numbers") from None
    if not (n_ref >= 1 and floor_mas >= 0):
        raise WorkbookError(f"n_ref = {n_ref!r} must be >= 1 and floor_mas = {floor_mas!r} >= 0")
    out = np.sqrt(floor_mas ** 2 + sig ** 2 / n_ref)
    return out if np.ndim(sigma_cat_mas) else float(out[0])


def slit_throughput_consequence(sigma_cat_mas=None, wavelengths_um=(1.0, 2.0, 3.0, 4.0, 5.0), msata_floor_mas=20.0,
                                n_ref=6, n_mc=20000, seed=0, grid=None):
    """What a catalog precision costs: offsets from shutter centre and the light through the shutter.

    For each catalog sigma (per axis), a source planned at the shutter centre lands at an offset
    drawn from N(0, sigma_cat^2 + sigma_TA^2) per axis, where the MSATA pointing error is assumed
    sigma_TA = sqrt(msata_floor^2 + sigma_cat^2 / n_ref) (:func:`msata_error_mas`; MSATA fits the pointing to ``n_ref``
    reference stars from the same catalog; with a 5-10 mas catalog this gives ~20 mas, JDox
    "NIRSpec MOS Operations - Target Acquisition"). The throughput through the 0.20"x0.46" open area
    of a JWST-like PSF (:func:`slit_throughput_grid`) is averaged over those offsets (Monte Carlo).

    Parameters
    ----------
    sigma_cat_mas : array-like, optional
        Catalog sigmas to evaluate, mas (default 25 values from 1 to 100, log-spaced).
    wavelengths_um : sequence of float
    msata_floor_mas : float
        MSATA accuracy floor per axis, mas.
    n_ref : int
        MSATA reference stars.
    n_mc : int
        Monte Carlo draws per sigma.
    seed : int
    grid : dict, optional
        A precomputed :func:`slit_throughput_grid`.

    Returns
    -------
    consequence : dict
        ``sigma_cat_mas``, ``sigma_ta_mas``, ``sigma_total_mas`` (per axis), ``offset_median_mas``,
        ``offset_p90_mas`` (radial), ``throughput_centred`` (n_lambda), ``throughput_mean``,
        ``throughput_p10`` (n_lambda, n_sigma: 10% of sources get less), ``relative_mean``
        (mean / centred), ``zone_probability`` (dict zone -> array over sigma, planned at centre),
        ``wavelengths_um``, ``assumptions`` (text).
    """
    from scipy.ndimage import map_coordinates

    from ..validate import require_array, require_number

    if sigma_cat_mas is not None:
        sigma_cat_mas = require_array(sigma_cat_mas, "sigma_cat_mas", what="catalog sigmas in mas", allow_nan=False)
        if (sigma_cat_mas < 0).any():
            raise WorkbookError("sigma_cat_mas holds negative values; give catalog sigmas >= 0 mas")
    n_mc = require_number(n_mc, "n_mc", minimum=10, maximum=10**7, integer=True, example=20000)
    require_number(seed, "seed", minimum=0, integer=True, allow_none=True, example=0)
    grid_keys = ("dx", "dy", "throughput", "wavelengths_um", "open_arcsec")
    if grid is not None and (not isinstance(grid, dict) or any(k not in grid for k in grid_keys)):
        raise WorkbookError(f"grid = {grid!r:.40} is not a throughput grid; pass slit_throughput_grid(...) or None")
    sig = np.geomspace(1, 100, 25) if sigma_cat_mas is None else np.atleast_1d(np.asarray(sigma_cat_mas, float))
    grid = grid or slit_throughput_grid(wavelengths_um)
    ox, oy, thr = grid["dx"], grid["dy"], grid["throughput"]
    step_x, step_y = ox[1] - ox[0], oy[1] - oy[0]
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((2, n_mc))
    sig_ta = msata_error_mas(sig, n_ref=n_ref, floor_mas=msata_floor_mas)
    sig_tot = np.sqrt(sig ** 2 + sig_ta ** 2)
    nl = thr.shape[0]
    mean = np.empty((nl, sig.size))
    p10 = np.empty((nl, sig.size))
    med_off, p90_off = np.empty(sig.size), np.empty(sig.size)
    ci = (np.abs(oy) < 1e-9).argmax(), (np.abs(ox) < 1e-9).argmax()
    for j, s in enumerate(sig_tot):
        dx, dy = z[0] * s / 1000.0, z[1] * s / 1000.0
        r = np.hypot(dx, dy) * 1000.0
        med_off[j], p90_off[j] = np.median(r), np.quantile(r, 0.9)
        fx = np.clip((dx - ox[0]) / step_x, 0, ox.size - 1)
        fy = np.clip((dy - oy[0]) / step_y, 0, oy.size - 1)
        for k in range(nl):
            t = map_coordinates(thr[k], [fy, fx], order=1, mode="nearest")
            mean[k, j], p10[k, j] = t.mean(), np.quantile(t, 0.1)
    centred = thr[:, ci[0], ci[1]]
    zp = zone_probabilities(sig_tot, sig_tot, msata_mas=0.0)  # sig_tot already includes MSATA
    return {"sigma_cat_mas": sig, "sigma_ta_mas": sig_ta, "sigma_total_mas": sig_tot,
            "offset_median_mas": med_off, "offset_p90_mas": p90_off,
            "wavelengths_um": grid["wavelengths_um"], "throughput_centred": centred,
            "throughput_mean": mean, "throughput_p10": p10, "relative_mean": mean / centred[:, None],
            "zone_probability": {name: np.asarray(zp[name]) for name in zp.colnames},
            "assumptions": (f"source planned at the shutter centre; MSATA error per axis sqrt({msata_floor_mas:g}^2 + "
                            f"sigma_cat^2/{n_ref}) mas (~20 mas for a 5-10 mas catalog); JWST-like diffraction PSF "
                            "(segmented 6.6 m pupil, no wavefront error); open area "
                            f"{grid['open_arcsec'][0]:.2f}\" x {grid['open_arcsec'][1]:.2f}\"")}
