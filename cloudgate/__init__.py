"""cloudgate: infrastructure non-regression suite for a CloudStack + Xen + Cassandra private cloud."""

__version__ = "0.1.0"
