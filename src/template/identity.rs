//! What a template is for: this boot and this baseline, and the key that
//! names its dataset. The baseline's digest is cached in the run directory.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::{Site, TemplateError};
use crate::rootfs::baseline::{self, Baseline};
use crate::support::boot;

/// What a template is built from and so what it is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The boot it was built in.
    pub boot_id: String,
    /// The baseline's digest ([`baseline::digest`]).
    pub baseline_sha256: String,
}

impl Identity {
    /// The template's dataset name below the container: short digests of the
    /// boot and the baseline, so a new boot or baseline gets a new template.
    pub fn key(&self) -> String {
        let boot = hex(&Sha256::digest(self.boot_id.as_bytes()));
        let baseline: String = self.baseline_sha256.chars().take(12).collect();
        format!("t-{}-{}", &boot[..8], baseline)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// This boot, and the baseline's digest if a baseline is found: what
/// decides whether a template is current.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    /// This boot.
    pub boot_id: String,
    /// The baseline's digest; `None` if no baseline is found (then only the
    /// boot decides).
    pub baseline_sha256: Option<String>,
}

impl From<&Identity> for Current {
    fn from(id: &Identity) -> Current {
        Current {
            boot_id: id.boot_id.clone(),
            baseline_sha256: Some(id.baseline_sha256.clone()),
        }
    }
}

/// This boot's identity for the given baseline; the baseline digest is cached
/// in the run directory, keyed by the files' identity, so warm installs do not
/// rehash the archive.
pub fn identity(site: &Site, baseline: &Baseline) -> Result<Identity, TemplateError> {
    let boot_id =
        boot::boot_id(site.boot_id.as_deref(), &site.run_dir).map_err(TemplateError::BootId)?;
    let baseline_sha256 = cached_digest(&site.run_dir, baseline)?;
    Ok(Identity {
        boot_id,
        baseline_sha256,
    })
}

/// What identifies a file's content without reading it. The change time is in
/// it because nobody can set it: a file rewritten in place with its size and
/// modification time kept (`rsync --inplace --times`, `touch -r`) still gets a
/// new one, so a changed baseline is never mistaken for the cached one.
fn file_stamp(path: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata(path) {
        Ok(m) => format!(
            "{}:{}:{}:{}.{}:{}.{}",
            m.dev(),
            m.ino(),
            m.size(),
            m.mtime(),
            m.mtime_nsec(),
            m.ctime(),
            m.ctime_nsec()
        ),
        Err(_) => "absent".to_string(),
    }
}

fn cached_digest(run_dir: &Path, baseline: &Baseline) -> Result<String, TemplateError> {
    let stamp = format!(
        "{} {} {} {}",
        baseline.files.display(),
        file_stamp(&baseline.files),
        baseline.gzonly.display(),
        file_stamp(&baseline.gzonly)
    );
    let cache = run_dir.join("baseline-digest");
    if let Ok(text) = std::fs::read_to_string(&cache) {
        if let Some((cached_stamp, digest)) = text.trim_end().rsplit_once(' ') {
            if cached_stamp == stamp && digest.len() == 64 {
                return Ok(digest.to_string());
            }
        }
    }
    let digest = baseline::digest(baseline)?;
    // A cache that cannot be written only costs time.
    let tmp = run_dir.join(format!("baseline-digest.{}", std::process::id()));
    let written = std::fs::create_dir_all(run_dir)
        .and_then(|()| std::fs::write(&tmp, format!("{stamp} {digest}\n")))
        .and_then(|()| std::fs::rename(&tmp, &cache));
    if let Err(e) = written {
        tracing::debug!(
            "cannot cache the baseline digest in {}: {e}",
            cache.display()
        );
    }
    Ok(digest)
}

/// This boot's identity, or `None` if no baseline is found.
pub fn current_identity(site: &Site) -> Result<Option<Identity>, TemplateError> {
    match baseline::find(&site.baseline_dirs) {
        Ok(b) => Ok(Some(identity(site, &b)?)),
        Err(_) => Ok(None),
    }
}

/// What is current here: this boot, and the baseline's digest if a baseline
/// is found.
pub fn current(site: &Site) -> Result<Current, TemplateError> {
    match current_identity(site)? {
        Some(identity) => Ok(Current::from(&identity)),
        None => Ok(Current {
            boot_id: boot::boot_id(site.boot_id.as_deref(), &site.run_dir)
                .map_err(TemplateError::BootId)?,
            baseline_sha256: None,
        }),
    }
}
