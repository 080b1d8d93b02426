"""Watershed boundaries: load, validate, repair and reproject them to the lake's CRS, once.

Owns ``load_watersheds``, which turns a vector file of USGS WBD hydrologic units into a
``Watersheds``: a GeoDataFrame with columns ``huc8``, ``name``, ``area_km2``, ``geometry``, in
``LAKE_CRS``, sorted by code, plus a ``LoadReport`` of everything that was checked or changed.

Invariants of ``Watersheds.frame``:
- one row per code; codes are digit strings of exactly ``code_length`` characters (leading zeros
  kept: "02050104", never 2050104); rows are sorted by code, so row order is the boundary-rule
  priority used by the join (lowest code first);
- every geometry is a non-empty, valid, 2-D Polygon or MultiPolygon in ``LAKE_CRS``.

The column is called ``huc8`` because the lake joins on HUC8; loading another level (HUC10, HUC12:
``code_column="HUC12", code_length=12``) keeps the column name so the join does not change.

CRS is never guessed. A GeoJSON file without a ``crs`` member is OGC:CRS84 by RFC 7946 and is
declared so explicitly; a legacy ``crs`` member is honoured. Other formats (shapefiles, GeoPackage)
must declare their CRS (a ``.prj``) or the caller passes ``source_crs``. Everything is then
reprojected to ``LAKE_CRS`` with ``to_crs`` before validation, so validity holds where it is used.

Repairs, all reported: invalid geometries go through ``shapely.make_valid`` and keep their
polygonal parts only; null, empty and non-polygonal geometries and unusable codes are dropped with
a reason; several features with one code are merged into one (Multi)Polygon whose area is then the
geodesic area of the merge.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Geod

from pipeline_defs.spatial.crs import LAKE_CRS

GEOJSON_SUFFIXES = (".geojson", ".json")
GEOJSON_DEFAULT_CRS = "OGC:CRS84"  # RFC 7946 §4: no crs member means WGS 84 lon/lat
CODE_COLUMN_CANDIDATES = ("HUC_8", "HUC8", "huc8")
NAME_COLUMN_CANDIDATES = ("NAME", "name", "Name")
AREA_COLUMN_CANDIDATES = ("area_km2", "AREASQKM")
_POLYGONAL = ("Polygon", "MultiPolygon")
_GEOD = Geod(ellps="WGS84")


@dataclass(frozen=True)
class DroppedFeature:
    feature: int  # position in the source file, from 0
    code: str | None
    reason: str


@dataclass(frozen=True)
class LoadReport:
    """What ``load_watersheds`` checked and changed, with enough detail to find each feature."""

    source: str
    source_crs: str
    features_read: int
    repaired_invalid: dict[str, str] = field(default_factory=dict)  # code -> why it was invalid
    dropped: tuple[DroppedFeature, ...] = ()
    duplicate_codes: dict[str, int] = field(default_factory=dict)  # code -> features merged
    zero_padded_codes: int = 0  # numeric codes whose leading zeros were restored
    names_missing: tuple[str, ...] = ()

    def counts(self) -> dict[str, int]:
        """The report as figures (for asset metadata and logs)."""
        return {
            "features_read": self.features_read,
            "invalid_repaired": len(self.repaired_invalid),
            "dropped": len(self.dropped),
            "duplicate_codes": len(self.duplicate_codes),
            "zero_padded_codes": self.zero_padded_codes,
            "names_missing": len(self.names_missing),
        }


@dataclass(frozen=True)
class Watersheds:
    frame: gpd.GeoDataFrame  # huc8, name, area_km2, geometry; LAKE_CRS; sorted by huc8
    report: LoadReport
    code_length: int = 8

    @property
    def codes(self) -> list[str]:
        return self.frame["huc8"].tolist()

    @classmethod
    def from_geoparquet(cls, path: Path) -> Watersheds:
        """Re-open watersheds that ``load_watersheds`` validated and wrote as GeoParquet."""
        frame = gpd.read_parquet(path)
        if frame.crs is None or not frame.crs.equals(LAKE_CRS):
            raise ValueError(f"{path}: watersheds must be in {LAKE_CRS}, got {frame.crs}")
        report = LoadReport(source=str(path), source_crs=str(frame.crs), features_read=len(frame))
        return cls(frame=frame, report=report, code_length=int(frame["huc8"].str.len().max()))


def load_watersheds(
    geojson_path: Path,
    names_csv: Path | None = None,
    *,
    code_column: str | None = None,
    code_length: int = 8,
    name_column: str | None = None,
    area_column: str | None = None,
    source_crs: str | None = None,
) -> Watersheds:
    """Load hydrologic-unit polygons from a GeoJSON file or any vector file GDAL reads.

    ``code_column`` defaults to the first of ``CODE_COLUMN_CANDIDATES`` present (``code_length``
    digits each); ``names_csv`` (two columns: code, name — e.g. ``HUC_8,NAME``) takes precedence
    over a name column in the file; ``source_crs`` overrides the CRS the file declares. Raises
    ``ValueError`` when no feature survives, with the first reasons.
    """
    path = Path(geojson_path)
    raw, declared_crs = _read_vector(path, source_crs)
    features_read = len(raw)
    code_col = _pick_column(raw, code_column, CODE_COLUMN_CANDIDATES, "code", path)
    codes, code_ok, zero_padded = _normalise_codes(raw[code_col], code_length)

    frame = raw.set_crs(declared_crs, allow_override=True).to_crs(LAKE_CRS)
    geoms = shapely.force_2d(np.asarray(frame.geometry.values, dtype=object))

    dropped: list[DroppedFeature] = []
    keep = np.ones(features_read, dtype=bool)

    def drop(mask: np.ndarray, reasons: list[str] | str) -> None:
        positions = np.flatnonzero(mask & keep)
        texts = [reasons] * len(positions) if isinstance(reasons, str) else reasons
        for pos, text in zip(positions, texts, strict=True):
            dropped.append(DroppedFeature(int(pos), codes[pos], text))
        keep[positions] = False

    raw_codes = raw[code_col].astype(object).to_numpy()
    bad_codes = ~code_ok & keep
    drop(
        bad_codes,
        [f"code {raw_codes[i]!r} is not {code_length} digits" for i in np.flatnonzero(bad_codes)],
    )
    drop(shapely.is_missing(geoms), "null geometry")
    drop(shapely.is_empty(geoms), "empty geometry")
    types = shapely.get_type_id(geoms)
    polygonal = np.isin(types, [3, 6])  # Polygon, MultiPolygon
    not_polygonal = ~polygonal & keep
    drop(
        not_polygonal,
        [f"not polygonal ({geoms[i].geom_type})" for i in np.flatnonzero(not_polygonal)],
    )

    repaired: dict[str, str] = {}
    invalid = np.flatnonzero(keep & ~shapely.is_valid(geoms))
    for pos in invalid:  # rare; load time only
        why = shapely.is_valid_reason(geoms[pos])
        fixed = _polygonal_part(shapely.make_valid(geoms[pos]))
        if fixed is None:
            dropped.append(
                DroppedFeature(int(pos), codes[pos], f"invalid ({why}); no polygonal part left")
            )
            keep[pos] = False
        else:
            geoms[pos] = fixed
            repaired[codes[pos]] = why

    if not keep.any():
        raise ValueError(
            f"{path}: none of {features_read:,} features is usable: "
            + "; ".join(f"#{d.feature} {d.code}: {d.reason}" for d in dropped[:5])
        )

    name_col = _pick_column(raw, name_column, NAME_COLUMN_CANDIDATES, "name", path, required=False)
    area_col = _pick_column(raw, area_column, AREA_COLUMN_CANDIDATES, "area", path, required=False)
    out = pd.DataFrame(
        {
            "huc8": codes[keep],
            "name": raw[name_col].astype(object).to_numpy()[keep] if name_col else None,
            "area_km2": (
                pd.to_numeric(raw[area_col], errors="coerce").to_numpy(dtype=np.float64)[keep]
                if area_col
                else np.nan
            ),
        }
    )
    out["geometry"] = geoms[keep]
    out, duplicates = _merge_duplicates(out)
    missing_area = out["area_km2"].isna().to_numpy()
    if missing_area.any():
        out.loc[missing_area, "area_km2"] = _geodesic_area_km2(
            out["geometry"].to_numpy()[missing_area]
        )

    if names_csv is not None:
        from_csv = out["huc8"].map(_read_names(Path(names_csv), code_length)).astype(object)
        out["name"] = from_csv.where(from_csv.notna(), out["name"])
    out = out.sort_values("huc8", kind="stable").reset_index(drop=True)
    names = out["name"].astype(object)
    names = names.where(names.notna(), None)
    names_missing = tuple(out.loc[names.isna(), "huc8"])

    result = gpd.GeoDataFrame(
        {
            "huc8": out["huc8"].astype(str),
            "name": pd.Series(names.to_numpy(dtype=object), dtype=object),
            "area_km2": out["area_km2"].astype(np.float64),
        },
        geometry=gpd.GeoSeries(out["geometry"].to_numpy(), crs=LAKE_CRS),
        crs=LAKE_CRS,
    )
    _check_invariants(result, code_length, path)
    report = LoadReport(
        source=str(path),
        source_crs=declared_crs,
        features_read=features_read,
        repaired_invalid=repaired,
        dropped=tuple(dropped),
        duplicate_codes=duplicates,
        zero_padded_codes=zero_padded,
        names_missing=names_missing,
    )
    return Watersheds(frame=result, report=report, code_length=code_length)


def _read_vector(path: Path, source_crs: str | None) -> tuple[gpd.GeoDataFrame, str]:
    """The features of ``path`` and the CRS they are in, decided explicitly."""
    if not path.exists():
        raise FileNotFoundError(f"watershed file not found: {path}")
    if path.suffix.lower() in GEOJSON_SUFFIXES:
        with path.open("rb") as fh:
            doc = json.load(fh)
        if doc.get("type") != "FeatureCollection":
            raise ValueError(f"{path}: GeoJSON type is {doc.get('type')!r}, not FeatureCollection")
        frame = gpd.GeoDataFrame.from_features(doc["features"])
        if "geometry" not in frame:  # no features at all
            frame = gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries([], dtype="geometry"))
        legacy = (doc.get("crs") or {}).get("properties", {}).get("name")
        declared = source_crs or legacy or GEOJSON_DEFAULT_CRS
        return frame, declared
    frame = gpd.read_file(path)
    if source_crs is not None:
        return frame, source_crs
    if frame.crs is None:
        raise ValueError(f"{path} declares no CRS (no .prj?); pass source_crs explicitly")
    return frame, frame.crs.to_string()


def _pick_column(
    frame: pd.DataFrame,
    wanted: str | None,
    candidates: tuple[str, ...],
    what: str,
    path: Path,
    *,
    required: bool = True,
) -> str | None:
    if wanted is not None:
        if wanted not in frame.columns:
            raise ValueError(f"{path}: {what} column {wanted!r} not in {list(frame.columns)}")
        return wanted
    for name in candidates:
        if name in frame.columns:
            return name
    if required:
        raise ValueError(
            f"{path}: no {what} column among {list(candidates)}; columns are "
            f"{list(frame.columns)} — pass {what}_column"
        )
    return None


def _normalise_codes(raw: pd.Series, length: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(codes as object array of str/None, ok mask, how many numeric codes were zero-padded)."""
    padded = 0
    if pd.api.types.is_numeric_dtype(raw):
        values = pd.to_numeric(raw, errors="coerce")
        integral = values.notna() & (values == values.round())
        text = values.where(integral).astype("Int64").astype(str).where(integral)
        short = integral & (text.str.len() < length)
        padded = int(short.sum())
        text = text.str.zfill(length)
    else:
        text = raw.astype("string").str.strip()
    text = text.astype(object).where(text.notna(), None)
    ok = text.notna() & text.str.fullmatch(rf"\d{{{length}}}").fillna(False).astype(bool)
    return text.to_numpy(dtype=object), ok.to_numpy(dtype=bool), padded


def _polygonal_part(geom: shapely.Geometry) -> shapely.Geometry | None:
    """The Polygon/MultiPolygon part of a ``make_valid`` result, or None if there is none."""
    parts = shapely.get_parts(geom)
    polys = [p for p in parts if p.geom_type in _POLYGONAL and not p.is_empty]
    if not polys:
        return None
    merged = polys[0] if len(polys) == 1 else shapely.union_all(polys)
    return merged if merged.geom_type in _POLYGONAL else _polygonal_part(merged)


def _merge_duplicates(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    counts = frame["huc8"].value_counts()
    duplicated = counts[counts > 1]
    if duplicated.empty:
        return frame, {}
    merged_rows = []
    for code in duplicated.index:  # load time only
        part = frame[frame["huc8"] == code]
        names = part["name"].dropna()
        merged_rows.append(
            {
                "huc8": code,
                "name": names.iloc[0] if len(names) else None,
                "area_km2": np.nan,  # recomputed geodesically from the merged geometry
                "geometry": shapely.union_all(part["geometry"].to_numpy()),
            }
        )
    rest = frame[~frame["huc8"].isin(duplicated.index)]
    merged = pd.concat([rest, pd.DataFrame(merged_rows)], ignore_index=True)
    return merged, {str(code): int(n) for code, n in duplicated.items()}


def _geodesic_area_km2(geoms: np.ndarray) -> np.ndarray:
    """Area on the WGS 84 ellipsoid, in km² (per polygon; load time only)."""
    return np.array([abs(_GEOD.geometry_area_perimeter(g)[0]) / 1e6 for g in geoms])


def _read_names(path: Path, length: int) -> dict[str, str]:
    names = pd.read_csv(path, dtype=str, keep_default_na=False)
    if names.shape[1] < 2:
        raise ValueError(f"{path}: expected two columns (code, name), got {list(names.columns)}")
    name_col = next((c for c in NAME_COLUMN_CANDIDATES if c in names.columns), names.columns[1])
    codes = names.iloc[:, 0].str.strip()
    bad = ~codes.str.fullmatch(rf"\d{{{length}}}")
    if bad.any():
        raise ValueError(
            f"{path}: {int(bad.sum())} codes are not {length} digits, e.g. {codes[bad].iloc[0]!r}"
        )
    return dict(zip(codes, names[name_col].str.strip(), strict=True))


def _check_invariants(frame: gpd.GeoDataFrame, length: int, path: Path) -> None:
    geoms = frame.geometry.values
    problems = []
    if frame["huc8"].duplicated().any():
        problems.append(f"{int(frame['huc8'].duplicated().sum())} duplicate codes")
    if not frame["huc8"].str.fullmatch(rf"\d{{{length}}}").all():
        problems.append(f"codes not all {length} digits")
    if not shapely.is_valid(geoms).all():
        problems.append(f"{int((~shapely.is_valid(geoms)).sum())} invalid geometries")
    if not np.isin(shapely.get_type_id(geoms), [3, 6]).all():
        problems.append("non-polygonal geometries")
    if problems:
        raise ValueError(f"{path}: watershed invariants broken after repair: {', '.join(problems)}")
