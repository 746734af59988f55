//! The glue between plain-Rust items and the ABI, and the [`export_pack!`] macro.
//!
//! Every function here runs on the plugin side of an `extern "C"` boundary, where an
//! unwinding panic would abort the host: each one catches panics and returns them as
//! [`ErrorKind::Panicked`] errors.

use crate::abi::{
    ErrorKind, HostCtx, ItemBox, ItemFfi, ItemFfi_TO, MessageView, PackManifest, PluginError, ProcessOutcome,
};
use crate::class::ClassDef;
use crate::context::Context;
use crate::item::Item;
use crate::message::Message;
use crate::outcome::Outcome;
use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RBox, RErr, RNone, ROk, ROption, RResult, RSlice, RStr, RString, RVec};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Runs `f`, turning a panic into a `Panicked` error with the panic text.
fn guard<T>(what: &str, f: impl FnOnce() -> Result<T, PluginError>) -> RResult<T, PluginError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => ROk(v),
        Ok(Err(e)) => RErr(e),
        Err(payload) => {
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".to_string());
            RErr(PluginError::new(ErrorKind::Panicked, format!("panic in {what}: {text}")))
        }
    }
}

/// Adapts a plain-Rust [`Item`] to [`ItemFfi`].
struct SdkItem {
    /// The plugin author's item.
    inner: Box<dyn Item>,
}

impl ItemFfi for SdkItem {
    fn on_init(&mut self, ctx: &HostCtx) -> RResult<(), PluginError> {
        guard("on_init", || self.inner.on_init(&Context::new(ctx)).map_err(Into::into))
    }

    fn on_start(&mut self, ctx: &HostCtx) -> RResult<(), PluginError> {
        guard("on_start", || self.inner.on_start(&Context::new(ctx)).map_err(Into::into))
    }

    fn on_stop(&mut self, ctx: &HostCtx) -> RResult<(), PluginError> {
        guard("on_stop", || self.inner.on_stop(&Context::new(ctx)).map_err(Into::into))
    }

    fn on_teardown(&mut self, ctx: &HostCtx) -> RResult<(), PluginError> {
        guard("on_teardown", || self.inner.on_teardown(&Context::new(ctx)).map_err(Into::into))
    }

    fn on_before_process(&mut self, ctx: &HostCtx, msg: &MessageView<'_>) -> RResult<(), PluginError> {
        guard("on_before_process", || {
            self.inner.on_before_process(&Context::new(ctx), &Message::new(msg)).map_err(Into::into)
        })
    }

    fn process(&mut self, ctx: &HostCtx, msg: &MessageView<'_>) -> RResult<ProcessOutcome, PluginError> {
        guard("process", || {
            self.inner.process(&Context::new(ctx), &Message::new(msg)).map(ProcessOutcome::from).map_err(Into::into)
        })
    }

    fn on_after_process(
        &mut self,
        ctx: &HostCtx,
        msg: &MessageView<'_>,
        outcome: &ProcessOutcome,
    ) -> RResult<(), PluginError> {
        guard("on_after_process", || {
            let outcome = Outcome::from(outcome);
            self.inner.on_after_process(&Context::new(ctx), &Message::new(msg), &outcome).map_err(Into::into)
        })
    }

    fn on_process_error(
        &mut self,
        ctx: &HostCtx,
        msg: &MessageView<'_>,
        error: &PluginError,
    ) -> RResult<crate::abi::ErrorAction, PluginError> {
        guard("on_process_error", || {
            let error = crate::error::Error::from(error.clone());
            Ok(self.inner.on_process_error(&Context::new(ctx), &Message::new(msg), &error).into())
        })
    }

    fn extension(
        &mut self,
        _ctx: &HostCtx,
        _name: RStr<'_>,
        _input: RSlice<'_, u8>,
    ) -> ROption<RResult<RVec<u8>, PluginError>> {
        RNone
    }
}

/// Builds the manifest (called by the code [`export_pack!`] generates).
pub fn manifest(name: &str, version: &str, classes: fn() -> Vec<ClassDef>) -> PackManifest {
    let specs = match catch_unwind(classes) {
        Ok(list) => list.iter().map(ClassDef::spec).collect(),
        // A pack whose class list panics offers no classes rather than aborting the host.
        Err(_) => RVec::new(),
    };
    PackManifest {
        name: RString::from(name),
        version: RString::from(version),
        abi_version: crate::ABI_VERSION,
        sdk_version: RString::from(crate::abi::SDK_VERSION.version.as_str()),
        classes: specs,
    }
}

/// Constructs an item of `class` (called by the code [`export_pack!`] generates).
pub fn create_item(
    classes: fn() -> Vec<ClassDef>,
    class: RStr<'_>,
    item_name: RStr<'_>,
    ctx: &HostCtx,
) -> RResult<ItemBox, PluginError> {
    guard("constructor", || {
        let list = classes();
        let def = list.iter().find(|c| c.name == class.as_str()).ok_or_else(|| {
            PluginError::new(
                ErrorKind::Unsupported,
                format!("this pack has no class {} (item {})", class.as_str(), item_name.as_str()),
            )
        })?;
        let inner = (def.constructor)(&Context::new(ctx)).map_err(PluginError::from)?;
        Ok(ItemFfi_TO::from_ptr(RBox::new(SdkItem { inner }), TD_Opaque))
    })
}

/// Exports a pack: its name, version and item classes.
///
/// Invoke it once, at the root of a `cdylib` crate:
///
/// ```ignore
/// hie_plugin_api::export_pack! {
///     name: env!("CARGO_PKG_NAME"),
///     version: env!("CARGO_PKG_VERSION"),
///     classes: || vec![my_class()],
/// }
/// ```
///
/// It generates the abi_stable library header the host looks up, with layout checking,
/// so a pack built against another ABI is rejected with a readable reason at load time.
#[macro_export]
macro_rules! export_pack {
    (name: $name:expr, version: $version:expr, classes: $classes:expr $(,)?) => {
        fn __hie_pack_classes() -> ::std::vec::Vec<$crate::ClassDef> {
            let build: fn() -> ::std::vec::Vec<$crate::ClassDef> = $classes;
            build()
        }

        extern "C" fn __hie_pack_manifest() -> $crate::abi::PackManifest {
            $crate::__private::manifest($name, $version, __hie_pack_classes)
        }

        extern "C" fn __hie_pack_create_item(
            class: $crate::__private::abi_stable::std_types::RStr<'_>,
            item_name: $crate::__private::abi_stable::std_types::RStr<'_>,
            ctx: &$crate::abi::HostCtx,
        ) -> $crate::__private::abi_stable::std_types::RResult<$crate::abi::ItemBox, $crate::abi::PluginError> {
            $crate::__private::create_item(__hie_pack_classes, class, item_name, ctx)
        }

        fn __hie_pack_root() -> $crate::abi::PackRootRef {
            use $crate::__private::abi_stable::prefix_type::PrefixTypeTrait;
            $crate::abi::PackRoot { manifest: __hie_pack_manifest, create_item: __hie_pack_create_item }
                .leak_into_prefix()
        }

        /// The abi_stable library header (symbol name fixed by abi_stable 0.11's mangling).
        #[allow(non_upper_case_globals)]
        #[unsafe(no_mangle)]
        pub static _1as_0lib_1header_0root_bmodule_bloader: $crate::__private::abi_stable::library::LibHeader = {
            extern "C" fn __hie_erased_module() -> $crate::__private::abi_stable::library::RootModuleResult {
                $crate::__private::abi_stable::library::__call_root_module_loader(__hie_pack_root)
            }
            unsafe {
                $crate::__private::abi_stable::library::LibHeader::from_constructor::<$crate::abi::PackRootRef>(
                    __hie_erased_module,
                    $crate::__private::abi_stable::library::CheckTypeLayout::Yes,
                )
            }
        };
    };
}
