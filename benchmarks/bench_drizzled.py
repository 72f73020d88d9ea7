"""Benchmark of helpers.sources on the drizzled test bed (issue #13 item 1 and its first number).

For ACS/WFC F814W and NIRCam F200W, pixfrac 1.0, 0.8 and 0.6, a 4-point dither of detector
exposures (SIP distortion, cosmic rays, hot pixels, DQ) is drizzled by STScI's ``drizzle`` engine
into a drc / i2d (``helpers.simulate.drizzled.make_drizzled``), written to FITS and extracted with
defaults (``extract_sources_fits``, full path). Per true-SNR bin it prints, for isolated unflagged
point stars matched to the truth (``helpers.simulate.limits.score_catalog``): the PSF-fit scatter
over the exposures' Cramér–Rao bound (target ≤ 1.15, the information drizzling cannot add), the
pull std of the PSF and windowed paths (target 0.9–1.1), the windowed scatter over the bound,
how many stars kept the PSF fit, and the image's ePSF / noise figures with the drizzle floor
(``meta['drizzle_floor']``: the drizzle's own position error, measured by re-drizzling the instrument's
PSF with the product's drizzle keywords, ``helpers.sources.redrizzle``). Both ratios are measured in
this run against a bound computed for the same stars, so load does not enter them. Exits 1 when a
target is missed (the issue's target is not met yet: the closing note gives the figures).

Each case pools :data:`N_FIELDS` independent fields (>= 150 stars per SNR bin: the std of a pull std
from n values is ~1/sqrt(2n), so a bin of 40 stars alone is +-11 %, the size of the target window).

Run: ``.venv/bin/python benchmarks/bench_drizzled.py`` (about 2-3 minutes on 2 cores);
``acs`` or ``nircam`` for one instrument, ``--pixfrac 1.0`` (repeatable) for some pixfracs,
``--fields N`` for another number of fields, ``--roll DEG`` for exposures at another position angle
(the input grids then lie at that angle on the North-up product, read back from its ``PA_APER``); ``acs06`` (ACS/WFC drc at 0.06"/px from 0.05" exposures)
and ``lw`` (NIRCam LW F444W i2d), the demo's products, and ``acs04`` (ACS/WFC at HAP's 0.04"/px), run only when named; ``truth`` (e.g.
``truth acs06 --pixfrac 1.0``) compares the drizzle floor with the bed's truth on fields of 10x brighter
stars (:func:`truth_floor`).
"""

import sys
import tempfile
import time
import warnings
from pathlib import Path

CENTER = (53.1625, -27.791417)
CASES = {
    # instrument: (detector, filter, native scale "/px, field side ", sky e-/s/px, truth seed, noise seed)
    "acs": ("ACS/WFC", "F814W", 0.05, 23.0, 0.08, 4, 2),
    "nircam": ("NIRCAM/SW", "F200W", 0.031, 14.5, 0.2, 5, 3),
}
#: The demo's pipeline-like products (run by name: ``acs06``, ``lw``): an ACS/WFC drc at 0.06"/px from
#: 0.05" exposures and a NIRCam LW i2d. (instrument: detector, filter, output scale "/px, field side ",
#: sky, truth seed, noise seed; native scale from the detector)
EXTRA_CASES = {
    "acs06": ("ACS/WFC", "F814W", 0.06, 27.5, 0.08, 6, 4),
    "lw": ("NIRCAM/LW", "F444W", 0.063, 29.5, 0.5, 7, 5),
    # HAP's SkyCell scale: an ACS/WFC drc at 0.04"/px from 0.05" exposures
    "acs04": ("ACS/WFC", "F814W", 0.04, 20.5, 0.08, 8, 6),
}
CASES.update(EXTRA_CASES)
PIXFRACS = (1.0, 0.8, 0.6)
FAILURES = []
#: Position angle of the exposures' ideal +Y (degrees; ``--roll``): 0 puts their grids on the North-up
#: product's, the drizzle floor's largest case.
ROLL = [0.0]


#: Independent fields (truth and noise seeds) per case: ~45 stars per SNR bin each, so that every bin
#: holds >= 150 stars (the std of a pull std from n values is ~1/sqrt(2n): +-5.8 % at 150, against the
#: 0.9-1.1 target window).
N_FIELDS = 5


def _product(which, pixfrac, field=0):
    from helpers.simulate import make_truth
    from helpers.simulate.drizzled import isolated, make_drizzled

    from helpers.simulate.detectors import detector

    det, filt, scale, side, sky, seed_truth, seed = CASES[which]
    native = detector(det)["native_scale"]
    truth = make_truth(center=CENTER, size_arcsec=side, n_stars=180, n_galaxies=0, n_pairs=0, n_saturated=0,
                       star_snr=(10, 300), seed=seed_truth + 100 * field)
    truth = isolated(truth, 12 * max(native, scale))
    return make_drizzled(truth, det, filt, shape=(512, 512), out_scale=scale, pixfrac=pixfrac, exptime=500.0,
                         sky=sky, seed=seed + 100 * field, name=f"bench_{which}_{int(pixfrac * 10)}_{field}",
                         roll=ROLL[0])


def _pooled(catalogs, truths, shapes, edge_pix=15.0):
    """One catalog and one truth of several fields (each field's pixels offset by 10^5 in x), so that
    ``score_catalog`` bins all their stars at once."""
    from astropy.table import vstack

    cats, ts = [], []
    for k, (c, t, (ny, nx)) in enumerate(zip(catalogs, truths, shapes)):
        t = t[(t["x"] > edge_pix) & (t["y"] > edge_pix) & (t["x"] < nx - 1 - edge_pix) & (t["y"] < ny - 1 - edge_pix)]
        c, t = c.copy(), t.copy()
        for tab, cols in ((c, ("x", "x_win", "x_psf")), (t, ("x",))):
            for col in cols:
                tab[col] = tab[col] + 1e5 * k
        c.meta, t.meta = {}, {}
        cats.append(c)
        ts.append(t)
    return vstack(cats, metadata_conflicts="silent"), vstack(ts, metadata_conflicts="silent")


def _check(ok, text):
    print(f"    [{'ok' if ok else 'MISSED'}] {text}")
    if not ok:
        FAILURES.append(text)


def run(which, pixfrac, workdir, n_fields=N_FIELDS):
    from helpers.simulate.limits import score_catalog
    from helpers.sources import extract_sources_fits

    cats, truths, shapes, dt = [], [], [], 0.0
    for field in range(n_fields):
        product = _product(which, pixfrac, field)
        path = product.writeto(Path(workdir) / f"{which}_{pixfrac:.1f}_{field}_{product.suffix}.fits")
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cat = extract_sources_fits(path)
        dt += time.perf_counter() - t0
        cats.append(cat)
        truths.append(product.truth)
        shapes.append(product.sci.shape)
    m = cats[0].meta
    floor = m.get("drizzle_floor") or {}
    print(f"  {CASES[which][0]} {CASES[which][1]} pixfrac {pixfrac:.1f}: {n_fields} fields, {sum(map(len, cats))} sources "
          f"in {dt:.1f} s; PSF {m['psf_model']}; FWHM {m['fwhm_pix']:.2f} px; ePSF error "
          f"{m.get('epsf_error_pix') or 0:.4f} px; windowed floor {m['windowed_floor_pix']:.4f} px; drizzle floor "
          f"{floor.get('psf_pix', 0):.4f} px (PSF) {floor.get('windowed_pix', 0):.4f} px (windowed); noise correlation factor {m.get('noise_correlation_factor', 1.0):.2f}, "
          f"Poisson variance ratio {m.get('noise_poisson_variance_ratio')}")
    per_field = lambda key: " ".join(f"{(c.meta.get(key) or 0):.4f}" for c in cats)
    print(f"    per field: ePSF error (cross-validated) {per_field('epsf_error_pix')} px; windowed floor "
          f"{per_field('windowed_floor_pix')} px")
    # n_psf: stars whose catalog position is the PSF fit; n_fit: stars with a PSF fit at all (the
    # catalog's x_psf, y_psf), on which the PSF path's scatter and pulls are scored; cat/CRB: the
    # catalog's own positions (each star's chosen estimator)
    print("    SNR bin     n  n_psf  n_fit  fit/CRB  pull_fit  win/CRB  pull_win  cat/CRB  (chosen PSF: psf/CRB pull)")
    cat, truth = _pooled(cats, truths, shapes)
    rows = score_catalog(cat, truth)
    for r in rows:
        print(f"    {r['snr_lo']:>4.0f}-{r['snr_hi']:<4.0f} {r['n']:>4d} {r['n_psf']:>6d} {r['n_fit']:>6d} "
              f"{r['fit_over_crb']:>8.2f} {r['pull_fit']:>9.2f} {r['windowed_over_crb']:>8.2f} {r['pull_windowed']:>9.2f} "
              f"{r['catalog_over_crb']:>8.2f}  ({r['psf_over_crb']:.2f} {r['pull_psf']:.2f})")
    for r in rows:
        label = f"{which} pixfrac {pixfrac:.1f} SNR {r['snr_lo']:.0f}-{r['snr_hi']:.0f}"
        if r["n_fit"] >= 30:
            _check(r["fit_over_crb"] <= 1.15, f"{label}: PSF-fit scatter {r['fit_over_crb']:.2f}x the exposures' bound <= 1.15")
            _check(0.9 <= r["pull_fit"] <= 1.1, f"{label}: PSF pull std {r['pull_fit']:.2f} in 0.9-1.1")
        else:
            _check(False, f"{label}: only {r['n_fit']} of {r['n']} stars have a PSF fit")
        if r["n"] >= 30:
            _check(0.9 <= r["pull_windowed"] <= 1.1, f"{label}: windowed pull std {r['pull_windowed']:.2f} in 0.9-1.1")


def truth_floor(which, pixfrac, workdir, n_fields=3, boost=10.0):
    """The drizzle floor against the test bed's truth: fields whose stars are ``boost`` x brighter
    (SNR ~300-3000, no cosmic rays, hot pixels or saturation) so that the noise is a small part of the
    position error; the robust (1.4826 MAD) and rms error of the PSF fit and the windowed centroids
    against the truth, beside the floor the extraction added (``meta['drizzle_floor']``) and the ePSF's
    cross-validated error. ``truth acs06`` (say ``--pixfrac``): ACS drc at 0.06"/px from 0.05"."""
    import numpy as np
    from scipy.spatial import cKDTree

    from helpers.simulate import make_truth
    from helpers.simulate.detectors import detector
    from helpers.simulate.drizzled import isolated, make_drizzled
    from helpers.sources import extract_sources_fits

    det, filt, scale, side, sky, seed_truth, seed = CASES[which]
    native = detector(det)["native_scale"]
    d = {"x": [], "x_win": []}
    for field in range(n_fields):
        truth = make_truth(center=CENTER, size_arcsec=side, n_stars=180, n_galaxies=0, n_pairs=0, n_saturated=0,
                           star_snr=(10, 300), seed=seed_truth + 100 * field)
        truth = isolated(truth, 12 * max(native, scale))
        truth["snr_target"] = truth["snr_target"] * boost
        product = make_drizzled(truth, det, filt, shape=(512, 512), out_scale=scale, pixfrac=pixfrac, exptime=500.0,
                                sky=sky, seed=seed + 100 * field, cosmic_rays=False, hot_pixels=False, saturation=False,
                                name=f"truth_{which}_{field}", roll=ROLL[0])
        path = product.writeto(Path(workdir) / f"truth_{which}_{pixfrac:.1f}_{field}_{product.suffix}.fits")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cat = extract_sources_fits(path)
        t, (ny, nx) = product.truth, product.sci.shape
        t = t[(t["x"] > 15) & (t["y"] > 15) & (t["x"] < nx - 16) & (t["y"] < ny - 16)]
        dist, idx = cKDTree(np.c_[cat["x"], cat["y"]]).query(np.c_[t["x"], t["y"]])
        c, t = cat[idx[dist < 1.0]], t[dist < 1.0]
        bright = (np.asarray(t["snr"]) >= 300) & (np.asarray(t["snr"]) < 3000)
        for col, ycol in (("x", "y"), ("x_win", "y_win")):
            e = np.c_[c[col] - t["x"], c[ycol] - t["y"]][bright]
            e = e[np.all(np.isfinite(e), axis=1)]
            d[col].append(e - np.median(e, axis=0))
    floor = cat.meta.get("drizzle_floor") or {}
    print(f"  {det} {filt} {scale}\"/px pixfrac {pixfrac:.1f}, stars {boost:g}x brighter (true SNR 300-3000), "
          f"{n_fields} fields: drizzle floor {floor.get('psf_pix', 0):.4f} px (PSF; re-drizzled total "
          f"{floor.get('psf_total_pix', 0):.4f}, direct {floor.get('psf_direct_pix', 0):.4f}), "
          f"{floor.get('windowed_pix', 0):.4f} px (windowed); ePSF error (cross-validated) {cat.meta.get('epsf_error_pix') or 0:.4f} px")
    for col, label in (("x", "PSF fit"), ("x_win", "windowed")):
        v = np.abs(np.concatenate(d[col])).ravel()
        print(f"    {label:9s} against the truth: {v.size // 2} stars, robust {1.4826 * np.median(v):.4f} px, "
              f"rms {np.sqrt(np.mean(v**2)):.4f} px (rms includes blends and edge stars)")


def main():
    t0 = time.perf_counter()
    from _args import values, words

    args = sys.argv[1:]
    which = words(args, CASES, [c for c in CASES if c not in EXTRA_CASES])
    pixfracs = values(args, "--pixfrac", float, PIXFRACS)
    n_fields = values(args, "--fields", int, [N_FIELDS])[0]
    ROLL[0] = values(args, "--roll", float, [0.0])[0]
    print("Drizzled test bed (issue #13): extraction with defaults against the exposures' Cramér-Rao bound"
          + (f"; exposures at roll {ROLL[0]:g} deg" if ROLL[0] else ""))
    with tempfile.TemporaryDirectory() as workdir:
        if "truth" in args:
            for w in which:
                for pf in pixfracs:
                    truth_floor(w, pf, workdir)
            return 0
        for w in which:
            for pf in pixfracs:
                run(w, pf, workdir, n_fields)
    print(f"bench_drizzled: {len(FAILURES)} target(s) missed; {time.perf_counter() - t0:.0f} s")
    for f in FAILURES:
        print(f"  MISSED: {f}")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
