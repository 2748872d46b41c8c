"""Human-readable sizes for messages and tables (operators read GiB, not 16384 MiB)."""

from __future__ import annotations

from collections.abc import Sequence

RESOURCE_LABELS: tuple[str, str, str] = ("CPU", "memory", "flash")


def fmt_mib(mib: int) -> str:
    if mib % 1024 == 0:
        return f"{mib // 1024} GiB"
    return f"{mib} MiB"


def fmt_amount(resource: int, amount: int, cpu_unit: str = "cores") -> str:
    """Amount of resource 0 (CPU, in ``cpu_unit``), 1 (MiB) or 2 (GiB), with its unit."""
    if resource == 0:
        if cpu_unit != "cores":
            return f"{amount} {cpu_unit}"
        return f"{amount} core" + ("" if amount == 1 else "s")
    if resource == 1:
        return fmt_mib(amount)
    return f"{amount} GiB"


def fmt_size(size: Sequence[int], cpu_unit: str = "cores") -> str:
    """``8 cores / 16 GiB memory / 200 GiB flash`` (``8000 MHz / ...`` for an estate read from CloudStack)."""
    return f"{fmt_amount(0, size[0], cpu_unit)} / {fmt_mib(size[1])} memory / {size[2]} GiB flash"
