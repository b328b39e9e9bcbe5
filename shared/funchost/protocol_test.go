package funchost

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestDecodeJSONLayers(t *testing.T) {
	type obj struct{ A int }
	for _, tc := range []struct {
		name string
		raw  string
		into func() any
		want any
	}{
		{"object", `{"A":1}`, func() any { return new(obj) }, &obj{A: 1}},
		{"double-encoded object", `"{\"A\":1}"`, func() any { return new(obj) }, &obj{A: 1}},
		{"triple-encoded object", `"\"{\\\"A\\\":1}\""`, func() any { return new(obj) }, &obj{A: 1}},
		{"double-encoded string", `"\"HelloWorld\""`, func() any { return new(string) }, ptr("HelloWorld")},
		{"single string", `"HelloWorld"`, func() any { return new(string) }, ptr("HelloWorld")},
		{"object text into string", `"{\"A\":1}"`, func() any { return new(string) }, ptr(`{"A":1}`)},
		{"numeric text into string", `"\"123\""`, func() any { return new(string) }, ptr("123")},
		{"numeric text into int", `"\"123\""`, func() any { return new(int64) }, ptr(int64(123))},
		{"number into int", `4`, func() any { return new(int) }, ptr(4)},
		{"string null stays text", `"\"null\""`, func() any { return new(string) }, ptr("null")},
		{"surrounding space", ` "{\"A\":2}" `, func() any { return new(obj) }, &obj{A: 2}},
		{"raw message gets deepest", `"\"[1,2]\""`, func() any { return new(json.RawMessage) }, ptr(json.RawMessage(`[1,2]`))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.into()
			if err := DecodeJSON([]byte(tc.raw), got); err != nil {
				t.Fatalf("DecodeJSON(%s): %v", tc.raw, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("DecodeJSON(%s) = %#v, want %#v", tc.raw, deref(got), deref(tc.want))
			}
		})
	}
}

func TestDecodeJSONErrors(t *testing.T) {
	var o struct{ A int }
	if err := DecodeJSON([]byte(`"{\"A\":\"x\"}"`), &o); err == nil {
		t.Error("type mismatch inside an encoded object: want error")
	} else {
		// The error names the real (unwrapped) shape, not "cannot unmarshal string".
		var ute *json.UnmarshalTypeError
		if !errors.As(err, &ute) || ute.Field != "A" {
			t.Errorf("err = %v, want UnmarshalTypeError on field A", err)
		}
	}
	if err := DecodeJSON(nil, &o); err == nil {
		t.Error("empty input: want error")
	}
	if err := DecodeJSON([]byte(`{`), &o); err == nil {
		t.Error("invalid JSON: want error")
	}
}

func TestInvocationAccessors(t *testing.T) {
	body := `{"Data":{"item":"\"HelloWorld\""},"Metadata":{
		"DequeueCount":"4","Count2":4,"Fraction":"1.5","Big":"9223372036854775807",
		"MessageId":"\"abc\"","Plain":"abc","Flag":true,"Obj":{"b":1, "a":2},"Nil":null,
		"InsertionTime":"2023-10-12T20:13:49","Never":"0001-01-01T00:00:00+00:00","BadTime":"yesterday",
		"retrycontext":{"RetryCount":"1","MaxRetryCount":3,"Exception":{"Message":"boom"}}}}`
	inv, err := NewInvocation("Q", "id-1", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	var s string
	if err := inv.DecodeData("item", &s); err != nil || s != "HelloWorld" {
		t.Errorf("DecodeData = %q, %v", s, err)
	}
	if raw, ok := inv.RawData("ITEM"); !ok || string(raw) != `"HelloWorld"` {
		t.Errorf("RawData (case-insensitive) = %s, %v", raw, ok)
	}
	if err := inv.DecodeData("missing", &s); !errors.Is(err, ErrNoData) {
		t.Errorf("missing Data err = %v", err)
	}
	if err := inv.DecodeMetadata("missing", &s); !errors.Is(err, ErrNoMetadata) {
		t.Errorf("missing Metadata err = %v", err)
	}

	for key, want := range map[string]string{"MessageId": "abc", "Plain": "abc", "DequeueCount": "4", "Flag": "true", "Obj": `{"b":1,"a":2}`} {
		if got, ok := inv.MetadataString(key); !ok || got != want {
			t.Errorf("MetadataString(%s) = %q, %v; want %q", key, got, ok, want)
		}
	}
	for _, key := range []string{"Nil", "missing"} {
		if got, ok := inv.MetadataString(key); ok {
			t.Errorf("MetadataString(%s) = %q, true; want false", key, got)
		}
	}

	for key, want := range map[string]int64{"DequeueCount": 4, "Count2": 4, "Big": 9223372036854775807} {
		if got, ok := inv.MetadataInt(key); !ok || got != want {
			t.Errorf("MetadataInt(%s) = %d, %v; want %d", key, got, ok, want)
		}
	}
	for _, key := range []string{"Fraction", "MessageId", "missing", "Nil"} {
		if got, ok := inv.MetadataInt(key); ok {
			t.Errorf("MetadataInt(%s) = %d, true; want false", key, got)
		}
	}

	if got, ok := inv.MetadataTime("InsertionTime"); !ok || !got.Equal(time.Date(2023, 10, 12, 20, 13, 49, 0, time.UTC)) {
		t.Errorf("MetadataTime(no zone) = %v, %v", got, ok)
	}
	if got, ok := inv.MetadataTime("Never"); !ok || !got.IsZero() {
		t.Errorf("MetadataTime(MinValue) = %v, %v; want zero, true", got, ok)
	}
	if _, ok := inv.MetadataTime("BadTime"); ok {
		t.Error("MetadataTime(yesterday) ok, want false")
	}

	rc, ok := inv.RetryContext()
	if !ok || rc.RetryCount != 1 || rc.MaxRetryCount != 3 || string(rc.Exception) != `{"Message":"boom"}` {
		t.Errorf("RetryContext = %+v, %v", rc, ok)
	}
	if inv.Logger() == nil {
		t.Error("Logger() = nil")
	}
}

func TestParseTime(t *testing.T) {
	utc := func(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
		return time.Date(y, mo, d, h, mi, s, ns, time.UTC)
	}
	for in, want := range map[string]time.Time{
		"":                                    {},
		"0001-01-01T00:00:00":                 {},
		"0001-01-01T00:00:00+00:00":           {},
		"0001-01-01T00:00:00Z":                {},
		"2024-11-30T14:45:51+00:00":           utc(2024, 11, 30, 14, 45, 51, 0),
		"2024-11-30T14:43:50.403838+00:00":    utc(2024, 11, 30, 14, 43, 50, 403838000),
		"2023-02-14T16:50:00-08:00":           utc(2023, 2, 15, 0, 50, 0, 0),
		"2023-10-12T20:13:49":                 utc(2023, 10, 12, 20, 13, 49, 0),
		"2023-10-12T20:13:49.640002Z":         utc(2023, 10, 12, 20, 13, 49, 640002000),
		"2019-07-25T01:08:33.1036736Z":        utc(2019, 7, 25, 1, 8, 33, 103673600),
		"2023-10-12 20:13:49Z":                utc(2023, 10, 12, 20, 13, 49, 0),
		"10/12/2023 8:13:49 PM":               utc(2023, 10, 12, 20, 13, 49, 0),
		"  2024-11-30T14:45:51+00:00\n":       utc(2024, 11, 30, 14, 45, 51, 0),
		"2024-11-30T14:45:51.0000000+00:00":   utc(2024, 11, 30, 14, 45, 51, 0),
		"2024-11-30T14:45:51.1234567-00:30":   utc(2024, 11, 30, 15, 15, 51, 123456700),
		"2024-11-30T14:45:51.123456789+01:00": utc(2024, 11, 30, 13, 45, 51, 123456789),
	} {
		got, err := ParseTime(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"yesterday", "2024-13-01T00:00:00", "1559082102"} {
		if _, err := ParseTime(bad); err == nil {
			t.Errorf("ParseTime(%q): want error", bad)
		}
	}
}

func TestTimeJSON(t *testing.T) {
	var v struct{ A, B, C, D, E Time }
	in := `{"A":null,"B":"\"2024-11-30T14:45:51+00:00\"","C":1559082102,"D":"1559082102","E":"0001-01-01T00:00:00"}`
	if err := json.Unmarshal([]byte(in), &v); err != nil {
		t.Fatal(err)
	}
	exp := time.Unix(1559082102, 0).UTC()
	if !v.A.IsZero() || !v.B.Equal(time.Date(2024, 11, 30, 14, 45, 51, 0, time.UTC)) || !v.C.Equal(exp) || !v.D.Equal(exp) || !v.E.IsZero() {
		t.Errorf("decoded = %+v", v)
	}
	if err := json.Unmarshal([]byte(`{"A":"not a time"}`), &v); err == nil {
		t.Error("bad time: want error")
	}
	if err := json.Unmarshal([]byte(`{"A":{}}`), &v); err == nil {
		t.Error("object time: want error")
	}
	b, _ := json.Marshal(struct{ Z, T Time }{T: Time{exp}})
	if string(b) != `{"Z":null,"T":"2019-05-28T22:21:42Z"}` {
		t.Errorf("marshal = %s", b)
	}
}

func TestInvocationResponseEncoding(t *testing.T) {
	b, err := json.Marshal(InvocationResponse{})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"Outputs":{},"Logs":[],"ReturnValue":null}` {
		t.Errorf("empty response = %s", b)
	}
	r := Rejected("event for unknown secret %q", "x")
	r.SetOutput("res", map[string]any{"ok": false})
	b, _ = json.Marshal(r)
	if string(b) != `{"Outputs":{"res":{"ok":false}},"Logs":["rejected: event for unknown secret \"x\""],"ReturnValue":null}` {
		t.Errorf("rejected response = %s", b)
	}
}

func ptr[T any](v T) *T { return &v }

func deref(v any) any {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer && !rv.IsNil() {
		return rv.Elem().Interface()
	}
	return v
}
