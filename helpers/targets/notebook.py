"""Notebook glue for the planner's target list (issue #14): judge it against the field's measured
catalog, correct it, say so, and record the result in ``field.json`` (``extra["targets"]``).
"""

import warnings
from pathlib import Path

import numpy as np

from .._io import atomic_path
from ..errors import WorkbookError
from .judge import correct_targets, judge_targets, targets_record
from .reader import read_target_list

__all__ = ["judge_field_targets", "CORRECTED_NAME"]

#: The corrected target list, in the field's ``catalogs/`` directory (read by notebooks 04 and 05).
CORRECTED_NAME = "targets_corrected.ecsv"


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
        print(f"target list: {w.message}")
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
