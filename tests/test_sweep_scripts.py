"""Packaging: an installed checkout runs reproduce/ scripts from any
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
