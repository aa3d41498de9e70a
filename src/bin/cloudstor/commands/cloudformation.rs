//! `--engine cloudformation` for apply and destroy: the same spec deployed as a CloudFormation
//! stack through a change set, which is CloudFormation's own plan.

use std::process::ExitCode;
use std::time::Instant;

use cloudstor::cfn::{KeptOutside, Stacks, TemplateOptions, check_protection, render_change_set};
use cloudstor::spec::Spec;

use super::confirm;

async fn stacks_for(spec: &Spec, region: Option<&String>) -> Stacks {
    Stacks::from_env(region.or(spec.stack.region.as_ref()).cloned()).await
}

/// Shows the change set like a plan, then executes it and streams stack events until the stack
/// settles; a rollback is an error naming the failing resource and its reason.
pub async fn apply(
    spec: &Spec,
    region: Option<&String>,
    auto_approve: bool,
    allow_data_loss: bool,
) -> anyhow::Result<ExitCode> {
    let stacks = stacks_for(spec, region).await;
    let prepared = stacks.prepare(spec, TemplateOptions::default()).await?;
    print!("{}", render_change_set(&prepared.stack, &prepared.view));
    if prepared.view.is_empty() {
        stacks.discard(&prepared).await?;
        return Ok(ExitCode::SUCCESS);
    }
    let approved = check_protection(spec, &prepared.view, &prepared.protected, allow_data_loss)
        .map_err(anyhow::Error::from)
        .and_then(|()| {
            if auto_approve {
                Ok(())
            } else {
                confirm("perform these actions")
            }
        });
    if let Err(refused) = approved {
        // Leaves no change set (nor a stack that was never created) behind.
        stacks.discard(&prepared).await?;
        return Err(refused);
    }
    let started = Instant::now();
    let outcome = stacks
        .execute(&prepared, &mut |event| {
            println!("{:>4}s  {event}", started.elapsed().as_secs())
        })
        .await?;
    print!("\n{outcome}");
    print!(
        "{}",
        KeptOutside(&stacks.kept_outside(&prepared.stack).await?)
    );
    Ok(ExitCode::SUCCESS)
}

/// Deletes the stack; file systems kept by `DeletionPolicy: Retain` are listed as left in place.
pub async fn destroy(
    spec: &Spec,
    region: Option<&String>,
    auto_approve: bool,
) -> anyhow::Result<ExitCode> {
    if !auto_approve {
        confirm(&format!("delete CloudFormation stack {}", spec.stack.name))?;
    }
    let stacks = stacks_for(spec, region).await;
    let outcome = stacks
        .delete(&spec.stack.name, &mut |event| println!("{event}"))
        .await?;
    print!("{outcome}");
    // File systems that earlier changes removed from the stack, besides those it just left.
    let earlier: Vec<_> = stacks
        .kept_outside(&spec.stack.name)
        .await?
        .into_iter()
        .filter(|fs| !outcome.retained.iter().any(|r| r.physical_id == fs.id))
        .collect();
    print!("{}", KeptOutside(&earlier));
    Ok(ExitCode::SUCCESS)
}
