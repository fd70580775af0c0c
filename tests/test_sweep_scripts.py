"""scripts/ and packaging: an installed checkout runs reproduce/ scripts from
any directory; scripts/train.sh keeps a relative --logdir in the caller's
directory."""

import os
import subprocess
import sys
import tomllib

from planet_tf import runtime
from reproduce import common

ROOT = common.REPO_ROOT


def test_pyproject_installs_both_packages_and_no_dependencies():
  import setuptools  # pylint: disable=import-outside-toplevel
  with open(os.path.join(ROOT, 'pyproject.toml'), 'rb') as file:
    project = tomllib.load(file)
  assert 'dependencies' not in project['project']  # requirements.txt pins.
  found = setuptools.find_packages(
      ROOT, **project['tool']['setuptools']['packages']['find'])
  assert 'planet_tf' in found and 'planet_tf.models' in found
  assert 'reproduce' in found and 'tests' not in found


def test_reproduce_scripts_need_no_path_setup_of_their_own(tmp_path):
  for name in ('table1', 'figure4', 'figure5', 'figure7'):
    with open(os.path.join(ROOT, 'reproduce', f'{name}.py')) as file:
      assert 'sys.path' not in file.read(), name
  # From another directory, importable as an installed checkout is.
  result = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'reproduce', 'table1.py'),
       '--dry_run', '--budget=cpu', '--seeds=1', '--tasks=cheetah_run'],
      capture_output=True, text=True, timeout=60, cwd=tmp_path,
      env=runtime.child_env())
  assert result.returncode == 0, result.stderr[-2000:]
  assert f"{tmp_path}/runs/cpu/rssm/cheetah_run/seed<k>" in result.stdout
  assert os.listdir(tmp_path) == []


def _absolute_logdir(cwd, *args):
  """scripts/train.sh's argument rewriting, run by bash in `cwd`."""
  script = os.path.join(ROOT, 'scripts', 'train.sh')
  result = subprocess.run(
      ['bash', '-c', f'source {script} && absolute_logdir "$@"', 'train.sh',
       *args], capture_output=True, timeout=10, cwd=cwd, check=True,
      env=dict(os.environ, HOME='/home/u'))
  return result.stdout.decode().split('\0')[:-1]


def test_train_sh_resolves_a_relative_logdir_against_the_callers_directory(
    tmp_path):
  cwd = str(tmp_path)
  assert _absolute_logdir(cwd, '--task=cheetah_run', '--logdir=runs/a') == [
      '--task=cheetah_run', f'--logdir={cwd}/runs/a']
  assert _absolute_logdir(cwd, '--logdir', 'runs/b c', '--seed=2') == [
      '--logdir', f'{cwd}/runs/b c', '--seed=2']
  assert _absolute_logdir(cwd, '-logdir=x', '--logdir=/abs/y') == [
      f'-logdir={cwd}/x', '--logdir=/abs/y']
  assert _absolute_logdir(cwd, '--logdir=~/runs/d') == ['--logdir=/home/u/runs/d']
  # Other flags, and anything after `--`, stay as they are.
  assert _absolute_logdir(cwd, '--logdirs=z', '--', '--logdir=e') == [
      '--logdirs=z', '--', '--logdir=e']
  assert _absolute_logdir(cwd) == []
