"""Notebook 05's MSATA glue on the demo workspace: planned epoch, cached Gaia proper motions, the
chosen pointing's operable shutters and the calibrated sigma reach `msata_candidates` (#12).

The demo workspace is built as notebooks 00-04 leave it, without running them: ``field.json``
for the demo field with a pointing and a planning record, ``archive/gaia.ecsv`` from the offline
Gaia replay (notebook 01's cache), a source catalog of the demo truth at the pre-image epoch
2004.8 (notebook 02) and a measured scatter (notebook 03).
"""

import numpy as np
import pytest
from astropy.table import Table

from helpers import config, export, msa
from helpers.archive.references import query_gaia
from helpers.simulate import demo_field

PRE_EPOCH = 2004.8
PLAN_DATE = "2027-07-02"


def demo_workspace(root):
    """The demo field as notebooks 00-04 leave it (see the module docstring)."""
    d = config.DEMO_FIELD
    cfg = config.create_field(d["name"], ra=d["ra"], dec=d["dec"], epoch=d["epoch"], workspace_root=root)
    archive_dir = cfg.subdir("archive")
    gaia = query_gaia((cfg.ra, cfg.dec), cfg.radius_arcmin, live=False, cache=archive_dir)
    truth, _ = demo_field()
    # the pre-image saw every source where it was in 2004.8 (proper motions back from Gaia's 2016.0)
    dt = PRE_EPOCH - float(truth.meta.get("ref_epoch", 2016.0))
    dec = np.asarray(truth["dec"]) + np.asarray(truth["pmdec"]) * dt / 3.6e6
    ra = np.asarray(truth["ra"]) + np.asarray(truth["pmra"]) * dt / 3.6e6 / np.cos(np.radians(truth["dec"]))
    rng = np.random.default_rng(12)
    n = len(truth)
    star = np.isin(np.asarray(truth["kind"]).astype(str), ("star",))
    cat = Table({"id": np.asarray(truth["id"]), "ra": ra, "dec": dec,
                 "ra_err": rng.uniform(1.0, 4.0, n), "dec_err": rng.uniform(1.0, 4.0, n),
                 "kind": np.where(star, "point", "extended"), "flags": np.zeros(n, np.int64),
                 "mag_ta": np.where(star, rng.uniform(19.8, 21.7, n), 24.0)})
    cat.meta.update(epoch=PRE_EPOCH, image="hst_9978_acs_wfc_f814w_demo")
    cat.write(cfg.subdir("catalogs") / "sources_hst_9978_acs_wfc_f814w_demo.ecsv", format="ascii.ecsv")
    cfg.update(pointing={"ra": cfg.ra, "dec": cfg.dec, "apa": 45.0, "filter": "CLEAR", "constraint": "Midpoint",
                         "nod": True},
               extra={"imaging": {"gaia_catalog": str(archive_dir / "gaia.ecsv")},
                      "astrometry": {"sigma_mas": 5.0, "verdict": "optimal"},
                      "planning": {"ra": cfg.ra, "dec": cfg.dec, "apa": 45.0, "date": PLAN_DATE,
                                   "disperser": "G395M/F290LP", "n_targets": 1, "expected": 1.0}})
    return cfg, cat, gaia


def _usable_star(cfg, cat, gaia, pointing, exclude=()):
    """An id that MSATA accepts as it is (the demo's PMs are small), to be perturbed by a test."""
    kw, _ = export.msata_inputs(cfg, cat)
    c = export.msata_candidates(cat, on_too_few="warn", isolation_radius_arcsec=0.5, **kw)
    ids = [int(i) for i in c["id"][c["usable"]] if int(i) not in exclude]
    assert ids, c.meta["rejections"]
    return ids[0]


def _gaia_point_star(cat, gaia, exclude=()):
    """A point source of the catalog with a Gaia counterpart (usable or not for other reasons)."""
    ids = set(np.asarray(cat["id"])[cat["kind"] == "point"].tolist()) & set(np.asarray(gaia["truth_id"]).tolist())
    return sorted(ids - set(exclude))[0]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("ws")
    return demo_workspace(root)


def test_glue_reads_epoch_gaia_pointing_and_sigma(workspace):
    cfg, cat, gaia = workspace
    kw, info = export.msata_inputs(cfg, cat)
    assert kw["planned_epoch"] == pytest.approx(2027.50, abs=0.01) and info["date"] == PLAN_DATE
    assert "notebook 04's date" in info["notes"][0]
    assert len(kw["gaia"]) == len(gaia) and "gaia.ecsv" in info["notes"][1]
    p = kw["pointing"]
    assert (p.ra, p.dec, p.apa) == pytest.approx((cfg.ra, cfg.dec, 45.0))
    assert p.va_factor != 1.0  # the planned date switches APT's velocity aberration on
    typical = np.median(np.sqrt(0.5 * (np.asarray(cat["ra_err"]) ** 2 + np.asarray(cat["dec_err"]) ** 2)))
    assert kw["sigma_calibration"] == pytest.approx(5.0 / typical)
    # the stars MSATA keeps sit in operable open shutters at that pointing, and move < 27 mas
    c = export.msata_candidates(cat, on_too_few="warn", isolation_radius_arcsec=0.5, **kw)
    loc = p.locate(c["ra"][c["usable"]], c["dec"][c["usable"]])
    assert c["usable"].sum() >= 2 and np.all(loc["in_open"]) and np.all(loc["state"] == msa.STATE_OK)
    assert np.all(c["motion_mas"][c["usable"]] <= 0.1 * 267.9)
    assert c.meta["rejections"]["not in an operable open shutter"] > 100
    # without notebooks 01/03/04 the glue says what is missing instead of failing
    bare = config.create_field("bare", ra=cfg.ra, dec=cfg.dec, epoch=2028.0, workspace_root=cfg.path.parent)
    kw2, info2 = export.msata_inputs(bare, cat)
    assert kw2["gaia"] is None and kw2["pointing"] is None and kw2["sigma_calibration"] is None
    assert kw2["planned_epoch"] == 2028.0 and "field's epoch" in info2["notes"][0]
    assert "run notebook 01" in info2["notes"][1] and "run notebook 04" in info2["notes"][2]
    # notebook 04 records the date it placed the MSA for: that date wins (no optimiser run needed)
    bare.update(pointing={"ra": cfg.ra, "dec": cfg.dec, "apa": 45.0, "filter": "CLEAR", "date": "2029-03-01"})
    kw3, info3 = export.msata_inputs(bare, cat)
    assert kw3["planned_epoch"] == pytest.approx(2029.16, abs=0.01) and info3["date"] == "2029-03-01"
    assert kw3["pointing"].epoch is not None and kw3["pointing"].va_factor != 1.0


def test_fast_mover_and_failed_closed_star_are_excluded_with_their_reason(workspace, tmp_path):
    cfg, cat, gaia = workspace
    cat, gaia = cat.copy(), gaia.copy()
    kw, _ = export.msata_inputs(cfg, cat)
    pointing = kw["pointing"]
    g_row = {int(t): k for k, t in enumerate(gaia["truth_id"])}
    fast = _usable_star(cfg, cat, gaia, pointing)
    # A halo star at 60 mas/yr: Gaia saw it in 2016 0.67" from where the 2004.8 pre-image did
    # (matched after moving Gaia back to 2004.8), and by 2027.5 it is 1.36" (5 shutters) away.
    k = g_row[fast]
    gaia["pmra"][k], gaia["pmdec"][k] = 60.0, 0.0
    row = int(np.flatnonzero(cat["id"] == fast)[0])
    gaia["ra"][k] = cat["ra"][row] + 60.0 * (2016.0 - PRE_EPOCH) / 3.6e6 / np.cos(np.radians(cat["dec"][row]))
    gaia["dec"][k] = cat["dec"][row]
    # A star moved onto the centre of a failed-closed shutter inside the MSA (catalog and Gaia).
    oper = msa.default_operability()
    q, jj, ii = np.argwhere(oper.failed_closed)[5000] + 1
    closed = _usable_star(cfg, cat, gaia, pointing, exclude=(fast,))
    ra_c, dec_c = pointing.shutter_sky(int(q), int(ii), int(jj))
    row_c = int(np.flatnonzero(cat["id"] == closed)[0])
    cat["ra"][row_c], cat["dec"][row_c] = float(ra_c), float(dec_c)
    k = g_row[closed]
    gaia["pmra"][k] = gaia["pmdec"][k] = 0.0
    gaia["ra"][k], gaia["dec"][k] = float(ra_c), float(dec_c)
    # One star whose Gaia match has no proper motion (2-parameter solution), one not in Gaia.
    no_pm = _gaia_point_star(cat, gaia, exclude=(fast, closed))
    gaia["pmra"] = np.ma.masked_array(np.asarray(gaia["pmra"], float), mask=np.asarray(gaia["truth_id"]) == no_pm)
    not_in_gaia = _gaia_point_star(cat, gaia, exclude=(fast, closed, no_pm))
    gaia = gaia[np.asarray(gaia["truth_id"]) != not_in_gaia]
    gaia.write(cfg.subdir("archive") / "gaia.ecsv", format="ascii.ecsv", overwrite=True)

    kw, _ = export.msata_inputs(cfg, cat)
    c = export.msata_candidates(cat, on_too_few="warn", isolation_radius_arcsec=0.5, **kw)
    by_id = {int(r["id"]): r for r in c}
    r = by_id[fast]
    assert not r["usable"] and "moves 1362 mas by 2027.5" in r["reason"], r["reason"]
    assert r["motion_mas"] == pytest.approx(60.0 * (2027.5 - PRE_EPOCH), rel=1e-3)
    r = by_id[closed]
    assert not r["usable"] and f"inoperable shutter (Q{q} row {ii} column {jj})" in r["reason"], r["reason"]
    assert (r["shutter_quadrant"], r["shutter_row"], r["shutter_column"]) == (q, ii, jj)
    assert "its Gaia match has none" in by_id[no_pm]["reason"] and not by_id[no_pm]["usable"]
    assert "no Gaia star within 0.1\"" in by_id[not_in_gaia]["reason"] and not by_id[not_in_gaia]["usable"]
    # every excluded point source says why
    point = np.asarray(c["id"])[np.isin(np.asarray(c["id"]), np.asarray(cat["id"])[cat["kind"] == "point"])]
    assert all(by_id[int(i)]["reason"] for i in point)
    assert c.meta["sigma_calibration"] == pytest.approx(kw["sigma_calibration"])


def test_without_gaia_every_star_says_it_lacks_a_proper_motion(workspace):
    cfg, cat, _ = workspace
    kw, _ = export.msata_inputs(cfg, cat)
    kw["gaia"] = None
    c = export.msata_candidates(cat, on_too_few="warn", **kw)
    point = c[np.isin(np.asarray(c["id"]), np.asarray(cat["id"])[cat["kind"] == "point"])]
    assert not c["usable"].any()
    assert all("no proper motion (no Gaia table given)" in r for r in point["reason"])
