"""Offline replays of MAST for :mod:`helpers.archive`, installed at astroquery's HTTP layer.

Nothing here talks to the network. A replay answers the requests astroquery would send
to MAST's portal API (``PortalAPI._request``) and its file downloads
(``Observations._download_file``) -- the same two places astroquery's own test-suite
patches (``astroquery/mast/tests/test_mast.py``) -- so every line of
:mod:`helpers.archive` above that layer, and astroquery's own parsing of the answers,
runs exactly as with the real service.

Two replays:

:class:`RecordedReplay`
    The real MAST answers recorded in astroquery's test data
    (``astroquery/mast/tests/data/``: ``caom.json``, ``products.json``, ``hsc.json``,
    ``columnsconfig.json``); used by the tests. Real schemas, real footprints (WFPC2 and
    HLA products near RA 23.1, Dec +60.6).

:class:`DemoReplay`
    The offline demo field (HUDF): CAOM rows, product lists and files that describe
    and *are* the simulated images of :func:`helpers.simulate.demo_field`, generated
    deterministically on "download": each drizzled product and its member exposures
    (``_flc``/``_cal``, the very exposures the drizzled test bed drizzled into it), rendered
    once per replay; Gaia from :func:`helpers.simulate.gaia_like_catalog`
    and an HSC-v3-like catalog built from the same truth. Every row, file and table is
    labelled as a simulated replay (``obs_title``, ``project``, ``description``, ``SIMULATE``
    and, on member exposures, ``REPLAY`` headers, ``meta['source']``).
"""

import contextlib
import json
import math
import os
import re
import shutil
import tempfile
import weakref
from pathlib import Path
from unittest import mock
from urllib.parse import unquote

import numpy as np

from ..errors import WorkbookError
from ..skyplane import tangent_to_sky

__all__ = ["MastReplay", "RecordedReplay", "DemoReplay", "replay_for", "astroquery_test_data"]

DEMO_LABEL = "REPLAY: simulated demo data (helpers.simulate), not real MAST answers"
#: Primary-header card of every member exposure the demo replay serves (a product says SIMULATE/ORIGIN).
DEMO_MEMBER_CARD = ("REPLAY", "SIMULATED REPLAY (demo field, helpers.simulate)", "not a real file")


def astroquery_test_data(name=None):
    """Path of astroquery's recorded MAST answers (``astroquery/mast/tests/data``)."""
    import astroquery.mast

    base = Path(astroquery.mast.__file__).parent / "tests" / "data"
    return base / name if name else base


def _load(name):
    return json.loads(astroquery_test_data(name).read_text())


def _field_types(recorded):
    return {f["name"]: f["type"] for f in recorded["fields"]}


def _payload(fields, rows):
    return {"status": "COMPLETE", "msg": "", "fields": fields, "data": rows,
            "paging": {"page": 1, "pageSize": max(len(rows), 1), "pagesFiltered": 1, "rows": len(rows),
                       "rowsFiltered": len(rows), "rowsTotal": len(rows)}}


class MastReplay:
    """Base class: answers portal requests from :meth:`answer` and downloads from :meth:`write_file`.

    Subclasses set :attr:`label` and implement :meth:`answer` (service name and params
    -> MAST JSON dict) and :meth:`write_file`.
    """

    label = "replay"

    def __init__(self):
        self.requests = []  # (service, params) seen, for tests
        self.downloads = []

    # -- what a replay must provide -----------------------------------------------------
    def answer(self, service, params):  # pragma: no cover - abstract
        raise NotImplementedError

    def write_file(self, filename, local_path):  # pragma: no cover - abstract
        raise NotImplementedError

    def gaia(self, coord, radius_arcmin):
        raise WorkbookError(f"the {self.label} has no Gaia catalog; set live=True to query the Gaia archive")

    # -- the HTTP layer ------------------------------------------------------------------
    def _portal_request(self, method, url, params=None, data=None, headers=None, files=None,
                        stream=False, auth=None, retrieve_all=True, **kwargs):
        from astroquery.utils.mocks import MockResponse

        if "columnsconfig" in str(url):
            return [MockResponse(astroquery_test_data("columnsconfig.json").read_bytes())]
        text = data if isinstance(data, str) else ""
        if not text.startswith("request="):
            raise WorkbookError(f"the {self.label} cannot answer a request to {url}; set live=True to use MAST")
        request = json.loads(unquote(text[len("request="):]))
        service = request.get("service", "")
        self.requests.append((service, request.get("params", {})))
        payload = self.answer(service, request.get("params", {}))
        return [MockResponse(json.dumps(payload).encode())]

    def _download(self, url, local_path, *args, **kwargs):
        uri = unquote(str(url).split("?uri=", 1)[-1])
        filename = os.path.basename(uri)
        self.downloads.append(filename)
        self.write_file(filename, Path(local_path))
        return str(local_path)

    def _targets(self):
        from astroquery.mast import Observations, discovery_portal

        replay = self

        def _request(portal, method, url, *args, **kwargs):
            return replay._portal_request(method, url, *args, **kwargs)

        return [(discovery_portal.PortalAPI, "_request", _request),
                (Observations, "_download_file", self._download)]

    @contextlib.contextmanager
    def installed(self):
        """Context manager: astroquery talks to this replay instead of MAST."""
        with contextlib.ExitStack() as stack:
            for obj, name, value in self._targets():
                stack.enter_context(mock.patch.object(obj, name, value))
            yield self

    def install(self, monkeypatch):
        """The same, through pytest's ``monkeypatch`` (undone at the end of the test)."""
        for obj, name, value in self._targets():
            monkeypatch.setattr(obj, name, value)
        return self


class RecordedReplay(MastReplay):
    """Real MAST answers recorded in astroquery's test data, for the tests.

    Parameters
    ----------
    files : dict, optional
        ``productFilename -> bytes or callable(path)`` served on download; anything else
        answers as MAST does for a missing file (HTTP 404).
    overrides : dict, optional
        ``service -> MAST JSON dict`` replacing a recorded answer (e.g. an empty one).
    """

    label = "recorded MAST answers (astroquery test data)"
    SERVICES = {
        "Mast.Caom.Cone": "caom.json",
        "Mast.Caom.Filtered.Position": "caom.json",  # same CAOM schema; archive filters again
        "Mast.Caom.Filtered": "caom.json",
        "Mast.Caom.Products": "products.json",
        "Mast.Hsc.Db.v3": "hsc.json",
    }

    def __init__(self, files=None, overrides=None):
        super().__init__()
        self.files = dict(files or {})
        self.overrides = dict(overrides or {})

    def answer(self, service, params):
        if service in self.overrides:
            return self.overrides[service]
        if service not in self.SERVICES:
            return {"status": "ERROR", "msg": f"service {service} not recorded", "fields": [], "data": []}
        return _load(self.SERVICES[service])

    def write_file(self, filename, local_path):
        import requests

        content = self.files.get(filename)
        if content is None:
            response = requests.Response()
            response.status_code, response.reason = 404, "Not Found"
            raise requests.exceptions.HTTPError(f"404 Not Found: {filename}", response=response)
        if callable(content):
            content(local_path)
        else:
            Path(local_path).write_bytes(content)


# ----------------------------------------------------------------------------------------
# the demo field
# ----------------------------------------------------------------------------------------

class DemoReplay(MastReplay):
    """MAST as it would answer for the demo field, serving the simulated images.

    Parameters
    ----------
    size_pix : int
        Passed to :func:`helpers.simulate.demo_field` (default: the demo's own size, so
        the files match the truth other notebooks compare against).
    """

    label = DEMO_LABEL

    def __init__(self, size_pix=None):
        super().__init__()
        self.size_pix = size_pix
        self._field = None
        self._served = {}  # file name -> path in the replay's cache, filled by _render
        self._cache = None
        self.renders = []  # product names rendered (once each), for tests

    def _cache_dir(self):
        """Private directory of the rendered files, removed when the replay goes (or the process ends)."""
        if self._cache is None:
            self._cache = Path(tempfile.mkdtemp(prefix="wb-demo-replay-"))
            weakref.finalize(self, shutil.rmtree, str(self._cache), True)
        return self._cache

    def _render(self, spec):
        """Render a drizzled spec once through the bed: the product and every member exposure it drizzled.

        The members are the bed's own exposures (same truth, seeds, dithers, cosmic rays; DQ with the
        cosmic-ray bit and MDRIZSKY the drizzle wrote back, as AstroDrizzle does to its inputs; the WCS
        with the product header's known error, :func:`helpers.simulate.mosaic.with_header_error`), one
        flc/cal file per rootname (both ACS/WFC chips in one flc), taken as each is drizzled so memory
        stays one exposure deep. Rendering is the expensive part (the product's whole dither), so it
        happens once per replay and product; files are served from the replay's cache.
        """
        from .. import simulate
        from ..simulate.exposures import chip_hdus, exposure_file
        from ..simulate.mosaic import make_mosaic, product_frames, with_header_error

        truth, _ = self.field
        cache = self._cache_dir()
        pending = []  # the chips of the exposure being drizzled

        def flush():
            if pending:
                hdul = exposure_file(pending, cards=[DEMO_MEMBER_CARD])
                name = str(hdul[0].header["FILENAME"])
                hdul.writeto(cache / name, overwrite=True, checksum=True)
                self._served[name] = cache / name
                pending.clear()

        # the members carry the product header's known error, as real inputs share their product's alignment
        frame, header_wcs = product_frames(truth, spec) if spec.drizzled else (None, None)

        def keep(exposure):
            if pending and pending[0][0]["ROOTNAME"] != exposure.header["ROOTNAME"]:
                flush()
            pending.append((exposure.header.copy(),
                            chip_hdus(exposure, with_header_error(exposure.wcs, frame, header_wcs))))

        image = make_mosaic(truth, spec, on_exposure=keep) if spec.drizzled else simulate.make_image(
            truth, spec)
        flush()
        name = self._spec_info(spec)["filename"]
        image.writeto(cache / name, overwrite=True)
        self._served[name] = cache / name
        self.renders.append(spec.name)

    @property
    def field(self):
        """(truth, specs) from :func:`helpers.simulate.demo_field` (computed once)."""
        if self._field is None:
            from .. import simulate

            self._field = simulate.demo_field() if self.size_pix is None else simulate.demo_field(size_pix=self.size_pix)
        return self._field

    # -- CAOM -----------------------------------------------------------------------------
    def _spec_info(self, spec):
        from .. import simulate

        inst = simulate.INSTRUMENTS[spec.instrument]
        scale = float(spec.pixel_scale or inst["pixel_scale"])
        ny, nx = spec.shape
        hx, hy = nx * scale / 2.0, ny * scale / 2.0
        dx = np.array([-hx, hx, hx, -hx])
        dy = np.array([-hy, -hy, hy, hy])
        pa = math.radians(spec.orientat)
        # the simulated WCS: CD = s [[-cos, sin], [sin, cos]] (+y at PA `orientat`, East left)
        xi = -math.cos(pa) * dx + math.sin(pa) * dy
        eta = math.sin(pa) * dx + math.cos(pa) * dy
        center = spec.center if spec.center is not None else tuple(self.field[0].meta["center"])
        ra, dec = tangent_to_sky(xi, eta, *center)
        region = "POLYGON ICRS " + " ".join(f"{a:.8f} {d:.8f}" for a, d in zip(ra, dec))
        telescope = inst["telescope"]
        filename = f"{spec.name}_{inst['product']}.fits"
        obsid = str(9_900_000_000 + sum(ord(ch) * (k + 1) for k, ch in enumerate(spec.name)) % 99_999_999)
        mjd = float(simulate.decimal_year_to_mjd(spec.epoch))
        return {"center": center, "region": region, "telescope": telescope, "filename": filename,
                "obsid": obsid, "mjd": mjd, "instrument_name": "NIRCAM/IMAGE" if spec.instrument == "NIRCAM"
                else spec.instrument}

    def _caom_rows(self, params):
        truth, specs = self.field
        rows = []
        for spec in specs:
            info = self._spec_info(spec)
            rows.append({
                "dataproduct_type": "image", "calib_level": 3, "obs_collection": info["telescope"],
                "obs_id": spec.name, "target_name": "DEMO-HUDF-REPLAY",
                "s_ra": info["center"][0], "s_dec": info["center"][1],
                "t_min": info["mjd"], "t_max": info["mjd"] + spec.exptime / 86400.0 * 3, "t_exptime": spec.exptime,
                "wavelength_region": "OPTICAL" if info["telescope"] == "HST" else "INFRARED",
                "filters": spec.filter, "em_min": None, "em_max": None, "target_classification": None,
                "obs_title": "SIMULATED REPLAY of the demo field (helpers.simulate) - not a real observation",
                "t_obs_release": info["mjd"] + 365.0, "instrument_name": info["instrument_name"],
                "proposal_pi": "Replay", "proposal_id": "0", "project": "REPLAY",
                "s_region": info["region"], "jpegURL": None, "dataURL": None, "obsid": info["obsid"],
                "objID": info["obsid"], "distance": 0.0,
            })
        return rows

    def _products_rows(self, params):
        from ..simulate.mosaic import member_names

        truth, specs = self.field
        wanted = {s.strip() for s in str(params.get("obsid", "")).split(",") if s.strip()}
        rows = []
        for spec in specs:
            info = self._spec_info(spec)
            if wanted and info["obsid"] not in wanted:
                continue
            common = {"obsID": info["obsid"], "obs_collection": info["telescope"], "dataproduct_type": "image",
                      "obs_id": spec.name, "project": "REPLAY", "prvversion": "replay", "_selected_": None,
                      "productDocumentationURL": None}
            rows.append({**common, "description": "SIMULATED REPLAY drizzled/resampled science image",
                         "type": "S", "dataURI": f"mast:REPLAY/product/{info['filename']}",
                         "productType": "SCIENCE", "productGroupDescription": "Minimum Recommended Products",
                         "productSubGroupDescription": info["filename"].rsplit("_", 1)[1][:-5].upper(),
                         "productFilename": info["filename"], "size": None})
            member = "cal" if info["telescope"] == "JWST" else "flc"
            # the members' rootnames are those the product's D00nDATA keywords name (the drizzled bed's)
            roots = (member_names(spec) if spec.drizzled
                     else [f"{spec.name}_e{k + 1:02d}" for k in range(int(spec.n_exposures))])
            served = bool(spec.drizzled)  # the direct renderer has no exposures to serve
            for root in roots:
                fn = f"{root}_{member}.fits"
                what = ("SIMULATED REPLAY member exposure (rendered by the drizzled bed that made the product)"
                        if served else "SIMULATED REPLAY member exposure (not served)")
                rows.append({**common, "description": what,
                             "type": "S", "dataURI": f"mast:REPLAY/product/{fn}", "productType": "SCIENCE",
                             "productGroupDescription": None, "productSubGroupDescription": member.upper(),
                             "productFilename": fn, "size": None})
        return rows

    def answer(self, service, params):
        if service.startswith("Mast.Caom.Filtered") or service == "Mast.Caom.Cone":
            recorded = _load("caom.json")
            types = _field_types(recorded)
            rows = self._caom_rows(params)
            fields = [{"name": n, "type": types.get(n, "string")} for n in rows[0]] if rows else recorded["fields"]
            return _payload(fields, self._within(rows, params))
        if service == "Mast.Caom.Products":
            recorded = _load("products.json")
            return _payload(recorded["fields"], self._products_rows(params))
        if service.startswith("Mast.Hsc.Db"):
            recorded = _load("hsc.json")
            return _payload(recorded["fields"], self._hsc_rows(params))
        return {"status": "ERROR", "msg": f"{self.label}: service {service} is not replayed", "fields": [], "data": []}

    @staticmethod
    def _within(rows, params):
        if "position" in params:
            ra, dec, radius = (float(v) for v in str(params["position"]).split(","))
        elif "ra" in params:
            ra, dec, radius = float(params["ra"]), float(params["dec"]), float(params.get("radius", 0.2))
        else:
            return rows
        out = []
        for r in rows:
            d = math.degrees(math.acos(min(1.0, math.sin(math.radians(dec)) * math.sin(math.radians(r["s_dec"]))
                                           + math.cos(math.radians(dec)) * math.cos(math.radians(r["s_dec"]))
                                           * math.cos(math.radians(ra - r["s_ra"])))))
            if d <= radius + 3.0 / 60.0:  # centre within radius + an image half-size
                out.append({**r, "distance": d * 3600.0})
        return out

    # -- files ----------------------------------------------------------------------------
    def write_file(self, filename, local_path):
        """Serve a demo product or one of its member exposures (rendered once, then copied); 404 otherwise.

        Only the names this replay lists are answered, so nothing simulated can reach another field.
        """
        from ..simulate.mosaic import member_names

        truth, specs = self.field
        if filename not in self._served:
            for spec in specs:
                info = self._spec_info(spec)
                kind = "cal" if info["telescope"] == "JWST" else "flc"
                names = {info["filename"]}
                if spec.drizzled:
                    names |= {f"{root}_{kind}.fits" for root in member_names(spec)}
                if filename in names and spec.name not in self.renders:
                    self._render(spec)
                    break
        if filename in self._served:
            # a hard link where the cache and the download share a file system (no copy of ~100 MB files)
            Path(local_path).unlink(missing_ok=True)
            try:
                os.link(self._served[filename], local_path)
            except OSError:
                shutil.copyfile(self._served[filename], local_path)
            return
        import requests

        response = requests.Response()
        response.status_code, response.reason = 404, "Not Found"
        raise requests.exceptions.HTTPError(f"404 Not Found: {filename} (not part of the demo replay)",
                                            response=response)

    # -- catalogs -------------------------------------------------------------------------
    def gaia(self, coord, radius_arcmin):
        """Gaia DR3-like catalog of the demo truth within the radius (simulated replay)."""
        from .. import simulate

        truth, _ = self.field
        gaia = simulate.gaia_like_catalog(truth)
        keep = _separation_arcmin(gaia["ra"], gaia["dec"], coord.ra.deg, coord.dec.deg) <= radius_arcmin
        gaia = gaia[keep]
        gaia.meta["source"] = f"{DEMO_LABEL}: Gaia DR3-like (simulate.gaia_like_catalog)"
        return gaia

    def hsc_table(self, ra, dec, radius_deg):
        """The HSC-v3-like rows as a plain Table (for tests)."""
        from astropy.table import Table

        return Table(rows=[[r[k] for k in self._hsc_keys] for r in self._hsc_rows(
            {"ra": ra, "dec": dec, "radius": radius_deg})], names=self._hsc_keys)

    _hsc_keys = ("MatchID", "MatchRA", "MatchDec", "DSigma", "NumImages")

    def _hsc_rows(self, params):
        """HSC v3-like matches: ACS-epoch positions of the truth with 2-10 mas scatter."""
        from .. import simulate

        truth, specs = self.field
        hst = [s for s in specs if s.instrument != "NIRCAM"] or specs
        epoch = float(np.mean([s.epoch for s in hst]))
        mag = np.asarray(truth["mag"], float)
        sel = mag < 27.0
        t = truth[sel]
        mag = mag[sel]
        dt = epoch - float(truth.meta.get("ref_epoch", 2016.0))
        dec = np.asarray(t["dec"], float)
        pos = t[["id"]].copy()
        pos["ra"] = np.asarray(t["ra"], float) + np.asarray(t["pmra"], float) * dt / 3.6e6 / np.cos(np.radians(dec))
        pos["dec"] = dec + np.asarray(t["pmdec"], float) * dt / 3.6e6
        # HSC v3: DSigma is the scatter of the individual detections (~2 mas bright, ~10 mas faint);
        # the match position is their mean, so it is off by DSigma / sqrt(NumImages - 1), as in the
        # real catalog (helpers.astrometry.hsc_reference removes exactly that error)
        filters = {s.filter for s in hst}
        n_images = 2 * len(filters)
        sigma = np.clip(2.0 + 8.0 * (mag - 21.0) / 6.0, 2.0, 10.0)
        pos = simulate.perturb_catalog(pos, sigma / np.sqrt(max(n_images - 1, 1)), seed=4242)
        ra0, dec0 = float(params.get("ra", truth.meta["center"][0])), float(params.get("dec", truth.meta["center"][1]))
        radius = float(params.get("radius", 0.2)) * 60.0
        dist = _separation_arcmin(pos["ra"], pos["dec"], ra0, dec0)
        is_gal = np.asarray(t["kind"]).astype(str) == "galaxy"
        mjd = float(simulate.decimal_year_to_mjd(epoch))
        rows = []
        for i in np.flatnonzero(dist <= radius):
            row = {"MatchID": int(90_000_000 + int(t["id"][i])), "Distance": float(dist[i] * 60.0),
                   "MatchRA": float(pos["ra"][i]), "MatchDec": float(pos["dec"][i]), "DSigma": float(sigma[i]),
                   "AbsCorr": "Y", "NumFilters": len(filters), "NumVisits": 1, "NumImages": n_images,
                   "StartMJD": mjd, "StopMJD": mjd + 1.0, "TargetName": "DEMO-HUDF-REPLAY",
                   "CI": 1.6 if is_gal[i] else 1.0, "CI_Sigma": 0.05, "KronRadius": 0.4 if is_gal[i] else 0.2,
                   "KronRadius_Sigma": 0.0, "Extinction": 0.008, "SpectrumFlag": "N"}
            for band in ("W2_F255W", "W3_F275W", "W2_F336W", "W3_F336W", "W3_F438W", "W2_F439W", "W2_F555W"):
                row.update({band: None, f"{band}_Sigma": None, f"{band}_N": 0})
            for band in ("F606W", "F814W"):
                has = band in filters
                row.update({f"A_{band}": float(mag[i]) if has else None,
                            f"A_{band}_Sigma": 0.02 if has else None, f"A_{band}_N": 2 if has else 0})
            rows.append(row)
        return rows


def _separation_arcmin(ra, dec, ra0, dec0):
    ra, dec = np.radians(np.asarray(ra, float)), np.radians(np.asarray(dec, float))
    ra0, dec0 = math.radians(ra0), math.radians(dec0)
    c = np.sin(dec) * math.sin(dec0) + np.cos(dec) * math.cos(dec0) * np.cos(ra - ra0)
    return np.degrees(np.arccos(np.clip(c, -1.0, 1.0))) * 60.0


_DEMO = None
DEMO_MAX_OFFSET_ARCMIN = 5.0


def replay_for(coord):
    """The offline replay for a field centre: the demo replay near the HUDF, else an error.

    Parameters
    ----------
    coord : `~astropy.coordinates.SkyCoord`, (ra, dec) or None

    Raises
    ------
    WorkbookError
        Offline, only the demo field is replayed.
    """
    global _DEMO
    from ..config import DEMO_FIELD

    if coord is not None:
        ra, dec = (coord.ra.deg, coord.dec.deg) if hasattr(coord, "ra") else coord
        if _separation_arcmin(ra, dec, DEMO_FIELD["ra"], DEMO_FIELD["dec"]) > DEMO_MAX_OFFSET_ARCMIN:
            raise WorkbookError(
                f"offline (live=False) only the demo field near the HUDF ({DEMO_FIELD['ra']}, {DEMO_FIELD['dec']}) is "
                f"replayed; for ({float(ra):.5f}, {float(dec):+.5f}) set live=True in notebook 00 to query MAST")
    if _DEMO is None:
        _DEMO = DemoReplay()
    return _DEMO


# The replay's own identification, for the notebook text.
REPLAY_NOTE = re.sub(r"\s+", " ", __doc__.split("Two replays:")[0]).strip()
