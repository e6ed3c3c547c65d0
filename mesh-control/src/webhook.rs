//! The admission webhooks (HTTPS on 15017): `/inject` ([`inject`], the sidecar
//! injector) and `/validate`.

pub mod inject;
