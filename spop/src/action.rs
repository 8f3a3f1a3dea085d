//! LIST-OF-ACTIONS, the ACK payload: `[ <TYPE: u8> <NB-ARGS: u8> <ARGS> ]...`.

use std::fmt;

use bytes::{BufMut, Bytes};

use crate::cursor::Reader;
use crate::data::{TypedData, bytes_encoded_len, encode_bytes};
use crate::error::{DecodeError, DecodeErrorKind};

/// The scope of a variable an action sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VarScope {
    /// 0, `proc`.
    Process = 0,
    /// 1, `sess`.
    Session = 1,
    /// 2, `txn`.
    Transaction = 2,
    /// 3, `req`.
    Request = 3,
    /// 4, `res`.
    Response = 4,
}

impl VarScope {
    /// Every scope, in wire order.
    pub const ALL: [Self; 5] = [
        Self::Process,
        Self::Session,
        Self::Transaction,
        Self::Request,
        Self::Response,
    ];

    /// The scope for a wire byte.
    pub fn from_u8(b: u8) -> Option<Self> {
        Self::ALL.get(usize::from(b)).copied()
    }

    /// The spec's name: `PROCESS`, `SESSION`, `TRANSACTION`, `REQUEST`, `RESPONSE`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Process => "PROCESS",
            Self::Session => "SESSION",
            Self::Transaction => "TRANSACTION",
            Self::Request => "REQUEST",
            Self::Response => "RESPONSE",
        }
    }

    /// HAProxy's variable prefix: `proc`, `sess`, `txn`, `req`, `res`.
    pub fn haproxy_prefix(self) -> &'static str {
        match self {
            Self::Process => "proc",
            Self::Session => "sess",
            Self::Transaction => "txn",
            Self::Request => "req",
            Self::Response => "res",
        }
    }
}

impl fmt::Display for VarScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// SET-VAR action type.
pub const ACTION_SET_VAR: u8 = 1;
/// UNSET-VAR action type.
pub const ACTION_UNSET_VAR: u8 = 2;

/// One action of an ACK.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Action {
    /// SET-VAR (type 1, 3 args): scope, name, value.
    SetVar {
        /// Variable scope.
        scope: VarScope,
        /// Variable name, without scope or prefix.
        name: Bytes,
        /// The value.
        value: TypedData,
    },
    /// UNSET-VAR (type 2, 2 args): scope, name.
    UnsetVar {
        /// Variable scope.
        scope: VarScope,
        /// Variable name.
        name: Bytes,
    },
    /// An action type this codec does not know. Its arguments cannot be
    /// delimited, so it ends the list: `rest` holds the bytes after the type
    /// byte, verbatim. HAProxy applies the actions before it and ignores the rest.
    Unknown {
        /// The action type byte.
        action_type: u8,
        /// Everything after the type byte, to the end of the payload.
        rest: Bytes,
    },
}

impl Action {
    /// A SET-VAR action.
    pub fn set_var(scope: VarScope, name: impl Into<Bytes>, value: impl Into<TypedData>) -> Self {
        Self::SetVar {
            scope,
            name: name.into(),
            value: value.into(),
        }
    }

    /// An UNSET-VAR action.
    pub fn unset_var(scope: VarScope, name: impl Into<Bytes>) -> Self {
        Self::UnsetVar {
            scope,
            name: name.into(),
        }
    }

    /// Bytes [`Action::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        match self {
            Self::SetVar { name, value, .. } => bytes_encoded_len(name)
                .saturating_add(value.encoded_len())
                .saturating_add(3),
            Self::UnsetVar { name, .. } => bytes_encoded_len(name).saturating_add(3),
            Self::Unknown { rest, .. } => rest.len().saturating_add(1),
        }
    }

    /// Writes the action.
    pub fn encode(&self, dst: &mut impl BufMut) {
        match self {
            Self::SetVar { scope, name, value } => {
                dst.put_slice(&[ACTION_SET_VAR, 3, *scope as u8]);
                encode_bytes(name, dst);
                value.encode(dst);
            }
            Self::UnsetVar { scope, name } => {
                dst.put_slice(&[ACTION_UNSET_VAR, 2, *scope as u8]);
                encode_bytes(name, dst);
            }
            Self::Unknown { action_type, rest } => {
                dst.put_u8(*action_type);
                dst.put_slice(rest);
            }
        }
    }

    pub(crate) fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let action_type = r.u8("action type")?;
        let (action, expected) = match action_type {
            ACTION_SET_VAR => ("SET-VAR", 3),
            ACTION_UNSET_VAR => ("UNSET-VAR", 2),
            _ => {
                return Ok(Self::Unknown {
                    action_type,
                    rest: r.rest(),
                });
            }
        };
        let at = r.offset();
        let nb_args = r.u8("action NB-ARGS")?;
        if nb_args != expected {
            return Err(DecodeError::new(
                at,
                DecodeErrorKind::BadActionArgs {
                    action,
                    nb_args,
                    expected,
                },
            ));
        }
        let at = r.offset();
        let scope_byte = r.u8("variable scope")?;
        let scope = VarScope::from_u8(scope_byte).ok_or_else(|| {
            DecodeError::new(at, DecodeErrorKind::UnknownScope { scope: scope_byte })
        })?;
        let name = r.bytes("variable name")?;
        Ok(if action_type == ACTION_SET_VAR {
            Self::SetVar {
                scope,
                name,
                value: TypedData::decode(r)?,
            }
        } else {
            Self::UnsetVar { scope, name }
        })
    }
}

/// Decodes actions until the payload ends (or an unknown action ends it).
pub(crate) fn decode_list(r: &mut Reader) -> Result<Vec<Action>, DecodeError> {
    let mut out = Vec::new();
    while !r.is_empty() {
        out.push(Action::decode(r)?);
    }
    Ok(out)
}
