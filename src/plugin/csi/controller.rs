//! The Controller service, which Swarm's managers call: create and delete volumes. There is
//! no ControllerPublish: every node reaches the shared file system by itself, so there is
//! nothing to attach.

use std::collections::HashMap;
use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::access;
use super::proto::controller_server::Controller;
use super::proto::controller_service_capability::{Rpc, Type, rpc};
use super::proto::validate_volume_capabilities_response::Confirmed;
use super::proto::{
    ControllerGetCapabilitiesRequest, ControllerGetCapabilitiesResponse,
    ControllerServiceCapability, CreateVolumeRequest, CreateVolumeResponse, DeleteVolumeRequest,
    DeleteVolumeResponse, ValidateVolumeCapabilitiesRequest, ValidateVolumeCapabilitiesResponse,
    Volume,
};
use super::request::volume_options;
use super::status::{from_error, missing};
use super::topology;
use crate::plugin::driver::Driver;
use crate::plugin::error::Error;
use crate::plugin::store::VolumeMeta;

/// Said in every created volume's context: the size asked for is recorded, not a quota.
const CAPACITY_NOTE: &str =
    "not enforced: EFS has no quotas, so the volume grows with the file system";

pub struct ControllerService {
    driver: Arc<Driver>,
}

impl ControllerService {
    pub fn new(driver: Arc<Driver>) -> Self {
        Self { driver }
    }
}

#[tonic::async_trait]
impl Controller for ControllerService {
    /// Idempotent like the VolumeDriver Create: the same request again returns the volume,
    /// a request with other options, or for the name of a VolumeDriver volume, is
    /// ALREADY_EXISTS.
    async fn create_volume(
        &self,
        request: Request<CreateVolumeRequest>,
    ) -> Result<Response<CreateVolumeResponse>, Status> {
        let request = request.into_inner();
        if request.name.is_empty() {
            return Err(missing("name"));
        }
        if request.volume_content_source.is_some() {
            return Err(Status::invalid_argument(
                "cloudstor cannot fill a volume from a snapshot or another volume; \
                 create it empty and copy the data in",
            ));
        }
        let usage = access::usage(&request.volume_capabilities)?;
        let options = volume_options(
            &request.parameters,
            request.capacity_range.as_ref(),
            usage.access,
        )?;
        let requirement = request.accessibility_requirements.as_ref();
        let target = self
            .driver
            .filesystem_for(options.perfmode)
            .map_err(from_error)?;
        topology::check_requirement(requirement, target)?;
        let meta = self
            .driver
            .create_with(&request.name, Some(options))
            .await
            .map_err(|err| match err {
                // The spec's answer for a name taken by an incompatible volume.
                Error::NotClusterVolume { .. } => Status::already_exists(err.to_string()),
                err => from_error(err),
            })?;
        let fs = self.driver.filesystem(&meta).unwrap_or(target);
        // Only an existing volume can be on another file system than `target`.
        topology::check_requirement(requirement, fs).map_err(|refused| {
            Status::already_exists(format!(
                "volume {} already exists: {}",
                meta.name,
                refused.message()
            ))
        })?;
        Ok(Response::new(CreateVolumeResponse {
            volume: Some(volume(&meta, fs.one_zone.as_deref())),
        }))
    }

    /// Moves the volume to the trash, refused while any node holds its lease; a volume
    /// that does not exist is already deleted, as the CSI spec asks.
    async fn delete_volume(
        &self,
        request: Request<DeleteVolumeRequest>,
    ) -> Result<Response<DeleteVolumeResponse>, Status> {
        let request = request.into_inner();
        if request.volume_id.is_empty() {
            return Err(missing("volume_id"));
        }
        self.driver
            .remove(&request.volume_id)
            .await
            .map_err(from_error)?;
        Ok(Response::new(DeleteVolumeResponse {}))
    }

    async fn validate_volume_capabilities(
        &self,
        request: Request<ValidateVolumeCapabilitiesRequest>,
    ) -> Result<Response<ValidateVolumeCapabilitiesResponse>, Status> {
        let request = request.into_inner();
        if request.volume_id.is_empty() {
            return Err(missing("volume_id"));
        }
        if request.volume_capabilities.is_empty() {
            return Err(missing("volume_capabilities"));
        }
        let meta = self
            .driver
            .meta(&request.volume_id)
            .await
            .map_err(from_error)?;
        let response = match access::usage(&request.volume_capabilities) {
            Ok(usage) if usage.access == meta.options.access => {
                ValidateVolumeCapabilitiesResponse {
                    confirmed: Some(Confirmed {
                        volume_context: request.volume_context,
                        volume_capabilities: request.volume_capabilities,
                        parameters: request.parameters,
                        mutable_parameters: HashMap::new(),
                    }),
                    message: String::new(),
                }
            }
            Ok(_) => ValidateVolumeCapabilitiesResponse {
                confirmed: None,
                message: format!(
                    "volume {} was created with access={}; its --scope and --sharing cannot change",
                    meta.name,
                    meta.options.access.as_str()
                ),
            },
            Err(refused) => ValidateVolumeCapabilitiesResponse {
                confirmed: None,
                message: refused.message().to_string(),
            },
        };
        Ok(Response::new(response))
    }

    async fn controller_get_capabilities(
        &self,
        _: Request<ControllerGetCapabilitiesRequest>,
    ) -> Result<Response<ControllerGetCapabilitiesResponse>, Status> {
        let create_delete = ControllerServiceCapability {
            r#type: Some(Type::Rpc(Rpc {
                r#type: rpc::Type::CreateDeleteVolume as i32,
            })),
        };
        Ok(Response::new(ControllerGetCapabilitiesResponse {
            capabilities: vec![create_delete],
        }))
    }
}

/// The volume as CSI describes it. Capacity 0 is the spec's "unknown": the truth for a
/// volume without a quota. A volume on a One Zone file system is accessible from its zone.
fn volume(meta: &VolumeMeta, one_zone: Option<&str>) -> Volume {
    let mut context = HashMap::from([
        ("filesystem".to_string(), meta.filesystem.clone()),
        ("options".to_string(), meta.options.describe()),
    ]);
    if meta.options.capacity.is_some() {
        context.insert("capacity".into(), CAPACITY_NOTE.into());
    }
    Volume {
        capacity_bytes: 0,
        volume_id: meta.name.clone(),
        volume_context: context,
        accessible_topology: one_zone.map(topology::of_zone).into_iter().collect(),
        ..Default::default()
    }
}
