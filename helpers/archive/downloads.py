"""Download MAST products into the field's cache, verified and resumable (notebook 01).

:func:`download` fetches the files with
`~astroquery.mast.ObservationsClass.download_products`, verifies every one
(:func:`verify_fits`) and never leaves a partial or corrupt file in place.
"""

import json
import os
import warnings
from pathlib import Path

import numpy as np

from .._io import _describe_oserror, atomic_path, ensure_writable_dir
from ..errors import WorkbookError
from .mast import _OFFLINE_HINT, _transport, _with_retries

__all__ = ["verify_fits", "download"]


# ----------------------------------------------------------------------------------------
# download and verification
# ----------------------------------------------------------------------------------------

def verify_fits(path, expected_size=None):
    """Check that a downloaded file is a complete, intact FITS file.

    Checks, in order: the size MAST announced (when known); a whole number of 2880-byte
    FITS blocks; that astropy opens it and reads every HDU's data fully; the
    ``CHECKSUM``/``DATASUM`` keywords when present; that the file size equals the sum of the
    HDUs' padded sizes (so no HDU was silently dropped); that the number of extensions is
    the primary header's ``NEXTEND`` when it has one (a cut exactly between two HDUs). These
    hold without a size from MAST, so a truncated file is never cached as verified.

    Parameters
    ----------
    path : str or `~pathlib.Path`
    expected_size : int, optional
        Bytes, from the MAST product list (None or 0: unknown).

    Returns
    -------
    ok : bool
    reason : str
        What failed, or ``"ok"``.
    checksum : str
        ``"verified"``, ``"absent"`` or ``"failed"``.

    Raises
    ------
    WorkbookError
        ``path`` is not a path or ``expected_size`` not a whole number of bytes.
    """
    from astropy.io import fits

    from ..validate import require_number, require_path

    path = require_path(path)
    expected_size = require_number(expected_size, "expected_size", minimum=0, integer=True, allow_none=True,
                                   example="the product list's 'size' in bytes")
    try:
        size = path.stat().st_size
    except OSError:
        return False, "file missing", "absent"
    if not path.is_file():
        return False, "not a regular file (a directory?)", "absent"
    if expected_size and size != expected_size:
        return False, f"size {size} bytes, MAST announced {expected_size} (truncated or corrupt)", "absent"
    if size == 0 or size % 2880:
        return False, f"size {size} bytes is not a whole number of 2880-byte FITS blocks (truncated)", "absent"
    have_sums = False
    accounted = 0
    n_hdus = 0
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with fits.open(path, memmap=False, checksum=True, lazy_load_hdus=False) as hdul:
                for hdu in hdul:
                    info = hdu.fileinfo()
                    # header blocks + data padded to whole 2880-byte blocks
                    accounted += (info["datLoc"] - info["hdrLoc"]) + -(-info["datSpan"] // 2880) * 2880
                    have_sums |= ("CHECKSUM" in hdu.header) or ("DATASUM" in hdu.header)
                    _ = hdu.data  # read every HDU fully: a short data block fails here, not later
                n_hdus = len(hdul)
                nextend = hdul[0].header.get("NEXTEND")
    except Exception as exc:  # astropy raises OSError/ValueError/TypeError('buffer is too small')/... on garbage
        return False, f"not a readable FITS file ({exc.__class__.__name__}: {' '.join(str(exc).split())[:80]})", "absent"
    for w in caught:
        text = str(w.message)
        if "verification failed" in text.lower():
            return False, "FITS checksum mismatch (" + " ".join(text.split())[:80] + ")", "failed"
        if "truncated" in text.lower():
            return False, "FITS file truncated", "absent"
    if accounted != size:
        # astropy drops an HDU it cannot read with only a warning; the sizes must add up exactly
        return False, f"FITS file truncated or padded ({size} bytes on disk, HDUs account for {accounted})", "absent"
    if isinstance(nextend, int) and not isinstance(nextend, bool) and n_hdus - 1 < nextend:
        # a cut exactly between two HDUs leaves a valid-looking shorter file; NEXTEND still counts them
        return False, f"FITS file truncated ({n_hdus - 1} extensions, primary header says NEXTEND = {nextend})", "absent"
    return True, "ok", "verified" if have_sums else "absent"


_MANIFEST = "manifest.json"


def _load_manifest(cache):
    path = cache / _MANIFEST
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _save_manifest(cache, manifest):
    with atomic_path(cache / _MANIFEST, overwrite=True) as tmp:
        tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def _fetch_one(product_row_table, staging):
    """One file via Observations.download_products into ``staging`` (flat)."""
    from astroquery.mast import Observations

    try:
        manifest = _with_retries(
            f"download of {product_row_table['productFilename'][0]} from MAST",
            Observations.download_products, product_row_table, download_dir=str(staging), flat=True,
            cache=False, verbose=False)
    except OSError as exc:
        raise WorkbookError(_describe_oserror(exc, staging)) from None
    if manifest is None or len(manifest) == 0:
        raise WorkbookError(f"MAST returned nothing for {product_row_table['productFilename'][0]}; "
                            f"check the product, or {_OFFLINE_HINT}")
    status = str(manifest["Status"][0])
    if status != "COMPLETE":
        raise WorkbookError(f"MAST could not deliver {product_row_table['productFilename'][0]} "
                            f"({status}: {manifest['Message'][0]}); check access rights, or {_OFFLINE_HINT}")


def download(products, workspace, *, live=None, progress=True):
    """Fetch products into a per-field cache, verified, resumable.

    A file goes first into ``<cache>/.partial/``; only after :func:`verify_fits` accepts
    it is it moved (atomically) into the cache and recorded in ``manifest.json``. A file
    that fails verification is fetched once more, then the call stops with an error and
    nothing of it stays in the cache. Files already in the cache and recorded as
    verified (same size and time stamp) are skipped without any request, so an
    interrupted run resumes where it stopped.

    Parameters
    ----------
    products : `~astropy.table.Table`
        From :func:`select_products`.
    workspace : str, `~pathlib.Path` or FieldConfig
        The cache directory, or a field configuration (its ``archive/`` directory).
    live : bool, optional
        Default: as the products were found.
    progress : bool
        tqdm progress bar (silent when not a terminal).

    Returns
    -------
    manifest : `~astropy.table.Table`
        ``product_id, file, path, status`` (``cached``/``downloaded``/``re-downloaded``),
        ``size`` (bytes), ``checksum``, ``source``.

    Raises
    ------
    WorkbookError
        Unwritable cache or full disk; MAST unreachable after retries; a file corrupt
        twice.
    """
    from astropy.table import Table
    from tqdm.auto import tqdm

    cache = workspace.subdir("archive") if hasattr(workspace, "subdir") else ensure_writable_dir(workspace)
    cache = ensure_writable_dir(cache)
    staging = ensure_writable_dir(cache / ".partial")
    for stale in staging.iterdir():  # left by an interrupted run: never trusted
        if stale.is_file():
            stale.unlink()
    live = products.meta.get("live", True) if live is None else live
    source = products.meta.get("source", "MAST")
    coord = (products.meta.get("center_ra"), products.meta.get("center_dec"))
    manifest = _load_manifest(cache)
    rows = []
    with _transport(live, coord if coord[0] is not None else None):
        for i in tqdm(range(len(products)), desc="images", unit="file", disable=None if progress else True):
            one = products[i:i + 1]
            fname = os.path.basename(str(one["productFilename"][0]))
            final = cache / fname
            expected = one["size"][0] if "size" in one.colnames else None
            expected = None if expected is None or np.ma.is_masked(expected) or int(expected) <= 0 else int(expected)
            entry = manifest.get(fname)
            status = None
            if final.exists():
                st = final.stat()
                if entry and entry.get("size") == st.st_size and entry.get("mtime_ns") == st.st_mtime_ns:
                    status, checksum = "cached", entry.get("checksum", "absent")
                else:
                    ok, reason, checksum = verify_fits(final, expected)
                    if ok:
                        status = "cached"
                    else:
                        final.unlink()  # a bad file is never kept as if valid
            if status is None:
                reason = ""
                for attempt in (1, 2):
                    staged = staging / fname
                    staged.unlink(missing_ok=True)
                    try:
                        _fetch_one(one, staging)
                    except BaseException:
                        staged.unlink(missing_ok=True)
                        raise
                    ok, reason, checksum = verify_fits(staged, expected)
                    if ok:
                        try:
                            os.replace(staged, final)
                        except OSError as exc:
                            staged.unlink(missing_ok=True)
                            raise WorkbookError(_describe_oserror(exc, final)) from None
                        status = "downloaded" if attempt == 1 else "re-downloaded"
                        break
                    staged.unlink(missing_ok=True)
                if status is None:
                    raise WorkbookError(f"{fname} failed verification twice ({reason}); it was not kept in "
                                        f"{cache}; try again later or fetch it from the MAST portal, or {_OFFLINE_HINT}")
                st = final.stat()
                manifest[fname] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "checksum": checksum,
                                   "product_id": str(one["product_id"][0]) if "product_id" in one.colnames else "",
                                   "source": source}
                _save_manifest(cache, manifest)
            rows.append((str(one["product_id"][0]) if "product_id" in one.colnames else fname, fname,
                         str(final.resolve()), status, final.stat().st_size, checksum, source))
    return Table(rows=rows, names=("product_id", "file", "path", "status", "size", "checksum", "source"),
                 dtype=(str, str, str, str, int, str, str)) if rows else Table(
        names=("product_id", "file", "path", "status", "size", "checksum", "source"),
        dtype=(str, str, str, str, int, str, str))
