// The probe's version string is baked in at build time so a test can build v1 and v2.
fn main() {
    println!("cargo:rerun-if-env-changed=HIE_PROBE_VERSION");
    println!("cargo:rerun-if-env-changed=HIE_PROBE_FAIL_INIT");
}
