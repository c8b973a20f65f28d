//! TensorBoard event files, so that `tensorboard --logdir runs/` shows a live run and compares
//! runs, as it does for lightly, VISSL, mmpretrain and LightlyTrain.
//!
//! An event file (`events.out.tfevents.<seconds>.<host>.<pid>.<n>`) is a sequence of TFRecords —
//! a little-endian `u64` length, the masked CRC-32C of those 8 bytes, the data, the masked
//! CRC-32C of the data — each holding one `Event` protocol buffer (TensorFlow's
//! `event.proto` / `summary.proto`; the few fields pretext writes are declared here for
//! `prost`). The first event names the file version; scalars are `Summary.Value.simple_value`
//! (float32), pictures `Summary.Value.image` (PNG). Every event is flushed as it is written,
//! so TensorBoard sees a run while it trains.
//!
//! A process that continues a run (resume, a later evaluation) writes a new file beside the
//! old ones. A resumed run starts its file with `SessionLog.START` at its first step: TensorBoard
//! then drops what the killed process had logged after its checkpoint, which the resumed one
//! logs again.
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! let mut events = pretext::tensorboard::EventWriter::create(dir.path(), None).unwrap();
//! events.scalars(1, [("loss", 2.3), ("lr", 0.1)]).unwrap();
//! ```

use anyhow::{Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes one event file.
pub struct EventWriter {
    file: std::io::BufWriter<std::fs::File>,
    path: PathBuf,
}

impl EventWriter {
    /// Creates a new event file in `dir`. `resumed_at`: the first step of a run continued
    /// from a checkpoint, before which earlier files' events stay valid.
    ///
    /// # Errors
    /// When the file cannot be created, naming it.
    pub fn create(dir: &Path, resumed_at: Option<u64>) -> Result<EventWriter> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let host = crate::host::name().unwrap_or_else(|| "localhost".into());
        // Seconds, host, process and a count within the process, as TensorFlow names them:
        // files sort in the order they were written, and never collide.
        static FILES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let count = FILES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!(
            "events.out.tfevents.{}.{host}.{}.{count}",
            now.as_secs(),
            std::process::id()
        );
        let path = dir.join(name);
        let file = std::fs::File::create_new(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let mut writer = EventWriter {
            file: std::io::BufWriter::new(file),
            path,
        };
        writer.write(0, What::FileVersion("brain.Event:2".into()))?;
        if let Some(step) = resumed_at {
            let start = SessionLog {
                status: SessionStatus::Start as i32,
            };
            writer.write(step, What::SessionLog(start))?;
        }
        Ok(writer)
    }

    /// Logs `values` (tag, value) at `step`.
    ///
    /// # Errors
    /// When the file cannot be written, naming it.
    pub fn scalars<'a>(
        &mut self,
        step: u64,
        values: impl IntoIterator<Item = (&'a str, f64)>,
    ) -> Result<()> {
        let value = values
            .into_iter()
            .map(|(tag, v)| Value {
                tag: tag.to_owned(),
                kind: Some(Kind::SimpleValue(v as f32)),
            })
            .collect();
        self.write(step, What::Summary(Summary { value }))
    }

    /// Logs the PNG picture `png` (`width × height`, RGB) under `tag` at `step`.
    ///
    /// # Errors
    /// When the file cannot be written, naming it.
    pub fn image(
        &mut self,
        step: u64,
        tag: &str,
        png: Vec<u8>,
        [width, height]: [u32; 2],
    ) -> Result<()> {
        let image = Image {
            height: height as i32,
            width: width as i32,
            colorspace: 3,
            encoded_image_string: png,
        };
        let value = vec![Value {
            tag: tag.to_owned(),
            kind: Some(Kind::Image(image)),
        }];
        self.write(step, What::Summary(Summary { value }))
    }

    fn write(&mut self, step: u64, what: What) -> Result<()> {
        let wall_time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        let event = Event {
            wall_time,
            step: step as i64,
            what: Some(what),
        };
        let data = prost::Message::encode_to_vec(&event);
        let length = (data.len() as u64).to_le_bytes();
        let mut record = Vec::with_capacity(data.len() + 16);
        record.extend_from_slice(&length);
        record.extend_from_slice(&masked_crc(&length).to_le_bytes());
        record.extend_from_slice(&data);
        record.extend_from_slice(&masked_crc(&data).to_le_bytes());
        self.file
            .write_all(&record)
            .and_then(|()| self.file.flush())
            .with_context(|| format!("cannot write {}", self.path.display()))
    }
}

/// TFRecord's checksum: CRC-32C, rotated right by 15 bits, plus a constant (so that a CRC
/// of data holding CRCs stays well mixed).
fn masked_crc(bytes: &[u8]) -> u32 {
    let crc = crc32c::crc32c(bytes);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// `tensorflow.Event`: the fields pretext writes.
#[derive(Clone, PartialEq, prost::Message)]
struct Event {
    #[prost(double, tag = "1")]
    wall_time: f64,
    #[prost(int64, tag = "2")]
    step: i64,
    #[prost(oneof = "What", tags = "3, 5, 7")]
    what: Option<What>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum What {
    #[prost(string, tag = "3")]
    FileVersion(String),
    #[prost(message, tag = "5")]
    Summary(Summary),
    #[prost(message, tag = "7")]
    SessionLog(SessionLog),
}

/// `tensorflow.Summary`.
#[derive(Clone, PartialEq, prost::Message)]
struct Summary {
    #[prost(message, repeated, tag = "1")]
    value: Vec<Value>,
}

/// `tensorflow.Summary.Value`: a scalar or a picture.
#[derive(Clone, PartialEq, prost::Message)]
struct Value {
    #[prost(string, tag = "1")]
    tag: String,
    #[prost(oneof = "Kind", tags = "2, 4")]
    kind: Option<Kind>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum Kind {
    #[prost(float, tag = "2")]
    SimpleValue(f32),
    #[prost(message, tag = "4")]
    Image(Image),
}

/// `tensorflow.Summary.Image`.
#[derive(Clone, PartialEq, prost::Message)]
struct Image {
    #[prost(int32, tag = "1")]
    height: i32,
    #[prost(int32, tag = "2")]
    width: i32,
    /// 3 = RGB.
    #[prost(int32, tag = "3")]
    colorspace: i32,
    #[prost(bytes = "vec", tag = "4")]
    encoded_image_string: Vec<u8>,
}

/// `tensorflow.SessionLog`.
#[derive(Clone, PartialEq, prost::Message)]
struct SessionLog {
    #[prost(enumeration = "SessionStatus", tag = "1")]
    status: i32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
enum SessionStatus {
    Unspecified = 0,
    Start = 1,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TFRecord framing on a known record: the masked CRC of an empty string is the mask
    /// constant (CRC-32C of nothing is 0), and of "123456789" follows from its published
    /// CRC-32C, 0xE3069283.
    #[test]
    fn masked_crcs_match_hand_computed_values() {
        assert_eq!(masked_crc(b""), 0xa282_ead8);
        let expected = 0xE306_9283u32.rotate_right(15).wrapping_add(0xa282_ead8);
        assert_eq!(masked_crc(b"123456789"), expected);
    }

    /// Each record reads back: length, its checksum, an Event that decodes to what was
    /// written, and the data's checksum.
    #[test]
    fn records_frame_decodable_events() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = EventWriter::create(dir.path(), Some(4)).unwrap();
        writer.scalars(5, [("loss", 0.25)]).unwrap();
        let bytes = std::fs::read(&writer.path).unwrap();
        let mut events = Vec::new();
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let (length, tail) = rest.split_at(8);
            let n = u64::from_le_bytes(length.try_into().unwrap()) as usize;
            assert_eq!(&tail[..4], masked_crc(length).to_le_bytes());
            let data = &tail[4..4 + n];
            assert_eq!(&tail[4 + n..8 + n], masked_crc(data).to_le_bytes());
            events.push(<Event as prost::Message>::decode(data).unwrap());
            rest = &tail[8 + n..];
        }
        assert_eq!(events.len(), 3);
        assert_eq!(
            events[0].what,
            Some(What::FileVersion("brain.Event:2".into()))
        );
        assert_eq!(
            (events[1].step, events[1].what.clone()),
            (4, Some(What::SessionLog(SessionLog { status: 1 })))
        );
        let Some(What::Summary(summary)) = &events[2].what else {
            panic!("{:?}", events[2]);
        };
        assert_eq!(events[2].step, 5);
        assert_eq!(summary.value[0].tag, "loss");
        assert_eq!(summary.value[0].kind, Some(Kind::SimpleValue(0.25)));
    }
}
