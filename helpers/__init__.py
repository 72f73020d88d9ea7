"""MSA Astrometry Workbook: check a NIRSpec MOS planning catalog against the 5-10 mas goal.

Packages follow the notebooks, upstream to downstream (a module imports only modules above it
in this list; ``tests/test_architecture.py`` enforces it). ``docs/DEVELOPING.md`` maps every
sub-module to its concern.

``errors``, ``_io``
    The user-facing exception and atomic file writing shared by all steps.
``config``, ``nirspec``, ``skyplane``
    Field set-up (notebook 00); NIRSpec MSA facts and slit-throughput physics; the tangent plane.
``simulate``
    HST- and JWST-like images with known truth: the demo field and the test bed.
``archive``
    Find and fetch HST / NIRCam imaging and reference catalogs (notebook 01).
``sources``
    Source extraction with calibrated per-source position errors (notebook 02).
``astrometry``
    Astrometric scatter estimates and the verdict against 5-10 mas (notebook 03).
``targets``
    The planner's own target list: reading, validating, judging against the image.
``msa``
    Shutter-accurate MSA model from the NIRSpec SIAF (notebook 04).
``planning``
    Allowed APA by date, the pointing optimizer, spectral overlaps (notebook 04).
``export``
    Files for APT's MSA Planning Tool, MSATA candidates, regions (notebook 05).
``plotting``, ``widgets``
    Figures and the interactive overlay; imported by notebooks only.
``chain``
    Runs the notebooks headless with papermill (``make demo``).
"""

__version__ = "0.1.0"

from .errors import WorkbookError  # noqa: F401
