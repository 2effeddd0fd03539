// Package web is the waiting room's page (placeholder until the page lands).
package web

// Index is the page.
var Index = []byte("<!doctype html><title>boxoffice waiting room</title><p>The waiting room page.</p>\n")

// Asset returns one of the page's files.
func Asset(name string) (body []byte, contentType string, ok bool) { return nil, "", false }
