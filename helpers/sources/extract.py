"""Source extraction with calibrated per-source position errors (notebook 02).

The catalog this module writes is the input of every later step, so its positions *and* their
1σ errors have to be right. Two estimators are used:

* **Windowed centroid** (the fast path, every source). SExtractor's ``XWIN/YWIN``: the
  centroid of the pixels weighted by a circular Gaussian window of σ_w = 2·r50/2.35
  (r50 = half-light radius), iterated until the window is centred on the centroid
  (Bertin & Arnouts 1996; SExtractor manual, "Windowed positional parameters"). Computed with
  `sep` (Barbary 2016, JOSS 1, 58), the C library of SExtractor's algorithms. Its error is the
  linear propagation of the per-pixel variance through the converged centroid equation
  ``G(x̄) = Σ w_i(x̄) I_i (x_i − x̄) = 0``:
  ``δx̄ = J⁻¹ Σ w_i (x_i − x̄) δI_i`` with the 2×2 Jacobian
  ``J = Σ w_i I_i [1 − (x_i − x̄)²/σ_w², ...]``. For a Gaussian source and matched window
  J = ½ Σ w I, which is SExtractor's ``ERRX2WIN = 4 Σ w² σ² (x − x̄)² / (Σ w I)²``; the
  Jacobian form also holds for unmatched windows. Two systematic terms are added in quadrature,
  both measured rather than assumed: a small fixed floor (``WINDOWED_FLOOR_FWHM`` × FWHM) and,
  when PSF fits are available, the image's own sub-pixel-phase bias of windowed centroids on its
  undersampled PSF, measured from windowed − PSF-fit differences of bright stars
  (``meta['windowed_floor_pix']``; ~0.01–0.02 px at FWHM 1.7 px, where the windowed centroid alone
  is 2–10× the Cramér–Rao bound at SNR > 60). Faint sources get a window at least 0.6× a point
  source's, so that a noise-shrunken half-light radius cannot make the window meaninglessly small.
* **PSF fit** (the full path, point-like sources). A vectorised weighted Gauss–Newton fit of
  (x, y, flux, local background) on a small stamp around every point source at once, with the
  PSF as a cubic spline of an oversampled pixel-response model: a supplied
  `photutils.psf.ImagePSF` (e.g. the true PSF of a simulation) or an **empirical PSF (ePSF)**
  built from the image's own bright, isolated, unsaturated stars (`build_epsf`, in the spirit of
  Anderson & King 2000, PASP 112, 1360; oversampling 4). In a single image the ePSF's shape and
  the stars' sub-pixel positions are degenerate: a model built on windowed centroids inherits
  their phase bias. The ePSF is therefore anchored on tapered centres of mass, which are free of
  phase bias for PSFs band-limited below 1 cycle/pixel (HST and JWST at drizzled scales). The
  ePSF's own position error is added in quadrature to ePSF-fit errors in two parts: a statistical
  one measured per image by refitting bright stars with two bootstrap replicates of the ePSF (same
  stars, an independent noise realisation added to their pixels, anchors re-measured;
  ``meta['epsf_error_pix']`` = rms(x_A − x_B)/√2), and the construction's systematic floor
  ``EPSF_FLOOR_FWHM`` × FWHM (a phase-dependent construction error shared by every replicate, so
  no resampling of one image can see it; measured on undersampled simulations, where without it
  bright-star pulls were 1.15–1.45 at FWHM 1.6–1.7 px). photutils' ``EPSFBuilder`` was tried
  first: ~10 s for 60 stars and 5× the bound at SNR 300 on the HST-like simulations (its
  smoothing and recentring leave pixel-phase errors).
  Pixels are weighted by 1/variance; the variance is the ``ERR`` array squared when given (it
  includes the source's Poisson noise, as HST and JWST pipelines' ``ERR`` arrays do), otherwise
  the background variance (``1/WHT`` or the background RMS) plus the model's Poisson term
  (``model/gain``) when ``gain`` is known. Neighbours' fitted models are subtracted and the fit is
  repeated. The 1σ errors are the square roots of the diagonal of the inverse Fisher matrix
  (the covariance of the maximum-likelihood estimate, which reaches the Cramér–Rao bound), scaled
  by √χ²_ν only when the fit is significantly worse than the noise. A source keeps the PSF-fit
  position only where its error is smaller than the windowed one (``method`` says which).

Calibration is checked with pulls on simulations (``tests/test_sources.py``,
``benchmarks/bench_sources.py``): std 0.9–1.1 per SNR bin for isolated, unflagged point sources.

Pixel convention: 0-based, the centre of the first pixel is (0, 0) (astropy/photutils); the
sky position is ``wcs.pixel_to_world_values(x, y)`` (all distortion terms included).

Large images are processed in overlapping tiles (``tile_size`` core + ``tile_overlap`` margin on
each side); a source belongs to the tile whose core contains its detection centre, so the tiles'
catalogs join without duplicates or losses. Images above ``auto_tile_pixels`` are tiled even when
no tiling was asked for, and FITS files are read tile by tile (``ImageHDU.section``), so memory
stays bounded by the tile size.
"""

import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.table import Table

from .._io import atomic_path
from ..errors import WorkbookError

__all__ = [
    "FLAG_SATURATED",
    "FLAG_EDGE",
    "FLAG_BLENDED",
    "FLAG_MASKED",
    "FLAG_PSF_FAILED",
    "extract_sources",
    "extract_sources_fits",
    "read_image",
    "write_catalog",
    "build_epsf",
    "psf_fwhm",
    "crb_curve",
    "field_images",
    "extract_field_images",
    "flag_summary",
    "SourceExtractionWarning",
]

FLAG_SATURATED = 1
FLAG_EDGE = 2
FLAG_BLENDED = 4
FLAG_MASKED = 8
FLAG_PSF_FAILED = 16

#: Flag bits and the names used in summaries, in bit order.
FLAG_NAMES = ((FLAG_SATURATED, "saturated"), (FLAG_EDGE, "edge"), (FLAG_BLENDED, "blended"),
              (FLAG_MASKED, "masked"), (FLAG_PSF_FAILED, "psf failed"))


def flag_summary(catalogs):
    """One row per catalog: sources, point-like, unflagged, and the count of each flag.

    Parameters
    ----------
    catalogs : dict
        Name (e.g. product id) -> source catalog (schema of docs/DEVELOPING.md).

    Returns
    -------
    summary : `~astropy.table.Table`
        Columns ``product_id, sources, point, unflagged`` and one per flag name.
    """
    from astropy.table import Table

    rows = []
    for name, cat in catalogs.items():
        flags = np.asarray(cat["flags"])
        rows.append((name, len(cat), int(np.sum(np.asarray(cat["kind"]) == "point")), int(np.sum(flags == 0)),
                     *(int(np.sum(flags & bit > 0)) for bit, _ in FLAG_NAMES)))
    return Table(rows=rows, names=("product_id", "sources", "point", "unflagged", *(n for _, n in FLAG_NAMES)))


#: Columns of the catalog in output order (see docs/DEVELOPING.md, "The source catalog schema").
SCHEMA = ("id", "x", "y", "x_err", "y_err", "ra", "dec", "ra_err", "dec_err", "flux", "flux_err", "snr",
          "fwhm", "kind", "flags", "method")

MAS_PER_DEG = 3.6e6

#: Systematic error floor of windowed centroids, in units of the FWHM, added in quadrature to the
#: propagated noise error. A Gaussian window on an undersampled, non-Gaussian (diffraction) PSF
#: leaves a sub-pixel-phase-dependent bias: on the HST-like simulations (ACS/WFC F814W at 0.05"/px,
#: FWHM 2 px) isolated stars at SNR 180-450 scatter 1.2x the Cramér–Rao bound with pulls 1.16
#: without the floor, i.e. an extra ~0.003 px; with it the pulls are 0.9-1.1 at every SNR.
WINDOWED_FLOOR_FWHM = 0.001

#: Systematic position error of the image-built ePSF, in units of the FWHM, added in quadrature
#: (with the per-image statistical term ``meta['epsf_error_pix']``) to ePSF-fit errors. The ePSF's
#: shape and the stars' sub-pixel positions are degenerate in one image; the construction (anchors
#: on tapered centres of mass, an oversampled grid filled from finitely many phases) leaves a small
#: phase-dependent error that every bootstrap replicate shares, so no resampling of the image's own
#: noise can reveal it. Measured on undersampled simulations (ACS/WFC F606W and F814W at 0.06"/px,
#: FWHM 1.6-1.7 px, stars at SNR 300-5000): the bright-star scatter exceeds the fit error plus the
#: statistical term by ~0.0010-0.0017 px, i.e. ~0.0007 FWHM, giving pulls 1.15-1.45 without it (with
#: the true positions as anchors the excess is 10-40% smaller: the anchoring is part of it).
EPSF_FLOOR_FWHM = 0.0007

#: Largest Gaussian window σ (pixels) for windowed centroids.
MAX_WINDOW_SIGMA = 4.0

#: Matched-filter noise of sep's default 3x3 detection kernel relative to the pixel noise
#: (sqrt(sum k²)/sum k): ``threshold`` is in units of the *filtered* noise, as with an error map.
_KERNEL_NOISE = 6.0 / 16.0


class SourceExtractionWarning(UserWarning):
    """Something about the extraction the user should know (no sources, no ePSF stars ...)."""


# ----------------------------------------------------------------------------------------------
# Reading images
# ----------------------------------------------------------------------------------------------
@dataclass
class _Image:
    """Where the pixels come from: in-memory arrays or FITS HDUs read by section."""

    data: object
    error: object = None
    weight: object = None
    mask: object = None

    @property
    def shape(self):
        return tuple(self.data.shape)

    def read(self, ys, xs):
        """Arrays of one tile (float32, native byte order; ``None`` for absent planes)."""
        out = []
        for arr in (self.data, self.error, self.weight):
            if arr is None:
                out.append(None)
                continue
            block = arr.section[ys, xs] if hasattr(arr, "section") else arr[ys, xs]
            out.append(np.ascontiguousarray(block, dtype=np.float32))
        if self.mask is None:
            out.append(None)
        else:
            block = self.mask.section[ys, xs] if hasattr(self.mask, "section") else self.mask[ys, xs]
            out.append(np.ascontiguousarray(block, dtype=bool))
        return out


def read_image(path):
    """Open an HST drz/drc/flt-like or JWST i2d FITS file lazily.

    Finds the science (``SCI``, else the first 2-D image HDU), ``ERR`` and ``WHT`` extensions,
    reads the celestial WCS of the science HDU and collects the metadata the catalog carries.
    Pixel data are not read here: `extract_sources_fits` reads them tile by tile.

    Parameters
    ----------
    path : str or `~pathlib.Path`

    Returns
    -------
    image : dict
        ``hdul`` (open `~astropy.io.fits.HDUList`, memory-mapped; close it when done), ``sci``,
        ``err``, ``wht`` (HDUs or None), ``wcs``, ``header`` (primary + science keywords),
        ``meta`` (``image, epoch, instrument, filter, pixel_scale, wcsname, bunit``).

    Raises
    ------
    WorkbookError
        If the file is missing, not FITS, or has no 2-D image.
    """
    from astropy.io import fits
    from astropy.wcs import WCS

    path = Path(path).expanduser()
    if not path.exists():
        raise WorkbookError(f"image file {path} does not exist; check the path (notebook 01 lists the downloaded images)")
    try:
        hdul = fits.open(path, memmap=True)
    except OSError as exc:
        raise WorkbookError(f"{path.name} is not a readable FITS file ({exc}); download it again") from None
    names = [h.name.upper() for h in hdul]
    sci = None
    if "SCI" in names:
        sci = hdul["SCI"]
    else:
        for h in hdul:
            if h.is_image and h.header.get("NAXIS", 0) >= 2:
                sci = h
                break
    if sci is None or sci.header.get("NAXIS", 0) != 2:
        ndim = None if sci is None else sci.header.get("NAXIS")
        hdul.close()
        raise WorkbookError(f"{path.name} has no 2-D science image (NAXIS={ndim}); "
                            "give a drizzled drz/drc or i2d product")
    err = hdul["ERR"] if "ERR" in names else None
    wht = hdul["WHT"] if "WHT" in names else None
    header = hdul[0].header.copy()
    for key, value in sci.header.items():
        if key not in header and key not in ("", "COMMENT", "HISTORY"):
            header[key] = value
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wcs = WCS(sci.header, hdul)
    meta = _meta_from_header(header, wcs, path)
    return {"hdul": hdul, "sci": sci, "err": err, "wht": wht, "wcs": wcs, "header": header, "meta": meta}


def _meta_from_header(header, wcs, path):
    from astropy.wcs.utils import proj_plane_pixel_scales

    instrument = str(header.get("INSTRUME", "")).strip()
    detector = str(header.get("DETECTOR", "")).strip()
    if instrument and detector and instrument.upper() in ("ACS", "WFC3"):
        instrument = f"{instrument}/{detector}"
    filt = str(header.get("FILTER", "")).strip()
    if not filt or filt.upper().startswith("CLEAR"):
        for key in ("FILTER1", "FILTER2"):
            value = str(header.get(key, "")).strip()
            if value and not value.upper().startswith("CLEAR"):
                filt = value
    epoch = None
    if "EXPSTART" in header:
        epoch = 2000.0 + (float(header["EXPSTART"]) - 51544.5) / 365.25
    elif "MJD-OBS" in header:
        epoch = 2000.0 + (float(header["MJD-OBS"]) - 51544.5) / 365.25
    scale = None
    if wcs.has_celestial:
        try:
            scale = float(np.mean(proj_plane_pixel_scales(wcs.celestial)) * 3600.0)
        except Exception:  # noqa: BLE001 - unusual WCS: the scale is only metadata
            scale = None
    return {"image": Path(path).stem, "epoch": epoch, "instrument": instrument, "filter": filt,
            "pixel_scale": scale, "wcsname": str(header.get("WCSNAME", "")).strip(),
            "bunit": str(header.get("BUNIT", "")).strip()}


# ----------------------------------------------------------------------------------------------
# PSF model: cubic spline of an oversampled pixel response
# ----------------------------------------------------------------------------------------------
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
    return _crb_coef(_PRF(psf), n_phase) / np.asarray(snr, float)


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


# ----------------------------------------------------------------------------------------------
# Stamps
# ----------------------------------------------------------------------------------------------
def _stamp_index(x, y, radius, shape):
    """Integer pixel grids (N, 2r+1, 2r+1) around rounded centres, clipped, and an inside mask."""
    ny, nx = shape
    ix = np.rint(x).astype(np.int64)
    iy = np.rint(y).astype(np.int64)
    k = np.arange(-radius, radius + 1)
    px = ix[:, None, None] + k[None, None, :]
    py = iy[:, None, None] + k[None, :, None]
    px, py = np.broadcast_arrays(px, py)
    inside = (px >= 0) & (px < nx) & (py >= 0) & (py < ny)
    return np.clip(px, 0, nx - 1), np.clip(py, 0, ny - 1), inside


def _windowed_errors(sub, noise, bad, x, y, sig):
    """1σ errors (pixels) of SExtractor windowed centroids by linear error propagation.

    See the module docstring: cov = J⁻¹ C J⁻ᵀ with C = Σ w² σ² (d dᵀ) and
    J = Σ w I (1 − d dᵀ/σ_w²) over pixels within 4 σ_w of the windowed centre.
    Returns x_err, y_err, cov_xy (pix, pix, pix²).
    """
    n = len(x)
    x_err = np.full(n, np.nan)
    y_err = np.full(n, np.nan)
    cov_xy = np.full(n, np.nan)
    if n == 0:
        return x_err, y_err, cov_xy
    sig = np.asarray(sig, float)
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    ny, nx = sub.shape
    flat_sub, flat_bad = sub.ravel(), bad.ravel()
    # Group by stamp radius to keep the arrays small for the many compact sources.
    radius_for = np.clip(np.ceil(4 * sig).astype(int), 2, 40)
    for radius in np.unique(radius_for):
        sel = np.nonzero(radius_for == radius)[0]
        k = np.arange(-radius, radius + 1)
        for chunk in np.array_split(sel, max(1, sel.size * (2 * radius + 1) ** 2 // 2_000_000 + 1)):
            cols = np.rint(x[chunk]).astype(np.int64)[:, None] + k
            rows = np.rint(y[chunk]).astype(np.int64)[:, None] + k
            dxs = cols - x[chunk, None]  # (N, K): separable offsets
            dys = rows - y[chunk, None]
            inside = (((cols >= 0) & (cols < nx))[:, None, :] & ((rows >= 0) & (rows < ny))[:, :, None])
            flat = np.clip(rows, 0, ny - 1)[:, :, None] * nx + np.clip(cols, 0, nx - 1)[:, None, :]
            s2 = sig[chunk, None, None] ** 2
            dx = dxs[:, None, :]
            dy = dys[:, :, None]
            r2 = dx**2 + dy**2
            use = inside & (r2 <= 16 * s2) & ~flat_bad.take(flat)
            w = np.where(use, np.exp(-r2 / (2 * s2)), 0.0)
            img = flat_sub.take(flat).astype(float)
            v = noise.var_flat(flat, img)
            v = np.where(use & np.isfinite(v), v, 0.0)
            wi = w * img
            total = wi.sum(axis=(1, 2))
            j_xx = total - np.sum(wi * dx**2, axis=(1, 2)) / s2[:, 0, 0]
            j_yy = total - np.sum(wi * dy**2, axis=(1, 2)) / s2[:, 0, 0]
            j_xy = -np.sum(wi * dx * dy, axis=(1, 2)) / s2[:, 0, 0]
            # Keep the Jacobian away from zero at very low SNR (its noise can make it tiny):
            # never below a quarter of the window sum (SExtractor's fixed factor is a half).
            floor = 0.25 * np.abs(total)
            j_xx = np.where(j_xx < floor, floor, j_xx)
            j_yy = np.where(j_yy < floor, floor, j_yy)
            w2v = w**2 * v
            c_xx = np.sum(w2v * dx**2, axis=(1, 2))
            c_yy = np.sum(w2v * dy**2, axis=(1, 2))
            c_xy = np.sum(w2v * dx * dy, axis=(1, 2))
            det = j_xx * j_yy - j_xy**2
            det = np.where(np.abs(det) > 0, det, np.nan)
            # inverse of the symmetric Jacobian
            a, b, d = j_yy / det, -j_xy / det, j_xx / det
            vxx = a * a * c_xx + 2 * a * b * c_xy + b * b * c_yy
            vyy = b * b * c_xx + 2 * b * d * c_xy + d * d * c_yy
            vxy = a * b * c_xx + (a * d + b * b) * c_xy + b * d * c_yy
            x_err[chunk] = np.sqrt(np.abs(vxx))
            y_err[chunk] = np.sqrt(np.abs(vyy))
            cov_xy[chunk] = vxy
    return x_err, y_err, cov_xy


# ----------------------------------------------------------------------------------------------
# Noise model
# ----------------------------------------------------------------------------------------------
class _Noise:
    """Per-pixel variance, evaluated only at the pixels that need it (stamps), so no full-size
    variance image is ever made.

    Total variance = ERR² when an error array is given (HST/JWST ERR include the source's Poisson
    noise); otherwise background variance (1/WHT, or the background RMS²) plus ``model/gain``.
    """

    def __init__(self, error=None, weight=None, scalar_rms=None, gain=None):
        # Contiguous once here, so the flat-index look-ups below never copy a tile view per call.
        self.error = None if error is None else np.ascontiguousarray(error)
        self.weight = None if weight is None else np.ascontiguousarray(weight)
        self.scalar_rms = scalar_rms
        self.gain = gain

    def var(self, py, px, model=None):
        """Per-pixel variance at integer pixels (py, px); see :meth:`var_flat`."""
        planes = self.error if self.error is not None else self.weight
        if planes is None:  # a scalar noise level: only the shape of the request matters
            flat = np.zeros(np.broadcast(py, px).shape, dtype=np.int64)
        else:
            flat = np.asarray(py, np.int64) * planes.shape[1] + np.asarray(px, np.int64)
        return self.var_flat(flat, model)

    def var_flat(self, flat, model=None):
        """Per-pixel variance at flat (raveled) pixel indices: ERR² where given, else 1/WHT,
        else the scalar rms²; plus the source's Poisson term ``model / gain`` when both are
        known. Pixels with ERR or WHT <= 0 get infinite variance (no weight)."""
        if self.error is not None:
            e = self.error.ravel().take(flat).astype(float)
            return np.where(e > 0, e * e, np.inf)
        if self.weight is not None:
            w = self.weight.ravel().take(flat).astype(float)
            v = np.where(w > 0, 1.0 / np.where(w > 0, w, 1.0), np.inf)
        else:
            v = np.full(np.shape(flat), float(self.scalar_rms) ** 2)
        if self.gain and model is not None:
            v = v + np.maximum(model, 0.0) / self.gain
        return v

    def err_image(self, sub):
        """A per-pixel 1σ image for sep's aperture sums (the ERR plane itself when given)."""
        if self.error is not None:
            return self.error
        if self.weight is not None:
            with np.errstate(divide="ignore"):
                var = np.where(self.weight > 0, 1.0 / np.where(self.weight > 0, self.weight, 1), 0).astype(np.float32)
        else:
            var = np.full(sub.shape, np.float32(self.scalar_rms) ** 2)
        if self.gain:
            var += np.maximum(sub, 0) / np.float32(self.gain)
        return np.sqrt(var)


# ----------------------------------------------------------------------------------------------
# PSF fitting
# ----------------------------------------------------------------------------------------------
def _fit_psf(sub, noise, bad, x0, y0, f0, prf, radius, n_iter=6, others=None):
    """Weighted Gauss–Newton fit of (x, y, flux, background) for all sources at once.

    Parameters
    ----------
    sub : 2-D array, background-subtracted image.
    noise : _Noise, per-pixel variance (model-based Poisson term when no ERR is given).
    others : 2-D array or None, model of all *other* sources to subtract (neighbours).

    Returns
    -------
    dict of arrays: x, y, flux, bkg, cov (N, 4, 4), chi2nu, ok.
    """
    n = len(x0)
    out = {"x": np.array(x0, float), "y": np.array(y0, float), "flux": np.array(f0, float), "bkg": np.zeros(n),
           "cov": np.full((n, 4, 4), np.nan), "chi2nu": np.full(n, np.nan), "ok": np.zeros(n, bool)}
    if n == 0:
        return out
    chunk_size = max(1, 1_500_000 // (2 * radius + 1) ** 2)
    for start in range(0, n, chunk_size):
        sl = slice(start, min(start + chunk_size, n))
        x = out["x"][sl].copy()
        y = out["y"][sl].copy()
        f = np.maximum(out["flux"][sl].copy(), 1e-30)
        b = np.zeros_like(x)
        px, py, inside = _stamp_index(x, y, radius, sub.shape)
        img = sub[py, px].astype(float)
        if others is not None:
            img = img - others[py, px]
        use = inside & ~bad[py, px]
        v_fixed = noise.var(py, px) if (noise.error is not None or not noise.gain) else None
        v0 = v_fixed if v_fixed is not None else noise.var(py, px)
        use &= np.isfinite(v0) & (v0 > 0)
        ok = np.ones(x.size, bool)
        for it in range(n_iter):
            dx = px - x[:, None, None]
            dy = py - y[:, None, None]
            p, gx, gy = prf.sample(dx, dy, grad=True)
            model = f[:, None, None] * p + b[:, None, None]
            v = v_fixed if v_fixed is not None else noise.var(py, px, model)
            w = np.where(use, 1.0 / np.where(use, v, 1.0), 0.0)
            jac = np.stack([-f[:, None, None] * gx, -f[:, None, None] * gy, p, np.ones_like(p)], axis=-1)
            resid = img - model
            jw = jac * w[..., None]
            hess = np.einsum("nijk,nijl->nkl", jw, jac)
            grad = np.einsum("nijk,nij->nk", jw, resid)
            try:
                step = np.linalg.solve(hess + np.eye(4) * 1e-30, grad[..., None])[..., 0]
            except np.linalg.LinAlgError:
                step = np.zeros_like(grad)
                ok &= False
            step = np.where(np.isfinite(step), step, 0.0)
            # Damp position steps to 0.5 px per iteration.
            big = np.maximum(np.abs(step[:, 0]), np.abs(step[:, 1]))
            scale = np.where(big > 0.5, 0.5 / np.maximum(big, 1e-30), 1.0)
            if it < n_iter - 1:
                x = x + step[:, 0] * scale
                y = y + step[:, 1] * scale
                f = f + step[:, 2] * scale
                b = b + step[:, 3] * scale
                f = np.where(f > 0, f, np.abs(f) + 1e-30)
        with np.errstate(invalid="ignore", divide="ignore"):
            cov = np.linalg.pinv(hess)
        npix = use.sum(axis=(1, 2))
        chi2 = np.sum(w * resid**2, axis=(1, 2))
        chi2nu = chi2 / np.maximum(npix - 4, 1)
        moved = np.hypot(x - out["x"][sl], y - out["y"][sl])
        ok &= np.isfinite(x) & np.isfinite(y) & (f > 0) & (moved < 1.5) & (npix > 8)
        ok &= np.isfinite(cov[:, 0, 0]) & (cov[:, 0, 0] > 0) & (cov[:, 1, 1] > 0)
        out["x"][sl], out["y"][sl], out["flux"][sl], out["bkg"][sl] = x, y, f, b
        out["cov"][sl], out["chi2nu"][sl], out["ok"][sl] = cov, chi2nu, ok
    return out


def _psf_error_floor(dx, dy, sx, sy, wx, wy, sel, max_floor=1.0):
    """Systematic error (pixels) of windowed centroids, from windowed − PSF-fit differences.

    Both estimators measure the same star; when the PSF fit is efficient (its error is the
    Cramér–Rao bound) the difference has variance σ_win² − σ_psf². A systematic error of the
    windowed centroid (its sub-pixel-phase bias on undersampled PSFs) adds σ_sys² to it. σ_sys is
    the smallest value making the robust (1.4826·MAD) standard deviation of
    d / √(max(σ_win² − σ_psf², 0.1 σ_psf²) + σ_sys²) equal to one, over bright unflagged point
    sources (0 when fewer than 10 or already consistent).
    """
    if np.sum(sel) < 10:
        return 0.0
    d = np.concatenate([dx[sel], dy[sel]])
    v = np.concatenate([np.maximum(wx[sel] ** 2 - sx[sel] ** 2, 0.1 * sx[sel] ** 2),
                        np.maximum(wy[sel] ** 2 - sy[sel] ** 2, 0.1 * sy[sel] ** 2)])
    ok = np.isfinite(d) & np.isfinite(v)
    d, v = d[ok], v[ok]
    if d.size < 20:
        return 0.0

    def robust_std(s2):
        p = d / np.sqrt(v + s2)
        return 1.4826 * np.median(np.abs(p - np.median(p)))

    if robust_std(0.0) <= 1.0:
        return 0.0
    lo, hi = 0.0, max_floor**2
    if robust_std(hi) > 1.0:
        return max_floor
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        if robust_std(mid) > 1.0:
            lo = mid
        else:
            hi = mid
    return float(np.sqrt(hi))


def _render_models(shape, x, y, flux, prf, radius):
    """Image of PSF models (flux · P) at the given positions (for neighbour subtraction)."""
    model = np.zeros(shape)
    if len(x) == 0:
        return model
    px, py, inside = _stamp_index(x, y, radius, shape)
    p = prf.sample(px - x[:, None, None], py - y[:, None, None]) * flux[:, None, None]
    ny, nx = shape
    model += np.bincount((py[inside] * nx + px[inside]), weights=p[inside], minlength=nx * ny).reshape(shape)
    return model


def build_epsf(data, x, y, variance=None, bad=None, fwhm=2.5, oversampling=4, radius=None, n_iter=16,
               smoothing=0.0, _noise=None):
    """Empirical PSF (ePSF) from stars of an image, Anderson & King (2000, PASP 112, 1360) style.

    Every pixel of every star is a sample of the pixel-integrated PSF at a known sub-pixel offset
    ((pixel − star centre), value (I − b)/F). The samples are accumulated on a grid oversampled
    ``oversampling`` times (bilinear weights, inverse-variance weighted by the star's SNR), then
    the stars are refitted with the new model (vectorised Gauss–Newton, see `extract_sources`) and
    the *residuals* of the samples against the model are accumulated again as a correction,
    ``n_iter`` times. Iterating on residuals removes the blur the binning would otherwise leave,
    and the model is re-centred on its centroid (a point-symmetric PSF's centre) each time.

    photutils' `~photutils.psf.EPSFBuilder` was measured on the HST-like simulations first: ~10 s
    for 60 stars and 5× the Cramér–Rao bound at SNR 300 (pixel-phase errors of its smoothed
    model); this builder takes ~0.2 s and reaches ~1.0–1.1× (``benchmarks/bench_sources.py``).

    Parameters
    ----------
    data : 2-D array
        Background-subtracted image.
    x, y : arrays
        0-based positions (e.g. windowed centroids) of bright, isolated, unsaturated, point-like
        stars; 20–200 stars spread over sub-pixel phases.
    variance : 2-D array, optional
        Per-pixel variance (ERR²); default uniform.
    bad : 2-D bool array, optional
        Pixels to ignore.
    fwhm : float
        Approximate FWHM (pixels); sets the model radius (default max(6, 4·FWHM) pixels).
    oversampling : int
    radius : int, optional
        Model half-size in pixels.
    n_iter : int
    smoothing : float
        Gaussian σ (grid nodes) of the normalised-convolution smoothing of each correction.

    Returns
    -------
    epsf : `photutils.psf.ImagePSF`
        Samples sum to ``oversampling**2`` (1 on the pixel grid); ``epsf.fwhm_pix`` and
        ``epsf.meta`` (``n_stars``, ``model``) are set.

    Raises
    ------
    WorkbookError
        With fewer than 5 stars.
    """
    from photutils.psf import ImagePSF
    from scipy import ndimage

    x = np.asarray(x, float)
    y = np.asarray(y, float)
    if x.size < 5:
        raise WorkbookError(f"only {x.size} bright isolated stars for an empirical PSF (need >= 5); "
                            "supply a PSF model (psf=...) or set use_psf_fit=False")
    data = np.asarray(data)
    os_ = int(oversampling)
    R = int(radius or max(6, math.ceil(4 * fwhm)))
    c = R * os_
    n_nodes = 2 * c + 1
    if bad is None:
        bad = np.zeros(data.shape, bool)
    if _noise is None:
        _noise = _Noise(error=np.sqrt(variance) if variance is not None else None, scalar_rms=1.0)
    px, py, inside = _stamp_index(x, y, R, data.shape)
    img = data[py, px].astype(float)
    var = _noise.var(py, px, img)
    use = inside & ~bad[py, px] & np.isfinite(img) & np.isfinite(var) & (var > 0)
    xs, ys = x.copy(), y.copy()
    rr = np.hypot(px - x[:, None, None], py - y[:, None, None])
    flux = np.sum(np.where(use & (rr <= R), img, 0.0), axis=(1, 2))
    bkg = np.zeros_like(flux)
    keep = flux > 0
    grid = np.zeros((n_nodes, n_nodes))
    prf = None
    fit_radius = int(max(3, min(R - 2, math.ceil(2.5 * fwhm))))
    for _ in range(n_iter):
        if prf is not None:
            # Positions stay at the input centroids: in a single image the PSF shape and the stars'
            # sub-pixel positions are degenerate (a phase-dependent warp of the model can be absorbed
            # by phase-dependent position shifts), so refitting positions would let the model drift.
            # Windowed centroids are unbiased for point-symmetric PSFs; fluxes and local
            # backgrounds are refitted (linear least squares).
            p_model = prf.sample(px - xs[:, None, None], py - ys[:, None, None])
            wt = np.where(use & (rr <= fit_radius + 0.5), 1.0 / np.where(use, var, 1.0), 0.0)
            s_pp = np.sum(wt * p_model**2, axis=(1, 2))
            s_p1 = np.sum(wt * p_model, axis=(1, 2))
            s_11 = np.sum(wt, axis=(1, 2))
            s_pi = np.sum(wt * p_model * img, axis=(1, 2))
            s_1i = np.sum(wt * img, axis=(1, 2))
            det = s_pp * s_11 - s_p1**2
            det = np.where(det > 0, det, np.nan)
            flux = (s_11 * s_pi - s_p1 * s_1i) / det
            bkg = (s_pp * s_1i - s_p1 * s_pi) / det
            chi2 = np.sum(wt * (img - flux[:, None, None] * p_model - bkg[:, None, None]) ** 2, axis=(1, 2))
            chi2nu = chi2 / np.maximum(np.sum(wt > 0, axis=(1, 2)) - 2, 1)
            keep = np.isfinite(flux) & (flux > 0) & (chi2nu < 5 * np.nanmedian(chi2nu))
            flux = np.where(keep, flux, 1.0)
            bkg = np.where(keep, bkg, 0.0)
        dx = px - xs[:, None, None]
        dy = py - ys[:, None, None]
        val = (img - bkg[:, None, None]) / np.where(flux > 0, flux, 1.0)[:, None, None]
        resid = val - (prf.sample(dx, dy) if prf is not None else 0.0)
        w = np.where(use & keep[:, None, None], flux[:, None, None] ** 2 / np.where(use, var, 1.0), 0.0)
        # Inverse-variance weights, but no star counts more than one at SNR 100: each star samples
        # one sub-pixel phase, and a few very bright stars must not decide the whole model.
        snr2 = np.sum(w * np.where(use, val, 0.0) ** 2, axis=(1, 2))
        w = w * np.minimum(1.0, 100.0**2 / np.maximum(snr2, 1e-30))[:, None, None]
        gx = c + dx * os_
        gy = c + dy * os_
        ok = (gx >= 0) & (gx < n_nodes - 1) & (gy >= 0) & (gy < n_nodes - 1) & (w > 0)
        gx, gy, w, resid = gx[ok], gy[ok], w[ok], resid[ok]
        ix, iy = np.floor(gx).astype(int), np.floor(gy).astype(int)
        fx, fy = gx - ix, gy - iy
        num = np.zeros(n_nodes * n_nodes)
        den = np.zeros(n_nodes * n_nodes)
        for ddx, ddy, wt in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
            node = (iy + ddy) * n_nodes + ix + ddx
            num += np.bincount(node, weights=w * wt * resid, minlength=n_nodes * n_nodes)
            den += np.bincount(node, weights=w * wt, minlength=n_nodes * n_nodes)
        num = num.reshape(n_nodes, n_nodes)
        den = den.reshape(n_nodes, n_nodes)
        if smoothing > 0:
            num = ndimage.gaussian_filter(num, smoothing)
            den = ndimage.gaussian_filter(den, smoothing)
        corr = np.where(den > 1e-12 * den.max(), num / np.where(den > 0, den, 1.0), 0.0)
        grid = grid + corr
        # Re-centre on the centroid within ~3 FWHM and normalise (1 on the pixel grid).
        nodes = (np.arange(n_nodes) - c) / os_
        gxx, gyy = np.meshgrid(nodes, nodes)
        core = np.hypot(gxx, gyy) <= max(3 * fwhm, 4)
        tot = np.sum(grid[core])
        if tot > 0:
            cx_off = np.sum(grid[core] * gxx[core]) / tot
            cy_off = np.sum(grid[core] * gyy[core]) / tot
            grid = ndimage.shift(grid, (-cy_off * os_, -cx_off * os_), order=3, mode="constant")
        total = grid.sum() / os_**2
        if total > 0:
            grid = grid / total
        model = ImagePSF(grid, oversampling=os_)
        prf = _PRF(model)
    model = ImagePSF(grid * 1.0, oversampling=os_)
    model.meta = {"n_stars": int(np.sum(keep)), "radius_pix": R,
                  "model": f"ePSF from {int(np.sum(keep))} stars of the image (iterative, oversampling {os_})"}
    model.fwhm_pix = psf_fwhm(type("P", (), {"data": grid, "oversampling": os_})())
    return model


# ----------------------------------------------------------------------------------------------
# One tile
# ----------------------------------------------------------------------------------------------
def _prepare_tile(data, error, weight, mask, opts):
    """Bad-pixel mask, background-subtracted float32 image (a new array), detection image, noise."""
    import sep

    bad = ~np.isfinite(data)
    if weight is not None:
        bad |= ~(weight > 0)
    elif error is not None:
        bad |= ~(error > 0)
    user_mask = mask
    bad_or_masked = bad | user_mask if user_mask is not None else bad
    if bad_or_masked.all():
        return None
    any_bad = bool(bad_or_masked.any())
    # sep.Background skips masked pixels (NaN included); the subtraction makes the working copy.
    bkg = sep.Background(data, mask=bad_or_masked if any_bad else None, bw=opts["back_size"], bh=opts["back_size"],
                         fw=opts["back_filter_size"], fh=opts["back_filter_size"])
    data = data - bkg
    if any_bad:
        np.putmask(data, bad_or_masked, np.float32(0))
    if not np.any(data):
        return None
    # Detection image in units of the per-pixel background noise (1/sqrt(WHT) or ERR), so that a
    # scalar threshold follows depth variations (chip gaps, mosaic edges).
    if weight is not None:
        with np.errstate(invalid="ignore"):
            det = np.multiply(data, np.sqrt(weight), dtype=np.float32)
        if any_bad:
            np.putmask(det, bad_or_masked, np.float32(0))
        det_err = 1.0
    elif error is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            det = np.where(bad_or_masked, np.float32(0), data / error).astype(np.float32)
        det_err = 1.0
    else:
        det = data
        det_err = float(bkg.globalrms)
    noise = _Noise(error=error, weight=weight, scalar_rms=float(bkg.globalrms) if bkg.globalrms > 0 else 1.0,
                   gain=opts["gain"])
    return {"sub": data, "det": det, "det_err": det_err, "bad": bad_or_masked, "edge_bad": bad,
            "user_mask": user_mask, "noise": noise, "any_bad": any_bad, "globalrms": float(bkg.globalrms)}


def _fast_tile(prep, opts):
    """sep detection, windowed centroids and their errors."""
    import sep

    sub = prep["sub"]
    sep.set_extract_pixstack(max(300_000, int(sub.size // 8)))
    sep.set_sub_object_limit(4096)
    try:
        # No mask: masked pixels are zero in the detection image (sep.extract is ~2x slower with one).
        objs = sep.extract(prep["det"], opts["threshold"] * _KERNEL_NOISE, err=prep["det_err"], minarea=opts["minarea"],
                           deblend_nthresh=opts["deblend_nthresh"], deblend_cont=opts["deblend_cont"], clean=False)
    except Exception as exc:  # noqa: BLE001 - sep raises plain Exception for internal limits
        raise WorkbookError(f"source detection failed ({exc}); raise threshold or use smaller tiles "
                            "(tile_size=2048)") from None
    n = len(objs)
    x = np.asarray(objs["x"], float)
    y = np.asarray(objs["y"], float)
    xpk = np.clip(np.asarray(objs["xpeak"]), 0, sub.shape[1] - 1)
    ypk = np.clip(np.asarray(objs["ypeak"]), 0, sub.shape[0] - 1)
    cat = {"x_det": x, "y_det": y, "npix": np.asarray(objs["npix"]), "sep_flag": np.asarray(objs["flag"]),
           "a": np.asarray(objs["a"], float), "b": np.asarray(objs["b"], float),
           "peak": sub[ypk, xpk].astype(float)}
    if n == 0:
        return cat
    # Half-light radius relative to the flux within 6 a (the detection image is in noise units,
    # so its isophotal flux is not used for the normalisation).
    rmax = np.clip(6.0 * cat["a"], 3.0, 60.0)
    r50, _ = sep.flux_radius(sub, x, y, rmax, 0.5, subpix=1)
    r50 = np.where(np.isfinite(r50) & (r50 > 0.3), r50, 0.3)
    r50 = np.minimum(r50, rmax)
    # Window σ = 2 r50 / 2.35 (SExtractor), at most MAX_WINDOW_SIGMA: a large galaxy's centroid in a
    # 16-pixel-radius window is as good a reference point and costs far less than one in its full size.
    sig = np.clip(2.0 / 2.35 * r50, 2.0 / 2.35 * 0.5, MAX_WINDOW_SIGMA)
    # subpix=1: the window is evaluated at pixel centres, exactly as the error propagation below.
    # No mask: masked pixels are already zero in ``sub`` (and sep.winpos is ~5x slower with one).
    xw, yw, _ = sep.winpos(sub, x, y, sig, subpix=1)
    moved = np.hypot(xw - x, yw - y)
    fail = ~np.isfinite(xw) | ~np.isfinite(yw) | (moved > np.maximum(2.0, 2 * r50))
    xw = np.where(fail, x, xw)
    yw = np.where(fail, y, yw)
    # Deblending without cleaning leaves fragments of bright objects' wings whose windowed
    # centroids converge onto the object itself: keep one source (the largest) per position.
    keep = _merge_converged(xw, yw, cat["npix"], 0.5)
    if not keep.all():
        cat = {k: v[keep] for k, v in cat.items()}
        xw, yw, sig, r50, fail = xw[keep], yw[keep], sig[keep], r50[keep], fail[keep]
    x_err, y_err, cov_xy = _windowed_errors(sub, prep["noise"], prep["bad"], xw, yw, sig)
    # Pixel-phase floor of windowed centroids of undersampled PSFs (see WINDOWED_FLOOR_FWHM).
    floor = WINDOWED_FLOOR_FWHM * 2.0 * r50 / 1.35
    x_err = np.sqrt(x_err**2 + floor**2)
    y_err = np.sqrt(y_err**2 + floor**2)
    cat.update(x_win=xw, y_win=yw, x_win_err=x_err, y_win_err=y_err, cov_xy_win=cov_xy, r50=r50, sig_win=sig,
               win_failed=fail)
    return cat


def _merge_converged(x, y, size, radius):
    """Boolean mask keeping one source per group of positions closer than ``radius`` (the largest)."""
    from scipy.sparse.csgraph import connected_components
    from scipy.sparse import coo_matrix
    from scipy.spatial import cKDTree

    n = len(x)
    keep = np.ones(n, bool)
    if n < 2:
        return keep
    pairs = cKDTree(np.column_stack([x, y])).query_pairs(radius, output_type="ndarray")
    if len(pairs) == 0:
        return keep
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    order = np.lexsort((-np.asarray(size, float), label))
    first = np.ones(n, bool)
    first[1:] = label[order][1:] != label[order][:-1]
    keep[:] = False
    keep[order[first]] = True
    return keep


def _aperture_flux(prep, x, y, radius):
    import sep

    err = prep["noise"].err_image(prep["sub"])
    mask = prep["bad"] if prep["any_bad"] else None
    flux, ferr, _ = sep.sum_circle(prep["sub"], x, y, radius, err=err, mask=mask, subpix=1)
    return np.asarray(flux, float), np.asarray(ferr, float)


def _stellar_size(cat, snr):
    """The stellar locus: median 2·r50 (pixels) of bright compact sources, and how many bright
    sources it was measured on (None, 0 when fewer than 5)."""
    if "r50" not in cat or len(cat["r50"]) == 0:
        return None, 0
    size = 2 * cat["r50"]
    good = (snr > 30) & (cat["sep_flag"] == 0) & ~cat["win_failed"]
    if good.sum() < 5:
        return None, 0
    s = size[good]
    lo = np.percentile(s, 20)
    locus = s[s <= lo * 1.25]
    return (float(np.median(locus)) if locus.size else float(lo)), int(good.sum())


def _psf_size(psf, fwhm):
    """2·r50 (pixels) of a PSF model measured as on the image (sep.flux_radius, rmax 4.5 FWHM ≈ 6a)."""
    import sep

    prf = _PRF(psf)
    r = int(max(12, math.ceil(6 * fwhm)))
    k = np.arange(-r, r + 1, dtype=float)
    img = np.ascontiguousarray(prf.sample(*np.meshgrid(k, k)), dtype=np.float64)
    r50, _ = sep.flux_radius(img, np.array([float(r)]), np.array([float(r)]), np.array([4.5 * fwhm]), 0.5, subpix=1)
    return float(2 * r50[0])


def _neighbour_distance(x, y):
    """Distance to the nearest other source (pixels; inf when alone)."""
    from scipy.spatial import cKDTree

    if len(x) < 2:
        return np.full(len(x), np.inf)
    tree = cKDTree(np.column_stack([x, y]))
    d, _ = tree.query(np.column_stack([x, y]), k=2)
    return d[:, 1]


def _stamp_any(maskarr, x, y, radius):
    if maskarr is None or len(x) == 0:
        return np.zeros(len(x), bool)
    px, py, inside = _stamp_index(x, y, radius, maskarr.shape)
    return np.any(maskarr[py, px] | ~inside, axis=(1, 2)) if maskarr is not None else np.zeros(len(x), bool)


def _saturated(raw, sub, x, y, saturation, noise):
    """Saturated: peak at/above ``saturation`` (image units), or a flat-topped core (>= 3 pixels
    within 1e-5 of the maximum in the 5x5 core of a bright source, as saturated drizzled cores are)."""
    if len(x) == 0:
        return np.zeros(0, bool)
    px, py, inside = _stamp_index(x, y, 2, sub.shape)
    core = np.where(inside, sub[py, px], -np.inf).reshape(len(x), -1)
    peak = core.max(axis=1)
    sat = np.zeros(len(x), bool)
    if saturation is not None:
        raw_core = np.where(inside, raw[py, px], -np.inf).reshape(len(x), -1)
        sat |= raw_core.max(axis=1) >= 0.95 * saturation
    sigma = np.sqrt(noise.var(np.clip(np.rint(y).astype(int), 0, sub.shape[0] - 1),
                              np.clip(np.rint(x).astype(int), 0, sub.shape[1] - 1)))
    bright = peak > 50 * np.where(np.isfinite(sigma), sigma, np.inf)
    flat = np.sum(np.abs(core - peak[:, None]) <= 1e-5 * np.abs(peak[:, None]), axis=1) >= 3
    sat |= bright & flat
    return sat


def _process_tile(reader, region, core, opts, state):
    """Run the fast path (and the PSF refinement) on one tile; return a dict of columns for the
    sources whose detection centre lies in ``core`` (global pixel coordinates)."""
    (y0, y1), (x0, x1) = region
    data, error, weight, mask = reader.read(slice(y0, y1), slice(x0, x1))
    raw = data if opts["saturation"] is not None else None  # not modified: the subtraction copies
    prep = _prepare_tile(data, error, weight, mask, opts)
    state["n_valid"] += 0 if prep is None else int((~prep["bad"]).sum())
    if prep is None:
        return None
    cat = _fast_tile(prep, opts)
    n = len(cat["x_det"])
    if n == 0:
        return None
    # Aperture photometry (windowed sources): radius max(2.5 r50, 1.5 FWHM_guess).
    fwhm_guess = state.get("fwhm") or 2.5
    ap_r = np.clip(np.maximum(2.5 * cat["r50"], 1.5 * fwhm_guess), 2.0, 50.0)
    flux_ap, flux_ap_err = _aperture_flux(prep, cat["x_win"], cat["y_win"], ap_r)
    snr_ap = flux_ap / np.where(flux_ap_err > 0, flux_ap_err, np.nan)
    if state.get("size_ref") is None:
        # The stellar locus: 2·r50 of bright compact sources (what a point source measures here).
        if opts["psf"] is not None:
            size_ref = _psf_size(opts["psf"], state["fwhm"])
            state["size_ref_reliable"] = True
        else:
            size_ref, n_locus = _stellar_size(cat, np.nan_to_num(snr_ap))
            state["size_ref_reliable"] = n_locus >= 20
        if size_ref is None:
            size_ref = 1.35 * (state["fwhm"] or 2.5)
            if state["fwhm"] is None:
                warnings.warn("too few bright compact sources to measure the image FWHM; assuming 2.5 px "
                              "(pass fwhm=... or psf=... to set it)", SourceExtractionWarning, stacklevel=3)
        state["size_ref"] = float(size_ref)
        state["fwhm_provisional"] = state["fwhm"] is None
        if state["fwhm"] is None:
            state["fwhm"] = float(size_ref) / 1.35 if size_ref else 2.5
    # Faint sources can have a noise-shrunken r50 and so a window too small to average the noise:
    # never use a window narrower than 0.6 x a point source's. (The smaller of the stellar locus and
    # the median size of all sources: a locus drawn from bright galaxies must not widen windows.)
    if state.get("size_window") is None:
        faint_ok = np.nan_to_num(snr_ap) > 5
        size_all = float(np.median(2 * cat["r50"][faint_ok])) if faint_ok.sum() >= 20 else state["size_ref"]
        state["size_window"] = min(state["size_ref"], size_all)
    sig_star = 2.0 / 2.35 * state["size_window"] / 2.0
    small = (cat["sig_win"] < 0.6 * sig_star) & bool(state.get("size_ref_reliable"))
    if small.any():
        import sep

        xs, ys = cat["x_det"][small], cat["y_det"][small]
        sig = np.full(xs.size, sig_star)
        xw, yw, _ = sep.winpos(prep["sub"], xs, ys, sig, subpix=1)
        bad_w = ~np.isfinite(xw) | ~np.isfinite(yw) | (np.hypot(xw - xs, yw - ys) > 2.0)
        xw, yw = np.where(bad_w, xs, xw), np.where(bad_w, ys, yw)
        ex, ey, cxy = _windowed_errors(prep["sub"], prep["noise"], prep["bad"], xw, yw, sig)
        floor = WINDOWED_FLOOR_FWHM * state["size_window"] / 1.35
        cat["x_win"][small], cat["y_win"][small] = xw, yw
        cat["x_win_err"][small] = np.sqrt(ex**2 + floor**2)
        cat["y_win_err"][small] = np.sqrt(ey**2 + floor**2)
        cat["cov_xy_win"][small], cat["sig_win"][small] = cxy, sig
        cat["win_failed"][small] = bad_w
    size_ratio = 2 * cat["r50"] / state["size_ref"]
    nn = _neighbour_distance(cat["x_det"], cat["y_det"])
    sat = _saturated(raw, prep["sub"], cat["x_det"], cat["y_det"], opts["saturation"], prep["noise"])
    if opts["use_psf_fit"]:
        if state.get("prf") is None and not state.get("prf_failed"):
            state["prf"] = _make_prf(prep, cat, snr_ap, nn, sat, size_ratio, state["fwhm"], opts, state)
            state["prf_failed"] = state["prf"] is None
            if state["prf"] is not None and state.get("fwhm_provisional"):
                state["fwhm"] = float(state["prf"].fwhm)
        prf = state["prf"]
    else:
        prf = None
    fwhm = state["fwhm"]
    x = cat["x_win"].copy()
    y = cat["y_win"].copy()
    x_err = cat["x_win_err"].copy()
    y_err = cat["y_win_err"].copy()
    cov_xy = cat["cov_xy_win"].copy()
    flux = flux_ap.copy()
    flux_err = flux_ap_err.copy()
    method = np.full(n, "windowed", dtype="<U8")
    flags = np.zeros(n, np.int32)
    flags[sat] |= FLAG_SATURATED
    r_flag = int(max(3, math.ceil(1.5 * fwhm)))
    flags[_stamp_any(prep["edge_bad"], x, y, r_flag)] |= FLAG_EDGE
    flags[_stamp_any(prep["user_mask"], x, y, r_flag)] |= FLAG_MASKED
    blended = (nn < 1.5 * fwhm) | ((cat["sep_flag"] & 1) > 0) & (nn < 3.0 * fwhm)
    flags[blended] |= FLAG_BLENDED
    chi2nu = np.full(n, np.nan)
    snr = snr_ap.copy()
    compact = size_ratio < opts["extended_size_ratio"]
    win_floor = 0.0
    if prf is not None:
        t0 = time.perf_counter()
        # Candidates: compact, unsaturated sources. Extended ones are kept windowed.
        cand = (size_ratio < opts["extended_size_ratio"] * 1.3) & np.isfinite(x) & ~cat["win_failed"]
        idx = np.nonzero(cand)[0]
        radius = opts["psf_radius"] or int(max(4, math.ceil(2.5 * fwhm)))
        radius = int(min(radius, max(3, prf.half_pix - 2)))
        f0 = np.maximum(flux_ap[idx] / 0.8, 1e-3 * np.nanmax(np.abs(flux_ap)) + 1e-30)
        fit = _fit_psf(prep["sub"], prep["noise"], prep["bad"], x[idx], y[idx], f0, prf, radius,
                       n_iter=opts["psf_iterations"])
        if opts["neighbour_passes"] > 0 and idx.size > 1:
            for _ in range(opts["neighbour_passes"]):
                close = _neighbour_distance(fit["x"], fit["y"]) < 2 * radius + 2
                if not close.any():
                    break
                good = fit["ok"]
                everything = _render_models(prep["sub"].shape, fit["x"][good], fit["y"][good], fit["flux"][good], prf,
                                            radius + 2)
                sel = np.nonzero(close)[0]
                refit = _refit_minus_neighbours(prep, fit, sel, everything, prf, radius,
                                                max(3, opts["psf_iterations"] - 2))
                for key in ("x", "y", "flux", "bkg", "cov", "chi2nu", "ok"):
                    fit[key][sel] = refit[key]
        # Saturated cores (flat-topped, or a brightest pixel far below the fitted model: a clipped
        # peak): refit without the core pixels above 70% of the stamp's maximum, and flag.
        deficit = _core_deficit(prep, fit["x"], fit["y"], fit["flux"], fit["bkg"], prf)
        clipped = (sat[idx] | (fit["ok"] & (fit["chi2nu"] > 3) & (deficit < -5))) & compact[idx]
        if clipped.any():
            sel = np.nonzero(clipped)[0]
            refit = _fit_psf(prep["sub"], prep["noise"], _mask_cores(prep, fit["x"][sel], fit["y"][sel], 0.7), fit["x"][sel],
                             fit["y"][sel], np.maximum(fit["flux"][sel], 1e-30), prf, radius + 1,
                             n_iter=opts["psf_iterations"])
            for key in ("x", "y", "flux", "bkg", "cov", "chi2nu", "ok"):
                fit[key][sel] = refit[key]
            flags[idx[sel]] |= FLAG_SATURATED
            sat = sat.copy()
            sat[idx[sel]] = True
        ok = fit["ok"]
        dof_limit = 1 + 3 * np.sqrt(2.0 / max((2 * radius + 1) ** 2 - 4, 1))
        infl = np.where(fit["chi2nu"] > dof_limit, fit["chi2nu"], 1.0)
        sx = np.sqrt(fit["cov"][:, 0, 0] * infl)
        sy = np.sqrt(fit["cov"][:, 1, 1] * infl)
        sf = np.sqrt(fit["cov"][:, 2, 2] * infl)
        sxy = fit["cov"][:, 0, 1] * infl
        # Point-like: size consistent with the PSF and the PSF model fits.
        point = ok & compact[idx] & ((fit["chi2nu"] < opts["extended_chi2"]) | (size_ratio[idx] < 1.1))
        # PSF-model error floor, from the consistency of the fits with the windowed centroids.
        # Empirical PSF: add its own position error (split-half estimate).
        if opts["psf"] is None:
            if state.get("epsf_error_pix") is None:
                bright = point & (snr_ap[idx] > 50) & (flags[idx] == 0)
                top = np.nonzero(bright)[0][:300]
                state["epsf_error_pix"] = _epsf_model_error(prep, fit["x"][top], fit["y"][top], fit["flux"][top],
                                                            radius, state.get("prf_replicates"))
            epsf_err2 = state["epsf_error_pix"] ** 2 + (EPSF_FLOOR_FWHM * fwhm) ** 2
            sx = np.sqrt(sx**2 + epsf_err2)
            sy = np.sqrt(sy**2 + epsf_err2)
        # Windowed centroids of undersampled PSFs carry a sub-pixel-phase bias; its size in this
        # image is measured against the PSF fits of bright point sources and added to the windowed
        # errors (the PSF fits are unbiased: the ePSF is anchored on centres of mass, see _make_prf).
        win_floor = _psf_error_floor(x[idx] - fit["x"], y[idx] - fit["y"], sx, sy, x_err[idx], y_err[idx],
                                     point & (snr_ap[idx] > 30) & (flags[idx] == 0))
        state.setdefault("win_floor_pix", []).append(win_floor)
        x_err = np.sqrt(x_err**2 + win_floor**2)
        y_err = np.sqrt(y_err**2 + win_floor**2)
        # Keep the PSF fit where it is the more precise estimator.
        point &= (sx**2 + sy**2) <= (x_err[idx] ** 2 + y_err[idx] ** 2)
        use = idx[point]
        x[use], y[use] = fit["x"][point], fit["y"][point]
        x_err[use], y_err[use], cov_xy[use] = sx[point], sy[point], sxy[point]
        flux[use], flux_err[use] = fit["flux"][point], sf[point]
        snr[use] = flux[use] / flux_err[use]
        method[use] = "psf"
        chi2nu[idx] = fit["chi2nu"]
        # A compact source the PSF does not describe, with a neighbour within 10 FWHM: its light is
        # contaminated by the neighbour's wings (flag as blended).
        contaminated = compact & (chi2nu >= opts["extended_chi2"]) & (nn < 10 * fwhm)
        flags[contaminated] |= FLAG_BLENDED
        failed = idx[~ok & compact[idx]]
        flags[failed] |= FLAG_PSF_FAILED
        state["t_psf"] = state.get("t_psf", 0.0) + time.perf_counter() - t0
    # Point-like: as compact as the stellar locus and, when fitted, well described by the PSF.
    kind = np.where(compact & ~(chi2nu >= opts["extended_chi2"]) | (method == "psf") | sat, "point", "extended")
    # Keep the sources whose detection centre is in this tile's core.
    gx_det = cat["x_det"] + x0
    gy_det = cat["y_det"] + y0
    (cy0, cy1), (cx0, cx1) = core
    keep = (gx_det >= cx0 - 0.5) & (gx_det < cx1 - 0.5) & (gy_det >= cy0 - 0.5) & (gy_det < cy1 - 0.5)
    cols = {"x": x + x0, "y": y + y0, "x_err": x_err, "y_err": y_err, "xy_cov": cov_xy, "flux": flux,
            "flux_err": flux_err, "snr": snr, "fwhm": 2 * cat["r50"], "kind": kind, "flags": flags, "method": method,
            "x_win": cat["x_win"] + x0, "y_win": cat["y_win"] + y0,
            "x_win_err": np.sqrt(cat["x_win_err"] ** 2 + win_floor**2),
            "y_win_err": np.sqrt(cat["y_win_err"] ** 2 + win_floor**2), "flux_aper": flux_ap, "flux_aper_err": flux_ap_err, "r50": cat["r50"],
            "npix": cat["npix"], "peak": cat["peak"], "chi2nu": chi2nu, "nn_dist": nn}
    return {k: np.asarray(v)[keep] for k, v in cols.items()}


def _refit_minus_neighbours(prep, fit, sel, everything, prf, radius, n_iter):
    """Refit the sources ``sel`` with every other fitted source's model subtracted.

    ``everything`` is the model image of all successful fits; each source must only lose the
    *others'* models, so the sources are refitted in groups whose members are farther apart than
    a stamp, subtracting ``everything`` minus the group's own models.
    """
    result = {k: (fit[k][sel].copy()) for k in ("x", "y", "flux", "bkg", "cov", "chi2nu", "ok")}
    for g in _separate_groups(fit["x"][sel], fit["y"][sel], 2 * (radius + 2) + 1):
        gi = sel[g]
        own_g = _render_models(everything.shape, fit["x"][gi], fit["y"][gi],
                               np.where(fit["ok"][gi], fit["flux"][gi], 0.0), prf, radius + 2)
        r = _fit_psf(prep["sub"], prep["noise"], prep["bad"], fit["x"][gi], fit["y"][gi],
                     np.maximum(fit["flux"][gi], 1e-30), prf, radius, n_iter=n_iter, others=everything - own_g)
        for k in result:
            result[k][g] = r[k]
    return result


def _separate_groups(x, y, min_sep):
    """Split sources into groups whose members are all at least ``min_sep`` apart (greedy)."""
    from scipy.spatial import cKDTree

    n = len(x)
    group = np.full(n, -1)
    if n == 0:
        return []
    tree = cKDTree(np.column_stack([x, y]))
    pairs = tree.query_pairs(min_sep, output_type="ndarray")
    neighbours = [[] for _ in range(n)]
    for i, j in pairs:
        neighbours[i].append(j)
        neighbours[j].append(i)
    for i in range(n):
        used = {group[j] for j in neighbours[i] if group[j] >= 0}
        g = 0
        while g in used:
            g += 1
        group[i] = g
    return [np.nonzero(group == g)[0] for g in range(group.max() + 1)]


def _core_deficit(prep, x, y, flux, bkg, prf):
    """(data − model)/σ at the brightest pixel of the 3x3 core of each fitted source."""
    if len(x) == 0:
        return np.zeros(0)
    px, py, inside = _stamp_index(x, y, 1, prep["sub"].shape)
    data = np.where(inside, prep["sub"][py, px], -np.inf)
    k = np.argmax(data.reshape(len(x), -1), axis=1)
    pxk = px.reshape(len(x), -1)[np.arange(len(x)), k]
    pyk = py.reshape(len(x), -1)[np.arange(len(x)), k]
    model = flux * prf.sample(pxk - x, pyk - y) + bkg
    var = prep["noise"].var(pyk, pxk, model)
    return (prep["sub"][pyk, pxk] - model) / np.sqrt(np.where(var > 0, var, np.inf))


def _mask_cores(prep, x, y, frac, radius=3):
    """A copy of the bad-pixel mask with each source's core pixels above ``frac`` x its maximum set."""
    bad = prep["bad"].copy()
    px, py, inside = _stamp_index(x, y, radius, bad.shape)
    vals = np.where(inside, prep["sub"][py, px], -np.inf)
    top = vals.reshape(len(x), -1).max(axis=1)
    core = inside & (vals >= frac * top[:, None, None])
    bad[py[core], px[core]] = True
    return bad


def _com_positions(sub, x, y, radius, n_iter=3):
    """Centres of mass in a tapered circular aperture (weight 1 inside radius − 2, linear to 0 at radius),
    re-centred ``n_iter`` times."""
    x = np.asarray(x, float).copy()
    y = np.asarray(y, float).copy()
    r_int = int(math.ceil(radius))
    for _ in range(n_iter):
        px, py, inside = _stamp_index(x, y, r_int, sub.shape)
        rr = np.hypot(px - x[:, None, None], py - y[:, None, None])
        w = np.clip((radius - rr) / 2.0, 0.0, 1.0) * inside
        img = sub[py, px] * w
        tot = img.sum(axis=(1, 2))
        ok = tot > 0
        x = np.where(ok, (img * px).sum(axis=(1, 2)) / np.where(ok, tot, 1), x)
        y = np.where(ok, (img * py).sum(axis=(1, 2)) / np.where(ok, tot, 1), y)
    return x, y


def _make_prf(prep, cat, snr_ap, nn, sat, size_ratio, fwhm, opts, state):
    """The PSF model for the fits: the supplied one, or an ePSF from this tile's stars."""
    if opts["psf"] is not None:
        return _PRF(opts["psf"])
    R = int(max(6, math.ceil(4 * fwhm)))
    half = R + 2
    ny, nx = prep["sub"].shape
    x, y = cat["x_win"], cat["y_win"]
    ok = ((snr_ap > opts["epsf_min_snr"]) & ~sat & (cat["sep_flag"] == 0) & ~cat["win_failed"]
          & (nn > 2 * R) & (np.abs(size_ratio - 1) < 0.15)
          & (x > half) & (x < nx - 1 - half) & (y > half) & (y < ny - 1 - half))
    ok &= ~_stamp_any(prep["bad"], x, y, R)
    idx = np.nonzero(ok)[0]
    idx = idx[np.argsort(-snr_ap[idx])][: opts["epsf_max_stars"]]
    # Anchor the ePSF on centres of mass, not windowed centroids: in a single image the PSF shape and
    # the stars' sub-pixel positions are degenerate, so the model inherits whatever phase-dependent
    # bias its input positions have. The first moment of a PSF band-limited below 1 cycle/pixel
    # (HST and JWST at drizzled scales) has none; its larger noise only blurs the model slightly.
    com_radius = max(4.0, 2.5 * fwhm)
    xc, yc = _com_positions(prep["sub"], x[idx], y[idx], com_radius)
    try:
        epsf = build_epsf(prep["sub"], xc, yc, bad=prep["bad"], fwhm=fwhm, radius=R, _noise=prep["noise"])
    except WorkbookError as exc:
        warnings.warn(f"{exc}; positions stay windowed centroids", SourceExtractionWarning, stacklevel=4)
        state["psf_used"] = None
        return None
    state["psf_used"] = epsf
    # Replicate models (parametric bootstrap of the whole ePSF construction): the same stars with an
    # independent noise realisation added to their stamps, centres of mass re-measured on it, ePSF
    # rebuilt. Each replicate's error is the full model's error plus an independent one of the same
    # size, so the fits of bright stars with two replicates differ by √2 × the full model's position
    # error (see _epsf_model_error).
    if len(idx) >= 20:
        try:
            reps = []
            for k in (0, 1):
                pert = _perturbed_stamps(prep, x[idx], y[idx], half + int(math.ceil(com_radius)), seed=1729 + k)
                xr, yr = _com_positions(pert, x[idx], y[idx], com_radius)
                reps.append(_PRF(build_epsf(pert, xr, yr, bad=prep["bad"], fwhm=fwhm, radius=R,
                                            _noise=prep["noise"])))
            state["prf_replicates"] = reps
        except WorkbookError:
            state["prf_replicates"] = None
    return _PRF(epsf)


def _perturbed_stamps(prep, x, y, radius, seed):
    """A copy of the tile with independent Gaussian noise (the pixels' own variance) added in the stamps
    of the given stars (radius ``radius``); fixed ``seed``, so an extraction is reproducible."""
    rng = np.random.default_rng(seed)
    px, py, inside = _stamp_index(x, y, radius, prep["sub"].shape)
    px, py = px[inside], py[inside]
    var = prep["noise"].var(py, px, np.maximum(prep["sub"][py, px], 0.0))
    sig = np.sqrt(np.where(np.isfinite(var) & (var > 0), var, 0.0))
    pert = prep["sub"].copy()
    pert[py, px] = prep["sub"][py, px] + (rng.standard_normal(px.size) * sig).astype(pert.dtype)
    return pert


def _epsf_model_error(prep, x, y, flux, radius, replicates):
    """ePSF position error (pixels, per axis) from two bootstrap replicates: rms(x_A − x_B) / √2.

    Each replicate is built (``_make_prf``) from the same stars after adding an independent noise
    realisation to their pixels and re-measuring their anchors, so its error is the full model's
    error plus an independent one of the same size; two replicates differ by √2 × the model's error
    (the image noise is the same in both fits and cancels). Split halves of the stars were used
    before: at 100 stars a half-model is not in the 1/√N regime (sparse sub-pixel coverage of the
    oversampled grid), and the estimate scattered 0.4–3× the model's actual error between
    simulations, leaving bright-star pulls of 0.55–1.45.
    """
    if replicates is None or len(x) < 10:
        return 0.0
    fa = _fit_psf(prep["sub"], prep["noise"], prep["bad"], x, y, flux, replicates[0], radius, n_iter=4)
    fb = _fit_psf(prep["sub"], prep["noise"], prep["bad"], x, y, flux, replicates[1], radius, n_iter=4)
    ok = fa["ok"] & fb["ok"]
    if ok.sum() < 10:
        return 0.0
    d = np.concatenate([fa["x"][ok] - fb["x"][ok], fa["y"][ok] - fb["y"][ok]])
    d = d - np.median(d)
    # RMS, not a robust std: the model's error depends on sub-pixel phase, its distribution has wide
    # tails and the pulls' std sees all of it; only gross failures (> 10 MADs) are dropped.
    mad = 1.4826 * np.median(np.abs(d))
    d = d[np.abs(d) <= 10 * mad] if mad > 0 else d
    return float(np.sqrt(np.mean(d**2)) / math.sqrt(2.0))


# ----------------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------------
def _plan_tiles(shape, tile_size, overlap):
    """Tiles as (region, core) pairs in global pixel coordinates ((y0, y1), (x0, x1))."""
    ny, nx = shape
    tiles = []
    ys = list(range(0, ny, tile_size))
    xs = list(range(0, nx, tile_size))
    for cy in ys:
        for cx in xs:
            core = ((cy, min(cy + tile_size, ny)), (cx, min(cx + tile_size, nx)))
            region = ((max(cy - overlap, 0), min(cy + tile_size + overlap, ny)),
                      (max(cx - overlap, 0), min(cx + tile_size + overlap, nx)))
            tiles.append((region, core))
    # Most central tile first: the FWHM and the ePSF come from it.
    cyc, cxc = ny / 2.0, nx / 2.0
    tiles.sort(key=lambda t: (np.mean(t[1][0]) - cyc) ** 2 + (np.mean(t[1][1]) - cxc) ** 2)
    return tiles


def _check_wcs(wcs):
    from astropy.wcs import WCS

    if wcs is None or not isinstance(wcs, WCS) and not hasattr(wcs, "pixel_to_world_values"):
        raise WorkbookError("the image has no WCS; give an astropy WCS with celestial (RA/Dec) axes "
                            "(drizzled drz/drc/i2d products carry one)")
    celestial = getattr(wcs, "has_celestial", None)
    if celestial is False or (isinstance(wcs, WCS) and wcs.naxis < 2):
        raise WorkbookError("the image WCS has no celestial (RA/Dec) axes; use a drizzled product whose "
                            "SCI header has CTYPE RA---TAN/DEC--TAN")


def _sky_columns(wcs, x, y, x_err, y_err, xy_cov):
    """RA, Dec (deg) and their 1σ errors along RA·cos Dec and Dec (mas) through the local Jacobian."""
    if len(x) == 0:
        return (np.zeros(0),) * 4
    h = 0.5
    ra, dec = wcs.pixel_to_world_values(x, y)
    ra_px, dec_px = wcs.pixel_to_world_values(x + h, y)
    ra_mx, dec_mx = wcs.pixel_to_world_values(x - h, y)
    ra_py, dec_py = wcs.pixel_to_world_values(x, y + h)
    ra_my, dec_my = wcs.pixel_to_world_values(x, y - h)
    cosd = np.cos(np.radians(dec))

    def dra(a, b):
        return ((np.asarray(a) - np.asarray(b) + 180.0) % 360.0 - 180.0)

    j11 = dra(ra_px, ra_mx) * cosd / (2 * h) * MAS_PER_DEG
    j12 = dra(ra_py, ra_my) * cosd / (2 * h) * MAS_PER_DEG
    j21 = (np.asarray(dec_px) - dec_mx) / (2 * h) * MAS_PER_DEG
    j22 = (np.asarray(dec_py) - dec_my) / (2 * h) * MAS_PER_DEG
    cxx, cyy, cxy = x_err**2, y_err**2, np.nan_to_num(xy_cov)
    var_ra = j11**2 * cxx + 2 * j11 * j12 * cxy + j12**2 * cyy
    var_dec = j21**2 * cxx + 2 * j21 * j22 * cxy + j22**2 * cyy
    return np.asarray(ra) % 360.0, np.asarray(dec), np.sqrt(np.abs(var_ra)), np.sqrt(np.abs(var_dec))


def extract_sources(image, wcs, error=None, mask=None, *, weight=None, threshold=4.0, minarea=5,
                    deblend_nthresh=32, deblend_cont=0.005, back_size=64, back_filter_size=3, psf=None,
                    use_psf_fit=True, fwhm=None, gain=None, saturation=None, psf_radius=None,
                    psf_iterations=6, neighbour_passes=1, extended_size_ratio=1.35, extended_chi2=5.0,
                    epsf_min_snr=30.0, epsf_max_stars=200, tile_size=None, tile_overlap=None,
                    auto_tile_pixels=6144**2, progress=None, meta=None):
    """Detect sources and measure positions with calibrated per-source 1σ errors.

    Background: `sep.Background` (SExtractor's mesh, ``back_size`` px, median-filtered over
    ``back_filter_size`` meshes; 64 px suits drizzled HST/JWST data). Detection: matched-filter
    thresholding at ``threshold`` × the per-pixel noise with multi-threshold deblending
    (`sep.extract`, no cleaning). Positions: windowed centroids for every source, then a PSF fit
    for point-like sources (see the module docstring for both error models).

    Parameters
    ----------
    image : 2-D array
        Science array (any units); NaN pixels are ignored.
    wcs : `~astropy.wcs.WCS`
        Celestial WCS of ``image`` (distortion included when present).
    error : 2-D array, optional
        1σ total error per pixel (HST/JWST ``ERR``), same units as ``image``; pixels with
        ``error <= 0`` are ignored.
    mask : 2-D bool array, optional
        True for pixels to ignore (flag 8 for sources touching them).
    weight : 2-D array, optional
        Inverse-variance weight map (``WHT``); zero-weight pixels are outside the footprint.
        Gives the detection noise ``1/sqrt(WHT)``.
    threshold : float
        Detection threshold in σ of the matched-filtered image (the 3x3 SExtractor kernel applied
        to the image in units of its per-pixel noise 1/sqrt(WHT), ERR, or the background RMS).
    minarea : int
        Minimum number of connected pixels above threshold.
    deblend_nthresh, deblend_cont : int, float
        SExtractor deblending parameters.
    back_size, back_filter_size : int
        Background mesh (pixels) and median filter (meshes).
    psf : `photutils.psf.ImagePSF`, optional
        PSF model for the fits (pixel-integrated, oversampled). Default: an ePSF built from the
        image's own stars (`build_epsf`).
    use_psf_fit : bool
        Refine point-like sources with the PSF fit (the full path); False gives the fast path.
        Without PSF fits the image's own windowed-centroid phase bias cannot be measured, so the
        windowed errors carry only the fixed floor: fine for FWHM ≳ 2 px, but on more undersampled
        images (FWHM ~1.7 px) bright sources' errors are then underestimated — use the full path
        for calibrated errors.
    fwhm : float, optional
        Image FWHM (pixels); default from ``psf`` or measured on the stellar locus.
    gain : float, optional
        Image units → counts (e.g. EXPTIME for e-/s) for the Poisson term when ``error`` is absent.
    saturation : float, optional
        Saturation level in image units (flat-topped cores are found without it).
    psf_radius : int, optional
        Half-size of the PSF-fit stamp (pixels); default ceil(2.5 FWHM), at least 4.
    psf_iterations, neighbour_passes : int
        Gauss–Newton iterations; refits with neighbours' models subtracted.
    extended_size_ratio, extended_chi2 : float
        A source is extended when 2·r50 > ratio × FWHM, or the PSF fit's χ²_ν exceeds
        ``extended_chi2``.
    epsf_min_snr, epsf_max_stars : float, int
        Stars for the ePSF: SNR above this, at most this many (brightest first).
    tile_size : int, optional
        Core size of the tiles (pixels); default untiled unless the image has more than
        ``auto_tile_pixels`` pixels, then 4096.
    tile_overlap : int, optional
        Margin on each side of a tile core (pixels); default max(64, 12 FWHM, 2·back_size).
    auto_tile_pixels : int
        Images larger than this are tiled automatically.
    progress : bool or None
        tqdm progress bar per tile (None: only on a terminal).
    meta : dict, optional
        Added to the table's ``meta`` (``image, epoch, instrument, filter, pixel_scale, wcsname``).

    Returns
    -------
    catalog : `~astropy.table.Table`
        One row per source with the schema of ``docs/DEVELOPING.md``: ``id`` (1-based), ``x, y``
        (pix, 0-based), ``x_err, y_err`` (pix, 1σ), ``ra, dec`` (deg), ``ra_err, dec_err`` (mas,
        along RA·cos Dec and Dec), ``flux, flux_err`` (image units: PSF flux for method ``psf``,
        else circular aperture of radius max(2.5 r50, 1.5 FWHM)), ``snr`` (flux/flux_err),
        ``fwhm`` (pix, 2·r50, equal to the FWHM for a Gaussian), ``kind`` (``point``/``extended``),
        ``flags`` (1 saturated, 2 edge / zero-weight within 1.5 FWHM, 4 neighbour within 1.5 FWHM or
        deblended with one within 3 FWHM, 8 masked pixels within 1.5 FWHM, 16 PSF fit failed),
        ``method`` (``psf``/``windowed``). Extra columns: ``xy_cov`` (pix², x–y covariance),
        ``x_win, y_win, x_win_err, y_win_err`` (windowed centroid and its error, pix),
        ``flux_aper, flux_aper_err``, ``r50`` (pix), ``npix``, ``peak``, ``chi2nu`` (PSF fit),
        ``nn_dist`` (pix, nearest other detection). ``meta`` has ``fwhm_pix``, ``n_tiles``,
        ``psf_model``, ``pixel_convention``, ``timing_s`` and what ``meta`` gave.

    Raises
    ------
    WorkbookError
        Non-2-D data, no celestial WCS, mismatched shapes, all-NaN/all-zero image, zero weight map.

    Warns
    -----
    SourceExtractionWarning
        No source above the threshold (an empty catalog is returned).

    Examples
    --------
    >>> from helpers import simulate
    >>> truth = simulate.make_truth(size_arcsec=20, n_stars=20, n_galaxies=0, n_pairs=0, n_saturated=0,
    ...                             star_snr=(30, 100), seed=1)
    >>> img = simulate.make_image(truth, simulate.ImageSpec(shape=(400, 400), seed=1))
    >>> cat = extract_sources(img.data, img.wcs, error=img.error, weight=img.weight, psf=img.psf)
    >>> len(cat) >= 15
    True
    """
    reader = _as_reader(image, error, weight, mask)
    return _extract(reader, wcs, locals(), meta)


def _as_reader(image, error, weight, mask):
    if image is None or not hasattr(image, "shape"):
        raise WorkbookError("image must be a 2-D array (the SCI data); got "
                            f"{type(image).__name__}")
    if len(image.shape) != 2:
        raise WorkbookError(f"image must be 2-D, got shape {tuple(image.shape)}; pass one science plane (SCI)")
    for name, arr in (("error", error), ("weight", weight), ("mask", mask)):
        if arr is not None and tuple(arr.shape) != tuple(image.shape):
            raise WorkbookError(f"{name} has shape {tuple(arr.shape)} but the image is {tuple(image.shape)}; "
                                "pass the matching ERR/WHT/mask plane")
    if weight is not None and not isinstance(weight, _SectionArray):
        if not np.any(np.asarray(weight) > 0):
            raise WorkbookError("the weight map is zero everywhere (no valid pixels); check the WHT extension "
                                "or pass weight=None")
    return _Image(image, error, weight, mask)


def _extract(reader, wcs, opts_in, meta):
    from tqdm.auto import tqdm

    t_start = time.perf_counter()
    _check_wcs(wcs)
    opts = {k: opts_in[k] for k in ("threshold", "minarea", "deblend_nthresh", "deblend_cont", "back_size",
                                    "back_filter_size", "psf", "use_psf_fit", "gain", "saturation", "psf_radius",
                                    "psf_iterations", "neighbour_passes", "extended_size_ratio", "extended_chi2",
                                    "epsf_min_snr", "epsf_max_stars")}
    if not (isinstance(opts["threshold"], (int, float)) and opts["threshold"] > 0):
        raise WorkbookError(f"threshold = {opts['threshold']!r} must be a positive number of sigma, e.g. 3")
    ny, nx = reader.shape
    if ny < 16 or nx < 16:
        raise WorkbookError(f"image is only {nx}x{ny} pixels; source extraction needs at least 16x16")
    psf = opts["psf"]
    state = {"n_valid": 0, "fwhm": opts_in.get("fwhm"), "prf": None, "psf_used": psf,
             "psf_fwhm": psf_fwhm(psf) if psf is not None else None}
    if state["fwhm"] is None and psf is not None:
        state["fwhm"] = state["psf_fwhm"]
    tile_size = opts_in.get("tile_size")
    if tile_size is None and ny * nx > opts_in["auto_tile_pixels"]:
        tile_size = 4096
    fwhm_for_overlap = state["fwhm"] or 3.0
    overlap = opts_in.get("tile_overlap")
    if overlap is None:
        overlap = int(max(64, 12 * fwhm_for_overlap, 2 * opts["back_size"]))
    if tile_size is None:
        tiles = [(((0, ny), (0, nx)), ((0, ny), (0, nx)))]
    else:
        tile_size = int(tile_size)
        if tile_size < 64:
            raise WorkbookError(f"tile_size = {tile_size} is too small; use >= 512 (default 4096)")
        tiles = _plan_tiles((ny, nx), tile_size, int(overlap))
    parts = []
    progress = opts_in.get("progress")
    bar = tqdm(tiles, desc="tiles", disable=True if progress is False else (None if progress is None else False),
               leave=False) if len(tiles) > 1 else tiles
    for region, core in bar:
        part = _process_tile(reader, region, core, opts, state)
        if part is not None and len(part["x"]):
            parts.append(part)
    if state["n_valid"] == 0:
        raise WorkbookError("the image has no valid pixels (all NaN, all zero or constant, or zero weight); "
                            "check that you opened the science extension of the right file")
    cat = _assemble(parts, wcs)
    cat.meta.update(meta or {})
    cat.meta.update({
        "fwhm_pix": float(state["fwhm"]) if state["fwhm"] else None,
        "n_tiles": len(tiles),
        "tile_size": tile_size,
        "tile_overlap": int(overlap) if tile_size else None,
        "psf_model": _psf_description(state, opts),
        "pixel_convention": "0-based; the centre of the first pixel is (0, 0) (astropy/photutils)",
        "threshold_sigma": float(opts["threshold"]),
        "windowed_floor_pix": float(np.max(state.get("win_floor_pix", [0.0]) or [0.0])),
        "epsf_error_pix": state.get("epsf_error_pix"),
        "crb_coef": _crb_coef(state["prf"]) if state.get("prf") is not None else None,
        "timing_s": {"total": round(time.perf_counter() - t_start, 3), "psf_fit": round(state.get("t_psf", 0.0), 3)},
        "flags": "1 saturated, 2 edge, 4 neighbour within 1.5 FWHM, 8 masked, 16 PSF fit failed",
    })
    if len(cat) == 0:
        warnings.warn(f"no sources above {opts['threshold']:g} sigma; the catalog is empty "
                      "(lower threshold or check the image)", SourceExtractionWarning, stacklevel=3)
    return cat


def _psf_description(state, opts):
    if not opts["use_psf_fit"]:
        return "none (windowed centroids only)"
    used = state.get("psf_used")
    if used is None:
        return "none (no PSF available: windowed centroids)"
    if opts["psf"] is not None:
        return "supplied: " + str(getattr(used, "meta", {}).get("model", type(used).__name__))
    return used.meta.get("model", "ePSF")


def _assemble(parts, wcs):
    units = {"x": "pix", "y": "pix", "x_err": "pix", "y_err": "pix", "ra": "deg", "dec": "deg", "ra_err": "mas",
             "dec_err": "mas", "fwhm": "pix", "xy_cov": "pix2", "x_win": "pix", "y_win": "pix", "x_win_err": "pix",
             "y_win_err": "pix", "r50": "pix", "nn_dist": "pix"}
    if parts:
        cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    else:
        cols = {k: np.zeros(0) for k in ("x", "y", "x_err", "y_err", "xy_cov", "flux", "flux_err", "snr", "fwhm",
                                         "x_win", "y_win", "x_win_err", "y_win_err", "flux_aper", "flux_aper_err",
                                         "r50", "peak", "chi2nu", "nn_dist")}
        cols.update(kind=np.zeros(0, "<U8"), flags=np.zeros(0, np.int32), method=np.zeros(0, "<U8"),
                    npix=np.zeros(0, np.int64))
    n = len(cols["x"])
    order = np.lexsort((cols["x"], cols["y"])) if n else np.zeros(0, int)
    cols = {k: v[order] for k, v in cols.items()}
    ra, dec, ra_err, dec_err = _sky_columns(wcs, cols["x"], cols["y"], cols["x_err"], cols["y_err"], cols["xy_cov"])
    t = Table()
    t["id"] = np.arange(1, n + 1, dtype=np.int64)
    t["x"], t["y"] = cols["x"], cols["y"]
    t["x_err"], t["y_err"] = cols["x_err"], cols["y_err"]
    t["ra"], t["dec"] = ra, dec
    t["ra_err"], t["dec_err"] = ra_err, dec_err
    t["flux"], t["flux_err"] = cols["flux"], cols["flux_err"]
    t["snr"] = cols["snr"]
    t["fwhm"] = cols["fwhm"]
    t["kind"] = np.asarray(cols["kind"], dtype="<U8")
    t["flags"] = np.asarray(cols["flags"], dtype=np.int32)
    t["method"] = np.asarray(cols["method"], dtype="<U8")
    for k in ("xy_cov", "x_win", "y_win", "x_win_err", "y_win_err", "flux_aper", "flux_aper_err", "r50", "npix",
              "peak", "chi2nu", "nn_dist"):
        t[k] = cols[k]
    for k, u in units.items():
        t[k].unit = u
    return t


def extract_sources_fits(path, *, mask=None, progress=None, meta=None, **options):
    """`extract_sources` on a FITS file (HST drz/drc, JWST i2d), read tile by tile.

    The SCI, ERR and WHT extensions are found by name (a file with only a primary image works
    too); the metadata (``image, epoch, instrument, filter, pixel_scale, wcsname``) comes from the
    headers and is overridden by ``meta``. For HST products in ELECTRONS/S without ERR the gain
    is EXPTIME.

    Parameters
    ----------
    path : str or `~pathlib.Path`
    mask : 2-D bool array, optional
    progress : bool or None
    meta : dict, optional
    **options
        Passed to `extract_sources`.

    Returns
    -------
    catalog : `~astropy.table.Table`
    """
    info = read_image(path)
    try:
        sci = info["sci"]
        shape = (int(sci.header["NAXIS2"]), int(sci.header["NAXIS1"]))
        n_pix = shape[0] * shape[1]
        small = n_pix <= options.get("auto_tile_pixels", 6144**2) and options.get("tile_size") is None

        def plane(hdu):
            if hdu is None:
                return None
            if small:
                return np.asarray(hdu.data)
            return hdu.section if hasattr(hdu, "section") else hdu.data

        data, err, wht = plane(sci), plane(info["err"]), plane(info["wht"])
        if err is not None and tuple(getattr(err, "shape", shape)) != shape:
            err = None
        if wht is not None and tuple(getattr(wht, "shape", shape)) != shape:
            wht = None
        if "gain" not in options and err is None and info["meta"].get("bunit", "").upper().startswith("ELECTRONS/S"):
            options["gain"] = float(info["header"].get("EXPTIME", 0)) or None
        if "saturation" not in options and "SATURATE" in info["header"]:
            options["saturation"] = float(info["header"]["SATURATE"])
        full_meta = dict(info["meta"])
        full_meta.pop("bunit", None)
        full_meta.update(meta or {})
        return extract_sources(_SectionArray(data, shape), info["wcs"], error=_SectionArray.wrap(err, shape),
                               mask=mask, weight=_SectionArray.wrap(wht, shape), progress=progress, meta=full_meta,
                               **options)
    finally:
        info["hdul"].close()


class _SectionArray:
    """Give an astropy ``Section`` (or array) a ``shape`` and slicing (tile-wise FITS reading)."""

    def __init__(self, obj, shape):
        self.obj = obj
        self.shape = tuple(shape)
        if hasattr(obj, "ndim") and getattr(obj, "ndim", 2) != 2:
            raise WorkbookError(f"image must be 2-D, got shape {tuple(obj.shape)}; pass one science plane (SCI)")

    @classmethod
    def wrap(cls, obj, shape):
        return None if obj is None else cls(obj, shape)

    def __getitem__(self, key):
        return np.asarray(self.obj[key])


def write_catalog(catalog, path, overwrite=True):
    """Write a source catalog as ECSV atomically (``helpers._io.atomic_path``).

    Parameters
    ----------
    catalog : `~astropy.table.Table`
    path : str or `~pathlib.Path`
    overwrite : bool
        Catalogs are regenerated on every run, so replacing is the default.

    Returns
    -------
    path : `~pathlib.Path`
    """
    path = Path(path)
    with atomic_path(path, overwrite=overwrite) as tmp:
        catalog.write(tmp, format="ascii.ecsv", overwrite=True)
    return path


# ----------------------------------------------------------------------------------------------
# Notebook 02: the field's images
# ----------------------------------------------------------------------------------------------
def field_images(cfg, max_images=None, progress=None):
    """The images notebook 02 processes, best first.

    Reads ``cfg.extra["images"]`` (written by notebook 01: dicts with ``path, product_id,
    instrument, filter, epoch, pixel_scale, wcsname``). When notebook 01 has not run (no
    ``images``), the offline demo field is simulated (`helpers.simulate.demo_field`) and written as
    HST drc / JWST i2d-like FITS files into the workspace's ``archive/`` directory.

    Parameters
    ----------
    cfg : `helpers.config.FieldConfig`
    max_images : int, optional
        Process at most this many (the best first).
    progress : bool or None

    Returns
    -------
    images : list of dict
    simulated : bool
        True when the demo field was simulated here.

    Raises
    ------
    WorkbookError
        If a listed image file is missing.
    """
    images = list(cfg.extra.get("images") or [])
    simulated = False
    if not images:
        images = _simulate_demo_images(cfg, progress=progress)
        simulated = True
    if max_images is not None:
        images = images[: int(max_images)]
    for im in images:
        if not Path(im["path"]).exists():
            raise WorkbookError(f"image {im['path']} listed by notebook 01 is missing; re-run notebook 01 "
                                "(01_find_imaging) to download it")
    return images, simulated


def _simulate_demo_images(cfg, progress=None):
    from tqdm.auto import tqdm

    from .. import simulate

    truth, specs = simulate.demo_field()
    out = []
    archive = cfg.subdir("archive")
    for spec in tqdm(specs, desc="simulating demo images", disable=None if progress is None else not progress):
        path = archive / f"{spec.name}_{simulate.INSTRUMENTS[spec.instrument]['product']}.fits"
        if not path.exists():
            simulate.make_image(truth, spec).writeto(path)
        out.append({"path": str(path), "product_id": spec.name, "instrument": spec.instrument, "filter": spec.filter,
                    "epoch": float(spec.epoch),
                    "pixel_scale": float(spec.pixel_scale or simulate.INSTRUMENTS[spec.instrument]["pixel_scale"]),
                    "wcsname": simulate.INSTRUMENTS[spec.instrument]["wcsname"], "simulated": True})
    return out


def extract_field_images(cfg, images, overwrite=True, progress=None, **options):
    """Extract every image of the field and write ``catalogs/sources_<product_id>.ecsv``.

    Parameters
    ----------
    cfg : `helpers.config.FieldConfig`
    images : list of dict
        From :func:`field_images`.
    overwrite : bool
        Replace existing catalogs (they are regenerated on every run).
    progress : bool or None
        tqdm bar over the images.
    **options
        Passed to `extract_sources` (``threshold``, ``use_psf_fit`` ...).

    Returns
    -------
    summary : `~astropy.table.Table`
        One row per image: ``product_id, instrument, filter, epoch, n_sources, n_point, n_psf,
        fwhm_pix, median_err_mas`` (point sources with SNR > 50, per axis), ``psf_model``,
        ``seconds``, ``catalog`` (path).
    catalogs : dict
        ``product_id`` → catalog table.

    Raises
    ------
    WorkbookError
        If no image could be extracted (an unusable image is skipped with a warning).

    Notes
    -----
    Records the catalogs in ``cfg.extra["source_catalogs"]`` for notebooks 03–05.
    """
    from tqdm.auto import tqdm

    rows, catalogs, records = [], {}, []
    for im in tqdm(images, desc="images", unit="image", disable=None if progress is None else not progress):
        meta = {"image": im["product_id"], "epoch": im.get("epoch"), "instrument": im.get("instrument"),
                "filter": im.get("filter"), "pixel_scale": im.get("pixel_scale"), "wcsname": im.get("wcsname")}
        meta = {k: v for k, v in meta.items() if v is not None}
        t0 = time.perf_counter()
        try:
            cat = extract_sources_fits(im["path"], meta=meta, progress=False, **options)
        except WorkbookError as exc:
            # One unusable image must not stop the others: say why and go on.
            warnings.warn(f"skipped {im['product_id']}: {exc}", SourceExtractionWarning, stacklevel=2)
            continue
        seconds = time.perf_counter() - t0
        path = write_catalog(cat, cfg.subdir("catalogs") / f"sources_{im['product_id']}.ecsv", overwrite=overwrite)
        catalogs[im["product_id"]] = cat
        point = np.asarray(cat["kind"]) == "point"
        bright = point & (np.asarray(cat["snr"]) > 50) & (np.asarray(cat["flags"]) == 0)
        med = float(np.median(np.hypot(cat["ra_err"][bright], cat["dec_err"][bright]) / np.sqrt(2))) if bright.any() else np.nan
        rows.append((im["product_id"], cat.meta.get("instrument", ""), cat.meta.get("filter", ""),
                     float(cat.meta.get("epoch") or np.nan), len(cat), int(point.sum()),
                     int(np.sum(np.asarray(cat["method"]) == "psf")), float(cat.meta.get("fwhm_pix") or np.nan), med,
                     str(cat.meta.get("psf_model", "")), round(seconds, 1), str(path)))
        records.append({"product_id": im["product_id"], "path": str(path), "n_sources": len(cat),
                        "n_point": int(point.sum()), "median_err_mas": None if np.isnan(med) else round(med, 2)})
    if not rows:
        raise WorkbookError("no image could be extracted (see the warnings above); check notebook 01's downloads")
    summary = Table(rows=rows, names=("product_id", "instrument", "filter", "epoch", "n_sources", "n_point", "n_psf",
                                      "fwhm_pix", "median_err_mas", "psf_model", "seconds", "catalog"))
    summary["median_err_mas"].unit = "mas"
    summary["fwhm_pix"].unit = "pix"
    summary["seconds"].unit = "s"
    summary["fwhm_pix"].format = ".2f"
    summary["median_err_mas"].format = ".2f"
    summary["epoch"].format = ".2f"
    cfg.update(extra={"source_catalogs": records})
    return summary, catalogs
