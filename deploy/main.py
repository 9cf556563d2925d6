"""Flex Template entry point (``FLEX_TEMPLATE_PYTHON_PY_FILE``): ``newsflow run`` with the template parameters.

The launcher calls this file with every template parameter as ``--name=value`` plus the Dataflow
options (project, region, staging and temp locations, job name). ``--no_wait_until_finish`` lets the
launcher return once the job is submitted instead of waiting for a batch job to end.
"""

from __future__ import annotations

import sys

from newsflow.pipelines.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:], "--no_wait_until_finish"]))
