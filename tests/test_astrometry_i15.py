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
