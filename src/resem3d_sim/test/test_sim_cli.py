"""Tests of the resem3d-sim command line."""

from PIL import Image

from resem3d_sim import cli


def test_view_writes_a_labelled_png(tmp_path, capsys):
    out = tmp_path / 'scene.png'
    assert cli.main(['view', '--task', 'household_mug_to_plate', '--out', str(out)]) == 0
    image = Image.open(out)
    assert image.size == (640, 480)
    assert 'labelled parts' in capsys.readouterr().out


def test_tasks_lists_every_task(capsys):
    assert cli.main(['tasks']) == 0
    assert 'household_mug_to_plate' in capsys.readouterr().out


def test_bad_input_is_one_error_line(tmp_path, capsys):
    assert cli.main(['view', '--task', 'juggle', '--out', str(tmp_path / 'x.png')]) == 2
    assert cli.main(['view', '--task', 'household_mug_to_plate', '--seed', '-3',
                     '--out', str(tmp_path / 'x.png')]) == 2
    assert cli.main(['view', '--task', 'household_mug_to_plate',
                     '--out', str(tmp_path / 'x.jpg')]) == 2
    lines = capsys.readouterr().err.strip().split('\n')
    assert len(lines) == 3 and all(line.startswith('error: ') for line in lines)
