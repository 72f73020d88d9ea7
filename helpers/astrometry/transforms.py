"""Plane transform fit between matched catalogs: shift (2), shift+rotation+scale (4) or affine (6
parameters), iteratively sigma-clipped linear least squares (:func:`fit_transform`), giving a
:class:`Transform` and the residuals.

Units: tangent-plane positions and residuals in mas; rotation in arcsec; scale in ppm.
"""

import dataclasses
import math

import numpy as np

from ..errors import WorkbookError
from ..validate import require_array, require_number, require_same_length
from .stats import robust_sigma

__all__ = [
    "Transform",
    "fit_transform",
]

_FIT_TYPES = {"shift": 2, "shift+rotation+scale": 4, "affine": 6}
_FIT_ALIASES = {"none": "shift", "2": "shift", "4": "shift+rotation+scale", "rscale": "shift+rotation+scale",
                "shift+rotation+scale": "shift+rotation+scale", "general": "affine", "6": "affine",
                "shift": "shift", "affine": "affine"}


# --------------------------------------------------------------------------- transform fit
def _design(x, y, n_par):
    one, zero = np.ones_like(x), np.zeros_like(x)
    if n_par == 2:
        ax = np.column_stack([one, zero])
        ay = np.column_stack([zero, one])
    elif n_par == 4:  # x' = tx + a x - b y ; y' = ty + b x + a y
        ax = np.column_stack([one, zero, x, -y])
        ay = np.column_stack([zero, one, y, x])
    else:  # x' = tx + a x + b y ; y' = ty + c x + d y
        ax = np.column_stack([one, zero, x, y, zero, zero])
        ay = np.column_stack([zero, one, zero, zero, x, y])
    return np.vstack([ax, ay])


def _fit_once(xc, yc, xr, yr, n_par, scale):
    """Least-squares fit of ref - cat offsets (small-correction parametrisation)."""
    xs, ys = xc / scale, yc / scale
    a = _design(xs, ys, n_par)
    b = np.concatenate([xr - xc, yr - yc])
    p, *_ = np.linalg.lstsq(a, b, rcond=None)
    return p


def _apply(p, xc, yc, n_par, scale):
    xs, ys = xc / scale, yc / scale
    a = _design(xs, ys, n_par)
    d = a @ p
    n = xc.size
    return xc + d[:n], yc + d[n:]


@dataclasses.dataclass
class Transform:
    """A fitted plane transform taking catalog tangent-plane positions onto the reference.

    Attributes
    ----------
    kind : str
        ``"shift"``, ``"shift+rotation+scale"`` or ``"affine"``.
    shift_mas : (float, float)
        Shift at the tangent point (East, North), mas.
    rotation_arcsec : float
        Rotation (catalog to reference, counter-clockwise on the sky East of North), arcsec.
    scale_ppm : float
        Scale change, parts per million.
    matrix : list of list
        The 2x2 linear part (identity + correction).
    params : list of float
        Raw least-squares parameters.
    center : (float, float)
        Tangent point (RA, Dec), degrees.
    """

    kind: str
    shift_mas: tuple
    rotation_arcsec: float
    scale_ppm: float
    matrix: list
    params: list
    center: tuple
    _scale: float = 1.0e5

    def apply(self, xi_mas, eta_mas):
        """Apply to tangent-plane offsets (mas) about ``center``; returns transformed offsets."""
        return _apply(np.asarray(self.params), np.asarray(xi_mas, float), np.asarray(eta_mas, float),
                      _FIT_TYPES[self.kind], self._scale)

    def to_dict(self):
        out = dataclasses.asdict(self)
        out.pop("_scale")
        return out


def _make_transform(kind, p, center, scale):
    n_par = _FIT_TYPES[kind]
    if n_par == 2:
        m = np.eye(2)
    elif n_par == 4:
        m = np.array([[1 + p[2] / scale, -p[3] / scale], [p[3] / scale, 1 + p[2] / scale]])
    else:
        m = np.array([[1 + p[2] / scale, p[3] / scale], [p[4] / scale, 1 + p[5] / scale]])
    rot = math.degrees(math.atan2(m[1, 0] - m[0, 1], m[0, 0] + m[1, 1])) * 3600.0
    scl = (math.sqrt(abs(np.linalg.det(m))) - 1.0) * 1e6
    return Transform(kind=kind, shift_mas=(float(p[0]), float(p[1])), rotation_arcsec=float(rot),
                     scale_ppm=float(scl), matrix=m.tolist(), params=[float(v) for v in p],
                     center=tuple(map(float, center)), _scale=scale)


def _normalise_fit(fit):
    key = str(fit).lower().replace(" ", "")
    if key not in _FIT_ALIASES:
        raise WorkbookError(f"fit={fit!r} is not known; use 'shift', 'shift+rotation+scale' or 'affine'")
    return _FIT_ALIASES[key]


def fit_transform(xc, yc, xr, yr, fit="shift+rotation+scale", clip_sigma=5.0, max_iter=10, center=(0.0, 0.0)):
    """Iteratively sigma-clipped linear least-squares fit of catalog onto reference positions.

    Parameters
    ----------
    xc, yc, xr, yr : ndarray
        Catalog and reference tangent-plane positions of matched pairs, mas.
    fit : {'shift', 'shift+rotation+scale', 'affine'}
        2, 4 or 6 free parameters.
    clip_sigma : float
        Pairs whose residual exceeds ``clip_sigma`` x the robust sigma of its axis are
        excluded from the next iteration.
    max_iter : int
    center : (float, float)
        Tangent point, degrees (recorded in the transform).

    Returns
    -------
    transform : Transform
    dx, dy : ndarray
        Residuals transformed catalog - reference, mas, for every pair.
    used : ndarray of bool
        Pairs kept by the clipping.

    Examples
    --------
    >>> import numpy as np
    >>> x, y = np.meshgrid(np.linspace(-6e4, 6e4, 10), np.linspace(-6e4, 6e4, 10))
    >>> x, y = x.ravel(), y.ravel()
    >>> t, dx, dy, used = fit_transform(x + 20.0, y - 5.0, x, y, fit="shift")
    >>> [round(v, 3) for v in t.shift_mas]
    [-20.0, 5.0]
    """
    kind = _normalise_fit(fit)
    n_par = _FIT_TYPES[kind]
    xc, yc, xr, yr = (require_array(v, n, what="tangent-plane positions in mas", allow_nan=False)
                      for v, n in ((xc, "xc"), (yc, "yc"), (xr, "xr"), (yr, "yr")))
    require_same_length(xc=xc, yc=yc, xr=xr, yr=yr)
    clip_sigma = require_number(clip_sigma, "clip_sigma", minimum=0.5, example="5.0")
    max_iter = require_number(max_iter, "max_iter", minimum=1, integer=True, example="10")
    scale = 1.0e5  # mas -> units of 100": keeps the design matrix well conditioned
    used = np.ones(xc.size, bool)
    for _ in range(max_iter):
        p = _fit_once(xc[used], yc[used], xr[used], yr[used], n_par, scale)
        xt, yt = _apply(p, xc, yc, n_par, scale)
        dx, dy = xt - xr, yt - yr
        sx, sy = robust_sigma(dx[used]), robust_sigma(dy[used])
        sx, sy = max(sx, 1e-6), max(sy, 1e-6)
        new = (np.abs(dx - np.median(dx[used])) <= clip_sigma * sx) & (np.abs(dy - np.median(dy[used])) <= clip_sigma * sy)
        if new.sum() < max(n_par, 3) or np.array_equal(new, used):
            break
        used = new
    return _make_transform(kind, p, center, scale), dx, dy, used
