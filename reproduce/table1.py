"""Table 1: final test returns of PlaNet next to the paper's numbers.

  python reproduce/table1.py --seeds=5                  # run or resume, write
  python reproduce/table1.py --aggregate_only           # only aggregate
  python reproduce/table1.py --true_simulator           # also CEM + simulator
  python reproduce/table1.py --budget=cpu --parallel=2  # the CPU budget
  python reproduce/table1.py --budget=cpu --dry_run     # only the plan

Runs the six tasks x seeds of PlaNet (variant `rssm`, shared with Figures 4
and 5) and writes results/table1[_<budget>].{md,csv,json}: A3C, D4PG and
PlaNet as quoted from the paper, PlaNet as measured here (mean final test
return over seeds x test trajectories), CEM + true simulator (quoted, and
measured when its runs exist), a uniformly random policy (measured, from
--random_policy when that file exists), and the data-efficiency factor over
D4PG.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from typing import Dict, List, Optional, Sequence

from absl import flags

from reproduce import aggregate, common, execute, sweep

PLANET = ('rssm',)
TRUE_SIMULATOR = ('true_simulator',)
QUOTED = 'quoted from the paper'
MEASURED = 'measured here'
NO_FACTOR = 'n/a (needs D4PG curves)'
FACTOR_NOTE = (
    "The paper's data-efficiency factor compares the episodes D4PG needs to "
    "reach PlaNet's final performance, estimated from D4PG's training curves "
    'in Tassa et al. (2018), with the episodes PlaNet used. We do not have '
    'those curves, so the measured factor is not computed: ' + NO_FACTOR + '.')
RANDOM_POLICY = 'Uniformly random policy'


def _row(method: str, source: str, budget: str, modality: str, episodes: str,
         values: Dict[str, object]) -> dict:
  return dict(method=method, source=source, budget=budget, modality=modality,
              episodes=episodes, values=values)


def _episodes_text(configured: Sequence[int]) -> str:
  values = sorted(set(configured))
  return ', '.join(f'{v:,}' for v in values) if values else '-'


def build_table(planet: Dict[str, Optional[aggregate.Final]],
                true_sim: Dict[str, Optional[aggregate.Final]],
                budget: str, tasks: Sequence[str],
                planet_episodes: Sequence[int] = (),
                true_sim_episodes: Sequence[int] = (),
                finished: Optional[Dict[str, Dict[str, str]]] = None,
                random_policy: Optional[dict] = None) -> dict:
  """Table 1 as a dict: the rows (quoted and measured) and the notes.

  planet, true_sim: task -> the measured Final (None where not run).
  finished: 'PlaNet' / 'CEM + true simulator' -> task -> 'k/n' runs finished.
  random_policy: the contents of results/random_policy.json (None: no row).
  """
  tag = '' if budget == 'paper' else f", budget '{budget}'"
  quoted = common.PAPER_TABLE1
  rows = []
  for name in ('A3C', 'D4PG'):
    rows.append(_row(name, QUOTED, 'paper (quoted)', quoted[name]['modality'],
                     quoted[name]['episodes'], dict(quoted[name]['values'])))
  rows.append(_row('PlaNet (paper)', QUOTED, 'paper (quoted)', 'pixels',
                   quoted['PlaNet']['episodes'],
                   dict(quoted['PlaNet']['values'])))
  rows.append(_row(f'PlaNet (this run{tag})', MEASURED, budget, 'pixels',
                   _episodes_text(planet_episodes),
                   {t: _mean(planet.get(t)) for t in tasks}))
  sim = quoted['CEM + true simulator']
  rows.append(_row('CEM + true simulator (paper)', QUOTED, 'paper (quoted)',
                   sim['modality'], sim['episodes'], dict(sim['values'])))
  if any(v is not None for v in true_sim.values()):
    rows.append(_row(f'CEM + true simulator (this run{tag})', MEASURED, budget,
                     'simulator state', _episodes_text(true_sim_episodes),
                     {t: _mean(true_sim.get(t)) for t in tasks}))
  random_tasks = (random_policy or {}).get('tasks', {})
  if random_tasks:
    rows.append(_row(RANDOM_POLICY, MEASURED, 'none (no learning)', 'pixels',
                     '0', {t: random_tasks[t]['mean'] if t in random_tasks
                           else None for t in tasks}))
  rows.append(_row('Data efficiency gain PlaNet over D4PG (factor, paper)',
                   QUOTED, 'paper (quoted)', '', '',
                   dict(common.PAPER_DATA_EFFICIENCY)))
  rows.append(_row('Data efficiency gain PlaNet over D4PG (factor, this run)',
                   MEASURED, budget, '', '', {t: NO_FACTOR for t in tasks}))
  return dict(
      title='Table 1', budget=budget, budget_label=common.budget_label(budget),
      tasks=list(tasks), rows=rows,
      measured={name: {t: _details(values.get(t),
                                   (finished or {}).get(name, {}).get(t))
                       for t in tasks}
                for name, values in (('PlaNet', planet),
                                     ('CEM + true simulator', true_sim))},
      random_policy={t: random_tasks[t] for t in tasks if t in random_tasks},
      random_policy_episodes=(random_policy or {}).get('episodes_per_task'),
      notes=[
          'Rows marked "quoted from the paper" are Table 1 of Hafner et al. '
          '(2019); A3C and D4PG there are from Tassa et al. (2018).',
          'Measured rows: mean test return at the last test point of each '
          'run, pooled over seeds x test trajectories.',
          f'Measured rows ran at {common.budget_label(budget)}.',
          FACTOR_NOTE])


def _mean(final: Optional[aggregate.Final]) -> Optional[float]:
  return None if final is None else final.mean


def _details(final: Optional[aggregate.Final],
             finished: Optional[str]) -> Optional[dict]:
  if final is None:
    return None
  return dict(final.to_dict(), finished=finished or '?')


def _cell(value: object) -> str:
  if value is None:
    return '-'
  if isinstance(value, float):
    return f'{value:.1f}'
  return str(value)


def to_markdown(table: dict) -> str:
  """The table, its budget and its notes as Markdown."""
  tasks = table['tasks']
  titles = [common.TASK_TITLES.get(t, t) for t in tasks]
  lines = [f"# {table['title']}: {table['budget_label']}", '',
           f"Generated {table.get('generated', '')}.", '',
           '| Method | Source | Modality | Episodes | ' + ' | '.join(titles) + ' |',
           '|' + '---|' * (4 + len(tasks))]
  for row in table['rows']:
    cells = [row['method'], row['source'], row['modality'], row['episodes']]
    cells += [_cell(row['values'].get(t)) for t in tasks]
    lines.append('| ' + ' | '.join(cells) + ' |')
  lines += ['', '## Measured rows in detail', '',
            '| Row | Task | Runs finished | Runs with metrics | Trajectories '
            '| Last test episodes | Mean | Std |',
            '|---|---|---|---|---|---|---|---|']
  for name, per_task in table['measured'].items():
    for task in tasks:
      d = per_task.get(task)
      if d:
        lines.append(f"| {name} | {task} | {d['finished']} | {d['runs']} | "
                     f"{d['trajectories']} "
                     f"| {', '.join(map(str, d['episodes']))} | "
                     f"{d['mean']:.1f} | {d['std']:.1f} |")
  lines += _random_policy_details(table)
  lines += ['', '## Notes', ''] + [f'- {note}' for note in table['notes']]
  return '\n'.join(lines) + '\n'


def _random_policy_details(table: dict) -> List[str]:
  """The random policy's returns per task: mean and min-max."""
  per_task = table.get('random_policy') or {}
  if not per_task:
    return []
  episodes = table.get('random_policy_episodes') or '?'
  lines = ['', f'{RANDOM_POLICY}: {episodes} episodes per task, uniformly '
           'random actions at the paper\'s action repeat.', '',
           '| Task | Action repeat | Mean | Min-max |', '|---|---|---|---|']
  for task, values in per_task.items():
    lines.append(f"| {task} | {values.get('action_repeat', '?')} | "
                 f"{values['mean']:.1f} | {values['min']:.1f}-"
                 f"{values['max']:.1f} |")
  return lines


def read_random_policy(path: str) -> Optional[dict]:
  """The random policy's returns (results/random_policy.json), or None when
  there is no such file or it cannot be used (with a warning)."""
  if not path or not os.path.exists(path):
    return None
  try:
    with open(path) as file:
      values = json.load(file)
    for task, numbers in values['tasks'].items():
      for key in ('mean', 'min', 'max'):
        float(numbers[key])
  except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
    print(f'Warning: {path} is not a random-policy results file ({error!r}); '
          'Table 1 has no random-policy row.', flush=True)
    return None
  return values


def to_csv(table: dict) -> str:
  """One CSV row per table row, the budget in its own column."""
  buffer = io.StringIO()
  writer = csv.writer(buffer, lineterminator='\n')
  writer.writerow(['method', 'source', 'budget', 'modality', 'episodes']
                  + table['tasks'])
  for row in table['rows']:
    values = row['values']
    writer.writerow([row['method'], row['source'], row['budget'],
                     row['modality'], row['episodes']]
                    + ['' if values.get(t) is None else values.get(t)
                       for t in table['tasks']])
  return buffer.getvalue()


def write_table(table: dict, results_dir: str) -> List[str]:
  """Writes table1[_<budget>].{md,csv,json} into results_dir."""
  stem = os.path.join(results_dir, common.output_name('table1', table['budget']))
  outputs = {'md': to_markdown(table), 'csv': to_csv(table),
             'json': json.dumps(table, indent=2) + '\n'}
  paths = []
  for ext, text in outputs.items():
    common.write_atomic(f'{stem}.{ext}', text.encode())
    paths.append(f'{stem}.{ext}')
  return paths


def measure(groups: Dict[tuple, aggregate.Group], presets: Sequence[str],
            tasks: Sequence[str]) -> tuple:
  """task -> Final for one variant, the episodes each run collected (0 for
  the true simulator, which learns nothing), and task -> 'k/n' runs
  finished."""
  finals, episodes, finished = {}, [], {}
  for task in tasks:
    group = next((g for (v, t), g in groups.items()
                  if t == task and g.runs[0].presets == tuple(presets)), None)
    finals[task] = aggregate.final(group.rows) if group and group.rows else None
    finished[task] = f'{group.finished}/{len(group.runs)}' if group else '0/0'
    episodes.extend(group.total_episodes if group else [])
  return finals, episodes, finished


def table1(options: sweep.SweepOptions, true_simulator: bool = False,
           random_policy: str = '') -> int:
  """Launch (unless --aggregate_only), aggregate and write Table 1;
  returns the exit status (0 after a dry run). Raises SweepError.

  true_simulator: also launch CEM on the true simulator; random_policy:
  the random policy's returns file (its row when it exists)."""
  tasks = list(options.tasks)
  launched = [PLANET] + ([TRUE_SIMULATOR] if true_simulator else [])
  shown = [] if true_simulator else [TRUE_SIMULATOR]
  runs = sweep.build(options, launched, tasks, shown, tasks)
  outcomes = execute.launch(runs)
  if outcomes is None:
    return 0
  groups = execute.load_groups(runs, 'reproduce/table1.py', outcomes)
  planet, planet_episodes, planet_done = measure(groups, PLANET, tasks)
  true_sim, sim_episodes, sim_done = measure(groups, TRUE_SIMULATOR, tasks)
  table = build_table(planet, true_sim, options.budget, tasks,
                      planet_episodes, sim_episodes,
                      {'PlaNet': planet_done,
                       'CEM + true simulator': sim_done},
                      read_random_policy(random_policy))
  table['generated'] = time.strftime('%Y-%m-%d %H:%M:%S')
  paths = write_table(table, options.results_dir)
  print('Wrote ' + ', '.join(paths), flush=True)
  print(to_markdown(table), flush=True)
  return execute.exit_code(outcomes)


def main(argv) -> int:
  return sweep.run_main(argv, lambda options: table1(
      options, flags.FLAGS.true_simulator, flags.FLAGS.random_policy))


def _define_flags() -> None:
  flags.DEFINE_bool('true_simulator', False,
                    'Also run CEM with the true simulator (preset '
                    'true_simulator) for its row of the table.')
  flags.DEFINE_string('random_policy', 'results/random_policy.json',
                      "A uniformly random policy's returns per task (written "
                      'by the random-policy measurement); when the file '
                      'exists, Table 1 gets its row.')


if __name__ == '__main__':
  sweep.start(main, _define_flags)
