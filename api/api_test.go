package api_test

import (
	"testing"

	"github.com/boxoffice/boxoffice/api/apitest"
)

// The file loads and is a valid OpenAPI 3.1 document.
func TestSpecIsValid(t *testing.T) {
	doc, err := apitest.Spec()
	if err != nil {
		t.Fatal(err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi %s, want 3.1", doc.OpenAPI)
	}
}
