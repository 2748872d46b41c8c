"""Table options as Cassandra 4.1 reports them: defaults plus what CREATE TABLE gave, normalized.

One place for both readers of table options, so they cannot disagree: ``system_schema.tables``
(the driver's metadata, cqlsh's completion) and DESCRIBE's ``CREATE TABLE`` text. Cassandra
stores options in canonical form whatever the statement spelled (``'LZ4Compressor'`` becomes
the full class name, map values become strings, compaction always carries its thresholds), so a
described table replayed through CREATE TABLE describes to the same text again.
"""

from __future__ import annotations

from typing import Any

#: What ``system_schema.tables`` holds for a table created without options (Cassandra 4.1).
TABLE_DEFAULTS: dict[str, Any] = {
    "additional_write_policy": "99p",
    "bloom_filter_fp_chance": 0.01,
    "caching": {"keys": "ALL", "rows_per_partition": "NONE"},
    "cdc": False,
    "comment": "",
    "compaction": {"class": "org.apache.cassandra.db.compaction.SizeTieredCompactionStrategy",
                   "max_threshold": "32", "min_threshold": "4"},
    "compression": {"chunk_length_in_kb": "16", "class": "org.apache.cassandra.io.compress.LZ4Compressor"},
    "crc_check_chance": 1.0,
    "default_time_to_live": 0,
    "extensions": {},
    "flags": ["compound"],
    "gc_grace_seconds": 864000,
    "max_index_interval": 2048,
    "memtable_flush_period_in_ms": 0,
    "min_index_interval": 128,
    "read_repair": "BLOCKING",
    "speculative_retry": "99p",
}

#: The options DESCRIBE prints, in Cassandra 4.1's order (TableParams.appendCqlTo).
DESCRIBE_ORDER = (
    "additional_write_policy", "bloom_filter_fp_chance", "caching", "cdc", "comment", "compaction", "compression",
    "memtable", "crc_check_chance", "default_time_to_live", "extensions", "gc_grace_seconds", "max_index_interval",
    "memtable_flush_period_in_ms", "min_index_interval", "read_repair", "speculative_retry",
)

_DOUBLES = {"bloom_filter_fp_chance", "crc_check_chance"}
_INTS = {"default_time_to_live", "gc_grace_seconds", "max_index_interval", "memtable_flush_period_in_ms",
         "min_index_interval"}
_COMPACTION_PKG = "org.apache.cassandra.db.compaction."
_COMPRESSION_PKG = "org.apache.cassandra.io.compress."


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _qualify(cls: str, package: str) -> str:
    return cls if "." in cls else package + cls


def _compaction(given: dict[str, Any]) -> dict[str, str]:
    """Class first (as DESCRIBE prints it), thresholds always present, every value a string."""
    opts = {k: _text(v) for k, v in given.items()}
    cls = _qualify(opts.pop("class", TABLE_DEFAULTS["compaction"]["class"]), _COMPACTION_PKG)
    opts.setdefault("max_threshold", "32")
    opts.setdefault("min_threshold", "4")
    return {"class": cls, **dict(sorted(opts.items()))}


def _compression(given: dict[str, Any]) -> dict[str, str]:
    opts = {k: _text(v) for k, v in given.items()}
    if opts.get("enabled", "true").lower() == "false" or opts.get("sstable_compression") == "":
        return {"enabled": "false"}
    opts.pop("enabled", None)
    cls = opts.pop("class", opts.pop("sstable_compression", TABLE_DEFAULTS["compression"]["class"]))
    opts["class"] = _qualify(cls, _COMPRESSION_PKG)
    opts.setdefault("chunk_length_in_kb", "16")
    return dict(sorted(opts.items()))


def _caching(given: dict[str, Any]) -> dict[str, str]:
    out = dict(TABLE_DEFAULTS["caching"])
    out.update({k: _text(v) for k, v in given.items()})
    return out


def effective_options(given: dict[str, Any]) -> dict[str, Any]:
    """Every option of ``DESCRIBE_ORDER`` (plus ``flags``), in that order, as Cassandra stores it."""
    out: dict[str, Any] = {}
    for name in DESCRIBE_ORDER:
        default = "default" if name == "memtable" else TABLE_DEFAULTS[name]
        v = given.get(name, default)
        if name == "compaction":
            v = _compaction(v if isinstance(v, dict) else {})
        elif name == "compression":
            v = _compression(v if isinstance(v, dict) else {})
        elif name == "caching":
            v = _caching(v if isinstance(v, dict) else {})
        elif name == "extensions":
            v = dict(v) if isinstance(v, dict) else {}
        elif name in _DOUBLES or name in _INTS:
            try:
                v = float(v) if name in _DOUBLES else int(v)
            except (TypeError, ValueError):  # the emulator does not validate options: never break a reader
                v = default
        elif name == "cdc":
            v = v if isinstance(v, bool) else str(v).lower() == "true"
        else:
            v = _text(v)
        out[name] = v
    out["flags"] = TABLE_DEFAULTS["flags"]
    return out
