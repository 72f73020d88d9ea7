"""Notebook 01 glue: what it records for the next notebooks.

:func:`images_for_config` builds the ``extra["images"]`` list of the field configuration
that notebook 02 reads.
"""

import warnings
from pathlib import Path

import numpy as np

from ..errors import WorkbookError
from .local import local_images, require_imaging
from .mast import ArchiveWarning
from ..validate import require_instance

__all__ = ["images_for_config", "own_imaging", "exposures_for_config"]


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


# ----------------------------------------------------------------------------------------
# the member exposures, for notebook 02's joint fit
# ----------------------------------------------------------------------------------------

def exposures_for_config(cfg, products=None, manifest=None, own=None, download_exposures=False, progress=True):
    """Find each chosen product's member exposures, fetch them if asked, and record ``exposure_files``.

    MAST products (:func:`helpers.archive.find_members`: MAST's list matched to the inputs the downloaded
    product records) are listed with their count and total size first; they are downloaded only when
    ``download_exposures`` (they are large: ~170 MB per ACS/WFC flc). The planner's own products
    (``own``) get their recorded inputs looked up beside them on disk
    (:func:`helpers.archive.local_members`). Files of another filter are left out, a member that cannot
    be had is named and the fit uses the rest; a product left with fewer than 2 is not refined. The
    result goes into ``cfg.extra["exposure_files"]`` (``{product_id: [paths]}``), where notebook 02 picks
    it up, and a line says so.

    Parameters
    ----------
    cfg : `helpers.config.FieldConfig`
    products, manifest : `~astropy.table.Table`, optional
        From :func:`select_products` and :func:`download` (MAST's products).
    own : list of dict, optional
        The planner's own images (:func:`own_imaging`).
    download_exposures : bool
        Fetch the MAST members into ``archive/`` (default False: list them only).
    progress : bool
        tqdm bar over the downloads.

    Returns
    -------
    members : `~astropy.table.Table` or None
        :func:`find_members` (None without MAST products).
    exposure_files : dict
        ``{product_id: [absolute paths]}`` of the products that have ≥ 2 usable exposures.
    lines : list of str
        What was printed.
    """
    from tqdm.auto import tqdm

    from ..config import FieldConfig
    from .downloads import download
    from .members import check_member_filters, find_members, local_members, members_summary

    require_instance(cfg, FieldConfig, "cfg", "load it with helpers.config.load_field(field, workspace_root)")
    if not isinstance(download_exposures, (bool, np.bool_)):
        raise WorkbookError(f"download_exposures = {download_exposures!r:.30} is not True/False; give a bool")
    if own is not None and (not isinstance(own, (list, tuple)) or not all(
            isinstance(r, dict) and "product_id" in r and "path" in r for r in own)):
        raise WorkbookError("own must be the list of {product_id, path, ...} records own_imaging returned; "
                            "pass its first result, or None")
    lines, mapping, members = [], {}, None
    if products is not None and len(products):
        members = find_members(products, manifest)
        lines += members.meta["lines"]
        _, total = members_summary(members)
        if not download_exposures:
            lines.append(f"{total}; not downloaded (download_exposures = False): set it True to fetch them for "
                         "notebook 02's joint fit on the exposures")
        else:
            lines.append(f"{total}; downloading into {cfg.subdir('archive')}")
            got = {}
            for i in tqdm(range(len(members)), desc="member exposures", unit="file",
                          disable=None if progress else True):
                one = members[i:i + 1]
                try:
                    row = download(one, cfg, progress=False)[0]
                except WorkbookError as exc:  # one member that cannot be had must not stop the others
                    lines.append(f"{one['product_id'][0]}: {one['productFilename'][0]} could not be downloaded "
                                 f"({exc}); the fit uses the rest")
                    continue
                got.setdefault(str(one["product_id"][0]), []).append((row["path"], str(one["product_filter"][0])))
            for pid, files in got.items():
                kept, dropped = check_member_filters([p for p, _ in files], files[0][1])
                lines += [f"{pid}: {d}" for d in dropped]
                _keep(mapping, lines, pid, kept)
    for rec in own or []:
        source = rec.get("source_file") or rec["path"]
        kept, found = local_members(source, product_filter=rec.get("filter") or None)
        lines += found
        _keep(mapping, lines, str(rec["product_id"]), kept)
    cfg.update(extra={"exposure_files": {pid: [str(p) for p in paths] for pid, paths in mapping.items()}})
    if mapping:
        lines.append(f"exposure_files for {len(mapping)} product(s) ({', '.join(mapping)}) written to "
                     f"{cfg.config_file} (extra['exposure_files']): notebook 02 refines their positions on the "
                     "exposures")
    else:
        lines.append("no product has 2 or more member exposures on disk: notebook 02 measures on the products only")
    for line in lines:
        print(line)
    return members, mapping, lines


def _keep(mapping, lines, pid, paths):
    if len(paths) >= 2:
        mapping[pid] = [str(Path(p).resolve()) for p in paths]
    elif paths:
        lines.append(f"{pid}: only {len(paths)} usable exposure: the joint fit needs 2, it is skipped for this product")
