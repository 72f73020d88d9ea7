"""Notebook-04 planning glue: date, APA window, optimizer around the pointing, what is recorded."""
import json

import numpy as np
import pytest
from astropy.table import Table

from helpers import config, msa
from helpers.errors import WorkbookError
from helpers.planning import find_overlaps, notebook as planning_nb

RA0, DEC0 = 53.16, -27.79


@pytest.fixture()
def cfg(tmp_path):
    return config.create_field("nb04-plan", ra=RA0, dec=DEC0, workspace_root=tmp_path, epoch=2027.5)


def test_planned_date_defaults_to_the_field_epoch(cfg):
    assert planning_nb.planned_date(cfg) == "2027-07-02"
    assert planning_nb.planned_date(cfg, "2027-01-15T12:00") == "2027-01-15"
    with pytest.raises(WorkbookError, match="not an ISO date"):
        planning_nb.planned_date(cfg, "next tuesday")


def test_apa_window_says_where_the_limits_come_from(cfg):
    table, note = planning_nb.apa_window_around(cfg, "2027-10-01", days=5)
    assert len(table) == 11 and table["date"][5] == "2027-10-01" and np.all(table["visible"])
    assert "offline" in note and "outside jwst_gtvt" in note and "not visible" not in note


def test_apa_window_moves_to_the_next_visibility_and_says_so(cfg):
    # GOODS-S is outside JWST's field of regard in early July; visible again from late July.
    table, note = planning_nb.apa_window_around(cfg, "2027-07-02", days=5)
    assert "not visible within 5 days of 2027-07-02" in note
    assert np.asarray(table["visible"]).any()


def test_optimize_records_pointing_yield_and_alternatives(cfg):
    rng = np.random.default_rng(3)
    n = 500
    sources = Table({"ra": RA0 + rng.uniform(-100, 100, n) / 3600 / np.cos(np.radians(DEC0)),
                     "dec": DEC0 + rng.uniform(-100, 100, n) / 3600, "priority": rng.integers(1, 3, n),
                     "ra_err": np.full(n, 8.0), "dec_err": np.full(n, 8.0)})
    start = msa.MSAPointing(RA0, DEC0, 45.0)
    result = planning_nb.optimize_notebook_pointing(
        sources, start, d_ra_arcsec=1.0, d_dec_arcsec=1.0, d_apa_deg=0.0, constraint="Midpoint", nod=True,
        operability=msa.default_operability(), disperser="G395M/F290LP", n_alternatives=2)
    record = planning_nb.plan_record(result, "2027-07-02", "G395M/F290LP")
    json.dumps(record)  # goes into field.json
    assert record["n_targets"] == result.n_targets > 0
    assert len(record["alternatives"]) == 2
    assert sum(record["n_by_priority"].values()) == record["n_targets"]
    chosen = msa.MSAPointing(result.ra, result.dec, result.apa)
    loc = chosen.locate_arrays(sources["ra"][result.in_zone], sources["dec"][result.in_zone])
    assert find_overlaps(loc["quadrant"], loc["i"], loc["j"], "G395M/F290LP").size == 0
    assert planning_nb.describe_plan(record)[0].startswith("best pointing: RA")
    assert record["n_overlaps_dropped"] == result.n_overlaps_dropped >= 0
    assert any("G395M/F290LP spectra" in line for line in planning_nb.describe_plan(record))
    cfg.update(extra={"planning": record})
    assert config.load_field("nb04-plan", cfg.config_file.parent.parent).extra["planning"]["n_targets"] == record["n_targets"]


def test_optimize_scores_with_the_pointings_velocity_aberration():
    """The notebook's optimizer counts at the result equal MSAPointing.count at the same date."""
    from helpers.planning import score_pointing

    rng = np.random.default_rng(5)
    n = 3000
    sources = Table({"ra": RA0 + rng.uniform(-100, 100, n) / 3600 / np.cos(np.radians(DEC0)),
                     "dec": DEC0 + rng.uniform(-100, 100, n) / 3600})
    start = msa.MSAPointing(RA0, DEC0, 45.0, epoch="2027-01-15")
    assert start.va_factor != 1.0
    oper = msa.default_operability()
    result = planning_nb.optimize_notebook_pointing(
        sources, start, d_ra_arcsec=0.5, d_dec_arcsec=0.5, d_apa_deg=0.0, constraint="Midpoint", nod=False,
        operability=oper, objective="count", sigma_mas=0.0)
    at_date = msa.MSAPointing(result.ra, result.dec, result.apa, epoch="2027-01-15")
    assert result.n_targets == at_date.count(sources["ra"], sources["dec"], "Midpoint", slitlet=1, operability=oper)
    assert result.n_targets == score_pointing(sources, result.ra, result.dec, result.apa, slitlet=1, operability=oper,
                                              velocity_aberration=start.va_factor)[0]


def test_optimize_without_a_catalog(cfg):
    with pytest.raises(WorkbookError, match="no catalog"):
        planning_nb.optimize_notebook_pointing(None, msa.MSAPointing(RA0, DEC0, 45.0), d_ra_arcsec=1, d_dec_arcsec=1,
                                               d_apa_deg=0, constraint="Midpoint", nod=True, operability=None)


def test_start_apa_moves_into_the_window_and_says_so(cfg):
    table, _ = planning_nb.apa_window_around(cfg, "2027-10-01", days=3)
    allowed = float(table["apa_nominal"][3])
    assert planning_nb.start_apa_in_window(table, allowed) == (allowed, "")
    apa, note = planning_nb.start_apa_in_window(table, allowed + 180.0)
    assert apa == pytest.approx(float(table["apa_nominal"][3])) and "not allowed in the date window" in note


def test_a_small_field_in_the_msa_gap_starts_on_a_quadrant():
    """A 20" list centred on the MSA reference point (the gap between quadrants) moves onto a quadrant."""
    from helpers.planning.notebook import start_on_targets

    rng = np.random.default_rng(1)
    start = msa.MSAPointing(RA0, DEC0, 45.0, epoch="2027-01-15")
    ra = RA0 + rng.uniform(-10, 10, 200) / 3600 / np.cos(np.radians(DEC0))
    dec = DEC0 + rng.uniform(-10, 10, 200) / 3600
    assert np.count_nonzero(start.locate_arrays(ra, dec)["quadrant"] > 0) == 0  # all in the gap
    d_ra, d_dec, line = start_on_targets(start, ra, dec)
    assert "quadrant" in line and "d_ra_arcsec" in line
    assert 40 < np.hypot(d_ra, d_dec) < 110  # one quadrant centre away (quadrants ~95" x 87")
    from helpers.widgets import offset_pointing

    moved = offset_pointing(start, d_ra, d_dec)
    loc = moved.locate_arrays(ra, dec)
    assert np.all(loc["quadrant"] > 0) and np.unique(loc["quadrant"]).size == 1  # all on one quadrant
    # a wide list, or one already on the quadrants, keeps the field centre
    wide_ra = RA0 + rng.uniform(-100, 100, 2000) / 3600 / np.cos(np.radians(DEC0))
    wide_dec = DEC0 + rng.uniform(-100, 100, 2000) / 3600
    assert start_on_targets(start, wide_ra, wide_dec) == (0.0, 0.0, "")
    assert start_on_targets(moved, ra, dec) == (0.0, 0.0, "")
    assert start_on_targets(start, [np.nan], [np.nan]) == (0.0, 0.0, "")
