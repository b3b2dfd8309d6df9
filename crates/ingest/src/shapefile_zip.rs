//! Zipped Shapefiles: the `.shp` geometries and `.dbf` attributes of one
//! layer (the first `.shp` in the archive) as a table, geometry kept as
//! GeoJSON text like a GeoJSON upload. The `.dbf` text is decoded with the
//! encoding its `.cpg` names; without one, it is detected from the bytes
//! (UTF-8 when valid, else chardetng, which finds Windows-1252 in Mexican
//! files). Coordinates are converted from the reference system the `.prj`
//! describes (UTM zones, INEGI's Lambert conformal conic, any other PROJ
//! knows) to longitude and latitude on WGS 84, which GeoJSON and web maps
//! expect ([`Reprojection`]); a system that cannot be converted keeps its
//! coordinates, and the summary says why. Multipatch (3D surface) shapes
//! have no GeoJSON form and are read as rows without geometry.

use std::io::{BufReader, Read};
use std::path::Path;

use serde_json::{Value, json};
use shapefile::dbase::{self, FieldValue};
use shapefile::record::traits::HasXY;
use shapefile::{PolygonRing, Shape};

use crate::IngestError;
use crate::reader::{Input, Reader, check_zip};
use crate::table::{Analysis, AnalyzeOptions, GeoSummary, Source, TableBuilder};

pub struct ZippedShapefile;

fn failed(error: impl std::fmt::Display) -> IngestError {
    IngestError::Container(format!("cannot read the Shapefile: {error}"))
}

fn position(point: &impl HasXY) -> Value {
    json!([point.x(), point.y()])
}

fn line(points: &[impl HasXY]) -> Value {
    Value::Array(points.iter().map(position).collect())
}

fn polygons<P: HasXY>(rings: &[PolygonRing<P>]) -> Value {
    // Each outer ring starts a polygon; the holes after it belong to it.
    let mut polygons: Vec<Vec<Value>> = Vec::new();
    for ring in rings {
        match ring {
            PolygonRing::Outer(points) => polygons.push(vec![line(points)]),
            PolygonRing::Inner(points) => match polygons.last_mut() {
                Some(polygon) => polygon.push(line(points)),
                None => polygons.push(vec![line(points)]),
            },
        }
    }
    if polygons.len() == 1 {
        json!({"type": "Polygon", "coordinates": polygons.remove(0)})
    } else {
        json!({"type": "MultiPolygon", "coordinates": polygons})
    }
}

fn lines(parts: &[Vec<impl HasXY>]) -> Value {
    if parts.len() == 1 {
        json!({"type": "LineString", "coordinates": line(&parts[0])})
    } else {
        json!({"type": "MultiLineString", "coordinates": parts.iter().map(|part| line(part)).collect::<Vec<_>>()})
    }
}

/// Converts a layer's coordinates to longitude and latitude on WGS 84.
struct Reprojection {
    from: proj4rs::Proj,
    to: proj4rs::Proj,
}

/// Decimals kept of a converted longitude or latitude: about a centimetre.
const DECIMALS: f64 = 1e7;

impl Reprojection {
    /// The conversion from the system a `.prj` describes: `Ok(None)` when
    /// it already is longitude and latitude within a centimetre of WGS 84
    /// (WGS 84 itself, ITRF and other GRS 80 datums), an error saying why
    /// when it cannot be converted.
    fn from_prj(wkt: &str) -> Result<Option<Reprojection>, String> {
        let projstring = proj4wkt::wkt_to_projstring(wkt).map_err(|error| error.to_string())?;
        let from = proj4rs::Proj::from_proj_string(&projstring).map_err(|error| error.to_string())?;
        let to = proj4rs::Proj::from_proj_string("+proj=longlat +datum=WGS84 +no_defs").map_err(|e| e.to_string())?;
        let reprojection = Reprojection { from, to };
        if reprojection.from.is_latlong() {
            let (x, y) = (-100.3, 25.67);
            let converted = reprojection.point(x, y).ok_or("its longitudes and latitudes cannot be converted")?;
            if (converted.0 - x).abs() < 1e-7 && (converted.1 - y).abs() < 1e-7 {
                return Ok(None);
            }
        }
        Ok(Some(reprojection))
    }

    /// A position as (longitude, latitude) in degrees, or `None` when it is
    /// outside what the system can convert.
    fn point(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        let mut point = if self.from.is_latlong() { (x.to_radians(), y.to_radians(), 0.0) } else { (x, y, 0.0) };
        proj4rs::transform::transform(&self.from, &self.to, &mut point).ok()?;
        let (longitude, latitude) = (point.0.to_degrees(), point.1.to_degrees());
        let round = |value: f64| (value * DECIMALS).round() / DECIMALS;
        (longitude.is_finite() && latitude.is_finite()).then(|| (round(longitude), round(latitude)))
    }

    /// Converts every position of a GeoJSON geometry in place; `false` when
    /// one cannot be converted.
    fn geometry(&self, geometry: &mut Value) -> bool {
        match geometry.get_mut("coordinates") {
            Some(coordinates) => self.positions(coordinates),
            None => false,
        }
    }

    fn positions(&self, value: &mut Value) -> bool {
        let Value::Array(items) = value else { return false };
        if !items.first().is_some_and(Value::is_number) {
            return items.iter_mut().all(|item| self.positions(item));
        }
        let (Some(x), Some(y)) = (items[0].as_f64(), items.get(1).and_then(Value::as_f64)) else { return false };
        let Some((longitude, latitude)) = self.point(x, y) else { return false };
        items[0] = json!(longitude);
        items[1] = json!(latitude);
        true
    }
}

/// A shape as GeoJSON (x and y; Z and M are dropped), or `None` for a null shape.
fn geometry(shape: &Shape) -> Option<Value> {
    Some(match shape {
        Shape::NullShape => return None,
        Shape::Point(point) => json!({"type": "Point", "coordinates": position(point)}),
        Shape::PointM(point) => json!({"type": "Point", "coordinates": position(point)}),
        Shape::PointZ(point) => json!({"type": "Point", "coordinates": position(point)}),
        Shape::Polyline(shape) => lines(shape.parts()),
        Shape::PolylineM(shape) => lines(shape.parts()),
        Shape::PolylineZ(shape) => lines(shape.parts()),
        Shape::Polygon(shape) => polygons(shape.rings()),
        Shape::PolygonM(shape) => polygons(shape.rings()),
        Shape::PolygonZ(shape) => polygons(shape.rings()),
        Shape::Multipoint(shape) => json!({"type": "MultiPoint", "coordinates": line(shape.points())}),
        Shape::MultipointM(shape) => json!({"type": "MultiPoint", "coordinates": line(shape.points())}),
        Shape::MultipointZ(shape) => json!({"type": "MultiPoint", "coordinates": line(shape.points())}),
        // 3D surfaces have no GeoJSON form.
        Shape::Multipatch(_) => return None,
    })
}

fn cell(value: Option<&FieldValue>) -> String {
    match value {
        None => String::new(),
        Some(FieldValue::Character(text)) => text.clone().unwrap_or_default().trim().to_string(),
        Some(FieldValue::Memo(text)) => text.trim().to_string(),
        Some(FieldValue::Numeric(number)) => number.map(|n| n.to_string()).unwrap_or_default(),
        Some(FieldValue::Float(number)) => number.map(|n| n.to_string()).unwrap_or_default(),
        Some(FieldValue::Logical(flag)) => flag.map(|b| b.to_string()).unwrap_or_default(),
        Some(FieldValue::Date(date)) => {
            date.map(|d| format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day())).unwrap_or_default()
        }
        Some(FieldValue::Integer(number)) => number.to_string(),
        Some(FieldValue::Currency(number)) | Some(FieldValue::Double(number)) => number.to_string(),
        Some(other) => format!("{other:?}"),
    }
}

/// Checks a `.shp` file's records against its size before the shapefile crate
/// reads them: the crate reserves room for the parts and points a record
/// declares, so a record declaring two billion would take the process down.
/// Each record must fit in the file, and its parts and points in the record.
fn check_shp(path: &Path) -> Result<(), IngestError> {
    let bad = |why: &str| IngestError::Container(format!("the .shp file is damaged: {why}"));
    let mut file = BufReader::new(std::fs::File::open(path)?);
    let size = file.get_ref().metadata()?.len();
    let mut header = [0u8; 100];
    file.read_exact(&mut header).map_err(|_| bad("it is shorter than its header"))?;
    let mut position = 100u64;
    while position + 8 <= size {
        let mut head = [0u8; 8];
        file.read_exact(&mut head)?;
        let content = u64::from(u32::from_be_bytes([head[4], head[5], head[6], head[7]])) * 2;
        if content < 4 || position + 8 + content > size {
            return Err(bad(&format!("the record at byte {position} runs past the end of the file")));
        }
        let mut start = [0u8; 44];
        let read = content.min(44) as usize;
        file.read_exact(&mut start[..read])?;
        let int = |at: usize| i64::from(i32::from_le_bytes([start[at], start[at + 1], start[at + 2], start[at + 3]]));
        let (parts, points) = match int(0) {
            // Null, point, point M, point Z.
            0 | 1 | 11 | 21 => (0, 0),
            // Polyline, polygon and multipatch, plain, Z and M.
            3 | 5 | 13 | 15 | 23 | 25 | 31 if read >= 44 => (int(36), int(40)),
            // Multipoint, plain, Z and M.
            8 | 18 | 28 if read >= 40 => (0, int(36)),
            other => {
                return Err(bad(&format!(
                    "the record at byte {position} has shape type {other}, or is too short for it"
                )));
            }
        };
        if parts < 0 || points < 0 || (4 * parts + 16 * points) as u64 > content {
            return Err(bad(&format!(
                "the record at byte {position} declares {parts} parts and {points} points, more than its {content} bytes hold"
            )));
        }
        // Each part's first point: the crate sizes a part by the next one's
        // start, so they must start at 0, never go back and stay within the points.
        let mut read = read as u64;
        let mut previous = 0i64;
        for part in 0..parts {
            let mut index = [0u8; 4];
            file.read_exact(&mut index)?;
            read += 4;
            let start = i64::from(i32::from_le_bytes(index));
            if (part == 0 && start != 0) || start < previous || start > points {
                return Err(bad(&format!(
                    "the record at byte {position} starts part {part} at point {start}, outside its {points} points"
                )));
            }
            previous = start;
        }
        file.seek_relative((content - read) as i64)?;
        position += 8 + content;
    }
    Ok(())
}

/// Checks a `.dbf` file's header before the dbase crate reads it: the crate
/// subtracts from the header's length without checking it.
fn check_dbf(path: &Path) -> Result<(), IngestError> {
    let mut header = [0u8; 32];
    std::fs::File::open(path)?
        .read_exact(&mut header)
        .map_err(|_| IngestError::Container("the .dbf file is shorter than its header".into()))?;
    // Visual FoxPro tables keep 263 more bytes after the field descriptors.
    let backlink = if matches!(header[0], 0x30..=0x32) { 263 } else { 0 };
    let length = u16::from_le_bytes([header[8], header[9]]);
    if usize::from(length) < 33 + backlink {
        return Err(IngestError::Container(format!(
            "the .dbf file is damaged: its header says it is {length} bytes long, too short for any field"
        )));
    }
    Ok(())
}

/// Copies the archive entry ending in `suffix` (any case) of the layer `stem` to `folder`.
fn extract(
    archive: &mut zip::ZipArchive<BufReader<std::fs::File>>,
    stem: &str,
    suffix: &str,
    folder: &Path,
) -> Result<Option<std::path::PathBuf>, IngestError> {
    let wanted = format!("{stem}.{suffix}").to_lowercase();
    let Some(index) = (0..archive.len()).find(|index| {
        archive.name_for_index(*index).and_then(Result::ok).is_some_and(|name| name.to_lowercase() == wanted)
    }) else {
        return Ok(None);
    };
    let mut entry = archive.by_index(index).map_err(failed)?;
    let path = folder.join(format!("layer.{suffix}"));
    let mut file = std::fs::File::create(&path)?;
    std::io::copy(&mut entry, &mut file)?;
    Ok(Some(path))
}

impl Reader for ZippedShapefile {
    fn format(&self) -> &'static str {
        "shapefile"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["zip", "shp", "shapefile", "shz"]
    }

    /// A zip whose entries include a `.shp` (its name is in the local headers).
    fn sniff(&self, head: &[u8]) -> bool {
        head.starts_with(b"PK\x03\x04") && head.windows(4).any(|window| window.eq_ignore_ascii_case(b".shp"))
    }

    fn binary_signature(&self) -> bool {
        true
    }

    fn read(&self, input: Input<'_>, options: &AnalyzeOptions) -> Result<Vec<Analysis>, IngestError> {
        let path = input.path()?;
        check_zip(path, options.max_uncompressed_bytes)?;
        let mut archive = zip::ZipArchive::new(BufReader::new(std::fs::File::open(path)?)).map_err(failed)?;
        let shp = (0..archive.len())
            .filter_map(|index| archive.name_for_index(index).and_then(Result::ok).map(|name| name.to_string()))
            .find(|name| name.to_lowercase().ends_with(".shp") && !name.starts_with("__MACOSX"))
            .ok_or_else(|| IngestError::Container("the zip holds no .shp file".into()))?;
        let stem = &shp[..shp.len() - 4];
        let folder = tempfile::tempdir_in(path.parent().unwrap_or(Path::new(".")))?;
        let shp_path = extract(&mut archive, stem, "shp", folder.path())?.expect("found above");
        let dbf_path = extract(&mut archive, stem, "dbf", folder.path())?
            .ok_or_else(|| IngestError::Container(format!("the layer {stem} has no .dbf file")))?;
        let cpg = match extract(&mut archive, stem, "cpg", folder.path())? {
            Some(path) => Some(std::fs::read_to_string(path)?.trim().to_string()),
            None => None,
        };
        // WKT is ASCII; a stray byte in a name must not lose the system.
        let prj = match extract(&mut archive, stem, "prj", folder.path())? {
            Some(path) => Some(String::from_utf8_lossy(&std::fs::read(path)?).into_owned()),
            None => None,
        };
        let encoding = match cpg.as_deref().and_then(cpg_encoding) {
            Some(encoding) => encoding,
            None => {
                let mut sample = Vec::new();
                std::fs::File::open(&dbf_path)?.take(256 * 1024).read_to_end(&mut sample)?;
                crate::encoding::detect(&sample).0
            }
        };
        check_shp(&shp_path)?;
        check_dbf(&dbf_path)?;
        let dbf = dbase::Reader::new_with_encoding(
            BufReader::new(std::fs::File::open(&dbf_path)?),
            dbase::encoding::EncodingRs::from(encoding),
        )
        .map_err(failed)?;
        let names: Vec<String> = dbf.fields().iter().map(|field| field.name().to_string()).collect();
        let shapes = shapefile::ShapeReader::new(BufReader::new(std::fs::File::open(&shp_path)?)).map_err(failed)?;
        let mut reader = shapefile::Reader::new(shapes, dbf);
        let mut labels = names.clone();
        let mut geometry_name = "geometry".to_string();
        while labels.contains(&geometry_name) {
            geometry_name.push('_');
        }
        labels.push(geometry_name.clone());
        let geometry_column = labels.len() - 1;
        let mut table = TableBuilder::new(labels, 0, options, 0, None)?;
        table.give_type(geometry_column, "geojson");
        let mut summary =
            GeoSummary { geometry_field: geometry_name, crs: prj.as_deref().map(crs_name), ..Default::default() };
        let reprojection = match prj.as_deref().map(Reprojection::from_prj) {
            None | Some(Ok(None)) => None,
            Some(Ok(Some(reprojection))) => {
                summary.reprojected = true;
                Some(reprojection)
            }
            Some(Err(reason)) => {
                summary.crs_problem = Some(reason);
                None
            }
        };
        let mut record = csv::StringRecord::new();
        for item in reader.iter_shapes_and_records() {
            let (shape, attributes) = item.map_err(failed)?;
            record.clear();
            for name in &names {
                record.push_field(&cell(attributes.get(name)));
            }
            let converted = geometry(&shape).and_then(|mut geometry| match &reprojection {
                None => Some(geometry),
                Some(reprojection) if reprojection.geometry(&mut geometry) => Some(geometry),
                Some(_) => {
                    summary.unconverted += 1;
                    None
                }
            });
            match converted {
                Some(geometry) => {
                    crate::json::summarize(&geometry, &mut summary);
                    record.push_field(&geometry.to_string());
                }
                None => record.push_field(""),
            }
            table.push(&record)?;
        }
        table.geo = Some(summary);
        let bytes = std::fs::metadata(path)?.len();
        let analysis = table.finish(Source {
            format: self.format().into(),
            name: options.name.clone(),
            encoding: Some(encoding.name().to_string()),
            bytes,
            ..Default::default()
        })?;
        Ok(vec![analysis])
    }
}

/// The encoding a `.cpg` names ("UTF-8", "1252", "ANSI 1252", "ISO-8859-1"...).
fn cpg_encoding(text: &str) -> Option<&'static encoding_rs::Encoding> {
    let label = text.trim().to_lowercase();
    let label = label.trim_start_matches("ansi").trim();
    let label = if label.chars().all(|c| c.is_ascii_digit()) && !label.is_empty() {
        match label {
            "65001" => "utf-8".to_string(),
            "28591" => "iso-8859-1".to_string(),
            digits => format!("windows-{digits}"),
        }
    } else {
        label.to_string()
    };
    encoding_rs::Encoding::for_label(label.as_bytes())
}

/// A short name for a `.prj` reference system: its first quoted name.
fn crs_name(wkt: &str) -> String {
    wkt.split('"').nth(1).unwrap_or(wkt).chars().take(120).collect()
}
