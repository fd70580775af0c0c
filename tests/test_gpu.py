"""The GPU path without a GPU: a fake `nvidia-smi` on PATH, injected device
lists and a stand-in for TensorFlow's device API."""

import json
import os
import queue
import stat
import subprocess
import sys
import types

import pytest

from planet_tf import config as config_lib
from planet_tf import devices, rundir, runtime
from reproduce import common, launcher

H100 = 'GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-0000)'


@pytest.fixture
def fake_nvidia_smi(tmp_path, monkeypatch):
  """An `nvidia-smi` first on PATH that lists one H100 for `-L`."""
  script = tmp_path / 'bin' / 'nvidia-smi'
  script.parent.mkdir()
  script.write_text(f'#!/bin/sh\n[ "$1" = -L ] && echo "{H100}"\n')
  script.chmod(script.stat().st_mode | stat.S_IEXEC)
  monkeypatch.setenv('PATH', f'{script.parent}{os.pathsep}'
                     f"{os.environ['PATH']}")
  return str(script.parent)


def test_device_line_names_the_gpus_or_the_cpu_cores():
  assert devices.device_line(['NVIDIA H100 80GB HBM3']) == (
      'device: GPU:0 NVIDIA H100 80GB HBM3')
  assert devices.device_line(['A', 'B']) == 'device: GPU:0 A, GPU:1 B'
  assert devices.device_line([], cores=2) == 'device: CPU, 2 cores, no GPU visible'


def test_device_line_of_this_process_is_the_cpu():
  line = runtime.configure_tensorflow(allow_cpu=True)
  assert line == f'device: CPU, {os.cpu_count()} cores, no GPU visible'


def test_nvidia_smi_on_path_is_read(fake_nvidia_smi):
  assert devices.nvidia_gpus() == [H100]
  assert launcher.driver_gpu_ids() == ['0']
  assert devices.nvidia_gpus(which=lambda name: None) == []


def test_driver_without_cuda_build_stops_with_one_line(fake_nvidia_smi):
  with pytest.raises(runtime.DeviceError, match=r'lists 1 GPU\(s\) \(GPU 0: '
                     r'NVIDIA H100.*TensorFlow sees none.*PLANET_TF_GPU=1 '
                     r'bash scripts/setup.sh.*--allow_cpu'):
    runtime.configure_tensorflow()
  assert runtime.configure_tensorflow(allow_cpu=True).startswith('device: CPU')
  assert devices.missing_cuda_build([H100], ['NVIDIA H100'], False) is None
  assert devices.missing_cuda_build([], [], False) is None


def test_train_refuses_before_any_work(fake_nvidia_smi, tmp_path, tiny):
  logdir = tmp_path / 'run'
  result = subprocess.run(
      [sys.executable, '-m', 'planet_tf.train', '--preset=debug',
       f'--logdir={logdir}'], capture_output=True, text=True, timeout=120,
      env=runtime.child_env(), check=False)
  assert result.returncode != 0
  errors = [line for line in result.stderr.splitlines()
            if line.startswith('Error:')]
  assert len(errors) == 1 and 'CUDA build' in errors[0], result.stderr
  assert not logdir.exists()


class _FakeConfig:
  """tf.config's device calls, recorded."""

  def __init__(self, gpus):
    self.gpus, self.growth, self.tf32 = gpus, {}, None
    self.experimental = types.SimpleNamespace(
        set_memory_growth=self.growth.__setitem__,
        enable_tensor_float_32_execution=self._tf32,
        get_device_details=lambda device: {'device_name': f'name {device}'})

  def _tf32(self, enabled):
    self.tf32 = enabled

  def list_physical_devices(self, kind=None):
    return list(self.gpus) if kind == 'GPU' else ['CPU:0'] + self.gpus


def test_memory_growth_on_every_gpu_and_tf32_off():
  fake = types.SimpleNamespace(config=_FakeConfig(['GPU:0', 'GPU:1']))
  devices.configure(fake)
  assert fake.config.growth == {'GPU:0': True, 'GPU:1': True}
  assert fake.config.tf32 is False
  devices.configure(fake, allow_tf32=True)
  assert fake.config.tf32 is True
  assert devices.gpu_names(fake) == ['name GPU:0', 'name GPU:1']


def test_tensorflow_runs_with_tf32_off():
  import tensorflow as tf
  runtime.configure_tensorflow(allow_cpu=True)
  assert not tf.config.experimental.tensor_float_32_execution_enabled()


def _unresolved(config):
  """The tiny config with its device knobs as a fresh config has them."""
  return config.replace(backward_chunks='auto', planner_groups='auto')


def test_auto_knobs_follow_the_device(tiny_config):
  assert config_lib.Config().backward_chunks == 'auto'
  assert config_lib.Config().planner_groups == 'auto'
  auto = _unresolved(tiny_config)
  cpu = config_lib.for_device(auto, gpu=False)
  gpu = config_lib.for_device(auto, gpu=True)
  assert (cpu.backward_chunks, cpu.planner_groups) == (10, 2)
  assert (gpu.backward_chunks, gpu.planner_groups) == (1, 1)
  assert config_lib.for_device(auto) == cpu  # This machine: a CPU.
  explicit = tiny_config.replace(backward_chunks=3, planner_groups=1)
  assert config_lib.for_device(explicit, gpu=True) == explicit
  assert config_lib.resolve(['debug'], dict(backward_chunks='4')
                            ).backward_chunks == 4  # A flag's string.
  with pytest.raises(ValueError, match="expects an integer or 'auto'"):
    config_lib.resolve(['debug'], dict(planner_groups='two'))


def test_stored_cpu_values_resume_on_either_device(tmp_path, tiny_config):
  logdir = str(tmp_path)
  auto = _unresolved(tiny_config)
  stored = config_lib.for_device(auto, gpu=False)
  rundir.store_config(logdir, stored)
  assert json.load(open(tmp_path / 'config.json'))['backward_chunks'] == 10
  for gpu in (False, True):
    rundir.check_config(logdir, config_lib.for_device(auto, gpu=gpu))
  with pytest.raises(rundir.RunDirError, match='horizon'):
    rundir.check_config(logdir, stored.replace(horizon=5))


def test_gpu_slots_round_robin_and_fractions():
  assert launcher.gpu_slots(['0', '1'], 1) == ['0', '1']
  assert launcher.gpu_slots(['0', '1'], 0.25) == ['0', '1'] * 4
  assert launcher.gpu_slots(['0', '1', '2', '3'], 2) == ['0,1', '2,3']
  assert launcher.gpu_slots(['0'], 0) == []
  with pytest.raises(ValueError, match='lists no GPU'):
    launcher.gpu_slots([], 0.5)
  env = launcher.gpu_env({'A': '1'}, '2,3')
  assert env == {'A': '1', 'CUDA_VISIBLE_DEVICES': '2,3',
                 'MUJOCO_EGL_DEVICE_ID': '2'}
  assert launcher.gpu_env({'A': '1'}, None) == {'A': '1'}


def test_local_launcher_gives_each_run_its_gpu(tmp_path):
  """Five runs of a script that records its GPU variables, on a fake list
  of two GPUs at half a GPU each: at most four at once, each GPU in turn."""
  record = tmp_path / 'seen'
  record.mkdir()
  script = tmp_path / 'fake_train.py'
  script.write_text(
      'import os, sys, time\n'
      f'record = {str(record)!r}\n'
      'mine = os.path.join(record, str(os.getpid()))\n'
      'open(mine + ".start", "w").write(os.environ["CUDA_VISIBLE_DEVICES"]\n'
      '    + " " + os.environ["MUJOCO_EGL_DEVICE_ID"])\n'
      'time.sleep(1.0)\n'
      'names = os.listdir(record)\n'
      'running = sum(n.endswith(".start") for n in names) - sum(\n'
      '    n.endswith(".end") for n in names)\n'
      'open(mine + ".end", "w").write(str(running))\n')

  class FakeRun(common.Run):
    def command(self, runs_dir, python=sys.executable):
      return [python, str(script)]

  runs = [FakeRun('cheetah_run', seed, ('rssm',), 'debug')
          for seed in range(1, 6)]
  lines = []
  outcomes = launcher.launch_local(runs, str(tmp_path / 'runs'), parallel=8,
                                   log=lines.append, poll_seconds=0.2,
                                   gpus_per_run=0.5, gpus=['0', '1'])
  assert len(outcomes) == 5 and all(o.ok for o in outcomes), lines
  assert any('--parallel 8 lowered to 4' in line for line in lines), lines
  names = os.listdir(record)
  seen = sorted(open(record / n).read() for n in names if n.endswith('.start'))
  assert set(seen) == {'0 0', '1 1'} and len(seen) == 5
  assert abs(seen.count('0 0') - seen.count('1 1')) == 1  # Round-robin.
  running = [int(open(record / n).read()) for n in names if n.endswith('.end')]
  assert max(running) <= 4


def test_slot_queue_lends_each_slot_once():
  slots, parallel = launcher._slot_queue(['0'], 0.25, 8, lambda line: None)
  assert parallel == 4
  taken = [slots.get_nowait() for _ in range(4)]
  assert taken == ['0'] * 4
  with pytest.raises(queue.Empty):
    slots.get_nowait()
  assert launcher._slot_queue([], None, 3, print) == (None, 3)


SETUP = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), 'scripts', 'setup.sh')


def _setup_plan(env):
  return subprocess.run(['bash', SETUP, '--plan'], capture_output=True,
                        text=True, env=env, timeout=60, check=False)


def test_setup_chooses_the_cuda_build_where_the_driver_lists_a_gpu(
    fake_nvidia_smi):
  env = dict(os.environ)
  assert 'CUDA build from requirements.txt requirements-gpu.txt' in (
      _setup_plan(env).stdout)
  assert 'CPU build' in _setup_plan(dict(env, PLANET_TF_GPU='0')).stdout
  env['PATH'] = os.pathsep.join(
      p for p in env['PATH'].split(os.pathsep) if p != fake_nvidia_smi)
  assert 'CPU build' in _setup_plan(env).stdout
  assert 'CUDA build' in _setup_plan(dict(env, PLANET_TF_GPU='1')).stdout


def test_setup_stops_naming_an_old_python(tmp_path):
  """Only a python3 3.10 on PATH (and the tools the script needs)."""
  bin_dir = tmp_path / 'bin'
  bin_dir.mkdir()
  for tool in ('bash', 'dirname', 'grep', 'cat', 'cut', 'sha256sum'):
    os.symlink(subprocess.check_output(['which', tool], text=True).strip(),
               bin_dir / tool)
  python = bin_dir / 'python3'
  python.write_text('#!/bin/sh\ncase "$*" in *"< (3, 11)"*) exit 1 ;; '
                    '*) echo 3.10 ;; esac\n')
  python.chmod(0o755)
  result = _setup_plan({'PATH': str(bin_dir)})
  assert result.returncode == 1
  assert result.stderr.strip().splitlines() == [
      'setup: needs Python >= 3.11 (numpy 2.4, keras 3.15); found: python3 '
      '(3.10). Install python3.11 or newer (Ubuntu 22.04: apt-get install '
      'python3.11 python3.11-venv)']
