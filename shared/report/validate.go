package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/idpkeeper/idpkeeper/docs"
)

// schemaID is the $id of docs/report.schema.json.
const schemaID = "https://github.com/idpkeeper/idpkeeper/docs/report.schema.json"

var (
	schemaOnce sync.Once
	compiled   *jsonschema.Schema
	schemaErr  error
)

func compiledSchema() (*jsonschema.Schema, error) {
	schemaOnce.Do(func() {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(docs.ReportSchema))
		if err != nil {
			schemaErr = fmt.Errorf("report: docs/report.schema.json: %w", err)
			return
		}
		c := jsonschema.NewCompiler()
		c.AssertFormat()
		if err := c.AddResource(schemaID, doc); err != nil {
			schemaErr = fmt.Errorf("report: docs/report.schema.json: %w", err)
			return
		}
		compiled, schemaErr = c.Compile(schemaID)
	})
	return compiled, schemaErr
}

// ErrInvalid wraps every reason Validate refuses a document.
var ErrInvalid = errors.New("not a valid report")

// Validate reads data as a stored JSON report: it must be JSON, carry
// schemaVersion SchemaVersion, and match docs/report.schema.json. What is
// served from the state store goes through here, so a damaged or foreign
// document is refused with the reason instead of being passed on.
func Validate(data []byte) (Report, error) {
	var head struct {
		SchemaVersion *string `json:"schemaVersion"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return Report{}, fmt.Errorf("%w: not a JSON object: %v", ErrInvalid, err)
	}
	switch {
	case head.SchemaVersion == nil:
		return Report{}, fmt.Errorf("%w: no schemaVersion", ErrInvalid)
	case *head.SchemaVersion != SchemaVersion:
		return Report{}, fmt.Errorf("%w: schemaVersion %q, this build reads %q", ErrInvalid, *head.SchemaVersion, SchemaVersion)
	}
	s, err := compiledSchema()
	if err != nil {
		return Report{}, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return Report{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := s.Validate(doc); err != nil {
		return Report{}, fmt.Errorf("%w: does not match docs/report.schema.json: %s", ErrInvalid, firstLines(err.Error(), 4))
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return Report{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return r, nil
}

// firstLines keeps a validation error readable in one log line.
func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = append(lines[:n], fmt.Sprintf("(and %d more)", len(lines)-n))
	}
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return strings.Join(lines, "; ")
}
