from resem3d_controller import ControllerConfig, JointVelocityController, demo


def test_pick_and_place_program_completes_every_stage():
    controller = JointVelocityController(ControllerConfig())
    steps = []
    reports = demo.run_program('pick_and_place_mug', controller, steps)
    assert [r.stage for r in reports] == [s.name for s in
                                          demo.load_example('pick_and_place_mug').stages]
    assert all(r.reached and not r.reason for r in reports), reports
    assert len(steps) > 1000


def test_unknown_program_is_a_clean_error(capsys):
    assert demo.main(['--programs', 'juggle']) == 2
    assert capsys.readouterr().err.startswith('error: juggle:')
