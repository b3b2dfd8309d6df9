//! Every integration test of the ingest crate, in one binary (linked once).

mod analyze;
mod readers;
mod schema;
