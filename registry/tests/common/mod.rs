//! Fixtures shared by the registry's tests: a one-series daily version, and the backends.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use civicast_model::{FittedForecaster, ModelId, SeriesContext, fit_model};
use civicast_registry::{
    DatasetInfo, FeatureSchema, ModelsFile, Registry, RegistryLimits, Selection, SeriesEntry,
    VersionManifest,
};
use object_store::{ObjectStore, ObjectStoreExt};

/// The manifest of a version of `dataset` with one daily series `a` of 28 days.
pub fn manifest(dataset: &str) -> VersionManifest {
    VersionManifest {
        format: 0,
        version: String::new(),
        created: String::new(),
        civicast_version: "test".into(),
        dataset: DatasetInfo {
            name: dataset.into(),
            title: None,
            unit: None,
            frequency: "1d".into(),
            horizon: 7,
            season_lengths: vec![7],
            data_file: "data.csv".into(),
            data_sha256: "0".repeat(64),
            start: "2024-01-01".into(),
            end: "2024-01-28".into(),
            series: 1,
            rows: 28,
        },
        selection: Selection {
            metric: "MASE".into(),
            candidates: vec!["snaive".into()],
            windows: 1,
            step: 7,
            input_size: None,
        },
        features: FeatureSchema {
            target: "y".into(),
            exogenous: vec![],
        },
        series: vec![SeriesEntry {
            id: "a".into(),
            model: "snaive".into(),
            fallback: None,
            start: "2024-01-01".into(),
            end: "2024-01-28".into(),
            length: 28,
            backtest: BTreeMap::new(),
        }],
        files: BTreeMap::new(),
    }
}

/// Seasonal naive fitted on series `a`.
pub fn models() -> ModelsFile {
    let y: Vec<f64> = (0..28).map(|t| (t % 7) as f64).collect();
    let context = SeriesContext {
        season_lengths: vec![7],
    };
    let fitted = fit_model(ModelId::Snaive, &context, &y).unwrap();
    ModelsFile {
        format: 1,
        forecasters: BTreeMap::from([(
            "snaive".to_owned(),
            FittedForecaster::from_series_models(ModelId::Snaive, vec![("a".to_owned(), fitted)]),
        )]),
        history: BTreeMap::new(),
    }
}

/// A registry to test on, in a fresh folder or under a fresh prefix of the S3-compatible server
/// `CIVICAST_TEST_S3` names (`s3://bucket`, with `AWS_ENDPOINT_URL` and credentials in the
/// environment, as `scripts/s3 start` prints them), with raw access to what it stores so that
/// tests can tamper with it as a person or a crash could.
pub struct Backend {
    pub registry: Registry,
    pub label: &'static str,
    location: String,
    folder: Option<tempfile::TempDir>,
    s3: Option<(std::sync::Arc<dyn ObjectStore>, String)>,
}

/// The backends every registry test runs on: the folder always, and S3 when a server is named.
pub fn backends() -> Vec<Backend> {
    let folder = tempfile::tempdir().unwrap();
    let mut backends = vec![Backend {
        registry: Registry::new(folder.path()),
        label: "folder",
        location: folder.path().to_str().unwrap().to_owned(),
        folder: Some(folder),
        s3: None,
    }];
    if let Some(location) = s3_location() {
        let (bucket, prefix) = location
            .strip_prefix("s3://")
            .and_then(|rest| rest.split_once('/'))
            .unwrap();
        let store = object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_allow_http(true)
            .build()
            .unwrap();
        backends.push(Backend {
            registry: Registry::open(&location, RegistryLimits::default()).unwrap(),
            label: "s3",
            location: location.clone(),
            folder: None,
            s3: Some((std::sync::Arc::new(store), prefix.to_owned())),
        });
    }
    backends
}

/// A fresh `s3://bucket/prefix` on the test server, if one is named.
pub fn s3_location() -> Option<String> {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let base = std::env::var("CIVICAST_TEST_S3").ok()?;
    let unique = format!(
        "t{}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    Some(format!("{}/{unique}", base.trim_end_matches('/')))
}

fn block_on<T>(work: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(work)
}

impl Backend {
    /// The same registry read under other caps.
    pub fn with_limits(&self, limits: RegistryLimits) -> Registry {
        Registry::open(&self.location, limits).unwrap()
    }

    fn key(&self, prefix: &str, parts: &[&str]) -> object_store::path::Path {
        object_store::path::Path::from(format!("{prefix}/{}", parts.join("/")))
    }

    /// The folder of a folder registry.
    pub fn folder(&self) -> Option<&std::path::Path> {
        self.folder.as_ref().map(|f| f.path())
    }

    /// Writes `bytes` at `parts` below the registry's root (a file or an object).
    pub fn write(&self, parts: &[&str], bytes: &[u8]) {
        match (&self.folder, &self.s3) {
            (Some(folder), _) => {
                let path: std::path::PathBuf =
                    parts.iter().fold(folder.path().into(), |p, x| p.join(x));
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, bytes).unwrap();
            }
            (None, Some((store, prefix))) => {
                let key = self.key(prefix, parts);
                block_on(store.put(&key, bytes.to_vec().into())).unwrap();
            }
            _ => unreachable!(),
        }
    }

    /// The bytes at `parts` below the registry's root.
    pub fn read(&self, parts: &[&str]) -> Vec<u8> {
        match (&self.folder, &self.s3) {
            (Some(folder), _) => std::fs::read(
                parts
                    .iter()
                    .fold(folder.path().to_path_buf(), |p, x| p.join(x)),
            )
            .unwrap(),
            (None, Some((store, prefix))) => {
                let key = self.key(prefix, parts);
                block_on(async { store.get(&key).await.unwrap().bytes().await.unwrap() }).to_vec()
            }
            _ => unreachable!(),
        }
    }

    /// Removes the file or object at `parts`.
    pub fn remove(&self, parts: &[&str]) {
        match (&self.folder, &self.s3) {
            (Some(folder), _) => std::fs::remove_file(
                parts
                    .iter()
                    .fold(folder.path().to_path_buf(), |p, x| p.join(x)),
            )
            .unwrap(),
            (None, Some((store, prefix))) => {
                let key = self.key(prefix, parts);
                block_on(store.delete(&key)).unwrap();
            }
            _ => unreachable!(),
        }
    }
}
