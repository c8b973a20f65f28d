//! Datasets as WebDataset-style tar shards (Aizman et al., "High Performance I/O for Large
//! Scale Deep Learning", 2019; the `webdataset` library's format): plain POSIX tar files in
//! which one sample is the members that share a *key*, the member name up to its first dot
//! (`00000042.png` and `00000042.cls`: an image and its class as decimal text). Shards are
//! named by a brace pattern, `train-{000000..000127}.tar`, on local disk or at HTTP(S)
//! addresses.
//!
//! [`write`] makes such shards from any dataset pretext reads, with a [`Manifest`]
//! (`manifest.json`: per shard its bytes, SHA-256 and the index of its samples; plus
//! `SHA256SUMS` for `sha256sum -c`). [`ShardDataset`] reads them as an [`ImageSource`]: the
//! index of every sample (the byte range of its image member) comes from the manifest, or for
//! shards made elsewhere from one pass over each shard's tar headers, and [`ImageSource::get`]
//! reads one member (a positioned read, or an HTTP `Range` request). So the loader's seeded
//! global shuffle, its split across ranks and its exact resume position apply unchanged, as
//! for every other source (`wids`, WebDataset's indexed reader, works the same way); nothing
//! is downloaded before training starts.

use crate::folder::{decode_bytes, to_image};
use crate::source::{ImageSource, Split};
use crate::{DataError, Image};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The manifest's file name in a folder of shards.
pub const MANIFEST: &str = "manifest.json";
/// The manifest's format tag.
pub const FORMAT: &str = "pretext-shards/1";
/// File extensions of image members.
const IMAGE_EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "webp"];

/// What `pretext data shards` writes beside the shards.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// The dataset the shards were written from (`KIND:PATH`).
    pub source: String,
    /// Channels of the images (1 or 3).
    pub channels: usize,
    /// Class names (index = label), if the dataset is labelled.
    pub classes: Option<Vec<String>>,
    /// The shards of each split (`train`, `test`), in order.
    pub splits: BTreeMap<String, Vec<ShardEntry>>,
}

/// One shard in the manifest.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShardEntry {
    /// File name, relative to the manifest.
    pub file: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the file, lower-case hex.
    pub sha256: String,
    /// Its samples, in file order.
    pub samples: Vec<Sample>,
}

/// One sample of a shard: `(image member name, byte offset of its data, its size, label)`,
/// written as a JSON array to keep the manifest small.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample(pub String, pub u64, pub u64, pub Option<u32>);

impl Sample {
    fn member(&self) -> &str {
        &self.0
    }
    fn label(&self) -> Option<u32> {
        self.3
    }
}

/// The names a brace pattern stands for: `{A..B}` is every number from A to B (zero-padded
/// to A's width when A has leading zeros), `{x,y}` each word; several groups multiply.
///
/// # Errors
/// [`DataError::Spec`] for an unclosed brace or a range that is not two numbers in order.
pub fn expand(pattern: &str) -> Result<Vec<String>, DataError> {
    let Some(open) = pattern.find('{') else {
        return Ok(vec![pattern.to_string()]);
    };
    let close = pattern[open..]
        .find('}')
        .map(|c| open + c)
        .ok_or_else(|| DataError::Spec(format!("`{pattern}`: `{{` without `}}`")))?;
    let (head, body, tail) = (
        &pattern[..open],
        &pattern[open + 1..close],
        &pattern[close + 1..],
    );
    let words: Vec<String> = match body.split_once("..") {
        Some((a, b)) => {
            let bad = || DataError::Spec(format!("`{pattern}`: `{{{body}}}` is not a range A..B"));
            let (from, to) = (
                a.parse::<u64>().map_err(|_| bad())?,
                b.parse::<u64>().map_err(|_| bad())?,
            );
            if from > to {
                return Err(bad());
            }
            let width = if a.starts_with('0') { a.len() } else { 0 };
            (from..=to).map(|n| format!("{n:0width$}")).collect()
        }
        None => body.split(',').map(str::to_string).collect(),
    };
    let rest = expand(tail)?;
    Ok(words
        .iter()
        .flat_map(|w| rest.iter().map(move |r| format!("{head}{w}{r}")))
        .collect())
}

fn is_url(location: &str) -> bool {
    location.starts_with("http://") || location.starts_with("https://")
}

/// Where a shard is.
#[derive(Clone, Debug)]
enum Place {
    File(PathBuf),
    Url(String),
}

impl Place {
    fn of(location: &str) -> Place {
        match is_url(location) {
            true => Place::Url(location.to_string()),
            false => Place::File(PathBuf::from(location)),
        }
    }

    /// For error messages.
    fn path(&self) -> PathBuf {
        match self {
            Place::File(path) => path.clone(),
            Place::Url(url) => PathBuf::from(url),
        }
    }
}

/// One shard of a [`ShardDataset`].
struct Shard {
    place: Place,
    samples: Vec<Sample>,
}

/// Tar shards read as an [`ImageSource`] (see the module documentation).
pub struct ShardDataset {
    origin: String,
    shards: Vec<Shard>,
    /// Index of the first sample of each shard, and the total at the end.
    starts: Vec<usize>,
    channels: usize,
    classes: Option<Vec<String>>,
    agent: ureq::Agent,
    /// Chunks of HTTP shards read ahead ([`ShardDataset::read_ahead`]).
    chunks: Option<Chunks>,
}

/// Bytes per chunk read ahead from an HTTP shard.
const CHUNK: u64 = 8 << 20;

/// The chunks of HTTP shards fetched whole (`CHUNK` bytes at aligned offsets) and kept, the
/// oldest dropped beyond `capacity`: reading neighbouring members then costs one request per
/// chunk. Each chunk is fetched once even when several loader threads want it at once.
struct Chunks {
    capacity: usize,
    kept: std::sync::Mutex<ChunkMap>,
}

/// Chunks by (shard, chunk number), and their keys oldest first.
type ChunkMap = (
    std::collections::HashMap<(usize, u64), Arc<std::sync::OnceLock<ChunkBytes>>>,
    std::collections::VecDeque<(usize, u64)>,
);

/// A chunk's bytes, or why it could not be read (given to every sample that needs it).
type ChunkBytes = Result<Arc<Vec<u8>>, String>;

impl ShardDataset {
    /// Opens `location`'s `split`: a folder holding a [`MANIFEST`], a manifest's path or
    /// address (`….json`; the shards beside it), or a brace pattern of shard paths or
    /// addresses ([`expand`]), which is one training split whose shards are indexed by reading
    /// their tar headers. With `skip_corrupt`, a shard that ends early keeps the samples
    /// before the damage (with a warning) instead of failing.
    ///
    /// # Errors
    /// [`DataError`] naming the manifest or shard that cannot be read or is damaged.
    pub fn open(location: &str, split: Split, skip_corrupt: bool) -> Result<Self, DataError> {
        let agent = crate::download::make_agent(crate::download::is_loopback(location));
        let manifest = if location.ends_with(".json") {
            Some(location.to_string())
        } else if !is_url(location) && Path::new(location).is_dir() {
            Some(Path::new(location).join(MANIFEST).display().to_string())
        } else {
            None
        };
        match manifest {
            Some(manifest) => Self::from_manifest(&manifest, split, skip_corrupt, agent),
            None => Self::from_pattern(location, split, skip_corrupt, agent),
        }
    }

    fn from_manifest(
        location: &str,
        split: Split,
        skip_corrupt: bool,
        agent: ureq::Agent,
    ) -> Result<Self, DataError> {
        let place = Place::of(location);
        let bytes = read_whole(&agent, &place)?;
        let manifest: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| DataError::format(place.path(), format!("not a shard manifest: {e}")))?;
        if manifest.format != FORMAT {
            return Err(DataError::format(
                place.path(),
                format!("format `{}`, expected `{FORMAT}`", manifest.format),
            ));
        }
        let name = match split {
            Split::Train | Split::TrainUnlabeled => "train",
            Split::Test => "test",
            Split::Unlabeled => {
                return Err(DataError::format(
                    place.path(),
                    "shards have no separate unlabeled split; use train or train-unlabeled",
                ));
            }
        };
        let entries = manifest.splits.get(name).ok_or_else(|| {
            DataError::format(place.path(), format!("the manifest has no `{name}` split"))
        })?;
        let base = match location.rfind('/') {
            Some(slash) => &location[..=slash],
            None => "",
        };
        let mut shards = Vec::with_capacity(entries.len());
        for entry in entries {
            let place = Place::of(&format!("{base}{}", entry.file));
            let mut samples = entry.samples.clone();
            if let Place::File(path) = &place {
                let size = std::fs::metadata(path)
                    .map_err(|e| DataError::io(path, e))?
                    .len();
                if size != entry.bytes {
                    let message = format!(
                        "{size} bytes where the manifest says {}: truncated or replaced",
                        entry.bytes
                    );
                    if !skip_corrupt {
                        return Err(DataError::format(path, message));
                    }
                    samples.retain(|s| s.1 + s.2 <= size);
                    tracing::warn!(
                        "{}: {message}; kept its {} whole samples of {}",
                        path.display(),
                        samples.len(),
                        entry.samples.len()
                    );
                }
            }
            shards.push(Shard { place, samples });
        }
        Ok(Self::new(
            location.to_string(),
            shards,
            manifest.channels,
            manifest.classes,
            agent,
        ))
    }

    fn from_pattern(
        pattern: &str,
        split: Split,
        skip_corrupt: bool,
        agent: ureq::Agent,
    ) -> Result<Self, DataError> {
        if !matches!(split, Split::Train | Split::TrainUnlabeled) {
            return Err(DataError::Spec(format!(
                "shards `{pattern}` named by a pattern are one (training) split; write shards \
                 with `pretext data shards` for a manifest that names a test split too"
            )));
        }
        let mut shards = Vec::new();
        for location in expand(pattern)? {
            let place = Place::of(&location);
            let samples = match &place {
                Place::File(path) => {
                    let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
                    let mut archive = tar::Archive::new(std::io::BufReader::new(file));
                    let entries = archive
                        .entries_with_seek()
                        .map_err(|e| DataError::io(path, e))?;
                    let mut samples = index(entries, path, skip_corrupt)?;
                    let size = std::fs::metadata(path)
                        .map_err(|e| DataError::io(path, e))?
                        .len();
                    // Seeking over a member does not notice that the file ends inside it.
                    if let Some(cut) = samples.iter().find(|s| s.1 + s.2 > size) {
                        let message = format!(
                            "truncated: member `{}` ends past the file's {size} bytes",
                            cut.member()
                        );
                        if !skip_corrupt {
                            return Err(DataError::format(path, message));
                        }
                        tracing::warn!("{}: {message}; skipped", path.display());
                        samples.retain(|s| s.1 + s.2 <= size);
                    }
                    samples
                }
                Place::Url(url) => {
                    let body = get(&agent, url, None)?;
                    let mut archive = tar::Archive::new(body);
                    let entries = archive.entries().map_err(|e| DataError::io(url, e))?;
                    index(entries, &place.path(), skip_corrupt)?
                }
            };
            shards.push(Shard { place, samples });
        }
        let labels = shards
            .iter()
            .flat_map(|s| &s.samples)
            .filter_map(Sample::label);
        let classes = labels
            .max()
            .map(|top| (0..=top).map(|c| c.to_string()).collect());
        let mut dataset = Self::new(pattern.to_string(), shards, 3, classes, agent);
        if !dataset.is_empty() {
            let (bytes, name) = dataset.member(0)?;
            dataset.channels = match decode_bytes(&bytes, &name)?.color().has_color() {
                true => 3,
                false => 1,
            };
        }
        Ok(dataset)
    }

    fn new(
        origin: String,
        shards: Vec<Shard>,
        channels: usize,
        classes: Option<Vec<String>>,
        agent: ureq::Agent,
    ) -> Self {
        let mut starts = vec![0];
        for shard in &shards {
            starts.push(starts[starts.len() - 1] + shard.samples.len());
        }
        ShardDataset {
            origin,
            shards,
            starts,
            channels,
            classes,
            agent,
            chunks: None,
        }
    }

    /// Reads HTTP shards ahead in chunks of 8 MiB, keeping as many as `window` samples span
    /// (twice over, plus four), for a loader that reads in the streaming order with a shuffle
    /// buffer of `window` samples; 0 reads each sample's byte range alone (any order).
    pub fn read_ahead(mut self, window: usize) -> Self {
        let remote = self.shards.iter().any(|s| matches!(s.place, Place::Url(_)));
        self.chunks = (window > 0 && remote).then(|| {
            let samples = self.shards.iter().flat_map(|s| &s.samples);
            let bytes: u64 = samples.map(|s| s.2 + 1024).sum();
            let mean = bytes / self.len().max(1) as u64;
            Chunks {
                capacity: (2 * window as u64 * mean).div_ceil(CHUNK) as usize + 4,
                kept: Default::default(),
            }
        });
        self
    }

    /// The shard (its number and itself) and sample of dataset index `index`.
    fn locate(&self, index: usize) -> Result<(usize, &Shard, &Sample), DataError> {
        let number = self
            .starts
            .partition_point(|&s| s <= index)
            .saturating_sub(1);
        self.shards
            .get(number)
            .and_then(|s| Some((number, s, s.samples.get(index - self.starts[number])?)))
            .ok_or_else(|| {
                DataError::format(
                    &self.origin,
                    format!("sample {index} out of range ({} samples)", self.len()),
                )
            })
    }

    /// The encoded bytes of sample `index`'s image, and its name for messages
    /// (`SHARD/MEMBER`).
    fn member(&self, index: usize) -> Result<(Vec<u8>, PathBuf), DataError> {
        let (number, shard, sample) = self.locate(index)?;
        let name = shard.place.path().join(sample.member());
        let (offset, size) = (sample.1, sample.2);
        let mut bytes = vec![0u8; size as usize];
        match &shard.place {
            Place::File(path) => {
                let mut file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
                file.seek(SeekFrom::Start(offset))
                    .and_then(|_| file.read_exact(&mut bytes))
                    .map_err(|e| DataError::io(&name, e))?;
            }
            Place::Url(url) => {
                let chunk = offset / CHUNK;
                match &self.chunks {
                    // Within one chunk: from the chunk.
                    Some(chunks) if (offset + size).div_ceil(CHUNK) <= chunk + 1 => {
                        let data = chunks.get(number, chunk, || {
                            let range = Some((chunk * CHUNK, (chunk + 1) * CHUNK - 1));
                            let mut data = Vec::new();
                            get(&self.agent, url, range)?
                                .read_to_end(&mut data)
                                .map_err(|e| DataError::io(url, e))?;
                            Ok(data)
                        })?;
                        let at = (offset - chunk * CHUNK) as usize;
                        let part = data.get(at..at + size as usize).ok_or_else(|| {
                            DataError::format(&name, "the shard ends inside this member")
                        })?;
                        bytes.copy_from_slice(part);
                    }
                    _ => {
                        let range = (size > 0).then(|| (offset, offset + size - 1));
                        get(&self.agent, url, range)?
                            .read_exact(&mut bytes)
                            .map_err(|e| DataError::io(&name, e))?;
                    }
                }
            }
        }
        Ok((bytes, name))
    }
}

impl Chunks {
    /// Chunk `chunk` of shard `shard`, fetched by `fetch` unless kept (or being fetched by
    /// another thread, which this one then waits for).
    fn get(
        &self,
        shard: usize,
        chunk: u64,
        fetch: impl FnOnce() -> Result<Vec<u8>, DataError>,
    ) -> Result<Arc<Vec<u8>>, DataError> {
        let cell = {
            let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
            let (map, age) = &mut *kept;
            let cell = map
                .entry((shard, chunk))
                .or_insert_with(|| {
                    age.push_back((shard, chunk));
                    Default::default()
                })
                .clone();
            while age.len() > self.capacity {
                if let Some(old) = age.pop_front() {
                    map.remove(&old);
                }
            }
            cell
        };
        cell.get_or_init(|| fetch().map(Arc::new).map_err(|e| e.to_string()))
            .clone()
            .map_err(DataError::Spec)
    }
}

impl ImageSource for ShardDataset {
    fn len(&self) -> usize {
        self.starts[self.starts.len() - 1]
    }

    fn get(&self, index: usize) -> Result<Image, DataError> {
        let (bytes, name) = self.member(index)?;
        Ok(to_image(&decode_bytes(&bytes, &name)?, self.channels))
    }

    fn label(&self, index: usize) -> Option<u32> {
        self.locate(index).ok()?.2.label()
    }

    fn classes(&self) -> Option<&[String]> {
        self.classes.as_deref()
    }

    fn channels(&self) -> usize {
        self.channels
    }

    fn origin(&self) -> String {
        self.origin.clone()
    }

    fn blocks(&self) -> Option<Vec<usize>> {
        Some(self.shards.iter().map(|s| s.samples.len()).collect())
    }
}

/// A GET of `url` (the byte range `first..=last` when given: status 206 required), its body
/// as a reader that streams.
fn get(
    agent: &ureq::Agent,
    url: &str,
    range: Option<(u64, u64)>,
) -> Result<impl Read + use<>, DataError> {
    let failed = |message: String| DataError::Download {
        url: url.to_string(),
        message,
    };
    let mut request = agent.get(url).header("Accept-Encoding", "identity");
    if let Some((first, last)) = range {
        request = request.header("Range", &format!("bytes={first}-{last}"));
    }
    let response = request.call().map_err(|e| failed(e.to_string()))?;
    let status = response.status().as_u16();
    match (status, range) {
        (206, Some(_)) | (200, None) => Ok(response.into_body().into_reader()),
        (200, Some(_)) => Err(failed(
            "the server ignores byte ranges (HTTP Range), which reading single samples needs"
                .into(),
        )),
        _ => Err(failed(format!("HTTP status {status}"))),
    }
}

/// The whole of a (small) file or address: the manifest.
fn read_whole(agent: &ureq::Agent, place: &Place) -> Result<Vec<u8>, DataError> {
    match place {
        Place::File(path) => std::fs::read(path).map_err(|e| DataError::io(path, e)),
        Place::Url(url) => {
            let mut bytes = Vec::new();
            get(agent, url, None)?
                .read_to_end(&mut bytes)
                .map_err(|e| DataError::io(url, e))?;
            Ok(bytes)
        }
    }
}

/// The samples of a shard from its tar headers: members grouped by key (adjacent members with
/// the same name up to the first dot of the file name), each sample's image member and its
/// class from a `.cls` member. Other members (`.json`, …) are passed over. A damaged tar, or a
/// key without an image, is an error naming the shard and the member; with `skip_corrupt`
/// the samples read before the damage are kept (a key without an image is passed over).
fn index<R: Read>(
    entries: tar::Entries<'_, R>,
    shard: &Path,
    skip_corrupt: bool,
) -> Result<Vec<Sample>, DataError> {
    let mut samples = Vec::new();
    // The sample being gathered: key, image member, label.
    let mut current: Option<(String, Option<Sample>, Option<u32>)> = None;
    let mut last = String::from("(the first member)");
    let flush = |current: Option<(String, Option<Sample>, Option<u32>)>,
                 samples: &mut Vec<Sample>|
     -> Result<(), DataError> {
        let Some((key, image, label)) = current else {
            return Ok(());
        };
        match image {
            Some(Sample(member, offset, size, _)) => {
                samples.push(Sample(member, offset, size, label));
                Ok(())
            }
            None if skip_corrupt => {
                tracing::warn!("{}: sample `{key}` has no image; skipped", shard.display());
                Ok(())
            }
            None => Err(DataError::format(
                shard,
                format!("sample `{key}` has no image member (.png, .jpg, .jpeg or .webp)"),
            )),
        }
    };
    for entry in entries {
        let damaged = |e: std::io::Error, last: &str| {
            DataError::format(
                shard,
                format!("damaged or truncated tar after member `{last}`: {e}"),
            )
        };
        let mut entry = match entry {
            Ok(entry) => entry,
            Err(e) if skip_corrupt => {
                tracing::warn!("{}; kept the samples before it", damaged(e, &last));
                current = None;
                break;
            }
            Err(e) => return Err(damaged(e, &last)),
        };
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let name = entry
            .path()
            .map_err(|e| damaged(e, &last))?
            .display()
            .to_string();
        let file_name = name.rsplit('/').next().unwrap_or(&name);
        let (stem, extension) = match file_name.find('.') {
            Some(dot) => (
                format!(
                    "{}{}",
                    &name[..name.len() - file_name.len()],
                    &file_name[..dot]
                ),
                file_name[dot + 1..].to_ascii_lowercase(),
            ),
            None => (name.clone(), String::new()),
        };
        if current.as_ref().is_none_or(|(key, ..)| *key != stem) {
            flush(current.take(), &mut samples)?;
            current = Some((stem, None, None));
        }
        let Some((_, image, label)) = current.as_mut() else {
            continue;
        };
        if IMAGE_EXTENSIONS.contains(&extension.as_str()) {
            *image = Some(Sample(
                name.clone(),
                entry.raw_file_position(),
                entry.size(),
                None,
            ));
        } else if extension == "cls" {
            let mut text = String::new();
            entry
                .read_to_string(&mut text)
                .map_err(|e| damaged(e, &name))?;
            *label = Some(text.trim().parse().map_err(|_| {
                DataError::format(
                    shard,
                    format!("member `{name}`: `{}` is not a class number", text.trim()),
                )
            })?);
        }
        last = name;
    }
    flush(current, &mut samples)?;
    Ok(samples)
}

/// Writes `source` as shards of `per_shard` samples into `folder`, named
/// `{prefix}-000000.tar`, …: sample `i` is `{i:08}.png` (lossless, the image's 8-bit values)
/// and, when labelled, `{i:08}.cls`. Every shard is written whole or not at all, with fixed
/// tar metadata so that the same data gives the same bytes. `progress` hears the samples done.
/// Returns the shards' manifest entries.
///
/// # Errors
/// [`DataError`] naming the image that cannot be read or the shard that cannot be written.
pub fn write(
    source: &dyn ImageSource,
    folder: &Path,
    prefix: &str,
    per_shard: usize,
    mut progress: impl FnMut(usize),
) -> Result<Vec<ShardEntry>, DataError> {
    if per_shard == 0 {
        return Err(DataError::Spec("samples per shard must be positive".into()));
    }
    std::fs::create_dir_all(folder).map_err(|e| DataError::io(folder, e))?;
    let mut entries = Vec::new();
    for (number, first) in (0..source.len()).step_by(per_shard).enumerate() {
        let file = format!("{prefix}-{number:06}.tar");
        let path = folder.join(&file);
        let range = first..(first + per_shard).min(source.len());
        let mut members = Vec::with_capacity(range.len());
        for i in range.clone() {
            let image = source.get(i)?;
            let png = encode_png(&image).map_err(|e| {
                DataError::format(source.origin(), format!("image {i}: cannot encode: {e}"))
            })?;
            members.push((format!("{i:08}"), png, source.label(i)));
        }
        let mut hashed = Hashed::default();
        let mut samples = Vec::with_capacity(members.len());
        crate::atomic::write_with(&path, |out| {
            let mut out = HashingWriter {
                out,
                hashed: &mut hashed,
            };
            let mut tar = tar::Builder::new(&mut out);
            for (key, png, label) in &members {
                let name = format!("{key}.png");
                // A short name takes one 512-byte header; the data follows it.
                samples.push(Sample(
                    name.clone(),
                    tar.get_ref().hashed.bytes + 512,
                    png.len() as u64,
                    *label,
                ));
                append(&mut tar, &name, png)?;
                if let Some(label) = label {
                    append(
                        &mut tar,
                        &format!("{key}.cls"),
                        label.to_string().as_bytes(),
                    )?;
                }
            }
            tar.finish()
        })?;
        progress(range.len());
        entries.push(ShardEntry {
            file,
            bytes: hashed.bytes,
            sha256: hex(&hashed.hasher.finalize()),
            samples,
        });
    }
    Ok(entries)
}

/// Appends a regular file `name` holding `data`, with fixed metadata (mode 0644, owner 0, time
/// 0).
fn append(tar: &mut tar::Builder<impl Write>, name: &str, data: &[u8]) -> std::io::Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, name, data)
}

/// Bytes written and their running SHA-256.
#[derive(Default)]
struct Hashed {
    bytes: u64,
    hasher: Sha256,
}

/// A writer that counts and hashes what passes through it.
struct HashingWriter<'a> {
    out: &'a mut dyn Write,
    hashed: &'a mut Hashed,
}

impl Write for HashingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hashed.hasher.update(&buf[..n]);
        self.hashed.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `image` (values in `[0, 1]`) as an 8-bit PNG, grey or RGB.
fn encode_png(image: &Image) -> Result<Vec<u8>, ::image::ImageError> {
    use ::image::ImageEncoder;
    let (c, h, w) = (image.channels, image.height, image.width);
    let mut pixels = vec![0u8; c * h * w];
    for (i, pixel) in pixels.chunks_exact_mut(c).enumerate() {
        for (k, value) in pixel.iter_mut().enumerate() {
            *value = (image.data[k * h * w + i] * 255.0)
                .round()
                .clamp(0.0, 255.0) as u8;
        }
    }
    let colour = match c {
        1 => ::image::ExtendedColorType::L8,
        _ => ::image::ExtendedColorType::Rgb8,
    };
    let mut png = Vec::new();
    ::image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&pixels, w as u32, h as u32, colour)?;
    Ok(png)
}

/// Writes the splits of a dataset (`train`, and `test` when given) as shards of `per_shard`
/// samples into `folder` ([`write`]), then their [`Manifest`] and `SHA256SUMS`
/// ([`write_manifest`]); `source` names the dataset in the manifest. The manifest comes last:
/// a folder that has one has all its shards.
///
/// # Errors
/// As [`write`] and [`write_manifest`].
pub fn write_dataset(
    train: &dyn ImageSource,
    test: Option<&dyn ImageSource>,
    source: &str,
    folder: &Path,
    per_shard: usize,
    mut progress: impl FnMut(usize),
) -> Result<Manifest, DataError> {
    let mut splits = BTreeMap::new();
    for (name, data) in [("train", Some(train)), ("test", test)] {
        if let Some(data) = data {
            splits.insert(
                name.to_string(),
                write(data, folder, name, per_shard, &mut progress)?,
            );
        }
    }
    let manifest = Manifest {
        format: FORMAT.into(),
        source: source.into(),
        channels: train.channels(),
        classes: train.classes().map(<[String]>::to_vec),
        splits,
    };
    write_manifest(folder, &manifest)?;
    Ok(manifest)
}

/// Writes the manifest and `SHA256SUMS` (for `sha256sum -c`) into `folder`, each whole or
/// not at all.
///
/// # Errors
/// [`DataError::Io`] naming the file that cannot be written.
pub fn write_manifest(folder: &Path, manifest: &Manifest) -> Result<(), DataError> {
    let json = serde_json::to_vec(manifest)
        .map_err(|e| DataError::format(folder.join(MANIFEST), e.to_string()))?;
    crate::atomic::write(&folder.join(MANIFEST), &json)?;
    let sums: String = manifest
        .splits
        .values()
        .flatten()
        .map(|s| format!("{}  {}\n", s.sha256, s.file))
        .collect();
    crate::atomic::write(&folder.join("SHA256SUMS"), sums.as_bytes())
}

#[cfg(test)]
mod tests;
