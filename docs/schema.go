// Package docs carries the documents the code itself reads, so that there is
// one copy of each: the JSON Schema of the report (report.schema.json),
// which the Report function checks every stored report against before it
// serves it.
package docs

import _ "embed"

// ReportSchema is report.schema.json.
//
//go:embed report.schema.json
var ReportSchema []byte
