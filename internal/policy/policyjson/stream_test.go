package policyjson_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/fairlead/fairlead/internal/policy"
	"github.com/fairlead/fairlead/internal/policy/policyjson"
)

// spec6Line is the situation of the §6 example output.
const spec6Line = `{"id":1,"facts":{"as_of":"2026-03-01","audience":"b2c","relationship":"customer","existing_customer":{"address_from_sale":true,"own_similar_offer":true,"notice_in_message":true}},"request":{"purpose":"direct_marketing","channel":"email"}}`

func TestMarshalDecisionMatchesSpecExample(t *testing.T) {
	t.Parallel()
	res := policyjson.EvaluateJSON([]byte(spec6Line))
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	got, err := policyjson.MarshalDecision(res.Decision)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"allowed":false,"reasons":["no_consent","ece_notice_missing_at_collection"],"legal_refs":["GDPR Art. 6(1)(a)","UWG §7(2) Nr. 1-2","UWG §7(3) Nr. 4"],"legal_bases":[],"obligations":[],"warnings":[],"policy_version":"` + policy.Version + `","as_of":"2026-03-01"}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	line, _ := json.Marshal(res)
	if !strings.HasPrefix(string(line), `{"id":1,"allowed":false,`) {
		t.Errorf("result line %s", line)
	}
}

func TestDecisionRoundTrip(t *testing.T) {
	t.Parallel()
	for _, line := range seedLines {
		res := policyjson.EvaluateJSON([]byte(line))
		if res.Err != nil {
			continue
		}
		b, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		var back struct {
			ID json.RawMessage `json:"id"`
			policyjson.Output
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&back); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if !reflect.DeepEqual(back.Output, policyjson.NewOutput(res.Decision)) {
			t.Errorf("round trip of %s lost data: %+v", b, back.Output)
		}
		if d, err := policy.ParseDate(back.AsOf); err != nil || d != res.Decision.AsOf {
			t.Errorf("as_of %q", back.AsOf)
		}
		for _, k := range []string{`"reasons":[`, `"legal_refs":[`, `"legal_bases":[`, `"obligations":[`, `"warnings":[`} {
			if !bytes.Contains(b, []byte(k)) {
				t.Errorf("%s: %s is not an array", b, k)
			}
		}
	}
}

func TestMarshalError(t *testing.T) {
	t.Parallel()
	_, err := policyjson.DecodeItem([]byte(`{"facts":{},"request":{"purpose":"direct_marketing","channel":"fax"}}`))
	b, _ := policyjson.MarshalError(err)
	want := `{"error":{"code":"invalid_request","message":"channel \"fax\" is not allowed for direct_marketing; allowed: email, sms, phone, post","field":"request.channel"}}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	if e := policyjson.ErrorOf(errors.New("boom")); e.Code != policyjson.CodeInvalidJSON {
		t.Errorf("ErrorOf(other) = %+v", e)
	}
}

type line struct {
	ID    json.RawMessage       `json:"id"`
	Error *policyjson.ErrorBody `json:"error"`
	policyjson.Output
}

func parseLines(t *testing.T, out string) []line {
	t.Helper()
	var lines []line
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("output line %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	return lines
}

func TestStream(t *testing.T) {
	t.Parallel()
	in := strings.Join([]string{
		spec6Line,
		``,
		`   `,
		`{"id":"a-1","facts":{"as_of":"2026-03-01","audience":"b2c","relationship":"prospect"},"request":{"purpose":"direct_marketing","channel":"post"}}` + "\r",
		`{"id": 7, "facts": {"as_of": "2026-03-01", "audience": "b2c"`,
		`{"id":"enum","facts":{"as_of":"2026-03-01","audience":"xyz","relationship":"prospect"},"request":{"purpose":"direct_marketing","channel":"post"}}`,
		`{"id":{"k":[1,2]},"facts":{"audience":"b2c","relationship":"prospect"},"request":{"purpose":"direct_marketing","channel":"post"}}`,
		`{"id":3.5,"facts":{"as_of":"2026-03-01","audience":"b2c","relationship":"prospect"}}`,
		`{"facts":{"as_of":"2026-03-01","audience":"b2c","relationship":"prospect"},"request":{"purpose":"analytics","channel":"web"}}`,
		`{"id":null,"facts":{"as_of":"2026-03-01","audience":"b2c","relationship":"customer"},"request":{"purpose":"personalization","channel":"none"}}`,
	}, "\n") // no trailing newline: the last line still counts
	var out bytes.Buffer
	failed, err := policyjson.Stream(strings.NewReader(in), &out)
	if err != nil {
		t.Fatal(err)
	}
	if failed != 4 {
		t.Errorf("failed = %d, want 4", failed)
	}
	lines := parseLines(t, out.String())
	if len(lines) != 8 {
		t.Fatalf("%d output lines, want 8:\n%s", len(lines), out.String())
	}
	type want struct {
		id, code, field, first string
	}
	wants := []want{
		{id: `1`, first: "no_consent"},
		{id: `"a-1"`, first: "postal_legitimate_interest"},
		{code: "invalid_json"},
		{id: `"enum"`, code: "invalid_facts", field: "facts.audience"},
		{id: `{"k":[1,2]}`, code: "invalid_facts", field: "facts.as_of"},
		{id: `3.5`, code: "invalid_request", field: "request"},
		{first: "identified_tracking_requires_consent"},
		{id: `null`, first: "personalization_legitimate_interest"},
	}
	for i, w := range wants {
		l := lines[i]
		if string(l.ID) != w.id {
			t.Errorf("line %d id = %s, want %s", i, l.ID, w.id)
		}
		if w.code != "" {
			if l.Error == nil || l.Error.Code != w.code || l.Error.Field != w.field || l.Error.Message == "" {
				t.Errorf("line %d error = %+v, want %s %s", i, l.Error, w.code, w.field)
			}
			continue
		}
		if l.Error != nil || len(l.Reasons) == 0 || string(l.Reasons[0]) != w.first || l.AsOf != "2026-03-01" || l.PolicyVersion != policy.Version {
			t.Errorf("line %d = %+v, want first reason %s", i, l, w.first)
		}
	}
	// "id" is omitted, not null, when the input has none.
	if strings.Contains(strings.Split(out.String(), "\n")[2], `"id"`) {
		t.Error("id echoed for a line without id")
	}
}

func TestStreamLongLine(t *testing.T) {
	t.Parallel()
	// A 5 MB line: a large unknown field plus 2,000 consent records.
	var b strings.Builder
	b.WriteString(`{"id":"big","facts":{"as_of":"2026-03-01","audience":"b2c","relationship":"prospect","padding":"`)
	b.WriteString(strings.Repeat("x", 4<<20))
	b.WriteString(`","consents":[`)
	for i := range 2000 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"purpose":"direct_marketing","channels":["email"],"status":"pending","given_at":"2025-06-01"}`)
	}
	b.WriteString(`]},"request":{"purpose":"direct_marketing","channel":"email"}}` + "\n" + spec6Line + "\n")
	var out bytes.Buffer
	failed, err := policyjson.Stream(strings.NewReader(b.String()), &out)
	if err != nil || failed != 0 {
		t.Fatalf("failed=%d err=%v", failed, err)
	}
	lines := parseLines(t, out.String())
	if len(lines) != 2 || string(lines[0].ID) != `"big"` || string(lines[0].Reasons[1]) != "consent_pending_doi" || string(lines[1].ID) != "1" {
		t.Errorf("lines = %+v", lines)
	}
}

func TestStreamIOErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	_, err := policyjson.Stream(io.MultiReader(strings.NewReader(spec6Line+"\n"), iotest.ErrReader(boom)), io.Discard)
	if !errors.Is(err, boom) {
		t.Errorf("read error = %v", err)
	}
	_, err = policyjson.Stream(strings.NewReader(spec6Line+"\n"), errWriter{boom})
	if !errors.Is(err, boom) {
		t.Errorf("write error = %v", err)
	}
	var out bytes.Buffer
	if failed, err := policyjson.Stream(strings.NewReader(""), &out); failed != 0 || err != nil || out.Len() != 0 {
		t.Errorf("empty input: %d %v %q", failed, err, out.String())
	}
}

type errWriter struct{ err error }

func (w errWriter) Write([]byte) (int, error) { return 0, w.err }

func TestEvaluateBatch(t *testing.T) {
	t.Parallel()
	one, err := policyjson.EvaluateBatch([]byte(spec6Line))
	if err != nil || len(one) != 1 || one[0].Err != nil || string(one[0].ID) != "1" {
		t.Fatalf("object: %+v %v", one, err)
	}
	many, err := policyjson.EvaluateBatch([]byte(`[` + spec6Line + `, {"id":2}, 5]`))
	if err != nil || len(many) != 3 || many[0].Err != nil || many[1].Err == nil || string(many[1].ID) != "2" || many[2].Err == nil {
		t.Fatalf("array: %+v %v", many, err)
	}
	for _, bad := range []string{`"x"`, `[1,`, ``} {
		if _, err := policyjson.EvaluateBatch([]byte(bad)); policyjson.ErrorOf(err).Code != policyjson.CodeInvalidJSON {
			t.Errorf("EvaluateBatch(%q) err = %v", bad, err)
		}
	}
}
