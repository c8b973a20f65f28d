//! Downloading the standard datasets (MNIST, Fashion-MNIST, CIFAR-10/100, STL-10).
//!
//! [`download`] fetches every file of a [registry entry](known) into `DEST/NAME/`:
//!
//! * each file is streamed to `FILE.part` with a bounded buffer; an existing `.part` is resumed
//!   with an HTTP `Range` request (a server that ignores the range makes the download restart
//!   from zero);
//! * the complete file is checked against its published SHA-256 and only then atomically
//!   renamed to `FILE`; on a mismatch the `.part` is deleted and the error names the file and
//!   both digests;
//! * `.tar.gz` archives are extracted safely (absolute paths, `..` and links are rejected)
//!   through a temporary folder, and a marker file `.FILE.extracted` records the extraction;
//! * files already present and verified, and archives already extracted, are skipped, so a
//!   re-run makes no network request.
//!
//! The returned folder is the path to give the dataset reader (`kind:PATH`).

mod registry;

pub use registry::{DatasetEntry, RemoteFile};

use crate::DataError;
use sha2::{Digest, Sha256};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Size of the buffer a download is streamed through.
const BUFFER_SIZE: usize = 64 * 1024;

/// Something that happened during a download, passed to [`DownloadOptions::progress`].
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A request for `file` is about to be sent; `offset` is the number of bytes already on
    /// disk (resumed from the `.part` file, 0 for a fresh download).
    Start {
        /// The file name.
        file: &'a str,
        /// The address requested.
        url: &'a str,
        /// Bytes already downloaded.
        offset: u64,
        /// Expected total size, if known.
        total: Option<u64>,
    },
    /// Bytes arrived for `file`.
    Progress {
        /// The file name.
        file: &'a str,
        /// Bytes of the file on disk so far (including resumed bytes).
        done: u64,
        /// Expected total size, if known.
        total: Option<u64>,
    },
    /// `file` was downloaded, checked and renamed into place at `path`.
    Done {
        /// The file name.
        file: &'a str,
        /// Where it now lies.
        path: &'a Path,
        /// Whether its SHA-256 was checked against a published one (false: unverified, a
        /// [`Event::Warning`] says so).
        verified: bool,
    },
    /// `file` needed no work.
    Skipped {
        /// The file name.
        file: &'a str,
        /// Why (already downloaded and verified, already extracted).
        reason: &'a str,
    },
    /// Archive `file` is being extracted into `into`.
    Extracting {
        /// The archive's file name.
        file: &'a str,
        /// The destination folder.
        into: &'a Path,
    },
    /// Something the user should know (for example: a file has no checksum to verify).
    Warning {
        /// The message.
        message: &'a str,
    },
}

impl fmt::Display for Event<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Start {
                file,
                url,
                offset: 0,
                total,
            } => write!(f, "downloading {file} ({}) from {url}", human_size(*total)),
            Event::Start {
                file,
                url,
                offset,
                total,
            } => write!(
                f,
                "resuming {file} at {} of {} from {url}",
                human_size(Some(*offset)),
                human_size(*total)
            ),
            Event::Progress { file, done, total } => match total {
                Some(t) if *t > 0 => write!(
                    f,
                    "{file}: {} of {} ({}%)",
                    human_size(Some(*done)),
                    human_size(Some(*t)),
                    done.saturating_mul(100) / t
                ),
                _ => write!(f, "{file}: {}", human_size(Some(*done))),
            },
            Event::Done {
                file,
                path,
                verified,
            } => {
                let check = if *verified { "verified" } else { "UNVERIFIED" };
                write!(f, "{file}: {check}, saved as {}", path.display())
            }
            Event::Skipped { file, reason } => write!(f, "{file}: {reason}"),
            Event::Extracting { file, into } => {
                write!(f, "extracting {file} into {}", into.display())
            }
            Event::Warning { message } => write!(f, "warning: {message}"),
        }
    }
}

/// A progress callback: receives every [`Event`] of a download.
pub type ProgressFn = Arc<dyn Fn(&Event<'_>) + Send + Sync>;

/// Options of [`download`].
#[derive(Clone, Default)]
pub struct DownloadOptions {
    /// Base URL replacing every mirror of the entry (scheme, host and folder, e.g.
    /// `http://127.0.0.1:8000/datasets/`): a file is fetched from `MIRROR/FILE`.
    pub mirror: Option<String>,
    /// Print nothing on standard error; warnings are then logged with `tracing::warn!`.
    /// Ignored when `progress` is set.
    pub quiet: bool,
    /// Receives every [`Event`] instead of the default printing to standard error.
    pub progress: Option<ProgressFn>,
}

impl fmt::Debug for DownloadOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DownloadOptions")
            .field("mirror", &self.mirror)
            .field("quiet", &self.quiet)
            .field("progress", &self.progress.as_ref().map(|_| "<callback>"))
            .finish()
    }
}

/// The downloadable datasets, for `pretext data download --list`.
pub fn known() -> &'static [DatasetEntry] {
    &registry::KNOWN
}

/// The registry entry called `name`; the error lists the known names.
pub fn find(name: &str) -> Result<&'static DatasetEntry, DataError> {
    known().iter().find(|e| e.name == name).ok_or_else(|| {
        let names: Vec<&str> = known().iter().map(|e| e.name).collect();
        DataError::Spec(format!(
            "unknown dataset `{name}` to download; known datasets: {}",
            names.join(", ")
        ))
    })
}

/// Downloads (if needed), verifies and extracts the dataset `name` into `dest/name/` and
/// returns the folder to open it from (for example `dest/fashion-mnist` or
/// `dest/cifar10/cifar-10-batches-bin`).
///
/// Idempotent: files already downloaded and verified, and archives already extracted, are
/// skipped without any network request. An interrupted download resumes from its `.part` file.
pub fn download(name: &str, dest: &Path, opts: &DownloadOptions) -> Result<PathBuf, DataError> {
    download_entry(find(name)?, dest, opts)
}

/// [`download`] for any entry, for example one of [`known`] or a custom one.
pub fn download_entry(
    entry: &DatasetEntry,
    dest: &Path,
    opts: &DownloadOptions,
) -> Result<PathBuf, DataError> {
    let reporter = Reporter::new(opts);
    let dir = dest.join(entry.name);
    fs::create_dir_all(&dir).map_err(|e| DataError::io(&dir, e))?;
    let bases: Vec<String> = match &opts.mirror {
        Some(m) => {
            if !(m.starts_with("http://") || m.starts_with("https://")) {
                return Err(DataError::Spec(format!(
                    "download mirror `{m}` must start with http:// or https://"
                )));
            }
            vec![m.clone()]
        }
        None => entry.mirrors.iter().map(|m| m.to_string()).collect(),
    };
    if bases.is_empty() {
        return Err(DataError::Spec(format!(
            "dataset `{}` has no download address",
            entry.name
        )));
    }
    let data_dir = match entry.data_dir {
        Some(sub) => dir.join(sub),
        None => dir.clone(),
    };
    let agent = make_agent(bases.iter().all(|b| is_loopback(b)));
    for file in entry.files {
        let urls: Vec<String> = bases.iter().map(|b| join_url(b, file.name)).collect();
        if file.extract {
            let marker = dir.join(format!(".{}.extracted", file.name));
            if extraction_done(&marker, file, &data_dir) {
                reporter.emit(&Event::Skipped {
                    file: file.name,
                    reason: "already downloaded and extracted",
                });
                continue;
            }
            let (archive, digest) = fetch_file(&agent, &urls, file, &dir, &reporter)?;
            reporter.emit(&Event::Extracting {
                file: file.name,
                into: &dir,
            });
            extract_tar_gz(&archive, &dir)?;
            fs::write(&marker, format!("{digest}\n")).map_err(|e| DataError::io(&marker, e))?;
        } else {
            fetch_file(&agent, &urls, file, &dir, &reporter)?;
        }
    }
    Ok(data_dir)
}

/// Sends events to the user's callback, to standard error, or nowhere.
struct Reporter {
    callback: Option<ProgressFn>,
    print: bool,
    /// Last percentage printed by the default printer (to print every 10 %).
    last_percent: std::cell::Cell<u64>,
}

impl Reporter {
    fn new(opts: &DownloadOptions) -> Self {
        Reporter {
            callback: opts.progress.clone(),
            print: opts.progress.is_none() && !opts.quiet,
            last_percent: std::cell::Cell::new(0),
        }
    }

    fn emit(&self, event: &Event<'_>) {
        if let Some(cb) = &self.callback {
            cb(event);
            return;
        }
        if !self.print {
            if let Event::Warning { message } = event {
                tracing::warn!("{message}");
            }
            return;
        }
        match event {
            Event::Start { .. } => {
                self.last_percent.set(0);
                eprintln!("{event}");
            }
            Event::Progress {
                done,
                total: Some(t),
                ..
            } if *t > 0 => {
                let percent = done.saturating_mul(100) / t;
                if percent / 10 > self.last_percent.get() / 10 && percent < 100 {
                    self.last_percent.set(percent);
                    eprintln!("{event}");
                }
            }
            Event::Progress { .. } => {}
            _ => eprintln!("{event}"),
        }
    }

    fn warn(&self, message: &str) {
        self.emit(&Event::Warning { message });
    }
}

fn human_size(bytes: Option<u64>) -> String {
    match bytes {
        None => "size unknown".to_string(),
        Some(b) if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        Some(b) if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        Some(b) if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / (1u64 << 10) as f64),
        Some(b) => format!("{b} B"),
    }
}

fn join_url(base: &str, file: &str) -> String {
    format!("{}/{file}", base.trim_end_matches('/'))
}

/// Whether `url` points to this machine (then no proxy is used, whatever the environment says).
pub(crate) fn is_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    ["127.0.0.1", "localhost", "[::1]"].iter().any(|host| {
        rest.strip_prefix(host)
            .is_some_and(|r| r.is_empty() || r.starts_with(':') || r.starts_with('/'))
    })
}

/// The HTTP client: statuses are handled here, not as errors; a read that stalls for a minute
/// fails (and the download can be resumed).
pub(crate) fn make_agent(direct: bool) -> ureq::Agent {
    let builder = ureq::Agent::config_builder();
    let builder = if direct { builder.proxy(None) } else { builder };
    builder
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_per_read(Some(Duration::from_secs(60)))
        .user_agent(format!("pretext/{}", env!("CARGO_PKG_VERSION")))
        .build()
        .new_agent()
}

/// Whether the archive `file` was already extracted (its marker names the expected digest and
/// the data folder exists).
fn extraction_done(marker: &Path, file: &RemoteFile, data_dir: &Path) -> bool {
    let Ok(content) = fs::read_to_string(marker) else {
        return false;
    };
    let digest_ok = match file.sha256 {
        Some(expected) => content.trim().eq_ignore_ascii_case(expected),
        None => true,
    };
    digest_ok && data_dir.is_dir()
}

/// Lowercase hex SHA-256 of the file at `path`.
fn sha256_file(path: &Path) -> Result<String, DataError> {
    let mut hasher = Sha256::new();
    hash_into(path, &mut hasher)?;
    Ok(hex(&hasher.finalize()))
}

fn hash_into(path: &Path, hasher: &mut Sha256) -> Result<u64, DataError> {
    let mut f = File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut buf = vec![0u8; BUFFER_SIZE];
    let mut total = 0u64;
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(DataError::io(path, e)),
        };
        hasher.update(&buf[..n]);
        total += n as u64;
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Failure of one attempt at one URL: worth trying the next mirror, or final.
enum Attempt {
    /// Network or server trouble: the next mirror may work.
    Retry(DataError),
    /// Local trouble or a checksum mismatch: stop.
    Fatal(DataError),
}

/// Makes sure `dir/file.name` is present and verified, downloading it if needed. Returns its
/// path and SHA-256.
fn fetch_file(
    agent: &ureq::Agent,
    urls: &[String],
    file: &RemoteFile,
    dir: &Path,
    reporter: &Reporter,
) -> Result<(PathBuf, String), DataError> {
    let final_path = dir.join(file.name);
    let part = dir.join(format!("{}.part", file.name));
    if final_path.is_file() {
        let digest = sha256_file(&final_path)?;
        match file.sha256 {
            Some(expected) if digest.eq_ignore_ascii_case(expected) => {
                reporter.emit(&Event::Skipped {
                    file: file.name,
                    reason: "already downloaded, checksum verified",
                });
                return Ok((final_path, digest));
            }
            Some(expected) => {
                reporter.warn(&format!(
                    "{} exists but its SHA-256 is {digest}, expected {expected}: downloading it again",
                    final_path.display()
                ));
                fs::remove_file(&final_path).map_err(|e| DataError::io(&final_path, e))?;
            }
            None => {
                reporter.warn(&format!(
                    "{} has no published SHA-256: keeping the existing file UNVERIFIED (its SHA-256 is {digest})",
                    final_path.display()
                ));
                return Ok((final_path, digest));
            }
        }
    }
    let mut failures: Vec<String> = Vec::new();
    for url in urls {
        match fetch_from(agent, url, file, &part, reporter) {
            Ok(digest) => {
                match file.sha256 {
                    Some(expected) if !digest.eq_ignore_ascii_case(expected) => {
                        let _ = fs::remove_file(&part);
                        return Err(DataError::Download {
                            url: url.clone(),
                            message: format!(
                                "checksum mismatch for {}: expected SHA-256 {expected}, got {digest}; \
                                 the corrupt download was deleted",
                                final_path.display()
                            ),
                        });
                    }
                    Some(_) => {}
                    None => reporter.warn(&format!(
                        "{} has no published SHA-256: it is UNVERIFIED (its SHA-256 is {digest})",
                        final_path.display()
                    )),
                }
                fs::rename(&part, &final_path).map_err(|e| DataError::io(&final_path, e))?;
                reporter.emit(&Event::Done {
                    file: file.name,
                    path: &final_path,
                    verified: file.sha256.is_some(),
                });
                return Ok((final_path, digest));
            }
            Err(Attempt::Fatal(e)) => return Err(e),
            Err(Attempt::Retry(e)) => {
                if urls.len() > 1 {
                    reporter.warn(&format!("{e}; trying the next mirror"));
                }
                failures.push(e.to_string());
            }
        }
    }
    let last = urls.last().cloned().unwrap_or_default();
    let message = match failures.len() {
        0 | 1 => failures
            .pop()
            .unwrap_or_else(|| "no address to download from".to_string()),
        _ => format!("every mirror failed: {}", failures.join("; ")),
    };
    Err(DataError::Download {
        url: last,
        message: strip_url_prefix(&message, urls),
    })
}

/// Removes a leading `URL: ` from a single error message (the error prints the URL itself).
fn strip_url_prefix(message: &str, urls: &[String]) -> String {
    if urls.len() == 1
        && let Some(rest) = message.strip_prefix(&format!("{}: ", urls[0]))
    {
        return rest.to_string();
    }
    message.to_string()
}

/// Parses `bytes START-END/TOTAL` (TOTAL may be `*`) into (START, TOTAL).
fn parse_content_range(value: &str) -> Option<(u64, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let (start, _end) = range.split_once('-')?;
    let start = start.trim().parse().ok()?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    Some((start, total))
}

/// Downloads `url` into `part`, resuming what is there. Returns the SHA-256 of the complete
/// `part` file.
fn fetch_from(
    agent: &ureq::Agent,
    url: &str,
    file: &RemoteFile,
    part: &Path,
    reporter: &Reporter,
) -> Result<String, Attempt> {
    let fatal = Attempt::Fatal;
    let retry = |message: String| {
        Attempt::Retry(DataError::Download {
            url: url.to_string(),
            message,
        })
    };
    let mut offset = match fs::metadata(part) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
        Err(e) => return Err(fatal(DataError::io(part, e))),
    };
    if file.size.is_some_and(|size| offset > size) {
        reporter.warn(&format!(
            "{} is larger than the expected {} bytes: starting again",
            part.display(),
            file.size.unwrap_or_default()
        ));
        fs::remove_file(part).map_err(|e| fatal(DataError::io(part, e)))?;
        offset = 0;
    }
    let mut hasher = Sha256::new();
    if offset > 0 {
        hash_into(part, &mut hasher).map_err(fatal)?;
        if file.size == Some(offset) {
            // Complete already (interrupted between download and rename): just verify.
            return Ok(hex(&hasher.finalize()));
        }
    }
    // At most two requests: a range request the server answers with the wrong range makes
    // a second, plain request.
    for _ in 0..2 {
        reporter.emit(&Event::Start {
            file: file.name,
            url,
            offset,
            total: file.size,
        });
        let mut request = agent.get(url).header("Accept-Encoding", "identity");
        if offset > 0 {
            request = request.header("Range", format!("bytes={offset}-"));
        }
        let response = request.call().map_err(|e| retry(e.to_string()))?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let content_length: Option<u64> = header("content-length").and_then(|v| v.parse().ok());
        let append = match status {
            206 if offset > 0 => {
                let range = header("content-range");
                let parsed = range.as_deref().and_then(parse_content_range);
                match parsed {
                    Some((start, total)) if start == offset => {
                        if let (Some(total), Some(size)) = (total, file.size)
                            && total != size
                        {
                            return Err(retry(format!(
                                "the server reports {total} bytes, expected {size}"
                            )));
                        }
                        true
                    }
                    _ => {
                        reporter.warn(&format!(
                            "{url} answered the resume request with range `{}`: starting again",
                            range.unwrap_or_default()
                        ));
                        fs::remove_file(part).map_err(|e| fatal(DataError::io(part, e)))?;
                        offset = 0;
                        hasher = Sha256::new();
                        continue;
                    }
                }
            }
            200 | 206 => {
                if offset > 0 {
                    reporter.warn(&format!(
                        "{url} does not support resuming: downloading {} again from the start",
                        file.name
                    ));
                    offset = 0;
                    hasher = Sha256::new();
                }
                if let (Some(len), Some(size), 200) = (content_length, file.size, status)
                    && len != size
                {
                    return Err(retry(format!(
                        "the server reports {len} bytes, expected {size}"
                    )));
                }
                false
            }
            416 if offset > 0 => {
                // Nothing left to send: the part is complete (the checksum will tell).
                return Ok(hex(&hasher.finalize()));
            }
            _ => {
                let reason = response.status().canonical_reason().unwrap_or("");
                return Err(retry(format!("HTTP status {status} {reason}")));
            }
        };
        let mut out = if append {
            OpenOptions::new().append(true).open(part)
        } else {
            File::create(part)
        }
        .map_err(|e| fatal(DataError::io(part, e)))?;
        let mut reader = response.into_body().into_reader();
        let mut buf = vec![0u8; BUFFER_SIZE];
        let mut done = offset;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let _ = out.sync_all();
                    return Err(retry(format!(
                        "transfer interrupted after {done} bytes ({e}); run again to resume"
                    )));
                }
            };
            if file.size.is_some_and(|size| done + n as u64 > size) {
                drop(out);
                let _ = fs::remove_file(part);
                return Err(retry(format!(
                    "the server sent more than the expected {} bytes",
                    file.size.unwrap_or_default()
                )));
            }
            out.write_all(&buf[..n])
                .map_err(|e| fatal(DataError::io(part, e)))?;
            hasher.update(&buf[..n]);
            done += n as u64;
            reporter.emit(&Event::Progress {
                file: file.name,
                done,
                total: file.size,
            });
        }
        out.sync_all().map_err(|e| fatal(DataError::io(part, e)))?;
        if let Some(size) = file.size
            && done != size
        {
            return Err(retry(format!(
                "transfer ended after {done} of {size} bytes; run again to resume"
            )));
        }
        return Ok(hex(&hasher.finalize()));
    }
    Err(retry(
        "the server keeps answering resume requests with the wrong range".to_string(),
    ))
}

/// Why a tar entry path is unsafe to extract, if it is.
fn unsafe_entry_path(path: &Path) -> Option<&'static str> {
    if path.as_os_str().is_empty() {
        return Some("empty path");
    }
    for c in path.components() {
        match c {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => return Some("path contains `..`"),
            Component::RootDir | Component::Prefix(_) => return Some("absolute path"),
        }
    }
    None
}

/// Extracts the `.tar.gz` `archive` into `into`, through a temporary folder inside `into` so
/// that a rejected or corrupt archive leaves nothing behind.
fn extract_tar_gz(archive: &Path, into: &Path) -> Result<(), DataError> {
    let bad = |message: String| DataError::format(archive, message);
    let tmp = tempfile::Builder::new()
        .prefix(".extract-")
        .tempdir_in(into)
        .map_err(|e| DataError::io(into, e))?;
    let input = File::open(archive).map_err(|e| DataError::io(archive, e))?;
    let gz = flate2::read::GzDecoder::new(io::BufReader::with_capacity(BUFFER_SIZE, input));
    let mut tar = tar::Archive::new(gz);
    tar.set_preserve_permissions(false);
    tar.set_unpack_xattrs(false);
    let entries = tar
        .entries()
        .map_err(|e| bad(format!("not a tar.gz archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("corrupt archive: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| bad(format!("corrupt entry name: {e}")))?
            .into_owned();
        if let Some(why) = unsafe_entry_path(&path) {
            return Err(bad(format!(
                "refusing to extract unsafe entry `{}`: {why}",
                path.display()
            )));
        }
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            continue;
        }
        if !(kind.is_file() || kind.is_dir() || kind.is_contiguous() || kind.is_gnu_sparse()) {
            return Err(bad(format!(
                "refusing to extract entry `{}`: only files and folders are allowed, not {kind:?}",
                path.display()
            )));
        }
        let unpacked = entry
            .unpack_in(tmp.path())
            .map_err(|e| bad(format!("cannot extract `{}`: {e}", path.display())))?;
        if !unpacked {
            return Err(bad(format!(
                "refusing to extract unsafe entry `{}`",
                path.display()
            )));
        }
    }
    let children = fs::read_dir(tmp.path()).map_err(|e| DataError::io(tmp.path(), e))?;
    for child in children {
        let child = child.map_err(|e| DataError::io(tmp.path(), e))?;
        let target = into.join(child.file_name());
        match fs::symlink_metadata(&target) {
            Ok(m) if m.is_dir() => {
                fs::remove_dir_all(&target).map_err(|e| DataError::io(&target, e))?
            }
            Ok(_) => fs::remove_file(&target).map_err(|e| DataError::io(&target, e))?,
            Err(_) => {}
        }
        fs::rename(child.path(), &target).map_err(|e| DataError::io(&target, e))?;
    }
    tmp.close().map_err(|e| DataError::io(into, e))?;
    Ok(())
}

#[cfg(test)]
mod tests;
