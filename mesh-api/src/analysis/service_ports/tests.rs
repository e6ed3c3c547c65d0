use crate::analysis::cases::{Case, check};

pub(crate) const CASES: &[Case] = &[
    Case::new(
        "port names outside the convention; appProtocol, UDP and well-known ports are fine",
        "apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  ports:
  - {name: web, port: 80, targetPort: 8080}
  - {port: 81}
  - {name: web2, port: 82, appProtocol: http}
  - {name: http-alt, port: 83}
  - {name: dns, port: 53, protocol: UDP}
  - {name: db, port: 3306}
  - {name: GRPC-web-ui, port: 84}
  - {name: http, port: 85, appProtocol: custom}
---
apiVersion: v1
kind: Service
metadata: {name: istiod, namespace: istio-system, labels: {istio: pilot}}
spec: {ports: [{name: grpc-xds, port: 15010}, {name: webhook, port: 15017}]}
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system}
spec: {ports: [{name: metrics, port: 9153}]}
",
        &[
            "IST0118 Service default/web: Port name web (port: 80, targetPort: 8080) doesn't follow the naming convention of Istio port.",
            "IST0118 Service default/web: Port name  (port: 81, targetPort: 0) doesn't follow the naming convention of Istio port.",
            "IST0118 Service default/web: Port name http (port: 85, targetPort: 0) doesn't follow the naming convention of Istio port.",
        ],
    ),
    Case::new(
        "ExternalName Services: unnamed-protocol and tcp ports",
        "apiVersion: v1
kind: Service
metadata: {name: nginx, namespace: nginx-ns}
spec:
  type: ExternalName
  externalName: nginx.example.com
  ports:
  - {name: tcp, port: 80}
  - {name: web, port: 81}
  - {name: https, port: 443}
",
        &[
            "IST0150 Service nginx-ns/nginx: Port name for ExternalName service is invalid. Proxy may prevent tcp named ports and unmatched traffic for ports serving TCP protocol from being forwarded correctly",
            "IST0150 Service nginx-ns/nginx: Port name for ExternalName service is invalid. Proxy may prevent tcp named ports and unmatched traffic for ports serving TCP protocol from being forwarded correctly",
        ],
    ),
];

#[test]
fn service_port_cases() {
    check(CASES);
}
