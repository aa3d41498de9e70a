//! The Node service, which Swarm's agent calls on the node that runs a task: publish the
//! volume at a target path (a mount of the volume by this node, lease and all) and take it
//! back. There is no staging: a shared directory needs no per-node setup.

use std::path::PathBuf;
use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::access;
use super::proto::node_server::Node;
use super::proto::{
    NodeGetCapabilitiesRequest, NodeGetCapabilitiesResponse, NodeGetInfoRequest,
    NodeGetInfoResponse, NodePublishVolumeRequest, NodePublishVolumeResponse,
    NodeUnpublishVolumeRequest, NodeUnpublishVolumeResponse,
};
use super::publish;
use super::status::{from_error, missing};
use super::topology;
use crate::plugin::driver::Driver;
use crate::plugin::error::Error;

pub struct NodeService {
    driver: Arc<Driver>,
}

impl NodeService {
    pub fn new(driver: Arc<Driver>) -> Self {
        Self { driver }
    }
}

#[tonic::async_trait]
impl Node for NodeService {
    /// A Mount of the volume with the target path as its mount ID, so the lease, the
    /// single-node rule and the journal work as for a container; then the bind.
    async fn node_publish_volume(
        &self,
        request: Request<NodePublishVolumeRequest>,
    ) -> Result<Response<NodePublishVolumeResponse>, Status> {
        let request = request.into_inner();
        check_ids(&request.volume_id, &request.target_path)?;
        let capability = request
            .volume_capability
            .as_ref()
            .ok_or_else(|| missing("volume_capability"))?;
        let read_only = request.readonly || access::usage_of(capability)?.read_only;
        let (volume, id) = (&request.volume_id, &request.target_path);
        self.check_zone(volume).await?;
        let data = self.driver.mount(volume, id).await.map_err(from_error)?;
        let target = PathBuf::from(id);
        let bound = blocking(move || publish::bind(&data, &target, read_only)).await;
        if let Err(err) = bound {
            self.driver.unmount(volume, id).await.map_err(from_error)?;
            return Err(from_error(err));
        }
        Ok(Response::new(NodePublishVolumeResponse {}))
    }

    /// Unmounts the bind, then releases this node's mount; repeating it is fine, a volume
    /// that never existed is NOT_FOUND.
    async fn node_unpublish_volume(
        &self,
        request: Request<NodeUnpublishVolumeRequest>,
    ) -> Result<Response<NodeUnpublishVolumeResponse>, Status> {
        let request = request.into_inner();
        check_ids(&request.volume_id, &request.target_path)?;
        let (volume, id) = (&request.volume_id, &request.target_path);
        let target = PathBuf::from(id);
        let was_published = blocking(move || publish::unbind(&target))
            .await
            .map_err(from_error)?;
        if !was_published {
            self.driver.meta(volume).await.map_err(from_error)?;
        }
        self.driver.unmount(volume, id).await.map_err(from_error)?;
        Ok(Response::new(NodeUnpublishVolumeResponse {}))
    }

    async fn node_get_capabilities(
        &self,
        _: Request<NodeGetCapabilitiesRequest>,
    ) -> Result<Response<NodeGetCapabilitiesResponse>, Status> {
        Ok(Response::new(NodeGetCapabilitiesResponse {
            capabilities: Vec::new(),
        }))
    }

    /// The node's Availability Zone (configured, or from instance metadata) is its
    /// topology: a volume created with `--topology-required cloudstor/zone=ZONE` is
    /// scheduled on that zone's nodes.
    async fn node_get_info(
        &self,
        _: Request<NodeGetInfoRequest>,
    ) -> Result<Response<NodeGetInfoResponse>, Status> {
        let zone = self.driver.availability_zone().await;
        let accessible_topology = zone.map(topology::of_zone);
        Ok(Response::new(NodeGetInfoResponse {
            node_id: self.driver.config().node_id.clone(),
            max_volumes_per_node: 0,
            accessible_topology,
        }))
    }
}

impl NodeService {
    /// A One Zone volume is published only in its zone (see [`topology::check_node`]).
    async fn check_zone(&self, volume: &str) -> Result<(), Status> {
        // Without a One Zone file system there is nothing to check: spare the lookup.
        let filesystems = &self.driver.config().filesystems;
        if filesystems.iter().all(|fs| fs.one_zone.is_none()) {
            return Ok(());
        }
        let meta = self.driver.meta(volume).await.map_err(from_error)?;
        let Some(fs) = self.driver.filesystem(&meta) else {
            return Ok(());
        };
        let node_zone = self.driver.availability_zone().await;
        topology::check_node(volume, fs, node_zone)
    }
}

fn check_ids(volume_id: &str, target_path: &str) -> Result<(), Status> {
    if volume_id.is_empty() {
        return Err(missing("volume_id"));
    }
    if target_path.is_empty() {
        return Err(missing("target_path"));
    }
    if !target_path.starts_with('/') {
        return Err(Status::invalid_argument(format!(
            "target_path {target_path:?} is not an absolute path"
        )));
    }
    Ok(())
}

/// Mounts on a shared file system can block; they run off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(work)
        .await
        .expect("a publish does not panic")
}
