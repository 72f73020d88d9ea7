"""Rendering primitives: sampling the pixel-response function, adding star stamps and
PSF-convolved Sérsic galaxy stamps to an image, and the flux that gives a chosen SNR."""

import math

import numpy as np
from scipy import ndimage


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


def _star_stamp_radius(peak_e, prf):
    """Stamp half-size (pixels) per star from its peak-pixel charge ``peak_e`` (e-): larger stamps for
    brighter stars, so that their wings are rendered where they stand above the noise (10, 16, 24 px,
    then the whole PSF model for peaks of 10⁶ e- and more)."""
    return np.select([peak_e < 2e3, peak_e < 5e4, peak_e < 1e6], [10, 16, 24], prf.half_pix - 1)


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


def inject_gaussian_stars(image, sky_sigma, rng, fwhm=2.5, spacing=42, margin=40, snr_range=(15.0, 150.0), psf=None,
                          avoid=None, max_contamination=0.2):
    """Add Gaussian stars on a jittered grid to a (real) image: the injection test of a noise model.

    Parameters
    ----------
    image : ndarray
        The image to inject into (not modified).
    sky_sigma : float
        Sky noise per pixel, image units; sets the stars' flux from their SNR.
    rng : `numpy.random.Generator`
        Draws the sub-pixel jitter and the SNRs (in that order: x, y, SNR).
    fwhm : float
        Stellar FWHM, pixels.
    spacing, margin : int
        Grid step and distance from the edges, pixels.
    snr_range : (float, float)
        SNRs drawn log-uniformly in this range (optimal, PSF-weighted SNR on the sky noise).
    psf : `photutils.psf.ImagePSF`, optional
        Render the stars with this pixel-integrated, oversampled model instead of a Gaussian (an
        injection test of a PSF fit with the PSF the extraction uses on the image); ``fwhm`` is then
        ignored. Same draws, so the positions and SNRs equal the Gaussian injection's.
    avoid : (x, y, flux) of array, optional
        Sources already in the image (0-based pixels; total flux, image units), e.g. a catalog of
        it. A grid position is skipped when their light at its centre, rendered with the same
        profile, exceeds ``max_contamination`` x the injected star's peak: on a crowded image (a
        globular cluster) a star placed in a bright star's wings is below the local confusion and is
        not recoverable by any extractor, so counting it as "lost" says nothing about the extraction.
        The draws are made for the whole grid first, so the kept stars are a subset of those
        injected without ``avoid``.
    max_contamination : float
        Largest neighbours' light at the centre, in units of the injected star's peak pixel.

    Returns
    -------
    injected : ndarray of float32
    x, y : ndarray
        True 0-based positions of the injected stars, pixels.

    Raises
    ------
    WorkbookError
        ``avoid`` leaves no free grid position, or is not three arrays of one length.
    """
    from ..errors import WorkbookError
    from ..validate import require_instance, require_number
    from ._checks import require_pair

    if not (isinstance(image, np.ndarray) and image.ndim == 2 and image.dtype.kind in "iuf" and min(image.shape) > 0):
        raise WorkbookError(f"image = {image!r:.40} is not a 2-D numeric image; give the science array (ndarray)")
    sky_sigma = require_number(sky_sigma, "sky_sigma", minimum=0.0, example="1.0")
    require_instance(rng, np.random.Generator, "rng", "give numpy.random.default_rng(seed)")
    fwhm = require_number(fwhm, "fwhm", minimum=0.1, maximum=1000.0, example="2.5")
    spacing = require_number(spacing, "spacing", integer=True, minimum=1, example="42")
    margin = require_number(margin, "margin", integer=True, minimum=0, example="40")
    snr_range = require_pair(snr_range, "snr_range", minimum=1e-6, example="(15.0, 150.0)")
    max_contamination = require_number(max_contamination, "max_contamination", minimum=0.0, example="0.2")
    if psf is not None and not hasattr(psf, "data"):
        raise WorkbookError(f"psf = {psf!r:.40} is not an ImagePSF; give make_psf's or build_epsf's model, or None")
    n = image.shape[0]
    sig = fwhm / 2.3548
    grid = np.arange(margin, n - margin, spacing)
    px, py = np.meshgrid(grid, grid)
    px = px.ravel() + rng.uniform(-0.5, 0.5, px.size)
    py = py.ravel() + rng.uniform(-0.5, 0.5, py.size)
    snr = 10 ** rng.uniform(np.log10(snr_range[0]), np.log10(snr_range[1]), px.size)
    out = image.astype(np.float32).copy()
    if avoid is not None:
        free = _free_positions(px, py, snr, sky_sigma, avoid, max_contamination, psf, sig)
        px, py, snr = px[free], py[free], snr[free]
    if psf is not None:
        return _inject_psf_stars(out, psf, sky_sigma, px, py, snr), px, py
    flux = snr * sky_sigma * np.sqrt(4 * np.pi * sig**2)
    yy, xx = np.mgrid[:n, :image.shape[1]]
    for x, y, f in zip(px, py, flux):
        sl = (slice(int(y) - 12, int(y) + 13), slice(int(x) - 12, int(x) + 13))
        out[sl] += (f / (2 * np.pi * sig**2) * np.exp(-((xx[sl] - x) ** 2 + (yy[sl] - y) ** 2) / (2 * sig**2))
                    ).astype(np.float32)
    return out, px, py


def _inject_psf_stars(out, psf, sky_sigma, px, py, snr, half=12):
    """Add stars rendered with an oversampled pixel-response model (cubic spline of its samples)."""
    from scipy import ndimage

    data = np.asarray(psf.data, float)
    os_ = int(np.atleast_1d(getattr(psf, "oversampling", 1))[0])
    data = data / (data.sum() / os_**2)
    coeffs = ndimage.spline_filter(data, order=3)
    c = ((data.shape[1] - 1) / 2.0, (data.shape[0] - 1) / 2.0)
    k = np.arange(-half, half + 1)
    for x, y, s in zip(px, py, snr):
        ix, iy = int(round(x)), int(round(y))
        gx, gy = np.meshgrid(ix + k - x, iy + k - y)
        stamp = ndimage.map_coordinates(coeffs, [c[1] + gy * os_, c[0] + gx * os_], order=3, prefilter=False,
                                        mode="constant", cval=0.0)
        # optimal SNR = F sqrt(sum p^2) / sigma on a flat background
        flux = s * sky_sigma / np.sqrt(np.sum(stamp**2))
        y0, x0 = iy - half, ix - half
        ys = slice(max(y0, 0), min(y0 + 2 * half + 1, out.shape[0]))
        xs = slice(max(x0, 0), min(x0 + 2 * half + 1, out.shape[1]))
        out[ys, xs] += (flux * stamp[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0]).astype(np.float32)
    return out


def _free_positions(px, py, snr, sky_sigma, avoid, max_contamination, psf, sig):
    """True where the light of the ``avoid`` sources at (px, py) is below ``max_contamination`` x the
    peak of the star injected there (same profile: the PSF model, or the Gaussian of σ ``sig``)."""
    from ..errors import WorkbookError

    try:
        ax, ay, af = (np.asarray(v, float).ravel() for v in avoid)
    except (TypeError, ValueError):
        raise WorkbookError("avoid must be (x, y, flux) arrays of the sources already in the image") from None
    if not (ax.size == ay.size == af.size):
        raise WorkbookError(f"avoid: x, y and flux have {ax.size}, {ay.size} and {af.size} values; "
                            "give one (x, y, flux) per source") from None
    good = np.isfinite(ax) & np.isfinite(ay) & np.isfinite(af) & (af > 0)
    ax, ay, af = ax[good], ay[good], af[good]
    if psf is not None:
        prf = _PRF(psf)
        k = np.arange(-12, 13, dtype=float)
        centred = prf.sample(*np.meshgrid(k, k))
        centred = centred / centred.sum()
        peak = float(centred.max())
        star_flux = snr * sky_sigma / np.sqrt(np.sum(centred**2))  # as _inject_psf_stars (optimal SNR)
        reach = float(prf.half_pix)

        def profile(dx, dy):
            return prf.sample(dx, dy) / prf.sample(np.zeros(1), np.zeros(1))[0] * peak
    else:
        peak = 1.0 / (2 * np.pi * sig**2)
        star_flux = snr * sky_sigma * np.sqrt(4 * np.pi * sig**2)
        reach = 8.0 * sig

        def profile(dx, dy):
            return peak * np.exp(-(dx**2 + dy**2) / (2 * sig**2))

    from scipy.spatial import cKDTree

    tree = cKDTree(np.column_stack([ax, ay])) if ax.size else None
    free = np.ones(px.size, bool)
    for i in range(px.size):
        near = tree.query_ball_point([px[i], py[i]], reach) if tree is not None else []
        if not near:
            continue
        near = np.asarray(near)
        light = float(np.sum(af[near] * profile(ax[near] - px[i], ay[near] - py[i])))
        free[i] = light <= max_contamination * star_flux[i] * peak
    if not free.any():
        raise WorkbookError(f"no grid position is free of the avoided sources' light (all {px.size} hold more than "
                            f"{max_contamination:g}x an injected star's peak); use a smaller spacing or a larger "
                            "max_contamination")
    return free
