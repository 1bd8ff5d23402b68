package dashboard

import (
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// pageNames are the pages; each is templates/<name>.html parsed on a clone
// of the layout, once, in New.
var pageNames = []string{"fleet", "phone", "firmware", "confirm", "testdevices", "logs", "settings", "login"}

var templateFuncs = template.FuncMap{
	"stageClass": func(s any) string { return "st-" + strings.ReplaceAll(fmt.Sprint(s), " ", "-") },
	// writeFailures is the layout's banner: bound per Dashboard in New.
	"writeFailures": func() []string { return nil },
}

// bindWriteFailures makes every page's banner ask fn (Config.WriteFailures)
// for the logs the appliance cannot write. Called once, before serving.
func bindWriteFailures(pages map[string]*template.Template, fn func() []string) {
	if fn == nil {
		return
	}
	for _, t := range pages {
		t.Funcs(template.FuncMap{"writeFailures": fn})
	}
}

func parsePages() (map[string]*template.Template, error) {
	layout, err := template.New("layout").Funcs(templateFuncs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, err
	}
	pages := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		t, err := template.Must(layout.Clone()).ParseFS(templateFS, "templates/"+name+".html")
		if err != nil {
			return nil, err
		}
		pages[name] = t
	}
	return pages, nil
}

// assetHandler serves the embedded CSS and JS under /assets/.
func assetHandler() http.Handler {
	sub, _ := fs.Sub(assetFS, "assets")
	files := http.StripPrefix("/assets/", http.FileServer(http.FS(sub)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
}
