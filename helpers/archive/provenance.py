"""WCS provenance of downloaded images in plain words (notebook 01).

:func:`decode_wcsname` explains ``WCSNAME``; :func:`wcs_provenance` reads it and its
friends from a file: what the WCS is aligned to and what absolute accuracy to expect.
"""

import re
from pathlib import Path

import numpy as np

__all__ = ["decode_wcsname", "wcs_provenance", "provenance_table", "filter_from_header", "hap_product",
           "exposure_weighted_epoch", "exposure_count", "asdf_wcs_name", "hdrtab_wcsnames"]


# ----------------------------------------------------------------------------------------
# WCS provenance
# ----------------------------------------------------------------------------------------

_CATALOGS = [
    (re.compile(r"GAIA_?E?DR3|GAIAEDR3|GAIAREFCAT"), "Gaia DR3", 10.0, "~10 mas"),
    (re.compile(r"GAIA_?DR2"), "Gaia DR2", 15.0, "~10-30 mas (DR2 proper motions)"),
    (re.compile(r"GAIA_?DR1"), "Gaia DR1", 30.0, "~20-50 mas (no proper motions)"),
    (re.compile(r"GAIA"), "Gaia", 15.0, "~10-30 mas"),
    (re.compile(r"HSC"), "Hubble Source Catalog", 30.0, "~20-50 mas"),
    # GSC242 is a reference catalog of drizzlepac's a-posteriori fits (astrometric_utils, FIT_*_GSC242);
    # GSC240 names the a-priori correction of the guide-star positions (runastrodriz 'IDC_…-GSC240')
    (re.compile(r"GSC_?242"), "GSC 2.4.2", 150.0, "~0.1-0.3 arcsec"),
    (re.compile(r"GSC2?4|GSC240"), "GSC 2.4 (Gaia-corrected guide stars, a priori)", 150.0, "~0.1-0.3 arcsec"),
    (re.compile(r"2MASS"), "2MASS", 100.0, "~0.1 arcsec"),
    (re.compile(r"SDSS"), "SDSS", 60.0, "~50-100 mas"),
]


def _header_value(headers, *keys):
    for key in keys:
        for h in headers:
            if h is not None and key in h and h[key] not in (None, ""):
                return h[key]
    return None


# ----------------------------------------------------------------------------------------
# Filter keywords of every supported instrument
# ----------------------------------------------------------------------------------------

_FILTER_NAME = re.compile(r"^(F\d{3,4}[A-Z]{0,2}\d?|POL\w+|PR\w+|G\d{3,4}[A-Z]?|FR\w+)$")
_PHOTMODE_FILTER = re.compile(r"\bF\d{3,4}[A-Z]{1,2}\d?\b")
# NIRCam pupil-wheel filters are used behind a wide filter of the filter wheel; the
# bandpass is the narrow one (JDox "NIRCam Filters": F162M/F164N behind F150W2, ...)
_NIRCAM_WIDE_PARTNERS = ("F150W2", "F322W2", "F444W")
# ... and only behind that one (JDox "NIRCam Filters": F162M, F164N with F150W2; F323N with F322W2;
# F405N, F466N, F470N with F444W): any other FILTER beside them is a header that contradicts itself
_NIRCAM_PUPIL_PARTNER = {"F162M": "F150W2", "F164N": "F150W2", "F323N": "F322W2", "F405N": "F444W",
                         "F466N": "F444W", "F470N": "F444W"}


def _every_value(headers, key):
    """The distinct values of one keyword over all headers, joined by ``;`` (the primary and SCI may
    both carry it, and a filter keyword that disagrees between them must be seen)."""
    values = [str(h[key]).strip() for h in headers if key in h and h[key] not in (None, "")]
    return ";".join(dict.fromkeys(values))


def _filter_names(value):
    """Filter names in one keyword value; CLEAR*, N/A, blanks and numeric wheel codes dropped."""
    names = []
    for part in re.split(r"[;,+\s]+", str(value or "").strip().upper()):
        if not part or part.startswith(("CLEAR", "OPEN", "N/A", "NONE", "ANY")) or part.isdigit():
            continue
        names.append(part)
    return names


def filter_from_header(*headers, source="header"):
    """The filter of an image, read the way each instrument writes it.

    - ACS: ``FILTER1``/``FILTER2``, one of them ``CLEAR*`` (both named, e.g. with a
      polarizer: ``"F606W;POL0V"``);
    - WFC3, MIRI, HAP SVM/MVM products: ``FILTER``;
    - WFPC2: ``FILTNAM1``/``FILTNAM2`` (``FILTER1``/``FILTER2`` are numeric wheel codes there
      and are ignored);
    - NIRCam/NIRISS: ``FILTER`` and ``PUPIL`` (a pupil-wheel filter behind F150W2/F322W2/F444W
      is the bandpass; NIRISS imaging names it in ``PUPIL`` with ``FILTER=CLEAR``);
    - ``PHOTMODE`` (HST) as a cross-check, or as the only source;
    - none of these (a generic single-extension image): ``""``.

    Parameters
    ----------
    *headers : `~astropy.io.fits.Header` or dict or None
        Searched in order (e.g. science header, then primary).
    source : str
        What to call the file in the message.

    Returns
    -------
    filter : str
        E.g. ``"F606W"``; several names joined with ``;``; ``""`` when no keyword names one.

    Raises
    ------
    WorkbookError
        If the keyword families name different filters (e.g. ``FILTER=F606W`` with
        ``FILTNAM1=F814W``, or ``PHOTMODE`` naming another filter).

    Examples
    --------
    >>> filter_from_header({"INSTRUME": "WFPC2", "FILTER1": 28, "FILTER2": 0, "FILTNAM1": "F606W"})
    'F606W'
    >>> filter_from_header({"INSTRUME": "ACS", "FILTER1": "F606W", "FILTER2": "CLEAR2S"})
    'F606W'
    """
    from ..errors import WorkbookError

    headers = [h for h in headers if h is not None]
    instrument = str(_header_value(headers, "INSTRUME") or "").strip().upper()
    found = {}  # keyword family -> names
    plain = _filter_names(_every_value(headers, "FILTER"))
    # PUPIL also holds grisms, masks and weak lenses: only a filter there names the bandpass
    pupil = [n for n in _filter_names(_every_value(headers, "PUPIL")) if re.match(r"F\d", n)]
    if instrument == "NIRCAM" and pupil and plain and pupil[0] in _NIRCAM_PUPIL_PARTNER \
            and plain[0] != _NIRCAM_PUPIL_PARTNER[pupil[0]]:
        raise WorkbookError(f"{source}: the filter keywords disagree (PUPIL={pupil[0]} is used behind "
                            f"FILTER={_NIRCAM_PUPIL_PARTNER[pupil[0]]} only, FILTER={plain[0]}); fix the wrong keyword "
                            "(astropy.io.fits.setval) or download the file again")
    if instrument in ("NIRCAM", "NIRISS") and pupil:
        if plain and not (instrument == "NIRCAM" and plain[0] in _NIRCAM_WIDE_PARTNERS):
            plain = plain + pupil
        else:
            plain = pupil
    if plain:
        found["FILTER" + ("/PUPIL" if pupil else "")] = plain
    if instrument != "WFPC2":
        pair = _filter_names(_every_value(headers, "FILTER1")) + _filter_names(_every_value(headers, "FILTER2"))
        if pair:
            found["FILTER1/FILTER2"] = pair
    names = _filter_names(_every_value(headers, "FILTNAM1")) + _filter_names(_every_value(headers, "FILTNAM2"))
    if names:
        found["FILTNAM1/FILTNAM2"] = names
    photmode = _PHOTMODE_FILTER.findall(str(_every_value(headers, "PHOTMODE")).upper())
    if photmode:
        found["PHOTMODE"] = photmode
    if not found:
        return ""
    # Compare only the band names (F606W ...): polarizers and prisms are not in every family
    bands = {k: frozenset(n for n in v if n.startswith("F")) for k, v in found.items()}
    distinct = {b for b in bands.values() if b}
    if len(distinct) > 1:
        said = ", ".join(f"{k}={'+'.join(v)}" for k, v in found.items())
        raise WorkbookError(f"{source}: the filter keywords disagree ({said}); fix the wrong keyword "
                            "(astropy.io.fits.setval) or download the file again")
    for family in ("FILTER/PUPIL", "FILTER", "FILTER1/FILTER2", "FILTNAM1/FILTNAM2", "PHOTMODE"):
        if family in found:
            return ";".join(dict.fromkeys(found[family]))
    return ""


# ----------------------------------------------------------------------------------------
# Hubble Advanced Products (drizzlepac runsinglehap / runmultihap)
# ----------------------------------------------------------------------------------------

# SVM: hst_<propid>_<obsetid>_<instr>_<detector>_<filter>_<ipppss>_dr[cz]; MVM: hst_skycell-p<PPPP>x<XX>y<YY>_...
# (drizzlepac doc/source/mast_data_products/hap_api.rst)
_SVM_NAME = re.compile(r"^hst_\d{4,5}_[0-9a-z]{2}_[a-z0-9]+_[a-z0-9]+_")
_MVM_NAME = re.compile(r"^hst_skycell-p\d{4}x\d{2}y\d{2}_")


def hap_product(*headers, filename=""):
    """Which Hubble Advanced Product a file is: ``"MVM"``, ``"SVM"`` or ``""`` (not a HAP product).

    From ``HAPLEVEL`` (drizzlepac ``haputils/product.py``: 1 exposure-level and 2 filter-level SVM
    products, 4 MVM SkyCell layers), ``SCELLID`` (MVM only) or the HAP file name.

    Parameters
    ----------
    *headers : `~astropy.io.fits.Header` or dict or None
    filename : str

    Returns
    -------
    kind : str

    Examples
    --------
    >>> hap_product({"HAPLEVEL": 4})
    'MVM'
    >>> hap_product({}, filename="hst_10188_10_acs_wfc_f814w_j90i10_drc.fits")
    'SVM'
    """
    headers = [h for h in headers if h is not None]
    name = str(filename or "").lower()
    level = _header_value(headers, "HAPLEVEL")
    try:
        level = int(level) if level is not None else None
    except (TypeError, ValueError):
        level = None
    if level == 4 or _header_value(headers, "SCELLID") is not None or _MVM_NAME.match(name):
        return "MVM"
    if level in (1, 2, 3) or _SVM_NAME.match(name):
        return "SVM"
    return ""


_D00N_DATA = re.compile(r"^D(\d{3})DATA$")
#: A WFPC2 chip file (chips 1-4): ``<exposure>_<chip>[_<suffix>].<ext>``
_WFPC2_CHIP_FILE = re.compile(r"^(.+)_[1-4](_[^.]*)?\.\w+$")


def exposure_count(*headers):
    """How many exposures a product combines, and the keyword that says it.

    - HAP products: ``NUMEXP``, which drizzlepac computes as the number of exposures, not chips
      (``processing_utils.refine_product_headers``);
    - AstroDrizzle/IRAF drizzle products: the distinct file names of the ``D00nDATA`` keywords: there is
      one ``D00n`` per drizzled *chip* (``j8xi01a1q_flc.fits[sci,1]`` and ``[sci,2]`` for ACS/WFC and
      WFC3/UVIS), so ``NDRIZIM`` (and the ``D00n`` count the drizzle noise floor keeps) is twice the
      exposure count there; WFPC2 chips drizzled from one file each (``050b_1_scl.hhh`` ...
      ``050b_4_scl.hhh``) are grouped by exposure;
    - JWST: ``NDRIZ`` of an i2d (stdatamodels ``meta.resample.pointings``); a level-2 exposure (no
      resample keywords) is one exposure: its ``NEXPOSUR`` is the number of exposures *planned in the
      visit*, not combined here;
    - else ``NCOMBINE`` (HST exposures combined by CR-rejection; 1 for an flt), then ``NDRIZIM``.

    Parameters
    ----------
    *headers : `~astropy.io.fits.Header` or dict or None
        Searched in order (e.g. science header, then primary).

    Returns
    -------
    n : int
        Number of exposures; -1 when no keyword says it.
    source : str
        The keyword(s) read, ``""`` when none.

    Examples
    --------
    >>> exposure_count({"NDRIZIM": 4, "D001DATA": "a_flc.fits[sci,1]", "D002DATA": "a_flc.fits[sci,2]",
    ...                 "D003DATA": "b_flc.fits[sci,1]", "D004DATA": "b_flc.fits[sci,2]"})
    (2, 'D00nDATA')
    """
    headers = [h for h in headers if h is not None]
    numexp = _header_value(headers, "NUMEXP")
    if numexp is not None:
        try:
            return int(numexp), "NUMEXP"
        except (TypeError, ValueError):
            pass
    files = set()
    for h in headers:
        for key, value in h.items():
            if _D00N_DATA.match(str(key)) and str(value).strip():
                files.add(str(value).split("[", 1)[0].strip().lower())
    if files:
        instrument = str(_header_value(headers, "INSTRUME") or "").strip().upper()
        chips = [_WFPC2_CHIP_FILE.match(name) for name in files]
        if instrument == "WFPC2" and all(chips):
            # WFPC2 mosaics drizzled with IRAF drizzle name one file per chip ('050b_1_scl.hhh' ...
            # '050b_4_scl.hhh' in the HDF-S mosaic): one exposure is the group of its chips
            return len({(m.group(1), m.group(2) or "") for m in chips}), "D00nDATA (WFPC2 chips grouped)"
        return len(files), "D00nDATA"
    if str(_header_value(headers, "TELESCOP") or "").strip().upper() == "JWST":
        ndriz = _header_value(headers, "NDRIZ")
        if ndriz is not None:
            return int(ndriz), "NDRIZ"
        if _header_value(headers, "PIXFRAC", "PXSCLRT", "RESWHT") is None and \
                str(_header_value(headers, "S_RESAMP") or "").strip().upper() != "COMPLETE":
            return 1, "one JWST exposure (not resampled)"
        return -1, ""
    for key in ("NCOMBINE", "NDRIZIM"):
        value = _header_value(headers, key)
        if value is not None:
            try:
                return int(value), key
            except (TypeError, ValueError):
                continue
    return -1, ""


def asdf_wcs_name(hdul):
    """The name of a JWST product's gWCS, from its ``ASDF`` extension, or ``""``.

    JWST cal/i2d files carry their WCS as a gWCS in the ASDF extension (``meta.wcs``, stdatamodels);
    the ``tweakreg`` step records an absolute fit only there, as the gWCS name
    ``FIT-LVL3-<abs_refcat>`` (jwst ``tweakreg_step.py``), and writes no FITS ``WCSNAME``.

    Parameters
    ----------
    hdul : `~astropy.io.fits.HDUList`

    Returns
    -------
    name : str
        ``""`` when there is no ASDF extension, no gWCS in it, or asdf/gwcs cannot read it.
    """
    import io

    if "ASDF" not in [h.name.upper() for h in hdul]:
        return ""
    try:
        import asdf

        blob = np.asarray(hdul["ASDF"].data["ASDF_METADATA"][0]).tobytes()
        with asdf.open(io.BytesIO(blob), lazy_load=False, memmap=False) as af:
            wcs = (af.tree.get("meta") or {}).get("wcs")
            return str(getattr(wcs, "name", "") or "").strip()
    except Exception:  # noqa: BLE001 - asdf/gwcs absent or an unreadable tree: no name, as without ASDF
        return ""


def _hdrtab_rows(hdul):
    """The HDRTAB data and its upper-case column names, one row per input *exposure* (drizzlepac's
    fitsblender rules record a row per input chip: ``ROOTNAME, EXTNAME, EXTVER``; the chips of one
    exposure share its ``ROOTNAME``), or ``(None, [])``."""
    if "HDRTAB" not in [h.name.upper() for h in hdul]:
        return None, []
    data = hdul["HDRTAB"].data
    if data is None or len(data) == 0:
        return None, []
    cols = [c.upper() for c in data.columns.names]
    if "ROOTNAME" in cols:
        roots = [str(r).strip().lower() for r in data["ROOTNAME"]]
        first = [k for k, r in enumerate(roots) if r not in roots[:k]]
        data = data[np.asarray(first, int)]
    return data, cols


def hdrtab_wcsnames(hdul):
    """The WCS names of a mosaic's input exposures, from its HDRTAB, with how many exposures carry each.

    A HAP MVM layer drizzles exposures aligned visit by visit (their own ``WCSNAME``,
    ``FIT_SVM_GAIAeDR3``, ``FIT_REL_GSC242`` ...: drizzlepac ``mvm_quality_analysis.wcs_pref_list``),
    and drizzlepac's header rules move ``WCSNAME`` into HDRTAB (``*_header_hap.rules``): what the mosaic
    is aligned to is what its inputs are.

    Parameters
    ----------
    hdul : `~astropy.io.fits.HDUList`

    Returns
    -------
    names : dict
        ``{wcsname: number of exposures}``, in the table's order; empty without HDRTAB or its ``WCSNAME``.
    """
    try:
        data, cols = _hdrtab_rows(hdul)
    except (KeyError, TypeError, ValueError, AttributeError):
        return {}
    if data is None or "WCSNAME" not in cols:
        return {}
    names = {}
    for value in data["WCSNAME"]:
        name = str(value).strip()
        if name:
            names[name] = names.get(name, 0) + 1
    return names


def exposure_weighted_epoch(hdul):
    """Exposure-time weighted mean epoch of a mosaic's inputs, from its HDRTAB (HAP / AstroDrizzle).

    A multi-visit mosaic holds exposures years apart; its ``EXPSTART`` is the first one's. Positions
    measured on it are at the exposures' weighted mean epoch.

    Parameters
    ----------
    hdul : `~astropy.io.fits.HDUList`

    Returns
    -------
    result : dict or None
        ``epoch`` (decimal year), ``first``, ``last`` (decimal years of the earliest start and latest
        end), ``n`` (input exposures); None when there is no HDRTAB with ``EXPSTART`` and ``EXPTIME``.
    """
    try:
        data, cols = _hdrtab_rows(hdul)  # one row per exposure, not per chip
        if data is None or "EXPSTART" not in cols or "EXPTIME" not in cols:
            return None
        start = np.asarray(data["EXPSTART"], float)
        exptime = np.asarray(data["EXPTIME"], float)
        end = np.asarray(data["EXPEND"], float) if "EXPEND" in cols else start + exptime / 86400.0
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    ok = np.isfinite(start) & np.isfinite(end) & np.isfinite(exptime) & (exptime > 0)
    if not ok.any():
        return None

    def year(mjd):
        return 2000.0 + (float(mjd) - 51544.5) / 365.25

    mid = 0.5 * (start[ok] + end[ok])
    return {"epoch": year(np.sum(mid * exptime[ok]) / np.sum(exptime[ok])), "first": year(start[ok].min()),
            "last": year(end[ok].max()), "n": int(ok.sum())}


def decode_wcsname(wcsname, telescope=None):
    """Explain a WCS name in plain words.

    Parameters
    ----------
    wcsname : str or None
        ``WCSNAME`` from the science header, e.g. ``"IDC_0461802ej-FIT_REL_GAIAeDR3"``,
        ``"FIT_SVM_GAIAeDR3"``, ``"IDC_4bb1536oj-GSC240"``, ``"IDC_4bb1536oj"``.
    telescope : str, optional
        ``"HST"`` or ``"JWST"`` (JWST names its WCS differently).

    Returns
    -------
    decoded : dict
        ``aligned_to`` (catalog or ``"guide stars only"``), ``method`` (a-posteriori fit,
        a-priori correction, pipeline default, ...), ``expected_abs_mas`` (representative
        1-sigma absolute accuracy, mas), ``expected_accuracy`` (text), ``gaia`` (bool).

    Examples
    --------
    >>> decode_wcsname("IDC_0461802ej-FIT_REL_GAIAeDR3")["aligned_to"]
    'Gaia DR3'
    >>> decode_wcsname("IDC_4bb1536oj")["aligned_to"]
    'guide stars only'
    >>> decode_wcsname("FIT_SVM_GSC242")["method"]
    'a-posteriori fit of the single visit (HAP SVM)'
    """
    from ..validate import require_text

    name = (require_text(wcsname, "wcsname", allow_none=True) or "").strip()
    require_text(telescope, "telescope", allow_none=True)
    up = name.upper()
    method = "pipeline default (guide-star pointing)"
    if "FIT_SVM" in up:
        method = "a-posteriori fit of the single visit (HAP SVM)"
    elif "FIT_MVM" in up:
        method = "a-posteriori fit of the multi-visit mosaic (HAP MVM)"
    elif "FIT_REL" in up:
        method = "a-posteriori relative fit of the exposures, then to the catalog"
    elif "FIT_IMG" in up:
        method = "a-posteriori fit of each exposure to the catalog"
    elif re.search(r"FIT[-_]LVL3", up):
        # jwst tweakreg names the gWCS of an absolute fit 'FIT-LVL3-<abs_refcat>' (tweakreg_step.py)
        method = "a-posteriori fit of the exposures to the catalog (JWST tweakreg abs_refcat)"
    elif "FIT" in up or "TWEAK" in up:
        method = "a-posteriori fit"
    elif re.search(r"-(GSC|HSC|GAIA)", up):
        method = "a-priori correction of the guide-star positions"
    fitted = re.search(r"FIT_(SVM|MVM|REL|IMG|EVM)_", up) is not None
    if re.search(r"FIT_(SVM|MVM|REL|IMG|EVM)_NONE\b", up):
        # drizzlepac's fit without a reference catalog (align_utils: catalog 'NONE'): the exposures are
        # aligned to each other only, the absolute frame is still the guide stars'
        method = "a-posteriori relative fit of the exposures only (no reference catalog)"
    for pattern, catalog, mas, text in _CATALOGS:
        if pattern.search(up.replace("-", "_")) or pattern.search(up):
            if catalog.startswith("GSC 2.4 (") and not fitted:
                method = "a-priori correction of the guide-star positions"
            return {"aligned_to": catalog, "method": method, "expected_abs_mas": mas,
                    "expected_accuracy": text, "gaia": catalog.startswith("Gaia")}
    if telescope and str(telescope).upper() == "JWST":
        return {"aligned_to": "guide stars only", "method": "JWST pipeline (no absolute tweakreg reference named)",
                "expected_abs_mas": 100.0, "expected_accuracy": "~0.1 arcsec (JWST guide stars)", "gaia": False}
    if not name:
        method = "no WCSNAME in the header"
    return {"aligned_to": "guide stars only", "method": method, "expected_abs_mas": 300.0,
            "expected_accuracy": "~0.1-1 arcsec (guide-star catalog)", "gaia": False}


def _inputs_alignment(names):
    """One decoded provenance for the input exposures' WCS names (``{wcsname: count}``): theirs when they
    agree; when they differ, the least accurate one's (a mosaic is only as aligned as its worst input),
    ``gaia`` only if every input is, and a phrase saying how many exposures are aligned to what."""
    decoded = {n: decode_wcsname(n) for n in names}
    worst = max(decoded.values(), key=lambda d: d["expected_abs_mas"])
    by_catalog = {}
    for n, d in decoded.items():
        by_catalog[d["aligned_to"]] = by_catalog.get(d["aligned_to"], 0) + names[n]
    out = dict(worst)
    out["gaia"] = all(d["gaia"] for d in decoded.values())
    total = sum(names.values())
    if len(by_catalog) == 1:
        said = f"all {total} input exposures: {worst['aligned_to']} (HDRTAB WCSNAME)"
    else:
        parts = ", ".join(f"{k} {c}" for k, c in by_catalog.items())
        said = (f"input exposures aligned differently (HDRTAB WCSNAME: {parts} of {total}): taken as the least "
                f"accurate, {worst['aligned_to']}")
    return out, said


def wcs_provenance(path):
    """Decode the WCS provenance of one image file.

    Reads the primary and the first image (``SCI``) header: ``WCSNAME``, ``WCSTYPE``,
    fit quality (``RMS_RA``, ``RMS_DEC`` in mas, ``NMATCHES``, ``FITGEOM``), JWST
    ``TWEAKREG``/``ABSREFCT``-style keywords where present, instrument, filter, epoch,
    exposure time, number of combined exposures and the pixel scale measured from the WCS.

    Parameters
    ----------
    path : str or `~pathlib.Path`

    Returns
    -------
    prov : dict
        Plain-word summary (``provenance``) plus the raw values; ``has_celestial_wcs`` is
        False (and ``provenance`` says so, and why) for a product without a usable celestial WCS;
        ``naxis`` the science image's dimensions (3 for a cube); ``hap`` ``SVM``/``MVM``/``""``
        (:func:`hap_product`; an MVM's ``epoch`` is its inputs' exposure-weighted mean).

    Raises
    ------
    WorkbookError
        Not a path, missing file, or not a readable FITS file.
    """
    from astropy.time import Time
    from astropy.wcs.utils import proj_plane_pixel_scales

    from ..errors import WorkbookError
    from ..validate import celestial_wcs, open_fits, require_path

    path = require_path(path)
    wcs_problem = ""
    with open_fits(path, "image", memmap=True) as hdul:
        primary = hdul[0].header
        sci = None
        for hdu in hdul:
            if hdu.is_image and hdu.header.get("NAXIS", 0) >= 2 and (hdu.name == "SCI" or sci is None):
                sci = hdu.header
                if hdu.name == "SCI":
                    break
        naxis = int(sci.get("NAXIS", 0)) if sci is not None else 0
        headers = [sci, primary]
        hap = hap_product(sci, primary, filename=path.name)
        weighted = exposure_weighted_epoch(hdul) if hap == "MVM" else None
        # JWST writes its WCS name (a tweakreg fit's 'FIT-LVL3-<refcat>') in the ASDF gWCS only
        gwcs_name = "" if _header_value(headers, "WCSNAME") else asdf_wcs_name(hdul)
        input_wcsnames = hdrtab_wcsnames(hdul) if hap else {}
        has_wcs, pix = False, np.nan
        if sci is not None:
            try:
                w = celestial_wcs(sci, path.name, fobj=hdul)  # the flt's D2IM/NPOL look-up arrays
                has_wcs = bool(w.has_celestial)
                if has_wcs:
                    pix = float(np.mean(proj_plane_pixel_scales(w.celestial)) * 3600.0)
            except WorkbookError as exc:
                # reported in the provenance words: an RA axis without Dec is not "no WCS"
                has_wcs, wcs_problem = False, str(exc).split("; it needs")[0]
    telescope = _header_value(headers, "TELESCOP") or ""
    wcsname = _header_value(headers, "WCSNAME") or gwcs_name or None
    refcat = _header_value(headers, "ABSREFCT", "TWKREFCT", "REFCAT", "ABS_REFC")
    decoded = decode_wcsname(f"{wcsname or ''} {refcat or ''}".strip(), telescope)
    inputs_said = ""
    if input_wcsnames and (hap == "MVM" or not wcsname):
        # the mosaic is aligned as its input exposures are (HDRTAB), whatever its SCI header says
        decoded, inputs_said = _inputs_alignment(input_wcsnames)
        if not wcsname or hap == "MVM":
            wcsname = "; ".join(input_wcsnames)
    inst = str(_header_value(headers, "INSTRUME") or "")
    det = str(_header_value(headers, "DETECTOR") or "")
    filt = filter_from_header(*headers, source=path.name)
    mjd = _header_value(headers, "EXPSTART", "MJD-OBS", "MJD-BEG")
    epoch = np.nan
    try:
        if mjd is not None:
            epoch = float(Time(float(mjd), format="mjd").decimalyear)
        elif _header_value(headers, "DATE-OBS"):
            epoch = float(Time(str(_header_value(headers, "DATE-OBS"))).decimalyear)
    except (ValueError, TypeError):
        pass
    if weighted is not None:  # a multi-visit mosaic: its EXPSTART is only the first visit's
        epoch = weighted["epoch"]
    rms_ra = _header_value(headers, "RMS_RA")
    rms_dec = _header_value(headers, "RMS_DEC")
    nmatch = _header_value(headers, "NMATCHES", "NMATCH")
    replay = bool(_header_value(headers, "SIMULATE", "REPLAY")) or "SIMULAT" in str(
        _header_value(headers, "ORIGIN") or "").upper()
    method = decoded["method"]
    if hap == "MVM":
        # MVM layers drizzle SVM-aligned exposures and keep their WCSNAME (drizzlepac has no FIT_MVM)
        cell = _header_value(headers, "SCELLID")
        method = (f"HAP multi-visit mosaic{' (SkyCell ' + str(cell) + ')' if cell else ''} of visits aligned one "
                  f"by one ({decoded['method']})")
    elif hap == "SVM" and "HAP SVM" not in method:
        method = f"HAP single-visit mosaic; {method}"
    if inputs_said:
        method = f"{method}; {inputs_said}"
    words = [f"aligned to {decoded['aligned_to']}" if decoded["aligned_to"] != "guide stars only"
             else "guide stars only", method]
    if weighted is not None:
        words.append(f"{weighted['n']} exposures {weighted['first']:.2f}-{weighted['last']:.2f}, "
                     f"exposure-weighted epoch {weighted['epoch']:.2f}")
    if rms_ra is not None or rms_dec is not None:
        words.append(f"fit rms {_fmt(rms_ra)} x {_fmt(rms_dec)} mas (RA x Dec)")
    if nmatch is not None:
        words.append(f"{int(nmatch)} matches")
    words.append(f"expected absolute accuracy {decoded['expected_accuracy']}")
    if replay:
        words.append("SIMULATED REPLAY, not a real MAST file")
    if not has_wcs:
        words = [f"no celestial WCS: cannot be used for astrometry{' (' + wcs_problem + ')' if wcs_problem else ''}"]
    n_exposures, _ = exposure_count(*headers)
    return {
        "file": path.name, "path": str(path.resolve()), "telescope": str(telescope),
        "instrument": f"{inst}/{det}" if det and det.upper() not in inst.upper() and inst.upper() != "NIRCAM" else inst,
        "filter": str(filt or ""), "epoch": epoch, "exptime": float(_header_value(headers, "EXPTIME", "XPOSURE", "EFFEXPTM") or np.nan),
        "n_exposures": n_exposures, "pixel_scale": pix,
        "wcsname": str(wcsname or ""), "wcstype": str(_header_value(headers, "WCSTYPE") or ""),
        "aligned_to": decoded["aligned_to"] if has_wcs else "", "gaia": bool(decoded["gaia"] and has_wcs),
        "method": method, "hap": hap, "rms_ra_mas": _float(rms_ra), "rms_dec_mas": _float(rms_dec),
        "n_matches": int(nmatch) if nmatch is not None else -1,
        "expected_abs_mas": decoded["expected_abs_mas"] if has_wcs else np.nan,
        "has_celestial_wcs": has_wcs, "replay": replay, "provenance": "; ".join(words), "naxis": naxis,
    }


def _float(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return np.nan


def _fmt(v):
    f = _float(v)
    return "?" if not np.isfinite(f) else f"{f:.1f}"


def provenance_table(paths):
    """:func:`wcs_provenance` for several files, as a Table (one row per file).

    Parameters
    ----------
    paths : sequence of str or `~pathlib.Path`

    Returns
    -------
    table : `~astropy.table.Table`
        Columns as the keys of :func:`wcs_provenance`; ``rms_*`` and
        ``expected_abs_mas`` in mas, ``pixel_scale`` in arcsec, ``epoch`` in yr.
    """
    from astropy.table import Table
    import astropy.units as u

    if isinstance(paths, (str, Path)):  # one file, not its characters
        paths = [paths]
    if isinstance(paths, (bytes, dict)) or not hasattr(paths, "__iter__"):
        from ..errors import WorkbookError

        raise WorkbookError(f"paths = {paths!r:.40} is not a list of FITS paths; give e.g. manifest['path']")
    rows = [wcs_provenance(p) for p in paths]
    table = Table(rows=rows) if rows else Table()
    for name, unit in (("rms_ra_mas", u.mas), ("rms_dec_mas", u.mas), ("expected_abs_mas", u.mas),
                       ("pixel_scale", u.arcsec), ("epoch", u.yr), ("exptime", u.s)):
        if name in table.colnames:
            table[name].unit = unit
    return table
