// Package consistency holds tests only: they check that the names IdP Keeper
// is wired together by agree across files that no compiler relates —
//
//   - functions/*/function.json (function names, triggers, %SETTING% references),
//   - local.settings.sample.json (local app settings),
//   - infra/*.bicep (queues and their properties, app settings, Event Grid
//     subscription, Graph permissions, outputs) and infra/scripts,
//   - infra/local/servicebus-emulator (emulator queues),
//   - azure.yaml, examples/events, README.md,
//   - and the Go source, read as text: queue defaults and setting names
//     (shared/jobs, functions/settings.go), the Key Vault event types
//     (shared/events) and the Graph permission table (shared/tenant/permissions.go).
//
// The Go source is read with regular expressions rather than imported, so
// this package compiles in a second (no Graph or Azure SDK dependencies):
//
//	go test ./shared/consistency/...
//
// A failure names the file and the name that drifted.
package consistency
