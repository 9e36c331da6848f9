"""The closed loop's helpers (its tracking is the perception core's SceneTracker, tested with
it in resem3d_perception/test/test_scene_tracker.py)."""

from resem3d.loop import LoopConfig, percentile


def test_percentile_rounds_and_is_none_when_empty():
    assert percentile([], 50) is None
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile(iter([0.0001234, 0.0001234]), 99) == 0.0


def test_loop_config_keeps_the_camera_rate_grasp_search_and_settling_time():
    config = LoopConfig()
    assert (config.camera_hz, config.grasp_search_m, config.settle_s) == (15.0, 0.04, 0.5)
