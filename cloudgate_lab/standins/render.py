"""Multi-call stand-in for the commands a real hypervisor host or guest answers with.

Each lab node has a `bin/` directory, bind-mounted over /usr/local/sbin inside the node (first in
sshd's default PATH), holding one tiny wrapper per command that calls `main(command, state_path, argv)`.
The output is rendered from the node's state.json *at call time*, so a fault written to that file by
`cloudgate_lab.hostfaults` shows on the next SSH command, without restarting anything.

Stdlib only, and no `cloudgate` import: it runs inside the namespaces under `/usr/bin/python3 -IS`.

The formats are reconstructed from memory of the real tools (Fusion-io VSL 3.x `fio-status`, XenServer
`xe`, chrony 3.x/4.x `chronyc tracking`, kmod `lsmod`, util-linux `swapon --show`); they follow the
real field names and layout closely but are not byte-for-byte copies of a captured output.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time
from collections.abc import Callable

REAL = {"uname": "/bin/uname", "sysctl": "/usr/sbin/sysctl", "swapon": "/usr/sbin/swapon"}


def load_state(path: str) -> dict:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


class UseReal(Exception):  # noqa: N818 - a signal, not an error
    """The stand-in has nothing special to say: main() hands the call to the real binary."""


def _fallback(command: str, argv: list[str]) -> int:
    raise UseReal(command)


def _exec_real(command: str, argv: list[str]) -> int:
    real = REAL[command]
    os.execv(real, [real, *argv])
    return 127  # not reached


# -- fio-status --------------------------------------------------------------------------------------


def _reserve_status(fio: dict) -> str:
    if fio.get("media_status", "Healthy") != "Healthy":
        return fio["media_status"]
    if float(fio["reserve_percent"]) < float(fio["reserve_warn_percent"]):
        return "Warning"
    return "Healthy"


def render_fio_status(state: dict, argv: list[str]) -> str:
    """VSL 3.x `fio-status [-a]` for one ioDrive2 adapter with one ioMemory module (fct0 -> fioa)."""
    fio = state["fio"]
    full = "-a" in argv or "--all" in argv
    loaded = bool(fio.get("module_loaded", True))
    sn, pn = fio["serial"], fio["product_number"]
    size = float(fio["size_gb"])
    sectors = int(size * 1e9 // 512)
    lines = ["", "Found 1 ioMemory device in this system"]
    if loaded:
        lines.append(f"Driver version: {fio['driver_version']} build {fio['driver_build']}")
    else:
        lines.append("Driver version: Driver not loaded")
    lines += [
        "",
        "Adapter: Single Controller Adapter",
        f"\tFusion-io ioDrive2 {size / 1000:.3f}TB, Product Number:{pn}, SN:{sn}, FIO SN:{sn}",
    ]
    if full:
        lines += [
            "\tioDrive2 Adapter Controller, PN:PA004137009",
            "\tExternal Power: NOT connected",
            "\tPCIe Bus voltage: avg 12.05V",
            "\tPCIe Bus current: avg 0.78A",
            "\tPCIe Bus power: avg 9.45W",
            "\tPCIe Power limit threshold: 24.75W",
            "\tPCIe slot available power: 25.00W",
            "\tPCIe negotiated link: 4 lanes at 5.0 Gt/sec each, 2000.00 MBytes/sec total",
        ]
    lines += ["\tConnected ioMemory modules:", f"\t  fct0:\tProduct Number:{pn}, SN:{sn}", ""]
    if not loaded:
        lines += [
            "fct0\tStatus unknown: Driver is not loaded",
            f"\tioDrive2 Adapter Controller, Product Number:{pn}, SN:{sn}",
            "\tPCI:04:00.0, Slot Number:2",
            f"\tFirmware v{fio['firmware']}, rev {fio['firmware_rev']} Public",
            "",
        ]
        return "\n".join(lines) + "\n"
    media = fio.get("media_status", "Healthy")
    attach = "Attached as 'fioa' (block device)" + (", read-only" if media == "Read-only" else "")
    status = _reserve_status(fio)
    reserve = f"Reserves: {float(fio['reserve_percent']):.2f}%, warn at {float(fio['reserve_warn_percent']):.2f}%"
    lines += [f"fct0\t{attach}", f"\tioDrive2 Adapter Controller, Product Number:{pn}, SN:{sn}"]
    if full:
        lines += [
            "\tioDrive2 Adapter Controller, PN:PA004137009",
            "\tSMP(AVR) Versions: App Version: 1.0.35.0, Boot Version: 0.0.9.1",
            f"\tLocated in slot 0 Center of ioDrive2 Adapter Controller SN:{sn}",
            "\tPowerloss protection: Protected",
            "\tPCI:04:00.0, Slot Number:2",
            "\tVendor:1aed, Device:2001, Sub vendor:1aed, Sub device:2001",
        ]
    lines += [f"\tFirmware v{fio['firmware']}, rev {fio['firmware_rev']} Public"]
    if full:
        lines += [
            f"\t{size:.2f} GBytes device size",
            f"\tFormat: v500, {sectors} sectors of 512 bytes",
            "\tPCIe slot available power: 25.00W",
            "\tPCIe negotiated link: 4 lanes at 5.0 Gt/sec each, 2000.00 MBytes/sec total",
        ]
    lines += [
        f"\tInternal temperature: {float(fio['temperature_c']):.2f} degC, max {float(fio['temperature_max_c']):.2f} degC"
    ]
    if full:
        lines += ["\tInternal voltage: avg 1.01V, max 1.02V", "\tAux voltage: avg 2.49V, max 2.50V"]
    lines += [f"\tMedia status: {status}; {reserve}", f"\tReserve space status: {status}; {reserve}"]
    if full:
        lines += [
            "\tActive media: 100.00%",
            "\tRated PBW: 17.00 PB, 98.91% remaining",
            "\tLifetime data volumes:",
            "\t   Physical bytes written: 185,242,103,986,304",
            "\t   Physical bytes read   : 127,493,827,117,312",
            "\tRAM usage:",
            "\t   Current: 431,279,808 bytes",
            "\t   Peak   : 431,279,808 bytes",
            "\tContained VSUs:",
            f"\t  fioa:\tID:0, UUID:{fio['vsu_uuid']}",
            "",
            "fioa\tState: Online, Type: block device",
            f"\tID:0, UUID:{fio['vsu_uuid']}",
            f"\t{size:.2f} GBytes device size",
            f"\tFormat: {sectors} sectors of 512 bytes",
        ]
    lines.append("")
    return "\n".join(lines) + "\n"


def fio_status(state: dict, argv: list[str]) -> int:
    if "fio" not in state:
        sys.stderr.write("fio-status: command not found\n")
        return 127
    sys.stdout.write(render_fio_status(state, argv))
    return 0


# -- lsmod -------------------------------------------------------------------------------------------


def lsmod(state: dict, argv: list[str]) -> int:
    """kmod's layout: name padded to 19, size right-aligned to 8, use count, users."""
    rows = list(state.get("modules", []))
    if state.get("fio", {}).get("module_loaded"):
        rows.insert(0, ["iomemory_vsl", 1242851, 2, ""])
    out = ["Module                  Size  Used by"]
    out += [f"{name:<19} {size:>8}  {used}{(' ' + users) if users else ''}" for name, size, used, users in rows]
    sys.stdout.write("\n".join(out) + "\n")
    return 0


# -- xe ----------------------------------------------------------------------------------------------


def _xe_record(fields: list[tuple[str, str, str]]) -> str:
    """xe's record layout: labels right-aligned so the colons line up (uuid is left-padded instead)."""
    out = []
    for i, (name, mode, value) in enumerate(fields):
        label = f"{name} ( {mode})"
        out.append(f"{label:<26}: {value}" if i == 0 else f"{label:>26}: {value}")
    return "\n".join(out)


def xe(state: dict, argv: list[str]) -> int:
    if "pool" not in state:
        sys.stderr.write("xe: command not found\n")
        return 127
    if state.get("agent") == "down":
        sys.stderr.write("Error: Connection refused (calling connect )\n")
        return 1
    if not argv or argv[0] != "host-list":
        sys.stderr.write(f"Unknown command: {argv[0] if argv else ''}\nFor usage run: 'xe help'\n")
        return 1
    minimal = "--minimal" in argv
    filters = dict(a.split("=", 1) for a in argv[1:] if "=" in a and not a.startswith("params="))
    params = next((a.split("=", 1)[1] for a in argv[1:] if a.startswith("params=")), "")
    hosts = [
        h
        for h in state["pool"]
        if all(h.get(k.replace("-", "_")) == v for k, v in filters.items() if k in ("uuid", "name-label"))
    ]
    if minimal:
        key = (params or "uuid").split(",")[0].replace("-", "_")
        sys.stdout.write(",".join(h.get(key, "") for h in hosts) + "\n")
        return 0
    records = []
    for h in hosts:
        fields = [("uuid", "RO", h["uuid"]), ("name-label", "RW", h["name_label"]),
                  ("name-description", "RW", h["name_description"])]
        if params and params != "all":
            wanted = params.split(",")
            fields = [f for f in fields if f[0] in wanted]
        records.append(_xe_record(fields))
    sys.stdout.write("".join(r + "\n\n\n" for r in records))
    return 0


# -- chronyc -----------------------------------------------------------------------------------------


def _refid(ip: str) -> str:
    return "".join(f"{int(p):02X}" for p in ip.split("."))


def chronyc(state: dict, argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("-")]
    if args != ["tracking"]:
        sys.stderr.write(f"Unrecognized command: {' '.join(args)}\n" if args else "chronyc: interactive mode not supported\n")
        return 1
    ntp = state["ntp"]
    numeric = "-n" in argv
    offset = float(ntp["offset_s"])
    direction = "fast" if offset >= 0 else "slow"
    if ntp.get("synced", True):
        server = ntp["server"]
        ref = f"{_refid(server)} ({server if numeric else ntp.get('server_name', server)})"
        ref_time = time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(time.time() - 37))
        rows = [
            ("Reference ID", ref), ("Stratum", "3"), ("Ref time (UTC)", ref_time),
            ("System time", f"{abs(offset):.9f} seconds {direction} of NTP time"),
            ("Last offset", f"{-offset / 3:+.9f} seconds"), ("RMS offset", f"{abs(offset) * 1.7:.9f} seconds"),
            ("Frequency", "12.345 ppm slow"), ("Residual freq", "-0.001 ppm"), ("Skew", "0.012 ppm"),
            ("Root delay", "0.000412345 seconds"), ("Root dispersion", "0.000156789 seconds"),
            ("Update interval", "64.4 seconds"), ("Leap status", "Normal"),
        ]
    else:
        rows = [
            ("Reference ID", "00000000 ()"), ("Stratum", "0"), ("Ref time (UTC)", "Thu Jan 01 00:00:00 1970"),
            ("System time", f"{abs(offset):.9f} seconds {direction} of NTP time"),
            ("Last offset", "+0.000000000 seconds"), ("RMS offset", "0.000000000 seconds"),
            ("Frequency", "0.000 ppm slow"), ("Residual freq", "+0.000 ppm"), ("Skew", "0.000 ppm"),
            ("Root delay", "1.000000000 seconds"), ("Root dispersion", "1.000000000 seconds"),
            ("Update interval", "0.0 seconds"), ("Leap status", "Not synchronised"),
        ]
    sys.stdout.write("".join(f"{k:<16}: {v}\n" for k, v in rows))
    return 0


# -- uname / sysctl / swapon -------------------------------------------------------------------------


def uname(state: dict, argv: list[str]) -> int:
    """Only the kernel release is faked (-r, -a); everything else is the real uname."""
    if argv == ["-r"] or argv == ["--kernel-release"]:
        sys.stdout.write(state["kernel"] + "\n")
        return 0
    if argv in (["-a"], ["--all"]):
        node = os.uname().nodename
        sys.stdout.write(f"Linux {node} {state['kernel']} {state.get('kernel_version', '#1 SMP')} "
                         "x86_64 x86_64 x86_64 GNU/Linux\n")
        return 0
    return _fallback("uname", argv)


def sysctl(state: dict, argv: list[str]) -> int:
    """Keys in state['sysctl'] are answered from the state; any other call goes to the real sysctl."""
    faked = state.get("sysctl", {})
    flags = [a for a in argv if a.startswith("-")]
    keys = [a for a in argv if not a.startswith("-")]
    if not keys or set(flags) - {"-n", "-e"} or not all(k.replace("/", ".") in faked for k in keys):
        return _fallback("sysctl", argv)
    for k in keys:
        value = faked[k.replace("/", ".")]
        sys.stdout.write(f"{value}\n" if "-n" in flags else f"{k} = {value}\n")
    return 0


def swapon(state: dict, argv: list[str]) -> int:
    """`swapon --show` / `swapon -s` from state['swap']; an empty list prints nothing, like the real one."""
    if not argv or argv[0] not in ("--show", "-s", "--summary") and not argv[0].startswith("--show="):
        return _fallback("swapon", argv)
    swaps = state.get("swap", [])
    if argv[0] in ("-s", "--summary"):
        out = ["Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority"]
        out += [f"{s['name']:<40}{s['type']}\t{s['size_kib']}\t\t0\t\t-2" for s in swaps]
    else:
        out = ["NAME       TYPE      SIZE USED PRIO"] if swaps and "--noheadings" not in argv else []
        out += [f"{s['name']:<10} {s['type']:<9} {s['size_kib'] // 1048576:>3}G   0B   -2" for s in swaps]
    if out:
        sys.stdout.write("\n".join(out) + "\n")
    return 0


def cg_ulimit(state: dict, argv: list[str]) -> int:
    """Backs the guests' `ulimit` shell function: -n/-l/-u from state['limits']; rc 2 = ask the builtin."""
    keys = {"n": "nofile", "l": "memlock", "u": "nproc"}
    limits = state.get("limits", {})
    key = keys.get(argv[0][-1]) if len(argv) == 1 else None
    if key is None or key not in limits:
        return 2
    sys.stdout.write(f"{limits[key]}\n")
    return 0


COMMANDS: dict[str, Callable[[dict, list[str]], int]] = {
    "cg-ulimit": cg_ulimit,
    "fio-status": fio_status,
    "lsmod": lsmod,
    "xe": xe,
    "chronyc": chronyc,
    "uname": uname,
    "sysctl": sysctl,
    "swapon": swapon,
}


def main(command: str, state_path: str, argv: list[str]) -> int:
    try:
        state = load_state(state_path)
    except (OSError, ValueError) as exc:
        if command in REAL:
            return _exec_real(command, argv)
        sys.stderr.write(f"{command}: cannot read node state {state_path}: {exc}\n")
        return 1
    if command == "systemctl":  # manages the guest's processes: it needs the node's directory too
        from services import systemctl

        return systemctl(state, os.path.dirname(state_path), argv)
    if command == "nodetool":  # the node's live gossip view, not its state file
        from nodetool import nodetool

        return nodetool(state, argv)
    try:
        return COMMANDS[command](state, argv)
    except UseReal:
        return _exec_real(command, argv)


# -- pre-rendering -----------------------------------------------------------------------------------
# A real `fio-status` or `chronyc` answers in a few ms; starting Python costs 10-40 ms (more on a busy
# box), which would make every fan-out figure measured on the lab a figure about Python. So whenever a
# node's state is written (lab up, a fault, its clearing), the answers to the calls the checks make are
# rendered ahead into <node>/out/<command>/@<args>.sh, a shell snippet of builtins only (printf, exit). The
# node's wrapper (a /bin/sh script, see cloudgate_lab/hosts.py) sources the snippet for those exact
# arguments and runs this module only for any other call. One cost of that: chronyc's "Ref time" is the
# time of the last state write, not of the call (no check reads it).

ULIMIT_FLAGS = ("-n", "-Sn", "-Hn", "-l", "-Sl", "-Hl", "-u", "-Su", "-Hu")


def prerendered_calls(state: dict) -> dict[str, list[tuple[str, ...]]]:
    """The argument lists answered ahead, per command: what the checks, probes and faults' proofs call."""
    return {
        "fio-status": [(), ("-a",)],
        "lsmod": [()],
        "xe": [("host-list",), ("host-list", "--minimal")],
        "chronyc": [("tracking",), ("-n", "tracking")],
        "uname": [("-r",)],  # not -a: it names the node, which the root namespace cannot see
        "sysctl": [("-n", key) for key in state.get("sysctl", {})] + [(key,) for key in state.get("sysctl", {})],
        "swapon": [("--show",), ("--show", "--noheadings"), ("-s",)],
        "cg-ulimit": [(flag,) for flag in ULIMIT_FLAGS],
    }


def snippet_name(argv: tuple[str, ...]) -> str:
    """The snippet's file name: its arguments, so wrapper and pre-render agree whatever the state holds."""
    return "@" + "@".join(argv).replace("/", "%") + ".sh"


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def render_call(state: dict, command: str, argv: tuple[str, ...]) -> str | None:
    """The snippet that answers `command argv` as main() would, or None when the real binary must."""
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = io.StringIO(), io.StringIO()
    try:
        rc = COMMANDS[command](state, list(argv))
    except UseReal:
        return None
    finally:
        captured_out, captured_err = sys.stdout.getvalue(), sys.stderr.getvalue()  # type: ignore[attr-defined]
        sys.stdout, sys.stderr = out, err
    lines = []
    if captured_out:
        lines.append(f"printf '%s' {_sh_quote(captured_out)}")
    if captured_err:
        lines.append(f"printf '%s' {_sh_quote(captured_err)} >&2")
    lines.append(f"exit {int(rc)}")
    return "\n".join(lines) + "\n"


def prerender(node_dir: str, state: dict, commands: list[str]) -> None:
    """Write <node_dir>/out/<command>/@<args>.sh for each pre-rendered call of `commands` (atomic per file).

    A call that goes to the real binary gets no snippet (its stale one, if any, is removed), so the
    wrapper falls through to main() and from there to the real program.
    """
    calls = prerendered_calls(state)
    for command in commands:
        if command not in calls or command not in COMMANDS:
            continue
        folder = os.path.join(node_dir, "out", command)
        os.makedirs(folder, exist_ok=True)
        for argv in calls[command]:
            path = os.path.join(folder, snippet_name(argv))
            snippet = render_call(state, command, argv)
            if snippet is None:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path)
                continue
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(snippet)
            os.replace(tmp, path)


def wrapper_script(command: str, node_dir: str, state_path: str, python: str, standins_dir: str,
                   calls: list[tuple[str, ...]]) -> str:
    """The node's /usr/local/sbin/<command>: a pre-rendered answer for a known call, else main()."""
    cases = "".join(f"{_sh_quote(f'{len(argv)}:' + ' '.join(argv))}) f=$O/{_sh_quote(snippet_name(argv))} ;;\n"
                    for argv in calls)
    program = (f"import sys; sys.path.insert(0, {standins_dir!r}); from render import main; "
               f"sys.exit(main({command!r}, {state_path!r}, sys.argv[1:]))")
    return (
        "#!/bin/sh\n"
        f"# lab stand-in for `{command}` (cloudgate_lab/standins/render.py): answers rendered ahead from the\n"
        "# node's state.json when it was written; any other call is rendered now.\n"
        f"O={_sh_quote(os.path.join(node_dir, 'out', command))}\n"
        "f=\n"
        'case "$#:$*" in\n'
        f"{cases}"
        "esac\n"
        'if [ -n "$f" ] && [ -r "$f" ]; then . "$f"; fi\n'
        f"exec {python} -IS -c {_sh_quote(program)} \"$@\"\n"
    )
