//! The Identity service: who the plugin is and which services it offers.

use tonic::{Request, Response, Status};

use super::proto::identity_server::Identity;
use super::proto::plugin_capability::{Service, service};
use super::proto::{
    GetPluginCapabilitiesRequest, GetPluginCapabilitiesResponse, GetPluginInfoRequest,
    GetPluginInfoResponse, PluginCapability, ProbeRequest, ProbeResponse,
};

/// The CSI driver name; Swarm addresses the plugin by its alias instead.
pub const DRIVER_NAME: &str = "cloudstor.csi";

pub struct IdentityService;

#[tonic::async_trait]
impl Identity for IdentityService {
    async fn get_plugin_info(
        &self,
        _: Request<GetPluginInfoRequest>,
    ) -> Result<Response<GetPluginInfoResponse>, Status> {
        Ok(Response::new(GetPluginInfoResponse {
            name: DRIVER_NAME.into(),
            vendor_version: env!("CARGO_PKG_VERSION").into(),
            manifest: Default::default(),
        }))
    }

    async fn get_plugin_capabilities(
        &self,
        _: Request<GetPluginCapabilitiesRequest>,
    ) -> Result<Response<GetPluginCapabilitiesResponse>, Status> {
        let offers = [
            service::Type::ControllerService,
            service::Type::VolumeAccessibilityConstraints,
        ];
        let capabilities = offers
            .into_iter()
            .map(|offer| PluginCapability {
                r#type: Some(super::proto::plugin_capability::Type::Service(Service {
                    r#type: offer as i32,
                })),
            })
            .collect();
        Ok(Response::new(GetPluginCapabilitiesResponse {
            capabilities,
        }))
    }

    /// Ready as soon as it serves: a file system that does not answer is reported by the
    /// call that needs it, naming it, rather than making Swarm think the plugin is gone.
    async fn probe(&self, _: Request<ProbeRequest>) -> Result<Response<ProbeResponse>, Status> {
        Ok(Response::new(ProbeResponse { ready: Some(true) }))
    }
}
