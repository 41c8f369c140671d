//! `codexport master followers` and `codexport master revoke NAME`.

use crate::exit::Exit;
use crate::master::followers::{FollowerState, list, load_seen};
use crate::master::publish::current_revision;
use crate::master::tokens::TokenFile;
use crate::paths::Roots;

use super::output::{OutputFormat, short, structured};
use super::{CmdResult, Failure};

/// List every follower token with what the server last saw of it.
pub(super) fn followers(output: OutputFormat, roots: &Roots) -> CmdResult {
    let dir = roots.master_dir();
    crate::master::settings::MasterSettings::load(&dir)?;
    let tokens = TokenFile::load(&dir)?;
    let published = current_revision(&dir);
    let rows = list(&tokens, &load_seen(&dir), published.as_deref());
    match output {
        OutputFormat::Text => {
            if rows.is_empty() {
                println!("no followers yet (codexport master link --host <address> --name <follower>)");
                return Ok(Exit::Ok);
            }
            println!(
                "published revision: {}",
                published.as_deref().map(short).unwrap_or_else(|| "none".into())
            );
            let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
            println!(
                "{:<width$}  {:<20}  {:<20}  {:<19}  STATE",
                "NAME", "CREATED", "LAST SEEN", "APPLIED"
            );
            for r in &rows {
                let state = match r.state {
                    FollowerState::Current => "current",
                    FollowerState::Behind => "behind",
                    FollowerState::NeverSeen => "never seen",
                    FollowerState::Revoked => "revoked",
                };
                println!(
                    "{:<width$}  {:<20}  {:<20}  {:<19}  {state}",
                    r.name,
                    r.created,
                    r.last_seen.as_deref().unwrap_or("-"),
                    r.applied_revision.as_deref().map(short).unwrap_or_else(|| "-".into()),
                );
            }
        }
        format => print!(
            "{}",
            structured(
                &serde_json::json!({"publishedRevision": published, "followers": rows}),
                format
            )
        ),
    }
    Ok(Exit::Ok)
}

/// Mark the follower's token revoked in tokens.json.
pub(super) fn revoke(name: &str, roots: &Roots) -> CmdResult {
    let dir = roots.master_dir();
    crate::master::settings::MasterSettings::load(&dir)?;
    let mut tokens = TokenFile::load(&dir)?;
    if !tokens.revoke(name) {
        return Err(Failure::new(
            Exit::Usage,
            format!("no follower named {name:?}"),
            Some("`codexport master followers` lists the names".into()),
        ));
    }
    tokens.save(&dir)?;
    println!("revoked {name}: its token is refused from the next request on (no restart needed)");
    println!("to let it back in, give it a new link: codexport master link --host <address> --name {name}");
    Ok(Exit::Ok)
}
