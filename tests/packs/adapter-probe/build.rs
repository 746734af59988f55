// Variants are chosen at build time: HIE_ADAPTER_PROBE_VARIANT=future needs ABI 1.99,
// =duplicate also declares an adapter name the SQL pack provides, =v2 is version 0.2.0
// and tags its replies and logs `v2` (the others `v1`), =lineless (0.3.0) drops the
// line listener adapter, =badlines (0.4.0) has a HIE.Test.LineService that refuses to start.
fn main() {
    println!("cargo:rerun-if-env-changed=HIE_ADAPTER_PROBE_VARIANT");
    let variant = std::env::var("HIE_ADAPTER_PROBE_VARIANT").unwrap_or_default();
    println!("cargo:rustc-env=PROBE_TAG={}", if variant == "v2" { "v2" } else { "v1" });
    let version = match variant.as_str() {
        "v2" => "0.2.0".to_string(),
        "lineless" => "0.3.0".to_string(),
        "badlines" => "0.4.0".to_string(),
        _ => std::env::var("CARGO_PKG_VERSION").unwrap_or_default(),
    };
    println!("cargo:rustc-env=PROBE_VERSION={version}");
}
