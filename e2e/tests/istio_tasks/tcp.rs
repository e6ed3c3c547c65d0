//! TCP traffic shifting (Istio's tcp-echo task).

use super::*;

const TCP_PORT: u16 = 9000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_traffic_shifts_80_20_between_tcp_echo_v1_and_v2_over_delta_xds() {
    let mut mesh =
        mesh_or_skip!("tcp_traffic_shifts_80_20_between_tcp_echo_v1_and_v2_over_delta_xds");
    let client_ip = mesh.ip(2);
    // The client reaches TCP port 9000 the way it reaches 8080: a bound egress
    // listener. REGISTRY_ONLY: a connection the listener does not route would
    // otherwise pass through to its own address, the listener itself.
    mesh.apply(
        "client.yaml",
        &registry_only_client(
            &mesh,
            &format!("{{number: {TCP_PORT}, protocol: TCP, name: tcp}}"),
            "[./*]",
        ),
    );
    let vip = mesh.ip(250);
    mesh.apply(
        "service-tcp-echo.yaml",
        &format!(
            "
            apiVersion: v1
            kind: Service
            metadata:
              name: tcp-echo
              namespace: e2e
              labels:
                app: tcp-echo
                service: tcp-echo
            spec:
              clusterIP: {vip}
              ports:
              - name: tcp
                port: {TCP_PORT}
              selector:
                app: tcp-echo
            "
        ),
    );
    let mut servers = Vec::new();
    for version in ["v1", "v2"] {
        let ip = mesh.allocate_ip();
        let addr: SocketAddr = format!("{ip}:{TCP_PORT}").parse().expect("address");
        let name = format!("tcp-echo-{version}");
        servers.push(
            TcpEchoServer::start(&name, addr)
                .await
                .unwrap_or_else(|e| panic!("tcp echo on {addr}: {e}")),
        );
        mesh.apply(
            &format!("workload-{name}.yaml"),
            &format!(
                "
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {{name: {name}, namespace: e2e}}
                spec:
                  address: {ip}
                  labels: {{app: tcp-echo, version: {version}}}
                  serviceAccount: tcp-echo
                  ports: {{tcp: {TCP_PORT}}}
                "
            ),
        );
    }
    // The task's tcp-echo-all-v1.yaml.
    let route = |v1: u32, v2: u32| {
        format!(
            "
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata:
              name: tcp-echo-destination
              namespace: e2e
            spec:
              host: tcp-echo
              subsets:
              - name: v1
                labels:
                  version: v1
              - name: v2
                labels:
                  version: v2
            ---
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata:
              name: tcp-echo
              namespace: e2e
            spec:
              hosts:
              - tcp-echo
              tcp:
              - match:
                - port: {TCP_PORT}
                route:
                - destination:
                    host: tcp-echo
                    port:
                      number: {TCP_PORT}
                    subset: v1
                  weight: {v1}
                - destination:
                    host: tcp-echo
                    port:
                      number: {TCP_PORT}
                    subset: v2
                  weight: {v2}
            "
        )
    };
    mesh.apply("tcp-echo-rules.yaml", &route(100, 0));
    mesh.start_client(true).await;
    let addr: SocketAddr = format!("{client_ip}:{TCP_PORT}").parse().expect("address");

    let only_v1 = || async {
        for i in 0..12 {
            let answer = tcp_exchange(addr, &format!("hello {i}")).await?;
            if answer != format!("tcp-echo-v1 hello {i}") {
                return Err(format!("answer {answer:?}"));
            }
        }
        Ok(())
    };
    eventually("tcp-echo to answer from v1 only", CONFIG_DEADLINE, only_v1).await;

    // tcp-echo-20-v2.yaml.
    mesh.apply("tcp-echo-rules.yaml", &route(80, 20));
    eventually("v2 to get connections", CONFIG_DEADLINE, || async {
        let answer = tcp_exchange(addr, "hello").await?;
        if answer.starts_with("tcp-echo-v2 ") {
            Ok(())
        } else {
            Err(answer)
        }
    })
    .await;
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..8 {
        tasks.spawn(async move {
            let mut v1 = 0u64;
            let mut v2 = 0u64;
            for i in 0..50 {
                let line = format!("hello {task}-{i}");
                let answer = tcp_exchange(addr, &line).await?;
                match answer.strip_suffix(&format!(" {line}")) {
                    Some("tcp-echo-v1") => v1 += 1,
                    Some("tcp-echo-v2") => v2 += 1,
                    _ => return Err(format!("unexpected answer {answer:?}")),
                }
            }
            Ok::<_, String>((v1, v2))
        });
    }
    let (mut v1, mut v2) = (0, 0);
    while let Some(done) = tasks.join_next().await {
        let (a, b) = done
            .expect("exchange task")
            .unwrap_or_else(|e| panic!("{e}"));
        v1 += a;
        v2 += b;
    }
    assert_eq!(v1 + v2, 400);
    assert_binomial("connections to tcp-echo-v1 at 80%", v1, 400, 0.8, 4.5);
    assert!(servers.iter().all(|s| s.connections() > 0));
}
