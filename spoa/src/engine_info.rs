//! The engine at the other end of a connection, as its handshake left it:
//! what every [`crate::Request`] of the connection shares.

use spop::{AgentHello, Capabilities, HaproxyHello, Version};

/// The engine at the other end of a connection, as the handshake left it.
/// Shared by every [`crate::Request`] of the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EngineInfo {
    /// The `engine-id` the engine sent in HAPROXY-HELLO (HAProxy sends one
    /// per SPOE engine and process), if any.
    pub engine_id: Option<String>,
    /// The SPOP version agreed on.
    pub version: Version,
    /// The max-frame-size agreed on: no ACK may be larger.
    pub max_frame_size: u32,
    /// The capabilities agreed on (what both sides announced; fragmentation
    /// is what this agent accepts).
    pub capabilities: Capabilities,
    /// The capabilities the engine offered.
    pub engine_capabilities: Capabilities,
}

impl EngineInfo {
    /// What the handshake `hello` / `answer` agreed on.
    pub fn from_handshake(hello: &HaproxyHello, answer: &AgentHello) -> Self {
        Self {
            engine_id: hello.engine_id.clone(),
            version: answer.version,
            max_frame_size: answer.max_frame_size,
            capabilities: answer.capabilities,
            engine_capabilities: hello.capabilities,
        }
    }
}

impl Default for EngineInfo {
    /// HAProxy 2.6's defaults: SPOP 2.0, 16380-byte frames, pipelining, no
    /// engine id.
    fn default() -> Self {
        let caps = Capabilities {
            pipelining: true,
            async_: false,
            fragmentation: false,
        };
        Self {
            engine_id: None,
            version: Version::V2_0,
            max_frame_size: spop::HAPROXY_DEFAULT_FRAME_SIZE,
            capabilities: caps,
            engine_capabilities: caps,
        }
    }
}
