"""Record a sub-sample of jwst-vmpt 1.8.0's per-shutter dispersion cut-offs for the spectra tests.

Run with the peer venv (vmpt installed):  /work/venv-peers/bin/python tests/data/planning/record_vmpt_dispersion.py
Writes ``vmpt_dispersion_sample.npz`` next to this file: every 16th shutter (both axes) of
``vmpt/data/dispersion_cutoffs.npz`` (``{DISPERSER}_{FILTER}_{blue_edge,gap_lo,gap_hi,red_edge}``,
microns, shape (4, 171, 365) indexed [quadrant-1, column-1, row-1]; NaN = not on that detector)
plus the PRISM pixel extents on NRS2 at vMPT's 10 x 10 tilt grid.
"""
from pathlib import Path

import numpy as np
import vmpt

src = Path(vmpt.__file__).parent / "data" / "dispersion_cutoffs.npz"
table = np.load(src)
step = 16
out = {"step": np.array(step), "vmpt_version": np.array("1.8.0")}
for key in table.files:
    if key.endswith(("_blue_edge", "_gap_lo", "_gap_hi", "_red_edge")):
        out[key] = table[key][:, ::step, ::step]
for key in ("PRISM_CLEAR_tilt_grid_rows", "PRISM_CLEAR_tilt_grid_cols", "PRISM_CLEAR_x_lo_nrs2",
            "PRISM_CLEAR_x_hi_nrs2", "PRISM_CLEAR_x_lo_nrs1", "PRISM_CLEAR_x_hi_nrs1"):
    out[key] = table[key]
np.savez_compressed(Path(__file__).with_name("vmpt_dispersion_sample.npz"), **out)
print("wrote", len(out), "arrays from", src)
