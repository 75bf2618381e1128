//! `gigmesh config` as a process: it prints the configuration it would run with, without
//! the secrets in it.

// This test starts no mesh, so the flows that support re-exports stay unused here.
#[allow(unused_imports)]
mod support;

#[tokio::test]
async fn printed_configuration_hides_database_passwords() {
    let output = support::mesh::gigmesh(&["config"])
        .env("GIGMESH__USERS__DATABASE__URL", "postgres://u:hunter2@h/db")
        .output()
        .await
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(!stdout.contains("hunter2"), "{stdout}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
    // The rest of the URL stays readable for the operator.
    assert!(stdout.contains("postgres://u:redacted@h/db"), "{stdout}");
}
