//! The payment service's settings: which provider moves the money (the embedded sandbox
//! or Stripe) with its secrets, how long a seller's earnings wait before they may be
//! withdrawn, the smallest withdrawal, the invoice numbers' prefix, where the sandbox's
//! checkout page lives, and how often the money loop runs.

use gigmesh_config::{Problems, Secret, Validate};
use serde::{Deserialize, Serialize};

/// Fourteen days, in seconds: how long earnings wait before they are available.
pub const DEFAULT_CLEARANCE_PERIOD_SECONDS: i64 = 14 * 24 * 60 * 60;
/// The smallest withdrawal, in minor units (10.00).
pub const DEFAULT_MINIMUM_WITHDRAWAL_MINOR: i64 = 1_000;
/// The sandbox's webhook secret when none is configured (dev only; the sandbox is
/// in-process, so the secret only has to match itself).
pub const DEFAULT_SANDBOX_WEBHOOK_SECRET: &str = "whsec_sandbox_gigmesh_dev";

/// Which payment provider moves the money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// The embedded sandbox: test cards, webhooks delivered in-process.
    #[default]
    Sandbox,
    /// Stripe (payment intents, Connect Express, transfers).
    Stripe,
}

/// The sandbox's settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxSettings {
    /// What the sandbox signs its webhooks with.
    pub webhook_secret: Secret<String>,
}

impl Default for SandboxSettings {
    fn default() -> Self {
        Self {
            webhook_secret: Secret::new(DEFAULT_SANDBOX_WEBHOOK_SECRET.to_owned()),
        }
    }
}

/// Stripe's settings (required when `provider = "stripe"`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StripeConfig {
    /// The secret API key (`sk_…`).
    pub api_key: Secret<String>,
    /// The webhook endpoint's signing secret (`whsec_…`).
    pub webhook_secret: Secret<String>,
    /// Where Stripe's API is.
    pub api_base_url: String,
}

impl Default for StripeConfig {
    fn default() -> Self {
        Self {
            api_key: Secret::default(),
            webhook_secret: Secret::default(),
            api_base_url: "https://api.stripe.com".to_owned(),
        }
    }
}

/// Settings of the payment service.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `sandbox` (default) or `stripe`.
    pub provider: ProviderKind,
    /// The sandbox's settings.
    pub sandbox: SandboxSettings,
    /// Stripe's settings.
    pub stripe: StripeConfig,
    /// How long a seller's earnings on a completed order wait before they are available.
    pub clearance_period_seconds: i64,
    /// The smallest withdrawal, in minor units of its currency.
    pub minimum_withdrawal_minor: i64,
    /// The prefix of invoice numbers (`GM-2026-000001`).
    pub invoice_prefix: String,
    /// The sandbox's checkout page; an order payment's `checkout_url` is
    /// `<base>?payment=<id>&secret=<client secret>`.
    pub checkout_base_url: String,
    /// How often the money loop (clearances, refunds, cancellations) runs.
    pub loop_interval_seconds: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            provider: ProviderKind::Sandbox,
            sandbox: SandboxSettings::default(),
            stripe: StripeConfig::default(),
            clearance_period_seconds: DEFAULT_CLEARANCE_PERIOD_SECONDS,
            minimum_withdrawal_minor: DEFAULT_MINIMUM_WITHDRAWAL_MINOR,
            invoice_prefix: "GM".to_owned(),
            checkout_base_url: "http://127.0.0.1:8080/checkout/sandbox".to_owned(),
            loop_interval_seconds: 1,
        }
    }
}

impl Validate for Config {
    fn validate(&self, path: &str, problems: &mut Problems) {
        match self.provider {
            ProviderKind::Sandbox => {
                if self.sandbox.webhook_secret.expose().len() < 16 {
                    problems.add(
                        path,
                        "sandbox.webhook_secret",
                        "must be at least 16 characters",
                    );
                }
            }
            ProviderKind::Stripe => {
                if self.stripe.api_key.expose().is_empty() {
                    problems.add(
                        path,
                        "stripe.api_key",
                        "is required with provider = \"stripe\"",
                    );
                }
                if self.stripe.webhook_secret.expose().is_empty() {
                    problems.add(
                        path,
                        "stripe.webhook_secret",
                        "is required with provider = \"stripe\"",
                    );
                }
                if !self.stripe.api_base_url.starts_with("https://")
                    && !self.stripe.api_base_url.starts_with("http://127.0.0.1")
                    && !self.stripe.api_base_url.starts_with("http://localhost")
                {
                    problems.add(path, "stripe.api_base_url", "must be an https URL");
                }
            }
        }
        if self.clearance_period_seconds < 0 {
            problems.add(path, "clearance_period_seconds", "must not be negative");
        }
        if self.minimum_withdrawal_minor < 1 {
            problems.add(path, "minimum_withdrawal_minor", "must be at least 1");
        }
        let prefix_ok = !self.invoice_prefix.is_empty()
            && self.invoice_prefix.len() <= 10
            && self
                .invoice_prefix
                .chars()
                .all(|character| character.is_ascii_alphanumeric());
        if !prefix_ok {
            problems.add(path, "invoice_prefix", "must be 1 to 10 letters or digits");
        }
        if !self.checkout_base_url.starts_with("https://")
            && !self.checkout_base_url.starts_with("http://")
        {
            problems.add(path, "checkout_base_url", "must be an http(s) URL");
        }
        if self.loop_interval_seconds < 1 {
            problems.add(path, "loop_interval_seconds", "must be at least 1");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_stripe_needs_its_secrets() {
        let parsed: Config = serde_json::from_str("{}").expect("config");
        assert_eq!(parsed.provider, ProviderKind::Sandbox);
        assert_eq!(parsed.clearance_period_seconds, 14 * 86_400);
        assert!(gigmesh_config::check(&parsed, "payments.settings").is_ok());

        let stripe: Config = serde_json::from_str(r#"{"provider": "stripe"}"#).expect("config");
        let error = gigmesh_config::check(&stripe, "payments.settings").expect_err("refused");
        let text = error.to_string();
        assert!(text.contains("payments.settings.stripe.api_key"), "{text}");
        assert!(
            text.contains("payments.settings.stripe.webhook_secret"),
            "{text}"
        );
        assert!(!text.contains("sk_"), "{text}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(serde_json::from_str::<Config>(r#"{"nope": 1}"#).is_err());
    }
}
