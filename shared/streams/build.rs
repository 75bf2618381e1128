//! Rebuilds the crate when a migration file is added: `sqlx::migrate!` embeds the
//! migrations directory at compile time, and cargo only sees a new file through this.
#[allow(clippy::print_stdout)] // cargo reads a build script's instructions from stdout
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
