package funchost

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeData checks the tolerant decoder on arbitrary input: it must never
// panic, and wrapping a value in 1–3 JSON-string layers (what the host does to
// string trigger values, [H4]) must not change what it decodes to.
func FuzzDecodeData(f *testing.F) {
	// Seeds: shapes the host sends (testdata/README.md) and edge cases.
	for _, s := range []string{
		`{"kind":"rotate","id":"job-42"}`, `"{\"kind\":\"rotate\"}"`, `"\"HelloWorld\""`,
		`"\"123\""`, `"null"`, `null`, `[1,"2",{"3":4}]`, `"\"\\\"deep\\\"\""`, `  "{}"  `,
		`{"Schedule":{"AdjustForDST":true},"ScheduleStatus":{"Last":"0001-01-01T00:00:00"},"IsPastDue":false}`,
		`"`, `"\u0000"`, `1e400`, `{"a":`, ``,
	} {
		f.Add([]byte(s), uint8(0))
		f.Add([]byte(s), uint8(2))
	}
	f.Fuzz(func(t *testing.T, data []byte, layers uint8) {
		k := int(layers%3) + 1

		// 1. Arbitrary bytes in Data: no panic in any accessor or target type.
		inv := &Invocation{Request: InvocationRequest{
			Data:     map[string]json.RawMessage{"x": data},
			Metadata: map[string]json.RawMessage{"x": data},
		}}
		var anyV any
		var str string
		var ti TimerInfo
		var ev EventGridEvent
		var hr HTTPRequest
		var n int64
		_ = inv.DecodeData("x", &anyV)
		_ = inv.DecodeData("x", &str)
		_ = inv.DecodeData("x", &ti)
		_ = inv.DecodeData("x", &ev)
		_ = inv.DecodeData("x", &hr)
		_ = inv.DecodeData("x", &n)
		_, _ = inv.MetadataString("x")
		_, _ = inv.MetadataInt("x")
		_, _ = inv.MetadataTime("x")
		_, _ = inv.ServiceBusMessage("x")
		_, _ = inv.RawData("x")

		// 2. A text body wrapped k times decodes back to the text, unless the
		// text itself is JSON (then the JSON is what the caller gets).
		s := string(data)
		trimmed := strings.TrimSpace(s)
		// json.Marshal replaces invalid UTF-8, so only valid text can round-trip.
		if utf8.ValidString(s) && (!json.Valid([]byte(trimmed)) || trimmed == "null") {
			var got string
			if err := DecodeJSON(wrap(t, s, k), &got); err != nil {
				t.Fatalf("decode %d-wrapped text %q: %v", k, s, err)
			}
			if got != s {
				t.Fatalf("%d-wrapped text %q decoded to %q", k, s, got)
			}
		}

		// 3. A JSON object or array decodes the same whether sent raw or
		// wrapped k times.
		if json.Valid(data) && (strings.HasPrefix(trimmed, "{") || strings.HasPrefix(trimmed, "[")) {
			var direct, viaWrap any
			if err := DecodeJSON(data, &direct); err != nil {
				t.Fatalf("decode raw %q: %v", s, err)
			}
			if err := DecodeJSON(wrap(t, s, k), &viaWrap); err != nil {
				t.Fatalf("decode %d-wrapped %q: %v", k, s, err)
			}
			if !reflect.DeepEqual(direct, viaWrap) {
				t.Fatalf("%d-wrapped %q: got %#v, want %#v", k, s, viaWrap, direct)
			}
		}
	})
}

// wrap JSON-encodes s as a string k times.
func wrap(t *testing.T, s string, k int) []byte {
	t.Helper()
	b := []byte(s)
	for range k {
		var err error
		if b, err = json.Marshal(string(b)); err != nil {
			t.Fatal(err)
		}
	}
	return b
}
