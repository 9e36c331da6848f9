"""node.py of resem3d_sim is a thin rclpy adapter: short, one Node named 'sim', main() behind
the console script sim_node, the package's only module that imports ROS. rclpy is not
installed here: resem3d_constraints.adapter_check reads the sources."""

from pathlib import Path

from resem3d_constraints.adapter_check import node_adapter_problems


def test_node_py_is_a_thin_rclpy_adapter():
    root = Path(__file__).resolve().parents[1]
    assert node_adapter_problems(root, 'resem3d_sim', 'sim', 'sim_node') == []
