"""PSF model: cubic spline of an oversampled pixel response, its FWHM and Cramér–Rao bound."""

import math

import numpy as np

from ..errors import WorkbookError


class _PRF:
    """Vectorised value and gradient of an oversampled PSF model (photutils ImagePSF-like).

    The model is normalised so that its samples on the pixel grid sum to 1 (photutils'
    convention for ImagePSF data: samples sum to oversampling²).
    """

    def __init__(self, psf):
        from scipy import ndimage
        from scipy.interpolate import RectBivariateSpline

        data = np.asarray(getattr(psf, "data", psf), float)
        if data.ndim != 2 or not np.all(np.isfinite(data)):
            raise WorkbookError("the PSF model must be a finite 2-D oversampled array (photutils ImagePSF); "
                                "pass psf=None to build an empirical PSF from the image")
        os_ = np.atleast_1d(getattr(psf, "oversampling", 1))
        self.os = int(os_[0])
        origin = getattr(psf, "origin", None)
        if origin is None:
            origin = ((data.shape[1] - 1) / 2.0, (data.shape[0] - 1) / 2.0)
        self.cx, self.cy = float(origin[0]), float(origin[1])
        total = data.sum() / self.os**2
        data = data / total if total > 0 else data
        self.half_pix = min(self.cx, data.shape[1] - 1 - self.cx, self.cy, data.shape[0] - 1 - self.cy) / self.os
        # Exact derivatives of the interpolating spline at the samples, re-splined (per output pixel).
        spline = RectBivariateSpline(np.arange(data.shape[0]), np.arange(data.shape[1]), data, kx=3, ky=3, s=0)
        yy, xx = np.arange(data.shape[0]), np.arange(data.shape[1])
        grad_x = spline(yy, xx, dy=1) * self.os  # RectBivariateSpline: first axis is "x" of the call
        grad_y = spline(yy, xx, dx=1) * self.os
        self.coeffs = ndimage.spline_filter(data, order=3)
        self.cgx = ndimage.spline_filter(grad_x, order=3)
        self.cgy = ndimage.spline_filter(grad_y, order=3)
        self.data = data
        self.fwhm = psf_fwhm(psf) if hasattr(psf, "data") else float("nan")

    def sample(self, dx, dy, grad=False):
        """Model at offsets (dx, dy) (pixels) from the source centre; optionally its gradient
        with respect to the offsets (∂P/∂dx, ∂P/∂dy)."""
        from scipy import ndimage

        shape = np.shape(dx)
        coords = np.stack([self.cy + np.ravel(dy) * self.os, self.cx + np.ravel(dx) * self.os])
        kw = dict(order=3, prefilter=False, mode="constant", cval=0.0)
        value = ndimage.map_coordinates(self.coeffs, coords, **kw).reshape(shape)
        if not grad:
            return value
        gx = ndimage.map_coordinates(self.cgx, coords, **kw).reshape(shape)
        gy = ndimage.map_coordinates(self.cgy, coords, **kw).reshape(shape)
        return value, gx, gy


def psf_fwhm(psf):
    """FWHM in output pixels of an oversampled PSF model (photutils ImagePSF-like).

    Mean of the half-maximum widths along the central row and column, crossings found by linear
    interpolation; ``psf.fwhm_pix`` is returned when the model carries it.

    Parameters
    ----------
    psf : `photutils.psf.ImagePSF`

    Returns
    -------
    fwhm : float
        Pixels.
    """
    if getattr(psf, "fwhm_pix", None):
        return float(psf.fwhm_pix)
    if not hasattr(psf, "data"):
        raise WorkbookError(f"psf is a {type(psf).__name__}, not a PSF model with .data; pass a photutils ImagePSF "
                            "(e.g. the image's psf from helpers.simulate or build_epsf)")
    data = np.asarray(psf.data, float)
    os_ = int(np.atleast_1d(getattr(psf, "oversampling", 1))[0])
    cy, cx = np.unravel_index(np.argmax(data), data.shape)
    widths = []
    for cut, c in ((data[cy, :], cx), (data[:, cx], cy)):
        half = cut[c] / 2.0
        sides = []
        for direction in (1, -1):
            prof = cut[c::direction]
            k = int(np.argmax(prof < half))
            if k == 0:
                k = len(prof) - 1
            frac = (prof[k - 1] - half) / max(prof[k - 1] - prof[k], 1e-30)
            sides.append(k - 1 + frac)
        widths.append(sum(sides))
    return float(np.mean(widths)) / os_


def crb_curve(psf, snr, n_phase=4):
    """Background-limited Cramér–Rao bound per axis of a PSF-model position, pixels.

    For a star of optimal signal-to-noise ``snr`` on a flat background (pixel noise σ_b), the
    Fisher information for x is F²Σ(∂P/∂x)²/σ_b² and SNR² = F²ΣP²/σ_b², so
    σ_x ≥ √(ΣP² / Σ(∂P/∂x)²) / SNR (flux and position decouple for a symmetric PSF). Averaged over
    sub-pixel phases. Bright stars on a faint sky are photon-limited and do somewhat better (Poisson
    noise of the source itself; e.g. 0.42·FWHM/SNR instead of 0.60·FWHM/SNR for a Gaussian).

    Parameters
    ----------
    psf : `photutils.psf.ImagePSF`
    snr : float or array
    n_phase : int
        Sub-pixel phases per axis averaged over.

    Returns
    -------
    sigma : ndarray
        Pixels, same shape as ``snr``.
    """
    from ..validate import require_array, require_number

    snr = require_array(snr, "snr", ndim=None, what="signal-to-noise ratios")
    n_phase = require_number(n_phase, "n_phase", minimum=1, maximum=16, integer=True, example="4")
    if not hasattr(psf, "data") and np.ndim(psf) != 2:
        raise WorkbookError(f"psf is a {type(psf).__name__}, not a PSF model or a 2-D array; pass a photutils ImagePSF")
    return _crb_coef(_PRF(psf), n_phase) / snr


def _crb_coef(prf, n_phase=4):
    """σ_CRB · SNR (pixels) of a PSF model, background-limited, averaged over sub-pixel phases."""
    r = int(min(prf.half_pix - 1, 15))
    k = np.arange(-r, r + 1, dtype=float)
    coef = []
    for phase in (np.arange(n_phase) + 0.5) / n_phase - 0.5:
        dx, dy = np.meshgrid(k - phase, k - phase / 2)
        p, gx, _ = prf.sample(dx, dy, grad=True)
        coef.append(np.sqrt(np.sum(p**2) / np.sum(gx**2)))
    return float(np.mean(coef))


def _psf_size(psf, fwhm):
    """2·r50 (pixels) of a PSF model measured as on the image (sep.flux_radius, rmax 4.5 FWHM ≈ 6a)."""
    import sep

    prf = _PRF(psf)
    r = int(max(12, math.ceil(6 * fwhm)))
    k = np.arange(-r, r + 1, dtype=float)
    img = np.ascontiguousarray(prf.sample(*np.meshgrid(k, k)), dtype=np.float64)
    r50, _ = sep.flux_radius(img, np.array([float(r)]), np.array([float(r)]), np.array([4.5 * fwhm]), 0.5, subpix=1)
    return float(2 * r50[0])
