//! EC2 launch templates: the node bootstrap as user data, instance metadata v2 required and
//! the node security groups attached, as a careful hand-written template has them. Templates
//! cannot be edited, so a change is a new version that becomes the default.

use aws_sdk_ec2::types::{
    Filter, LaunchTemplateHttpTokensState, LaunchTemplateInstanceMetadataEndpointState,
    LaunchTemplateInstanceMetadataOptionsRequest, RequestLaunchTemplateData, ResourceType, Tag,
    TagSpecification,
};

use super::{Cloud, CloudError, aws_error};
use crate::bootstrap::{decode_launch_template_user_data, launch_template_user_data};
use crate::model::{Address, LaunchTemplate, RESOURCE_TAG, STACK_TAG};

/// What every node launch template holds: the script, IMDSv2 and the node security groups.
pub struct NodeLaunchData<'a> {
    pub script: &'a str,
    pub security_group_ids: &'a [String],
}

fn data(node: &NodeLaunchData) -> Result<RequestLaunchTemplateData, CloudError> {
    let encoded = launch_template_user_data(node.script)?;
    // Session tokens only: a request forged through a node's workload cannot read its role.
    let metadata = LaunchTemplateInstanceMetadataOptionsRequest::builder()
        .http_tokens(LaunchTemplateHttpTokensState::Required)
        .http_endpoint(LaunchTemplateInstanceMetadataEndpointState::Enabled)
        .build();
    Ok(RequestLaunchTemplateData::builder()
        .user_data(encoded)
        .metadata_options(metadata)
        .set_security_group_ids(Some(node.security_group_ids.to_vec()))
        .build())
}

impl Cloud {
    /// The stack's launch template and the user data of its default version.
    pub(super) async fn stack_launch_template(
        &self,
        stack: &str,
    ) -> Result<Option<LaunchTemplate>, CloudError> {
        let address = Address::LaunchTemplate;
        let found = self
            .ec2
            .describe_launch_templates()
            .filters(
                Filter::builder()
                    .name(format!("tag:{STACK_TAG}"))
                    .values(stack)
                    .build(),
            )
            .send()
            .await
            .map_err(aws_error(&address, "DescribeLaunchTemplates"))?;
        let Some(template) = found.launch_templates().first() else {
            return Ok(None);
        };
        let id = template.launch_template_id().unwrap_or_default().to_owned();
        let versions = self
            .ec2
            .describe_launch_template_versions()
            .launch_template_id(&id)
            .versions("$Default")
            .send()
            .await
            .map_err(aws_error(&address, "DescribeLaunchTemplateVersions"))?;
        let encoded = versions
            .launch_template_versions()
            .first()
            .and_then(|v| v.launch_template_data())
            .and_then(|d| d.user_data())
            .unwrap_or_default();
        let user_data = decode_launch_template_user_data(encoded)
            .unwrap_or_else(|unreadable| unreadable.to_string());
        Ok(Some(LaunchTemplate {
            id: Some(id),
            name: template
                .launch_template_name()
                .unwrap_or_default()
                .to_owned(),
            user_data: Some(user_data),
        }))
    }

    pub async fn create_launch_template(
        &self,
        stack: &str,
        name: &str,
        node: &NodeLaunchData<'_>,
    ) -> Result<String, CloudError> {
        let address = Address::LaunchTemplate;
        let tags = TagSpecification::builder()
            .resource_type(ResourceType::LaunchTemplate)
            .tags(Tag::builder().key(STACK_TAG).value(stack).build())
            .tags(
                Tag::builder()
                    .key(RESOURCE_TAG)
                    .value(address.to_string())
                    .build(),
            )
            .build();
        let created = self
            .ec2
            .create_launch_template()
            .launch_template_name(name)
            .version_description("cloudstor node bootstrap")
            .launch_template_data(data(node)?)
            .tag_specifications(tags)
            .send()
            .await
            .map_err(aws_error(&address, "CreateLaunchTemplate"))?;
        let id = created
            .launch_template()
            .and_then(|t| t.launch_template_id())
            .unwrap_or_default();
        Ok(id.to_owned())
    }

    /// A new version from the default one (so settings added outside cloudstor carry over),
    /// with the new user data, made the default.
    pub async fn update_launch_template(
        &self,
        id: &str,
        node: &NodeLaunchData<'_>,
    ) -> Result<i64, CloudError> {
        let address = Address::LaunchTemplate;
        let created = self
            .ec2
            .create_launch_template_version()
            .launch_template_id(id)
            .source_version("$Default")
            .version_description("cloudstor node bootstrap")
            .launch_template_data(data(node)?)
            .send()
            .await
            .map_err(aws_error(&address, "CreateLaunchTemplateVersion"))?;
        let version = created
            .launch_template_version()
            .and_then(|v| v.version_number())
            .unwrap_or_default();
        self.ec2
            .modify_launch_template()
            .launch_template_id(id)
            .default_version(version.to_string())
            .send()
            .await
            .map_err(aws_error(&address, "ModifyLaunchTemplate"))?;
        Ok(version)
    }

    /// Makes the latest version of launch template `id` its default, as CloudFormation never
    /// does; returns the latest version number and whether the default moved.
    pub async fn default_to_latest_version(&self, id: &str) -> Result<(i64, bool), CloudError> {
        let address = Address::LaunchTemplate;
        let described = self
            .ec2
            .describe_launch_templates()
            .launch_template_ids(id)
            .send()
            .await
            .map_err(aws_error(&address, "DescribeLaunchTemplates"))?;
        let template = described.launch_templates().first();
        let latest = template
            .and_then(|t| t.latest_version_number())
            .unwrap_or_default();
        let default = template
            .and_then(|t| t.default_version_number())
            .unwrap_or_default();
        if latest == default {
            return Ok((latest, false));
        }
        self.ec2
            .modify_launch_template()
            .launch_template_id(id)
            .default_version(latest.to_string())
            .send()
            .await
            .map_err(aws_error(&address, "ModifyLaunchTemplate"))?;
        Ok((latest, true))
    }

    pub async fn delete_launch_template(&self, id: &str) -> Result<(), CloudError> {
        match self
            .ec2
            .delete_launch_template()
            .launch_template_id(id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(error)
                if error
                    .as_service_error()
                    .and_then(|e| e.meta().code())
                    .is_some_and(|c| c.contains("NotFound")) =>
            {
                Ok(())
            }
            Err(error) => Err(aws_error(Address::LaunchTemplate, "DeleteLaunchTemplate")(
                error,
            )),
        }
    }
}
