"""Benchmark: cut the MSA field out of a 40k x 40k float32 mosaic with peak RSS <= 2 GB (issue #14).

Writes a 40,000 x 40,000 float32 mosaic (6.4 GB on disk, written sparsely: header, a few
tiles of real values, the rest a hole) with a TAN WCS, then times
``helpers.archive.local_images`` (structural check, WCS provenance, coverage, 300" cut-out by
memory-mapped section reads) in a child process and reads its peak RSS. The baseline, in the
same run, is a child process that only imports astropy and opens the file's header (the floor
any route pays). Prints seconds, peak RSS and the ratios; exits non-zero if peak RSS exceeds
2 GB or the cut-out's pixels differ from the ones written.

    .venv/bin/python benchmarks/bench_local.py [--size 40000] [--dir /tmp]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TARGET_RSS_GB = 2.0
PIXEL_SCALE_DEG = 0.03 / 3600  # NIRCam SW-like mosaic


def write_sparse_mosaic(path, size):
    """Header + sparse data: only a tile around the centre is written, the rest is a hole."""
    from astropy.io import fits

    header = fits.Header()
    header.update({"SIMPLE": True, "BITPIX": -32, "NAXIS": 2, "NAXIS1": size, "NAXIS2": size, "EXTEND": True,
                   "CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRPIX1": size / 2 + 0.5, "CRPIX2": size / 2 + 0.5,
                   "CRVAL1": 53.1625, "CRVAL2": -27.791417, "CD1_1": -PIXEL_SCALE_DEG, "CD1_2": 0.0,
                   "CD2_1": 0.0, "CD2_2": PIXEL_SCALE_DEG, "RADESYS": "ICRS", "TELESCOP": "JWST",
                   "INSTRUME": "NIRCAM", "FILTER": "F200W", "DATE-OBS": "2023-01-01", "WCSNAME": "bench"})
    text = header.tostring().encode("ascii")
    nbytes = size * size * 4
    padded = -(-nbytes // 2880) * 2880
    rng = np.random.default_rng(0)
    tile = rng.normal(0, 1, (512, 512)).astype(">f4")
    y0 = x0 = size // 2 - 256
    with open(path, "wb") as f:
        f.write(text)
        start = f.tell()
        for k in range(512):
            f.seek(start + ((y0 + k) * size + x0) * 4)
            f.write(tile[k].tobytes())
        f.seek(start + padded - 1)
        f.write(b"\0")
    return tile, (y0, x0)


CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
mode, path, out = sys.argv[1], sys.argv[2], sys.argv[3]
from astropy.io import fits
if mode == "baseline":
    fits.getheader(path)
    result = {}
else:
    from helpers.archive import local_images
    recs = local_images([path], out_dir=out, size_arcsec=300.0)
    with fits.open(recs[0]["path"]) as h:
        result = {"cutout": recs[0]["cutout"], "cut_path": recs[0]["path"]}
print(json.dumps({"seconds": time.perf_counter() - t0,
                  "rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2, **result}))
"""


def run_child(mode, path, out):
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    res = subprocess.run([sys.executable, "-c", CHILD, mode, str(path), str(out)], capture_output=True, text=True,
                         env=env, check=False)
    if res.returncode:
        raise SystemExit(f"{mode} child failed: {res.stderr.strip().splitlines()[-1]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=40_000)
    parser.add_argument("--dir", default=None, help="where the sparse mosaic is written (default: a temp dir)")
    args = parser.parse_args(argv)
    from astropy.io import fits

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        tmp = Path(tmp)
        path = tmp / "mosaic_i2d.fits"
        t0 = time.perf_counter()
        tile, (y0, x0) = write_sparse_mosaic(path, args.size)
        print(f"{args.size}^2 float32 mosaic: {path.stat().st_size / 1e9:.1f} GB apparent, "
              f"{os.stat(path).st_blocks * 512 / 1e6:.0f} MB on disk, written in {time.perf_counter() - t0:.1f} s")
        base = run_child("baseline", path, tmp)
        fast = run_child("cutout", path, tmp)
        info = fast["cutout"]
        with fits.open(fast["cut_path"]) as h:
            cut = h[0].data
        # the written tile, where it falls inside the cut-out, must come back unchanged
        ty, tx = y0 - info["y0"], x0 - info["x0"]
        same = bool(np.array_equal(cut[max(ty, 0):ty + 512, max(tx, 0):tx + 512],
                                   tile[max(-ty, 0):, max(-tx, 0):][:cut.shape[0] - max(ty, 0), :cut.shape[1] - max(tx, 0)]))
        ok = fast["rss_gb"] <= TARGET_RSS_GB and same
        print(f"baseline (import astropy + read header): {base['seconds']:.2f} s, peak RSS {base['rss_gb']:.2f} GB")
        print(f"local_images + cut-out {info['shape'][1]}x{info['shape'][0]} px: {fast['seconds']:.2f} s "
              f"({fast['seconds'] / base['seconds']:.1f}x baseline), peak RSS {fast['rss_gb']:.2f} GB "
              f"({fast['rss_gb'] / base['rss_gb']:.1f}x baseline); pixels identical: {same}  "
              f"{'ok' if ok else 'MISSED'} (target peak RSS <= {TARGET_RSS_GB} GB)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
