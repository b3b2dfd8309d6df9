//! Every integration test of the web crate, in one binary: DataFusion and the rest are
//! linked once, not once per file. Each module is one area, driven over HTTP against a
//! real server (see `common`).

mod common;

mod abuse;
mod accountability;
mod architecture;
mod ckan_api;
mod clients;
mod data_api;
mod events;
mod ingest;
mod inventory;
mod jobs;
mod native_api;
mod pages;
mod security;
