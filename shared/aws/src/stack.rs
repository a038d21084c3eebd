//! A deployed stack, as the operator's console finds it: the outputs of its CloudFormation
//! stack (`TableName`, `IntentsQueueUrl`, …), read with the SDK's usual credential chain and
//! region, and `AWS_ENDPOINT_URL` for the local emulator.

use std::collections::BTreeMap;

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StackError {
    #[error("no stack {stack:?} in this account and region (pass --stack, or name every resource with its flag): {reason}")]
    NotFound { stack: String, reason: String },
    #[error("stack {stack:?} could not be read: {reason}")]
    Unavailable { stack: String, reason: String },
}

/// Every output of `stack`, by key.
///
/// # Errors
/// [`StackError::NotFound`] when the stack does not exist, [`StackError::Unavailable`] when
/// CloudFormation cannot be reached or refuses.
pub async fn stack_outputs(
    sdk: &aws_config::SdkConfig,
    stack: &str,
) -> Result<BTreeMap<String, String>, StackError> {
    let client = aws_sdk_cloudformation::Client::new(sdk);
    let out = client
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| {
            let reason = aws_sdk_cloudformation::error::DisplayErrorContext(&e).to_string();
            // CloudFormation answers a missing stack with a ValidationError.
            if reason.contains("does not exist") {
                StackError::NotFound {
                    stack: stack.to_owned(),
                    reason: format!("stack {stack} does not exist"),
                }
            } else {
                StackError::Unavailable {
                    stack: stack.to_owned(),
                    reason,
                }
            }
        })?;
    let found = out.stacks().first().ok_or_else(|| StackError::NotFound {
        stack: stack.to_owned(),
        reason: "no such stack".into(),
    })?;
    Ok(found
        .outputs()
        .iter()
        .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
        .collect())
}
