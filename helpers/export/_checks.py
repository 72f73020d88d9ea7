"""Boundary checks shared by the export and plotting entry points (issue #17).

Each returns its argument unchanged or raises one `WorkbookError` line saying what was wrong and
what to do, before any work (so a refused call writes nothing). The MSA model is imported lazily:
``helpers.export`` stays cheap to import.
"""

from ..errors import WorkbookError
from ..validate import require_instance, require_table  # noqa: F401  (require_table: one definition, in validate)


def require_field(cfg, name="cfg"):
    """``cfg`` if it is a `helpers.config.FieldConfig`, else one line."""
    from ..config import FieldConfig

    return require_instance(cfg, FieldConfig, name, "load it with helpers.config.load_field(field, workspace_root)")


def require_pointing(pointing, name="pointing"):
    """``pointing`` if it is a `helpers.msa.MSAPointing`, else one line."""
    from ..msa import MSAPointing

    return require_instance(pointing, MSAPointing, name, "build it with helpers.msa.MSAPointing(ra, dec, apa)")


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
