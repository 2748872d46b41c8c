"""Reaching hosts over SSH, whatever tier they belong to: the testinfra backend and host pool
(hosts.py), one framed exec per host gathering a role's commands (gather.py), and parsers for what
any Linux host prints (facts.py: os-release, chrony).
"""
