"""Notebook 05 glue: find its upstream inputs in the workspace and copy the earlier figures.

What notebook 05 calls to load what notebooks 01-04 left in the workspace (the source
catalog of the best image, that image's FITS header) and to gather the figures of earlier
notebooks next to the exports.
"""

import shutil
from pathlib import Path

import numpy as np

from ..errors import WorkbookError
from .._io import atomic_path, ensure_writable_dir
from ..validate import require_instance, require_path, require_text
from ._checks import require_field, require_pointing, require_table

__all__ = [
    "target_mpt_table",
    "find_source_catalog",
    "image_header",
    "copy_figures",
    "list_figures",
    "planned_epoch",
    "chosen_pointing",
    "sigma_calibration",
    "reference_gaia",
    "msata_inputs",
    "field_plan",
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
    if not isinstance(image, dict):
        raise WorkbookError(f"image = {image!r:.40} is not an image entry; pass one dict of cfg.extra['images']")
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
    src_dir = require_path(src_dir, "src_dir")
    dest_dir = require_path(dest_dir, "dest_dir")
    require_text(pattern, "pattern")
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


def planned_epoch(cfg):
    """The planned visit: the date notebook 04 placed the MSA for, else the field's epoch.

    Returns
    -------
    epoch : float
        Decimal year.
    date : str
        ISO date (``YYYY-MM-DD``).
    note : str
        One line saying where it came from.
    """
    from astropy.time import Time

    require_field(cfg)
    # the date notebook 04 placed the MSA for (its velocity aberration), else its optimiser's date
    for key, record in (("pointing", cfg.pointing or {}), ("extra['planning']", (cfg.extra or {}).get("planning") or {})):
        if record.get("date"):
            try:
                t = Time(str(record["date"]))
            except ValueError:
                raise WorkbookError(f"{key}['date'] = {record['date']!r} is not an ISO date; re-run notebook 04") from None
            return (float(t.decimalyear), t.strftime("%Y-%m-%d"),
                    f"planned epoch {t.decimalyear:.3f} (notebook 04's date {record['date']})")
    t = Time(float(cfg.epoch), format="decimalyear")
    return float(cfg.epoch), t.strftime("%Y-%m-%d"), f"planned epoch {float(cfg.epoch):.3f} (the field's epoch; notebook 04 did not optimise a date)"


def chosen_pointing(cfg, date=None):
    """The MSA pointing notebook 04 chose, as an `helpers.msa.MSAPointing`, or None.

    ``cfg.pointing`` (what the planner left on the sliders) wins; without it, the optimizer's
    record ``extra["planning"]``. With ``date`` the pointing applies APT's differential velocity
    aberration for that date.

    Returns
    -------
    pointing : `helpers.msa.MSAPointing` or None
    record : dict or None
        ``ra, dec, apa, filter, constraint`` used.
    note : str
    """
    from .. import msa

    require_field(cfg)
    require_text(date, "date", allow_none=True)
    rec, where = cfg.pointing, "notebook 04's pointing (field.json)"
    if not rec:
        rec, where = (cfg.extra or {}).get("planning"), "notebook 04's optimizer record (extra['planning'])"
    if not rec:
        return None, None, "no pointing chosen (run notebook 04): reference stars are not checked against shutters"
    try:
        ra, dec, apa = float(rec["ra"]), float(rec["dec"]), float(rec["apa"])
    except (KeyError, TypeError, ValueError):
        raise WorkbookError(f"the pointing {rec!r} lacks numeric ra, dec, apa; re-run notebook 04") from None
    filt = str(rec.get("filter") or "CLEAR").upper()
    used = filt if filt in msa.FILTERS else "CLEAR"
    p = msa.MSAPointing(ra, dec, apa, filter=used, epoch=date)
    record = {"ra": p.ra, "dec": p.dec, "apa": p.apa, "filter": used,
              "constraint": msa.canonical_constraint(rec.get("constraint") or "Midpoint")}
    note = f"{where}: RA {p.ra:.6f}, Dec {p.dec:+.6f}, APA {p.apa:.2f} deg, filter {used}; {p.velocity_aberration_note}"
    if used != filt:
        note += f" (the MSA model has no {filt}: CLEAR used)"
    return p, record, note


def sigma_calibration(cfg, sources):
    """Notebook 03's measured scatter over the catalog's typical reported error, per axis.

    ``extra["astrometry"]["sigma_mas"]`` is the whole catalog's 1-sigma per-axis scatter; the
    catalog's own errors (``ra_err, dec_err``, mas) say ``median(sqrt((ra_err^2 + dec_err^2)/2))``
    over its usable sources (finite errors, not saturated). Their ratio rescales every star's
    reported sigma before the MSATA sigma cut.

    Returns
    -------
    factor : float or None
        None when notebook 03 recorded no scatter or the catalog has no errors.
    note : str
    """
    from ..astrometry import usable_sources

    require_field(cfg)
    require_table(sources, "sources", hint="give the source catalog notebook 02 wrote")
    sigma = (cfg.extra or {}).get("astrometry", {}) or {}
    sigma = sigma.get("sigma_mas") if isinstance(sigma, dict) else None
    if not isinstance(sigma, (int, float)) or not np.isfinite(sigma) or sigma <= 0:
        return None, "no measured scatter (run notebook 03): reference-star sigmas are the catalog's own, not rescaled"
    if "ra_err" not in sources.colnames or "dec_err" not in sources.colnames:
        return None, "the catalog has no ra_err/dec_err: reference-star sigmas cannot be calibrated"
    ok = usable_sources(sources)
    ex = np.ma.filled(np.ma.asarray(sources["ra_err"], dtype=float), np.nan)[ok]
    ey = np.ma.filled(np.ma.asarray(sources["dec_err"], dtype=float), np.nan)[ok]
    typical = float(np.nanmedian(np.sqrt(0.5 * (ex ** 2 + ey ** 2)))) if ok.any() else float("nan")
    if not np.isfinite(typical) or typical <= 0:
        return None, "no usable catalog errors: reference-star sigmas are not rescaled"
    factor = float(sigma) / typical
    return factor, (f"sigma calibrated by notebook 03: measured {sigma:.2f} mas / catalog median {typical:.2f} mas "
                    f"= x{factor:.2f} applied to every star's reported sigma")


def reference_gaia(cfg):
    """The Gaia table notebook 01 cached (``extra['imaging']['gaia_catalog']``, else
    ``archive/gaia.ecsv``), or None, with a note."""
    from astropy.table import Table

    require_field(cfg)
    imaging = (cfg.extra or {}).get("imaging") or {}
    path = Path(imaging.get("gaia_catalog") or cfg.subdir("archive") / "gaia.ecsv")
    if not path.is_file():
        return None, f"no Gaia table ({path.name} absent; run notebook 01): every reference star lacks a proper motion"
    try:
        gaia = Table.read(path, format="ascii.ecsv")
    except Exception as exc:  # noqa: BLE001 - a corrupt cache should say so, not crash the export
        raise WorkbookError(f"the Gaia table {path} is unreadable ({exc.__class__.__name__}); delete it and re-run "
                            "notebook 01") from None
    n_pm = int(np.isfinite(np.ma.filled(np.ma.asarray(gaia["pmra"], dtype=float), np.nan)).sum()) if "pmra" in gaia.colnames else 0
    return gaia, f"Gaia: {path.name}, {len(gaia)} stars ({n_pm} with proper motions; {gaia.meta.get('source', 'source not recorded')})"


def msata_inputs(cfg, sources):
    """Everything `msata_candidates` needs from the workspace, and a line for each.

    Parameters
    ----------
    cfg : `helpers.config.FieldConfig`
    sources : `~astropy.table.Table`
        The exported source catalog (for the sigma calibration).

    Returns
    -------
    kwargs : dict
        ``planned_epoch, gaia, pointing, sigma_calibration`` to pass to `msata_candidates`.
    info : dict
        ``date`` (ISO planned date), ``pointing_record`` and ``notes`` (list of str).
    """
    require_field(cfg)
    require_table(sources, "sources", hint="give the source catalog notebook 02 wrote")
    epoch, date, n_epoch = planned_epoch(cfg)
    gaia, n_gaia = reference_gaia(cfg)
    pointing, record, n_point = chosen_pointing(cfg, date=date)
    factor, n_sigma = sigma_calibration(cfg, sources)
    kwargs = {"planned_epoch": epoch, "gaia": gaia, "pointing": pointing, "sigma_calibration": factor}
    return kwargs, {"date": date, "pointing_record": record, "notes": [n_epoch, n_gaia, n_point, n_sigma]}


def field_plan(cfg, pointing, record, mpt, disperser=None):
    """Notebook 05: the targets planned at the chosen pointing, their overlaps, the MPT pointing.

    Parameters
    ----------
    cfg : `helpers.config.FieldConfig`
    pointing, record
        From `chosen_pointing`.
    mpt : `~astropy.table.Table`
        The MPT catalog written (``ID, RA, DEC`` and, from a target list, ``Weight``; contaminants
        have Weight 0 and are not planned).
    disperser : str, optional
        Disperser/filter pair for the overlaps; default notebook 04's (``extra['planning']``),
        else PRISM/CLEAR (said in the note).

    Returns
    -------
    planned : `~astropy.table.Table`
        From `planned_slitlets`.
    plan : dict
        For `write_session` / `summary_card` (``slitlet_regions`` is filled in by the caller).
    notes : list of str
    """
    from ..planning import disperser_pairs
    from .slitlets import mpt_pointing, overlap_record, planned_slitlets, priority_classes

    require_field(cfg)
    require_pointing(pointing, "pointing")
    if not isinstance(record, dict) or "constraint" not in record:
        raise WorkbookError(f"record = {record!r:.40} is not chosen_pointing's record; pass the record chosen_pointing(cfg) returned")
    require_table(mpt, "mpt", ("ID", "RA", "DEC"), hint="give the MPT catalog build_mpt_table returned")
    require_text(disperser, "disperser", allow_none=True)
    notes = []
    planning = (cfg.extra or {}).get("planning") or {}
    if disperser is None:
        disperser = planning.get("disperser")
        if disperser:
            notes.append(f"overlaps for notebook 04's disperser {disperser}")
        else:
            disperser = "PRISM/CLEAR"
            notes.append("no disperser chosen in notebook 04: overlaps for PRISM/CLEAR (the longest spectra; set "
                         f"disperser to one of {', '.join(disperser_pairs())})")
    keep = np.ones(len(mpt), bool)
    if "Weight" in mpt.colnames:
        w = np.asarray(mpt["Weight"], float)
        keep = w > 0
        if not keep.any():
            raise WorkbookError("every MPT source has Weight 0: no target to plan; give priorities in the target list")
    sub = mpt[keep]
    pri = priority_classes(sub["Weight"]) if "Weight" in sub.colnames else None
    nod = bool((cfg.pointing or {}).get("nod", True))
    planned = planned_slitlets(pointing, sub["RA"], sub["DEC"], ids=sub["ID"], priority=pri,
                               constraint=record["constraint"], slitlet=3 if nod else 1, disperser=disperser)
    ov = overlap_record(planned)
    notes.append(f"{planned.meta['n_planned']} of {len(sub)} targets counted at the chosen pointing "
                 f"({planned.meta['constraint']}, {planned.meta['slitlet']}-shutter slitlets); "
                 f"{ov['n_pairs']} overlapping spectrum pair(s) with {ov['disperser']}")
    plan = {"mpt_pointing": mpt_pointing(pointing), "n_planned": planned.meta["n_planned"],
            "constraint": planned.meta["constraint"], "slitlet": planned.meta["slitlet"],
            "expected": planning.get("expected"), "n_targets_optimizer": planning.get("n_targets"),
            "overlaps": ov, "velocity_aberration": pointing.velocity_aberration_note}
    return planned, plan, notes
