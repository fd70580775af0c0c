"""The paper's six tasks and their action repeats: plain data, no processes.

`config` reads this table to resolve and validate a config without starting
anything; `envs` resolves any other dm_control suite task (which needs the
suite, read in a child process) where environments are made.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

# The paper's six tasks in the column order of its Table 1:
# name: (domain, task, action repeat of the paper, App. A).
PAPER_TASKS = {
    'cartpole_swingup': ('cartpole', 'swingup', 8),
    'reacher_easy': ('reacher', 'easy', 4),
    'cheetah_run': ('cheetah', 'run', 4),
    'finger_spin': ('finger', 'spin', 2),
    'cup_catch': ('ball_in_cup', 'catch', 4),
    'walker_walk': ('walker', 'walk', 2),
}


@dataclasses.dataclass(frozen=True)
class TaskSpec:
  """A task's name, suite domain and task, and the paper's action repeat
  (None outside the paper's six tasks)."""
  name: str
  domain: str
  task: str
  paper_action_repeat: Optional[int]


def paper_action_repeat(name: str) -> Optional[int]:
  """The paper's action repeat for one of its six tasks, else None."""
  return PAPER_TASKS[name][2] if name in PAPER_TASKS else None
