"""Flex Template entry point (``FLEX_TEMPLATE_PYTHON_PY_FILE``): ``newsflow run`` with the template parameters.

The launcher calls this file with every template parameter as ``--name=value`` plus the Dataflow
options (project, region, staging and temp locations, job name). This file only runs in the Flex
image, so it defaults the runner to Dataflow (``newsflow run`` alone would pick the local runner)
and adds ``--no_wait_until_finish`` so the launcher returns once the job is submitted.
"""

from __future__ import annotations

import sys

from newsflow.pipelines.cli import main


def flex_argv(parameters: list[str]) -> list[str]:
    """The ``newsflow`` command line of a Flex launch."""
    argv = ["run", *parameters]
    if not any(arg == "--runner" or arg.startswith("--runner=") for arg in parameters):
        argv.append("--runner=DataflowRunner")
    if "--no_wait_until_finish" not in parameters:
        argv.append("--no_wait_until_finish")
    return argv


if __name__ == "__main__":
    sys.exit(main(flex_argv(sys.argv[1:])))
