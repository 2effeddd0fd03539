package web

import (
	"bytes"
	"io"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

func TestAsset(t *testing.T) {
	cases := []struct {
		name, contentType string
		ok                bool
	}{
		{"room.js", "text/javascript; charset=utf-8", true},
		{"room.css", "text/css; charset=utf-8", true},
		{"index.html", "", false}, // the page is Index, not an asset
		{"web.go", "", false},
		{"../room.js", "", false},
		{"x/room.js", "", false},
		{"nope.js", "", false},
		{"", "", false},
	}
	for _, c := range cases {
		body, ct, ok := Asset(c.name)
		if ok != c.ok || ct != c.contentType || (ok && len(body) == 0) {
			t.Errorf("Asset(%q) = %d bytes, %q, %v; want %q, %v", c.name, len(body), ct, ok, c.contentType, c.ok)
		}
	}
}

// The gateway serves the page under Content-Security-Policy: default-src
// 'self', which blocks inline script, inline style and event-handler
// attributes: the page must have none, and what it links must be assets.
func TestIndexNeedsNothingInline(t *testing.T) {
	z := html.NewTokenizer(bytes.NewReader(Index))
	var links []string
	inScript := false
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			if z.Err() != io.EOF {
				t.Fatal(z.Err())
			}
			break
		}
		tok := z.Token()
		switch {
		case tt == html.TextToken && inScript && strings.TrimSpace(tok.Data) != "":
			t.Errorf("an inline script: %.40q", tok.Data)
		case tt == html.StartTagToken || tt == html.SelfClosingTagToken:
			inScript = tok.Data == "script"
			if tok.Data == "style" {
				t.Error("a <style> element")
			}
			src := ""
			for _, a := range tok.Attr {
				switch {
				case a.Key == "style":
					t.Errorf("<%s style=%q>", tok.Data, a.Val)
				case strings.HasPrefix(a.Key, "on"):
					t.Errorf("<%s %s=%q>", tok.Data, a.Key, a.Val)
				case a.Key == "src" || a.Key == "href":
					src = a.Val
					links = append(links, a.Val)
				}
			}
			if tok.Data == "script" && src == "" {
				t.Error("a <script> without src")
			}
		case tt == html.EndTagToken:
			inScript = false
		}
	}
	if len(links) != 2 {
		t.Fatalf("index.html links %v, want room.js and room.css", links)
	}
	for _, l := range links {
		name, ok := strings.CutPrefix(l, "/queue/assets/")
		if _, _, found := Asset(name); !ok || !found {
			t.Errorf("index.html links %q, which is not an asset under /queue/assets/", l)
		}
	}
}

// Every element the script looks up by id is in the page: a renamed id
// would otherwise fail only in a browser.
func TestScriptFindsItsElements(t *testing.T) {
	js, _, _ := Asset("room.js")
	ids := map[string]bool{}
	for _, m := range regexp.MustCompile(`id="([^"]+)"`).FindAllStringSubmatch(string(Index), -1) {
		if ids[m[1]] {
			t.Errorf("id %q twice in index.html", m[1])
		}
		ids[m[1]] = true
	}
	used := regexp.MustCompile(`\$\('([^']+)'\)`).FindAllStringSubmatch(string(js), -1)
	if len(used) < 20 {
		t.Fatalf("found only %d lookups in room.js", len(used))
	}
	for _, m := range used {
		if !ids[m[1]] {
			t.Errorf("room.js looks up #%s, which index.html does not have", m[1])
		}
	}
}
