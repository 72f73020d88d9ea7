"""Background and noise: the per-pixel variance model and the background-subtracted tile with its
detection image."""

import numpy as np

from .noise import SCALE_APPLY_TOLERANCE, measure_sky_noise, resampled_variance_ratio


class _Noise:
    """Per-pixel variance, evaluated only at the pixels that need it (stamps), so no full-size
    variance image is ever made.

    Total variance = ERR² when an error array is given (HST/JWST ERR include the source's Poisson
    noise); otherwise background variance (1/WHT, or the background RMS²) plus ``model/gain``, where
    ``gain`` is a number or a per-pixel map of the tile's shape (a drizzled product's local depth,
    see :func:`poisson_depth_reference`).
    """

    def __init__(self, error=None, weight=None, scalar_rms=None, gain=None):
        # Contiguous once here, so the flat-index look-ups below never copy a tile view per call.
        self.error = None if error is None else np.ascontiguousarray(error)
        self.weight = None if weight is None else np.ascontiguousarray(weight)
        self.scalar_rms = scalar_rms
        self.gain = gain if gain is None or np.ndim(gain) == 0 else np.ascontiguousarray(gain)

    @property
    def has_poisson(self):
        """Whether a source Poisson term ``model / gain`` is added (no ERR plane, gain known)."""
        return self.gain is not None and (np.ndim(self.gain) > 0 or bool(self.gain))

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
        if self.has_poisson and model is not None:
            gain = self.gain if np.ndim(self.gain) == 0 else self.gain.ravel().take(flat)
            v = v + np.maximum(model, 0.0) / gain
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
        if self.has_poisson:
            var += np.maximum(sub, 0) / (np.float32(self.gain) if np.ndim(self.gain) == 0 else self.gain)
        return np.sqrt(var)


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
    # Noise read from the image: is the claimed per-pixel σ (ERR, 1/√WHT, sep's rms) what the sky
    # shows, and is the noise correlated (drizzle)? Measured on a central window of the tile.
    sky_noise = _measure_tile_noise(det, det_err, bad_or_masked)
    scale = sky_noise["pixel_scale"]
    # Crowded (a globular cluster): detect above the confusion noise, else at 4 pixel-σ the whole
    # field is one connected island and deblending returns a few hundred pieces (47 Tuc flt: 885
    # sources at 4 ERR-σ, 3,015 at 4 confusion-σ = 5.2 ERR-σ). Errors keep the pixel noise.
    det_err = det_err * sky_noise.get("confusion_scale", 1.0)
    depth_weight = weight  # before any rescaling: the product's own WHT, the local depth
    if (error is not None or weight is not None) and np.isfinite(scale) and abs(scale - 1.0) > SCALE_APPLY_TOLERANCE:
        # e.g. a WHT in exposure-time units (EXP), not inverse variance: σ follows the sky
        det_err = float(scale)
        if error is not None:
            error = error * np.float32(scale)
        else:
            weight = weight / np.float32(scale**2)
        sky_noise["scale_applied"] = True
    gain = opts["gain"]
    if gain and error is None:
        # the source's Poisson term in a drizzled pixel is spread into its correlated neighbours like
        # the sky's (see resampled_variance_ratio); gain is counts per image unit of the exposures
        ratio = resampled_variance_ratio(sky_noise["correlation"])
        reference = opts.get("gain_reference_weight")
        if reference and depth_weight is not None:
            # a mosaic's depth varies: the gain follows the WHT (1-exposure zones of a 4-exposure
            # product count a quarter of the electrons per e-/s)
            with np.errstate(divide="ignore", invalid="ignore"):
                gain = np.where(depth_weight > 0, np.float32(gain / (reference * ratio)) * depth_weight,
                                np.float32(np.inf)).astype(np.float32)
        else:
            gain = gain / ratio
        sky_noise["poisson_variance_ratio"] = round(float(ratio), 3)
    noise = _Noise(error=error, weight=weight, scalar_rms=float(bkg.globalrms) if bkg.globalrms > 0 else 1.0,
                   gain=gain)
    return {"sub": data, "det": det, "det_err": det_err, "bad": bad_or_masked, "edge_bad": bad,
            "user_mask": user_mask, "noise": noise, "any_bad": any_bad, "globalrms": float(bkg.globalrms),
            "sky_noise": sky_noise}


#: WHT at and above this fraction of its 99th percentile counts as the product's full depth.
FULL_DEPTH_FRACTION = 0.8


def poisson_depth_reference(weight, exptime, wht_type="", scale_ratio=None, max_pixels=4_000_000):
    """The WHT of a drizzled product's full depth, where its Poisson gain is EXPTIME.

    A drizzled HST product in e-/s without ERR has the source's Poisson variance ``model / gain``
    with the gain the exposure time behind the pixel. Its header's EXPTIME is the inputs' total; a
    mosaic whose exposures do not all overlap (dither edges, several visits) has less depth in most
    places, and the WHT says how much: with exposure-time weights (EXP, HAP's choice) the WHT is the
    exposure time times the output/input pixel-area ratio; with inverse-variance weights (IVM) it is
    proportional to the depth where the sky dominates the noise. The per-pixel gain is then
    ``EXPTIME × WHT / reference``.

    Parameters
    ----------
    weight : 2-D array or `~astropy.io.fits.Section`
        The product's WHT (read in strided rows when large).
    exptime : float
        Header EXPTIME, s.
    wht_type : {"EXP", "IVM", "ERR", ""}
        What the WHT is, when the header says (`helpers.sources.images`).
    scale_ratio : float, optional
        Output / input pixel size (the drizzle keywords).
    max_pixels : int
        Pixels read to find the full-depth level.

    Returns
    -------
    reference : float or None
        The WHT of full depth (None when the WHT cannot say).
    note : str
        One line saying where the gain came from (``meta['poisson_source']``).
    """
    ny = int(weight.shape[0])
    step = max(1, int(np.ceil(ny * int(weight.shape[1]) / max_pixels)))
    sample = np.asarray(weight[::step] if step > 1 else weight[:, :], dtype=np.float64)
    sample = sample[np.isfinite(sample) & (sample > 0)]
    if sample.size < 100 or not exptime:
        return None, f"EXPTIME {exptime:g} s everywhere (the WHT has too few positive pixels to give the depth)"
    top = float(np.percentile(sample, 99.0))
    reference = float(np.median(sample[sample >= FULL_DEPTH_FRACTION * top]))
    full = float(np.mean(sample >= FULL_DEPTH_FRACTION * top))
    if str(wht_type).upper() == "EXP" and scale_ratio:
        expected = exptime * scale_ratio**2
        if reference < FULL_DEPTH_FRACTION * expected:
            # no pixel sees every input (a multi-visit mosaic): the WHT is the depth itself
            return expected, (f"EXPTIME x WHT / {expected:.4g} per pixel (EXP weights, no pixel at the total "
                              f"{exptime:g} s: the depth is the WHT over the pixel-area ratio {scale_ratio**2:.3g})")
    kind = {"EXP": "EXP", "IVM": "IVM, proportional to depth where the sky dominates"}.get(str(wht_type).upper(),
                                                                                        "type unknown")
    return reference, (f"EXPTIME {exptime:g} s x WHT / {reference:.4g} per pixel (WHT {kind}; "
                       f"{full:.0%} of the pixels at full depth)")


#: Above this fraction of a tile's pixels in sources, its "sky" is unresolved starlight and wings:
#: the noise cannot be measured there (47 Tuc ACS/HRC flt: 85 % covered, the sky read 5.2x its ERR and
#: correlated 1.6x at 2x2 px on a detector-frame exposure, whose noise is white). ERR/WHT are then
#: taken as given and no correlation is applied (said as a warning by the extraction).
CROWDED_SKY_FRACTION = 0.5


def _measure_tile_noise(det, det_err, bad, window=512):
    """`measure_sky_noise` on the central ``window``² pixels of a tile (in units of the claimed σ).

    Pixels whose 3x3 mean exceeds the window's robust σ (1.4826 MAD; 3σ of a white-noise 3x3 mean),
    grown by 3 px, count as source-covered (white noise: 2.5 %, the HDF-S mosaic 33 %, 47 Tuc 68 %); when they are more than `CROWDED_SKY_FRACTION` of the window nothing is
    measured (``pixel_scale`` NaN, no correlation, ``crowded_fraction`` says how much was covered).
    """
    from scipy import ndimage

    ny, nx = det.shape
    y0, x0 = max(0, (ny - window) // 2), max(0, (nx - window) // 2)
    cut = (slice(y0, y0 + window), slice(x0, x0 + window))
    normalized = det[cut] / np.float32(det_err)
    # in units of the window's own robust σ: a claimed σ 20x too small (WHT in EXP units) must not
    # make every pixel look like a source
    finite = normalized[np.isfinite(normalized) & ~bad[cut]]
    mad = 1.4826 * float(np.median(np.abs(finite - np.median(finite)))) if finite.size > 100 else 0.0
    covered = (ndimage.binary_dilation(ndimage.uniform_filter(normalized / np.float32(mad), 3) > 1.0, iterations=3)
               if mad > 0 else np.zeros(normalized.shape, bool))
    fraction = float(np.mean(covered | bad[cut]))
    if fraction > CROWDED_SKY_FRACTION:
        # What the "sky" fluctuates by here is confusion (unresolved stars, wings), not pixel noise:
        # kept apart as the unit of the detection threshold, never folded into the errors.
        confusion = measure_sky_noise(normalized, bad[cut])["pixel_scale"]
        out = {"pixel_scale": float("nan"), "correlation": {}, "n_sky": 0,
               "confusion_scale": float(confusion) if np.isfinite(confusion) and confusion > 1.0 else 1.0}
    else:
        out = measure_sky_noise(normalized, bad[cut])
    out["crowded_fraction"] = round(fraction, 3)
    out["scale_applied"] = False
    return out


def _crowded_sky(prep):
    """Whether a tile's sky is crowded: more than :data:`CROWDED_SKY_FRACTION` of its pixels in
    sources, so that its "sky" fluctuates by confusion (``confusion_scale`` > 1, set above)."""
    return prep["sky_noise"].get("confusion_scale", 1.0) > 1.0
