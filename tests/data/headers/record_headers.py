"""Record the header keywords issue #13's header tests need from real files, as small text headers.

    pip download --no-deps mpdaf==3.6 -d /tmp/mpdaf
    cd /tmp/mpdaf && unzip -o mpdaf-3.6-*.whl 'mpdaf/data/obj/HST-HDFS.fits'
    PYTHONPATH=. .venv/bin/python tests/data/headers/record_headers.py /tmp/mpdaf/mpdaf/data/obj/HST-HDFS.fits

Writes ``hdfs_wfpc2_<hdu>.hdr`` (astropy ``Header.tofile(sep='\\n')``) next to this script, and
``hdfs_wfpc2_drizzle.hdr``: the primary header's per-input drizzle records ``D001``-``D192``
(``DATA, PIXF, SCAL, ROT, WTSC``: one per WFPC2 chip of 48 exposures) with ``INSTRUME, NDRIZIM, EXPTIME``.
"""

import re
import sys
from pathlib import Path

from astropy.io import fits

KEYS = ("TELESCOP", "INSTRUME", "DETECTOR", "FILTER", "FILTER1", "FILTER2", "FILTNAM1", "FILTNAM2", "PHOTMODE",
        "PUPIL", "IDCTAB", "FILETYPE", "NDRIZIM", "D001SCAL", "D001PIXF", "D001WTSC", "D001EXPT", "EXPTIME",
        "EXPSTART", "BUNIT", "NAXIS", "NAXIS1", "NAXIS2", "CTYPE1", "CTYPE2", "CRVAL1", "CRVAL2", "CRPIX1",
        "CRPIX2", "CD1_1", "CD1_2", "CD2_1", "CD2_2", "WCSNAME")


def main(path):
    out = Path(__file__).parent
    with fits.open(path) as hdul:
        for index, name in ((0, "primary"), (1, "data")):
            header = fits.Header()
            for key in KEYS:
                if key in hdul[index].header:
                    header[key] = hdul[index].header[key]
            header.tofile(out / f"hdfs_wfpc2_{name}.hdr", sep="\n", endcard=False, padding=False, overwrite=True)
        primary = hdul[0].header
        header = fits.Header()
        for key in ("INSTRUME", "NDRIZIM", "EXPTIME"):
            header[key] = primary[key]
        for key in primary:
            if re.match(r"^D\d{3}(DATA|PIXF|SCAL|ROT|WTSC)$", key):
                header[key] = primary[key]
        header.tofile(out / "hdfs_wfpc2_drizzle.hdr", sep="\n", endcard=False, padding=False, overwrite=True)


if __name__ == "__main__":
    main(sys.argv[1])
