"""Record jwst_gtvt 1.2's NIRSpec APA windows for GOODS-S, COSMOS and EGS, 2023-2024.

Run once in a separate venv with the peer installed (not the workbook's venv):
    python3 -m venv /work/venv-peers && /work/venv-peers/bin/pip install jwst-gtvt==1.2
    /work/venv-peers/bin/python tests/data/planning/record_gtvt.py
Offline, gtvt falls back to the JWST ephemeris shipped in its wheel
(data/ephemeris_2021-12-26_2025-06-12.txt), which covers the whole range.
Writes tests/data/planning/gtvt_apa_windows.ecsv.
"""
from pathlib import Path

import numpy as np
from astropy.table import Table, vstack
from astropy.time import Time

import jwst_gtvt
from jwst_gtvt.jwst_tvt import Ephemeris

FIELDS = {"GOODS-S": (53.1625, -27.791417), "COSMOS": (150.119167, 2.205833), "EGS": (214.825, 52.825)}
START, END = "2023-01-01", "2024-12-31"

rows = []
for name, (ra, dec) in FIELDS.items():
    eph = Ephemeris(start_date=Time(START), end_date=Time(END))
    df = eph.get_fixed_target_positions(str(ra), str(dec))
    t = Table({"field": np.full(len(df), name), "ra": np.full(len(df), ra), "dec": np.full(len(df), dec),
               "mjd": df["MJD"].to_numpy(float), "visible": df["in_FOR"].to_numpy(bool),
               "v3pa": df["V3PA"].to_numpy(float),
               "apa_nominal": df["NIRSPEC_nominal_angle"].to_numpy(float),
               "apa_min": df["NIRSPEC_min_pa_angle"].to_numpy(float),
               "apa_max": df["NIRSPEC_max_pa_angle"].to_numpy(float)})
    rows.append(t)
out = vstack(rows)
for c in ("v3pa", "apa_nominal", "apa_min", "apa_max"):
    out[c] = np.round(out[c], 4)
    out[c].unit = "deg"
out.meta.update(source=f"jwst_gtvt {getattr(jwst_gtvt, '__version__', '1.2')} Ephemeris (shipped ephemeris, offline); aperture NRS_FULL_MSA",
                note="gtvt shifts X/Y by one row (Ephemeris.__init__), so its first day of a range repeats the ephemeris of the day before")
out.write(Path(__file__).with_name("gtvt_apa_windows.ecsv"), overwrite=True)
print(len(out), "rows")
