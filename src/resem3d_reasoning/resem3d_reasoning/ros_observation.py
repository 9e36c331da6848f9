# Copyright 2026 resem3d developers
# SPDX-License-Identifier: Apache-2.0
"""Observations from perception's ``Observe`` service, and grounded regions back to it.

* :func:`observation_from_response` turns a ``resem3d_msgs/srv/Observe`` response (colour,
  aligned depth, camera model and pose, marks with their masks, the system regions) into the
  :class:`~resem3d_reasoning.grounding.Observation` the reasoning engine works on: the same
  object ``observe_frame`` makes in one process.
* :func:`grounded_regions_to_msg` turns the grounded regions of a task into the
  ``resem3d_msgs/RegionArray`` perception tracks: each region in its object frame, with that
  frame's pose at grounding and the stamp of the observation it was grounded in (perception
  takes the object's tracking model from that observation).

Readers take rclpy or rosbags messages alike; builders go through a
:class:`resem3d_constraints.ros_types.MessageTypes`. Nothing here imports ROS.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from resem3d_constraints.exceptions import MessageConversionError
from resem3d_constraints.ros_conversions import (pose_from_msg, region_array_from_msg,
                                                 region_to_msg)
from resem3d_perception import MarkedImage, PerceptionError, depth_to_cloud
from resem3d_perception.ros_conversions import (camera_info_to_intrinsics, image_to_depth_m,
                                                image_to_rgb, make_header, marks_from_msgs,
                                                stamp_to_ns)

from .errors import ReasoningError
from .grounding import GroundedRegion, GroundingStore, Observation, system_region

__all__ = ['ObservationError', 'ObservedFrame', 'grounded_regions_to_msg', 'region_kind',
           'observation_from_response']


class ObservationError(ReasoningError):
    """Perception gave no usable observation (no frame yet, a failed segmentation, a
    malformed response)."""


class ObservedFrame(NamedTuple):
    """An observation with the time and frame it came from.

    Attributes:
        observation: What the engine reasons about.
        stamp_ns: Time of the colour frame [ns].
        frame_id: The robot base frame of every pose and point.
    """

    observation: Observation
    stamp_ns: int
    frame_id: str


def observation_from_response(response: Any) -> ObservedFrame:
    """The observation an ``Observe`` response carries (asked with ``include_masks``).

    The marked image is the response's (the colour image when none was drawn); the cloud is
    the depth back-projected with the camera model and pose (base frame); the system regions
    are the response's regions of kind ``system``.

    Raises:
        ObservationError: For an unsuccessful or malformed response.
    """
    if not response.success:
        raise ObservationError(f'perception could not observe: {response.message}')
    try:
        color = image_to_rgb(response.color)
        depth = image_to_depth_m(response.depth)
        intrinsics = camera_info_to_intrinsics(response.camera_info)
        T_base_cam = pose_from_msg(response.camera_pose, 'camera_pose')
        marks = marks_from_msgs(response.marks, color.shape[:2])
        marked_image = (image_to_rgb(response.marked_image) if response.marked_image.height
                        else color.copy())
        cloud = depth_to_cloud(depth, intrinsics, T_base_cam)
        regions = region_array_from_msg(response.regions)
        stamp_ns = stamp_to_ns(response.header)
    except (PerceptionError, MessageConversionError) as error:
        raise ObservationError(f'malformed observation: {error}') from None
    if marked_image.shape != color.shape:
        raise ObservationError(f'malformed observation: the marked image is '
                               f'{marked_image.shape}, the colour image {color.shape}')
    system = {name: system_region(region, regions.T_frame_obj[region.frame])
              for name, region in regions.regions.items() if regions.kinds[name] == 'system'}
    observation = Observation(color=color, marked=MarkedImage(image=marked_image, marks=marks),
                              cloud=cloud, scene=response.scene or None, system_regions=system)
    return ObservedFrame(observation, stamp_ns, str(response.header.frame_id))


def region_kind(grounded: GroundedRegion) -> str:
    """The ``Region`` message kind of a grounded region: ``part`` (flow none), its feature
    (``rim``, ``top``, ``tip``: positional flow) or ``cells`` (geometric flow)."""
    if grounded.flow == 'geometric':
        return 'cells'
    if grounded.flow == 'positional' and grounded.feature in ('rim', 'top', 'tip'):
        return grounded.feature
    return 'part'


def grounded_regions_to_msg(types: Any, store: GroundingStore, stamps: Mapping[str, int], *,
                            frame_id: str, stamp_ns: int) -> Any:
    """The ``RegionArray`` of every grounded region, for perception to track.

    Args:
        types: Message classes.
        store: The task's grounded regions and object frames.
        stamps: Object name -> stamp [ns] of the observation its regions were grounded in.
        frame_id: The robot base frame.
        stamp_ns: Stamp of the array [ns] (now).

    Raises:
        MessageConversionError: For an object without a stamp, or a region that has no
            message (e.g. a non-rigid pose).
    """
    regions = []
    for name, grounded in store.regions.items():
        obj = grounded.region.frame
        if obj not in stamps:
            raise MessageConversionError(name, f'no observation stamp for object {obj!r}')
        regions.append(region_to_msg(types, grounded.region, store.frames.get(
            obj, grounded.T_base_obj), frame_id=frame_id, stamp_ns=int(stamps[obj]),
            kind=region_kind(grounded)))
    return types.get('resem3d_msgs/msg/RegionArray')(
        header=make_header(types, stamp_ns, frame_id), regions=regions)
