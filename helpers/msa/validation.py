"""Validation of the MSA model against the NIRSpec IDT per-shutter table shipped in pysiaf (notebook 04).

The sky columns ``XPOSSKY, YPOSSKY`` of the IDT table (V2, V3 in degrees) never went into the
model (`helpers.msa.model`), so they are an independent check of it.
"""

from pathlib import Path

import numpy as np

from .model import _import_pysiaf, msa_xy_from_index, shutter_v2v3

__all__ = ["idt_table_path", "validate_against_idt"]


def idt_table_path(quadrant):
    """Path of pysiaf's NIRSpec IDT per-shutter table for one quadrant (the validation data)."""
    from ..validate import require_number
    quadrant = require_number(quadrant, "quadrant", minimum=1, maximum=4, integer=True, example="1")
    pysiaf = _import_pysiaf()

    return (Path(pysiaf.__file__).parent / "source_data" / "NIRSpec" / "delivery" / "test_data"
            / "apertures_testData" / f"sky_fpa_projectionMSA_Q{int(quadrant)}.fits")


def validate_against_idt(filter="CLEAR"):
    """Compare every shutter of the model with the NIRSpec IDT table shipped in pysiaf.

    The IDT table (``sky_fpa_projectionMSA_Q{1..4}.fits``; CLEAR, 2 um) lists each shutter's
    MSA-plane position and its V2, V3 (``XPOSSKY, YPOSSKY``, degrees). Only its MSA-plane
    columns went into ``data/msa/msa_grid.ecsv``; the sky columns are an independent check of
    the SIAF-polynomial projection.

    Returns
    -------
    `~astropy.table.Table`
        One row per quadrant: ``n`` shutters, ``max_mas``, ``rms_mas`` (V2/V3 error) and
        ``max_msa_um`` (MSA-plane grid error).
    """
    from astropy.io import fits
    from astropy.table import Table

    rows = []
    for q in range(1, 5):
        d = fits.getdata(idt_table_path(q))
        v2, v3 = shutter_v2v3(d["Q"], d["I"], d["J"], filter=filter)
        err = 1000.0 * np.hypot(v2 - 3600.0 * d["XPOSSKY"], v3 - 3600.0 * d["YPOSSKY"])
        x, y = msa_xy_from_index(d["Q"], d["I"], d["J"])
        err_um = 1e6 * np.hypot(x - d["XPOSMSA"], y - d["YPOSMSA"])
        rows.append((q, len(d), err.max(), np.sqrt(np.mean(err ** 2)), err_um.max()))
    t = Table(rows=rows, names=("quadrant", "n", "max_mas", "rms_mas", "max_msa_um"))
    for c in ("max_mas", "rms_mas", "max_msa_um"):
        t[c].info.format = ".3f"
    t.meta["filter"] = filter
    return t
