"""Typed errors of resem3d_perception, shared by every module of the package."""


class PerceptionError(Exception):
    """Base class of every error raised by resem3d_perception."""


class PerceptionInputError(PerceptionError, ValueError):
    """An input (image, depth map, intrinsics, mask, pose, parameter) is malformed: wrong
    shape or type, sizes that do not match, non-finite values where finite ones are needed."""


class CheckpointError(PerceptionError):
    """A model checkpoint is missing, unreadable or does not match the requested model type."""


class EmptyRegionError(PerceptionError):
    """A mask or a refinement selected no (or too few) valid 3D points.

    The caller can usually continue (e.g. ask for another part); ``reason`` says why.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TrackingError(PerceptionError):
    """A tracker was used wrongly (unknown object, duplicate name, model too small)."""


class MessageFormatError(PerceptionInputError):
    """A ROS message (image, camera info, point cloud, mark) cannot be converted: an
    unsupported encoding or field type, or sizes that do not match its data."""
