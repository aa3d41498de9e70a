//! The plugin in CSI mode, driven over its Unix socket by a real gRPC client: every RPC it
//! serves, and each with bad input, which must answer the right status and change nothing.

mod plugin_support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use cloudstor::plugin::csi::proto::controller_client::ControllerClient;
use cloudstor::plugin::csi::proto::controller_service_capability::{Type as ControllerType, rpc};
use cloudstor::plugin::csi::proto::identity_client::IdentityClient;
use cloudstor::plugin::csi::proto::node_client::NodeClient;
use cloudstor::plugin::csi::proto::volume_capability::access_mode::Mode;
use cloudstor::plugin::csi::proto::volume_capability::{
    AccessMode, AccessType, BlockVolume, MountVolume,
};
use cloudstor::plugin::csi::proto::*;
use cloudstor::plugin::imds::ENDPOINT_VAR;
use hyper_util::rt::TokioIo;
use plugin_support::imds::{ImdsServer, status_of};
use plugin_support::{TestPlugin, snapshot};
use tonic::Code;
use tonic::transport::{Channel, Endpoint, Uri};

const CSI: &str = "protocol = \"csi\"\navailability_zone = \"us-east-1a\"";

struct Csi {
    identity: IdentityClient<Channel>,
    controller: ControllerClient<Channel>,
    node: NodeClient<Channel>,
}

async fn connect(socket: &Path) -> Csi {
    let socket = socket.to_path_buf();
    // The URI is required by the API and ignored: every connection goes to the socket.
    let channel = Endpoint::from_static("http://plugin")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(socket).await?;
                Ok::<_, std::io::Error>(TokioIo::new(stream))
            }
        }))
        .await
        .unwrap();
    Csi {
        identity: IdentityClient::new(channel.clone()),
        controller: ControllerClient::new(channel.clone()),
        node: NodeClient::new(channel),
    }
}

fn capability(mode: Mode) -> VolumeCapability {
    VolumeCapability {
        access_type: Some(AccessType::Mount(MountVolume::default())),
        access_mode: Some(AccessMode { mode: mode as i32 }),
    }
}

fn create(name: &str, mode: Mode, parameters: &[(&str, &str)]) -> CreateVolumeRequest {
    CreateVolumeRequest {
        name: name.into(),
        volume_capabilities: vec![capability(mode)],
        parameters: parameters
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect(),
        ..Default::default()
    }
}

fn publish(volume: &str, target: &Path, mode: Mode) -> NodePublishVolumeRequest {
    NodePublishVolumeRequest {
        volume_id: volume.into(),
        target_path: target.to_string_lossy().into_owned(),
        volume_capability: Some(capability(mode)),
        ..Default::default()
    }
}

fn unpublish(volume: &str, target: &Path) -> NodeUnpublishVolumeRequest {
    NodeUnpublishVolumeRequest {
        volume_id: volume.into(),
        target_path: target.to_string_lossy().into_owned(),
    }
}

fn trash_entries(shared: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(shared.join("trash"))
        .map(|entries| entries.map(|entry| entry.unwrap().path()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn identity_and_capabilities_describe_a_controller_and_node_plugin() {
    let shared = tempfile::tempdir().unwrap();
    let plugin = TestPlugin::start(shared.path(), "node-a", CSI);
    let mut csi = connect(&plugin.socket).await;

    let info = csi
        .identity
        .get_plugin_info(GetPluginInfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.name, "cloudstor.csi");
    let probe = csi.identity.probe(ProbeRequest {}).await.unwrap();
    assert_eq!(probe.into_inner().ready, Some(true));
    let plugin_caps = csi
        .identity
        .get_plugin_capabilities(GetPluginCapabilitiesRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(plugin_caps.capabilities.len(), 2);

    let controller_caps = csi
        .controller
        .controller_get_capabilities(ControllerGetCapabilitiesRequest {})
        .await
        .unwrap()
        .into_inner();
    let rpcs: Vec<i32> = controller_caps
        .capabilities
        .iter()
        .map(|cap| match &cap.r#type {
            Some(ControllerType::Rpc(rpc)) => rpc.r#type,
            None => panic!("a capability without a type"),
        })
        .collect();
    assert_eq!(rpcs, [rpc::Type::CreateDeleteVolume as i32]);

    let node_caps = csi
        .node
        .node_get_capabilities(NodeGetCapabilitiesRequest {})
        .await
        .unwrap();
    assert!(node_caps.into_inner().capabilities.is_empty(), "no staging");
    let node = csi
        .node
        .node_get_info(NodeGetInfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(node.node_id, "node-a");
    let zone = node.accessible_topology.unwrap().segments;
    assert_eq!(
        zone,
        HashMap::from([("cloudstor/zone".into(), "us-east-1a".into())])
    );
}

#[tokio::test]
async fn a_volume_on_a_one_zone_file_system_is_accessible_from_that_zone_only() {
    let shared = tempfile::tempdir().unwrap();
    let fs = format!(
        "[[filesystems]]\nid = \"zonal\"\nbackend = \"hostpath\"\npath = \"{}\"\none_zone = \"us-east-1b\"\n",
        shared.path().display()
    );
    let plugin = TestPlugin::start_with_filesystems("node-a", CSI, &fs);
    let mut csi = connect(&plugin.socket).await;
    let created = csi
        .controller
        .create_volume(create("zonal-data", Mode::MultiNodeMultiWriter, &[]))
        .await
        .unwrap();
    let topology = created.into_inner().volume.unwrap().accessible_topology;
    assert_eq!(topology.len(), 1);
    assert_eq!(topology[0].segments["cloudstor/zone"], "us-east-1b");

    let regional = tempfile::tempdir().unwrap();
    let plugin = TestPlugin::start(regional.path(), "node-a", CSI);
    let mut csi = connect(&plugin.socket).await;
    let created = csi
        .controller
        .create_volume(create("regional-data", Mode::MultiNodeMultiWriter, &[]))
        .await
        .unwrap();
    assert!(
        created
            .into_inner()
            .volume
            .unwrap()
            .accessible_topology
            .is_empty()
    );
}

#[tokio::test]
async fn a_volume_is_created_published_unpublished_and_trashed() {
    let shared = tempfile::tempdir().unwrap();
    let targets = tempfile::tempdir().unwrap();
    let plugin = TestPlugin::start(shared.path(), "node-a", CSI);
    let mut csi = connect(&plugin.socket).await;

    let mut request = create("web", Mode::MultiNodeMultiWriter, &[("uid", "1000")]);
    request.capacity_range = Some(CapacityRange {
        required_bytes: 1 << 30,
        limit_bytes: 0,
    });
    let created = csi.controller.create_volume(request.clone()).await.unwrap();
    let volume = created.into_inner().volume.unwrap();
    assert_eq!(volume.volume_id, "web");
    assert_eq!(volume.capacity_bytes, 0, "no quota, so the size is unknown");
    assert!(volume.volume_context["capacity"].contains("not enforced"));
    assert!(volume.volume_context["options"].contains("uid=1000"));
    csi.controller
        .create_volume(request)
        .await
        .expect("the same request again is the same volume");

    let writer = targets.path().join("writer");
    csi.node
        .node_publish_volume(publish("web", &writer, Mode::MultiNodeMultiWriter))
        .await
        .unwrap();
    std::fs::write(writer.join("hello"), "world").unwrap();
    let stored = shared.path().join("volumes/web/data/hello");
    assert_eq!(std::fs::read_to_string(stored).unwrap(), "world");
    let reader = targets.path().join("reader");
    csi.node
        .node_publish_volume(publish("web", &reader, Mode::MultiNodeReaderOnly))
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(reader.join("hello")).unwrap(),
        "world"
    );
    let refused = std::fs::write(reader.join("other"), "x").unwrap_err();
    assert_eq!(refused.raw_os_error(), Some(libc::EROFS));

    let in_use = csi
        .controller
        .delete_volume(DeleteVolumeRequest {
            volume_id: "web".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(in_use.code(), Code::FailedPrecondition, "{in_use:?}");

    for target in [&writer, &reader] {
        csi.node
            .node_unpublish_volume(unpublish("web", target))
            .await
            .unwrap();
        assert!(!target.exists(), "the target directory is removed");
        csi.node
            .node_unpublish_volume(unpublish("web", target))
            .await
            .expect("a repeated unpublish is fine");
    }
    let delete = DeleteVolumeRequest {
        volume_id: "web".into(),
        ..Default::default()
    };
    csi.controller.delete_volume(delete.clone()).await.unwrap();
    assert!(!shared.path().join("volumes/web").exists());
    assert_eq!(trash_entries(shared.path()).len(), 1, "moved to the trash");
    csi.controller
        .delete_volume(delete)
        .await
        .expect("deleting a deleted volume is fine");
}

#[tokio::test]
async fn onewriter_refuses_a_second_node_until_the_first_unpublishes() {
    let shared = tempfile::tempdir().unwrap();
    let targets = tempfile::tempdir().unwrap();
    let node_a = TestPlugin::start(shared.path(), "node-a", CSI);
    let node_b = TestPlugin::start(shared.path(), "node-b", CSI);
    let (mut a, mut b) = (connect(&node_a.socket).await, connect(&node_b.socket).await);
    let mode = Mode::MultiNodeSingleWriter;
    a.controller
        .create_volume(create("db", mode, &[]))
        .await
        .unwrap();
    let (on_a, on_b) = (targets.path().join("a"), targets.path().join("b"));
    a.node
        .node_publish_volume(publish("db", &on_a, mode))
        .await
        .unwrap();

    let refused = b
        .node
        .node_publish_volume(publish("db", &on_b, mode))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert!(refused.message().contains("node-a"), "{refused:?}");
    assert!(!on_b.exists(), "a refused publish leaves no target");

    a.node
        .node_unpublish_volume(unpublish("db", &on_a))
        .await
        .unwrap();
    b.node
        .node_publish_volume(publish("db", &on_b, mode))
        .await
        .expect("free once node-a unpublished");
    b.node
        .node_unpublish_volume(unpublish("db", &on_b))
        .await
        .unwrap();
}

/// Each call with bad input, the status it must get and a word its message must have.
type Refusal = (&'static str, Code, &'static str, tonic::Status);

async fn refusals(csi: &mut Csi, targets: &Path) -> Vec<Refusal> {
    let mode = Mode::MultiNodeMultiWriter;
    let target = targets.join("t");
    let mut block = capability(mode);
    block.access_type = Some(AccessType::Block(BlockVolume {}));
    let mut out = Vec::new();
    let mut expect = |what, code, word, result: Result<(), tonic::Status>| {
        out.push((what, code, word, result.expect_err(what)));
    };
    let c = &mut csi.controller;
    let n = &mut csi.node;
    let no_name = create("", mode, &[]);
    expect(
        "create without name",
        Code::InvalidArgument,
        "name",
        c.create_volume(no_name).await.map(drop),
    );
    let mut no_caps = create("v", mode, &[]);
    no_caps.volume_capabilities.clear();
    expect(
        "create without capabilities",
        Code::InvalidArgument,
        "volume_capabilities",
        c.create_volume(no_caps).await.map(drop),
    );
    let mut as_block = create("v", mode, &[]);
    as_block.volume_capabilities = vec![block.clone()];
    expect(
        "create a block volume",
        Code::InvalidArgument,
        "--type mount",
        c.create_volume(as_block).await.map(drop),
    );
    let unknown_mode = create("v", Mode::Unknown, &[]);
    expect(
        "create with no access mode",
        Code::InvalidArgument,
        "--sharing",
        c.create_volume(unknown_mode).await.map(drop),
    );
    let unknown_opt = create("v", mode, &[("size", "10G")]);
    expect(
        "create with an unknown parameter",
        Code::InvalidArgument,
        "valid options",
        c.create_volume(unknown_opt).await.map(drop),
    );
    let bad_uid = create("v", mode, &[("uid", "-1")]);
    expect(
        "create with a bad uid",
        Code::InvalidArgument,
        "uid",
        c.create_volume(bad_uid).await.map(drop),
    );
    let access = create("v", mode, &[("access", "single-node")]);
    expect(
        "create with access",
        Code::InvalidArgument,
        "--sharing",
        c.create_volume(access).await.map(drop),
    );
    let bad_name = create("../etc", mode, &[]);
    expect(
        "create with a bad name",
        Code::InvalidArgument,
        "name",
        c.create_volume(bad_name).await.map(drop),
    );
    let mut inverted = create("v", mode, &[]);
    inverted.capacity_range = Some(CapacityRange {
        required_bytes: 10,
        limit_bytes: 5,
    });
    expect(
        "create with required > limit",
        Code::OutOfRange,
        "--limit-bytes",
        c.create_volume(inverted).await.map(drop),
    );
    let mut cloned = create("v", mode, &[]);
    cloned.volume_content_source = Some(VolumeContentSource::default());
    expect(
        "create from a snapshot",
        Code::InvalidArgument,
        "snapshot",
        c.create_volume(cloned).await.map(drop),
    );
    let conflict = create("existing", mode, &[("uid", "7")]);
    expect(
        "create an existing volume with other options",
        Code::AlreadyExists,
        "existing",
        c.create_volume(conflict).await.map(drop),
    );
    let other_scope = create("existing", Mode::SingleNodeWriter, &[]);
    expect(
        "create an existing volume with another scope",
        Code::AlreadyExists,
        "access",
        c.create_volume(other_scope).await.map(drop),
    );

    let delete = |id: &str| DeleteVolumeRequest {
        volume_id: id.into(),
        ..Default::default()
    };
    expect(
        "delete without id",
        Code::InvalidArgument,
        "volume_id",
        c.delete_volume(delete("")).await.map(drop),
    );
    expect(
        "delete a bad name",
        Code::InvalidArgument,
        "name",
        c.delete_volume(delete("a/b")).await.map(drop),
    );
    expect(
        "delete a published volume",
        Code::FailedPrecondition,
        "mounted",
        c.delete_volume(delete("existing")).await.map(drop),
    );
    let validate = |id: &str, caps: Vec<VolumeCapability>| ValidateVolumeCapabilitiesRequest {
        volume_id: id.into(),
        volume_capabilities: caps,
        ..Default::default()
    };
    expect(
        "validate an unknown volume",
        Code::NotFound,
        "no such volume",
        c.validate_volume_capabilities(validate("nope", vec![capability(mode)]))
            .await
            .map(drop),
    );
    expect(
        "validate without capabilities",
        Code::InvalidArgument,
        "volume_capabilities",
        c.validate_volume_capabilities(validate("existing", vec![]))
            .await
            .map(drop),
    );
    let attach = ControllerPublishVolumeRequest {
        volume_id: "existing".into(),
        node_id: "node-a".into(),
        ..Default::default()
    };
    expect(
        "controller publish",
        Code::Unimplemented,
        "",
        c.controller_publish_volume(attach).await.map(drop),
    );

    expect(
        "publish an unknown volume",
        Code::NotFound,
        "no such volume",
        n.node_publish_volume(publish("nope", &target, mode))
            .await
            .map(drop),
    );
    let mut no_cap = publish("existing", &target, mode);
    no_cap.volume_capability = None;
    expect(
        "publish without capability",
        Code::InvalidArgument,
        "volume_capability",
        n.node_publish_volume(no_cap).await.map(drop),
    );
    let mut block_publish = publish("existing", &target, mode);
    block_publish.volume_capability = Some(block);
    expect(
        "publish as a block device",
        Code::InvalidArgument,
        "--type mount",
        n.node_publish_volume(block_publish).await.map(drop),
    );
    expect(
        "publish without target",
        Code::InvalidArgument,
        "target_path",
        n.node_publish_volume(publish("existing", Path::new(""), mode))
            .await
            .map(drop),
    );
    expect(
        "publish at a relative target",
        Code::InvalidArgument,
        "absolute",
        n.node_publish_volume(publish("existing", Path::new("rel"), mode))
            .await
            .map(drop),
    );
    expect(
        "publish without volume id",
        Code::InvalidArgument,
        "volume_id",
        n.node_publish_volume(publish("", &target, mode))
            .await
            .map(drop),
    );
    expect(
        "unpublish an unknown volume",
        Code::NotFound,
        "no such volume",
        n.node_unpublish_volume(unpublish("nope", &target))
            .await
            .map(drop),
    );
    expect(
        "unpublish without target",
        Code::InvalidArgument,
        "target_path",
        n.node_unpublish_volume(unpublish("existing", Path::new("")))
            .await
            .map(drop),
    );
    let stage = NodeStageVolumeRequest {
        volume_id: "existing".into(),
        ..Default::default()
    };
    expect(
        "stage",
        Code::Unimplemented,
        "",
        n.node_stage_volume(stage).await.map(drop),
    );
    out
}

#[tokio::test]
async fn bad_input_answers_the_right_status_and_changes_nothing() {
    let shared = tempfile::tempdir().unwrap();
    let targets = tempfile::tempdir().unwrap();
    // Heartbeats rewrite a file on the shared file system; none falls within the test.
    let plugin = TestPlugin::start(
        shared.path(),
        "node-a",
        &format!("{CSI}\nlease_ttl_secs = 3600"),
    );
    let mut csi = connect(&plugin.socket).await;
    let mode = Mode::MultiNodeMultiWriter;
    csi.controller
        .create_volume(create("existing", mode, &[]))
        .await
        .unwrap();
    let published = targets.path().join("published");
    csi.node
        .node_publish_volume(publish("existing", &published, mode))
        .await
        .unwrap();
    let roots = [shared.path(), targets.path(), &plugin.state_dir()];
    let before = snapshot(&roots);

    for (what, code, word, status) in refusals(&mut csi, targets.path()).await {
        assert_eq!(status.code(), code, "{what}: {status:?}");
        assert!(status.message().contains(word), "{what}: {status:?}");
    }
    assert_eq!(snapshot(&roots), before, "bad input changed the disk");
    csi.node
        .node_unpublish_volume(unpublish("existing", &published))
        .await
        .unwrap();
}

fn one_zone_filesystem(shared: &Path, zone: &str) -> String {
    format!(
        "[[filesystems]]\nid = \"zonal\"\nbackend = \"hostpath\"\npath = \"{}\"\none_zone = \"{zone}\"\n",
        shared.display()
    )
}

fn requiring(name: &str, requisite: &[&str], preferred: &[&str]) -> CreateVolumeRequest {
    let topologies = |zones: &[&str]| {
        zones
            .iter()
            .map(|zone| Topology {
                segments: HashMap::from([("cloudstor/zone".to_string(), zone.to_string())]),
            })
            .collect()
    };
    CreateVolumeRequest {
        accessibility_requirements: Some(TopologyRequirement {
            requisite: topologies(requisite),
            preferred: topologies(preferred),
        }),
        ..create(name, Mode::MultiNodeMultiWriter, &[])
    }
}

#[tokio::test]
async fn topology_required_outside_a_one_zone_file_systems_zone_creates_nothing() {
    let shared = tempfile::tempdir().unwrap();
    let fs = one_zone_filesystem(shared.path(), "us-east-1b");
    let plugin = TestPlugin::start_with_filesystems("node-a", CSI, &fs);
    let mut csi = connect(&plugin.socket).await;
    let roots = [shared.path(), &plugin.state_dir()];
    let before = snapshot(&roots);

    let elsewhere = requiring("zonal-data", &["us-east-1a", "us-east-1c"], &[]);
    let refused = csi.controller.create_volume(elsewhere).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(
        refused.message().contains("One Zone in us-east-1b"),
        "{refused:?}"
    );
    let mut region = requiring("zonal-data", &[], &[]);
    region.accessibility_requirements = Some(TopologyRequirement {
        requisite: vec![Topology {
            segments: HashMap::from([("region".to_string(), "us-east-1".to_string())]),
        }],
        preferred: Vec::new(),
    });
    let refused = csi.controller.create_volume(region).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert_eq!(
        snapshot(&roots),
        before,
        "a refused create changed the disk"
    );

    // A preference is not a requirement: the spec lets the plugin pick, and says which.
    let preferred = requiring("preferred-data", &[], &["us-east-1a"]);
    let created = csi.controller.create_volume(preferred).await.unwrap();
    let topology = created.into_inner().volume.unwrap().accessible_topology;
    assert_eq!(topology[0].segments["cloudstor/zone"], "us-east-1b");
    let within = requiring("zonal-data", &["us-east-1a", "us-east-1b"], &["us-east-1a"]);
    let created = csi.controller.create_volume(within).await.unwrap();
    let topology = created.into_inner().volume.unwrap().accessible_topology;
    assert_eq!(topology[0].segments["cloudstor/zone"], "us-east-1b");
    let again = requiring("zonal-data", &["us-east-1c"], &[]);
    let refused = csi.controller.create_volume(again).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
}

#[tokio::test]
async fn a_node_in_another_zone_does_not_publish_a_one_zone_volume() {
    let shared = tempfile::tempdir().unwrap();
    let targets = tempfile::tempdir().unwrap();
    let fs = one_zone_filesystem(shared.path(), "us-east-1b");
    // CSI puts this node in us-east-1a.
    let plugin = TestPlugin::start_with_filesystems("node-a", CSI, &fs);
    let mut csi = connect(&plugin.socket).await;
    let mode = Mode::MultiNodeMultiWriter;
    csi.controller
        .create_volume(create("zonal-data", mode, &[]))
        .await
        .unwrap();
    let roots = [shared.path(), targets.path(), &plugin.state_dir()];
    let before = snapshot(&roots);
    let target = targets.path().join("t");
    let refused = csi
        .node
        .node_publish_volume(publish("zonal-data", &target, mode))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert!(refused.message().contains("us-east-1a"), "{refused:?}");
    assert_eq!(
        snapshot(&roots),
        before,
        "a refused publish changed the disk"
    );

    let in_zone = "protocol = \"csi\"\navailability_zone = \"us-east-1b\"";
    let node_b = TestPlugin::start_with_filesystems("node-b", in_zone, &fs);
    let mut csi = connect(&node_b.socket).await;
    csi.node
        .node_publish_volume(publish("zonal-data", &target, mode))
        .await
        .unwrap();
    csi.node
        .node_unpublish_volume(unpublish("zonal-data", &target))
        .await
        .unwrap();
}

const METADATA_ON: (&str, &str) = ("AWS_EC2_METADATA_DISABLED", "false");

async fn node_zone(plugin: &TestPlugin) -> Option<String> {
    let mut csi = connect(&plugin.socket).await;
    let info = csi.node.node_get_info(NodeGetInfoRequest {}).await.unwrap();
    info.into_inner()
        .accessible_topology
        .map(|topology| topology.segments["cloudstor/zone"].clone())
}

#[tokio::test]
async fn without_a_configured_zone_the_node_asks_instance_metadata_once_with_a_token() {
    let imds = ImdsServer::start("us-east-1c");
    let without_token = "GET /latest/meta-data/placement/availability-zone HTTP/1.1\r\n\
                         Host: x\r\nConnection: close\r\n\r\n";
    assert_eq!(status_of(&imds.endpoint, without_token), 401, "IMDSv2 only");
    let shared = tempfile::tempdir().unwrap();
    let fs = format!(
        "[[filesystems]]\nid = \"shared\"\nbackend = \"hostpath\"\npath = \"{}\"\n",
        shared.path().display()
    );
    let env = [METADATA_ON, (ENDPOINT_VAR, imds.endpoint.as_str())];
    let plugin = TestPlugin::start_with_env("node-a", "protocol = \"csi\"", &fs, &env);

    assert_eq!(node_zone(&plugin).await.as_deref(), Some("us-east-1c"));
    assert_eq!(node_zone(&plugin).await.as_deref(), Some("us-east-1c"));
    assert_eq!(
        imds.requests()[1..],
        [
            "PUT /latest/api/token -> 200",
            "GET /latest/meta-data/placement/availability-zone -> 200"
        ],
        "one handshake, then the cached zone"
    );
}

#[tokio::test]
async fn instance_metadata_that_never_answers_or_is_disabled_leaves_the_node_without_a_zone() {
    let silent = ImdsServer::silent();
    let shared = tempfile::tempdir().unwrap();
    let env = [METADATA_ON, (ENDPOINT_VAR, silent.endpoint.as_str())];
    let fs = format!(
        "[[filesystems]]\nid = \"shared\"\nbackend = \"hostpath\"\npath = \"{}\"\n",
        shared.path().display()
    );
    let plugin = TestPlugin::start_with_env("node-a", "protocol = \"csi\"", &fs, &env);
    let asked = std::time::Instant::now();
    assert_eq!(node_zone(&plugin).await, None);
    // The limit is 1 s; Swarm's call must not hang on a node off EC2.
    assert!(
        asked.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(node_zone(&plugin).await, None);
    assert_eq!(silent.requests(), ["connect"], "the failure is remembered");

    let imds = ImdsServer::start("us-east-1c");
    let disabled = [(ENDPOINT_VAR, imds.endpoint.as_str())];
    let plugin = TestPlugin::start_with_env("node-b", "protocol = \"csi\"", &fs, &disabled);
    assert_eq!(node_zone(&plugin).await, None);
    assert!(imds.requests().is_empty(), "{:?}", imds.requests());
}

/// The VolumeDriver mounter uses the same zone: an EFS name that does not resolve falls back
/// to the mount target of the zone instance metadata gives, and says which zone it looked for.
#[tokio::test]
async fn the_mounter_falls_back_to_the_zone_instance_metadata_gives() {
    let imds = ImdsServer::start("us-east-1c");
    let fs = "[[filesystems]]\nid = \"fs-0abc\"\nbackend = \"efs\"\n\
              dns_name = \"fs-0abc.efs.us-east-1.amazonaws.invalid\"\n\
              mount_target_ips = { \"us-east-1a\" = \"192.0.2.10\" }\n";
    let env = [METADATA_ON, (ENDPOINT_VAR, imds.endpoint.as_str())];
    let plugin = TestPlugin::start_with_env("node-a", "protocol = \"csi\"", fs, &env);
    let mut csi = connect(&plugin.socket).await;
    let refused = csi
        .controller
        .create_volume(create("web", Mode::MultiNodeMultiWriter, &[]))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    assert!(
        refused.message().contains("Availability Zone us-east-1c"),
        "{refused:?}"
    );
    assert_eq!(imds.requests().len(), 2, "{:?}", imds.requests());
}

#[test]
fn a_malformed_instance_metadata_endpoint_stops_the_plugin_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("plugin.toml");
    std::fs::write(
        &config,
        format!(
            "protocol = \"csi\"\nsocket = \"{0}/csi.sock\"\nstate_dir = \"{0}/state\"\n\
             mount_root = \"{0}/mnt\"\n[[filesystems]]\nid = \"a\"\nbackend = \"hostpath\"\npath = \"{0}\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cloudstor-plugin"))
        .arg("--config")
        .arg(&config)
        .env(ENDPOINT_VAR, "https://169.254.169.254")
        .env_remove("AWS_EC2_METADATA_DISABLED")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(ENDPOINT_VAR), "{stderr}");
}

/// A CSI plugin and a VolumeDriver plugin on one node and one store, as when both packages
/// are installed on the same file system.
fn both_plugins(shared: &Path) -> (TestPlugin, TestPlugin) {
    let cluster = TestPlugin::start(shared, "node-a", CSI);
    let local = TestPlugin::start(shared, "node-a", "");
    (cluster, local)
}

fn listed(plugin: &TestPlugin) -> Vec<String> {
    let reply = plugin.ok("/VolumeDriver.List", "{}");
    let volumes = reply["Volumes"].as_array().unwrap();
    volumes
        .iter()
        .map(|volume| volume["Name"].as_str().unwrap().to_string())
        .collect()
}

/// Docker resolves a bare name to the VolumeDriver volume first: had that plugin listed the
/// cluster volume, `docker volume rm NAME` would trash it behind Swarm's back.
#[tokio::test]
async fn the_volumedriver_plugin_neither_lists_nor_touches_a_cluster_volume() {
    let (shared, targets) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (cluster, local) = both_plugins(shared.path());
    let mut csi = connect(&cluster.socket).await;
    csi.controller
        .create_volume(create("web-data", Mode::MultiNodeMultiWriter, &[]))
        .await
        .unwrap();
    let task = targets.path().join("task");
    csi.node
        .node_publish_volume(publish("web-data", &task, Mode::MultiNodeMultiWriter))
        .await
        .unwrap();
    std::fs::write(task.join("kept"), "swarm's data").unwrap();
    local.ok("/VolumeDriver.Create", r#"{"Name":"local"}"#);
    assert_eq!(listed(&local), ["local"]);

    let roots = [shared.path(), &local.state_dir()];
    let before = snapshot(&roots);
    let name = r#"{"Name":"web-data"}"#;
    let mount = r#"{"Name":"web-data","ID":"c1"}"#;
    for (endpoint, body) in [
        ("/VolumeDriver.Get", name),
        ("/VolumeDriver.Path", name),
        ("/VolumeDriver.Mount", mount),
        ("/VolumeDriver.Remove", name),
        ("/VolumeDriver.Create", name),
        (
            "/VolumeDriver.Create",
            r#"{"Name":"web-data","Opts":{"uid":"7"}}"#,
        ),
    ] {
        let err = local.err(endpoint, body);
        assert!(
            err.contains("volume web-data is a Swarm cluster volume (created through CSI)")
                && err.contains("nothing was changed")
                && err.contains("docker volume rm --force")
                && err.contains("cluster ID"),
            "{endpoint} {body}: {err}"
        );
    }
    // It never mounted the volume, so an Unmount or a release has nothing to let go of.
    local.ok("/VolumeDriver.Unmount", mount);
    let released = local.ok("/Cloudstor.Release", name);
    assert_eq!(released["Released"], 0, "{released}");
    assert_eq!(listed(&local), ["local"]);
    assert_eq!(
        snapshot(&roots),
        before,
        "the VolumeDriver plugin changed the store"
    );

    csi.node
        .node_unpublish_volume(unpublish("web-data", &task))
        .await
        .unwrap();
    let data = shared.path().join("volumes/web-data/data/kept");
    assert_eq!(std::fs::read_to_string(data).unwrap(), "swarm's data");
}

/// The same from the other side: Swarm may neither take over, delete nor publish a
/// VolumeDriver volume's name.
#[tokio::test]
async fn the_csi_plugin_refuses_a_volumedriver_volume() {
    let (shared, targets) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (cluster, local) = both_plugins(shared.path());
    local.ok("/VolumeDriver.Create", r#"{"Name":"local"}"#);
    let mut csi = connect(&cluster.socket).await;

    let roots = [shared.path(), targets.path(), &cluster.state_dir()];
    let before = snapshot(&roots);
    let task = targets.path().join("task");
    let refusals = [
        (
            csi.controller
                .create_volume(create("local", Mode::MultiNodeMultiWriter, &[]))
                .await
                .map(drop),
            Code::AlreadyExists,
        ),
        (
            csi.controller
                .delete_volume(DeleteVolumeRequest {
                    volume_id: "local".into(),
                    ..Default::default()
                })
                .await
                .map(drop),
            Code::FailedPrecondition,
        ),
        (
            csi.node
                .node_publish_volume(publish("local", &task, Mode::MultiNodeMultiWriter))
                .await
                .map(drop),
            Code::FailedPrecondition,
        ),
        (
            csi.controller
                .validate_volume_capabilities(ValidateVolumeCapabilitiesRequest {
                    volume_id: "local".into(),
                    volume_capabilities: vec![capability(Mode::MultiNodeMultiWriter)],
                    ..Default::default()
                })
                .await
                .map(drop),
            Code::FailedPrecondition,
        ),
    ];
    for (answer, code) in refusals {
        let status = answer.unwrap_err();
        assert_eq!(status.code(), code, "{status:?}");
        assert!(
            status
                .message()
                .contains("volume local is a VolumeDriver volume")
                && status.message().contains("nothing was changed"),
            "{status:?}"
        );
    }
    assert_eq!(snapshot(&roots), before, "the CSI plugin changed the store");
    assert_eq!(listed(&local), ["local"]);
}
