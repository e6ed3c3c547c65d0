use super::*;

const KUBECONFIG: &str = "apiVersion: v1
kind: Config
clusters:
- name: kind
  cluster: {server: \"https://127.0.0.1:6443\", insecure-skip-tls-verify: true}
users:
- name: dev
  user: {token: abc}
contexts:
- name: kind-mesh
  context: {cluster: kind, user: dev, namespace: shop}
current-context: kind-mesh
";

fn args(file: &std::path::Path, context: Option<&str>) -> ClusterArgs {
    ClusterArgs {
        kubeconfig: Some(file.to_path_buf()),
        context: context.map(str::to_string),
        mesh_namespace: "mesh-system".to_string(),
        ..ClusterArgs::default()
    }
}

#[tokio::test]
async fn the_context_namespace_is_the_default_and_n_overrides_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config");
    std::fs::write(&file, KUBECONFIG).unwrap();
    let cluster = args(&file, None).connect().await.unwrap();
    assert_eq!(cluster.namespace, "shop");
    let cluster = ClusterArgs {
        namespace: Some("web".to_string()),
        ..args(&file, Some("kind-mesh"))
    }
    .connect()
    .await
    .unwrap();
    assert_eq!(cluster.namespace, "web");
    assert!(args(&file, None).configured());
}

#[tokio::test]
async fn a_missing_file_or_context_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let missing = args(&dir.path().join("nope"), None)
        .config()
        .await
        .unwrap_err();
    assert!(
        format!("{missing:#}").contains("check the path given to --kubeconfig"),
        "{missing:#}"
    );
    let file = dir.path().join("config");
    std::fs::write(&file, KUBECONFIG).unwrap();
    let context = args(&file, Some("prod")).config().await.unwrap_err();
    assert!(
        format!("{context:#}").contains("cannot use context \"prod\"")
            && format!("{context:#}").contains("kubectl config get-contexts"),
        "{context:#}"
    );
}
