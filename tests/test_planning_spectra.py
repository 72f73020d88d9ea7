"""Spectra on NRS1/NRS2: model vs pysiaf geometry and vMPT's per-shutter cut-offs; overlaps; no_overlaps."""
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from helpers.errors import WorkbookError
from helpers.msa import MSAPointing
from helpers.planning import (DISPERSERS, detector_layout, disperser_pairs, drop_overlaps, find_overlaps,
                              optimize_pointing, spectrum_extents)

DATA = Path(__file__).parent / "data" / "planning"
GRATINGS = [k for k, v in DISPERSERS.items() if v[2] is not None]


@pytest.fixture(scope="module")
def vmpt():
    return np.load(DATA / "vmpt_dispersion_sample.npz")


@pytest.fixture(scope="module")
def grid(vmpt):
    step = int(vmpt["step"])
    q, j, i = np.meshgrid(np.arange(1, 5), np.arange(1, 172, step), np.arange(1, 366, step), indexing="ij")
    return q.ravel(), i.ravel(), j.ravel()


def test_detector_gap_is_derived_from_pysiaf():
    lay = detector_layout()
    # NRS1 and NRS2 are 2048 px; pysiaf's per-shutter IPOS491 + IPOS492 fixes the gap between them:
    # ~2.6 mm at 18 um/px (JDox: "a physical gap between the detectors").
    assert 130 < lay["gap_px"] < 160
    assert lay["nrs2"][1] - lay["nrs2"][0] == pytest.approx(2048)
    assert 4.5 < lay["row_pitch_px"] < 5.5  # 0.53" spatial pitch / ~0.1"/px


#: Agreement with vMPT 1.8.0's per-shutter table on the recorded sample (every 16th shutter), in
#: pixels along the dispersion, worst of the four columns (blue end, red end, both gap edges):
#: (median |difference|, 95th percentile), measured 2026-12-02 after the row drift, the reference
#: pixels and the gap rule were added. Before: gap edges 23-26 px median / 39-47 px p95 (M),
#: 50-56 / 90-108 px (H); ends up to 62 px p95; gap presence 97-99 %.
RECORDED_PX = {"G140M/F070LP": (1.2, 6.0), "G140M/F100LP": (1.5, 3.8), "G235M/F170LP": (2.2, 5.5),
               "G395M/F290LP": (1.5, 3.8), "G140H/F070LP": (7.1, 38.1), "G140H/F100LP": (12.3, 34.3),
               "G235H/F170LP": (10.6, 28.1), "G395H/F290LP": (9.1, 26.7)}


@pytest.mark.parametrize("pair", GRATINGS)
def test_grating_edges_and_gap_agree_with_vmpt(pair, vmpt, grid):
    """Per shutter, against vMPT 1.8.0's table (pipeline dispersion polynomials via msaviz): the
    recorded agreement (`RECORDED_PX`, 10 % + 0.5 px margin) and the gap on >= 99 % of shutters."""
    key = pair.replace("/", "_")
    t = spectrum_extents(*grid, pair)
    disp = DISPERSERS[pair][2]
    med_max, p95_max = RECORDED_PX[pair]
    for col, ref_key in (("lambda_blue", "blue_edge"), ("lambda_red", "red_edge"), ("gap_lo", "gap_lo"),
                         ("gap_hi", "gap_hi")):
        ref = vmpt[f"{key}_{ref_key}"].ravel()
        mine = np.asarray(t[col], float)
        assert np.mean(np.isfinite(ref) == np.isfinite(mine)) >= 0.99, col
        both = np.isfinite(ref) & np.isfinite(mine)
        assert both.sum() > 300
        err_px = np.abs(mine - ref)[both] / disp
        print(f"{pair} {ref_key}: median {np.median(err_px):.1f} px, p95 {np.percentile(err_px, 95):.1f} px")
        assert np.median(err_px) <= 1.1 * med_max + 0.5, (col, np.median(err_px))
        assert np.percentile(err_px, 95) <= 1.1 * p95_max + 0.5, (col, np.percentile(err_px, 95))


def test_row_drift_is_what_removes_the_quadrant_offset(vmpt, grid, monkeypatch):
    """Without the drift of the spectra with the detector row, the gap wavelengths sit ~25 px off
    vMPT's, with opposite signs for the upper (Q2, Q4) and lower (Q1, Q3) quadrants."""
    from helpers.planning import spectra

    pair = "G395M/F290LP"
    ref = vmpt["G395M_F290LP_gap_lo"].ravel()
    disp = DISPERSERS[pair][2]
    monkeypatch.setitem(spectra.ROW_DRIFT_PX, pair, 0.0)
    off = (np.asarray(spectrum_extents(*grid, pair)["gap_lo"], float) - ref) / disp
    q = grid[0]
    lower = np.nanmedian(off[(q == 1) | (q == 3)])
    upper = np.nanmedian(off[(q == 2) | (q == 4)])
    assert lower > 15 and upper < -15, (lower, upper)


def test_prism_extent_agrees_with_vmpt(vmpt):
    """PRISM: pixel ends at vMPT's 10 x 10 grid of shutters per quadrant, where vMPT did not clip
    them at a detector edge. The model is a fixed span around the image position drifting with
    the detector row (its dispersion is non-linear: λ(s) is not modelled). Recorded 2026-12-02:
    blue ends median 5.3 px / p95 19.6 px, red ends 4.9 / 12.1 px (before the drift: ~80 / ~210 px)."""
    rows, cols = vmpt["PRISM_CLEAR_tilt_grid_rows"], vmpt["PRISM_CLEAR_tilt_grid_cols"]
    q, j, i = np.meshgrid(np.arange(1, 5), rows, cols, indexing="ij")
    t = spectrum_extents(q.ravel(), i.ravel(), j.ravel(), "PRISM")
    lay = detector_layout()
    inner = (lay["reference_px"] + 1.5, 2048.5 - lay["reference_px"] - 1)
    # vMPT counts NRS2 x from the gap, in the direction of s: s = x + start of NRS2.
    for mine, ref_on1, ref_on2, limits in ((t["s_blue"], "x_lo_nrs1", "x_lo_nrs2", (6.0, 22.0)),
                                           (t["s_red"], "x_hi_nrs1", "x_hi_nrs2", (5.5, 13.5))):
        x1, x2 = vmpt[f"PRISM_CLEAR_{ref_on1}"].ravel(), vmpt[f"PRISM_CLEAR_{ref_on2}"].ravel()
        first_on1 = np.isfinite(x1) if "lo" in ref_on1 else ~np.isfinite(x2)
        x = np.where(first_on1, x1, x2)
        ref = np.where(first_on1, x1, x2 + lay["nrs2"][0])
        ok = np.isfinite(x) & (x > inner[0]) & (x < inner[1])
        err = np.abs(np.asarray(mine, float) - ref)[ok]
        assert err.size > 300
        print(f"PRISM {ref_on1[:4]} ends: median {np.median(err):.1f} px, p95 {np.percentile(err, 95):.1f} px")
        assert np.median(err) < limits[0] and np.percentile(err, 95) < limits[1]
    assert np.mean(np.isfinite(vmpt["PRISM_CLEAR_x_lo_nrs2"].ravel()) == np.asarray(t["on_nrs2"])) >= 0.97
    assert np.mean(np.isfinite(vmpt["PRISM_CLEAR_x_lo_nrs1"].ravel()) == np.asarray(t["on_nrs1"])) >= 0.97


def test_spectrum_moves_with_the_shutter():
    """One shutter further along +i moves the spectrum by the image step (~2.6 px), not its length."""
    t = spectrum_extents([3, 3], [180, 181], [85, 85], "G395M/F290LP")
    step = t["s_blue"][1] - t["s_blue"][0]
    assert 2 < abs(step) < 3.5
    # G395M/F290LP: (5.27 - 2.87) um / 1.79e-3 um/px = 1341 px, clipped by the detector ends.
    assert 1000 < t["s_red"][0] - t["s_blue"][0] <= 1341 + 1


def test_overlaps_same_rows_only():
    # Same column j, neighbouring rows i: the spectra share detector rows and overlap.
    pairs = find_overlaps([3, 3], [100, 110], [80, 80], "PRISM/CLEAR")
    assert pairs.tolist() == [[0, 1]]
    # Three shutters apart along the spatial direction (slitlet = 3): separate rows, no overlap.
    assert find_overlaps([3, 3], [100, 110], [80, 84], "PRISM/CLEAR", slitlet=3).size == 0
    # ... but a 5-shutter slitlet reaches the other one.
    assert find_overlaps([3, 3], [100, 110], [80, 84], "PRISM/CLEAR", slitlet=5).tolist() == [[0, 1]]


def test_drop_overlaps_priority_wins():
    keep = drop_overlaps([3, 3, 3], [100, 110, 120], [80, 80, 40], "PRISM", priority=[2, 1, 1])
    assert keep.tolist() == [False, True, True]
    keep = drop_overlaps([3, 3], [100, 110], [80, 80], "PRISM", weights=[1.0, 5.0])
    assert keep.tolist() == [False, True]


def test_unknown_disperser_lists_the_valid_pairs():
    with pytest.raises(WorkbookError, match="G395H/F290LP") as err:
        spectrum_extents([1], [1], [1], "G395M/F070LP")
    assert "\n" not in str(err.value)
    assert "PRISM/CLEAR" in disperser_pairs() and len(disperser_pairs()) == 9


def test_bad_shutter_index():
    with pytest.raises(WorkbookError, match="outside quadrant"):
        spectrum_extents([5], [1], [1], "PRISM")


def test_optimizer_no_overlaps_leaves_no_overlapping_pair():
    rng = np.random.default_rng(5)
    ra0, dec0, apa0 = 53.16, -27.79, 45.0
    n = 600
    cat = Table({"ra": ra0 + rng.uniform(-100, 100, n) / 3600 / np.cos(np.radians(dec0)),
                 "dec": dec0 + rng.uniform(-100, 100, n) / 3600, "priority": rng.integers(1, 3, n)})
    kw = dict(d_ra_arcsec=1.0, d_dec_arcsec=1.0, d_apa_deg=0.0, objective="count", n_alternatives=1)
    free = optimize_pointing(cat, ra0, dec0, apa0, **kw)
    clean = optimize_pointing(cat, ra0, dec0, apa0, no_overlaps=True, disperser="PRISM/CLEAR", **kw)
    loc = MSAPointing(clean.ra, clean.dec, clean.apa).locate_arrays(cat["ra"][clean.in_zone], cat["dec"][clean.in_zone])
    assert find_overlaps(loc["quadrant"], loc["i"], loc["j"], "PRISM").size == 0
    assert 0 < clean.n_targets < free.n_targets
    assert clean.n_overlaps_dropped > 0 and free.n_overlaps_dropped == 0
    with pytest.raises(WorkbookError, match="unknown disperser"):
        optimize_pointing(cat, ra0, dec0, apa0, no_overlaps=True, disperser="G999", **kw)
