"""Record the shutter ids the jwst pipeline computes for the open slitlets of its test MSA file.

Run in a venv with jwst 3.0.x (e.g. /work/venv-peers/bin/python record_jwst_ids.py). Reads
``jwst/assign_wcs/tests/data/msa_configuration.fits`` from the installed jwst package, asks
``jwst.assign_wcs.nirspec.get_open_msa_slits`` for the slitlets of every msa_metadata_id, and
writes one row per slitlet: quadrant, the shutter_row / shutter_column the pipeline uses as the
slitlet's centre (``xcen``, ``ycen``) and its ``shutter_id``.
"""
import json
from importlib.metadata import version
from importlib.resources import files

import numpy as np
from astropy.io import fits
from jwst.assign_wcs import nirspec

path = files("jwst") / "assign_wcs/tests/data/msa_configuration.fits"
ids = sorted(set(int(v) for v in fits.getdata(path, "SHUTTER_INFO")["msa_metadata_id"]))
rows = []
for mid in ids:
    for dither in (1, 2, 3):
        try:
            slits = nirspec.get_open_msa_slits("00000", str(path), mid, dither)
        except Exception as exc:  # noqa: BLE001 - not every id/dither combination exists
            print("skip", mid, dither, exc.__class__.__name__)
            continue
        for s in slits:
            rows.append({"msa_metadata_id": mid, "dither_position": dither, "slitlet_id": int(s.name),
                         "quadrant": int(s.quadrant), "xcen": int(s.xcen), "ycen": int(s.ycen),
                         "shutter_id": int(s.shutter_id)})
out = {"jwst_version": version("jwst"), "file": "jwst/assign_wcs/tests/data/msa_configuration.fits",
       "rows": [dict(t) for t in {tuple(sorted(r.items())) for r in rows}]}
out["rows"].sort(key=lambda r: (r["msa_metadata_id"], r["dither_position"], r["slitlet_id"]))
open("jwst_shutter_ids.json", "w").write(json.dumps(out, indent=1))
print(len(out["rows"]), "slitlets; e.g.", out["rows"][:2])
