"""Boundary checks shared by the simulate entry points: one `WorkbookError` line per mistake.

Thin wrappers over :mod:`helpers.validate` for the argument kinds the simulator takes (tables
with required columns, (RA, Dec) / (ny, nx) pairs, seeds), so each public function validates
in a line or two at its top.
"""

from ..errors import WorkbookError
from ..validate import require_array, require_instance, require_number, require_table  # noqa: F401


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
