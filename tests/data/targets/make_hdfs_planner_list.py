"""Derive a planner's own target list from ``hdfs_targets.cat`` (issue #14's "done when").

``hdfs_targets.cat`` numbers its sources 1..101, so a chain that renumbered them would look the
same as one that kept them. This list carries the same positions (the known perturbation of
``hdfs_truth.ecsv``) under a survey's own, sparse SExtractor ``NUMBER``s and a photometric redshift
column ``Z_PHOT``, both drawn with a fixed seed, so the MPT catalog can be checked for the planner's
IDs, ``Weight`` from ``PRIORITY`` and ``Redshift`` from ``Z_PHOT``:

    .venv/bin/python tests/data/targets/make_hdfs_planner_list.py

Writes ``hdfs_planner.cat`` next to this script; no network, no image needed.
"""

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SEED = 1414


def main():
    lines = (HERE / "hdfs_targets.cat").read_text().splitlines()
    header = [ln for ln in lines if ln.startswith("#")]
    rows = [ln.split() for ln in lines if ln.strip() and not ln.startswith("#")]
    rng = np.random.default_rng(SEED)
    # a survey's IDs: unique, sparse, in 1..10^6 (MPT's range), not in list order
    numbers = np.sort(rng.choice(np.arange(20_000, 90_000), len(rows), replace=False))
    numbers = rng.permutation(numbers)
    z_phot = np.round(rng.uniform(0.3, 7.5, len(rows)), 3)
    header.append("#   9 Z_PHOT                 Photometric redshift (the planner's)")
    out = []
    for row, number, z in zip(rows, numbers, z_phot):
        out.append(f"{number:10d} " + " ".join(f"{v:>15s}" if k < 2 else f"{v:>8s}" for k, v in enumerate(row[1:]))
                   + f" {z:7.3f}")
    (HERE / "hdfs_planner.cat").write_text("\n".join(header + out) + "\n")
    print(f"{len(out)} targets written to {HERE / 'hdfs_planner.cat'}")


if __name__ == "__main__":
    main()
