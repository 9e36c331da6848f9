"""Mask -> 3D part, region-level refinement, and regions in their object's frame.

A *part* is the 3D counterpart of a 2D mask (a segment-anything mask, or the simulator's
ground-truth part mask): the base-frame points of its pixels, robust to depth-edge outliers,
with centroid, principal axes, extent, surface normal and a confidence.

Region-level refinement (method reference, section 4) narrows a part to the region a
constraint needs:

* positional flow, from geometry only: :func:`rim_centre` (the centre of an opening: a
  circle fitted to the top band of a rim/mouth part; a point in free space),
  :func:`top_surface` (the highest slab of points) and :func:`tip` (one end of the part
  along its major axis);
* geometric flow: :func:`cells_subregion` intersects the part with a boolean pixel mask (the
  union of the grid cells the MLLM picked, from the marks module) and returns those points.

Geometric refinements (rim, top, tip) use a part's *measured* points only; its centroid
and the cells sub-region use all its pixels (depth holes filled from trusted neighbours).

Everything is computed in the robot base frame; :func:`region_in_object_frame` (and the
``to_region`` methods) turn base-frame points into a :class:`resem3d_constraints.Region` in
the owning object's frame, so that the region moves with the tracked object.
:func:`estimate_object_frame` gives an initial object frame when no pose is known.

Axis conventions (the same as :meth:`resem3d_constraints.Region.from_points`, applied in the
base frame): axes are columns major, middle, minor of a right-handed rotation; the major axis
points towards +x of the base (else +y, else +z), the minor towards +z (else +y, else +x).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import cv2
import numpy as np
from scipy.ndimage import distance_transform_edt
from scipy.optimize import least_squares

import resem3d_constraints as rc

from .cloud import (Cloud, check_mask, check_rigid, invert_rigid, pixel_rays,
                    transform_points)
from .errors import EmptyRegionError, PerceptionInputError

_EYE = np.eye(3)
# Minimum number of points for a part (fewer: EmptyRegionError).
DEFAULT_MIN_POINTS = 10
# A part with this many points (or more) gets full point-count confidence.
FULL_CONFIDENCE_POINTS = 200
# Upright direction of the base frame (z up).
UP_BASE = (0.0, 0.0, 1.0)


# --- small geometry helpers ---------------------------------------------------------------------

def _unit_towards(v: np.ndarray, preferred: tuple[int, ...]) -> np.ndarray:
    """Flip ``v`` so that its first clearly non-zero component in ``preferred`` is positive."""
    for i in preferred:
        if abs(v[i]) > 1e-9:
            return v if v[i] > 0.0 else -v
    return v


def principal_axes(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PCA of a point set with deterministic, right-handed axes.

    Args:
        points: (N, 3) points (m), N >= 1.

    Returns:
        ``(centroid (3,), axes (3, 3) columns major/middle/minor, eigenvalues (3,) m^2
        major to minor)``. Sign rule: major towards +x (else +y, +z), minor towards +z (else
        +y, +x), middle = minor x major. Coincident points get the identity.
    """
    P = np.asarray(points, dtype=float)
    centroid = P.mean(axis=0)
    X = P - centroid
    cov = X.T @ X / len(P)
    eigenvalues, eigenvectors = np.linalg.eigh(cov)
    if not np.any(X):
        return centroid, _EYE.copy(), np.zeros(3)
    major = _unit_towards(eigenvectors[:, 2], (0, 1, 2))
    minor = _unit_towards(eigenvectors[:, 0], (2, 1, 0))
    axes = np.column_stack([major, np.cross(minor, major), minor])
    return centroid, axes, np.maximum(eigenvalues[::-1], 0.0)


def _unit(v: Any, name: str) -> np.ndarray:
    try:
        u = np.asarray(v, dtype=float).reshape(3)
    except (TypeError, ValueError):
        raise PerceptionInputError(f'{name} must be a 3-vector') from None
    norm = float(np.linalg.norm(u))
    if not math.isfinite(norm) or norm < 1e-12:
        raise PerceptionInputError(f'{name} must be a finite non-zero 3-vector, got {u}')
    return u / norm


def _points(points: Any, name: str = 'points_base') -> np.ndarray:
    try:
        P = np.asarray(points, dtype=float)
    except (TypeError, ValueError):
        raise PerceptionInputError(f'{name} is not numeric') from None
    if P.ndim != 2 or P.shape[1] != 3:
        raise PerceptionInputError(f'{name} must be (N, 3), got shape {P.shape}')
    if not np.all(np.isfinite(P)):
        raise PerceptionInputError(f'{name} has non-finite values')
    return P


def remove_statistical_outliers(points: np.ndarray, neighbors: int = 16,
                                std_ratio: float = 2.0) -> np.ndarray:
    """(N,) bool inlier selection by open3d's statistical outlier removal.

    A point is an outlier when its mean distance to its ``neighbors`` nearest neighbours
    exceeds the mean of that statistic by ``std_ratio`` standard deviations (flying pixels
    at depth edges). Sets too small for the statistic keep every point.
    """
    n = len(points)
    keep = np.ones(n, dtype=bool)
    if n <= neighbors + 1:
        return keep
    import open3d as o3d

    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(points, np.float64)))
    _, index = pcd.remove_statistical_outlier(nb_neighbors=neighbors, std_ratio=std_ratio)
    keep[:] = False
    keep[np.asarray(index, dtype=np.int64)] = True
    return keep


# --- parts ---------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Part:
    """A part of an object in 3D, from a mask and a point cloud (base frame, metres).

    Attributes:
        name: Part label, e.g. ``mug/handle`` (or a mark id as text).
        points_base: (N, 3) float64 points ``p_base`` (m), one per mask pixel on the
            cloud's grid that has a measured depth or (``fill_missing``) a filled one;
            outliers removed.
        pixel_index: (N,) row-major pixel index (``v * width + u``) of each point,
            ascending.
        measured: (N,) bool: True for measured points, False for mask pixels whose depth
            was filled from their nearest trusted neighbour (see :func:`part_from_mask`).
        centroid_base: (3,) mean of the points (m).
        axes_base: (3, 3) principal axes as columns (major, middle, minor), right-handed.
        extent_m: (3,) full side lengths of the oriented box along ``axes_base`` (m).
        center_base: (3,) centre of that box (m).
        normal_base: (3,) unit surface normal: the minor axis, oriented towards the camera.
        confidence: In [0, 1]: valid-depth fraction of the mask x point-count factor
            (``min(1, measured points / 200)``).
        pixel_count: Pixels set in the mask (on the cloud's pixel grid).
        valid_fraction: Fraction of those pixels with valid depth.
        camera_base: (3,) camera centre the part was seen from (m).
        width: Image width (px) of the pixel indices.
    """

    name: str
    points_base: np.ndarray
    pixel_index: np.ndarray
    measured: np.ndarray
    centroid_base: np.ndarray
    axes_base: np.ndarray
    extent_m: np.ndarray
    center_base: np.ndarray
    normal_base: np.ndarray
    confidence: float
    pixel_count: int
    valid_fraction: float
    camera_base: np.ndarray
    width: int

    @property
    def point_count(self) -> int:
        """Number of 3D points (N), filled ones included."""
        return int(len(self.points_base))

    @property
    def measured_points_base(self) -> np.ndarray:
        """(M, 3) the measured points only (e.g. for a tracking model)."""
        return self.points_base[self.measured]

    def to_region(self, T_base_obj: np.ndarray, name: str | None = None,  # noqa: N803
                  frame: str | None = None) -> rc.Region:
        """The part as a :class:`resem3d_constraints.Region` in the object frame."""
        return region_in_object_frame(name or self.name, self.points_base, T_base_obj,
                                      normal_base=self.normal_base, frame=frame)


def _oriented_box(points: np.ndarray, centroid: np.ndarray, axes: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    q = (points - centroid) @ axes
    low, high = q.min(axis=0), q.max(axis=0)
    return high - low, centroid + axes @ (0.5 * (low + high))


def _erode(mask: np.ndarray, erode_px: int) -> np.ndarray:
    kernel = np.ones((3, 3), np.uint8)
    return cv2.erode(mask.astype(np.uint8), kernel, iterations=erode_px).astype(bool)


def _fill_missing(m_roi: np.ndarray, trusted_roi: np.ndarray, z_roi: np.ndarray,
                  x0: int, y0: int, cloud: Cloud) -> tuple[np.ndarray, np.ndarray]:
    """Points for the mask pixels without a trusted depth, from the nearest trusted pixel.

    Depth-sensor holes cluster at depth edges (and erosion and outlier removal drop more
    there), so the measured points under-represent a part's rim and silhouette; giving each
    missing pixel the depth of its nearest trusted pixel of the same mask keeps the part's
    pixel coverage (and so its centroid) unbiased. scipy's exact EDT finds the neighbours.

    Returns:
        ``(points (M, 3) float64 base frame, pixel_index (M,) int32)``.
    """
    missing = m_roi & ~trusted_roi
    if cloud.stride_px > 1:
        grid = np.zeros_like(missing)
        s = cloud.stride_px
        grid[(-y0) % s::s, (-x0) % s::s] = True
        missing &= grid
    if not missing.any():
        return np.zeros((0, 3)), np.zeros(0, np.int32)
    _, (iv, iu) = distance_transform_edt(~trusted_roi, return_indices=True)
    vv, uu = np.nonzero(missing)
    z = z_roi[iv[vv, uu], iu[vv, uu]].astype(np.float64)
    k = cloud.intrinsics
    index = ((vv + y0) * k.width + (uu + x0)).astype(np.int32)
    p_cam = pixel_rays(k)[index].astype(np.float64) * z[:, None]
    return transform_points(cloud.T_base_cam, p_cam), index


def part_from_mask(name: str, mask: np.ndarray, cloud: Cloud, *, erode_px: int = 1,
                   outlier_neighbors: int = 16, outlier_std_ratio: float = 3.0,
                   fill_missing: bool = True, min_points: int = DEFAULT_MIN_POINTS) -> Part:
    """Lift a 2D mask to a 3D :class:`Part`.

    1. Trusted points: the mask's valid-depth points, minus a depth-edge band (the mask
       eroded by ``erode_px`` pixels: boundary pixels mix foreground and background depth)
       unless that would leave fewer than half of them or fewer than ``min_points`` (thin
       parts keep their pixels), minus flying points (open3d statistical outlier removal).
    2. With ``fill_missing``, every other mask pixel (no depth, eroded, outlier) gets the
       depth of its nearest trusted pixel (:func:`_fill_missing`), so the part covers all of
       its visible pixels and its centroid estimates the centroid of the visible surface;
       :attr:`Part.measured` flags the measured points.

    Args:
        name: Part label.
        mask: (H, W) bool mask (or integer, non-zero = set) of the image the cloud came from.
        cloud: The frame's cloud; not voxel-downsampled (points must map to pixels).
        erode_px: Erosion steps (px); 0 disables.
        outlier_neighbors: Neighbours of the outlier statistic; 0 disables outlier removal.
        outlier_std_ratio: Outlier threshold in standard deviations.
        fill_missing: Fill the mask pixels without a trusted depth (see above).
        min_points: Fewest valid-depth points a part needs.

    Returns:
        The part.

    Raises:
        PerceptionInputError: On a mask of the wrong shape or dtype, a voxel-downsampled
            cloud, or bad parameters.
        EmptyRegionError: If the mask is empty or has fewer than ``min_points`` valid points.
    """
    if cloud.voxel_size_m is not None:
        raise PerceptionInputError('part_from_mask needs a cloud that is not voxel-downsampled '
                                   '(its points must map to pixels)')
    if isinstance(erode_px, bool) or not isinstance(erode_px, int) or erode_px < 0:
        raise PerceptionInputError(f'erode_px must be an integer >= 0, got {erode_px!r}')
    m = check_mask(mask, cloud.intrinsics, f'mask of {name}')
    m8 = m.astype(np.uint8)
    x0, y0, w, h = cv2.boundingRect(m8)
    if w == 0 or h == 0:
        raise EmptyRegionError(f'{name}: the mask is empty')
    s = cloud.stride_px
    pixel_count = int(np.count_nonzero(m[::s, ::s])) if s > 1 else int(np.count_nonzero(
        m[y0:y0 + h, x0:x0 + w]))
    if pixel_count == 0:
        raise EmptyRegionError(f'{name}: the mask holds no pixel of the cloud\'s {s}-px grid')
    band = cloud.rows(y0, y0 + h)                     # only the mask's rows of the cloud
    index = cloud.pixel_index[band]
    selected = m.ravel()[index]
    valid_count = int(np.count_nonzero(selected))
    if valid_count < min_points:
        raise EmptyRegionError(f'{name}: {valid_count} of {pixel_count} mask pixels have valid '
                               f'depth (need {min_points})')
    if erode_px > 0:
        eroded = _erode(m8[max(y0 - 1, 0):y0 + h + 1], erode_px).ravel()
        offset = max(y0 - 1, 0) * cloud.intrinsics.width
        trusted = selected & eroded[index - offset]
        if int(np.count_nonzero(trusted)) >= max(min_points, valid_count // 2):
            selected = trusted
    rows = np.flatnonzero(selected) + band.start
    points = cloud.points_base[rows].astype(np.float64)
    pixels = cloud.pixel_index[rows]
    if outlier_neighbors > 0:
        keep = remove_statistical_outliers(points, outlier_neighbors, outlier_std_ratio)
        if np.count_nonzero(keep) >= min_points:
            points, pixels = points[keep], pixels[keep]
    measured = np.ones(len(points), dtype=bool)
    if fill_missing:
        W = cloud.intrinsics.width
        vv, uu = pixels // W - y0, pixels % W - x0
        trusted_roi = np.zeros((h, w), dtype=bool)
        trusted_roi[vv, uu] = True
        z_roi = np.zeros((h, w), dtype=np.float32)
        R, t = cloud.T_base_cam[:3, :3], cloud.T_base_cam[:3, 3]
        z_roi[vv, uu] = (points - t) @ R[:, 2]
        filled, filled_pixels = _fill_missing(m[y0:y0 + h, x0:x0 + w], trusted_roi, z_roi,
                                              x0, y0, cloud)
        if len(filled):
            points = np.concatenate([points, filled])
            pixels = np.concatenate([pixels, filled_pixels])
            measured = np.concatenate([measured, np.zeros(len(filled), dtype=bool)])
            order = np.argsort(pixels, kind='stable')
            points, pixels, measured = points[order], pixels[order], measured[order]
    return _make_part(name, points, pixels, measured, pixel_count, valid_count / pixel_count,
                      cloud)


def _make_part(name: str, points: np.ndarray, pixels: np.ndarray, measured: np.ndarray,
               pixel_count: int, valid_fraction: float, cloud: Cloud) -> Part:
    centroid, axes, _ = principal_axes(points)
    extent, center = _oriented_box(points, centroid, axes)
    camera = cloud.camera_position_base
    normal = axes[:, 2].copy()
    if float(normal @ (camera - centroid)) < 0.0:
        normal = -normal
    count = int(np.count_nonzero(measured))
    confidence = valid_fraction * min(1.0, count / FULL_CONFIDENCE_POINTS)
    return Part(name=name, points_base=points, pixel_index=pixels, measured=measured,
                centroid_base=centroid, axes_base=axes, extent_m=extent, center_base=center,
                normal_base=normal, confidence=float(confidence), pixel_count=pixel_count,
                valid_fraction=float(valid_fraction), camera_base=camera.copy(),
                width=cloud.intrinsics.width)


def parts_from_label_image(label_image: np.ndarray, labels: Sequence[str], cloud: Cloud, *,
                           min_points: int = DEFAULT_MIN_POINTS, **kwargs: Any
                           ) -> tuple[dict[str, Part], dict[str, str]]:
    """Lift every labelled region of an integer label image (e.g. the simulator's
    ``part_mask`` with its ``labels`` table; index 0 = background) to parts.

    Returns:
        ``(parts by label, reasons by label for the labels that gave no part)``.
    """
    image = np.asarray(label_image)
    if image.shape != cloud.intrinsics.shape or not np.issubdtype(image.dtype, np.integer):
        raise PerceptionInputError(f'label image must be an integer {cloud.intrinsics.shape} '
                                   f'array, got {image.dtype} {image.shape}')
    parts: dict[str, Part] = {}
    skipped: dict[str, str] = {}
    for i, label in enumerate(labels):
        if i == 0 or not label:
            continue
        try:
            parts[label] = part_from_mask(label, image == i, cloud, min_points=min_points,
                                          **kwargs)
        except EmptyRegionError as error:
            skipped[label] = error.reason
    return parts, skipped


# --- region-level refinement ---------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class RefinedRegion:
    """A refined region of a part (base frame, metres).

    Attributes:
        name: Region name (``object/part`` style).
        kind: ``rim``, ``top``, ``tip`` or ``cells``.
        point_base: (3,) the region's point: the rim centre (in free space), the top slab's
            centroid, the tip's centroid, or the selected cells' centroid.
        points_base: (N, 3) supporting points of the part (for ``rim``: the fitted band).
        normal_base: (3,) unit normal: the rim's axis (towards ``up``), ``up`` for a top
            slab, the direction of the chosen end for a tip, the part's normal for cells.
        radius_m: Fitted rim radius (m); NaN for other kinds.
        residual_m: RMS distance of the rim points from the fitted circle (m); NaN otherwise.
    """

    name: str
    kind: str
    point_base: np.ndarray
    points_base: np.ndarray
    normal_base: np.ndarray
    radius_m: float = math.nan
    residual_m: float = math.nan

    def circle_points_base(self, count: int = 24) -> np.ndarray:
        """(count, 3) points on the fitted rim circle (a rim only; their mean is the centre)."""
        if self.kind != 'rim':
            raise PerceptionInputError(f'{self.name}: circle points exist for rims only')
        e1, e2 = _plane_basis(self.normal_base)
        phi = np.arange(count) * (2.0 * math.pi / count)
        return (self.point_base + self.radius_m * (np.outer(np.cos(phi), e1)
                                                   + np.outer(np.sin(phi), e2)))

    def to_region(self, T_base_obj: np.ndarray, name: str | None = None,  # noqa: N803
                  frame: str | None = None) -> rc.Region:
        """This region as a :class:`resem3d_constraints.Region` in the object frame.

        A rim becomes the fitted circle (so the region's centroid is the opening's centre and
        its normal the rim axis); other kinds keep their points.
        """
        points = self.circle_points_base() if self.kind == 'rim' else self.points_base
        return region_in_object_frame(name or self.name, points, T_base_obj,
                                      normal_base=self.normal_base, frame=frame)


def _plane_basis(normal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors spanning the plane normal to ``normal`` (deterministic)."""
    helper = _EYE[0] if abs(normal[0]) < 0.9 else _EYE[1]
    e1 = np.cross(normal, helper)
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(normal, e1)


def _heights(points: np.ndarray, up: np.ndarray) -> np.ndarray:
    return points @ up


def _part_points(part: Part | np.ndarray) -> np.ndarray:
    """The points a geometric refinement works on: a part's *measured* points (filled ones
    borrow a neighbour's depth and may sit off the surface at depth edges), or an array."""
    return part.measured_points_base if isinstance(part, Part) else _points(part)


def fit_circle_2d(xy: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Least-squares circle through 2D points.

    An algebraic (Kasa) fit gives the start; scipy's ``least_squares`` then minimises the
    geometric distance with a soft-L1 loss (robust to a few stray points).

    Args:
        xy: (N, 2) points, N >= 3, not collinear.

    Returns:
        ``(centre (2,), radius, rms residual)`` in the units of ``xy``.

    Raises:
        EmptyRegionError: For fewer than 3 points or a degenerate (collinear) set.
    """
    if len(xy) < 3:
        raise EmptyRegionError(f'a circle needs 3 points or more, got {len(xy)}')
    singular = np.linalg.svd(xy - xy.mean(axis=0), compute_uv=False)
    if singular[1] <= 1e-3 * singular[0]:
        raise EmptyRegionError('the rim points are collinear: no circle fits them')
    A = np.column_stack([xy, np.ones(len(xy))])
    b = (xy ** 2).sum(axis=1)
    (a0, a1, a2), *_ = np.linalg.lstsq(A, b, rcond=None)
    centre = np.array([a0 / 2.0, a1 / 2.0])
    r2 = a2 + centre @ centre
    if not np.isfinite(r2) or r2 <= 0.0:
        raise EmptyRegionError('the rim points are collinear: no circle fits them')
    scale = math.sqrt(r2)

    def residuals(params: np.ndarray) -> np.ndarray:
        return np.hypot(xy[:, 0] - params[0], xy[:, 1] - params[1]) - params[2]

    fit = least_squares(residuals, np.array([centre[0], centre[1], scale]), loss='soft_l1',
                        f_scale=max(0.05 * scale, 1e-4), x_scale=scale)
    centre, radius = fit.x[:2], abs(float(fit.x[2]))
    rms = float(np.sqrt(np.mean(residuals(fit.x) ** 2)))
    return centre, radius, rms


def rim_centre(part: Part | np.ndarray, *, name: str | None = None, slab_m: float = 0.012,
               axis_base: Sequence[float] | None = UP_BASE, top_quantile: float = 0.98,
               min_points: int = 8) -> RefinedRegion:
    """Centre of an opening: a circle fitted to the top band of a rim or mouth part.

    The band is the points within ``slab_m`` below the part's top along the rim axis (the
    top is the ``top_quantile`` height, robust to a stray high point). The circle is fitted
    in the plane normal to the axis (:func:`fit_circle_2d`); the centre lies at the top of
    the band, i.e. in the opening's plane. Only the rim itself needs to be seen: the centre
    pixel of an opening looks through the hole, so its depth is not on the object (method
    reference, section 4.1).

    Args:
        part: The rim/mouth part (or an (N, 3) array of its base-frame points).
        name: Region name; default ``<part name>`` (a part) or ``rim``.
        slab_m: Height of the band (m).
        axis_base: Rim axis in the base frame (default up: an upright container); None
            estimates it as the band's minor principal axis (turned towards up).
        top_quantile: Quantile of the heights taken as the top.
        min_points: Fewest band points to fit.

    Raises:
        EmptyRegionError: Too few band points or a degenerate band.
        PerceptionInputError: On bad arguments.
    """
    P = _part_points(part)
    label = name or (part.name if isinstance(part, Part) else 'rim')
    up = _unit(UP_BASE, 'up')
    axis = up if axis_base is None else _unit(axis_base, 'axis_base')
    if len(P) < min_points:
        raise EmptyRegionError(f'{label}: {len(P)} points, a rim fit needs {min_points}')
    h = _heights(P, axis)
    top = float(np.quantile(h, top_quantile))
    band = P[(h >= top - slab_m) & (h <= top + slab_m)]
    if axis_base is None:
        _, axes, _ = principal_axes(band)
        axis = axes[:, 2] if float(axes[:, 2] @ up) >= 0.0 else -axes[:, 2]
        h = _heights(P, axis)
        top = float(np.quantile(h, top_quantile))
        band = P[(h >= top - slab_m) & (h <= top + slab_m)]
    if len(band) < min_points:
        raise EmptyRegionError(f'{label}: {len(band)} points in the top {slab_m} m band, a rim '
                               f'fit needs {min_points}')
    e1, e2 = _plane_basis(axis)
    xy = np.column_stack([band @ e1, band @ e2])
    centre_xy, radius, rms = fit_circle_2d(xy)
    centre = centre_xy[0] * e1 + centre_xy[1] * e2 + top * axis
    return RefinedRegion(name=label, kind='rim', point_base=centre, points_base=band,
                         normal_base=axis, radius_m=radius, residual_m=rms)


def top_surface(part: Part | np.ndarray, *, name: str | None = None, slab_m: float = 0.005,
                up_base: Sequence[float] = UP_BASE, top_quantile: float = 0.99
                ) -> RefinedRegion:
    """The highest slab of a part: points within ``slab_m`` below its top along ``up_base``.

    Raises:
        EmptyRegionError: If the part has no points.
    """
    P = _part_points(part)
    label = name or (part.name if isinstance(part, Part) else 'top')
    if len(P) == 0:
        raise EmptyRegionError(f'{label}: no points')
    up = _unit(up_base, 'up_base')
    h = _heights(P, up)
    top = float(np.quantile(h, top_quantile))
    slab = P[h >= top - slab_m]
    return RefinedRegion(name=label, kind='top', point_base=slab.mean(axis=0), points_base=slab,
                         normal_base=up)


def tip(part: Part | np.ndarray, end: str | Sequence[float] = '+', *, name: str | None = None,
        length_m: float | None = None, fraction: float = 0.15) -> RefinedRegion:
    """One end of a part along its major axis (a "tip", "thick end", "left end"...).

    Args:
        part: The part (or its (N, 3) base-frame points).
        end: ``'+'`` / ``'-'``: the end along + / - the major axis (which points towards +x of
            the base, else +y, else +z), or a base-frame direction: the end lying that way.
        name: Region name.
        length_m: Length of the tip along the axis (m); default ``fraction`` of the part's
            length.
        fraction: Tip length as a fraction of the extent along the major axis.

    Raises:
        EmptyRegionError: If the part has no points.
        PerceptionInputError: On a bad ``end``, ``length_m`` or ``fraction``.
    """
    P = _part_points(part)
    label = name or (part.name if isinstance(part, Part) else 'tip')
    if len(P) == 0:
        raise EmptyRegionError(f'{label}: no points')
    _, axes, _ = principal_axes(P)
    major = axes[:, 0]
    if isinstance(end, str):
        if end not in ('+', '-'):
            raise PerceptionInputError(f"tip end must be '+', '-' or a direction, got {end!r}")
        direction = major if end == '+' else -major
    else:
        toward = _unit(end, 'end')
        direction = major if float(major @ toward) >= 0.0 else -major
    s = P @ direction
    span = float(s.max() - s.min())
    if length_m is None:
        if not 0.0 < fraction <= 1.0:
            raise PerceptionInputError(f'fraction must be in (0, 1], got {fraction}')
        length = fraction * span
    else:
        if not (math.isfinite(length_m) and length_m > 0.0):
            raise PerceptionInputError(f'length_m must be positive, got {length_m}')
        length = length_m
    selected = P[s >= s.max() - length]
    return RefinedRegion(name=label, kind='tip', point_base=selected.mean(axis=0),
                         points_base=selected, normal_base=direction)


def cells_subregion(part: Part, cell_mask: np.ndarray, *, name: str | None = None,
                    min_points: int = 3) -> RefinedRegion:
    """Geometric flow: the points of a part whose pixels lie in a cell mask.

    Args:
        part: The part (its pixel indices link points to pixels).
        cell_mask: (H, W) bool mask: the union of the grid cells picked (in the same image).
        name: Region name; default the part's.
        min_points: Fewest points the intersection may have.

    Raises:
        PerceptionInputError: On a mask of the wrong width or dtype.
        EmptyRegionError: If the cells contain fewer than ``min_points`` of the part's points.
    """
    m = np.asarray(cell_mask)
    if m.ndim != 2 or m.shape[1] != part.width or not (m.dtype == np.bool_ or np.issubdtype(
            m.dtype, np.integer)):
        raise PerceptionInputError(f'cell mask must be a bool (H, {part.width}) image, got '
                                   f'{m.dtype} {m.shape}')
    flat = m.ravel() != 0
    inside = part.pixel_index < flat.size
    keep = np.zeros(len(part.pixel_index), dtype=bool)
    keep[inside] = flat[part.pixel_index[inside]]
    label = name or part.name
    count = int(np.count_nonzero(keep))
    if count < min_points:
        raise EmptyRegionError(f'{label}: the selected cells hold {count} points of part '
                               f'{part.name} (need {min_points})')
    points = part.points_base[keep]
    return RefinedRegion(name=label, kind='cells', point_base=points.mean(axis=0),
                         points_base=points, normal_base=part.normal_base.copy())


# --- object frame --------------------------------------------------------------------------------

def region_in_object_frame(name: str, points_base: np.ndarray,
                           T_base_obj: np.ndarray,  # noqa: N803
                           *, normal_base: Sequence[float] | None = None,
                           frame: str | None = None) -> rc.Region:
    """A :class:`resem3d_constraints.Region` from base-frame points, in the object frame.

    Args:
        name: Region name ``object/part``.
        points_base: (N, 3) points (m), base frame, N >= 1.
        T_base_obj: (4, 4) pose of the owning object's frame in the base frame.
        normal_base: Optional region normal (base frame); default: the oriented minor axis.
        frame: Object frame name; default: the text of ``name`` before ``/``.

    Raises:
        PerceptionInputError: On a non-rigid pose, bad points or an invalid region name
            (the constraint language's :class:`~resem3d_constraints.RegionError` message).
    """
    T = check_rigid(T_base_obj, 'T_base_obj')
    P = _points(points_base)
    p_obj = transform_points(invert_rigid(T), P)
    normal_obj = None if normal_base is None else T[:3, :3].T @ _unit(normal_base, 'normal')
    try:
        return rc.Region.from_points(name, p_obj, frame=frame, normal_obj=normal_obj)
    except rc.RegionError as error:
        raise PerceptionInputError(str(error)) from None


def estimate_object_frame(points_base: np.ndarray | Sequence[np.ndarray], *,
                          up_base: Sequence[float] = UP_BASE, origin: str = 'bottom'
                          ) -> np.ndarray:
    """An initial object frame from the points of an object's parts (no pose known).

    z is ``up_base``; x is the major principal direction of the points projected on the
    plane normal to up (the object's "yaw"), turned towards +x of the base (else +y); y
    completes a right-handed frame. The origin is the points' centroid, moved down to their
    lowest point along up for ``origin='bottom'`` (an object standing on a table: the
    simulator's object frames sit at the base centre) or kept for ``origin='centroid'``.

    Only the visible side is measured, so the origin is biased towards the camera; the frame
    is a consistent anchor for regions and tracking, not the object's CAD frame.

    Args:
        points_base: (N, 3) points, or a sequence of them (one per part), base frame (m).
        up_base: The up direction in the base frame.
        origin: ``bottom`` or ``centroid``.

    Returns:
        (4, 4) ``T_base_obj``.

    Raises:
        EmptyRegionError: With no points.
        PerceptionInputError: On bad arguments.
    """
    if isinstance(points_base, np.ndarray):
        P = _points(points_base)
    else:
        arrays = [_points(p) for p in points_base]
        P = np.concatenate(arrays) if arrays else np.zeros((0, 3))
    if len(P) == 0:
        raise EmptyRegionError('no points to estimate an object frame from')
    if origin not in ('bottom', 'centroid'):
        raise PerceptionInputError(f"origin must be 'bottom' or 'centroid', got {origin!r}")
    z = _unit(up_base, 'up_base')
    e1, e2 = _plane_basis(z)
    centroid = P.mean(axis=0)
    X = P - centroid
    flat = np.column_stack([X @ e1, X @ e2])
    cov = flat.T @ flat / len(P)
    _, vectors = np.linalg.eigh(cov)
    x = vectors[0, 1] * e1 + vectors[1, 1] * e2
    x = _unit_towards(x - (x @ z) * z, (0, 1, 2))
    x /= np.linalg.norm(x)
    T = np.eye(4)
    T[:3, :3] = np.column_stack([x, np.cross(z, x), z])
    position = centroid.copy()
    if origin == 'bottom':
        position += (float((P @ z).min()) - float(centroid @ z)) * z
    T[:3, 3] = position
    return T
