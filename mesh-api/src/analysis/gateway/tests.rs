use crate::analysis::cases::{Case, check};

pub(crate) const CASES: &[Case] = &[
    Case::new(
        "a gateway selecting no pod, and a port the ingress Service does not expose",
        "apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: nowhere}
spec:
  selector: {app: missing-gateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ['*']}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: odd-port, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 8080, name: http, protocol: HTTP}, hosts: [odd.example.com]}]
",
        &[
            "IST0101 Gateway default/nowhere: Referenced selector not found: \"app=missing-gateway\"",
            "IST0162 Gateway istio-system/odd-port: The gateway is listening on a target port (port 8080) that is not defined in the Service associated with its workload instances (Pod selector istio=ingressgateway). If you need to access the gateway port through the gateway Service, it will not be available.",
        ],
    ),
    Case::new(
        "a gateway of its own: target ports and ports count, others do not",
        "apiVersion: v1
kind: Pod
metadata: {name: edge-0, namespace: edge, labels: {app: edge-gateway}}
spec: {containers: [{name: istio-proxy, image: proxyv2}]}
---
apiVersion: v1
kind: Service
metadata: {name: edge, namespace: edge}
spec:
  selector: {app: edge-gateway}
  ports: [{name: http, port: 80, targetPort: 8080}, {name: https, port: 443}]
---
apiVersion: v1
kind: Secret
metadata: {name: edge-cert, namespace: edge}
type: kubernetes.io/tls
data: {tls.crt: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJKakNCektBREFnRUNBZ0lENkRBS0JnZ3Foa2pPUFFRREFqQWNNUm93R0FZRFZRUUREQkYyWVd4cFpDNWwKZUdGdGNHeGxMbU52YlRBZUZ3MHlOVEF4TURFd01EQXdNREJhRncwek1EQXhNREV3TURBd01EQmFNQnd4R2pBWQpCZ05WQkFNTUVYWmhiR2xrTG1WNFlXMXdiR1V1WTI5dE1Ga3dFd1lIS29aSXpqMENBUVlJS29aSXpqMERBUWNEClFnQUVQaS9NS2syUnZSakdoSlAySitPaVIrZDRLRk1FUFdiWDJZaWN6SEo5Yy9OYWhFT09NU01ic25zanEzSnoKcjdHNXM0akpRWDQ5TFZZSSt2QUJsN3dzMGpBS0JnZ3Foa2pPUFFRREFnTkpBREJHQWlFQXlQKzlzL25KV1JOVQpWV0NBeGR4Z0wrbXlFWWVhTjR1b0VOeHFVV1dwQnRBQ0lRQ282N1luVXEyQVBub0VmY0ZVdWNsV0MrL09aVzV0CjB5VkFZeU0ra2xDaFpBPT0KLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=, tls.key: LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCk1JR0hBZ0VBTUJNR0J5cUdTTTQ5QWdFR0NDcUdTTTQ5QXdFSEJHMHdhd0lCQVFRZzhFVktVaU1pMDZpb01xblgKSWVHZEo4aVN0cmpEL0MwUFF0aDczdWllWmNlaFJBTkNBQVErTDh3cVRaRzlHTWFFay9ZbjQ2Skg1M2dvVXdROQpadGZaaUp6TWNuMXo4MXFFUTQ0eEl4dXlleU9yY25PdnNibXppTWxCZmowdFZnajY4QUdYdkN6UwotLS0tLUVORCBQUklWQVRFIEtFWS0tLS0tCg==}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge, namespace: edge}
spec:
  selector: {app: edge-gateway}
  servers:
  - {port: {number: 8080, name: http, protocol: HTTP}, hosts: ['*']}
  - {port: {number: 443, name: https, protocol: HTTPS}, hosts: ['*'], tls: {mode: SIMPLE, credentialName: edge-cert}}
  - {port: {number: 9000, name: tcp, protocol: TCP}, hosts: ['*']}
",
        &[
            "IST0162 Gateway edge/edge: The gateway is listening on a target port (port 9000) that is not defined in the Service associated with its workload instances (Pod selector app=edge-gateway). If you need to access the gateway port through the gateway Service, it will not be available.",
        ],
    ),
    Case::new(
        "credentials: missing, without keys, expired; another namespace's and a valid one pass",
        "apiVersion: v1
kind: Secret
metadata: {name: no-keys, namespace: istio-system}
data: {foo: YmFy}
---
apiVersion: v1
kind: Secret
metadata: {name: expired-cert, namespace: istio-system}
data: {tls.crt: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJLRENCMEtBREFnRUNBZ0lENkRBS0JnZ3Foa2pPUFFRREFqQWVNUnd3R2dZRFZRUUREQk5sZUhCcGNtVmsKTG1WNFlXMXdiR1V1WTI5dE1CNFhEVEl3TURFd01UQXdNREF3TUZvWERUSXhNREV3TVRBd01EQXdNRm93SGpFYwpNQm9HQTFVRUF3d1RaWGh3YVhKbFpDNWxlR0Z0Y0d4bExtTnZiVEJaTUJNR0J5cUdTTTQ5QWdFR0NDcUdTTTQ5CkF3RUhBMElBQkQ0dnpDcE5rYjBZeG9TVDlpZmpva2ZuZUNoVEJEMW0xOW1Jbk14eWZYUHpXb1JEampFakc3SjcKSTZ0eWM2K3h1Yk9JeVVGK1BTMVdDUHJ3QVplOExOSXdDZ1lJS29aSXpqMEVBd0lEUndBd1JBSWdSU3VxUXliYwpLc3NPV09zb3luSlRST2FQeFhjcW1yN3pwWlE4S1o4R2Q4TUNJREt0YVllSHk0RHFxV1NQaUNpSUdid1lZbTF5CmxudkFNSUZQekU5bkhyNFMKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=, tls.key: LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCk1JR0hBZ0VBTUJNR0J5cUdTTTQ5QWdFR0NDcUdTTTQ5QXdFSEJHMHdhd0lCQVFRZzhFVktVaU1pMDZpb01xblgKSWVHZEo4aVN0cmpEL0MwUFF0aDczdWllWmNlaFJBTkNBQVErTDh3cVRaRzlHTWFFay9ZbjQ2Skg1M2dvVXdROQpadGZaaUp6TWNuMXo4MXFFUTQ0eEl4dXlleU9yY25PdnNibXppTWxCZmowdFZnajY4QUdYdkN6UwotLS0tLUVORCBQUklWQVRFIEtFWS0tLS0tCg==}
---
apiVersion: v1
kind: Secret
metadata: {name: valid-cert, namespace: istio-system}
data: {cert: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJKakNCektBREFnRUNBZ0lENkRBS0JnZ3Foa2pPUFFRREFqQWNNUm93R0FZRFZRUUREQkYyWVd4cFpDNWwKZUdGdGNHeGxMbU52YlRBZUZ3MHlOVEF4TURFd01EQXdNREJhRncwek1EQXhNREV3TURBd01EQmFNQnd4R2pBWQpCZ05WQkFNTUVYWmhiR2xrTG1WNFlXMXdiR1V1WTI5dE1Ga3dFd1lIS29aSXpqMENBUVlJS29aSXpqMERBUWNEClFnQUVQaS9NS2syUnZSakdoSlAySitPaVIrZDRLRk1FUFdiWDJZaWN6SEo5Yy9OYWhFT09NU01ic25zanEzSnoKcjdHNXM0akpRWDQ5TFZZSSt2QUJsN3dzMGpBS0JnZ3Foa2pPUFFRREFnTkpBREJHQWlFQXlQKzlzL25KV1JOVQpWV0NBeGR4Z0wrbXlFWWVhTjR1b0VOeHFVV1dwQnRBQ0lRQ282N1luVXEyQVBub0VmY0ZVdWNsV0MrL09aVzV0CjB5VkFZeU0ra2xDaFpBPT0KLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=, key: LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCk1JR0hBZ0VBTUJNR0J5cUdTTTQ5QWdFR0NDcUdTTTQ5QXdFSEJHMHdhd0lCQVFRZzhFVktVaU1pMDZpb01xblgKSWVHZEo4aVN0cmpEL0MwUFF0aDczdWllWmNlaFJBTkNBQVErTDh3cVRaRzlHTWFFay9ZbjQ2Skg1M2dvVXdROQpadGZaaUp6TWNuMXo4MXFFUTQ0eEl4dXlleU9yY25PdnNibXppTWxCZmowdFZnajY4QUdYdkN6UwotLS0tLUVORCBQUklWQVRFIEtFWS0tLS0tCg==}
---
apiVersion: v1
kind: Secret
metadata: {name: b-cert, namespace: other}
data: {tls.crt: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJKakNCektBREFnRUNBZ0lENkRBS0JnZ3Foa2pPUFFRREFqQWNNUm93R0FZRFZRUUREQkYyWVd4cFpDNWwKZUdGdGNHeGxMbU52YlRBZUZ3MHlOVEF4TURFd01EQXdNREJhRncwek1EQXhNREV3TURBd01EQmFNQnd4R2pBWQpCZ05WQkFNTUVYWmhiR2xrTG1WNFlXMXdiR1V1WTI5dE1Ga3dFd1lIS29aSXpqMENBUVlJS29aSXpqMERBUWNEClFnQUVQaS9NS2syUnZSakdoSlAySitPaVIrZDRLRk1FUFdiWDJZaWN6SEo5Yy9OYWhFT09NU01ic25zanEzSnoKcjdHNXM0akpRWDQ5TFZZSSt2QUJsN3dzMGpBS0JnZ3Foa2pPUFFRREFnTkpBREJHQWlFQXlQKzlzL25KV1JOVQpWV0NBeGR4Z0wrbXlFWWVhTjR1b0VOeHFVV1dwQnRBQ0lRQ282N1luVXEyQVBub0VmY0ZVdWNsV0MrL09aVzV0CjB5VkFZeU0ra2xDaFpBPT0KLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=, tls.key: LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCk1JR0hBZ0VBTUJNR0J5cUdTTTQ5QWdFR0NDcUdTTTQ5QXdFSEJHMHdhd0lCQVFRZzhFVktVaU1pMDZpb01xblgKSWVHZEo4aVN0cmpEL0MwUFF0aDczdWllWmNlaFJBTkNBQVErTDh3cVRaRzlHTWFFay9ZbjQ2Skg1M2dvVXdROQpadGZaaUp6TWNuMXo4MXFFUTQ0eEl4dXlleU9yY25PdnNibXppTWxCZmowdFZnajY4QUdYdkN6UwotLS0tLUVORCBQUklWQVRFIEtFWS0tLS0tCg==}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: secrets, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - {port: {number: 443, name: a, protocol: HTTPS}, hosts: [a.example.com], tls: {mode: SIMPLE, credentialName: missing-cert}}
  - {port: {number: 443, name: b, protocol: HTTPS}, hosts: [b.example.com], tls: {mode: SIMPLE, credentialName: other/b-cert}}
  - {port: {number: 443, name: c, protocol: HTTPS}, hosts: [c.example.com], tls: {mode: SIMPLE, credentialName: no-keys}}
  - {port: {number: 443, name: d, protocol: HTTPS}, hosts: [d.example.com], tls: {mode: SIMPLE, credentialName: expired-cert}}
  - {port: {number: 443, name: e, protocol: HTTPS}, hosts: [e.example.com], tls: {mode: SIMPLE, credentialName: valid-cert}}
",
        &[
            "IST0101 Gateway istio-system/secrets: Referenced credentialName not found: \"missing-cert\"",
            "IST0161 Gateway istio-system/secrets: The credential referenced by the Gateway secrets in namespace istio-system is invalid, which can cause the traffic not to work as expected.",
            "IST0161 Gateway istio-system/secrets: The credential referenced by the Gateway secrets in namespace istio-system is invalid, which can cause the traffic not to work as expected.",
        ],
    ),
    Case::new(
        "one certificate served by two gateways of the same workloads",
        "apiVersion: v1
kind: Secret
metadata: {name: shared-cert, namespace: istio-system}
data: {tls.crt: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJKakNCektBREFnRUNBZ0lENkRBS0JnZ3Foa2pPUFFRREFqQWNNUm93R0FZRFZRUUREQkYyWVd4cFpDNWwKZUdGdGNHeGxMbU52YlRBZUZ3MHlOVEF4TURFd01EQXdNREJhRncwek1EQXhNREV3TURBd01EQmFNQnd4R2pBWQpCZ05WQkFNTUVYWmhiR2xrTG1WNFlXMXdiR1V1WTI5dE1Ga3dFd1lIS29aSXpqMENBUVlJS29aSXpqMERBUWNEClFnQUVQaS9NS2syUnZSakdoSlAySitPaVIrZDRLRk1FUFdiWDJZaWN6SEo5Yy9OYWhFT09NU01ic25zanEzSnoKcjdHNXM0akpRWDQ5TFZZSSt2QUJsN3dzMGpBS0JnZ3Foa2pPUFFRREFnTkpBREJHQWlFQXlQKzlzL25KV1JOVQpWV0NBeGR4Z0wrbXlFWWVhTjR1b0VOeHFVV1dwQnRBQ0lRQ282N1luVXEyQVBub0VmY0ZVdWNsV0MrL09aVzV0CjB5VkFZeU0ra2xDaFpBPT0KLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=, tls.key: LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCk1JR0hBZ0VBTUJNR0J5cUdTTTQ5QWdFR0NDcUdTTTQ5QXdFSEJHMHdhd0lCQVFRZzhFVktVaU1pMDZpb01xblgKSWVHZEo4aVN0cmpEL0MwUFF0aDczdWllWmNlaFJBTkNBQVErTDh3cVRaRzlHTWFFay9ZbjQ2Skg1M2dvVXdROQpadGZaaUp6TWNuMXo4MXFFUTQ0eEl4dXlleU9yY25PdnNibXppTWxCZmowdFZnajY4QUdYdkN6UwotLS0tLUVORCBQUklWQVRFIEtFWS0tLS0tCg==}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw-a, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: [a.example.com], tls: {mode: SIMPLE, credentialName: shared-cert}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw-b, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: [b.example.com], tls: {mode: SIMPLE, credentialName: shared-cert}}]
",
        &[
            "IST0138 Gateway istio-system/gw-a: Duplicate certificate in multiple gateways [istio-system/gw-a istio-system/gw-b] may cause 404s if clients re-use HTTP2 connections.",
            "IST0138 Gateway istio-system/gw-b: Duplicate certificate in multiple gateways [istio-system/gw-b istio-system/gw-a] may cause 404s if clients re-use HTTP2 connections.",
        ],
    ),
    Case::new(
        "two gateways claiming a host on the same port conflict; another port does not",
        "apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: alpha}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: [foo.example.com, bar.example.com]}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: beta}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: [foo.example.com]}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gamma}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: [foo.example.com], tls: {mode: PASSTHROUGH}}]
",
        &[
            "IST0145 Gateway default/alpha: Conflict with gateways default/beta (workload selector istio=ingressgateway, port 80, hosts foo.example.com,bar.example.com).",
            "IST0145 Gateway default/beta: Conflict with gateways default/alpha (workload selector istio=ingressgateway, port 80, hosts foo.example.com).",
        ],
    ),
];

#[test]
fn gateway_cases() {
    check(CASES);
}
