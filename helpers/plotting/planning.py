"""Figure for helpers.planning: allowed APA vs date in the jwst_gtvt style."""

import numpy as np

from ..errors import WorkbookError
from ..export._checks import require_table
from ..validate import require_number

__all__ = ["plot_apa_windows"]


def plot_apa_windows(table, epoch=None, ax=None):
    """Allowed NIRSpec MSA APA range per day (band) and nominal APA (line), gtvt style.

    Parameters
    ----------
    table : `~astropy.table.Table`
        From `helpers.planning.apa_windows`.
    epoch : str or float, optional
        Planned date (ISO) or MJD, marked with a vertical line.
    ax : `matplotlib.axes.Axes`, optional

    Returns
    -------
    `matplotlib.figure.Figure`
    """
    require_table(table, "table", ("mjd", "visible", "apa_nominal", "apa_min", "apa_max"),
                  numeric=("mjd", "apa_nominal", "apa_min", "apa_max"), hint="pass what helpers.planning.apa_windows returned")
    if epoch is not None and (isinstance(epoch, bool) or not isinstance(epoch, (str, int, float))):
        raise WorkbookError(f"epoch = {epoch!r:.40} is not a date; give an ISO date ('2027-01-15'), an MJD or None")
    if isinstance(epoch, float):
        require_number(epoch, "epoch", example=61400.0)
    import matplotlib.pyplot as plt
    from astropy.time import Time

    if ax is None:
        fig, ax = plt.subplots(figsize=(9, 4))
    else:
        fig = ax.figure
    mjd = np.asarray(table["mjd"], float)
    vis = np.asarray(table["visible"], bool)
    nominal = np.asarray(table["apa_nominal"], float)
    lo = np.asarray(table["apa_min"], float)
    hi = np.asarray(table["apa_max"], float)
    # unwrap across 0/360 so the band does not jump; break lines where not visible
    lo_u = np.where(hi < lo, lo - 360.0, lo)
    dates = Time(mjd, format="mjd").datetime
    nom = np.where(vis, nominal, np.nan)
    ax.fill_between(dates, np.where(vis, lo_u, np.nan), np.where(vis, hi, np.nan), color="#8fb3de", alpha=0.6,
                    label="allowed APA", step="mid")
    ax.plot(dates, nom, color="#1f4e9c", lw=1.2, label="nominal APA")
    if epoch is not None:
        t = Time(epoch, format="mjd") if isinstance(epoch, (int, float)) else Time(epoch)
        ax.axvline(t.datetime, color="#c0392b", lw=1.5, ls="--", label=f"planned {t.iso[:10]}")
    ax.set_ylim(0, 360)
    ax.set_ylabel("NIRSpec MSA aperture PA (deg)")
    ax.set_xlabel("date")
    ra, dec = table.meta.get("ra"), table.meta.get("dec")
    where = f" RA {ra:.4f}, Dec {dec:.4f}" if ra is not None else ""
    ax.set_title(f"Allowed APA by date{where} ({table.meta.get('source', '')[:40]})", fontsize=9)
    ax.legend(loc="upper right", fontsize=8)
    fig.autofmt_xdate()
    return fig
