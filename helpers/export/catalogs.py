"""The full export catalog (notebook 05): sources + MPT ID, magnitudes, MSATA verdict, shutter; ECSV."""

import numpy as np

from .._io import atomic_path, refuse_existing
from ..errors import WorkbookError
from ._checks import require_table

__all__ = [
    "write_catalog_ecsv",
    "full_catalog",
]


def full_catalog(sources, mpt, candidates=None, located=None, mag_pre=None, mag_ta=None):
    """The full export catalog (ECSV): every source column, sigma and flags, plus the MPT ID,
    magnitudes, the MSATA verdict per source and, if given, the shutter each source falls in."""
    from astropy.table import Table
    import astropy.units as u

    require_table(sources, "sources", hint="give the source catalog notebook 02 wrote")
    require_table(mpt, "mpt", ("ID",), hint="give the MPT table build_mpt_table returned")
    if len(mpt) != len(sources):
        raise WorkbookError(f"mpt has {len(mpt)} rows and sources {len(sources)}; give the MPT table built from these sources")
    out = Table(sources, copy=True)
    out.meta = dict(sources.meta)
    out["mpt_id"] = np.asarray(mpt["ID"])
    if mag_ta is not None and "mag_ta" in out.colnames:
        out.remove_column("mag_ta")  # kept as mag_ta_est_ab with its unit and description
    if mag_pre is not None:
        out["mag_pre_ab"] = np.asarray(mag_pre, float) * u.ABmag
        out["mag_pre_ab"].description = f"AB magnitude in the pre-image filter {sources.meta.get('filter')}"
    if mag_ta is not None:
        out["mag_ta_est_ab"] = np.asarray(mag_ta, float) * u.ABmag
        out["mag_ta_est_ab"].description = "estimated AB magnitude in the TA filter (colour term unknown)"
    out["msata_reference"] = np.asarray(mpt["Reference"]).astype(bool)
    if candidates is not None and len(candidates):
        order = {int(i): k for k, i in enumerate(np.asarray(candidates["id"]))}
        idx = np.array([order.get(int(i), -1) for i in np.asarray(out["id"])])
        ok = idx >= 0
        rank = np.zeros(len(out), np.int64)
        reason = np.full(len(out), "", dtype=object)
        rank[ok] = np.asarray(candidates["rank"])[idx[ok]]
        reason[ok] = np.asarray(candidates["reason"])[idx[ok]]
        out["msata_rank"] = rank
        out["msata_reason"] = reason.astype(str)
    if located is not None:
        # shutters named as APT's MSA metadata and the jwst pipeline (shutter_row 1-365 along the
        # dispersion, shutter_column 1-171 spatial, shutter_id = row + (column - 1) * 365)
        for name in ("shutter_quadrant", "shutter_row", "shutter_column", "shutter_id"):
            if name in located.colnames:
                out[name] = np.asarray(located[name])
        for name in ("in_open", "state"):
            if name in located.colnames:
                out[f"msa_{name}"] = np.asarray(located[name])
    return out


def write_catalog_ecsv(table, path, overwrite=False):
    """Write a table (with units, sigma and flags) as ECSV, atomically."""
    require_table(table, "table", hint="give the table full_catalog returned")
    path = refuse_existing(path, overwrite)
    with atomic_path(path, overwrite=overwrite) as tmp:
        table.write(tmp, format="ascii.ecsv", overwrite=True)
    return path
