"""Notebook 04's planning record reaches the session file and the summary card (#16 phase 2)."""
from helpers import config
from helpers import export as ex

PLAN = {"ra": 53.1627522, "dec": -27.7912494, "apa": 23.3187, "n_targets": 104, "expected": 123.93,
        "date": "2027-07-02", "disperser": "G395M/F290LP", "alternatives": [], "n_overlaps_dropped": 7}


def test_session_and_card_carry_the_planned_yield(tmp_path):
    cfg = config.create_field("plan-export", ra=53.16, dec=-27.79, workspace_root=tmp_path, epoch=2027.5)
    cfg.update(pointing={"ra": PLAN["ra"], "dec": PLAN["dec"], "apa": PLAN["apa"], "filter": "CLEAR"},
               extra={"planning": PLAN})
    rec = ex.read_session(ex.write_session(tmp_path / "session.json", cfg))
    assert rec["planning"]["n_targets"] == 104 and rec["planning"]["disperser"] == "G395M/F290LP"
    card = ex.summary_card({"name": cfg.name, "ra": cfg.ra, "dec": cfg.dec, "pointing": cfg.pointing,
                            "planning": cfg.extra.get("planning")}, "ACS/WFC F814W", None, {}, {})
    assert "Planned yield" in card and "104 targets" in card and "123.9 expected" in card
    assert "G395M/F290LP" in card and "7 lower-priority targets dropped" in card
    bare = ex.summary_card({"name": cfg.name, "ra": cfg.ra, "dec": cfg.dec, "pointing": cfg.pointing},
                           "ACS/WFC F814W", None, {}, {})
    assert "Planned yield" not in bare
