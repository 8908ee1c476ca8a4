//! `sltd desk`: the front-end of a border desk with a passport reader.
#![forbid(unsafe_code)]

pub mod reader;
