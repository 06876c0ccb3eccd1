//! Compiles `proto/tisa/v1/*.proto` with protox (pure Rust: no system protoc)
//! and generates prost code into OUT_DIR. Generated code is not committed.
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let files = [root.join("tisa/v1/tisa.proto"), root.join("tisa/v1/control.proto"), root.join("tisa/v1/store.proto")];
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    let fds = protox::compile(&files, [&root])?;
    prost_build::Config::new().compile_fds(fds)?;
    Ok(())
}
