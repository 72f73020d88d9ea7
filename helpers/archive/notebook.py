"""Notebook 01 glue: what it records for the next notebooks.

:func:`images_for_config` builds the ``extra["images"]`` list of the field configuration
that notebook 02 reads.
"""

import warnings

import numpy as np

from ..errors import WorkbookError
from .mast import ArchiveWarning

__all__ = ["images_for_config"]


# ----------------------------------------------------------------------------------------
# hand-over to notebook 02
# ----------------------------------------------------------------------------------------

def images_for_config(products, manifest, provenance):
    """The ``extra["images"]`` list notebook 02 reads: best first, usable files only.

    Parameters
    ----------
    products : `~astropy.table.Table`
        From :func:`select_products`.
    manifest : `~astropy.table.Table`
        From :func:`download`.
    provenance : `~astropy.table.Table`
        From :func:`provenance_table` (same files).

    Returns
    -------
    images : list of dict
        ``product_id, path (absolute), instrument, filter, epoch (yr), pixel_scale
        (arcsec), wcsname, provenance, rank, replay``.

    Raises
    ------
    WorkbookError
        If no downloaded file has a celestial WCS.
    """
    prov = {str(r["file"]): r for r in provenance}
    images, skipped = [], []
    for prod, man in zip(products, manifest):
        p = prov.get(str(man["file"]))
        if p is None or not p["has_celestial_wcs"]:
            skipped.append(str(man["file"]))
            continue
        epoch = float(p["epoch"]) if np.isfinite(p["epoch"]) else float(prod["epoch"])
        pix = float(p["pixel_scale"]) if np.isfinite(p["pixel_scale"]) else float(prod["pixel_scale"])
        images.append({
            "product_id": str(prod["product_id"]), "path": str(man["path"]),
            "instrument": str(prod["instrument"]), "filter": str(prod["filter"]),
            "epoch": round(epoch, 4), "pixel_scale": round(pix, 5), "wcsname": str(p["wcsname"]),
            "provenance": str(p["provenance"]), "rank": int(prod["rank"]), "replay": bool(p["replay"]),
        })
    if skipped:
        warnings.warn(f"skipped {len(skipped)} file(s) without a celestial WCS: {', '.join(skipped)}",
                      ArchiveWarning, stacklevel=2)
    if not images:
        raise WorkbookError("none of the downloaded images has a celestial WCS; choose other products "
                            "(raise max_products) or other instruments")
    return sorted(images, key=lambda d: d["rank"])
