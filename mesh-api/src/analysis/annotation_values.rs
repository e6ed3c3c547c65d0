//! The values Istio's injector accepts for its annotations (its `AnnotationValidation`).

use std::net::IpAddr;

/// Checks the value of an annotation that has a format; others pass.
pub(crate) fn validate(name: &str, value: &str) -> Result<(), String> {
    match name {
        "sidecar.istio.io/interceptionMode" => match value {
            "REDIRECT" | "TPROXY" | "NONE" => Ok(()),
            _ => Err(format!(
                "interceptionMode invalid, use REDIRECT,TPROXY,NONE: {value}"
            )),
        },
        "status.sidecar.istio.io/port" => port(value).map(|_| ()),
        "readiness.status.sidecar.istio.io/initialDelaySeconds"
        | "readiness.status.sidecar.istio.io/periodSeconds"
        | "readiness.status.sidecar.istio.io/failureThreshold" => value
            .parse::<u32>()
            .map(|_| ())
            .map_err(|_| format!("{value:?} is not a non-negative 32-bit integer")),
        "traffic.sidecar.istio.io/includeOutboundIPRanges" if value == "*" => Ok(()),
        "traffic.sidecar.istio.io/includeOutboundIPRanges" => {
            cidrs(value).map_err(|e| format!("includeIPRanges invalid: {e}"))
        }
        "traffic.sidecar.istio.io/excludeOutboundIPRanges" => {
            cidrs(value).map_err(|e| format!("excludeIPRanges invalid: {e}"))
        }
        "traffic.sidecar.istio.io/includeInboundPorts" if value == "*" => Ok(()),
        "traffic.sidecar.istio.io/includeInboundPorts" => ports(value, "includeInboundPorts"),
        "traffic.sidecar.istio.io/excludeInboundPorts" => ports(value, "excludeInboundPorts"),
        "traffic.sidecar.istio.io/excludeOutboundPorts" => ports(value, "excludeOutboundPorts"),
        "traffic.sidecar.istio.io/excludeInterfaces"
        | "traffic.sidecar.istio.io/kubevirtInterfaces"
        | "istio.io/reroute-virtual-interfaces" => interfaces(value),
        "prometheus.istio.io/merge-metrics" => match value {
            "1" | "t" | "T" | "TRUE" | "true" | "True" | "0" | "f" | "F" | "FALSE" | "false"
            | "False" => Ok(()),
            _ => Err(format!("{value:?} is not a boolean")),
        },
        "proxy.istio.io/config" => serde_norway::from_str::<serde_json::Value>(value)
            .map_err(|e| format!("failed to convert to apply proxy config: {e}"))
            .and_then(|v| {
                (v.is_object() || v.is_null())
                    .then_some(())
                    .ok_or_else(|| "proxy config must be a mapping".to_string())
            }),
        "sidecar.istio.io/proxyCPU"
        | "sidecar.istio.io/proxyMemory"
        | "sidecar.istio.io/proxyCPULimit"
        | "sidecar.istio.io/proxyMemoryLimit" => quantity(value),
        _ => Ok(()),
    }
}

fn port(text: &str) -> Result<u16, String> {
    text.trim()
        .parse::<u16>()
        .map_err(|_| format!("failed parsing port {text:?}"))
}

fn ports(value: &str, what: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        return Ok(());
    }
    value
        .split(',')
        .try_for_each(|p| port(p).map(|_| ()))
        .map_err(|e| format!("{what} invalid: {e}"))
}

fn cidrs(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Ok(());
    }
    for cidr in value.split(',') {
        let valid = cidr.split_once('/').is_some_and(|(ip, bits)| {
            let max = match ip.parse::<IpAddr>() {
                Ok(IpAddr::V4(_)) => 32,
                Ok(IpAddr::V6(_)) => 128,
                Err(_) => return false,
            };
            bits.parse::<u8>().is_ok_and(|b| b <= max)
        });
        if !valid {
            return Err(format!("failed parsing cidr {cidr:?}"));
        }
    }
    Ok(())
}

fn interfaces(value: &str) -> Result<(), String> {
    for name in value.split(',') {
        let name = name.trim();
        if name.is_empty() && value.trim().is_empty() {
            continue;
        }
        let valid = !name.is_empty()
            && name.len() <= 15
            && name != "."
            && name != ".."
            && !name.chars().any(|c| c == '/' || c.is_whitespace());
        if !valid {
            return Err(format!("invalid interface name {name:?}"));
        }
    }
    Ok(())
}

/// A Kubernetes resource quantity: a decimal number with an optional suffix.
fn quantity(value: &str) -> Result<(), String> {
    let invalid = || {
        Err(format!(
            "quantity {value:?} does not match the expected format"
        ))
    };
    let body = value.strip_prefix(['+', '-']).unwrap_or(value);
    let digits_end = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(body.len());
    let (number, suffix) = body.split_at(digits_end);
    if number.is_empty() || number == "." || number.matches('.').count() > 1 {
        return invalid();
    }
    let suffix_ok = matches!(
        suffix,
        "" | "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" | "m" | "k" | "M" | "G" | "T" | "P" | "E"
    ) || suffix.strip_prefix(['e', 'E']).is_some_and(|exp| {
        let exp = exp.strip_prefix(['+', '-']).unwrap_or(exp);
        !exp.is_empty() && exp.chars().all(|c| c.is_ascii_digit())
    });
    if suffix_ok { Ok(()) } else { invalid() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_the_injector_accepts() {
        for (name, value) in [
            ("sidecar.istio.io/interceptionMode", "TPROXY"),
            ("traffic.sidecar.istio.io/includeOutboundIPRanges", "*"),
            (
                "traffic.sidecar.istio.io/excludeOutboundIPRanges",
                "10.0.0.0/8,fd00::/8",
            ),
            ("traffic.sidecar.istio.io/excludeInboundPorts", "80, 443"),
            ("sidecar.istio.io/proxyCPU", "100m"),
            ("sidecar.istio.io/proxyMemory", "1.5Gi"),
            ("prometheus.istio.io/merge-metrics", "False"),
            (
                "proxy.istio.io/config",
                "holdApplicationUntilProxyStarts: true",
            ),
            ("traffic.sidecar.istio.io/excludeInterfaces", "eth1,net2"),
        ] {
            assert_eq!(validate(name, value), Ok(()), "{name}={value}");
        }
        for (name, value) in [
            ("sidecar.istio.io/interceptionMode", "DNAT"),
            (
                "traffic.sidecar.istio.io/includeOutboundIPRanges",
                "10.0.0.0",
            ),
            ("traffic.sidecar.istio.io/excludeInboundPorts", "80,http"),
            ("status.sidecar.istio.io/port", "70000"),
            ("sidecar.istio.io/proxyCPU", "lots"),
            ("prometheus.istio.io/merge-metrics", "yes"),
            ("proxy.istio.io/config", "[1, 2]"),
            (
                "traffic.sidecar.istio.io/kubevirtInterfaces",
                "a-very-long-interface-name",
            ),
        ] {
            assert!(validate(name, value).is_err(), "{name}={value}");
        }
    }
}
