// Package web is the waiting room's page: one HTML file, its script and its
// style sheet, embedded so that the gateway serves them from the binary
// (GET /queue/{concertId} → Index, GET /queue/assets/{file} → Asset).
//
// The page is plain HTML and JavaScript with no build step. The gateway
// serves it under Content-Security-Policy: default-src 'self', so nothing in
// it is inline: every script and style is one of the assets.
package web

import (
	"embed"
	"path"
)

//go:embed index.html room.js room.css
var files embed.FS

// Index is the page itself, the same for every concert: the script reads
// the concert id from location.pathname.
var Index = mustRead("index.html")

// types are the assets' content types, by extension; a name not listed
// here is not an asset.
var types = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
}

// Asset returns one of the page's assets by its file name (room.js,
// room.css) and its content type; ok is false for any other name, also
// index.html and anything with a slash, so a path cannot reach past them.
func Asset(name string) (body []byte, contentType string, ok bool) {
	ct, known := types[path.Ext(name)]
	if !known || name != path.Base(name) {
		return nil, "", false
	}
	b, err := files.ReadFile(name)
	if err != nil {
		return nil, "", false
	}
	return b, ct, true
}

func mustRead(name string) []byte {
	b, err := files.ReadFile(name)
	if err != nil {
		panic("room/web: " + name + " is not embedded: " + err.Error()) // a build error, not input
	}
	return b
}
