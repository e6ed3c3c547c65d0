use crate::analysis::cases::{Case, check};

const ENTRIES: &str = "apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: tcp-without-addresses}
spec:
  hosts: [db.example.com]
  ports:
  - {number: 5432, name: postgres}
  - {number: 5433, name: tcp, protocol: tcp}
  - {number: 80, name: http, protocol: HTTP}
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: with-addresses}
spec:
  hosts: [cache.example.com]
  addresses: [240.0.0.2]
  ports: [{number: 6379, name: redis, protocol: TCP}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: allocated}
spec:
  hosts: [queue.example.com]
  ports: [{number: 5672, name: amqp, protocol: TCP}]
  resolution: DNS
status:
  addresses: [{value: 240.240.0.9}]
";

pub(crate) const CASES: &[Case] = &[
    Case::new(
        "TCP ports need addresses unless some are set or allocated",
        ENTRIES,
        &[
            "IST0134 ServiceEntry default/tcp-without-addresses: ServiceEntry addresses are required for this protocol.",
            "IST0134 ServiceEntry default/tcp-without-addresses: ServiceEntry addresses are required for this protocol.",
        ],
    ),
    Case::new(
        "a mesh that captures DNS and allocates addresses needs none",
        ENTRIES,
        &[],
    )
    .with_mesh_config(
        "defaultConfig:\n  proxyMetadata: {ISTIO_META_DNS_CAPTURE: \"true\", ISTIO_META_DNS_AUTO_ALLOCATE: \"true\"}\n",
    ),
    Case::new(
        "one host and port with two protocols where both entries are visible",
        "apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: se-http}
spec:
  hosts: [api.example.com]
  ports: [{number: 443, name: http, protocol: HTTP}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: se-https}
spec:
  hosts: [api.example.com]
  ports: [{number: 443, name: https, protocol: HTTPS}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: local-tls, namespace: team-a}
spec:
  hosts: [internal.example.com]
  exportTo: ['.']
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: local-https, namespace: team-b}
spec:
  hosts: [internal.example.com]
  exportTo: ['.']
  ports: [{number: 443, name: https, protocol: HTTPS}]
  resolution: DNS
",
        &[
            "IST0177 ServiceEntry default/se-http: Multiple ServiceEntries (default/se-http, default/se-https) define the same host \"api.example.com\" and port 443 with conflicting protocols (HTTP, HTTPS).",
            "IST0177 ServiceEntry default/se-https: Multiple ServiceEntries (default/se-http, default/se-https) define the same host \"api.example.com\" and port 443 with conflicting protocols (HTTP, HTTPS).",
        ],
    ),
];

#[test]
fn service_entry_cases() {
    check(CASES);
}
