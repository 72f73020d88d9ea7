"""The plain-text summary card at the end of notebook 05."""

import math
from pathlib import Path

from ..errors import WorkbookError
from ..validate import require_number, require_text

__all__ = [
    "summary_card",
    "astrometry_summary",
]


def astrometry_summary(record):
    """Normalise notebook 03's ``cfg.extra['astrometry']`` into ``{'sigma_mas', 'verdict'}``.

    Accepts the keys the astrometry step may use (``sigma_mas``, ``sigma``,
    ``sigma_cat_1d_mas``, ``sigma_diff_1d_mas``; ``verdict`` as text or a dict with
    ``label``/``text``/``band``). Returns ``None`` values when absent.
    """
    out = {"sigma_mas": None, "verdict": None, "sentence": None}
    if record is not None and not isinstance(record, dict):
        raise WorkbookError(f"record = {record!r:.40} is not a dict; pass notebook 03's cfg.extra.get('astrometry') "
                            "(None when it did not run)")
    if not isinstance(record, dict):
        return out
    if record.get("sentence"):
        out["sentence"] = str(record["sentence"])
    for key in ("sigma_mas", "sigma", "sigma_1d_mas", "sigma_cat_1d_mas", "sigma_diff_1d_mas"):
        value = record.get(key)
        if isinstance(value, (int, float)) and math.isfinite(value):
            out["sigma_mas"] = float(value)
            break
    v = record.get("verdict")
    if isinstance(v, dict):
        if out["sigma_mas"] is None and isinstance(v.get("sigma_mas"), (int, float)):
            out["sigma_mas"] = float(v["sigma_mas"])
        v = v.get("label") or v.get("text") or v.get("band") or v.get("summary")
    out["verdict"] = str(v) if v is not None else None
    return out


def summary_card(field, imaging, astrometry, counts, files, msata=None, plan=None):
    """Plain-text summary card for the end of notebook 05.

    Parameters
    ----------
    field : dict
        ``name, ra, dec`` (and optionally ``pointing`` and ``planning``, notebook 04's optimizer
        record: ``n_targets``, ``expected``, ``date``, ``disperser``).
    imaging : str
        The imaging used (instrument/filter/product id).
    astrometry : dict or None
        ``verdict`` and ``sigma_mas`` (per axis) from notebook 03.
    counts : dict
        Counts to show (e.g. sources exported, in the MSA, MSATA recommended).
    files : dict
        ``{label: path}`` written.
    msata : dict, optional
        MSATA selection summary.
    plan : dict, optional
        As `write_session`'s ``plan``: the MPT pointing, planned targets, overlaps for the
        chosen disperser, the slitlet region file.

    Returns
    -------
    text : str
    """
    import textwrap

    for value, name in ((field, "field"), (counts, "counts"), (files, "files")):
        if not isinstance(value, dict):
            raise WorkbookError(f"{name} = {value!r:.40} is not a dict; see summary_card's docstring for what to pass")
    for value, name in ((astrometry, "astrometry"), (msata, "msata"), (plan, "plan")):
        if value is not None and not isinstance(value, dict):
            raise WorkbookError(f"{name} = {value!r:.40} is not a dict or None; see summary_card's docstring")
    require_number(field.get("ra"), "field['ra']", example=53.16)
    require_number(field.get("dec"), "field['dec']", example=-27.79)
    require_text(imaging, "imaging")
    rows = [("Field centre", f"RA {field.get('ra'):.6f} deg, Dec {field.get('dec'):.6f} deg (ICRS)")]
    p = field.get("pointing")
    if p:
        rows.append(("Pointing", f"RA {p.get('ra'):.6f}, Dec {p.get('dec'):.6f}, APA {p.get('apa')} deg, "
                                 f"filter {p.get('filter')}"))
    else:
        rows.append(("Pointing", "not chosen (notebook 04 not run) - no MSA counts"))
    apt = plan
    mp = (apt or {}).get("mpt_pointing")
    if mp:
        rows.append(("MPT pointing", f"{mp['aperture']} reference point RA {mp['ra_hms']} Dec {mp['dec_dms']} "
                                     f"({mp['ra_deg']:.9f}, {mp['dec_deg']:.9f} deg), APA {mp['apa_deg']:.4f} deg "
                                     f"(V3PA {mp['v3pa_deg']:.4f})"))
    if apt and apt.get("n_planned") is not None:
        rows.append(("Planned slitlets", f"{apt['n_planned']} targets counted at this pointing "
                                         f"({apt.get('constraint')}, {apt.get('slitlet')}-shutter slitlets)"
                                         + (f"; DS9: {apt['slitlet_regions']}" if apt.get("slitlet_regions") else "")))
    ov = (apt or {}).get("overlaps")
    if ov:
        rows.append(("Spectral overlaps", f"{ov['n_pairs']} overlapping pair(s) among {ov['n_planned']} planned "
                                          f"targets with {ov['disperser']} ({ov['n_targets_overlapping']} targets involved)"))
    plan = field.get("planning")
    if plan:
        rows.append(("Planned yield", f"{plan.get('n_targets')} targets in their centering zone, "
                                      f"{plan.get('expected'):.1f} expected with catalog and MSATA errors "
                                      f"(optimised for {plan.get('date')}, {plan.get('disperser') or 'overlaps not checked'})"))
        if plan.get("n_overlaps_dropped") is not None and not (apt or {}).get("overlaps"):
            rows.append(("Spectral overlaps", f"none among the planned targets; {plan['n_overlaps_dropped']} "
                                              "lower-priority targets dropped for overlapping spectra"))
    rows.append(("Imaging used", imaging))
    astro = astrometry_summary(astrometry)
    if astrometry:
        sig = astro["sigma_mas"]
        sig_s = f"{sig:.1f} mas (1-sigma per axis)" if sig is not None else "not recorded"
        rows.append(("Measured scatter", f"{sig_s}; verdict: {astro['verdict']}"))
        if astro["sentence"]:
            rows.append(("", astro["sentence"]))
    else:
        rows.append(("Measured scatter", "not available (notebook 03 not run)"))
    rows += [(k, str(v)) for k, v in counts.items()]
    if msata:
        rows.append(("MSATA", f"{msata.get('n_selected')} recommended of {msata.get('n_usable')} usable, "
                              f"{msata.get('ta_filter')}/{msata.get('readout')} window {msata.get('window_ab')} AB "
                              "(TA magnitudes estimated from the pre-image)"))
        if msata.get("ids"):
            rows.append(("MSATA IDs (rank)", ", ".join(str(i) for i in msata["ids"])))
        if msata.get("warning"):
            rows.append(("MSATA warning", msata["warning"]))
    width = max(len(k) for k, _ in rows)
    lines = ["=" * 96, f"MSA export summary - field {field.get('name')}", "=" * 96]
    for k, v in rows:
        wrapped = textwrap.wrap(v, 96 - width - 3) or [""]
        lines.append(f"{k:<{width}} {':' if k else ' '} {wrapped[0]}")
        lines += [" " * (width + 3) + w for w in wrapped[1:]]
    lines.append(f"{'Files written':<{width}} :")
    for label, path in files.items():
        lines.append(f"  - {label}: {Path(path).name}")
    lines.append("=" * 96)
    return "\n".join(lines)
