//! Settings every class of this pack shares, declared once with IRIS's names and
//! defaults, and the reads of them.
//!
//! # Invariants
//! - Engine-applied settings (`RetryInterval`, `FailureTimeout`,
//!   `NoFailWhileDisconnected`) are declared so the class default is IRIS's and `hie
//!   plugins` lists them; the engine reads and applies them.
//! - Settings HIE does not implement are declared `.unsupported()` with IRIS's default,
//!   so `hie validate` warns when a production gives them another value.

use hie_plugin_api::settings::{SettingKind, SettingsSource};
use hie_plugin_api::{Context, SettingDef};
use std::time::Duration;

/// `RetryInterval` when the item does not say: IRIS's 5 seconds.
pub const DEFAULT_RETRY: Duration = Duration::from_secs(5);

/// The host settings of every business operation (IRIS `Ens.BusinessOperation`), with
/// `FailureTimeout` defaulting to `failure_timeout`.
pub fn operation_settings(failure_timeout: &'static str) -> Vec<SettingDef> {
    vec![
        SettingDef::host("RetryInterval", "5", "whole seconds between delivery attempts")
            .kind(SettingKind::at_least(0)),
        SettingDef::host("FailureTimeout", failure_timeout, "seconds before a retrying message fails; -1 = for ever")
            .kind(SettingKind::at_least(-1)),
        SettingDef::host(
            "NoFailWhileDisconnected",
            "0",
            "time spent disconnected does not count towards FailureTimeout",
        )
        .kind(SettingKind::Bool),
        SettingDef::host("ReplyCodeActions", "", "IRIS reply code actions (HIE: the class decides)").unsupported(),
        SettingDef::host("AlertRetryGracePeriod", "0", "seconds of retrying before an alert").unsupported(),
        SettingDef::host("ArchiveIO", "0", "archive adapter I/O").unsupported(),
        SettingDef::host("SendSuperSession", "0", "pass the SuperSession id to the remote system").unsupported(),
    ]
}

/// The host settings of every business service (IRIS `Ens.BusinessService`) besides
/// `TargetConfigNames`.
pub fn service_settings() -> Vec<SettingDef> {
    vec![
        SettingDef::host(
            "AlertGracePeriod",
            "0",
            "seconds the inbound adapter may fail to reach its source before AlertOnError alerts (0: at once)",
        ),
        SettingDef::host("ArchiveIO", "0", "archive adapter I/O").unsupported(),
        SettingDef::host("GenerateSuperSessionID", "0", "create a SuperSession id for each message").unsupported(),
    ]
}

/// The item's `RetryInterval` (whole seconds, as the engine reads it), IRIS's 5 seconds
/// when it is not set or does not read (validation reports a malformed value before the item starts).
pub fn retry_interval(ctx: &Context<'_>) -> Duration {
    match ctx.int_or("RetryInterval", 5) {
        Ok(s) if s >= 0 => Duration::from_secs(s as u64),
        _ => DEFAULT_RETRY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_declare_iris_defaults_and_mark_what_hie_does_not_implement() {
        let settings = operation_settings("15");
        let get = |n: &str| settings.iter().find(|s| s.name == n).expect(n);
        assert_eq!(get("FailureTimeout").default, "15");
        assert_eq!(get("RetryInterval").default, "5");
        assert!(get("RetryInterval").supported && !get("ReplyCodeActions").supported);
        let services = service_settings();
        assert!(services.iter().filter(|s| s.name != "AlertGracePeriod").all(|s| !s.supported));
        assert!(services.iter().any(|s| s.name == "AlertGracePeriod" && s.supported), "the engine applies it");
    }
}
