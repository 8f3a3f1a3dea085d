//! LIST-OF-ACTIONS, the ACK payload: `[ <TYPE: u8> <NB-ARGS: u8> <ARGS> ]...`.

use std::fmt;

use bytes::{BufMut, Bytes};

use crate::cursor::{Reader, SliceReader};
use crate::data::{DataView, TypedData, bytes_encoded_len, encode_bytes, share};
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
        let (owned, used) = {
            let (view, used) = r.read(ActionView::decode)?;
            (view.to_owned_in(r.buf()), used)
        };
        r.advance(used);
        Ok(owned)
    }

    /// The action borrowed, as [`ActionList::iter`] gives it.
    pub fn view(&self) -> ActionView<'_> {
        match self {
            Self::SetVar { scope, name, value } => ActionView::SetVar {
                scope: *scope,
                name,
                value: value.view(),
            },
            Self::UnsetVar { scope, name } => ActionView::UnsetVar {
                scope: *scope,
                name,
            },
            Self::Unknown { action_type, rest } => ActionView::Unknown {
                action_type: *action_type,
                rest,
            },
        }
    }
}

/// One action of an ACK, borrowed from the frame (see [`ActionList`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionView<'a> {
    /// SET-VAR: scope, name, value.
    SetVar {
        /// Variable scope.
        scope: VarScope,
        /// Variable name, without scope or prefix.
        name: &'a [u8],
        /// The value.
        value: DataView<'a>,
    },
    /// UNSET-VAR: scope, name.
    UnsetVar {
        /// Variable scope.
        scope: VarScope,
        /// Variable name.
        name: &'a [u8],
    },
    /// An action type this codec does not know; it ends the list (see [`Action::Unknown`]).
    Unknown {
        /// The action type byte.
        action_type: u8,
        /// Everything after the type byte.
        rest: &'a [u8],
    },
}

impl<'a> ActionView<'a> {
    /// The one parser of an action, in place; [`Action`]'s decoder runs it too.
    pub(crate) fn decode(r: &mut SliceReader<'a>) -> Result<Self, DecodeError> {
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
                value: DataView::decode(r)?,
            }
        } else {
            Self::UnsetVar { scope, name }
        })
    }

    /// The owned action; names and values share `buf` when they are slices of it.
    pub fn to_owned_in(&self, buf: &Bytes) -> Action {
        match *self {
            Self::SetVar { scope, name, value } => Action::SetVar {
                scope,
                name: share(buf, name),
                value: value.to_owned_in(buf),
            },
            Self::UnsetVar { scope, name } => Action::UnsetVar {
                scope,
                name: share(buf, name),
            },
            Self::Unknown { action_type, rest } => Action::Unknown {
                action_type,
                rest: share(buf, rest),
            },
        }
    }
}

/// An ACK's LIST-OF-ACTIONS, checked whole when it was read and kept as its
/// bytes: [`ActionList::iter`] reads the actions in place (no allocation),
/// [`ActionList::share`] turns a name or a string of them into a `Bytes` of
/// the same buffer, [`ActionList::to_vec`] gives the owned actions.
#[derive(Clone, Default)]
pub struct ActionList {
    payload: Bytes,
    /// Offset of the payload in its frame, for the errors of [`ActionList::decode`].
    offset: usize,
}

impl ActionList {
    /// Checks the LIST-OF-ACTIONS `payload` (an ACK's payload, at `offset`
    /// in its frame) and keeps it.
    ///
    /// # Errors
    ///
    /// The error the owned decoder ([`crate::Frame::decode`]) gives for the
    /// same bytes, at the same offset.
    pub fn decode(payload: Bytes, offset: usize) -> Result<Self, DecodeError> {
        Self::check(&payload, offset)?;
        Ok(Self { payload, offset })
    }

    /// A list [`ActionList::check`] accepted.
    pub(crate) fn checked(payload: Bytes, offset: usize) -> Self {
        Self { payload, offset }
    }

    /// Checks `payload` without keeping it (see [`ActionList::decode`]).
    ///
    /// # Errors
    ///
    /// As [`ActionList::decode`].
    pub fn check(payload: &[u8], offset: usize) -> Result<(), DecodeError> {
        let mut r = SliceReader::new(payload, offset);
        while !r.is_empty() {
            ActionView::decode(&mut r)?;
        }
        Ok(())
    }

    /// The actions, read in place.
    pub fn iter(&self) -> impl Iterator<Item = ActionView<'_>> + '_ {
        let mut r = SliceReader::new(&self.payload, self.offset);
        // Checked when the list was made: an error cannot happen; if it did,
        // the list would end there.
        std::iter::from_fn(move || {
            if r.is_empty() {
                return None;
            }
            ActionView::decode(&mut r).ok()
        })
    }

    /// The number of actions.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// No action at all (an empty ACK).
    pub fn is_empty(&self) -> bool {
        self.payload.is_empty()
    }

    /// The owned actions.
    pub fn to_vec(&self) -> Vec<Action> {
        self.iter().map(|a| a.to_owned_in(&self.payload)).collect()
    }

    /// `s` (a name or a value the list gave) as a `Bytes` sharing the list's
    /// buffer: no copy.
    pub fn share(&self, s: &[u8]) -> Bytes {
        share(&self.payload, s)
    }

    /// The encoded list.
    pub fn as_bytes(&self) -> &Bytes {
        &self.payload
    }
}

impl From<&[Action]> for ActionList {
    fn from(actions: &[Action]) -> Self {
        let mut b = bytes::BytesMut::new();
        actions.iter().for_each(|a| a.encode(&mut b));
        Self {
            payload: b.freeze(),
            offset: 0,
        }
    }
}

impl From<Vec<Action>> for ActionList {
    fn from(actions: Vec<Action>) -> Self {
        Self::from(actions.as_slice())
    }
}

/// The same actions (the same bytes), wherever they were read.
impl PartialEq for ActionList {
    fn eq(&self, other: &Self) -> bool {
        self.payload == other.payload
    }
}

impl Eq for ActionList {}

impl PartialEq<Vec<Action>> for ActionList {
    fn eq(&self, other: &Vec<Action>) -> bool {
        self.iter().eq(other.iter().map(Action::view))
    }
}

/// As the owned actions: `[SetVar { .. }, ..]`.
impl fmt::Debug for ActionList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.to_vec()).finish()
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
