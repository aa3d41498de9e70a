//! Test harness: a real moto server per test, the network it provides, specs, and the binary.
#![allow(dead_code)] // each test binary uses its own part of the harness

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::types::Filter;

pub const REGION: &str = "us-east-1";

/// A moto server on a free loopback port, killed when dropped.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

/// A free port no other server of this test process was given: the kernel can hand the same
/// free port to two tests running at once, and then two tests share one moto server, which
/// dies with the first of them.
fn unused_port() -> u16 {
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        if GIVEN.lock().expect("ports given").insert(port) {
            return port;
        }
    }
}

impl Moto {
    /// Starts `moto_server`; fails the test (never skips) when it cannot.
    pub fn start() -> Moto {
        let port = unused_port();
        // moto_server plus one CloudFormation attribute moto lacks; see the script.
        let server = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/moto_server.py");
        let child = Command::new("python3")
            .arg(server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            // MOTO_DEBUG=1 shows moto's log, with the traceback behind an HTTP 500.
            .stderr(if std::env::var_os("MOTO_DEBUG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start moto_server ({e}); install it with `pip install -r requirements-dev.txt`"));
        let mut moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("moto_server exited with {status} before listening on port {port}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "moto_server did not listen on port {port} within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        moto
    }

    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .credentials_provider(aws_sdk_efs::config::Credentials::new(
                "testing", "testing", None, None, "moto",
            ))
            .load()
            .await
    }

    /// The `cloudstor` binary, pointed at this server through the standard AWS variables.
    pub fn cloudstor(&self, args: &[&str]) -> Output {
        self.cloudstor_command(args)
            .output()
            .expect("cloudstor runs")
    }

    /// The same, to be spawned by a test that watches its output as it runs.
    pub fn cloudstor_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_cloudstor"));
        command
            .args(args)
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", REGION)
            .env_remove("AWS_PROFILE")
            .stdin(Stdio::null());
        command
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The default VPC's subnets (one per AZ, sorted by AZ) and a security group for the nodes.
pub struct Network {
    pub vpc: String,
    pub subnets: Vec<(String, String)>,
    pub node_group: String,
}

pub async fn network(config: &SdkConfig) -> Network {
    let ec2 = aws_sdk_ec2::Client::new(config);
    let vpcs = ec2
        .describe_vpcs()
        .filters(Filter::builder().name("is-default").values("true").build())
        .send()
        .await
        .expect("describe vpcs");
    let vpc = vpcs.vpcs()[0].vpc_id().unwrap().to_owned();
    let found = ec2
        .describe_subnets()
        .filters(Filter::builder().name("vpc-id").values(&vpc).build())
        .send()
        .await
        .expect("describe subnets");
    let mut subnets: Vec<(String, String)> = found
        .subnets()
        .iter()
        .map(|s| {
            (
                s.subnet_id().unwrap().to_owned(),
                s.availability_zone().unwrap().to_owned(),
            )
        })
        .collect();
    subnets.sort_by(|a, b| a.1.cmp(&b.1));
    let group = ec2
        .create_security_group()
        .group_name(format!("swarm-nodes-{}", subnets.len()))
        .description("swarm nodes")
        .vpc_id(&vpc)
        .send()
        .await
        .expect("create node security group");
    Network {
        vpc,
        subnets,
        node_group: group.group_id().unwrap().to_owned(),
    }
}

impl Network {
    /// A spec for `stack` with the first `subnets` subnets; `filesystems` is appended verbatim.
    pub fn spec(&self, stack: &str, subnets: usize, filesystems: &str) -> String {
        let ids: Vec<String> = self.subnets[..subnets]
            .iter()
            .map(|(id, _)| format!("\"{id}\""))
            .collect();
        format!(
            "[stack]\nname = \"{stack}\"\nregion = \"{REGION}\"\n\n[network]\nvpc_id = \"{}\"\nsubnet_ids = [{}]\nnode_security_group_ids = [\"{}\"]\n\n{filesystems}",
            self.vpc,
            ids.join(", "),
            self.node_group
        )
    }

    /// Snapshot filters: moto's random ids become stable names (subnets by their AZ).
    pub fn filters(&self) -> Vec<(String, String)> {
        let mut filters: Vec<(String, String)> = self
            .subnets
            .iter()
            .map(|(id, zone)| (regex_escape(id), format!("subnet-[{zone}]")))
            .collect();
        filters.push((regex_escape(&self.vpc), "vpc-[default]".into()));
        filters.push((regex_escape(&self.node_group), "sg-[nodes]".into()));
        filters.push((r"\bfsmt-[0-9a-f]+".into(), "fsmt-[id]".into()));
        filters.push((r"\bfs-[0-9a-f]+".into(), "fs-[id]".into()));
        filters.push((r"\bsg-[0-9a-f]{8,}".into(), "sg-[id]".into()));
        filters.push((r"after \d+s".into(), "after [n]s".into()));
        filters
    }
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

/// A moto server, its network and a directory for specs: one stack's test bed.
pub struct Stack {
    pub moto: Moto,
    pub network: Network,
    pub dir: tempfile::TempDir,
}

impl Stack {
    pub async fn new() -> Stack {
        let moto = Moto::start();
        let network = network(&moto.sdk_config().await).await;
        Stack {
            moto,
            network,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Writes a spec for stack `name` over three subnets and returns its path.
    pub fn spec(&self, name: &str, filesystems: &str) -> String {
        self.spec_in(&format!("{name}.toml"), name, filesystems)
    }

    /// Writes a spec for stack `demo` into `file`, so one test can keep several versions.
    pub fn spec_file(&self, file: &str, filesystems: &str) -> String {
        self.spec_in(file, "demo", filesystems)
    }

    fn spec_in(&self, file: &str, name: &str, filesystems: &str) -> String {
        let text = self.network.spec(name, 3, filesystems);
        write_spec(self.dir.path(), file, &text)
            .display()
            .to_string()
    }

    pub fn run(&self, args: &[&str]) -> std::process::Output {
        self.moto.cloudstor(args)
    }

    pub fn apply(&self, spec: &str) {
        expect_code(&self.run(&["apply", "-f", spec, "--auto-approve"]), 0);
    }

    pub fn snapshot_settings(&self) -> insta::Settings {
        self.snapshot_settings_naming(&[])
    }

    /// Snapshot settings that also give the ids in `names` stable names; they go first, so
    /// the generic id filters do not swallow them.
    pub fn snapshot_settings_naming(&self, names: &[(&str, &str)]) -> insta::Settings {
        let mut settings = insta::Settings::clone_current();
        for (id, name) in names {
            settings.add_filter(&regex_escape(id), *name);
        }
        for (pattern, replacement) in self.network.filters() {
            settings.add_filter(&pattern, replacement);
        }
        settings
    }

    pub async fn efs(&self) -> aws_sdk_efs::Client {
        aws_sdk_efs::Client::new(&self.moto.sdk_config().await)
    }

    pub async fn ec2(&self) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(&self.moto.sdk_config().await)
    }

    /// The id of the security group cloudstor made for stack `name`.
    pub async fn stack_group(&self, name: &str) -> String {
        let found = self
            .ec2()
            .await
            .describe_security_groups()
            .filters(
                Filter::builder()
                    .name("tag:cloudstor:stack")
                    .values(name)
                    .build(),
            )
            .send()
            .await
            .expect("describe security groups");
        found.security_groups()[0].group_id().unwrap().to_owned()
    }
}

/// Writes `text` as a spec file in a fresh temporary directory.
pub fn write_spec(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write spec");
    path
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs the binary and insists on an exit code, showing both streams when it differs.
pub fn expect_code(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "unexpected exit code\n--- stdout\n{}\n--- stderr\n{}",
        stdout(output),
        stderr(output)
    );
}

/// A moto server, its network and the CloudFormation engine over it, polling quickly.
pub struct CfnHarness {
    _moto: Moto,
    pub config: SdkConfig,
    pub network: Network,
    pub stacks: cloudstor::cfn::Stacks,
}

pub async fn cfn_harness() -> CfnHarness {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let network = network(&config).await;
    let stacks = cloudstor::cfn::Stacks::from_sdk_config(&config)
        .with_polling(Duration::from_millis(50), Duration::from_secs(60));
    CfnHarness {
        _moto: moto,
        config,
        network,
        stacks,
    }
}

/// Every file system in the account with its mount targets, as EFS describes them.
pub async fn filesystems_and_mount_targets(
    config: &SdkConfig,
) -> Vec<(
    aws_sdk_efs::types::FileSystemDescription,
    Vec<aws_sdk_efs::types::MountTargetDescription>,
)> {
    let efs = aws_sdk_efs::Client::new(config);
    let described = efs.describe_file_systems().send().await.unwrap();
    let mut found = Vec::new();
    for fs in described.file_systems() {
        let targets = efs
            .describe_mount_targets()
            .file_system_id(fs.file_system_id())
            .send()
            .await
            .unwrap();
        found.push((fs.clone(), targets.mount_targets().to_vec()));
    }
    found
}

/// Zone and IP address of every mount target in the account, sorted.
pub async fn mount_target_addresses(config: &SdkConfig) -> Vec<(String, String)> {
    let mut addresses: Vec<(String, String)> = filesystems_and_mount_targets(config)
        .await
        .into_iter()
        .flat_map(|(_, targets)| targets)
        .map(|target| {
            (
                target.availability_zone_name().unwrap().to_owned(),
                target.ip_address().unwrap().to_owned(),
            )
        })
        .collect();
    addresses.sort();
    addresses
}

/// The plugin-config line the node script writes for these (zone, IP address) pairs.
pub fn mount_target_ips_toml(addresses: &[(String, String)]) -> String {
    let pairs: Vec<String> = addresses
        .iter()
        .map(|(zone, ip)| format!("\"{zone}\" = \"{ip}\""))
        .collect();
    format!("mount_target_ips = {{ {} }}", pairs.join(", "))
}
