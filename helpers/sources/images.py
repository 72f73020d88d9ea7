"""Reading images: HST drz/drc/flt-like and JWST i2d FITS products (SCI, ERR, WHT, WCS, metadata),
in-memory arrays or FITS sections read tile by tile."""

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..archive.provenance import (asdf_wcs_name, exposure_weighted_epoch, filter_from_header, hap_product,
                                  hdrtab_wcsnames)
from ..errors import WorkbookError
from ..validate import celestial_wcs, require_path


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
        ``hdul`` (open `~astropy.io.fits.HDUList`, memory-mapped; close it when done), ``raw_hdul``
        (the same file opened unscaled when a plane has BZERO/BSCALE/BLANK, e.g. a uint32 DQ; else None;
        close it too), ``sci``, ``err``, ``wht`` (HDUs or None; a scaled plane is a read-only stand-in
        with ``header``, ``data``, ``section``), ``wcs``, ``header`` (primary + science keywords),
        ``dq`` (HDU or None), ``meta`` (``image, epoch`` (decimal year; for a HAP multi-visit mosaic the
        exposure-weighted mean of its HDRTAB, said in a note), ``instrument, filter, pixel_scale, wcsname``
        (``WCSNAME``, else a JWST product's gWCS name from its ASDF extension), ``bunit, distortion``
        (the distortion model the WCS carries, or what it ignores), ``image_frame``
        (``detector`` for flt/flc/cal, else ``rectified``), ``pixfrac`` (``D001PIXF``, when present),
        ``hap`` (``SVM``, ``MVM`` or ``""``: a Hubble Advanced Product), ``wht_type`` (``EXP``/``IVM``/``ERR``
        when the header says which, ``""`` when it does not or there is no WHT: the extraction judges the
        WHT against the sky either way),
        ``read_notes`` (what was assumed), ``noise_notes`` (the part about ERR/WHT, said as a
        warning by `extract_sources_fits`)).

    Warns (one line each) when a plane of another shape is ignored, when the science image is not
    named SCI, when a detector-frame exposure (flt/flc/cal) has a TAN-only WCS (with the size of
    the distortion it ignores), and when its header names a distortion reference file
    (``NPOLFILE``, ``D2IMFILE``, ``DGEOFILE``) whose correction its WCS does not carry.

    Raises
    ------
    WorkbookError
        If the file is missing, not FITS, or has no 2-D image (a cube); if ERR is negative or WHT zero
        everywhere; if the filter keywords disagree.
    """
    from astropy.io import fits

    path = require_path(path, "image path")
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
    shape = (int(sci.header["NAXIS2"]), int(sci.header["NAXIS1"]))
    raw = {}

    def unscaled(hdu):
        # JWST and HST write unsigned DQ (uint32/uint16) as signed integers with BZERO; astropy cannot
        # memory-map scaled data, so such planes are read unscaled and scaled here, section by section
        if hdu is None or not _is_scaled(hdu):
            return hdu
        if "hdul" not in raw:
            raw["hdul"] = fits.open(path, memmap=True, do_not_scale_image_data=True)
        return _ScaledPlane(hdu, raw["hdul"][hdul.index_of(hdu)])

    try:
        err, wht, dq, notes, noise = _auxiliary_planes(hdul, names, sci, shape, path.name, wrap=unscaled)
        header = hdul[0].header.copy()
        for key, value in sci.header.items():
            if key not in header and key not in ("", "COMMENT", "HISTORY"):
                header[key] = value
        wcs = celestial_wcs(sci.header, where=path.name, fobj=hdul)
        meta = _meta_from_header(header, wcs, path)
        if not meta["wcsname"]:
            # a JWST product names its WCS in the ASDF gWCS only (tweakreg 'FIT-LVL3-<refcat>')
            meta["wcsname"] = asdf_wcs_name(hdul)
        meta["distortion"] = _distortion_note(header, wcs, path, shape)
        # what a library PSF needs to be resampled to this image (helpers.sources.library)
        meta["image_frame"] = "detector" if _on_detector(header, path) else "rectified"
        if "D001PIXF" in header:
            meta["pixfrac"] = float(header["D001PIXF"])
        meta["hap"] = hap_product(header, filename=path.name)
        if meta["hap"] and (meta["hap"] == "MVM" or not meta["wcsname"]):
            # a mosaic is aligned as its input exposures are: their WCSNAMEs are in HDRTAB
            meta["wcsname"] = "; ".join(hdrtab_wcsnames(hdul)) or meta["wcsname"]
        meta["wht_type"] = _wht_type(header, meta["hap"]) if wht is not None else ""
        if meta["hap"] == "MVM":
            weighted = exposure_weighted_epoch(hdul)
            if weighted is not None and meta["epoch"] is None:
                meta["epoch"] = weighted["epoch"]
            elif weighted is not None and abs(weighted["epoch"] - meta["epoch"]) > 0.01:
                notes.append(f"a multi-visit mosaic of {weighted['n']} exposures ({weighted['first']:.2f}-"
                             f"{weighted['last']:.2f}): its epoch is their exposure-weighted mean "
                             f"{weighted['epoch']:.2f} (HDRTAB), not the first EXPSTART {meta['epoch']:.2f}")
                meta["epoch"] = weighted["epoch"]
    except WorkbookError:
        hdul.close()
        if "hdul" in raw:
            raw["hdul"].close()
        raise
    if sci.name != "SCI":
        notes.append(f"no SCI extension: the {sci.name or 'primary'} image was taken as the science image")
    # What concerns the noise is said by the extraction (extract_sources_fits), which uses it;
    # the rest concerns every reader of the pixels and is said here.
    noise_notes = [n for n in notes if n in noise]
    for note in notes:
        if note not in noise_notes:
            warnings.warn(f"{path.name}: {note}", stacklevel=2)
    meta["read_notes"] = "; ".join(notes)
    meta["noise_notes"] = "; ".join(noise_notes)
    return {"hdul": hdul, "raw_hdul": raw.get("hdul"), "sci": unscaled(sci), "err": err, "wht": wht, "dq": dq,
            "wcs": wcs, "header": header, "meta": meta}


def _wht_type(header, hap):
    """What the WHT is, when the header says it: HAP products are always EXP (``final_wht_type`` in every
    drizzlepac ``pars/hap_pars`` file); else a HISTORY line ``final_wht_type = IVM`` (as the test bed and
    AstroDrizzle parameter dumps write it); else ``""``."""
    import re

    if hap:
        return "EXP"
    history = " ".join(str(v) for v in header.get("HISTORY", []))
    found = re.search(r"final_wht_type\s*=\s*(EXP|IVM|ERR)\b", history, re.IGNORECASE)
    return found.group(1).upper() if found else ""


def _is_scaled(hdu):
    """True for an image HDU whose stored values need BZERO/BSCALE/BLANK applied."""
    h = hdu.header
    return (float(h.get("BZERO", 0) or 0) != 0 or float(h.get("BSCALE", 1) or 1) != 1
            or ("BLANK" in h and int(h.get("BITPIX", -32)) > 0))


class _ScaledPlane:
    """A scaled (BZERO/BSCALE/BLANK) image HDU read from a memory map, section by section.

    ``hdu`` is the normally opened HDU (header); ``raw`` the same HDU opened with
    ``do_not_scale_image_data=True``. Integer planes keep integers (uint32 DQ comes back as int64);
    with BSCALE or BLANK the values are float64 and BLANK pixels NaN.
    """

    def __init__(self, hdu, raw):
        self.header, self.name, self._raw = hdu.header, hdu.name, raw
        self.shape = tuple(int(hdu.header[f"NAXIS{i}"]) for i in range(int(hdu.header["NAXIS"]), 0, -1))
        self.ndim = len(self.shape)
        self._bzero = float(hdu.header.get("BZERO", 0) or 0)
        self._bscale = float(hdu.header.get("BSCALE", 1) or 1)
        self._blank = hdu.header.get("BLANK") if int(hdu.header.get("BITPIX", -32)) > 0 else None

    @property
    def section(self):
        return self

    @property
    def data(self):
        return self[tuple(slice(None) for _ in self.shape)]

    def __getitem__(self, key):
        stored = np.asarray(self._raw.section[key])
        if self._bscale == 1 and self._blank is None and float(self._bzero).is_integer() and stored.dtype.kind in "iu":
            return stored.astype(np.int64) + int(self._bzero)
        out = stored.astype(np.float64) * self._bscale + self._bzero
        if self._blank is not None:
            out[stored == int(self._blank)] = np.nan
        return out


# DQ bits masked before detection. HST (ACS/WFC3/WFPC2 data handbooks): 4 bad detector pixel,
# 8 masked by the aperture feature, 16 hot pixel, 128 bad column, 4096/8192 cosmic ray (AstroDrizzle,
# CRREJ). Saturation (256, 2048) is not masked: saturated stars are flagged, not lost.
# JWST (jwst.datamodels.dqflags): bit 1 DO_NOT_USE.
_HST_DQ_MASKED = 4 | 8 | 16 | 128 | 4096 | 8192
_JWST_DQ_MASKED = 1


def _sampled(hdu, shape, n_side=512):
    """A strided sample of a plane (at most ~n_side² pixels): enough to judge it, cheap on a 20k² mosaic."""
    step = max(1, int(np.ceil(max(shape) / n_side)))
    return np.asarray(hdu.data[::step, ::step], dtype=np.float64)


def _auxiliary_planes(hdul, names, sci, shape, name, wrap=lambda hdu: hdu):
    """ERR, WHT and DQ HDUs that can be used, with one-line notes on what was assumed.

    Raises `WorkbookError` for planes that cannot be right (ERR negative, WHT zero everywhere)."""
    notes, noise = [], []
    planes = {}
    for ext in ("ERR", "WHT", "DQ"):
        hdu = hdul[ext] if ext in names else None
        if hdu is not None and hdu.header.get("NAXIS", 0) == 0:
            hdu = None
        if hdu is not None:
            got = tuple(int(hdu.header.get(f"NAXIS{i}", 0)) for i in range(hdu.header.get("NAXIS", 0), 0, -1))
            if got != shape:
                notes.append(f"{ext} has shape {got}, SCI {shape}: {ext} ignored")
                hdu = None
        planes[ext] = wrap(hdu)
    err, wht, dq = planes["ERR"], planes["WHT"], planes["DQ"]
    if err is not None:
        sample = _sampled(err, shape)
        if np.any(sample[np.isfinite(sample)] < 0):
            raise WorkbookError(f"{name}: the ERR extension has negative values, so it is not a 1-sigma error; "
                                "download the file again or delete ERR (astropy.io.fits) to estimate noise from the sky")
    if wht is not None:
        sample = _sampled(wht, shape)
        finite = sample[np.isfinite(sample)]
        if finite.size == 0 or not np.any(finite > 0):
            raise WorkbookError(f"{name}: the WHT extension is zero everywhere (no pixel has data); "
                                "download the file again or delete WHT to use the image without weights")
        if np.ptp(finite) == 0:
            noise.append(f"WHT is constant ({finite[0]:g}): it carries no per-pixel noise, so the noise is taken "
                         + ("from ERR" if err is not None else "from the sky"))
            wht = None
    if err is None and wht is None and not noise:
        noise.append("no usable ERR or WHT extension: the noise is taken from the sky of the image (uniform noise assumed)")
    return err, wht, dq, notes + noise, noise


def dq_mask(dq_data, telescope="HST"):
    """Pixels to mask from a DQ array (bad pixels, hot pixels, cosmic rays; not saturation).

    Parameters
    ----------
    dq_data : 2-D int array
        The DQ extension.
    telescope : str
        ``"HST"`` or ``"JWST"`` (the bit meanings differ).

    Returns
    -------
    mask : 2-D bool array
        True where the pixel must not be used.
    """
    bits = _JWST_DQ_MASKED if str(telescope).upper().startswith("JWST") else _HST_DQ_MASKED
    return (np.asarray(dq_data).astype(np.int64) & bits) != 0


# Single exposures on the detector: their WCS must carry the geometric distortion.
_DETECTOR_SUFFIXES = ("_flt", "_flc", "_cal", "_rate", "_rateints", "_c0m", "_c0f", "_crj", "_crc")
# pysiaf aperture whose science-to-ideal polynomial gives the detector's non-linear distortion
_SIAF_APERTURE = {"ACS/WFC": ("HST", "JWFC1FIX"), "ACS/HRC": ("HST", "JHRCFIX"), "ACS/SBC": ("HST", "JSBCFIX"),
                  "WFC3/UVIS": ("HST", "IUVIS1FIX"), "WFC3/IR": ("HST", "IIRFIX"),
                  "NIRCAM/SHORT": ("NIRCam", "NRCA1_FULL"), "NIRCAM/LONG": ("NIRCam", "NRCA5_FULL"),
                  "NIRISS": ("NIRISS", "NIS_CEN"), "MIRI": ("MIRI", "MIRIM_FULL")}


def _distortion_key(header):
    instrument = str(header.get("INSTRUME", "")).strip().upper()
    detector = str(header.get("DETECTOR", "")).strip().upper()
    if instrument == "NIRCAM":
        return "NIRCAM/LONG" if detector.endswith("LONG") or detector.endswith("5") else "NIRCAM/SHORT"
    if instrument in ("ACS", "WFC3"):
        return f"{instrument}/{detector}"
    return instrument or None


def distortion_ignored_pix(header, shape):
    """Largest non-linear geometric distortion over a detector, in pixels (what a TAN-only WCS misses).

    From the science-to-ideal polynomial of the instrument's aperture in the SIAF shipped with
    pysiaf: the polynomial is sampled over the image and its best affine fit removed (the CD
    matrix of a TAN WCS absorbs the linear part).

    Parameters
    ----------
    header : `~astropy.io.fits.Header`
        Needs ``INSTRUME`` (and ``DETECTOR`` for ACS, WFC3, NIRCam).
    shape : tuple of int
        Image shape (ny, nx), pixels.

    Returns
    -------
    size : float or None
        Maximum residual, pixels; None when the SIAF has no polynomial for this detector.
    """
    key = _distortion_key(header)
    if key not in _SIAF_APERTURE:
        return None
    return _siaf_nonlinear_pix(*_SIAF_APERTURE[key], int(shape[1]), int(shape[0]))


_SIAF_CACHE = {}


def _siaf_nonlinear_pix(telescope_or_instrument, aperture_name, nx, ny):
    cache_key = (telescope_or_instrument, aperture_name, nx, ny)
    if cache_key in _SIAF_CACHE:
        return _SIAF_CACHE[cache_key]
    size = None
    try:
        import pysiaf

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            aperture = pysiaf.Siaf(telescope_or_instrument)[aperture_name]
            x, y = np.meshgrid(np.linspace(1, nx, 21), np.linspace(1, ny, 21))
            x, y = x.ravel(), y.ravel()
            x_idl, y_idl = aperture.sci_to_idl(x, y)
        design = np.c_[np.ones_like(x), x, y]
        res_x = x_idl - design @ np.linalg.lstsq(design, x_idl, rcond=None)[0]
        res_y = y_idl - design @ np.linalg.lstsq(design, y_idl, rcond=None)[0]
        scale = float(np.hypot(aperture.Sci2IdlX10, aperture.Sci2IdlY10))  # arcsec per pixel along x
        size = float(np.max(np.hypot(res_x, res_y)) / scale) if scale > 0 else None
    except Exception:  # noqa: BLE001 - pysiaf absent or aperture without polynomial: size unknown, said so
        size = None
    _SIAF_CACHE[cache_key] = size
    return size


def _on_detector(header, path):
    """True for a single exposure in the detector frame (flt/flc/cal...), False for a resampled product."""
    stem = Path(path).stem.lower()
    return stem.endswith(_DETECTOR_SUFFIXES) or (
        "IDCTAB" in header and "D001SCAL" not in header and "NDRIZIM" not in header)


def _distortion_note(header, wcs, path, shape):
    """What geometric distortion the WCS carries; one warning when a detector-frame exposure has none."""
    parts = []
    if getattr(wcs, "sip", None) is not None:
        parts.append("SIP")
    if getattr(wcs, "det2im1", None) is not None or getattr(wcs, "det2im2", None) is not None:
        parts.append("D2IM")
    if getattr(wcs, "cpdis1", None) is not None or getattr(wcs, "cpdis2", None) is not None:
        parts.append("NPOL")
    ctype = str(header.get("CTYPE1", "")).upper()
    if ctype.endswith(("-TPV", "-TPD")) or "PV1_1" in header:
        parts.append(ctype[-3:] if ctype.endswith(("-TPV", "-TPD")) else "PV")
    if parts:
        said = "+".join(parts) + " (full astropy WCS)"
        missing = _named_corrections_absent(header, parts) if _on_detector(header, path) else []
        if missing:
            warnings.warn(f"{Path(path).name}: its header names {', '.join(missing)}, which its WCS does not "
                          f"carry ({'+'.join(parts)} only): that fine-scale correction is ignored; update the WCS "
                          "with stwcs.updatewcs (it adds the D2IM/NPOL look-up tables) or download the flt/flc "
                          "again from MAST", stacklevel=3)
            said += f"; ignored: {', '.join(missing)}"
        return said
    if not _on_detector(header, path):
        return "none needed (rectified product)"
    size = distortion_ignored_pix(header, shape)
    said = f"up to {size:.1f} px" if size is not None else "of unknown size"
    warnings.warn(f"{Path(path).name}: a detector-frame exposure with a TAN-only WCS: its geometric distortion "
                  f"({said}, pysiaf SIAF) is ignored; use the drizzled product or update the WCS with "
                  "stwcs/drizzlepac (SIP)", stacklevel=3)
    return f"ignored: TAN only on a distorted detector ({said})"


def _named_corrections_absent(header, carried):
    """Distortion reference files an HST exposure's header names whose correction its WCS lacks.

    ``NPOLFILE`` (non-polynomial residuals) and ``D2IMFILE`` (detector-to-image column correction) are
    applied as look-up tables (``CPDIS``/``D2IMDIS``) by stwcs; ``DGEOFILE`` is the pre-NPOL residual
    distortion image (ACS flt of 2007: ``DGEOFILE = 'jref$qbu16424j_dxy.fits'`` beside a SIP-only WCS).
    ``carried`` are the parts the WCS holds (``SIP``, ``D2IM``, ``NPOL``)."""
    missing = []
    for key, part in (("NPOLFILE", "NPOL"), ("D2IMFILE", "D2IM"), ("DGEOFILE", "NPOL")):
        value = str(header.get(key, "") or "").strip()
        if value and value.upper() not in ("N/A", "NONE", "") and part not in carried:
            missing.append(f"{key} = {value}")
    return missing


def _meta_from_header(header, wcs, path):
    from astropy.wcs.utils import proj_plane_pixel_scales

    instrument = str(header.get("INSTRUME", "")).strip()
    detector = str(header.get("DETECTOR", "")).strip()
    if instrument and detector and instrument.upper() in ("ACS", "WFC3"):
        instrument = f"{instrument}/{detector}"
    filt = filter_from_header(header, source=Path(path).name)
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


class _DQMask:
    """Bad-pixel mask computed from a DQ plane (array or FITS section) tile by tile."""

    def __init__(self, dq, shape, telescope, extra=None):
        self.dq, self.shape, self.telescope, self.extra = dq, tuple(shape), telescope, extra

    def __getitem__(self, key):
        bad = dq_mask(np.asarray(self.dq[key]), self.telescope)
        return bad if self.extra is None else bad | np.asarray(self.extra[key], dtype=bool)
