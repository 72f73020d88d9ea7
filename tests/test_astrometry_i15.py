"""Issue #15: sphere-safe tangent point, coarse alignment, mixture-model scatter (against simulation truth)."""

import math

import numpy as np
import pytest
from astropy.table import Table

from helpers import astrometry
from helpers.errors import WorkbookError
from helpers.skyplane import sky_to_tangent, tangent_point, tangent_to_sky


def _field(ra0, dec0, n, size_arcsec, rng):
    xi, eta = rng.uniform(-size_arcsec / 2, size_arcsec / 2, (2, n))
    return tangent_to_sky(xi, eta, ra0, dec0, unit="arcsec")


# --------------------------------------------------------------------------- tangent point
@pytest.mark.parametrize("ra0,dec0", [(0.0, 0.0), (359.995, 30.0), (180.0, -45.0), (10.0, 89.9)])
def test_tangent_point_is_the_field_centre_across_ra_zero_and_poles(ra0, dec0):
    rng = np.random.default_rng(1)
    ra, dec = _field(ra0, dec0, 500, 120.0, rng)
    got_ra, got_dec = tangent_point(ra, dec)
    xi, eta = sky_to_tangent(got_ra, got_dec, ra0, dec0, unit="arcsec")
    # the sample centre is within a few arcsec of the field centre (uniform 120" box, 500 points)
    assert math.hypot(float(xi), float(eta)) < 5.0


def test_compare_across_ra_zero_gives_the_true_scatter():
    rng = np.random.default_rng(2)
    ra, dec = _field(0.0, 1.0, 3000, 100.0, rng)
    sig = 5.0
    def noisy():
        xi, eta = sky_to_tangent(ra, dec, 0.0, 1.0, unit="mas")
        return tangent_to_sky(xi + rng.normal(0, sig, ra.size), eta + rng.normal(0, sig, ra.size), 0.0, 1.0,
                              unit="mas")
    a, b = Table(dict(zip(("ra", "dec"), noisy()))), Table(dict(zip(("ra", "dec"), noisy())))
    res = astrometry.compare_catalogs(a, b, equal=True, n_boot=50)
    assert abs(res.sigma_cat_1d - sig) < 0.5


# --------------------------------------------------------------------------- coarse alignment
def _aligned_pair(shift_arcsec, rot_deg, scale, seed, n=300, half=90.0, contam=0.3, sigma_arcsec=0.01):
    """Catalog 2 = truth; catalog 1 = truth moved by the inverse transform, 30% replaced by contaminants."""
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(-half, half, (2, n))
    th = math.radians(rot_deg)
    xa, ya = (x - shift_arcsec[0]) / scale, (y - shift_arcsec[1]) / scale
    x1 = math.cos(th) * xa + math.sin(th) * ya
    y1 = -math.sin(th) * xa + math.cos(th) * ya
    nc = int(contam * n)
    x1[:nc], y1[:nc] = rng.uniform(-half, half, (2, nc))
    ra1, dec1 = tangent_to_sky(x1 + rng.normal(0, sigma_arcsec, n), y1 + rng.normal(0, sigma_arcsec, n), 53.1, -27.8)
    ra2, dec2 = tangent_to_sky(x + rng.normal(0, sigma_arcsec, n), y + rng.normal(0, sigma_arcsec, n), 53.1, -27.8)
    return ra1, dec1, ra2, dec2


@pytest.mark.parametrize("shift,rot,scale,seed", [((5.0, -3.0), 2.0, 1.01, 3), ((-4.0, 4.0), -2.0, 0.99, 4),
                                                   ((0.2, 0.1), 0.25, 1.003, 5)])
def test_coarse_align_recovers_shift_rotation_scale_within_3_sigma(shift, rot, scale, seed):
    ra1, dec1, ra2, dec2 = _aligned_pair(shift, rot, scale, seed)
    al = astrometry.coarse_align(ra1, dec1, ra2, dec2)
    assert abs(al.rotation_deg - rot) <= 3 * al.rotation_err_deg + 1e-6
    assert abs(al.scale - scale) <= 3 * al.scale_err + 1e-9
    # shift check through the transform: truth positions of the common sources land on catalog 2
    ra_t, dec_t = al.apply(ra1, dec1)
    x_t, y_t = sky_to_tangent(ra_t, dec_t, 53.1, -27.8, unit="mas")
    x2, y2 = sky_to_tangent(ra2, dec2, 53.1, -27.8, unit="mas")
    common = slice(int(0.3 * 300), None)
    off = np.hypot(x_t[common] - x2[common], y_t[common] - y2[common])
    assert np.median(off) < 20.0  # 10 mas per axis per catalog: sqrt(2)*10*1.18
    assert al.n_pairs >= 190 and al.votes > 5 * al.chance_votes


def test_coarse_align_refuses_unrelated_catalogs_and_edge_solutions():
    rng = np.random.default_rng(7)
    ra1, dec1 = _field(53.1, -27.8, 300, 180.0, rng)
    ra2, dec2 = _field(53.1, -27.8, 300, 180.0, rng)
    with pytest.raises(WorkbookError, match="no consistent shift/rotation/scale"):
        astrometry.coarse_align(ra1, dec1, ra2, dec2)
    ra1, dec1, ra2, dec2 = _aligned_pair((2.0, 0.0), 2.9, 1.0, 8)
    with pytest.raises(WorkbookError, match="edge of the search"):
        astrometry.coarse_align(ra1, dec1, ra2, dec2, max_rotation_deg=2.9)
    with pytest.raises(WorkbookError, match="not cover the same field"):
        astrometry.coarse_align(ra1, dec1, ra2 + 1.0, dec2)
    with pytest.raises(WorkbookError, match="only 5 finite"):
        astrometry.coarse_align(ra1[:5], dec1[:5], ra2, dec2)
    with pytest.raises(WorkbookError, match="not numbers"):
        astrometry.coarse_align(["a"] * 20, dec1[:20], ra2, dec2)
    with pytest.raises(WorkbookError, match="positive"):
        astrometry.coarse_align(ra1, dec1, ra2, dec2, max_shift_arcsec=-1)


def test_compare_accepts_a_real_frame_offset_beyond_half_the_match_radius():
    rng = np.random.default_rng(11)
    ra, dec = _field(53.1, -27.8, 3000, 180.0, rng)
    x, y = sky_to_tangent(ra, dec, 53.1, -27.8, unit="mas")
    a = Table(dict(zip(("ra", "dec"), tangent_to_sky(x + 224.0 + rng.normal(0, 5, x.size),
                                                     y + rng.normal(0, 5, x.size), 53.1, -27.8, unit="mas"))))
    b = Table(dict(zip(("ra", "dec"), tangent_to_sky(x + rng.normal(0, 5, x.size), y + rng.normal(0, 5, x.size),
                                                     53.1, -27.8, unit="mas"))))
    res = astrometry.compare_catalogs(a, b, max_sep=0.3, equal=True, n_boot=50)
    assert abs(res.sigma_cat_1d - 5.0) < 0.4
    assert any("offset by E +224" in n for n in res.notes)
    assert res.n_matched > 2900
