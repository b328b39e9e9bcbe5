package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// Validate takes what Write produces and refuses, with the reason, what is
// not a report of this schema: garbage, another schemaVersion, a wrong
// shape.
func TestValidate(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, build(t), FormatJSON); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	r, err := Validate(good)
	if err != nil || r.SchemaVersion != SchemaVersion || len(r.Findings) == 0 {
		t.Fatalf("a written report: %v (%d findings)", err, len(r.Findings))
	}
	edit := func(f func(map[string]any)) []byte {
		c := map[string]any{}
		json.Unmarshal(good, &c)
		f(c)
		b, _ := json.Marshal(c)
		return b
	}
	for name, c := range map[string]struct {
		data []byte
		want string
	}{
		"garbage":        {[]byte("\x00\x01garbage"), "not a JSON object"},
		"array":          {[]byte(`[1,2,3]`), "not a JSON object"},
		"empty object":   {[]byte(`{}`), "no schemaVersion"},
		"other version":  {edit(func(m map[string]any) { m["schemaVersion"] = "2" }), `schemaVersion "2"`},
		"findings null":  {edit(func(m map[string]any) { m["findings"] = nil }), "report.schema.json"},
		"finding shape":  {edit(func(m map[string]any) { m["findings"] = []any{map[string]any{"id": 7}} }), "report.schema.json"},
		"unknown field":  {edit(func(m map[string]any) { m["extra"] = true }), "report.schema.json"},
		"no summary":     {edit(func(m map[string]any) { delete(m, "summary") }), "report.schema.json"},
		"generatedAt 12": {edit(func(m map[string]any) { m["generatedAt"] = 12 }), "report.schema.json"},
	} {
		_, err := Validate(c.data)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrInvalid mentioning %q", name, err, c.want)
		}
	}
}
