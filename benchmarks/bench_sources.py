"""Benchmark of helpers.sources (issue #5): precision, calibration, throughput and memory.

Prints ratios measured in this run and exits non-zero if a target is missed:

1. Precision on HST-like simulations (ACS/WFC F814W, 0.05"/px) with every star at SNR 10, 30, 100,
   300: per-axis scatter about the truth / the star's exact Cramér–Rao bound (target ≤ 1.1 with the
   supplied PSF), pull std (target 0.9–1.1), bias of isolated stars (target ≤ 0.01 px). Reported
   for the PSF fit with the true PSF (targets), the PSF fit with the image's own ePSF, the
   windowed centroids (our fast path) and photutils' ``x_centroid_win``.
2. Throughput on a 4096² field with ~5000 sources: our fast path (background, detection,
   windowed positions and errors) vs photutils (Background2D + detect_sources + SourceCatalog +
   windowed centroids; target ≥ 2×) and vs SEP (Background + extract + flux_radius + winpos,
   detecting as deep as the fast path: 4σ of the filtered image; target ≥ 0.7×; SEP at its
   customary 3 pixel-σ, which finds ~20 % fewer sources, is printed beside it), all on the same
   image in this run; full path (PSF refinement) time / fast path
   time (aim ≤ 3×).
3. A 20,000² mosaic FITS (noise everywhere, sources in patches), extracted tile by tile in a
   child process: its peak RSS (target ≤ 3 GB) and wall time.
4. Report only: the demo field's three images (crowded, 0.06"/px, stars to SNR ~5000) with the
   image's own ePSF and with the true PSF, scatter/CRB and pulls per SNR bin.
5. Real files (issue #13; skipped with a message when absent): stars injected into the WFPC2 HDF-S
   mosaic (``HDFS_FITS``, mpdaf 3.6 wheel), pull std (target 0.85-1.15, windowed and PSF fit);
   47 Tuc ACS/HRC flt (spherical-geometry wheel) with defaults: sources, point fraction, time,
   the PSF source and FWHM of both paths, stars injected into the flt (sky not subtracted): the
   fraction of all injected stars found and why the others were lost, and the pull std of the
   unflagged ones (and of those without flags 1|2|8) about their common offset (a frame offset: the
   HRC library PSF's asymmetric core puts a windowed centroid ~0.04 px from the model's centre):
   target 0.85-1.15 on 4 of the 5 seeds per path, the robust pull on all.
6. Cosmic rays (issue #13): a single CR-damaged exposure, fraction of point sources that are CRs.
7. Dense field (issue #13): a star every 24 px, full / fast path time (aim <= 3x; the CPU-time ratio is printed too,
   steadier on a shared machine) and fast path vs SEP;
   the PSF model sampled per stamp (the fits' hot loop) vs per pixel, time and largest difference.

Run: ``.venv/bin/python benchmarks/bench_sources.py`` (about 3–4 minutes on 2 cores); one section
only: ``--section 4`` (or its name: ``precision``, ``throughput``, ``mosaic``, ``demo``, ``real``,
``cosmics``, ``dense``).
"""

import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers import simulate, sources  # noqa: E402
from tests._real_files import Tuc47Injection, injected_pulls, match_injected, robust_std, tuc47_path  # noqa: E402

CENTER = (53.16, -27.79)
FAILURES = []


def check(ok, what):
    print(f"    [{'ok' if ok else 'MISSED'}] {what}")
    if not ok:
        FAILURES.append(what)


def match(cat_x, cat_y, truth, radius=1.0):
    from scipy.spatial import cKDTree

    tree = cKDTree(np.column_stack([cat_x, cat_y]))
    d, j = tree.query(np.column_stack([truth["x"], truth["y"]]))
    return d < radius, j


def photutils_pipeline(data, mask=None):
    """photutils' plain pipeline: Background2D + detect_sources + SourceCatalog + windowed centroids."""
    from astropy.convolution import convolve
    from photutils.background import Background2D, MedianBackground
    from photutils.segmentation import SourceCatalog, detect_sources

    bkg = Background2D(data, (64, 64), filter_size=(3, 3), mask=mask, bkg_estimator=MedianBackground())
    sub = data - bkg.background
    kernel = np.array([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16.0
    conv = convolve(sub, kernel, normalize_kernel=False)
    segm = detect_sources(conv, 3.0 * bkg.background_rms, n_pixels=5, mask=mask)
    cat = SourceCatalog(sub, segm, convolved_data=conv, mask=mask)
    return np.asarray(cat.x_centroid_win), np.asarray(cat.y_centroid_win)


def sep_pipeline(data, mask=None, pixel_sigma=3.0):
    """SEP doing extract + winpos (with flux_radius for the window, as SExtractor does).

    ``pixel_sigma`` is sep's threshold in units of the pixel noise (sep compares the filtered image
    with ``pixel_sigma`` x err). The customary 3 is 8σ of the 3x3-filtered image; the workbook's
    default 4σ of the filtered image is ``4 * _KERNEL_NOISE`` = 1.5 pixel σ.
    """
    import sep

    d = np.ascontiguousarray(data, dtype=np.float32)
    bkg = sep.Background(d, mask=mask, bw=64, bh=64, fw=3, fh=3)
    sub = d - bkg
    sep.set_extract_pixstack(max(300_000, d.size // 8))
    objs = sep.extract(sub, pixel_sigma, err=bkg.globalrms, mask=mask, minarea=5, clean=False)
    r50, _ = sep.flux_radius(sub, objs["x"], objs["y"], np.clip(6 * objs["a"], 3, 60), 0.5,
                             normflux=np.maximum(objs["flux"], 1e-30), subpix=5)
    sig = 2.0 / 2.35 * np.clip(np.nan_to_num(r50, nan=1.0), 0.3, None)
    xw, yw, _ = sep.winpos(sub, objs["x"], objs["y"], sig, mask=mask)
    return xw, yw


def best_times(fn, repeat=2):
    """Best wall-clock and best CPU time (s) of ``repeat`` calls, and the last result: on a shared
    machine the CPU time of this single-threaded code is the steadier of the two."""
    wall, cpu, out = np.inf, np.inf, None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        wall, cpu = min(wall, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
    return wall, cpu, out


def best_time(fn, repeat=2):
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


# ---------------------------------------------------------------------------------------------
def precision():
    print("1. Precision on HST-like simulations (ACS/WFC F814W, 0.05\"/px, 2048², stars at one SNR each)")
    rows = []
    for k, snr in enumerate((10, 30, 100, 300)):
        truth = simulate.make_truth(center=CENTER, size_arcsec=2048 * 0.05, n_stars=700, n_galaxies=60, n_pairs=0,
                                    n_saturated=0, star_snr=(snr, snr * 1.0001), seed=100 + k)
        img = simulate.make_image(truth, simulate.ImageSpec(shape=(2048, 2048), center=CENTER, seed=200 + k))
        t = img.truth
        # Isolated stars: no other source of the truth within 4 FWHM (two stars 0.5 px apart are
        # one source to any extractor; they are not what the precision target is about).
        from scipy.spatial import cKDTree

        d_nn, _ = cKDTree(np.column_stack([t["x"], t["y"]])).query(np.column_stack([t["x"], t["y"]]), k=2)
        star = (np.asarray(t["kind"]).astype(str) == "star") & (d_nn[:, 1] > 4 * img.fwhm_pix)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            variants = {
                "psf (true PSF)": sources.extract_sources(img.data, img.wcs, error=img.error, weight=img.weight,
                                                          psf=img.psf),
                "psf (own ePSF)": sources.extract_sources(img.data, img.wcs, error=img.error, weight=img.weight),
            }
        for name, cat in variants.items():
            m, j = match(cat["x"], cat["y"], t)
            sel = m & star
            c = cat[j[sel]]
            tt = t[sel]
            ok = (np.asarray(c["flags"]) == 0) & (np.asarray(c["kind"]) == "point")
            c, tt = c[ok], tt[ok]
            for label, xc, yc, ex, ey in (("", "x", "y", "x_err", "y_err"),
                                          ("windowed", "x_win", "y_win", "x_win_err", "y_win_err")):
                if label and name != "psf (true PSF)":
                    continue
                dx = np.asarray(c[xc] - tt["x"])
                dy = np.asarray(c[yc] - tt["y"])
                ratio = np.sqrt((np.mean((dx / tt["crb_x"]) ** 2) + np.mean((dy / tt["crb_y"]) ** 2)) / 2)
                pull = np.std(np.concatenate([dx / np.asarray(c[ex]), dy / np.asarray(c[ey])]))
                frac_psf = np.mean(np.asarray(c["method"]) == "psf")
                rows.append(dict(snr=snr, estimator=label or name, n=len(c), ratio=ratio, pull=pull,
                                 bias=max(abs(dx.mean()), abs(dy.mean())), psf_frac=frac_psf if not label else 0.0))
        # photutils' windowed centroid on the same image (no errors: no pulls)
        xw, yw = photutils_pipeline(img.data, mask=~(img.weight > 0))
        m, j = match(xw, yw, t)
        sel = m & star
        dx = xw[j[sel]] - np.asarray(t["x"])[sel]
        dy = yw[j[sel]] - np.asarray(t["y"])[sel]
        crbx, crby = np.asarray(t["crb_x"])[sel], np.asarray(t["crb_y"])[sel]
        good = np.hypot(dx / crbx, dy / crby) < 50  # drop blends/mismatches (> 50 sigma)
        ratio = np.sqrt((np.mean((dx[good] / crbx[good]) ** 2) + np.mean((dy[good] / crby[good]) ** 2)) / 2)
        rows.append(dict(snr=snr, estimator="photutils x_centroid_win", n=int(good.sum()), ratio=ratio, pull=np.nan,
                         bias=max(abs(dx[good].mean()), abs(dy[good].mean())), psf_frac=0.0))
    print(f"    {'SNR':>4} {'estimator':<26} {'N':>5} {'scatter/CRB':>11} {'pull std':>8} {'|bias| px':>9} {'psf frac':>8}")
    for r in rows:
        print(f"    {r['snr']:>4} {r['estimator']:<26} {r['n']:>5} {r['ratio']:>11.3f} {r['pull']:>8.3f} "
              f"{r['bias']:>9.4f} {r['psf_frac']:>8.2f}")
    for r in rows:
        if r["estimator"] == "psf (true PSF)":
            check(r["ratio"] <= 1.1, f"SNR {r['snr']}: scatter/CRB {r['ratio']:.3f} <= 1.1 (PSF fit, true PSF)")
            check(0.9 <= r["pull"] <= 1.1, f"SNR {r['snr']}: pull std {r['pull']:.3f} in 0.9-1.1 (PSF fit, true PSF)")
            check(r["bias"] <= 0.01, f"SNR {r['snr']}: |bias| {r['bias']:.4f} px <= 0.01 (PSF fit, true PSF)")
        if r["estimator"] in ("psf (own ePSF)", "windowed"):
            check(0.9 <= r["pull"] <= 1.1, f"SNR {r['snr']}: pull std {r['pull']:.3f} in 0.9-1.1 ({r['estimator']})")
    return rows


def throughput():
    print("2. Throughput on a 4096² field with ~5000 sources (same image, same run, best of 2)")
    truth = simulate.make_truth(center=CENTER, size_arcsec=4096 * 0.05, n_stars=3000, n_galaxies=2000, n_pairs=40,
                                n_saturated=10, star_snr=(5, 1000), seed=7)
    img = simulate.make_image(truth, simulate.ImageSpec(shape=(4096, 4096), center=CENTER, seed=7))
    data = img.data.astype(np.float32)
    err = img.error.astype(np.float32)
    wht = img.weight.astype(np.float32)
    mask = ~(wht > 0)
    mpix = data.size / 1e6
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_fast, cat = best_time(lambda: sources.extract_sources(data, img.wcs, error=err, weight=wht,
                                                                use_psf_fit=False))
        t_full, cat_full = best_time(lambda: sources.extract_sources(data, img.wcs, error=err, weight=wht))
    # SEP at the fast path's detection depth (4σ of the filtered image; see sep_pipeline) and at 3 pixel-σ
    from helpers.sources.detection import _KERNEL_NOISE

    t_sep, (xs, _) = best_time(lambda: sep_pipeline(data, mask=mask, pixel_sigma=4.0 * _KERNEL_NOISE))
    t_sep3, (xs3, _) = best_time(lambda: sep_pipeline(data, mask=mask))
    t_phot, (xp, _) = best_time(lambda: photutils_pipeline(data, mask=mask), repeat=1)
    print(f"    ours fast path : {t_fast:6.2f} s  {mpix / t_fast:6.1f} Mpix/s  ({len(cat)} sources)")
    print(f"    ours full path : {t_full:6.2f} s  {mpix / t_full:6.1f} Mpix/s  ({np.sum(cat_full['method'] == 'psf')} PSF fits,"
          f" {cat_full.meta['psf_model']})")
    print(f"    SEP, same depth: {t_sep:6.2f} s  {mpix / t_sep:6.1f} Mpix/s  ({len(xs)} sources)")
    print(f"    SEP, 3 pixel-σ : {t_sep3:6.2f} s  {mpix / t_sep3:6.1f} Mpix/s  ({len(xs3)} sources; fast path vs it "
          f"{t_sep3 / t_fast:.2f}x)")
    print(f"    photutils      : {t_phot:6.2f} s  {mpix / t_phot:6.1f} Mpix/s  ({len(xp)} sources)")
    check(t_phot / t_fast >= 2.0, f"fast path vs photutils: {t_phot / t_fast:.2f}x >= 2x")
    check(t_sep / t_fast >= 0.7, f"fast path vs SEP at the same depth: {t_sep / t_fast:.2f}x >= 0.7x")
    check(t_full / t_fast <= 3.0, f"full path / fast path time: {t_full / t_fast:.2f} <= 3 (aim)")
    return dict(fast=t_fast, full=t_full, sep=t_sep, phot=t_phot)


def dense_field():
    """Issue #13: full path / fast path time on a dense field, a star every 24 px (aim <= 3x), same run."""
    print("2b. Dense field: a star every 24 px on 2048² (same image, same run, best of 2)")
    side = 2048
    n_stars = (side // 24) ** 2
    truth = simulate.make_truth(center=CENTER, size_arcsec=side * 0.05, n_stars=n_stars, n_galaxies=0, n_pairs=0,
                                n_saturated=0, star_snr=(10, 500), seed=24)
    img = simulate.make_image(truth, simulate.ImageSpec(shape=(side, side), center=CENTER, seed=24))
    data, err, wht = img.data.astype(np.float32), img.error.astype(np.float32), img.weight.astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_fast, c_fast, cat = best_times(lambda: sources.extract_sources(data, img.wcs, error=err, weight=wht,
                                                                         use_psf_fit=False))
        t_full, c_full, cat_full = best_times(lambda: sources.extract_sources(data, img.wcs, error=err, weight=wht))
    # SEP at the fast path's own detection depth (the same job: 4σ of the filtered image, default
    # deblending), and at its customary 3 pixel-σ (8σ filtered: fewer, brighter detections)
    from helpers.sources.detection import _KERNEL_NOISE

    t_sep, (xs, _) = best_time(lambda: sep_pipeline(data, pixel_sigma=4.0 * _KERNEL_NOISE))
    t_sep3, (xs3, _) = best_time(lambda: sep_pipeline(data))
    print(f"    {n_stars} stars; fast {t_fast:.2f} s ({len(cat)} sources), full {t_full:.2f} s "
          f"({np.sum(cat_full['method'] == 'psf')} PSF fits, PSF {cat_full.meta['psf_source']}); "
          f"SEP at the same depth {t_sep:.2f} s ({len(xs)} sources), at 3 pixel-σ {t_sep3:.2f} s ({len(xs3)}: "
          f"fast path vs it {t_sep3 / t_fast:.2f}x); "
          f"load average {os.getloadavg()[0]:.1f}; CPU time full / fast {c_full / c_fast:.2f} "
          f"({c_full:.2f} / {c_fast:.2f} s)")
    # the PSF fits' hot loop: the model on every stamp, once per source vs per pixel (same values)
    from helpers.sources.library import library_psf
    from helpers.sources.psf import _PRF
    from helpers.sources.stamps import _prf_on_stamps, _stamp_index

    prf = _PRF(library_psf("ACS/WFC", "F814W", 0.05))
    sx, sy = np.asarray(cat_full["x"], float), np.asarray(cat_full["y"], float)

    def per_pixel():
        px, py, _ = _stamp_index(sx, sy, 5, data.shape)
        return prf.sample(px - sx[:, None, None], py - sy[:, None, None], grad=True)

    t_pix, ref = best_time(per_pixel, repeat=3)
    t_stamp, got = best_time(lambda: _prf_on_stamps(prf, sx, sy, 5, grad=True), repeat=3)
    px, py, inside = _stamp_index(sx, sy, 5, data.shape)
    worst = max(float(np.max(np.abs(np.where(inside, a - b, 0.0))) / np.max(np.abs(a))) for a, b in zip(ref, got))
    print(f"    PSF model on {len(sx)} 11x11 stamps with gradients: per pixel (map_coordinates) {t_pix * 1e3:.0f} ms, "
          f"per stamp {t_stamp * 1e3:.0f} ms ({t_pix / t_stamp:.1f}x), largest difference {worst:.1e} of the peak")
    check(worst < 1e-12, f"dense field: the per-stamp PSF sampling equals the per-pixel one ({worst:.1e})")
    check(t_full / t_fast <= 3.0, f"dense field: full path / fast path time {t_full / t_fast:.2f} <= 3")
    check(t_sep / t_fast >= 0.7, f"dense field: fast path vs SEP at the same depth {t_sep / t_fast:.2f}x >= 0.7x")


MOSAIC_CHILD = r"""
import resource, sys, time, warnings, json
sys.path.insert(0, {root!r})
from helpers import sources
t0 = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    cat = sources.extract_sources_fits({path!r}, progress=False)
dt = time.perf_counter() - t0
print(json.dumps(dict(n=len(cat), seconds=dt, rss_gb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
                      n_tiles=cat.meta["n_tiles"], psf=cat.meta["psf_model"], n_psf=int((cat["method"] == "psf").sum()))))
"""


def write_mosaic(path, side=20000, seed=5):
    """A 20k² float32 FITS written block by block: noise everywhere, simulated sources in patches."""
    from astropy.io import fits

    truth = simulate.make_truth(center=CENTER, size_arcsec=1024 * 0.05, n_stars=250, n_galaxies=150, n_pairs=5,
                                n_saturated=2, star_snr=(10, 500), seed=seed)
    patch = simulate.make_image(truth, simulate.ImageSpec(shape=(1024, 1024), center=CENTER, seed=seed,
                                                          chip_gap=False))
    noise_sigma = float(np.median(patch.error[patch.weight > 0]))
    spec = simulate.ImageSpec(shape=(side, side), center=CENTER, seed=seed)
    wcs = simulate._build_wcs(spec, CENTER, 0.05)
    header = fits.Header()
    header["SIMPLE"] = True
    header["BITPIX"] = -32
    header["NAXIS"] = 2
    header["NAXIS1"] = side
    header["NAXIS2"] = side
    header.update(wcs.to_header())
    header["INSTRUME"] = "ACS"
    header["DETECTOR"] = "WFC"
    header["FILTER"] = "F814W"
    header["BUNIT"] = "ELECTRONS/S"
    rng = np.random.default_rng(seed)
    # Patches: a 5x5 grid of 1024² patches (every ~4000 px), the central one included.
    step = side // 5
    starts = [step // 2 - 512 + k * step for k in range(5)]
    patch_data = (patch.data - patch.data[patch.weight > 0].mean() * 0).astype(np.float32)
    patch_data[patch.weight == 0] = 0
    hdu = fits.StreamingHDU(path, header)
    block = 1000
    for y0 in range(0, side, block):
        rows = rng.normal(0.0, noise_sigma, (min(block, side - y0), side)).astype(np.float32)
        for py in starts:
            lo, hi = max(py, y0), min(py + 1024, y0 + rows.shape[0])
            if lo >= hi:
                continue
            for px in starts:
                rows[lo - y0:hi - y0, px:px + 1024] += patch_data[lo - py:hi - py]
        hdu.write(rows.astype(">f4"))
    hdu.close()
    return len(starts) ** 2 * len(patch.truth)


def mosaic():
    print("3. 20,000² mosaic (FITS on disk, read tile by tile; extraction in a child process)")
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        path = str(Path(tmp) / "mosaic_20k.fits")
        t0 = time.perf_counter()
        n_true = write_mosaic(path)
        print(f"    wrote {path} ({os.path.getsize(path) / 1e9:.1f} GB, ~{n_true} sources) in {time.perf_counter() - t0:.0f} s")
        code = MOSAIC_CHILD.format(root=str(Path(__file__).resolve().parents[1]), path=path)
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if res.returncode != 0:
            print(res.stderr[-2000:])
            check(False, "20k² mosaic extraction completed")
            return None
        import json

        out = json.loads(res.stdout.strip().splitlines()[-1])
    print(f"    {out['n']} sources in {out['n_tiles']} tiles, {out['seconds']:.1f} s "
          f"({400 / out['seconds']:.1f} Mpix/s), peak RSS {out['rss_gb']:.2f} GB, {out['n_psf']} PSF fits ({out['psf']})")
    check(out["rss_gb"] <= 3.0, f"20k² peak RSS {out['rss_gb']:.2f} GB <= 3 GB")
    check(out["n"] > 0.8 * n_true, f"20k² found {out['n']} of ~{n_true} sources")
    return out


def demo_images():
    """Report only (no target): the three demo-field images (crowded, undersampled at 0.06"/px,
    stars to SNR ~5000), ePSF built from each image vs the true PSF."""
    from scipy.spatial import cKDTree

    print("4. Demo field images (report only): PSF fit with the image's own ePSF vs the true PSF")
    truth, specs = simulate.demo_field()
    bins = [(5, 20), (20, 60), (60, 200), (200, 1000), (1000, 1e5)]
    print(f"    {'image':<28} {'PSF':<5} " + " ".join(f"{f'{lo:g}-{hi:g}':>14}" for lo, hi in bins))
    for spec in specs:
        img = simulate.make_image(truth, spec)
        t = img.truth
        d_nn, _ = cKDTree(np.column_stack([t["x"], t["y"]])).query(np.column_stack([t["x"], t["y"]]), k=2)
        for label, psf in (("ePSF", None), ("true", img.psf)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cat = sources.extract_sources(img.data, img.wcs, error=img.error, weight=img.weight, psf=psf)
            m, j = match(cat["x"], cat["y"], t)
            sel = m & (np.asarray(t["kind"]).astype(str) == "star") & (d_nn[:, 1] > 4 * img.fwhm_pix)
            c, tt = cat[j[sel]], t[sel]
            ok = (np.asarray(c["flags"]) == 0) & (np.asarray(c["kind"]) == "point")
            c, tt = c[ok], tt[ok]
            snr = np.asarray(tt["snr"])
            cells = []
            for lo, hi in bins:
                b = (snr >= lo) & (snr < hi)
                if b.sum() < 5:
                    cells.append(f"{'-':>14}")
                    continue
                dx = np.asarray(c["x"] - tt["x"])[b]
                dy = np.asarray(c["y"] - tt["y"])[b]
                ratio = np.sqrt((np.mean((dx / tt["crb_x"][b]) ** 2) + np.mean((dy / tt["crb_y"][b]) ** 2)) / 2)
                pull = np.std(np.concatenate([dx / np.asarray(c["x_err"])[b], dy / np.asarray(c["y_err"])[b]]))
                cells.append(f"{ratio:6.2f}/{pull:4.2f}({b.sum():>3})")
            print(f"    {spec.name[:28]:<28} {label:<5} " + " ".join(cells))
    print("    cells: scatter/CRB / pull std (N isolated unflagged point stars); SNR bins from the truth")


# ---------------------------------------------------------------------------------------------
def _real_file(env, *candidates):
    """A real file from an environment variable or known places, or None (the section then skips)."""
    paths = [os.environ.get(env)] if os.environ.get(env) else []
    paths += [str(c) for c in candidates]
    return next((Path(q) for q in paths if q and Path(q).exists()), None)


def real_files():
    """Issue #13: injected-star pulls on the WFPC2 HDF-S mosaic (both paths, stars rendered with the PSF
    the extraction uses there: the WFPC2 instrument model, the image having too few stars for an ePSF);
    47 Tuc ACS/HRC flt with defaults (sources, point fraction, time, PSF source) and stars injected
    into it (sky not subtracted)."""
    import importlib.util

    from astropy.io import fits
    from astropy.wcs import WCS

    from helpers.sources.library import library_psf

    print("5. Real files (issue #13)")
    hdfs = _real_file("HDFS_FITS", "/tmp/mpdaf/mpdaf/data/obj/HST-HDFS.fits")
    spec_m = importlib.util.find_spec("mpdaf")
    if hdfs is None and spec_m is not None and spec_m.submodule_search_locations:
        hdfs = _real_file("HDFS_FITS", Path(list(spec_m.submodule_search_locations)[0]) / "data/obj/HST-HDFS.fits")
    if hdfs is None:
        print("    HDF-S skipped: set HDFS_FITS to mpdaf/data/obj/HST-HDFS.fits from the mpdaf 3.6 wheel "
              "(pip download --no-deps mpdaf==3.6; unzip)")
    else:
        base = fits.getdata(hdfs, 1).astype(np.float32)
        wcs = WCS(fits.getheader(hdfs, 1))
        sky_sigma = 1.4826 * np.median(np.abs(base - np.median(base)))
        meta = {"instrument": "WFPC2", "filter": "F606W", "pixel_scale": 0.0399}
        psf = library_psf("WFPC2", "F606W", 0.0399)
        img, px, py = simulate.inject_gaussian_stars(base, sky_sigma, np.random.default_rng(13), psf=psf)
        for label, use_psf in (("windowed", False), ("PSF fit", True)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cat = sources.extract_sources(img, wcs, progress=False, use_psf_fit=use_psf, meta=meta)
            pulls, _ = injected_pulls(cat, px, py, frame=False)
            pull = float(np.std(pulls))
            check(0.85 <= pull <= 1.15,
                  f"HDF-S {label:<9} {len(pulls) // 2} injected stars, pull std {pull:.2f} (target 0.85-1.15); "
                  f"PSF {cat.meta['psf_source']}, FWHM {cat.meta['fwhm_pix']:.2f} px, noise corr "
                  f"{cat.meta.get('noise_correlation')}, error factor {cat.meta.get('noise_correlation_factor', 1.0):.2f}")
    tuc = _real_file("TUC47_FLT", tuc47_path() or "")
    if tuc is None:
        print("    47 Tuc skipped: install spherical-geometry 1.4.0 (ships tests/data/j8bt06nyq_flt.fits)")
        return
    fwhm = {}
    for label, use_psf in (("fast", False), ("full", True)):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cat = sources.extract_sources_fits(tuc, progress=False, use_psf_fit=use_psf)
        elapsed = time.perf_counter() - start
        fwhm[label] = cat.meta["fwhm_pix"]
        bright = np.asarray(cat["snr"]) > 20
        point = float(np.mean(np.asarray(cat["kind"])[bright] == "point")) if bright.any() else float("nan")
        print(f"    47 Tuc ACS/HRC flt, defaults, {label} path: PSF {cat.meta['psf_source']}, FWHM {fwhm[label]:.2f} px "
              f"({cat.meta['fwhm_source']}), DQ-masked {cat.meta.get('dq_masked_pixels')} px, "
              f"confusion {cat.meta.get('confusion_scale', 1.0):.1f}x")
        check(len(cat) >= 2000, f"47 Tuc {label}: {len(cat)} sources (target >= 2000)")
        check(elapsed <= 30.0, f"47 Tuc {label}: {elapsed:.1f} s (target <= 30 s, load average {os.getloadavg()[0]:.1f})")
        check(point >= 0.7, f"47 Tuc {label}: {point:.1%} of {bright.sum()} SNR > 20 sources classed point "
              "(target >= 70 %)")
    check(abs(fwhm["fast"] / fwhm["full"] - 1) < 0.01, f"47 Tuc: fast and full paths read the same FWHM "
          f"({fwhm['fast']:.3f} / {fwhm['full']:.3f} px)")
    lib = library_psf("ACS/HRC", "F606W", 0.025)
    check(abs(fwhm["full"] / lib.fwhm_pix - 1) < 0.10, f"47 Tuc: the image's stars ({fwhm['full']:.2f} px) and the "
          f"drizzlepac HRC F606W library PSF ({lib.fwhm_pix:.2f} px) agree on the FWHM (within 10 %)")
    bed = Tuc47Injection(tuc)
    seen = {"windowed": [], "PSF fit": []}
    for seed in TUC47_SEEDS:
        img, px, py = bed.inject(seed)
        if seed == TUC47_SEEDS[0]:
            print(f"    47 Tuc injection: {len(px)} of {bed.n_grid} grid positions free of the flt's own sources' light "
                  "(< 20 % of the injected peak)")
        for label, use_psf in (("windowed", False), ("PSF fit", True)):
            cat = bed.extract(img, use_psf_fit=use_psf)
            if seed == TUC47_SEEDS[0]:
                _tuc47_recovery(cat, img, bed, px, py, label)
            seen[label].append(_tuc47_pulls(cat, px, py, label, seed))
    # issue #13: injection pulls 0.85-1.15; one seed's pull std is good to ±4-6 %, so 4 seeds of 5
    for label, got in seen.items():
        stds, robusts = [g[0] for g in got], [g[1] for g in got]
        n_in = sum(0.85 <= v <= 1.15 for v in stds)
        check(n_in >= len(stds) - 1 and all(0.85 <= r <= 1.15 for r in robusts),
              f"47 Tuc {label}: unflagged pull std in 0.85-1.15 on {n_in} of {len(stds)} seeds "
              f"({', '.join(f'{v:.2f}' for v in stds)}), robust {min(robusts):.2f}-{max(robusts):.2f} (target: 4 of 5, robust all)")


#: Injection seeds of the 47 Tuc pulls (5: one seed's ~130 unflagged stars give a pull std to ±6 %,
#: and a handful of blends per seed set it).
TUC47_SEEDS = (47, 1, 2, 3, 4)


def _tuc47_recovery(cat, img, bed, px, py, label):
    """Recovery of every injected star, not only of the easy ones: found within 1 px; a lost star
    either has no detection within 2 px (below the crowded field's detection limit, or merged into a
    neighbour's detection) or one 1-2 px away (confused with a neighbour)."""
    d_near = np.array([np.min(np.hypot(np.asarray(cat["x"]) - x, np.asarray(cat["y"]) - y)) for x, y in zip(px, py)])
    found = d_near < 1.0
    if label == "windowed":
        # found fraction against the injected star's SNR on the confusion noise (detection is at
        # threshold x confusion): the faint ones are below the crowded field's detection limit
        added = img - bed.sci
        peak = np.array([added[int(round(y)) - 2:int(round(y)) + 3, int(round(x)) - 2:int(round(x)) + 3].max()
                         for x, y in zip(px, py)])
        peak_conf = peak / (np.median(bed.err) * cat.meta.get("confusion_scale", 1.0))
        cells = []
        for lo, hi in ((0, 2), (2, 4), (4, 8), (8, np.inf)):
            b = (peak_conf >= lo) & (peak_conf < hi)
            cells.append(f"peak {lo:g}-{hi:g} confusion-σ: {found[b].sum()}/{b.sum()}")
        print("    47 Tuc injection found: " + "; ".join(cells))
    print(f"    47 Tuc flt (sky not subtracted) {label}: {found.sum()} of {len(px)} injected stars found within 1 px "
          f"({found.mean():.0%}); lost: {np.sum(d_near >= 2.0)} with no detection within 2 px, "
          f"{np.sum((d_near >= 1.0) & (d_near < 2.0))} with one 1-2 px away")


def _tuc47_pulls(cat, px, py, label, seed):
    """One seed's pulls, about the injected stars' common offset (the frame offset every comparison
    fits and removes): of the unflagged stars (the target), of those without flags 1|2|8, and of the
    stars flagged as blends (4) alone, whose errors carry their measured blend offset."""
    clean, offset = injected_pulls(cat, px, py, flags_off=~0)
    pulls, _ = injected_pulls(cat, px, py, flags_off=1 | 2 | 8)
    raw, _ = injected_pulls(cat, px, py, flags_off=~0, frame=False)
    j, found = match_injected(cat, px, py)
    flags = np.asarray(cat["flags"])[j]
    n_blend = int(np.sum(found & (flags & 4 > 0) & (flags & (1 | 2 | 8) == 0)))
    # the blends the PSF path sees (flag 64 alone): their errors carry the measured windowed - PSF offset
    seen = found & (flags == 64)
    offs = np.concatenate([(np.asarray(cat["x"])[j[seen]] - px[seen] - offset[0]) / np.asarray(cat["x_err"])[j[seen]],
                           (np.asarray(cat["y"])[j[seen]] - py[seen] - offset[1]) / np.asarray(cat["y_err"])[j[seen]]])
    seen_text = (f"; {seen.sum()} flagged 'blend offset' only: pull std {np.std(offs):.2f}, robust {robust_std(offs):.2f}"
                 if seen.any() else "")
    ok = 0.85 <= np.std(clean) <= 1.15 and 0.85 <= robust_std(clean) <= 1.15
    print(f"    [{'ok' if ok else 'open'}] 47 Tuc {label} seed {seed}: {len(clean) // 2} unflagged: pull std "
          f"{np.std(clean):.2f}, robust {robust_std(clean):.2f} (target 0.85-1.15){seen_text}; {len(pulls) // 2} without "
          f"flags 1|2|8 (of them {n_blend} flagged blended): {np.std(pulls):.2f}, robust {robust_std(pulls):.2f}; about "
          f"the common offset {offset[0]:+.3f}, {offset[1]:+.3f} px (without removing it {np.std(raw):.2f}, robust "
          f"{robust_std(raw):.2f})")
    if seed == TUC47_SEEDS[0]:
        print(f"    47 Tuc {label} by catalog SNR (without flags 1|2|8): " + _pulls_by_snr(cat, px, py, offset)
              + f"; crowding term median {cat.meta.get('crowding_sigma_median', float('nan')):.1f} image units, "
              f"confusion correlation {cat.meta.get('crowding_correlation_factor', 1.0):.2f}, windowed frame offset "
              f"{cat.meta.get('windowed_offset_pix')}")
    return float(np.std(clean)), robust_std(clean)


def _pulls_by_snr(cat, px, py, offset, edges=(0, 50, 100, 200, np.inf)):
    """Per catalog-SNR bin: N, median reported error and robust scatter (1.4826 MAD of the offsets
    about the common ``offset``, px) of the injected stars matched within 1 px without flags 1|2|8.
    A reported error that grows with SNR while the scatter falls says the error model reads the
    star's own light (the confusion annulus), not its neighbours'."""
    cx, cy, snr, flags = (np.asarray(cat[c]) for c in ("x", "y", "snr", "flags"))
    j, found = match_injected(cat, px, py)
    keep = found & ((flags[j] & (1 | 2 | 8)) == 0)
    i = j[keep]
    r = np.column_stack([cx[i] - px[keep] - offset[0], cy[i] - py[keep] - offset[1], np.asarray(cat["x_err"])[i],
                         np.asarray(cat["y_err"])[i], snr[i]])
    cells = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        b = (r[:, 4] >= lo) & (r[:, 4] < hi)
        if b.any():
            scatter = 1.4826 * np.median(np.abs(r[b, :2]))
            cells.append(f"SNR {lo:g}-{hi:g}: {b.sum()} stars, error {np.median(r[b, 2:4]):.3f} / scatter {scatter:.3f} px")
    return "; ".join(cells)


# ---------------------------------------------------------------------------------------------
def cosmic_rays():
    """Issue #13: a single CR-damaged 1000 s ACS/HRC-like exposure (electrons; stars rendered with the
    drizzlepac HRC F606W PSF, 1.5 % of the pixels hit, tracks 1-6 px), fast and full paths: the fraction of
    SNR > 20 point sources that are cosmic rays (target <= 10 %), and the FWHM read."""
    from astropy.wcs import WCS
    from scipy.spatial import cKDTree

    from helpers.sources.library import library_psf

    print("6. Cosmic rays (issue #13)")
    rng = np.random.default_rng(2024)
    shape = (768, 768)
    sky, read_noise = 80.0, 5.0
    psf = library_psf("ACS/HRC", "F606W", 0.025)
    clean, px, py = simulate.inject_gaussian_stars(np.zeros(shape, np.float32), np.sqrt(sky + read_noise**2), rng,
                                                   psf=psf, spacing=30, margin=20, snr_range=(10.0, 400.0))
    damaged = clean.astype(float)
    n_hit, target, events = 0, 0.015 * damaged.size, []
    while n_hit < target:
        length = int(rng.integers(1, 7))
        x0, y0, ang = rng.uniform(5, shape[1] - 5), rng.uniform(5, shape[0] - 5), rng.uniform(0, np.pi)
        t = np.arange(length) - (length - 1) / 2
        cx = np.clip(np.rint(x0 + t * np.cos(ang)).astype(int), 0, shape[1] - 1)
        cy = np.clip(np.rint(y0 + t * np.sin(ang)).astype(int), 0, shape[0] - 1)
        damaged[cy, cx] += rng.lognormal(np.log(300.0), 0.8, size=length)
        events.append((x0, y0))
        n_hit += length
    noise = np.sqrt(sky + read_noise**2 + np.clip(clean, 0, None))
    data = (damaged + sky + rng.normal(0, 1, shape) * noise).astype(np.float32)
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [6.02, -72.08]
    wcs.wcs.crpix = [shape[1] / 2, shape[0] / 2]
    wcs.wcs.cdelt = [-0.025 / 3600, 0.025 / 3600]
    print(f"    {len(px)} stars, {len(events)} cosmic-ray events ({n_hit} pixels), true FWHM {psf.fwhm_pix:.2f} px")
    meta = {"instrument": "ACS/HRC", "filter": "F606W", "pixel_scale": 0.025, "image_frame": "detector"}
    for label, use_psf in (("fast", False), ("full", True)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cat = sources.extract_sources(data, wcs, error=noise.astype(np.float32), progress=False,
                                          use_psf_fit=use_psf, meta=meta)
        d_star, _ = cKDTree(np.column_stack([px, py])).query(np.column_stack([cat["x"], cat["y"]]))
        is_star = d_star < 1.5
        kind = np.asarray(cat["kind"])
        bright_point = (kind == "point") & (np.asarray(cat["snr"]) > 20)
        cr_frac = float(np.mean(~is_star[bright_point])) if bright_point.any() else float("nan")
        star_point = float(np.mean(kind[is_star & (np.asarray(cat["snr"]) > 20)] == "point"))
        check(cr_frac <= 0.10, f"CR exposure, {label} path: {cr_frac:.1%} of {bright_point.sum()} SNR > 20 point "
              f"sources are cosmic rays (target <= 10 %); {star_point:.0%} of the stars classed point; "
              f"{int(np.sum(kind == 'artifact'))} artifacts; FWHM {cat.meta['fwhm_pix']:.2f} px; PSF {cat.meta['psf_source']}")


def main():
    t0 = time.perf_counter()
    names = ["precision", "throughput", "mosaic", "demo", "real", "cosmics", "dense"]
    args = sys.argv[1:]
    # ``--section N`` (1-4, repeatable) is the same as naming the section: ``--section 4`` == ``demo``.
    which = [a for a in args if a in names]
    which += [names[int(args[i + 1]) - 1] if args[i + 1].isdigit() else args[i + 1]
              for i, a in enumerate(args) if a == "--section" and i + 1 < len(args)]
    which = which or names
    if "precision" in which:
        precision()
    if "throughput" in which:
        throughput()
    if "mosaic" in which:
        mosaic()
    if "demo" in which:
        demo_images()
    if "real" in which:
        real_files()
    if "cosmics" in which:
        cosmic_rays()
    if "dense" in which:
        dense_field()
    print(f"bench_sources: {len(FAILURES)} target(s) missed; {time.perf_counter() - t0:.0f} s; "
          f"this process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2:.2f} GB")
    for f in FAILURES:
        print(f"  MISSED: {f}")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
