"""The front tier: haproxy in front of Apache, PHP-FPM and C++ FastCGI responders, in each datacenter.

One room per tier (docs/ARCHITECTURE.md): what the front-tier checks read and judge. Parsers and
judges are pure functions of what was read (haproxy's `show stat`, its configuration, Apache's
mod_status, PHP-FPM's status, the open-loop probe's history), so each is unit-tested without a
target; the I/O (SSH to the haproxy nodes, HTTP to the VIP and the front VMs) stays thin.
"""
