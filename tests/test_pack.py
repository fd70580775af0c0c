"""A packed run directory resumes after unpacking on another machine."""

import os
import subprocess
import sys
import tarfile

import pytest

from planet_tf import components, pack, rundir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope='module')
def _run(tmp_path_factory, tiny_config, fake_env):
  """A 3-episode run on the fake environment, with the sweep's log beside."""
  config = tiny_config.replace(test_episodes=0)
  root = tmp_path_factory.mktemp('runs')
  logdir = str(root / 'budget' / 'seed1')
  components.build_trainer(config, logdir, fake_env).run()
  with open(logdir + '.log', 'w') as file:
    file.write('episode 3/3\n')
  return config, str(root), logdir


def test_the_archive_keeps_the_newest_checkpoint_and_leaves_out_the_lock(
    _run, tmp_path):
  _, root, logdir = _run
  checkpoints = os.path.join(logdir, rundir.CHECKPOINTS_DIR)
  numbers = rundir.checkpoint_numbers(checkpoints)
  assert len(numbers) > 1  # Older ones are on disk, to be left out.
  open(os.path.join(checkpoints, 'ckpt-9.data.tmp'), 'w').close()
  out = str(tmp_path / 'run.tar.gz')
  names = pack.pack(logdir, out, root=root)
  os.remove(os.path.join(checkpoints, 'ckpt-9.data.tmp'))
  with tarfile.open(out) as archive:
    assert sorted(archive.getnames()) == sorted(names)
  packed = {os.path.basename(name) for name in names
            if '/checkpoints/ckpt-' in name}
  assert {rundir.checkpoint_number(name) for name in packed} == {numbers[-1]}
  assert 'budget/seed1.log' in names
  assert 'budget/seed1/config.json' in names
  assert not any(name.endswith((rundir.LOCK_NAME, '.tmp')) for name in names)


def test_an_unpacked_run_resumes_from_the_packed_checkpoint(
    _run, tmp_path, fake_env, metrics_rows):
  config, root, logdir = _run
  out = str(tmp_path / 'run.tar.gz')
  pack.pack(logdir, out, root=root)
  elsewhere = tmp_path / 'elsewhere'
  with tarfile.open(out) as archive:
    archive.extractall(elsewhere)
  moved = str(elsewhere / 'budget' / 'seed1')
  trainer = components.build_trainer(config.replace(total_episodes=4), moved,
                                     fake_env)
  trainer.run()
  rows = metrics_rows(moved)
  assert [row['episode'] for row in rows] == [1, 2, 3, 4]
  assert rows[:3] == metrics_rows(logdir)  # Kept as they were, none rebuilt.
  assert not os.path.isdir(os.path.join(moved, rundir.DISCARDED))


def test_a_directory_without_a_run_is_refused_by_name(tmp_path):
  with pytest.raises(rundir.RunDirError, match='holds no run'):
    pack.pack(str(tmp_path), str(tmp_path / 'x.tar.gz'))
  assert not os.path.exists(tmp_path / 'x.tar.gz')


def test_the_command_line_packs_and_names_a_missing_flag(_run, tmp_path):
  _, root, logdir = _run
  command = [sys.executable, '-m', 'planet_tf.pack']
  out = str(tmp_path / 'run.tar.gz')
  done = subprocess.run(command + [f'--logdir={logdir}', f'--out={out}',
                                   f'--root={root}'],
                        capture_output=True, text=True, timeout=60, cwd=ROOT)
  assert done.returncode == 0, done.stderr[-2000:]
  assert f'tar -xzf {out} -C {root}' in done.stdout
  with tarfile.open(out) as archive:
    assert 'budget/seed1/config.json' in archive.getnames()
  missing = subprocess.run(command + [f'--logdir={logdir}'],
                           capture_output=True, text=True, timeout=60,
                           cwd=ROOT)
  assert missing.returncode != 0 and '--out=<archive.tar.gz>' in missing.stderr
  empty = subprocess.run(command + [f'--logdir={tmp_path}', f'--out={out}2'],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
  assert empty.returncode == 1 and 'holds no run' in empty.stderr
