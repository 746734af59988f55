//! A pack exporting HIE's root module name with a different layout, as a pack built
//! against an incompatible hie-plugin-api would. Loading it must fail cleanly.

use abi_stable::{
    export_root_module,
    library::RootModule,
    prefix_type::PrefixTypeTrait,
    sabi_types::VersionStrings,
    std_types::{RStr, RString},
    StableAbi,
};

#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PackRootRef)))]
#[sabi(missing_field(option))]
pub struct PackRoot {
    /// Returns a version number instead of a manifest: the mismatch.
    pub manifest: extern "C" fn() -> u64,
    #[sabi(last_prefix_field)]
    pub create_item: extern "C" fn(class: RStr<'_>) -> RString,
}

impl RootModule for PackRootRef {
    abi_stable::declare_root_module_statics! {PackRootRef}
    const BASE_NAME: &'static str = "hie_pack";
    const NAME: &'static str = "hie_pack";
    const VERSION_STRINGS: VersionStrings = VersionStrings::new("1.0.0");
}

extern "C" fn manifest() -> u64 {
    1
}

extern "C" fn create_item(_: RStr<'_>) -> RString {
    RString::new()
}

#[export_root_module]
pub fn root() -> PackRootRef {
    PackRoot { manifest, create_item }.leak_into_prefix()
}
