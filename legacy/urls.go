package legacy

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/tanjay-lab/tanjay/images"
)

// URLs are the four update-server URLs OCS R2 keeps in WMI
// (MSFT_SIPUpdatesServerSetting). Old Tanjay firmware uses only the internal
// two but refuses to update when the external two are empty, so all four are
// always set. Download is the check-in handler; Store is the base of the
// firmware files.
type URLs struct {
	InternalDownload string `json:"internal_download_url"`
	InternalStore    string `json:"internal_store_url"`
	ExternalDownload string `json:"external_download_url"`
	ExternalStore    string `json:"external_store_url"`
}

// DeriveURLs fills every URL the operator left empty and checks the ones
// given. internalBase is the scheme, host and port phones reach the plain
// HTTP listener at (http://192.0.2.10); externalBase is the HTTPS
// listener's (https://192.0.2.10), or "" when there is none, and then the
// external URLs are derived from internalBase too, so every derived URL
// answers.
func DeriveURLs(internalBase, externalBase string, given URLs) (URLs, error) {
	if externalBase == "" {
		externalBase = internalBase
	}
	u := given
	for _, f := range u.fields(internalBase, externalBase) {
		if *f.v == "" {
			if err := checkBase(f.base); err != nil {
				return URLs{}, fmt.Errorf("%s is not set and cannot be derived: %w", f.name, err)
			}
			*f.v = strings.TrimRight(f.base, "/") + f.path
		}
	}
	if err := u.Check(); err != nil {
		return URLs{}, err
	}
	for _, f := range u.fields("", "") {
		*f.v = strings.TrimRight(*f.v, "/")
	}
	return u, nil
}

// Check checks the URLs that are set, naming each one's setting: each must
// be an absolute http(s) URL with a host and no query.
func (u *URLs) Check() error {
	for _, f := range u.fields("", "") {
		if *f.v == "" {
			continue
		}
		if err := checkURL(*f.v); err != nil {
			return fmt.Errorf("%s %q: %w", f.name, *f.v, err)
		}
	}
	return nil
}

type urlField struct {
	name, path, base string
	v                *string
}

// fields lists the four URLs with their setting names, paths and the base
// each is derived from.
func (u *URLs) fields(internalBase, externalBase string) []urlField {
	return []urlField{
		{"internal-download-url", "/RequestHandler/ucdevice.upx", internalBase, &u.InternalDownload},
		{"internal-store-url", "/DeviceUpdateFiles_Int", internalBase, &u.InternalStore},
		{"external-download-url", "/RequestHandlerExt/ucdevice.upx", externalBase, &u.ExternalDownload},
		{"external-store-url", "/DeviceUpdateFiles_Ext", externalBase, &u.ExternalStore},
	}
}

// BaseURL is scheme://advertise, the base URLs are derived from.
func BaseURL(scheme, advertise string) string {
	if advertise == "" {
		return ""
	}
	return scheme + "://" + advertise
}

// CheckAdvertise checks an advertise address: host[:port], no path.
func CheckAdvertise(a string) error {
	if a == "" {
		return fmt.Errorf("no advertise address")
	}
	host := a
	if h, port, err := net.SplitHostPort(a); err == nil {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("advertise address %q: port %q is not a number from 1 to 65535", a, port)
		}
		host = h
	}
	if host == "" || strings.ContainsAny(a, "/?#@ ") {
		return fmt.Errorf("advertise address %q is not host[:port]", a)
	}
	return nil
}

func checkBase(base string) error {
	if base == "" {
		return fmt.Errorf("no advertise address")
	}
	scheme, rest, ok := strings.Cut(base, "://")
	if !ok || scheme != "http" && scheme != "https" {
		return fmt.Errorf("base %q is not http(s)://host[:port]", base)
	}
	return CheckAdvertise(rest)
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Errorf("not a URL: %w", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("want an absolute http:// or https:// URL")
	case u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("want an absolute URL with a host")
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return fmt.Errorf("must not carry a query, fragment or user")
	}
	return nil
}

// BaseURLs are the internal and external base URLs of an image's files:
// the store URLs followed by the image's directory.
func (u URLs) BaseURLs(im images.Image) (internal, external string) {
	dir := im.Dir()
	return u.InternalStore + "/" + dir, u.ExternalStore + "/" + dir
}
