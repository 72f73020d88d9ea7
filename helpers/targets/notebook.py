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
from .reader import read_target_list

__all__ = ["judge_field_targets", "judge_field_targets_gaia", "CORRECTED_NAME", "GAIA_NAME"]

#: The corrected target list, in the field's ``catalogs/`` directory (read by notebooks 04 and 05).
CORRECTED_NAME = "targets_corrected.ecsv"
#: The Gaia DR3 table notebook 01 caches in the field's ``archive/`` directory.
GAIA_NAME = "gaia.ecsv"


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
