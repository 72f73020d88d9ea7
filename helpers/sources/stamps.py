"""Stamps: integer pixel grids around sources."""

import numpy as np


def _stamp_index(x, y, radius, shape):
    """Integer pixel grids (N, 2r+1, 2r+1) around rounded centres, clipped, and an inside mask."""
    ny, nx = shape
    ix = np.rint(x).astype(np.int64)
    iy = np.rint(y).astype(np.int64)
    k = np.arange(-radius, radius + 1)
    px = ix[:, None, None] + k[None, None, :]
    py = iy[:, None, None] + k[None, :, None]
    px, py = np.broadcast_arrays(px, py)
    inside = (px >= 0) & (px < nx) & (py >= 0) & (py < ny)
    return np.clip(px, 0, nx - 1), np.clip(py, 0, ny - 1), inside


def _stamp_any(maskarr, x, y, radius):
    if maskarr is None or len(x) == 0:
        return np.zeros(len(x), bool)
    px, py, inside = _stamp_index(x, y, radius, maskarr.shape)
    return np.any(maskarr[py, px] | ~inside, axis=(1, 2)) if maskarr is not None else np.zeros(len(x), bool)
