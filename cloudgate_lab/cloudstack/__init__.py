"""CloudStack API simulator of the embedded lab: the same wire format as a real management server.

It listens on 127.0.0.1 (/client/api), verifies signatures like ApiServer, answers in CloudStack's
envelopes, runs async jobs, places VMs like FirstFitAllocator + HostAntiAffinityProcessor, keeps its
state in SQLite and drives guests through a `GuestDriver`. The suite reaches it only with `cs`.

    python -m cloudgate_lab.cloudstack serve --state-dir DIR --topology FILE [--port N] [--credentials FILE]
"""

from .driver import GuestDriver, GuestSpec, NullGuestDriver
from .server import SimulatorHandle, start_in_thread

__all__ = ["GuestDriver", "GuestSpec", "NullGuestDriver", "SimulatorHandle", "start_in_thread"]
