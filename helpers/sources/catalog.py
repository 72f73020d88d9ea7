"""The source catalog: flag bits, column schema, sky columns, assembly and ECSV writing.

The catalog is notebook 02's output and the input of notebooks 03-05; its schema is in
``docs/DEVELOPING.md`` ("The source catalog schema").
"""


import numpy as np
from astropy.table import Table

from ..errors import WorkbookError
from .._io import atomic_path
from ..validate import require_path


FLAG_SATURATED = 1
FLAG_EDGE = 2
FLAG_BLENDED = 4
FLAG_MASKED = 8
FLAG_PSF_FAILED = 16
FLAG_COSMIC_RAY = 32
#: A blend the catalog sees on the PSF path of a crowded sky: the windowed and PSF-fit positions
#: disagree beyond their errors; the position errors carry the measured difference.
FLAG_BLEND_OFFSET = 64

#: Flag bits and the names used in summaries, in bit order.
FLAG_NAMES = ((FLAG_SATURATED, "saturated"), (FLAG_EDGE, "edge"), (FLAG_BLENDED, "blended"),
              (FLAG_MASKED, "masked"), (FLAG_PSF_FAILED, "psf failed"), (FLAG_COSMIC_RAY, "cosmic ray"),
              (FLAG_BLEND_OFFSET, "blend offset"))


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

    if not isinstance(catalogs, dict):
        raise WorkbookError(f"catalogs is a {type(catalogs).__name__}, not a dict {{image: catalog}}; pass what "
                            "extract_field_images returned")
    if not all(isinstance(c, Table) for c in catalogs.values()):
        raise WorkbookError("catalogs must map each image to its source catalog (a Table); pass what "
                            "extract_field_images returned")
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


class SourceExtractionWarning(UserWarning):
    """Something about the extraction the user should know (no sources, no ePSF stars ...)."""


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


def _assemble(parts, wcs):
    units = {"x": "pix", "y": "pix", "x_err": "pix", "y_err": "pix", "ra": "deg", "dec": "deg", "ra_err": "mas",
             "dec_err": "mas", "fwhm": "pix", "xy_cov": "pix2", "x_win": "pix", "y_win": "pix", "x_win_err": "pix",
             "y_win_err": "pix", "r50": "pix", "nn_dist": "pix", "x_psf": "pix", "y_psf": "pix", "x_psf_err": "pix",
             "y_psf_err": "pix"}
    if parts:
        cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    else:
        cols = {k: np.zeros(0) for k in ("x", "y", "x_err", "y_err", "xy_cov", "flux", "flux_err", "snr", "fwhm",
                                         "x_win", "y_win", "x_win_err", "y_win_err", "flux_aper", "flux_aper_err",
                                         "r50", "peak", "chi2nu", "nn_dist", "x_psf", "y_psf", "x_psf_err", "y_psf_err")}
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
              "peak", "chi2nu", "nn_dist", "x_psf", "y_psf", "x_psf_err", "y_psf_err"):
        t[k] = cols[k] if k in cols else np.full(n, np.nan)
    for k, u in units.items():
        t[k].unit = u
    return t


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
    if not isinstance(catalog, Table):
        raise WorkbookError(f"catalog is a {type(catalog).__name__}, not a Table; pass what extract_sources returned")
    path = require_path(path, "catalog path")
    with atomic_path(path, overwrite=overwrite) as tmp:
        catalog.write(tmp, format="ascii.ecsv", overwrite=True)
    return path
