//! End-to-end tests of driftline. The world they run in (the local AWS emulator, the paper
//! exchange, the real handlers over the real adapters) is `driftline-sandbox`, shared with
//! `make demo`; it is re-exported here, with the steps tests share (`driftline_sandbox::steps`),
//! so tests write `driftline_e2e::World`.

pub use driftline_sandbox::*;
