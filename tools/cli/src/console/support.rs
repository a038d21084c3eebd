//! What the console's read commands share: SDK errors as [`ConsoleError::Aws`] naming the
//! service and the operation, and JSON output.

use serde::Serialize;

use super::ConsoleError;

/// Maps an SDK error to [`ConsoleError::Aws`], with the SDK's whole error chain as the reason.
pub fn aws<E: std::error::Error>(
    service: &'static str,
    operation: &'static str,
) -> impl FnOnce(E) -> ConsoleError {
    move |e| ConsoleError::Aws {
        service,
        operation,
        reason: aws_sdk_sqs::error::DisplayErrorContext(&e).to_string(),
    }
}

/// Pretty JSON; decimals are already strings in every value the console prints.
///
/// # Errors
/// [`ConsoleError::Input`] when the value cannot be written (never for the console's own types).
pub fn to_json<T: Serialize>(value: &T) -> Result<String, ConsoleError> {
    serde_json::to_string_pretty(value)
        .map_err(|e| ConsoleError::Input(format!("cannot write JSON: {e}")))
}
