// Package appconfig holds the checks of the Functions app's configuration
// files (host.json, functions/*/function.json, local.settings.sample.json).
// It has no API; its tests locate the repository root by walking up to
// go.mod and validate those files against the copied SchemaStore schemas
// (../shared/schemas relative to the repo root) and the host's own rules.
//
// It lives apart from package functions because that package compiles the
// Azure SDKs; these checks need only the JSON files.
package appconfig
