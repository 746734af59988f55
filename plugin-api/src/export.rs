//! The glue between plain-Rust items and the ABI, and the [`export_pack!`] macro.
//!
//! Every function here runs on the plugin side of an `extern "C"` boundary, where an
//! unwinding panic would abort the host: each one catches panics and returns them as
//! [`ErrorKind::Panicked`] errors.

use crate::abi::adapter::{
    AdapterFailure, ClassSettingKind, InboundAdapterBox, InboundAdapterFfi, InboundAdapterFfi_TO, InboundHostCtx,
    OutboundAdapterBox, OutboundAdapterFfi, OutboundAdapterFfi_TO, PackManifestExt,
};
use crate::abi::{
    AdapterReply, ErrorKind, HostCtx, ItemBox, ItemFfi, ItemFfi_TO, MessageView, PackManifest, PluginError,
    ProcessOutcome,
};
use crate::adapter::{AdapterDef, Constructor, InboundAdapter, InboundContext, OutboundAdapter, TypedSetting};
use crate::class::ClassDef;
use crate::context::Context;
use crate::item::Item;
use crate::message::Message;
use crate::outcome::Outcome;
use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RBox, RErr, RNone, ROk, ROption, RResult, RSlice, RStr, RString, RVec, Tuple2};
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

/// What a pack exports besides its classes (ABI 1.1), for the code [`export_pack!`]
/// generates.
pub struct PackExtras {
    /// Who made the pack.
    pub vendor: &'static str,
    /// The oldest host version it runs on; `""` for any.
    pub min_host: &'static str,
    /// Its adapters.
    pub adapters: fn() -> Vec<AdapterDef>,
    /// The ABI minor the pack needs at least, beyond what it uses (it relies on host
    /// behaviour that minor brought); 0 for none.
    pub requires_minor: u32,
}

/// Builds the 1.1 manifest (called by the code [`export_pack!`] generates).
pub fn manifest_ext(classes: fn() -> Vec<ClassDef>, extras: &PackExtras) -> PackManifestExt {
    let adapters = catch_unwind(extras.adapters).unwrap_or_default();
    let classes = catch_unwind(classes).unwrap_or_default();
    let class_settings: RVec<ClassSettingKind> = classes
        .iter()
        .flat_map(|c| {
            c.settings.iter().filter_map(move |s| {
                let kind = s.kind.clone()?;
                let typed = TypedSetting { name: s.name, kind, default: s.default, required: false, doc: s.doc };
                Some(ClassSettingKind { class: RString::from(c.name), setting: typed.spec() })
            })
        })
        .collect();
    // A pack needs 1.1 only when it uses what 1.1 added.
    let abi_minor = u32::from(!adapters.is_empty() || !class_settings.is_empty()).max(extras.requires_minor);
    PackManifestExt {
        abi_minor,
        vendor: RString::from(extras.vendor),
        min_host_version: RString::from(extras.min_host),
        adapters: adapters.iter().map(AdapterDef::spec).collect(),
        class_settings,
        extension: RString::from("{}"),
    }
}

/// Finds adapter `name` for `item`.
fn adapter_def(adapters: fn() -> Vec<AdapterDef>, name: RStr<'_>, item: RStr<'_>) -> Result<AdapterDef, PluginError> {
    adapters().into_iter().find(|a| a.name == name.as_str()).ok_or_else(|| {
        PluginError::new(
            ErrorKind::Unsupported,
            format!("this pack has no adapter {} (item {})", name.as_str(), item.as_str()),
        )
    })
}

/// Constructs outbound adapter `name` (called by the code [`export_pack!`] generates).
pub fn create_outbound_adapter(
    adapters: fn() -> Vec<AdapterDef>,
    name: RStr<'_>,
    item: RStr<'_>,
    ctx: &HostCtx,
) -> RResult<OutboundAdapterBox, PluginError> {
    guard("adapter constructor", || {
        let def = adapter_def(adapters, name, item)?;
        let Constructor::Outbound(make) = def.constructor else {
            return Err(PluginError::new(ErrorKind::Unsupported, format!("adapter {} is inbound", def.name)));
        };
        let inner = make(&Context::new(ctx)).map_err(PluginError::from)?;
        Ok(OutboundAdapterFfi_TO::from_ptr(RBox::new(SdkOutbound { inner }), TD_Opaque))
    })
}

/// Constructs inbound adapter `name` (called by the code [`export_pack!`] generates).
pub fn create_inbound_adapter(
    adapters: fn() -> Vec<AdapterDef>,
    name: RStr<'_>,
    item: RStr<'_>,
    ctx: &HostCtx,
) -> RResult<InboundAdapterBox, PluginError> {
    guard("adapter constructor", || {
        let def = adapter_def(adapters, name, item)?;
        let Constructor::Inbound(make) = def.constructor else {
            return Err(PluginError::new(ErrorKind::Unsupported, format!("adapter {} is outbound", def.name)));
        };
        let inner = make(&Context::new(ctx)).map_err(PluginError::from)?;
        Ok(InboundAdapterFfi_TO::from_ptr(RBox::new(SdkInbound { inner }), TD_Opaque))
    })
}

/// Adapts a plain-Rust [`OutboundAdapter`] to [`OutboundAdapterFfi`].
struct SdkOutbound {
    inner: Box<dyn OutboundAdapter>,
}

impl OutboundAdapterFfi for SdkOutbound {
    fn call(
        &self,
        body: RSlice<'_, u8>,
        params: RSlice<'_, Tuple2<RStr<'_>, RStr<'_>>>,
    ) -> RResult<AdapterReply, AdapterFailure> {
        let params: Vec<(&str, &str)> = params.iter().map(|t| (t.0.as_str(), t.1.as_str())).collect();
        match catch_unwind(AssertUnwindSafe(|| self.inner.call(body.as_slice(), &params))) {
            Ok(Ok(r)) => ROk(AdapterReply {
                body: RVec::from(r.body),
                params: r.params.into_iter().map(|(k, v)| Tuple2(RString::from(k), RString::from(v))).collect(),
            }),
            Ok(Err(e)) => RErr(AdapterFailure { retryable: e.retryable, message: RString::from(e.message) }),
            Err(payload) => RErr(AdapterFailure {
                retryable: false,
                message: RString::from(format!("panic in the adapter's call: {}", panic_text(&payload))),
            }),
        }
    }

    fn close(&self) {
        let _ = catch_unwind(AssertUnwindSafe(|| self.inner.close()));
    }

    fn extension(&self, _name: RStr<'_>, _input: RSlice<'_, u8>) -> ROption<RResult<RVec<u8>, PluginError>> {
        RNone
    }
}

/// Adapts a plain-Rust [`InboundAdapter`] to [`InboundAdapterFfi`].
struct SdkInbound {
    inner: Box<dyn InboundAdapter>,
}

impl InboundAdapterFfi for SdkInbound {
    fn run(&mut self, ctx: &InboundHostCtx) -> RResult<(), PluginError> {
        guard("the adapter's run", || self.inner.run(&InboundContext::new(ctx)).map_err(Into::into))
    }

    fn extension(&mut self, _name: RStr<'_>, _input: RSlice<'_, u8>) -> ROption<RResult<RVec<u8>, PluginError>> {
        RNone
    }
}

/// The text of a panic payload.
fn panic_text(payload: &Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_string())
}

/// Exports a pack: its name, version, item classes and (ABI 1.1) vendor, minimum host
/// version and adapters.
///
/// Invoke it once, at the root of a `cdylib` crate:
///
/// ```ignore
/// hie_plugin_api::export_pack! {
///     name: env!("CARGO_PKG_NAME"),
///     version: env!("CARGO_PKG_VERSION"),
///     classes: || vec![my_class()],
///     // optional (ABI 1.1):
///     vendor: "Acme Health Ltd",
///     min_host: "0.2.0",
///     adapters: || vec![my_adapter()],
///     requires_abi_minor: 1, // optional: the least ABI minor the pack needs
/// }
/// ```
///
/// It generates the abi_stable library header the host looks up, with layout checking,
/// so a pack built against another ABI is rejected with a readable reason at load time.
#[macro_export]
macro_rules! export_pack {
    (name: $name:expr, version: $version:expr, classes: $classes:expr $(,)?) => {
        $crate::export_pack! {
            name: $name, version: $version, classes: $classes,
            vendor: "", min_host: "", adapters: || ::std::vec::Vec::new(),
        }
    };
    (
        name: $name:expr, version: $version:expr, classes: $classes:expr,
        vendor: $vendor:expr, min_host: $min_host:expr, adapters: $adapters:expr
        $(, requires_abi_minor: $minor:expr)? $(,)?
    ) => {
        fn __hie_pack_classes() -> ::std::vec::Vec<$crate::ClassDef> {
            let build: fn() -> ::std::vec::Vec<$crate::ClassDef> = $classes;
            build()
        }

        fn __hie_pack_adapters() -> ::std::vec::Vec<$crate::adapter::AdapterDef> {
            let build: fn() -> ::std::vec::Vec<$crate::adapter::AdapterDef> = $adapters;
            build()
        }

        extern "C" fn __hie_pack_manifest() -> $crate::abi::PackManifest {
            $crate::__private::manifest($name, $version, __hie_pack_classes)
        }

        extern "C" fn __hie_pack_manifest_ext() -> $crate::abi::adapter::PackManifestExt {
            $crate::__private::manifest_ext(
                __hie_pack_classes,
                &$crate::__private::PackExtras {
                    vendor: $vendor,
                    min_host: $min_host,
                    adapters: __hie_pack_adapters,
                    requires_minor: 0 $(+ $minor)?,
                },
            )
        }

        extern "C" fn __hie_pack_create_item(
            class: $crate::__private::abi_stable::std_types::RStr<'_>,
            item_name: $crate::__private::abi_stable::std_types::RStr<'_>,
            ctx: &$crate::abi::HostCtx,
        ) -> $crate::__private::abi_stable::std_types::RResult<$crate::abi::ItemBox, $crate::abi::PluginError> {
            $crate::__private::create_item(__hie_pack_classes, class, item_name, ctx)
        }

        extern "C" fn __hie_pack_create_outbound(
            adapter: $crate::__private::abi_stable::std_types::RStr<'_>,
            item_name: $crate::__private::abi_stable::std_types::RStr<'_>,
            ctx: &$crate::abi::HostCtx,
        ) -> $crate::__private::abi_stable::std_types::RResult<
            $crate::abi::adapter::OutboundAdapterBox,
            $crate::abi::PluginError,
        > {
            $crate::__private::create_outbound_adapter(__hie_pack_adapters, adapter, item_name, ctx)
        }

        extern "C" fn __hie_pack_create_inbound(
            adapter: $crate::__private::abi_stable::std_types::RStr<'_>,
            item_name: $crate::__private::abi_stable::std_types::RStr<'_>,
            ctx: &$crate::abi::HostCtx,
        ) -> $crate::__private::abi_stable::std_types::RResult<
            $crate::abi::adapter::InboundAdapterBox,
            $crate::abi::PluginError,
        > {
            $crate::__private::create_inbound_adapter(__hie_pack_adapters, adapter, item_name, ctx)
        }

        fn __hie_pack_root() -> $crate::abi::adapter::PackRootRef {
            use $crate::__private::abi_stable::prefix_type::PrefixTypeTrait;
            $crate::abi::adapter::PackRoot {
                manifest: __hie_pack_manifest,
                create_item: __hie_pack_create_item,
                manifest_ext: __hie_pack_manifest_ext,
                create_outbound_adapter: __hie_pack_create_outbound,
                create_inbound_adapter: __hie_pack_create_inbound,
            }
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
                $crate::__private::abi_stable::library::LibHeader::from_constructor::<$crate::abi::adapter::PackRootRef>(
                    __hie_erased_module,
                    $crate::__private::abi_stable::library::CheckTypeLayout::Yes,
                )
            }
        };
    };
}
