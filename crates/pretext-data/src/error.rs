//! The one error type of the data layer: every variant names the file it is about.

use std::path::PathBuf;

/// An error reading or preparing data. Every variant carries the path of the offending file
/// or folder so the user can find it.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file or folder could not be opened, read or written.
    ///
    /// The message already holds the I/O error's, so it is not also given as the error's
    /// `source()` (a chain printed whole would say it twice).
    #[error("{path}: {error}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying I/O error.
        error: std::io::Error,
    },
    /// The file exists but its content is not what the format requires.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong, in words a user understands.
        message: String,
    },
    /// A dataset specification or option is invalid.
    #[error("{0}")]
    Spec(String),
    /// A download failed (network, HTTP status or checksum).
    #[error("{url}: {message}")]
    Download {
        /// The address that failed.
        url: String,
        /// What went wrong.
        message: String,
    },
}

impl DataError {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            error,
        }
    }

    /// A format error for `path` with a human-readable `message`.
    pub fn format(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        DataError::Format {
            path: path.into(),
            message: message.into(),
        }
    }
}
