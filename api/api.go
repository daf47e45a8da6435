// Package api embeds fairlead's OpenAPI 3.1 document, the contract of the
// JSON API under /api/v1/. Tests validate real responses against it.
package api

import _ "embed"

// OpenAPI is the OpenAPI document as YAML.
//
//go:embed openapi.yaml
var OpenAPI []byte
