use crate::analysis::cases::{Case, check};

/// Services `reviews` (one port) and `ratings` (two) in `default`, a pod of reviews v1,
/// and a DestinationRule with subset v1.
macro_rules! bookinfo {
    () => {
        "apiVersion: v1
kind: Service
metadata: {name: reviews}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080}]
---
apiVersion: v1
kind: Service
metadata: {name: ratings}
spec:
  selector: {app: ratings}
  ports: [{name: http, port: 9080}, {name: grpc, port: 9090}]
---
apiVersion: v1
kind: Pod
metadata: {name: reviews-v1-0, labels: {app: reviews, version: v1}}
spec:
  containers: [{name: app, image: reviews}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets: [{name: v1, labels: {version: v1}}]
---
"
    };
}

/// A Gateway for every host on the default ingress gateway.
macro_rules! public_gateway {
    () => {
        "apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: public, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ['*']}]
---
"
    };
}

pub(crate) const CASES: &[Case] = &[
    Case::new(
        "destinations that resolve, by short name, FQDN and mesh's name.namespace, stay silent",
        concat!(bookinfo!(), "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews.default.svc.cluster.local, subset: v1}}]
  - route:
    - {destination: {host: reviews, subset: v1}, weight: 75}
    - {destination: {host: reviews.default}, weight: 25}
"),
        &[],
    ),
    Case::new(
        "hosts not found: routes, mirrors, and a subset checked even when its host is missing",
        concat!(bookinfo!(), "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: bogus}
spec:
  hosts: [reviews]
  http:
  - route: [{destination: {host: reveiws, subset: v1}}]
    mirror: {host: mirror-sink}
    mirrors: [{destination: {host: reviews, subset: v9}}]
  tcp:
  - route: [{destination: {host: tcp-sink}}]
"),
        &[
            "IST0101 VirtualService default/bogus: Referenced host not found: \"reveiws\"",
            "IST0101 VirtualService default/bogus: Referenced host+subset in destinationrule not found: \"reveiws+v1\"",
            "IST0101 VirtualService default/bogus: Referenced mirror host not found: \"mirror-sink\"",
            "IST0101 VirtualService default/bogus: Referenced mirror+subset in destinationrule not found: \"reviews+v9\"",
            "IST0101 VirtualService default/bogus: Referenced host not found: \"tcp-sink\"",
            "IST0106 VirtualService default/bogus: HTTP route cannot contain both mirror and mirrors",
        ],
    ),
    Case::new(
        "exportTo: a ServiceEntry for every host exported to its own namespace hides nothing elsewhere",
        "apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: everything, namespace: egress}
spec:
  hosts: ['*']
  exportTo: ['.']
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: NONE
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: private-api, namespace: team-a}
spec:
  hosts: [api.internal.example]
  exportTo: ['.', team-b]
  addresses: [240.0.0.1]
  ports: [{number: 80, name: http, protocol: HTTP}]
---
apiVersion: v1
kind: Service
metadata:
  name: hidden
  namespace: team-a
  annotations: {networking.istio.io/exportTo: '.'}
spec:
  ports: [{name: http, port: 80}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: from-egress, namespace: egress}
spec:
  hosts: [anything.example]
  tls:
  - match: [{sniHosts: [anything.example]}]
    route: [{destination: {host: anything.example}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: from-team-b, namespace: team-b}
spec:
  hosts: [api.internal.example]
  exportTo: ['.']
  http:
  - route: [{destination: {host: api.internal.example}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: from-team-c, namespace: team-c}
spec:
  hosts: [api.internal.example]
  exportTo: ['.']
  http:
  - route: [{destination: {host: api.internal.example}}]
  - route: [{destination: {host: hidden.team-a.svc.cluster.local}}]
  - route: [{destination: {host: anything.example}}]
",
        &[
            "IST0101 VirtualService team-c/from-team-c: Referenced host not found: \"api.internal.example\"",
            "IST0101 VirtualService team-c/from-team-c: Referenced host not found: \"hidden.team-a.svc.cluster.local\"",
            "IST0101 VirtualService team-c/from-team-c: Referenced host not found: \"anything.example\"",
            "IST0130 VirtualService team-c/from-team-c: VirtualService rule #1 not used (only the last rule can have no matches).",
            "IST0130 VirtualService team-c/from-team-c: VirtualService rule #2 not used (only the last rule can have no matches).",
        ],
    ),
    Case::new(
        "wildcard ServiceEntry hosts cover the names under them; a VirtualService visible everywhere conflicts with a namespace's",
        "apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: wikipedia, namespace: egress}
spec:
  hosts: ['*.wikipedia.org']
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: NONE
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: wiki-everywhere, namespace: egress}
spec:
  hosts: ['*.wikipedia.org']
  tls:
  - match: [{sniHosts: [en.wikipedia.org]}]
    route: [{destination: {host: en.wikipedia.org}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: wiki-local, namespace: team}
spec:
  hosts: [en.wikipedia.org]
  exportTo: ['.']
  tls:
  - match: [{sniHosts: [en.wikipedia.org]}]
    route: [{destination: {host: de.wikipedia.org}}]
",
        &[
            "IST0109 VirtualService egress/wiki-everywhere: The VirtualServices egress/wiki-everywhere,team/wiki-local associated with mesh gateway define the same host team/en.wikipedia.org which can lead to undefined behavior. This can be fixed by merging the conflicting VirtualServices into a single resource.",
            "IST0109 VirtualService team/wiki-local: The VirtualServices egress/wiki-everywhere,team/wiki-local associated with mesh gateway define the same host team/en.wikipedia.org which can lead to undefined behavior. This can be fixed by merging the conflicting VirtualServices into a single resource.",
        ],
    ),
    Case::new(
        "ports: a port the service lacks, and a multi-port service without a port",
        concat!(bookinfo!(), "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ports}
spec:
  hosts: [ratings]
  http:
  - match: [{uri: {exact: /a}}]
    route: [{destination: {host: ratings, port: {number: 9091}}}]
  - match: [{uri: {exact: /b}}]
    route: [{destination: {host: ratings}}]
  - route: [{destination: {host: ratings, port: {number: 9090}}}]
"),
        &[
            "IST0101 VirtualService default/ports: Referenced host:port not found: \"ratings:9091\"",
            "IST0112 VirtualService default/ports: This VirtualService routes to a service \"ratings\" that exposes multiple ports [9080 9090]. Specifying a port in the destination is required to disambiguate.",
        ],
    ),
    Case::new(
        "gateways: missing, not serving the hosts, a Gateway API Gateway, an internal one",
        concat!(bookinfo!(), "apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: public, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ['./shop.example.com', 'default/bookinfo.example.com']
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint}
spec:
  gatewayClassName: istio
  listeners: [{name: http, port: 80, protocol: HTTP, hostname: '*.example.org'}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: edge}
spec:
  hosts: [bookinfo.example.com]
  gateways: [istio-system/public, mesh]
  http:
  - route: [{destination: {host: reviews, port: {number: 9080}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: wrong-host}
spec:
  hosts: [shop.example.com]
  gateways: [istio-system/public, waypoint, missing, 'waypoint~istio-autogenerated-k8s-gateway~http']
  http:
  - route: [{destination: {host: reviews}}]
"),
        &[
            "IST0132 VirtualService default/wrong-host: one or more host [shop.example.com] defined in VirtualService default/wrong-host not found in Gateway istio-system/public.",
            "IST0132 VirtualService default/wrong-host: one or more host [shop.example.com] defined in VirtualService default/wrong-host not found in Gateway default/waypoint.",
            "IST0101 VirtualService default/wrong-host: Referenced gateway not found: \"missing\"",
            "IST0132 VirtualService default/wrong-host: one or more host [shop.example.com] defined in VirtualService default/wrong-host not found in Gateway default/missing.",
            "IST0165 VirtualService default/wrong-host: Gateway reference in VirtualService default/wrong-host is to an implementation-generated internal Gateway: waypoint~istio-autogenerated-k8s-gateway~http.",
        ],
    ),
    Case::new(
        "sidecar VirtualServices sharing a host conflict, unless exportTo keeps them apart",
        concat!(bookinfo!(), "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews-a}
spec:
  hosts: [reviews]
  http: [{route: [{destination: {host: reviews}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews-b, namespace: other}
spec:
  hosts: [reviews.default.svc.cluster.local]
  http: [{route: [{destination: {host: reviews.default.svc.cluster.local}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings-a}
spec:
  hosts: [ratings]
  exportTo: ['.']
  http: [{route: [{destination: {host: ratings, port: {number: 9080}}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings-b, namespace: other}
spec:
  hosts: [ratings.default.svc.cluster.local]
  exportTo: ['.']
  http: [{route: [{destination: {host: ratings.default.svc.cluster.local, port: {number: 9080}}}]}]
"),
        &[
            "IST0109 VirtualService default/reviews-a: The VirtualServices default/reviews-a,other/reviews-b associated with mesh gateway define the same host */reviews.default.svc.cluster.local which can lead to undefined behavior. This can be fixed by merging the conflicting VirtualServices into a single resource.",
            "IST0109 VirtualService other/reviews-b: The VirtualServices default/reviews-a,other/reviews-b associated with mesh gateway define the same host */reviews.default.svc.cluster.local which can lead to undefined behavior. This can be fixed by merging the conflicting VirtualServices into a single resource.",
        ],
    ),
    Case::new(
        "unreachable rules: after a catch-all, repeated matches, shadowing prefixes",
        concat!(bookinfo!(), "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: rules}
spec:
  hosts: [reviews]
  http:
  - name: products
    match: [{uri: {prefix: /api/v1/product}}]
    route: [{destination: {host: reviews}}]
  - match: [{uri: {prefix: /api/v1/products}}, {uri: {exact: /x}, name: x}]
    route: [{destination: {host: reviews}}]
  - match: [{uri: {exact: /x}}, {uri: {prefix: /api/v1/product}, name: again}]
    route: [{destination: {host: reviews}}]
  - match: [{uri: {prefix: /api/v2}, method: {exact: POST}}, {uri: {prefix: /api/v2/items}}]
    route: [{destination: {host: reviews}}]
  - route: [{destination: {host: reviews}}]
  - match: [{uri: {prefix: /late}}]
    route: [{destination: {host: reviews}}]
  tcp:
  - match: [{port: 9080}]
    route: [{destination: {host: reviews}}]
  - match: [{port: 9080}]
    route: [{destination: {host: reviews}}]
"),
        &[
            "IST0131 VirtualService default/rules: VirtualService rule #1 match #0 of prefix /api/v1/products is not used (duplicate/overlapping match in rule #0 of prefix /api/v1/product on \"products\").",
            "IST0131 VirtualService default/rules: VirtualService rule #2 match #0 is not used (duplicate/overlapping match in rule #1).",
            "IST0131 VirtualService default/rules: VirtualService rule #2 match \"again\" is not used (duplicate/overlapping match in rule \"products\").",
            "IST0130 VirtualService default/rules: VirtualService rule #2 not used (all matches used by prior rules).",
            "IST0130 VirtualService default/rules: VirtualService rule #5 not used (route without matches defined before).",
            "IST0131 VirtualService default/rules: VirtualService rule #1 match #0 is not used (duplicate/overlapping match in rule #0).",
            "IST0130 VirtualService default/rules: VirtualService rule #1 not used (all matches used by prior rules).",
        ],
    ),
    Case::new(
        "JWT claim routing at a gateway needs a RequestAuthentication for its pods",
        concat!(bookinfo!(), public_gateway!(), "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: claims}
spec:
  hosts: [bookinfo.example.com]
  gateways: [istio-system/public]
  http:
  - match: [{headers: {'@request.auth.claims.group': {exact: admin}}}]
    route: [{destination: {host: reviews}}]
"),
        &[
            "IST0149 VirtualService default/claims: The virtual service uses the JWT claim based routing (key: @request.auth.claims.group) but found no request authentication for the gateway (istio-system/public) pod (istio-ingressgateway-dummypod). The request authentication must first be applied for the gateway pods to validate the JWT token and make the claims available for routing.",
        ],
    ),
    Case::new(
        "a RequestAuthentication in the root namespace satisfies claim routing",
        concat!(bookinfo!(), public_gateway!(), "apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: istio-system}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  jwtRules: [{issuer: https://issuer.example, jwksUri: https://issuer.example/jwks}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: istiod, namespace: istio-system, labels: {app: istiod}}
spec:
  template:
    spec:
      containers: [{name: discovery, env: [{name: BLOCKED_CIDRS_IN_JWKS_URIS, value: 10.0.0.0/8}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: claims}
spec:
  hosts: [bookinfo.example.com]
  gateways: [istio-system/public]
  http:
  - match: [{headers: {'@request.auth.claims[group]': {exact: admin}}}]
    route: [{destination: {host: reviews}}]
"),
        &[],
    ),
    Case::new(
        "a gateway route without subset to a host routed by subset elsewhere",
        concat!(bookinfo!(), public_gateway!(), "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http: [{route: [{destination: {host: reviews, subset: v1}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: edge}
spec:
  hosts: [bookinfo.example.com]
  gateways: [istio-system/public]
  http: [{route: [{destination: {host: reviews}}]}]
"),
        &[
            "IST0140 VirtualService default/edge: Subset in virtual service default/reviews has no effect on ingress gateway default/edge requests",
        ],
    ),
    Case::new(
        "weights all zero (an Istio validation error), and mesh's own: weights that do not add up, retries that cannot fit",
        concat!(bookinfo!(), "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - match: [{uri: {prefix: /a}}]
    route:
    - {destination: {host: reviews}, weight: 60}
    - {destination: {host: reviews, subset: v1}, weight: 30}
  - match: [{uri: {prefix: /b}}]
    route:
    - {destination: {host: reviews}, weight: 0}
    - {destination: {host: reviews, subset: v1}}
  - match: [{uri: {prefix: /c}}]
    timeout: 2s
    retries: {attempts: 3, perTryTimeout: 1s}
    route: [{destination: {host: reviews}}]
  - timeout: 1s
    retries: {attempts: 2, perTryTimeout: 1s}
    route: [{destination: {host: reviews}}]
"),
        &[
            "MSH0002 VirtualService default/reviews: route weights add up to 90 (60+30), not 100; traffic is split in proportion to them",
            "IST0106 VirtualService default/reviews: total destination weight = 0",
            "MSH0005 VirtualService default/reviews: 3 retries of perTryTimeout 1s take up to 4s with the first try, longer than the route timeout 2s: at most 2 tries fit",
            "MSH0005 VirtualService default/reviews: retries never happen: perTryTimeout 1s is not shorter than the route timeout 1s, so the first try uses all of it",
        ],
    ),
];

#[test]
fn virtual_service_cases() {
    check(CASES);
}
