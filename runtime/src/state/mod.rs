//! State stores: in-memory indexed structures that stateful operators keep their state in.
//!
//! Every write is remembered as *dirty*; the owning operator turns its dirty entries into
//! changelog records (`_runnel-<service>-query_<ID>-<store>-changelog`, compacted) after each
//! batch, and a store is rebuilt by replaying those records (`restore_*`), which writes
//! without marking anything dirty. Windowed stores evict windows that fall out of retention.
//!
//! ```text
//!   operator ──put/remove──▶ store ──take_dirty──▶ operator encodes ──▶ changelog topic
//!      ▲                                                                     │
//!      └──────────── restore_put/restore_remove ◀── decode ◀─────────────────┘
//! ```

mod kv;
mod table;
mod window;

pub use kv::KeyValueStore;
pub use table::{RowChange, RowPosition, ScanRange, TableStore};
pub use window::{WindowKey, WindowStore};

/// What every store tells the runtime about itself.
pub trait StateStore: Send {
    /// The store name, the `<store>` part of its changelog topic.
    fn name(&self) -> &str;
    /// Number of entries held.
    fn entries(&self) -> usize;
}

/// The changelog topic of `store` for the query `query_id` of service `service_id`.
pub fn changelog_topic(service_id: &str, query_id: &str, store: &str) -> String {
    internal_topic(service_id, query_id, &format!("{store}-changelog"))
}

/// An internal topic `name` of the query `query_id` of service `service_id`.
pub fn internal_topic(service_id: &str, query_id: &str, name: &str) -> String {
    format!("_runnel-{service_id}-query_{query_id}-{name}")
}
