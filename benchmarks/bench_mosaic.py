"""Benchmark: the demo's products made by the drizzled test bed (issue #13 item 1) stay small and fast.

Renders the demo's ACS/WFC F814W product (3000² at 0.06"/px from 8 chip sub-arrays of ~3700 x 2000 px:
4 dither positions x 2 chips) and its NIRCam F277W i2d (2857² from 4 tiles x 3 exposures of 2048²) through
``simulate.mosaic`` and prints, against baselines measured in the same run:

* time / the direct renderer's time for the same spec (``drizzled=False``: one noise draw on the output
  grid, the floor of any renderer of that frame) — target ≤ 15x;
* peak resident memory of the whole run — target ≤ 3 GB (one chip plus the output frame, not all
  exposures at once: keeping them would take ~10 GB for the F814W product alone).

Exit status 1 if a target is missed. Times on a shared machine are noisy: compare the ratios.
"""

import dataclasses
import resource
import sys
import time

from helpers import simulate

TARGET_RATIO = 15.0
TARGET_RSS_GB = 3.0


def main():
    truth, specs = simulate.demo_field()
    ok = True
    for spec in (specs[0], specs[2]):
        start = time.perf_counter()
        simulate.make_image(truth, dataclasses.replace(spec, drizzled=False))
        t_direct = time.perf_counter() - start
        start = time.perf_counter()
        product = simulate.make_image(truth, spec)
        t_bed = time.perf_counter() - start
        ratio = t_bed / t_direct
        print(f"{spec.name}: drizzled bed {t_bed:.1f} s ({len(product.exposures)} exposures, "
              f"{len(product.truth)} sources), direct renderer {t_direct:.1f} s: ratio {ratio:.1f}x "
              f"(target <= {TARGET_RATIO:.0f}x)")
        ok &= ratio <= TARGET_RATIO
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(f"peak RSS {rss_gb:.2f} GB (target <= {TARGET_RSS_GB:.0f} GB)")
    ok &= rss_gb <= TARGET_RSS_GB
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
