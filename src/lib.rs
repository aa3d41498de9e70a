//! cloudstor: persistent Docker Swarm volumes that follow their tasks between nodes,
//! backed by AWS EFS.
//!
//! Architecture map (start here):
//!
//! - [`spec`]: reads `cloudstor.toml`, checks it, and reports mistakes with file:line:column.
//! - [`model`]: turns a spec into the desired resources (file systems, mount targets, the
//!   security group), each with an address such as `filesystem.shared`.
//! - [`cloud`]: every AWS call. Refresh reads what exists (found by the `cloudstor:stack` and
//!   `cloudstor:resource` tags, there is no state file; what counts as the stack's own is in
//!   `cloud/ownership.rs`); one method per write creates, changes or deletes a resource and
//!   waits for it to settle.
//! - [`plan`]: diffs desired against actual into create / update / replace / delete, renders
//!   it Terraform-style or as JSON, and saves it with a fingerprint of what refresh saw.
//! - [`import`]: adopts, on request only, a file system cloudstor did not create.
//! - [`apply`]: walks a plan as a dependency graph with bounded parallelism, waits for AWS
//!   lifecycle states, retries throttling, and shows progress.
//! - [`cfn`]: the same spec as a CloudFormation template, deployed as a stack through change
//!   sets (the `--engine cloudformation` of apply and destroy, and `cloudstor template`).
//! - [`bootstrap`]: the node script (NFS client + plugin), its user data, the plugin package.
//! - [`cost`]: EFS vs EBS monthly cost estimator: bundled, sourced price tables, AWS offer
//!   files read as streams, and a price cache `cost --update-prices` fills from AWS's Price List.
//! - [`plugin`]: the volume plugin that runs on every swarm node: Docker's VolumeDriver
//!   protocol and CSI (Swarm cluster volumes) over one volume store.
//!
//! The binaries in `src/bin/` only parse arguments, call one library function and render.
//! The provisioner modules need the default `aws` feature; `plugin`, `cost`, `spec` and
//! `model` build without it, which keeps the node's plugin binary free of the AWS SDK.

#[cfg(feature = "aws")]
pub mod apply;
#[cfg(feature = "aws")]
pub mod bootstrap;
#[cfg(feature = "aws")]
pub mod cfn;
#[cfg(feature = "aws")]
pub mod cloud;
pub mod cost;
#[cfg(feature = "aws")]
pub mod import;
pub mod model;
#[cfg(feature = "aws")]
pub mod plan;
pub mod plugin;
pub mod spec;
