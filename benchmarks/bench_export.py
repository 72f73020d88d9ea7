"""Benchmark: export 10^5 sources (MPT catalog + DS9 regions) in <= 3 s.

Measures ``helpers.export.write_mpt_catalog`` + ``write_ds9_circles`` on 10^5 sources and,
in the same run, a naive baseline: ``astropy.io.ascii.write`` of the same table
(commented header, per-column formats) plus one `regions.CircleSkyRegion` per source
serialised with `regions.Regions.write`. The baseline's regions part is timed on a
10^4 subsample and scaled x10 (a lower bound: the full 10^5 takes minutes) unless
``--full-baseline``. Prints seconds, the ratio, and the round-trip maximum position error.
Exits non-zero if the export takes more than 3 s or the round trip is worse than 0.1 mas.

    .venv/bin/python benchmarks/bench_export.py [--n 100000] [--full-baseline]
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TARGET_S = 3.0
TARGET_MAS = 0.1


def make_sources(n, seed=0):
    from astropy.table import Table

    rng = np.random.default_rng(seed)
    t = Table()
    t["ID"] = rng.permutation(1_000_000)[:n] + 1
    t["RA"] = 53.1625 + rng.uniform(-0.2, 0.2, n)
    t["DEC"] = -27.791417 + rng.uniform(-0.2, 0.2, n)
    t["Magnitude"] = rng.uniform(18, 30, n)
    t["Stellarity"] = (rng.random(n) < 0.2).astype(float)
    t["Reference"] = np.zeros(n, np.int64)
    t["Sigma_mas"] = rng.uniform(1, 30, n)
    t["Flags"] = rng.integers(0, 32, n)
    return t


def run_fast(t, d):
    from helpers import export as ex

    t0 = time.perf_counter()
    ex.write_mpt_catalog(t, d / "fast.cat", overwrite=True)
    ex.write_ds9_circles(t["RA"], t["DEC"], d / "fast.reg", radius_arcsec=0.3, color="cyan",
                         text=t["ID"].astype(str), overwrite=True)
    return time.perf_counter() - t0


def run_naive(t, d, n_regions):
    from astropy.coordinates import SkyCoord
    from astropy.io import ascii
    import astropy.units as u
    from regions import CircleSkyRegion, Regions

    formats = {"RA": "%.9f", "DEC": "%.9f", "Magnitude": "%.3f", "Stellarity": "%.2f", "Sigma_mas": "%.2f"}
    t0 = time.perf_counter()
    ascii.write(t, d / "naive.cat", format="commented_header", formats=formats, overwrite=True)
    t_cat = time.perf_counter() - t0
    sub = t[:n_regions]
    t0 = time.perf_counter()
    regs = [CircleSkyRegion(SkyCoord(r * u.deg, dd * u.deg), 0.3 * u.arcsec, meta={"text": str(i)},
                            visual={"color": "cyan"}) for i, r, dd in zip(sub["ID"], sub["RA"], sub["DEC"])]
    Regions(regs).write(str(d / "naive.reg"), format="ds9", overwrite=True)
    t_reg = (time.perf_counter() - t0) * (len(t) / n_regions)
    return t_cat + t_reg, t_cat, t_reg


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--full-baseline", action="store_true")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from astropy.coordinates import SkyCoord
    from helpers import export as ex

    t = make_sources(args.n)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        run_fast(t[:1000], d)  # warm-up (imports)
        fast = min(run_fast(t, d) for _ in range(3))
        n_reg = args.n if args.full_baseline else min(args.n, 10_000)
        naive, t_cat, t_reg = run_naive(t, d, n_reg)
        back = ex.read_mpt_catalog(d / "fast.cat")
        sep = SkyCoord(back["RA"], back["DEC"]).separation(SkyCoord(t["RA"], t["DEC"], unit="deg")).mas
        ids_ok = bool(np.array_equal(np.asarray(back["ID"]), np.asarray(t["ID"])))
        size_cat = (d / "fast.cat").stat().st_size / 1e6
        size_reg = (d / "fast.reg").stat().st_size / 1e6
    print(f"export of {args.n:,} sources (MPT catalog {size_cat:.1f} MB + DS9 regions {size_reg:.1f} MB)")
    print(f"  helpers.export           : {fast:.3f} s   (target <= {TARGET_S:g} s)")
    print(f"  naive baseline           : {naive:.3f} s   (ascii.write {t_cat:.3f} s + regions objects/serializer "
          f"{t_reg:.3f} s{'' if n_reg == args.n else f', scaled from {n_reg:,}'})")
    print(f"  ratio naive / fast       : {naive / fast:.1f}x")
    print(f"  round trip: max position error {sep.max():.4f} mas (target <= {TARGET_MAS:g}), IDs preserved: {ids_ok}")
    ok = fast <= TARGET_S and sep.max() <= TARGET_MAS and ids_ok
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
