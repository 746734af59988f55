// Variants are chosen at build time: HIE_ADAPTER_PROBE_VARIANT=future needs ABI 1.99,
// =duplicate also declares an adapter name the SQL pack provides.
fn main() {
    println!("cargo:rerun-if-env-changed=HIE_ADAPTER_PROBE_VARIANT");
}
