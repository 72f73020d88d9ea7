"""Issue #13 item 5: the header readers against real HST/JWST headers (tests/data/headers, PROVENANCE.md).

Each test builds a minimal image from a real header (zeros with the header copied unedited, the data cut
to a few pixels) and checks what `helpers.sources.read_image`, `helpers.archive.wcs_provenance` and
`helpers.sources.redrizzle.drizzle_parameters` say against what the header says. The expected values
were read from the header text, not from running the code: each is written with the keyword it comes from.
"""

import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from helpers.archive.provenance import decode_wcsname, wcs_provenance
from helpers.errors import WorkbookError
from helpers.sources import read_image
from ._real_files import package_file

HEADERS = Path(__file__).parent / "data" / "headers"


def real_header(name):
    """A header recorded in tests/data/headers, as astropy reads it."""
    return fits.Header.fromtextfile(HEADERS / f"{name}.hdr")


def minimal_image(path, primary, sci, shape=(64, 64), extra=()):
    """A FITS file with the real ``primary`` and ``sci`` headers and zero data of ``shape`` (NAXISn of the
    header replaced by the array's: a 4-D uncal becomes a 2-D plane, the only change made)."""
    sci = sci.copy()
    for key in ("NAXIS3", "NAXIS4"):
        sci.remove(key, ignore_missing=True)
    hdus = [fits.PrimaryHDU(header=primary), fits.ImageHDU(np.zeros(shape, np.float32), header=sci, name="SCI")]
    fits.HDUList(hdus + list(extra)).writeto(path, overwrite=True)
    return Path(path)


def _read(path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        image = read_image(path)
    image["hdul"].close()
    return image["meta"], [str(w.message) for w in caught]


# ----------------------------------------------------------------------------------------------------
# ACS/WFC flt with SIP (astropy 8.0.2 wcs test data, j94f05bgq_flt.fits)
# ----------------------------------------------------------------------------------------------------

def test_acs_wfc_flt_with_sip(tmp_path):
    path = minimal_image(tmp_path / "j94f05bgq_flt.fits", real_header("j94f05bgq_flt_primary"),
                         real_header("j94f05bgq_flt_sci1"), shape=(2048, 4096))
    meta, said = _read(path)
    assert meta["instrument"] == "ACS/WFC"              # INSTRUME = 'ACS', DETECTOR = 'WFC'
    assert meta["filter"] == "F606W"                    # FILTER1 = 'F606W', FILTER2 = 'CLEAR2L'
    # CD1_1 = 1.29056256197165E-05, CD2_1 = 5.0220581265601E-06 -> 0.04985"/px along x;
    # CD1_2 = 5.95309123310338E-06, CD2_2 = -1.2644774105568E-05 -> 0.05031"/px along y; mean 0.05008
    assert meta["pixel_scale"] == pytest.approx(0.05008, abs=2e-5)
    assert meta["distortion"].startswith("SIP")         # CTYPE1 = 'RA---TAN-SIP', A_ORDER = 4
    # DGEOFILE = 'jref$qbu16424j_dxy.fits': the residual distortion image the SIP-only WCS does not hold
    assert "ignored: DGEOFILE = jref$qbu16424j_dxy.fits" in meta["distortion"]
    assert [s for s in said if "DGEOFILE = jref$qbu16424j_dxy.fits" in s and "stwcs.updatewcs" in s]
    assert meta["image_frame"] == "detector"            # an flt: one exposure on the detector
    assert meta["wcsname"] == "IDC_qbu1641sj"
    # EXPSTART = 5.343628571938E+04 (MJD) = 2005-03-04
    assert meta["epoch"] == pytest.approx(2005.17, abs=0.01)
    assert not [s for s in said if "TAN-only" in s]
    prov = wcs_provenance(path)
    assert prov["has_celestial_wcs"]
    assert prov["aligned_to"] == "guide stars only"     # IDC_<idctab>: no a-posteriori fit
    assert prov["n_exposures"] == 1                     # NCOMBINE = 1, one flt
    assert prov["filter"] == "F606W" and prov["instrument"] == "ACS/WFC"


# ----------------------------------------------------------------------------------------------------
# ACS/WFC SCI with SIP + D2IM + NPOL (astropy 8.0.2 wcs test data, dist_lookup.fits.gz)
# ----------------------------------------------------------------------------------------------------

def test_flt_whose_lookup_tables_are_absent_is_refused_in_one_line_naming_them(tmp_path):
    primary = fits.Header({"TELESCOP": "HST", "INSTRUME": "ACS", "DETECTOR": "WFC", "FILTER1": "F606W",
                           "FILTER2": "CLEAR2L"})
    path = minimal_image(tmp_path / "x_flt.fits", primary, real_header("dist_lookup_sci"), shape=(100, 100))
    with pytest.raises(WorkbookError) as info:
        read_image(path)
    text = str(info.value)
    assert "\n" not in text
    # D2IMDIS1 = 'Lookup', D2IM1.EXTVER = 1, D2IMEXT = 'new_wfc_d2i.fits';
    # CPDIS1 = 'Lookup', DP1.EXTVER = 1, NPOLEXT = 'qbu16424j_npl.fits'
    assert "D2IMARR,1" in text and "new_wfc_d2i.fits" in text
    assert "WCSDVARR,1" in text and "qbu16424j_npl.fits" in text
    assert "download the whole flt/flc again" in text
    prov = wcs_provenance(path)
    assert not prov["has_celestial_wcs"] and "qbu16424j_npl.fits" in prov["provenance"]


def test_flt_with_its_lookup_tables_uses_sip_d2im_npol_in_reader_and_provenance(tmp_path):
    src = package_file("astropy", "wcs", "tests", "data", "dist_lookup.fits.gz")
    if src is None:
        pytest.skip("astropy's wcs test data not installed")
    with fits.open(src) as hdul:
        hdul[0].header["TELESCOP"] = "HST"
        hdul[0].header["INSTRUME"] = "ACS"
        hdul[0].header["DETECTOR"] = "WFC"
        hdul.writeto(tmp_path / "y_flt.fits")
    meta, _ = _read(tmp_path / "y_flt.fits")
    assert meta["distortion"] == "SIP+D2IM+NPOL (full astropy WCS)"
    prov = wcs_provenance(tmp_path / "y_flt.fits")
    # the provenance read the WCS without the file's look-up arrays and called it "no celestial WCS"
    assert prov["has_celestial_wcs"]
    assert prov["pixel_scale"] == pytest.approx(0.050, abs=0.001)
# ----------------------------------------------------------------------------------------------------
# NIRCam (jwst 3.0.0 wheel, jw01075001001_03105_00009_nrca2_uncal.fits)
# ----------------------------------------------------------------------------------------------------

def test_nircam_exposure_filter_pupil_scale_and_exposure_count(tmp_path):
    path = minimal_image(tmp_path / "jw01075001001_03105_00009_nrca2_cal.fits",
                         real_header("jw01075001001_nrca2_primary"), real_header("jw01075001001_nrca2_sci"))
    meta, _ = _read(path)
    assert meta["filter"] == "F210M"                    # FILTER = 'F210M', PUPIL = 'MASKRND' (a mask)
    assert meta["instrument"] == "NIRCAM"
    # CDELT1 = 8.48358611111111E-06, CDELT2 = 8.56869444444444E-06 deg (PC orthonormal): 0.030694"/px
    assert meta["pixel_scale"] == pytest.approx(0.030694, abs=2e-6)
    prov = wcs_provenance(path)
    # NEXPOSUR = 12 is the "Total number of planned exposures in visit": this file is one of them
    assert prov["n_exposures"] == 1
    assert prov["telescope"] == "JWST"


# ----------------------------------------------------------------------------------------------------
# Exposures vs chips (WFPC2 HDF-S mosaic, mpdaf 3.6 wheel; AstroDrizzle's per-chip D00n records)
# ----------------------------------------------------------------------------------------------------

def test_hdfs_mosaic_combines_48_exposures_of_4_chips(tmp_path):
    from helpers.archive.provenance import exposure_count
    from helpers.sources.redrizzle import drizzle_parameters

    drizzle = real_header("hdfs_wfpc2_drizzle")
    # D001DATA = '050b_1_scl.hhh' ... D004DATA = '050b_4_scl.hhh', D005DATA = '0602_1_scl.hhh', ...:
    # 192 chip files, 4 per exposure; NDRIZIM = 192
    assert exposure_count(drizzle) == (48, "D00nDATA (WFPC2 chips grouped)")
    params = drizzle_parameters(drizzle)
    assert params["n_inputs"] == 192                    # the noise floor's phases: every chip
    assert params["n_exposures"] == 48
    # D00nPIXF: 144 WF chips at 0.5, 48 PC chips at 0.6; D00nSCAL: WF 0.3999-0.4001, PC 0.8748
    assert params["pixfrac"] == 0.5
    assert params["scale_ratio"] == pytest.approx(0.4, abs=1e-3)
    primary = real_header("hdfs_wfpc2_primary")
    primary.update(drizzle)
    path = minimal_image(tmp_path / "hdfs_drz.fits", primary, real_header("hdfs_wfpc2_data"))
    prov = wcs_provenance(path)
    assert prov["n_exposures"] == 48                    # was NDRIZIM = 192 (chips)
    assert prov["filter"] == "F606W"                    # FILTNAM1 = 'F606W' (FILTER1 = 28 is a wheel code)


def test_acs_wfc_drc_counts_exposures_not_chips():
    """AstroDrizzle writes one D00n record per chip, ``<rootname>_flc.fits[sci,1]`` and ``[sci,2]``, and
    drizzlepac's own NUMEXP is the number of distinct files (processing_utils.refine_product_headers:
    "Compute numexp as number of exposures NOT chips")."""
    from helpers.archive.provenance import exposure_count
    from helpers.sources.redrizzle import drizzle_parameters

    header = fits.Header({"INSTRUME": "ACS", "DETECTOR": "WFC", "NDRIZIM": 4})
    for n, (root, chip) in enumerate([("j94f05bgq", 1), ("j94f05bgq", 2), ("j94f05bhq", 1), ("j94f05bhq", 2)], 1):
        header[f"D{n:03d}DATA"] = f"{root}_flc.fits[sci,{chip}]"
        header[f"D{n:03d}PIXF"] = 0.8
        header[f"D{n:03d}SCAL"] = 0.05
        header[f"D{n:03d}ISCL"] = 0.05
    assert exposure_count(header) == (2, "D00nDATA")
    params = drizzle_parameters(header)
    assert (params["n_inputs"], params["n_exposures"]) == (4, 2)
    header["NUMEXP"] = 2                                # a HAP product says it itself
    assert exposure_count(header) == (2, "NUMEXP")


# ----------------------------------------------------------------------------------------------------
# JWST i2d resample keywords (stdatamodels 6.0.0 core.schema meta.resample: NDRIZ, RESWHT, PIXFRAC,
# PXSCLRT in the primary header; no KERNEL keyword)
# ----------------------------------------------------------------------------------------------------

def test_jwst_i2d_resample_keywords_and_missing_kernel_warns():
    from helpers.sources.redrizzle import drizzle_parameters

    primary = real_header("jw01075001001_nrca2_primary")
    primary.update({"NDRIZ": 9, "RESWHT": "ivm", "PIXFRAC": 1.0, "PXSCLRT": 1.0, "S_RESAMP": "COMPLETE"})
    with pytest.warns(UserWarning, match="no KERNEL keyword .*square assumed"):
        params = drizzle_parameters(primary, fits.Header())
    assert params["kernel"] == "square" and "kernel_note" in params
    assert params["n_inputs"] == 9 and params["n_exposures"] == 9   # NDRIZ, not the default 4
    assert params["weight_type"] == "ivm"
    assert params["pixfrac"] == 1.0 and params["scale_ratio"] == 1.0
    from helpers.archive.provenance import exposure_count

    # NEXPOSUR = 12 (planned in the visit) beside NDRIZ = 9 (combined here)
    assert exposure_count(primary) == (9, "NDRIZ")


# ----------------------------------------------------------------------------------------------------
# WCS names as the pipelines write them (drizzlepac 3.11.0 haputils/align_utils.py,
# mvm_quality_analysis.py wcs_pref_list; runastrodriz.py wcs_preference; jwst 3.0.0 tweakreg_step.py)
# ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("wcsname, aligned_to, method_has, gaia", [
    ("IDC_0461802ej-FIT_REL_GAIAeDR3", "Gaia DR3", "relative fit of the exposures, then to the catalog", True),
    ("IDC_0461802ej-FIT_SVM_GAIAeDR3", "Gaia DR3", "single visit (HAP SVM)", True),
    ("FIT_SVM_GAIAEDR3", "Gaia DR3", "single visit (HAP SVM)", True),
    ("IDC_0461802ej-FIT_IMG_GAIADR2", "Gaia DR2", "each exposure to the catalog", True),
    # a fit to the GSC 2.4.2 catalog is a-posteriori (it was decoded as the a-priori GSC240 correction)
    ("FIT_SVM_GSC242", "GSC 2.4.2", "a-posteriori fit of the single visit", False),
    ("IDC_4bb1536oj-FIT_IMG_GSC242", "GSC 2.4.2", "a-posteriori fit of each exposure", False),
    ("IDC_4bb1536oj-GSC240", "GSC 2.4 (Gaia-corrected guide stars, a priori)", "a-priori correction", False),
    # drizzlepac's catalog 'NONE': aligned to each other only (it said "then to the catalog")
    ("IDC_0461802ej-FIT_REL_NONE", "guide stars only", "relative fit of the exposures only", False),
    ("IDC_qbu1641sj", "guide stars only", "pipeline default", False),   # j94f05bgq_flt.fits
    ("FIT-LVL3-GAIADR3", "Gaia DR3", "JWST tweakreg", True),
])
def test_wcsnames_decoded_to_their_alignment(wcsname, aligned_to, method_has, gaia):
    decoded = decode_wcsname(wcsname)
    assert decoded["aligned_to"] == aligned_to
    assert method_has in decoded["method"]
    assert decoded["gaia"] is gaia


# ----------------------------------------------------------------------------------------------------
# JWST WCS name from the ASDF extension (jwst 3.0.0: tweakreg names the gWCS 'FIT-LVL3-<abs_refcat>';
# the gWCS is jwst's tweakreg test mosaic_long_i2d_gwcs.asdf, the headers the NIRCam exposure's)
# ----------------------------------------------------------------------------------------------------

def _asdf_extension(tree):
    """An ``ASDF`` BinTable extension as stdatamodels writes it: the ASDF file's bytes in one
    ``ASDF_METADATA`` cell (the NIRCam uncal's extension is such a 1R x 1C table)."""
    import io

    import asdf

    buffer = io.BytesIO()
    asdf.AsdfFile(tree).write_to(buffer)
    blob = np.frombuffer(buffer.getvalue(), dtype=np.uint8)
    column = fits.Column(name="ASDF_METADATA", format=f"{blob.size}B", array=blob[None, :])
    return fits.BinTableHDU.from_columns([column], name="ASDF")


def test_jwst_wcs_name_comes_from_the_asdf_gwcs(tmp_path):
    asdf = pytest.importorskip("asdf")
    pytest.importorskip("gwcs")
    with asdf.open(HEADERS / "mosaic_long_i2d_gwcs.asdf", lazy_load=False, memmap=False) as af:
        gwcs = af.tree["wcs"]
    gwcs.name = "FIT-LVL3-GAIADR3"                      # as tweakreg_step.py names an absolute fit
    primary, sci = real_header("jw01075001001_nrca2_primary"), real_header("jw01075001001_nrca2_sci")
    assert "WCSNAME" not in primary and "WCSNAME" not in sci
    path = minimal_image(tmp_path / "jw01075-o001_t001_nircam_f210m_i2d.fits", primary, sci,
                         extra=[_asdf_extension({"meta": {"wcs": gwcs}})])
    prov = wcs_provenance(path)
    assert prov["wcsname"] == "FIT-LVL3-GAIADR3"
    assert prov["aligned_to"] == "Gaia DR3" and prov["gaia"]
    meta, _ = _read(path)
    assert meta["wcsname"] == "FIT-LVL3-GAIADR3"
    # the real exposure's own ASDF tree has no gWCS (an uncal): no name, as before
    plain = minimal_image(tmp_path / "jw01075001001_03105_00009_nrca2_rate.fits", primary, sci,
                          extra=[_asdf_extension({"meta": {"filename": "x"}})])
    assert wcs_provenance(plain)["aligned_to"] == "guide stars only"


# ----------------------------------------------------------------------------------------------------
# Recorded inputs of a HAP product (drizzlepac 3.11.0: ExposureProduct.copy_exposure sets the renamed
# copy's FILENAME to its HAP name; the *_header_hap.rules put ROOTNAME, EXTNAME, EXTVER, FILENAME,
# WCSNAME in HDRTAB, one row per input chip)
# ----------------------------------------------------------------------------------------------------

def _hap_svm_product(path, hdrtab_rows):
    primary = real_header("j94f05bgq_flt_primary")
    hap = ["hst_10368_05_acs_wfc_f606w_j94f05bg_flc.fits", "hst_10368_05_acs_wfc_f606w_j94f05bh_flc.fits"]
    primary.update({"HAPLEVEL": 2, "NUMEXP": 2, "FILTER": "F606W",
                    "ROOTNAME": "hst_10368_05_acs_wfc_f606w_j94f05bg",
                    "FILENAME": "hst_10368_05_acs_wfc_f606w_j94f05bg_drc.fits"})
    for n, (name, chip) in enumerate([(hap[0], 1), (hap[0], 2), (hap[1], 1), (hap[1], 2)], 1):
        primary[f"D{n:03d}DATA"] = f"{name}[sci,{chip}]"
    from astropy.table import Table

    table = fits.BinTableHDU(Table(rows=hdrtab_rows, names=("ROOTNAME", "EXTNAME", "EXTVER", "FILENAME", "WCSNAME")),
                             name="HDRTAB")
    return minimal_image(path, primary, real_header("j94f05bgq_flt_sci1"), extra=[table]), hap


def test_hap_inputs_are_named_by_their_rootname_not_the_renamed_copy(tmp_path):
    from helpers.archive import recorded_inputs

    rows = [("j94f05bgq", "SCI", 1, "hst_10368_05_acs_wfc_f606w_j94f05bg_flc.fits", "IDC_qbu1641sj-FIT_SVM_GAIAeDR3"),
            ("j94f05bgq", "SCI", 2, "hst_10368_05_acs_wfc_f606w_j94f05bg_flc.fits", "IDC_qbu1641sj-FIT_SVM_GAIAeDR3"),
            ("j94f05bhq", "SCI", 1, "hst_10368_05_acs_wfc_f606w_j94f05bh_flc.fits", "IDC_qbu1641sj-FIT_SVM_GAIAeDR3"),
            ("j94f05bhq", "SCI", 2, "hst_10368_05_acs_wfc_f606w_j94f05bh_flc.fits", "IDC_qbu1641sj-FIT_SVM_GAIAeDR3")]
    path, hap = _hap_svm_product(tmp_path / "hst_10368_05_acs_wfc_f606w_j94f05bg_drc.fits", rows)
    inputs, source = recorded_inputs(path)
    # the archive's files are <ROOTNAME>_flc.fits; FILENAME holds the HAP copy's name, like D00nDATA
    assert inputs == [(hap[0], "j94f05bgq_flc.fits"), (hap[1], "j94f05bhq_flc.fits")]
    assert source == "D00nDATA+HDRTAB"
    prov = wcs_provenance(path)
    assert prov["n_exposures"] == 2                     # NUMEXP = 2 (4 chips)


# ----------------------------------------------------------------------------------------------------
# HAP MVM: the alignment is the input exposures', read from HDRTAB (rows per chip)
# ----------------------------------------------------------------------------------------------------

def _hap_mvm_product(path, rows, sci_wcsname=None):
    from astropy.table import Table

    primary = real_header("j94f05bgq_flt_primary")
    primary.update({"HAPLEVEL": 4, "SCELLID": "p0121x10y15", "FILTER": "F606W",
                    "FILENAME": "hst_skycell-p0121x10y15_acs_wfc_f606w_all_drc.fits"})
    sci = real_header("j94f05bgq_flt_sci1")
    if sci_wcsname is None:
        sci.remove("WCSNAME")
    else:
        sci["WCSNAME"] = sci_wcsname
    table = fits.BinTableHDU(Table(rows=rows, names=("ROOTNAME", "EXTVER", "WCSNAME", "EXPSTART", "EXPTIME")),
                             name="HDRTAB")
    return minimal_image(path, primary, sci, extra=[table])


def test_mvm_alignment_comes_from_its_inputs_in_hdrtab(tmp_path):
    gaia, gsc = "IDC_qbu1641sj-FIT_SVM_GAIAeDR3", "IDC_qbu1641sj-FIT_SVM_GSC242"
    rows = [("j94f05bgq", 1, gaia, 53436.2857, 400.0), ("j94f05bgq", 2, gaia, 53436.2857, 400.0),
            ("jc8m10syq", 1, gsc, 55000.0, 400.0), ("jc8m10syq", 2, gsc, 55000.0, 400.0)]
    name = "hst_skycell-p0121x10y15_acs_wfc_f606w_all_drc.fits"
    prov = wcs_provenance(_hap_mvm_product(tmp_path / name, rows))
    assert prov["hap"] == "MVM"
    # one exposure on Gaia DR3, one on GSC 2.4.2: the mosaic is as good as its worst input
    assert prov["aligned_to"] == "GSC 2.4.2" and not prov["gaia"]
    assert "Gaia DR3 1, GSC 2.4.2 1 of 2" in prov["provenance"]
    assert gaia in prov["wcsname"] and gsc in prov["wcsname"]
    # 2 exposures (4 chip rows); epoch the exposure-weighted mean of 53436.29 and 55000.00 (+200 s)
    assert "2 exposures" in prov["provenance"]
    assert prov["epoch"] == pytest.approx(2000.0 + (0.5 * (53436.2857 + 55000.0) + 200.0 / 86400 - 51544.5) / 365.25,
                                          abs=0.01)
    meta, _ = _read(tmp_path / name)
    assert meta["wcsname"] == f"{gaia}; {gsc}"
    # all inputs on Gaia: the SCI WCSNAME a template left does not decide
    rows = [(r[0], r[1], gaia, r[3], r[4]) for r in rows]
    (tmp_path / "b").mkdir()
    prov = wcs_provenance(_hap_mvm_product(tmp_path / "b" / name, rows, sci_wcsname="IDC_qbu1641sj"))
    assert prov["aligned_to"] == "Gaia DR3" and prov["gaia"]
    assert "all 2 input exposures: Gaia DR3" in prov["provenance"]


# ----------------------------------------------------------------------------------------------------
# WFC3/IR flt SCI header (printed in spacetelescope/stak's images.imutil notebook, record_doc_headers.py)
# ----------------------------------------------------------------------------------------------------

def test_wfc3_ir_flt_sip_and_its_rectangular_pixels(tmp_path):
    # the notebook prints the SCI header only: the primary's instrument keywords are what its IDCTAB
    # (iref$w3m18525i_idc.fits, a WFC3 reference file) and 1014 x 1014 format say
    primary = fits.Header({"TELESCOP": "HST", "INSTRUME": "WFC3", "DETECTOR": "IR"})
    path = minimal_image(tmp_path / "iczgs3ygq_flt.fits", primary, real_header("iczgs3ygq_flt_sci1"),
                         shape=(1014, 1014))
    meta, said = _read(path)
    assert meta["instrument"] == "WFC3/IR"
    # CD1_1 = -3.1758778512629E-05, CD2_1 = -2.0157648752092E-05 -> 0.13542"/px along x;
    # CD1_2 = -1.8099259044494E-05, CD2_2 = 2.83052387051731E-05 -> 0.12095"/px along y; mean 0.12818
    assert meta["pixel_scale"] == pytest.approx(0.12818, abs=2e-5)
    assert meta["distortion"].startswith("SIP")         # CTYPE1 = 'RA---TAN-SIP', A_ORDER = 4
    assert meta["bunit"] == "ELECTRONS/S" and meta["image_frame"] == "detector"
    assert not [s for s in said if "TAN-only" in s]
    prov = wcs_provenance(path)
    assert prov["wcsname"] == "IDC_w3m18525i" and prov["aligned_to"] == "guide stars only"
    assert prov["n_exposures"] == 1                     # NCOMBINE = 1
