//! `master init`: identity, master.toml, first publish. Re-running keeps the key and settings.

use crate::paths::Roots;

use super::identity::Identity;
use super::publish::{PublishError, PublishReport, publish};
use super::settings::{MasterSettings, SettingsError};

/// Overrides given on the command line; `None` keeps what master.toml says.
#[derive(Debug, Clone, Default)]
pub struct InitOptions {
    /// Port to record in master.toml.
    pub port: Option<u16>,
    /// Bind address to record in master.toml.
    pub bind: Option<String>,
    /// Make a new identity key (the old one is kept as `identity.key.old-<time>`) and republish
    /// signed with it. Followers then refuse the master until they re-join with a new link.
    pub rotate_key: bool,
}

/// What `init` did.
#[derive(Debug)]
pub struct InitReport {
    /// True when a new identity key was made.
    pub created_key: bool,
    /// Where the previous key was moved by `rotate_key`.
    pub old_key: Option<std::path::PathBuf>,
    /// The master fingerprint.
    pub fingerprint: String,
    /// The settings in force.
    pub settings: MasterSettings,
    /// The first (or current) publish.
    pub publish: PublishReport,
}

/// Create `$CODEXPORT_HOME/master/` with identity and settings, then publish.
pub fn init(roots: &Roots, options: &InitOptions) -> Result<InitReport, PublishError> {
    let dir = roots.master_dir();
    let (identity, created_key, old_key) = if options.rotate_key {
        let (identity, old) = Identity::rotate(&dir)?;
        (identity, true, old)
    } else {
        let (identity, created) = Identity::load_or_create(&dir)?;
        (identity, created, None)
    };
    let mut settings = match MasterSettings::load(&dir) {
        Ok(s) => s,
        Err(SettingsError::NotInitialized(_)) => MasterSettings::default(),
        Err(e) => return Err(e.into()),
    };
    let before = settings.clone();
    if let Some(p) = options.port {
        settings.port = p;
    }
    if let Some(b) = &options.bind {
        settings.bind = b.clone();
    }
    if settings != before || !dir.join(super::settings::FILE_NAME).exists() {
        settings.save(&dir)?;
    }
    let publish = publish(roots)?;
    Ok(InitReport {
        created_key,
        old_key,
        fingerprint: identity.fingerprint(),
        settings,
        publish,
    })
}
