"""Real HST files shipped in PyPI wheels, and the injection set-up run on them, shared by the tests and
``benchmarks/bench_sources.py`` (one copy of how the 47 Tuc flt is read and where stars are injected).

Not a test module (no ``test_`` prefix): it imports neither pytest nor the tests' fixtures, so a
benchmark can import it with the repository root on ``sys.path``."""

import importlib.util
import warnings
from pathlib import Path

import numpy as np

#: The 47 Tuc ACS/HRC F606W flt (60 s, 1024², SCI/ERR/DQ in electrons, sky not subtracted) that
#: spherical-geometry 1.4.0 ships in its wheel.
TUC47_PARTS = ("spherical_geometry", "tests", "data", "j8bt06nyq_flt.fits")
#: The catalog meta the flt's headers give (detector frame: a distorted flt with a TAN-only WCS).
TUC47_META = {"instrument": "ACS/HRC", "filter": "F606W", "pixel_scale": 0.025, "image_frame": "detector"}


def package_file(package, *parts):
    """A data file shipped inside an installed package (real HST files in PyPI wheels), or None."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]).joinpath(*parts)
    return path if path.exists() else None


def tuc47_path():
    """Path of the 47 Tuc flt, or None when spherical-geometry 1.4.0 is not installed."""
    return package_file(*TUC47_PARTS)


def read_flt(path):
    """SCI, ERR (float32, electrons), the DQ mask (True = bad) and the celestial WCS of an flt."""
    from astropy.io import fits
    from astropy.wcs import WCS

    from helpers.sources.images import dq_mask

    with fits.open(path) as h:
        sci = h["SCI"].data.astype(np.float32)
        err = h["ERR"].data.astype(np.float32)
        bad = dq_mask(h["DQ"].data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the flt's TAN-only distortion warning
            wcs = WCS(h["SCI"].header, h)
    return sci, err, bad, wcs


class Tuc47Injection:
    """Stars injected into the real 47 Tuc flt (sky not subtracted), with the drizzlepac HRC F606W
    library PSF, on a 32-px jittered grid at SNR 30-300, only where the flt's own sources (its
    fast-path catalog) put < 20 % of the injected star's peak at its centre (the rest sit in bright
    stars' wings, below the local confusion, and say nothing about the error model).

    The flt's own catalog is measured once; :meth:`inject` draws one seed's stars and
    :meth:`extract` runs the extraction (windowed or PSF path) on the injected image.
    """

    def __init__(self, path):
        from helpers import sources
        from helpers.sources.library import library_psf

        self.path = path
        self.sci, self.err, self.bad, self.wcs = read_flt(path)
        self.meta = dict(TUC47_META)
        self.psf = library_psf("ACS/HRC", "F606W", 0.025)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.base = sources.extract_sources(self.sci, self.wcs, error=self.err, mask=self.bad, progress=False,
                                                use_psf_fit=False, meta=self.meta)
        self.n_grid = len(np.arange(40, self.sci.shape[0] - 40, 32)) ** 2

    def inject(self, seed):
        """(image, x, y): the flt with one seed's stars added, and their true 0-based positions."""
        from helpers import simulate

        return simulate.inject_gaussian_stars(self.sci, float(np.median(self.err)), np.random.default_rng(seed),
                                              psf=self.psf, spacing=32, snr_range=(30.0, 300.0),
                                              avoid=(self.base["x"], self.base["y"], self.base["flux"]))

    def extract(self, image, use_psf_fit):
        """The catalog of ``image`` with the flt's ERR and DQ mask (warnings silenced)."""
        from helpers import sources

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return sources.extract_sources(image, self.wcs, error=self.err, mask=self.bad, progress=False,
                                           use_psf_fit=use_psf_fit, meta=self.meta)


def match_injected(cat, px, py, radius=1.0):
    """Index of the nearest catalog source to each injected star and whether it is within ``radius`` px."""
    cx, cy = np.asarray(cat["x"]), np.asarray(cat["y"])
    d = np.hypot(cx[None, :] - np.asarray(px)[:, None], cy[None, :] - np.asarray(py)[:, None])
    j = np.argmin(d, axis=1)
    return j, d[np.arange(len(px)), j] < radius


def injected_pulls(cat, px, py, flags_off=0, frame=True):
    """Pulls (x then y) of the injected stars matched within 1 px, skipping those with any of the
    ``flags_off`` flags, and the common offset (median dx, dy, pixels) removed from them when
    ``frame`` (else zeros): the frame offset every comparison fits and removes."""
    j, found = match_injected(cat, px, py)
    keep = found & ((np.asarray(cat["flags"])[j] & flags_off) == 0)
    j = j[keep]
    dx = np.asarray(cat["x"])[j] - np.asarray(px)[keep]
    dy = np.asarray(cat["y"])[j] - np.asarray(py)[keep]
    offset = (float(np.median(dx)), float(np.median(dy))) if frame and dx.size else (0.0, 0.0)
    return np.concatenate([(dx - offset[0]) / np.asarray(cat["x_err"])[j],
                           (dy - offset[1]) / np.asarray(cat["y_err"])[j]]), offset


def robust_std(values):
    """1.4826 × the median absolute value (the pulls are about zero by construction)."""
    return float(1.4826 * np.median(np.abs(values)))
