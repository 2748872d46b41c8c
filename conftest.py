"""Root conftest: the cloudgate plugin itself is registered through the `pytest11` entry point.

Kept small on purpose: everything a suite user needs lives in the installed plugin, so the same
suite runs from a checkout or from an installed package.
"""

collect_ignore = ["reports", ".venv", "build"]
