//! Every message type the analyzers can report: Istio's code, name and level where
//! Istio has the same analyzer (so that habits, searches and CI filters carry over),
//! `MSH` codes for mesh's own.

use super::message::{Level, MessageType};

pub const DEPRECATED: MessageType = MessageType {
    code: "IST0002",
    name: "Deprecated",
    level: Level::Warning,
};
pub const REFERENCED_RESOURCE_NOT_FOUND: MessageType = MessageType {
    code: "IST0101",
    name: "ReferencedResourceNotFound",
    level: Level::Error,
};
pub const NAMESPACE_NOT_INJECTED: MessageType = MessageType {
    code: "IST0102",
    name: "NamespaceNotInjected",
    level: Level::Info,
};
pub const POD_MISSING_PROXY: MessageType = MessageType {
    code: "IST0103",
    name: "PodMissingProxy",
    level: Level::Warning,
};
pub const SCHEMA_VALIDATION_ERROR: MessageType = MessageType {
    code: "IST0106",
    name: "SchemaValidationError",
    level: Level::Error,
};
pub const MISPLACED_ANNOTATION: MessageType = MessageType {
    code: "IST0107",
    name: "MisplacedAnnotation",
    level: Level::Warning,
};
pub const UNKNOWN_ANNOTATION: MessageType = MessageType {
    code: "IST0108",
    name: "UnknownAnnotation",
    level: Level::Warning,
};
pub const CONFLICTING_MESH_GATEWAY_VIRTUAL_SERVICE_HOSTS: MessageType = MessageType {
    code: "IST0109",
    name: "ConflictingMeshGatewayVirtualServiceHosts",
    level: Level::Error,
};
pub const CONFLICTING_SIDECAR_WORKLOAD_SELECTORS: MessageType = MessageType {
    code: "IST0110",
    name: "ConflictingSidecarWorkloadSelectors",
    level: Level::Error,
};
pub const MULTIPLE_SIDECARS_WITHOUT_WORKLOAD_SELECTORS: MessageType = MessageType {
    code: "IST0111",
    name: "MultipleSidecarsWithoutWorkloadSelectors",
    level: Level::Error,
};
pub const VIRTUAL_SERVICE_DESTINATION_PORT_SELECTOR_REQUIRED: MessageType = MessageType {
    code: "IST0112",
    name: "VirtualServiceDestinationPortSelectorRequired",
    level: Level::Error,
};
pub const DEPLOYMENT_ASSOCIATED_TO_MULTIPLE_SERVICES: MessageType = MessageType {
    code: "IST0116",
    name: "DeploymentAssociatedToMultipleServices",
    level: Level::Warning,
};
pub const PORT_NAME_IS_NOT_UNDER_NAMING_CONVENTION: MessageType = MessageType {
    code: "IST0118",
    name: "PortNameIsNotUnderNamingConvention",
    level: Level::Info,
};
pub const NAMESPACE_MULTIPLE_INJECTION_LABELS: MessageType = MessageType {
    code: "IST0123",
    name: "NamespaceMultipleInjectionLabels",
    level: Level::Warning,
};
pub const INVALID_ANNOTATION: MessageType = MessageType {
    code: "IST0125",
    name: "InvalidAnnotation",
    level: Level::Warning,
};
pub const NO_MATCHING_WORKLOADS_FOUND: MessageType = MessageType {
    code: "IST0127",
    name: "NoMatchingWorkloadsFound",
    level: Level::Warning,
};
pub const NO_SERVER_CERTIFICATE_VERIFICATION_DESTINATION_LEVEL: MessageType = MessageType {
    code: "IST0128",
    name: "NoServerCertificateVerificationDestinationLevel",
    level: Level::Warning,
};
pub const NO_SERVER_CERTIFICATE_VERIFICATION_PORT_LEVEL: MessageType = MessageType {
    code: "IST0129",
    name: "NoServerCertificateVerificationPortLevel",
    level: Level::Warning,
};
pub const VIRTUAL_SERVICE_UNREACHABLE_RULE: MessageType = MessageType {
    code: "IST0130",
    name: "VirtualServiceUnreachableRule",
    level: Level::Warning,
};
pub const VIRTUAL_SERVICE_INEFFECTIVE_MATCH: MessageType = MessageType {
    code: "IST0131",
    name: "VirtualServiceIneffectiveMatch",
    level: Level::Info,
};
pub const VIRTUAL_SERVICE_HOST_NOT_FOUND_IN_GATEWAY: MessageType = MessageType {
    code: "IST0132",
    name: "VirtualServiceHostNotFoundInGateway",
    level: Level::Warning,
};
pub const SERVICE_ENTRY_ADDRESSES_REQUIRED: MessageType = MessageType {
    code: "IST0134",
    name: "ServiceEntryAddressesRequired",
    level: Level::Warning,
};
pub const DEPRECATED_ANNOTATION: MessageType = MessageType {
    code: "IST0135",
    name: "DeprecatedAnnotation",
    level: Level::Info,
};
pub const ALPHA_ANNOTATION: MessageType = MessageType {
    code: "IST0136",
    name: "AlphaAnnotation",
    level: Level::Info,
};
pub const DEPLOYMENT_CONFLICTING_PORTS: MessageType = MessageType {
    code: "IST0137",
    name: "DeploymentConflictingPorts",
    level: Level::Warning,
};
pub const GATEWAY_DUPLICATE_CERTIFICATE: MessageType = MessageType {
    code: "IST0138",
    name: "GatewayDuplicateCertificate",
    level: Level::Warning,
};
pub const INVALID_WEBHOOK: MessageType = MessageType {
    code: "IST0139",
    name: "InvalidWebhook",
    level: Level::Error,
};
pub const INGRESS_ROUTE_RULES_NOT_AFFECTED: MessageType = MessageType {
    code: "IST0140",
    name: "IngressRouteRulesNotAffected",
    level: Level::Warning,
};
pub const INVALID_APPLICATION_UID: MessageType = MessageType {
    code: "IST0144",
    name: "InvalidApplicationUID",
    level: Level::Warning,
};
pub const CONFLICTING_GATEWAYS: MessageType = MessageType {
    code: "IST0145",
    name: "ConflictingGateways",
    level: Level::Error,
};
pub const IMAGE_AUTO_WITHOUT_INJECTION_WARNING: MessageType = MessageType {
    code: "IST0146",
    name: "ImageAutoWithoutInjectionWarning",
    level: Level::Warning,
};
pub const IMAGE_AUTO_WITHOUT_INJECTION_ERROR: MessageType = MessageType {
    code: "IST0147",
    name: "ImageAutoWithoutInjectionError",
    level: Level::Error,
};
pub const NAMESPACE_INJECTION_ENABLED_BY_DEFAULT: MessageType = MessageType {
    code: "IST0148",
    name: "NamespaceInjectionEnabledByDefault",
    level: Level::Info,
};
pub const JWT_CLAIM_BASED_ROUTING_WITHOUT_REQUEST_AUTHN: MessageType = MessageType {
    code: "IST0149",
    name: "JwtClaimBasedRoutingWithoutRequestAuthN",
    level: Level::Error,
};
pub const EXTERNAL_NAME_SERVICE_TYPE_INVALID_PORT_NAME: MessageType = MessageType {
    code: "IST0150",
    name: "ExternalNameServiceTypeInvalidPortName",
    level: Level::Warning,
};
pub const INVALID_TELEMETRY_PROVIDER: MessageType = MessageType {
    code: "IST0157",
    name: "InvalidTelemetryProvider",
    level: Level::Warning,
};
pub const PODS_ISTIO_PROXY_IMAGE_MISMATCH_IN_NAMESPACE: MessageType = MessageType {
    code: "IST0158",
    name: "PodsIstioProxyImageMismatchInNamespace",
    level: Level::Warning,
};
pub const CONFLICTING_TELEMETRY_WORKLOAD_SELECTORS: MessageType = MessageType {
    code: "IST0159",
    name: "ConflictingTelemetryWorkloadSelectors",
    level: Level::Error,
};
pub const MULTIPLE_TELEMETRIES_WITHOUT_WORKLOAD_SELECTORS: MessageType = MessageType {
    code: "IST0160",
    name: "MultipleTelemetriesWithoutWorkloadSelectors",
    level: Level::Error,
};
pub const INVALID_GATEWAY_CREDENTIAL: MessageType = MessageType {
    code: "IST0161",
    name: "InvalidGatewayCredential",
    level: Level::Error,
};
pub const GATEWAY_PORT_NOT_DEFINED_ON_SERVICE: MessageType = MessageType {
    code: "IST0162",
    name: "GatewayPortNotDefinedOnService",
    level: Level::Warning,
};
pub const INVALID_EXTERNAL_CONTROL_PLANE_CONFIG: MessageType = MessageType {
    code: "IST0163",
    name: "InvalidExternalControlPlaneConfig",
    level: Level::Warning,
};
pub const EXTERNAL_CONTROL_PLANE_ADDRESS_IS_NOT_A_HOSTNAME: MessageType = MessageType {
    code: "IST0164",
    name: "ExternalControlPlaneAddressIsNotAHostname",
    level: Level::Info,
};
pub const REFERENCED_INTERNAL_GATEWAY: MessageType = MessageType {
    code: "IST0165",
    name: "ReferencedInternalGateway",
    level: Level::Warning,
};
pub const INEFFECTIVE_SELECTOR: MessageType = MessageType {
    code: "IST0166",
    name: "IneffectiveSelector",
    level: Level::Warning,
};
pub const INEFFECTIVE_POLICY: MessageType = MessageType {
    code: "IST0167",
    name: "IneffectivePolicy",
    level: Level::Warning,
};
pub const NEGATIVE_CONDITION_STATUS: MessageType = MessageType {
    code: "IST0171",
    name: "NegativeConditionStatus",
    level: Level::Warning,
};
pub const DESTINATION_RULE_SUBSET_NOT_SELECT_PODS: MessageType = MessageType {
    code: "IST0173",
    name: "DestinationRuleSubsetNotSelectPods",
    level: Level::Error,
};
pub const UNKNOWN_DESTINATION_RULE_HOST: MessageType = MessageType {
    code: "IST0174",
    name: "UnknownDestinationRuleHost",
    level: Level::Warning,
};
pub const JWKS_URI_FETCH_UNRESTRICTED: MessageType = MessageType {
    code: "IST0175",
    name: "JwksUriFetchUnrestricted",
    level: Level::Warning,
};
pub const GATEWAY_API_CRD_VERSION_BELOW_MINIMUM: MessageType = MessageType {
    code: "IST0176",
    name: "GatewayAPICRDVersionBelowMinimum",
    level: Level::Warning,
};
pub const CONFLICTING_SERVICE_ENTRY_PROTOCOL: MessageType = MessageType {
    code: "IST0177",
    name: "ConflictingServiceEntryProtocol",
    level: Level::Warning,
};
pub const DUPLICATE_OBJECT: MessageType = MessageType {
    code: "MSH0001",
    name: "DuplicateObject",
    level: Level::Warning,
};
pub const ROUTE_WEIGHTS_DO_NOT_ADD_UP: MessageType = MessageType {
    code: "MSH0002",
    name: "RouteWeightsDoNotAddUp",
    level: Level::Warning,
};
pub const CONFLICTING_PEER_AUTHENTICATIONS: MessageType = MessageType {
    code: "MSH0004",
    name: "ConflictingPeerAuthentications",
    level: Level::Error,
};
pub const RETRIES_EXCEED_ROUTE_TIMEOUT: MessageType = MessageType {
    code: "MSH0005",
    name: "RetriesExceedRouteTimeout",
    level: Level::Warning,
};
pub const TLS_MODE_CONFLICTS_WITH_PEER_AUTHENTICATION: MessageType = MessageType {
    code: "MSH0006",
    name: "TlsModeConflictsWithPeerAuthentication",
    level: Level::Error,
};

/// Every message type, in code order, for `meshctl analyze -L` and the docs.
pub const ALL: &[MessageType] = &[
    DEPRECATED,
    REFERENCED_RESOURCE_NOT_FOUND,
    NAMESPACE_NOT_INJECTED,
    POD_MISSING_PROXY,
    SCHEMA_VALIDATION_ERROR,
    MISPLACED_ANNOTATION,
    UNKNOWN_ANNOTATION,
    CONFLICTING_MESH_GATEWAY_VIRTUAL_SERVICE_HOSTS,
    CONFLICTING_SIDECAR_WORKLOAD_SELECTORS,
    MULTIPLE_SIDECARS_WITHOUT_WORKLOAD_SELECTORS,
    VIRTUAL_SERVICE_DESTINATION_PORT_SELECTOR_REQUIRED,
    DEPLOYMENT_ASSOCIATED_TO_MULTIPLE_SERVICES,
    PORT_NAME_IS_NOT_UNDER_NAMING_CONVENTION,
    NAMESPACE_MULTIPLE_INJECTION_LABELS,
    INVALID_ANNOTATION,
    NO_MATCHING_WORKLOADS_FOUND,
    NO_SERVER_CERTIFICATE_VERIFICATION_DESTINATION_LEVEL,
    NO_SERVER_CERTIFICATE_VERIFICATION_PORT_LEVEL,
    VIRTUAL_SERVICE_UNREACHABLE_RULE,
    VIRTUAL_SERVICE_INEFFECTIVE_MATCH,
    VIRTUAL_SERVICE_HOST_NOT_FOUND_IN_GATEWAY,
    SERVICE_ENTRY_ADDRESSES_REQUIRED,
    DEPRECATED_ANNOTATION,
    ALPHA_ANNOTATION,
    DEPLOYMENT_CONFLICTING_PORTS,
    GATEWAY_DUPLICATE_CERTIFICATE,
    INVALID_WEBHOOK,
    INGRESS_ROUTE_RULES_NOT_AFFECTED,
    INVALID_APPLICATION_UID,
    CONFLICTING_GATEWAYS,
    IMAGE_AUTO_WITHOUT_INJECTION_WARNING,
    IMAGE_AUTO_WITHOUT_INJECTION_ERROR,
    NAMESPACE_INJECTION_ENABLED_BY_DEFAULT,
    JWT_CLAIM_BASED_ROUTING_WITHOUT_REQUEST_AUTHN,
    EXTERNAL_NAME_SERVICE_TYPE_INVALID_PORT_NAME,
    INVALID_TELEMETRY_PROVIDER,
    PODS_ISTIO_PROXY_IMAGE_MISMATCH_IN_NAMESPACE,
    CONFLICTING_TELEMETRY_WORKLOAD_SELECTORS,
    MULTIPLE_TELEMETRIES_WITHOUT_WORKLOAD_SELECTORS,
    INVALID_GATEWAY_CREDENTIAL,
    GATEWAY_PORT_NOT_DEFINED_ON_SERVICE,
    INVALID_EXTERNAL_CONTROL_PLANE_CONFIG,
    EXTERNAL_CONTROL_PLANE_ADDRESS_IS_NOT_A_HOSTNAME,
    REFERENCED_INTERNAL_GATEWAY,
    INEFFECTIVE_SELECTOR,
    INEFFECTIVE_POLICY,
    NEGATIVE_CONDITION_STATUS,
    DESTINATION_RULE_SUBSET_NOT_SELECT_PODS,
    UNKNOWN_DESTINATION_RULE_HOST,
    JWKS_URI_FETCH_UNRESTRICTED,
    GATEWAY_API_CRD_VERSION_BELOW_MINIMUM,
    CONFLICTING_SERVICE_ENTRY_PROTOCOL,
    DUPLICATE_OBJECT,
    ROUTE_WEIGHTS_DO_NOT_ADD_UP,
    CONFLICTING_PEER_AUTHENTICATIONS,
    RETRIES_EXCEED_ROUTE_TIMEOUT,
    TLS_MODE_CONFLICTS_WITH_PEER_AUTHENTICATION,
];
