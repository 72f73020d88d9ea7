"""Pointing optimizer: zones from one table, linearisation vs exact projection, search, bad input."""
import numpy as np
import pytest
from astropy.table import Table

from helpers import nirspec
from helpers.errors import WorkbookError
from helpers.msa import MSAPointing, default_operability
from helpers.planning import optimize_pointing, score_pointing, zone_half_widths, PITCH_ARCSEC
from helpers.planning.optimizer import _Scorer, _offset_radec

RA0, DEC0, APA0 = 53.16, -27.79, 45.0
PITCH_MARGINS = {"Unconstrained": 0.0, "Entire Open Shutter Area": 0.035, "Midpoint": 0.059,
                 "Constrained": 0.072, "Tightly Constrained": 0.091}


def _catalog(n, seed=1, half_arcsec=120.0):
    rng = np.random.default_rng(seed)
    return Table({"ra": RA0 + rng.uniform(-half_arcsec, half_arcsec, n) / 3600 / np.cos(np.radians(DEC0)),
                  "dec": DEC0 + rng.uniform(-half_arcsec, half_arcsec, n) / 3600,
                  "priority": rng.integers(1, 3, n)})


def test_zone_widths_come_from_the_table():
    for name, xh, yh, *_ in nirspec.CENTERING_CONSTRAINTS:
        assert zone_half_widths(name) == (xh, yh)
    with pytest.raises(WorkbookError, match="unknown centering constraint"):
        zone_half_widths("Snug")


@pytest.mark.parametrize("name", list(PITCH_MARGINS))
def test_pitch_based_margins_explicit(name):
    xh, yh = zone_half_widths(name, PITCH_MARGINS)
    assert xh == pytest.approx(PITCH_ARCSEC[0] / 2 - PITCH_MARGINS[name])
    assert yh == pytest.approx(PITCH_ARCSEC[1] / 2 - PITCH_MARGINS[name])


def test_zone_counts_agree_with_msa_locate():
    """Our exact evaluator counts exactly what helpers.msa.locate + slitlet operability says,
    for whatever the constraint table holds."""
    t = _catalog(3000, seed=2)
    p = MSAPointing(RA0, DEC0, APA0)
    loc = p.locate(t["ra"], t["dec"])
    oper = default_operability()
    for name in nirspec.constraint_names():
        n, _, in_zone, _ = score_pointing(t, RA0, DEC0, APA0, constraint=name)
        col = loc["zone_" + name.lower().replace(" ", "_")]
        inside = loc["quadrant"] > 0
        ok = np.zeros(len(t), bool)
        q, i, j = loc["quadrant"][inside], loc["i"][inside], loc["j"][inside]
        rows = j[:, None] + np.arange(-1, 2)
        valid = (rows >= 1) & (rows <= 171)
        st = oper.state[np.repeat(q[:, None] - 1, 3, 1), np.clip(rows, 1, 171) - 1, np.repeat(i[:, None] - 1, 3, 1)]
        ok[inside] = np.all(valid & (st == 0), axis=1)
        expect = np.asarray(col) & ok
        # boundary cases differ only by float rounding of the pitch
        assert np.sum(expect != in_zone) <= 2, name
        assert n == pytest.approx(expect.sum(), abs=2)


def test_table_zones_are_the_pitch_margins():
    """Since #12 the nirspec table holds APT's pitch-based zones: explicit margins and the table
    give the same zone, and the same count up to sources on a cell edge."""
    for name in PITCH_MARGINS:
        assert zone_half_widths(name) == pytest.approx(zone_half_widths(name, PITCH_MARGINS), abs=1e-4), name
    t = _catalog(2000, seed=3)
    n_table = score_pointing(t, RA0, DEC0, APA0, constraint="Midpoint")[0]
    n_pitch = score_pointing(t, RA0, DEC0, APA0, constraint="Midpoint", margin_arcsec=PITCH_MARGINS)[0]
    assert n_pitch == pytest.approx(n_table, abs=2)


def test_linearised_shift_matches_exact_projection():
    """Near-rigid shift with the local distortion vs the exact projection at 2.5" from the anchor."""
    t = _catalog(2000, seed=4)
    s = _Scorer(np.asarray(t["ra"]), np.asarray(t["dec"]), np.ones(len(t)), np.zeros(len(t)), 0.0, "Midpoint",
                None, 3, default_operability(), "CLEAR")
    anc = s.anchor(RA0, DEC0, APA0)
    for de, dn in ((2.5, 0.0), (0.0, -2.5), (2.5, 2.5)):
        r, d = _offset_radec(RA0, DEC0, de, dn)
        ex = s.anchor(r, d, APA0)
        both = anc["keep"] & ex["keep"]
        a_lin = (anc["a0"] + anc["da_de"] * de + anc["da_dn"] * dn)[both[anc["keep"]]]
        b_lin = (anc["b0"] + anc["db_de"] * de + anc["db_dn"] * dn)[both[anc["keep"]]]
        err_x = np.abs(a_lin - ex["a0"][both[ex["keep"]]]) * 268.0   # mas
        err_y = np.abs(b_lin - ex["b0"][both[ex["keep"]]]) * 529.0
        same_quadrant = anc["qoff"][both[anc["keep"]]] == ex["qoff"][both[ex["keep"]]]
        assert np.percentile(np.maximum(err_x, err_y)[same_quadrant], 99) < 2.0
        # and at 10" (no anchor in between) it would NOT be good enough: why anchors every 5"
    r, d = _offset_radec(RA0, DEC0, 10.0, 10.0)
    ex = s.anchor(r, d, APA0)
    both = anc["keep"] & ex["keep"]
    a_lin = (anc["a0"] + anc["da_de"] * 10 + anc["da_dn"] * 10)[both[anc["keep"]]]
    assert np.percentile(np.abs(a_lin - ex["a0"][both[ex["keep"]]]) * 268.0, 99) > 2.0


@pytest.fixture(scope="module")
def search():
    t = _catalog(1000, seed=5)
    res = optimize_pointing(t, RA0, DEC0, APA0, d_ra_arcsec=4, d_dec_arcsec=4, d_apa_deg=2, msata_sigma_mas=20)
    return t, res


def test_optimizer_beats_start_and_reports_exact_scores(search):
    t, res = search
    n0, e0, _, _ = score_pointing(t, RA0, DEC0, APA0, msata_sigma_mas=20)
    assert res.expected > e0 * 1.05
    n, e, _, _ = score_pointing(t, res.ra, res.dec, res.apa, msata_sigma_mas=20)
    assert (n, e) == (res.n_targets, pytest.approx(res.expected))
    assert abs((res.ra - RA0) * 3600 * np.cos(np.radians(DEC0))) <= 4 + 1e-6 and abs(res.dec - DEC0) * 3600 <= 4 + 1e-6
    assert abs((res.apa - APA0 + 180) % 360 - 180) <= 2 + 1e-6
    assert set(res.n_by_priority) == {1, 2} and sum(res.n_by_priority.values()) == res.n_targets
    assert len(res.alternatives) == 3
    assert all(a.expected <= res.expected + 1e-9 for a in res.alternatives)


def test_expected_objective_is_robust_against_jitter(search):
    """The expected-count optimum keeps more targets under 20 mas pointing jitter than the
    count optimum (same draws)."""
    t, res = search
    cnt = optimize_pointing(t, RA0, DEC0, APA0, d_ra_arcsec=4, d_dec_arcsec=4, d_apa_deg=2, objective="count",
                            n_alternatives=0)
    assert cnt.n_targets >= res.n_targets - 3
    rng = np.random.default_rng(0)
    kept = {"expected": [], "count": []}
    for _ in range(12):
        de, dn = rng.normal(0, 0.020, 2)
        for name, r in (("expected", res), ("count", cnt)):
            ra, dec = _offset_radec(r.ra, r.dec, de, dn)
            kept[name].append(score_pointing(t, ra, dec, r.apa)[0])
    assert np.mean(kept["expected"]) >= np.mean(kept["count"]) - 1


def test_apa_window_is_respected():
    from helpers.planning import apa_windows

    t = _catalog(500, seed=6)
    win = apa_windows(RA0, DEC0, "2024-01-01", "2024-01-03")
    start = float(win["apa_nominal"][1])
    res = optimize_pointing(t, RA0, DEC0, start, d_ra_arcsec=1, d_dec_arcsec=1, d_apa_deg=10, apa_window=win,
                            n_alternatives=0)
    lo, hi = np.nanmin(win["apa_min"]), np.nanmax(win["apa_max"])
    assert lo - 1e-6 <= res.apa <= hi + 1e-6
    with pytest.raises(WorkbookError, match="not allowed on any day"):
        optimize_pointing(t, RA0, DEC0, start + 30, d_ra_arcsec=1, d_dec_arcsec=1, d_apa_deg=1, apa_window=win)


@pytest.mark.parametrize("kwargs, match", [
    ({"weights": -1.0}, "negative or NaN"),
    ({"weights": np.nan}, "negative or NaN"),
    ({"weights": np.r_[np.ones(49), -2.0]}, "1 weights are negative or NaN"),
    ({"weights": np.r_[np.ones(49), np.nan]}, "1 weights are negative or NaN"),
    ({"weights": np.ones(7)}, "7 values for 50 targets"),
    ({"d_ra_arcsec": 500}, "exceeds the MSA"),
    ({"d_dec_arcsec": 101}, "exceeds the MSA"),
    ({"velocity_aberration": 1.01}, "velocity-aberration factor"),
    ({"velocity_aberration": 0.998}, "outside 0.999-1.001"),
    ({"sigma_mas": -3}, "sigma_mas"),
    ({"objective": "flux"}, "objective"),
    ({"constraint": "Snug"}, "unknown centering constraint"),
])
def test_bad_input(kwargs, match):
    t = _catalog(50, seed=7)
    base = dict(d_ra_arcsec=1, d_dec_arcsec=1, d_apa_deg=0)
    base.update(kwargs)
    with pytest.raises(WorkbookError, match=match) as exc:
        optimize_pointing(t, RA0, DEC0, APA0, **base)
    assert "\n" not in str(exc.value)
    if "constraint" in kwargs:   # the message suggests APT's five names
        assert all(name in str(exc.value) for name in nirspec.constraint_names())


@pytest.mark.parametrize("kwargs, match", [({"velocity_aberration": 1.002}, "velocity-aberration factor"),
                                           ({"constraint": "centred"}, "unknown centering constraint"),
                                           ({"weights": -1.0}, "negative or NaN")])
def test_bad_input_to_score_pointing(kwargs, match):
    with pytest.raises(WorkbookError, match=match) as exc:
        score_pointing(_catalog(20, seed=7), RA0, DEC0, APA0, **kwargs)
    assert "\n" not in str(exc.value)


def test_catalog_wider_than_one_degree():
    t = _catalog(50, seed=8)
    t["dec"][0] = DEC0 + 1.5
    with pytest.raises(WorkbookError, match="beyond MPT's catalog limit"):
        optimize_pointing(t, RA0, DEC0, APA0, d_ra_arcsec=1, d_dec_arcsec=1, d_apa_deg=0)


def test_targets_all_off_the_msa():
    t = _catalog(50, seed=9)
    t["dec"] += 0.3
    with pytest.raises(WorkbookError, match="none of the 50 targets comes near the MSA"):
        optimize_pointing(t, RA0, DEC0, APA0, d_ra_arcsec=1, d_dec_arcsec=1, d_apa_deg=0)


def test_failed_shutters_are_avoided():
    """Marking every shutter failed-open except one quadrant: nothing outside it counts."""
    t = _catalog(1500, seed=10)
    state = np.full((4, 171, 365), 2, dtype=np.int8)
    state[0] = default_operability().state[0]
    from helpers.msa import Operability

    oper = Operability(state, "test: only Q1 usable")
    _, _, in_zone, _ = score_pointing(t, RA0, DEC0, APA0, operability=oper)
    loc = MSAPointing(RA0, DEC0, APA0).locate(t["ra"], t["dec"])
    assert in_zone.sum() > 10 and np.all(loc["quadrant"][in_zone] == 1)
