// Links the kernel with its own memory layout (linker.ld) and rebuilds when it changes.
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    println!("cargo:rustc-link-arg-bin=kernel=-T{dir}/linker.ld");
    println!("cargo:rustc-link-arg-bin=kernel=--no-dynamic-linker");
    println!("cargo:rerun-if-changed=linker.ld");
}
