"""Record a planner-like target list built from the real WFPC2 HDF-South mosaic (issue #14).

The image is ``mpdaf/data/obj/HST-HDFS.fits`` from the ``mpdaf`` 3.6 wheel on PyPI (WFPC2
F606W drizzled cut-out, 500^2 px, 0.0399"/px, DATE-OBS 1998-09-28; public HST data):

    pip download --no-deps mpdaf==3.6 -d /tmp/mpdaf
    cd /tmp/mpdaf && unzip -o mpdaf-3.6-*.whl 'mpdaf/data/obj/HST-HDFS.fits'
    PYTHONPATH=. .venv/bin/python tests/data/targets/make_hdfs_targets.py /tmp/mpdaf/mpdaf/data/obj/HST-HDFS.fits

Sources are measured on the image with ``helpers.sources.extract_sources_fits``; those with
SNR >= 5 become the targets. Two files are written next to this script:

``hdfs_truth.ecsv``
    ``id, ra, dec`` (deg, ICRS, the image's own frame: its measured positions), ``snr`` and
    the injected perturbation in ``meta``.
``hdfs_targets.cat``
    SExtractor ``ASCII_HEAD`` catalog as a survey team would hand it over: ``NUMBER``,
    ``ALPHA_J2000``, ``DELTA_J2000`` (deg), ``MAG_AUTO`` (instrumental), ``MAGERR_AUTO``,
    ``FLUX_RADIUS`` (pix), ``FLAGS`` and the planner's ``PRIORITY`` (1 = brightest third).
    Its positions are the truth moved by a known frame offset (E, N) and rotation about the
    list's centre, plus Gaussian scatter per axis (see ``PERTURBATION``): what phase 2 must
    recover when it judges the list against the image.
"""

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
PERTURBATION = {"offset_east_mas": 350.0, "offset_north_mas": -200.0, "rotation_arcsec": 720.0,
                "scatter_mas_per_axis": 20.0, "seed": 14}
MIN_SNR = 5.0


def main(image_path):
    import hashlib

    from astropy.table import Table

    from helpers.skyplane import sky_to_tangent, tangent_to_sky
    from helpers.sources import extract_sources_fits

    cat = extract_sources_fits(image_path, progress=False)
    cat = cat[cat["snr"] >= MIN_SNR]
    cat.sort("flux", reverse=True)
    n = len(cat)
    ids = np.arange(1, n + 1)
    truth = Table({"id": ids, "ra": np.asarray(cat["ra"]), "dec": np.asarray(cat["dec"]),
                   "snr": np.round(np.asarray(cat["snr"]), 2)})
    truth["ra"].unit = truth["dec"].unit = "deg"
    ra0, dec0 = float(np.mean(truth["ra"])), float(np.mean(truth["dec"]))

    rng = np.random.default_rng(PERTURBATION["seed"])
    east, north = sky_to_tangent(truth["ra"], truth["dec"], ra0, dec0, unit="mas")
    theta = np.radians(PERTURBATION["rotation_arcsec"] / 3600.0)
    east_r = np.cos(theta) * east - np.sin(theta) * north
    north_r = np.sin(theta) * east + np.cos(theta) * north
    sigma = PERTURBATION["scatter_mas_per_axis"]
    east_p = east_r + PERTURBATION["offset_east_mas"] + rng.normal(0, sigma, n)
    north_p = north_r + PERTURBATION["offset_north_mas"] + rng.normal(0, sigma, n)
    ra_p, dec_p = tangent_to_sky(east_p, north_p, ra0, dec0, unit="mas")

    digest = hashlib.sha256(Path(image_path).read_bytes()).hexdigest()
    truth.meta.update({"image": "mpdaf 3.6 wheel: mpdaf/data/obj/HST-HDFS.fits", "image_sha256": digest,
                       "min_snr": MIN_SNR, "tangent_point_deg": [ra0, dec0], "perturbation": PERTURBATION,
                       "recorded_by": "tests/data/targets/make_hdfs_targets.py"})
    truth.write(HERE / "hdfs_truth.ecsv", overwrite=True)

    flux = np.asarray(cat["flux"], float)
    mag = -2.5 * np.log10(np.clip(flux, 1e-30, None))
    magerr = 1.0857 * np.asarray(cat["flux_err"], float) / np.clip(flux, 1e-30, None)
    priority = 1 + (np.arange(n) * 3 // n)  # sorted by flux: brightest third = priority 1
    header = [
        "#   1 NUMBER                 Running object number",
        "#   2 ALPHA_J2000            Right ascension of barycenter (J2000)                      [deg]",
        "#   3 DELTA_J2000            Declination of barycenter (J2000)                          [deg]",
        "#   4 MAG_AUTO               Kron-like elliptical aperture magnitude (zeropoint 0)      [mag]",
        "#   5 MAGERR_AUTO            RMS error for AUTO magnitude                               [mag]",
        "#   6 FLUX_RADIUS            Fraction-of-light radii                                    [pixel]",
        "#   7 FLAGS                  Extraction flags",
        "#   8 PRIORITY               Planner's priority (1 = most wanted)",
    ]
    rows = [f"{i:10d} {r:15.9f} {d:+15.9f} {m:8.4f} {e:8.4f} {fr:10.3f} {f:3d} {p:3d}"
            for i, r, d, m, e, fr, f, p in zip(ids, ra_p, dec_p, mag, magerr, np.asarray(cat["r50"], float),
                                               np.asarray(cat["flags"], int), priority)]
    (HERE / "hdfs_targets.cat").write_text("\n".join(header + rows) + "\n")
    print(f"{n} targets written to {HERE}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/mpdaf/mpdaf/data/obj/HST-HDFS.fits")
