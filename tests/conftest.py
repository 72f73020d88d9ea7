"""Shared test set-up: no network, no display, and every test writes into its own workspace."""

import os
from pathlib import Path

import pytest

from ._real_files import package_file  # noqa: F401  (one copy; tests import it from here too)

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _isolated_workspace(tmp_path, monkeypatch):
    """Point the default workspace root at a per-test temporary directory."""
    root = tmp_path / "workspace"
    monkeypatch.setenv("MSA_WORKBOOK_WORKSPACE", str(root))
    return root


@pytest.fixture
def workspace_root(_isolated_workspace):
    return _isolated_workspace


def leftover_files(directory):
    """Every file below ``directory`` (used to prove that failures leave nothing behind)."""
    return sorted(p for p in directory.rglob("*") if p.is_file()) if directory.exists() else []


def flt_47tuc():
    """The real 47 Tuc ACS/HRC flt that spherical-geometry 1.4.0 ships; skips the test without it."""
    path = package_file("spherical_geometry", "tests", "data", "j8bt06nyq_flt.fits")
    if path is None:
        pytest.skip("47 Tuc ACS/HRC flt not found: install spherical-geometry 1.4.0 (ships tests/data/j8bt06nyq_flt.fits)")
    return path


def pytest_collection_modifyitems(config, items):
    """Notebook executions talk to their Jupyter kernel over loopback TCP: allow sockets for
    them only (``--allow-hosts`` in pyproject still limits connections to this machine)."""
    for item in items:
        if item.get_closest_marker("notebooks"):
            item.add_marker(pytest.mark.enable_socket)


# ---------------------------------------------------------------------------------------------
# The drizzled test bed (issue #13), shared by every accuracy test that needs a product made the
# way real ones are: detector exposures (distortion, cosmic rays, hot pixels, DQ) drizzled by STScI's
# drizzle into a drc / i2d, written to FITS and extracted with defaults. Session-scoped: each field
# is made and extracted once per run.
# ---------------------------------------------------------------------------------------------
BED_CENTER = (53.1625, -27.791417)

#: Bed cases: detector, filter, output scale ("/px), pixfrac, side of the populated square ("),
#: stars drawn, galaxies, sky (e-/s per native pixel), true-SNR range of the stars, number of fields.
#: 760 stars on a 1024² field leave ~510 isolated ones, ~150-190 per SNR bin; two fields pooled give
#: >= 300 per bin (the std of a pull std from n values is ~1/sqrt(2n): +-4 % at 300).
BED_CASES = {
    "acs": ("ACS/WFC", "F814W", 0.05, 1.0, 46.0, 760, 60, 0.08, (10, 300), 2),
    "nircam": ("NIRCAM/SW", "F200W", 0.031, 0.8, 29.0, 760, 60, 0.2, (10, 300), 2),
    "acs_f606w_bright": ("ACS/WFC", "F606W", 0.06, 1.0, 55.0, 760, 0, 0.08, (300, 900), 1),
}


def _bed_case(case, workdir):
    """Make, write and extract (full path and fast path) the fields of one :data:`BED_CASES` case.

    Returns a list (one per field) of dicts: ``truth`` (the product's truth: true output-frame
    positions, the exposures' Cramér–Rao bound ``crb_x, crb_y``, ``snr``, ``kind``, ``n_exp``),
    ``shape``, ``cat`` (``extract_sources_fits`` defaults) and ``fast`` (``use_psf_fit=False``).
    """
    import warnings

    from helpers.simulate import make_truth
    from helpers.simulate.detectors import detector
    from helpers.simulate.drizzled import isolated, make_drizzled
    from helpers.sources import extract_sources_fits

    det, filt, scale, pixfrac, side, n_stars, n_gal, sky, snr, n_fields = BED_CASES[case]
    native = detector(det)["native_scale"]
    fields = []
    for k in range(n_fields):
        truth = make_truth(center=BED_CENTER, size_arcsec=side, n_stars=n_stars, n_galaxies=n_gal, n_pairs=0,
                           n_saturated=0, star_snr=snr, seed=1000 + 17 * k)
        # isolated sources only: these tests measure the estimators, not deblending (test_sources_crowding*)
        truth = isolated(truth, 12 * max(native, scale))
        product = make_drizzled(truth, det, filt, shape=(1024, 1024), out_scale=scale, pixfrac=pixfrac, exptime=500.0,
                                sky=sky, seed=2000 + 17 * k, name=f"bed_{case}_{k}")
        path = product.writeto(Path(workdir) / f"bed_{case}_{k}_{product.suffix}.fits")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the bed's products are read as real ones; their notes are tested elsewhere
            cat = extract_sources_fits(path)
            fast = extract_sources_fits(path, use_psf_fit=False)
        fields.append({"truth": product.truth, "shape": product.sci.shape, "cat": cat, "fast": fast})
    return fields


@pytest.fixture(scope="session")
def bed_acs(tmp_path_factory):
    """ACS/WFC F814W drc at the native 0.05"/px, pixfrac 1.0 (AstroDrizzle's and the demo's), 2 fields."""
    return _bed_case("acs", tmp_path_factory.mktemp("bed_acs"))


@pytest.fixture(scope="session")
def bed_nircam(tmp_path_factory):
    """NIRCam F200W (SW) i2d at the native 0.031"/px, pixfrac 0.8, 2 fields."""
    return _bed_case("nircam", tmp_path_factory.mktemp("bed_nircam"))


@pytest.fixture(scope="session")
def bed_acs_f606w_bright(tmp_path_factory):
    """ACS/WFC F606W drc at 0.06"/px from 0.05" exposures (the demo's layout; FWHM ~1.7 px,
    undersampled), stars of true SNR 300-900, 1 field."""
    return _bed_case("acs_f606w_bright", tmp_path_factory.mktemp("bed_acs606"))
