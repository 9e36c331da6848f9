"""resem3d_constraints: the declarative 3D constraint language of resem3d.

A multimodal model writes constraint programs as JSON; :func:`parse_program` validates them
into typed, immutable dataclasses (nothing is ever executed), and :func:`linearize` gives each
constraint's value, bounds and Jacobian wrt the tool twist for a real-time controller.
numpy is the only run-time dependency.
"""

from .anchors import AxisAnchor, PointAnchor, resolve_axis, resolve_point
from .conditions import check, Condition, ConditionResult
from .constraint import Constraint
from .exceptions import ConstraintError, ProgramError, RegionError, SceneError
from .geometry import box_signed_distance, box_signed_distances
from .jsonio import load_json
from .linearize import Linearization, linearize, violation
from .parser import parse_program, program_to_json
from .program import ConstraintProgram, GripperAction, Stage
from .region import Region
from .scene import SceneState
from .schema import program_schema
from .spec import CONDITION_KINDS, CONSTRAINT_KINDS

__version__ = '0.1.0'

__all__ = [
    'AxisAnchor',
    'box_signed_distance',
    'box_signed_distances',
    'check',
    'Condition',
    'CONDITION_KINDS',
    'ConditionResult',
    'Constraint',
    'CONSTRAINT_KINDS',
    'ConstraintError',
    'ConstraintProgram',
    'GripperAction',
    'Linearization',
    'linearize',
    'load_json',
    'parse_program',
    'PointAnchor',
    'program_schema',
    'program_to_json',
    'ProgramError',
    'Region',
    'RegionError',
    'resolve_axis',
    'resolve_point',
    'SceneError',
    'SceneState',
    'Stage',
    'violation',
]
