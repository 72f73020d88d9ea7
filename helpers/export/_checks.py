"""Boundary checks shared by the export and plotting entry points (issue #17).

Each returns its argument unchanged or raises one `WorkbookError` line saying what was wrong and
what to do, before any work (so a refused call writes nothing). The MSA model is imported lazily:
``helpers.export`` stays cheap to import.
"""

from ..errors import WorkbookError
from ..validate import require_instance


def require_field(cfg, name="cfg"):
    """``cfg`` if it is a `helpers.config.FieldConfig`, else one line."""
    from ..config import FieldConfig

    return require_instance(cfg, FieldConfig, name, "load it with helpers.config.load_field(field, workspace_root)")


def require_pointing(pointing, name="pointing"):
    """``pointing`` if it is a `helpers.msa.MSAPointing`, else one line."""
    from ..msa import MSAPointing

    return require_instance(pointing, MSAPointing, name, "build it with helpers.msa.MSAPointing(ra, dec, apa)")


def require_table(table, name, columns=(), hint="give the table the previous step returned", allow_empty=True,
                  numeric=()):
    """``table`` if it is an astropy `~astropy.table.Table` holding ``columns``, else one line.

    Parameters
    ----------
    table : object
    name : str
        Argument name, used in the message.
    columns : sequence of str
        Columns that must be present.
    hint : str
        What to pass instead.
    allow_empty : bool
        Accept a table without rows.
    numeric : sequence of str
        Columns that, when present, must hold numbers (not text or objects); values are not
        checked (NaN and infinities are the caller's to handle, as before).
    """
    from astropy.table import Table

    require_instance(table, Table, name, hint)
    missing = [c for c in columns if c not in table.colnames]
    if missing:
        raise WorkbookError(f"{name} lacks column(s) {', '.join(missing)} (has {', '.join(table.colnames[:8]) or 'none'}); {hint}")
    if not allow_empty and len(table) == 0:
        raise WorkbookError(f"{name} has no rows; {hint}")
    for c in numeric:
        if c in table.colnames and table[c].dtype.kind not in "iufb":
            raise WorkbookError(f"{name}[{c!r}] holds {table[c].dtype.kind!r}-type values "
                                f"({list(table[c][:2])!r:.40}), not numbers; {hint}")
    return table


def require_keys(value, name, keys, hint):
    """``value`` if it is a dict or `~astropy.table.Table` with every one of ``keys``, else one line."""
    from astropy.table import Table

    if not isinstance(value, (dict, Table)):
        raise WorkbookError(f"{name} is a {type(value).__name__} ({value!r:.40}), not a dict; {hint}")
    have = value.colnames if isinstance(value, Table) else list(value)
    missing = [k for k in keys if k not in have]
    if missing:
        raise WorkbookError(f"{name} lacks {', '.join(map(str, missing))}; {hint}")
    return value
