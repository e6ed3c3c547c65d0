//! The mesh's sample workload, one binary for every role of the demo and the tests:
//!
//! - an HTTP/1.1 + h2c server answering JSON that names the workload and echoes the
//!   request, and that calls its upstreams so a chain (frontend → backend → ratings)
//!   shows which version answered at each hop ([`http_server`]);
//! - a unary gRPC service `mesh.sample.Echo/Echo` ([`grpc`]);
//! - a server-first TCP protocol (a banner before the client says anything), the case
//!   protocol detection must not break ([`tcp`]);
//! - client modes that print per-version counts, status codes and latency
//!   percentiles ([`load`], [`summary`]).

pub mod faults;
pub mod grpc;
pub mod http_server;
pub mod load;
pub mod reply;
pub mod summary;
pub mod tcp;
pub mod upstream;
pub mod workload;

pub use reply::{EchoReply, UpstreamReply};
pub use summary::Summary;
pub use workload::Workload;
