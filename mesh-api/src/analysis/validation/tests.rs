use crate::analysis::cases::{Case, check};

pub(crate) const CASES: &[Case] = &[Case::new(
    "what Istio's validation rejects though the schema admits it",
    "apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: empty, namespace: istio-system}
spec: {selector: {istio: ingressgateway}}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: sloppy, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [a.example.com]
  - port: {number: 80, name: https, protocol: HTTP3}
    hosts: [b.example.com]
  - port: {number: 15443, name: tls, protocol: TLS}
    hosts: []
    tls: {mode: PASSTHROUGH}
  - port: {number: 0, name: grpc, protocol: GRPC}
    hosts: [c.example.com]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: nameless}
spec: {hosts: [], addresses: [240.0.0.3], ports: [{number: 80, name: http, protocol: HTTP}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: twice}
spec:
  host: api.example.com
  subsets: [{name: v1, labels: {version: v1}}, {name: v1, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api}
spec: {hosts: [api.example.com], addresses: [240.0.0.4], ports: [{number: 80, name: http, protocol: HTTP}]}
---
apiVersion: v1
kind: Pod
metadata: {name: api-0, labels: {version: v1}}
spec: {containers: [{name: api, image: api}]}
---
apiVersion: v1
kind: Pod
metadata: {name: api-1, labels: {version: v2}}
spec: {containers: [{name: api, image: api}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api}
spec:
  hosts: [api.example.com]
  http:
  - match: [{uri: {prefix: /a}}]
  - match: [{uri: {prefix: /b}}]
    route: [{destination: {host: api.example.com}}]
    redirect: {uri: /c}
  - route: [{destination: {host: api.example.com}}]
    mirror: {host: api.example.com}
    mirrors: [{destination: {host: api.example.com}}]
  tls:
  - route: [{destination: {host: api.example.com}}]
  tcp:
  - match: [{port: 81}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: everything}
spec:
  hosts: ['*', everything.example.com]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: claims}
spec:
  hosts: [claims.example.com]
  gateways: [mesh]
  http:
  - match: [{headers: {'@request.auth.claims.group': {exact: admin}}}]
    route: [{destination: {host: api.example.com}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: delegate}
spec:
  tcp:
  - route: [{destination: {host: api.example.com, port: {number: 80}}}]
",
    &[
        "IST0106 Gateway istio-system/empty: gateway must have at least one server",
        "IST0106 Gateway istio-system/sloppy: port number 0 must be in the range 1..65535",
        "IST0162 Gateway istio-system/sloppy: The gateway is listening on a target port (port 0) that is not defined in the Service associated with its workload instances (Pod selector istio=ingressgateway). If you need to access the gateway port through the gateway Service, it will not be available.",
        "IST0106 VirtualService default/everything: wildcard host * is not allowed for virtual services bound to the mesh gateway",
        "IST0106 VirtualService default/everything: duplicate hosts in virtual service: * & everything.example.com",
        "IST0106 VirtualService default/everything: http, tcp or tls must be provided in virtual service",
        "IST0106 VirtualService default/claims: JWT claim based routing (key: @request.auth.claims.group) is only supported for gateway, found no gateways: [mesh]",
        "IST0106 VirtualService default/delegate: delegate virtual service must have no tcp route specified",
        "IST0106 Gateway istio-system/sloppy: server must have TLS settings for HTTPS/TLS protocols",
        "IST0106 Gateway istio-system/sloppy: invalid protocol \"HTTP3\", supported protocols are HTTP, HTTP2, GRPC, GRPC-WEB, MONGO, REDIS, MYSQL, TCP",
        "IST0106 Gateway istio-system/sloppy: port names in servers must be unique: duplicate name https",
        "IST0106 Gateway istio-system/sloppy: server config must contain at least one host",
        "IST0106 ServiceEntry default/nameless: service entry must have at least one host",
        "IST0106 DestinationRule default/twice: duplicate subset names: v1",
        "IST0106 VirtualService default/api: HTTP route, redirect or direct_response is required",
        "IST0106 VirtualService default/api: HTTP route cannot contain both route and redirect",
        "IST0106 VirtualService default/api: HTTP route cannot contain both mirror and mirrors",
        "IST0106 VirtualService default/api: missing field `match`",
        "IST0106 VirtualService default/api: TCP route is required",
    ],
)];

#[test]
fn validation_cases() {
    check(CASES);
}
