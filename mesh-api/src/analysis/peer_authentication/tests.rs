use crate::analysis::cases::{Case, check};

pub(crate) const CASES: &[Case] = &[
    Case::new(
        "two PeerAuthentications at the same level for the same workloads",
        "apiVersion: v1
kind: Pod
metadata: {name: reviews-v1, namespace: bookinfo, labels: {app: reviews, version: v1}}
spec: {containers: [{name: reviews, image: reviews}]}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: strict, namespace: bookinfo}
spec: {mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: permissive, namespace: bookinfo}
spec: {mtls: {mode: PERMISSIVE}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: mesh, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: by-app, namespace: bookinfo}
spec: {selector: {matchLabels: {app: reviews}}, mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: by-version, namespace: bookinfo}
spec: {selector: {matchLabels: {version: v1}}, mtls: {mode: DISABLE}}
",
        &[
            "MSH0004 PeerAuthentication bookinfo/permissive: conflicts with PeerAuthentication bookinfo/strict: both are namespace-wide for \"bookinfo\" (no selector); only one such PeerAuthentication takes effect (the oldest)",
            "MSH0004 PeerAuthentication bookinfo/by-version: conflicts with PeerAuthentication bookinfo/by-app: both select Pod bookinfo/reviews-v1; only one takes effect (the oldest)",
        ],
    ),
    Case::new(
        "a DestinationRule's TLS mode that the workloads behind the host refuse",
        "apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: bookinfo}
spec:
  selector: {app: ratings}
  ports: [{name: http, port: 9080}]
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: ratings-v1, namespace: bookinfo}
spec: {address: 10.0.0.7, labels: {app: ratings}}
---
apiVersion: v1
kind: Service
metadata: {name: legacy, namespace: bookinfo}
spec:
  selector: {app: legacy}
  ports: [{name: http, port: 9080}]
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: legacy-0, namespace: bookinfo}
spec: {address: 10.0.0.8, labels: {app: legacy}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: mesh, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: legacy, namespace: bookinfo}
spec: {selector: {matchLabels: {app: legacy}}, mtls: {mode: DISABLE}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings, namespace: bookinfo}
spec: {host: ratings, trafficPolicy: {tls: {mode: DISABLE}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: legacy, namespace: bookinfo}
spec: {host: legacy.bookinfo.svc.cluster.local, trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}}
",
        &[
            "MSH0006 DestinationRule bookinfo/ratings: sends plain text (tls.mode DISABLE) to \"ratings\", but WorkloadEntry bookinfo/ratings-v1 requires mode STRICT (PeerAuthentication istio-system/mesh): its requests fail",
            "MSH0006 DestinationRule bookinfo/legacy: sends mTLS (tls.mode ISTIO_MUTUAL) to \"legacy.bookinfo.svc.cluster.local\", but WorkloadEntry bookinfo/legacy-0 requires mode DISABLE (PeerAuthentication bookinfo/legacy): its requests fail",
        ],
    ),
];

#[test]
fn peer_authentication_cases() {
    check(CASES);
}
