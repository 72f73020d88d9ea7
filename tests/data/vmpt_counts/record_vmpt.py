"""Record jwst-vmpt 1.8.0's counts (PointingEvaluator) for the side-by-side test.

Run in a venv with jwst-vmpt 1.8.0 (e.g. /work/venv-peers/bin/python record_vmpt.py): for three
pointings, every centering constraint, 3-shutter slitlets and the same operability map
(operable.npz, written by make_catalog.py), with vMPT's velocity aberration twice:

* ``default``: its default parameter ``theta_deg = 90``, which is *not* "no correction": vMPT's
  ``radec_to_axy`` scales the sky offsets by ``1 / (1 - 30/3e5 cos(theta - pa_v3))``, i.e. by
  ``1 / (1 - 1e-4 sin(pa_v3))`` at theta = 90 (up to ~13 mas at the MSA edges);
* ``off``: ``theta_deg = pa_v3 + 90``, which makes that factor exactly 1.

Writes vmpt_counts.json (counts) and vmpt_masks.npz (per source, which ones vMPT counts; packed
booleans, key ``<pointing>_<va>_<CONSTRAINT>``).
"""
import json
from importlib.metadata import version
from pathlib import Path

import numpy as np
from vmpt import optimizer as vo

HERE = Path(__file__).parent
cat = np.load(HERE / "catalog.npz")
operable = np.load(HERE / "operable.npz")["operable"]
# (ra, dec) of the NRS_FULL_MSA reference point and V3PA there (deg) = APA - V3IdlYAngle
POINTINGS = [(53.1625, -27.791417, 45.0 - 138.5745697), (53.1600, -27.7900, 120.0 - 138.5745697),
             (53.1650, -27.7930, 300.0 - 138.5745697)]
out = {"vmpt_version": version("jwst-vmpt"), "slit_length": 3, "theta_deg": {"default": 90.0, "off": "pa_v3 + 90"},
       "pointings": []}
masks = {}
evaluators = {key: vo.PointingEvaluator(cat["ra"], cat["dec"], centration=key, slit_length=3, operable=operable)
              for key in vo.CENTRATION_BUFFERS}
for k, (ra, dec, pa_v3) in enumerate(POINTINGS):
    pa_v3 %= 360.0
    row = {"ra": ra, "dec": dec, "pa_v3": pa_v3, "counts": {}, "counts_va_off": {}}
    for va, theta in (("default", 90.0), ("off", pa_v3 + 90.0)):
        # PointingEvaluator.evaluate = in grid & whole slitlet operable & centration (no protection here);
        # it takes no theta, so the off case composes its three documented steps with theta given
        quad, s_frac, d_frac = vo.axy_to_shutter(vo.radec_to_axy(cat["ra"], cat["dec"], ra, dec, pa_v3, theta_deg=theta))
        for key, ev in evaluators.items():
            det = (quad > 0) & ev._check_operable(quad, s_frac, d_frac) & ev._check_centration(s_frac, d_frac)
            if va == "default":
                assert np.array_equal(det, ev.evaluate(ra, dec, pa_v3)[0]), key
            row["counts" if va == "default" else "counts_va_off"][key] = int(np.count_nonzero(det))
            masks[f"{k}_{va}_{key}"] = np.packbits(det)
    out["pointings"].append(row)
    print(row)
(HERE / "vmpt_counts.json").write_text(json.dumps(out, indent=1))
np.savez_compressed(HERE / "vmpt_masks.npz", n=len(cat["ra"]), **masks)
