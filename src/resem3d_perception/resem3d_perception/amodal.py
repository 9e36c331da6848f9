"""Amodal centres: where the centre of a part lies, from the one side of it the camera sees.

The mean of a part's visible points (a region's ``centroid``) lies on its camera side: by up
to the radius for a round body (measured on the 12 simulated tasks: 1-6 cm for bodies, about
1 cm for a flask's neck) and by about half the thickness for a bar (a drawer's or a kettle's
handle: 5-8 mm, enough for one finger to land on the bar instead of beside it). Two shapes are
common enough to correct from the visible points alone:

* **round** (:func:`round_centre`): points that fit a vertical circular cylinder well (a body
  of revolution standing upright: mug, kettle, flask, bottle, beaker) have their centre on the
  cylinder's axis (0.1-0.4 cm from the true centre on the same parts).
* **slab** (:func:`slab_centre`): a thin horizontal part seen from above (a cabinet's top panel,
  a box's lid) shows its whole outline even where the arm hides part of its inside, and the
  camera samples its near side more densely; the mean of its points lies towards the camera and
  away from the hidden patch (3.7 cm on the cabinet top of household_box_on_cabinet_top), and
  the box along its principal axes turns diagonal. The centre of the smallest rectangle around
  its points (OpenCV's ``minAreaRect``) is the centre of the outline (0.5 cm there).
* **rod** (:func:`rod_centre`, needs the camera's position): a thin upright cylinder (a test
  tube, 2-3 cm across) is too small for a circle fit at this depth noise, and its grazing
  sides are lost, so its points are mostly its front: their mean lies most of a radius towards
  the camera (9 mm on the 11 mm tube of lab_tube_to_slot_2). Its extent across the view is its
  diameter, and its axis lies one radius behind its front line (0.8 mm off there).
* **disc** (:func:`disc_centre`): a round slab (a plate, a stirrer's top plate: a thin
  horizontal part whose outline is a circle arc, :func:`round_slab`) has its centre at the
  centre of its rim; the smallest rectangle around a plate half hidden by the arm at grounding
  is centred on the seen half.
* **bar** (:func:`bar_centre`): a long, thin, horizontal part seen from above and in front
  shows its top face and its near side; together they span the bar's full cross-section, so
  the middle of their extent across the bar, measured along the vertical and the horizontal
  normal of the bar, is its centre (the box centre along the principal axes of the visible
  L-shaped section is not: it lies a quarter of the thickness off).

:func:`amodal_centre` tries them in this order (disc, round, rod, bar, slab: a plate's top face
also fits a circle as a whole, about the wrong centre), and leaves every other part (drawer
fronts, boxes' sides, thin tubes) as it is. Written here rather than taken from a library: open3d
and scipy fit primitives to whole surfaces, not to the visible side of one.

A tracking model needs more than a centre. :func:`round_slab_fill` completes a round slab's model
with the part of its top face the camera did not see at grounding: a plate half hidden by the arm
gave a half-disc model that still lay on the plate after the plate was moved 6 cm towards its seen
half, so nothing said it had moved (household_mug_to_plate, seed 0 with ``--disturb``). With the
whole disc, the camera sees the table through the model's empty half at the old pose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

import resem3d_constraints as rc

from .errors import EmptyRegionError
from .parts import fit_circle_2d

__all__ = ['AmodalConfig', 'AmodalResult', 'RoundSlab', 'amodal_centre', 'bar_centre',
           'disc_centre', 'round_centre', 'round_slab', 'round_slab_fill', 'rod_centre',
           'slab_centre', 'with_centres']


@dataclass(frozen=True)
class AmodalConfig:
    """When a part counts as round or as a bar.

    Attributes:
        min_points: Fewest visible points for either fit.
        min_arc_deg: Round: smallest angle the visible points span around the fitted axis.
        max_radius_m: Round: largest fitted radius [m].
        max_rms_ratio: Round: largest RMS distance of the points to the cylinder, over its
            radius (a cone, such as a flask's body, spreads wider than a cylinder).
        small_radius_m: Round: below this radius [m] the fit must be tighter ...
        small_rms_ratio: ... at most this RMS ratio (a thin tube half hidden in its rack fits
            a wrong circle).
        bar_min_aspect: Bar: smallest ratio of the region's longest extent to its middle one.
        bar_max_width_m: Bar: largest middle extent [m] (a handle, not a panel).
        bar_max_tilt_deg: Bar: largest angle between its long axis and the horizontal.
        bar_percentile: Bar: the extents across it are taken between this percentile and
            100 minus it (depth noise and edge pixels stray a few mm).
        bar_top_band_m: Bar: points this close below the top face's height count as the top
            face [m] (about twice the depth noise at 1 m).
        rod_max_width_m: Rod: largest diameter [m].
        rod_min_aspect: Rod: smallest ratio of its height to its diameter.
        rod_max_tilt_deg: Rod: largest angle between its axis and the vertical.
        rod_front_fraction: Rod: points this close to the middle across the view, as a
            fraction of the radius, make its front line.
        slab_max_height_m: Slab: largest vertical spread of its points [m].
        slab_min_aspect: Slab: smallest ratio of its smaller horizontal side to that spread.
        disc_min_radius_m: Round slab: smallest fitted radius [m] ...
        disc_max_radius_m: ... and largest.
        disc_min_arc_deg: Round slab: smallest angle the outline's points on the circle span.
        disc_rim_band_m: Round slab: outline points within this distance of the circle are on
            it [m] ...
        disc_max_rms_m: ... and their RMS distance to it is at most this [m]; points outside
            the circle by more than the band may be at most ``disc_outside_fraction`` of all.
        disc_outside_fraction: See ``disc_max_rms_m``.
        disc_min_fill: Round slab: smallest fraction of the outline's inside (cells of
            ``disc_fill_cell_m``) holding a point: a rim (a ring) fits a circle too (measured
            at grounding on seeds 0-9: plates half hidden 0.55-0.78, a bowl's rim 0.24-0.28).
        disc_fill_cell_m: See ``disc_min_fill`` [m].
        disc_top_band_m: Round slab: points this close below the highest (95th percentile)
            make its top face, whose median height the filled points take [m].
    """

    min_points: int = 20
    min_arc_deg: float = 120.0
    max_radius_m: float = 0.08
    max_rms_ratio: float = 0.2
    small_radius_m: float = 0.02
    small_rms_ratio: float = 0.1
    bar_min_aspect: float = 3.0
    bar_max_width_m: float = 0.04
    bar_max_tilt_deg: float = 20.0
    bar_percentile: float = 95.0
    bar_top_band_m: float = 0.002
    rod_max_width_m: float = 0.04
    rod_min_aspect: float = 2.0
    rod_max_tilt_deg: float = 15.0
    rod_front_fraction: float = 0.3
    slab_max_height_m: float = 0.015
    slab_min_aspect: float = 3.0
    disc_min_radius_m: float = 0.04
    disc_max_radius_m: float = 0.25
    disc_min_arc_deg: float = 150.0
    disc_rim_band_m: float = 0.004
    disc_max_rms_m: float = 0.002
    disc_outside_fraction: float = 0.02
    disc_min_fill: float = 0.45
    disc_fill_cell_m: float = 0.01
    disc_top_band_m: float = 0.003


class AmodalResult(NamedTuple):
    """A corrected region.

    Attributes:
        region: The region with its centroid and box centre moved (object frame).
        shape: ``'round'``, ``'rod'``, ``'bar'``, ``'disc'`` or ``'slab'``.
        shift_m: How far its centroid moved [m].
    """

    region: rc.Region
    shape: str
    shift_m: float


def with_centres(region: rc.Region, centroid_obj: np.ndarray,
                 center_obj: np.ndarray) -> rc.Region:
    """``region`` with another centroid and box centre (object frame) [m]; all else kept."""
    return rc.Region(name=region.name, frame=region.frame, points_obj=region.points_obj,
                     centroid_obj=np.asarray(centroid_obj, dtype=float),
                     axes_obj=region.axes_obj, normal_obj=region.normal_obj,
                     extent_m=region.extent_m, center_obj=np.asarray(center_obj, dtype=float))


def _points_base(region: rc.Region, T_base_obj: np.ndarray) -> np.ndarray:  # noqa: N803
    return region.points_obj @ T_base_obj[:3, :3].T + T_base_obj[:3, 3]


def _arc_deg(xy: np.ndarray, centre: np.ndarray) -> float:
    """The angle [deg] that points ``xy`` (N, 2) span around ``centre`` (2,): the full turn
    less the largest gap between them."""
    angles = np.sort(np.arctan2(xy[:, 1] - centre[1], xy[:, 0] - centre[0]))
    gaps = np.diff(np.concatenate([angles, [angles[0] + 2.0 * math.pi]]))
    return math.degrees(2.0 * math.pi - float(gaps.max()))


def round_centre(p_base: np.ndarray, config: AmodalConfig = AmodalConfig()
                 ) -> np.ndarray | None:
    """The axis of the vertical circular cylinder the points fit, if they fit one well.

    Args:
        p_base: Visible points (N, 3) [m], base frame (z up).
        config: Acceptance bounds.

    Returns:
        The axis's (x, y) [m], or None when the points are not a round part.
    """
    if len(p_base) < config.min_points:
        return None
    try:
        centre, radius, rms = fit_circle_2d(p_base[:, :2])
    except EmptyRegionError:
        return None
    arc_deg = _arc_deg(p_base[:, :2], centre)
    ratio = rms / radius if radius > 0 else math.inf
    if (arc_deg < config.min_arc_deg or radius > config.max_radius_m
            or ratio > config.max_rms_ratio
            or (radius < config.small_radius_m and ratio > config.small_rms_ratio)):
        return None
    return np.asarray(centre, dtype=float)


def bar_centre(p_base: np.ndarray, config: AmodalConfig = AmodalConfig()) -> np.ndarray | None:
    """The centre of a long, thin, horizontal bar from its visible top and near side.

    The bar's frame is its long axis (the points' major principal axis, made horizontal),
    the vertical, and the horizontal normal between them. Along the bar the centre is the mean
    of the points (an end hidden behind the gripper would pull the middle of their extent);
    across it horizontally, the middle of their extent (the top face spans the thickness);
    vertically, half a height below the top face (the median height of the points, most of
    which lie on the top face seen from above), the height being the larger of the visible
    height and the thickness: the near side's lower edge is mostly lost. Measured on the
    drawer handle of household_open_drawer (seed 0): 1.5 mm across and 1.5 mm vertically off
    the true centre, against 3 mm and 4.6 mm for the mean of the points.

    Args:
        p_base: Visible points (N, 3) [m], base frame (z up).
        config: Acceptance bounds.

    Returns:
        The bar's centre (3,) [m], base frame, or None when the points are not a bar.
    """
    if len(p_base) < config.min_points:
        return None
    mean = p_base.mean(axis=0)
    X = p_base - mean
    _, singular, vt = np.linalg.svd(X, full_matrices=False)
    major = vt[0]
    along = X @ major
    across = X @ vt[1]
    length = float(along.max() - along.min())
    width = float(across.max() - across.min())
    if width <= 0.0 or length < config.bar_min_aspect * width or width > config.bar_max_width_m:
        return None
    tilt_deg = math.degrees(math.asin(min(1.0, abs(float(major[2])))))
    if tilt_deg > config.bar_max_tilt_deg:
        return None
    u = np.array([major[0], major[1], 0.0])
    u /= np.linalg.norm(u)
    v = np.cross(np.array([0.0, 0.0, 1.0]), u)
    # Vertically: most points lie on the top face seen from above (their median height); the
    # near side shows only part of the height (its lower edge is lost to edge pixels and the
    # view from above).
    z = p_base[:, 2]
    z_top = float(np.median(z))
    # Across the bar horizontally: the top face's points span the full thickness (the side's
    # points would pull the extent out by the depth noise at its edge).
    q = X @ v
    top = q[z >= z_top - config.bar_top_band_m]
    q_low, q_high = np.percentile(top, [100.0 - config.bar_percentile, config.bar_percentile])
    thickness = float(q_high - q_low)
    # The centre is half a height below the top face, the height taken as at least the
    # thickness (a squarish section).
    z_low = float(np.percentile(z, 100.0 - config.bar_percentile))
    height = max(z_top - z_low, thickness)
    centre = mean + v * 0.5 * float(q_low + q_high)
    centre[2] = z_top - 0.5 * height
    return centre


def rod_centre(p_base: np.ndarray, p_base_camera: np.ndarray,
               config: AmodalConfig = AmodalConfig()) -> np.ndarray | None:
    """The axis of a thin upright cylinder from its visible front.

    Across the view (horizontally, square to the direction towards the camera) the axis is in
    the middle of the points' extent, which is the diameter; along the view it lies one radius
    behind the front line (the median depth of the points in the middle strip across).

    Args:
        p_base: Visible points (N, 3) [m], base frame (z up).
        p_base_camera: The camera's position (3,) [m], base frame.
        config: Acceptance bounds.

    Returns:
        A point (3,) [m] on the axis, at the points' mean height, base frame; None when the
        points are not a thin upright rod.
    """
    if len(p_base) < config.min_points:
        return None
    mean = p_base.mean(axis=0)
    X = p_base - mean
    _, _, vt = np.linalg.svd(X, full_matrices=False)
    tilt_deg = math.degrees(math.acos(min(1.0, abs(float(vt[0, 2])))))
    view = np.asarray(p_base_camera, dtype=float)[:2] - mean[:2]
    if tilt_deg > config.rod_max_tilt_deg or np.linalg.norm(view) < 1e-6:
        return None
    view /= np.linalg.norm(view)
    across = np.array([-view[1], view[0]])
    u, w = X[:, :2] @ across, X[:, :2] @ view
    u_low, u_high = np.percentile(u, [2.5, 97.5])
    radius = 0.5 * float(u_high - u_low)
    height = float(np.ptp(X[:, 2]))
    if radius <= 0.0 or 2.0 * radius > config.rod_max_width_m \
            or height < config.rod_min_aspect * 2.0 * radius:
        return None
    u_mid = 0.5 * float(u_low + u_high)
    front = np.abs(u - u_mid) <= config.rod_front_fraction * radius
    if front.sum() < 5:
        return None
    w_axis = float(np.median(w[front])) - radius
    centre = mean.copy()
    centre[:2] += across * u_mid + view * w_axis
    return centre


def slab_centre(p_base: np.ndarray, config: AmodalConfig = AmodalConfig()
                ) -> np.ndarray | None:
    """The centre of a thin horizontal part's outline seen from above.

    Args:
        p_base: Visible points (N, 3) [m], base frame (z up).
        config: Acceptance bounds.

    Returns:
        The centre (3,) [m], base frame: the centre of the smallest rectangle around the
        points' (x, y), at their median height; None when the points are not a thin horizontal
        slab.
    """
    if len(p_base) < config.min_points:
        return None
    z_low, z_high = np.percentile(p_base[:, 2], [5.0, 95.0])
    height = float(z_high - z_low)
    if height > config.slab_max_height_m:
        return None
    # minAreaRect works in float32: centre the points first so millimetres survive.
    mean_xy = p_base[:, :2].mean(axis=0)
    (cx, cy), (w, h), _ = cv2.minAreaRect((p_base[:, :2] - mean_xy).astype(np.float32))
    if min(w, h) < config.slab_min_aspect * max(height, 1e-3):
        return None
    return np.array([mean_xy[0] + cx, mean_xy[1] + cy, float(np.median(p_base[:, 2]))])


class RoundSlab(NamedTuple):
    """A round slab's rim and top face (base frame, z up).

    Attributes:
        centre_xy: Centre (2,) of its rim [m].
        radius_m: Radius of its rim [m].
        top_z_m: Height of its top face [m].
    """

    centre_xy: np.ndarray
    radius_m: float
    top_z_m: float


def round_slab(p_base: np.ndarray, config: AmodalConfig = AmodalConfig()) -> RoundSlab | None:
    """The rim of a round slab (a plate, a dish, a stirrer's top plate) from its points seen
    from above.

    The outline of the points (their convex hull in (x, y)) is the slab's rim where it was
    seen and a cut where something hid it. A circle fitted to the hull's vertices
    (:func:`~resem3d_perception.parts.fit_circle_2d`, robust to the cut's few vertices) is the
    rim when the vertices on it span ``disc_min_arc_deg``, the points fill most of the outline
    (not a ring) and hardly any point lies outside it.

    Args:
        p_base: Seen points (N, 3) [m], base frame (z up).
        config: Acceptance bounds.

    Returns:
        The rim and top face, or None when the points are not a round slab.
    """
    if len(p_base) < config.min_points:
        return None
    z_low, z_high = np.percentile(p_base[:, 2], [5.0, 95.0])
    if float(z_high - z_low) > config.slab_max_height_m:
        return None
    xy = p_base[:, :2]
    mean_xy = xy.mean(axis=0)
    # convexHull works in float32: centre the points first so millimetres survive.
    hull = cv2.convexHull((xy - mean_xy).astype(np.float32)).reshape(-1, 2).astype(float)
    if len(hull) < 5:
        return None
    try:
        centre, radius, _ = fit_circle_2d(hull)
    except EmptyRegionError:
        return None
    if not config.disc_min_radius_m <= radius <= config.disc_max_radius_m:
        return None
    off_rim = np.hypot(hull[:, 0] - centre[0], hull[:, 1] - centre[1]) - radius
    on_rim = np.abs(off_rim) <= config.disc_rim_band_m
    if on_rim.sum() < 5 or float(np.sqrt(np.mean(off_rim[on_rim] ** 2))) > config.disc_max_rms_m:
        return None
    if _arc_deg(hull[on_rim], centre) < config.disc_min_arc_deg:
        return None
    if _hull_fill(xy - mean_xy, hull, config.disc_fill_cell_m) < config.disc_min_fill:
        return None
    centre = centre + mean_xy
    outside = np.hypot(xy[:, 0] - centre[0], xy[:, 1] - centre[1]) > \
        radius + config.disc_rim_band_m
    if outside.mean() > config.disc_outside_fraction:
        return None
    top = p_base[:, 2] >= z_high - config.disc_top_band_m
    return RoundSlab(centre, float(radius), float(np.median(p_base[top, 2])))


def _hull_fill(xy: np.ndarray, hull: np.ndarray, cell_m: float) -> float:
    """The fraction of the cells (``cell_m`` square) inside the convex polygon ``hull`` that
    hold a point of ``xy`` [m] (both about the same origin)."""
    low = hull.min(axis=0)
    size = np.ceil((hull.max(axis=0) - low) / cell_m).astype(int) + 1
    inside = np.zeros((size[1], size[0]), dtype=np.uint8)
    cv2.fillConvexPoly(inside, np.rint((hull - low) / cell_m).astype(np.int32), 1)
    occupied = np.zeros_like(inside)
    cells = np.clip(np.rint((xy - low) / cell_m).astype(int), 0, size - 1)
    occupied[cells[:, 1], cells[:, 0]] = 1
    total = int(inside.sum())
    return float((occupied & inside).sum()) / total if total else 0.0


def round_slab_fill(p_base: np.ndarray, spacing_m: float,
                    config: AmodalConfig = AmodalConfig()) -> np.ndarray | None:
    """Points on the unseen part of a round slab's top face (:func:`round_slab`): its disc
    every ``spacing_m``, where no seen point lies within ``spacing_m``, at its top's height.

    Args:
        p_base: Seen points (N, 3) [m], base frame (z up).
        spacing_m: Spacing of the filled points [m] (the tracking model's voxel).
        config: Acceptance bounds.

    Returns:
        The filled points (M, 3) [m], base frame; None when the points are not a round slab
        (or it was seen whole: nothing to fill).
    """
    from scipy.spatial import cKDTree

    slab = round_slab(p_base, config) if spacing_m > 0.0 else None
    if slab is None:
        return None
    radius = slab.radius_m
    steps = np.arange(-radius, radius + 1e-9, spacing_m)
    grid = np.array([(x, y) for x in steps for y in steps
                     if x * x + y * y <= (radius - 0.5 * spacing_m) ** 2]) + slab.centre_xy
    distances, _ = cKDTree(p_base[:, :2]).query(grid, distance_upper_bound=spacing_m)
    grid = grid[~np.isfinite(distances)]
    if len(grid) == 0:
        return None
    return np.column_stack([grid, np.full(len(grid), slab.top_z_m)])


def disc_centre(p_base: np.ndarray, config: AmodalConfig = AmodalConfig()
                ) -> np.ndarray | None:
    """The centre of a round slab's rim (:func:`round_slab`) at the points' median height.

    Args:
        p_base: Visible points (N, 3) [m], base frame (z up).
        config: Acceptance bounds.

    Returns:
        The centre (3,) [m], base frame, or None when the points are not a round slab.
    """
    slab = round_slab(p_base, config)
    if slab is None:
        return None
    return np.array([slab.centre_xy[0], slab.centre_xy[1], float(np.median(p_base[:, 2]))])


def amodal_centre(region: rc.Region, T_base_obj: np.ndarray,  # noqa: N803
                  config: AmodalConfig = AmodalConfig(),
                  p_base_camera: np.ndarray | None = None) -> AmodalResult | None:
    """The region with its centroid and box centre moved to the part's amodal centre.

    Round parts and rods move horizontally onto their axis, discs to the centre of their rim
    and slabs to the centre of their outline (their heights are kept); bars move across their
    long axis (see the module docstring).

    Args:
        region: A grounded region of a whole part (object frame).
        T_base_obj: Its object's pose at grounding (base frame, z up).
        config: Acceptance bounds of the fits.
        p_base_camera: The camera's position (3,) [m] in the base frame when the points were
            seen; without it rods are not corrected.

    Returns:
        The corrected region, or None when the part has none of these shapes.
    """
    p_base = _points_base(region, T_base_obj)
    R, t = T_base_obj[:3, :3], T_base_obj[:3, 3]
    centroid_base = R @ region.centroid_obj + t
    center_base = R @ region.center_obj + t

    def round_xy(p: np.ndarray, c: AmodalConfig) -> np.ndarray | None:
        xy = round_centre(p, c)
        return None if xy is None else np.array([xy[0], xy[1], 0.0])

    def rod(p: np.ndarray, c: AmodalConfig) -> np.ndarray | None:
        return None if p_base_camera is None else rod_centre(p, p_base_camera, c)

    for shape, fit in (('disc', disc_centre), ('round', round_xy), ('rod', rod),
                       ('bar', bar_centre), ('slab', slab_centre)):
        centre = fit(p_base, config)
        if centre is not None:
            break
    else:
        return None
    if shape == 'bar':                  # across the bar, and down to its middle
        new_centroid = new_center = centre
    else:                               # onto the axis or the outline's centre: horizontally
        new_centroid = np.array([centre[0], centre[1], centroid_base[2]])
        new_center = np.array([centre[0], centre[1], center_base[2]])
    corrected = with_centres(region, R.T @ (new_centroid - t), R.T @ (new_center - t))
    return AmodalResult(corrected, shape, float(np.linalg.norm(new_centroid - centroid_base)))
