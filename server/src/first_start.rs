//! What `herald serve` says on a first start: the default app's credentials, and how to create the
//! first admin.
//!
//! A secret is printed only to an interactive terminal. When the output is not one (a container's
//! log stream, a service manager), the credentials go once into a file only this user can read, and
//! the output says where: logs never carry a secret.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use anyhow::Context;
use herald::store::AppWithKeys;

/// The file a non-interactive first start leaves the default app's credentials in.
pub const CREDENTIALS_FILE: &str = "first-start-credentials.txt";

/// Shows the default app created on this first start: printed on a terminal, otherwise written to
/// `data_dir/first-start-credentials.txt` (mode 0600) with only its path printed.
pub fn announce_default_app(created: &AppWithKeys, addr: SocketAddr, data_dir: &Path) -> anyhow::Result<()> {
    let Some(key) = created.keys.first() else { return Ok(()) };
    let secret = key.secret.as_deref().unwrap_or_default();
    let text = format!(
        "Created the default app (`herald apps list` shows it again):\n  app_id: {}\n  key:    {}\n  secret: {}\n\
         Connect with pusher-js:\n  const pusher = new Pusher('{}', {{ wsHost: '{}', wsPort: {}, forceTLS: false, \
         enabledTransports: ['ws'], cluster: '' }});\n  pusher.subscribe('my-channel').bind('my-event', (data) => \
         console.log(data));\n",
        created.app.id,
        key.key,
        secret,
        key.key,
        addr.ip(),
        addr.port()
    );
    if std::io::stdout().is_terminal() {
        say(&text);
        return Ok(());
    }
    let path = data_dir.join(CREDENTIALS_FILE);
    match write_private(data_dir, &path, &text) {
        Ok(()) => say(&format!(
            "Created the default app; its credentials are in {} (readable by this user only; not printed \
             because the output is not a terminal).\n",
            path.display()
        )),
        // The node runs on without the file: the app is in the store, and the CLI shows it.
        Err(e) => tracing::warn!(
            error = format!("{e:#}"),
            "created the default app but could not write its credentials; `herald apps list` shows it"
        ),
    }
    Ok(())
}

/// Writes `text` to `path` readable by this user only, making `dir` (0700) when it is missing: a
/// node on Postgres has no data directory of its own until then.
fn write_private(dir: &Path, path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Says how to create the first admin, while there is none.
pub fn explain_first_owner(data_dir: &Path, uses_database: bool) {
    let store = match uses_database {
        true => " (with the same HERALD_DATABASE_URL and HERALD_MASTER_KEY as this node)".to_string(),
        false => {
            let dir = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
            format!(" --data-dir {}", dir.display())
        }
    };
    say(&format!(
        "No admin yet. Create the first owner (it asks for a password, or generates one and prints it):\n  \
         herald admins create --email you@example.com --role owner{store}\nthen sign in to the web console.\n"
    ));
}

/// Writes to standard output, ignoring a closed one (`herald serve | head`): the server goes on, and
/// still stops on SIGTERM, rather than panicking in a print.
pub fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}
