"""Write the 2,000-source catalog and the operability map used for the vMPT side-by-side counts.

Run with the workbook's Python (PYTHONPATH=<worktree>): sources uniform over the MSA footprint at
HUDF (seed 12), the workbook's shipped operability map as vMPT's ``operable`` (state == 0).
"""
from pathlib import Path

import numpy as np

from helpers import msa

HERE = Path(__file__).parent
HUDF = (53.1625, -27.791417)
rng = np.random.default_rng(12)
p = msa.MSAPointing(*HUDF, 45.0)
# 2,000 sources in a box of +-130" around the reference point (covers the four quadrants)
dx, dy = rng.uniform(-130, 130, (2, 2000))
ra = HUDF[0] + dx / 3600.0 / np.cos(np.deg2rad(HUDF[1]))
dec = HUDF[1] + dy / 3600.0
np.savez_compressed(HERE / "catalog.npz", ra=ra, dec=dec)
state = msa.default_operability().state
np.savez_compressed(HERE / "operable.npz", operable=(state == msa.STATE_OK))
print("wrote catalog.npz and operable.npz")
