"""Boundary checks shared by the simulate entry points: one `WorkbookError` line per mistake.

Thin wrappers over :mod:`helpers.validate` for the argument kinds the simulator takes (tables
with required columns, (RA, Dec) / (ny, nx) pairs, seeds), so each public function validates
in a line or two at its top.
"""

from astropy.table import Table

from ..errors import WorkbookError
from ..validate import require_array, require_instance, require_number


def require_table(value, name, columns, hint, allow_empty=True):
    """``value`` if it is a `~astropy.table.Table` holding ``columns``, else one line.

    Parameters
    ----------
    value : object
    name : str
        Argument name, used in the message.
    columns : sequence of str
        Columns the caller reads.
    hint : str
        Where a valid table comes from (``"make it with make_truth"``).
    allow_empty : bool
        Accept a table without rows (an empty field is a valid scene).
    """
    require_instance(value, Table, name, hint)
    missing = [c for c in columns if c not in value.colnames]
    if missing:
        raise WorkbookError(f"{name} lacks column(s) {missing} (has {value.colnames[:6]}); {hint}")
    if len(value) == 0 and not allow_empty:
        raise WorkbookError(f"{name} has no rows; {hint}")
    return value


def require_numeric_columns(table, name, columns, hint, allow_nan=False):
    """Refuse columns of ``table`` that are not finite numbers (text, NaN/inf), in one line."""
    for c in columns:
        try:
            require_array(table[c], f"{name}[{c!r}]", allow_nan=allow_nan)
        except WorkbookError as exc:
            raise WorkbookError(f"{str(exc).split(';')[0]}; {hint}") from None


def require_pair(value, name, *, integer=False, minimum=None, example="(53.16, -27.79)"):
    """``value`` as a tuple of two finite numbers (whole and >= ``minimum`` when asked), else one line."""
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__len__") or len(value) != 2:
        raise WorkbookError(f"{name} = {value!r:.40} is not a pair of numbers; give two numbers, e.g. {example}")
    return tuple(require_number(v, name, integer=integer, minimum=minimum, example=example) for v in value)


def require_seed(value, name="seed"):
    """A whole, non-negative seed (None allowed: a fresh realisation), else one line."""
    return require_number(value, name, integer=True, minimum=0, allow_none=True, example="1")
