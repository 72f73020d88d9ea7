"""The member exposures behind a drizzled product: named, found in MAST or on disk, fetched (notebook 01).

A drizzled product (HST ``_drz``/``_drc``, HAP SVM/MVM, JWST ``_i2d``) is made from calibrated single
exposures (HST ``_flt``/``_flc``, WFPC2 ``_c0m``, JWST ``_cal``). Notebook 02's joint fit on them
(`helpers.sources.refine_on_exposures`) reaches the exposures' Cramér–Rao bound where a fit on the product
cannot, so notebook 01 finds them:

* **What the product says it was made of** (:func:`recorded_inputs`): AstroDrizzle writes one
  ``D00nDATA`` keyword per input (``'j8xi01a1q_flc.fits[sci,1]'``; HAP products name their renamed
  copies, ``hst_<prop>_<visit>_..._<ipppssoo>_flc.fits``); HAP and the JWST level-3 pipeline
  (``jwst.model_blender``) add an ``HDRTAB`` table with one row per input (``FILENAME``); a JWST i2d's
  ``ASNTABLE`` keyword names the association whose ``members[].expname`` are the inputs, read when the
  ``_asn.json`` sits beside the product.
* **What MAST holds** (:func:`find_members`): one ``Observations.get_product_list`` request on the
  products' parent observations; member exposures are the rows whose ``productSubGroupDescription`` is
  ``FLC``/``FLT``/``C0M`` (HST) or ``CAL`` (JWST). Where the downloaded product records its inputs, MAST's
  list is matched against them: a recorded input MAST lacks is named in one line, an exposure MAST lists
  that the product does not record is left out (another filter or visit of the same observation) with a
  line. A product that records none gets MAST's list of its kind (``FLC`` for a ``drc``, ``FLT`` for a
  ``drz``, ``CAL`` for an ``i2d``), said in a line.
* **What is on disk** (:func:`local_members`): the recorded inputs next to a local product (or in given
  directories).

Each file kept has its filter checked against the product's (:func:`check_member_filters`): an exposure of
another filter is dropped with a line. Nothing is downloaded here: :func:`helpers.archive.download` fetches
the members (progress, cache, verification, atomic moves) when notebook 01's ``download_exposures`` asks.
"""

import json
import os
import re
from pathlib import Path

import numpy as np

from ..errors import WorkbookError
from ..validate import open_fits, require_instance, require_path
from .mast import _transport, _with_retries

__all__ = ["MEMBER_KINDS", "recorded_inputs", "find_members", "members_summary", "local_members",
           "check_member_filters"]

#: MAST ``productSubGroupDescription`` of the calibrated single exposures a product of each suffix is drizzled
#: from when the product itself records no inputs (CTE-corrected ``flc`` make a ``drc``; WFPC2's ``drz`` is
#: made from ``c0m``; JWST level-3 ``i2d`` from level-2 ``cal``).
MEMBER_KINDS = {"drc": ("FLC",), "drz": ("FLT", "C0M"), "i2d": ("CAL",)}
_ALL_KINDS = ("FLC", "FLT", "C0M", "CAL")
_D00N_DATA = re.compile(r"^D(\d{3})DATA$")


def _file_name(text):
    """``'j8xi01a1q_flc.fits[sci,1]'`` -> ``'j8xi01a1q_flc.fits'`` (lower case, no directory)."""
    return os.path.basename(str(text).split("[", 1)[0].strip()).lower()


def _product_suffix(name):
    m = re.search(r"_(drc|drz|i2d)\.fits$", str(name).lower())
    return m.group(1) if m else None


def recorded_inputs(path):
    """The input exposures a drizzled product records in its own file.

    Parameters
    ----------
    path : str or `~pathlib.Path`
        A drizzled product (HST drz/drc, HAP SVM/MVM, JWST i2d).

    Returns
    -------
    inputs : list of tuple of str
        One entry per input exposure: the file names it goes by (lower case), first the one the
        product's ``D00nDATA`` keyword gives (HAP: the renamed copy), then the archive's name when it
        differs: for a HAP product its ``HDRTAB`` ``ROOTNAME`` with the file's suffix (HAP's
        ``FILENAME`` column holds the renamed copy too), else the ``HDRTAB`` ``FILENAME``. Empty when
        the product records none.
    source : str
        Where they were read: ``"D00nDATA"``, ``"HDRTAB"``, ``"D00nDATA+HDRTAB"``, ``"ASN <file>"`` or
        ``"none"``.

    Raises
    ------
    WorkbookError
        Not a readable FITS file.
    """
    path = require_path(path, "product path")
    with open_fits(path, "product") as hdul:
        primary = hdul[0].header
        d00n = sorted(((int(_D00N_DATA.match(k).group(1)), _file_name(v)) for k, v in primary.items()
                       if _D00N_DATA.match(k) and str(v).strip()), key=lambda kv: kv[0])
        d00n = list(dict.fromkeys(name for _, name in d00n))  # one name per input, in drizzle order
        table, rootnames = [], []
        if "HDRTAB" in hdul:
            data = hdul["HDRTAB"].data
            names = [c.upper() for c in (data.columns.names if data is not None else [])]
            if "FILENAME" in names:
                table = list(dict.fromkeys(_file_name(v) for v in data["FILENAME"] if str(v).strip()))
            if "ROOTNAME" in names:
                rootnames = list(dict.fromkeys(str(v).strip().lower() for v in data["ROOTNAME"] if str(v).strip()))
        asn_name = str(primary.get("ASNTABLE", "") or "").strip()
    hap = _hap_archive_names(d00n or table, rootnames)
    if hap is not None:
        return hap, "D00nDATA+HDRTAB" if d00n else "HDRTAB"
    if d00n and table and len(table) == len(d00n):
        # drizzlepac writes HDRTAB in the order of its inputs (one row per D00n): the two names of one file
        return [(a, b) if a != b else (a,) for a, b in zip(d00n, table)], "D00nDATA+HDRTAB"
    if d00n:
        return [(n,) for n in d00n], "D00nDATA"
    if table:
        return [(n,) for n in table], "HDRTAB"
    if asn_name:
        asn = path.parent / os.path.basename(asn_name)
        if asn.is_file():
            try:
                members = [m for p in json.loads(asn.read_text()).get("products", []) for m in p.get("members", [])]
            except (OSError, ValueError, AttributeError) as exc:
                raise WorkbookError(f"{asn.name} (the ASNTABLE of {path.name}) is not a readable association "
                                    f"({exc.__class__.__name__}); download it again") from None
            names = [_file_name(m.get("expname", "")) for m in members
                     if str(m.get("exptype", "science")).lower() == "science" and m.get("expname")]
            if names:
                return [(n,) for n in dict.fromkeys(names)], f"ASN {asn.name}"
    return [], "none"


#: A HAP input exposure: ``hst_<prop>_<visit>_<inst>_<det>_<filter>_<ipppssoo>_flc.fits`` (SVM) or
#: ``hst_skycell-…_<filter>_all-<ipppssoo>_flc.fits`` (MVM) (drizzlepac ``haputils/product.py``).
_HAP_INPUT = re.compile(r"^hst_.*[_-]([0-9a-z]{8})_([0-9a-z]{3})\.fits$")


def _hap_archive_names(names, rootnames):
    """``[(hap_name, archive_name), ...]`` for the renamed inputs of a HAP product, or None.

    drizzlepac copies each exposure to its HAP name and sets the copy's ``FILENAME`` to it
    (``ExposureProduct.copy_exposure``), so both ``D00nDATA`` and ``HDRTAB``'s ``FILENAME`` column hold the
    HAP names; the archive's own name is the ``ROOTNAME`` (ipppssoot, an ``HDRTAB`` column, one row per
    chip) with the file's suffix. Each HAP name is matched to the rootname whose first 8 characters are
    its ipppssoo, else (names that do not carry it) to the rootnames in drizzle order when they are as many.
    """
    hap = [_HAP_INPUT.match(n) for n in names]
    if not names or not rootnames or not all(hap):
        return None
    by_visit = {r[:8]: r for r in rootnames}
    if all(m.group(1) in by_visit for m in hap):
        roots = [by_visit[m.group(1)] for m in hap]
    elif len(rootnames) == len(names):
        roots = rootnames
    else:
        return None
    return [(n, f"{r}_{m.group(2)}.fits") for n, m, r in zip(names, hap, roots)]


def _alias_index(inputs):
    return {name: k for k, names in enumerate(inputs) for name in names}


def find_members(products, manifest=None, live=None):
    """The member exposures of each product, as MAST lists them, matched to what the product records.

    Parameters
    ----------
    products : `~astropy.table.Table`
        From :func:`helpers.archive.select_products` (``obsID``, ``product_id``, ``productFilename``,
        ``filter``).
    manifest : `~astropy.table.Table`, optional
        From :func:`helpers.archive.download` of ``products``: the downloaded products are read for the
        inputs they record (:func:`recorded_inputs`). Without it MAST's list of the product's kind is
        taken whole.
    live : bool, optional
        Default: as the products were found.

    Returns
    -------
    members : `~astropy.table.Table`
        MAST product rows (``obsID, obs_id, dataURI, productFilename, productSubGroupDescription, size``, ...,
        ready for :func:`helpers.archive.download`) plus ``product_id`` (the product they belong to) and
        ``product_filter``. ``meta['lines']``: one line per product saying how many were found, where the
        list came from, and what was missing or left out; ``meta['missing']``: ``{product_id: [names]}``.

    Raises
    ------
    WorkbookError
        ``products`` is not what select_products returned; MAST unreachable after retries.
    """
    from astropy.table import Table, vstack
    from astroquery.mast import Observations

    require_instance(products, Table, "products", "pass the Table select_products returned")
    missing_cols = [c for c in ("obsID", "product_id", "productFilename") if c not in products.colnames]
    if missing_cols:
        raise WorkbookError(f"products lacks column(s) {missing_cols}; pass the Table select_products returned")
    recorded = {}
    if manifest is not None:
        require_instance(manifest, Table, "manifest", "pass the Table download returned")
        if not {"product_id", "path"} <= set(manifest.colnames):
            raise WorkbookError("manifest lacks column(s) product_id/path; pass the Table download returned")
        for row in manifest:
            if Path(str(row["path"])).is_file():
                recorded[str(row["product_id"])] = recorded_inputs(row["path"])
    live = products.meta.get("live", True) if live is None else live
    coord = (products.meta.get("center_ra"), products.meta.get("center_dec"))
    obsids = list(dict.fromkeys(str(v) for v in products["obsID"]))
    with _transport(live, coord if coord[0] is not None else None):
        listing = _with_retries("MAST product-list query (member exposures)", Observations.get_product_list, obsids)
    names = np.char.lower(np.asarray(listing["productFilename"], str))
    kinds = np.char.upper(np.asarray(listing["productSubGroupDescription"].filled("")
                                     if hasattr(listing["productSubGroupDescription"], "filled")
                                     else listing["productSubGroupDescription"], str))
    parent = np.array([str(v) for v in listing["obsID"]])
    parts, lines, missing = [], [], {}
    for prod in products:
        pid = str(prod["product_id"])
        mine = (parent == str(prod["obsID"])) & np.isin(kinds, _ALL_KINDS)
        inputs, source = recorded.get(pid, ([], "not read"))
        if inputs:
            index = _alias_index(inputs)
            matched = np.array([mine[i] and names[i] in index for i in range(len(names))], bool)
            seen = {index[names[i]] for i in np.flatnonzero(matched)}
            gone = [names_[0] for k, names_ in enumerate(inputs) if k not in seen]
            extra = int(np.sum(mine & ~matched & np.isin(kinds, _kinds_for(prod))))
            # one file per recorded input (a name can sit in both a HAP and a pipeline row)
            keep = [i for i in np.flatnonzero(matched)]
            keep = list({index[names[i]]: i for i in keep}.values())
            line = (f"{pid}: {len(keep)} of the {len(inputs)} exposures its {source} records are in MAST")
            if gone:
                more = " ..." if len(gone) > 5 else ""
                line += f"; missing from MAST: {', '.join(gone[:5])}{more} (the fit uses the rest)"
                missing[pid] = gone
            if extra:
                line += (f"; {extra} other exposure(s) of the observation are not inputs of this product and were "
                         "left out")
        else:
            keep = list(np.flatnonzero(mine & np.isin(kinds, _kinds_for(prod))))
            what = "/".join(_kinds_for(prod))
            why = "not downloaded" if source == "not read" else "no D00nDATA, HDRTAB or ASN"
            line = (f"{pid}: the product records no inputs ({why}); taking MAST's {len(keep)} {what} file(s) of its "
                    "observation")
        if not keep:
            line += " - no member exposures: the joint fit on the exposures is skipped for it"
        lines.append(line)
        if keep:
            part = listing[keep]
            part["product_id"] = [pid] * len(part)
            part["product_filter"] = [str(prod["filter"]) if "filter" in products.colnames else ""] * len(part)
            parts.append(part)
    members = vstack(parts, metadata_conflicts="silent") if parts else _empty_members(listing)
    members.meta.clear()
    members.meta.update({k: v for k, v in products.meta.items() if k in ("live", "source", "center_ra", "center_dec")})
    members.meta["lines"] = lines
    members.meta["missing"] = missing
    return members


def _kinds_for(prod):
    return MEMBER_KINDS.get(_product_suffix(prod["productFilename"]) or "", _ALL_KINDS)


def _empty_members(listing):
    out = listing[:0].copy()
    out["product_id"] = np.array([], dtype="<U64")
    out["product_filter"] = np.array([], dtype="<U16")
    return out


def members_summary(members):
    """Count and total size of the member exposures, per product, and one line to print.

    Parameters
    ----------
    members : `~astropy.table.Table`
        From :func:`find_members`.

    Returns
    -------
    summary : `~astropy.table.Table`
        ``product_id, n_exposures, size_mb`` (NaN where MAST gave no size), ``kinds``.
    line : str
        E.g. ``"12 member exposures, 1.98 GB in all, for 3 products"``.
    """
    from astropy.table import Table

    require_instance(members, Table, "members", "pass the Table find_members returned")
    for col in ("product_id", "size", "productSubGroupDescription"):
        if col not in members.colnames:
            raise WorkbookError(f"members lacks column {col!r}; pass the Table find_members returned")
    rows = []
    total, unknown = 0.0, 0
    for pid in dict.fromkeys(str(v) for v in members["product_id"]):
        sel = np.asarray(members["product_id"]).astype(str) == pid
        sizes = np.ma.filled(np.ma.masked_invalid(np.ma.asarray(members["size"][sel], dtype=float)), np.nan)
        known = np.isfinite(sizes) & (sizes > 0)
        unknown += int(np.sum(~known))
        total += float(np.sum(sizes[known]))
        rows.append((pid, int(sel.sum()), float(np.sum(sizes[known]) / 1e6) if known.all() else np.nan,
                     "/".join(sorted(set(np.asarray(members["productSubGroupDescription"][sel]).astype(str))))))
    summary = Table(rows=rows, names=("product_id", "n_exposures", "size_mb", "kinds"),
                    dtype=(str, int, float, str)) if rows else Table(
        names=("product_id", "n_exposures", "size_mb", "kinds"), dtype=(str, int, float, str))
    summary["size_mb"].unit = "MB"
    summary["size_mb"].format = ".1f"
    if unknown and not total:
        size = "size not given by the archive"
    else:
        size = f"{total / 1e9:.2f} GB" + (f" (+ {unknown} file(s) of unknown size)" if unknown else "")
    in_all = "" if size.startswith("size") else " in all"
    line = f"{len(members)} member exposure(s), {size}{in_all}, for {len(rows)} product(s)"
    return summary, line


def _header_filter(path):
    """The filter an exposure's headers name (primary, then the first SCI), or raise with one line."""
    from .provenance import filter_from_header

    with open_fits(path, "exposure") as hdul:
        sci = next((h.header for h in hdul[1:] if h.name.upper() == "SCI"), None)
        return filter_from_header(hdul[0].header, sci, source=Path(path).name)


def check_member_filters(paths, product_filter):
    """Keep the exposures whose filter is the product's; one line per file dropped.

    Parameters
    ----------
    paths : sequence of str or `~pathlib.Path`
    product_filter : str
        The product's filter (e.g. ``"F814W"``); empty: nothing is dropped.

    Returns
    -------
    kept : list of `~pathlib.Path`
    lines : list of str
        One per dropped file, naming it and its filter.
    """
    if isinstance(paths, (str, bytes, Path)) or not isinstance(paths, (list, tuple)) or not all(
            isinstance(p, (str, Path)) for p in paths):
        raise WorkbookError(f"paths = {paths!r:.40} is not a list of file paths; give e.g. ['j8xi01a1q_flc.fits']")
    if product_filter is not None and not isinstance(product_filter, str):
        raise WorkbookError(f"product_filter = {product_filter!r:.30} is not a filter name; give e.g. 'F814W' or ''")
    kept, lines = [], []
    want = str(product_filter or "").upper()
    for p in paths:
        p = Path(p)
        try:
            got = _header_filter(p).upper()
        except WorkbookError as exc:
            lines.append(f"{p.name}: left out ({exc})")
            continue
        if want and got and got != want:
            lines.append(f"{p.name}: left out, it is filter {got}, the product {want}")
            continue
        kept.append(p)
    return kept, lines


def local_members(product_path, search=None, product_filter=None):
    """The recorded inputs of a local drizzled product, found on disk.

    Parameters
    ----------
    product_path : str or `~pathlib.Path`
    search : sequence of str or `~pathlib.Path`, optional
        Directories to look in; default the product's own directory.
    product_filter : str, optional
        Exposures of another filter are left out; default the product's own filter.

    Returns
    -------
    paths : list of `~pathlib.Path`
        Found exposures of the product's filter, in the product's order.
    lines : list of str
        One line saying what was found, naming what is missing (the fit uses the rest) or
        left out; for a product that records no inputs, one line saying so (nothing found).
    """
    product_path = require_path(product_path, "product path")
    inputs, source = recorded_inputs(product_path)
    name = product_path.name
    if not inputs:
        return [], [f"{name}: the product records no input exposures (no D00nDATA, HDRTAB or ASN table); give "
                    "notebook 02 exposure_files by hand to refine it on its exposures"]
    dirs = [Path(d) for d in (search or [product_path.parent])]
    found, gone = [], []
    for names in inputs:
        hit = next((d / n for n in names for d in dirs if (d / n).is_file()), None)
        if hit is None:  # file systems keep the archive's case (J8XI01A1Q_FLC.FITS is rare, but exists)
            hit = next((d / f for d in dirs if d.is_dir() for f in os.listdir(d) if f.lower() in names), None)
        (found if hit is not None else gone).append(hit if hit is not None else names[0])
    if product_filter is None:
        product_filter = _header_filter(product_path)
    kept, dropped = check_member_filters(found, product_filter)
    where = ", ".join(map(str, dirs))
    line = f"{name}: {len(kept)} of the {len(inputs)} exposures its {source} records found in {where}"
    if gone:
        line += f"; missing: {', '.join(gone[:5])}{' ...' if len(gone) > 5 else ''}"
        line += " (the fit uses the rest)" if len(kept) >= 2 else ""
    if len(kept) < 2:
        line += " - fewer than 2: the joint fit on the exposures is skipped for it"
    return kept, [line] + dropped
