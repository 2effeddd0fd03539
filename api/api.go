// Package api holds the gateway's HTTP API description, api/openapi.yaml
// (OpenAPI 3.1), embedded so that the gateway serves the very file its tests
// hold it to (GET /api/openapi.yaml).
package api

import _ "embed"

// OpenAPI is api/openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte

// ContentType is what OpenAPI is served as (RFC 9512).
const ContentType = "application/yaml"
