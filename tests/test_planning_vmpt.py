"""Our optimizer and evaluator vs vMPT 1.8.0's recorded answers (benchmarks/bench_planning.py --record)."""
import json
from pathlib import Path

import pytest
from astropy.table import Table

from helpers.msa.aberration import vmpt_va_factor
from helpers.planning import optimize_pointing, score_pointing
from helpers.planning.visibility import nrs_msa_v3idlyangle

DATA = Path(__file__).parent / "data" / "planning"
REF = json.loads((DATA / "vmpt_reference.json").read_text())
MARGIN = 0.059   # vMPT's MIDPOINT inset from the pitch


@pytest.fixture(scope="module")
def catalog():
    return Table.read(DATA / REF["catalog"])


def test_evaluators_agree_at_the_start_pointing(catalog):
    n = score_pointing(catalog, *REF["start"], margin_arcsec=MARGIN, velocity_aberration=_vmpt_va(REF["start"][2]))[0]
    assert n == pytest.approx(REF["vmpt_start_count"], rel=0.01)


def _vmpt_va(apa):
    # vMPT scores with its default velocity aberration (theta = 90 deg), a 1 / (1 - 1e-4 sin V3PA) scale
    return vmpt_va_factor(apa - nrs_msa_v3idlyangle())


def test_evaluators_agree_at_vmpt_optimum_with_its_velocity_aberration(catalog):
    """The old -4.1 % gap at vMPT's optimum (348 vs 363) was vMPT's velocity-aberration scale,
    to which its optimum is tuned: with that factor our count is within 1 % (361 vs 363; the 2 are
    sub-mas zone-edge cases, tests/test_apt_conventions.py)."""
    b = REF["vmpt_best"]
    n_matched = score_pointing(catalog, b["ra"], b["dec"], b["apa"], margin_arcsec=MARGIN,
                               velocity_aberration=_vmpt_va(b["apa"]))[0]
    assert n_matched == pytest.approx(b["count"], rel=0.01)
    n_off = score_pointing(catalog, b["ra"], b["dec"], b["apa"], margin_arcsec=MARGIN, velocity_aberration=False)[0]
    assert n_off < b["count"] * 0.97   # the documented difference: 1e-4 of scale moves a knife-edge optimum


def test_our_count_optimum_reaches_vmpt_optimizer(catalog):
    """Same search box, same geometry (vMPT's velocity aberration), vMPT's objective (the count):
    our optimum holds at least as many targets as vMPT's optimizer found (363, recorded; its own
    evaluator gives 368 at ours in benchmarks/bench_planning.py) and more than our evaluator
    gives at vMPT's optimum."""
    ra, dec, apa = REF["start"]
    res = optimize_pointing(catalog, ra, dec, apa, d_ra_arcsec=10, d_dec_arcsec=10, d_apa_deg=5, objective="count",
                            margin_arcsec=MARGIN, msata_sigma_mas=20, n_alternatives=0, velocity_aberration=_vmpt_va(apa))
    b = REF["vmpt_best"]
    n_v = score_pointing(catalog, b["ra"], b["dec"], b["apa"], margin_arcsec=MARGIN, velocity_aberration=_vmpt_va(b["apa"]))[0]
    assert res.n_targets >= b["count"]
    assert res.n_targets > n_v
    assert res.n_targets > REF["vmpt_start_count"] * 1.2
    assert abs(res.apa - apa) <= 5 + 1e-9 and abs(res.dec - dec) * 3600 <= 10 + 1e-6
