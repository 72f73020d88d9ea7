"""AB zeropoints and magnitudes (notebook 05): pre-image filter, and estimated in the TA filter."""

import math

import numpy as np

from ..errors import WorkbookError
from ..validate import require_number, require_text
from ._checks import require_table

__all__ = [
    "ab_zeropoint",
    "flux_to_abmag",
    "catalog_magnitudes",
]


#: Approximate AB zeropoints (mag for 1 e-/s) used only when the image header carries no
#: PHOTFLAM/PHOTPLAM: ACS/WFC and WFC3/UVIS instrument-handbook values (STScI zeropoint
#: calculators, typical post-2012 epochs; accurate to ~0.05 mag, ample for a TA window).
APPROX_AB_ZEROPOINTS = {
    ("ACS/WFC", "F435W"): 25.66, ("ACS/WFC", "F475W"): 26.06, ("ACS/WFC", "F606W"): 26.49,
    ("ACS/WFC", "F775W"): 25.66, ("ACS/WFC", "F814W"): 25.94, ("ACS/WFC", "F850LP"): 24.84,
    ("WFC3/UVIS", "F606W"): 26.10, ("WFC3/UVIS", "F814W"): 25.13, ("WFC3/UVIS", "F336W"): 24.64,
    ("WFC3/IR", "F105W"): 26.27, ("WFC3/IR", "F125W"): 26.23, ("WFC3/IR", "F140W"): 26.45,
    ("WFC3/IR", "F160W"): 25.95,
}


def ab_zeropoint(header=None, instrument=None, filter_name=None, zeropoint=None):
    """AB zeropoint (magnitude of 1 image unit per second or per pixel) for a pre-image.

    In order: an explicit ``zeropoint``; HST ``PHOTFLAM``/``PHOTPLAM`` (e-/s images):
    ``ZP_AB = -2.5 log10(PHOTFLAM) - 5 log10(PHOTPLAM) - 2.408`` (STScI ACS/WFC3
    zeropoint definition); JWST ``PIXAR_SR`` with ``BUNIT = MJy/sr``:
    ``ZP_AB = -2.5 log10(PIXAR_SR * 1e6 / 3631)``; else the approximate table
    :data:`APPROX_AB_ZEROPOINTS`; else ``nan``.

    Parameters
    ----------
    header : `~astropy.io.fits.Header` or dict, optional
    instrument, filter_name : str, optional
        E.g. ``'ACS/WFC'``, ``'F606W'`` (for the fall-back table).
    zeropoint : float, optional
        Use this value.

    Returns
    -------
    zp : float
        AB zeropoint, ``nan`` if unknown.
    how : str
        Provenance, e.g. ``'PHOTFLAM/PHOTPLAM from the image header'``.

    Examples
    --------
    >>> zp, how = ab_zeropoint({"PHOTFLAM": 7.8625e-20, "PHOTPLAM": 5921.1})
    >>> round(zp, 2)
    26.49
    """
    zeropoint = require_number(zeropoint, "zeropoint", allow_none=True, example=25.9)
    if header is not None and not hasattr(header, "get"):
        raise WorkbookError(f"header = {header!r:.40} is not a FITS header or dict; pass the image's header or None")
    require_text(instrument, "instrument", allow_none=True)
    require_text(filter_name, "filter_name", allow_none=True)
    if zeropoint is not None:
        return float(zeropoint), "given zeropoint"
    header = header or {}
    try:
        photflam, photplam = float(header["PHOTFLAM"]), float(header["PHOTPLAM"])
        if photflam > 0 and photplam > 0:
            return (-2.5 * math.log10(photflam) - 5 * math.log10(photplam) - 2.408,
                    "PHOTFLAM/PHOTPLAM from the image header")
    except (KeyError, TypeError, ValueError):
        pass
    try:
        pixar = float(header["PIXAR_SR"])
        if "MJY/SR" in str(header.get("BUNIT", "")).upper().replace(" ", "") and pixar > 0:
            return -2.5 * math.log10(pixar * 1e6 / 3631.0), "PIXAR_SR with BUNIT=MJy/sr from the image header"
    except (KeyError, TypeError, ValueError):
        pass
    key = (str(instrument or "").upper(), str(filter_name or "").upper())
    if key in APPROX_AB_ZEROPOINTS:
        return APPROX_AB_ZEROPOINTS[key], f"approximate {key[0]} {key[1]} handbook zeropoint (no PHOTFLAM in header)"
    return float("nan"), "unknown zeropoint (no PHOTFLAM/PIXAR_SR and no tabulated value)"


def flux_to_abmag(flux, zeropoint):
    """AB magnitude ``zp - 2.5 log10(flux)``; ``nan`` for non-positive or missing flux.

    Examples
    --------
    >>> float(flux_to_abmag(100.0, 25.0))
    20.0
    """
    zeropoint = require_number(zeropoint, "zeropoint", example=25.9)
    if isinstance(flux, (str, bytes)) or flux is None:
        raise WorkbookError(f"flux = {flux!r:.40} is not an array of fluxes; give the catalog's flux column")
    try:
        flux = np.ma.filled(np.ma.asarray(flux, dtype=float), np.nan)
    except (TypeError, ValueError):
        raise WorkbookError(f"flux = {flux!r:.40} is not an array of numbers; give the catalog's flux column") from None
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = zeropoint - 2.5 * np.log10(np.where(flux > 0, flux, np.nan))
    return mag


def catalog_magnitudes(sources, header=None, zeropoint=None, colour_offset=0.0):
    """AB magnitudes of a source catalog in its own filter and *estimated* in the TA filter.

    ``mag_pre = ZP - 2.5 log10(flux)`` with the zeropoint from :func:`ab_zeropoint` (header,
    else the approximate table for ``sources.meta['instrument'/'filter']``), and
    ``mag_ta = mag_pre + colour_offset``. The colour term between the pre-image filter and
    the TA filter is **unknown** here (0 by default): the TA magnitudes are estimates, good to
    the colour of each star (a few tenths of a magnitude for typical stars between F814W and
    F110W, more for red stars). Pass a better ``colour_offset`` if you know the stars' colours.

    Returns
    -------
    mag_pre, mag_ta : `~numpy.ndarray`
    zp : float
    how : str
        Provenance of the zeropoint.
    """
    require_table(sources, "sources", hint="give the source catalog notebook 02 wrote")
    colour_offset = require_number(colour_offset, "colour_offset", example=0.0)
    if "flux" not in sources.colnames:
        raise WorkbookError("the source catalog has no 'flux' column; re-run notebook 02 to measure fluxes")
    zp, how = ab_zeropoint(header, sources.meta.get("instrument"), sources.meta.get("filter"), zeropoint)
    mag_pre = flux_to_abmag(sources["flux"], zp)
    return mag_pre, mag_pre + float(colour_offset), zp, how
