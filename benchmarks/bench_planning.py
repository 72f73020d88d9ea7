"""Benchmark the pointing optimizer against vMPT 1.8.0 (same catalog, constraints, operability map).

2,000 targets in 4' x 4' around GOODS-S, search +-10" / +-10" / +-5 deg, Midpoint (pitch-based
0.059" inset, the value vMPT uses), 3-shutter slitlet, our shipped operability map passed to both.
Ours is run twice (objective "count", as vMPT, and the default "expected") with vMPT's velocity-
aberration factor. Prints: the pointings scored by vMPT's own evaluator; counts under 20 mas rms pointing jitter
(same draws); search-time ratio ours / vMPT (target <= 0.2); 1e4 targets time (<= 10 s) and peak
memory (<= 1 GB). vMPT runs in a separate venv (VMPT_PYTHON, default /work/venv-peers/bin/python);
without it the bench says so and runs ours only. ``--record`` writes vMPT's answers into
tests/data/planning/vmpt_reference.json for the unit test.
Exit status non-zero when a target is missed.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from helpers.msa import default_operability  # noqa: E402
from helpers.msa.aberration import vmpt_va_factor  # noqa: E402
from helpers.planning import optimize_pointing, score_pointing  # noqa: E402
from helpers.planning.visibility import nrs_msa_v3idlyangle  # noqa: E402

DATA = ROOT / "tests" / "data" / "planning"
CATALOG = DATA / "bench_catalog_2000.ecsv"
RA0, DEC0, APA0 = 53.1625, -27.791417, 45.0
MARGIN = 0.059   # vMPT CENTRATION_BUFFERS["MIDPOINT"]


def make_catalog(n, seed, half_arcsec=120.0):
    rng = np.random.default_rng(seed)
    return Table({"id": np.arange(1, n + 1), "ra": RA0 + rng.uniform(-half_arcsec, half_arcsec, n) / 3600 / np.cos(np.radians(DEC0)),
                  "dec": DEC0 + rng.uniform(-half_arcsec, half_arcsec, n) / 3600})


def run_vmpt(req):
    py = os.environ.get("VMPT_PYTHON", "/work/venv-peers/bin/python")
    if not Path(py).exists():
        return None, f"vMPT not run: {py} does not exist (set VMPT_PYTHON to a python with jwst-vmpt 1.8.0)"
    with tempfile.TemporaryDirectory() as d:
        np.savez(Path(d) / "oper.npz", operable=default_operability().state == 0)
        req = dict(req, operable=str(Path(d) / "oper.npz"))
        (Path(d) / "req.json").write_text(json.dumps(req))
        p = subprocess.run([py, str(Path(__file__).with_name("_vmpt_peer.py")), str(Path(d) / "req.json")],
                           capture_output=True, text=True)
    if p.returncode != 0:
        return None, "vMPT not run: " + (p.stderr.strip().splitlines() or ["failed"])[-1]
    return json.loads(p.stdout.strip().splitlines()[-1]), None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--record", action="store_true")
    ap.add_argument("--no-vmpt-search", action="store_true",
                    help="score against the recorded vMPT optimum and time instead of re-running its search")
    args = ap.parse_args()
    ok = True
    if not CATALOG.exists():
        make_catalog(2000, 2026).write(CATALOG)
    cat = Table.read(CATALOG)
    yang = nrs_msa_v3idlyangle()
    jitter = np.random.default_rng(7).normal(0, 0.020, (50, 2))

    # vMPT scores with its default velocity aberration (theta = 90 deg: a 1 / (1 - 1e-4 sin V3PA)
    # scale, helpers.msa.aberration); ours is given the same factor so both optimise one geometry
    # (V3PA ~266 deg here: the factor changes by < 1e-6 over the +-5 deg of APA searched)
    va = vmpt_va_factor(APA0 - yang)
    runs = {}
    for objective in ("count", "expected"):
        t0 = time.perf_counter()
        r = optimize_pointing(cat, RA0, DEC0, APA0, d_ra_arcsec=10, d_dec_arcsec=10, d_apa_deg=5, margin_arcsec=MARGIN,
                              constraint="Midpoint", msata_sigma_mas=20, objective=objective, velocity_aberration=va)
        runs[objective] = (r, time.perf_counter() - t0)
        print(f"ours ({objective}): {r}  search {runs[objective][1]:.2f} s")
    n_start = score_pointing(cat, RA0, DEC0, APA0, margin_arcsec=MARGIN, velocity_aberration=va)[0]
    print(f"ours: start pointing {n_start} targets (our evaluator, vMPT's velocity aberration)")

    req = {"catalog": str(CATALOG), "ra": RA0, "dec": DEC0, "pa_v3": APA0 - yang, "search": not args.no_vmpt_search,
           "score": [[r.ra, r.dec, r.apa - yang] for r, _ in runs.values()], "jitter": jitter.tolist()}
    if args.no_vmpt_search:   # score against the recorded vMPT optimum (its search takes minutes)
        ref = json.loads((DATA / "vmpt_reference.json").read_text())
        b = ref["vmpt_best"]
        req["score"].insert(0, [b["ra"], b["dec"], b["apa"] - yang])
    peer, why = run_vmpt(req)
    if peer is None:
        print(why)
    else:
        vbest, v_count, v_expected = peer["scores"][:3]
        t_vmpt = peer.get("seconds", ref["vmpt_seconds"] if args.no_vmpt_search else float("nan"))
        print(f"vMPT: search {t_vmpt:.1f} s{' (recorded)' if args.no_vmpt_search else ''}, "
              f"best {vbest['count']} at {vbest['pointing']}")
        jv = np.mean(vbest["jitter"])
        for objective, v in (("count", v_count), ("expected", v_expected)):
            jo = np.mean(v["jitter"])
            print(f"ours ({objective:8s}) scored by vMPT's evaluator: {v['count']} vs vMPT {vbest['count']} "
                  f"({'OK' if v['count'] >= vbest['count'] else 'MISSED'} target ours >= vMPT); under 20 mas jitter "
                  f"(50 draws): {jo:.1f} vs vMPT {jv:.1f} ({'OK' if jo > jv else 'MISSED'})")
            ok &= v["count"] >= vbest["count"] and jo > jv
            ratio = runs[objective][1] / t_vmpt
            print(f"ours ({objective:8s}) search time / vMPT's = {ratio:.3f} (target <= 0.2, aim 0.1): "
                  f"{'OK' if ratio <= 0.2 else 'MISSED'}")
            ok &= ratio <= 0.2
        ra_v, dec_v, pa_v = vbest["pointing"]
        for label, vv in (("vMPT's velocity aberration", vmpt_va_factor(pa_v)), ("ours off", False)):
            n_ours_at_v = score_pointing(cat, ra_v, dec_v, pa_v + yang, margin_arcsec=MARGIN, velocity_aberration=vv)[0]
            print(f"our evaluator at vMPT's pointing ({label}): {n_ours_at_v} vs vMPT's {vbest['count']} "
                  f"({100 * (n_ours_at_v / vbest['count'] - 1):+.1f}%)")
        if args.record and not args.no_vmpt_search:
            rec = {"provenance": "benchmarks/bench_planning.py --record, jwst-vmpt 1.8.0 PointingEvaluator(centration="
                                 "'MIDPOINT', slit_length=3, operable=helpers.msa shipped map), grid_search 20x20x20 "
                                 "+-10\"/+-10\"/+-5 deg + refine_top(n_top=10); pa_v3 = APA - V3IdlYAngle",
                   "catalog": CATALOG.name, "start": [RA0, DEC0, APA0], "vmpt_seconds": peer["seconds"],
                   "vmpt_best": {"ra": ra_v, "dec": dec_v, "apa": pa_v + yang, "count": vbest["count"]},
                   "vmpt_start_count": peer["start_count"]}
            (DATA / "vmpt_reference.json").write_text(json.dumps(rec, indent=1))
            print("recorded", DATA / "vmpt_reference.json")

    big = make_catalog(10_000, 11)
    t0 = time.perf_counter()
    r = optimize_pointing(big, RA0, DEC0, APA0, d_ra_arcsec=10, d_dec_arcsec=10, d_apa_deg=5, margin_arcsec=MARGIN)
    t_big = time.perf_counter() - t0
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
    print(f"1e4 targets: {t_big:.1f} s (target <= 10 s: {'OK' if t_big <= 10 else 'MISSED'}), "
          f"peak RSS {peak_gb:.2f} GB (target <= 1 GB: {'OK' if peak_gb <= 1 else 'MISSED'}); {r.n_targets} targets")
    ok &= t_big <= 10 and peak_gb <= 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
