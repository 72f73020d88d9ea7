"""Centering zones for planning, read from ONE place: ``helpers.nirspec.CENTERING_CONSTRAINTS``.

The zone of a constraint is the rectangle ``|dispersion offset| <= x_half``,
``|spatial offset| <= y_half`` (arcsec) around the shutter centre. Whatever that table holds
(today JDox's half-sizes; after issue #12, insets from the shutter pitch) is what the optimizer
uses; `zone_half_widths` can also take margins explicitly (inset from the pitch cell).
"""

import numpy as np

from ..errors import WorkbookError

__all__ = ["zone_half_widths", "PITCH_ARCSEC"]

#: Nominal shutter pitch on the sky, dispersion x spatial (arcsec), hMPT / vMPT ``SHUTTER_X/Y_ARCSEC``.
PITCH_ARCSEC = (0.2679, 0.5294)


def zone_half_widths(constraint="Midpoint", margin_arcsec=None):
    """Half-widths (x_half along the dispersion, y_half spatial), arcsec, of a centering zone.

    Parameters
    ----------
    constraint : str
        A name in ``helpers.nirspec.CENTERING_CONSTRAINTS`` (case-insensitive).
    margin_arcsec : float or dict, optional
        Inset from the shutter pitch cell (APT/hMPT convention): ``x_half = 0.2679/2 - m``,
        ``y_half = 0.5294/2 - m``. A dict maps constraint names to margins. When given, the
        table is not consulted for the size (only for the name, if a dict).

    Returns
    -------
    (float, float)
    """
    from .. import nirspec

    names = {row[0].lower(): row for row in nirspec.CENTERING_CONSTRAINTS}
    key = str(constraint).strip().lower()
    if margin_arcsec is not None:
        if isinstance(margin_arcsec, dict):
            lower = {str(k).lower(): v for k, v in margin_arcsec.items()}
            if key not in lower:
                raise WorkbookError(f"no margin given for constraint {constraint!r}; give one of {', '.join(margin_arcsec)}")
            m = float(lower[key])
        else:
            m = float(margin_arcsec)
        if not np.isfinite(m) or m < 0 or m >= PITCH_ARCSEC[0] / 2:
            raise WorkbookError(f"centering margin {m!r} arcsec must be in [0, {PITCH_ARCSEC[0] / 2:.3f}); e.g. 0.059 for Midpoint")
        return PITCH_ARCSEC[0] / 2 - m, PITCH_ARCSEC[1] / 2 - m
    if key not in names:
        raise WorkbookError(f"unknown centering constraint {constraint!r}; use one of: {', '.join(nirspec.constraint_names())}")
    row = names[key]
    return float(row[1]), float(row[2])
