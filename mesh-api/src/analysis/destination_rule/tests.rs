use crate::analysis::cases::{Case, check};

pub(crate) const CASES: &[Case] = &[
    Case::new(
        "TLS origination without caCertificates does not verify the server",
        "apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db}
spec:
  hosts: [db.example.com]
  addresses: [240.0.0.10]
  ports: [{number: 5432, name: tcp-postgres, protocol: TCP}, {number: 443, name: tls, protocol: TLS}]
  resolution: DNS
  location: MESH_EXTERNAL
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: db-tls}
spec:
  host: db.example.com
  trafficPolicy: {tls: {mode: SIMPLE}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: db-mtls}
spec:
  host: db.example.com
  trafficPolicy:
    tls: {mode: ISTIO_MUTUAL}
    portLevelSettings:
    - port: {number: 443}
      tls: {mode: MUTUAL, clientCertificate: /etc/certs/client.pem, privateKey: /etc/certs/key.pem}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: db-selected}
spec:
  host: db.example.com
  workloadSelector: {matchLabels: {app: client}}
  trafficPolicy: {tls: {mode: SIMPLE, credentialName: db-ca}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: db-verified}
spec:
  host: db.example.com
  trafficPolicy: {tls: {mode: SIMPLE, caCertificates: /etc/certs/ca.pem}}
",
        &[
            "IST0128 DestinationRule default/db-tls: DestinationRule default/db-tls in namespace default has TLS mode set to SIMPLE but no caCertificates are set to validate server identity for host: db.example.com",
            "IST0129 DestinationRule default/db-mtls: DestinationRule default/db-mtls in namespace default has TLS mode set to MUTUAL but no caCertificates are set to validate server identity for host: db.example.com at port number:443",
        ],
    ),
    Case::new(
        "hosts that no service defines where the rule is, exportTo included",
        "apiVersion: v1
kind: Service
metadata:
  name: api
  namespace: team-a
  annotations: {networking.istio.io/exportTo: '.'}
spec:
  ports: [{name: http, port: 80}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ghost}
spec: {host: ghost}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: private, namespace: team-b}
spec: {host: api.team-a.svc.cluster.local}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: local, namespace: team-a}
spec: {host: api}
",
        &[
            "IST0174 DestinationRule default/ghost: The host ghost defined in the DestinationRule does not match any services in the mesh.",
            "IST0174 DestinationRule team-b/private: The host api.team-a.svc.cluster.local defined in the DestinationRule does not match any services in the mesh.",
        ],
    ),
    Case::new(
        "subsets select pods (with their node's topology labels) and WorkloadEntries",
        "apiVersion: v1
kind: Service
metadata: {name: reviews}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080}]
---
apiVersion: v1
kind: Node
metadata:
  name: node-1
  labels: {topology.kubernetes.io/region: us-west, topology.kubernetes.io/zone: us-west-1a}
---
apiVersion: v1
kind: Pod
metadata: {name: reviews-v1, labels: {app: reviews, version: v1}}
spec:
  nodeName: node-1
  containers: [{name: reviews, image: reviews}]
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: reviews-vm}
spec: {address: 10.0.0.9, labels: {app: reviews, version: vm}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: west, labels: {topology.kubernetes.io/region: us-west}}
  - {name: vm, labels: {version: vm}}
  - {name: v9, labels: {version: v9}}
",
        &[
            "IST0173 DestinationRule default/reviews: The Subset v9 defined in the DestinationRule does not select any pods. Which may lead to 503 UH (NoHealthyUpstream).",
        ],
    ),
];

#[test]
fn destination_rule_cases() {
    check(CASES);
}
