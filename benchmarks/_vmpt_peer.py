"""Run vMPT 1.8.0's optimizer and evaluator (peer, separate venv); called by bench_planning.py and
bench_vmpt_counts.py.

Usage: <peer python> _vmpt_peer.py request.json  -> prints one JSON line on stdout.
request: {"catalog": ecsv or npz path (ra, dec), "operable": npz path (bool 'operable' (4,171,365)),
"ra", "dec", "pa_v3", "search": bool, "score": [[ra, dec, pa_v3], ...], "jitter": [[de, dn] arcsec, ...],
"counts": [[ra, dec, pa_v3], ...]}. "counts" returns, per pointing, vMPT's count for every
CENTRATION_BUFFERS key with its default velocity aberration (theta_deg = 90) and with it off
(theta_deg = pa_v3 + 90, factor exactly 1).
"""
import contextlib
import io
import json
import sys
import time

import numpy as np
from astropy.table import Table
from vmpt import optimizer as vo
from vmpt.optimizer import PointingEvaluator, grid_search, refine_top

req = json.load(open(sys.argv[1]))
if req["catalog"].endswith(".npz"):
    cat = dict(np.load(req["catalog"]))
else:
    cat = Table.read(req["catalog"])
operable = np.load(req["operable"])["operable"]
out = {}
if req.get("counts"):
    rows = []
    with contextlib.redirect_stdout(io.StringIO()):
        evs = {k: PointingEvaluator(np.asarray(cat["ra"]), np.asarray(cat["dec"]), centration=k, slit_length=3,
                                    operable=operable) for k in vo.CENTRATION_BUFFERS}
        for ra, dec, pa in req["counts"]:
            pa %= 360.0
            row = {"pointing": [ra, dec, pa], "default": {}, "off": {}}
            for va, theta in (("default", 90.0), ("off", pa + 90.0)):
                # evaluate() = in grid & operable slitlet & centration; it takes no theta, so compose
                q, s, d = vo.axy_to_shutter(vo.radec_to_axy(np.asarray(cat["ra"]), np.asarray(cat["dec"]), ra, dec, pa,
                                                            theta_deg=theta))
                for k, ev in evs.items():
                    det = (q > 0) & ev._check_operable(q, s, d) & ev._check_centration(s, d)
                    if va == "default":
                        assert np.array_equal(det, ev.evaluate(ra, dec, pa)[0])
                    row[va][k] = int(det.sum())
            rows.append(row)
    out["counts"] = rows
    print(json.dumps(out))
    sys.exit(0)

with contextlib.redirect_stdout(io.StringIO()):
    ev = PointingEvaluator(np.asarray(cat["ra"]), np.asarray(cat["dec"]), centration="MIDPOINT", slit_length=3,
                           operable=operable)
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
