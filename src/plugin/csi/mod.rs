//! The plugin as a Container Storage Interface (CSI) driver, for Swarm cluster volumes
//! (`docker volume create --type mount --sharing ...`, `--mount type=cluster`): the
//! Identity, Controller and Node services over gRPC on the plugin's Unix socket, each call
//! done by the same [`Driver`](super::driver::Driver) as the VolumeDriver protocol, so volumes,
//! leases, the trash and every safety rule are the same.
//!
//! - [`access`]: which CSI capabilities a volume serves and what they mean for its lease.
//! - [`request`]: CreateVolume's parameters and capacity as volume options.
//! - [`status`]: the plugin's errors as gRPC status codes.
//! - [`topology`]: One Zone volumes, node zones and CreateVolume's topology requirements.
//! - [`identity`], [`controller`], [`node`]: one gRPC service each.
//! - [`publish`]: the bind mount NodePublishVolume puts at Swarm's target path.

pub mod access;
pub mod controller;
pub mod identity;
pub mod node;
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod proto;
pub mod publish;
pub mod request;
pub mod status;
pub mod topology;

use std::sync::Arc;

use tokio_stream::wrappers::UnixListenerStream;
use tracing::info;

use super::config::PluginConfig;
use super::driver::Driver;
use super::error::Error;
use super::server::{bind, shutdown_signal};
use proto::controller_server::ControllerServer;
use proto::identity_server::IdentityServer;
use proto::node_server::NodeServer;

/// The topology key of an Availability Zone, in CreateVolume's accessible topology and
/// NodeGetInfo: `--topology-required cloudstor/zone=us-east-1a`.
pub const ZONE_KEY: &str = "cloudstor/zone";

/// Serves until SIGTERM or SIGINT, then removes the socket and leaves every publication in
/// place, as the VolumeDriver server does: Swarm's tasks keep their volumes across a restart.
pub async fn serve(config: PluginConfig) -> Result<(), Error> {
    let listener = bind(&config.socket)?;
    let driver = Arc::new(Driver::open(config.clone())?);
    let maintenance = tokio::spawn(driver.clone().maintain());
    info!(
        socket = %config.socket.display(),
        node = %config.node_id,
        "cloudstor-plugin serving CSI"
    );
    let served = tonic::transport::Server::builder()
        .add_service(IdentityServer::new(identity::IdentityService))
        .add_service(ControllerServer::new(controller::ControllerService::new(
            driver.clone(),
        )))
        .add_service(NodeServer::new(node::NodeService::new(driver.clone())))
        .serve_with_incoming_shutdown(UnixListenerStream::new(listener), shutdown_signal())
        .await;
    maintenance.abort();
    let _ = std::fs::remove_file(&config.socket);
    driver.shut_down().await;
    served.map_err(|err| {
        Error::io("serving CSI failed on", &config.socket)(std::io::Error::other(err))
    })?;
    info!("stopped; publications left in place");
    Ok(())
}
