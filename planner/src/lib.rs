//! runnel-planner: the catalog, ksql types and functions, and planning of statements onto
//! DataFusion logical plans with streaming extension nodes.

pub mod aggregate;
pub mod catalog;
pub mod config;
pub mod context;
pub mod ddl;
pub mod error;
pub mod expr;
pub mod formats;
pub mod functions;
pub mod internal_udfs;
pub mod join;
pub mod nodes;
pub mod pull;
pub mod query;
pub mod types;

pub use catalog::{Catalog, Column, ColumnRole, QueryDef, SourceDef, TimestampSpec, WindowInfo, WindowType};
pub use config::PlannerConfig;
pub use context::KsqlContext;
pub use error::PlanError;
pub use formats::{FormatName, FormatSpec};
pub use pull::{PlannedPull, PullSettings};
pub use query::{OutputColumn, PlannedQuery, QueryPlanner};
