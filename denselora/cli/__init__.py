"""The command line, ``python -m denselora``.

- :mod:`~denselora.cli.trainer`: ``fit``, ``validate``, ``test``, ``predict`` (LightningCLI over
  :class:`~denselora.training.FineTuner` and the data modules), with each command's short ``--help`` from
  :mod:`~denselora.cli.help`;
- :mod:`~denselora.cli.new_run_directory`: each run's ``version_N`` directory, claimed atomically;
- :mod:`~denselora.cli.tools`: the commands that read finished runs, :mod:`~denselora.cli.figure` and
  :mod:`~denselora.cli.report` (over the run directories :mod:`~denselora.cli.finished_run_files` finds),
  :mod:`~denselora.cli.lm_eval` and :mod:`~denselora.cli.generate`; and :mod:`~denselora.cli.data`, which
  fetches the LLM-Adapters data.
"""

from denselora.cli.trainer import DenseLoRACLI, main

__all__ = ["DenseLoRACLI", "main"]
