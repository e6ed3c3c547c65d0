//! `open` against a scripted API server: which Secrets are read, when the Lease is
//! taken, what is created, and what a replica that loses does.

use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::ca::authority::{CA_CERT, CA_KEY, CERT_CHAIN, ROOT_CERT};
use crate::ca::ca_dir::TOKEN_KEY;
use crate::ca::kube::mock::{self, Exchange};
use crate::ca::testing::TestRoot;

const SECRETS: &str = "/api/v1/namespaces/mesh-system/secrets";
const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/mesh-system/leases";
const ME: &str = "mesh-control-7d9f_0a1b2c3d";

fn config() -> KubeCaConfig {
    KubeCaConfig {
        namespace: "mesh-system".into(),
        trust_domain: "cluster.local".into(),
        key_type: CaKeyType::EcdsaP256,
        lifetimes: LifetimePolicy {
            default: Duration::from_secs(3600),
            max: Duration::from_secs(86_400),
        },
        holder_identity: ME.into(),
    }
}

/// A Secret as the API server returns it (data in base64).
pub(crate) fn secret_json(name: &str, data: &[(&str, &str)]) -> Value {
    use base64::Engine as _;
    let data: serde_json::Map<String, Value> = data
        .iter()
        .map(|(k, v)| {
            let encoded = base64::engine::general_purpose::STANDARD.encode(v);
            (k.to_string(), json!(encoded))
        })
        .collect();
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": "mesh-system",
            "uid": "3f0c1c9e-5a43-4b55-9c1e-0d6f2f1a7c11",
            "resourceVersion": "4711",
            "creationTimestamp": "2026-12-01T09:00:00Z",
        },
        "type": "Opaque",
        "data": data,
    })
}

fn self_signed_json(root: &TestRoot) -> Value {
    let (cert, key) = (root.pem(), root.key.serialize_pem());
    secret_json(
        SELF_SIGNED_SECRET,
        &[
            (CA_CERT, &cert),
            (CA_KEY, &key),
            (CERT_CHAIN, ""),
            (ROOT_CERT, ""),
        ],
    )
}

fn token_key_json() -> Value {
    let (_, pem) = new_token_key().unwrap();
    secret_json(TOKEN_KEY_SECRET, &[(TOKEN_KEY, &pem)])
}

fn get_secret(name: &str) -> Exchange {
    Exchange::get(&format!("{SECRETS}/{name}"))
}

/// The three reads of `load`, none found.
fn nothing_found() -> Vec<Exchange> {
    vec![
        get_secret(PLUGIN_SECRET).not_found("secrets", PLUGIN_SECRET),
        get_secret(SELF_SIGNED_SECRET).not_found("secrets", SELF_SIGNED_SECRET),
        get_secret(TOKEN_KEY_SECRET).not_found("secrets", TOKEN_KEY_SECRET),
    ]
}

fn lease_json(holder: &str, resource_version: &str, transitions: i32) -> Value {
    json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": LEASE_NAME,
            "namespace": "mesh-system",
            "resourceVersion": resource_version,
        },
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": 30,
            "acquireTime": "2026-12-03T10:00:00.000000Z",
            "renewTime": "2026-12-03T10:00:00.000000Z",
            "leaseTransitions": transitions,
        },
    })
}

async fn open_with(
    script: Vec<Exchange>,
) -> (Result<CertificateAuthority, KubeCaError>, Vec<Value>) {
    let (client, server) = mock::client();
    let served = server.run(script);
    let opened = open(client, &config()).await;
    let bodies = tokio::time::timeout(Duration::from_secs(1), served)
        .await
        .expect("the script was not finished")
        .unwrap();
    (opened, bodies)
}

#[tokio::test]
async fn a_plugin_cacerts_secret_is_the_ca() {
    let root = TestRoot::new();
    let intermediate = root.intermediate();
    let (cert, key) = (intermediate.pem(), intermediate.key.serialize_pem());
    let chain = intermediate.pem() + &root.pem();
    let cacerts = secret_json(
        PLUGIN_SECRET,
        &[
            (CA_CERT, &cert),
            (CA_KEY, &key),
            (CERT_CHAIN, &chain),
            (ROOT_CERT, &root.pem()),
        ],
    );
    let (ca, _) = open_with(vec![
        get_secret(PLUGIN_SECRET).reply(200, cacerts),
        get_secret(TOKEN_KEY_SECRET).reply(200, token_key_json()),
    ])
    .await;
    let ca = ca.unwrap();
    assert_eq!(ca.authority().chain()[0], intermediate.cert);
    assert_eq!(
        ca.authority().bundle().roots(),
        std::slice::from_ref(&root.cert)
    );
}

#[tokio::test]
async fn a_broken_cacerts_secret_is_refused_naming_the_secret_and_key() {
    let root = TestRoot::new();
    let cacerts = secret_json(
        PLUGIN_SECRET,
        &[(CA_CERT, &root.pem()), (ROOT_CERT, &root.pem())],
    );
    let (ca, _) = open_with(vec![get_secret(PLUGIN_SECRET).reply(200, cacerts)]).await;
    let error = ca.unwrap_err().to_string();
    assert!(
        error.contains("Secret mesh-system/cacerts has no (or an empty) ca-key.pem"),
        "{error}"
    );
    assert!(
        error.contains("kubectl create secret generic cacerts -n mesh-system"),
        "{error}"
    );
}

#[tokio::test]
async fn istio_ca_secret_is_loaded_when_there_is_no_plugin_ca() {
    let root = TestRoot::new();
    let (ca, _) = open_with(vec![
        get_secret(PLUGIN_SECRET).not_found("secrets", PLUGIN_SECRET),
        get_secret(SELF_SIGNED_SECRET).reply(200, self_signed_json(&root)),
        get_secret(TOKEN_KEY_SECRET).reply(200, token_key_json()),
    ])
    .await;
    // Istio's own istio-ca-secret leaves root-cert.pem empty: ca-cert.pem is the root.
    assert_eq!(
        ca.unwrap().authority().bundle().roots(),
        std::slice::from_ref(&root.cert)
    );
}

/// The exchanges of a replica that takes the Lease (created, resourceVersion 100)
/// and creates both Secrets, the root's answered by `root_created`: the root's
/// Secret is request 8, the token key's request 9.
fn create_under_lease(root_created: Exchange) -> Vec<Exchange> {
    let mut script = nothing_found();
    script.push(
        Exchange::get(&format!("{LEASES}/{LEASE_NAME}"))
            .not_found("leases.coordination.k8s.io", LEASE_NAME),
    );
    script.push(
        Exchange::post(
            &format!("{LEASES}?"),
            json!({
                "metadata": { "name": LEASE_NAME },
                "spec": { "holderIdentity": ME, "leaseDurationSeconds": 30, "leaseTransitions": 0 },
            }),
        )
        .echo(
            201,
            json!({ "metadata": { "namespace": "mesh-system", "resourceVersion": "100" } }),
        ),
    );
    script.extend(nothing_found());
    script.push(root_created);
    script.push(
        Exchange::post(
            &format!("{SECRETS}?"),
            json!({ "metadata": { "name": TOKEN_KEY_SECRET }, "type": "Opaque" }),
        )
        .echo(201, json!({ "metadata": { "resourceVersion": "102" } })),
    );
    // Released: no holder, with the resourceVersion the create returned.
    script.push(
        Exchange::put(
            &format!("{LEASES}/{LEASE_NAME}?"),
            json!({
                "metadata": { "name": LEASE_NAME, "resourceVersion": "100" },
                "spec": { "holderIdentity": null, "leaseDurationSeconds": 1 },
            }),
        )
        .echo(200, json!({ "metadata": { "resourceVersion": "103" } })),
    );
    script
}

fn root_secret_post() -> Exchange {
    Exchange::post(
        &format!("{SECRETS}?"),
        json!({
            "metadata": {
                "name": SELF_SIGNED_SECRET,
                "namespace": "mesh-system",
                "labels": { "app.kubernetes.io/managed-by": "mesh-control" },
            },
            "type": "istio.io/ca-root",
        }),
    )
}

#[tokio::test]
async fn the_first_replica_takes_the_lease_and_creates_the_root_once() {
    let mut script = create_under_lease(
        root_secret_post().echo(201, json!({ "metadata": { "resourceVersion": "101" } })),
    );
    // After the release: the Secrets just created are loaded.
    script.push(get_secret(PLUGIN_SECRET).not_found("secrets", PLUGIN_SECRET));
    script.push(get_secret(SELF_SIGNED_SECRET).recall(
        200,
        8,
        json!({ "metadata": { "resourceVersion": "101" } }),
    ));
    script.push(get_secret(TOKEN_KEY_SECRET).recall(
        200,
        9,
        json!({ "metadata": { "resourceVersion": "102" } }),
    ));
    let (ca, bodies) = open_with(script).await;
    let ca = ca.unwrap();
    let created = &bodies[8];
    for key in [CA_CERT, CA_KEY, CERT_CHAIN, ROOT_CERT] {
        assert!(created["data"][key].is_string(), "{key} in {created}");
    }
    // The loaded root is the one created.
    let root_pem = &created["data"][ROOT_CERT];
    assert_eq!(json!(base64_of(&ca.authority().bundle().pem())), *root_pem);
}

#[tokio::test]
async fn a_replica_whose_create_meets_another_root_loads_that_one() {
    let theirs = TestRoot::new();
    let mut script =
        create_under_lease(root_secret_post().already_exists("secrets", SELF_SIGNED_SECRET));
    script.push(get_secret(PLUGIN_SECRET).not_found("secrets", PLUGIN_SECRET));
    script.push(get_secret(SELF_SIGNED_SECRET).reply(200, self_signed_json(&theirs)));
    script.push(get_secret(TOKEN_KEY_SECRET).recall(200, 9, json!({})));
    let (ca, _) = open_with(script).await;
    assert_eq!(
        ca.unwrap().authority().bundle().roots(),
        std::slice::from_ref(&theirs.cert)
    );
}

#[tokio::test(start_paused = true)]
async fn a_replica_that_finds_the_lease_held_waits_and_loads_the_winners_root() {
    let theirs = TestRoot::new();
    let mut script = nothing_found();
    script.push(
        Exchange::get(&format!("{LEASES}/{LEASE_NAME}"))
            .reply(200, lease_json("mesh-control-5c8b_ffee0011", "7", 0)),
    );
    // Two seconds later the winner is done.
    script.push(get_secret(PLUGIN_SECRET).not_found("secrets", PLUGIN_SECRET));
    script.push(get_secret(SELF_SIGNED_SECRET).reply(200, self_signed_json(&theirs)));
    script.push(get_secret(TOKEN_KEY_SECRET).reply(200, token_key_json()));
    let started = tokio::time::Instant::now();
    let (ca, bodies) = open_with(script).await;
    assert_eq!(
        ca.unwrap().authority().bundle().roots(),
        std::slice::from_ref(&theirs.cert)
    );
    assert_eq!(started.elapsed(), lease::RETRY_INTERVAL);
    assert!(
        bodies.iter().all(Value::is_null),
        "a waiting replica writes nothing"
    );
}

#[tokio::test(start_paused = true)]
async fn a_lease_unrenewed_for_its_duration_is_taken_over_with_its_resource_version() {
    let mut script = Vec::new();
    // Seen unchanged at 0 s, 2 s, … 28 s: held; at 30 s: expired.
    for _ in 0..16 {
        script.extend(nothing_found());
        script.push(
            Exchange::get(&format!("{LEASES}/{LEASE_NAME}"))
                .reply(200, lease_json("mesh-control-5c8b_ffee0011", "7", 3)),
        );
    }
    script.push(
        Exchange::put(
            &format!("{LEASES}/{LEASE_NAME}?"),
            json!({
                "metadata": { "name": LEASE_NAME, "resourceVersion": "7" },
                "spec": { "holderIdentity": ME, "leaseDurationSeconds": 30, "leaseTransitions": 4 },
            }),
        )
        .echo(200, json!({ "metadata": { "resourceVersion": "8" } })),
    );
    script.extend(nothing_found());
    let root_post = script.len();
    script.push(root_secret_post().echo(201, json!({})));
    script.push(
        Exchange::post(
            &format!("{SECRETS}?"),
            json!({ "metadata": { "name": TOKEN_KEY_SECRET } }),
        )
        .echo(201, json!({})),
    );
    script.push(
        Exchange::put(
            &format!("{LEASES}/{LEASE_NAME}?"),
            json!({ "metadata": { "resourceVersion": "8" }, "spec": { "holderIdentity": null } }),
        )
        .echo(200, json!({ "metadata": { "resourceVersion": "9" } })),
    );
    script.push(get_secret(PLUGIN_SECRET).not_found("secrets", PLUGIN_SECRET));
    script.push(get_secret(SELF_SIGNED_SECRET).recall(200, root_post, json!({})));
    script.push(get_secret(TOKEN_KEY_SECRET).recall(200, root_post + 1, json!({})));
    let started = tokio::time::Instant::now();
    let (ca, _) = open_with(script).await;
    ca.unwrap();
    assert_eq!(started.elapsed(), lease::LEASE_DURATION);
}

#[tokio::test]
async fn a_lease_another_replica_created_first_is_looked_at_again() {
    let theirs = TestRoot::new();
    let mut script = nothing_found();
    script.push(
        Exchange::get(&format!("{LEASES}/{LEASE_NAME}"))
            .not_found("leases.coordination.k8s.io", LEASE_NAME),
    );
    script.push(
        Exchange::post(
            &format!("{LEASES}?"),
            json!({ "spec": { "holderIdentity": ME } }),
        )
        .already_exists("leases.coordination.k8s.io", LEASE_NAME),
    );
    script.push(get_secret(PLUGIN_SECRET).not_found("secrets", PLUGIN_SECRET));
    script.push(get_secret(SELF_SIGNED_SECRET).reply(200, self_signed_json(&theirs)));
    script.push(get_secret(TOKEN_KEY_SECRET).reply(200, token_key_json()));
    let (ca, _) = open_with(script).await;
    assert_eq!(
        ca.unwrap().authority().bundle().roots(),
        std::slice::from_ref(&theirs.cert)
    );
}

#[tokio::test]
async fn a_forbidden_read_says_which_permission_is_missing() {
    let forbidden = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "secrets \"cacerts\" is forbidden: User \"system:serviceaccount:mesh-system:mesh-control\" cannot get resource \"secrets\" in API group \"\" in the namespace \"mesh-system\"",
        "reason": "Forbidden", "details": { "name": "cacerts", "kind": "secrets" }, "code": 403,
    });
    let (ca, _) = open_with(vec![get_secret(PLUGIN_SECRET).reply(403, forbidden)]).await;
    let error = ca.unwrap_err().to_string();
    assert!(
        error.contains("cannot read Secret cacerts in namespace mesh-system"),
        "{error}"
    );
    assert!(
        error.contains("grant mesh-control's ServiceAccount get and create on secrets"),
        "{error}"
    );
}

fn base64_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}
