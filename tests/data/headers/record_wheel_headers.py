"""Record whole real headers from files shipped in PyPI wheels, as text (issue #13, header tests).

    pip download --no-deps astropy==8.0.2 jwst==3.0.0 -d /tmp/wheels
    cd /tmp/wheels && unzip -o astropy-8.0.2-*.whl 'astropy/wcs/tests/data/j94f05bgq_flt.fits' \
        'astropy/wcs/tests/data/dist_lookup.fits.gz'
    unzip -o jwst-3.0.0-*.whl 'jwst/associations/tests/data/exposures/jw01075001001_03105_00009_nrca2_uncal.fits' \
        'jwst/tweakreg/tests/data/mosaic_long_i2d_gwcs.asdf'
    PYTHONPATH=. .venv/bin/python tests/data/headers/record_wheel_headers.py /tmp/wheels

Writes, next to this script, each header whole (``Header.tofile(sep='\\n')``, values copied, not edited):

- ``j94f05bgq_flt_primary.hdr``, ``j94f05bgq_flt_sci1.hdr``: ACS/WFC F606W flt, primary and SCI,1 (SIP);
- ``dist_lookup_sci.hdr``: an ACS/WFC SCI header with SIP + D2IM + NPOL look-up keywords (its
  ``D2IMARR``/``WCSDVARR`` arrays are not recorded: a header alone names reference arrays that are absent);
- ``jw01075001001_nrca2_primary.hdr``, ``jw01075001001_nrca2_sci.hdr``: NIRCam NRCA2 uncal (FILTER/PUPIL);
- ``mosaic_long_i2d_gwcs.asdf`` is used where it lies (not copied: the test reads it from the jwst wheel
  when installed, else skips).
"""

import sys
from pathlib import Path

from astropy.io import fits

OUT = Path(__file__).parent
FILES = {
    "astropy/wcs/tests/data/j94f05bgq_flt.fits": {0: "j94f05bgq_flt_primary", 1: "j94f05bgq_flt_sci1"},
    "astropy/wcs/tests/data/dist_lookup.fits.gz": {1: "dist_lookup_sci"},
    "jwst/associations/tests/data/exposures/jw01075001001_03105_00009_nrca2_uncal.fits":
        {0: "jw01075001001_nrca2_primary", 1: "jw01075001001_nrca2_sci"},
}


def main(root):
    root = Path(root)
    for rel, hdus in FILES.items():
        with fits.open(root / rel) as hdul:
            for index, name in hdus.items():
                hdul[index].header.tofile(OUT / f"{name}.hdr", sep="\n", endcard=False, padding=False,
                                          overwrite=True)


if __name__ == "__main__":
    main(sys.argv[1])
