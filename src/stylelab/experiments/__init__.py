"""Lab notebook: sweeps over stylize options, one process per run, summary.csv, figures.

- :mod:`.config`: the sweep file (TOML) -> checked runs with deterministic ids
- :mod:`.runner`: RUNDIR layout, resume, the summary rows (:func:`.runner.run_sweep`)
- :mod:`.executors`: local subprocesses (``--jobs``) or Ray tasks
- :mod:`.worker`: one run in its own process
- :mod:`.report`: figures and index.html (:func:`.report.make_report`)

Nothing is imported here, so that ``python -m stylelab.experiments.worker`` starts lean.
"""
