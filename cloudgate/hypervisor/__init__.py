"""The hypervisor tier: XCP/XenServer hosts and their Fusion-IO cards.

What the suite expects of a host (the baselines of OS, kernel, driver and firmware) and how it reads
what a card says (`fio-status`). The facts come over SSH (cloudgate.ssh, one probe per role in
cloudgate.roles); its checks are those declaring `tier="hypervisor"` (cloudgate.checkdecl).
"""
