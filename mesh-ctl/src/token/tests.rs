//! `meshctl token create` against a fake debug endpoint on 127.0.0.1.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::mpsc;

use super::*;

fn args(workload: &str, ttl: Option<&str>, control_plane: &str) -> CreateArgs {
    CreateArgs {
        workload: workload.into(),
        service_account: "web".into(),
        ttl: ttl.map(str::to_string),
        admin_token_file: None,
        control_plane: ControlPlaneArgs {
            control_plane: Some(control_plane.into()),
        },
    }
}

/// Answers one request with `status` and `body`; reports the request's head and body.
fn serve_once(status: &'static str, body: String) -> (String, mpsc::Receiver<(String, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut head = String::new();
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().unwrap();
            }
            if line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let mut request_body = vec![0; length];
        reader.read_exact(&mut request_body).unwrap();
        let _ = tx.send((head, String::from_utf8(request_body).unwrap()));
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
    });
    (address, rx)
}

#[test]
fn the_token_is_asked_for_with_a_json_post_and_returned() {
    let answer = TokenResponse {
        token: "eyJ.eyJ.sig".into(),
        identity: "spiffe://cluster.local/ns/shop/sa/web".into(),
        workload: "web-1.shop".into(),
        expires_at: "2030-01-01T00:00:00Z".into(),
    };
    let (address, seen) = serve_once("200 OK", serde_json::to_string(&answer).unwrap());
    let token = create(
        &args("web-1.shop", Some("1h"), &address),
        &ClusterArgs::default(),
    )
    .unwrap();
    assert_eq!(token, answer);
    let (head, body) = seen.recv().unwrap();
    assert!(head.starts_with("POST /debug/tokens HTTP/1.1"), "{head}");
    let sent: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        sent,
        serde_json::json!({"workload": "web-1.shop", "serviceAccount": "web", "ttl": "1h"})
    );
}

#[test]
fn a_refusal_says_what_the_control_plane_said() {
    let refusal = r#"{"error": "/debug/tokens is granted to local callers only"}"#;
    let (address, _seen) = serve_once("403 Forbidden", refusal.into());
    let error = create(&args("web-1.shop", None, &address), &ClusterArgs::default()).unwrap_err();
    assert!(error.to_string().contains("local callers only"), "{error}");
}

#[test]
fn typos_are_named_before_any_request() {
    let error = request(&args("web-1", None, "127.0.0.1:1")).unwrap_err();
    assert!(
        error.to_string().contains("--workload web-1.shop"),
        "{error}"
    );
    let error = request(&args("web-1.shop", Some("1 day"), "127.0.0.1:1")).unwrap_err();
    assert!(error.to_string().contains("--ttl"), "{error}");
}
