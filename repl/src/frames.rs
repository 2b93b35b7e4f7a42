//! Cuts a streamed query response into JSON frames as bytes arrive. `/query` sends one JSON
//! array whose elements trickle in (`[{"header":..},\n{"row":..},\n...]`), `/query-stream`
//! sends one JSON document per line; both are read the same way: every complete top-level
//! value (or element of the top-level array) is a frame, whatever the whitespace and chunking.

use serde_json::Value;

#[derive(Debug, Default)]
pub struct FrameReader {
    buffer: Vec<u8>,
    /// Scan position in `buffer`; everything before it has been classified.
    scanned: usize,
    /// Start of the frame being read, if one has begun.
    frame_start: Option<usize>,
    /// Nesting depth inside the current frame.
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// Whether anything but whitespace has arrived: only a `[` that opens the stream is the
    /// outer array of a `/query` response (later ones are `/query-stream` row frames).
    started: bool,
}

impl FrameReader {
    pub fn new() -> FrameReader {
        FrameReader::default()
    }

    /// Adds `chunk` and returns every frame it completed; a frame that is not valid JSON
    /// comes back as the parse error's text.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Result<Value, String>> {
        self.buffer.extend_from_slice(chunk);
        let mut frames = Vec::new();
        while self.scanned < self.buffer.len() {
            let at = self.scanned;
            let byte = self.buffer[at];
            self.scanned += 1;
            match self.frame_start {
                None => match byte {
                    b if b.is_ascii_whitespace() => {}
                    b'[' if !self.started => self.started = true,
                    b',' | b']' => {}
                    b'{' | b'[' => {
                        self.started = true;
                        self.frame_start = Some(at);
                        self.depth = 1;
                    }
                    _ => {
                        // A scalar frame: read to the next separator.
                        self.started = true;
                        self.frame_start = Some(at);
                        self.depth = 0;
                        self.in_string = byte == b'"';
                    }
                },
                Some(start) => {
                    if self.in_string {
                        if self.escaped {
                            self.escaped = false;
                        } else if byte == b'\\' {
                            self.escaped = true;
                        } else if byte == b'"' {
                            self.in_string = false;
                        }
                        continue;
                    }
                    match byte {
                        b'"' => self.in_string = true,
                        b'{' | b'[' => self.depth += 1,
                        b'}' | b']' if self.depth > 0 => {
                            self.depth -= 1;
                            if self.depth == 0 {
                                frames.push(parse(&self.buffer[start..=at]));
                                self.frame_start = None;
                            }
                        }
                        b',' | b']' | b'\n' if self.depth == 0 => {
                            frames.push(parse(&self.buffer[start..at]));
                            self.frame_start = None;
                        }
                        _ => {}
                    }
                }
            }
        }
        self.compact();
        frames
    }

    /// Bytes received that did not complete a frame (shown when a stream ends mid-frame).
    pub fn pending(&self) -> &[u8] {
        match self.frame_start {
            Some(start) => &self.buffer[start..],
            None => &[],
        }
    }

    /// Drops consumed bytes so a long-running query does not grow the buffer.
    fn compact(&mut self) {
        let keep_from = self.frame_start.unwrap_or(self.scanned);
        if keep_from > 0 {
            self.buffer.drain(..keep_from);
            self.scanned -= keep_from;
            if let Some(start) = self.frame_start.as_mut() {
                *start -= keep_from;
            }
        }
    }
}

fn parse(bytes: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("{e} in {:?}", String::from_utf8_lossy(bytes)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn frames_of(chunks: &[&str]) -> Vec<Value> {
        let mut reader = FrameReader::new();
        let mut out = Vec::new();
        for chunk in chunks {
            for frame in reader.push(chunk.as_bytes()) {
                out.push(frame.expect("valid frame"));
            }
        }
        assert!(reader.pending().is_empty());
        out
    }

    #[test]
    fn reads_query_array_frames_split_anywhere() {
        let body = "[{\"header\":{\"queryId\":\"q\",\"schema\":\"`A` STRING\"}},\n\
                    {\"row\":{\"columns\":[\"x]},{\\\"\"]}},\n\
                    {\"finalMessage\":\"Limit Reached\"}]\n";
        let expected = vec![
            json!({"header": {"queryId": "q", "schema": "`A` STRING"}}),
            json!({"row": {"columns": ["x]},{\""]}}),
            json!({"finalMessage": "Limit Reached"}),
        ];
        assert_eq!(frames_of(&[body]), expected);
        // Byte by byte gives the same frames.
        let pieces: Vec<String> = body.chars().map(String::from).collect();
        let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
        assert_eq!(frames_of(&pieces), expected);
    }

    #[test]
    fn reads_delimited_lines_and_keepalive_whitespace() {
        let frames = frames_of(&["{\"queryId\":\"a\",\"columnNames\":[\"K\"]}\n[1]\n", "\n\n", "[2]\n"]);
        assert_eq!(frames, vec![json!({"queryId": "a", "columnNames": ["K"]}), json!([1]), json!([2])]);
    }

    #[test]
    fn incomplete_frame_stays_pending() {
        let mut reader = FrameReader::new();
        assert!(reader.push(b"[{\"row\":{\"columns\":[1").is_empty());
        assert_eq!(reader.pending(), b"{\"row\":{\"columns\":[1");
    }

    #[test]
    fn invalid_frame_is_an_error_not_a_panic() {
        let mut reader = FrameReader::new();
        let frames = reader.push(b"[{\"row\": nope}]");
        assert_eq!(frames.len(), 1);
        assert!(frames[0].is_err());
    }
}
