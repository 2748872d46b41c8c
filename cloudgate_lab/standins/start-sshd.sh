#!/bin/sh
# Start a lab node's sshd (daemonized; it writes its own PidFile) with the node's resource limits.
# Called by boot.sh, and again through `nsenter -t <anchor>` when a fault (sshd-down, power-off) is cleared.
set -eu
D=$1
. "$D/boot.env"
# Soft limits up to the hard ones (this box may lack CAP_SYS_RESOURCE to go further; guests report
# Cassandra's recommended values through their .bashrc `ulimit` function instead).
ulimit -Sn "$(ulimit -Hn)"
ulimit -Sl "$(ulimit -Hl)"
exec /usr/sbin/sshd -f "$D/sshd_config" -E "$D/sshd.log"
