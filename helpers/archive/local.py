"""The planner's own images (issue #14): local FITS files get the same checks as downloads.

:func:`local_images` expands paths and globs, verifies each file (`verify_fits`: FITS blocks,
truncation, checksums), decodes its WCS provenance (`wcs_provenance`), checks that it covers the
field centre, ranks the files like MAST products (Gaia-aligned first, then the finer pixel scale)
and returns the ``extra["images"]`` records notebook 02 reads. A mosaic too large to extract
whole is cut around the field with :func:`cutout_image`, which reads only the rows and columns it
needs (``.section`` reads), never the whole file.

:func:`require_imaging` is notebook 01's guard: offline, a field that is not the demo and has
no local images stops with one line naming ``images=`` / ``--image`` and ``--live``.

Units: RA/Dec degrees; sizes arcsec; pixel coordinates 0-based.
"""

import glob
import math
import warnings
from pathlib import Path

import numpy as np

from .._io import atomic_path
from ..errors import WorkbookError
from .downloads import verify_fits
from .provenance import wcs_provenance
from ..validate import (open_fits, require_array, require_instance, require_number, require_path,
                        require_same_length)

__all__ = ["expand_image_paths", "local_images", "cutout_image", "require_imaging", "image_center", "on_image",
           "LARGE_IMAGE_PIXELS", "CHECKSUM_MAX_BYTES"]

#: Images with more pixels than this are cut around the field before extraction (4096^2).
LARGE_IMAGE_PIXELS = 4096 * 4096
#: Files larger than this get a structural check only: astropy's checksum reads the whole file.
CHECKSUM_MAX_BYTES = 512 * 2 ** 20


def expand_image_paths(images):
    """Paths and globs -> existing files, in the order given (duplicates dropped).

    Raises
    ------
    WorkbookError
        A path or glob that matches no file.
    """
    if isinstance(images, (str, Path)):
        images = [images]
    if images is not None and not isinstance(images, (list, tuple)):
        raise WorkbookError(f"images = {images!r:.40} is not a list of paths; give a path, a glob or a list of them")
    out = []
    for item in images or []:
        text = str(require_path(item, "image path"))
        matches = sorted(glob.glob(text)) if any(c in text for c in "*?[") else [text]
        if not matches or not Path(matches[0]).exists():
            raise WorkbookError(f"image {item!s} not found; give the path of a FITS image (or a glob that matches one)")
        for m in matches:
            p = Path(m).resolve()
            if p not in out:
                out.append(p)
    return out


def _structural_check(path):
    """verify_fits without the checksum (which would read a multi-GB file into memory)."""
    from astropy.io import fits

    size = path.stat().st_size
    if size == 0 or size % 2880:
        return False, f"size {size} bytes is not a whole number of 2880-byte FITS blocks (truncated)"
    try:
        with fits.open(path, memmap=True, lazy_load_hdus=False) as hdul:
            end = max(h.fileinfo()["datLoc"] + h.fileinfo()["datSpan"] for h in hdul)
    except Exception as exc:  # astropy raises OSError/ValueError/... on garbage
        return False, f"not a readable FITS file ({exc.__class__.__name__})"
    if end > size:
        return False, f"FITS file truncated ({size} of {end} bytes)"
    return True, "ok"


def _science_hdu(hdul):
    """Index of the image HDU to use: ``SCI`` if present, else the first 2-D image with a celestial WCS."""
    from astropy.wcs import WCS, FITSFixedWarning

    order = [i for i, h in enumerate(hdul) if h.header.get("EXTNAME", "").upper() == "SCI"]
    order += [i for i in range(len(hdul)) if i not in order]
    for i in order:
        h = hdul[i]
        if h.header.get("NAXIS", 0) != 2 or not getattr(h, "is_image", False):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            w = WCS(h.header)
        if w.has_celestial:
            return i, w.celestial
    return None, None


def image_center(path):
    """Sky position of an image's central pixel, degrees ``(ra, dec)``."""
    from ..validate import open_fits

    with open_fits(path, "image", memmap=True) as hdul:
        i, w = _science_hdu(hdul)
        if i is None:
            raise WorkbookError(f"image {Path(path).name} has no celestial WCS; give an image with RA/Dec WCS keywords")
        ny, nx = hdul[i].header["NAXIS2"], hdul[i].header["NAXIS1"]
    ra, dec = w.pixel_to_world_values((nx - 1) / 2, (ny - 1) / 2)
    return float(ra) % 360.0, float(dec)


def on_image(path, ra, dec):
    """Which sky positions fall on an image's pixels (its science HDU), read from the header only.

    Parameters
    ----------
    path : str or Path
        A FITS image with a celestial WCS.
    ra, dec : array_like
        Positions, degrees.

    Returns
    -------
    inside : ndarray of bool
        True where the position maps inside the pixel grid (0-based centres, half-pixel edges).

    Raises
    ------
    WorkbookError
        The image has no celestial WCS.
    """
    ra = require_array(ra, "ra", what="RA in degrees")
    dec = require_array(dec, "dec", what="Dec in degrees")
    require_same_length(ra=ra, dec=dec)
    with open_fits(path, "image", memmap=True) as hdul:
        i, w = _science_hdu(hdul)
        if i is None:
            raise WorkbookError(f"image {Path(path).name} has no celestial WCS; give an image with RA/Dec WCS keywords")
        ny, nx = hdul[i].header["NAXIS2"], hdul[i].header["NAXIS1"]
    with np.errstate(invalid="ignore"):
        x, y = w.world_to_pixel_values(ra, dec)
        x, y = np.asarray(x, float), np.asarray(y, float)
        return np.isfinite(x) & np.isfinite(y) & (x >= -0.5) & (x <= nx - 0.5) & (y >= -0.5) & (y <= ny - 0.5)


def _require_center(center):
    """``center`` as (RA, Dec) floats in degrees, or one line saying what is wrong."""
    if isinstance(center, (str, bytes, dict)) or not hasattr(center, "__len__") or len(center) != 2:
        raise WorkbookError(f"center = {center!r:.40} is not (RA, Dec); give two numbers in degrees, e.g. (53.16, -27.79)")
    ra = require_number(center[0], "center RA", example="53.16 (degrees)")
    dec = require_number(center[1], "center Dec", minimum=-90.0, maximum=90.0, example="-27.79 (degrees)")
    return ra, dec


def cutout_image(path, center, size_arcsec, out_path, overwrite=False):
    """Cut a square around ``center`` out of every image extension of ``path`` with section reads.

    Only the needed rows and columns are read (``ImageHDU.section``, seeking in the file), so a
    40k x 40k mosaic costs the memory of the cut-out, not of the file (``memmap=False``: mapped pages would count as resident). Extensions with the science
    image's shape (``WHT``, ``ERR`` ...) are cut the same way; the primary header is kept (instrument,
    filter, dates, ``WCSNAME`` ...) and the WCS is shifted with `astropy.wcs.WCS.slice`.

    Parameters
    ----------
    path : str or Path
    center : (float, float)
        RA, Dec, degrees.
    size_arcsec : float
        Side of the square, arcsec.
    out_path : str or Path
    overwrite : bool

    Returns
    -------
    out_path : Path
    info : dict
        ``x0, y0`` (0-based pixel of the cut-out's corner in the original), ``shape``, ``original_shape``.

    Raises
    ------
    WorkbookError
        If the centre is not on the image or it has no celestial WCS.
    """
    from astropy.io import fits
    from astropy.wcs import FITSFixedWarning
    from astropy.wcs.utils import proj_plane_pixel_scales

    path = require_path(path, "image path")
    center = _require_center(center)
    size_arcsec = require_number(size_arcsec, "size_arcsec", minimum=1e-3, maximum=36000.0, example="300")
    out_path = require_path(out_path, "out_path")
    if not isinstance(overwrite, (bool, np.bool_)):
        raise WorkbookError(f"overwrite = {overwrite!r:.30} is not True/False; give a bool")
    # memmap=False: .section then reads only the needed rows with file seeks; memory-mapped pages of a
    # multi-GB file would count against the process's resident memory as they are touched.
    with open_fits(path, "image", memmap=False, lazy_load_hdus=True) as hdul:
        i, w = _science_hdu(hdul)
        if i is None:
            raise WorkbookError(f"image {path.name} has no celestial WCS; give an image with RA/Dec WCS keywords")
        sci = hdul[i]
        ny, nx = sci.header["NAXIS2"], sci.header["NAXIS1"]
        xc, yc = (float(v) for v in w.world_to_pixel_values(center[0], center[1]))
        if not (np.isfinite(xc) and -0.5 <= xc <= nx - 0.5 and -0.5 <= yc <= ny - 0.5):
            raise WorkbookError(f"image {path.name} does not contain RA {center[0]:.5f}, Dec {center[1]:.5f}; "
                                "give an image that covers the field (or the field centre with --ra/--dec)")
        scale = float(np.mean(proj_plane_pixel_scales(w))) * 3600.0
        half = int(math.ceil(size_arcsec / scale / 2))
        x0, x1 = max(0, int(round(xc)) - half), min(nx, int(round(xc)) + half + 1)
        y0, y1 = max(0, int(round(yc)) - half), min(ny, int(round(yc)) + half + 1)
        out = [fits.PrimaryHDU(header=hdul[0].header.copy()) if i != 0 else None]
        for k, h in enumerate(hdul):
            if k == 0 and i != 0:
                continue
            if not getattr(h, "is_image", False) or h.header.get("NAXIS", 0) != 2 or h.shape != sci.shape:
                continue
            data = h.section[y0:y1, x0:x1]  # a new array of the cut-out only
            header = h.header.copy()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FITSFixedWarning)
                from astropy.wcs import WCS

                full = WCS(h.header)
            if full.has_celestial:
                for key in ("CRPIX1", "CRPIX2"):
                    header.pop(key, None)
                header.update(full.slice((slice(y0, y1), slice(x0, x1))).to_header(relax=True))
            header["CUTOUT"] = (f"{path.name}[{y0}:{y1},{x0}:{x1}]", "helpers.archive.cutout_image")
            if k == 0:
                out[0] = fits.PrimaryHDU(data, header=header)
            else:
                out.append(fits.ImageHDU(data, header=header))
    with atomic_path(out_path, overwrite=overwrite) as tmp:
        fits.HDUList(out).writeto(tmp)
    return out_path, {"x0": x0, "y0": y0, "shape": (y1 - y0, x1 - x0), "original_shape": (ny, nx)}


def _covers(path, center):
    from astropy.io import fits

    with fits.open(path, memmap=True) as hdul:
        i, w = _science_hdu(hdul)
        ny, nx = hdul[i].header["NAXIS2"], hdul[i].header["NAXIS1"]
    x, y = w.world_to_pixel_values(center[0], center[1])
    return bool(np.isfinite(x) and -0.5 <= x <= nx - 0.5 and -0.5 <= y <= ny - 0.5), nx * ny


def local_images(images, center=None, size_arcsec=300.0, out_dir=None, max_pixels=LARGE_IMAGE_PIXELS):
    """The ``extra["images"]`` records of the planner's own files, verified, ranked, cut if huge.

    Parameters
    ----------
    images : str, Path or list
        Paths or globs.
    center : (float, float), optional
        Field centre, degrees; each image must contain it. Default: the first image's centre.
    size_arcsec : float
        Side of the cut-out made of an image with more than ``max_pixels`` pixels (the MSA field,
        3.6' x 3.4', plus a margin).
    out_dir : str or Path, optional
        Where cut-outs go (the workspace's ``archive/``); required when one is needed.
    max_pixels : int

    Returns
    -------
    records : list of dict
        Best first: ``product_id, path, instrument, filter, epoch, pixel_scale, wcsname,
        provenance, rank, replay (False), local (True), source_file, checksum``, and ``cutout``
        when the file was cut.

    Raises
    ------
    WorkbookError
        Missing or non-FITS file, no celestial WCS, or an image that does not contain the centre.
    """
    center = _require_center(center) if center is not None else None
    size_arcsec = require_number(size_arcsec, "size_arcsec", minimum=1e-3, maximum=36000.0, example="300")
    # infinity is a valid max_pixels ("never cut"), so require_number (finite only) does not fit here
    if isinstance(max_pixels, (bool, np.bool_)) or not isinstance(max_pixels, (int, float, np.integer, np.floating)) \
            or not max_pixels >= 1:
        raise WorkbookError(f"max_pixels = {max_pixels!r:.30} is not a pixel count >= 1; give e.g. 1e8 (inf: never cut)")
    if out_dir is not None:
        out_dir = require_path(out_dir, "out_dir")
    paths = expand_image_paths(images)
    if not paths:
        raise WorkbookError("no images given; pass images=['your.fits'] (CLI: --image PATH)")
    records = []
    for p in paths:
        if p.stat().st_size <= CHECKSUM_MAX_BYTES:
            ok, reason, checksum = verify_fits(p)
        else:
            (ok, reason), checksum = _structural_check(p), "not checked (large file)"
        if not ok:
            # an image edited with astropy (e.g. a bad ERR deleted, as notebook 02 advises) keeps its old
            # NEXTEND and CHECKSUM cards: say how to write it, not only "complete"
            raise WorkbookError(f"image {p.name}: {reason}; give a complete FITS image (edited it with astropy? set "
                                "NEXTEND to its number of extensions and write it with checksum=True)")
        try:
            prov = wcs_provenance(p)
        except WorkbookError:  # already one line saying what is wrong (e.g. filter keywords that disagree)
            raise
        except Exception as exc:  # a FITS file whose headers astropy cannot read
            raise WorkbookError(f"image {p.name}: headers not readable ({exc.__class__.__name__}); "
                                "give a FITS image with a celestial WCS") from None
        if prov.get("naxis", 2) != 2:
            raise WorkbookError(f"image {p.name}: the science image is a {prov['naxis']}-D cube (NAXIS={prov['naxis']}), "
                                "not a 2-D image; give one science plane (a drizzled drz/drc or i2d)")
        if not prov["has_celestial_wcs"]:
            raise WorkbookError(f"image {p.name} has no celestial WCS (RA/Dec CTYPE/CD keywords); "
                                "give a calibrated, astrometrically solved image")
        if center is None:
            center = image_center(p)
        covers, n_pix = _covers(p, center)
        if not covers:
            raise WorkbookError(f"image {p.name} does not overlap the field at RA {center[0]:.5f}, Dec "
                                f"{center[1]:.5f}; give an image of this field, or set the centre with --ra/--dec")
        rec = {"product_id": p.stem, "path": str(p), "source_file": str(p), "instrument": prov["instrument"],
               "filter": prov["filter"], "epoch": round(float(prov["epoch"]), 4) if np.isfinite(prov["epoch"]) else None,
               "pixel_scale": round(float(prov["pixel_scale"]), 5), "wcsname": prov["wcsname"],
               "provenance": prov["provenance"], "gaia": bool(prov["gaia"]), "replay": False, "local": True,
               "checksum": checksum}
        if n_pix > max_pixels:
            if out_dir is None:
                raise WorkbookError(f"image {p.name} has {n_pix:.3g} pixels and needs a cut-out; pass out_dir "
                                    "(the workspace's archive/ directory)")
            cut, info = cutout_image(p, center, size_arcsec, Path(out_dir) / f"{p.stem}_cutout.fits", overwrite=True)
            rec.update(path=str(cut), cutout=info)
            print(f"{p.name}: {info['original_shape'][1]}x{info['original_shape'][0]} px is large; extracting the "
                  f"{info['shape'][1]}x{info['shape'][0]} px cut-out {cut.name} around the field")
        records.append(rec)
    # Ranked as MAST products are: Gaia-aligned WCS first, then the finer pixel scale.
    records.sort(key=lambda r: (not r["gaia"], r["pixel_scale"]))
    for k, r in enumerate(records, 1):
        r["rank"] = k
    return records


def require_imaging(cfg, images):
    """Notebook 01's guard: offline, only the demo field may go on without images.

    Raises
    ------
    WorkbookError
        If ``images`` is empty, the field is offline and it is not the demo.
    """
    from ..config import FieldConfig
    require_instance(cfg, FieldConfig, "cfg", "load it with helpers.config.load_field(field, workspace_root)")
    from ..config import DEMO_FIELD

    if images or cfg.live or cfg.name == DEMO_FIELD["name"]:
        return
    raise WorkbookError(f"field {cfg.name!r} is offline and has no images: give your own with images=['your.fits'] "
                        "(CLI: --image PATH), or search MAST with --live")
