package policyjson

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
)

// MaxLineBytes is the longest input line Stream accepts; a longer line is
// answered with an invalid_json error and skipped.
const MaxLineBytes = 64 << 20

// Stream evaluates newline-delimited JSON: one object
// {"id": <any JSON, optional>, "facts": {…}, "request": {…}} per line, one
// output line per input line in the same order (blank lines are skipped).
// An output line is the §6 decision object plus "id", or
// {"id": …, "error": {"code", "message", "field"}} for a line that cannot be
// parsed or is invalid; the run continues after such a line. failed counts
// those error lines. err reports only read and write failures.
func Stream(r io.Reader, w io.Writer) (failed int, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	var line []byte
	for {
		var tooLong bool
		line, tooLong, err = readLine(br, line[:0])
		if err != nil && err != io.EOF {
			bw.Flush()
			return failed, err
		}
		eof := err == io.EOF
		trimmed := bytes.TrimSpace(line)
		if len(trimmed) > 0 || tooLong {
			var res Result
			if tooLong {
				res.Err = jsonErr("line longer than " + strconv.Itoa(MaxLineBytes) + " bytes")
			} else {
				res = EvaluateJSON(trimmed)
			}
			if res.Err != nil {
				failed++
			}
			if werr := enc.Encode(res.line()); werr != nil {
				return failed, werr
			}
		}
		if eof {
			return failed, bw.Flush()
		}
		// Flush when no further input is buffered, so that interactive
		// callers see each answer before they send the next line.
		if br.Buffered() == 0 {
			if werr := bw.Flush(); werr != nil {
				return failed, werr
			}
		}
	}
}

// readLine appends the next line (without its newline) to buf. A line
// longer than MaxLineBytes is consumed but not kept (tooLong). It returns
// io.EOF with the last line when the input ends.
func readLine(br *bufio.Reader, buf []byte) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(chunk) > MaxLineBytes+1 {
				tooLong = true
				buf = buf[:0]
			} else {
				buf = append(buf, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		buf = bytes.TrimSuffix(buf, []byte("\n"))
		return buf, tooLong, err
	}
}
