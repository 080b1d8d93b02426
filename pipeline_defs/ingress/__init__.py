"""Ingress: source files -> canonical readings (``READING_SCHEMA``) plus quarantine rows.

One module per source format (``usgs_waterml``, ``esdr_csv``, ``nwis_rdb``); ``sources`` picks
the reader for a file and applies the event-time admission rule. Every reader promises
``values_read == readings + quarantined`` and never raises on bad content: a bad value, line or
file becomes a quarantine row (stage ``ingress``) with a reason and the raw text.
"""

from pipeline_defs.ingress.esdr_csv import EsdrFeed, load_esdr_feeds, read_esdr_csv
from pipeline_defs.ingress.nwis_rdb import SiteTable, read_nwis_sites
from pipeline_defs.ingress.sources import (
    DEFAULT_REPLAY_SOURCES,
    SourceKind,
    default_replay_paths,
    detect_source_kind,
    expand_sources,
    iter_source_files,
    read_source,
)
from pipeline_defs.ingress.usgs_waterml import read_waterml_json

__all__ = [
    "DEFAULT_REPLAY_SOURCES",
    "EsdrFeed",
    "SiteTable",
    "SourceKind",
    "default_replay_paths",
    "detect_source_kind",
    "expand_sources",
    "iter_source_files",
    "load_esdr_feeds",
    "read_esdr_csv",
    "read_nwis_sites",
    "read_source",
    "read_waterml_json",
]
