"""Issue #12: centering zones, shutter names, counts and velocity aberration as APT/vMPT/jwst define them."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from helpers import msa, nirspec
from helpers.errors import WorkbookError
from helpers.msa.aberration import vmpt_va_factor

DATA = Path(__file__).parent / "data"
HUDF = (53.1625, -27.791417)
VMPT_KEYS = dict(zip(["UNCONSTRAINED", "ENTIRE_OPEN", "MIDPOINT", "CONSTRAINED", "TIGHTLY_CONSTRAINED"],
                     nirspec.constraint_names()))


def _one_line(exc_info):
    msg = str(exc_info.value)
    assert "\n" not in msg and "Traceback" not in msg
    return msg


# ----------------------------------------------------------------------------- zones
def test_zone_limits_are_vmpt_margins_inset_from_the_pitch():
    # vMPT _check_centration: |frac| < 0.5 - buffer / SHUTTER_{X,Y}_ARCSEC (0.2679, 0.5294)
    for name, margin in [("Unconstrained", 0.0), ("Entire Open Shutter Area", 0.035), ("Midpoint", 0.059),
                         ("Constrained", 0.072), ("Tightly Constrained", 0.091)]:
        fx, fy = nirspec.zone_fraction_limits(name)
        assert fx == pytest.approx(0.5 - margin / 0.2679) and fy == pytest.approx(0.5 - margin / 0.5294)
    # Entire Open Shutter Area is about the open area (0.20" x 0.46"), not the ETC's 0.124" x 0.374"
    hx, hy = nirspec.zone_half_sizes_arcsec("Entire Open Shutter Area")
    assert abs(2 * hx - 0.20) < 0.005 and abs(2 * hy - 0.46) < 0.005
    assert nirspec.ETC_EXTRACTION_OFFSETS[0][1:3] == (0.100, 0.225) and "ETC" in nirspec.ETC_EXTRACTION_SOURCE


def test_zone_probabilities_at_zero_sigma_equal_geometric_acceptance():
    p0 = nirspec.zone_probabilities([1e-6], [1e-6], msata_mas=0.0, planned="cell")
    for name in nirspec.constraint_names():
        assert float(p0[name][0]) == pytest.approx(nirspec.geometric_acceptance(name), abs=2e-3)
    # and the acceptance is what locate finds for sources spread uniformly over shutter cells
    p = msa.MSAPointing(*HUDF, 45.0)
    rng = np.random.default_rng(3)
    m = msa.get_model()
    q, i, j = 2, rng.integers(50, 300, 4000), rng.integers(30, 140, 4000)
    fi, fj = rng.uniform(-0.5, 0.5, (2, 4000))
    # offsets in units of the local pitch, through the model's shutter steps along i and j
    di = (m.v2[q - 1, j - 1, i] - m.v2[q - 1, j - 1, i - 1], m.v3[q - 1, j - 1, i] - m.v3[q - 1, j - 1, i - 1])
    dj = (m.v2[q - 1, j, i - 1] - m.v2[q - 1, j - 1, i - 1], m.v3[q - 1, j, i - 1] - m.v3[q - 1, j - 1, i - 1])
    v2 = m.v2[q - 1, j - 1, i - 1] + fi * di[0] + fj * dj[0]
    v3 = m.v3[q - 1, j - 1, i - 1] + fi * di[1] + fj * dj[1]
    t = p.locate(*p.v2v3_to_sky(v2, v3))
    for name in nirspec.constraint_names():
        frac = float(np.mean(t[msa._zone_column(name)]))
        acc = nirspec.geometric_acceptance(name)
        assert abs(frac - acc) < 4 * math.sqrt(acc * (1 - acc) / 4000) + 0.01, name


def test_notebook03_zones_are_the_counted_zones():
    zones = nirspec.centering_constraints()
    assert list(zones) == nirspec.constraint_names()
    for name, (hx, hy) in zones.items():
        assert (hx, hy) == pytest.approx(nirspec.zone_half_sizes_arcsec(name), abs=1e-5)


def test_unknown_constraint_lists_the_five():
    p = msa.MSAPointing(*HUDF, 45.0)
    with pytest.raises(WorkbookError) as e:
        p.count([HUDF[0]], [HUDF[1]], "centered")
    msg = _one_line(e)
    assert all(n in msg for n in nirspec.constraint_names())
    assert nirspec.canonical_constraint("tightly_constrained") == "Tightly Constrained"
    assert nirspec.canonical_constraint("ENTIRE_OPEN") == "Entire Open Shutter Area"


# ----------------------------------------------------------------------------- counts vs vMPT
# Recorded with jwst-vmpt 1.8.0 (tests/data/vmpt_counts/record_vmpt.py): 2,000 sources, the same
# operability map, 3 pointings, 3-shutter slitlets, every constraint, vMPT's velocity aberration at
# its default (theta = 90 deg: a 1 / (1 - 1e-4 sin V3PA) scale) and off (theta = V3PA + 90 deg).
def _vmpt():
    d = DATA / "vmpt_counts"
    masks = np.load(d / "vmpt_masks.npz")
    return np.load(d / "catalog.npz"), json.loads((d / "vmpt_counts.json").read_text()), masks


# vMPT's differences from APT / pysiaf, each measured below:
EDGE_TOL = 0.002   # pitch fractions (0.5 mas along the dispersion): vMPT's V2/V3 table is 0.1-0.4 mas
                   # from pysiaf's IDT per-shutter table (ours 0.02-0.2 mas), so sources this close to a
                   # zone edge can fall either side


def _outer_half_of_edge_shutter(loc):
    # vMPT gates its polynomial inverse map with the quadrilateral through the corner shutters'
    # *centres*, so a source in the outer half of a quadrant's edge shutter is "off the MSA" for it
    i, j, fi, fj = (np.asarray(loc[k]) for k in ("i", "j", "fi", "fj"))
    with np.errstate(invalid="ignore"):
        return (((i == 1) & (fi < 0)) | ((i == msa.N_COLUMNS) & (fi > 0))
                | ((j == 1) & (fj < 0)) | ((j == msa.N_ROWS) & (fj > 0)))


def _ours(pt, case):
    base = msa.MSAPointing.from_v3pa(pt["ra"], pt["dec"], pt["pa_v3"])
    va = vmpt_va_factor(pt["pa_v3"]) if case == "matched" else False
    return msa.MSAPointing(base.ra, base.dec, base.apa, velocity_aberration=va)


@pytest.mark.parametrize("case", ["matched", "off"])
def test_counts_agree_with_vmpt_evaluator_for_every_constraint(case):
    """ours / vMPT per constraint and pointing: <= 1 % raw; with vMPT's edge-shutter gate aligned,
    <= 2 sources per cell apart (the sub-mas boundary cases of the next test). 'matched': vMPT's default velocity aberration reproduced by its factor
    (vmpt_va_factor); 'off': both off."""
    cat, rec, masks = _vmpt()
    assert rec["vmpt_version"] == "1.8.0" and rec["slit_length"] == 3 and len(rec["pointings"]) >= 3
    worst_raw = worst_aligned = 0.0
    for k, pt in enumerate(rec["pointings"]):
        p = _ours(pt, case)
        loc = p.locate_arrays(cat["ra"], cat["dec"])
        edge = _outer_half_of_edge_shutter(loc)
        counts = pt["counts" if case == "matched" else "counts_va_off"]
        assert set(counts) == set(VMPT_KEYS)
        for key, n_vmpt in counts.items():
            mine = msa.counted_mask(loc, VMPT_KEYS[key], 3)
            theirs = np.unpackbits(masks[f"{k}_{'default' if case == 'matched' else 'off'}_{key}"])[: len(mine)].astype(bool)
            assert int(theirs.sum()) == n_vmpt
            worst_raw = max(worst_raw, abs(mine.sum() / n_vmpt - 1))
            worst_aligned = max(worst_aligned, abs(int((mine & ~edge).sum()) - n_vmpt))
    assert worst_raw <= 0.01 + 1e-12, worst_raw   # 202 vs 200 at worst (edge source + one 0.3 mas boundary case)
    assert worst_aligned <= 2, worst_aligned


@pytest.mark.parametrize("case", ["matched", "off"])
def test_every_difference_from_vmpt_is_explained(case):
    """Each source counted by one tool and not the other is either in the outer half of an edge
    shutter (counted by us: the shutter is there; vMPT's hull of shutter centres drops it) or
    within EDGE_TOL of a zone edge (vMPT's V2/V3 table vs pysiaf's)."""
    cat, rec, masks = _vmpt()
    n_edge = n_boundary = 0
    for k, pt in enumerate(rec["pointings"]):
        loc = _ours(pt, case).locate_arrays(cat["ra"], cat["dec"])
        edge = _outer_half_of_edge_shutter(loc)
        for key in VMPT_KEYS:
            name = VMPT_KEYS[key]
            mine = msa.counted_mask(loc, name, 3)
            theirs = np.unpackbits(masks[f"{k}_{'default' if case == 'matched' else 'off'}_{key}"])[: len(mine)].astype(bool)
            fx, fy = nirspec.zone_fraction_limits(name)
            with np.errstate(invalid="ignore"):
                near = (np.abs(np.abs(loc["fi"]) - fx) < EDGE_TOL) | (np.abs(np.abs(loc["fj"]) - fy) < EDGE_TOL)
            diff = mine != theirs
            assert not np.any(diff & ~(edge & mine) & ~near), (k, key, np.flatnonzero(diff & ~(edge & mine) & ~near))
            n_edge += int(np.sum(diff & edge & mine))
            n_boundary += int(np.sum(diff & near))
    assert n_edge + n_boundary <= 20   # of ~5,600 counted source-constraint pairs


def test_vmpt_default_velocity_aberration_is_a_scale_not_off():
    """The documented difference: vMPT's default theta = 90 deg is a 1e-4 scale. With ours off
    against it the counts move by up to ~3 % (the 3.3 % measured before this was understood);
    vMPT switched off agrees with ours off to <= 1 %."""
    cat, rec, _ = _vmpt()
    worst_mismatched = worst_off = 0.0
    for pt in rec["pointings"]:
        p = _ours(pt, "off")
        for key in VMPT_KEYS:
            n = p.count(cat["ra"], cat["dec"], VMPT_KEYS[key], slitlet=3)
            worst_mismatched = max(worst_mismatched, abs(n / pt["counts"][key] - 1))
            worst_off = max(worst_off, abs(n / pt["counts_va_off"][key] - 1))
    assert worst_off <= 0.01
    assert 0.02 < worst_mismatched < 0.04, worst_mismatched
    assert abs(vmpt_va_factor(rec["pointings"][0]["pa_v3"]) - 1) > 9e-5   # V3PA 266 deg: ~1e-4


def test_count_is_zone_and_whole_operable_slitlet():
    p = msa.MSAPointing(*HUDF, 45.0)
    state = np.zeros(msa.SHAPE, np.int8)
    ra, dec = p.shutter_sky([1, 1, 1], [100, 101, 102], [50, 50, 50])
    state[0, 50, 100] = msa.STATE_FAILED_CLOSED   # row 101's upper neighbour (column 51)
    state[0, 48, 101] = msa.STATE_FAILED_OPEN     # row 102's lower neighbour (column 49)
    op = msa.Operability(state, "test")
    assert p.count(ra, dec, "Tightly Constrained", slitlet=3, operability=op) == 1
    assert p.count(ra, dec, "Tightly Constrained", slitlet=1, operability=op) == 3
    with pytest.raises(WorkbookError, match="slitlet"):
        p.count(ra, dec, slitlet=0)


# ----------------------------------------------------------------------------- shutter names
def test_shutter_ids_match_the_jwst_pipeline():
    rec = json.loads((DATA / "jwst_shutter_ids" / "jwst_shutter_ids.json").read_text())
    assert rec["jwst_version"].startswith("3.0") and len(rec["rows"]) >= 10
    p = msa.MSAPointing(*HUDF, 45.0)
    for r in rec["rows"]:
        assert int(msa.shutter_id(r["xcen"], r["ycen"])) == r["shutter_id"]
        t = p.locate(*p.shutter_sky(r["quadrant"], r["xcen"], r["ycen"]))
        assert (t["shutter_quadrant"][0], t["shutter_row"][0], t["shutter_column"][0], t["shutter_id"][0]) == (
            r["quadrant"], r["xcen"], r["ycen"], r["shutter_id"])


@pytest.mark.parametrize("q, row, col, word", [(1, 366, 10, "shutter_row"), (1, 10, 172, "shutter_column"),
                                               (5, 10, 10, "shutter_quadrant"), (1, 0, 10, "shutter_row")])
def test_shutter_indices_outside_the_msa_are_refused(q, row, col, word):
    with pytest.raises(WorkbookError) as e:
        msa.MSAPointing(*HUDF, 45.0).shutter_sky(q, row, col)
    assert word in _one_line(e)


# ----------------------------------------------------------------------------- velocity aberration
def test_velocity_aberration_scales_offsets_and_is_switchable():
    off = msa.MSAPointing(*HUDF, 45.0, velocity_aberration=False)
    on = msa.MSAPointing(*HUDF, 45.0, epoch="2027-07-01")
    assert off.va_factor == 1.0 and 0.9999 < on.va_factor < 1.0001 and on.va_factor != 1.0
    assert "no observation epoch" in msa.MSAPointing(*HUDF, 45.0).velocity_aberration_note
    # the same sky position lands (f - 1) x its offset from the reference point away in V2/V3
    ra, dec = off.shutter_sky(4, 365, 171)
    v2a, v3a = off.sky_to_v2v3(ra, dec)
    v2b, v3b = on.sky_to_v2v3(ra, dec)
    r = math.hypot(v2a - off.v2ref, v3a - off.v3ref)
    shift_mas = 1000 * math.hypot(v2b - v2a, v3b - v3a)
    assert shift_mas == pytest.approx(1000 * r * abs(1 / on.va_factor - 1), rel=1e-3) and 1.0 < shift_mas < 20.0
    # round trip through the shutter grid stays exact with it on
    t = on.locate(*on.shutter_sky(4, 365, 171))
    assert (t["shutter_row"][0], t["shutter_column"][0]) == (365, 171) and abs(t["dx_disp"][0]) < 1e-4


def test_velocity_aberration_factor_sign_follows_the_apex():
    from astropy.coordinates import get_body_barycentric_posvel
    from astropy.time import Time

    _, v = get_body_barycentric_posvel("earth-moon-barycenter", Time("2027-03-01"))
    from astropy.coordinates import CartesianRepresentation, SkyCoord

    apex = SkyCoord(CartesianRepresentation(v.xyz), frame="icrs")
    f_apex = msa.aberration.velocity_aberration_factor(apex.ra.deg, apex.dec.deg, "2027-03-01")
    f_anti = msa.aberration.velocity_aberration_factor(apex.ra.deg + 180, -apex.dec.deg, "2027-03-01")
    beta = np.linalg.norm(v.xyz.to_value("km/s")) * 1.01 / 299792.458
    assert f_apex == pytest.approx(1 + beta, abs=1e-8) and f_anti == pytest.approx(1 - beta, abs=1e-8)


@pytest.mark.parametrize("factor", [1.01, 0.99, float("nan"), "x"])
def test_velocity_aberration_factor_outside_range_is_refused(factor):
    with pytest.raises(WorkbookError) as e:
        msa.MSAPointing(*HUDF, 45.0, velocity_aberration=factor)
    assert "velocity-aberration factor" in _one_line(e)


# ----------------------------------------------------------------------------- bad input
def test_string_ra_dec_to_locate_is_one_line():
    with pytest.raises(WorkbookError) as e:
        msa.MSAPointing(*HUDF, 45.0).locate(["03:32:39"], ["-27:47:29"])
    assert "decimal degrees" in _one_line(e)


def test_garbage_npz_operability_is_one_line(tmp_path):
    bad = tmp_path / "map.npz"
    bad.write_bytes(b"this is not a zip file")
    with pytest.raises(WorkbookError) as e:
        msa.load_operability(bad)
    assert "map.npz" in _one_line(e)


# ----------------------------------------------------------------------------- MSATA checks
def _ta_catalog(n=400, seed=5):
    from astropy.table import Table

    rng = np.random.default_rng(seed)
    t = Table()
    t["id"] = np.arange(1, n + 1)
    t["ra"] = HUDF[0] + rng.uniform(-100, 100, n) / 3600.0 / math.cos(math.radians(HUDF[1]))
    t["dec"] = HUDF[1] + rng.uniform(-100, 100, n) / 3600.0
    t["ra_err"] = np.full(n, 3.0)
    t["dec_err"] = np.full(n, 3.0)
    t["kind"] = np.full(n, "point")
    t["flags"] = np.zeros(n, np.int64)
    t["mag_ta"] = rng.uniform(20.0, 21.5, n)
    t.meta["epoch"] = 2005.0
    return t


def test_msata_needs_proper_motions_and_rejects_fast_movers_per_star():
    from astropy.table import Table

    from helpers import export

    t = _ta_catalog()
    gaia = Table({"ra": t["ra"][:300], "dec": t["dec"][:300], "pmra": np.zeros(300), "pmdec": np.zeros(300)})
    gaia["pmra"][:50] = 10.0  # a halo star at 10 mas/yr moves 220 mas (~a shutter) from 2005 to 2027
    c = export.msata_candidates(t, planned_epoch=2027.0, gaia=gaia, isolation_radius_arcsec=0.01, on_too_few="warn")
    by_id = {int(r["id"]): r for r in c}
    assert "no proper motion" in by_id[350]["reason"] and not by_id[350]["usable"]
    assert "moves 220 mas" in by_id[10]["reason"] and not by_id[10]["usable"]
    assert by_id[200]["usable"] and by_id[200]["motion_mas"] == 0.0
    assert c.meta["rejections"]["no proper motion"] == 100 and c.meta["rejections"]["moves too far by the planned epoch"] == 50


def test_msata_only_in_operable_open_shutters_and_calibrated_sigma():
    from helpers import export

    t = _ta_catalog()
    p = msa.MSAPointing(*HUDF, 45.0)
    c = export.msata_candidates(t, pointing=p, isolation_radius_arcsec=0.01, on_too_few="warn")
    loc = p.locate(c["ra"], c["dec"])
    ok = np.asarray(loc["in_open"]) & (np.asarray(loc["state"]) == msa.STATE_OK)
    assert np.array_equal(np.asarray(c["usable"]), ok) and 0 < ok.sum() < len(c)
    assert np.array_equal(np.asarray(c["shutter_row"]), np.asarray(loc["shutter_row"]))
    assert any("inoperable shutter" in r for r in c["reason"])
    # the calibrated sigma is the one cut on and shown
    c2 = export.msata_candidates(t, sigma_calibration=4.0, sigma_goal_mas=10.0, on_too_few="warn",
                                 isolation_radius_arcsec=0.01)
    assert np.allclose(c2["sigma_mas"], 12.0) and not c2["usable"].any() and c2.meta["sigma_calibration"] == 4.0
