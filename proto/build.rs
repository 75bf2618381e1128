//! Compiles every `.proto` under `gigmesh/` with protox (pure Rust, no `protoc` needed),
//! generates prost messages and tonic clients/servers, and writes the file descriptor set
//! that reflection and the gateway's access policy read.

use std::path::{Path, PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut proto_files = Vec::new();
    collect_proto_files(&proto_root.join("gigmesh"), &mut proto_files)?;
    proto_files.sort();

    let mut compiler = protox::Compiler::new([proto_root])?;
    compiler
        .include_source_info(true)
        .include_imports(true)
        .open_files(&proto_files)?;
    let file_descriptor_set = compiler.file_descriptor_set();
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    // Encoded by protox itself: `prost_types` would drop the custom method options
    // (`gigmesh.api.v1.access`, `rate_limited`) that the gateway reads.
    std::fs::write(
        out_dir.join("gigmesh_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;

    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(file_descriptor_set)?;

    println!(
        "cargo:rerun-if-changed={}",
        proto_root.join("gigmesh").display()
    );
    for file in &proto_files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    Ok(())
}

fn collect_proto_files(dir: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_proto_files(&path, found)?;
        } else if path
            .extension()
            .is_some_and(|extension| extension == "proto")
        {
            found.push(path);
        }
    }
    Ok(())
}
