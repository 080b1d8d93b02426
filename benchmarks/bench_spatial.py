"""Spatial benchmark: Backwater's vectorised path against the naive one, measured in the same run.

1. CRS transform: one cached always_xy Transformer over whole arrays vs a Transformer call per
   reading (the seed document's per-reading consumer).
2. Point-in-watershed join: unique locations + STRtree over points queried with prepared polygons
   vs ``sjoin(points, polygons, "intersects")`` per row; on the 118 HUC8 polygons with the real
   Pittsburgh monitor locations, on random points, and on the detailed Navarro HUC12 polygons.

    .venv/bin/python -m benchmarks.bench_spatial
"""

from __future__ import annotations

import time

import numpy as np
from pyproj import Transformer

from pipeline_defs.settings import get_settings
from pipeline_defs.spatial.crs import transform_lonlat
from pipeline_defs.spatial.join import WatershedIndex, assign_slow_reference
from pipeline_defs.spatial.watersheds import load_watersheds


def best_of(repeats: int, fn) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        timings.append(time.perf_counter() - started)
    return min(timings)


def row(label: str, fast: float, slow: float) -> None:
    print(
        f"  {label:<52} fast {fast * 1e3:9.1f} ms   slow {slow * 1e3:10.1f} ms   "
        f"ratio {slow / fast:7.1f}x"
    )


def main() -> None:
    data = get_settings().source_data_dir
    rng = np.random.default_rng(7)
    huc8 = load_watersheds(
        data / "watersheds_appalachian" / "WBD_HUC8_PMAS_sa_Geo.json",
        data / "watersheds_appalachian" / "PMAS_HUC8_names.csv",
    )
    huc12 = load_watersheds(
        data / "watersheds_navarro" / "WBDHU12_Navarro+Adjacent.shp",
        code_column="HUC12",
        code_length=12,
    )

    print("CRS transform NAD83 -> WGS84 (slow = one Transformer call per reading)")
    n = 100_000
    lon, lat = rng.uniform(-82, -78, n), rng.uniform(38, 42, n)
    per_reading = Transformer.from_crs("EPSG:4269", "EPSG:4326", always_xy=True)
    fast = best_of(3, lambda: transform_lonlat(lon, lat, "EPSG:4269", "EPSG:4326"))
    slow = best_of(1, lambda: [per_reading.transform(x, y) for x, y in zip(lon, lat, strict=True)])
    row(f"{n:,} points", fast, slow)

    print("Point-in-watershed join (slow = sjoin(points, polygons, 'intersects') per row)")
    monitors = rng.integers(0, 20, 1_000_000)
    fixed_lon = rng.uniform(-80.1, -79.8, 20)[monitors]
    fixed_lat = rng.uniform(40.3, 40.5, 20)[monitors]
    cases = [
        ("HUC8, 1,000,000 readings at 20 fixed sensors", huc8, fixed_lon, fixed_lat),
        ("HUC8, 100,000 random points", huc8, *_random_in(huc8, rng, 100_000)),
        ("HUC12, 100,000 random points", huc12, *_random_in(huc12, rng, 100_000)),
    ]
    for label, sheds, x, y in cases:
        fast = best_of(3, lambda s=sheds, x=x, y=y: WatershedIndex(s).assign(x, y, "EPSG:4326"))
        slow = best_of(1, lambda s=sheds, x=x, y=y: assign_slow_reference(s, x, y, "EPSG:4326"))
        row(label, fast, slow)


def _random_in(watersheds, rng, n: int) -> tuple[np.ndarray, np.ndarray]:
    minx, miny, maxx, maxy = watersheds.frame.total_bounds
    return rng.uniform(minx, maxx, n), rng.uniform(miny, maxy, n)


if __name__ == "__main__":
    main()
