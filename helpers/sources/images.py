"""Reading images: HST drz/drc/flt-like and JWST i2d FITS products (SCI, ERR, WHT, WCS, metadata),
in-memory arrays or FITS sections read tile by tile."""

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import WorkbookError


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
