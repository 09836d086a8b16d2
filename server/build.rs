//! Embeds the web console (`web-console/` at the repository root) into the binary.
//!
//! Only what a browser loads is embedded: HTML, CSS, JavaScript modules, images and fonts, outside
//! `node_modules` and dot-directories. They are staged into `OUT_DIR/console` and handed to
//! memory-serve, which compresses them (brotli, gzip) and computes their ETags at compile time. The
//! console needs no build step, so `cargo build` needs no Node.

use std::fs;
use std::path::{Path, PathBuf};

/// File extensions a browser loads from the console.
const SERVED: &[&str] = &["html", "css", "js", "mjs", "svg", "png", "ico", "woff2", "txt"];

fn main() {
    // Read when the script runs, not when it was compiled: one compiled script may serve checkouts
    // at other paths sharing a target directory.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let source = Path::new(&manifest_dir).join("../web-console");
    println!("cargo::rerun-if-changed={}", source.display());
    if !source.join("index.html").is_file() {
        panic!(
            "{} is missing: the web console is embedded from web-console/ at the repository root",
            source.join("index.html").display()
        );
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("console");
    let _ = fs::remove_dir_all(&out);
    stage(&source, &out).expect("stage the web console");
    // memory-serve reads this in the build script: one warning per file would drown cargo's output.
    std::env::set_var("MEMORY_SERVE_QUIET", "1");
    memory_serve::load_directory_with_embed(&out, true);
}

/// Copies the files a browser loads from `from` into `to`, keeping their paths.
fn stage(from: &Path, to: &Path) -> std::io::Result<()> {
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "node_modules" {
            continue;
        }
        if entry.file_type()?.is_dir() {
            stage(&path, &to.join(&*name))?;
        } else if path.extension().is_some_and(|e| SERVED.iter().any(|s| e == *s)) {
            fs::create_dir_all(to)?;
            fs::copy(&path, to.join(&*name))?;
        }
    }
    Ok(())
}
