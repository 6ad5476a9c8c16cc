//! The registry on S3-compatible object storage, for replicas and training jobs on many machines.
//!
//! ```text
//! <prefix>/claims/<version>                       created only if absent: claims a version id
//! <prefix>/versions/<version>/models.json
//! <prefix>/versions/<version>/risk.json
//! <prefix>/versions/<version>/manifest.json       uploaded last: a version exists once it does
//! <prefix>/aliases/<dataset>/<alias>.json         the version served and the change that set it
//! <prefix>/history/<dataset>/<alias>/<seq>.json   one object per change, created only if absent
//! <prefix>/training/<dataset>.json                a fit in progress (see crate::training)
//! ```
//!
//! Object storage has no rename and no lock, so the guarantees of the folder registry
//! ([`crate::store`], [`crate::alias`]) are kept by conditional writes, which S3 and the
//! S3-compatible servers answer atomically (`If-None-Match: *` creates only an absent object,
//! `If-Match: <ETag>` replaces only the object that was read):
//!
//! - **Publication.** A version id is claimed by creating `claims/<id>` (a publisher that finds
//!   it taken tries the next suffix, as on disk), its files are uploaded, and its manifest last.
//!   Only versions with a manifest are listed or shown, and loading verifies every file against
//!   the manifest's checksums, so a crash mid-upload leaves an unlisted partial version that
//!   nothing reads.
//! - **Aliases** are changed by compare-and-swap: read the alias and its ETag, decide (promote,
//!   roll back, or keep), write the new alias only if the ETag still matches. Of two concurrent
//!   changes one wins; the other reads the winner's alias and decides again, so every change is
//!   made from the alias the previous one set.
//! - **History.** An alias object carries the change that set it (the history entry and a
//!   sequence number per alias); after the swap the entry is written as its own object, created
//!   only if absent. A crash between the two leaves the newest entry only in the alias: reading
//!   the history takes it from there, and the next change writes it before making its own. So
//!   each alias's history is append-only and gapless, and its last entry is what the alias names.
//!
//! `object_store` (Apache Arrow's) is the client: the S3 protocol with request signing,
//! credentials from the environment as the AWS tools read them, retries with backoff, and
//! conditional puts mapped to typed errors — a protocol surface where a hand-written client would
//! be a liability. It is asynchronous and the registry's interface is not (the training tool has
//! no runtime, the service calls the registry from blocking threads), so requests run on a
//! private single-threaded runtime in a thread of its own: a caller on any thread sends the work
//! there and waits for its answer, and the runtime ends with the last handle to the registry.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::ErrorKind;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutPayload, UpdateVersion};
use serde::{Deserialize, Serialize};

use crate::alias::Alias;
use crate::error::RegistryError;
use crate::format::{MANIFEST_FILE, VersionManifest};
use crate::history::HistoryEntry;
use crate::store::{Registry, check_name, fault_point, is_valid_name, now, parse_json, to_json};

/// How many times an alias change is decided again after losing a compare-and-swap before it
/// gives up: a bound on pathological contention, far above what concurrent promotions need.
const MAX_ALIAS_ATTEMPTS: usize = 10_000;

type Job = Pin<Box<dyn Future<Output = ()> + Send>>;

/// An S3 bucket and prefix, with the runtime its requests run on.
pub(crate) struct Objects {
    store: Arc<dyn ObjectStore>,
    bucket: String,
    prefix: Vec<String>,
    jobs: tokio::sync::mpsc::UnboundedSender<Job>,
}

impl std::fmt::Debug for Objects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Objects({})", self.url(&[]).display())
    }
}

/// An alias as stored in object storage: the alias itself and the change that set it. An alias
/// written by hand (only `version` and `changed`) reads as sequence 0 with no change to record.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct AliasObject {
    version: String,
    changed: String,
    #[serde(default)]
    seq: u64,
    #[serde(default)]
    entry: Option<HistoryEntry>,
    /// A random id of the change that wrote it: a swap whose answer was lost (a 5xx after the
    /// write landed, retried into "precondition failed") is recognised as made, not made again.
    #[serde(default)]
    change: String,
}

/// An alias object with the dataset and alias its key names.
type NamedAlias = (String, String, AliasObject);

/// A history object: one entry and its place in its alias's sequence.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct HistoryObject {
    seq: u64,
    entry: HistoryEntry,
}

impl Objects {
    /// Opens `s3://bucket/prefix`. Endpoint, region and credentials come from the environment
    /// (`AWS_ENDPOINT_URL`, `AWS_REGION` or `AWS_DEFAULT_REGION`, `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, ...); an `http://` endpoint is allowed because it was named.
    pub(crate) fn open(url: &str) -> Result<Objects, RegistryError> {
        let bad = |message: &str| RegistryError::Corrupt {
            path: PathBuf::from(url),
            message: format!("not a registry location: {message}"),
        };
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| bad("expected s3://bucket/prefix"))?;
        let mut parts = rest.split('/');
        let bucket = parts.next().unwrap_or_default().to_owned();
        if bucket.is_empty() {
            return Err(bad("no bucket after s3://"));
        }
        let prefix: Vec<String> = parts.filter(|p| !p.is_empty()).map(str::to_owned).collect();
        if let Some(part) = prefix.iter().find(|p| !is_valid_name(p)) {
            return Err(bad(&format!(
                "prefix part {part:?} may use only letters, digits, '.', '_' and '-'"
            )));
        }
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&bucket)
            .with_client_options(
                object_store::ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(10))
                    .with_timeout(Duration::from_secs(300)),
            );
        let endpoint = builder.get_config_value(&AmazonS3ConfigKey::Endpoint);
        if endpoint
            .as_deref()
            .is_some_and(|e| e.starts_with("http://"))
        {
            builder = builder.with_allow_http(true);
        }
        if std::env::var_os("AWS_REGION").is_some()
            && std::env::var_os("AWS_DEFAULT_REGION").is_none()
        {
            builder = builder.with_region(std::env::var("AWS_REGION").unwrap_or_default());
        }
        let store = builder.build().map_err(|e| bad(&e.to_string()))?;

        let (jobs, mut queue) = tokio::sync::mpsc::unbounded_channel::<Job>();
        // Built and dropped in its own thread: a runtime dropped on a caller's async worker
        // would panic.
        let (started, ready) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("civicast-registry-s3".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = started.send(Err(e));
                        return;
                    }
                };
                let _ = started.send(Ok(()));
                runtime.block_on(async move {
                    while let Some(job) = queue.recv().await {
                        tokio::spawn(job);
                    }
                });
            })
            .map_err(RegistryError::io(url))?;
        ready
            .recv()
            .map_err(|_| std::io::Error::other("the registry's runtime thread ended at start"))
            .and_then(|built| built)
            .map_err(RegistryError::io(url))?;
        Ok(Objects {
            store: Arc::new(store),
            bucket,
            prefix,
            jobs,
        })
    }

    /// Runs `work` on the registry's runtime and waits for its answer.
    fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, RegistryError>> + Send + 'static,
    ) -> Result<T, RegistryError> {
        let (answer, wait) = std::sync::mpsc::sync_channel(1);
        let job: Job = Box::pin(async move {
            let _ = answer.send(work.await);
        });
        let stopped = || {
            RegistryError::io(self.url(&[]))(std::io::Error::other(
                "the registry's object storage runtime has stopped",
            ))
        };
        self.jobs.send(job).map_err(|_| stopped())?;
        wait.recv().map_err(|_| stopped())?
    }

    fn key(&self, parts: &[&str]) -> Key {
        Key::from_iter(
            self.prefix
                .iter()
                .map(String::as_str)
                .chain(parts.iter().copied()),
        )
    }

    /// `s3://bucket/prefix/parts...`, for messages.
    pub(crate) fn url(&self, parts: &[&str]) -> PathBuf {
        let mut url = format!("s3://{}", self.bucket);
        for part in self
            .prefix
            .iter()
            .map(String::as_str)
            .chain(parts.iter().copied())
        {
            url.push('/');
            url.push_str(part);
        }
        PathBuf::from(url)
    }

    fn error(path: PathBuf) -> impl Fn(object_store::Error) -> RegistryError {
        move |e| {
            let kind = match e {
                object_store::Error::NotFound { .. } => ErrorKind::NotFound,
                object_store::Error::AlreadyExists { .. } => ErrorKind::AlreadyExists,
                _ => ErrorKind::Other,
            };
            RegistryError::Io {
                path: path.clone(),
                source: std::io::Error::new(kind, e.to_string()),
            }
        }
    }

    /// The bytes of the object at `parts`, at most `limit` of them (a larger object is
    /// [`RegistryError::TooLarge`], refused from its stated size before its body is read and
    /// again if the body runs past it), with its ETag. A missing object is an I/O error of kind
    /// `NotFound`, as a missing file is.
    fn read_tagged(
        &self,
        parts: &[&str],
        limit: u64,
    ) -> Result<(Vec<u8>, Option<String>), RegistryError> {
        let store = self.store.clone();
        let key = self.key(parts);
        let path = self.url(parts);
        self.run(async move {
            let error = Objects::error(path.clone());
            let got = store.get(&key).await.map_err(&error)?;
            let too_large = |size: u64| RegistryError::TooLarge {
                path: path.clone(),
                limit,
                size,
            };
            if got.meta.size > limit {
                return Err(too_large(got.meta.size));
            }
            let e_tag = got.meta.e_tag.clone();
            let mut body = got.into_stream();
            let mut bytes = Vec::new();
            while let Some(chunk) = body.next().await {
                bytes.extend_from_slice(&chunk.map_err(&error)?);
                if bytes.len() as u64 > limit {
                    return Err(too_large(bytes.len() as u64));
                }
            }
            Ok((bytes, e_tag))
        })
    }

    pub(crate) fn read(&self, parts: &[&str], limit: u64) -> Result<Vec<u8>, RegistryError> {
        self.read_tagged(parts, limit).map(|(bytes, _)| bytes)
    }

    /// Writes `bytes` at `parts` under `mode`. `Ok(false)` when the condition did not hold (the
    /// object exists for [`PutMode::Create`], or is not the version read for
    /// [`PutMode::Update`]).
    pub(crate) fn put(
        &self,
        parts: &[&str],
        bytes: Vec<u8>,
        mode: PutMode,
    ) -> Result<bool, RegistryError> {
        let store = self.store.clone();
        let key = self.key(parts);
        let path = self.url(parts);
        self.run(async move {
            match store
                .put_opts(&key, PutPayload::from(bytes), mode.into())
                .await
            {
                Ok(_) => Ok(true),
                Err(
                    object_store::Error::AlreadyExists { .. }
                    | object_store::Error::Precondition { .. },
                ) => Ok(false),
                Err(e) => Err(Objects::error(path)(e)),
            }
        })
    }

    pub(crate) fn delete(&self, parts: &[&str]) -> Result<(), RegistryError> {
        let store = self.store.clone();
        let key = self.key(parts);
        let path = self.url(parts);
        self.run(async move {
            match store.delete(&key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(Objects::error(path)(e)),
            }
        })
    }

    /// The key parts below `parts` of every object under it, e.g. `["v1", "manifest.json"]`
    /// under `["versions"]`.
    pub(crate) fn list(&self, parts: &[&str]) -> Result<Vec<Vec<String>>, RegistryError> {
        let store = self.store.clone();
        let key = self.key(parts);
        let path = self.url(parts);
        let depth = self.prefix.len() + parts.len();
        self.run(async move {
            let listed: Vec<object_store::ObjectMeta> = store
                .list(Some(&key))
                .try_collect()
                .await
                .map_err(Objects::error(path))?;
            Ok(listed
                .into_iter()
                .map(|meta| {
                    meta.location
                        .parts()
                        .skip(depth)
                        .map(|p| p.as_ref().to_owned())
                        .collect()
                })
                .collect())
        })
    }
}

/// Waits a random time before deciding an alias change again after losing a swap, up to twice
/// as long after each loss (from 2 ms, at most 128 ms): changers that collided spread out instead
/// of colliding again, as in Ethernet's backoff.
fn back_off(attempt: usize) {
    use std::hash::{BuildHasher, RandomState};
    let ceiling_ms = 1u64 << attempt.min(7);
    let random = RandomState::new().hash_one((attempt, std::thread::current().id()));
    std::thread::sleep(Duration::from_micros(random % (ceiling_ms * 1000)));
}

/// A random id for an alias change (128 bits from the standard library's randomly seeded
/// hasher, the time and the process).
fn change_id() -> String {
    use std::hash::{BuildHasher, RandomState};
    let salt = (
        std::process::id(),
        std::thread::current().id(),
        std::time::SystemTime::now(),
    );
    format!(
        "{:016x}{:016x}",
        RandomState::new().hash_one(salt),
        RandomState::new().hash_one(salt)
    )
}

pub(crate) fn not_found(e: &RegistryError) -> bool {
    matches!(e, RegistryError::Io { source, .. } if source.kind() == ErrorKind::NotFound)
}

impl Registry {
    pub(crate) fn objects_publish(
        &self,
        objects: &Objects,
        base_id: &str,
        mut manifest: VersionManifest,
        files: &[(&str, Vec<u8>)],
    ) -> Result<String, RegistryError> {
        let mut attempt = 1;
        let id = loop {
            let id = if attempt == 1 {
                base_id.to_owned()
            } else {
                format!("{base_id}-{attempt}")
            };
            let claim =
                to_json(&serde_json::json!({ "claimed": now(), "pid": std::process::id() }));
            if objects.put(&["claims", &id], claim, PutMode::Create)? {
                break id;
            }
            attempt += 1;
        };
        for (name, bytes) in files {
            objects.put(&["versions", &id, name], bytes.clone(), PutMode::Overwrite)?;
        }
        fault_point("models-written");
        manifest.version = id.clone();
        objects.put(
            &["versions", &id, MANIFEST_FILE],
            to_json(&manifest),
            PutMode::Overwrite,
        )?;
        fault_point("published");
        Ok(id)
    }

    /// Published versions (those with a manifest), sorted.
    pub(crate) fn objects_versions(&self, objects: &Objects) -> Result<Vec<String>, RegistryError> {
        let mut names: Vec<String> = objects
            .list(&["versions"])?
            .into_iter()
            .filter_map(|parts| match parts.as_slice() {
                [version, file] if file == MANIFEST_FILE && is_valid_name(version) => {
                    Some(version.clone())
                }
                _ => None,
            })
            .collect();
        names.sort();
        Ok(names)
    }

    pub(crate) fn objects_show(
        &self,
        objects: &Objects,
        version: &str,
    ) -> Result<VersionManifest, RegistryError> {
        let parts = ["versions", version, MANIFEST_FILE];
        match objects.read(&parts, self.limits.manifest_bytes) {
            Ok(bytes) => parse_json(&objects.url(&parts), &bytes),
            Err(e) if not_found(&e) => Err(RegistryError::UnknownVersion(version.to_owned())),
            Err(e) => Err(e),
        }
    }

    /// The names of the files stored under `version`.
    pub(crate) fn objects_version_files(
        &self,
        objects: &Objects,
        version: &str,
    ) -> Result<Vec<String>, RegistryError> {
        Ok(objects
            .list(&["versions", version])?
            .into_iter()
            .map(|parts| parts.join("/"))
            .collect())
    }

    fn objects_alias_tagged(
        &self,
        objects: &Objects,
        dataset: &str,
        alias: &str,
    ) -> Result<Option<(AliasObject, Option<String>)>, RegistryError> {
        let file = format!("{alias}.json");
        let parts = ["aliases", dataset, &file];
        match objects.read_tagged(&parts, self.limits.alias_bytes) {
            Ok((bytes, e_tag)) => Ok(Some((parse_json(&objects.url(&parts), &bytes)?, e_tag))),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(crate) fn objects_alias(
        &self,
        objects: &Objects,
        dataset: &str,
        alias: &str,
    ) -> Result<Option<Alias>, RegistryError> {
        Ok(self
            .objects_alias_tagged(objects, dataset, alias)?
            .map(|(stored, _)| Alias {
                version: stored.version,
                changed: stored.changed,
            }))
    }

    pub(crate) fn objects_datasets(
        &self,
        objects: &Objects,
        production: &str,
    ) -> Result<Vec<String>, RegistryError> {
        let file = format!("{production}.json");
        let mut names: Vec<String> = objects
            .list(&["aliases"])?
            .into_iter()
            .filter_map(|parts| match parts.as_slice() {
                [dataset, name] if *name == file && is_valid_name(dataset) => Some(dataset.clone()),
                _ => None,
            })
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// Writes the history object of the change `stored` (the alias `alias` of `dataset`)
    /// records, unless it exists; an existing one must record the same change.
    fn objects_record(
        &self,
        objects: &Objects,
        dataset: &str,
        alias: &str,
        stored: &AliasObject,
    ) -> Result<(), RegistryError> {
        let Some(entry) = &stored.entry else {
            return Ok(());
        };
        if entry.dataset != dataset || entry.alias != alias {
            return Err(RegistryError::Corrupt {
                path: objects.url(&["aliases", dataset, &format!("{alias}.json")]),
                message: format!(
                    "records a change of {}'s alias {}",
                    entry.dataset, entry.alias
                ),
            });
        }
        let file = format!("{:012}.json", stored.seq);
        let parts = ["history", dataset, alias, file.as_str()];
        let record = HistoryObject {
            seq: stored.seq,
            entry: entry.clone(),
        };
        if objects.put(&parts, to_json(&record), PutMode::Create)? {
            return Ok(());
        }
        let existing: HistoryObject = parse_json(
            &objects.url(&parts),
            &objects.read(&parts, self.limits.alias_bytes)?,
        )?;
        if existing.entry != *entry {
            return Err(RegistryError::Corrupt {
                path: objects.url(&parts),
                message: format!(
                    "records another change than the alias's number {}: {:?}",
                    stored.seq, existing.entry
                ),
            });
        }
        Ok(())
    }

    /// The number after the last history object of `alias` of `dataset` (1 for none): where a
    /// chain continues when its alias was removed or written by hand.
    fn objects_next_seq(
        &self,
        objects: &Objects,
        dataset: &str,
        alias: &str,
    ) -> Result<u64, RegistryError> {
        Ok(objects
            .list(&["history", dataset, alias])?
            .iter()
            .filter_map(|parts| parts.first()?.strip_suffix(".json")?.parse::<u64>().ok())
            .max()
            .unwrap_or(0)
            + 1)
    }

    /// Changes `alias` of `dataset` by compare-and-swap: `decide` gets the version the alias
    /// names now and returns the version it should name, or `None` to leave it. It is called
    /// again whenever another change won the swap, with that change's version.
    pub(crate) fn objects_change_alias(
        &self,
        objects: &Objects,
        dataset: &str,
        alias: &str,
        action: &str,
        mut decide: impl FnMut(Option<&str>) -> Result<Option<String>, RegistryError>,
    ) -> Result<(), RegistryError> {
        check_name(dataset)?;
        check_name(alias)?;
        let file = format!("{alias}.json");
        for attempt in 0..MAX_ALIAS_ATTEMPTS {
            if attempt > 0 {
                back_off(attempt);
            }
            let current = self.objects_alias_tagged(objects, dataset, alias)?;
            if let Some((stored, _)) = &current {
                self.objects_record(objects, dataset, alias, stored)?;
            }
            let previous = current.as_ref().map(|(stored, _)| stored.version.clone());
            let Some(version) = decide(previous.as_deref())? else {
                return Ok(());
            };
            let names = self.show(&version)?.dataset.name;
            if names != dataset {
                return Err(RegistryError::WrongDataset {
                    dataset: dataset.to_owned(),
                    version,
                    names,
                });
            }
            let at = now();
            let seq = match &current {
                Some((stored, _)) if stored.seq > 0 => stored.seq + 1,
                _ => self.objects_next_seq(objects, dataset, alias)?,
            };
            let stored = AliasObject {
                version: version.clone(),
                changed: at.clone(),
                seq,
                change: change_id(),
                entry: Some(HistoryEntry {
                    at,
                    dataset: dataset.to_owned(),
                    alias: alias.to_owned(),
                    action: action.to_owned(),
                    from: previous,
                    to: version,
                }),
            };
            let mode = match &current {
                Some((_, e_tag)) => PutMode::Update(UpdateVersion {
                    e_tag: e_tag.clone(),
                    version: None,
                }),
                None => PutMode::Create,
            };
            let swapped = objects.put(&["aliases", dataset, &file], to_json(&stored), mode);
            // A swap that looks lost or failed may have landed (its answer lost, the retry
            // refused): the alias then carries this change's id.
            let landed = match &swapped {
                Ok(true) => true,
                _ => self
                    .objects_alias_tagged(objects, dataset, alias)
                    .ok()
                    .flatten()
                    .is_some_and(|(now, _)| now.change == stored.change),
            };
            if landed {
                fault_point("alias-set");
                self.objects_record(objects, dataset, alias, &stored)?;
                fault_point("history-appended");
                return Ok(());
            }
            match swapped {
                Ok(_) => continue,
                // A store may answer a swap on an object deleted meanwhile with "not found".
                Err(e) if not_found(&e) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(
            RegistryError::io(objects.url(&["aliases", dataset, &file]))(std::io::Error::other(
                format!("the alias kept changing under {MAX_ALIAS_ATTEMPTS} attempts to change it"),
            )),
        )
    }

    /// The history: each alias's entries in order, the aliases' histories merged by time. An
    /// alias whose newest entry was not yet written as its own object contributes it from the
    /// alias itself.
    pub(crate) fn objects_history(
        &self,
        objects: &Objects,
    ) -> Result<Vec<HistoryEntry>, RegistryError> {
        // Aliases first: a change made while the history is listed then shows as an entry after
        // the alias's own, never as a gap before it.
        let aliases = self.objects_aliases(objects)?;
        let mut chains: BTreeMap<(String, String), BTreeMap<u64, HistoryEntry>> = BTreeMap::new();
        // The history's cap bounds all its objects together, as it bounds the folder's one file.
        let mut total = 0u64;
        for parts in objects.list(&["history"])? {
            let [dataset, alias, file] = parts.as_slice() else {
                continue;
            };
            if !(is_valid_name(dataset) && is_valid_name(alias) && file.ends_with(".json")) {
                continue;
            }
            let keys = ["history", dataset.as_str(), alias.as_str(), file.as_str()];
            let bytes = match objects.read(&keys, self.limits.history_bytes) {
                Ok(bytes) => bytes,
                Err(e) if not_found(&e) => continue,
                Err(e) => return Err(e),
            };
            total += bytes.len() as u64;
            if total > self.limits.history_bytes {
                return Err(RegistryError::TooLarge {
                    path: objects.url(&["history"]),
                    limit: self.limits.history_bytes,
                    size: total,
                });
            }
            // An entry that does not parse is skipped, as a torn line of the folder's log is.
            if let Ok(record) = serde_json::from_slice::<HistoryObject>(&bytes) {
                chains
                    .entry((dataset.clone(), alias.clone()))
                    .or_default()
                    .insert(record.seq, record.entry);
            }
        }
        for (dataset, alias, stored) in aliases {
            if let Some(entry) = stored.entry {
                chains
                    .entry((dataset, alias))
                    .or_default()
                    .entry(stored.seq)
                    .or_insert(entry);
            }
        }
        // Merge the chains by time, never reordering within one.
        let mut chains: Vec<std::collections::VecDeque<HistoryEntry>> = chains
            .into_values()
            .map(|chain| chain.into_values().collect())
            .collect();
        let mut merged = Vec::new();
        while let Some(next) = chains
            .iter_mut()
            .filter(|chain| !chain.is_empty())
            .min_by(|a, b| a[0].at.cmp(&b[0].at))
        {
            merged.extend(next.pop_front());
        }
        Ok(merged)
    }

    /// Every alias object, with the dataset and alias its key names.
    fn objects_aliases(&self, objects: &Objects) -> Result<Vec<NamedAlias>, RegistryError> {
        let mut aliases = Vec::new();
        for parts in objects.list(&["aliases"])? {
            let [dataset, file] = parts.as_slice() else {
                continue;
            };
            let Some(alias) = file.strip_suffix(".json") else {
                continue;
            };
            if !(is_valid_name(dataset) && is_valid_name(alias)) {
                continue;
            }
            if let Some((stored, _)) = self.objects_alias_tagged(objects, dataset, alias)? {
                aliases.push((dataset.clone(), alias.to_owned(), stored));
            }
        }
        Ok(aliases)
    }

    pub(crate) fn objects_write_marker(
        &self,
        objects: &Objects,
        dataset: &str,
        bytes: Vec<u8>,
    ) -> Result<(), RegistryError> {
        let file = format!("{dataset}.json");
        objects.put(&["training", &file], bytes, PutMode::Overwrite)?;
        Ok(())
    }

    pub(crate) fn objects_read_marker(
        &self,
        objects: &Objects,
        dataset: &str,
    ) -> Result<Option<(PathBuf, Vec<u8>)>, RegistryError> {
        let file = format!("{dataset}.json");
        let parts = ["training", file.as_str()];
        match objects.read(&parts, self.limits.alias_bytes) {
            Ok(bytes) => Ok(Some((objects.url(&parts), bytes))),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(crate) fn objects_delete_marker(
        &self,
        objects: &Objects,
        dataset: &str,
    ) -> Result<(), RegistryError> {
        let file = format!("{dataset}.json");
        objects.delete(&["training", &file])
    }

    pub(crate) fn objects_markers(&self, objects: &Objects) -> Result<Vec<String>, RegistryError> {
        Ok(objects
            .list(&["training"])?
            .into_iter()
            .filter_map(|parts| match parts.as_slice() {
                [file] => file
                    .strip_suffix(".json")
                    .filter(|d| is_valid_name(d))
                    .map(str::to_owned),
                _ => None,
            })
            .collect())
    }
}
