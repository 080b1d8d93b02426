"""File discovery, dispatch and the event-time admission rule of ``read_source``."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

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

WIDE_OPEN = {
    "partition_start": datetime(2000, 1, 1, tzinfo=UTC),
    "max_future_skew": timedelta(hours=24),
}


def test_directories_expand_to_telemetry_files_only(source_data: Path) -> None:
    files = iter_source_files([source_data])
    relative = [str(p.relative_to(source_data)) for p in files]

    assert len(files) == 16 + 8 + 1
    assert relative == sorted(relative)
    assert sum(r.startswith("air_quality_pittsburgh/esdr_raw/") for r in relative) == 16
    assert sum(r.startswith("usgs_iv/") and r.endswith(".json") for r in relative) == 8
    assert "usgs_sites/waterservices_iv.txt" in relative
    for skipped in ("esdr_metadata.json", "nwis_sites.txt", "README.md", "LICENSE", "Geo.json"):
        assert not any(r.endswith(skipped) for r in relative), skipped
    assert iter_source_files([source_data]) == files


def test_a_directory_lists_the_candidate_files_it_skips(source_data: Path) -> None:
    listing = expand_sources([source_data])
    skipped = {str(p.relative_to(source_data)) for p in listing.skipped}

    assert listing.telemetry == iter_source_files([source_data])
    assert "air_quality_pittsburgh/esdr_metadata.json" in skipped
    assert "usgs_sites/nwis_sites.txt" in skipped
    assert "watersheds_appalachian/WBD_HUC8_PMAS_sa_Geo.json" in skipped
    assert not skipped & {str(p.relative_to(source_data)) for p in listing.telemetry}
    assert not any(name.endswith(("README.md", "LICENSE")) for name in skipped)  # not candidates


def test_a_truncated_waterml_response_in_a_folder_is_read_and_quarantined(tmp_path: Path) -> None:
    (tmp_path / "cut.json").write_text('{"value": {"timeSeries": [')
    (tmp_path / "notes.json").write_text('{"author": "field crew"}')

    listing = expand_sources([tmp_path])
    assert listing.telemetry == [tmp_path / "cut.json"]
    assert listing.skipped == [tmp_path / "notes.json"]
    result = read_source(tmp_path / "cut.json", **WIDE_OPEN)
    assert result.readings.num_rows == 0
    assert result.quarantine["reason"].to_pylist() == ["malformed_record"]


def test_default_replay_sources(source_data: Path) -> None:
    assert DEFAULT_REPLAY_SOURCES == ("air_quality_pittsburgh", "usgs_iv")
    files = iter_source_files(default_replay_paths(source_data))

    assert len(files) == 24
    assert files[0].name == "Feed_1_Avalon_ACHD_PM.csv"
    assert files[-1].name == "two_sites_two_params_iv.json"


def test_explicit_files_are_kept_once_in_order(source_data: Path) -> None:
    lake = source_data / "usgs_iv" / "daily_lake_level.json"
    readme = source_data / "air_quality_pittsburgh" / "README.md"

    files = iter_source_files([lake, source_data / "usgs_iv", readme])

    assert files[0] == lake
    assert files.count(lake) == 1
    assert files[-1] == readme
    assert len(files) == 9


def test_kinds_are_sniffed_from_content(source_data: Path) -> None:
    assert detect_source_kind(source_data / "usgs_iv" / "nothing_avail.json") == "usgs_waterml"
    assert (
        detect_source_kind(source_data / "usgs_sites" / "waterservices_iv.txt")
        is SourceKind.USGS_WATERML
    )
    csv = (
        source_data
        / "air_quality_pittsburgh"
        / "esdr_raw"
        / "Feed_24_Glassport_High_Street_ACHD.csv"
    )
    assert detect_source_kind(csv) is SourceKind.ESDR_CSV
    assert detect_source_kind(source_data / "usgs_sites" / "nwis_sites.txt") is None
    assert detect_source_kind(source_data / "air_quality_pittsburgh" / "esdr_metadata.json") is None


def test_replay_totals_reconcile_with_independent_counts(
    source_data: Path, esdr_nonempty_cells: dict[str, int], waterml_value_entries: dict[str, int]
) -> None:
    totals: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    for path in iter_source_files(default_replay_paths(source_data)):
        result = read_source(path, **WIDE_OPEN, now=datetime(2026, 1, 1, tzinfo=UTC))
        totals["values_read"] += result.values_read
        totals["readings"] += result.readings.num_rows
        reasons.update(result.quarantine.column("reason").to_pylist())

    independent = sum(esdr_nonempty_cells.values()) + sum(
        count for name, count in waterml_value_entries.items() if name != "waterservices_iv.txt"
    )
    assert totals["values_read"] == independent == 1_823_396
    assert totals["readings"] == 1_823_357
    assert reasons == {"no_data_value": 39}


def test_out_of_range_event_times_move_to_quarantine(source_data: Path) -> None:
    path = source_data / "usgs_iv" / "JSON15min2day.json"  # 2016-09-01T04:00Z .. 09-03T03:45Z
    start = datetime(2016, 9, 2, tzinfo=UTC)
    now = datetime(2016, 9, 2, 12, tzinfo=UTC)

    result = read_source(path, partition_start=start, max_future_skew=timedelta(hours=6), now=now)
    kept = pd.Series(result.readings.column("event_time").to_pandas())
    moved = result.quarantine.to_pandas()

    # before 09-02T00:00Z: 04:00Z..23:45Z of 09-01 = 80 values; after 18:00Z: 18:15..03:45 = 39
    assert result.values_read == 192
    assert len(moved) == 80 + 39
    assert set(moved["reason"]) == {"event_time_out_of_range"}
    assert kept.min() == pd.Timestamp("2016-09-02T00:00:00Z")
    assert kept.max() == pd.Timestamp("2016-09-02T18:00:00Z")
    early = moved[moved["event_time"] < pd.Timestamp(start)]
    assert len(early) == 80
    assert early["detail"].iloc[0] == (
        "event_time 2016-09-01T04:00:00Z is before partition_start 2016-09-02T00:00:00Z"
    )
    late = moved[moved["event_time"] > pd.Timestamp(now + timedelta(hours=6))]
    assert late["detail"].iloc[0] == (
        "event_time 2016-09-02T18:15:00Z is after now 2016-09-02T12:00:00Z"
        " + skew = 2016-09-02T18:00:00Z"
    )
    assert set(moved["sensor_id"]) == {"USGS-03213700"}
    assert set(moved["parameter"]) == {"discharge"}
    assert moved["raw"].iloc[0] == "366"


def test_range_rule_keeps_reader_quarantine(source_data: Path) -> None:
    path = source_data / "usgs_iv" / "mult_flags.json"  # 2019-01-24 .. 2019-01-28 local
    plain = read_waterml_json(path)

    result = read_source(
        path,
        partition_start=datetime(2019, 1, 25, tzinfo=UTC),
        max_future_skew=timedelta(0),
        now=datetime(2030, 1, 1, tzinfo=UTC),
    )
    reasons = Counter(result.quarantine.column("reason").to_pylist())

    early = sum(
        t < datetime(2019, 1, 25, tzinfo=UTC)
        for t in plain.readings.column("event_time").to_pylist()
    )
    assert reasons == {"no_data_value": 39, "event_time_out_of_range": early}
    assert result.values_read == plain.values_read == 438


def test_unknown_file_is_one_malformed_row(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("just some notes\n")

    result = read_source(path, **WIDE_OPEN)

    assert result.readings.num_rows == 0
    row = result.quarantine.to_pylist()[0]
    assert (row["reason"], row["raw"]) == ("malformed_record", "just some notes\n")
    assert result.values_read == 1


def test_missing_file_is_one_malformed_row(tmp_path: Path) -> None:
    result = read_source(tmp_path / "gone.json", **WIDE_OPEN)

    assert result.quarantine.column("reason").to_pylist() == ["malformed_record"]


def test_truncated_json_through_read_source(source_data: Path, tmp_path: Path) -> None:
    text = (source_data / "usgs_iv" / "two_sites_two_params_iv.json").read_text()
    path = tmp_path / "cut.json"
    path.write_text(text[:5000])

    result = read_source(path, **WIDE_OPEN)

    assert result.readings.num_rows == 0
    assert result.quarantine.column("reason").to_pylist() == ["malformed_record"]


def test_esdr_csv_finds_metadata_two_folders_up(tmp_path: Path, source_data: Path) -> None:
    metadata = (source_data / "air_quality_pittsburgh" / "esdr_metadata.json").read_text()
    (tmp_path / "dataset" / "esdr_raw").mkdir(parents=True)
    (tmp_path / "dataset" / "esdr_metadata.json").write_text(metadata)
    csv = tmp_path / "dataset" / "esdr_raw" / "mini.csv"
    csv.write_text("EpochTime,3.feed_24.PM10_UG_M3\n1477891800,7\n1477895400,8\n")
    orphan = tmp_path / "orphan" / "esdr_raw" / "mini.csv"
    orphan.parent.mkdir(parents=True)
    orphan.write_text(csv.read_text())

    found = read_source(csv, **WIDE_OPEN)
    lost = read_source(orphan, **WIDE_OPEN)

    assert found.readings.column("latitude").to_pylist() == [40.326008, 40.326008]
    assert lost.readings.num_rows == 0
    assert lost.quarantine.column("reason").to_pylist() == ["unknown_sensor"] * 2
    detail = lost.quarantine.column("detail")[0].as_py()
    assert "0 feeds known" in detail and "esdr_metadata.json" in detail


def test_naive_datetimes_are_refused(source_data: Path) -> None:
    with pytest.raises(ValueError, match="partition_start must be timezone-aware"):
        read_source(
            source_data / "usgs_iv" / "nothing_avail.json",
            partition_start=datetime(2000, 1, 1),
            max_future_skew=timedelta(hours=1),
        )
