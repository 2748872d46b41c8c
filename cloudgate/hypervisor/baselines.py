"""Expected versions per host role (OS release, kernel, Fusion-IO driver and firmware).

A regression suite compares against what was qualified, not against "latest": after an upgrade
the baseline files change in the same commit as the qualification, so a host drifting from them
is caught the next night. One YAML file per role under the target's baselines directory.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cloudgate.target import LoadedTarget, TargetError

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "baselines"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OsRelease(_Strict):
    id: str = Field(description="ID= in /etc/os-release, e.g. xcp-ng or centos")
    version_id: str = Field(description="VERSION_ID= in /etc/os-release")


class FusionIo(_Strict):
    driver_version: str = Field(description="iomemory-vsl driver version as fio-status prints it")
    firmware: str = Field(description="card firmware version as fio-status prints it, e.g. v7.1.17")
    device: str = "/dev/fioa"
    module: str = "iomemory_vsl"


class HypervisorBaseline(_Strict):
    os_release: OsRelease
    kernel: str = Field(description="uname -r")
    fusionio: FusionIo


def baselines_dir(loaded: LoadedTarget) -> Path:
    """The target's baselines directory (relative to the target file), else the shipped one."""
    named = loaded.resolve(loaded.target.baselines)
    return Path(named) if named else DEFAULT_DIR


def load_hypervisor_baseline(loaded: LoadedTarget) -> HypervisorBaseline:
    path = baselines_dir(loaded) / "hypervisor.yaml"
    try:
        data = yaml.safe_load(path.read_text())
        return HypervisorBaseline.model_validate(data)
    except OSError as exc:
        raise TargetError(f"{path}: cannot read baseline: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise TargetError(f"{path}: not valid YAML: {exc}".splitlines()[0]) from None
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise TargetError(f"{path}: {field}: {err['msg']}") from None
