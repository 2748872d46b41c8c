"""Every API command the simulator answers, one module per area; importing this package registers them all.

The registry they register into, the `Request` their handlers receive and the `@command`/`@job`
decorators are in registry.py, below this package: a command module imports the registry, never this
package, so the package may import them all. api.py and simulator.py read `REGISTRY` through this
package, which guarantees it is complete.
"""

from __future__ import annotations

from ..registry import REGISTRY, runner_for
from . import affinity, hosts, inventory, meta, oobm, tags, vms  # noqa: F401  (registration side effects)

__all__ = ["REGISTRY", "runner_for"]
