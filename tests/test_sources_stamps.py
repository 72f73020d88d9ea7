"""The PSF model sampled on pixel stamps once per source (stamps._prf_on_stamps, the PSF fits' hot
loop on dense fields) equals the per-pixel cubic-spline interpolation it replaces."""

import numpy as np
import pytest

from helpers.sources.fitting import _fit_psf, _render_models
from helpers.sources.background import _Noise
from helpers.sources.library import library_psf
from helpers.sources.psf import _PRF
from helpers.sources.stamps import _prf_on_stamps, _stamp_index


@pytest.fixture(scope="module")
def prf():
    return _PRF(library_psf("ACS/WFC", "F814W", 0.05))


def _per_pixel(prf, x, y, radius, centre=None):
    ix, iy = (np.rint(x), np.rint(y)) if centre is None else centre
    k = np.arange(-radius, radius + 1)
    dx, dy = np.broadcast_arrays(ix[:, None, None] + k[None, None, :] - x[:, None, None],
                                 iy[:, None, None] + k[None, :, None] - y[:, None, None])
    return prf.sample(dx, dy, grad=True)


@pytest.mark.parametrize("radius", [3, 5, 9])
def test_stamps_equal_the_per_pixel_interpolation(prf, radius):
    rng = np.random.default_rng(radius)
    x, y = rng.uniform(-5, 300, 500), rng.uniform(-5, 300, 500)
    fast = _prf_on_stamps(prf, x, y, radius, grad=True)
    for a, b in zip(_per_pixel(prf, x, y, radius), fast):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-12 * np.abs(a).max())
    np.testing.assert_allclose(_prf_on_stamps(prf, x, y, radius), fast[0], rtol=0, atol=0)


def test_stamps_kept_while_positions_move_and_taps_off_the_model(prf):
    rng = np.random.default_rng(1)
    x, y = rng.uniform(50, 60, 200), rng.uniform(50, 60, 200)
    centre = (np.rint(x), np.rint(y))
    moved_x, moved_y = x + rng.uniform(-1.2, 1.2, 200), y + rng.uniform(-1.2, 1.2, 200)
    got = _prf_on_stamps(prf, moved_x, moved_y, 5, grad=True, centre=centre)
    for a, b in zip(_per_pixel(prf, moved_x, moved_y, 5, centre), got):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-12 * np.abs(a).max())
    # a stamp as large as the model: taps leave its array, the per-pixel sampler is used (exactly)
    big = int(prf.half_pix) + 1
    for a, b in zip(_per_pixel(prf, x[:5], y[:5], big), _prf_on_stamps(prf, x[:5], y[:5], big, grad=True)):
        np.testing.assert_array_equal(b, a)


def test_fit_and_rendering_unchanged_near_the_image_edge(prf):
    # stamps that _stamp_index clips at the image edge: the clipped pixels carry no weight
    rng = np.random.default_rng(2)
    shape = (80, 80)
    x, y = np.array([1.3, 40.2, 78.6]), np.array([39.7, 0.8, 77.9])
    model = _render_models(shape, x, y, np.array([1e4, 2e4, 3e4]), prf, 5)
    px, py, inside = _stamp_index(x, y, 5, shape)
    p = prf.sample(px - x[:, None, None], py - y[:, None, None]) * np.array([1e4, 2e4, 3e4])[:, None, None]
    ref = np.bincount(py[inside] * 80 + px[inside], weights=p[inside], minlength=6400).reshape(shape)
    np.testing.assert_allclose(model, ref, rtol=0, atol=1e-9)
    image = model + rng.normal(0, 3.0, shape)
    fit = _fit_psf(image, _Noise(scalar_rms=3.0), np.zeros(shape, bool), x + 0.3, y - 0.2, np.full(3, 1e4), prf, 5)
    assert fit["ok"].all()
    np.testing.assert_allclose(fit["x"], x, atol=0.05)
    np.testing.assert_allclose(fit["y"], y, atol=0.05)
