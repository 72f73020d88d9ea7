"""Fit the grating anchors of ``helpers/planning/spectra.py`` to jwst-vmpt 1.8.0's full per-shutter table.

Run with the workbook's venv (numpy reads the peer's npz; vmpt itself is not imported):
    PYTHONPATH=. .venv/bin/python tests/data/planning/fit_vmpt_anchors.py \
        /work/venv-peers/lib/python3.11/site-packages/vmpt/data/dispersion_cutoffs.npz

For each grating, vMPT's detector-gap wavelengths
(``gap_lo`` at the last light-sensitive NRS1 pixel, ``gap_hi`` at the first of NRS2: the two places where the detector
coordinate of a wavelength is known exactly) are fitted by least squares with
``lambda(s) = anchor + D (s - s_image - drift (row - 1024.5))``: ``row`` is the shutter's NRS1 row
from pysiaf (the wavelength at the undispersed image drifts with the row: the spectra are tilted
against the MIRROR image), D is JDox's nominal dispersion. Prints anchor (um) and drift (px per
row) per grating with the agreement before (one constant anchor) and after, for the module's
tables (``DISPERSERS``, ``ROW_DRIFT_PX``).
"""
import sys

import numpy as np

from helpers.planning import DISPERSERS, detector_layout
from helpers.planning.spectra import ROW_CENTRE, _image_positions

table = np.load(sys.argv[1])
s_img, row, _, _ = _image_positions()
lay = detector_layout()
for pair, (_, _, disp, _) in DISPERSERS.items():
    if disp is None:
        continue
    key = pair.replace("/", "_")
    lam, u, drow = [], [], []
    for edge, s_edge in (("gap_lo", lay["gap_active"][0]), ("gap_hi", lay["gap_active"][1])):
        ref = table[f"{key}_{edge}"].astype(float)
        ok = np.isfinite(ref) & np.isfinite(s_img)
        lam.append(ref[ok])
        u.append(s_edge - s_img[ok])
        drow.append(row[ok] - ROW_CENTRE)
    lam, u, drow = map(np.concatenate, (lam, u, drow))
    # lambda(s) = anchor + D (s - s_img - drift (row - ROW_CENTRE)): lambda - D u is linear in (anchor, D drift)
    (a, c), *_ = np.linalg.lstsq(np.column_stack([np.ones(lam.size), drow]), lam - disp * u, rcond=None)
    anchor, drift = a, -c / disp
    const = (lam - disp * u - np.median(lam - disp * u)) / disp  # one constant anchor (the model before), px
    fit = (lam - disp * u - (a + c * drow)) / disp
    print(f"{pair}: n={lam.size} constant anchor |r| median {np.median(np.abs(const)):.1f} px, p95 "
          f"{np.percentile(np.abs(const), 95):.1f}; fit: anchor {anchor:.5f} um, drift {drift:+.5f} px/row; "
          f"|r| median {np.median(np.abs(fit)):.1f} px, p95 {np.percentile(np.abs(fit), 95):.1f}")

# PRISM: the pixel offsets of the spectrum's two ends from the MIRROR image, each drifting with
# the detector row, from vMPT's 10 x 10 grid of shutters per quadrant. Only ends that vMPT did not
# clip at a detector edge are used: blue ends from x_lo (NRS1, or NRS2 when the spectrum starts
# there), red ends from x_hi (NRS2, or NRS1 when it ends there).
rows, cols = table["PRISM_CLEAR_tilt_grid_rows"], table["PRISM_CLEAR_tilt_grid_cols"]
q, j, i = np.meshgrid(np.arange(1, 5), rows, cols, indexing="ij")
si = s_img[q - 1, j - 1, i - 1].ravel()
rw = row[q - 1, j - 1, i - 1].ravel() - ROW_CENTRE
ref = lay["reference_px"]
nrs2_start = lay["nrs2"][0]
lo1, hi1 = (table[f"PRISM_CLEAR_x_{k}_nrs1"].astype(float).ravel() for k in ("lo", "hi"))
lo2, hi2 = (table[f"PRISM_CLEAR_x_{k}_nrs2"].astype(float).ravel() for k in ("lo", "hi"))
inner = (ref + 0.5 + 1, 2048.5 - ref - 1)  # an end inside these bounds was not clipped
blue = np.where(np.isfinite(lo1), lo1, lo2 + nrs2_start)
blue_ok = np.where(np.isfinite(lo1), (lo1 > inner[0]) & (lo1 < inner[1]), (lo2 > inner[0]) & (lo2 < inner[1]))
red = np.where(np.isfinite(hi2), hi2 + nrs2_start, hi1)
red_ok = np.where(np.isfinite(hi2), (hi2 > inner[0]) & (hi2 < inner[1]), (hi1 > inner[0]) & (hi1 < inner[1]))
for name, s_end, ok in (("blue", blue, blue_ok), ("red", red, red_ok)):
    d = s_end - si
    c1, c0 = np.polyfit(rw[ok], d[ok], 1)
    e = d[ok] - (c0 + c1 * rw[ok])
    print(f"PRISM/CLEAR {name} end: n={ok.sum()} offset {c0:.1f} px, drift {c1:+.5f} px/row; "
          f"|residual| median {np.median(np.abs(e)):.1f} px, p95 {np.percentile(np.abs(e), 95):.1f}")
