//! The files of a sharded fit waiting to be assembled: `shards/<dataset>/<name>`, written by
//! `civicast-train fit --stage shared` and `fit --shard I/N` on any machine that reaches the
//! registry, read and removed by `civicast-train registry assemble`. Each file is written whole
//! (atomically in a folder, by one PUT in object storage), so a reader sees a complete file or
//! none; whether the files belong together is the assembler's check, not the registry's.

use crate::error::RegistryError;
use crate::fsio::{create_dir_durable, read_capped, read_dir_or_empty, write_atomic};
use object_store::PutMode;

use crate::objects::not_found;
use crate::store::{Registry, check_name, is_valid_name};

impl Registry {
    /// Writes (or replaces) `dataset`'s shard file `name`.
    pub fn put_shard_file(
        &self,
        dataset: &str,
        name: &str,
        bytes: Vec<u8>,
    ) -> Result<(), RegistryError> {
        check_name(dataset)?;
        check_name(name)?;
        if let Some(objects) = &self.objects {
            objects.put(&["shards", dataset, name], bytes, PutMode::Overwrite)?;
            return Ok(());
        }
        let folder = self.inside(&["shards", dataset])?;
        create_dir_durable(&folder).map_err(RegistryError::io(&folder))?;
        let path = folder.join(name);
        write_atomic(&path, &bytes).map_err(RegistryError::io(&path))
    }

    /// `dataset`'s shard file `name`, if there is one (read under the models file's cap).
    pub fn read_shard_file(
        &self,
        dataset: &str,
        name: &str,
    ) -> Result<Option<Vec<u8>>, RegistryError> {
        check_name(dataset)?;
        check_name(name)?;
        let limit = self.limits.models_bytes;
        let read = match &self.objects {
            Some(objects) => objects.read(&["shards", dataset, name], limit),
            None => read_capped(&self.inside(&["shards", dataset, name])?, limit),
        };
        match read {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The names of `dataset`'s shard files, sorted.
    pub fn shard_files(&self, dataset: &str) -> Result<Vec<String>, RegistryError> {
        check_name(dataset)?;
        let mut names: Vec<String> = match &self.objects {
            Some(objects) => objects
                .list(&["shards", dataset])?
                .into_iter()
                .filter_map(|parts| match parts.as_slice() {
                    [name] => Some(name.clone()),
                    _ => None,
                })
                .collect(),
            None => read_dir_or_empty(&self.inside(&["shards", dataset])?)?
                .into_iter()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
        };
        names.retain(|n| is_valid_name(n));
        names.sort();
        Ok(names)
    }

    /// Removes `dataset`'s shard file `name` (nothing when it is not there).
    pub fn remove_shard_file(&self, dataset: &str, name: &str) -> Result<(), RegistryError> {
        check_name(dataset)?;
        check_name(name)?;
        if let Some(objects) = &self.objects {
            return objects.delete(&["shards", dataset, name]);
        }
        let path = self.inside(&["shards", dataset, name])?;
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(RegistryError::io(&path)(e)),
            _ => Ok(()),
        }
    }
}
