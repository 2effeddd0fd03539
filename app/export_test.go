package app

import "github.com/boxoffice/boxoffice/gateway"

// AdminPatterns are the admin listener's routes, for the test that holds
// them to api/openapi.yaml.
func AdminPatterns() []string {
	var out []string
	for _, r := range adminRoutes(nil, gateway.NewMetrics(nil)) {
		out = append(out, r.pattern)
	}
	return out
}
