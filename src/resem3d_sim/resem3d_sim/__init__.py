"""resem3d_sim: the embedded MuJoCo world of resem3d (robot, scenes, RGB-D camera, tasks).

Built in code with MuJoCo's MjSpec; stands in for the Franka arm and the RealSense camera.
"""
