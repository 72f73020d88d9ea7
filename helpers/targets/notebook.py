"""Notebook glue for the planner's target list (issue #14): judge it against the field's measured
catalog, correct it, say so, and record the result in ``field.json`` (``extra["targets"]``); judge it
against Gaia DR3 too (the archive's cached ``gaia.ecsv`` propagated to the image epoch), recorded as
``extra["targets"]["gaia"]``.
"""

import warnings
from pathlib import Path

import numpy as np

from .._io import atomic_path
from ..errors import WorkbookError
from .judge import correct_targets, judge_targets, targets_record
from .ids import write_id_mapping
from .reader import read_target_list

__all__ = ["check_own_data", "own_field_report", "judge_field_targets", "judge_field_targets_gaia", "CORRECTED_NAME", "GAIA_NAME",
           "ID_MAPPING_NAME"]

#: The corrected target list, in the field's ``catalogs/`` directory (read by notebooks 04 and 05).
CORRECTED_NAME = "targets_corrected.ecsv"
#: The Gaia DR3 table notebook 01 caches in the field's ``archive/`` directory.
GAIA_NAME = "gaia.ecsv"
#: The planner's original IDs against the 1..N MPT was given, when the list's IDs could not be kept.
ID_MAPPING_NAME = "targets_id_mapping.csv"


def _check_planes(records):
    """Refuse, before anything is written, an image whose ERR/WHT planes notebook 02 would refuse
    (negative ERR, WHT zero everywhere): `helpers.sources.read_image` reads only a strided sample.
    What it assumes and goes on with (a constant WHT, a DATA-only file) is said by notebook 02."""
    from ..sources import read_image

    for rec in records:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            info = read_image(rec["path"])
        info["hdul"].close()
        if info.get("raw_hdul") is not None:
            info["raw_hdul"].close()


def check_own_data(images=None, targets=None, center=None):
    """Check the planner's own images and target list before anything is written (notebook 00, CLI).

    Every problem a planner can fix stops here, in one line, before a field workspace exists: a
    missing or non-FITS image, one without a celestial WCS or not containing the field centre, a
    cube, filter keywords that disagree, a negative ERR or a WHT zero everywhere; a
    target list without recognisable RA/Dec, with garbage sexagesimal, duplicate IDs or B1950
    coordinates (see `read_target_list`); and a list whose targets are all off the images (or all
    but fewer than the 10 the frame judgement needs).

    Parameters
    ----------
    images : str or list of str, optional
        Paths or globs of FITS images.
    targets : str or Path, optional
        The target list.
    center : (float or str, float or str), optional
        Field centre that each image must contain, degrees or sexagesimal (as
        `helpers.config.parse_coordinates` reads them); default: the first image's centre.

    Returns
    -------
    records : list of dict
        `helpers.archive.local_images` records (nothing cut out, nothing written).
    table : `~astropy.table.Table` or None
        The target list as read.

    Raises
    ------
    WorkbookError
    """
    from ..archive import local_images, on_image
    from ..astrometry.alignment import MIN_ALIGN_PAIRS

    from ..config import parse_coordinates

    if center is not None and center[0] is not None:
        c = parse_coordinates(*center)
        center = (float(c.ra.deg), float(c.dec.deg))
    else:
        center = None
    table = None
    if targets:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # said in notebook 02, where the list is judged
            table = read_target_list(targets)
    records = local_images(images, center=center, max_pixels=float("inf")) if images else []
    _check_planes(records)
    if table is not None and records:
        ra, dec = np.asarray(table["ra"], float), np.asarray(table["dec"], float)
        inside = np.zeros(len(table), bool)
        for rec in records:
            inside |= on_image(rec["path"], ra, dec)
        names = ", ".join(Path(r["path"]).name for r in records)
        n_on = int(inside.sum())
        if n_on == 0:
            raise WorkbookError(f"all {len(table)} targets of {Path(targets).name} are off the image(s) {names}; give "
                                "the image of the list's field, or the list of this image's field")
        if n_on < MIN_ALIGN_PAIRS:
            raise WorkbookError(f"only {n_on} of the {len(table)} targets of {Path(targets).name} lie on the image(s) "
                                f"{names}, and judging the list's frame needs at least {MIN_ALIGN_PAIRS}; give an "
                                "image that covers more of the list")
        print(f"{n_on} of the {len(table)} targets lie on the image(s) {names}")
    return records, table


def judge_field_targets(cfg, catalogs, method="transform", max_sep=0.3, n_boot=200):
    """Judge ``cfg.extra["targets_path"]`` against the best image's catalog and record it.

    Parameters
    ----------
    cfg : `helpers.config.FieldConfig`
    catalogs : dict
        ``product_id`` -> source catalog (notebook 02), best image first.
    method : {'transform', 'image'}
        How the list is corrected (see `correct_targets`).
    max_sep : float
        Match radius after the coarse alignment, arcsec.
    n_boot : int

    Returns
    -------
    judgement : TargetJudgement or None
        None when the field has no target list (nothing is written).
    corrected : `~astropy.table.Table` or None
        Also written to ``catalogs/targets_corrected.ecsv``.

    Raises
    ------
    WorkbookError
        Unreadable list, or targets off the image (nothing is written then).
    """
    path = cfg.extra.get("targets_path")
    if not path:
        print("no target list for this field (notebook 00 parameter targets=, CLI --targets): nothing to judge")
        return None, None
    if not catalogs:
        raise WorkbookError("no image catalog to judge the target list against; run notebook 02 on an image first")
    product_id, measured = next(iter(catalogs.items()))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        targets = read_target_list(path)
    for w in caught:  # said out loud, once, in the notebook's output
        message = str(w.message)
        print(message if message.startswith("target list") else f"target list: {message}")
    judgement = judge_targets(targets, measured, max_sep=max_sep, n_boot=n_boot, reference=f"image {product_id}")
    corrected = correct_targets(targets, judgement, measured=measured, method=method)
    out = Path(cfg.subdir("catalogs")) / CORRECTED_NAME
    corrected.meta["judged_against"] = product_id
    with atomic_path(out, overwrite=True) as tmp:
        corrected.write(tmp, format="ascii.ecsv", overwrite=True)  # atomic_path made the temporary file
    record = targets_record(judgement, path, corrected.meta["correction"])
    record["corrected_path"] = str(out)
    record["image"] = product_id
    record["id_mapping_path"] = None
    mapping = targets.meta.get("target_list", {}).get("id_mapping")
    if mapping:  # MPT takes IDs 1..10^6 only: the list was renumbered; the planner gets the key back
        id_path = write_id_mapping(targets, Path(cfg.subdir("catalogs")) / ID_MAPPING_NAME, overwrite=True)
        record["id_mapping_path"] = str(id_path)
        print(f"your IDs ({mapping['reason']}) were renumbered 1..{len(targets)} for APT; the key is {id_path}")
    cfg.update(extra={"targets": record})
    st = np.asarray(judgement.per_target["status"])
    print(f"{len(targets)} targets against {product_id}: {int((st == 'matched').sum())} matched, "
          f"{int((st == 'ambiguous').sum())} ambiguous, {int((st == 'unmatched').sum())} unmatched")
    print(judgement.verdict.sentence)
    print(corrected.meta["correction"]["sentence"])
    return judgement, corrected


def judge_field_targets_gaia(cfg, catalogs, max_sep=0.3, n_boot=200, gaia=None):
    """Judge the field's target list against Gaia DR3 at the image epoch, and record it.

    Gaia is the absolute frame the HST and JWST pipelines align to. A target list of galaxies holds
    few Gaia stars, so this judgement is often impossible or "not verifiable" (< 30 pairs); then it
    says so in one line and the image judgement (`judge_field_targets`) stands alone.

    Parameters
    ----------
    cfg : `helpers.config.FieldConfig`
    catalogs : dict
        ``product_id`` -> source catalog (notebook 02), best image first: its ``meta['epoch']``
        (decimal year) is the epoch Gaia is propagated to.
    max_sep : float
        Match radius after the coarse alignment, arcsec.
    n_boot : int
    gaia : `~astropy.table.Table`, optional
        A Gaia DR3 table (archive columns); default ``archive/gaia.ecsv`` of the field.

    Returns
    -------
    judgement : TargetJudgement or None
        None when there is no list, no Gaia table, or too few of the targets are Gaia stars (the
        reason is printed and recorded as ``extra["targets"]["gaia"]["skipped"]``).
    """
    from astropy.table import Table

    from ..astrometry import propagate_reference, select_gaia

    path = cfg.extra.get("targets_path")
    if not path:
        return None
    record = dict(cfg.extra.get("targets") or {})

    def skip(reason):
        print(f"not judged against Gaia DR3: {reason}")
        record["gaia"] = {"skipped": reason}
        cfg.update(extra={"targets": record})
        return None

    if gaia is None:
        gaia_path = Path(cfg.subdir("archive")) / GAIA_NAME
        if not gaia_path.exists():
            return skip(f"no {GAIA_NAME} in {gaia_path.parent} (notebook 01 fetches it when live; offline, put a "
                        "Gaia DR3 table there); the list is judged against the image only")
        gaia = Table.read(gaia_path, format="ascii.ecsv")
    epoch = None
    if catalogs:
        epoch = next(iter(catalogs.values())).meta.get("epoch")
    if epoch is None:
        epoch = 2016.0
        print("the image catalog has no epoch: Gaia DR3 is used at its own epoch 2016.0 (proper motions not applied)")
    usable, dropped = select_gaia(gaia)
    moved = propagate_reference(usable, float(epoch))
    good = np.isfinite(np.asarray(moved["ra_err"], float))
    moved = moved[good]
    reference = f"Gaia DR3 at {float(epoch):.2f}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the reader's lines were printed by judge_field_targets
        targets = read_target_list(path)
    try:
        judgement = judge_targets(targets, moved, max_sep=max_sep, n_boot=n_boot, reference=reference)
    except WorkbookError as exc:
        return skip(f"{exc}")
    rec = targets_record(judgement, path, None)
    rec.pop("correction", None)
    rec.update(epoch=float(epoch), n_gaia_usable=len(moved),
               n_gaia_dropped={k: v for k, v in dropped.items() if v})
    record["gaia"] = rec
    cfg.update(extra={"targets": record})
    print(f"{len(targets)} targets against {reference} ({len(moved)} usable stars): {judgement.n_matched} matched; "
          f"frame offset E {judgement.offset_mas[0]:+.1f}, N {judgement.offset_mas[1]:+.1f} "
          f"(+/- {judgement.offset_err_mas:.1f}) mas")
    print(judgement.verdict.sentence)
    return judgement


def own_field_report(cfg):
    """What a planner's own-data run produced, one line each, for the end of the CLI's output.

    Parameters
    ----------
    cfg : `helpers.config.FieldConfig`

    Returns
    -------
    lines : list of str
        The verdict on the targets, the frame offset against the image (and Gaia, or why not), the
        corrected list, the ID key when the IDs were renumbered, the overlay figure and the MPT
        catalog, with their paths. Empty when the field has no judged target list.
    """
    rec = (cfg.extra or {}).get("targets")
    if not rec or "offset_mas" not in rec:
        return []
    e, n = rec["offset_mas"]
    rot_err = rec.get("rotation_err_arcsec")
    lines = [f"your {rec['n']} targets: {rec['sentence']}",
             f"frame offset of your list against {rec['reference']}: E {e:+.1f}, N {n:+.1f} "
             f"(+/- {rec.get('offset_err_mas') or float('nan'):.1f}) mas, rotation {rec['rotation_arcsec']:+.1f}\""
             + (f" (+/- {rot_err:.1f})" if rot_err is not None else "") + f", scale {rec['scale_ppm']:+.0f} ppm; "
             f"{rec['n_matched']} matched, {rec['n_ambiguous']} ambiguous, {rec['n_unmatched']} unmatched"]
    gaia = rec.get("gaia") or {}
    if "skipped" in gaia:
        lines.append(f"Gaia DR3: not judged ({gaia['skipped']})")
    elif gaia:
        ge, gn = gaia["offset_mas"]
        lines.append(f"against {gaia['reference']}: E {ge:+.1f}, N {gn:+.1f} mas; {gaia['sentence']}")
    correction = rec.get("correction") or {}
    lines.append(f"corrected list: {rec.get('corrected_path')} ({correction.get('sentence', '')})")
    if rec.get("id_mapping_path"):
        lines.append(f"your IDs were renumbered for APT; the key: {rec['id_mapping_path']}")
    overlay = Path(cfg.subdir("figures")) / "04_msa_overlay.png"
    if overlay.exists():
        lines.append(f"MSA overlay with your targets: {overlay}")
    mpt = sorted(Path(cfg.subdir("export")).rglob("*_mpt.cat"))
    if mpt:
        lines.append(f"MPT catalog for APT (your IDs, Weight from priority, Redshift, other sources as "
                     f"contaminants): {mpt[0]}")
    return lines
