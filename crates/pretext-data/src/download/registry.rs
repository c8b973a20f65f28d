//! The registry of standard dataset archives pretext can download.
//!
//! Checksums (SHA-256) and sizes are the published values of TensorFlow Datasets'
//! `tensorflow_datasets/url_checksums/{mnist,fashion_mnist,cifar10,cifar100,stl10}.txt`,
//! cross-checked against independent projects that pin the same archives.

/// One file of a downloadable dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemoteFile {
    /// File name, both on the server (appended to a mirror's base URL) and on disk.
    pub name: &'static str,
    /// Expected SHA-256 of the file as lowercase hex, or `None` when no verified digest is
    /// published (the file is then downloaded with a warning that it is unverified).
    pub sha256: Option<&'static str>,
    /// Expected size in bytes, if known. Used to detect a bad server early and to know a
    /// partial download is complete without asking the server.
    pub size: Option<u64>,
    /// Whether the file is a `.tar.gz` archive to extract into the dataset folder.
    pub extract: bool,
}

/// A downloadable dataset: where its files live and how to check them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DatasetEntry {
    /// Command-line name, the same as [`DatasetKind`](crate::DatasetKind)'s (`mnist`,
    /// `fashion-mnist`, `cifar10`, `cifar100`, `stl10`).
    pub name: &'static str,
    /// One line describing the dataset, for `pretext data download --list`.
    pub description: &'static str,
    /// Base URLs (scheme, host and folder, ending in `/`), tried in order: a file's URL is
    /// the base followed by [`RemoteFile::name`].
    pub mirrors: &'static [&'static str],
    /// The files to download into `DEST/NAME/`.
    pub files: &'static [RemoteFile],
    /// Sub-folder of `DEST/NAME/` that holds the data once extracted (for example
    /// `cifar-10-batches-bin`), or `None` when the files lie in `DEST/NAME/` itself.
    pub data_dir: Option<&'static str>,
}

impl DatasetEntry {
    /// The dataset kind with the same name, if any.
    pub fn kind(&self) -> Option<crate::DatasetKind> {
        crate::DatasetKind::ALL
            .iter()
            .find(|(_, n)| *n == self.name)
            .map(|(k, _)| *k)
    }

    /// Total download size in bytes, if the size of every file is known.
    pub fn total_size(&self) -> Option<u64> {
        self.files.iter().map(|f| f.size).sum()
    }

    /// Whether every file has a published SHA-256 to verify against.
    pub fn fully_verified(&self) -> bool {
        self.files.iter().all(|f| f.sha256.is_some())
    }
}

const fn gz(name: &'static str, sha256: &'static str, size: u64) -> RemoteFile {
    RemoteFile {
        name,
        sha256: Some(sha256),
        size: Some(size),
        extract: false,
    }
}

const fn tgz(name: &'static str, sha256: &'static str, size: u64) -> RemoteFile {
    RemoteFile {
        name,
        sha256: Some(sha256),
        size: Some(size),
        extract: true,
    }
}

/// The standard archives, in the order of [`DatasetKind::ALL`](crate::DatasetKind::ALL).
pub(crate) static KNOWN: [DatasetEntry; 5] = [
    DatasetEntry {
        name: "mnist",
        description: "MNIST handwritten digits, 60k train + 10k test, 28x28 grey (IDX, gzipped)",
        // yann.lecun.com often refuses downloads; these are the mirrors TFDS and torchvision use.
        mirrors: &[
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
        ],
        files: &[
            gz(
                "train-images-idx3-ubyte.gz",
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                9_912_422,
            ),
            gz(
                "train-labels-idx1-ubyte.gz",
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                28_881,
            ),
            gz(
                "t10k-images-idx3-ubyte.gz",
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                1_648_877,
            ),
            gz(
                "t10k-labels-idx1-ubyte.gz",
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                4_542,
            ),
        ],
        data_dir: None,
    },
    DatasetEntry {
        name: "fashion-mnist",
        description: "Fashion-MNIST clothing, 60k train + 10k test, 28x28 grey (IDX, gzipped)",
        // Zalando's S3 website endpoint is HTTP only; the GitHub copy is the same files.
        mirrors: &[
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ],
        files: &[
            gz(
                "train-images-idx3-ubyte.gz",
                "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                26_421_880,
            ),
            gz(
                "train-labels-idx1-ubyte.gz",
                "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                29_515,
            ),
            gz(
                "t10k-images-idx3-ubyte.gz",
                "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                4_422_102,
            ),
            gz(
                "t10k-labels-idx1-ubyte.gz",
                "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                5_148,
            ),
        ],
        data_dir: None,
    },
    DatasetEntry {
        name: "cifar10",
        description: "CIFAR-10, 50k train + 10k test, 32x32 colour, 10 classes (binary version)",
        mirrors: &["https://www.cs.toronto.edu/~kriz/"],
        files: &[tgz(
            "cifar-10-binary.tar.gz",
            "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
            170_052_171,
        )],
        data_dir: Some("cifar-10-batches-bin"),
    },
    DatasetEntry {
        name: "cifar100",
        description: "CIFAR-100, 50k train + 10k test, 32x32 colour, 100 classes (binary version)",
        mirrors: &["https://www.cs.toronto.edu/~kriz/"],
        files: &[tgz(
            "cifar-100-binary.tar.gz",
            "58a81ae192c23a4be8b1804d68e518ed807d710a4eb253b1f2a199162a40d8ec",
            168_513_733,
        )],
        data_dir: Some("cifar-100-binary"),
    },
    DatasetEntry {
        name: "stl10",
        description: "STL-10, 5k train + 8k test + 100k unlabelled, 96x96 colour (binary, 2.6 GB)",
        mirrors: &[
            "https://cs.stanford.edu/~acoates/stl10/",
            "http://ai.stanford.edu/~acoates/stl10/",
        ],
        files: &[tgz(
            "stl10_binary.tar.gz",
            "f31fd99273a1acb8609c8db427cebb1de3f71de77758cdc0e22956e1289b9866",
            2_640_397_119,
        )],
        data_dir: Some("stl10_binary"),
    },
];
