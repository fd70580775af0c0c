import os

import numpy as np
import pytest

from planet_tf import replay


def _episode(steps, action_size=2, seed=0):
  """A hand-made episode: frame t has every pixel equal to t, action t is
  (t, -t), reward t is 10 t; index 0 holds zeros as the convention says."""
  images = np.stack([np.full((64, 64, 3), t, np.uint8) for t in range(steps + 1)])
  actions = np.stack([np.full(action_size, t, np.float32) * [1, -1]
                      for t in range(steps + 1)]).astype(np.float32)
  rewards = np.arange(steps + 1, dtype=np.float32) * 10
  return {'image': images, 'action': actions, 'reward': rewards}


def test_index_convention_survives_disk_and_sampling(tmp_path):
  store = replay.Replay(str(tmp_path))
  store.add(_episode(20))
  assert sorted(os.listdir(tmp_path)) == ['000000-20.npz']
  reloaded = replay.Replay(str(tmp_path))
  assert len(reloaded) == 1 and reloaded.num_steps == 20
  batch = reloaded.sample(8, 5, np.random.default_rng(0))
  assert batch['image'].shape == (8, 5, 64, 64, 3) and batch['image'].dtype == np.uint8
  assert batch['action'].shape == (8, 5, 2) and batch['reward'].shape == (8, 5)
  for b in range(8):
    t = batch['image'][b, :, 0, 0, 0].astype(np.float32)
    np.testing.assert_array_equal(np.diff(t), 1)  # Consecutive steps.
    # action[t] led to image[t]; reward[t] was received on arriving there.
    np.testing.assert_array_equal(batch['action'][b, :, 0], t)
    np.testing.assert_array_equal(batch['reward'][b], 10 * t)


def test_sampling_covers_every_start_uniformly(tmp_path):
  store = replay.Replay(str(tmp_path))
  store.add(_episode(9))  # 10 frames, chunks of 4: starts 0..6.
  starts = store.sample(7000, 4, np.random.default_rng(1))['image'][:, 0, 0, 0, 0]
  counts = np.bincount(starts, minlength=7)
  assert counts.size == 7 and counts.min() > 850 and counts.max() < 1150


def test_rejects_convention_breaks_and_corrupt_files(tmp_path):
  bad = _episode(5)
  bad['reward'][0] = 1.0
  with pytest.raises(ValueError, match='must be zero'):
    replay.save_episode(str(tmp_path), 0, bad)
  bad = _episode(5)
  bad['image'] = bad['image'].astype(np.float32)
  with pytest.raises(ValueError, match='uint8'):
    replay.save_episode(str(tmp_path), 0, bad)
  path = replay.save_episode(str(tmp_path), 0, _episode(5))
  with open(path, 'r+b') as file:
    file.truncate(100)
  with pytest.raises(ValueError, match='Corrupt episode file .*000000-5.npz'):
    replay.Replay(str(tmp_path))


def test_interrupted_writes_are_discarded(tmp_path):
  replay.save_episode(str(tmp_path), 0, _episode(5))
  (tmp_path / '000001-5.npz.tmp').write_bytes(b'partial')
  store = replay.Replay(str(tmp_path))
  assert len(store) == 1 and not (tmp_path / '000001-5.npz.tmp').exists()


def test_read_only_readers_leave_files_being_written_alone(tmp_path):
  replay.save_episode(str(tmp_path), 0, _episode(5))
  (tmp_path / '000001-5.npz.tmp').write_bytes(b'being written')
  store = replay.Replay(str(tmp_path), read_only=True)
  assert len(store) == 1 and (tmp_path / '000001-5.npz.tmp').exists()


def test_an_episode_of_another_shape_is_set_aside_with_a_warning(tmp_path,
                                                                 caplog):
  episodes, logdir = str(tmp_path / 'episodes'), str(tmp_path)
  replay.save_episode(episodes, 0, _episode(5))
  small = _episode(5)
  small['image'] = small['image'][:, :32, :32]  # A 32x32 run's episode.
  replay.save_episode(episodes, 1, small)
  store = replay.Replay(episodes, replay.recover_episodes(
      episodes, logdir, limit=None, spec=((64, 64, 3), 2)))
  assert store.indices == [0]
  assert os.listdir(tmp_path / 'discarded' / 'episodes') == ['000001-5.npz']
  assert 'does not match this run' in caplog.text and '000001-5' in caplog.text
