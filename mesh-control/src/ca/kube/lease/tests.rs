use super::*;

fn lease(holder: Option<&str>, resource_version: &str, seconds: Option<i32>) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(LEASE_NAME.into()),
            resource_version: Some(resource_version.into()),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: holder.map(str::to_string),
            lease_duration_seconds: seconds,
            ..LeaseSpec::default()
        }),
    }
}

#[test]
fn a_lease_without_holder_or_held_by_this_candidate_is_free() {
    let now = Instant::now();
    let mut seen = None;
    assert_eq!(
        assess(&lease(None, "1", Some(30)), "me", &mut seen, now),
        Assessment::Free
    );
    assert_eq!(
        assess(&lease(Some(""), "1", Some(1)), "me", &mut seen, now),
        Assessment::Free
    );
    assert_eq!(
        assess(&lease(Some("me"), "1", Some(30)), "me", &mut seen, now),
        Assessment::Free
    );
    assert_eq!(seen, None);
}

#[test]
fn a_held_lease_expires_its_duration_after_this_candidate_first_saw_that_record() {
    let start = Instant::now();
    let mut seen = None;
    let held = lease(Some("other"), "7", Some(15));
    assert_eq!(
        assess(&held, "me", &mut seen, start),
        Assessment::Held {
            holder: "other".into(),
            remaining: Duration::from_secs(15)
        }
    );
    assert_eq!(
        assess(&held, "me", &mut seen, start + Duration::from_secs(10)),
        Assessment::Held {
            holder: "other".into(),
            remaining: Duration::from_secs(5)
        }
    );
    // Renewed: a new record, a new wait.
    let renewed = lease(Some("other"), "8", Some(15));
    let later = start + Duration::from_secs(14);
    assert_eq!(
        assess(&renewed, "me", &mut seen, later),
        Assessment::Held {
            holder: "other".into(),
            remaining: Duration::from_secs(15)
        }
    );
    assert_eq!(
        assess(&renewed, "me", &mut seen, later + Duration::from_secs(15)),
        Assessment::Expired {
            holder: "other".into()
        }
    );
}

#[test]
fn a_lease_without_a_valid_duration_gets_the_default() {
    let now = Instant::now();
    let mut seen = None;
    assert_eq!(
        assess(&lease(Some("other"), "3", Some(0)), "me", &mut seen, now),
        Assessment::Held {
            holder: "other".into(),
            remaining: LEASE_DURATION
        }
    );
}
