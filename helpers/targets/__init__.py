"""Planners' target lists (issue #14): read any common table format, validate for APT's MPT.

The target list is the catalog whose astrometry the 5-10 mas requirement is about: the
planner's own selection with IDs, priorities and redshifts. :func:`read_target_list` turns
an ECSV, FITS, VOTable, CSV, whitespace/SExtractor ASCII or MPT catalog into one table with
canonical ``id``, ``ra``, ``dec`` (deg, ICRS) and, when present, ``priority``, ``weight`` and
``redshift`` columns, keeping every other column, and says in ``meta['target_list']`` what
was found, mapped and converted. Problems a planner can fix are one-line
:class:`~helpers.errors.WorkbookError` messages.

Sits between ``astrometry`` and ``msa`` in the import order; the reader imports only
``errors``, ``_io`` and ``skyplane``; :mod:`.judge` (the list against the image catalog or Gaia:
frame offset, own scatter, verdict, correction) builds on ``astrometry``.
"""

from .coords import DEC_NAMES, RA_NAMES, TargetListWarning, parse_sexagesimal
from .ids import (ID_NAMES, PRIORITY_NAMES, REDSHIFT_NAMES, WEAK_ID_NAMES, WEIGHT_NAMES, weight_from_priority,
                  write_id_mapping)
from .judge import TargetJudgement, correct_targets, judge_targets, targets_record
from .reader import FORMATS, read_table_file, read_target_list, target_list_summary
from .validate import MPT_MAX_RADIUS_DEG, centre_and_radius, check_positions

__all__ = [
    "read_target_list",
    "judge_targets",
    "correct_targets",
    "targets_record",
    "TargetJudgement",
    "read_table_file",
    "target_list_summary",
    "write_id_mapping",
    "weight_from_priority",
    "parse_sexagesimal",
    "check_positions",
    "centre_and_radius",
    "TargetListWarning",
    "FORMATS",
    "MPT_MAX_RADIUS_DEG",
    "ID_NAMES",
    "WEAK_ID_NAMES",
    "RA_NAMES",
    "DEC_NAMES",
    "PRIORITY_NAMES",
    "WEIGHT_NAMES",
    "REDSHIFT_NAMES",
]
