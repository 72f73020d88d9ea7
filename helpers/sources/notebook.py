"""Notebook 02's glue: the field's images (or the simulated demo field), their extraction into
``catalogs/sources_<product_id>.ecsv``, and the record of the catalogs for notebooks 03-05."""

import time
import warnings
from pathlib import Path

import numpy as np
from astropy.table import Table

from ..errors import WorkbookError
from .catalog import SourceExtractionWarning, write_catalog
from .extract import extract_sources_fits
from ..validate import require_instance


def field_images(cfg, max_images=None, progress=None):
    """The images notebook 02 processes, best first.

    Reads ``cfg.extra["images"]`` (written by notebook 01: dicts with ``path, product_id,
    instrument, filter, epoch, pixel_scale, wcsname``). Only the demo field (by name,
    ``helpers.config.DEMO_FIELD``) may go on without them: its imaging is simulated
    (`helpers.simulate.demo_field`), written as HST drc / JWST i2d-like FITS files into the
    workspace's ``archive/`` directory, and a line says so. Any other field without images stops:
    nothing simulated ever lands in a field that is not the demo (issue #14).

    Parameters
    ----------
    cfg : `helpers.config.FieldConfig`
    max_images : int, optional
        Process at most this many (the best first).
    progress : bool or None

    Returns
    -------
    images : list of dict
    simulated : bool
        True when the demo field was simulated here.

    Raises
    ------
    WorkbookError
        If a listed image file is missing, or a field other than the demo has no images.
    """
    from ..config import FieldConfig
    require_instance(cfg, FieldConfig, "cfg", "load it with helpers.config.load_field(field, workspace_root)")
    from ..config import DEMO_FIELD

    images = list(cfg.extra.get("images") or [])
    simulated = False
    if not images:
        if cfg.name != DEMO_FIELD["name"]:
            raise WorkbookError(
                f"field {cfg.name!r} has no images: run notebook 01 with images=['your.fits'] (CLI: "
                "python -m helpers.chain --field NAME --image PATH), or with --live to find them in MAST")
        print(f"{cfg.name}: the demo field's imaging is simulated (helpers.simulate.demo_field), not real data")
        images = _simulate_demo_images(cfg, progress=progress)
        simulated = True
    if max_images is not None:
        images = images[: int(max_images)]
    for im in images:
        if not Path(im["path"]).exists():
            raise WorkbookError(f"image {im['path']} listed by notebook 01 is missing; re-run notebook 01 "
                                "(01_find_imaging) to download it")
    return images, simulated


def _simulate_demo_images(cfg, progress=None):
    from tqdm.auto import tqdm

    from .. import simulate

    truth, specs = simulate.demo_field()
    out = []
    archive = cfg.subdir("archive")
    for spec in tqdm(specs, desc="simulating demo images", disable=None if progress is None else not progress):
        path = archive / f"{spec.name}_{simulate.INSTRUMENTS[spec.instrument]['product']}.fits"
        if not path.exists():
            simulate.make_image(truth, spec).writeto(path)
        out.append({"path": str(path), "product_id": spec.name, "instrument": spec.instrument, "filter": spec.filter,
                    "epoch": float(spec.epoch),
                    "pixel_scale": float(spec.pixel_scale or simulate.INSTRUMENTS[spec.instrument]["pixel_scale"]),
                    "wcsname": simulate.INSTRUMENTS[spec.instrument]["wcsname"], "simulated": True})
    return out


def extract_field_images(cfg, images, overwrite=True, progress=None, **options):
    """Extract every image of the field and write ``catalogs/sources_<product_id>.ecsv``.

    Parameters
    ----------
    cfg : `helpers.config.FieldConfig`
    images : list of dict
        From :func:`field_images`.
    overwrite : bool
        Replace existing catalogs (they are regenerated on every run).
    progress : bool or None
        tqdm bar over the images.
    **options
        Passed to `extract_sources` (``threshold``, ``use_psf_fit`` ...).

    Returns
    -------
    summary : `~astropy.table.Table`
        One row per image: ``product_id, instrument, filter, epoch, n_sources, n_point, n_psf,
        fwhm_pix, median_err_mas`` (point sources with SNR > 50, per axis), ``psf_model``,
        ``seconds``, ``catalog`` (path).
    catalogs : dict
        ``product_id`` → catalog table.

    Raises
    ------
    WorkbookError
        If no image could be extracted (an unusable image is skipped with a warning).

    Notes
    -----
    Records the catalogs in ``cfg.extra["source_catalogs"]`` for notebooks 03–05.
    """
    from ..config import FieldConfig
    require_instance(cfg, FieldConfig, "cfg", "load it with helpers.config.load_field(field, workspace_root)")
    from tqdm.auto import tqdm

    if not isinstance(images, (list, tuple)) or not all(isinstance(im, dict) and "path" in im and "product_id" in im
                                                         for im in images):
        raise WorkbookError("images must be the list of {product_id, path, ...} dicts of cfg.extra['images'] "
                            "(field_images(cfg)); run notebook 01 first")
    rows, catalogs, records = [], {}, []
    for im in tqdm(images, desc="images", unit="image", disable=None if progress is None else not progress):
        meta = {"image": im["product_id"], "epoch": im.get("epoch"), "instrument": im.get("instrument"),
                "filter": im.get("filter"), "pixel_scale": im.get("pixel_scale"), "wcsname": im.get("wcsname")}
        meta = {k: v for k, v in meta.items() if v is not None}
        t0 = time.perf_counter()
        try:
            cat = extract_sources_fits(im["path"], meta=meta, progress=False, **options)
        except WorkbookError as exc:
            # One unusable image must not stop the others: say why and go on.
            warnings.warn(f"skipped {im['product_id']}: {exc}", SourceExtractionWarning, stacklevel=2)
            continue
        seconds = time.perf_counter() - t0
        path = write_catalog(cat, cfg.subdir("catalogs") / f"sources_{im['product_id']}.ecsv", overwrite=overwrite)
        catalogs[im["product_id"]] = cat
        point = np.asarray(cat["kind"]) == "point"
        bright = point & (np.asarray(cat["snr"]) > 50) & (np.asarray(cat["flags"]) == 0)
        med = float(np.median(np.hypot(cat["ra_err"][bright], cat["dec_err"][bright]) / np.sqrt(2))) if bright.any() else np.nan
        rows.append((im["product_id"], cat.meta.get("instrument", ""), cat.meta.get("filter", ""),
                     float(cat.meta.get("epoch") or np.nan), len(cat), int(point.sum()),
                     int(np.sum(np.asarray(cat["method"]) == "psf")), float(cat.meta.get("fwhm_pix") or np.nan), med,
                     str(cat.meta.get("psf_model", "")), round(seconds, 1), str(path)))
        records.append({"product_id": im["product_id"], "path": str(path), "n_sources": len(cat),
                        "n_point": int(point.sum()), "median_err_mas": None if np.isnan(med) else round(med, 2)})
    if not rows:
        raise WorkbookError("no image could be extracted (see the warnings above); check notebook 01's downloads")
    summary = Table(rows=rows, names=("product_id", "instrument", "filter", "epoch", "n_sources", "n_point", "n_psf",
                                      "fwhm_pix", "median_err_mas", "psf_model", "seconds", "catalog"))
    summary["median_err_mas"].unit = "mas"
    summary["fwhm_pix"].unit = "pix"
    summary["seconds"].unit = "s"
    summary["fwhm_pix"].format = ".2f"
    summary["median_err_mas"].format = ".2f"
    summary["epoch"].format = ".2f"
    cfg.update(extra={"source_catalogs": records})
    return summary, catalogs


def image_reading_summary(catalogs):
    """What was read from each image's headers and measured on its sky (notebook 02).

    Parameters
    ----------
    catalogs : dict
        ``{product_id: catalog}`` as returned by `extract_field_images`.

    Returns
    -------
    summary : `~astropy.table.Table`
        One row per image: ``filter``, ``distortion`` (model the WCS carries, or what it ignores),
        ``noise_from`` (what the noise was taken from and what the WHT turned out to be: ERR, WHT as
        inverse variance, WHT not inverse variance (e.g. exposure time) and rescaled to the sky, the
        sky alone, or a crowded sky that could not be measured), ``poisson_from`` (where the sources'
        own Poisson noise came from: the ERR plane, EXPTIME scaled per pixel by the WHT's depth, a
        given gain, or none), ``noise_pixel_scale`` (sky σ /
        claimed σ; 1 when ERR/WHT are right), ``scale_applied``, ``corr_2x2``, ``corr_8x8`` (block-sum
        noise / uncorrelated expectation), ``error_factor`` (applied to every position and flux
        error), ``psf_source`` (``epsf`` built from the image's stars, ``library`` (drizzlepac),
        ``model`` (instrument), ``supplied`` or ``none``), ``fwhm_pix`` and ``fwhm_source``,
        ``dq_masked`` (pixels), ``drizzle_floor`` (the drizzle's own position error added to the errors,
        measured by re-drizzling the PSF with the product's drizzle keywords, `helpers.sources.redrizzle`),
        ``assumed`` (notes).
    """
    if not isinstance(catalogs, dict):
        raise WorkbookError(f"catalogs is a {type(catalogs).__name__}, not a dict {{product_id: catalog}}; pass what "
                            "extract_field_images returned")
    rows = []
    for pid, cat in catalogs.items():
        meta = cat.meta
        corr = meta.get("noise_correlation") or {}
        rows.append((pid, str(meta.get("filter", "")), str(meta.get("distortion", "")), _noise_from(meta),
                     str(meta.get("poisson_source", "")) or "-",
                     float(meta.get("noise_pixel_scale", np.nan)), bool(meta.get("noise_scale_applied", False)),
                     float(corr.get("2x2", np.nan)), float(corr.get("8x8", np.nan)),
                     float(meta.get("noise_correlation_factor", 1.0)), str(meta.get("psf_source", "none")),
                     float(meta.get("fwhm_pix") or np.nan), str(meta.get("fwhm_source", "")),
                     int(meta.get("dq_masked_pixels", 0)), _drizzle_floor_text(meta),
                     str(meta.get("read_notes", "")) or "-"))
    names = ("product_id", "filter", "distortion", "noise_from", "poisson_from", "noise_pixel_scale", "scale_applied", "corr_2x2",
             "corr_8x8", "error_factor", "psf_source", "fwhm_pix", "fwhm_source", "dq_masked", "drizzle_floor",
             "assumed")
    return Table(rows=rows, names=names) if rows else Table(names=names)


def _drizzle_floor_text(meta):
    """One phrase: the drizzle's own position error added to every error (helpers.sources.redrizzle)."""
    floor = meta.get("drizzle_floor")
    if not floor:
        return "none (not a drizzled product, or no drizzle keywords)"
    return floor.get("note", "")


def _noise_from(meta):
    """One phrase: which plane gave the noise, and what the sky said about it."""
    planes = meta.get("noise_planes")
    if meta.get("noise_measurement"):
        return f"{planes or 'claimed'} as given ({meta['noise_measurement']})"
    scaled = bool(meta.get("noise_scale_applied"))
    scale = meta.get("noise_pixel_scale")
    if planes == "WHT":
        return (f"WHT, not inverse variance (sky sigma {scale:.2g}x its claim): rescaled to the sky" if scaled
                else "WHT as inverse variance (checked on the sky)")
    if planes == "ERR":
        return f"ERR, off by {scale:.2g}x on the sky: rescaled" if scaled else "ERR (checked on the sky)"
    if planes == "none":
        return "the sky (no usable ERR or WHT)"
    return "as given to extract_sources"


def _exposure_paths(spec, product_id):
    """The exposure files one entry of ``exposure_files`` names: a list of paths, or a glob pattern."""
    import glob

    if isinstance(spec, (str, Path)):
        paths = sorted(glob.glob(str(Path(spec).expanduser())))
        if not paths:
            raise WorkbookError(f"exposure_files[{product_id!r}] = {str(spec)!r} matches no file; give the "
                                "flt/flc/cal files of the product's association (a glob such as "
                                "'archive/j8xi*_flc.fits' or a list)")
        return [Path(p) for p in paths]
    if not isinstance(spec, (list, tuple)) or not all(isinstance(p, (str, Path)) for p in spec):
        raise WorkbookError(f"exposure_files[{product_id!r}] is a {type(spec).__name__}, not a list of paths or a "
                            "glob; give e.g. ['j8xi01a1q_flc.fits', 'j8xi01a2q_flc.fits'] or 'archive/j8xi*_flc.fits'")
    missing = [str(p) for p in spec if not Path(p).expanduser().is_file()]
    if missing:
        raise WorkbookError(f"exposure_files[{product_id!r}]: {missing[0]} not found ({len(missing)} missing); "
                            "check the paths (download the flt/flc/cal members of the product from MAST)")
    return [Path(p).expanduser() for p in spec]


def _recorded_exposure_files(cfg, images):
    """Notebook 01's ``extra["exposure_files"]`` for this run's images, and the lines saying what was taken."""
    recorded = cfg.extra.get("exposure_files") or {}
    if not isinstance(recorded, dict):
        raise WorkbookError(f"field.json's extra['exposure_files'] is a {type(recorded).__name__}, not a dict; re-run "
                            "notebook 01 (01_find_imaging) or give exposure_files here")
    ids = {im["product_id"] for im in images}
    taken, lines = {}, []
    for pid, paths in recorded.items():
        if pid not in ids:
            continue  # a product this run does not process (max_images)
        paths = [str(p) for p in (paths if isinstance(paths, (list, tuple)) else [paths])]
        here = [p for p in paths if Path(p).is_file()]
        if len(here) < len(paths):
            gone = [Path(p).name for p in paths if p not in here]
            lines.append(f"{pid}: {len(gone)} exposure(s) notebook 01 recorded are gone ({', '.join(gone[:3])}"
                         f"{' ...' if len(gone) > 3 else ''}); " + ("the fit uses the rest" if len(here) >= 2 else
                                                                     "fewer than 2 left: not refined"))
        if len(here) >= 2:
            taken[pid] = here
    if taken:
        lines.insert(0, f"exposure_files from notebook 01 ({cfg.config_file.name}, extra['exposure_files']): "
                        + ", ".join(f"{pid} ({len(p)} exposures)" for pid, p in taken.items()))
    return taken, lines


def refine_field_on_exposures(cfg, images, catalogs, exposure_files=None, overwrite=True):
    """Refine each product's catalog on its input exposures where they are given (notebook 02).

    A drizzled product's PSF depends on each star's sub-pixel position relative to every input grid,
    so a fit on the product has a floor at high SNR; a joint fit on the exposures (flt/flc/cal) does not
    (`refine_on_exposures`). One line per product says which estimator gave the positions and why.

    Parameters
    ----------
    cfg : `helpers.config.FieldConfig`
    images : list of dict
        From :func:`field_images` (``product_id``, ``path``).
    catalogs : dict
        ``{product_id: catalog}`` from :func:`extract_field_images`.
    exposure_files : dict, optional
        ``{product_id: [paths] or "glob"}``: the flt/flc/cal members of each product; ``{}``: nothing is
        refined (the line says so). None: those notebook 01 found and downloaded
        (``cfg.extra["exposure_files"]``, `helpers.archive.exposures_for_config`), said in a line; a recorded
        file since deleted is named and the rest used, and exposures the joint fit refuses leave that product
        unrefined with a line (given by hand, they raise).
    overwrite : bool
        Replace ``catalogs/sources_<product_id>.ecsv`` with the refined catalog.

    Returns
    -------
    catalogs : dict
        The same dict, with refined catalogs where exposures were given.
    lines : list of str
        The lines printed.

    Raises
    ------
    WorkbookError
        An ``exposure_files`` key that is not a product id of ``images``, a glob matching nothing, a
        missing file, or exposures that do not belong to the product (see `refine_on_exposures`).
    """
    from ..config import FieldConfig
    from .exposures import refine_on_exposures

    require_instance(cfg, FieldConfig, "cfg", "load it with helpers.config.load_field(field, workspace_root)")
    if not isinstance(images, (list, tuple)) or not all(isinstance(im, dict) and "path" in im and "product_id" in im
                                                         for im in images):
        raise WorkbookError("images must be the list of {product_id, path, ...} dicts of field_images(cfg); "
                            "run the cell that loads the field's images first")
    if not isinstance(catalogs, dict):
        raise WorkbookError(f"catalogs is a {type(catalogs).__name__}, not a dict {{product_id: catalog}}; pass what "
                            "extract_field_images returned")
    lines = []
    recorded = exposure_files is None
    if recorded:
        exposure_files, lines = _recorded_exposure_files(cfg, images)
    if not isinstance(exposure_files, dict):
        raise WorkbookError(f"exposure_files is a {type(exposure_files).__name__}, not a dict; give "
                            "{product_id: [flt/flc/cal paths] or 'glob'}, or {} for none")
    by_id = {im["product_id"]: im for im in images}
    unknown = [k for k in exposure_files if k not in by_id]
    if unknown:
        raise WorkbookError(f"exposure_files names product {unknown[0]!r}, which is not one of this field's images "
                            f"({', '.join(map(str, by_id)) or 'none'}); use their product_id as the key")
    for pid, im in by_id.items():
        cat = catalogs.get(pid)
        if cat is None:
            continue
        if pid not in exposure_files:
            how = "PSF fits" if np.any(np.asarray(cat["method"]) == "psf") else "windowed centroids"
            lines.append(f"{pid}: positions from the drizzled product ({how}); no exposures given (exposure_files, "
                         "or notebook 01's download_exposures = True) - at high SNR a product with pixfrac < 1 leaves "
                         "a floor the flt/flc/cal exposures do not")
            continue
        paths = _exposure_paths(exposure_files[pid], pid)
        try:
            refined = refine_on_exposures(cat, paths, im["path"])
        except WorkbookError as exc:
            if not recorded:  # the planner's own list: what is wrong with it must be fixed
                raise
            # notebook 01's list (e.g. WFPC2 c0m files without DQ): this product keeps its positions, said
            lines.append(f"{pid}: not refined on notebook 01's exposures ({exc}); positions from the drizzled product")
            continue
        write_catalog(refined, cfg.subdir("catalogs") / f"sources_{pid}.ecsv", overwrite=overwrite)
        catalogs[pid] = refined
        lines.append(f"{pid}: {refined.meta['exposures']['sentence']}")
    for line in lines:
        print(line)
    return catalogs, lines
