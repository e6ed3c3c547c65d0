//! The record of issued certificates that `/debug/certificates` shows: the latest
//! few thousand, so that a long-running CA keeps bounded memory.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::SystemTime;

use mesh_api::debug;

use super::clock::utc;

/// How many certificates are remembered (about 200 bytes each).
pub const REMEMBERED: usize = 4096;

/// How the caller proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    Token,
    Certificate,
}

/// One issued certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedRecord {
    /// `NAME.NAMESPACE`, when known.
    pub workload: Option<String>,
    pub identity: String,
    pub serial: String,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    pub issued_at: SystemTime,
    pub credential: Credential,
}

/// The latest issued certificates, oldest first.
#[derive(Debug, Default)]
pub struct IssuedCertificates {
    records: Mutex<VecDeque<IssuedRecord>>,
}

impl IssuedCertificates {
    pub fn record(&self, record: IssuedRecord) {
        let mut records = self.lock();
        if records.len() == REMEMBERED {
            records.pop_front();
        }
        records.push_back(record);
    }

    /// The workload a certificate was issued to: a renewal with a client certificate
    /// carries no workload name, its first certificate's record does.
    pub fn workload_of(&self, serial: &str) -> Option<String> {
        self.lock()
            .iter()
            .rev()
            .find(|r| r.serial.eq_ignore_ascii_case(serial))
            .and_then(|r| r.workload.clone())
    }

    /// Grouped by workload and identity, each group's certificates oldest first.
    pub fn view(&self) -> debug::IssuedCertificates {
        let mut groups: BTreeMap<(String, String), Vec<debug::IssuedCertificate>> = BTreeMap::new();
        for r in self.lock().iter() {
            let key = (r.workload.clone().unwrap_or_default(), r.identity.clone());
            groups
                .entry(key)
                .or_default()
                .push(debug::IssuedCertificate {
                    serial: r.serial.clone(),
                    not_before: utc(r.not_before),
                    not_after: utc(r.not_after),
                    issued_at: utc(r.issued_at),
                    credential: match r.credential {
                        Credential::Token => "token",
                        Credential::Certificate => "certificate",
                    }
                    .to_string(),
                });
        }
        debug::IssuedCertificates {
            workloads: groups
                .into_iter()
                .map(
                    |((workload, identity), certificates)| debug::WorkloadCertificates {
                        workload,
                        identity,
                        certificates,
                    },
                )
                .collect(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<IssuedRecord>> {
        // A panic while holding the lock leaves a list that is still whole.
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(serial: &str, workload: Option<&str>) -> IssuedRecord {
        IssuedRecord {
            workload: workload.map(str::to_string),
            identity: "spiffe://cluster.local/ns/shop/sa/web".into(),
            serial: serial.into(),
            not_before: SystemTime::UNIX_EPOCH,
            not_after: SystemTime::UNIX_EPOCH,
            issued_at: SystemTime::UNIX_EPOCH,
            credential: Credential::Token,
        }
    }

    #[test]
    fn the_record_is_bounded_and_grouped_by_workload() {
        let issued = IssuedCertificates::default();
        for i in 0..REMEMBERED + 10 {
            issued.record(record(&format!("{i:x}"), Some("web-1.shop")));
        }
        issued.record(record("ff", Some("web-2.shop")));
        let view = issued.view();
        assert_eq!(view.workloads.len(), 2);
        assert_eq!(view.workloads[0].workload, "web-1.shop");
        assert_eq!(view.workloads[0].certificates.len(), REMEMBERED - 1);
        // The oldest went first.
        assert_eq!(view.workloads[0].certificates[0].serial, "b");
        assert_eq!(issued.workload_of("FF").as_deref(), Some("web-2.shop"));
        assert_eq!(issued.workload_of("0"), None);
    }
}
