#!/bin/sh
# Turn a fresh network namespace into a lab node (hypervisor host or guest), then stay as its anchor.
#
# Run as:  ip netns exec <netns> unshare -m -u --propagation private /bin/sh boot.sh <node-dir>
# so every mount below lives in a private mount namespace that dies with this process and its children
# (sshd and the sessions it forks). The process execs into `sleep infinity` at the end: its PID is the
# node's anchor, which `nsenter -t <anchor>` uses to run things "on" the node (fault injection, sshd restart).
# Settings come from <node-dir>/boot.env, written by cloudgate_lab/hosts.py or guests.py.
set -eu
D=$1
. "$D/boot.env"

# Safety: refuse to mount anything if unshare did not give us our own mount namespace.
if [ "$(readlink /proc/self/ns/mnt)" = "$CG_ROOT_MNTNS" ]; then
    echo "boot.sh: $CG_NAME: still in the root mount namespace, refusing to mount" >&2
    exit 1
fi

hostname "$CG_NAME"

# Private /run (sshd wants /run/sshd; hides the root namespace's runtime files from the node).
mount -t tmpfs -o mode=755,size=8m cgrun /run
mkdir -m 755 /run/sshd

# Identity and a lean shell: the build machine's root .bashrc runs `pyenv init` on every ssh exec.
mount --bind "$D/os-release" /etc/os-release
mount --bind "$D/hostname" /etc/hostname
mount --bind "$CG_BASHRC" /root/.bashrc
# Stand-in commands, first in sshd's default PATH (/usr/local/sbin:/usr/local/bin:/usr/sbin:...).
mount --bind "$D/bin" /usr/local/sbin

# A node-local /dev with only what sshd and the checks need (+ the flash card's block node,
# + in guests the kernel's PM QoS device: the lab VM shares the machine's kernel, and the lab's
# Cassandra node holds a cpu_dma_latency request while it runs, see cloudgate_lab/cql/tuning.py).
QOS_DEV=""
if [ "$CG_KIND" != host ] && [ -c /dev/cpu_dma_latency ]; then
    QOS_DEV=$(stat -c '%t %T' /dev/cpu_dma_latency)
fi
mount -t tmpfs -o mode=755,size=1m,nosuid cgdev /dev
if [ -n "$QOS_DEV" ]; then
    mknod -m 600 /dev/cpu_dma_latency c "$((0x${QOS_DEV% *}))" "$((0x${QOS_DEV#* }))"
fi
mknod -m 666 /dev/null c 1 3
mknod -m 666 /dev/zero c 1 5
mknod -m 666 /dev/full c 1 7
mknod -m 666 /dev/random c 1 8
mknod -m 666 /dev/urandom c 1 9
mknod -m 666 /dev/tty c 5 0
mkdir -m 755 /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 cgpts /dev/pts
ln -s pts/ptmx /dev/ptmx
mount -t tmpfs -o mode=1777,size=16m,nosuid,nodev cgshm /dev/shm
ln -s /proc/self/fd /dev/fd
ln -s /proc/self/fd/0 /dev/stdin
ln -s /proc/self/fd/1 /dev/stdout
ln -s /proc/self/fd/2 /dev/stderr
if [ "${CG_FIOA:-0}" = 1 ]; then
    mknod -m 660 /dev/fioa b "$CG_FIOA_MAJOR" 0
fi

if [ "$CG_KIND" = host ]; then
    # A /sys/module that holds the Fusion-io driver when state.json says it is loaded.
    mount --bind "$D/sysmodule" /sys/module
else
    # Guest: Cassandra node settings. THP off, and /var/lib/cassandra on the fast device.
    mount --bind "$D/thp_enabled" /sys/kernel/mm/transparent_hugepage/enabled
    mkdir -p /run/cg-varlib/upper /run/cg-varlib/work
    mount -t overlay cgvarlib -o lowerdir=/var/lib,upperdir=/run/cg-varlib/upper,workdir=/run/cg-varlib/work /var/lib
    mkdir -p /var/lib/cassandra
    mount -t tmpfs -o mode=750,size=64m "$CG_DATA_DEVICE" /var/lib/cassandra
fi

/bin/sh "$CG_STANDINS/start-sshd.sh" "$D"
echo booted > "$D/booted"
exec sleep infinity
