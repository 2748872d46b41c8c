#!/bin/bash
# Install Debian packages without starting any of their services on this machine.
#
# Why: haproxy, keepalived and php8.2-fpm start their daemons in the machine's own namespace when
# installed; the lab runs them only inside its guests. Debian's own way to stop that is a
# /usr/sbin/policy-rc.d that answers 101 ("action forbidden") while the packages install. A machine
# may already have one (a container image usually does): if it already forbids everything it is used
# as it is; otherwise it is moved aside and put back afterwards, byte for byte, whatever happens
# (failure, Ctrl-C). Usage: tools/install-debian-packages.sh PACKAGE...
set -euo pipefail
POLICY=${CLOUDGATE_POLICY_RC_D:-/usr/sbin/policy-rc.d}  # overridable for tests/unit/test_debian_install.py
APT_GET=${CLOUDGATE_APT_GET:-apt-get}
ASIDE="$POLICY.cloudgate-aside.$$"
ours=""

restore() {
    if [ -n "$ours" ]; then
        rm -f "$POLICY"
        if [ -e "$ASIDE" ]; then mv "$ASIDE" "$POLICY"; fi
    fi
}
trap restore EXIT
trap 'exit 130' INT TERM

forbids_everything() {
    [ -x "$POLICY" ] || return 1
    set +e
    "$POLICY" haproxy start >/dev/null 2>&1; a=$?
    "$POLICY" php8.2-fpm restart >/dev/null 2>&1; b=$?
    set -e
    [ "$a" = 101 ] && [ "$b" = 101 ]
}

if ! forbids_everything; then
    ours=1
    if [ -e "$POLICY" ] || [ -L "$POLICY" ]; then mv "$POLICY" "$ASIDE"; fi
    printf '#!/bin/sh\n# written by cloudgate for the length of one install: no service starts\nexit 101\n' > "$POLICY"
    chmod 755 "$POLICY"
fi
export DEBIAN_FRONTEND=noninteractive
"$APT_GET" update -q >/dev/null
"$APT_GET" install -y -q --no-install-recommends "$@" >/dev/null
