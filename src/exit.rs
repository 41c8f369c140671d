//! The one exit-code enum of codexport (DESIGN.md "Exit codes").
//!
//! Every command maps its outcome to one of these values; scripts and the SessionStart hook
//! depend on them, so the numbers never change.

/// Process exit status of a codexport command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: success, or `plan --detailed-exitcode` with nothing to do.
    Ok = 0,
    /// 1: an error that has no more specific code.
    Error = 1,
    /// 2: `plan --detailed-exitcode` found changes.
    Changes = 2,
    /// 3: drift or a conflict needs a decision by the operator.
    Drift = 3,
    /// 4: usage error or bad configuration (a file the operator wrote is wrong).
    Usage = 4,
    /// 5: trust failure: fingerprint, signature or token.
    Trust = 5,
    /// 6: the master could not be reached.
    Unreachable = 6,
    /// 7: an apply failed and was rolled back.
    RolledBack = 7,
}

impl Exit {
    /// The numeric process exit status.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// Implemented by every module error so the binary edge can pick the exit code without
/// string matching.
pub trait ExitStatus {
    /// The exit code this error should end the process with.
    fn exit(&self) -> Exit;
    /// An optional one-line fix shown as `hint:` under the error.
    fn hint(&self) -> Option<String> {
        None
    }
}
