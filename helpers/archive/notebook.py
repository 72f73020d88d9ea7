"""Notebook 01 glue: what it records for the next notebooks.

:func:`images_for_config` builds the ``extra["images"]`` list of the field configuration
that notebook 02 reads.
"""

import warnings

import numpy as np

from ..errors import WorkbookError
from .local import local_images, require_imaging
from .mast import ArchiveWarning
from ..validate import require_instance

__all__ = ["images_for_config", "own_imaging"]


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
    from astropy.table import Table

    for name, table, columns, source in (
            ("products", products, ("product_id", "instrument", "filter", "epoch", "pixel_scale", "rank"), "select_products"),
            ("manifest", manifest, ("file", "path"), "download"),
            ("provenance", provenance, ("file", "has_celestial_wcs", "epoch", "pixel_scale", "wcsname", "provenance",
                                        "replay"), "provenance_table")):
        require_instance(table, Table, name, f"pass the Table {source} returned")
        missing = [c for c in columns if c not in table.colnames]
        if missing:
            raise WorkbookError(f"{name} lacks column(s) {missing}; pass the Table {source} returned")
    if len(products) != len(manifest):
        raise WorkbookError(f"products has {len(products)} rows, manifest {len(manifest)}; pass the manifest "
                            "download made of these products")
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


def own_imaging(cfg, images=None):
    """Notebook 01's first step: the planner's own images, and whether to ask MAST as well.

    Parameters
    ----------
    cfg : `helpers.config.FieldConfig`
    images : list of str, optional
        Paths or globs; default ``cfg.extra["own_images"]`` (recorded by notebook 00).

    Returns
    -------
    own : list of dict
        :func:`local_images` records (verified, ranked, cut if huge).
    use_mast : bool
        True when live, or when there are no own images (the demo's replay).

    Raises
    ------
    WorkbookError
        Offline, a field that is not the demo and has no images (one line naming ``images=``,
        ``--image`` and ``--live``); or a bad image.
    """
    from ..config import FieldConfig
    require_instance(cfg, FieldConfig, "cfg", "load it with helpers.config.load_field(field, workspace_root)")
    given = images or cfg.extra.get("own_images") or []
    own = local_images(given, center=(cfg.ra, cfg.dec), out_dir=cfg.subdir("archive")) if given else []
    require_imaging(cfg, own)
    use_mast = bool(cfg.live) or not own
    if own:
        print(f"{len(own)} own image(s): " + ", ".join(f"{r['product_id']} ({r['instrument']} {r['filter']})" for r in own)
              + ("; MAST is searched as well (live)" if use_mast else "; offline: MAST is not searched"))
    return own, use_mast
