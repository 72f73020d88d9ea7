"""Record a real header printed in documentation (``repr(header)`` in an rst ``parsed-literal`` block).

The STScI Python Kit for IRAF users (``spacetelescope/stak``, BSD-3-Clause, AURA; the copy read here is
the fork ``kakirastern/stak`` at commit 748d9c0e293da42580cac3ee531255f3f0b89345, file
``docs/source/notebooks/images.imutil.rst``) prints ``fits.getheader('iczgs3ygq_flt.fits', ext=1)``,
the SCI header of a WFC3/IR F140W flt, in its ``imheader`` section (lines 413-552)::

    git -C <stak clone> show 748d9c0e293da42580cac3ee531255f3f0b89345:docs/source/notebooks/images.imutil.rst > imutil.rst
    PYTHONPATH=. .venv/bin/python tests/data/headers/record_doc_headers.py imutil.rst

Writes ``iczgs3ygq_flt_sci1.hdr`` next to this script (cards copied, not edited).
"""

import sys
from pathlib import Path

from astropy.io import fits

FIRST, LAST = 413, 552  # 1-based, inclusive: XTENSION ... MDRIZSKY of the first printed header


def main(path):
    lines = Path(path).read_text().splitlines()[FIRST - 1:LAST]
    cards = [line[4:] for line in lines]  # the rst block's 4-space indent
    assert cards[0].startswith("XTENSION") and cards[-1].startswith("MDRIZSKY"), "the block moved: check FIRST/LAST"
    header = fits.Header.fromstring("\n".join(cards), sep="\n")
    header.tofile(Path(__file__).parent / "iczgs3ygq_flt_sci1.hdr", sep="\n", endcard=False, padding=False,
                  overwrite=True)


if __name__ == "__main__":
    main(sys.argv[1])
