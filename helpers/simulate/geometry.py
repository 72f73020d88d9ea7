"""Pixel-to-sky geometry of a simulated image: the TAN (or TAN-SIP) WCS, with or without the
spec's known WCS error, the small SIP distortion, and the injected position systematics."""

import math

import numpy as np
from astropy.wcs import WCS

from ..errors import WorkbookError
from .presets import MAS_PER_DEG


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


def _smooth_field(func, shape, step=16):
    """Evaluate a smooth map of pixel coordinates on every pixel of ``shape`` (ny, nx).

    ``func(x, y)`` (0-based pixel arrays) returns one array or a tuple of arrays. It is evaluated
    exactly on a grid every ``step`` pixels (edges included) and interpolated by bicubic splines.
    Geometric maps (SIP distortion, TAN projection, their Jacobians) are low-order polynomials or
    close to them over a detector, so the interpolation error is ~1e-9 px (pixmaps) and ~1e-12 (pixel areas) at ``step=16``
    on an ACS/WFC chip, which costs ~0.2 s this way instead of ~3 s of per-pixel WCS transforms
    (``tests/test_simulate_mosaic.py`` checks the error).
    """
    from scipy.interpolate import RectBivariateSpline

    ny, nx = (int(v) for v in shape)
    gx = np.unique(np.r_[np.arange(0, nx, step), nx - 1]).astype(float)
    gy = np.unique(np.r_[np.arange(0, ny, step), ny - 1]).astype(float)
    if gx.size < 4 or gy.size < 4:  # too small for bicubic splines: evaluate every pixel
        y, x = np.mgrid[0:ny, 0:nx].astype(float)
        return func(x, y)
    xx, yy = np.meshgrid(gx, gy)
    values = func(xx, yy)
    single = not isinstance(values, tuple)
    px, py = np.arange(nx, dtype=float), np.arange(ny, dtype=float)
    maps = tuple(RectBivariateSpline(gy, gx, np.asarray(v, float), kx=3, ky=3)(py, px)
                 for v in ((values,) if single else values))
    return maps[0] if single else maps
