use crate::analysis::cases::{Case, check};

pub(crate) const CASES: &[Case] = &[Case::new(
    "negative conditions in statuses",
    "apiVersion: v1
kind: Service
metadata: {name: waypointed}
spec: {ports: [{name: http, port: 80}]}
status:
  conditions: [{type: istio.io/WaypointBound, status: 'False', reason: WaypointNotFound, message: waypoint not found}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: partially-invalid, namespace: istio-system}
spec: {}
status:
  conditions:
  - {type: WaypointAccepted, status: 'True', reason: PartiallyInvalid, message: some rules ignored}
  - {type: ZtunnelAccepted, status: 'True', reason: Accepted, message: ok}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: route}
spec:
  parentRefs: [{name: gw}]
status:
  parents:
  - parentRef: {name: gw}
    controllerName: istio.io/gateway-controller
    conditions:
    - {type: Accepted, status: 'True', reason: Accepted, message: ok}
    - {type: ResolvedRefs, status: 'False', reason: BackendNotFound, message: backend missing}
",
    &[
        "IST0171 Service default/waypointed: A condition with a negative status is present: type=istio.io/WaypointBound, reason=WaypointNotFound, message=waypoint not found.",
        "IST0171 AuthorizationPolicy istio-system/partially-invalid: A condition with a negative status is present: type=WaypointAccepted, reason=PartiallyInvalid, message=some rules ignored.",
        "IST0171 HTTPRoute default/route: A condition with a negative status is present: type=ResolvedRefs, reason=BackendNotFound, message=backend missing.",
    ],
)];

#[test]
fn condition_cases() {
    check(CASES);
}
