"""Record jwst-vmpt 1.8.0's counts (PointingEvaluator) for the side-by-side test.

Run in a venv with jwst-vmpt 1.8.0 (e.g. /work/venv-peers/bin/python record_vmpt.py): for three
pointings, every centering constraint, 3-shutter slitlets, the same operability map
(operable.npz, written by make_catalog.py) and vMPT's default velocity-aberration parameter
(theta_deg = 90). Writes vmpt_counts.json.
"""
import json
from importlib.metadata import version
from pathlib import Path

import numpy as np
from vmpt.optimizer import CENTRATION_BUFFERS, PointingEvaluator

HERE = Path(__file__).parent
cat = np.load(HERE / "catalog.npz")
operable = np.load(HERE / "operable.npz")["operable"]
# (ra, dec) of the NRS_FULL_MSA reference point and V3PA there (deg) = APA - V3IdlYAngle
POINTINGS = [(53.1625, -27.791417, 45.0 - 138.5745697), (53.1600, -27.7900, 120.0 - 138.5745697),
             (53.1650, -27.7930, 300.0 - 138.5745697)]
out = {"vmpt_version": version("jwst-vmpt"), "slit_length": 3, "theta_deg": 90.0, "pointings": []}
for ra, dec, pa_v3 in POINTINGS:
    row = {"ra": ra, "dec": dec, "pa_v3": pa_v3 % 360.0, "counts": {}}
    for key in CENTRATION_BUFFERS:
        ev = PointingEvaluator(cat["ra"], cat["dec"], centration=key, slit_length=3, operable=operable)
        detected, _tp, _idx = ev.evaluate(ra, dec, pa_v3 % 360.0)
        row["counts"][key] = int(np.count_nonzero(detected))
    out["pointings"].append(row)
    print(row)
(HERE / "vmpt_counts.json").write_text(json.dumps(out, indent=1))
