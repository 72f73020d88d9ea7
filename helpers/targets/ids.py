"""Target IDs MPT accepts, and MPT's ``Weight`` from a planner's priority.

IDs
---
APT's MSA Planning Tool wants a unique integer ID from 1 to 1,000,000 per source (JDox
"MPT Catalogs - Examples"): it ends up in the names of the pipeline's level-3 products.
Duplicate IDs are refused (which target would a spectrum belong to?). IDs that are not
integers (``"HDFS-0042"``, ``12.5``), or integers outside 1-1,000,000 (Gaia ``source_id``),
are *not* refused: every target gets a new ID 1..N in list order, the original is kept in the
``id_original`` column, and :func:`write_id_mapping` writes the mapping file to carry
back to the planner's own names.

Priority and weight
-------------------
Planners rank targets by *priority* with 1 the most wanted (priority classes 1, 2, 3 ...).
MPT's ``Weight`` works the other way (a larger weight is more wanted). The documented rule
(:func:`weight_from_priority`): ``Weight = p_max + 1 - priority``, where ``p_max`` is the list's
largest priority, so the top class gets the largest weight and the last class weight 1; the
order of the classes is kept exactly. A list's own weight column is used as it is.
"""

from pathlib import Path

import numpy as np

from .._io import atomic_path
from ..errors import WorkbookError

__all__ = ["ID_NAMES", "WEAK_ID_NAMES", "PRIORITY_NAMES", "WEIGHT_NAMES", "REDSHIFT_NAMES", "MPT_MAX_ID",
           "normalise_ids", "weight_from_priority", "write_id_mapping"]

#: Largest ID MPT accepts (JDox "MPT Catalogs - Examples": "an integer value from 1 up to 1e6").
MPT_MAX_ID = 1_000_000

#: Names tried for the ID column (case-insensitive, in order); duplicates in it are refused.
ID_NAMES = ("id", "number", "objid", "obj_id", "object_id", "objectid", "source_id", "sourceid", "src_id",
            "seqnr", "seq", "target_id", "targetid", "ident", "identifier")
#: Names that are IDs only when their values are unique (``object`` may be a type: ``"galaxy"``).
WEAK_ID_NAMES = ("name", "object", "target", "source")
#: Names tried for a priority column (1 = most wanted).
PRIORITY_NAMES = ("priority", "prio", "pri", "rank", "priority_class", "class_priority", "tier")
#: Names tried for a weight column (larger = more wanted, MPT's convention).
WEIGHT_NAMES = ("weight", "wt", "mpt_weight", "weights")
#: Names tried for a redshift column, best first.
REDSHIFT_NAMES = ("redshift", "z", "z_spec", "zspec", "z_phot", "zphot", "photoz", "photo_z", "z_best", "zbest",
                  "z_peak", "zpeak", "z_p")  # not "zp": often a zeropoint


def _rows_text(rows, limit=5):
    shown = ", ".join(str(r + 1) for r in rows[:limit])
    return shown + (" ..." if len(rows) > limit else "")


def normalise_ids(column, name):
    """Check a target list's IDs; renumber them 1..N when MPT could not take them.

    Parameters
    ----------
    column : `~astropy.table.Column` or None
        The ID column (None: the list has none; IDs 1..N are given).
    name : str or None
        Its name, for messages.

    Returns
    -------
    ids : `~numpy.ndarray` of int64
        IDs in 1..1,000,000, unique.
    original : `~numpy.ndarray` or None
        The original IDs when renumbered, else None.
    reason : str or None
        Why they were renumbered, one line (None if not).

    Raises
    ------
    WorkbookError
        Missing (masked/empty) or duplicate IDs, naming the rows / values.
    """
    if column is None:
        return None, None, "the list has no ID column"
    values = np.asarray(np.ma.filled(column, 0) if np.ma.is_masked(column) else column)
    mask = np.ma.getmaskarray(column) if hasattr(column, "mask") else np.zeros(len(column), bool)
    if values.dtype.kind in "US":
        stripped = np.char.strip(values.astype(str))
        mask = mask | (stripped == "")
        values = stripped
    elif values.dtype.kind == "f":
        mask = mask | ~np.isfinite(values)
    if mask.any():
        rows = np.flatnonzero(mask)
        raise WorkbookError(f"{mask.sum()} target(s) have no ID in column {name!r} (data rows {_rows_text(rows)}); "
                            "give every target an ID, or name another column with id_col=")
    uniq, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    if (counts > 1).any():
        dup = uniq[counts > 1]
        first_rows = [np.flatnonzero(values == d)[:2] + 1 for d in dup[:3]]
        where = "; ".join(f"{d!s} at rows {', '.join(map(str, r))}" for d, r in zip(dup[:3], first_rows))
        raise WorkbookError(f"{dup.size} duplicate ID(s) in column {name!r} ({where}{' ...' if dup.size > 3 else ''}); "
                            "MPT needs one ID per target: merge or renumber those rows")
    ids = None
    if values.dtype.kind in "iu":
        ids = values.astype(np.int64)
    elif values.dtype.kind == "f" and np.all(values == np.round(values)) and np.all(np.abs(values) < 2 ** 53):
        ids = values.astype(np.int64)
    elif values.dtype.kind in "US":
        try:
            as_int = values.astype(np.int64)
        except (ValueError, OverflowError):
            as_int = None
        # "007" and "7" would both become 7: only take the numbers if they stay unique
        if as_int is not None and np.unique(as_int).size == as_int.size:
            ids = as_int
    if ids is None:
        return None, np.asarray(column), f"IDs in column {name!r} are not integers"
    out = (ids < 1) | (ids > MPT_MAX_ID)
    if out.any():
        example = ", ".join(str(v) for v in ids[out][:3])
        return None, np.asarray(column), (f"{out.sum()} ID(s) in column {name!r} are outside MPT's 1-{MPT_MAX_ID:,} "
                                          f"(e.g. {example})")
    return ids, None, None


def weight_from_priority(priority):
    """MPT ``Weight`` from a priority where 1 is the most wanted: ``Weight = p_max + 1 - priority``.

    Parameters
    ----------
    priority : array-like of float
        Priorities (>= 1; smaller = more wanted). NaN/masked priorities are an error.

    Returns
    -------
    weight : `~numpy.ndarray` of float64
        Larger = more wanted; the lowest class gets 1.

    Raises
    ------
    WorkbookError
        Missing or non-positive priorities.

    Examples
    --------
    >>> weight_from_priority([1, 2, 3, 1])
    array([3., 2., 1., 3.])
    """
    if priority is None or isinstance(priority, (str, bytes, dict)) or np.asarray(priority).dtype.kind not in "biufm":
        raise WorkbookError(f"priority = {priority!r:.40} is not a list of numbers; give one priority (1 = highest) per target")
    p = np.ma.filled(np.ma.asarray(priority, dtype=float), np.nan)
    bad = ~np.isfinite(p) | (p <= 0)
    if bad.any():
        raise WorkbookError(f"{bad.sum()} target(s) have a missing or non-positive priority (data rows "
                            f"{_rows_text(np.flatnonzero(bad))}); give priorities 1, 2, 3 ... (1 = most wanted)")
    return np.max(p) + 1.0 - p if p.size else p


def write_id_mapping(table, path, overwrite=False):
    """Write the mapping from the new MPT IDs to the list's original IDs (CSV: ``id,id_original``).

    Parameters
    ----------
    table : `~astropy.table.Table`
        Returned by :func:`~helpers.targets.read_target_list` with renumbered IDs
        (``meta['target_list']['id_mapping']`` set, column ``id_original``).
    path : str or `~pathlib.Path`
        Destination; written atomically (complete or absent).
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    path : `~pathlib.Path`

    Raises
    ------
    WorkbookError
        The IDs were not renumbered (no mapping to write), the file exists, unwritable directory.
    """
    from astropy.table import Table

    if not isinstance(table, Table):
        raise WorkbookError(f"table is a {type(table).__name__}, not the Table read_target_list gave; read the list with it")
    info = table.meta.get("target_list", {})
    if not info.get("id_mapping") or "id_original" not in table.colnames:
        raise WorkbookError("this target list kept its own IDs, so there is no ID mapping to write; "
                            "only lists whose IDs were renumbered have one")
    mapping = Table({"id": np.asarray(table["id"]), "id_original": np.asarray(table["id_original"])})
    mapping.meta["comments"] = [f"new MPT ID -> original ID ({info['id_mapping']['reason']})",
                                f"source: {info.get('path')}"]
    with atomic_path(path, overwrite=overwrite) as tmp:
        mapping.write(tmp, format="ascii.csv", overwrite=True)
    return Path(path).expanduser()
