//! cloudstor: persistent Docker Swarm volumes that follow their tasks between nodes,
//! backed by AWS EFS.
//!
//! Architecture map (start here):
//!
//! - [`spec`]: reads `cloudstor.toml`, checks it, and reports mistakes with file:line:column.
//! - [`model`]: turns a spec into the desired resources (file systems, mount targets, the
//!   security group), each with an address such as `filesystem.shared`.
//! - [`cloud`]: every AWS call. Refresh reads what exists (found by the `cloudstor:stack`
//!   tag, there is no state file); one method per write creates, changes or deletes a
//!   resource and waits for it to settle.
//! - [`plan`]: diffs desired against actual into create / update / replace / delete, renders
//!   it Terraform-style or as JSON, and saves it with a fingerprint of what refresh saw.
//! - [`apply`]: walks a plan as a dependency graph with bounded parallelism, waits for AWS
//!   lifecycle states, retries throttling, and shows progress.
//! - [`bootstrap`]: the node script (NFS client + plugin), its user data, the plugin package.
//! - [`cfn`]: the same spec as a CloudFormation template, deployed as a stack through change
//!   sets (the `--engine cloudformation` of apply and destroy, and `cloudstor template`).
//! - [`cost`]: EFS vs EBS monthly cost estimator with bundled, sourced price tables.
//! - [`plugin`]: the Docker VolumeDriver plugin that runs on every swarm node.
//!
//! The binaries in `src/bin/` only parse arguments, call one library function and render.

pub mod apply;
pub mod bootstrap;
pub mod cfn;
pub mod cloud;
pub mod cost;
pub mod model;
pub mod plan;
pub mod plugin;
pub mod spec;
