//! Docker's VolumeDriver protocol: the exact JSON of each request and response.
//!
//! Field names are PascalCase as Docker sends them; unknown request fields are ignored so a
//! newer engine that adds fields keeps working.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

/// Every endpoint this plugin answers, for the "unknown endpoint" message.
pub const ENDPOINTS: [&str; 11] = [
    "/Plugin.Activate",
    "/VolumeDriver.Create",
    "/VolumeDriver.Remove",
    "/VolumeDriver.Mount",
    "/VolumeDriver.Unmount",
    "/VolumeDriver.Path",
    "/VolumeDriver.Get",
    "/VolumeDriver.List",
    "/VolumeDriver.Capabilities",
    "/Cloudstor.Release",
    "/Cloudstor.Reconcile",
];

/// `cloudstor volume release`: the operator's way to drop mounts whose containers are gone.
/// Not part of Docker's protocol; only root reaches the socket.
#[derive(Debug, Deserialize)]
pub struct ReleaseRequest {
    #[serde(rename = "Name")]
    pub name: String,
    /// One mount ID, or every mount of the volume on this node when absent.
    #[serde(rename = "ID", default)]
    pub id: Option<String>,
}

/// `cloudstor volume reconcile`: what the plugin released after asking Docker.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReconcileResponse {
    #[serde(default)]
    pub released: Vec<ReleasedMounts>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReleasedMounts {
    pub name: String,
    pub mounts: usize,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReleaseResponse {
    #[serde(default)]
    pub released: usize,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateRequest {
    pub name: String,
    /// Docker sends `null` when no `-o` was given.
    #[serde(default)]
    pub opts: Option<HashMap<String, String>>,
}

/// Remove, Path and Get.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NameRequest {
    pub name: String,
}

/// Mount and Unmount: `ID` identifies the caller (one container start).
#[derive(Debug, Deserialize)]
pub struct MountRequest {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "ID")]
    pub id: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ActivateResponse {
    pub implements: [&'static str; 1],
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ErrResponse {
    pub err: String,
}

/// Mount and Path.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MountpointResponse {
    pub mountpoint: String,
    pub err: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeInfo {
    pub name: String,
    pub mountpoint: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub created_at: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub status: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetResponse {
    pub volume: VolumeInfo,
    pub err: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListResponse {
    pub volumes: Vec<VolumeInfo>,
    pub err: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Capabilities {
    pub scope: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CapabilitiesResponse {
    pub capabilities: Capabilities,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_docker_requests() {
        let create: CreateRequest = serde_json::from_str(r#"{"Name":"v1","Opts":null}"#).unwrap();
        assert_eq!(create.name, "v1");
        assert!(create.opts.is_none());
        let mount: MountRequest =
            serde_json::from_str(r#"{"Name":"v1","ID":"b87d74","Extra":1}"#).unwrap();
        assert_eq!((mount.name.as_str(), mount.id.as_str()), ("v1", "b87d74"));
        let err = serde_json::from_str::<MountRequest>(r#"{"Name":"v1"}"#).unwrap_err();
        assert!(err.to_string().contains("missing field `ID`"), "{err}");
    }

    #[test]
    fn writes_docker_field_names() {
        let get = GetResponse {
            volume: VolumeInfo {
                name: "v1".into(),
                mountpoint: "/m".into(),
                created_at: String::new(),
                status: BTreeMap::new(),
            },
            err: String::new(),
        };
        assert_eq!(
            serde_json::to_string(&get).unwrap(),
            r#"{"Volume":{"Name":"v1","Mountpoint":"/m"},"Err":""}"#
        );
        let caps = CapabilitiesResponse {
            capabilities: Capabilities { scope: "global" },
        };
        assert_eq!(
            serde_json::to_string(&caps).unwrap(),
            r#"{"Capabilities":{"Scope":"global"}}"#
        );
    }
}
