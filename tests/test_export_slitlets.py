"""The planned slitlets at the chosen pointing (#16 item 4): counted targets, DS9 polygons that read
back onto the MSA model's shutters, spectral overlaps, the pointing as MPT takes it, session/card."""

import json

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
import astropy.units as u
from regions import Regions

from .conftest import leftover_files
from helpers import config, export, msa
from helpers.errors import WorkbookError
from helpers.planning import find_overlaps

RA0, DEC0, APA = 53.1625, -27.791417, 45.0


@pytest.fixture(scope="module")
def pointing():
    return msa.MSAPointing(RA0, DEC0, APA, epoch="2027-07-02")


@pytest.fixture(scope="module")
def targets(pointing):
    """Targets on shutter centres (all 4 quadrants), two of them forced into overlapping spectra."""
    rng = np.random.default_rng(3)
    n = 300
    q, i, j = rng.integers(1, 5, n), rng.integers(20, 340, n), rng.integers(3, 169, n)
    # targets 101 and 102: operable slitlets in the same spatial row, 8 shutters apart along the dispersion
    ok = msa.slitlet_ok(q, i, j, n=3, require_ok=True) & msa.slitlet_ok(q, i + 8, j, n=3, require_ok=True)
    k = int(np.flatnonzero(ok)[0])
    q[:2], i[:2], j[:2] = q[k], [i[k], i[k] + 8], j[k]
    ra, dec = pointing.shutter_sky(q, i, j)
    off = rng.normal(0, 0.03, (2, n)) / 3600.0  # scatter inside the shutters
    off[:, :2] = 0.0
    return ra + off[0] / np.cos(np.radians(dec)), dec + off[1], np.arange(101, 101 + n), rng.integers(1, 4, n)


def test_planned_targets_are_the_counted_ones(pointing, targets):
    ra, dec, ids, pri = targets
    planned = export.planned_slitlets(pointing, ra, dec, ids=ids, priority=pri, constraint="Midpoint", slitlet=3)
    assert planned.meta["n_planned"] == len(planned) == pointing.count(ra, dec, "Midpoint", slitlet=3)
    assert 50 < len(planned) < len(ra)
    mask = pointing.count_mask(ra, dec, "Midpoint", slitlet=3)
    assert np.array_equal(np.asarray(planned["id"]), ids[mask])
    assert np.array_equal(np.asarray(planned["priority"]), pri[mask])
    assert set(planned["best_zone"]) <= {"Midpoint", "Constrained", "Tightly Constrained"}
    # a newer operability map is honoured: all shutters operable -> more planned, still the one rule
    all_open = msa.Operability(np.zeros(msa.SHAPE, np.int8), "all operable")
    free = export.planned_slitlets(pointing, ra, dec, operability=all_open)
    assert len(free) == pointing.count(ra, dec, "Midpoint", slitlet=3, operability=all_open) > len(planned)


def test_ds9_slitlets_read_back_on_the_shutter_centres(pointing, targets, tmp_path):
    ra, dec, ids, pri = targets
    planned = export.planned_slitlets(pointing, ra, dec, ids=ids, priority=pri, slitlet=3)
    path = export.write_slitlet_regions(pointing, planned, tmp_path / "planned_slitlets.reg")
    regs = Regions.read(str(path), format="ds9")
    assert len(regs) == 3 * len(planned)
    assert all(r.vertices.frame.name == "fk5" for r in regs)
    # centre of each polygon (mean of its corners on the tangent plane), back in ICRS
    verts = SkyCoord([r.vertices for r in regs]).icrs
    vra = verts.ra.deg.reshape(-1, 4)
    vdec = verts.dec.deg.reshape(-1, 4)
    cosd = np.cos(np.radians(DEC0))
    cra = RA0 + np.mean((vra - RA0) * cosd, axis=1) / cosd
    cdec = np.mean(vdec, axis=1)
    q = np.repeat(np.asarray(planned["shutter_quadrant"]), 3)
    i = np.repeat(np.asarray(planned["shutter_row"]), 3)
    j = (np.asarray(planned["shutter_column"])[:, None] + np.array([-1, 0, 1])).ravel()
    sra, sdec = pointing.shutter_sky(q, i, j)
    err_mas = SkyCoord(cra * u.deg, cdec * u.deg).separation(SkyCoord(sra * u.deg, sdec * u.deg)).to(u.mas).value
    assert np.max(err_mas) < 1.0, np.max(err_mas)
    print(f"slitlet polygon centres vs MSAPointing.shutter_sky: max {np.max(err_mas):.3f} mas, median {np.median(err_mas):.3f} mas")
    # the ICRS -> FK5 conversion is real (tens of mas), so an unconverted file would fail above
    assert SkyCoord(sra[0] * u.deg, sdec[0] * u.deg).separation(
        SkyCoord(sra[0] * u.deg, sdec[0] * u.deg, frame="fk5").icrs).to(u.mas).value > 5
    # colours by priority class, one label per slitlet (its centre shutter)
    colours = np.array([r.visual["edgecolor"] for r in regs]).reshape(-1, 3)
    want = np.array(export.PRIORITY_COLORS)[np.asarray(planned["priority"]) - 1]
    assert np.array_equal(colours[:, 0], want) and np.all(colours == colours[:, :1])
    labels = [r.meta.get("text") for r in regs]
    assert labels[1::3] == [f"{t['id']} p{t['priority']} {t['best_zone'].replace(' ', '_')}" for t in planned]
    assert all(lab is None for lab in labels[0::3])


def test_overlaps_for_the_chosen_disperser(pointing, targets):
    ra, dec, ids, pri = targets
    planned = export.planned_slitlets(pointing, ra, dec, ids=ids, priority=pri, disperser="G395M/F290LP")
    ref = find_overlaps(planned["shutter_quadrant"], planned["shutter_row"], planned["shutter_column"], "G395M/F290LP")
    pairs = sorted(tuple(sorted(p)) for p in planned.meta["overlaps"])
    assert pairs == sorted(tuple(sorted((int(planned["id"][a]), int(planned["id"][b])))) for a, b in ref)
    assert {101, 102} <= set(planned["id"].tolist())
    assert (101, 102) in pairs
    assert "102" in planned["overlaps_with"][planned["id"] == 101][0].split(",")
    rec = export.overlap_record(planned)
    assert rec["disperser"] == "G395M/F290LP" and rec["n_pairs"] == len(ref) > 0
    # the PRISM's spectra are shorter on the detector than G395M's: fewer pairs
    prism = export.planned_slitlets(pointing, ra, dec, ids=ids, disperser="PRISM")
    assert len(prism.meta["overlaps"]) < len(pairs)


def test_unknown_disperser_and_refused_overwrite_leave_nothing(pointing, targets, tmp_path):
    ra, dec, ids, pri = targets
    with pytest.raises(WorkbookError, match="G395M/F290LP") as err:
        export.planned_slitlets(pointing, ra, dec, disperser="G395M/F100LP")
    assert "\n" not in str(err.value) and "unknown disperser" in str(err.value)
    planned = export.planned_slitlets(pointing, ra[:40], dec[:40])
    path = tmp_path / "out" / "planned_slitlets.reg"
    path.parent.mkdir()
    path.write_text("mine\n")
    with pytest.raises(WorkbookError, match="overwrite") as err:
        export.write_slitlet_regions(pointing, planned, path)
    assert "\n" not in str(err.value)
    assert path.read_text() == "mine\n" and leftover_files(path.parent) == [path]


def test_mpt_pointing_is_the_reference_point_and_apa(pointing):
    mp = export.mpt_pointing(pointing)
    assert mp["aperture"] == "NRS_FULL_MSA" and mp["apa_deg"] == APA
    c = SkyCoord(mp["ra_hms"], mp["dec_dms"], unit=(u.hourangle, u.deg))
    assert c.separation(SkyCoord(RA0 * u.deg, DEC0 * u.deg)).to(u.mas).value < 1.0
    assert (mp["apa_deg"] - mp["v3pa_deg"]) % 360 == pytest.approx(pointing.v3idlyangle, abs=1e-4)


def test_session_and_card_carry_the_plan(pointing, targets, tmp_path):
    ra, dec, ids, pri = targets
    cfg = config.create_field("plan-card", ra=RA0, dec=DEC0, workspace_root=tmp_path, epoch=2027.5)
    cfg.update(pointing={"ra": RA0, "dec": DEC0, "apa": APA, "filter": "CLEAR", "constraint": "Midpoint", "nod": True},
               extra={"planning": {"date": "2027-07-02", "disperser": "PRISM/CLEAR", "expected": 12.5, "n_targets": 14}})
    from astropy.table import Table

    mpt = Table({"ID": ids, "RA": ra, "DEC": dec, "Weight": 4.0 - pri})
    mpt["Weight"][:5] = 0.0  # contaminants are not planned
    p, record, _ = export.chosen_pointing(cfg, date="2027-07-02")
    planned, plan, notes = export.field_plan(cfg, p, record, mpt)
    assert not set(planned["id"].tolist()) & set(ids[:5].tolist())
    assert np.array_equal(np.asarray(planned["priority"]), np.asarray(pri[~np.isin(ids, ids[:5])][
        p.count_mask(ra[5:], dec[5:], "Midpoint", 3)]))
    assert "PRISM/CLEAR" in notes[0] and plan["overlaps"]["disperser"] == "PRISM/CLEAR"
    plan["slitlet_regions"] = "planned_slitlets.reg"
    rec = json.loads(export.write_session(tmp_path / "session.json", cfg, plan=plan).read_text())
    assert rec["plan"]["mpt_pointing"]["ra_deg"] == pytest.approx(RA0) and rec["plan"]["expected"] == 12.5
    assert rec["plan"]["n_planned"] == len(planned) and rec["plan"]["overlaps"]["n_pairs"] == len(planned.meta["overlaps"])
    card = export.summary_card({"name": cfg.name, "ra": cfg.ra, "dec": cfg.dec, "pointing": cfg.pointing,
                                "planning": cfg.extra["planning"]}, "ACS/WFC F814W", None, {}, {}, plan=plan)
    assert "MPT pointing" in card and "NRS_FULL_MSA reference point RA 03:32:39.0000" in card
    assert f"{len(planned)} targets counted" in card and "planned_slitlets.reg" in card
    assert f"{plan['overlaps']['n_pairs']} overlapping pair(s)" in card
