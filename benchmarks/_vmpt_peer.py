"""Run vMPT 1.8.0's optimizer and evaluator (peer, separate venv); called by bench_planning.py.

Usage: <peer python> _vmpt_peer.py request.json  -> prints one JSON line on stdout.
request: {"catalog": ecsv path, "operable": npz path (bool 'operable' (4,171,365)), "ra", "dec",
"pa_v3", "search": bool, "score": [[ra, dec, pa_v3], ...], "jitter": [[de, dn] arcsec, ...]}
"""
import contextlib
import io
import json
import sys
import time

import numpy as np
from astropy.table import Table
from vmpt.optimizer import PointingEvaluator, grid_search, refine_top

req = json.load(open(sys.argv[1]))
cat = Table.read(req["catalog"])
operable = np.load(req["operable"])["operable"]
with contextlib.redirect_stdout(io.StringIO()):
    ev = PointingEvaluator(np.asarray(cat["ra"]), np.asarray(cat["dec"]), centration="MIDPOINT", slit_length=3,
                           operable=operable)
out = {}
if req.get("search"):
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        g = grid_search(ev, req["ra"], req["dec"], req["pa_v3"], dra_arcsec=10, ddec_arcsec=10, dpa_deg=5,
                        n_ra=20, n_dec=20, n_pa=20)
        r = refine_top(ev, g, n_top=10)
    out["seconds"] = time.perf_counter() - t0
    out["best"] = [float(r["ra"][0]), float(r["dec"][0]), float(r["pa"][0]), float(r["score"][0])]
    out["start_count"] = int(ev.evaluate(req["ra"], req["dec"], req["pa_v3"])[0].sum())
points = [out["best"][:3]] if "best" in out else []
points += req.get("score", [])
scores = []
for ra, dec, pa in points:
    n = int(ev.evaluate(ra, dec, pa)[0].sum())
    cosd = np.cos(np.radians(dec))
    jit = [int(ev.evaluate(ra + de / 3600 / cosd, dec + dn / 3600, pa)[0].sum()) for de, dn in req.get("jitter", [])]
    scores.append({"pointing": [ra, dec, pa], "count": n, "jitter": jit})
out["scores"] = scores
print(json.dumps(out))
