#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sltd_fuzz::reader_input(data));
