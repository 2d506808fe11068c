"""``python -m denselora``: the trainer (``fit``, ``validate``, ``test``, ``predict``) and the run tools.

The run tools (``figure``, ``report``, ``lm-eval``, ``generate``, and ``data``, which fetches the data) are dispatched
here, before LightningCLI (which knows only its own subcommands) sees the arguments; everything else goes to
:func:`denselora.cli.main`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from denselora.cli import main as cli_main
from denselora.cli.tools import SUMMARIES, TOOLS, run_tool


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in TOOLS:
        sys.exit(run_tool(args[0], args[1:]))
    if args and args[0] in ("-h", "--help"):
        print("Commands beside the trainer (each has --help):")
        for name, summary in SUMMARIES.items():
            print(f"  python -m denselora {name}: {summary}")
        print("The trainer:")
    cli_main(None if argv is None else args)


if __name__ == "__main__":
    main()
