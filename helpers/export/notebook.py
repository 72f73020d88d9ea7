"""Notebook 05 glue: find its upstream inputs in the workspace and copy the earlier figures.

What notebook 05 calls to load what notebooks 01-04 left in the workspace (the source
catalog of the best image, that image's FITS header) and to gather the figures of earlier
notebooks next to the exports.
"""

import shutil
from pathlib import Path

from ..errors import WorkbookError
from .._io import atomic_path, ensure_writable_dir
from ..validate import require_instance, require_path

__all__ = [
    "target_mpt_table",
    "find_source_catalog",
    "image_header",
    "copy_figures",
    "list_figures",
]


_IMAGE_PATH_KEYS = ("path", "local_path", "file", "filename", "fits", "local")


def _image_stem(entry):
    for key in _IMAGE_PATH_KEYS:
        if entry.get(key):
            name = Path(str(entry[key])).name
            for suffix in (".fits.gz", ".fits", ".fit"):
                if name.lower().endswith(suffix):
                    return name[: -len(suffix)]
            return Path(name).stem
    return str(entry.get("product_id") or entry.get("obs_id") or "") or None


def find_source_catalog(cfg):
    """Pick the source catalog to export: that of the best image (first of ``cfg.extra['images']``
    with a matching ``catalogs/sources_<stem>.ecsv``), else the first catalog.

    Returns
    -------
    path : `~pathlib.Path`
    image : dict or None
        The ``cfg.extra['images']`` entry it belongs to.

    Raises
    ------
    WorkbookError
        No ``sources_*.ecsv`` in the workspace (run notebook 02).
    """
    from ..config import FieldConfig
    require_instance(cfg, FieldConfig, "cfg", "load it with helpers.config.load_field(field, workspace_root)")
    cat_dir = cfg.subdir("catalogs")
    catalogs = sorted(cat_dir.glob("sources_*.ecsv"))
    if not catalogs:
        raise WorkbookError(f"no source catalog (sources_*.ecsv) in {cat_dir}; run notebook 02 (sources) first")
    images = [e for e in list((cfg.extra or {}).get("images") or []) if isinstance(e, dict)]
    for entry in images:
        keys = [k for k in (_image_stem(entry), str(entry.get("product_id") or "")) if k]
        for exact in (True, False):
            for cat in catalogs:
                name = cat.stem[len("sources_"):]
                if any((name == k) if exact else (k in name or name in k) for k in keys):
                    return cat, entry
    return catalogs[0], None


def image_header(cfg, image):
    """Merged primary + first image-extension FITS header of an image entry, or None."""
    from ..config import FieldConfig
    require_instance(cfg, FieldConfig, "cfg", "load it with helpers.config.load_field(field, workspace_root)")
    if not image:
        return None
    from astropy.io import fits

    for key in _IMAGE_PATH_KEYS:
        value = image.get(key)
        if not value:
            continue
        p = Path(str(value)).expanduser()
        for cand in (p, cfg.path / p, cfg.subdir("archive") / p.name):
            if cand.is_file():
                try:
                    with fits.open(cand) as hdul:
                        hdr = hdul[0].header.copy()
                        for ext in hdul[1:]:
                            if ext.is_image and ext.header.get("EXTNAME", "SCI") == "SCI":
                                hdr.update(ext.header)
                                break
                    return hdr
                except OSError:
                    return None
    return None


def list_figures(figures_dir, pattern="*.png"):
    """The figures of earlier notebooks, listed where they are (the export references them, no copies).

    Copying every PNG into ``export/`` doubled the workspace for no gain; the session file records
    each listed figure with its size and SHA-256, so the export stays auditable.

    Parameters
    ----------
    figures_dir : path-like
        The field's ``figures/`` directory.
    pattern : str
        Glob of the files to list.

    Returns
    -------
    paths : list of `~pathlib.Path`
        Existing figure files, sorted by name (empty if there are none).
    """
    figures_dir = require_path(figures_dir, "figures_dir")
    return sorted(p for p in figures_dir.glob(pattern) if p.is_file()) if figures_dir.is_dir() else []


def copy_figures(src_dir, dest_dir, overwrite=False, pattern="*.png"):
    """Copy the figures of earlier notebooks into the export directory (atomically, per file).

    Returns
    -------
    paths : list of `~pathlib.Path`
        Copied files (empty if there were none).
    """
    src_dir = Path(src_dir)
    if not src_dir.is_dir():
        return []
    dest_dir = ensure_writable_dir(dest_dir)
    out = []
    for src in sorted(src_dir.glob(pattern)):
        dest = dest_dir / src.name
        with atomic_path(dest, overwrite=overwrite) as tmp:
            shutil.copyfile(src, tmp)
        out.append(dest)
    return out


def target_mpt_table(cfg, image_mpt):
    """Notebook 05: the MPT catalog from the field's corrected target list, if there is one.

    Parameters
    ----------
    cfg : `helpers.config.FieldConfig`
    image_mpt : `~astropy.table.Table`
        :func:`build_mpt_table` of the image catalog the targets were judged against.

    Returns
    -------
    mpt : `~astropy.table.Table`
        `build_target_mpt_table` (targets + contaminants) when ``cfg.extra["targets"]`` exists,
        else ``image_mpt`` unchanged; a line says which.

    Raises
    ------
    WorkbookError
        If the corrected list is missing or was judged against another image.
    """
    from astropy.table import Table

    from .mpt import build_target_mpt_table

    rec = cfg.extra.get("targets")
    if not rec:
        print("no target list for this field: the MPT catalog lists the image's sources")
        return image_mpt
    path = Path(rec.get("corrected_path") or "")
    if not path.is_file():
        raise WorkbookError(f"the corrected target list {path} is missing; re-run notebook 02")
    targets = Table.read(path, format="ascii.ecsv")
    judged = targets.meta.get("judged_against")
    if judged and image_mpt.meta.get("image") not in (None, judged):
        raise WorkbookError(f"the targets were judged against image {judged}, not {image_mpt.meta.get('image')}; "
                            "re-run notebook 02 so both use the same image")
    mpt = build_target_mpt_table(targets, image_mpt, targets["image_row"])
    print(f"MPT catalog from your target list: {mpt.meta['n_targets']} targets (your IDs, Weight from priority; "
          f"positions: {rec['correction'].get('method')}) + {mpt.meta['n_contaminants']} other image sources as "
          "contaminants (Weight 0)")
    return mpt
