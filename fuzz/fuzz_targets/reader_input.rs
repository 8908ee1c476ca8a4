#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sltd_fuzz_support::read_scans(data));

mod sltd_fuzz_support {
    use std::time::{Duration, Instant};

    use sltd_desk::reader::{ReaderInput, Scan, Shape};

    /// Feeds arbitrary bytes as reader input. Byte 0xFF lets more than the
    /// scan gap pass, 0xFE is a Backspace; every other byte is input. No
    /// panic; every MRZ that comes out has a known shape (and the MRZ parser
    /// takes it without panicking); nothing is left over after the end.
    pub fn read_scans(data: &[u8]) {
        let gap = Duration::from_millis(100);
        let mut now = Instant::now();
        let mut input = ReaderInput::new(gap);
        let mut out = Vec::new();
        for &b in data {
            match b {
                0xFF => {
                    now += gap * 2;
                    input.poll(now, &mut out);
                }
                0xFE => input.erase(now),
                _ => input.push_bytes(&[b], now, &mut out),
            }
        }
        input.finish(&mut out);
        assert!(input.progress().is_none());
        for scan in &out {
            match scan {
                Scan::Mrz(text) => {
                    let lens: Vec<usize> = text.split('\n').map(str::len).collect();
                    let shape = Shape::with_line_len(lens[0]).expect("known line length");
                    assert_eq!(lens, vec![shape.line_len; shape.lines]);
                    let _ = sltd_model::mrz::parse(text);
                }
                Scan::Unreadable(why) => {
                    let _ = why.to_string();
                }
            }
        }
    }
}
