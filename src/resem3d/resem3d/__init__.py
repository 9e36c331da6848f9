"""resem3d: the system package. The ``resem3d`` command line wires the cores in one process.

    resem3d plan --task NAME [--seed N] [--mllm oracle|openai|replay] [--json]
    resem3d tasks [--json]

Modules: :mod:`.cli` (arguments, subcommands, the one-line error funnel), :mod:`.plan` (the
``plan`` command), :mod:`.config` (where ``config/`` is and what ``reasoning.yaml`` holds).
Importing the package is light: each command imports the cores it needs when it runs.
"""

__version__ = '0.1.0'
