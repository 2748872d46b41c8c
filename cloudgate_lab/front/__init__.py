"""The lab's front tier, deployed and changed through the lab's own CloudStack API (see frontconf)."""
