use crate::analysis::cases::{Case, check};

pub(crate) const CASES: &[Case] = &[
    Case::new(
        "Services of a meshed Deployment disagreeing on a port's protocol or a target port's port",
        "apiVersion: v1
kind: Namespace
metadata: {name: bookinfo, labels: {istio-injection: enabled}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: multiple-svc, namespace: bookinfo}
spec:
  template:
    metadata: {labels: {app: multi}}
    spec: {containers: [{name: app, image: app}]}
---
apiVersion: v1
kind: Service
metadata: {name: multi-tcp, namespace: bookinfo}
spec:
  selector: {app: multi}
  ports: [{name: http, port: 8080, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata: {name: multi-udp, namespace: bookinfo}
spec:
  selector: {app: multi}
  ports: [{name: udp-stats, port: 8080, protocol: UDP}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: conflicting-ports, namespace: bookinfo}
spec:
  template:
    metadata: {labels: {app: conflicting}}
    spec: {containers: [{name: app, image: app}]}
---
apiVersion: v1
kind: Service
metadata: {name: conflicting-a, namespace: bookinfo}
spec:
  selector: {app: conflicting}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: conflicting-b, namespace: bookinfo}
spec:
  selector: {app: conflicting}
  ports: [{name: http, port: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: outside-mesh}
spec:
  template:
    metadata: {labels: {app: outside}}
    spec: {containers: [{name: app, image: app}]}
---
apiVersion: v1
kind: Service
metadata: {name: outside-a}
spec:
  selector: {app: outside}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: outside-b}
spec:
  selector: {app: outside}
  ports: [{name: http, port: 8080}]
",
        &[
            "IST0116 Deployment bookinfo/multiple-svc: This deployment multiple-svc is associated with multiple services using port 8080 but different protocols: [bookinfo/multi-tcp bookinfo/multi-udp]",
            "IST0137 Deployment bookinfo/conflicting-ports: This deployment conflicting-ports is associated with multiple services [bookinfo/conflicting-a bookinfo/conflicting-b] using targetPort \"8080\" but different ports: [80 8080].",
        ],
    ),
    Case::new(
        "applications running as the sidecar's UID",
        "apiVersion: v1
kind: Pod
metadata: {name: pod-uid}
spec:
  securityContext: {runAsUser: 1337}
  containers: [{name: app, image: app, securityContext: {runAsUser: 1337}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: deploy-uid}
spec:
  template:
    spec:
      containers:
      - {name: istio-proxy, image: proxyv2, securityContext: {runAsUser: 1337}}
      - {name: app, image: app, securityContext: {runAsUser: 1337}}
---
apiVersion: v1
kind: Pod
metadata: {name: sidecar-only}
spec: {containers: [{name: istio-proxy, image: proxyv2, securityContext: {runAsUser: 1337}}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: istio-ingressgateway, labels: {istio: ingressgateway}}
spec:
  template:
    spec: {securityContext: {runAsUser: 1337}, containers: [{name: gateway, image: proxyv2}]}
",
        &[
            "IST0144 Pod default/pod-uid: User ID (UID) 1337 is reserved for the sidecar proxy.",
            "IST0144 Deployment default/deploy-uid: User ID (UID) 1337 is reserved for the sidecar proxy.",
        ],
    ),
];

#[test]
fn deployment_cases() {
    check(CASES);
}
