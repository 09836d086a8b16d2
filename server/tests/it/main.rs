//! Herald's integration tests, built as one binary: each module drives the real node (through
//! `common::spawn_app`: a random port, a fresh SQLite directory or Postgres database) or the real
//! control store, on both backends where it applies (`both_backends!`).
//!
//! Run one module with `cargo test --release --test it admin_input::`.

#[macro_use]
mod common;

mod admin_input;
mod admin_isolation;
mod admin_smoke;
mod app_directory;
mod console_api;
mod event_log_store;
mod login_limits;
mod nul_text;
mod openapi;
mod store_contract;
mod store_open;
mod store_outage;
mod token_table;
mod webhook_egress;
mod webhook_store;
