"""Lab notebook: sweeps over stylize options, one process per run, summary.csv, figures.

- :mod:`.config`: the sweep file (TOML) -> checked runs with deterministic ids
- :mod:`.values`: the Sweep and Run records; TOML values as options (the field table)
- :mod:`.inputs`: what the runs read (images, masks, weights, layers), checked up front
- :mod:`.rundir`: RUNDIR's file names and readers (shared by the runner and the report)
- :mod:`.runner`: RUNDIR layout, resume, the summary rows (:func:`.runner.run_sweep`)
- :mod:`.executors`: local subprocesses (``--jobs``) or Ray tasks
- :mod:`.worker`: one run in its own process
- :mod:`.report`: figures and index.html (:func:`.report.make_report`)
- :mod:`.study`: the robustness study's tables and ranking plot

The commands (``stylelab sweep``, ``stylelab report``) are in :mod:`stylelab.cli.sweep`.
Nothing is imported here, so that ``python -m stylelab.experiments.worker`` starts lean.
"""
