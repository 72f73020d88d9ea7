"""Regenerate the small MSA data files shipped in ``data/msa/`` (run by hand, not at import).

1. ``msa_grid.ecsv``: the regular shutter grid of each quadrant **in the MSA plane** (metres),
   as an affine model ``x = x0 + (i-1)*dx_di + (j-1)*dx_dj``, ``y = y0 + (i-1)*dy_di + (j-1)*dy_dj``
   (origin, pitch and a small rotation/shear per quadrant). The six numbers per quadrant are a
   least-squares fit to the MSA-plane columns ``XPOSMSA, YPOSMSA`` (only those) of the NIRSpec
   IDT per-shutter table that ships with pysiaf
   (``pysiaf/source_data/NIRSpec/delivery/test_data/apertures_testData/sky_fpa_projectionMSA_Q*.fits``).
   The sky columns ``XPOSSKY, YPOSSKY`` of that table are *not* used here: the MSA-plane -> V2/V3
   projection comes from the SIAF polynomials at run time, and the sky columns stay an
   independent check (``tests/test_msa.py``).
2. ``msaoper_state.npz``: shutter operability, ``state[q-1, j-1, i-1]`` (int8: 0 operable,
   1 failed closed, 2 failed open), converted from the snapshot that ``jwst-vmpt`` 1.8.0 (PyPI
   wheel, MIT licence) bundles as ``vmpt/data/msaoper_fallback.npz`` (its array ``reason`` with the
   same codes, derived by vMPT from the CRDS reference file ``jwst_nirspec_msaoper_0017.json``).

Usage::

    pip download --no-deps jwst-vmpt==1.8.0 -d /tmp/vmpt && unzip -o /tmp/vmpt/*.whl -d /tmp/vmpt/x
    python data/msa/make_msa_data.py /tmp/vmpt/x/vmpt/data/msaoper_fallback.npz
"""

import sys
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

HERE = Path(__file__).resolve().parent


def fit_grid():
    import pysiaf

    root = Path(pysiaf.__file__).parent / "source_data" / "NIRSpec" / "delivery" / "test_data" / "apertures_testData"
    rows = []
    for q in (1, 2, 3, 4):
        d = fits.getdata(root / f"sky_fpa_projectionMSA_Q{q}.fits")
        i = d["I"].astype(float) - 1.0
        j = d["J"].astype(float) - 1.0
        design = np.column_stack([np.ones_like(i), i, j])
        cx, *_ = np.linalg.lstsq(design, d["XPOSMSA"].astype(float), rcond=None)
        cy, *_ = np.linalg.lstsq(design, d["YPOSMSA"].astype(float), rcond=None)
        rx = d["XPOSMSA"] - design @ cx
        ry = d["YPOSMSA"] - design @ cy
        rows.append((q, cx[0], cy[0], cx[1], cy[1], cx[2], cy[2],
                     1e6 * np.abs(rx).max(), 1e6 * np.abs(ry).max()))
    t = Table(rows=rows, names=("quadrant", "x0", "y0", "dx_di", "dy_di", "dx_dj", "dy_dj",
                                "fit_max_resid_x", "fit_max_resid_y"))
    for name in ("x0", "y0", "dx_di", "dy_di", "dx_dj", "dy_dj"):
        t[name].unit = "m"
        t[name].info.format = ".10e"
    t["fit_max_resid_x"].unit = t["fit_max_resid_y"].unit = "um"
    t.meta["description"] = ("Affine MSA-plane grid per quadrant: x = x0 + (i-1)*dx_di + (j-1)*dx_dj, "
                             "y = y0 + (i-1)*dy_di + (j-1)*dy_dj; i = 1..365 (dispersion), j = 1..171 (spatial)")
    t.meta["source"] = ("least-squares fit to XPOSMSA, YPOSMSA of pysiaf " + pysiaf.__version__ +
                        " source_data/NIRSpec/delivery/test_data/apertures_testData/sky_fpa_projectionMSA_Q{1..4}.fits"
                        " (NIRSpec IDT, model NRS_COMM_15_NRS019_CAP031_2_FORE)")
    t.meta["open_area_um"] = [78.0, 178.0]
    t.meta["open_area_source"] = ("Jakobsen et al. 2022, A&A 661, A80; Ferruit et al. 2022, A&A 661, A81: "
                                  "shutter open area 78 x 178 um at a pitch of 105 x 204 um")
    t.write(HERE / "msa_grid.ecsv", overwrite=True)
    print(t)


def convert_operability(vmpt_npz):
    with np.load(vmpt_npz, allow_pickle=False) as z:
        reason = np.asarray(z["reason"], dtype=np.int8)
        source = str(z["source"])
    assert reason.shape == (4, 171, 365), reason.shape
    np.savez_compressed(HERE / "msaoper_state.npz", state=reason,
                        source=np.array(f"{source} (via jwst-vmpt 1.8.0 vmpt/data/msaoper_fallback.npz)"))
    print("states:", dict(zip(*[a.tolist() for a in np.unique(reason, return_counts=True)])))


if __name__ == "__main__":
    fit_grid()
    if len(sys.argv) > 1:
        convert_operability(sys.argv[1])
