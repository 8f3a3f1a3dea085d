//! Errors of loading Lua files, in HAProxy's words.

use std::path::PathBuf;

/// Why the Lua files could not be loaded (HAProxy refuses the configuration then).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read.
    #[error("error in Lua file '{}': {reason}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        reason: String,
    },
    /// The file does not compile.
    #[error("error in Lua file '{}': {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// Lua's message.
        message: String,
    },
    /// Running the file (its body) failed.
    #[error("Lua runtime error: {message}")]
    Runtime {
        /// The file.
        path: PathBuf,
        /// Lua's message.
        message: String,
    },
    /// The state could not be created or configured.
    #[error("Lua state error: {0}")]
    State(String),
    /// The files of different threads registered different names
    /// (`lua-load-per-thread` files must register the same on every thread).
    #[error("lua-load-per-thread: thread {thread} registered '{name}', which thread 1 did not")]
    ThreadsDiffer {
        /// The thread number (from 1).
        thread: usize,
        /// The name.
        name: String,
    },
}
